/* http.c - the HTTP side of the node's single port.
 *
 * Routes: GET /healthz (liveness + dependency status, 503 naming a failing
 * dependency), GET /metrics (Prometheus text), anything else a JSON 404.
 * Request bodies are collected up to http_max_body (over it: 413). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/http.h"
#include "adapters/node.h"
#include "engine/mem.h"

static struct node *node_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

void http_respond(struct lws *wsi, struct http_conn *c, int status, const char *ctype,
                  char *body, size_t len)
{
    struct node *n = node_of(wsi);
    free(c->body);
    c->status = status;
    c->ctype = ctype;
    c->body = body;
    c->body_len = len;
    c->phase = 1;
    c->responded = true;
    n->metrics.http_requests++;
    if (status / 100 >= 1 && status / 100 <= 5) n->metrics.http_by_class[status / 100]++;
    lws_callback_on_writable(wsi);
}

static void respond_json(struct lws *wsi, struct http_conn *c, int status, json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(v);
    http_respond(wsi, c, status, "application/json", s, strlen(s));
}

static void respond_error(struct lws *wsi, struct http_conn *c, int status, const char *code,
                          const char *msg)
{
    respond_json(wsi, c, status,
                 json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

static void healthz(struct lws *wsi, struct http_conn *c)
{
    struct node *n = node_of(wsi);
    bool ok = strcmp(n->store_status, "ok") == 0 && strcmp(n->bus_status, "ok") == 0;
    const char *failing = strcmp(n->store_status, "ok") != 0 ? "store"
                          : strcmp(n->bus_status, "ok") != 0 ? "bus" : NULL;
    json_t *v = json_pack("{s:s,s:s,s:f,s:s,s:s,s:I}", "status", ok ? "ok" : "degraded", "node",
                          n->node_id, "uptime", (double)(node_now() - n->started_at) / 1000.0,
                          "store", n->store_status, "bus", n->bus_status, "sessions",
                          (json_int_t)n->metrics.connections);
    if (n->draining) json_object_set_new(v, "status", json_string("draining"));
    if (failing) json_object_set_new(v, "failing", json_string(failing));
    respond_json(wsi, c, ok && !n->draining ? 200 : 503, v);
}

static void route(struct lws *wsi, struct http_conn *c)
{
    struct node *n = node_of(wsi);
    if (c->too_big) {
        respond_error(wsi, c, 413, "too_large", "request body over http_max_body");
        return;
    }
    if (strcmp(c->path, "/healthz") == 0 || strcmp(c->path, "/metrics") == 0) {
        if (c->method != LWSHUMETH_GET) {
            respond_error(wsi, c, 405, "bad_request", "method not allowed");
            return;
        }
        if (c->path[1] == 'h') {
            healthz(wsi, c);
        } else {
            char *text = metrics_render(&n->metrics, n->node_id,
                                        (double)(node_now() - n->started_at) / 1000.0);
            http_respond(wsi, c, 200, "text/plain; version=0.0.4", text, strlen(text));
        }
        return;
    }
    respond_error(wsi, c, 404, "not_found", "no such route");
}

static int method_of(struct lws *wsi)
{
    static const struct {
        enum lws_token_indexes tok;
        int m;
    } t[] = {{WSI_TOKEN_GET_URI, LWSHUMETH_GET},       {WSI_TOKEN_POST_URI, LWSHUMETH_POST},
             {WSI_TOKEN_PUT_URI, LWSHUMETH_PUT},       {WSI_TOKEN_DELETE_URI, LWSHUMETH_DELETE},
             {WSI_TOKEN_PATCH_URI, LWSHUMETH_PATCH},   {WSI_TOKEN_OPTIONS_URI, LWSHUMETH_OPTIONS}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (lws_hdr_total_length(wsi, t[i].tok) > 0) return t[i].m;
    return -1;
}

static void read_request(struct lws *wsi, struct http_conn *c, const char *path)
{
    char auth[300];
    snprintf(c->path, sizeof c->path, "%s", path);
    c->method = method_of(wsi);
    c->query[0] = '\0';
    /* the raw query string, args joined with '&' */
    for (int i = 0;; i++) {
        char frag[256];
        int l = lws_hdr_copy_fragment(wsi, frag, sizeof frag, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (l < 0) break;
        size_t ql = strlen(c->query);
        snprintf(c->query + ql, sizeof c->query - ql, "%s%s", ql ? "&" : "", frag);
    }
    c->bearer[0] = '\0';
    if (lws_hdr_copy(wsi, auth, sizeof auth, WSI_TOKEN_HTTP_AUTHORIZATION) > 7 &&
        strncasecmp(auth, "Bearer ", 7) == 0)
        snprintf(c->bearer, sizeof c->bearer, "%s", auth + 7);
}

int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    struct http_conn *c = user;
    struct node *n;
    unsigned char hdr[LWS_PRE + 1024], *p, *end;

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        memset(c, 0, sizeof *c);
        read_request(wsi, c, in ? (const char *)in : "/");
        if (c->method == LWSHUMETH_POST || c->method == LWSHUMETH_PUT ||
            c->method == LWSHUMETH_PATCH ||
            (c->method == LWSHUMETH_DELETE &&
             lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)) {
            char cl[32];
            if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
                atoll(cl) == 0) {
                route(wsi, c);
            }
            return 0; /* the body follows */
        }
        route(wsi, c);
        return 0;

    case LWS_CALLBACK_HTTP_BODY:
        n = node_of(wsi);
        if (c->too_big) return 0;
        if (c->reqbody_len + len > (size_t)n->cfg->http_max_body) {
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
        if (!c->responded) route(wsi, c);
        return 0;

    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (c->phase == 1) {
            p = hdr + LWS_PRE;
            end = hdr + sizeof hdr - 1;
            if (lws_add_http_common_headers(wsi, (unsigned int)c->status, c->ctype,
                                            c->body_len, &p, end) ||
                lws_finalize_write_http_header(wsi, hdr + LWS_PRE, &p, end))
                return 1;
            c->phase = 2;
            lws_callback_on_writable(wsi);
            return 0;
        }
        if (c->phase == 2) {
            size_t blen = c->body_len;
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
            if (w != (int)blen) return -1;
            if (lws_http_transaction_completed(wsi)) return -1;
            return 0;
        }
        return 0;

    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
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
