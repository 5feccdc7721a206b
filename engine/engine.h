/* engine.h - the engine's state and the ports it reaches the world through.
 *
 * struct engine is what every handler sees: settings, the store (only ever
 * touched inside tasks, on pool threads), and the ports the adapters fill
 * in at start (a clock, a task runner, delivery of events to accounts, closing
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
#include "engine/gig.h"
#include "engine/req.h"
#include "engine/throttle.h"

struct store;
struct presence;
struct pending_gig;
struct lt_inflight;

/* A blocking step run on a pool thread; it may use the store. */
typedef void (*task_work_fn)(struct engine *eng, void *arg);
/* Its completion, back on the loop thread; r may be NULL (system tasks). */
typedef void (*task_done_fn)(struct engine *eng, struct req *r, void *arg);

struct engine_ports {
    void *ctx; /* passed back to every port */
    int64_t (*now_ms)(void *ctx);
    /* Runs work(eng, arg) on a pool thread, then done(eng, r, arg) on the loop. */
    void (*run_task)(void *ctx, struct req *r, task_work_fn work, task_done_fn done, void *arg);
    /* Sends an event to every session of an account, on every node. Takes
     * ownership of event. */
    void (*deliver)(void *ctx, const char *account, json_t *event);
    /* Closes every session authenticated with this token hash (code 4401). */
    void (*close_token)(void *ctx, const unsigned char hash[32]);
    /* Closes every session of an account (archived accounts). */
    void (*close_account)(void *ctx, const char *account);
    /* Arms (at_ms > 0) or cancels (0) the one timer of a gig; when it fires
     * the node calls gig_timer_fired(). */
    void (*gig_timer)(void *ctx, const char *gig_id, int64_t at_ms);
    /* A local operator's presence entry changed or went away (for the
     * other nodes' grids). */
    void (*presence_changed)(void *ctx, const char *account);
    /* A gig's pending state changed: tell every node (late join). */
    void (*gig_pending)(void *ctx, const struct gig *g);
    /* False while the bus is down: ops that must reach other nodes answer
     * `unavailable`. */
    bool (*bus_ok)(void *ctx);
    /* What only the node knows, for the admin ops: "stats", "nodes",
     * "sessions" (args: the request's data). A new reference, or NULL for
     * bad arguments. */
    json_t *(*inspect)(void *ctx, const char *what, json_t *args);
    /* Starts draining this node (as SIGTERM does). */
    void (*drain)(void *ctx);
    /* admin.cluster: asks every node of the cluster (only `node` when not
     * NULL) for `what` with args (borrowed; NULL = {}) and answers r once
     * each has answered or timeout_ms have passed (ops_admin.c has the
     * reply's shape). */
    void (*admin_cluster)(void *ctx, struct req *r, const char *what, json_t *args,
                          const char *node, int timeout_ms);
    /* admin.watch: r's session gets, until it closes, the events of account
     * (only those about gig when gig is not NULL), or when account is NULL
     * this node's log lines after sequence number log_after. Answers r. */
    void (*admin_watch)(void *ctx, struct req *r, const char *account, const char *gig,
                        long long log_after);
    /* True when account has a session on this node (not on other nodes). */
    bool (*has_session)(void *ctx, const char *account);
    /* Counters shared by the cluster (the sign-in brake; engine/bus.h has
     * the contract: bus_counter_incr, _get, _del). Each returns
     * DROP_EUNAVAIL when there are none (bus local, or down): the engine
     * then counts on its own table. May be NULL. */
    drop_err (*counter_incr)(void *ctx, const char *key, int64_t ttl_ms,
                             void (*cb)(void *ud, drop_err err, int64_t value, int64_t ttl_left_ms),
                             void *ud);
    drop_err (*counter_get)(void *ctx, const char *key,
                            void (*cb)(void *ud, drop_err err, int64_t value, int64_t ttl_left_ms),
                            void *ud);
    drop_err (*counter_del)(void *ctx, const char *key);
};

/* The video provider (PROTOCOL.md section 7; adapters/video.c). The
 * development provider is named "dev" in every reply so it can never pass
 * for a real one. */
typedef void (*engine_video_session_fn)(void *ud, drop_err rc, const char *session);
struct engine_video {
    void *ctx;
    const char *provider; /* "dev", "opentok" or "vonage" */
    const char *api_key;  /* the OpenTok API key or the Vonage application id */
    bool ahead;           /* create the session when the customer confirms */
    /* Starts creating a session. done(ud, rc, session) runs once on the loop
     * (possibly before this returns): DROP_OK and the session id (borrowed
     * for the call), or DROP_EUNAVAIL when the provider is down or refuses. */
    void (*new_session)(void *ctx, engine_video_session_fn done, void *ud);
    /* The token of account on session: publisher (the operator) or
     * subscriber, working until expires_ms. Returns DROP_OK with out set, or
     * DROP_EINTERNAL (signing failed, out too small). */
    drop_err (*token)(void *ctx, const char *session, const char *account, bool publisher,
                      int64_t now_ms, int64_t expires_ms, char *out, size_t outlen);
};

/* The blob signer (adapters/blob_s3.c): a presigned PUT URL for an object
 * key. sign_put NULL = storage not configured. Pure and thread-safe; returns
 * DROP_OK (url and *expires_at_ms set), DROP_EBADREQ or DROP_ETOOLARGE. */
