/* ops_gig.c - the gig flow: create, claim, confirm, reject, cancel,
 * handshake, start, stop, rate, get, list; timers, sweeps and late join.
 *
 * Every transition is one task: read the gig, let the pure state machine
 * decide (gig_apply), compare-and-set on the version, and on a lost race
 * re-read and decide again. The completion, back on the loop, carries out
 * the effects: gig.offer / gig.offer_revoked / gig.updated to the accounts
 * concerned, the operator's busy and locked flags, the gig's one timer, and
 * the cache of pending gigs that late joiners are matched against.
 *
 * Candidates for dispatch come from the grid, which lives on the loop: when a
 * transition may offer (create, claim reject, offer expiry, late join) they
 * are computed before the task from the gig's position, known from the
 * pending cache or from a first read-only task. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "engine/account.h"
#include "engine/dispatch.h"
#include "engine/geo.h"
#include "engine/engine.h"
#include "engine/gig_json.h"
#include "engine/log.h"
#include "engine/mem.h"
#include "engine/ops.h"
#include "engine/ops_handlers.h"
#include "engine/presence.h"
#include "engine/store.h"
#include "engine/timefmt.h"

#define MAX_CANDIDATES 64
#define MAX_PENDING 100000 /* pending gigs cached for late join */
#define VIDEO_TOKEN_SIZE 4096 /* a Vonage JWT is about 1 KiB */

/* A pendingOperator gig this node knows of: enough to match late joiners. */
struct pending_gig {
    char id[DROP_ID_SIZE];
    char customer[DROP_ID_SIZE];
    double lat, lon;
    int n_offered;
    char offered[GIG_MAX_OFFERS][DROP_ID_SIZE];
    UT_hash_handle hh;
};

struct gig_task {
    struct engine *e;
    struct req *r;                 /* NULL for system transitions */
    enum gig_action_kind kind;
    char gig_id[DROP_ID_SIZE];
    char actor[DROP_ID_SIZE];
    bool is_admin;
    bool system;
    int rating;
    bool handshake_reply;
    bool need_candidates;
    bool need_session;             /* GIG_HANDSHAKE: the gig has no video session yet */
    struct dispatch_candidate cands[MAX_CANDIDATES];
    size_t n_cands;
    unsigned free_mark;            /* GIG_CREATE: e->recent_free_count at candidate time */
    char video_session[GIG_VIDEO_SESSION_SIZE];
    struct gig create;             /* GIG_CREATE: the caller-filled new gig */
    /* results */
    drop_err err;
    char why[200];
    bool located;                  /* the read-only first phase found the gig */
    double lat, lon;
    struct gig before, after;
    struct gig_effects fx;
    char cust_first[ACCOUNT_NAME_MAX * 4 + 1];
    double cust_rating;
};

static void task_fail(struct gig_task *j, drop_err e, const char *msg)
{
    j->err = e;
    snprintf(j->why, sizeof j->why, "%s", msg);
}

static void store_fail(struct gig_task *j, drop_err e)
{
    if (e == DROP_EUNAVAIL) task_fail(j, e, "the store is unavailable, retry later");
    else if (e == DROP_ENOTFOUND) task_fail(j, e, "no such gig");
    else task_fail(j, e, "store error");
}

static struct gig_task *gig_task_new(struct engine *e, struct req *r, enum gig_action_kind kind)
{
    struct gig_task *j = xcalloc(1, sizeof *j);
    j->e = e;
    j->r = r;
    j->kind = kind;
    gig_init(&j->before);
    gig_init(&j->after);
    gig_init(&j->create);
    if (r) {
        memcpy(j->actor, r->who.account, DROP_ID_SIZE);
        j->is_admin = r->who.role == ROLE_ADMIN;
    } else {
        j->system = true;
    }
    return j;
}

static void gig_task_free(struct gig_task *j)
{
    gig_free(&j->before);
    gig_free(&j->after);
    gig_free(&j->create);
    free(j);
}

static bool kind_offers(enum gig_action_kind k)
{
    return k == GIG_CREATE || k == GIG_CLAIM_REJECT || k == GIG_OFFER_EXPIRE || k == GIG_LATE_JOIN;
}

/* ---- the pending cache ---- */

static void pending_put(struct engine *e, const struct gig *g)
{
    struct pending_gig *p;
    HASH_FIND_STR(e->pending, g->id, p);
    if (!p) {
        if (HASH_COUNT(e->pending) >= MAX_PENDING) return;
        p = xcalloc(1, sizeof *p);
        memcpy(p->id, g->id, DROP_ID_SIZE);
        HASH_ADD_STR(e->pending, id, p);
    }
    memcpy(p->customer, g->customer, DROP_ID_SIZE);
    p->lat = g->latitude;
    p->lon = g->longitude;
    p->n_offered = g->n_offers;
    for (int i = 0; i < g->n_offers; i++) memcpy(p->offered[i], g->offers[i].operator, DROP_ID_SIZE);
}

