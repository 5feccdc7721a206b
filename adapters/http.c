/* http.c - the HTTP side of the node's single port.
 *
 * Routes: GET /healthz (liveness + dependency status, 503 naming a failing
 * dependency), GET /metrics (Prometheus text); every other path is the REST
 * shim: protocol/rest.c maps it to an op (or a JSON 404, 405 or 501) and the
 * op runs through the same handlers as its WebSocket twin. Request bodies
 * are collected up to http_max_body (over it: 413); a body must be JSON
 * (else 415). Allowed origins get CORS headers and preflight answers. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/config.h"
#include "adapters/http.h"
#include "adapters/metrics.h"
#include "engine/engine.h"
#include "engine/log.h"
#include "engine/mem.h"
#include "engine/ops.h"
#include "engine/utf8.h"
#include "protocol/rest.h"

/* One REST request in flight. The connection may close first: then conn is
 * NULL and the answer is dropped. */
struct rest_call {
    struct lws *wsi;
    struct http_conn *conn;
    const struct http_deps *d;
    const struct op_def *op;
    json_t *data;
};

static void rest_done(struct req *r, drop_err err, json_t *data, const char *msg);
static const struct req_sink rest_sink = {rest_done};

/* What the node gave (server_deps.http), borrowed. */
static const struct http_deps *deps_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* Seconds since the node started. */
static double uptime_s(const struct http_deps *d)
{
    return (double)(engine_now(d->eng) - d->started_at) / 1000.0;
}

void http_respond(struct lws *wsi, struct http_conn *c, int status, const char *ctype,
                  char *body, size_t len)
{
    struct metrics *m = deps_of(wsi)->metrics;
    free(c->body);
    c->status = status;
    c->ctype = ctype;
    c->body = body;
    c->body_len = len;
    c->phase = 1;
    c->responded = true;
    m->http_requests++;
    if (status / 100 >= 1 && status / 100 <= 5) m->http_by_class[status / 100]++;
    lws_callback_on_writable(wsi);
}

/* Answers v (taken). A value that cannot be encoded is a bug of ours, not
 * the client's: it is logged and answered as internal, never dereferenced. */
static void respond_json(struct lws *wsi, struct http_conn *c, int status, json_t *v)
{
    static const char fallback[] =
        "{\"error\":{\"code\":\"internal\",\"message\":\"the answer could not be encoded\"}}";
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(v);
    if (!s) {
        log_error("event=internal_error msg=\"unencodable HTTP answer\" status=%d", status);
        status = 500;
        s = xstrdup(fallback);
    }
    http_respond(wsi, c, status, "application/json", s, strlen(s));
}

/* The JSON error shape. msg may echo client bytes: it is made valid UTF-8
 * (and cut on a character boundary) by utf8_json_string. */
static void respond_error(struct lws *wsi, struct http_conn *c, int status, const char *code,
                          const char *msg)
{
    json_t *err = json_object();
    json_object_set_new(err, "code", json_string(code));
    json_object_set_new(err, "message", utf8_json_string(msg, 400));
    respond_json(wsi, c, status, json_pack("{s:o}", "error", err));
}

/* An error whose object carries extra fields (takes extra): rate_limited's
 * retryAfter, also sent as the Retry-After header. */
static void respond_error_extra(struct lws *wsi, struct http_conn *c, drop_err err,
                                const char *msg, json_t *extra)
{
    json_t *e = json_pack("{s:s,s:s}", "code", err_code(err), "message", err_code(err));
    json_t *m = msg ? json_string(msg) : NULL; /* NULL when not valid UTF-8 */
    if (m) json_object_set_new(e, "message", m);
    json_object_update(e, extra);
    json_t *ra = json_object_get(extra, "retryAfter");
    if (json_is_integer(ra))
        snprintf(c->retry_after, sizeof c->retry_after, "%lld", (long long)json_integer_value(ra));
    json_decref(extra);
    respond_json(wsi, c, err_http_status(err), json_pack("{s:o}", "error", e));
}

