/* login_throttle.c - the sign-in brake over the counter ports.
 *
 * Each request touches two keys, the identity's and the address's, in
 * parallel: a check waits for both answers and keeps the longer wait. A
 * key goes to the shared counters first (ports.counter_*); when they say
 * DROP_EUNAVAIL, at once or in their answer, the node's own table serves
 * that key instead, so a Redis outage weakens the brake to one node's
 * view but never blocks sign-in. Pending operations hold a guard count
 * of one until every key is started, so an answer that comes at once
 * never frees the operation under our feet.
 *
 * A check that lets an attempt through reserves it on each key (a count of
 * attempts in flight, node-local) until login_throttle_release(): an
 * attempt is refused while the key's failures plus its attempts in flight
 * already reach the limit, so a burst of concurrent attempts gets no more
 * passwords checked than the limit allows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/log.h"
#include "engine/login_throttle.h"
#include "engine/mem.h"

#define uthash_malloc(sz) xmalloc(sz)
#define uthash_free(ptr, sz) free(ptr)
#include <uthash.h>

/* Waited by an attempt refused only because others are in flight. */
#define INFLIGHT_WAIT_MS 1000

struct lt_inflight {
    char key[THROTTLE_KEY_MAX];
    int64_t n;
    UT_hash_handle hh;
};

#define NKEYS 2

struct part {
    struct lt_op *op;
    char key[THROTTLE_KEY_MAX];
    struct throttle_policy pol;
    int64_t failures; /* the key's live failures, as the check read them */
};

struct lt_op {
    struct engine *e;
    struct part part[NKEYS];
    int nparts;
    int pending;
    int64_t wait_ms;
    void (*check_cb)(void *ud, int64_t wait_ms);
    void (*fail_cb)(void *ud);
    void *ud;
};

static struct throttle_table *table(struct engine *e)
{
    if (!e->login_failures) e->login_failures = throttle_table_new(THROTTLE_TABLE_MAX);
    return e->login_failures;
}

/* "login.<kind>.<32 hex of SHA-256(value)>" */
static void make_key(struct engine *e, const char *kind, const char *value, char *out)
{
    unsigned char h[32];
    char in[300];
    snprintf(in, sizeof in, "%s:%s", kind, value);
    e->crypto.token_hash(in, h);
    int n = snprintf(out, THROTTLE_KEY_MAX, "login.%s.", kind);
    for (int i = 0; i < 16 && n + 2 < THROTTLE_KEY_MAX; i++, n += 2)
        snprintf(out + n, 3, "%02x", h[i]);
}

/* The keys of a request and their policies: the identity's, then the
 * address's (none when the address is unknown). */
static struct lt_op *op_new(struct engine *e, const char *identity, const char *addr)
{
    struct lt_op *op = xcalloc(1, sizeof *op);
    op->e = e;
    make_key(e, "id", identity, op->part[0].key);
    op->part[0].pol = e->set.login;
    op->nparts = 1;
    if (addr && addr[0]) {
        make_key(e, "ip", addr, op->part[1].key);
        op->part[1].pol = e->set.login;
        op->part[1].pol.max_failures *= LOGIN_THROTTLE_ADDR_FACTOR;
        op->nparts = 2;
    }
    for (int i = 0; i < op->nparts; i++) op->part[i].op = op;
    return op;
}

static struct lt_inflight *inflight_find(struct engine *e, const char *key)
{
    struct lt_inflight *f = NULL;
    HASH_FIND_STR(e->login_inflight, key, f);
    return f;
}

static void inflight_add(struct engine *e, const char *key, int64_t d)
{
    struct lt_inflight *f = inflight_find(e, key);
    if (!f && d > 0) {
        f = xcalloc(1, sizeof *f);
        snprintf(f->key, sizeof f->key, "%s", key);
        HASH_ADD_STR(e->login_inflight, key, f);
    }
    if (!f) return;
    f->n += d;
    if (f->n <= 0) {
        HASH_DEL(e->login_inflight, f);
        free(f);
    }
}

/* A check with no lockout still waits while the attempts in flight could
 * reach the limit; else the attempt is reserved on every key. */
static void check_reserve(struct lt_op *op)
{
    if (op->wait_ms > 0) return;
    for (int i = 0; i < op->nparts; i++) {
        struct lt_inflight *f = inflight_find(op->e, op->part[i].key);
        if (f && op->part[i].failures + f->n >= op->part[i].pol.max_failures) {
            op->wait_ms = INFLIGHT_WAIT_MS;
            return;
        }
    }
    for (int i = 0; i < op->nparts; i++) inflight_add(op->e, op->part[i].key, 1);
}

