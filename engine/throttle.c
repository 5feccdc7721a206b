/* throttle.c - the sign-in brake's rule and its node-local counter table.
 *
 * The table is a uthash of keys kept in order of last failure: a failure
 * moves its key to the end, so the head is always the key that expires
 * first. Expired keys are dropped from the head as failures come in, and a
 * full table evicts its head. */
#include <stdlib.h>
#include <string.h>

#include "engine/mem.h"
#include "engine/throttle.h"

#define uthash_malloc(sz) xmalloc(sz)
#define uthash_free(ptr, sz) free(ptr)
#include <uthash.h>

int64_t throttle_ttl_ms(const struct throttle_policy *p)
{
    return p->window_ms + p->lockout_max_ms;
}

int64_t throttle_lockout_ms(const struct throttle_policy *p, int64_t failures)
{
    if (failures < p->max_failures) return 0;
    int64_t lock = p->base_ms;
    for (int64_t i = p->max_failures; i < failures && lock < p->lockout_max_ms; i++) lock *= 2;
    return lock < p->lockout_max_ms ? lock : p->lockout_max_ms;
}

int64_t throttle_wait_ms(const struct throttle_policy *p, int64_t failures, int64_t ttl_left_ms)
{
    if (failures <= 0 || ttl_left_ms <= 0) return 0;
    int64_t ttl = throttle_ttl_ms(p);
    if (ttl_left_ms > ttl) ttl_left_ms = ttl; /* a longer expiry from another config */
    int64_t since = ttl - ttl_left_ms;
    int64_t wait = throttle_lockout_ms(p, failures) - since;
    return wait > 0 ? wait : 0;
}

int64_t throttle_retry_after_s(int64_t wait_ms)
{
    int64_t s = (wait_ms + 999) / 1000;
    return s > 0 ? s : 1;
}

struct tentry {
    char key[THROTTLE_KEY_MAX];
    int64_t failures;
    int64_t expires_at;
    UT_hash_handle hh;
};

struct throttle_table {
    struct tentry *map; /* in order of last failure */
    size_t cap;
};

struct throttle_table *throttle_table_new(size_t cap)
{
    struct throttle_table *t = xcalloc(1, sizeof *t);
    t->cap = cap ? cap : 1;
    return t;
}

static void drop(struct throttle_table *t, struct tentry *e)
{
    HASH_DEL(t->map, e);
    free(e);
}

void throttle_table_free(struct throttle_table *t)
{
    if (!t) return;
    struct tentry *e, *tmp;
    HASH_ITER(hh, t->map, e, tmp) drop(t, e);
    free(t);
}

static struct tentry *find(struct throttle_table *t, const char *key)
{
    char k[THROTTLE_KEY_MAX];
    struct tentry *e = NULL;
    size_t n = strnlen(key, sizeof k - 1);
    memcpy(k, key, n);
    k[n] = 0;
    HASH_FIND_STR(t->map, k, e);
    return e;
}

void throttle_table_get(struct throttle_table *t, const char *key, int64_t now,
                        int64_t *failures, int64_t *ttl_left_ms)
{
    struct tentry *e = find(t, key);
    *failures = 0;
    *ttl_left_ms = 0;
    if (!e || e->expires_at <= now) return;
    *failures = e->failures;
    *ttl_left_ms = e->expires_at - now;
}

int64_t throttle_table_fail(struct throttle_table *t, const char *key, int64_t now,
                            int64_t ttl_ms)
{
    struct tentry *e = find(t, key);
    if (e) {
        HASH_DEL(t->map, e); /* re-added at the end: the newest failure */
        if (e->expires_at <= now) e->failures = 0;
    }
    while (t->map && t->map->expires_at <= now) drop(t, t->map);
    if (!e) {
        while (t->map && HASH_COUNT(t->map) >= t->cap) drop(t, t->map);
        e = xcalloc(1, sizeof *e);
        size_t n = strnlen(key, sizeof e->key - 1);
        memcpy(e->key, key, n);
        e->key[n] = 0;
    }
    e->failures++;
    e->expires_at = now + ttl_ms;
    HASH_ADD_STR(t->map, key, e);
    return e->failures;
}

void throttle_table_reset(struct throttle_table *t, const char *key)
{
    struct tentry *e = find(t, key);
    if (e) drop(t, e);
}

size_t throttle_table_count(const struct throttle_table *t)
{
    return HASH_COUNT(t->map);
}