static void healthz(struct lws *wsi, struct http_conn *c)
{
    const struct http_deps *d = deps_of(wsi);
    const char *store = d->store_status(d->ctx), *bus = d->bus_status(d->ctx);
    bool draining = d->draining(d->ctx);
    bool ok = strcmp(store, "ok") == 0 && strcmp(bus, "ok") == 0;
    const char *failing = strcmp(store, "ok") != 0 ? "store"
                          : strcmp(bus, "ok") != 0 ? "bus" : NULL;
    json_t *v = json_pack("{s:s,s:s,s:f,s:s,s:s,s:I}", "status", ok ? "ok" : "degraded", "node",
                          d->node_id, "uptime", uptime_s(d), "store", store, "bus", bus,
                          "sessions", (json_int_t)d->metrics->connections);
    if (draining) json_object_set_new(v, "status", json_string("draining"));
    if (failing) json_object_set_new(v, "failing", json_string(failing));
    respond_json(wsi, c, ok && !draining ? 200 : 503, v);
}

static void rest_call_free(struct rest_call *rc)
{
    json_decref(rc->data);
    free(rc);
}

static void rest_done(struct req *r, drop_err err, json_t *data, const char *msg)
{
    struct rest_call *rc = r->conn;
    if (rc->conn) {
        rc->conn->pending = NULL;
        rc->d->metrics->msgs_out++;
        if (err) {
            rc->d->metrics->errors[err]++;
            if (data) respond_error_extra(rc->wsi, rc->conn, err, msg, data);
            else respond_error(rc->wsi, rc->conn, err_http_status(err), err_code(err), msg);
            data = NULL;
        } else {
            respond_json(rc->wsi, rc->conn, 200, data);
            data = NULL;
        }
    }
    json_decref(data);
    req_free(r);
    rest_call_free(rc);
}

/* Runs the op for caller who (the token resolved, or anonymous). */
static void rest_dispatch(struct rest_call *rc, const struct caller *who)
{
    struct req *r = xcalloc(1, sizeof *r);
    r->op = rc->op;
    r->data = json_incref(rc->data);
    r->who = *who;
    r->eng = rc->d->eng;
    r->sink = &rest_sink;
    r->conn = rc;
    lws_get_peer_simple(rc->wsi, r->addr, sizeof r->addr);
    rc->d->metrics->msgs_in[ops_index(rc->op)]++;
    ops_dispatch(r);
}

static void rest_authed(void *ud, drop_err err, const struct caller *who)
{
    struct rest_call *rc = ud;
    if (!rc->conn) { /* the client went away meanwhile */
        rest_call_free(rc);
        return;
    }
    if (err) {
        rc->conn->pending = NULL;
        rc->d->metrics->errors[err]++;
        char msg[REQ_REF_SIZE + 32] = "the store is unavailable, retry later";
        if (err == DROP_EUNAUTH) {
            snprintf(msg, sizeof msg, "unknown, expired or revoked token");
        } else if (err == DROP_EINTERNAL) { /* as req_fail answers it */
            char ref[REQ_REF_SIZE];
            req_internal_ref(rc->d->eng, "auth.token", "the token could not be read", ref,
                             sizeof ref);
            snprintf(msg, sizeof msg, "internal error, reference %s", ref);
        }
        respond_error(rc->wsi, rc->conn, err_http_status(err), err_code(err), msg);
        rest_call_free(rc);
        return;
    }
    rest_dispatch(rc, who);
}

static enum rest_method rest_method_of(int m)
{
    switch (m) {
    case LWSHUMETH_GET: return REST_GET;
    case LWSHUMETH_POST: return REST_POST;
    case LWSHUMETH_PUT: return REST_PUT;
    case LWSHUMETH_DELETE: return REST_DELETE;
    case LWSHUMETH_PATCH: return REST_PATCH;
    default: return REST_OTHER;
    }
}

/* True for a JSON media type: application/json or any type ending in +json,
 * parameters (; charset=utf-8) ignored, case-insensitive. */
static bool is_json_type(const char *ctype)
{
    size_t n = strcspn(ctype, ";");
    while (n > 0 && (ctype[n - 1] == ' ' || ctype[n - 1] == '\t')) n--;
    while (n > 0 && (*ctype == ' ' || *ctype == '\t')) ctype++, n--;
    if (n == 16 && strncasecmp(ctype, "application/json", 16) == 0) return true;
    return n > 5 && strchr(ctype, '/') && strchr(ctype, '/') < ctype + n &&
           strncasecmp(ctype + n - 5, "+json", 5) == 0;
}

