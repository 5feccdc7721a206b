/* test_gig.c - the gig state machine against PROTOCOL.md §2.
 *
 * test_every_cell walks every (state, action, role) cell, the not-yet-created
 * gig included, and compares gig_apply() with expect(), an independent
 * rewrite of the protocol table as a switch. The other tests follow whole
 * flows and the guards the table cannot show: open offers, both handshakes,
 * rating once, deadlines, duration and money. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "engine/dispatch.h"
#include "engine/gig.h"

#define CUST "aaaaaaaaaaaaaaaaaaaaaaaa"
#define OPER "bbbbbbbbbbbbbbbbbbbbbbbb"
#define OFFD "cccccccccccccccccccccccc"
#define OFF2 "dddddddddddddddddddddddd"
#define OTHR "eeeeeeeeeeeeeeeeeeeeeeee"
#define ADMN "ffffffffffffffffffffffff"
#define LATE "111111111111111111111111"
#define GIGID "0123456789abcdef01234567"

#define T0 1460430612000LL
#define NOW (T0 + 100000)
#define NEW_STATE (-1)

static struct gig_policy P;

/* A gig in state st (NEW_STATE: not created) with the fields that state
 * implies; every waiting deadline is due at NOW, and in pendingOperator OFFD
 * holds an open offer (expiring after NOW) and OFF2 one already past its ttl. */
static void make_gig(struct gig *g, int st)
{
    gig_init(g);
    strcpy(g->id, GIGID);
    strcpy(g->customer, CUST);
    g->latitude = 10.81507;
    g->longitude = 106.673498;
    strcpy(g->device_id, "dev1");
    if (st == NEW_STATE)
        return;
    g->status = (enum gig_status)st;
    g->version = 5;
    g->created_at = T0;
    g->updated_at = T0;
    g->wave = 1;
    g->n_offers = 2;
    strcpy(g->offers[0].operator, OFFD);
    strcpy(g->offers[1].operator, OFF2);
    g->offers[0].wave = g->offers[1].wave = 1;
    g->offers[0].offered_at = g->offers[1].offered_at = T0;
    if (st == GIG_PENDING_OPERATOR) {
        g->deadline = NOW;
        g->offers[0].state = OFFER_OPEN;
        g->offers[0].expires_at = NOW + 1000;
        g->offers[1].state = OFFER_OPEN;
        g->offers[1].expires_at = NOW;
        return;
    }
    if (st == GIG_ALL_OPERATORS_REJECTED) {
        g->offers[0].state = g->offers[1].state = OFFER_REJECTED;
        return;
    }
    /* an operator was found: OPER won, OFFD and OFF2 lost */
    g->offers[0].state = g->offers[1].state = OFFER_REVOKED;
    g->n_offers = 3;
    strcpy(g->offers[2].operator, OPER);
    g->offers[2].state = OFFER_ACCEPTED;
    strcpy(g->operator, OPER);
    if (st == GIG_OPERATOR_FOUND || st == GIG_OPERATOR_ENROUTE)
        g->deadline = NOW;
    if (st == GIG_HANDSHAKING) {
        g->deadline = NOW;
        g->customer_handshaken = g->operator_handshaken = true;
        strcpy(g->video_session, "sess-1");
    }
    if (st == GIG_STREAMING) {
        g->customer_handshaken = g->operator_handshaken = true;
        strcpy(g->video_session, "sess-1");
        g->started_at = NOW - P.max_stream_ms;
        g->deadline = NOW;
    }
    if (st >= GIG_VOTED && st <= GIG_COMPENSATED) {
        g->customer_rating = 4;
        g->operator_rating = 5;
    }
}

/* The protocol table, written independently of gig.c's rows: the error a
 * cell must give, and on success the state it must reach. */
