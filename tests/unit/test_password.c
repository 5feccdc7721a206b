/* test_password.c - Argon2id hashing: the stored format and its parameters,
 * verify true/false, salts differ, garbage encodings never verify, and the
 * dummy verify costs about what a real verify costs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <time.h>

#include "adapters/password.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_format_and_verify(void **state)
{
    (void)state;
    char h[PASSWORD_ENCODED_MAX];
    assert_int_equal(password_hash("correct horse", h, sizeof h), DROP_OK);
    assert_true(strncmp(h, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
    /* salt 16 bytes -> 22 b64 chars; hash 32 bytes -> 43 b64 chars */
    const char *salt = h + 31;
    const char *dollar = strchr(salt, '$');
    assert_non_null(dollar);
    assert_int_equal(dollar - salt, 22);
    assert_int_equal(strlen(dollar + 1), 43);
    assert_true(password_verify(h, "correct horse"));
    assert_false(password_verify(h, "correct horsf"));
    assert_false(password_verify(h, ""));
    assert_false(password_verify(h, "correct horse "));
}

static void test_salted(void **state)
{
    (void)state;
    char a[PASSWORD_ENCODED_MAX], b[PASSWORD_ENCODED_MAX];
    assert_int_equal(password_hash("same password", a, sizeof a), DROP_OK);
    assert_int_equal(password_hash("same password", b, sizeof b), DROP_OK);
    assert_string_not_equal(a, b);
    assert_true(password_verify(a, "same password"));
    assert_true(password_verify(b, "same password"));
}

static void test_bad_encodings(void **state)
{
    (void)state;
    assert_false(password_verify(NULL, "x"));
    assert_false(password_verify("", "x"));
    assert_false(password_verify("plaintext", "plaintext"));
    assert_false(password_verify("$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaA", "x"));
    assert_false(password_verify("$argon2id$v=19$m=19456,t=2,p=1$$", "x"));
    assert_false(password_verify("$argon2id$garbage", "x"));
    char small[16];
    assert_int_equal(password_hash("pw", small, sizeof small), DROP_EBADREQ);
}

static void test_utf8_and_long(void **state)
{
    (void)state;
    char h[PASSWORD_ENCODED_MAX];
    char longpw[1025];
    memset(longpw, 'x', 1024);
    longpw[1024] = '\0';
    assert_int_equal(password_hash("pässwörd ✓", h, sizeof h), DROP_OK);
    assert_true(password_verify(h, "pässwörd ✓"));
    assert_false(password_verify(h, "passwort ✓"));
    assert_int_equal(password_hash(longpw, h, sizeof h), DROP_OK);
    assert_true(password_verify(h, longpw));
}

static void test_dummy_costs_like_verify(void **state)
{
    (void)state;
    char h[PASSWORD_ENCODED_MAX];
    assert_int_equal(password_hash("timing-password", h, sizeof h), DROP_OK);
    password_dummy_verify("warm up"); /* builds its reference hash once */
    /* interleaved, so a burst of load elsewhere hits both sides alike */
    double t_verify = 0, t_dummy = 0;
    for (int i = 0; i < 4; i++) {
        double t0 = now_s();
        assert_false(password_verify(h, "wrong-password"));
        double t1 = now_s();
        password_dummy_verify("wrong-password");
        double t2 = now_s();
        t_verify += t1 - t0;
        t_dummy += t2 - t1;
    }
    /* a figure, not an assert (timings fail under load) */
    print_message("verify %.3f s, dummy verify %.3f s (4 each)\n", t_verify, t_dummy);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_and_verify),
        cmocka_unit_test(test_salted),
        cmocka_unit_test(test_bad_encodings),
        cmocka_unit_test(test_utf8_and_long),
        cmocka_unit_test(test_dummy_costs_like_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