static void pending_del(struct engine *e, const char *id)
{
    struct pending_gig *p;
    HASH_FIND_STR(e->pending, id, p);
    if (p) {
        HASH_DEL(e->pending, p);
        free(p);
    }
}

void engine_free(struct engine *e)
{
    struct pending_gig *p, *tmp;
    HASH_ITER(hh, e->pending, p, tmp)
    {
        HASH_DEL(e->pending, p);
        free(p);
    }
}

/* ---- candidates ---- */

static void find_candidates(struct gig_task *j, double lat, double lon, const char *customer)
{
    struct presence_hit hits[MAX_CANDIDATES];
    size_t n = 0;
    j->n_cands = 0;
    if (presence_nearest_free(j->e->presence, lat, lon, j->e->policy.dispatch_radius_m,
                              MAX_CANDIDATES, customer, hits, &n) != DROP_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        memcpy(j->cands[i].account, hits[i].state->account, DROP_ID_SIZE);
        j->cands[i].distance_m = hits[i].dist_m;
    }
    j->n_cands = n;
}

/* ---- the transition, on a pool thread ---- */

static enum gig_role role_in(const struct gig_task *j, const struct gig *g)
{
    if (j->system) return GIG_ROLE_SYSTEM;
    return gig_role_of(g, j->actor, j->is_admin);
}

/* Reads the customer's name and rating for gig.offer events. */
static void load_customer(struct engine *e, struct gig_task *j)
{
    struct account a;
    account_init(&a);
    if (store_account_get(e->store, j->after.customer, &a) == DROP_OK) {
        snprintf(j->cust_first, sizeof j->cust_first, "%s", a.first_name ? a.first_name : "");
        j->cust_rating = a.customer_rating;
    } else {
        j->cust_rating = -1;
    }
    account_free(&a);
}

/* Whether operator is already the operator of a live gig other than
 * gig_id (past pendingOperator): one live gig at a time. An offer may still
 * be open on another gig when the operator accepts one; accepting that too
 * is refused. This read is only the plain early answer: two accepts racing
 * from two sessions (or nodes) can both pass it, and the reservation of the
 * operator in the store (store_operator_reserve, before the gig's CAS) is
 * what decides. */
static drop_err in_other_live_gig(struct engine *e, const char *operator, const char *gig_id,
                                  bool *busy)
{
    struct gig *arr = NULL;
    size_t n = 0;
    drop_err rc = store_gig_for_account(e->store, operator, &arr, &n);
    *busy = false;
    for (size_t i = 0; rc == DROP_OK && i < n; i++)
        if (strcmp(arr[i].operator, operator) == 0 && strcmp(arr[i].id, gig_id) != 0 &&
            arr[i].status != GIG_PENDING_OPERATOR && gig_status_live(arr[i].status))
            *busy = true;
    gig_array_free(arr, n);
    return rc;
}

/* The transaction context of a gig action. */
struct gig_txn {
    struct engine *e;
    struct gig_task *j;
    int64_t now;
    bool reserved;
    int64_t ticket;
};

/* The gig state machine decides (gig_apply); the rating lock is read here,
 * the one store read a decision makes. */
static drop_err apply_decide(void *ctx, const void *cur_, void *next_, bool *write)
{
    struct gig_txn *x = ctx;
    struct gig_task *j = x->j;
    const struct gig *cur = cur_;
    struct gig *next = next_;
    struct gig_action a;
    bool locked = false;
    drop_err rc;

    memset(&a, 0, sizeof a);
    a.kind = j->kind;
    a.role = j->kind == GIG_CREATE ? GIG_ROLE_CUSTOMER : role_in(j, cur);
    if (a.role == GIG_ROLE_OTHER && !j->system) {
        /* not a party: the gig is not visible to the caller */
        task_fail(j, DROP_ENOTFOUND, "no such gig");
        return DROP_ENOTFOUND;
    }
    a.actor = j->system ? NULL : j->actor;
    a.now = x->now;
    a.rating = j->rating;
    if ((j->kind == GIG_CREATE || j->kind == GIG_CLAIM_ACCEPT || j->kind == GIG_CLAIM_REJECT) &&
        !j->system) {
        rc = store_gig_unrated(x->e->store, j->actor, &locked);
        if (rc) {
            store_fail(j, rc);
            return rc;
        }
    }
    a.actor_locked = locked;
    a.candidates = j->cands;
    a.n_candidates = j->n_cands;
    a.video_session = j->video_session;
    gig_init(next);
    rc = gig_apply(cur, &a, &x->e->policy, next, &j->fx);
    if (rc) {
        if (rc == DROP_ECONFLICT)
            snprintf(j->why, sizeof j->why, "gig %s is %s: %s not allowed", cur->id,
                     gig_status_name(cur->status), gig_action_name(j->kind));
        else if (rc == DROP_ERATING)
            snprintf(j->why, sizeof j->why, "rate your last gig first");
        else if (rc == DROP_EFORBIDDEN)
            snprintf(j->why, sizeof j->why, "%s is not allowed for this account",
                     gig_action_name(j->kind));
        else
            snprintf(j->why, sizeof j->why, "invalid %s", gig_action_name(j->kind));
        j->err = rc;
        gig_free(next);
        return rc;
    }
    *write = j->fx.changed;
    if (!*write) gig_free(next);
    return DROP_OK;
}

