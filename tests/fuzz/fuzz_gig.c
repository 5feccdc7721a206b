/* fuzz_gig.c - libFuzzer target for the gig state machine (engine/gig.c).
 *
 * The input is a sequence of actions on one gig, four bytes an action:
 *   kind (mod GIG_ACTION__COUNT), actor, clock step, flags/rating.
 * Actors are the customer, four operators, a stranger, the system and an
 * admin; a party's role comes from gig_role_of() as the ops compute it. The
 * flags choose the free operators handed in as dispatch candidates, whether
 * the actor is rating-locked and whether a video session is minted.
 *
 * After every gig_apply() the invariants of PROTOCOL.md section 2 must hold,
 * else the target aborts:
 *   - a transition only along a row of the table below (transcribed from
 *     PROTOCOL.md, not shared with gig.c), by a role the row names;
 *   - an action no role row allows is refused (DROP_EFORBIDDEN);
 *   - versions strictly increase (+1 per change, unchanged otherwise), and a
 *     refusal leaves the gig as it was;
 *   - one operator per gig: once assigned it never changes, it is the one
 *     offer in state accepted, and an operator is only ever assigned from
 *     pendingOperator by claim accept;
 *   - the stored record of every gig reached round-trips (gig_record.c).
 * tests/unit/test_fuzz_corpus.c replays the corpus through this entry. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dispatch.h"
#include "engine/gig.h"
#include "engine/gig_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where the last input left its gig (for the corpus replay's own checks). */
static enum gig_status fg_last_status;
static int64_t fg_last_version;

#define FG_N_OPERATORS 4
#define FG_MAX_STEPS 256

static const char *const fg_actors[] = {
    "aaaaaaaaaaaaaaaaaaaaaaaa", /* 0: the customer */
    "bbbbbbbbbbbbbbbbbbbbbb01", /* 1..4: operators */
    "bbbbbbbbbbbbbbbbbbbbbb02",
    "bbbbbbbbbbbbbbbbbbbbbb03",
    "bbbbbbbbbbbbbbbbbbbbbb04",
    "cccccccccccccccccccccccc", /* 5: a stranger */
    NULL,                       /* 6: the system */
    NULL,                       /* 7: an admin */
};

#define FG_S(x) (1u << (x))
#define FG_NEW (1u << GIG_STATUS__COUNT)
#define FG_LIVE (FG_S(GIG_PENDING_OPERATOR) | FG_S(GIG_OPERATOR_FOUND) | FG_S(GIG_OPERATOR_ENROUTE) | \
                 FG_S(GIG_HANDSHAKING) | FG_S(GIG_STREAMING))
#define FG_R(x) (1u << (x))
#define FG_PARTIES (FG_R(GIG_ROLE_CUSTOMER) | FG_R(GIG_ROLE_OPERATOR))