static drop_err expect(int st, enum gig_action_kind k, enum gig_role r, enum gig_status *to)
{
    bool cust = r == GIG_ROLE_CUSTOMER, oper = r == GIG_ROLE_OPERATOR;
    bool party = cust || oper, sys = r == GIG_ROLE_SYSTEM, admin = r == GIG_ROLE_ADMIN;
    bool live = st >= GIG_PENDING_OPERATOR && st <= GIG_STREAMING;

    switch (k) {
    case GIG_CREATE:
        if (!cust) return DROP_EFORBIDDEN;
        *to = GIG_PENDING_OPERATOR;
        return st == NEW_STATE ? DROP_OK : DROP_ECONFLICT;
    case GIG_CLAIM_ACCEPT:
    case GIG_CLAIM_REJECT:
        /* the assigned operator counts as an offered one: conflict, not forbidden */
        if (r != GIG_ROLE_OFFERED && !oper) return DROP_EFORBIDDEN;
        *to = k == GIG_CLAIM_ACCEPT ? GIG_OPERATOR_FOUND : GIG_PENDING_OPERATOR;
        /* in make_gig's pending gig only OFFD (the OFFERED actor) holds an offer */
        return st == GIG_PENDING_OPERATOR && r == GIG_ROLE_OFFERED ? DROP_OK : DROP_ECONFLICT;
    case GIG_CONFIRM:
        if (!cust) return DROP_EFORBIDDEN;
        *to = GIG_OPERATOR_ENROUTE;
        return st == GIG_OPERATOR_FOUND ? DROP_OK : DROP_ECONFLICT;
    case GIG_REJECT:
        if (!cust) return DROP_EFORBIDDEN;
        *to = GIG_CUSTOMER_REJECTED;
        return st == GIG_OPERATOR_FOUND ? DROP_OK : DROP_ECONFLICT;
    case GIG_CANCEL:
        if (!party) return DROP_EFORBIDDEN;
        *to = GIG_CANCELLED;
        if (st == GIG_OPERATOR_ENROUTE || st == GIG_HANDSHAKING) return DROP_OK;
        return st == GIG_PENDING_OPERATOR && cust ? DROP_OK : DROP_ECONFLICT;
    case GIG_HANDSHAKE:
        if (!party) return DROP_EFORBIDDEN;
        *to = GIG_HANDSHAKING;
        return st == GIG_OPERATOR_ENROUTE || st == GIG_HANDSHAKING ? DROP_OK : DROP_ECONFLICT;
    case GIG_START:
        if (!party) return DROP_EFORBIDDEN;
        *to = GIG_STREAMING;
        return st == GIG_HANDSHAKING ? DROP_OK : DROP_ECONFLICT;
    case GIG_STOP:
        if (!party) return DROP_EFORBIDDEN;
        *to = GIG_PURCHASED;
        return st == GIG_STREAMING ? DROP_OK : DROP_ECONFLICT;
    case GIG_RATE:
        if (!party) return DROP_EFORBIDDEN;
        *to = GIG_PURCHASED;
        return st == GIG_PURCHASED ? DROP_OK : DROP_ECONFLICT;
    case GIG_DEADLINE:
        if (!sys) return DROP_EFORBIDDEN;
        *to = st == GIG_STREAMING ? GIG_PURCHASED : GIG_EXPIRED;
        return live ? DROP_OK : DROP_ECONFLICT;
    case GIG_OFFER_EXPIRE:
    case GIG_LATE_JOIN:
        if (!sys) return DROP_EFORBIDDEN;
        *to = GIG_PENDING_OPERATOR;
        return st == GIG_PENDING_OPERATOR ? DROP_OK : DROP_ECONFLICT;
    case GIG_VIDEO_FAIL: /* a party reports it (gig.video_failed), or the system, an admin */
        if (!sys && !admin && !party) return DROP_EFORBIDDEN;
        *to = GIG_FAILED;
        return st == GIG_STREAMING ? DROP_OK : DROP_ECONFLICT;
    case GIG_INVOICE:
        if (!sys && !admin) return DROP_EFORBIDDEN;
        if (st == GIG_VOTED) *to = GIG_INVOICE_GENERATED;
        else if (st == GIG_INVOICE_GENERATED) *to = GIG_INVOICE_SENT;
        else if (st == GIG_INVOICE_SENT) *to = GIG_COMPENSATED;
        else return DROP_ECONFLICT;
        return DROP_OK;
    case GIG_TERMINATE:
        if (!admin) return DROP_EFORBIDDEN;
        *to = GIG_TERMINATED;
        return live ? DROP_OK : DROP_ECONFLICT;
    case GIG_ACTION__COUNT:
        break;
    }
    return DROP_EINTERNAL;
}

static const char *actor_of(enum gig_role r)
{
    switch (r) {
    case GIG_ROLE_CUSTOMER: return CUST;
    case GIG_ROLE_OPERATOR: return OPER;
    case GIG_ROLE_OFFERED: return OFFD;
    case GIG_ROLE_OTHER: return OTHR;
    case GIG_ROLE_ADMIN: return ADMN;
    default: return NULL;
    }
}

static const struct dispatch_candidate LATE_CAND[] = {{LATE, 120.0}};

static struct gig_action act(enum gig_action_kind k, enum gig_role r, int64_t now)
{
    struct gig_action a = {
        .kind = k, .role = r, .actor = actor_of(r), .now = now, .rating = 4,
        .candidates = LATE_CAND, .n_candidates = 1, .video_session = "sess-new",
    };
    return a;
}

static void test_every_cell(void **state)
{
    (void)state;
    int allowed = 0, forbidden = 0, conflict = 0;
    for (int st = NEW_STATE; st < GIG_STATUS__COUNT; st++) {
        for (int k = 0; k < GIG_ACTION__COUNT; k++) {
            for (int r = 0; r < GIG_ROLE__COUNT; r++) {
                struct gig g, out;
                struct gig_effects fx;
                enum gig_status to = GIG_STATUS__COUNT;
                make_gig(&g, st);
                struct gig_action a = act((enum gig_action_kind)k, (enum gig_role)r, NOW);
                drop_err want = expect(st, (enum gig_action_kind)k, (enum gig_role)r, &to);
                drop_err got = gig_apply(&g, &a, &P, &out, &fx);
                if (got != want || (got == DROP_OK && out.status != to)) {
                    fail_msg("state=%s action=%s role=%s: got err %d status %s, want err %d status %s",
                             st == NEW_STATE ? "new" : gig_status_name((enum gig_status)st),
                             gig_action_name((enum gig_action_kind)k), gig_role_name((enum gig_role)r),
                             got, gig_status_name(out.status), want, gig_status_name(to));
                }
                if (got == DROP_OK) {
                    /* only a repeated handshake (both are in by make_gig) changes nothing */
                    bool repeat = k == GIG_HANDSHAKE && st == GIG_HANDSHAKING;
                    assert_int_equal(fx.changed, !repeat);
                    int64_t base = st == NEW_STATE ? 0 : 5;
                    assert_int_equal(out.version, base + (repeat ? 0 : 1));
                    if (!repeat)
                        assert_int_equal(out.updated_at, NOW);
                    allowed++;
                } else {
                    assert_false(fx.changed);
                    assert_int_equal(fx.n_notify, 0);
                    assert_int_equal(out.version, 0);
                    if (got == DROP_EFORBIDDEN) forbidden++;
                    else conflict++;
                }
                assert_int_equal(g.version, st == NEW_STATE ? 0 : 5); /* input untouched */
                gig_free(&g);
                gig_free(&out);
            }
        }
    }
    /* 17 states x 16 actions x 6 roles, and the count of allowed cells from the
     * table: create 1; accept/reject 1+1; cancel 1 + 2x2; confirm, reject 1+1;
     * handshake 2x2; start 2; stop 2; rate 2; deadline 5; offer expire 1;
     * late join 1; video fail 4 (system, admin, both parties); invoice 3x2;
     * terminate 5. */
    assert_int_equal(allowed + forbidden + conflict, 17 * GIG_ACTION__COUNT * GIG_ROLE__COUNT);
    assert_int_equal(allowed, 1 + 2 + 5 + 2 + 4 + 2 + 2 + 2 + 5 + 1 + 1 + 4 + 6 + 5);
}

