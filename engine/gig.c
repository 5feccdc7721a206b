/* gig.c - the gig state machine (see gig.h for the contract).
 *
 * How it works: `rules` below is PROTOCOL.md §2 as data, one row per
 * (from-state set, action, role set) -> nominal to-state. gig_apply() first
 * asks the table whether the role may take the action anywhere (else
 * forbidden) and in this state (else conflict), then runs the action's step:
 * the guards that depend on more than the state (an open offer, both
 * handshakes, rated once, deadline due) and the bookkeeping (deadlines,
 * duration, money, offers). A step may land on another state than the
 * nominal one only where the protocol says so: claim reject ->
 * allOperatorsRejected, the second rating -> voted. */
#include "engine/gig.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dispatch.h"
#include "engine/mem.h"

static const char *const status_names[GIG_STATUS__COUNT] = {
    [GIG_PENDING_OPERATOR] = "pendingOperator",
    [GIG_OPERATOR_FOUND] = "operatorFound",
    [GIG_OPERATOR_ENROUTE] = "operatorEnroute",
    [GIG_HANDSHAKING] = "handshaking",
    [GIG_STREAMING] = "streaming",
    [GIG_PURCHASED] = "purchased",
    [GIG_VOTED] = "voted",
    [GIG_INVOICE_GENERATED] = "invoiceGenerated",
    [GIG_INVOICE_SENT] = "invoiceSent",
    [GIG_COMPENSATED] = "compensated",
    [GIG_EXPIRED] = "expired",
    [GIG_ALL_OPERATORS_REJECTED] = "allOperatorsRejected",
    [GIG_CUSTOMER_REJECTED] = "customerRejected",
    [GIG_CANCELLED] = "cancelled",
    [GIG_FAILED] = "failed",
    [GIG_TERMINATED] = "terminated",
};

static const char *const action_names[GIG_ACTION__COUNT] = {
    [GIG_CREATE] = "create",
    [GIG_CLAIM_ACCEPT] = "claim_accept",
    [GIG_CLAIM_REJECT] = "claim_reject",
    [GIG_CONFIRM] = "confirm",
    [GIG_REJECT] = "reject",
    [GIG_CANCEL] = "cancel",
    [GIG_HANDSHAKE] = "handshake",
    [GIG_START] = "start",
    [GIG_STOP] = "stop",
    [GIG_RATE] = "rate",
    [GIG_DEADLINE] = "deadline",
    [GIG_OFFER_EXPIRE] = "offer_expire",
    [GIG_LATE_JOIN] = "late_join",
    [GIG_VIDEO_FAIL] = "video_fail",
    [GIG_INVOICE] = "invoice",
    [GIG_TERMINATE] = "terminate",
};

static const char *const role_names[GIG_ROLE__COUNT] = {
    [GIG_ROLE_CUSTOMER] = "customer",
    [GIG_ROLE_OPERATOR] = "operator",
    [GIG_ROLE_OFFERED] = "offered",
    [GIG_ROLE_OTHER] = "other",
    [GIG_ROLE_SYSTEM] = "system",
    [GIG_ROLE_ADMIN] = "admin",
};

const char *gig_status_name(enum gig_status s)
{
    return (unsigned)s < GIG_STATUS__COUNT ? status_names[s] : "unknown";
}

drop_err gig_status_parse(const char *name, enum gig_status *out)
{
    for (int i = 0; name && i < GIG_STATUS__COUNT; i++) {
        if (strcmp(name, status_names[i]) == 0) {
            *out = (enum gig_status)i;
            return DROP_OK;
        }
    }
    return DROP_EBADREQ;
}

bool gig_status_live(enum gig_status s)
{
    return s >= GIG_PENDING_OPERATOR && s <= GIG_STREAMING;
}

bool gig_status_busy(enum gig_status s)
{
    return s >= GIG_OPERATOR_FOUND && s <= GIG_STREAMING;
}

const char *gig_action_name(enum gig_action_kind k)
{
    return (unsigned)k < GIG_ACTION__COUNT ? action_names[k] : "unknown";
}

