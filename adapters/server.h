/* server.h - the libwebsockets context on the node's libuv loop: one port
 * for HTTP and WebSocket (/ws, subprotocols dropin.v1.json and
 * dropin.v1.msgpack; none offered means JSON). */
#ifndef DROP_SERVER_H
#define DROP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct config;
struct http_deps;
struct lws;
struct metrics;
struct session_hub;

/* What the node gives the server: borrowed until server_finish(). */
struct server_deps {
    uv_loop_t *loop;
    const struct config *cfg;        /* listen, TLS, origins, limits, HTTP deadlines */
    struct metrics *metrics;         /* close codes lws gives refused frames */
    struct session_hub *sessions;    /* where WebSocket sessions open */
    int64_t (*now)(void);            /* wall-clock ms: HTTP deadlines, accept back-off */
    const struct http_deps *http;    /* what http.c needs: copied, lws_context_user() */
};

/* Creates the lws context on deps->loop and binds cfg->listen. One server a
 * process (the lws log hook has no user pointer). Returns 0, or -1 with
 * why set. */
int server_start(const struct server_deps *deps, char *why, size_t whylen);

/* First half of the foreign-loop teardown: destroys the context (it finishes
 * only after the loop ran once more; call server_finish() then). Both are
 * safe after a failed or missing server_start. */
void server_stop(void);
void server_finish(void);

/* The port actually bound (0 before server_start). */
int server_port(void);

/* Sessions this node accepts: max_sessions, or fewer when RLIMIT_NOFILE
 * (raised to its hard limit by server_start) minus a reserve of descriptors
 * for everything else is smaller. Past it, new sessions are closed with
 * 1013. */
int64_t server_capacity(void);

/* Periodic work (the node's tick): closes HTTP connections past
 * http_header_timeout / http_body_timeout. */
void server_tick(int64_t now);

/* Stops watching wsi's HTTP deadlines (it became a WebSocket session). */
void server_conn_forget(struct lws *wsi);

#endif
