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
#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"
#include "engine/id.h"
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

/* Crypto and ids, implemented in adapters/ (OpenSSL, libargon2, libbson).
 * All are thread-safe; the password ones block for tens of milliseconds and
 * are only called inside jobs. Sizes: tokens are 43 chars, hashes 32 bytes,
 * sealed tokens at most 128 bytes. */
struct engine_crypto {
    drop_err (*password_hash)(const char *pw, char *out, size_t outlen);
    bool (*password_verify)(const char *encoded, const char *pw);
    void (*password_dummy_verify)(const char *pw);
    drop_err (*token_generate)(char out[64]);
    bool (*token_well_formed)(const char *s);
    void (*token_hash)(const char *token, unsigned char out[32]);
    drop_err (*token_seal)(const char *token, const char *account, unsigned char *out,
                           size_t *outlen);
    drop_err (*token_unseal)(const unsigned char *sealed, size_t len, const char *account,
                             char out[64]);
    void (*oid_new)(char out[DROP_ID_SIZE]);
    void (*referral_code)(char out[16]);
};

struct engine_settings {
    int64_t token_ttl_ms;
    int64_t token_max_age_ms;
    const char *admin_token; /* borrowed from the config; "" = none */
    const char *node_id;
};

struct engine {
    struct engine_ports ports;
    struct engine_crypto crypto;
    struct engine_settings set;
    struct store *store; /* borrowed; worker threads only */
    int64_t started_at;
};

static inline int64_t engine_now(struct engine *e)
{
    return e->ports.now_ms(e->ports.ctx);
}

#endif