const char *gig_role_name(enum gig_role r)
{
    return (unsigned)r < GIG_ROLE__COUNT ? role_names[r] : "unknown";
}

const char *gig_revoke_reason_name(enum gig_revoke_reason r)
{
    switch (r) {
    case GIG_REVOKE_TAKEN: return "taken";
    case GIG_REVOKE_CANCELLED: return "cancelled";
    case GIG_REVOKE_EXPIRED: return "expired";
    }
    return "cancelled";
}

struct gig_policy gig_policy_defaults(void)
{
    struct gig_policy p = {
        .pending_ttl_ms = 120 * 1000,
        .offer_ttl_ms = 15 * 1000,
        .confirm_ttl_ms = 60 * 1000,
        .handshake_ttl_ms = 30 * 60 * 1000,
        .max_stream_ms = 60 * 60 * 1000,
        .wave_size = 5,
        .dispatch_radius_m = 5000,
        .price_per_minute_cents = 100,
        .operator_share_bp = 5000,
    };
    return p;
}

/* ---- the transition table --------------------------------------------- */

#define ST(s) (1u << (s))
#define ST_NEW (1u << GIG_STATUS__COUNT) /* a gig not created yet (version 0) */
#define ST_LIVE (ST(GIG_PENDING_OPERATOR) | ST(GIG_OPERATOR_FOUND) | ST(GIG_OPERATOR_ENROUTE) | \
                 ST(GIG_HANDSHAKING) | ST(GIG_STREAMING))
#define RL(r) (1u << (r))
#define PARTIES (RL(GIG_ROLE_CUSTOMER) | RL(GIG_ROLE_OPERATOR))

struct gig_rule {
    uint32_t from;  /* set of states (ST bits) */
    enum gig_action_kind action;
    uint32_t roles; /* set of roles (RL bits) */
    enum gig_status to;
};

/* PROTOCOL.md §2. OFFER_EXPIRE and LATE_JOIN are the dispatch timers of the
 * pending state; INVOICE is three rows of one chain. */
static const struct gig_rule rules[] = {
    {ST_NEW, GIG_CREATE, RL(GIG_ROLE_CUSTOMER), GIG_PENDING_OPERATOR},
    {ST(GIG_PENDING_OPERATOR), GIG_CLAIM_ACCEPT, RL(GIG_ROLE_OFFERED), GIG_OPERATOR_FOUND},
    {ST(GIG_PENDING_OPERATOR), GIG_CLAIM_REJECT, RL(GIG_ROLE_OFFERED), GIG_PENDING_OPERATOR},
    {ST(GIG_PENDING_OPERATOR), GIG_CANCEL, RL(GIG_ROLE_CUSTOMER), GIG_CANCELLED},
    {ST(GIG_PENDING_OPERATOR), GIG_DEADLINE, RL(GIG_ROLE_SYSTEM), GIG_EXPIRED},
    {ST(GIG_PENDING_OPERATOR), GIG_OFFER_EXPIRE, RL(GIG_ROLE_SYSTEM), GIG_PENDING_OPERATOR},
    {ST(GIG_PENDING_OPERATOR), GIG_LATE_JOIN, RL(GIG_ROLE_SYSTEM), GIG_PENDING_OPERATOR},
    {ST(GIG_OPERATOR_FOUND), GIG_CONFIRM, RL(GIG_ROLE_CUSTOMER), GIG_OPERATOR_ENROUTE},
    {ST(GIG_OPERATOR_FOUND), GIG_REJECT, RL(GIG_ROLE_CUSTOMER), GIG_CUSTOMER_REJECTED},
    {ST(GIG_OPERATOR_FOUND), GIG_DEADLINE, RL(GIG_ROLE_SYSTEM), GIG_EXPIRED},
    {ST(GIG_OPERATOR_ENROUTE) | ST(GIG_HANDSHAKING), GIG_HANDSHAKE, PARTIES, GIG_HANDSHAKING},
    {ST(GIG_OPERATOR_ENROUTE) | ST(GIG_HANDSHAKING), GIG_CANCEL, PARTIES, GIG_CANCELLED},
    {ST(GIG_OPERATOR_ENROUTE) | ST(GIG_HANDSHAKING), GIG_DEADLINE, RL(GIG_ROLE_SYSTEM), GIG_EXPIRED},
    {ST(GIG_HANDSHAKING), GIG_START, PARTIES, GIG_STREAMING},
    {ST(GIG_STREAMING), GIG_STOP, PARTIES, GIG_PURCHASED},
    {ST(GIG_STREAMING), GIG_DEADLINE, RL(GIG_ROLE_SYSTEM), GIG_PURCHASED},
    {ST(GIG_STREAMING), GIG_VIDEO_FAIL, PARTIES | RL(GIG_ROLE_SYSTEM) | RL(GIG_ROLE_ADMIN), GIG_FAILED},
    {ST(GIG_PURCHASED), GIG_RATE, PARTIES, GIG_PURCHASED},
    {ST(GIG_VOTED), GIG_INVOICE, RL(GIG_ROLE_SYSTEM) | RL(GIG_ROLE_ADMIN), GIG_INVOICE_GENERATED},
    {ST(GIG_INVOICE_GENERATED), GIG_INVOICE, RL(GIG_ROLE_SYSTEM) | RL(GIG_ROLE_ADMIN), GIG_INVOICE_SENT},
    {ST(GIG_INVOICE_SENT), GIG_INVOICE, RL(GIG_ROLE_SYSTEM) | RL(GIG_ROLE_ADMIN), GIG_COMPENSATED},
    {ST_LIVE, GIG_TERMINATE, RL(GIG_ROLE_ADMIN), GIG_TERMINATED},
};