/* Applies a and replaces *g with the result; asserts the error code. */
static struct gig_effects apply_ok(struct gig *g, struct gig_action a, drop_err want)
{
    struct gig out;
    struct gig_effects fx;
    drop_err err = gig_apply(g, &a, &P, &out, &fx);
    assert_int_equal(err, want);
    if (err == DROP_OK) {
        gig_free(g);
        *g = out; /* takes over out's meta */
    } else {
        gig_free(&out);
    }
    return fx;
}

static struct gig_action by(enum gig_action_kind k, enum gig_role r, const char *actor, int64_t now)
{
    struct gig_action a = {.kind = k, .role = r, .actor = actor, .now = now, .video_session = "sess-9"};
    return a;
}

static void make_candidates(struct dispatch_candidate *c, int n)
{
    for (int i = 0; i < n; i++) {
        snprintf(c[i].account, sizeof c[i].account, "%024x", 0x100 + i);
        c[i].distance_m = 100.0 * (i + 1);
    }
}

static void new_gig(struct gig *g)
{
    gig_init(g);
    strcpy(g->id, GIGID);
    strcpy(g->customer, CUST);
    g->latitude = 10.8;
    g->longitude = 106.6;
    gig_set_meta(g, "{\"city\":\"Saigon\"}");
}

/* new_gig, then its create by the customer at T0 offering the first n of c. */
static struct gig_effects create_offering(struct gig *g, struct dispatch_candidate *c, size_t n)
{
    new_gig(g);
    struct gig_action a = by(GIG_CREATE, GIG_ROLE_CUSTOMER, CUST, T0);
    a.candidates = c;
    a.n_candidates = n;
    return apply_ok(g, a, DROP_OK);
}

