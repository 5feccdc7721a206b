/* rest.c - the REST route table (see rest.h). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/rest.h"

#include "engine/utf8.h"
#include "protocol/codec.h"

struct route {
    enum rest_method method;
    const char *pattern; /* segments; ":name" binds a path parameter */
    const char *op;      /* NULL: the feature has not landed yet (501) */
};

static const struct route routes[] = {
    /* Dropin seed */
    {REST_POST, "/accounts", "account.register"},
    {REST_GET, "/accounts/:id", "account.get"},
    {REST_GET, "/map/:latitude/:longitude", "map.nearby"},
    {REST_POST, "/gigs", "gig.create"},
    {REST_POST, "/gigs/claim/:gigId", "gig.claim"},
    {REST_POST, "/gigs/confirm/:gigId", "gig.confirm"},
    {REST_POST, "/gigs/reject/:gigId", "gig.reject"},
    {REST_POST, "/gigs/cancel/:gigId", "gig.cancel"},
    {REST_POST, "/gigs/handshake/:gigId", "gig.handshake"},
    {REST_POST, "/gigs/start/:gigId", "gig.start"},
    {REST_POST, "/gigs/stop/:gigId", "gig.stop"},
    {REST_POST, "/gigs/rate/:gigId", "gig.rate"},
    {REST_GET, "/gigs/:accountId/getall", "gig.list"},
    {REST_GET, "/gigs/:accountId/:gigId", "gig.get"},
    {REST_POST, "/storage", "storage.sign"},
    {REST_POST, "/notifications/push", "push.send"},
    {REST_POST, "/logs", "log.write"},
    /* Freelancer seed */
    {REST_POST, "/signup", "account.register"},
    {REST_POST, "/user", "account.update"},
    {REST_GET, "/user", "account.get"},
    {REST_DELETE, "/user", "account.delete"},
    {REST_GET, "/users", "account.list"},
    {REST_POST, "/authorize", "auth.login"},
    {REST_DELETE, "/authorize", "auth.logout"},
    /* identity codes (PROTOCOL.md section 5) */
    {REST_POST, "/authorize/code", "auth.code.send"},
    {REST_POST, "/authorize/verify", "auth.code.verify"},
    {REST_POST, "/authorize/reset", "auth.password.reset"},
    {REST_POST, "/location", "presence.update"},
    {REST_GET, "/search", "map.nearby"},
    {REST_GET, "/inbox", "inbox.list"},
    {REST_POST, "/send", "inbox.send"},
    {REST_POST, "/job", "job.save"},
    {REST_GET, "/jobs", "job.list"},
    {REST_POST, "/job/:id/status", "job.status"},
    /* devices and push to phones; a REST-only operator's open offers */
    {REST_POST, "/devices", "device.register"},
    {REST_DELETE, "/devices/:token", "device.unregister"},
    {REST_GET, "/offers", "offer.list"},
};

/* Legacy spellings of fields, mapped to the protocol's names. */
static const char *const aliases[][2] = {
    {"lat", "latitude"}, {"long", "longitude"}, {"lng", "longitude"},
    {"gig", "gigId"},    {"email", "identity"}, {"phone", "identity"},
};

/* Fields that hold numbers: a numeric string there becomes a number. */
static const char *const numeric[] = {"latitude", "longitude", "radius", "limit", "skip",
                                      "rating", "accuracy", "heading", "before"};

/* Matches one pattern; binds ":name" segments into params. */
static int match(const char *pattern, const char *path, json_t *params)
{
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p != '/' || *s != '/') return 0;
        p++;
        s++;
        size_t pl = strcspn(p, "/"), sl = strcspn(s, "/");
        if (*p == ':') {
            if (sl == 0 || sl > 256) return 0;
            char name[64], value[257];
            snprintf(name, sizeof name, "%.*s", (int)(pl - 1), p + 1);
            snprintf(value, sizeof value, "%.*s", (int)sl, s);
            json_t *v = json_string(value);
            if (!v) return 0; /* not UTF-8 */
            json_object_set_new(params, name, v);
        } else if (pl != sl || strncmp(p, s, pl) != 0) {
            return 0;
        }
        p += pl;
        s += sl;
    }
    if (*s == '/' && s[1] == '\0') s++; /* a trailing slash is fine */
    return *p == '\0' && *s == '\0';
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes src[0..n) ('+' is a space); NULL when malformed. */
static char *url_decode(const char *src, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (src[i] == '%' && i + 2 < n && hexval(src[i + 1]) >= 0 && hexval(src[i + 2]) >= 0) {
            *o++ = (char)(hexval(src[i + 1]) * 16 + hexval(src[i + 2]));
            i += 2;
        } else if (src[i] == '+') {
            *o++ = ' ';
        } else {
            *o++ = src[i];
        }
    }
    *o = '\0';
    return out;
}

/* Adds the query's "k=v" pairs to data (the body's own fields win). False
 * when a key or value is not valid UTF-8: such a filter is refused, never
 * dropped (dropping it would widen a listing to everything). */
