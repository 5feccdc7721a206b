/* admin.h - the node's side of the cluster-wide admin ops: directed requests
 * to the other nodes with a deadline (admin.cluster) and the live watches of
 * admin sessions (admin.watch: account and gig events, log lines).
 *
 * A directed request goes on node.<id> as {t: "q", from, rid, what, args};
 * the answer comes back on node.<from> as {t: "a", from, rid, data} (or
 * err). Everything runs on the loop thread.
 *
 * The node makes it with admin_deps: what a node answers for itself reads
 * the engine, the cluster and the session hub; requests and watches go over
 * the cluster's bus. The admin side knows nothing else of the node. */
#ifndef DROP_ADMIN_H
#define DROP_ADMIN_H

#include <jansson.h>
#include <stdint.h>

#include "engine/req.h"

struct admin;
struct cluster;
struct config;
struct engine;
struct metrics;
struct session;
struct session_hub;

/* What the node gives its admin side: borrowed for its life. */
struct admin_deps {
    const struct config *cfg;       /* listen_host, for the address stats give */
    struct engine *eng;             /* presence, the stats inspector; its clock */
    const struct metrics *metrics;  /* the loop lag stats give */
    const char *node_id;
    const int *port;                /* the port the server bound, read when needed */
    struct cluster *cluster;        /* peers, nodes, the bus (cluster_bus) */
    struct session_hub *sessions;   /* admin.sessions */
};

/* The admin side, with nothing pending; deps is copied. Never NULL. */
struct admin *admin_new(const struct admin_deps *deps);
/* admin_stop, then frees it; NULL is fine. */
void admin_free(struct admin *a);

/* The engine's ports (engine.h: admin_cluster, admin_watch), called with
 * the admin side the node made. */
void admin_cluster(struct admin *a, struct req *r, const char *what, json_t *args,
                   const char *node, int timeout_ms);
void admin_watch(struct admin *a, struct req *r, const char *account, const char *gig,
                 long long log_after);

/* A message on this node's node.<id> channel (borrowed). */
void admin_on_directed(struct admin *a, json_t *msg);

/* An event for account reached this node over the bus (borrowed). */
void admin_account_event(struct admin *a, const char *account, json_t *envelope);

/* A session closed: its watches end. */
void admin_session_closed(struct admin *a, struct session *s);

/* Periodic: answers overdue cluster requests, pushes new log lines. */
void admin_tick(struct admin *a, int64_t now);

/* Answers what is pending and drops every watch (the node stops);
 * idempotent, NULL is fine. */
void admin_stop(struct admin *a);

#endif