static void test_happy_flow(void **state)
{
    (void)state;
    struct dispatch_candidate c[7];
    struct gig g;
    struct gig_effects fx;
    make_candidates(c, 7);

    fx = create_offering(&g, c, 7);
    assert_int_equal(g.status, GIG_PENDING_OPERATOR);
    assert_int_equal(g.version, 1);
    assert_int_equal(g.created_at, T0);
    assert_int_equal(g.deadline, T0 + P.pending_ttl_ms);
    assert_int_equal(g.wave, 1);
    assert_int_equal(fx.n_offers, 5);
    assert_string_equal(fx.offers[0].operator, c[0].account);
    assert_int_equal(fx.offers[0].expires_at, T0 + P.offer_ttl_ms);
    assert_int_equal(fx.next_timer, T0 + P.offer_ttl_ms);
    assert_int_equal(fx.n_notify, 1);
    assert_string_equal(fx.notify[0], CUST);
    assert_string_equal(g.meta_json, "{\"city\":\"Saigon\"}");

    /* operator 2 accepts: the other four open offers are revoked as taken */
    assert_int_equal(gig_role_of(&g, c[2].account, false), GIG_ROLE_OFFERED);
    fx = apply_ok(&g, by(GIG_CLAIM_ACCEPT, GIG_ROLE_OFFERED, c[2].account, T0 + 1000), DROP_OK);
    assert_int_equal(g.status, GIG_OPERATOR_FOUND);
    assert_string_equal(g.operator, c[2].account);
    assert_int_equal(g.deadline, T0 + 1000 + P.confirm_ttl_ms);
    assert_int_equal(fx.n_revokes, 4);
    for (int i = 0; i < fx.n_revokes; i++) {
        assert_int_equal(fx.revokes[i].reason, GIG_REVOKE_TAKEN);
        assert_string_not_equal(fx.revokes[i].operator, c[2].account);
    }
    assert_string_equal(gig_revoke_reason_name(fx.revokes[0].reason), "taken");
    assert_int_equal(fx.n_notify, 2);
    assert_string_equal(fx.notify[1], c[2].account);
    assert_int_equal(fx.next_timer, g.deadline);
    /* a late accept by another: conflict; by the winner again: conflict */
    apply_ok(&g, by(GIG_CLAIM_ACCEPT, gig_role_of(&g, c[0].account, false), c[0].account, T0 + 1001),
             DROP_ECONFLICT);
    apply_ok(&g, by(GIG_CLAIM_ACCEPT, gig_role_of(&g, c[2].account, false), c[2].account, T0 + 1001),
             DROP_ECONFLICT);

    const char *op = c[2].account;
    fx = apply_ok(&g, by(GIG_CONFIRM, GIG_ROLE_CUSTOMER, CUST, T0 + 2000), DROP_OK);
    assert_int_equal(g.status, GIG_OPERATOR_ENROUTE);
    assert_int_equal(g.deadline, T0 + 2000 + P.handshake_ttl_ms);

    fx = apply_ok(&g, by(GIG_HANDSHAKE, GIG_ROLE_CUSTOMER, CUST, T0 + 3000), DROP_OK);
    assert_int_equal(g.status, GIG_HANDSHAKING);
    assert_true(g.customer_handshaken);
    assert_false(g.operator_handshaken);
    assert_string_equal(g.video_session, "sess-9");
    assert_int_equal(g.deadline, T0 + 2000 + P.handshake_ttl_ms); /* one ttl for both states */
    apply_ok(&g, by(GIG_START, GIG_ROLE_OPERATOR, op, T0 + 3500), DROP_ECONFLICT);

    /* the repeat is idempotent: no change, no version bump */
    int64_t v = g.version;
    fx = apply_ok(&g, by(GIG_HANDSHAKE, GIG_ROLE_CUSTOMER, CUST, T0 + 3600), DROP_OK);
    assert_false(fx.changed);
    assert_int_equal(g.version, v);
    assert_int_equal(fx.n_notify, 0);

    struct gig_action h = by(GIG_HANDSHAKE, GIG_ROLE_OPERATOR, op, T0 + 4000);
    h.video_session = "other-session";
    fx = apply_ok(&g, h, DROP_OK);
    assert_true(fx.changed);
    assert_true(g.operator_handshaken);
    assert_string_equal(g.video_session, "sess-9"); /* minted once, at the first handshake */
    assert_int_equal(fx.n_notify, 2);

    fx = apply_ok(&g, by(GIG_START, GIG_ROLE_OPERATOR, op, T0 + 5000), DROP_OK);
    assert_int_equal(g.status, GIG_STREAMING);
    assert_int_equal(g.started_at, T0 + 5000);
    assert_int_equal(g.deadline, T0 + 5000 + P.max_stream_ms);
    struct gig_action early = by(GIG_RATE, GIG_ROLE_CUSTOMER, CUST, T0 + 6000);
    early.rating = 4;
    apply_ok(&g, early, DROP_ECONFLICT); /* no rating while streaming */

    fx = apply_ok(&g, by(GIG_STOP, GIG_ROLE_CUSTOMER, CUST, T0 + 5000 + 69999), DROP_OK);
    assert_int_equal(g.status, GIG_PURCHASED);
    assert_int_equal(g.duration_s, 69);
    assert_int_equal(g.amount_cents, 2 * P.price_per_minute_cents);
    assert_int_equal(g.payment_cents, P.price_per_minute_cents);
    assert_int_equal(g.deadline, 0);
    assert_int_equal(fx.next_timer, 0);

    struct gig_action r = by(GIG_RATE, GIG_ROLE_CUSTOMER, CUST, T0 + 80000);
    r.rating = 0;
    apply_ok(&g, r, DROP_EBADREQ);
    r.rating = 6;
    apply_ok(&g, r, DROP_EBADREQ);
    r.rating = 1;
    fx = apply_ok(&g, r, DROP_OK);
    assert_int_equal(g.status, GIG_PURCHASED);
    assert_int_equal(g.operator_rating, 1); /* the operator received it */
    assert_int_equal(g.customer_rating, 0);
    assert_int_equal(fx.n_notify, 2);
    r.rating = 5;
    apply_ok(&g, r, DROP_ECONFLICT); /* rating twice */
    r = by(GIG_RATE, GIG_ROLE_OPERATOR, op, T0 + 81000);
    r.rating = 3;
    fx = apply_ok(&g, r, DROP_OK);
    assert_int_equal(g.status, GIG_VOTED);
    assert_int_equal(g.customer_rating, 3);

    apply_ok(&g, by(GIG_INVOICE, GIG_ROLE_OPERATOR, op, T0 + 90000), DROP_EFORBIDDEN);
    apply_ok(&g, by(GIG_INVOICE, GIG_ROLE_ADMIN, ADMN, T0 + 90000), DROP_OK);
    assert_int_equal(g.status, GIG_INVOICE_GENERATED);
    apply_ok(&g, by(GIG_INVOICE, GIG_ROLE_SYSTEM, NULL, T0 + 91000), DROP_OK);
    assert_int_equal(g.status, GIG_INVOICE_SENT);
    apply_ok(&g, by(GIG_INVOICE, GIG_ROLE_ADMIN, ADMN, T0 + 92000), DROP_OK);
    assert_int_equal(g.status, GIG_COMPENSATED);
    apply_ok(&g, by(GIG_INVOICE, GIG_ROLE_ADMIN, ADMN, T0 + 93000), DROP_ECONFLICT);
    apply_ok(&g, by(GIG_TERMINATE, GIG_ROLE_ADMIN, ADMN, T0 + 93000), DROP_ECONFLICT);
    assert_int_equal(g.version, 12);
    assert_int_equal(g.duration_s, 69);
    gig_free(&g);
}

