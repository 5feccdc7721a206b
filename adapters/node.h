/* node.h - one dropind node: the loop, the engine and its ports, and the
 * parts the node wires (the session hub, the cluster, the admin side, the
 * server). Everything here is owned by the loop thread.
 *
 * node_start() wires the adapters into the engine and opens the listener;
 * node_run() runs the loop until a signal drains the node; node_free()
 * tears down in the order libwebsockets on a foreign loop needs
 * (LIBRARIES.md, "Teardown"). */
#ifndef DROP_NODE_H
#define DROP_NODE_H

#include <stdbool.h>
#include <uv.h>

#include "adapters/config.h"
#include "adapters/metrics.h"
#include "engine/engine.h"

struct admin;
struct bus;
struct cluster;
struct gig_timer;
struct pusher;
struct session_hub;

struct node {
    uv_loop_t loop;
    struct config *cfg;            /* borrowed from main */
    struct engine eng;
    struct metrics metrics;
    char node_id[40];
    int64_t started_at;
    int port;                      /* the port actually bound */

    struct session_hub *hub;       /* every session, by account too (adapters/session.c) */
    struct cluster *cluster;       /* the node's messages over the bus (adapters/cluster.c) */

    uv_timer_t tick;               /* auth deadlines, idle checks, pings */
    uv_timer_t lag;                /* loop lag probe */
    uint64_t lag_expected;
    uv_check_t reaper;             /* frees disused sessions after each turn */
    uv_signal_t sigterm, sigint;
    uv_timer_t stop_timer;         /* grace period while draining */
    bool draining;
    bool stopped;
    int tasks_running;
    int64_t trim_at, trim_sessions; /* the last malloc_trim: when, at how many sessions */
    int64_t trim_last_count;        /* sessions at the previous tick */

    struct bus *bus;               /* the cluster's bus (cluster_bus), NULL once it stopped */
    struct admin *admin;           /* cluster requests and watches (adapters/admin.c) */
    struct gig_timer *gig_timers;  /* gig id -> its uv timer (uthash) */
    int64_t sweep_at;
    bool probe_running;            /* a store health probe is in flight */
    int64_t probe_at;
    const char *store_status;      /* "ok" or the failure, for /healthz */
    const char *bus_status;
    struct pusher *pusher;         /* push to phones (adapters/pusher.c) */
};

/* Builds the node and binds the listener. Returns 0, or -1 with why set
 * (port in use, store cannot open, ...). */
int node_start(struct node *n, struct config *cfg, char *why, size_t whylen);

/* Runs the loop until the node has drained after SIGTERM/SIGINT. */
void node_run(struct node *n);

/* Tears everything down; safe after a failed node_start. */
void node_free(struct node *n);

/* Current wall-clock time in ms. */
int64_t node_now(void);

#endif
