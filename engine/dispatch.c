/* dispatch.c - the offer-wave policy of a pending gig (see dispatch.h).
 *
 * Offers live in the gig's bounded array in the order they were made; an
 * operator appears at most once, which is what "never offered twice" means.
 * Lookups are linear: GIG_MAX_OFFERS is small. */
#include "engine/dispatch.h"

#include <math.h>
#include <string.h>

bool dispatch_offered_before(const struct gig *g, const char *account)
{
    return gig_find_offer(g, account) >= 0;
}

int dispatch_open_count(const struct gig *g)
{
    int n = 0;
    for (int i = 0; i < g->n_offers; i++)
        if (g->offers[i].state == OFFER_OPEN)
            n++;
    return n;
}

bool dispatch_all_rejected(const struct gig *g)
{
    if (g->n_offers == 0)
        return false;
    for (int i = 0; i < g->n_offers; i++)
        if (g->offers[i].state != OFFER_REJECTED)
            return false;
    return true;
}

/* True when c may be offered g: a valid id, not the customer, within radius,
 * never offered before. */
static bool eligible(const struct gig *g, const struct dispatch_candidate *c,
                     const struct gig_policy *p)
{
    if (!id_valid(c->account) || strcmp(c->account, g->customer) == 0)
        return false;
    if (!isfinite(c->distance_m) || c->distance_m < 0 || c->distance_m > p->dispatch_radius_m)
        return false;
    return !dispatch_offered_before(g, c->account);
}

/* Appends an OPEN offer (the list has room) and its effect. */
static void add_offer(struct gig *g, const struct dispatch_candidate *c, int wave,
                      const struct gig_policy *p, int64_t now, struct gig_effects *fx)
{
    struct gig_offer *o = &g->offers[g->n_offers++];
    memset(o, 0, sizeof *o);
    memcpy(o->operator, c->account, DROP_ID_SIZE);
    o->state = OFFER_OPEN;
    o->wave = wave;
    o->distance_m = c->distance_m;
    o->offered_at = now;
    o->expires_at = now + p->offer_ttl_ms;
    if (fx && fx->n_offers < GIG_MAX_OFFERS) {
        struct gig_fx_offer *e = &fx->offers[fx->n_offers++];
        memcpy(e->operator, o->operator, DROP_ID_SIZE);
        e->distance_m = o->distance_m;
        e->expires_at = o->expires_at;
    }
}

int dispatch_next_wave(struct gig *g, const struct dispatch_candidate *c, size_t n,
                       const struct gig_policy *p, int64_t now, struct gig_effects *fx)
{
    int made = 0;
    for (size_t i = 0; c && i < n && made < p->wave_size && g->n_offers < GIG_MAX_OFFERS; i++) {
        if (!eligible(g, &c[i], p))
            continue;
        add_offer(g, &c[i], g->wave + 1, p, now, fx);
        made++;
    }
    if (made > 0)
        g->wave++;
    return made;
}

bool dispatch_late_join(struct gig *g, const struct dispatch_candidate *c,
                        const struct gig_policy *p, int64_t now, struct gig_effects *fx)
{
    if (g->status != GIG_PENDING_OPERATOR || g->n_offers >= GIG_MAX_OFFERS || !eligible(g, c, p))
        return false;
    add_offer(g, c, g->wave, p, now, fx);
    return true;
}

static void add_revoke(struct gig_effects *fx, const char *op, enum gig_revoke_reason reason)
{
    if (!fx || fx->n_revokes >= GIG_MAX_OFFERS)
        return;
    struct gig_fx_revoke *r = &fx->revokes[fx->n_revokes++];
    memcpy(r->operator, op, DROP_ID_SIZE);
    r->reason = reason;
}

int dispatch_expire_offers(struct gig *g, int64_t now, struct gig_effects *fx)
{
    int n = 0;
    for (int i = 0; i < g->n_offers; i++) {
        struct gig_offer *o = &g->offers[i];
        if (o->state != OFFER_OPEN || o->expires_at > now)
            continue;
        o->state = OFFER_EXPIRED;
        add_revoke(fx, o->operator, GIG_REVOKE_EXPIRED);
        n++;
    }
    return n;
}

int dispatch_revoke_open(struct gig *g, const char *keep, enum gig_revoke_reason reason,
                         struct gig_effects *fx)
{
    int n = 0;
    for (int i = 0; i < g->n_offers; i++) {
        struct gig_offer *o = &g->offers[i];
        if (o->state != OFFER_OPEN || (keep && strcmp(o->operator, keep) == 0))
            continue;
        o->state = OFFER_REVOKED;
        add_revoke(fx, o->operator, reason);
        n++;
    }
    return n;
}