static void op_release(struct lt_op *op)
{
    if (--op->pending > 0) return;
    if (op->check_cb) check_reserve(op);
    if (op->check_cb) op->check_cb(op->ud, op->wait_ms);
    else if (op->fail_cb) op->fail_cb(op->ud);
    free(op);
}

/* ---- check ---- */

static void part_wait(struct part *p, int64_t failures, int64_t ttl_left_ms)
{
    int64_t w = throttle_wait_ms(&p->pol, failures, ttl_left_ms);
    p->failures = ttl_left_ms > 0 && failures > 0 ? failures : 0;
    if (w > p->op->wait_ms) p->op->wait_ms = w;
}

static void part_get_local(struct part *p)
{
    int64_t f, left;
    throttle_table_get(table(p->op->e), p->key, engine_now(p->op->e), &f, &left);
    part_wait(p, f, left);
}

static void on_get(void *ud, drop_err err, int64_t value, int64_t ttl_left_ms)
{
    struct part *p = ud;
    if (err) part_get_local(p);
    else part_wait(p, value, ttl_left_ms);
    op_release(p->op);
}

void login_throttle_check(struct engine *e, const char *identity, const char *addr,
                          void (*cb)(void *ud, int64_t wait_ms), void *ud)
{
    struct lt_op *op = op_new(e, identity, addr);
    op->check_cb = cb;
    op->ud = ud;
    op->pending = 1;
    for (int i = 0; i < op->nparts; i++) {
        struct part *p = &op->part[i];
        op->pending++;
        if (!e->ports.counter_get ||
            e->ports.counter_get(e->ports.ctx, p->key, on_get, p) != DROP_OK) {
            part_get_local(p);
            op->pending--;
        }
    }
    op_release(op);
}

/* ---- failure ---- */

/* One line per lockout earned (the key is a hash: no identity or address). */
static void part_counted(struct part *p, int64_t failures, const char *where)
{
    int64_t lock = throttle_lockout_ms(&p->pol, failures);
    if (lock > 0)
        log_info("event=login_lockout key=%s failures=%lld lockout_ms=%lld counter=%s", p->key,
                 (long long)failures, (long long)lock, where);
}

static void part_fail_local(struct part *p)
{
    int64_t n = throttle_table_fail(table(p->op->e), p->key, engine_now(p->op->e),
                                    throttle_ttl_ms(&p->pol));
    part_counted(p, n, "node");
}

static void on_incr(void *ud, drop_err err, int64_t value, int64_t ttl_left_ms)
{
    struct part *p = ud;
    (void)ttl_left_ms;
    if (err) part_fail_local(p);
    else part_counted(p, value, "shared");
    op_release(p->op);
}

void login_throttle_failed(struct engine *e, const char *identity, const char *addr,
                           void (*cb)(void *ud), void *ud)
{
    struct lt_op *op = op_new(e, identity, addr);
    op->fail_cb = cb;
    op->ud = ud;
    op->pending = 1;
    for (int i = 0; i < op->nparts; i++) {
        struct part *p = &op->part[i];
        op->pending++;
        if (!e->ports.counter_incr ||
            e->ports.counter_incr(e->ports.ctx, p->key, throttle_ttl_ms(&p->pol), on_incr, p) !=
                DROP_OK) {
            part_fail_local(p);
            op->pending--;
        }
    }
    op_release(op);
}

void login_throttle_succeeded(struct engine *e, const char *identity)
{
    char key[THROTTLE_KEY_MAX];
    make_key(e, "id", identity, key);
    if (e->ports.counter_del) e->ports.counter_del(e->ports.ctx, key);
    if (e->login_failures) throttle_table_reset(e->login_failures, key);
}

void login_throttle_release(struct engine *e, const char *identity, const char *addr)
{
    struct lt_op *op = op_new(e, identity, addr);
    for (int i = 0; i < op->nparts; i++) inflight_add(e, op->part[i].key, -1);
    free(op);
}

void login_throttle_free(struct engine *e)
{
    struct lt_inflight *f, *tmp;
    HASH_ITER(hh, e->login_inflight, f, tmp) {
        HASH_DEL(e->login_inflight, f);
        free(f);
    }
    throttle_table_free(e->login_failures);
    e->login_failures = NULL;
}
