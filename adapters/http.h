/* http.h - plain HTTP on the node's port: /healthz, /metrics and the REST
 * shim (protocol/rest.h). A response is built whole in memory, then written
 * from the HTTP_WRITEABLE callback in two steps: headers, then the body. */
#ifndef DROP_HTTP_H
#define DROP_HTTP_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

struct config;
struct engine;
struct metrics;

/* What the node gives its HTTP side, through the server (server_deps.http;
 * lws_context_user() finds it): borrowed until server_finish(). The
 * readers run on the loop thread with ctx, at the time of a request. */
struct http_deps {
    const struct config *cfg;   /* allowed_origins, http_max_body */
    struct engine *eng;         /* runs the REST ops; its clock */
    struct metrics *metrics;    /* HTTP and op counters; /metrics; the session count */
    const char *node_id;
    int64_t started_at;         /* for the uptime */
    void *ctx;
    const char *(*store_status)(void *ctx); /* "ok" or what failed */
    const char *(*bus_status)(void *ctx);   /* "ok" or "down" */
    bool (*draining)(void *ctx);            /* the node drains: REST answers 503 */
};

/* The per-connection user data lws allocates for the "http" protocol. */
/* lws's buffer for one request's line and headers (bytes); over it lws
 * closes the connection without an answer. */
#define HTTP_HEADER_BUFFER 32768
/* Our limit on the headers of one request: over it, 431. */
#define HTTP_MAX_HEADERS 8192

struct http_conn {
    int status;
    const char *ctype;
    char *body;            /* xmalloc'd response body */
    size_t body_len;
    int phase;             /* 0 building, 1 headers due, 2 body due */
    unsigned char *reqbody;
    size_t reqbody_len;
    int method;            /* enum http_method */
    char path[512];
    char query[512];
    char bearer[256];
    char allow[40];        /* the Allow header of a 405, "" otherwise */
    char retry_after[16];  /* the Retry-After header of a 429, "" otherwise */
    char cors_origin[256]; /* the request's Origin when allowed_origins lists it */
    bool too_big;
    bool query_too_long;   /* the query string does not fit query[] (413) */
    bool path_too_long;    /* the path does not fit path[] (414) */
    bool headers_too_big;  /* over HTTP_MAX_HEADERS (431) */
    bool close_after;      /* answered before its body was read: close */
    bool routed;           /* route() ran: a request is routed once */
    bool responded;
    int completions;       /* BODY_COMPLETION callbacks of this request */
    void *pending;         /* a REST request in flight (owned by its slot) */
};

/* The lws callback of the "http" protocol. */
int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len);

/* Sets the response of c and asks lws for a writeable callback. Takes
 * ownership of body (xmalloc'd). */
void http_respond(struct lws *wsi, struct http_conn *c, int status, const char *ctype,
                  char *body, size_t len);

#endif