#define N_RULES (sizeof rules / sizeof rules[0])

/* True when some row lets role take action in some state. */
static bool role_may(enum gig_action_kind k, enum gig_role r)
{
    for (size_t i = 0; i < N_RULES; i++)
        if (rules[i].action == k && (rules[i].roles & RL(r)))
            return true;
    return false;
}

static const struct gig_rule *find_rule(uint32_t state_bit, enum gig_action_kind k, enum gig_role r)
{
    for (size_t i = 0; i < N_RULES; i++)
        if ((rules[i].from & state_bit) && rules[i].action == k && (rules[i].roles & RL(r)))
            return &rules[i];
    return NULL;
}

/* ---- gig objects -------------------------------------------------------- */

void gig_init(struct gig *g)
{
    memset(g, 0, sizeof *g);
    g->status = GIG_PENDING_OPERATOR;
}

void gig_copy(struct gig *dst, const struct gig *src)
{
    memcpy(dst, src, sizeof *dst);
    dst->meta_json = src->meta_json ? xstrdup(src->meta_json) : NULL;
}

void gig_free(struct gig *g)
{
    free(g->meta_json);
    gig_init(g);
}

void gig_set_meta(struct gig *g, const char *json)
{
    free(g->meta_json);
    g->meta_json = json ? xstrdup(json) : NULL;
}

int gig_find_offer(const struct gig *g, const char *account)
{
    if (!account || !account[0])
        return -1;
    for (int i = 0; i < g->n_offers; i++)
        if (strcmp(g->offers[i].operator, account) == 0)
            return i;
    return -1;
}

enum gig_role gig_role_of(const struct gig *g, const char *account_id, bool is_admin)
{
    if (account_id && account_id[0]) {
        if (strcmp(account_id, g->customer) == 0)
            return GIG_ROLE_CUSTOMER;
        if (g->operator[0] && strcmp(account_id, g->operator) == 0)
            return GIG_ROLE_OPERATOR;
        if (gig_find_offer(g, account_id) >= 0)
            return GIG_ROLE_OFFERED;
    }
    return is_admin ? GIG_ROLE_ADMIN : GIG_ROLE_OTHER;
}

/* ---- money and time ----------------------------------------------------- */

