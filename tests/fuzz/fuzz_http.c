/* fuzz_http.c - libFuzzer target for the HTTP side of dropind (adapters/http.c)
 * as it sees a request: the input is one raw HTTP/1.1 request (request line,
 * headers, body).
 *
 * How it works: http.c's exported entry, http_callback(), is driven through
 * the callbacks lws makes for a request (HTTP, HTTP_BODY, BODY_COMPLETION,
 * HTTP_WRITEABLE, CLOSED_HTTP). The lws functions http.c calls are defined
 * here, so they take precedence over the shared library's: they answer
 * from the request parsed below, which decodes the URI as lws 4.1 does
 * (percent-decoding, '?' starts the arguments, '&' splits them, "." and ".."
 * segments resolved; a %00 or bad escape is refused as lws refuses it). The
 * op layer is replaced at link time (-Wl,--wrap=ops_dispatch,
 * --wrap=engine_resolve_token, set by tests/fuzz/CMakeLists.txt): a bearer
 * "good-token" is a user, "down-token" an unavailable store, anything else
 * unknown; an op a caller may run echoes its data, or fails with a message
 * quoting a client-sent id, as handlers do. No store, no socket.
 *
 * Checked after each request, else abort: a request whose bytes all arrived
 * got exactly one response; its status is 200..599; a JSON response is a
 * JSON object; a 4xx/5xx is {"error": {"code", "message"}} with strings; a
 * 405 names the allowed methods. ASan/UBSan catch the rest. */
#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "adapters/config.h"
#include "adapters/http.h"
#include "adapters/metrics.h"
#include "engine/engine.h"
#include "engine/ops.h"
#include "engine/req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FH_HDR_MAX 4096 /* lws's default header buffer */
#define FH_MAX_ARGS 32

/* The request lws would hand over. */
static struct {
    int method_tok; /* WSI_TOKEN_GET_URI ... */
    char path[FH_HDR_MAX];
    char args[FH_MAX_ARGS][FH_HDR_MAX];
    int n_args;
    const char *hdr[WSI_TOKEN_COUNT]; /* value, NUL-terminated, in fh_hbuf */
    char hbuf[FH_HDR_MAX * 2];
    size_t hused;
    int writeable_asks;
} fh;

static struct config fh_cfg;
static struct engine fh_eng;
static struct metrics fh_metrics;
static struct http_deps fh_deps;
static struct lws_context *const fh_ctx = (struct lws_context *)&fh_ctx;
static struct lws *const fh_wsi = (struct lws *)&fh_wsi;

/* ---- the lws functions http.c uses, answering from fh ------------------- */

struct lws_context *lws_get_context(const struct lws *wsi)
{
    (void)wsi;
    return fh_ctx;
}

void *lws_context_user(struct lws_context *context)
{
    (void)context;
    return &fh_deps;
}

int lws_callback_on_writable(struct lws *wsi)
{
    (void)wsi;
    fh.writeable_asks++;
    return 1;
}

int lws_callback_http_dummy(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                            void *in, size_t len)
{
    (void)wsi, (void)reason, (void)user, (void)in, (void)len;
    return 0;
}

static const char *fh_value(enum lws_token_indexes h, int frag)
{
    if (h == WSI_TOKEN_HTTP_URI_ARGS) return frag < fh.n_args ? fh.args[frag] : NULL;
    if (frag != 0 || (unsigned)h >= WSI_TOKEN_COUNT) return NULL;
    if ((int)h == fh.method_tok) return fh.path;
    return fh.hdr[h];
}

int lws_hdr_total_length(struct lws *wsi, enum lws_token_indexes h)
{
    int total = 0;
    (void)wsi;
    for (int i = 0; fh_value(h, i); i++) total += (int)strlen(fh_value(h, i));
    return total;
}

int lws_hdr_fragment_length(struct lws *wsi, enum lws_token_indexes h, int frag_idx)
{
    const char *v = fh_value(h, frag_idx);
    (void)wsi;
    return v ? (int)strlen(v) : 0;
}

int lws_hdr_copy_fragment(struct lws *wsi, char *dest, int len, enum lws_token_indexes h,
                          int frag_idx)
{
    const char *v = fh_value(h, frag_idx);
    (void)wsi;
    if (!v) return -1;
    if ((int)strlen(v) >= len) return -1;
    memcpy(dest, v, strlen(v) + 1);
    return (int)strlen(v);
}