static void test_rating_lock(void **state)
{
    (void)state;
    struct gig g;
    new_gig(&g);
    struct gig_action a = by(GIG_CREATE, GIG_ROLE_CUSTOMER, CUST, T0);
    a.actor_locked = true;
    apply_ok(&g, a, DROP_ERATING);
    a.actor_locked = false;
    apply_ok(&g, a, DROP_OK);
    struct dispatch_candidate c[1];
    make_candidates(c, 1);
    dispatch_next_wave(&g, c, 1, &P, T0, NULL);
    a = by(GIG_CLAIM_ACCEPT, GIG_ROLE_OFFERED, c[0].account, T0 + 1);
    a.actor_locked = true;
    apply_ok(&g, a, DROP_ERATING);
    a.kind = GIG_CLAIM_REJECT;
    apply_ok(&g, a, DROP_ERATING);
    /* the lock does not apply to other actions, nor hide a forbidden one */
    struct gig_action cancel = by(GIG_CANCEL, GIG_ROLE_CUSTOMER, CUST, T0 + 2);
    cancel.actor_locked = true;
    struct gig_action other = by(GIG_CLAIM_ACCEPT, GIG_ROLE_CUSTOMER, CUST, T0 + 2);
    other.actor_locked = true;
    apply_ok(&g, other, DROP_EFORBIDDEN);
    apply_ok(&g, cancel, DROP_OK);
    assert_int_equal(g.status, GIG_CANCELLED);
    gig_free(&g);
}

static void test_create_validation(void **state)
{
    (void)state;
    struct gig g;
    const double bad[][2] = {{91, 0}, {-91, 0}, {0, 180.5}, {0, -181}, {NAN, 0}, {0, INFINITY}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        new_gig(&g);
        g.latitude = bad[i][0];
        g.longitude = bad[i][1];
        apply_ok(&g, by(GIG_CREATE, GIG_ROLE_CUSTOMER, CUST, T0), DROP_EBADREQ);
        gig_free(&g);
    }
    new_gig(&g);
    g.latitude = 90;
    g.longitude = -180;
    struct gig_effects fx = apply_ok(&g, by(GIG_CREATE, GIG_ROLE_CUSTOMER, CUST, T0), DROP_OK);
    /* no candidate: stays pending, nothing offered, the pending deadline is the timer */
    assert_int_equal(g.status, GIG_PENDING_OPERATOR);
    assert_int_equal(fx.n_offers, 0);
    assert_int_equal(fx.next_timer, T0 + P.pending_ttl_ms);
    /* creating twice is a conflict */
    apply_ok(&g, by(GIG_CREATE, GIG_ROLE_CUSTOMER, CUST, T0), DROP_ECONFLICT);
    gig_free(&g);
}

/* Walks a gig to `st` through the real transitions, from a create at T0. */
static void walk_to(struct gig *g, enum gig_status st, int64_t *t)
{
    struct dispatch_candidate c[1];
    make_candidates(c, 1);
    create_offering(g, c, 1);
    *t = T0;
    const enum gig_action_kind path[] = {GIG_CLAIM_ACCEPT, GIG_CONFIRM, GIG_HANDSHAKE, GIG_HANDSHAKE, GIG_START};
    for (size_t i = 0; i < 5 && g->status != st; i++) {
        *t += 1000;
        enum gig_role r = path[i] == GIG_CLAIM_ACCEPT ? GIG_ROLE_OFFERED
                          : path[i] == GIG_CONFIRM || i == 2 ? GIG_ROLE_CUSTOMER : GIG_ROLE_OPERATOR;
        const char *who = r == GIG_ROLE_CUSTOMER ? CUST : c[0].account;
        apply_ok(g, by(path[i], r, who, *t), DROP_OK);
        if (i == 2 && st == GIG_HANDSHAKING)
            break; /* one party in */
    }
    assert_int_equal(g->status, st);
}

static void test_deadlines(void **state)
{
    (void)state;
    struct gig g;
    int64_t t;
    struct gig_effects fx;
    const enum gig_status waiting[] = {GIG_PENDING_OPERATOR, GIG_OPERATOR_FOUND, GIG_OPERATOR_ENROUTE,
                                       GIG_HANDSHAKING};
    for (size_t i = 0; i < 4; i++) {
        walk_to(&g, waiting[i], &t);
        int64_t due = g.deadline;
        assert_true(due > t);
        /* an early or stale timer changes nothing and re-arms the real deadline */
        fx = apply_ok(&g, by(GIG_DEADLINE, GIG_ROLE_SYSTEM, NULL, due - 1), DROP_OK);
        assert_false(fx.changed);
        assert_int_equal(fx.next_timer, gig_next_timer(&g));
        assert_int_equal(g.status, waiting[i]);
        fx = apply_ok(&g, by(GIG_DEADLINE, GIG_ROLE_SYSTEM, NULL, due + 5), DROP_OK);
        assert_int_equal(g.status, GIG_EXPIRED);
        assert_int_equal(g.deadline, 0);
        assert_int_equal(g.ended_at, due + 5);
        assert_int_equal(g.duration_s, (due + 5 - T0) / 1000); /* never streamed: since creation */
        assert_int_equal(g.amount_cents, 0);
        assert_int_equal(fx.n_notify, g.operator[0] ? 2 : 1);
        /* a double firing is harmless: a conflict, nothing written */
        apply_ok(&g, by(GIG_DEADLINE, GIG_ROLE_SYSTEM, NULL, due + 6), DROP_ECONFLICT);
        gig_free(&g);
    }
    /* pending deadline revokes the open offer as expired */
    walk_to(&g, GIG_PENDING_OPERATOR, &t);
    fx = apply_ok(&g, by(GIG_DEADLINE, GIG_ROLE_SYSTEM, NULL, T0 + P.pending_ttl_ms), DROP_OK);
    assert_int_equal(fx.n_revokes, 1);
    assert_int_equal(fx.revokes[0].reason, GIG_REVOKE_EXPIRED);
    assert_int_equal(g.duration_s, P.pending_ttl_ms / 1000);
    gig_free(&g);

    /* max duration: billed up to the deadline even when the timer fires late */
    walk_to(&g, GIG_STREAMING, &t);
    fx = apply_ok(&g, by(GIG_DEADLINE, GIG_ROLE_SYSTEM, NULL, g.deadline + 7000), DROP_OK);
    assert_int_equal(g.status, GIG_PURCHASED);
    assert_int_equal(g.duration_s, P.max_stream_ms / 1000);
    assert_int_equal(g.amount_cents, 60 * P.price_per_minute_cents);
    assert_int_equal(g.payment_cents, 30 * P.price_per_minute_cents);
    gig_free(&g);
}