/* An accept first reserves its operator: one live gig each, exactly once
 * across sessions and nodes. */
static drop_err apply_prepare(void *ctx, const void *cur, const void *next_)
{
    struct gig_txn *x = ctx;
    const struct gig *next = next_;
    (void)cur;
    x->reserved = false;
    if (x->j->kind != GIG_CLAIM_ACCEPT || !next->operator[0] || !gig_status_busy(next->status))
        return DROP_OK;
    drop_err rc = store_operator_reserve(x->e->store, next->operator, next->id, &x->ticket);
    if (rc == DROP_ECONFLICT) task_fail(x->j, rc, "you are the operator of another live gig");
    else if (rc) store_fail(x->j, rc);
    x->reserved = rc == DROP_OK;
    return rc;
}

/* The CAS lost: nothing was written, the reservation goes (were the release
 * to fail, it lasts until the gig lets the operator go). On any other
 * failure a reservation stays: the write may have happened (a timeout); if
 * not, it is stale once the offer is no longer open. */
static void apply_undo(void *ctx, const void *next_)
{
    struct gig_txn *x = ctx;
    const struct gig *next = next_;
    if (x->reserved) store_operator_release(x->e->store, next->operator, next->id, x->ticket);
    x->reserved = false;
}

static void apply_work(struct engine *e, void *arg)
{
    struct gig_task *j = arg;
    struct gig_txn x = {.e = e, .j = j, .now = engine_now(e)};
    struct store_txn_result res;
    struct gig before, after;
    drop_err rc;

    if (j->kind == GIG_CLAIM_ACCEPT && !j->system) {
        bool busy = false;
        if ((rc = in_other_live_gig(e, j->actor, j->gig_id, &busy)) != DROP_OK) {
            store_fail(j, rc);
            return;
        }
        if (busy) {
            task_fail(j, DROP_ECONFLICT, "you are the operator of another live gig");
            return;
        }
    }
    struct store_txn t = {
        .kind = &GIG_KIND,
        .id = j->kind == GIG_CREATE ? NULL : j->gig_id,
        .seed = &j->create,
        .tries = STORE_TXN_TRIES,
        .ctx = &x,
        .decide = apply_decide,
        .prepare = apply_prepare,
        .undo = apply_undo,
    };
    rc = store_txn_run(e->store, &t, &before, &after, &res);
    if (rc) {
        if (j->err) return; /* a callback said why */
        if (res.exhausted) task_fail(j, DROP_EUNAVAIL, "too much contention on this gig, retry");
        else store_fail(j, rc);
        return;
    }
    gig_free(&j->before);
    j->before = before;
    gig_free(&j->after);
    j->after = after;
    if (!res.written) return;
    if (j->kind == GIG_RATE) {
        /* the customer rates the operator and the other way round */
        bool by_customer = strcmp(j->actor, j->after.customer) == 0;
        store_account_add_rating(e->store, by_customer ? j->after.operator : j->after.customer,
                                 by_customer, j->rating, x.now);
    }
    if (j->fx.n_offers > 0) load_customer(e, j);
}

/* ---- effects, back on the loop ---- */

static void deliver(struct engine *e, const char *account, const char *ev, json_t *data)
{
    e->ports.deliver(e->ports.ctx, account, json_pack("{s:s,s:o}", "ev", ev, "data", data));
}

/* Busy while the gig makes the operator busy; locked while a purchased gig
 * waits for the operator's rating of the customer. announce: the entry is
 * this node's to tell the cluster about. */
static void operator_flags(struct engine *e, const char *op, const struct gig *g, bool announce)
{
    if (!presence_get(e->presence, op)) return;
    presence_set_busy(e->presence, op, gig_status_busy(g->status));
    if (g->status == GIG_PURCHASED) presence_set_locked(e->presence, op, g->customer_rating == 0);
    else if (g->status == GIG_VOTED) presence_set_locked(e->presence, op, false);
    if (announce) e->ports.presence_changed(e->ports.ctx, op);
}

void engine_account_event(struct engine *e, const char *account, json_t *envelope)
{
    const char *ev = json_string_value(json_object_get(envelope, "ev"));
    json_t *d = json_object_get(envelope, "data");
    const struct presence_state *ps = presence_get(e->presence, account);
    struct gig g;

    if (!ev || strcmp(ev, "gig.updated") != 0 || !ps || strcmp(ps->node, e->set.node_id) != 0)
        return;
    const char *op = json_string_value(json_object_get(d, "operator"));
    const char *st = json_string_value(json_object_get(d, "status"));
    if (!op || strcmp(op, account) != 0 || !st) return;
    gig_init(&g);
    if (gig_status_parse(st, &g.status) != DROP_OK) return;
    g.customer_rating = (int)json_integer_value(json_object_get(d, "customerRating"));
    operator_flags(e, account, &g, true);
    if (!gig_status_busy(g.status)) gig_operator_free(e, account, NULL);
}