int64_t gig_amount_cents(int64_t streamed_ms, const struct gig_policy *p)
{
    if (streamed_ms <= 0 || p->price_per_minute_cents <= 0)
        return 0;
    return (streamed_ms + 59999) / 60000 * p->price_per_minute_cents;
}

int64_t gig_payment_cents(int64_t amount_cents, int share_bp)
{
    if (amount_cents <= 0)
        return 0;
    if (share_bp < 0)
        share_bp = 0;
    if (share_bp > 10000)
        share_bp = 10000;
    /* amount = q*10000 + r, so amount*share/10000 = q*share + r*share/10000:
     * exact, half up, and free of overflow for any int64 amount. */
    int64_t q = amount_cents / 10000, r = amount_cents % 10000;
    return q * share_bp + (r * share_bp + 5000) / 10000;
}

int64_t gig_next_timer(const struct gig *g)
{
    int64_t t = g->deadline;
    for (int i = 0; i < g->n_offers; i++) {
        const struct gig_offer *o = &g->offers[i];
        if (o->state == OFFER_OPEN && (t == 0 || o->expires_at < t))
            t = o->expires_at;
    }
    return t;
}

/* Ends g at `at`: no deadline any more, duration fixed (streamed seconds, or
 * seconds since creation when it never streamed). */
static void end_gig(struct gig *g, int64_t at)
{
    int64_t from = g->started_at ? g->started_at : g->created_at;
    g->ended_at = at;
    g->deadline = 0;
    g->duration_s = at > from ? (at - from) / 1000 : 0;
}

static bool valid_position(double lat, double lon)
{
    return isfinite(lat) && isfinite(lon) && lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180;
}

/* ---- the steps ---------------------------------------------------------- */

/* Runs the guards and bookkeeping of action a on out (a copy of the gig, its
 * status already set to the rule's to-state). Sets fx->changed, and *notify
 * when the parties must see a gig.updated. Returns DROP_OK, DROP_ECONFLICT
 * or DROP_EINTERNAL. */
