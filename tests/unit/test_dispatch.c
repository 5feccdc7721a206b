/* test_dispatch.c - offer waves, through gig_apply() as the caller uses them
 * and through the dispatch_* functions directly: nearest first, wave_size per
 * wave, never offered twice, next wave on an exhausted wave (all rejected or
 * expired), allOperatorsRejected, late join, the bounded offer list. */
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
#define T0 1460430612000LL

static struct gig_policy P;

static void make_candidates(struct dispatch_candidate *c, int n, int first)
{
    for (int i = 0; i < n; i++) {
        snprintf(c[i].account, sizeof c[i].account, "%024x", 0x100 + first + i);
        c[i].distance_m = 100.0 * (first + i + 1);
    }
}

static struct gig_effects apply(struct gig *g, enum gig_action_kind k, enum gig_role r, const char *actor,
                                int64_t now, const struct dispatch_candidate *c, size_t n, drop_err want)
{
    struct gig_action a = {.kind = k, .role = r, .actor = actor, .now = now, .candidates = c, .n_candidates = n};
    struct gig out;
    struct gig_effects fx;
    assert_int_equal(gig_apply(g, &a, &P, &out, &fx), want);
    if (want == DROP_OK) {
        gig_free(g);
        *g = out;
    } else {
        gig_free(&out);
    }
    return fx;
}

static void create(struct gig *g, const struct dispatch_candidate *c, size_t n, struct gig_effects *fx)
{
    gig_init(g);
    strcpy(g->id, "0123456789abcdef01234567");
    strcpy(g->customer, CUST);
    g->latitude = 10.8;
    g->longitude = 106.7;
    *fx = apply(g, GIG_CREATE, GIG_ROLE_CUSTOMER, CUST, T0, c, n, DROP_OK);
}

static int count_state(const struct gig *g, enum offer_state s)
{
    int n = 0;
    for (int i = 0; i < g->n_offers; i++)
        n += g->offers[i].state == s;
    return n;
}

static void test_first_wave_filters(void **state)
{
    (void)state;
    struct dispatch_candidate c[10];
    struct gig g;
    struct gig_effects fx;
    make_candidates(c, 10, 0);
    strcpy(c[0].account, CUST);          /* the customer itself */
    c[1].distance_m = P.dispatch_radius_m + 1; /* too far */
    strcpy(c[2].account, "not-an-id");   /* invalid */
    strcpy(c[4].account, c[3].account);  /* listed twice */
    create(&g, c, 10, &fx);
    /* offered: c3, c5, c6, c7, c8 (five, nearest first as given) */
    assert_int_equal(fx.n_offers, 5);
    assert_int_equal(g.n_offers, 5);
    const int want[] = {3, 5, 6, 7, 8};
    for (int i = 0; i < 5; i++) {
        assert_string_equal(fx.offers[i].operator, c[want[i]].account);
        assert_true(fx.offers[i].distance_m == c[want[i]].distance_m);
        assert_int_equal(g.offers[i].state, OFFER_OPEN);
        assert_int_equal(g.offers[i].wave, 1);
        assert_int_equal(g.offers[i].expires_at, T0 + P.offer_ttl_ms);
    }
    assert_int_equal(g.wave, 1);
    assert_int_equal(dispatch_open_count(&g), 5);
    gig_free(&g);
}