/* PROTOCOL.md section 2: from-states, action, roles, the states it may land on. */
static const struct {
    uint32_t from;
    enum gig_action_kind kind;
    uint32_t roles;
    uint32_t to;
} fg_table[] = {
    {FG_NEW, GIG_CREATE, FG_R(GIG_ROLE_CUSTOMER), FG_S(GIG_PENDING_OPERATOR)},
    {FG_S(GIG_PENDING_OPERATOR), GIG_CLAIM_ACCEPT, FG_R(GIG_ROLE_OFFERED), FG_S(GIG_OPERATOR_FOUND)},
    {FG_S(GIG_PENDING_OPERATOR), GIG_CLAIM_REJECT, FG_R(GIG_ROLE_OFFERED),
     FG_S(GIG_PENDING_OPERATOR) | FG_S(GIG_ALL_OPERATORS_REJECTED)},
    {FG_S(GIG_PENDING_OPERATOR), GIG_CANCEL, FG_R(GIG_ROLE_CUSTOMER), FG_S(GIG_CANCELLED)},
    {FG_S(GIG_PENDING_OPERATOR), GIG_DEADLINE, FG_R(GIG_ROLE_SYSTEM), FG_S(GIG_EXPIRED)},
    {FG_S(GIG_PENDING_OPERATOR), GIG_OFFER_EXPIRE, FG_R(GIG_ROLE_SYSTEM), FG_S(GIG_PENDING_OPERATOR)},
    {FG_S(GIG_PENDING_OPERATOR), GIG_LATE_JOIN, FG_R(GIG_ROLE_SYSTEM), FG_S(GIG_PENDING_OPERATOR)},
    {FG_S(GIG_OPERATOR_FOUND), GIG_CONFIRM, FG_R(GIG_ROLE_CUSTOMER), FG_S(GIG_OPERATOR_ENROUTE)},
    {FG_S(GIG_OPERATOR_FOUND), GIG_REJECT, FG_R(GIG_ROLE_CUSTOMER), FG_S(GIG_CUSTOMER_REJECTED)},
    {FG_S(GIG_OPERATOR_FOUND), GIG_DEADLINE, FG_R(GIG_ROLE_SYSTEM), FG_S(GIG_EXPIRED)},
    {FG_S(GIG_OPERATOR_ENROUTE) | FG_S(GIG_HANDSHAKING), GIG_HANDSHAKE, FG_PARTIES, FG_S(GIG_HANDSHAKING)},
    {FG_S(GIG_OPERATOR_ENROUTE) | FG_S(GIG_HANDSHAKING), GIG_CANCEL, FG_PARTIES, FG_S(GIG_CANCELLED)},
    {FG_S(GIG_OPERATOR_ENROUTE) | FG_S(GIG_HANDSHAKING), GIG_DEADLINE, FG_R(GIG_ROLE_SYSTEM),
     FG_S(GIG_EXPIRED)},
    {FG_S(GIG_HANDSHAKING), GIG_START, FG_PARTIES, FG_S(GIG_STREAMING)},
    {FG_S(GIG_STREAMING), GIG_STOP, FG_PARTIES, FG_S(GIG_PURCHASED)},
    {FG_S(GIG_STREAMING), GIG_DEADLINE, FG_R(GIG_ROLE_SYSTEM), FG_S(GIG_PURCHASED)},
    /* PROTOCOL.md: S, admin; a party's app reports a failed stream through
     * gig.video_failed (README "video providers"), the system acting on it */
    {FG_S(GIG_STREAMING), GIG_VIDEO_FAIL,
     FG_R(GIG_ROLE_SYSTEM) | FG_R(GIG_ROLE_ADMIN) | FG_R(GIG_ROLE_CUSTOMER) | FG_R(GIG_ROLE_OPERATOR),
     FG_S(GIG_FAILED)},
    {FG_S(GIG_PURCHASED), GIG_RATE, FG_PARTIES, FG_S(GIG_PURCHASED) | FG_S(GIG_VOTED)},
    {FG_S(GIG_VOTED), GIG_INVOICE, FG_R(GIG_ROLE_SYSTEM) | FG_R(GIG_ROLE_ADMIN), FG_S(GIG_INVOICE_GENERATED)},
    {FG_S(GIG_INVOICE_GENERATED), GIG_INVOICE, FG_R(GIG_ROLE_SYSTEM) | FG_R(GIG_ROLE_ADMIN),
     FG_S(GIG_INVOICE_SENT)},
    {FG_S(GIG_INVOICE_SENT), GIG_INVOICE, FG_R(GIG_ROLE_SYSTEM) | FG_R(GIG_ROLE_ADMIN),
     FG_S(GIG_COMPENSATED)},
    {FG_LIVE, GIG_TERMINATE, FG_R(GIG_ROLE_ADMIN), FG_S(GIG_TERMINATED)},
};
#define FG_ROWS (sizeof fg_table / sizeof fg_table[0])