void engine_pending_apply(struct engine *e, const char *id, const char *customer, double lat,
                          double lon, const char (*offered)[DROP_ID_SIZE], int n_offered,
                          bool pending)
{
    struct gig g;
    if (!pending) {
        pending_del(e, id);
        return;
    }
    gig_init(&g);
    snprintf(g.id, sizeof g.id, "%s", id);
    snprintf(g.customer, sizeof g.customer, "%s", customer);
    g.latitude = lat;
    g.longitude = lon;
    g.status = GIG_PENDING_OPERATOR;
    for (int i = 0; i < n_offered && i < GIG_MAX_OFFERS; i++) {
        snprintf(g.offers[i].operator, DROP_ID_SIZE, "%s", offered[i]);
        g.n_offers = i + 1;
    }
    pending_put(e, &g);
}

static void apply_effects(struct engine *e, struct gig_task *j)
{
    const struct gig *g = &j->after;
    const struct gig_effects *fx = &j->fx;

    if (!fx->changed) return;
    for (int i = 0; i < fx->n_revokes; i++)
        deliver(e, fx->revokes[i].operator, "gig.offer_revoked",
                json_pack("{s:s,s:I,s:s}", "gigId", g->id, "version", (json_int_t)g->version,
                          "reason", gig_revoke_reason_name(fx->revokes[i].reason)));
    for (int i = 0; i < fx->n_offers; i++) {
        int k = gig_find_offer(g, fx->offers[i].operator);
        if (k < 0) continue;
        deliver(e, fx->offers[i].operator, "gig.offer",
                gig_offer_json(g, &g->offers[k], j->cust_first, j->cust_rating));
    }
    for (int i = 0; i < fx->n_notify; i++) deliver(e, fx->notify[i], "gig.updated", gig_to_json(g));

    /* the operator's flags at once on this node's grid; the operator's own
     * node sets them too when the gig.updated reaches it (engine_account_event) */
    if (g->operator[0]) operator_flags(e, g->operator, g, false);
    if (g->status == GIG_PENDING_OPERATOR) pending_put(e, g);
    else pending_del(e, g->id);
    if (j->kind == GIG_CREATE && g->status == GIG_PENDING_OPERATOR) {
        /* operators whose profile arrived while this gig was being written
         * were locked when its candidates were chosen and found no pending
         * gig when they were freed: offered now (late join; an operator
         * already offered, busy, locked or out of range is skipped) */
        for (int i = 0; i < 16; i++)
            if (e->recent_free[i][0] && e->recent_free_seq[i] > j->free_mark)
                gig_operator_free(e, e->recent_free[i], NULL);
    }
    if (g->status == GIG_PENDING_OPERATOR || j->before.status == GIG_PENDING_OPERATOR)
        e->ports.gig_pending(e->ports.ctx, g);
    e->ports.gig_timer(e->ports.ctx, g->id, gig_next_timer(g));
}

/* The caller's video keys (PROTOCOL.md section 7). The token works until
 * the latest moment streaming can end: the handshake deadline (start must
 * come before it) plus max_stream. NULL when the provider failed to sign. */
static json_t *handshake_reply(struct engine *e, struct gig_task *j)
{
    const struct gig *g = &j->after;
    char token[VIDEO_TOKEN_SIZE];
    bool publisher = strcmp(j->actor, g->operator) == 0;
    int64_t now = engine_now(e);
    int64_t expires = (g->deadline > now ? g->deadline : now) + e->policy.max_stream_ms;
    if (!e->video.token || e->video.token(e->video.ctx, g->video_session, j->actor, publisher,
                                          now, expires, token, sizeof token) != DROP_OK)
        return NULL;
    return json_pack("{s:o,s:{s:s,s:s,s:s,s:s,s:s,s:o}}", "gig", gig_to_json(g), "video",
                     "provider", e->video.provider, "apiKey", e->video.api_key, "sessionId",
                     g->video_session, "token", token, "role",
                     publisher ? "publisher" : "subscriber", "expiresAt", timefmt_json(expires));
}

static void video_ahead(struct engine *e, const struct gig *g);

static void apply_done(struct engine *e, struct req *r, void *arg)
{
    struct gig_task *j = arg;
    if (j->err) {
        if (r) req_fail(r, j->err, "%s", j->why);
        else if (j->err != DROP_ECONFLICT)
            log_warn("event=gig_system_transition gig=%s action=%s err=%s msg=\"%s\"", j->gig_id,
                     gig_action_name(j->kind), err_code(j->err), j->why);
        gig_task_free(j);
        return;
    }
    apply_effects(e, j);
    if (j->kind == GIG_CONFIRM && j->fx.changed) video_ahead(e, &j->after);
    if (r && j->handshake_reply) {
        json_t *hs = handshake_reply(e, j);
        if (hs) req_reply(r, hs);
        else req_fail(r, DROP_EINTERNAL, "the video token could not be signed");
    } else if (r) {
        req_reply(r, gig_to_json(&j->after));
    }
    gig_task_free(j);
}

