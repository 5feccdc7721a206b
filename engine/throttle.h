/* throttle.h - the sign-in brake: the rule and a node-local counter table.
 *
 * A key (an identity, a source address) collects failed sign-ins. A failure
 * sets the key's count to one more and (re)arms its expiry to
 * throttle_ttl_ms(): a key quiet that long is forgotten. The count and the
 * time left before the expiry are all a counter store has to keep (Redis:
 * INCR + PEXPIRE, PTTL), so every node of a cluster sees the same state and
 * no node's clock is involved. From them the rule derives the lockout:
 * once a key has `max_failures` failures, the next attempt must wait
 * base_ms, doubling with each further failure up to lockout_max_ms, counted
 * from the last failure. A success forgets the key.
 *
 * The table is the counter store of a node without a shared one: bounded
 * (cap keys; when full, expired keys go first, then the key whose last
 * failure is oldest). Everything is pure: the clock is passed in. Not
 * thread-safe; the loop thread owns it. */
#ifndef DROP_THROTTLE_H
#define DROP_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

#define THROTTLE_WINDOW_MS (15 * 60 * 1000) /* failures counted this long ... */
#define THROTTLE_BASE_MS (30 * 1000)        /* the first lockout */
#define THROTTLE_TABLE_MAX 16384            /* keys of a node-local table */
#define THROTTLE_KEY_MAX 80                 /* bytes of a key, NUL included */

struct throttle_policy {
    int64_t max_failures;   /* failures before the first lockout (>= 1) */
    int64_t base_ms;        /* the first lockout */
    int64_t lockout_max_ms; /* the longest lockout */
    int64_t window_ms;      /* a key quiet this long past its lockout is forgotten */
};

/* How long a key lives after its last failure: window_ms + lockout_max_ms,
 * so a lockout never outlives the count that caused it. */
int64_t throttle_ttl_ms(const struct throttle_policy *p);

/* The lockout that `failures` failures earn: 0 under max_failures, else
 * base_ms * 2^(failures - max_failures), at most lockout_max_ms. */
int64_t throttle_lockout_ms(const struct throttle_policy *p, int64_t failures);

/* Milliseconds an attempt must still wait for a key with `failures`
 * failures whose expiry is `ttl_left_ms` away (0: may try now). */
int64_t throttle_wait_ms(const struct throttle_policy *p, int64_t failures, int64_t ttl_left_ms);

/* Whole seconds to announce as retryAfter for wait_ms (rounded up, >= 1). */
int64_t throttle_retry_after_s(int64_t wait_ms);

struct throttle_table;

/* A table of at most cap keys (cap >= 1). */
struct throttle_table *throttle_table_new(size_t cap);
void throttle_table_free(struct throttle_table *t);

/* The count of key and the time left before it expires, at now; both 0
 * for an unknown or expired key. */
void throttle_table_get(struct throttle_table *t, const char *key, int64_t now,
                        int64_t *failures, int64_t *ttl_left_ms);

/* Counts a failure of key at now, its expiry ttl_ms later; returns the new
 * count. May evict another key when the table is full. Keys longer than
 * THROTTLE_KEY_MAX - 1 bytes are cut. */
int64_t throttle_table_fail(struct throttle_table *t, const char *key, int64_t now,
                            int64_t ttl_ms);

/* Forgets key (a success). */
void throttle_table_reset(struct throttle_table *t, const char *key);

/* Keys held (expired ones not yet evicted included). */
size_t throttle_table_count(const struct throttle_table *t);

#endif
