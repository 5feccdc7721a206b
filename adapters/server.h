/* server.h - the libwebsockets context on the node's libuv loop: one port
 * for HTTP and WebSocket (/ws, subprotocols dropin.v1.json and
 * dropin.v1.msgpack; none offered means JSON). */
#ifndef DROP_SERVER_H
#define DROP_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct lws;
struct node;

/* Creates the lws context on n->loop and binds cfg->listen. Returns 0, or
 * -1 with why set. */
int server_start(struct node *n, char *why, size_t whylen);

/* First half of the foreign-loop teardown: destroys the context (it finishes
 * only after the loop ran once more; call server_finish() then). */
void server_stop(struct node *n);
void server_finish(struct node *n);

/* Sessions this node accepts: max_sessions, or fewer when RLIMIT_NOFILE
 * (raised to its hard limit by server_start) minus a reserve of descriptors
 * for everything else is smaller. Past it, new sessions are closed with
 * 1013. */
int64_t server_capacity(void);

/* Periodic work (the node's tick): closes HTTP connections past
 * http_header_timeout / http_body_timeout. */
void server_tick(struct node *n, int64_t now);

/* Stops watching wsi's HTTP deadlines (it became a WebSocket session). */
void server_conn_forget(struct lws *wsi);

#endif