/* First phase for transitions that may offer: where is the gig? */
static void locate_work(struct engine *e, void *arg)
{
    struct gig_task *j = arg;
    struct gig g;
    gig_init(&g);
    if (store_gig_get(e->store, j->gig_id, &g) == DROP_OK) {
        j->located = true;
        j->lat = g.latitude;
        j->lon = g.longitude;
        memcpy(j->create.customer, g.customer, DROP_ID_SIZE);
        j->need_candidates = g.status == GIG_PENDING_OPERATOR;
    }
    gig_free(&g);
}

static void locate_done(struct engine *e, struct req *r, void *arg)
{
    struct gig_task *j = arg;
    if (j->located && j->need_candidates) find_candidates(j, j->lat, j->lon, j->create.customer);
    e->ports.run_task(e->ports.ctx, r, apply_work, apply_done, j);
}

/* ---- the video session (PROTOCOL.md section 7) ----
 *
 * A gig's session is created once and kept on the gig. With a remote
 * provider it is created ahead, when the customer confirms (video_ahead),
 * and attached to the gig by its own compare-and-set; a handshake that finds
 * none creates it first (handshake_read_*). Two creations racing for one gig
 * (two nodes, or a handshake overtaking the one ahead) end with one session
 * on the gig: the first CAS wins, the other session is dropped. */

static bool wants_session(const struct gig *g)
{
    return !g->video_session[0] &&
           (g->status == GIG_OPERATOR_ENROUTE || g->status == GIG_HANDSHAKING);
}

struct video_attach {
    struct engine *e;
    char gig_id[DROP_ID_SIZE];
    char session[GIG_VIDEO_SESSION_SIZE];
    bool attached;
    drop_err err;
    int64_t now;
};

/* Puts the session on the gig unless it has one already. */
static drop_err attach_decide(void *ctx, const void *cur_, void *next_, bool *write)
{
    struct video_attach *a = ctx;
    const struct gig *cur = cur_;
    struct gig *next = next_;
    if (!wants_session(cur)) return DROP_OK;
    gig_copy(next, cur);
    snprintf(next->video_session, sizeof next->video_session, "%s", a->session);
    next->version = cur->version + 1;
    next->updated_at = a->now;
    *write = true;
    return DROP_OK;
}

/* On a pool thread: the attach transaction. */
static void attach_work(struct engine *e, void *arg)
{
    struct video_attach *a = arg;
    struct store_txn_result res;
    a->now = engine_now(e);
    struct store_txn t = {.kind = &GIG_KIND, .id = a->gig_id, .tries = STORE_TXN_TRIES, .ctx = a,
                          .decide = attach_decide};
    a->err = store_txn_run(e->store, &t, NULL, NULL, &res);
    a->attached = a->err == DROP_OK && res.written;
}

static void attach_done(struct engine *e, struct req *r, void *arg)
{
    struct video_attach *a = arg;
    (void)e;
    (void)r;
    log_info("event=video_session_ahead gig=%s attached=%d err=%s", a->gig_id, a->attached,
             a->err ? err_code(a->err) : "none");
    free(a);
}

static void ahead_created(void *ud, drop_err rc, const char *session)
{
    struct video_attach *a = ud;
    if (rc != DROP_OK) {
        /* nothing lost: the first handshake tries again */
        log_warn("event=video_session_ahead gig=%s attached=0 err=%s", a->gig_id, err_code(rc));
        free(a);
        return;
    }
    snprintf(a->session, sizeof a->session, "%s", session);
    a->e->ports.run_task(a->e->ports.ctx, NULL, attach_work, attach_done, a);
}

/* The customer confirmed: create the session now, so handshakes need not
 * wait on the provider. */
static void video_ahead(struct engine *e, const struct gig *g)
{
    struct video_attach *a;
    if (!e->video.ahead || !e->video.new_session || !wants_session(g)) return;
    a = xcalloc(1, sizeof *a);
    a->e = e;
    memcpy(a->gig_id, g->id, DROP_ID_SIZE);
    e->video.new_session(e->video.ctx, ahead_created, a);
}

/* A handshake, on a pool thread: does the gig still need a session? */
static void handshake_read_work(struct engine *e, void *arg)
{
    struct gig_task *j = arg;
    struct gig g;
    gig_init(&g);
    if (store_gig_get(e->store, j->gig_id, &g) == DROP_OK) {
        enum gig_role role = role_in(j, &g);
        j->located = true;
        j->need_session = wants_session(&g) &&
                             (role == GIG_ROLE_CUSTOMER || role == GIG_ROLE_OPERATOR);
    }
    gig_free(&g);
}

