/* op_harness.h - the engine's op table with its real handlers, over the real
 * pure modules and test ports: a clock the test sets, the SQLite store in a
 * temp dir, tasks run at once (work, then done, on the calling thread), and a
 * sink that records every answer and every delivered event with its
 * recipient. Header-only: one test program includes it once. */
#ifndef OP_HARNESS_H
#define OP_HARNESS_H

#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE

/* not every test program uses every helper */
#pragma GCC diagnostic ignored "-Wunused-function"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapters/oid.h"
#include "adapters/password.h"
#include "adapters/store_sqlite.h"
#include "adapters/token.h"
#include "adapters/video_dev.h"
#include "engine/engine.h"
#include "engine/ops.h"
#include "engine/presence.h"
#include "engine/req.h"
#include "engine/store.h"

struct harness {
    struct engine eng;
    struct store *st;
    int64_t now;
    json_t *events; /* [[recipient, envelope], ...] in delivery order */
    json_t *timers; /* {gigId: at_ms} as last armed (0: cancelled) */
    json_t *closed; /* accounts whose sessions were closed */
    int tasks;      /* pool-thread tasks run so far */
    /* the last answer */
    bool answered;
    drop_err err;
    json_t *data;
    char msg[512];
    char dir[64];
};

static struct harness *H;

static int64_t h_now(void *ctx) { return ((struct harness *)ctx)->now; }

static void h_run_task(void *ctx, struct req *r, task_work_fn work, task_done_fn done, void *arg)
{
    struct harness *h = ctx;
    h->tasks++;
    work(&h->eng, arg);
    done(&h->eng, r, arg);
}

/* As the node's bus does: the account's node sees the event first (an
 * operator's flags, late join), then its sessions get it. */
static void h_deliver(void *ctx, const char *account, json_t *event)
{
    struct harness *h = ctx;
    engine_account_event(&h->eng, account, event);
    json_array_append_new(h->events, json_pack("[s,o]", account, event));
}

static void h_close_token(void *ctx, const unsigned char hash[32]) { (void)ctx; (void)hash; }

static void h_close_account(void *ctx, const char *account)
{
    json_array_append_new(((struct harness *)ctx)->closed, json_string(account));
}

static void h_gig_timer(void *ctx, const char *gig_id, int64_t at_ms)
{
    json_object_set_new(((struct harness *)ctx)->timers, gig_id, json_integer(at_ms));
}

static void h_presence_changed(void *ctx, const char *account) { (void)ctx; (void)account; }
static void h_gig_pending(void *ctx, const struct gig *g) { (void)ctx; (void)g; }
static bool h_bus_ok(void *ctx) { (void)ctx; return true; }
static json_t *h_inspect(void *ctx, const char *what, json_t *args)
{
    (void)ctx; (void)what; (void)args;
    return NULL;
}
static void h_drain(void *ctx) { (void)ctx; }
static bool h_has_session(void *ctx, const char *account) { (void)ctx; (void)account; return true; }

static drop_err h_token_generate(char out[64]) { return token_generate(out); }
static drop_err h_token_seal(const char *token, const char *account, unsigned char *out,
                             size_t *outlen)
{
    *outlen = TOKEN_SEALED_LEN;
    return token_seal(token, account, out);
}
static drop_err h_token_unseal(const unsigned char *sealed, size_t len, const char *account,
                               char out[64])
{
    return token_unseal(sealed, len, account, out);
}
static void h_referral(char out[16]) { oid_referral_code(out); }

static void h_sink_done(struct req *r, drop_err err, json_t *data, const char *msg)
{
    json_decref(H->data);
    H->answered = true;
    H->err = err;
    H->data = data;
    snprintf(H->msg, sizeof H->msg, "%s", msg ? msg : "");
    req_free(r);
}

static const struct req_sink h_sink = {.done = h_sink_done};

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

/* The policy of the tests: distinct values, so a swap shows. */
static const struct gig_policy H_POLICY = {
    .pending_ttl_ms = 120000,
    .offer_ttl_ms = 15000,
    .confirm_ttl_ms = 60000,
    .handshake_ttl_ms = 1800000,
    .max_stream_ms = 3600000,
    .wave_size = 2,
    .dispatch_radius_m = 5000,
    .price_per_minute_cents = 100,
    .operator_share_bp = 5000,
};


/* The dev provider behind the engine's asynchronous video port. */
static void h_video_session(void *ctx, engine_video_session_fn done, void *ud)
{
    char session[128];
    (void)ctx;
    video_dev_session(session);
    done(ud, DROP_OK, session);
}

static drop_err h_video_token(void *ctx, const char *session, const char *account,
                              bool publisher, int64_t now_ms, int64_t expires_ms, char *out,
                              size_t outlen)
{
    char token[256];
    (void)ctx, (void)now_ms, (void)expires_ms;
    video_dev_token(session, account, publisher, token);
    snprintf(out, outlen, "%s", token);
    return DROP_OK;
}

