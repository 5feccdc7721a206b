/* engine.h - the engine's state and the ports it reaches the world through.
 *
 * struct engine is what every handler sees: settings, the store (only ever
 * touched inside jobs, on worker threads), and the ports the adapters fill
 * in at start (a clock, a job runner, delivery of events to accounts, closing
 * the sessions of a revoked token, crypto helpers). engine/ never includes an
 * adapter header; dropind's main wires the adapters into these pointers. */
#ifndef DROP_ENGINE_H
#define DROP_ENGINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/err.h"
#include "engine/req.h"

struct store;

/* A blocking step run on a worker thread; it may use the store. */
typedef void (*job_work_fn)(struct engine *eng, void *arg);
/* Its completion, back on the loop thread; r may be NULL (system jobs). */
typedef void (*job_done_fn)(struct engine *eng, struct req *r, void *arg);

struct engine_ports {
    void *ctx; /* passed back to every port */
    int64_t (*now_ms)(void *ctx);
    /* Runs work(eng, arg) on a worker, then done(eng, r, arg) on the loop. */
    void (*job)(void *ctx, struct req *r, job_work_fn work, job_done_fn done, void *arg);
    /* Sends an event to every session of an account, on every node. Takes
     * ownership of event. */
    void (*deliver)(void *ctx, const char *account, json_t *event);
    /* Closes every session authenticated with this token hash (code 4401). */
    void (*close_token)(void *ctx, const unsigned char hash[32]);
    /* Closes every session of an account (archived accounts). */
    void (*close_account)(void *ctx, const char *account);
};

struct engine_settings {
    int64_t token_ttl_ms;
    int64_t token_max_age_ms;
    const char *admin_token; /* borrowed from the config; "" = none */
    const char *node_id;
};

struct engine {
    struct engine_ports ports;
    struct engine_settings set;
    struct store *store; /* borrowed; worker threads only */
    int64_t started_at;
};

static inline int64_t engine_now(struct engine *e)
{
    return e->ports.now_ms(e->ports.ctx);
}

#endif
