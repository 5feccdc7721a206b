/* dispatch.h - the offer-wave policy of a pending gig.
 *
 * The caller queries the grid for free operators within dispatch_radius and
 * passes them as candidates, nearest first. A wave offers the gig to the
 * wave_size nearest candidates it was never offered to before (an operator
 * is never offered the same gig twice, whatever happened to the first offer),
 * each offer open until now + offer_ttl. The next wave is offered when no
 * offer is open any more (all of the wave rejected or expired). An operator
 * who becomes free near a pending gig joins at once (late join), outside the
 * wave count. The offer list is bounded by GIG_MAX_OFFERS: when it is full no
 * further offers are made. Candidates farther than dispatch_radius_m, with an
 * invalid id, or equal to the gig's customer are skipped.
 *
 * These functions mutate the gig's offer list only; gig_apply() calls them
 * and owns version, status and deadlines. fx may be NULL everywhere; when
 * given, the offers made / revokes to send are appended to it. */
#ifndef DROP_DISPATCH_H
#define DROP_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/gig.h"

struct dispatch_candidate {
    char account[DROP_ID_SIZE];
    double distance_m;
};

/* True when account was ever offered g (any offer state). */
bool dispatch_offered_before(const struct gig *g, const char *account);

/* Number of OPEN offers on g (expiry time not considered). */
int dispatch_open_count(const struct gig *g);

/* True when g has at least one offer and every offer is REJECTED. */
bool dispatch_all_rejected(const struct gig *g);

/* Offers the next wave: up to wave_size of the candidates (nearest first, as
 * given) never offered g before. Increments g->wave when at least one offer
 * was made. Returns the number of offers made (0 when none is left or the
 * list is full). */
int dispatch_next_wave(struct gig *g, const struct dispatch_candidate *c, size_t n,
                       const struct gig_policy *p, int64_t now, struct gig_effects *fx);

/* Late join: offers pending g to c (an operator that just became free) when
 * it is within radius and was never offered g. Does not start a new wave.
 * Returns true when an offer was made. */
bool dispatch_late_join(struct gig *g, const struct dispatch_candidate *c,
                        const struct gig_policy *p, int64_t now, struct gig_effects *fx);

/* Marks every OPEN offer with expires_at <= now EXPIRED and appends an
 * "expired" revoke for each. Returns how many expired. */
int dispatch_expire_offers(struct gig *g, int64_t now, struct gig_effects *fx);

/* Marks every OPEN offer REVOKED (except the one of keep, which may be NULL)
 * and appends a revoke with reason for each. Returns how many. */
int dispatch_revoke_open(struct gig *g, const char *keep, enum gig_revoke_reason reason,
                         struct gig_effects *fx);

#endif
