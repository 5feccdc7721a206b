/* fuzz_config.c - libFuzzer target for dropind's configuration parser
 * (adapters/config.c): the conf file and the command line.
 *
 * The input (after its first byte) is written to a scratch file and read
 * with config_load_file(). When the first byte is odd it is also split into
 * lines used as argv for config_parse_args(), where the file name after
 * -c/--config is always the scratch file (the input never names a file).
 *
 * Checked, else abort:
 *   - DROP_OK, or DROP_EBADREQ with a reason;
 *   - every numeric key within its documented limits after any outcome;
 *   - config_dump never prints a secret, and its text loads back to a config
 *     that dumps the same text;
 *   - nothing leaks (LeakSanitizer). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapters/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FC_MAX_ARGS 64

static char fc_path[64];

static void fc_fail(const char *what, const char *why)
{
    fprintf(stderr, "fuzz_config: %s (%s)\n", what, why ? why : "");
    abort();
}

static void fc_write(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len) fc_fail("cannot write the scratch file", path);
    fclose(f);
}

static void fc_check_ranges(const struct config *c)
{
    if (c->listen_port < 0 || c->listen_port > 65535) fc_fail("listen port", NULL);
    if (!memchr(c->listen_host, '\0', sizeof c->listen_host)) fc_fail("listen host", NULL);
    if (c->workers < 1 || c->workers > 64) fc_fail("workers", NULL);
    if (c->wave_size < 1 || c->wave_size > 50) fc_fail("wave_size", NULL);
    if (c->http_max_body < 256 || c->http_max_body > (16 << 20)) fc_fail("http_max_body", NULL);
    if (c->max_message_bytes < 256 || c->max_message_bytes > (16 << 20))
        fc_fail("max_message_bytes", NULL);
    if (!(c->rate_limit >= 0.1 && c->rate_limit <= 1e6)) fc_fail("rate_limit", NULL);
    if (!(c->operator_share >= 0 && c->operator_share <= 1)) fc_fail("operator_share", NULL);
    if (!(c->price_per_minute >= 0 && c->price_per_minute <= 1e6)) fc_fail("price_per_minute", NULL);
    if (c->auth_timeout_ms < 100 || c->offer_ttl_ms < 100 || c->store_timeout_ms < 50 ||
        c->token_ttl_ms < 1000 || c->s3_url_ttl_ms < 1000)
        fc_fail("a duration under its minimum", NULL);
    if (!c->store || !c->bus || !c->video) fc_fail("a string key lost its value", NULL);
}

/* The dump as text (heap). */
/* noinline: inlined, gcc 12 -O2 takes the open_memstream buffer for a
 * pointer to a local (-Wdangling-pointer) */
__attribute__((noinline)) static char *fc_dump(const struct config *c, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (!f) fc_fail("open_memstream", NULL);
    config_dump(c, f);
    fclose(f);
    return text;
}

static void fc_check_dump(const struct config *c)
{
    static const char *const secret_keys[] = {"admin_token ", "token_secret ", "s3_secret_key ",
                                              "push_key "};
    const char *secrets[] = {c->admin_token, c->token_secret, c->s3_secret_key, c->push_key};
    size_t len, len2, longest = 0;
    char *text = fc_dump(c, &len), *text2, why[512] = "";
    struct config back;

    for (size_t i = 0; i < 4; i++) {
        const char *line = strstr(text, secret_keys[i]);
        if (!line || !secrets[i] || !secrets[i][0]) continue;
        line += strlen(secret_keys[i]);
        size_t l = strcspn(line, "\n");
        if (l >= 2 && (size_t)(l - 2) == strlen(secrets[i]) &&
            strncmp(line + 1, secrets[i], l - 2) == 0 && strcmp(secrets[i], "********") != 0)
            fc_fail("config_dump printed a secret", secret_keys[i]);
    }
    for (const char *s = text; *s;) {
        size_t l = strcspn(s, "\n");
        if (l > longest) longest = l;
        s += l + (s[l] == '\n');
    }
    if (longest < 4000) { /* a conf file line holds 4095 bytes */
        char path2[80];
        snprintf(path2, sizeof path2, "%s.dump", fc_path);
        fc_write(path2, text, len);
        config_init(&back);
        if (config_load_file(&back, path2, why, sizeof why) != DROP_OK)
            fc_fail("the dump does not load back", why);
        text2 = fc_dump(&back, &len2);
        if (len != len2 || memcmp(text, text2, len) != 0)
            fc_fail("the dump changed on loading it back", NULL);
        free(text2);
        config_free(&back);
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config c;
    char why[512];
    drop_err rc;

    if (!fc_path[0]) {
        snprintf(fc_path, sizeof fc_path, "/tmp/fuzz_config.%ld.conf", (long)getpid());
    }
    if (size < 1) return 0;
    fc_write(fc_path, data + 1, size - 1);

    config_init(&c);
    why[0] = '\0';
    rc = config_load_file(&c, fc_path, why, sizeof why);
    if (rc != DROP_OK && (rc != DROP_EBADREQ || !why[0]))
        fc_fail("a bad file without DROP_EBADREQ and a reason", why);
    fc_check_ranges(&c);
    if (rc == DROP_OK) fc_check_dump(&c);
    config_free(&c);

    if (data[0] & 1) {
        char *copy = malloc(size), *argv[FC_MAX_ARGS + 1], *s = copy;
        int argc = 1;
        bool help;
        memcpy(copy, data + 1, size - 1);
        copy[size - 1] = '\0';
        argv[0] = "dropind";
        while (argc < FC_MAX_ARGS && s) {
            char *nl = strchr(s, '\n');
            if (nl) *nl = '\0';
            argv[argc++] = s;
            s = nl ? nl + 1 : NULL;
        }
        for (int i = 1; i + 1 < argc; i++)
            if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) argv[++i] = fc_path;
        argv[argc] = NULL;
        config_init(&c);
        why[0] = '\0';
        rc = config_parse_args(&c, argc, argv, &help, why, sizeof why);
        if (rc != DROP_OK && (rc != DROP_EBADREQ || !why[0]))
            fc_fail("bad arguments without DROP_EBADREQ and a reason", why);
        fc_check_ranges(&c);
        if (rc == DROP_OK && !help) fc_check_dump(&c);
        config_free(&c);
        free(copy);
    }
    return 0;
}