static void test_rejects_reach_next_wave(void **state)
{
    (void)state;
    struct dispatch_candidate c[12];
    struct gig g;
    struct gig_effects fx;
    make_candidates(c, 12, 0);
    create(&g, c, 12, &fx);
    /* four rejections leave one open offer: no new wave yet */
    for (int i = 0; i < 4; i++) {
        fx = apply(&g, GIG_CLAIM_REJECT, GIG_ROLE_OFFERED, c[i].account, T0 + 1000, c, 12, DROP_OK);
        assert_int_equal(fx.n_offers, 0);
        assert_int_equal(fx.n_notify, 0); /* nothing a party sees changed */
        assert_int_equal(g.status, GIG_PENDING_OPERATOR);
    }
    /* rejecting twice is a conflict */
    apply(&g, GIG_CLAIM_REJECT, GIG_ROLE_OFFERED, c[0].account, T0 + 1000, c, 12, DROP_ECONFLICT);
    apply(&g, GIG_CLAIM_ACCEPT, GIG_ROLE_OFFERED, c[0].account, T0 + 1000, c, 12, DROP_ECONFLICT);
    /* the fifth: wave 2 goes to c5..c9, never to the ones already offered */
    fx = apply(&g, GIG_CLAIM_REJECT, GIG_ROLE_OFFERED, c[4].account, T0 + 2000, c, 12, DROP_OK);
    assert_int_equal(g.wave, 2);
    assert_int_equal(fx.n_offers, 5);
    for (int i = 0; i < 5; i++) {
        assert_string_equal(fx.offers[i].operator, c[5 + i].account);
        assert_int_equal(fx.offers[i].expires_at, T0 + 2000 + P.offer_ttl_ms);
    }
    assert_int_equal(fx.next_timer, T0 + 2000 + P.offer_ttl_ms);
    assert_int_equal(g.offers[7].wave, 2);
    /* wave 2 rejects: wave 3 holds the last two candidates */
    for (int i = 5; i < 10; i++)
        fx = apply(&g, GIG_CLAIM_REJECT, GIG_ROLE_OFFERED, c[i].account, T0 + 3000, c, 12, DROP_OK);
    assert_int_equal(g.wave, 3);
    assert_int_equal(fx.n_offers, 2);
    assert_int_equal(g.n_offers, 12);
    /* every offered operator is offered exactly once */
    for (int i = 0; i < g.n_offers; i++)
        for (int j = i + 1; j < g.n_offers; j++)
            assert_string_not_equal(g.offers[i].operator, g.offers[j].operator);
    /* the last two reject and nobody is left: allOperatorsRejected */
    fx = apply(&g, GIG_CLAIM_REJECT, GIG_ROLE_OFFERED, c[10].account, T0 + 4000, c, 12, DROP_OK);
    assert_int_equal(g.status, GIG_PENDING_OPERATOR);
    fx = apply(&g, GIG_CLAIM_REJECT, GIG_ROLE_OFFERED, c[11].account, T0 + 5000, c, 12, DROP_OK);
    assert_int_equal(g.status, GIG_ALL_OPERATORS_REJECTED);
    assert_true(dispatch_all_rejected(&g));
    assert_int_equal(g.deadline, 0);
    assert_int_equal(g.duration_s, 5);
    assert_int_equal(fx.n_notify, 1);
    assert_string_equal(fx.notify[0], CUST);
    assert_int_equal(fx.next_timer, 0);
    gig_free(&g);
}

static void test_expired_offers_keep_pending(void **state)
{
    (void)state;
    struct dispatch_candidate c[2];
    struct gig g;
    struct gig_effects fx;
    make_candidates(c, 2, 0);
    create(&g, c, 2, &fx);
    /* before the ttl nothing is due */
    fx = apply(&g, GIG_OFFER_EXPIRE, GIG_ROLE_SYSTEM, NULL, T0 + P.offer_ttl_ms - 1, c, 2, DROP_OK);
    assert_false(fx.changed);
    assert_int_equal(g.version, 1);
    /* c0 rejects, c1 lets its offer expire: no candidate left, but not all
     * rejected, so the gig stays pending for a late joiner until pending_ttl */
    apply(&g, GIG_CLAIM_REJECT, GIG_ROLE_OFFERED, c[0].account, T0 + 1000, c, 2, DROP_OK);
    fx = apply(&g, GIG_OFFER_EXPIRE, GIG_ROLE_SYSTEM, NULL, T0 + P.offer_ttl_ms, c, 2, DROP_OK);
    assert_true(fx.changed);
    assert_int_equal(g.status, GIG_PENDING_OPERATOR);
    assert_int_equal(fx.n_revokes, 1);
    assert_string_equal(fx.revokes[0].operator, c[1].account);
    assert_int_equal(fx.revokes[0].reason, GIG_REVOKE_EXPIRED);
    assert_int_equal(count_state(&g, OFFER_EXPIRED), 1);
    assert_false(dispatch_all_rejected(&g));
    assert_int_equal(fx.next_timer, T0 + P.pending_ttl_ms);
    /* an expired offer can no longer be accepted */
    apply(&g, GIG_CLAIM_ACCEPT, GIG_ROLE_OFFERED, c[1].account, T0 + 20000, c, 2, DROP_ECONFLICT);
    /* the pending deadline ends it */
    fx = apply(&g, GIG_DEADLINE, GIG_ROLE_SYSTEM, NULL, T0 + P.pending_ttl_ms, c, 2, DROP_OK);
    assert_int_equal(g.status, GIG_EXPIRED);
    assert_int_equal(fx.n_revokes, 0);
    gig_free(&g);
}