static void fg_fail(const char *what, const struct gig *g, const struct gig_action *a,
                    drop_err rc)
{
    fprintf(stderr, "fuzz_gig: %s: %s --%s by %s--> rc=%d\n", what, gig_status_name(g->status),
            gig_action_name(a->kind), gig_role_name(a->role), (int)rc);
    abort();
}

/* The states the table lets role reach from g by kind (0: none). */
static uint32_t fg_allowed(const struct gig *g, enum gig_action_kind kind, enum gig_role role,
                           bool *any_state)
{
    uint32_t from = g->version == 0 ? FG_NEW : FG_S(g->status), to = 0;
    *any_state = false;
    for (size_t i = 0; i < FG_ROWS; i++) {
        if (fg_table[i].kind != kind || !(fg_table[i].roles & FG_R(role))) continue;
        *any_state = true;
        if (fg_table[i].from & from) to |= fg_table[i].to;
    }
    return to;
}

static int fg_accepted_offers(const struct gig *g, int *idx)
{
    int n = 0;
    for (int i = 0; i < g->n_offers; i++)
        if (g->offers[i].state == OFFER_ACCEPTED) {
            n++;
            *idx = i;
        }
    return n;
}

/* The stored record of g reads back to a record of the same text. */
static void fg_record_roundtrip(const struct gig *g, const struct gig_action *a)
{
    char *text = gig_record_dump(g), *again;
    struct gig back;
    if (!text) fg_fail("the new gig has no stored record", g, a, DROP_OK);
    gig_init(&back);
    if (gig_record_parse(text, strlen(text), &back, NULL, 0) != DROP_OK)
        fg_fail("the stored record does not read back", g, a, DROP_OK);
    again = gig_record_dump(&back);
    if (!again || strcmp(text, again) != 0) fg_fail("the record changed on reading", g, a, DROP_OK);
    free(again);
    free(text);
    gig_free(&back);
}

