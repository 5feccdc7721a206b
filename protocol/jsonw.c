/* jsonw.c - compact JSON text of a json_t (see jsonw.h).
 *
 * Byte for byte what jansson 2.14's dump.c writes with JSON_COMPACT and
 * JSON_REAL_PRECISION(17), checked against json_dumps by test_jsonw.c over
 * every value type, every escape and awkward reals. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "engine/mem.h"
#include "protocol/jsonw.h"

static void reserve(struct jsonw *w, size_t n)
{
    if (w->cap - w->len >= n) return;
    size_t cap = w->cap ? w->cap : 64;
    while (cap - w->len < n) cap *= 2;
    w->p = xrealloc(w->p, cap);
    w->cap = cap;
}

void jsonw_append(struct jsonw *w, const void *data, size_t n)
{
    reserve(w, n);
    memcpy(w->p + w->len, data, n);
    w->len += n;
}

static void put_int(struct jsonw *w, json_int_t v)
{
    char buf[24];
    int i = (int)sizeof buf;
    /* magnitude as unsigned: INT64_MIN has no positive int64 */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        buf[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) buf[--i] = '-';
    jsonw_append(w, buf + i, sizeof buf - (size_t)i);
}

/* jansson's jsonp_dtostr with precision 17 (the C locale's '.' is assumed:
 * dropind never calls setlocale). */
static void put_real(struct jsonw *w, double d)
{
    char buf[40], *e;
    int n = snprintf(buf, sizeof buf - 2, "%.17g", d);
    if (n < 0 || (size_t)n >= sizeof buf - 2) n = (int)strlen(buf);
    if (!strchr(buf, '.') && !strchr(buf, 'e')) {
        memcpy(buf + n, ".0", 3);
        n += 2;
    }
    if ((e = strchr(buf, 'e'))) { /* "1e+300" -> "1e300", "1e-07" -> "1e-7" */
        char *start = e + 1, *end = e + 2;
        if (*start == '-') start++;
        while (*end == '0') end++;
        if (end != start) {
            memmove(start, end, (size_t)(buf + n + 1 - end));
            n -= (int)(end - start);
        }
    }
    jsonw_append(w, buf, (size_t)n);
}

static void put_string(struct jsonw *w, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t run = 0;
    reserve(w, len + 2);
    w->p[w->len++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6];
        size_t el = 2;
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        jsonw_append(w, s + run, i - run);
        run = i + 1;
        esc[0] = '\\';
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            el = 6;
        }
        jsonw_append(w, esc, el);
    }
    jsonw_append(w, s + run, len - run);
    jsonw_append(w, "\"", 1);
}

static int put_value(struct jsonw *w, const json_t *v, int depth)
{
    const char *key;
    size_t i, klen;
    json_t *child;

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        if (depth >= JSONW_MAX_DEPTH) return -1;
        jsonw_append(w, "{", 1);
        i = 0;
        json_object_keylen_foreach((json_t *)v, key, klen, child) {
            if (i++) jsonw_append(w, ",", 1);
            put_string(w, key, klen);
            jsonw_append(w, ":", 1);
            if (put_value(w, child, depth + 1) != 0) return -1;
        }
        jsonw_append(w, "}", 1);
        return 0;
    case JSON_ARRAY:
        if (depth >= JSONW_MAX_DEPTH) return -1;
        jsonw_append(w, "[", 1);
        json_array_foreach(v, i, child) {
            if (i) jsonw_append(w, ",", 1);
            if (put_value(w, child, depth + 1) != 0) return -1;
        }
        jsonw_append(w, "]", 1);
        return 0;
    case JSON_STRING:
        put_string(w, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_INTEGER:
        put_int(w, json_integer_value(v));
        return 0;
    case JSON_REAL:
        put_real(w, json_real_value(v));
        return 0;
    case JSON_TRUE:
        jsonw_append(w, "true", 4);
        return 0;
    case JSON_FALSE:
        jsonw_append(w, "false", 5);
        return 0;
    case JSON_NULL:
    default:
        jsonw_append(w, "null", 4);
        return 0;
    }
}

int jsonw_value(struct jsonw *w, const json_t *v)
{
    return put_value(w, v, 0);
}