static void test_ends(void **state)
{
    (void)state;
    struct gig g;
    int64_t t;
    struct gig_effects fx;

    /* cancel before streaming: duration since creation */
    walk_to(&g, GIG_PENDING_OPERATOR, &t);
    fx = apply_ok(&g, by(GIG_CANCEL, GIG_ROLE_CUSTOMER, CUST, T0 + 36999), DROP_OK);
    assert_int_equal(g.status, GIG_CANCELLED);
    assert_int_equal(g.duration_s, 36);
    assert_int_equal(fx.n_revokes, 1);
    assert_int_equal(fx.revokes[0].reason, GIG_REVOKE_CANCELLED);
    gig_free(&g);

    /* operator cancels while handshaking */
    walk_to(&g, GIG_HANDSHAKING, &t);
    fx = apply_ok(&g, by(GIG_CANCEL, GIG_ROLE_OPERATOR, g.operator, t + 1000), DROP_OK);
    assert_int_equal(g.status, GIG_CANCELLED);
    assert_int_equal(fx.n_revokes, 0);
    assert_int_equal(fx.n_notify, 2);
    gig_free(&g);

    /* nobody cancels in operatorFound: the customer rejects instead */
    walk_to(&g, GIG_OPERATOR_FOUND, &t);
    apply_ok(&g, by(GIG_CANCEL, GIG_ROLE_CUSTOMER, CUST, t + 1), DROP_ECONFLICT);
    apply_ok(&g, by(GIG_CANCEL, GIG_ROLE_OPERATOR, g.operator, t + 1), DROP_ECONFLICT);
    apply_ok(&g, by(GIG_REJECT, GIG_ROLE_CUSTOMER, CUST, t + 1000), DROP_OK);
    assert_int_equal(g.status, GIG_CUSTOMER_REJECTED);
    assert_int_equal(g.duration_s, (t + 1000 - T0) / 1000);
    gig_free(&g);

    /* video failure and terminate while streaming: streamed seconds, no money */
    walk_to(&g, GIG_STREAMING, &t);
    apply_ok(&g, by(GIG_VIDEO_FAIL, GIG_ROLE_SYSTEM, NULL, t + 12500), DROP_OK);
    assert_int_equal(g.status, GIG_FAILED);
    assert_int_equal(g.duration_s, 12);
    assert_int_equal(g.amount_cents, 0);
    gig_free(&g);
    walk_to(&g, GIG_STREAMING, &t);
    apply_ok(&g, by(GIG_TERMINATE, GIG_ROLE_ADMIN, ADMN, t + 61000), DROP_OK);
    assert_int_equal(g.status, GIG_TERMINATED);
    assert_int_equal(g.duration_s, 61);
    assert_int_equal(g.amount_cents, 0);
    gig_free(&g);

    /* stop at once: 0 s streamed, 0 minutes, nothing to pay */
    walk_to(&g, GIG_STREAMING, &t);
    apply_ok(&g, by(GIG_STOP, GIG_ROLE_OPERATOR, g.operator, t), DROP_OK);
    assert_int_equal(g.duration_s, 0);
    assert_int_equal(g.amount_cents, 0);
    gig_free(&g);

    /* started minutes count from the milliseconds, duration is whole seconds:
     * 60.6 s is 60 s and two started minutes, 0.3 s is 0 s and one */
    walk_to(&g, GIG_STREAMING, &t);
    apply_ok(&g, by(GIG_STOP, GIG_ROLE_OPERATOR, g.operator, t + 60600), DROP_OK);
    assert_int_equal(g.duration_s, 60);
    assert_int_equal(g.amount_cents, 2 * P.price_per_minute_cents);
    gig_free(&g);
    walk_to(&g, GIG_STREAMING, &t);
    apply_ok(&g, by(GIG_STOP, GIG_ROLE_CUSTOMER, g.customer, t + 300), DROP_OK);
    assert_int_equal(g.duration_s, 0);
    assert_int_equal(g.amount_cents, P.price_per_minute_cents);
    gig_free(&g);

    /* first handshake without a minted video session is a caller bug */
    walk_to(&g, GIG_OPERATOR_ENROUTE, &t);
    struct gig_action h = by(GIG_HANDSHAKE, GIG_ROLE_CUSTOMER, CUST, t + 1);
    h.video_session = NULL;
    apply_ok(&g, h, DROP_EINTERNAL);
    h.video_session = "";
    apply_ok(&g, h, DROP_EINTERNAL);
    gig_free(&g);
}