static void handshake_created(void *ud, drop_err rc, const char *session)
{
    struct gig_task *j = ud;
    if (rc != DROP_OK) {
        /* the gig keeps its state and deadline; the next handshake retries */
        req_fail(j->r, DROP_EUNAVAIL, "the video provider is unavailable, retry later");
        gig_task_free(j);
        return;
    }
    snprintf(j->video_session, sizeof j->video_session, "%s", session);
    j->e->ports.run_task(j->e->ports.ctx, j->r, apply_work, apply_done, j);
}

static void handshake_read_done(struct engine *e, struct req *r, void *arg)
{
    struct gig_task *j = arg;
    if (j->located && j->need_session) {
        if (e->video.new_session) e->video.new_session(e->video.ctx, handshake_created, j);
        else handshake_created(j, DROP_EUNAVAIL, NULL); /* the node is stopping */
        return;
    }
    /* a session on the gig, or a refusal that apply_work words */
    e->ports.run_task(e->ports.ctx, r, apply_work, apply_done, j);
}

/* Starts a transition on an existing gig. Takes ownership of j. */
static void transition(struct engine *e, struct gig_task *j)
{
    struct pending_gig *p = NULL;
    if (j->kind == GIG_HANDSHAKE) {
        e->ports.run_task(e->ports.ctx, j->r, handshake_read_work, handshake_read_done, j);
        return;
    }
    if (kind_offers(j->kind)) {
        HASH_FIND_STR(e->pending, j->gig_id, p);
        if (p) {
            find_candidates(j, p->lat, p->lon, p->customer);
        } else {
            e->ports.run_task(e->ports.ctx, j->r, locate_work, locate_done, j);
            return;
        }
    }
    e->ports.run_task(e->ports.ctx, j->r, apply_work, apply_done, j);
}

/* ---- ops ----
 * Every argument is declared in the op table (ops.c) and checked there
 * before a handler runs; the handlers read them with op_arg_*(). */

/* A simple transition whose data is {gigId}. */
static void simple_transition(struct req *r, enum gig_action_kind kind)
{
    struct gig_task *j = gig_task_new(r->eng, r, kind);
    snprintf(j->gig_id, sizeof j->gig_id, "%s", op_arg_str(r, "gigId"));
    j->handshake_reply = kind == GIG_HANDSHAKE;
    transition(r->eng, j);
}

/* ---- ops ---- */

void op_gig_create(struct req *r)
{
    struct engine *e = r->eng;
    struct gig_task *j = gig_task_new(e, r, GIG_CREATE);
    struct gig *g = &j->create;
    const char *dev = op_arg_str(r, "deviceId"), *claim = op_arg_str(r, "claimId");
    json_t *meta = op_arg_json(r, "metaData");

    g->latitude = op_arg_num(r, "latitude", 0);
    g->longitude = op_arg_num(r, "longitude", 0);
    if (!dev && !(claim && *claim)) {
        req_fail(r, DROP_EBADREQ, "deviceId: a string is required (or a claimId)");
        goto fail;
    }
    if ((dev && strlen(dev) >= sizeof g->device_id) ||
        (claim && strlen(claim) >= sizeof g->claim_id)) {
        req_fail(r, DROP_ETOOLARGE, "deviceId/claimId: at most %zu bytes", sizeof g->device_id - 1);
        goto fail;
    }
    if (dev) snprintf(g->device_id, sizeof g->device_id, "%s", dev);
    if (claim) snprintf(g->claim_id, sizeof g->claim_id, "%s", claim);
    if (meta) {
        char *text = json_dumps(meta, JSON_COMPACT);
        gig_set_meta(g, text);
        free(text);
    }
    e->crypto.oid_new(g->id);
    memcpy(g->customer, r->who.account, DROP_ID_SIZE);
    g->created_at = engine_now(e);
    memcpy(j->gig_id, g->id, DROP_ID_SIZE);
    find_candidates(j, g->latitude, g->longitude, g->customer);
    j->free_mark = e->recent_free_count; /* operators freed after this were not candidates */
    e->ports.run_task(e->ports.ctx, r, apply_work, apply_done, j);
    return;
fail:
    gig_task_free(j);
}

void op_gig_claim(struct req *r)
{
    /* response: the index of "accept" or "reject" in the row's choices */
    simple_transition(r, op_arg_enum(r, "response", 0) == 0 ? GIG_CLAIM_ACCEPT : GIG_CLAIM_REJECT);
}

void op_gig_confirm(struct req *r) { simple_transition(r, GIG_CONFIRM); }
void op_gig_reject(struct req *r) { simple_transition(r, GIG_REJECT); }
void op_gig_cancel(struct req *r) { simple_transition(r, GIG_CANCEL); }
void op_gig_handshake(struct req *r) { simple_transition(r, GIG_HANDSHAKE); }
void op_gig_start(struct req *r) { simple_transition(r, GIG_START); }
void op_gig_stop(struct req *r) { simple_transition(r, GIG_STOP); }

