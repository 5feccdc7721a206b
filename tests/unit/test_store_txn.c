/* test_store_txn.c - the engine's one read -> decide -> CAS -> retry loop
 * (store_txn_run, engine/store.c), driven through a store port whose
 * compare-and-set loses a given number of times: the retry bound, the final
 * error, undo after a lost write, no change, a refusal, a read error. The
 * record kind is the job's (JOB_KIND), held in memory by the fake port. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "engine/job.h"
#include "engine/store.h"

#include "job_test_util.h"

/* The fake port: one job; CAS loses while fails_left > 0 (another writer
 * "moves the version on" each time: the stored version goes up by one). */
struct fake {
    struct job stored;
    bool have;
    int fails_left;
    int gets, cas_calls;
    drop_err get_err;
};

static drop_err f_get(void *impl, const struct record_kind *k, const char *id, void *out)
{
    struct fake *f = impl;
    assert_ptr_equal(k, &JOB_KIND);
    f->gets++;
    if (f->get_err) return f->get_err;
    if (!f->have || strcmp(id, f->stored.id)) return DROP_ENOTFOUND;
    job_copy(out, &f->stored);
    return DROP_OK;
}

static drop_err f_cas(void *impl, const struct record_kind *k, const void *rec, int64_t expected)
{
    struct fake *f = impl;
    const struct job *j = rec;
    assert_ptr_equal(k, &JOB_KIND);
    f->cas_calls++;
    if (f->stored.version != expected || f->fails_left > 0) {
        if (f->fails_left > 0) {
            f->fails_left--;
            f->stored.version++; /* someone else won */
        }
        return DROP_ECONFLICT;
    }
    job_free(&f->stored);
    job_copy(&f->stored, j);
    return DROP_OK;
}

static drop_err f_create(void *impl, const struct record_kind *k, const void *rec)
{
    struct fake *f = impl;
    if (f->have) return DROP_ECONFLICT;
    job_copy(&f->stored, rec);
    f->have = true;
    (void)k;
    return DROP_OK;
}

static void f_close(void *impl) { (void)impl; }

static const struct store_ops FAKE_OPS = {
    .name = "fake",
    .close = f_close,
    .record_create = f_create,
    .record_get = f_get,
    .record_cas = f_cas,
};

struct ctx {
    int decides, prepares, undos;
    drop_err refuse;  /* decide's answer when not DROP_OK */
    bool keep;        /* decide: no change */
};

static drop_err decide(void *c, const void *cur_, void *next_, bool *write)
{
    struct ctx *x = c;
    const struct job *cur = cur_;
    x->decides++;
    if (x->refuse) return x->refuse;
    if (x->keep) return DROP_OK;
    struct job *next = next_;
    job_copy(next, cur);
    job_set_status(next, JOB_ACCEPTED, 2000, WORKER);
    next->version = cur->version + 1;
    *write = true;
    return DROP_OK;
}

static drop_err prepare(void *c, const void *cur, const void *next)
{
    (void)cur;
    (void)next;
    ((struct ctx *)c)->prepares++;
    return DROP_OK;
}

static void undo(void *c, const void *next)
{
    (void)next;
    ((struct ctx *)c)->undos++;
}

static struct fake *fake_new(int fails)
{
    struct fake *f = calloc(1, sizeof *f);
    make_job(&f->stored);
    f->have = true;
    f->fails_left = fails;
    return f;
}

static void fake_free(struct fake *f)
{
    job_free(&f->stored);
    free(f);
}

static drop_err run(struct fake *f, struct ctx *x, int tries, struct job *before,
                    struct job *after, struct store_txn_result *res)
{
    struct store st = {&FAKE_OPS, f};
    struct store_txn t = {.kind = &JOB_KIND, .id = ID, .tries = tries, .ctx = x,
                          .decide = decide, .prepare = prepare, .undo = undo};
    return store_txn_run(&st, &t, before, after, res);
}