int lws_hdr_copy(struct lws *wsi, char *dest, int len, enum lws_token_indexes h)
{
    char all[FH_HDR_MAX * 2] = "";
    size_t used = 0;
    (void)wsi;
    for (int i = 0; fh_value(h, i); i++) {
        size_t l = strlen(fh_value(h, i));
        if (used + l + 1 >= sizeof all) return -1;
        memcpy(all + used, fh_value(h, i), l);
        used += l;
        if (h == WSI_TOKEN_HTTP_URI_ARGS && fh_value(h, i + 1)) all[used++] = '&';
    }
    all[used] = '\0';
    if ((int)used >= len) return -1;
    memcpy(dest, all, used + 1);
    return (int)used;
}

int lws_add_http_common_headers(struct lws *wsi, unsigned int code, const char *content_type,
                                lws_filepos_t content_len, unsigned char **p, unsigned char *end)
{
    (void)wsi, (void)content_len, (void)end;
    if (code < 100 || code > 599 || !content_type) abort();
    (void)p;
    return 0;
}

int lws_add_http_header_by_token(struct lws *wsi, enum lws_token_indexes token,
                                 const unsigned char *value, int length, unsigned char **p,
                                 unsigned char *end)
{
    (void)wsi, (void)token, (void)p, (void)end;
    if (length < 0 || memchr(value, '\n', (size_t)length) || memchr(value, '\r', (size_t)length))
        abort(); /* header injection */
    return 0;
}

int lws_finalize_write_http_header(struct lws *wsi, unsigned char *start, unsigned char **p,
                                   unsigned char *end)
{
    (void)wsi, (void)start, (void)p, (void)end;
    return 0;
}

int lws_write(struct lws *wsi, unsigned char *buf, size_t len, enum lws_write_protocol wp)
{
    (void)wsi, (void)wp;
    if (len && !buf) abort();
    return (int)len;
}

int lws_http_transaction_completed(struct lws *wsi)
{
    (void)wsi;
    return 0;
}

/* ---- the op layer, replaced at link time -------------------------------- */

void __real_ops_dispatch(struct req *r);
void __wrap_ops_dispatch(struct req *r);
void __wrap_engine_resolve_token(struct engine *e, const char *token,
                                 void (*cb)(void *ud, drop_err err, const struct caller *who),
                                 void *ud);

void __wrap_ops_dispatch(struct req *r)
{
    static const char *const ids[] = {"gigId", "id", "accountId", "identity"};
    if (!(r->op->who & (1u << r->who.role))) { /* refused before any handler runs */
        __real_ops_dispatch(r);
        return;
    }
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        const char *s = json_string_value(json_object_get(r->data, ids[i]));
        if (s && strlen(s) % 2) { /* a handler quoting the client's id */
            req_fail(r, DROP_ENOTFOUND, "no such record: %s", s);
            return;
        }
    }
    req_reply(r, json_incref(r->data));
}

void __wrap_engine_resolve_token(struct engine *e, const char *token,
                                 void (*cb)(void *ud, drop_err err, const struct caller *who),
                                 void *ud)
{
    struct caller who;
    (void)e;
    memset(&who, 0, sizeof who);
    if (strcmp(token, "good-token") == 0) {
        who.role = ROLE_USER;
        memcpy(who.account, "aaaaaaaaaaaaaaaaaaaaaaaa", DROP_ID_SIZE);
        who.has_token = true;
        cb(ud, DROP_OK, &who);
    } else {
        cb(ud, strcmp(token, "down-token") == 0 ? DROP_EUNAVAIL : DROP_EUNAUTH, NULL);
    }
}

/* ---- the request parser (lws 4.1's view of the bytes) ------------------- */

static int fh_hex(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes src[0..n) into out (size FH_HDR_MAX); '+' is a space in
 * arguments. False where lws refuses: a bad escape, %00, too long. */
static bool fh_decode(const char *src, size_t n, char *out, bool arg)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)src[i];
        if (c == '%') {
            if (i + 2 >= n) return false;
            if (fh_hex(src[i + 1]) < 0 || fh_hex(src[i + 2]) < 0) return false;
            c = fh_hex(src[i + 1]) * 16 + fh_hex(src[i + 2]);
            i += 2;
            if (c == 0) return false;
        } else if (c == '+' && arg) {
            c = ' ';
        } else if (c == 0) {
            return false;
        }
        if (o + 1 >= FH_HDR_MAX) return false;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return true;
}