static void rest(struct lws *wsi, struct http_conn *c)
{
    const struct http_deps *d = deps_of(wsi);
    const char *opname;
    json_t *data = NULL;
    char why[300], ctype[128];

    int clen = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
    if (c->reqbody_len > 0 && clen > 0 &&
        (clen >= (int)sizeof ctype ||
         lws_hdr_copy(wsi, ctype, sizeof ctype, WSI_TOKEN_HTTP_CONTENT_TYPE) < 0 || !is_json_type(ctype))) {
        respond_error(wsi, c, 415, "bad_request", "the body must be application/json");
        return;
    }
    switch (rest_match(rest_method_of(c->method), c->path, c->query, (const char *)c->reqbody,
                       c->reqbody_len, &opname, &data, why, sizeof why)) {
    case REST_NOT_FOUND: respond_error(wsi, c, 404, "not_found", why); return;
    case REST_BAD_METHOD:
        rest_allowed(c->path, c->allow, sizeof c->allow);
        respond_error(wsi, c, 405, "bad_request", why);
        return;
    case REST_NOT_IMPLEMENTED: respond_error(wsi, c, 501, "not_implemented", why); return;
    case REST_BAD_BODY: respond_error(wsi, c, 400, "bad_request", why); return;
    case REST_OK: break;
    }
    struct rest_call *rc = xcalloc(1, sizeof *rc);
    rc->wsi = wsi;
    rc->conn = c;
    rc->d = d;
    rc->data = data;
    rc->op = ops_find(opname);
    if (!rc->op) {
        respond_error(wsi, c, 501, "not_implemented", "this route's op is not available yet");
        rest_call_free(rc);
        return;
    }
    c->pending = rc;
    if (c->bearer[0]) {
        engine_resolve_token(d->eng, c->bearer, rest_authed, rc);
    } else {
        struct caller anon;
        memset(&anon, 0, sizeof anon);
        rest_dispatch(rc, &anon);
    }
}

/* Routes the request once: lws calls BODY_COMPLETION also for a request
 * whose Content-Length is 0, which was routed when its headers arrived. */
static void route(struct lws *wsi, struct http_conn *c)
{
    const struct http_deps *d = deps_of(wsi);
    if (c->routed) return;
    c->routed = true;
    if (c->path_too_long) {
        respond_error(wsi, c, 414, "too_large", "the path is over 511 bytes");
        return;
    }
    if (c->query_too_long) {
        respond_error(wsi, c, 413, "too_large", "the query string is over 511 bytes");
        return;
    }
    if (c->headers_too_big) {
        respond_error(wsi, c, 431, "too_large", "request headers over 8192 bytes");
        return;
    }
    if (c->too_big) {
        respond_error(wsi, c, 413, "too_large", "request body over http_max_body");
        return;
    }
    if (strcmp(c->path, "/healthz") == 0 || strcmp(c->path, "/metrics") == 0) {
        if (c->method != LWSHUMETH_GET) {
            snprintf(c->allow, sizeof c->allow, "GET");
            respond_error(wsi, c, 405, "bad_request", "method not allowed");
            return;
        }
        if (c->path[1] == 'h') {
            healthz(wsi, c);
        } else {
            char *text = metrics_render(d->metrics, d->node_id, uptime_s(d));
            http_respond(wsi, c, 200, "text/plain; version=0.0.4", text, strlen(text));
        }
        return;
    }
    if (d->draining(d->ctx)) {
        respond_error(wsi, c, 503, "unavailable", "the node is draining");
        return;
    }
    rest(wsi, c);
}

static int method_of(struct lws *wsi)
{
    static const struct {
        enum lws_token_indexes tok;
        int m;
    } t[] = {{WSI_TOKEN_GET_URI, LWSHUMETH_GET},       {WSI_TOKEN_POST_URI, LWSHUMETH_POST},
             {WSI_TOKEN_PUT_URI, LWSHUMETH_PUT},       {WSI_TOKEN_DELETE_URI, LWSHUMETH_DELETE},
             {WSI_TOKEN_PATCH_URI, LWSHUMETH_PATCH},   {WSI_TOKEN_OPTIONS_URI, LWSHUMETH_OPTIONS},
             {WSI_TOKEN_HEAD_URI, LWSHUMETH_HEAD}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (lws_hdr_total_length(wsi, t[i].tok) > 0) return t[i].m;
    return -1;
}

/* Appends one "key=value" argument, which lws has already percent-decoded,
 * to c->query re-encoded (so that a decoded '&', '=', '+' or '%' in it
 * survives rest_match's one decoding). False when it does not fit. */
static bool query_append(struct http_conn *c, const char *arg, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t ql = strlen(c->query), cap = sizeof c->query;
    bool key = true;
    if (ql && ql + 1 < cap) c->query[ql++] = '&';
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)arg[i];
        bool plain = isalnum(ch) || strchr("-._~:@/,;*!$'()", ch) || (ch == '=' && key);
        if (ch == '=') key = false;
        if (ql + (plain ? 1 : 3) >= cap) return false;
        if (plain) {
            c->query[ql++] = (char)ch;
        } else {
            c->query[ql++] = '%';
            c->query[ql++] = hex[ch >> 4];
            c->query[ql++] = hex[ch & 15];
        }
    }
    c->query[ql] = '\0';
    return true;
}

