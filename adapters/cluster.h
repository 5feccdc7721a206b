/* cluster.h - what a node tells the other nodes, over the bus (engine/bus.h).
 *
 * Channels (the bus adds the deployment prefix):
 *   acct.<id>  events for an account, and "close" orders; a node subscribes
 *              while it holds a session of that account
 *   presence   batched changes of this node's operators, and a full
 *              re-announce every presence_ttl / 3
 *   gigs       pending gigs (where they are, who was offered), so a late
 *              joiner on any node is matched
 *   cluster    orders for every node (close the sessions of a token) and
 *              heartbeats (node id, address, sessions, operators, start)
 * With `bus local` the same messages loop back in-process: one code path.
 * Every event goes through the bus, the sending node's own sessions
 * included, so each session gets it exactly once. */
#ifndef DROP_CLUSTER_H
#define DROP_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"

struct node;
struct gig;

/* Opens the bus of cfg->bus and subscribes the node's channels. Returns 0,
 * or -1 with why set (bad URL, redis bus with a sqlite store without
 * single_node). */
int cluster_start(struct node *n, char *why, size_t whylen);
void cluster_stop(struct node *n);

/* "ok" or "down". */
const char *cluster_status(struct node *n);

/* Sends event (an envelope; ownership taken) to every session of account. */
void cluster_deliver(struct node *n, const char *account, json_t *event);
/* As cluster_deliver, and tells how many nodes hold a session of account
 * (Redis PUBLISH's count; the local bus: this node): cb(ud, err, nodes)
 * runs once on the loop; err DROP_EUNAVAIL when the bus could not say (the
 * event may still have gone out). */
void cluster_deliver_counted(struct node *n, const char *account, json_t *event,
                             void (*cb)(void *ud, drop_err err, int64_t nodes), void *ud);
void cluster_close_token(struct node *n, const unsigned char hash[32]);
void cluster_close_account(struct node *n, const char *account);

/* The first session of account opened on this node / its last one closed. */
void cluster_account_joined(struct node *n, const char *account);
void cluster_account_left(struct node *n, const char *account);

/* A local operator's presence changed (or went away): announced in the next
 * batch. */
void cluster_presence_changed(struct node *n, const char *account);

/* A gig became, stayed or stopped being pending (late join everywhere). */
void cluster_gig_pending(struct node *n, const struct gig *g);

/* This node and the peers its heartbeats know: [{id, addr, sessions,
 * operators, startedAt, self, alive}]. */
json_t *cluster_nodes_json(struct node *n);

/* The peers heartbeats know (not long gone), by id: [{id, addr, alive}]. */
json_t *cluster_peers_json(struct node *n);

/* Periodic: flushes the presence batch, re-announces when due. */
void cluster_tick(struct node *n, int64_t now);

#endif