static int harness_setup(void **state)
{
    static struct harness h;
    char why[256];
    memset(&h, 0, sizeof h);
    snprintf(h.dir, sizeof h.dir, "/tmp/dropin-ops-XXXXXX");
    if (!mkdtemp(h.dir)) return -1;
    char path[128];
    snprintf(path, sizeof path, "%s/ops.db", h.dir);
    if (store_sqlite_open(path, &h.st, why, sizeof why) != DROP_OK) return -1;
    unsigned char key[TOKEN_KEY_LEN];
    memset(key, 9, sizeof key);
    token_init(key);
    h.now = 1460430612000LL;
    h.events = json_array();
    h.timers = json_object();
    h.closed = json_array();
    h.eng.ports = (struct engine_ports){
        .ctx = &h, .now_ms = h_now, .run_task = h_run_task, .deliver = h_deliver,
        .close_token = h_close_token, .close_account = h_close_account,
        .gig_timer = h_gig_timer, .presence_changed = h_presence_changed,
        .gig_pending = h_gig_pending, .bus_ok = h_bus_ok, .inspect = h_inspect,
        .drain = h_drain, .has_session = h_has_session,
    };
    h.eng.video = (struct engine_video){.provider = "dev", .api_key = "dev",
                                        .new_session = h_video_session,
                                        .token = h_video_token};
    h.eng.crypto = (struct engine_crypto){
        .password_hash = password_hash, .password_verify = password_verify,
        .password_dummy_verify = password_dummy_verify, .token_generate = h_token_generate,
        .token_well_formed = token_well_formed, .token_hash = token_hash,
        .token_seal = h_token_seal, .token_unseal = h_token_unseal, .oid_new = oid_new,
        .referral_code = h_referral,
    };
    h.eng.policy = H_POLICY;
    h.eng.set.token_ttl_ms = 3600000;
    h.eng.set.token_max_age_ms = 86400000;
    h.eng.set.admin_token = "";
    h.eng.set.node_id = "t";
    h.eng.set.presence_ttl_ms = 600000;
    if (presence_new(100, &h.eng.presence) != DROP_OK) return -1;
    h.eng.store = h.st;
    h.eng.started_at = h.now;
    H = &h;
    *state = &h;
    return 0;
}

static int harness_teardown(void **state)
{
    (void)state;
    engine_free(&H->eng);
    presence_free(H->eng.presence);
    store_close(H->st);
    json_decref(H->events);
    json_decref(H->timers);
    json_decref(H->closed);
    json_decref(H->data);
    nftw(H->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* Who calls: role and account ("" for anonymous). */
static struct caller as(enum role role, const char *account)
{
    struct caller c;
    memset(&c, 0, sizeof c);
    c.role = role;
    snprintf(c.account, sizeof c.account, "%s", account ? account : "");
    return c;
}

/* Runs op as who with data (a JSON text, NULL = {}); returns the error
 * (DROP_OK: H->data holds the reply, borrowed). Every op here answers at
 * once, since tasks run at once. */
static drop_err call(struct caller who, const char *op, const char *data)
{
    json_error_t jerr;
    struct req *r = calloc(1, sizeof *r);
    r->op = ops_find(op);
    assert_non_null(r->op);
    r->id = json_integer(1);
    r->data = data ? json_loads(data, 0, &jerr) : json_object();
    assert_non_null(r->data);
    r->who = who;
    r->eng = &H->eng;
    r->sink = &h_sink;
    r->conn = H;
    H->answered = false;
    ops_dispatch(r);
    assert_true(H->answered);
    return H->err;
}

/* call(), printf-style data. */
static drop_err callf(struct caller who, const char *op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static drop_err callf(struct caller who, const char *op, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return call(who, op, buf);
}

/* A string field of the last reply (borrowed). */
static const char *got_s(const char *key)
{
    return json_string_value(json_object_get(H->data, key));
}

static json_int_t got_i(const char *key)
{
    return json_integer_value(json_object_get(H->data, key));
}

/* Takes the events delivered so far: a new reference to the array. */
static json_t *take_events(void)
{
    json_t *ev = H->events;
    H->events = json_array();
    return ev;
}

/* How many events named ev went to account in evs (NULL account: anyone);
 * with gig non-NULL, only those about that gig. */
static int count_ev(json_t *evs, const char *account, const char *ev, const char *gig)
{
    size_t i;
    json_t *e;
    int n = 0;
    json_array_foreach(evs, i, e) {
        const char *to = json_string_value(json_array_get(e, 0));
        json_t *env = json_array_get(e, 1);
        json_t *d = json_object_get(env, "data");
        const char *id = json_string_value(json_object_get(d, "gigId"));
        if (!id) id = json_string_value(json_object_get(d, "id"));
        if (strcmp(json_string_value(json_object_get(env, "ev")), ev) != 0) continue;
        if (account && strcmp(to, account) != 0) continue;
        if (gig && (!id || strcmp(id, gig) != 0)) continue;
        n++;
    }
    return n;
}

/* A registered account of type ("user" | "operator"): its id into out. */
static void new_account(const char *type, const char *first, char out[DROP_ID_SIZE])
{
    static int seq;
    drop_err rc = callf(as(ROLE_ANON, ""), "account.register",
                           "{\"firstName\": \"%s\", \"lastName\": \"T\", \"type\": \"%s\", \"password\": \"correct horse\","
                           " \"identities\": [{\"type\": \"email\", \"value\": \"h%d@example.com\"}]}",
                           first, type, ++seq);
    if (rc) fail_msg("account.register: %s", H->msg);
    snprintf(out, DROP_ID_SIZE, "%s", got_s("id"));
}

#endif