/* Losing N < tries times: written on try N + 1, decided on the last read. */
static void test_retries_then_wins(void **state)
{
    (void)state;
    for (int n = 0; n < 5; n++) {
        struct fake *f = fake_new(n);
        struct ctx x = {0};
        struct job before, after;
        struct store_txn_result res;
        assert_int_equal(run(f, &x, 5, &before, &after, &res), DROP_OK);
        assert_true(res.written);
        assert_false(res.exhausted);
        assert_int_equal(res.tries, n + 1);
        assert_int_equal(f->gets, n + 1);
        assert_int_equal(x.decides, n + 1);
        assert_int_equal(x.undos, n);          /* each lost write undone */
        assert_int_equal(x.prepares, n + 1);
        assert_true(before.version == 1 + n);  /* the version of the last read */
        assert_true(after.version == before.version + 1);
        assert_int_equal(after.status, JOB_ACCEPTED);
        assert_true(f->stored.version == after.version);
        job_free(&before);
        job_free(&after);
        fake_free(f);
    }
}

/* Losing every try: DROP_ECONFLICT, exhausted, exactly `tries` reads and
 * writes, nothing handed out. */
static void test_bound_and_final_error(void **state)
{
    (void)state;
    struct fake *f = fake_new(100);
    struct ctx x = {0};
    struct job before, after;
    struct store_txn_result res;
    assert_int_equal(run(f, &x, 4, &before, &after, &res), DROP_ECONFLICT);
    assert_true(res.exhausted);
    assert_false(res.written);
    assert_int_equal(res.tries, 4);
    assert_int_equal(f->gets, 4);
    assert_int_equal(f->cas_calls, 4);
    assert_int_equal(x.undos, 4);
    fake_free(f);

    /* tries 0 = the default bound */
    f = fake_new(1000);
    memset(&x, 0, sizeof x);
    assert_int_equal(run(f, &x, 0, NULL, NULL, &res), DROP_ECONFLICT);
    assert_int_equal(f->cas_calls, STORE_TXN_TRIES);
    fake_free(f);
}

/* A refusal ends the transaction at once, with decide's code, no write. */
static void test_refusal_and_no_change(void **state)
{
    (void)state;
    struct fake *f = fake_new(0);
    struct ctx x = {.refuse = DROP_EFORBIDDEN};
    struct store_txn_result res;
    assert_int_equal(run(f, &x, 5, NULL, NULL, &res), DROP_EFORBIDDEN);
    assert_false(res.exhausted);
    assert_int_equal(f->cas_calls, 0);
    assert_int_equal(x.prepares, 0);

    struct job before, after;
    memset(&x, 0, sizeof x);
    x.keep = true;
    assert_int_equal(run(f, &x, 5, &before, &after, &res), DROP_OK);
    assert_false(res.written);
    assert_int_equal(f->cas_calls, 0);
    assert_true(before.version == 1 && after.version == 1);
    assert_string_equal(after.title, "Paint");
    job_free(&before);
    job_free(&after);
    fake_free(f);
}

/* A read error comes back as it is; a missing record is DROP_ENOTFOUND. */
static void test_read_errors(void **state)
{
    (void)state;
    struct fake *f = fake_new(0);
    struct ctx x = {0};
    f->get_err = DROP_EUNAVAIL;
    struct store_txn_result res;
    assert_int_equal(run(f, &x, 5, NULL, NULL, &res), DROP_EUNAVAIL);
    assert_false(res.exhausted);
    assert_int_equal(x.decides, 0);
    f->get_err = DROP_OK;
    f->have = false;
    assert_int_equal(run(f, &x, 5, NULL, NULL, &res), DROP_ENOTFOUND);
    fake_free(f);
}

/* id NULL: a creation decided from the seed; an existing id is a conflict
 * without retry. */
static void test_create(void **state)
{
    (void)state;
    struct fake *f = calloc(1, sizeof *f);
    job_init(&f->stored);
    struct job seed, after;
    make_job(&seed);
    struct ctx x = {0};
    struct store st = {&FAKE_OPS, f};
    struct store_txn t = {.kind = &JOB_KIND, .seed = &seed, .ctx = &x, .decide = decide};
    assert_int_equal(store_txn_run(&st, &t, NULL, &after, NULL), DROP_OK);
    assert_true(f->have);
    assert_true(after.version == 2);
    job_free(&after);
    struct store_txn_result res;
    assert_int_equal(store_txn_run(&st, &t, NULL, NULL, &res), DROP_ECONFLICT);
    assert_false(res.exhausted);
    assert_int_equal(x.decides, 2);
    job_free(&seed);
    fake_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retries_then_wins),
        cmocka_unit_test(test_bound_and_final_error),
        cmocka_unit_test(test_refusal_and_no_change),
        cmocka_unit_test(test_read_errors),
        cmocka_unit_test(test_create),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
