/* admin.h - the node's side of the cluster-wide admin ops: directed requests
 * to the other nodes with a deadline (admin.cluster) and the live watches of
 * admin sessions (admin.watch: account and gig events, log lines).
 *
 * A directed request goes on node.<id> as {t: "q", from, rid, what, args};
 * the answer comes back on node.<from> as {t: "a", from, rid, data} (or
 * err). Everything runs on the loop thread. */
#ifndef DROP_ADMIN_H
#define DROP_ADMIN_H

#include <jansson.h>
#include <stdint.h>

#include "engine/req.h"

struct node;
struct session;

/* The engine's ports (engine.h: admin_cluster, admin_watch). */
void admin_cluster(void *ctx, struct req *r, const char *what, json_t *args, const char *node,
                   int timeout_ms);
void admin_watch(void *ctx, struct req *r, const char *account, const char *gig,
                 long long log_after);

/* A message on this node's node.<id> channel (borrowed). */
void admin_on_directed(struct node *n, json_t *msg);

/* An event for account reached this node over the bus (borrowed). */
void admin_account_event(struct node *n, const char *account, json_t *envelope);

/* A session closed: its watches end. */
void admin_session_closed(struct node *n, struct session *s);

/* Periodic: answers overdue cluster requests, pushes new log lines. */
void admin_tick(struct node *n, int64_t now);

/* Answers what is pending and drops every watch (the node stops). */
void admin_stop(struct node *n);

#endif