/* The bytes of the request's headers that lws parsed (known headers). */
static size_t headers_size(struct lws *wsi)
{
    size_t total = 0;
    for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
        int l = lws_hdr_total_length(wsi, (enum lws_token_indexes)t);
        if (l > 0) total += (size_t)l;
    }
    return total;
}

static void read_request(struct lws *wsi, struct http_conn *c, const char *path)
{
    char auth[300];
    c->path_too_long = strlen(path) >= sizeof c->path;
    c->headers_too_big = headers_size(wsi) > HTTP_MAX_HEADERS;
    snprintf(c->path, sizeof c->path, "%s", c->path_too_long ? "/" : path);
    c->method = method_of(wsi);
    c->query[0] = '\0';
    for (int i = 0;; i++) {
        char frag[512];
        int l = lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (l < 0) { /* no argument i, or one longer than frag */
            if (lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i) > 0) c->query_too_long = true;
            break;
        }
        if (!query_append(c, frag, (size_t)l)) {
            c->query_too_long = true;
            break;
        }
    }
    c->bearer[0] = '\0';
    if (lws_hdr_copy(wsi, auth, sizeof auth, WSI_TOKEN_HTTP_AUTHORIZATION) > 7 &&
        strncasecmp(auth, "Bearer ", 7) == 0)
        snprintf(c->bearer, sizeof c->bearer, "%.*s", (int)sizeof c->bearer - 1, auth + 7);
}

/* ---- CORS ----
 * A page on an origin that allowed_origins lists (space or comma separated;
 * "*" any) may call the REST shim from a browser: its preflight (OPTIONS with
 * an Origin) is answered 204 with the methods and headers allowed, and every
 * response to it carries Access-Control-Allow-Origin. Other origins get no
 * CORS headers, so the browser keeps the answer from the page. */
static bool cors_allowed(const char *list, const char *origin)
{
    size_t ol = strlen(origin);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',') p++;
        size_t l = strcspn(p, " ,");
        if ((l == 1 && *p == '*') || (l && l == ol && strncasecmp(p, origin, l) == 0)) return true;
        p += l;
    }
    return false;
}

/* Notes the request's Origin when it is allowed; true for a preflight of it. */
static bool cors_read(struct lws *wsi, struct http_conn *c)
{
    char origin[sizeof c->cors_origin];
    c->cors_origin[0] = '\0';
    if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) >= (int)sizeof origin ||
        lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN) <= 0 ||
        !cors_allowed(deps_of(wsi)->cfg->allowed_origins, origin))
        return false;
    snprintf(c->cors_origin, sizeof c->cors_origin, "%s", origin);
    return c->method == LWSHUMETH_OPTIONS;
}

static int cors_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
                       unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                       (const unsigned char *)value, (int)strlen(value), p, end);
}

/* Adds the CORS response headers (none for an origin not allowed). */
static int cors_headers(struct lws *wsi, struct http_conn *c, unsigned char **p, unsigned char *end)
{
    if (!c->cors_origin[0]) return 0;
    if (cors_header(wsi, "access-control-allow-origin:", c->cors_origin, p, end) ||
        cors_header(wsi, "vary:", "Origin", p, end))
        return 1;
    if (c->method != LWSHUMETH_OPTIONS) return 0;
    return cors_header(wsi, "access-control-allow-methods:", "GET, POST, PUT, DELETE, PATCH", p, end) ||
           cors_header(wsi, "access-control-allow-headers:", "Authorization, Content-Type", p, end) ||
           cors_header(wsi, "access-control-max-age:", "600", p, end);
}

