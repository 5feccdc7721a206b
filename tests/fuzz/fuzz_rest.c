/* fuzz_rest.c - libFuzzer target for the REST route table and its path and
 * query decoding (protocol/rest.c).
 *
 * Input: one method byte, then the path, a NUL, the raw query string, a NUL
 * and the body (any bytes). With no NUL the whole rest is the path and there
 * is no query (NULL); with one, no body.
 *
 * Checked, else abort:
 *   - REST_OK gives an op name and an object whose every string is valid
 *     UTF-8 (it dumps); path parameters are strings of 1..256 bytes;
 *   - the outcome agrees with rest_allowed(): a known path lists methods, an
 *     unknown one lists none, a 405 does not list the method refused and a
 *     match lists the method matched;
 *   - matching is a pure function: a second call gives an equal result;
 *   - a refusal explains itself (why is not empty).
 * tests/unit/test_fuzz_corpus.c replays the corpus through this entry. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/rest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fr_method_names[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "OTHER"};

static void fr_fail(const char *what, enum rest_method m, const char *path)
{
    fprintf(stderr, "fuzz_rest: %s (%s %s)\n", what, fr_method_names[m], path);
    abort();
}

/* True when the Allow value names method m as a whole word. */
static bool fr_allows(const char *allow, enum rest_method m)
{
    const char *name = fr_method_names[m], *s = allow;
    size_t n = strlen(name);
    while ((s = strstr(s, name))) {
        if ((s == allow || s[-1] == ' ') && (s[n] == ',' || s[n] == '\0')) return true;
        s += n;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum rest_method m;
    char *buf, *path, *query = NULL, *body = NULL, *nul;
    size_t body_len = 0;
    const char *op = NULL, *op2 = NULL;
    json_t *d = NULL, *d2 = NULL;
    char why[300] = "", why2[300] = "", allow[64];
    enum rest_outcome r, r2;

    if (size < 1) return 0;
    m = (enum rest_method)(data[0] % (REST_OTHER + 1));
    buf = malloc(size + 1);
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    path = buf;
    if ((nul = memchr(buf, '\0', size - 1)) && nul < buf + size - 1) {
        query = nul + 1;
        char *nul2 = memchr(query, '\0', (size_t)(buf + size - 1 - query));
        if (nul2 && nul2 < buf + size - 1) {
            body = nul2 + 1;
            body_len = (size_t)(buf + size - 1 - body);
        }
    }

    r = rest_match(m, path, query, body, body_len, &op, &d, why, sizeof why);
    r2 = rest_match(m, path, query, body, body_len, &op2, &d2, why2, sizeof why2);
    if (r != r2) fr_fail("two calls disagree", m, path);
    rest_allowed(path, allow, sizeof allow);
    switch (r) {
    case REST_OK: {
        char *text;
        if (!op || !json_is_object(d)) fr_fail("a match without an op or an object", m, path);
        if (op != op2 || !json_equal(d, d2)) fr_fail("two matches differ", m, path);
        text = json_dumps(d, JSON_COMPACT);
        if (!text) fr_fail("the op's data does not encode", m, path);
        free(text);
        if (m != REST_OTHER && !fr_allows(allow, m))
            fr_fail("Allow does not list the method that matched", m, path);
        break;
    }
    case REST_BAD_METHOD:
        if (!allow[0]) fr_fail("a 405 with an empty Allow", m, path);
        if (m != REST_OTHER && fr_allows(allow, m)) fr_fail("a 405 for an allowed method", m, path);
        break;
    case REST_NOT_FOUND:
        if (allow[0]) fr_fail("an unknown path with methods", m, path);
        break;
    case REST_NOT_IMPLEMENTED:
    case REST_BAD_BODY: break;
    default: fr_fail("an outcome outside the enum", m, path);
    }
    if (r != REST_OK && !why[0]) fr_fail("a refusal without a reason", m, path);
    json_decref(d);
    json_decref(d2);
    free(buf);
    return 0;
}
