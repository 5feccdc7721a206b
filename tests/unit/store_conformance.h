/* store_conformance.h - one cmocka suite that every store backend must pass
 * (engine/store.h): accounts, unique identities, tokens, gig round trips,
 * compare-and-set (also from 8 racing threads), listings, the reconnect
 * query, the overdue sweep, the rating lock, exact numbers and times,
 * operator booking records and their reservation (stale takeover, release,
 * 8 racing threads), the record port over any kind (create, get, CAS
 * conflict, list by an indexed field in pages, delete) and a corrupt stored
 * record (a clear error, skipped by listings).
 *
 * How to use it: tests/unit/test_store_conformance_<backend>.c includes
 * "tests/unit/store_conformance.c" (each test_*.c is built alone, so the
 * suite comes in as source), fills a struct conformance_backend and returns
 * store_conformance_run(&backend) from main. Every case opens its own store
 * with b->open() and closes it with b->close(). The cases never assume an
 * empty database: identity values, ids and times are fresh per case (ids
 * from oid_new, identity values from the random tag, times from a random
 * base far from other cases), and the gigs that hold timers are retired
 * (CAS to a final state without timers) at the end of their case, so one
 * database may serve every case and every run. */
#ifndef DROP_STORE_CONFORMANCE_H
#define DROP_STORE_CONFORMANCE_H

#include <stdbool.h>

#include "engine/store.h"

struct conformance_backend {
    const char *name; /* shown as the cmocka group name */
    /* A store for one case (a fresh one, or a shared one): never NULL (the
     * case fails if it is). */
    struct store *(*open)(void);
    /* Releases what open returned. */
    void (*close)(struct store *st);
    /* The backend does not enforce unique secondary indexes (the CongoDB
     * test server): the unique-identity case is skipped with a printed
     * reason. */
    bool gaps_no_unique_index;
};

/* Runs every case against b; returns cmocka's result (0 = all passed), for
 * main's return value. */
int store_conformance_run(const struct conformance_backend *b);

#endif