int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    struct http_conn *c = user;
    unsigned char hdr[LWS_PRE + 1024], *p, *end;
    bool preflight;

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        if (c->pending) { /* never expected: a new request while one is in flight */
            ((struct rest_call *)c->pending)->conn = NULL;
            c->pending = NULL;
        }
        free(c->body);
        free(c->reqbody);
        memset(c, 0, sizeof *c);
        read_request(wsi, c, in ? (const char *)in : "/");
        preflight = cors_read(wsi, c); /* before any answer: it carries CORS headers */
        if (c->path_too_long || c->headers_too_big || c->query_too_long) {
            c->close_after = true; /* a body may follow: not read, so close */
            route(wsi, c);
            return 0;
        }
        if (preflight) {
            http_respond(wsi, c, 204, "text/plain", xstrdup(""), 0);
            return 0;
        }
        if (c->method == LWSHUMETH_POST || c->method == LWSHUMETH_PUT ||
            c->method == LWSHUMETH_PATCH || c->method == LWSHUMETH_DELETE) {
            char cl[32];
            bool chunked = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
            bool has_len = lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
            if (has_len && atoll(cl) > deps_of(wsi)->cfg->http_max_body) {
                c->too_big = true; /* refuse before reading it */
                c->close_after = true;
                route(wsi, c);
                return 0;
            }
            if (chunked) { /* lws 4.1 gives no body callbacks for chunked requests */
                respond_error(wsi, c, 411, "bad_request", "a request body needs Content-Length");
                return 0;
            }
            if (has_len && atoll(cl) > 0) return 0; /* the body follows */
        }
        route(wsi, c);
        return 0;

    case LWS_CALLBACK_HTTP_BODY:
        if (c->too_big || c->responded || len == 0) return 0;
        if (c->reqbody_len + len > (size_t)deps_of(wsi)->cfg->http_max_body) {
            c->too_big = true;
            free(c->reqbody);
            c->reqbody = NULL;
            c->reqbody_len = 0;
            return 0;
        }
        c->reqbody = xrealloc(c->reqbody, c->reqbody_len + len + 1);
        memcpy(c->reqbody + c->reqbody_len, in, len);
        c->reqbody_len += len;
        c->reqbody[c->reqbody_len] = '\0';
        return 0;

    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        /* lws 4.1 completes a body once. When more requests are buffered
         * behind it (pipelining) its buffered-input service calls this
         * again and again and never lets the answer be written: a busy loop
         * that stops the whole node. A request completed twice is closed,
         * unless it was refused before its body was read (close_after: its
         * answer goes out, then the connection closes). */
        if (++c->completions > 1 && !c->close_after) return -1;
        if (!c->responded) route(wsi, c);
        return 0;

    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (c->phase == 1) {
            p = hdr + LWS_PRE;
            end = hdr + sizeof hdr - 1;
            if (lws_add_http_common_headers(wsi, (unsigned int)c->status, c->ctype,
                                            c->body_len, &p, end) ||
                (c->allow[0] &&
                 lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_ALLOW, (unsigned char *)c->allow,
                                              (int)strlen(c->allow), &p, end)) ||
                (c->retry_after[0] &&
                 lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_RETRY_AFTER,
                                              (unsigned char *)c->retry_after,
                                              (int)strlen(c->retry_after), &p, end)) ||
                cors_headers(wsi, c, &p, end) ||
                lws_finalize_write_http_header(wsi, hdr + LWS_PRE, &p, end))
                return 1;
            c->phase = 2;
            lws_callback_on_writable(wsi);
            return 0;
        }
        if (c->phase == 2) {
            /* a HEAD response is the head alone: a body would be read as
             * the next response by a keep-alive client */
            size_t blen = c->method == LWSHUMETH_HEAD ? 0 : c->body_len;
            unsigned char *buf = xmalloc(LWS_PRE + blen + 1);
            memcpy(buf + LWS_PRE, c->body, blen);
            int w = lws_write(wsi, buf + LWS_PRE, blen, LWS_WRITE_HTTP_FINAL);
            free(buf);
            free(c->body);
            c->body = NULL;
            free(c->reqbody);
            c->reqbody = NULL;
            c->reqbody_len = 0;
            c->phase = 3;
            if (w != (int)blen || c->close_after) return -1;
            if (lws_http_transaction_completed(wsi)) return -1;
            return 0;
        }
        return 0;

    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (c && c->pending) {
            ((struct rest_call *)c->pending)->conn = NULL;
            c->pending = NULL;
        }
        if (c) {
            free(c->body);
            c->body = NULL;
            free(c->reqbody);
            c->reqbody = NULL;
        }
        break;

    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}