void op_gig_rate(struct req *r)
{
    /* rating and gigId: declared in the op table, checked before we run */
    struct gig_task *j = gig_task_new(r->eng, r, GIG_RATE);
    snprintf(j->gig_id, sizeof j->gig_id, "%s", op_arg_str(r, "gigId"));
    j->rating = (int)op_arg_int(r, "rating", 0);
    transition(r->eng, j);
}

/* gig.video_failed {gigId, reason}: a party reports that the stream broke;
 * a streaming gig moves to failed (PROTOCOL.md section 2, "video failure").
 * reason is a short text for the log's reader; it is not stored. */
void op_gig_video_failed(struct req *r)
{
    const char *why = op_arg_str(r, "reason");
    if (why && strlen(why) > 256) {
        req_fail(r, DROP_ETOOLARGE, "reason: at most 256 bytes");
        return;
    }
    log_info("event=gig_video_failed account=%s reason_bytes=%zu", r->who.account,
             why ? strlen(why) : (size_t)0);
    simple_transition(r, GIG_VIDEO_FAIL);
}

/* admin.gig {gigId, action: "terminate" | "invoice" | "video_fail"} -> gig:
 * the admin-only moves of the state machine. */
void op_admin_gig(struct req *r)
{
    /* in the order of the row's choices: terminate, invoice, video_fail */
    static const enum gig_action_kind actions[] = {GIG_TERMINATE, GIG_INVOICE, GIG_VIDEO_FAIL};
    int act = op_arg_enum(r, "action", -1);
    if (act < 0) op_admin_gig_show(r);
    else simple_transition(r, actions[act]);
}

/* ---- system transitions ---- */

struct sweep {
    struct gig *due;
    size_t n;
    drop_err rc;
};

static void sweep_work(struct engine *e, void *arg)
{
    struct sweep *s = arg;
    s->rc = store_gig_due(e->store, engine_now(e), 200, &s->due, &s->n);
}

static void system_action(struct engine *e, const struct gig *g, int64_t now)
{
    struct gig_task *j = gig_task_new(e, NULL, g->deadline && g->deadline <= now ? GIG_DEADLINE
                                                                                : GIG_OFFER_EXPIRE);
    memcpy(j->gig_id, g->id, DROP_ID_SIZE);
    if (j->kind == GIG_OFFER_EXPIRE) find_candidates(j, g->latitude, g->longitude, g->customer);
    e->ports.run_task(e->ports.ctx, NULL, apply_work, apply_done, j);
}

static void sweep_done(struct engine *e, struct req *r, void *arg)
{
    struct sweep *s = arg;
    int64_t now = engine_now(e);
    (void)r;
    if (s->rc == DROP_OK)
        for (size_t i = 0; i < s->n; i++) system_action(e, &s->due[i], now);
    gig_array_free(s->due, s->n);
    free(s);
}

void gig_sweep(struct engine *e)
{
    e->ports.run_task(e->ports.ctx, NULL, sweep_work, sweep_done, xcalloc(1, sizeof(struct sweep)));
}

/* A timer fired: read the gig, then act on what is due. */
static void timer_read_done(struct engine *e, struct req *r, struct gig_read *t)
{
    int64_t now = engine_now(e);
    int64_t due = t->rc == DROP_OK ? gig_next_timer(&t->g) : 0;
    (void)r;
    if (due && due <= now) system_action(e, &t->g, now);
    else if (due) e->ports.gig_timer(e->ports.ctx, t->id, due); /* early: re-arm */
}

void gig_timer_fired(struct engine *e, const char *gig_id)
{
    gig_read(e, NULL, gig_id, timer_read_done);
}

static void gig_read_work(struct engine *e, void *arg)
{
    struct gig_read *t = arg;
    t->rc = store_gig_get(e->store, t->id, &t->g);
}

static void gig_read_done(struct engine *e, struct req *r, void *arg)
{
    struct gig_read *t = arg;
    t->done(e, r, t);
    gig_free(&t->g);
    free(t);
}