static void test_offer_expiry_next_wave(void **state)
{
    (void)state;
    struct dispatch_candidate c[8];
    struct gig g;
    struct gig_effects fx;
    make_candidates(c, 8, 0);
    create(&g, c, 8, &fx);
    /* an open offer past its ttl but not yet swept cannot be accepted */
    apply(&g, GIG_CLAIM_ACCEPT, GIG_ROLE_OFFERED, c[0].account, T0 + P.offer_ttl_ms, c, 8, DROP_ECONFLICT);
    int64_t t = T0 + P.offer_ttl_ms + 3;
    fx = apply(&g, GIG_OFFER_EXPIRE, GIG_ROLE_SYSTEM, NULL, t, c, 8, DROP_OK);
    assert_int_equal(fx.n_revokes, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(fx.revokes[i].reason, GIG_REVOKE_EXPIRED);
    assert_int_equal(fx.n_offers, 3);
    assert_string_equal(fx.offers[0].operator, c[5].account);
    assert_int_equal(g.wave, 2);
    assert_int_equal(fx.next_timer, t + P.offer_ttl_ms);
    /* a wave-2 operator accepts: the other two are revoked as taken */
    fx = apply(&g, GIG_CLAIM_ACCEPT, GIG_ROLE_OFFERED, c[6].account, t + 10, c, 8, DROP_OK);
    assert_int_equal(g.status, GIG_OPERATOR_FOUND);
    assert_int_equal(fx.n_revokes, 2);
    assert_int_equal(count_state(&g, OFFER_ACCEPTED), 1);
    assert_int_equal(count_state(&g, OFFER_REVOKED), 2);
    assert_int_equal(count_state(&g, OFFER_EXPIRED), 5);
    assert_int_equal(dispatch_open_count(&g), 0);
    gig_free(&g);
}

static void test_late_join(void **state)
{
    (void)state;
    struct dispatch_candidate c[3], late[2];
    struct gig g;
    struct gig_effects fx;
    make_candidates(c, 3, 0);
    make_candidates(late, 2, 40); /* 4.1 and 4.2 km: within radius */
    /* nobody free at create: pending, no offers */
    create(&g, NULL, 0, &fx);
    assert_int_equal(fx.n_offers, 0);
    assert_int_equal(g.n_offers, 0);
    /* an operator comes free nearby */
    fx = apply(&g, GIG_LATE_JOIN, GIG_ROLE_SYSTEM, NULL, T0 + 5000, late, 1, DROP_OK);
    assert_true(fx.changed);
    assert_int_equal(fx.n_offers, 1);
    assert_string_equal(fx.offers[0].operator, late[0].account);
    assert_int_equal(fx.offers[0].expires_at, T0 + 5000 + P.offer_ttl_ms);
    assert_int_equal(g.version, 2);
    /* the same operator again: never offered twice */
    fx = apply(&g, GIG_LATE_JOIN, GIG_ROLE_SYSTEM, NULL, T0 + 6000, late, 1, DROP_OK);
    assert_false(fx.changed);
    assert_int_equal(g.version, 2);
    /* it rejects and nobody else was offered: allOperatorsRejected */
    apply(&g, GIG_CLAIM_REJECT, GIG_ROLE_OFFERED, late[0].account, T0 + 7000, NULL, 0, DROP_OK);
    assert_int_equal(g.status, GIG_ALL_OPERATORS_REJECTED);
    gig_free(&g);

    /* the direct API: out of radius, not pending, list full */
    create(&g, c, 3, &fx);
    struct dispatch_candidate far = late[1];
    far.distance_m = P.dispatch_radius_m * 2;
    assert_false(dispatch_late_join(&g, &far, &P, T0, NULL));
    assert_false(dispatch_late_join(&g, &c[0], &P, T0, NULL));
    assert_true(dispatch_late_join(&g, &late[1], &P, T0, NULL));
    assert_int_equal(g.offers[3].wave, 1); /* joins the current wave */
    apply(&g, GIG_CLAIM_ACCEPT, GIG_ROLE_OFFERED, c[1].account, T0 + 1, NULL, 0, DROP_OK);
    assert_false(dispatch_late_join(&g, &late[0], &P, T0 + 2, NULL));
    /* LATE_JOIN in operatorFound is a conflict for the system */
    apply(&g, GIG_LATE_JOIN, GIG_ROLE_SYSTEM, NULL, T0 + 2, late, 1, DROP_ECONFLICT);
    gig_free(&g);
}

static void test_bounded_offers(void **state)
{
    (void)state;
    struct dispatch_candidate c[GIG_MAX_OFFERS + 10];
    struct gig g;
    struct gig_effects fx;
    struct gig_policy saved = P;
    make_candidates(c, GIG_MAX_OFFERS + 10, 0);
    for (int i = 0; i < GIG_MAX_OFFERS + 10; i++)
        c[i].distance_m = 10;
    P.wave_size = 1000;
    create(&g, c, GIG_MAX_OFFERS + 10, &fx);
    assert_int_equal(g.n_offers, GIG_MAX_OFFERS);
    assert_int_equal(fx.n_offers, GIG_MAX_OFFERS);
    /* full: no next wave, no late join */
    assert_int_equal(dispatch_next_wave(&g, c + GIG_MAX_OFFERS, 10, &P, T0, NULL), 0);
    assert_false(dispatch_late_join(&g, &c[GIG_MAX_OFFERS], &P, T0, NULL));
    assert_int_equal(g.wave, 1);
    /* all of them reject: none left to offer (the list is full) -> allOperatorsRejected */
    for (int i = 0; i < GIG_MAX_OFFERS; i++)
        fx = apply(&g, GIG_CLAIM_REJECT, GIG_ROLE_OFFERED, c[i].account, T0 + 1, c, GIG_MAX_OFFERS + 10,
                   DROP_OK);
    assert_int_equal(g.status, GIG_ALL_OPERATORS_REJECTED);
    P = saved;

    /* cancel in pending revokes every open offer as cancelled */
    gig_free(&g);
    create(&g, c, 3, &fx);
    fx = apply(&g, GIG_CANCEL, GIG_ROLE_CUSTOMER, CUST, T0 + 10, NULL, 0, DROP_OK);
    assert_int_equal(fx.n_revokes, 3);
    for (int i = 0; i < 3; i++)
        assert_string_equal(gig_revoke_reason_name(fx.revokes[i].reason), "cancelled");
    assert_int_equal(count_state(&g, OFFER_REVOKED), 3);
    gig_free(&g);
}

static void test_direct_helpers(void **state)
{
    (void)state;
    struct dispatch_candidate c[3];
    struct gig g;
    struct gig_effects fx;
    memset(&fx, 0, sizeof fx);
    make_candidates(c, 3, 0);
    gig_init(&g);
    strcpy(g.customer, CUST);
    assert_false(dispatch_all_rejected(&g)); /* nobody offered is not "all rejected" */
    assert_int_equal(dispatch_next_wave(&g, c, 3, &P, T0, &fx), 3);
    assert_int_equal(fx.n_offers, 3);
    assert_true(dispatch_offered_before(&g, c[1].account));
    assert_false(dispatch_offered_before(&g, CUST));
    assert_int_equal(dispatch_next_wave(&g, c, 3, &P, T0, &fx), 0); /* all offered already */
    assert_int_equal(g.wave, 1);
    g.offers[0].expires_at = T0 + 5;
    assert_int_equal(dispatch_expire_offers(&g, T0 + 4, &fx), 0);
    assert_int_equal(dispatch_expire_offers(&g, T0 + 5, &fx), 1);
    assert_int_equal(dispatch_revoke_open(&g, c[2].account, GIG_REVOKE_TAKEN, &fx), 1);
    assert_int_equal(g.offers[2].state, OFFER_OPEN);
    assert_int_equal(fx.n_revokes, 2);
    assert_int_equal(dispatch_next_wave(&g, NULL, 0, &P, T0, NULL), 0);
    gig_free(&g);
}

int main(void)
{
    P = gig_policy_defaults();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_wave_filters),
        cmocka_unit_test(test_rejects_reach_next_wave),
        cmocka_unit_test(test_expired_offers_keep_pending),
        cmocka_unit_test(test_offer_expiry_next_wave),
        cmocka_unit_test(test_late_join),
        cmocka_unit_test(test_bounded_offers),
        cmocka_unit_test(test_direct_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
