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
 * included, so each session gets it exactly once.
 *
 * The node makes the cluster with cluster_deps: what it reads (config,
 * engine, metrics) and the callbacks through which it hands on what the
 * bus brought for this node's sessions and admin requests. The cluster
 * knows nothing else of the node. */
#ifndef DROP_CLUSTER_H
#define DROP_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "engine/err.h"

struct bus;
struct cluster;
struct config;
struct engine;
struct gig;
struct metrics;

/* What the node gives its cluster: borrowed for the cluster's life. The
 * callbacks run on the loop thread with ctx; what they are handed is
 * borrowed until they return. */
struct cluster_deps {
    uv_loop_t *loop;
    const struct config *cfg;       /* bus, bus_prefix, store, listen_host, presence_ttl */
    struct engine *eng;             /* the grid, pending gigs, account events; its clock */
    const struct metrics *metrics;  /* the session count heartbeats carry */
    const char *node_id;
    int64_t started_at;
    const int *port;                /* the port the server bound, read when needed */
    void *ctx;
    /* An event for account reached this node (after the engine saw it):
     * for its sessions and admin watches here. */
    void (*deliver)(void *ctx, const char *account, json_t *event);
    /* Orders to close this node's sessions of account / of a token. */
    void (*close_account)(void *ctx, const char *account);
    void (*close_token)(void *ctx, const unsigned char hash[32]);
    /* A message on node.<id>: a directed admin request or answer. */
    void (*directed)(void *ctx, json_t *msg);
    /* The bus is "ok" or "down" (for /healthz). */
    void (*bus_status)(void *ctx, const char *status);
    /* True when this node holds a session of account, asked with
     * holds_ud (the hub: hub_holds_account). On a local bus it stands in
     * for the acct.<id> subscriptions, which would cost every idle
     * signed-in session a hash entry; NULL: subscribe as on Redis. */
    bool (*holds_account)(void *holds_ud, const char *account);
    void *holds_ud;
};

/* The cluster, not started yet; deps is copied. Never NULL. */
struct cluster *cluster_new(const struct cluster_deps *deps);
/* Stops it if need be and frees it; NULL is fine. */
void cluster_free(struct cluster *cl);

/* Opens the bus of cfg->bus and subscribes the node's channels. Returns 0,
 * or -1 with why set (bad URL, redis bus with a sqlite store without
 * single_node). */
int cluster_start(struct cluster *cl, char *why, size_t whylen);
/* Closes the bus and forgets peers and pending presence (idempotent; NULL
 * is fine): later calls publish nothing. */
void cluster_stop(struct cluster *cl);

/* "ok" or "down". */
const char *cluster_status(struct cluster *cl);

/* The bus (borrowed), NULL before the start and once stopped. */
struct bus *cluster_bus(struct cluster *cl);

/* Sends event (an envelope; ownership taken) to every session of account. */
void cluster_deliver(struct cluster *cl, const char *account, json_t *event);
/* As cluster_deliver, and tells how many nodes hold a session of account
 * (Redis PUBLISH's count; the local bus: this node): cb(ud, err, nodes)
 * runs once on the loop; err DROP_EUNAVAIL when the bus could not say (the
 * event may still have gone out). */
void cluster_deliver_counted(struct cluster *cl, const char *account, json_t *event,
                             void (*cb)(void *ud, drop_err err, int64_t nodes), void *ud);
void cluster_close_token(struct cluster *cl, const unsigned char hash[32]);
void cluster_close_account(struct cluster *cl, const char *account);

/* The first session of account opened on this node / its last one closed
 * (on a local bus with holds_account: nothing to do). */
void cluster_account_joined(struct cluster *cl, const char *account);
void cluster_account_left(struct cluster *cl, const char *account);

/* A local operator's presence changed (or went away): announced in the next
 * batch. */
void cluster_presence_changed(struct cluster *cl, const char *account);

/* A gig became, stayed or stopped being pending (late join everywhere). */
void cluster_gig_pending(struct cluster *cl, const struct gig *g);

/* This node and the peers its heartbeats know: [{id, addr, sessions,
 * operators, startedAt, self, alive}]. */
json_t *cluster_nodes_json(struct cluster *cl);

/* The peers heartbeats know (not long gone), by id: [{id, addr, alive}]. */
json_t *cluster_peers_json(struct cluster *cl);

/* Periodic: flushes the presence batch, re-announces when due. */
void cluster_tick(struct cluster *cl, int64_t now);

#endif