static drop_err step(struct gig *out, enum gig_status from, const struct gig_action *a,
                     enum gig_role role, const struct gig_policy *p, struct gig_effects *fx,
                     bool *notify)
{
    int64_t now = a->now;
    int idx;

    fx->changed = true;
    *notify = true;
    switch (a->kind) {
    case GIG_CREATE:
        out->version = 0;
        out->operator[0] = '\0';
        if (out->created_at == 0)
            out->created_at = now;
        out->deadline = out->created_at + p->pending_ttl_ms;
        out->n_offers = 0;
        out->wave = 0;
        dispatch_next_wave(out, a->candidates, a->n_candidates, p, now, fx);
        return DROP_OK;
    case GIG_CLAIM_ACCEPT:
        idx = gig_find_offer(out, a->actor);
        if (idx < 0 || out->offers[idx].state != OFFER_OPEN || out->offers[idx].expires_at <= now)
            return DROP_ECONFLICT;
        out->offers[idx].state = OFFER_ACCEPTED;
        memcpy(out->operator, out->offers[idx].operator, DROP_ID_SIZE);
        dispatch_revoke_open(out, NULL, GIG_REVOKE_TAKEN, fx);
        out->deadline = now + p->confirm_ttl_ms;
        return DROP_OK;
    case GIG_CLAIM_REJECT:
        idx = gig_find_offer(out, a->actor);
        if (idx < 0 || out->offers[idx].state != OFFER_OPEN)
            return DROP_ECONFLICT;
        out->offers[idx].state = OFFER_REJECTED;
        *notify = false;
        if (dispatch_open_count(out) == 0 &&
            dispatch_next_wave(out, a->candidates, a->n_candidates, p, now, fx) == 0 &&
            dispatch_all_rejected(out)) {
            out->status = GIG_ALL_OPERATORS_REJECTED;
            end_gig(out, now);
            *notify = true;
        }
        return DROP_OK;
    case GIG_CONFIRM:
        out->deadline = now + p->handshake_ttl_ms; /* covers enroute and handshaking */
        return DROP_OK;
    case GIG_REJECT:
        end_gig(out, now);
        return DROP_OK;
    case GIG_CANCEL:
    case GIG_TERMINATE:
        dispatch_revoke_open(out, NULL, GIG_REVOKE_CANCELLED, fx);
        end_gig(out, now);
        return DROP_OK;
    case GIG_HANDSHAKE: {
        bool *mine = role == GIG_ROLE_CUSTOMER ? &out->customer_handshaken : &out->operator_handshaken;
        if (*mine) { /* a repeat: nothing changes, the caller replies with the keys again */
            fx->changed = false;
            return DROP_OK;
        }
        if (!out->video_session[0]) {
            if (!a->video_session || !a->video_session[0] ||
                strlen(a->video_session) >= sizeof out->video_session)
                return DROP_EINTERNAL;
            strcpy(out->video_session, a->video_session);
        }
        *mine = true;
        return DROP_OK;
    }
    case GIG_START:
        if (!out->customer_handshaken || !out->operator_handshaken)
            return DROP_ECONFLICT;
        out->started_at = now;
        out->deadline = now + p->max_stream_ms;
        return DROP_OK;
    case GIG_STOP:
        end_gig(out, now);
        out->amount_cents = gig_amount_cents(out->ended_at - out->started_at, p);
        out->payment_cents = gig_payment_cents(out->amount_cents, p->operator_share_bp);
        return DROP_OK;
    case GIG_DEADLINE:
        if (out->deadline == 0 || now < out->deadline) { /* early or stale timer */
            out->status = from;
            fx->changed = false;
            return DROP_OK;
        }
        if (from == GIG_STREAMING) { /* max duration: bill up to the deadline, not a late timer */
            end_gig(out, out->deadline);
            out->amount_cents = gig_amount_cents(out->ended_at - out->started_at, p);
            out->payment_cents = gig_payment_cents(out->amount_cents, p->operator_share_bp);
            return DROP_OK;
        }
        dispatch_revoke_open(out, NULL, GIG_REVOKE_EXPIRED, fx);
        end_gig(out, now);
        return DROP_OK;
    case GIG_OFFER_EXPIRE:
        *notify = false;
        if (dispatch_expire_offers(out, now, fx) == 0) {
            fx->changed = false;
            return DROP_OK;
        }
        /* With no candidate left the gig stays pending (some offers merely
         * expired, so not all rejected) until a late join or pending_ttl. */
        if (dispatch_open_count(out) == 0)
            dispatch_next_wave(out, a->candidates, a->n_candidates, p, now, fx);
        return DROP_OK;
    case GIG_LATE_JOIN: {
        int made = 0;
        *notify = false;
        for (size_t i = 0; a->candidates && i < a->n_candidates; i++)
            made += dispatch_late_join(out, &a->candidates[i], p, now, fx);
        fx->changed = made > 0;
        return DROP_OK;
    }
    case GIG_VIDEO_FAIL:
        end_gig(out, now);
        return DROP_OK;
    case GIG_RATE: {
        int *received = role == GIG_ROLE_CUSTOMER ? &out->operator_rating : &out->customer_rating;
        if (*received)
            return DROP_ECONFLICT;
        *received = a->rating;
        if (out->customer_rating && out->operator_rating)
            out->status = GIG_VOTED;
        return DROP_OK;
    }
    case GIG_INVOICE:
        return DROP_OK;
    case GIG_ACTION__COUNT:
        break;
    }
    return DROP_EINTERNAL;
}

static void add_notify(struct gig_effects *fx, const char *account)
{
    if (account[0] && fx->n_notify < 2)
        memcpy(fx->notify[fx->n_notify++], account, DROP_ID_SIZE);
}