static void test_money(void **state)
{
    (void)state;
    struct gig_policy p = gig_policy_defaults();
    /* price per started minute, from the streamed milliseconds */
    assert_int_equal(gig_amount_cents(0, &p), 0);
    assert_int_equal(gig_amount_cents(-5000, &p), 0);
    assert_int_equal(gig_amount_cents(1, &p), 100);     /* 1 ms started the first minute */
    assert_int_equal(gig_amount_cents(300, &p), 100);
    assert_int_equal(gig_amount_cents(60000, &p), 100);
    assert_int_equal(gig_amount_cents(60001, &p), 200); /* ... and 60.001 s the second */
    assert_int_equal(gig_amount_cents(60600, &p), 200);
    assert_int_equal(gig_amount_cents(69000, &p), 200);
    assert_int_equal(gig_amount_cents(3600000, &p), 6000);
    /* the seed's record: 11.15 with a 50% share pays 5.58 (5.575 half up) */
    p.price_per_minute_cents = 223;
    assert_int_equal(gig_amount_cents(241000, &p), 1115);
    assert_int_equal(gig_payment_cents(1115, 5000), 558);
    assert_int_equal(gig_payment_cents(1, 5000), 1);    /* 0.5 -> 1 */
    assert_int_equal(gig_payment_cents(1, 4999), 0);    /* 0.4999 -> 0 */
    assert_int_equal(gig_payment_cents(3, 5000), 2);    /* 1.5 -> 2 */
    assert_int_equal(gig_payment_cents(5, 5000), 3);    /* 2.5 -> 3, not banker's 2 */
    assert_int_equal(gig_payment_cents(100, 3333), 33);
    assert_int_equal(gig_payment_cents(150, 3333), 50); /* 49.995 -> 50 */
    assert_int_equal(gig_payment_cents(1000, 10000), 1000);
    assert_int_equal(gig_payment_cents(1000, 0), 0);
    assert_int_equal(gig_payment_cents(1000, 12000), 1000); /* clamped to 100% */
    assert_int_equal(gig_payment_cents(1000, -1), 0);
    assert_int_equal(gig_payment_cents(0, 5000), 0);
    assert_int_equal(gig_payment_cents(-10, 5000), 0);
    /* integer arithmetic without overflow at the top of int64 */
    assert_int_equal(gig_payment_cents(INT64_MAX, 10000), INT64_MAX);
    assert_int_equal(gig_payment_cents(9000000000000000001LL, 5000), 4500000000000000001LL);

    /* through the machine: a 69 s stream at 5.575/min is not representable in
     * cents, so the seed's 11.15 comes from 5 started minutes at 2.23 */
    struct gig_policy saved = P;
    P.price_per_minute_cents = 223;
    struct gig g;
    int64_t t;
    walk_to(&g, GIG_STREAMING, &t);
    apply_ok(&g, by(GIG_STOP, GIG_ROLE_CUSTOMER, CUST, t + 241000), DROP_OK);
    assert_int_equal(g.amount_cents, 1115);
    assert_int_equal(g.payment_cents, 558);
    gig_free(&g);
    P = saved;
}

static void test_names_and_roles(void **state)
{
    (void)state;
    const char *names[] = {"pendingOperator", "operatorFound", "operatorEnroute", "handshaking",
                           "streaming", "purchased", "voted", "invoiceGenerated", "invoiceSent",
                           "compensated", "expired", "allOperatorsRejected", "customerRejected",
                           "cancelled", "failed", "terminated"};
    for (int i = 0; i < GIG_STATUS__COUNT; i++) {
        enum gig_status s;
        assert_string_equal(gig_status_name((enum gig_status)i), names[i]);
        assert_int_equal(gig_status_parse(names[i], &s), DROP_OK);
        assert_int_equal(s, i);
        assert_int_equal(gig_status_live(s), i <= GIG_STREAMING);
        assert_int_equal(gig_status_busy(s), i >= GIG_OPERATOR_FOUND && i <= GIG_STREAMING);
    }
    enum gig_status s = GIG_VOTED;
    assert_int_equal(gig_status_parse("Voted", &s), DROP_EBADREQ);
    assert_int_equal(gig_status_parse("", &s), DROP_EBADREQ);
    assert_int_equal(gig_status_parse(NULL, &s), DROP_EBADREQ);
    assert_int_equal(s, GIG_VOTED);
    assert_string_equal(gig_status_name((enum gig_status)99), "unknown");

    struct gig g;
    make_gig(&g, GIG_OPERATOR_FOUND);
    assert_int_equal(gig_role_of(&g, CUST, false), GIG_ROLE_CUSTOMER);
    assert_int_equal(gig_role_of(&g, CUST, true), GIG_ROLE_CUSTOMER);
    assert_int_equal(gig_role_of(&g, OPER, false), GIG_ROLE_OPERATOR);
    assert_int_equal(gig_role_of(&g, OFFD, false), GIG_ROLE_OFFERED);
    assert_int_equal(gig_role_of(&g, OTHR, false), GIG_ROLE_OTHER);
    assert_int_equal(gig_role_of(&g, OTHR, true), GIG_ROLE_ADMIN);
    assert_int_equal(gig_role_of(&g, "", false), GIG_ROLE_OTHER);
    assert_int_equal(gig_role_of(&g, NULL, true), GIG_ROLE_ADMIN);
    gig_free(&g);
    make_gig(&g, GIG_PENDING_OPERATOR); /* no operator: "" never matches */
    assert_int_equal(gig_role_of(&g, "", false), GIG_ROLE_OTHER);
    assert_int_equal(gig_next_timer(&g), NOW); /* min(deadline NOW, offers NOW and NOW+1000) */
    g.deadline = NOW + 5000;
    assert_int_equal(gig_next_timer(&g), NOW);
    g.offers[1].state = OFFER_REJECTED;
    assert_int_equal(gig_next_timer(&g), NOW + 1000);
    gig_free(&g);
}