static bool add_query(json_t *data, const char *query)
{
    const char *q = query;
    bool ok = true;
    while (q && *q) {
        size_t l = strcspn(q, "&");
        const char *eq = memchr(q, '=', l);
        if (eq && eq > q && (size_t)(eq - q) + 1 < l) { /* "k=" is no filter: skipped */
            char *k = url_decode(q, (size_t)(eq - q));
            char *v = url_decode(eq + 1, l - (size_t)(eq - q) - 1);
            json_t *js = v ? json_string(v) : NULL;
            if (!js || !k || !utf8_valid(k, strlen(k))) {
                ok = false;
                json_decref(js);
            } else if (!json_object_get(data, k)) json_object_set_new(data, k, js);
            else json_decref(js);
            free(k);
            free(v);
        }
        q += l;
        if (*q == '&') q++;
    }
    return ok;
}

/* True for a decimal number with optional blanks around it: [+-]digits
 * [.digits][e[+-]digits], at least one digit before the exponent. Not hex,
 * inf or nan, which strtod would also take. */
static bool is_decimal(const char *s)
{
    size_t digits = 0;
    while (isspace((unsigned char)*s)) s++;
    if (*s == '+' || *s == '-') s++;
    for (; isdigit((unsigned char)*s); s++) digits++;
    if (*s == '.')
        for (s++; isdigit((unsigned char)*s); s++) digits++;
    if (digits == 0) return false;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-') s++;
        if (!isdigit((unsigned char)*s)) return false;
        while (isdigit((unsigned char)*s)) s++;
    }
    while (isspace((unsigned char)*s)) s++;
    return *s == '\0';
}

static void normalize(json_t *data)
{
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        json_t *v = json_object_get(data, aliases[i][0]);
        if (v && !json_object_get(data, aliases[i][1]))
            json_object_set(data, aliases[i][1], v);
    }
    for (size_t i = 0; i < sizeof numeric / sizeof numeric[0]; i++) {
        json_t *v = json_object_get(data, numeric[i]);
        if (!json_is_string(v)) continue;
        const char *s = json_string_value(v);
        if (!is_decimal(s)) continue; /* the op will reject the string */
        char *end;
        errno = 0;
        double x = strtod(s, &end);
        if (errno || !isfinite(x)) continue;
        if (x == floor(x) && fabs(x) < 9e15 && !strpbrk(s, ".eE"))
            json_object_set_new(data, numeric[i], json_integer((json_int_t)x));
        else
            json_object_set_new(data, numeric[i], json_real(x));
    }
}

enum rest_outcome rest_match(enum rest_method method, const char *path, const char *query,
                             const char *body, size_t body_len, const char **op, json_t **data,
                             char *why, size_t whylen)
{
    bool path_known = false;
    json_t *params;

    if (!utf8_valid(path, strlen(path))) {
        snprintf(why, whylen, "the path is not valid UTF-8 (or holds a NUL)");
        return REST_BAD_BODY;
    }
    params = json_object();

    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        json_object_clear(params);
        if (!match(routes[i].pattern, path, params)) continue;
        path_known = true;
        if (routes[i].method != method) continue;
        if (!routes[i].op) {
            snprintf(why, whylen, "%s is not available yet on this server", routes[i].pattern);
            json_decref(params);
            return REST_NOT_IMPLEMENTED;
        }
        json_t *d = NULL;
        if (body && body_len > 0) {
            json_error_t err;
            d = json_loadb(body, body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
            if (!d || json_is_null(d)) {
                if (!d) {
                    snprintf(why, whylen, "malformed JSON body: %s (at byte %d)", codec_json_problem(&err),
                             err.position);
                    json_decref(params);
                    return REST_BAD_BODY;
                }
                json_decref(d);
                d = NULL;
            } else if (!json_is_object(d)) {
                snprintf(why, whylen, "the body must be a JSON object");
                json_decref(d);
                json_decref(params);
                return REST_BAD_BODY;
            }
        }
        if (!d) d = json_object();
        json_object_update(d, params); /* path parameters win over the body */
        json_decref(params);
        if (!add_query(d, query)) {
            snprintf(why, whylen, "a query parameter is not valid UTF-8");
            json_decref(d);
            return REST_BAD_BODY;
        }
        normalize(d);
        *op = routes[i].op;
        *data = d;
        return REST_OK;
    }
    json_decref(params);
    /* the path is valid UTF-8: cut it on a character boundary */
    snprintf(why, whylen, path_known ? "method not allowed on %.*s" : "no such route: %.*s",
             (int)utf8_clip(path, strlen(path), whylen > 40 ? whylen - 40 : 0), path);
    return path_known ? REST_BAD_METHOD : REST_NOT_FOUND;
}

void rest_allowed(const char *path, char *out, size_t outlen)
{
    static const char *const names[] = {"GET", "POST", "PUT", "DELETE", "PATCH"};
    bool seen[5] = {false};
    json_t *params = json_object();
    size_t used = 0;

    if (outlen) out[0] = '\0';
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        json_object_clear(params);
        if (routes[i].method < REST_OTHER && match(routes[i].pattern, path, params))
            seen[routes[i].method] = true;
    }
    json_decref(params);
    for (int m = 0; m < 5; m++) {
        if (!seen[m]) continue;
        int n = snprintf(out + used, outlen - used, "%s%s", used ? ", " : "", names[m]);
        if (n < 0 || (size_t)n >= outlen - used) break;
        used += (size_t)n;
    }
}