struct engine_blob {
    void *ctx;
    drop_err (*sign_put)(void *ctx, const char *key, const char *content_type, int64_t now_ms,
                         char *url, size_t urllen, int64_t *expires_at_ms);
};

/* Push to phones (PROTOCOL.md section 6; adapters/pusher.c). Every event
 * the engine delivers through ports.deliver reaches an offline account's
 * devices on its own; push.send needs the outcome: deliver sends event
 * (ownership taken) to every session of account on every node, and when
 * no node holds one pushes it to the account's devices; done(ud, how)
 * runs once on the loop with "socket" (a node holds a session), "push" (a
 * provider accepted it) or "none". deliver NULL = no push support (then
 * the caller falls back to ports.deliver and has_session). */
struct engine_push {
    void *ctx;
    void (*deliver)(void *ctx, const char *account, json_t *event,
                    void (*done)(void *ud, const char *how), void *ud);
};

/* The code sender (adapters/mail_smtp.c for "email", sms_twilio.c for
 * "phone", wired in node.c): can(ctx, type) is false when no delivery is
 * configured for that identity type; send delivers a short text (to, subject
 * and text borrowed for the call) and done(ud, ok) runs once on the loop,
 * ok when the server or provider accepted it. NULL send = none at all. */
struct engine_notify {
    void *ctx;
    bool (*can)(void *ctx, const char *type);
    void (*send)(void *ctx, const char *type, const char *to, const char *subject,
                 const char *text, void (*done)(void *ud, bool ok), void *ud);
};

/* Crypto and ids, implemented in adapters/ (OpenSSL, libargon2, libbson).
 * All are thread-safe; the password ones block for tens of milliseconds and
 * are only called inside tasks. Sizes: tokens are 43 chars, hashes 32 bytes,
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
    /* one-time codes: 6 random digits; random salt bytes; the keyed hash
     * the store keeps (never the code). DROP_OK or DROP_EINTERNAL. */
    drop_err (*code_new)(char out[8]);
    drop_err (*random)(unsigned char *out, size_t n);
    void (*code_hash)(const unsigned char *salt, size_t saltlen, const char *identity,
                      const char *code, unsigned char out[32]);
};

struct engine_settings {
    int64_t token_ttl_ms;
    int64_t token_max_age_ms;
    const char *admin_token; /* borrowed from the config; "" = none */
    const char *node_id;
    int64_t presence_ttl_ms;
    struct throttle_policy login; /* sign-in failures per identity (login_throttle.c) */
    int64_t code_ttl_ms;          /* life of a one-time code (ops_code.c) */
};

struct engine {
    struct engine_ports ports;
    struct engine_crypto crypto;
    struct engine_video video;
    struct engine_blob blob;
    struct engine_push push;
    struct engine_notify notify;
    struct engine_settings set;
    struct store *store; /* borrowed; pool threads only */
    struct presence *presence;      /* loop thread only */
    struct gig_policy policy;
    struct pending_gig *pending;    /* pendingOperator gigs known here (ops_gig.c) */
    /* operators whose profile arrived lately (ops_presence.c): a gig whose
     * candidates were chosen while one was still being read offers it once
     * the gig is known here (ops_gig.c apply_effects) */
    char recent_free[16][DROP_ID_SIZE];
    unsigned recent_free_seq[16]; /* recent_free_count when each was added */
    unsigned recent_free_count;
    struct throttle_table *login_failures; /* node-local sign-in counters (login_throttle.c) */
    struct lt_inflight *login_inflight;    /* sign-ins in flight per key (login_throttle.c) */
    int64_t started_at;
};

static inline int64_t engine_now(struct engine *e)
{
    return e->ports.now_ms(e->ports.ctx);
}

/* ops_gig.c: a gig's timer fired; the sweep of overdue gigs; the
 * operator's presence changed (late join); a session ended. */
void gig_timer_fired(struct engine *e, const char *gig_id);
void gig_sweep(struct engine *e);
/* The operator may take a pending gig it was not offered (late join): each
 * pending gig in range that has room for an offer gets one. was, when not
 * NULL, is where the operator stood while already free: a gig that was in
 * range from there too is skipped (it had its chance in the waves; a free
 * operator re-announcing the same place is no news). */
struct late_join_from {
    double lat, lon;
};
void gig_operator_free(struct engine *e, const char *account, const struct late_join_from *was);
void engine_free(struct engine *e);

/* ops_gig.c: an event reached account on this node: a gig.updated where it
 * is the operator sets its busy and locked flags (the operator's own node
 * owns its presence entry). */
void engine_account_event(struct engine *e, const char *account, json_t *envelope);

/* ops_gig.c: another node announced a pending gig (pending true, with the
 * operators already offered) or its end (pending false). */
void engine_pending_apply(struct engine *e, const char *id, const char *customer, double lat,
                          double lon, const char (*offered)[DROP_ID_SIZE], int n_offered,
                          bool pending);

/* ops_account.c: resolves a bearer token (REST) to its caller; cb runs on
 * the loop with DROP_OK, DROP_EUNAUTH or DROP_EUNAVAIL. */
void engine_resolve_token(struct engine *e, const char *token,
                          void (*cb)(void *ud, drop_err err, const struct caller *who), void *ud);

/* ops_presence.c: a session of account ended; last when it was the
 * account's last session on this node (an operator then goes offline). */
void engine_session_ended(struct engine *e, const char *account, enum role role, bool last);

#endif