static void test_copy_and_errors(void **state)
{
    (void)state;
    struct gig a, b, out;
    struct gig_effects fx;
    new_gig(&a);
    gig_copy(&b, &a);
    assert_ptr_not_equal(a.meta_json, b.meta_json);
    assert_string_equal(a.meta_json, b.meta_json);
    gig_set_meta(&b, NULL);
    assert_null(b.meta_json);
    assert_non_null(a.meta_json);
    gig_free(&b);
    gig_free(&b); /* twice is safe */

    /* out-of-range enums are refused, never indexed */
    struct gig_action bad = by((enum gig_action_kind)77, GIG_ROLE_CUSTOMER, CUST, T0);
    assert_int_equal(gig_apply(&a, &bad, &P, &out, &fx), DROP_EINTERNAL);
    gig_free(&out);
    bad = by(GIG_CREATE, (enum gig_role)9, CUST, T0);
    assert_int_equal(gig_apply(&a, &bad, &P, &out, &fx), DROP_EINTERNAL);
    gig_free(&out);
    a.status = (enum gig_status)40;
    bad = by(GIG_CREATE, GIG_ROLE_CUSTOMER, CUST, T0);
    assert_int_equal(gig_apply(&a, &bad, &P, &out, &fx), DROP_EINTERNAL);
    gig_free(&out);
    gig_free(&a);
}

/* The timeline: the action, then the offers it sent; offers that stop being
 * open without an answer; bounded, the creation kept. */
static void test_timeline(void **state)
{
    (void)state;
    struct dispatch_candidate c[7];
    struct gig g;
    make_candidates(c, 7);
    create_offering(&g, c, 2);
    assert_int_equal(g.n_events, 3);
    assert_string_equal(g.events[0].what, "create");
    assert_string_equal(g.events[0].actor, CUST);
    assert_int_equal(g.events[0].role, GIG_ROLE_CUSTOMER);
    assert_int_equal(g.events[0].version, 1);
    assert_int_equal(g.events[0].at, T0);
    assert_string_equal(g.events[1].what, "offer");
    assert_string_equal(g.events[1].actor, c[0].account);
    assert_string_equal(g.events[2].actor, c[1].account);

    apply_ok(&g, by(GIG_CLAIM_REJECT, GIG_ROLE_OFFERED, c[0].account, T0 + 500), DROP_OK);
    assert_int_equal(g.n_events, 4);
    assert_string_equal(g.events[3].what, "claim_reject");
    assert_int_equal(g.events[3].status, GIG_PENDING_OPERATOR);
    apply_ok(&g, by(GIG_CLAIM_ACCEPT, GIG_ROLE_OFFERED, c[1].account, T0 + 1000), DROP_OK);
    assert_int_equal(g.n_events, 5);
    assert_string_equal(g.events[4].what, "claim_accept");
    assert_int_equal(g.events[4].status, GIG_OPERATOR_FOUND);
    assert_int_equal(g.events[4].version, g.version);

    /* bounded: the creation stays first, the newest last */
    for (int i = 0; i < 2 * GIG_TIMELINE_MAX; i++) {
        g.status = GIG_OPERATOR_ENROUTE;
        g.customer_handshaken = g.operator_handshaken = false;
        apply_ok(&g, by(GIG_HANDSHAKE, GIG_ROLE_CUSTOMER, CUST, T0 + 2000 + i), DROP_OK);
    }
    assert_int_equal(g.n_events, GIG_TIMELINE_MAX);
    assert_string_equal(g.events[0].what, "create");
    assert_string_equal(g.events[GIG_TIMELINE_MAX - 1].what, "handshake");
    assert_int_equal(g.events[GIG_TIMELINE_MAX - 1].at, T0 + 2000 + 2 * GIG_TIMELINE_MAX - 1);
    gig_free(&g);
}

int main(void)
{
    P = gig_policy_defaults();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_cell),
        cmocka_unit_test(test_happy_flow),
        cmocka_unit_test(test_rating_lock),
        cmocka_unit_test(test_create_validation),
        cmocka_unit_test(test_deadlines),
        cmocka_unit_test(test_ends),
        cmocka_unit_test(test_money),
        cmocka_unit_test(test_names_and_roles),
        cmocka_unit_test(test_copy_and_errors),
        cmocka_unit_test(test_timeline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
