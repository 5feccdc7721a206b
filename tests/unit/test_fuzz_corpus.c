/* test_fuzz_corpus.c - replays every file of tests/fuzz/corpus through the
 * fuzzer's own entry point (fuzz_codec.c is included, not copied), so the seed
 * corpus and every crash input added to it run under gcc + ASan + UBSan in
 * `make test` even where clang/libFuzzer is absent. The corpus is found via
 * $DROPIN_SOURCE_DIR (set by ctest), else relative to the working directory. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "tests/fuzz/fuzz_codec.c"

#define CORPUS_MAX_FILE (1 << 20)

static DIR *open_corpus(char *path, size_t pathlen)
{
    static const char *rel[] = {"tests/fuzz/corpus", "../tests/fuzz/corpus",
                                "../../tests/fuzz/corpus"};
    const char *src = getenv("DROPIN_SOURCE_DIR");
    DIR *d;
    size_t i;

    if (src && *src) {
        snprintf(path, pathlen, "%s/tests/fuzz/corpus", src);
        if ((d = opendir(path))) return d;
    }
    for (i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        snprintf(path, pathlen, "%s", rel[i]);
        if ((d = opendir(path))) return d;
    }
    return NULL;
}

static void test_replay_corpus(void **state)
{
    char dir[4096], file[8192];
    struct dirent *de;
    struct stat st;
    unsigned char *buf;
    size_t n, files = 0, json_ok = 0, mp_ok = 0;
    json_t *v;
    FILE *f;
    DIR *d;

    (void)state;
    d = open_corpus(dir, sizeof dir);
    if (!d) fail_msg("corpus directory not found (set DROPIN_SOURCE_DIR)");
    buf = malloc(CORPUS_MAX_FILE);
    while ((de = readdir(d))) {
        snprintf(file, sizeof file, "%s/%s", dir, de->d_name);
        if (stat(file, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        f = fopen(file, "rb");
        assert_non_null(f);
        n = fread(buf, 1, CORPUS_MAX_FILE, f);
        fclose(f);
        print_message("replay %s (%zu bytes)\n", de->d_name, n);
        LLVMFuzzerTestOneInput(buf, n);
        files++;
        v = NULL;
        if (codec_decode(CODEC_JSON, buf, n, CODEC_MAX_DEPTH, &v, NULL, 0) == DROP_OK) json_ok++;
        json_decref(v);
        v = NULL;
        if (codec_decode(CODEC_MSGPACK, buf, n, CODEC_MAX_DEPTH, &v, NULL, 0) == DROP_OK)
            mp_ok++;
        json_decref(v);
    }
    closedir(d);
    free(buf);
    /* The replay must have exercised something: the seeds, with valid
     * messages of both encodings among them. */
    if (files < 12) fail_msg("only %zu corpus files in %s", files, dir);
    if (json_ok < 3 || mp_ok < 3)
        fail_msg("corpus has %zu valid JSON and %zu valid MessagePack inputs", json_ok, mp_ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_replay_corpus)};

    return cmocka_run_group_tests(tests, NULL, NULL);
}