/* Resolves "." and ".." segments and "//" in place; false above the root. */
static bool fh_normalize(char *path)
{
    char out[FH_HDR_MAX];
    size_t o = 0;
    const char *s = path;
    if (*s != '/') return false;
    while (*s) {
        while (*s == '/') s++;
        size_t l = strcspn(s, "/");
        if (l == 1 && s[0] == '.') {
        } else if (l == 2 && s[0] == '.' && s[1] == '.') {
            if (o == 0) return false;
            while (o > 0 && out[o - 1] != '/') o--;
            if (o > 0) o--;
        } else if (l > 0) {
            out[o++] = '/';
            memcpy(out + o, s, l);
            o += l;
        }
        s += l;
    }
    if (o == 0 || (path[strlen(path) - 1] == '/' && o + 1 < sizeof out && out[o - 1] != '/'))
        out[o++] = '/';
    out[o] = '\0';
    memcpy(path, out, o + 1);
    return true;
}

static const struct {
    const char *name;
    enum lws_token_indexes tok;
} fh_methods[] = {{"GET", WSI_TOKEN_GET_URI},         {"POST", WSI_TOKEN_POST_URI},
                  {"PUT", WSI_TOKEN_PUT_URI},         {"DELETE", WSI_TOKEN_DELETE_URI},
                  {"PATCH", WSI_TOKEN_PATCH_URI},     {"OPTIONS", WSI_TOKEN_OPTIONS_URI}};

static const struct {
    const char *name;
    enum lws_token_indexes tok;
} fh_headers[] = {{"content-type", WSI_TOKEN_HTTP_CONTENT_TYPE},
                  {"content-length", WSI_TOKEN_HTTP_CONTENT_LENGTH},
                  {"transfer-encoding", WSI_TOKEN_HTTP_TRANSFER_ENCODING},
                  {"authorization", WSI_TOKEN_HTTP_AUTHORIZATION},
                  {"host", WSI_TOKEN_HOST}};

/* Reads one line (CRLF or LF) from *p; NULL at the end of the bytes. */
static const char *fh_line(const char **p, const char *end, size_t *len)
{
    const char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));
    if (!nl) return NULL;
    *len = (size_t)(nl - s);
    if (*len && s[*len - 1] == '\r') (*len)--;
    *p = nl + 1;
    return s;
}

/* Parses the request line and headers; *body points after them. False for
 * what lws refuses before any callback. */
static bool fh_parse(const char *data, size_t size, const char **body)
{
    const char *p = data, *end = data + size, *line, *sp1, *sp2, *q;
    size_t len;

    memset(&fh, 0, sizeof fh);
    fh.method_tok = -1;
    if (!(line = fh_line(&p, end, &len)) || len >= FH_HDR_MAX) return false;
    if (!(sp1 = memchr(line, ' ', len))) return false;
    for (size_t i = 0; i < sizeof fh_methods / sizeof fh_methods[0]; i++)
        if (strlen(fh_methods[i].name) == (size_t)(sp1 - line) &&
            memcmp(line, fh_methods[i].name, (size_t)(sp1 - line)) == 0)
            fh.method_tok = (int)fh_methods[i].tok;
    if (fh.method_tok < 0) return false;
    sp1++;
    sp2 = memchr(sp1, ' ', len - (size_t)(sp1 - line));
    if (!sp2 || (size_t)(line + len - sp2) != 9 || memcmp(sp2, " HTTP/1.", 8) != 0) return false;
    if (*sp1 != '/') return false;
    q = memchr(sp1, '?', (size_t)(sp2 - sp1));
    if (!fh_decode(sp1, (size_t)((q ? q : sp2) - sp1), fh.path, false) || !fh_normalize(fh.path))
        return false;
    for (const char *a = q ? q + 1 : sp2; a < sp2 && fh.n_args < FH_MAX_ARGS;) {
        const char *amp = memchr(a, '&', (size_t)(sp2 - a));
        const char *e = amp ? amp : sp2;
        if (e > a && !fh_decode(a, (size_t)(e - a), fh.args[fh.n_args++], true)) return false;
        a = e + 1;
    }
    while ((line = fh_line(&p, end, &len)) && len > 0) {
        const char *colon = memchr(line, ':', len);
        if (!colon) return false;
        for (size_t i = 0; i < sizeof fh_headers / sizeof fh_headers[0]; i++) {
            size_t nl = strlen(fh_headers[i].name);
            if ((size_t)(colon - line) != nl || strncasecmp(line, fh_headers[i].name, nl) != 0)
                continue;
            const char *v = colon + 1, *ve = line + len;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            if (memchr(v, '\0', (size_t)(ve - v))) return false;
            if (fh.hused + (size_t)(ve - v) + 1 > FH_HDR_MAX) return false; /* 431 in lws */
            if (fh.hdr[fh_headers[i].tok]) return false; /* a repeat: lws refuses most */
            memcpy(fh.hbuf + fh.hused, v, (size_t)(ve - v));
            fh.hbuf[fh.hused + (size_t)(ve - v)] = '\0';
            fh.hdr[fh_headers[i].tok] = fh.hbuf + fh.hused;
            fh.hused += (size_t)(ve - v) + 1;
        }
    }
    if (!line) return false; /* the headers never ended */
    *body = p;
    return true;
}