void gig_read(struct engine *e, struct req *r, const char *id, gig_read_fn done)
{
    struct gig_read *t = xcalloc(1, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s", id);
    gig_init(&t->g);
    t->done = done;
    e->ports.run_task(e->ports.ctx, r, gig_read_work, gig_read_done, t);
}

void gig_operator_free(struct engine *e, const char *account, const struct late_join_from *was)
{
    const struct presence_state *ps = presence_get(e->presence, account);
    struct pending_gig *p, *tmp;
    if (!ps || !ps->available || ps->busy || ps->locked) return;
    HASH_ITER(hh, e->pending, p, tmp)
    {
        bool offered = false;
        /* a gig that holds GIG_MAX_OFFERS offers takes no more: a task for it
         * would do nothing (and every re-announcement would queue one) */
        if (p->n_offered >= GIG_MAX_OFFERS || strcmp(p->customer, account) == 0) continue;
        for (int i = 0; i < p->n_offered && !offered; i++)
            offered = strcmp(p->offered[i], account) == 0;
        if (offered) continue;
        double d = geo_distance_m(ps->lat, ps->lon, p->lat, p->lon);
        if (d > e->policy.dispatch_radius_m) continue;
        if (was && geo_distance_m(was->lat, was->lon, p->lat, p->lon) <= e->policy.dispatch_radius_m)
            continue;
        struct gig_task *j = gig_task_new(e, NULL, GIG_LATE_JOIN);
        memcpy(j->gig_id, p->id, DROP_ID_SIZE);
        memcpy(j->cands[0].account, account, DROP_ID_SIZE);
        j->cands[0].distance_m = d;
        j->n_cands = 1;
        /* remember at once so a burst of updates offers it once */
        memcpy(p->offered[p->n_offered++], account, DROP_ID_SIZE);
        e->ports.run_task(e->ports.ctx, NULL, apply_work, apply_done, j);
    }
}

/* ---- reads ---- */

struct read_task {
    struct req *r;
    char gig_id[DROP_ID_SIZE];
    struct gig_filter f;
    char account[DROP_ID_SIZE];
    drop_err err;
    char why[160];
    json_t *out;
};

static void read_done(struct engine *e, struct req *r, void *arg)
{
    struct read_task *j = arg;
    (void)e;
    req_answer(r, j->err, j->why, j->out);
    free(j);
}

static void get_work(struct engine *e, void *arg)
{
    struct read_task *j = arg;
    struct gig g;
    struct account c, o;
    drop_err rc;

    gig_init(&g);
    account_init(&c);
    account_init(&o);
    rc = store_gig_get(e->store, j->gig_id, &g);
    if (rc == DROP_OK && j->r->who.role != ROLE_ADMIN && strcmp(g.customer, j->account) != 0 &&
        strcmp(g.operator, j->account) != 0)
        rc = DROP_ENOTFOUND; /* only the parties see a gig */
    if (rc) {
        j->err = rc;
        snprintf(j->why, sizeof j->why, "%s", rc == DROP_ENOTFOUND ? "no such gig" : "store error");
        goto done;
    }
    store_account_get(e->store, g.customer, &c);
    if (g.operator[0]) store_account_get(e->store, g.operator, &o);
    j->out = gig_detail_json(&g, c.first_name ? c.first_name : "", c.last_name ? c.last_name : "",
                             g.operator[0] ? (o.first_name ? o.first_name : "") : NULL,
                             g.operator[0] ? (o.last_name ? o.last_name : "") : NULL);
done:
    gig_free(&g);
    account_free(&c);
    account_free(&o);
}

void op_gig_get(struct req *r)
{
    struct read_task *j = xcalloc(1, sizeof *j);
    const char *acc = op_arg_str(r, "accountId");
    j->r = r;
    memcpy(j->account, r->who.account, DROP_ID_SIZE);
    /* the REST route names an account: it must be the caller's own */
    if (acc && r->who.role != ROLE_ADMIN && strcmp(acc, r->who.account) != 0) {
        req_fail(r, DROP_EFORBIDDEN, "only the account itself or an admin may read its gigs");
        free(j);
        return;
    }
    snprintf(j->gig_id, sizeof j->gig_id, "%s", op_arg_str(r, "gigId"));
    r->eng->ports.run_task(r->eng->ports.ctx, r, get_work, read_done, j);
}

static void list_work(struct engine *e, void *arg)
{
    struct read_task *j = arg;
    struct gig *arr = NULL;
    size_t n = 0;
    drop_err rc = store_gig_list(e->store, &j->f, &arr, &n);
    if (rc) {
        j->err = rc;
        snprintf(j->why, sizeof j->why, "store error");
        return;
    }
    j->out = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(j->out, gig_list_item_json(&arr[i]));
    gig_array_free(arr, n);
}

void op_gig_list(struct req *r)
{
    struct read_task *j = xcalloc(1, sizeof *j);
    const char *acc = op_arg_str(r, "accountId"), *st = op_arg_str(r, "status");

    j->r = r;
    memcpy(j->account, r->who.account, DROP_ID_SIZE);
    if (acc) {
        if (r->who.role != ROLE_ADMIN && strcmp(acc, r->who.account) != 0) {
            req_fail(r, DROP_EFORBIDDEN, "only an admin may list the gigs of another account");
            free(j);
            return;
        }
        snprintf(j->account, sizeof j->account, "%s", acc);
    }
    j->f.account = j->account[0] ? j->account : NULL;
    j->f.has_status = st && gig_status_parse(st, &j->f.status) == DROP_OK;
    j->f.limit = (int)op_arg_int(r, "limit", 50);
    j->f.before = op_arg_int(r, "before", 0);
    r->eng->ports.run_task(r->eng->ports.ctx, r, list_work, read_done, j);
}