static void timeline_push(struct gig *g, int64_t at, const char *what, enum gig_role role,
                          const char *actor)
{
    if (g->n_events >= GIG_TIMELINE_MAX) { /* keep the creation, drop the next oldest */
        memmove(&g->events[1], &g->events[2], (GIG_TIMELINE_MAX - 2) * sizeof g->events[0]);
        g->n_events = GIG_TIMELINE_MAX - 1;
    }
    struct gig_event *e = &g->events[g->n_events++];
    memset(e, 0, sizeof *e);
    e->at = at;
    snprintf(e->what, sizeof e->what, "%s", what);
    e->status = g->status;
    e->version = g->version;
    e->role = role;
    snprintf(e->actor, sizeof e->actor, "%s", actor ? actor : "");
}

/* Appends to out's timeline what the step from g to out did: the action,
 * then the offers it sent and those that stopped being open without an
 * answer (the answers are actions of their own). */
static void timeline_record(const struct gig *g, struct gig *out, const struct gig_action *a,
                            enum gig_role role)
{
    timeline_push(out, a->now, gig_action_name(a->kind), role, a->actor);
    for (int i = 0; i < out->n_offers; i++) {
        const struct gig_offer *o = &out->offers[i];
        if (i >= g->n_offers || g->version == 0)
            timeline_push(out, o->offered_at ? o->offered_at : a->now, "offer", GIG_ROLE_SYSTEM,
                          o->operator);
        else if (g->offers[i].state == OFFER_OPEN && o->state == OFFER_EXPIRED)
            timeline_push(out, a->now, "offer_expired", GIG_ROLE_SYSTEM, o->operator);
        else if (g->offers[i].state == OFFER_OPEN && o->state == OFFER_REVOKED)
            timeline_push(out, a->now, "offer_revoked", GIG_ROLE_SYSTEM, o->operator);
    }
}

drop_err gig_apply(const struct gig *g, const struct gig_action *a, const struct gig_policy *p,
                   struct gig *out, struct gig_effects *fx)
{
    drop_err err = DROP_OK;
    enum gig_role role = a->role;
    const struct gig_rule *rule;
    bool notify = false;

    memset(fx, 0, sizeof *fx);
    gig_init(out);
    if ((unsigned)a->kind >= GIG_ACTION__COUNT || (unsigned)role >= GIG_ROLE__COUNT ||
        (unsigned)g->status >= GIG_STATUS__COUNT) {
        err = DROP_EINTERNAL;
        goto fail;
    }
    bool claim = a->kind == GIG_CLAIM_ACCEPT || a->kind == GIG_CLAIM_REJECT;
    /* The assigned operator once held an offer: claiming again is a conflict
     * ("already taken"), not a forbidden act. */
    if (claim && role == GIG_ROLE_OPERATOR)
        role = GIG_ROLE_OFFERED;
    if (!role_may(a->kind, role)) {
        err = DROP_EFORBIDDEN;
        goto fail;
    }
    if ((a->kind == GIG_RATE && (a->rating < 1 || a->rating > 5)) ||
        (a->kind == GIG_CREATE && !valid_position(g->latitude, g->longitude))) {
        err = DROP_EBADREQ;
        goto fail;
    }
    if (a->actor_locked && (a->kind == GIG_CREATE || claim)) {
        err = DROP_ERATING;
        goto fail;
    }
    rule = find_rule(g->version == 0 ? ST_NEW : ST(g->status), a->kind, role);
    if (!rule) {
        err = DROP_ECONFLICT;
        goto fail;
    }
    gig_copy(out, g);
    out->status = rule->to;
    err = step(out, g->status, a, role, p, fx, &notify);
    if (err != DROP_OK)
        goto fail;
    if (!fx->changed) {
        gig_free(out);
        gig_copy(out, g);
        fx->n_offers = fx->n_revokes = 0;
        fx->next_timer = gig_next_timer(g);
        return DROP_OK;
    }
    out->version++;
    out->updated_at = a->now;
    timeline_record(g, out, a, role);
    if (notify) {
        add_notify(fx, out->customer);
        add_notify(fx, out->operator);
    }
    fx->next_timer = gig_next_timer(out);
    return DROP_OK;
fail:
    gig_free(out);
    memset(fx, 0, sizeof *fx);
    return err;
}
