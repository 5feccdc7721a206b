/* test_code.c - the pure rules of one-time codes (engine/code.c): the send
 * limits over time, including the hourly one that an integration test
 * cannot reach without waiting an hour, and what tries do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "engine/code.h"

#define T0 1800000000000LL
#define ACC "0123456789abcdef01234567"

static void test_gap_and_hourly_limit(void **state)
{
    (void)state;
    struct store_code c;
    memset(&c, 0, sizeof c);
    assert_int_equal(code_send_admit(&c, false, T0), 0);
    assert_true(c.sends == 1 && c.sent_at == T0 && c.window_start == T0);
    /* one per 30 s */
    assert_int_equal(code_send_admit(&c, true, T0 + 1000), 29000);
    assert_int_equal(code_send_admit(&c, true, T0 + 29999), 1);
    assert_true(c.sends == 1 && c.sent_at == T0);
    /* ten an hour: sends 2..10 every 30 s go, the eleventh waits for the hour */
    int64_t t = T0;
    for (int i = 2; i <= 10; i++) {
        t += 30000;
        assert_int_equal(code_send_admit(&c, true, t), 0);
        assert_int_equal(c.sends, i);
    }
    t += 30000;
    assert_int_equal(code_send_admit(&c, true, t), 3600000 - (t - T0));
    assert_int_equal(c.sends, 10);
    /* a new hour starts a new count */
    assert_int_equal(code_send_admit(&c, true, T0 + 3600000), 0);
    assert_true(c.sends == 1 && c.window_start == T0 + 3600000);
}

static void test_tries(void **state)
{
    (void)state;
    struct store_code c;
    memset(&c, 0, sizeof c);
    strcpy(c.account, ACC);
    c.live = true;
    c.expires_at = T0 + 600000;
    assert_int_equal(code_try(&c, "ffffffffffffffffffffffff", true, T0), CODE_TRY_DEAD);
    assert_int_equal(code_try(&c, ACC, true, T0 + 600000), CODE_TRY_DEAD); /* expired */
    for (int i = 1; i <= 4; i++) {
        assert_int_equal(code_try(&c, ACC, false, T0), CODE_TRY_WRONG);
        assert_true(c.live && c.attempts == i);
    }
    assert_int_equal(code_try(&c, ACC, true, T0), CODE_TRY_RIGHT);
    assert_false(c.live);
    assert_int_equal(code_try(&c, ACC, true, T0), CODE_TRY_DEAD); /* spent */

    c.live = true;
    c.attempts = 0;
    for (int i = 1; i <= 5; i++) assert_int_equal(code_try(&c, ACC, false, T0), CODE_TRY_WRONG);
    assert_false(c.live); /* void after five */
    assert_int_equal(code_try(&c, ACC, true, T0), CODE_TRY_DEAD);
    /* a send resets the tries */
    c.sent_at = c.window_start = T0 - 60000;
    assert_int_equal(code_send_admit(&c, true, T0), 0);
    assert_int_equal(c.attempts, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gap_and_hourly_limit),
        cmocka_unit_test(test_tries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
