/* test_throttle.c - the sign-in brake: lockouts grow from the base after
 * max_failures and stop at lockout_max; the wait counts from the last
 * failure as seen through a counter's time-to-live; the node-local table
 * counts, expires, forgets on success and stays within its bound. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "engine/throttle.h"

#define MIN (60 * 1000)

static const struct throttle_policy pol = {
    .max_failures = 5,
    .base_ms = 30000,
    .lockout_max_ms = 15 * MIN,
    .window_ms = 15 * MIN,
};

static void test_lockout_grows_to_cap(void **state)
{
    (void)state;
    for (int i = 0; i < 5; i++) assert_int_equal(throttle_lockout_ms(&pol, i), 0);
    assert_int_equal(throttle_lockout_ms(&pol, 5), 30000);
    assert_int_equal(throttle_lockout_ms(&pol, 6), 60000);
    assert_int_equal(throttle_lockout_ms(&pol, 7), 120000);
    assert_int_equal(throttle_lockout_ms(&pol, 9), 480000);
    assert_int_equal(throttle_lockout_ms(&pol, 10), 15 * MIN);
    assert_int_equal(throttle_lockout_ms(&pol, 11), 15 * MIN);
    assert_int_equal(throttle_lockout_ms(&pol, 1000000), 15 * MIN);

    struct throttle_policy small = pol;
    small.lockout_max_ms = 10000; /* below the base: the cap wins at once */
    assert_int_equal(throttle_lockout_ms(&small, 4), 0);
    assert_int_equal(throttle_lockout_ms(&small, 5), 10000);
    assert_int_equal(throttle_lockout_ms(&small, 8), 10000);
}

static void test_wait_counts_from_last_failure(void **state)
{
    (void)state;
    int64_t ttl = throttle_ttl_ms(&pol);
    assert_int_equal(ttl, 30 * MIN);
    /* just failed: the full lockout */
    assert_int_equal(throttle_wait_ms(&pol, 5, ttl), 30000);
    /* 10 s after the last failure */
    assert_int_equal(throttle_wait_ms(&pol, 5, ttl - 10000), 20000);
    assert_int_equal(throttle_wait_ms(&pol, 5, ttl - 30000), 0);
    assert_int_equal(throttle_wait_ms(&pol, 4, ttl), 0);
    assert_int_equal(throttle_wait_ms(&pol, 12, ttl - MIN), 14 * MIN);
    /* gone or never seen */
    assert_int_equal(throttle_wait_ms(&pol, 0, 0), 0);
    assert_int_equal(throttle_wait_ms(&pol, 9, 0), 0);
    assert_int_equal(throttle_wait_ms(&pol, 9, -2), 0);
    /* an expiry longer than ours (another node's config) is clamped */
    assert_int_equal(throttle_wait_ms(&pol, 5, ttl * 3), 30000);

    assert_int_equal(throttle_retry_after_s(30000), 30);
    assert_int_equal(throttle_retry_after_s(29001), 30);
    assert_int_equal(throttle_retry_after_s(1), 1);
    assert_int_equal(throttle_retry_after_s(0), 1);
}

static void test_table_counts_and_expires(void **state)
{
    (void)state;
    struct throttle_table *t = throttle_table_new(100);
    int64_t ttl = throttle_ttl_ms(&pol), f, left, now = 1000000;

    throttle_table_get(t, "id:a", now, &f, &left);
    assert_int_equal(f, 0);
    assert_int_equal(left, 0);
    for (int i = 1; i <= 5; i++) assert_int_equal(throttle_table_fail(t, "id:a", now + i, ttl), i);
    throttle_table_get(t, "id:a", now + 5, &f, &left);
    assert_int_equal(f, 5);
    assert_int_equal(left, ttl);
    assert_int_equal(throttle_wait_ms(&pol, f, left), 30000);
    /* 12 s later: 18 s to go */
    throttle_table_get(t, "id:a", now + 12005, &f, &left);
    assert_int_equal(throttle_wait_ms(&pol, f, left), 18000);
    /* another key is unaffected */
    throttle_table_get(t, "id:b", now + 5, &f, &left);
    assert_int_equal(f, 0);
    /* quiet for the ttl: forgotten, and a new failure starts at 1 */
    throttle_table_get(t, "id:a", now + 5 + ttl, &f, &left);
    assert_int_equal(f, 0);
    assert_int_equal(throttle_table_fail(t, "id:a", now + 5 + ttl, ttl), 1);
    /* a success forgets at once */
    throttle_table_fail(t, "id:a", now + 6 + ttl, ttl);
    throttle_table_reset(t, "id:a");
    throttle_table_get(t, "id:a", now + 7 + ttl, &f, &left);
    assert_int_equal(f, 0);
    assert_int_equal(throttle_table_count(t), 0);
    throttle_table_free(t);
}

static void test_table_is_bounded(void **state)
{
    (void)state;
    struct throttle_table *t = throttle_table_new(8);
    int64_t ttl = 1000, f, left;
    char key[32];

    throttle_table_fail(t, "victim", 0, ttl);
    throttle_table_fail(t, "victim", 1, ttl);
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "spray:%d", i);
        throttle_table_fail(t, key, 2 + i / 200, ttl);
        assert_true(throttle_table_count(t) <= 8);
    }
    /* the oldest key went first; the newest are there */
    throttle_table_get(t, "victim", 10, &f, &left);
    assert_int_equal(f, 0);
    throttle_table_get(t, "spray:999", 10, &f, &left);
    assert_int_equal(f, 1);
    /* a failure refreshes a key's place: it outlives older keys */
    struct throttle_table *u = throttle_table_new(3);
    throttle_table_fail(u, "a", 0, ttl);
    throttle_table_fail(u, "b", 1, ttl);
    throttle_table_fail(u, "c", 2, ttl);
    throttle_table_fail(u, "a", 3, ttl);
    throttle_table_fail(u, "d", 4, ttl); /* evicts b, the oldest */
    throttle_table_get(u, "a", 5, &f, &left);
    assert_int_equal(f, 2);
    throttle_table_get(u, "b", 5, &f, &left);
    assert_int_equal(f, 0);
    /* expired keys are dropped before anything live is evicted */
    throttle_table_fail(u, "e", 1002, ttl); /* c (expired at 1002) goes, not a */
    throttle_table_get(u, "a", 1002, &f, &left);
    assert_int_equal(f, 2);
    assert_true(throttle_table_count(u) <= 3);
    /* an overlong key is cut, not overflowed */
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    assert_int_equal(throttle_table_fail(u, big, 1004, ttl), 1);
    assert_int_equal(throttle_table_fail(u, big, 1005, ttl), 2);
    throttle_table_free(u);
    throttle_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lockout_grows_to_cap),
        cmocka_unit_test(test_wait_counts_from_last_failure),
        cmocka_unit_test(test_table_counts_and_expires),
        cmocka_unit_test(test_table_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