/* Checks one step from g to out (rc from gig_apply). */
static void fg_check(const struct gig *g, const struct gig_action *a, drop_err rc,
                     const struct gig *out, const struct gig_effects *fx)
{
    enum gig_role role = a->role;
    bool any_state, claim = a->kind == GIG_CLAIM_ACCEPT || a->kind == GIG_CLAIM_REJECT;
    int acc = -1;
    uint32_t to;

    /* the assigned operator claiming again is a late offered operator */
    if (claim && role == GIG_ROLE_OPERATOR) role = GIG_ROLE_OFFERED;
    to = fg_allowed(g, a->kind, role, &any_state);
    if (!any_state && rc != DROP_EFORBIDDEN)
        fg_fail("an action no row gives this role was not forbidden", g, a, rc);
    if (rc != DROP_OK) {
        if (out->version != 0 || fx->changed || fx->n_offers || fx->n_revokes)
            fg_fail("a refusal produced a gig or effects", g, a, rc);
        return;
    }
    if (!fx->changed) {
        if (out->version != g->version || out->status != g->status ||
            strcmp(out->operator, g->operator) != 0)
            fg_fail("an unchanged gig changed", g, a, rc);
        if (!to) fg_fail("a no-op accepted in a state without a row", g, a, rc);
        return;
    }
    if (!(to & FG_S(out->status))) fg_fail("a transition outside the table", g, a, rc);
    if (out->version != g->version + 1) fg_fail("the version did not step by one", g, a, rc);
    if (strcmp(out->id, g->id) != 0 || strcmp(out->customer, g->customer) != 0)
        fg_fail("the gig's id or customer changed", g, a, rc);
    if (g->operator[0] && strcmp(out->operator, g->operator) != 0)
        fg_fail("the assigned operator changed", g, a, rc);
    if (!g->operator[0] && out->operator[0] &&
        !(a->kind == GIG_CLAIM_ACCEPT && g->status == GIG_PENDING_OPERATOR))
        fg_fail("an operator was assigned other than by claim accept", g, a, rc);
    if (a->kind == GIG_CLAIM_ACCEPT && (!a->actor || strcmp(out->operator, a->actor) != 0))
        fg_fail("claim accept assigned someone else", g, a, rc);
    switch (fg_accepted_offers(out, &acc)) {
    case 0:
        if (out->operator[0]) fg_fail("an operator without an accepted offer", g, a, rc);
        break;
    case 1:
        if (strcmp(out->offers[acc].operator, out->operator) != 0)
            fg_fail("the accepted offer is not the operator's", g, a, rc);
        break;
    default: fg_fail("two accepted offers on one gig", g, a, rc);
    }
    if (out->operator[0] && strcmp(out->operator, out->customer) == 0)
        fg_fail("the customer operates their own gig", g, a, rc);
    if (out->n_offers < 0 || out->n_offers > GIG_MAX_OFFERS) fg_fail("offer count", g, a, rc);
    if (out->payment_cents > out->amount_cents || out->payment_cents < 0)
        fg_fail("payment outside 0..amount", g, a, rc);
    if (out->customer_rating < 0 || out->customer_rating > 5 || out->operator_rating < 0 ||
        out->operator_rating > 5)
        fg_fail("a rating outside 0..5", g, a, rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gig_policy p = gig_policy_defaults();
    struct dispatch_candidate cands[FG_N_OPERATORS];
    struct gig g, out;
    struct gig_effects fx;
    int64_t now = 1700000000000, last_version = 0;
    size_t steps = 0;

    p.wave_size = 2;
    gig_init(&g);
    memcpy(g.id, "dddddddddddddddddddddddd", DROP_ID_SIZE);
    memcpy(g.customer, fg_actors[0], DROP_ID_SIZE);
    g.latitude = 48.85;
    g.longitude = 2.35;
    gig_set_meta(&g, "{\"note\":\"fuzz\"}");

    for (size_t i = 0; i + 4 <= size && steps < FG_MAX_STEPS; i += 4, steps++) {
        struct gig_action a;
        int who = data[i + 1] & 7;
        uint8_t flags = data[i + 3];
        size_t nc = 0;

        memset(&a, 0, sizeof a);
        a.kind = (enum gig_action_kind)(data[i] % GIG_ACTION__COUNT);
        a.actor = fg_actors[who];
        a.role = who == 6   ? GIG_ROLE_SYSTEM
                 : who == 7 ? GIG_ROLE_ADMIN
                            : gig_role_of(&g, a.actor, false);
        /* a clock that never goes back: small steps, or a jump past a deadline */
        now += data[i + 2] < 0xf0 ? (int64_t)data[i + 2] * 1000
                                  : (int64_t)(data[i + 2] - 0xef) * 3600 * 1000;
        a.now = now;
        a.rating = (flags & 7) - 1; /* -1..6: out-of-range ratings too */
        a.actor_locked = (flags & 0x80) && (flags & 0x40);
        a.video_session = (flags & 0x08) ? NULL : "video-session-1";
        for (int k = 0; k < FG_N_OPERATORS; k++) {
            if ((flags >> 4) & (1u << k)) continue; /* busy: not a candidate */
            memcpy(cands[nc].account, fg_actors[1 + k], DROP_ID_SIZE);
            cands[nc].distance_m = 100.0 * (k + 1);
            nc++;
        }
        a.candidates = nc ? cands : NULL;
        a.n_candidates = nc;

        drop_err rc = gig_apply(&g, &a, &p, &out, &fx);
        fg_check(&g, &a, rc, &out, &fx);
        if (rc == DROP_OK && fx.changed) {
            if (out.version <= last_version) fg_fail("version did not increase", &g, &a, rc);
            last_version = out.version;
            fg_record_roundtrip(&out, &a);
            gig_free(&g);
            g = out; /* takes over out's meta */
        } else {
            gig_free(&out);
        }
    }
    fg_last_status = g.status;
    fg_last_version = g.version;
    gig_free(&g);
    return 0;
}
