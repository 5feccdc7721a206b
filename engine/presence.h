/* presence.h - where every online operator is and whether they are free.
 *
 * Soft state: one entry per operator account, refreshed by the operator's own
 * updates (presence_update) and by other nodes' announcements (presence_put),
 * expired by presence_expire when no refresh came for the TTL. Entries are in
 * a uthash table by account id, in a list ordered by last refresh (so expiry
 * costs only what it removes, given a non-decreasing clock) and in a spatial
 * grid (engine/grid.h) that the nearest/within queries use. "Free" means
 * available, not busy (in a live gig), not locked (owes a rating) and not the
 * account the query excludes (the customer asking).
 *
 * Memory: an entry is ~200 B (state 104, grid handle 16, list 16, uthash
 * handle 56, malloc header) plus its grid share (see grid.h) and a hash
 * bucket; presence_memory() reports the exact figure. */
#ifndef DROP_PRESENCE_H
#define DROP_PRESENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"
#include "engine/grid.h"
#include "engine/id.h"

/* What is known about one operator. */
struct presence_state {
    char account[DROP_ID_SIZE]; /* the operator's account id (24 hex) */
    char node[DROP_ID_SIZE];    /* the node holding their session: 1..24 printable chars */
    double lat, lon;            /* degrees, valid (geo_valid) */
    double accuracy;            /* metres >= 0, NaN when unknown */
    double heading;             /* degrees in [0, 360], NaN when unknown */
    double rating;              /* operator rating >= 0, 0 when none yet */
    int64_t updated_at;         /* ms: the local time of the last refresh */
    bool available;             /* the operator says they take gigs */
    bool busy;                  /* in a live gig */
    bool locked;                /* owes a rating (PROTOCOL.md: rating_required) */
    char name[48];              /* first name shown on the map ("" until known) */
};

/* A query result: the state (borrowed until the presence changes) and its
 * great-circle distance in metres from the query point. */
struct presence_hit {
    const struct presence_state *state;
    double dist_m;
};

struct presence;

/* Called with an entry's state, borrowed for the duration of the call. */
typedef void (*presence_fn)(const struct presence_state *s, void *ud);

/* Creates an empty presence whose grid has cells of cell_m metres. Returns
 * DROP_OK with *out owned by the caller, or DROP_EBADREQ for a bad cell size. */
drop_err presence_new(double cell_m, struct presence **out);

/* Releases p and every entry. NULL ok. */
void presence_free(struct presence *p);

/* The operator's own refresh: creates the entry (busy, locked false, rating 0)
 * or updates its node, position, accuracy, heading and availability, keeping
 * busy, locked and rating. updated_at becomes now. Returns DROP_OK or
 * DROP_EBADREQ (bad account id, node, coordinates, accuracy or heading;
 * nothing changes). */
drop_err presence_update(struct presence *p, const char *account, const char *node, double lat,
                         double lon, double accuracy, double heading, bool available, int64_t now);

/* Replaces (or creates) the whole entry with *s, as announced by another
 * node; s->updated_at is ignored and becomes now. Returns DROP_OK or
 * DROP_EBADREQ when any field is invalid (nothing changes). s is copied. */
drop_err presence_put(struct presence *p, const struct presence_state *s, int64_t now);

/* Set the busy / locked flags or the rating of an entry. Return DROP_OK,
 * DROP_ENOTFOUND when account has no entry, DROP_EBADREQ for a rating that is
 * not finite and >= 0. They do not refresh updated_at. */
drop_err presence_set_busy(struct presence *p, const char *account, bool busy);
drop_err presence_set_locked(struct presence *p, const char *account, bool locked);
drop_err presence_set_rating(struct presence *p, const char *account, double rating);

/* Sets the first name shown by map.nearby (truncated to fit). DROP_OK or
 * DROP_ENOTFOUND. */
drop_err presence_set_name(struct presence *p, const char *account, const char *name);

/* Removes the entry of account. Returns DROP_OK or DROP_ENOTFOUND. */
drop_err presence_remove(struct presence *p, const char *account);

/* The entry of account, borrowed until the next change of p; NULL if none. */
const struct presence_state *presence_get(const struct presence *p, const char *account);

/* Number of entries. */
size_t presence_count(const struct presence *p);

/* Bytes held by p: entries, hash table, grid (malloc headers estimated). */
size_t presence_memory(const struct presence *p);

/* The grid behind p, borrowed, for read-only use (grid_memory, grid_cells). */
const struct grid *presence_grid(const struct presence *p);

/* Removes every entry not refreshed for ttl_ms (updated_at <= now - ttl_ms),
 * calling cb (may be NULL) with each before it goes. Returns the number
 * removed. Cost is proportional to what is removed while now never goes
 * backwards between refreshes. cb must not change p. */
size_t presence_expire(struct presence *p, int64_t now, int64_t ttl_ms, presence_fn cb, void *ud);

/* Removes every entry whose node is node (a node that left the cluster),
 * calling cb (may be NULL) with each before it goes. O(entries). Returns the
 * number removed. cb must not change p. */
size_t presence_remove_node(struct presence *p, const char *node, presence_fn cb, void *ud);

/* Calls cb for every entry, oldest refresh first (re-announce). cb must not
 * change p. */
void presence_foreach(const struct presence *p, presence_fn cb, void *ud);

/* The up to k nearest free operators within radius_m of (lat, lon), nearest
 * first, excluding account exclude (NULL: none), into out (room for k).
 * Returns DROP_OK or DROP_EBADREQ (bad coordinates or radius; *nout = 0).
 * Allocates a k-sized scratch array. */
drop_err presence_nearest_free(const struct presence *p, double lat, double lon, double radius_m,
                               size_t k, const char *exclude, struct presence_hit *out, size_t *nout);

/* Every free operator within radius_m, nearest first, in a new array *out
 * (caller frees; NULL when none). Returns as presence_nearest_free. */
drop_err presence_within_free(const struct presence *p, double lat, double lon, double radius_m,
                              const char *exclude, struct presence_hit **out, size_t *nout);

/* Every operator within radius_m, free or not (admin.map). As above. */
drop_err presence_within(const struct presence *p, double lat, double lon, double radius_m,
                         struct presence_hit **out, size_t *nout);

#endif
