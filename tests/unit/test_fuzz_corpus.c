/* test_fuzz_corpus.c - replays every fuzzer's seed corpus, tests/fuzz/corpus/
 * <fuzzer>/, through that fuzzer's own entry point (each tests/fuzz/fuzz_*.c
 * is included here with LLVMFuzzerTestOneInput renamed, not copied), so the
 * seeds and every crash input added to them run under gcc + ASan + UBSan in
 * `make test` even where clang/libFuzzer is absent. (fuzz_bson.c brings
 * adapters/store_mongo_records.c and store_mongo_accounts.c into this file:
 * their readers are static.) The corpus is found via $DROPIN_SOURCE_DIR
 * (set by ctest), else relative to the working directory.
 * fuzz_http.c needs the link options tests/fuzz/CMakeLists.txt sets. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LLVMFuzzerTestOneInput fuzz_codec_entry
#include "tests/fuzz/fuzz_codec.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_rest_entry
#include "tests/fuzz/fuzz_rest.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_http_entry
#include "tests/fuzz/fuzz_http.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_record_entry
#include "tests/fuzz/fuzz_record.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_bson_entry
#include "tests/fuzz/fuzz_bson.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_config_entry
#include "tests/fuzz/fuzz_config.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_gig_entry
#include "tests/fuzz/fuzz_gig.c"
#undef LLVMFuzzerTestOneInput

/* after the fuzzers: cmocka's fail() macro would rename store_mongo_internal.h's fail() */
#include <cmocka.h>

#define CORPUS_MAX_FILE (1 << 20)

typedef int (*fuzz_entry)(const uint8_t *data, size_t size);

static DIR *open_corpus(const char *name, char *path, size_t pathlen)
{
    static const char *rel[] = {"tests/fuzz/corpus", "../tests/fuzz/corpus",
                                "../../tests/fuzz/corpus"};
    const char *src = getenv("DROPIN_SOURCE_DIR");
    DIR *d;
    size_t i;

    if (src && *src) {
        snprintf(path, pathlen, "%s/tests/fuzz/corpus/%s", src, name);
        if ((d = opendir(path))) return d;
    }
    for (i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        snprintf(path, pathlen, "%s/%s", rel[i], name);
        if ((d = opendir(path))) return d;
    }
    return NULL;
}

/* Runs entry over every file of corpus/name; calls count (may be NULL) on
 * each input too. Returns the number of files. */