/* ---- the node, as http.c reads it ---------------------------------------- */

static int64_t fh_now(void *ctx)
{
    (void)ctx;
    return 0;
}

static const char *fh_ok(void *ctx)
{
    (void)ctx;
    return "ok";
}

static bool fh_draining(void *ctx)
{
    (void)ctx;
    return false;
}

/* ---- the checks ----------------------------------------------------------- */

static void fh_fail(const char *what, const struct http_conn *c)
{
    fprintf(stderr, "fuzz_http: %s (status %d, path \"%s\")\n", what, c->status, fh.path);
    abort();
}

static void fh_check_response(const struct http_conn *c)
{
    json_t *v, *err;
    if (!c->body && c->body_len) fh_fail("a body length without a body", c);
    if (c->status < 200 || c->status > 599) fh_fail("a status outside 200..599", c);
    if (!c->ctype) fh_fail("no content type", c);
    if (c->status == 405 && !c->allow[0]) fh_fail("a 405 without Allow", c);
    if (strcmp(c->ctype, "application/json") != 0) return;
    v = json_loadb(c->body, c->body_len, 0, NULL);
    if (!json_is_object(v)) fh_fail("a JSON response that is not a JSON object", c);
    if (c->status >= 400) {
        err = json_object_get(v, "error");
        if (!json_is_string(json_object_get(err, "code")) ||
            !json_is_string(json_object_get(err, "message")))
            fh_fail("an error response without the error shape", c);
    }
    json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    struct http_conn c;
    const char *body, *end = (const char *)data + size;
    bool complete = true;

    if (!ready) {
        config_init(&fh_cfg);
        fh_cfg.http_max_body = 4096;
        fh_eng.ports.now_ms = fh_now;
        fh_deps = (struct http_deps){
            .cfg = &fh_cfg,
            .eng = &fh_eng,
            .metrics = &fh_metrics,
            .node_id = "fuzz",
            .store_status = fh_ok,
            .bus_status = fh_ok,
            .draining = fh_draining,
        };
        ready = true;
    }
    if (!fh_parse((const char *)data, size, &body)) return 0;

    memset(&c, 0, sizeof c);
    http_callback(fh_wsi, LWS_CALLBACK_HTTP, &c, fh.path, strlen(fh.path));
    if (!c.responded) {
        /* the body follows, as far as Content-Length says, in two pieces */
        long long want = fh.hdr[WSI_TOKEN_HTTP_CONTENT_LENGTH]
                             ? atoll(fh.hdr[WSI_TOKEN_HTTP_CONTENT_LENGTH]) : 0;
        size_t have = (size_t)(end - body), n;
        if (want < 0) want = 0;
        n = (size_t)want < have ? (size_t)want : have;
        complete = (size_t)want <= have;
        if (n > 1) http_callback(fh_wsi, LWS_CALLBACK_HTTP_BODY, &c, (void *)body, n / 2);
        if (n - n / 2 > 0)
            http_callback(fh_wsi, LWS_CALLBACK_HTTP_BODY, &c, (void *)(body + n / 2), n - n / 2);
        if (complete) http_callback(fh_wsi, LWS_CALLBACK_HTTP_BODY_COMPLETION, &c, NULL, 0);
    }
    if (complete && !c.responded) fh_fail("a whole request got no response", &c);
    if (c.responded) {
        fh_check_response(&c);
        http_callback(fh_wsi, LWS_CALLBACK_HTTP_WRITEABLE, &c, NULL, 0);
        http_callback(fh_wsi, LWS_CALLBACK_HTTP_WRITEABLE, &c, NULL, 0);
    }
    http_callback(fh_wsi, LWS_CALLBACK_CLOSED_HTTP, &c, NULL, 0);
    return 0;
}