static size_t replay(const char *name, fuzz_entry entry,
                     void (*count)(const unsigned char *buf, size_t n))
{
    char dir[4096], file[8192];
    struct dirent *de;
    struct stat st;
    unsigned char *buf;
    size_t n, files = 0;
    FILE *f;
    DIR *d;

    d = open_corpus(name, dir, sizeof dir);
    if (!d) fail_msg("corpus directory %s not found (set DROPIN_SOURCE_DIR)", name);
    buf = malloc(CORPUS_MAX_FILE);
    assert_non_null(buf);
    while ((de = readdir(d))) {
        snprintf(file, sizeof file, "%s/%s", dir, de->d_name);
        if (stat(file, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        f = fopen(file, "rb");
        assert_non_null(f);
        n = fread(buf, 1, CORPUS_MAX_FILE, f);
        fclose(f);
        print_message("replay %s/%s (%zu bytes)\n", name, de->d_name, n);
        entry(buf, n);
        if (count) count(buf, n);
        files++;
    }
    closedir(d);
    free(buf);
    return files;
}

static size_t json_ok, mp_ok;

static void count_codecs(const unsigned char *buf, size_t n)
{
    json_t *v = NULL;
    if (codec_decode(CODEC_JSON, buf, n, CODEC_MAX_DEPTH, &v, NULL, 0) == DROP_OK) json_ok++;
    json_decref(v);
    v = NULL;
    if (codec_decode(CODEC_MSGPACK, buf, n, CODEC_MAX_DEPTH, &v, NULL, 0) == DROP_OK) mp_ok++;
    json_decref(v);
}

static void test_replay_codec(void **state)
{
    size_t files;
    (void)state;
    json_ok = mp_ok = 0;
    files = replay("fuzz_codec", fuzz_codec_entry, count_codecs);
    /* The replay must have exercised something: the seeds, with valid
     * messages of both encodings among them. */
    if (files < 12) fail_msg("only %zu fuzz_codec corpus files", files);
    if (json_ok < 3 || mp_ok < 3)
        fail_msg("corpus has %zu valid JSON and %zu valid MessagePack inputs", json_ok, mp_ok);
}

static size_t routes_ok;

static void count_routes(const unsigned char *buf, size_t n)
{
    const char *op;
    json_t *d = NULL;
    char why[300], path[512];
    if (n < 2 || n - 1 >= sizeof path) return;
    memcpy(path, buf + 1, n - 1);
    path[n - 1] = '\0';
    if (rest_match((enum rest_method)(buf[0] % (REST_OTHER + 1)), path, NULL, NULL, 0, &op, &d,
                   why, sizeof why) == REST_OK)
        routes_ok++;
    json_decref(d);
}

static void test_replay_rest(void **state)
{
    size_t files;
    (void)state;
    routes_ok = 0;
    files = replay("fuzz_rest", fuzz_rest_entry, count_routes);
    if (files < 10) fail_msg("only %zu fuzz_rest corpus files", files);
    if (routes_ok < 3) fail_msg("only %zu fuzz_rest seeds match a route", routes_ok);
}

static void test_replay_http(void **state)
{
    (void)state;
    if (replay("fuzz_http", fuzz_http_entry, NULL) < 10) fail_msg("too few fuzz_http seeds");
}

static size_t gigs_ok, jobs_ok;

static void count_records(const unsigned char *buf, size_t n)
{
    struct gig g;
    struct job j;
    gig_init(&g);
    if (gig_record_parse((const char *)buf, n, &g, NULL, 0) == DROP_OK) gigs_ok++;
    gig_free(&g);
    if (job_record_parse((const char *)buf, n, &j, NULL, 0) == DROP_OK) {
        jobs_ok++;
        job_free(&j);
    }
}

static void test_replay_record(void **state)
{
    (void)state;
    gigs_ok = jobs_ok = 0;
    if (replay("fuzz_record", fuzz_record_entry, count_records) < 6)
        fail_msg("too few fuzz_record seeds");
    if (gigs_ok < 1 || jobs_ok < 1)
        fail_msg("the seeds hold %zu valid gig and %zu valid job records", gigs_ok, jobs_ok);
}

static void test_replay_bson(void **state)
{
    (void)state;
    if (replay("fuzz_bson", fuzz_bson_entry, NULL) < 6) fail_msg("too few fuzz_bson seeds");
    log_min_level = LOG_INFO;
}

static void test_replay_config(void **state)
{
    (void)state;
    if (replay("fuzz_config", fuzz_config_entry, NULL) < 4) fail_msg("too few fuzz_config seeds");
    unlink(fc_path);
    {
        char p2[80];
        snprintf(p2, sizeof p2, "%s.dump", fc_path);
        unlink(p2);
    }
}

static void test_replay_gig(void **state)
{
    char dir[4096], file[8192];
    unsigned char buf[4096];
    size_t n;
    FILE *f;
    DIR *d;

    (void)state;
    if (replay("fuzz_gig", fuzz_gig_entry, NULL) < 4) fail_msg("too few fuzz_gig seeds");
    /* the seed of the whole flow does reach the end of the table */
    d = open_corpus("fuzz_gig", dir, sizeof dir);
    assert_non_null(d);
    closedir(d);
    snprintf(file, sizeof file, "%s/happy_path", dir);
    f = fopen(file, "rb");
    assert_non_null(f);
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    fuzz_gig_entry(buf, n);
    assert_int_equal(fg_last_status, GIG_COMPENSATED);
    assert_int_equal(fg_last_version, 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_codec),  cmocka_unit_test(test_replay_rest),
        cmocka_unit_test(test_replay_http),   cmocka_unit_test(test_replay_record),
        cmocka_unit_test(test_replay_bson),   cmocka_unit_test(test_replay_config),
        cmocka_unit_test(test_replay_gig),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
