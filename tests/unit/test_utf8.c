/* test_utf8.c - the UTF-8 checks behind every client string that becomes
 * JSON: what is valid (RFC 3629 table 3-7 edges), the cut on a character
 * boundary, and the repair that always yields a JSON string. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "engine/utf8.h"

#define V(s) utf8_valid(s, sizeof(s) - 1)

static void valid_and_invalid(void **state)
{
    (void)state;
    assert_true(V(""));
    assert_true(V("plain ascii"));
    assert_true(V("\xC3\xA9"));             /* é */
    assert_true(V("\xE4\xB8\xAD"));         /* 中 */
    assert_true(V("\xF0\x9F\x98\x80"));     /* U+1F600 */
    assert_true(V("\xF4\x8F\xBF\xBF"));     /* U+10FFFF, the last */
    assert_true(V("\xED\x9F\xBF"));         /* U+D7FF, just below the surrogates */
    assert_false(V("\xFF"));
    assert_false(V("\xC0\xAE"));            /* overlong '.' */
    assert_false(V("\xC1\xBF"));            /* overlong */
    assert_false(V("\xE0\x80\xAF"));        /* overlong '/' */
    assert_false(V("\xF0\x8F\xBF\xBF"));    /* overlong */
    assert_false(V("\xED\xA0\x80"));        /* U+D800, a surrogate */
    assert_false(V("\xF4\x90\x80\x80"));    /* over U+10FFFF */
    assert_false(V("\xC3"));                /* cut short */
    assert_false(V("\xE4\xB8"));
    assert_false(V("\xC3\x28"));            /* bad continuation */
    assert_false(V("a\0b"));                /* NUL */
}

static void clip_on_boundary(void **state)
{
    const char *s = "ab\xC3\xA9\xE4\xB8\xAD";
    (void)state;
    assert_int_equal(utf8_clip(s, 7, 100), 7);
    assert_int_equal(utf8_clip(s, 7, 7), 7);
    assert_int_equal(utf8_clip(s, 7, 6), 4); /* inside 中: back to its start */
    assert_int_equal(utf8_clip(s, 7, 5), 4);
    assert_int_equal(utf8_clip(s, 7, 4), 4);
    assert_int_equal(utf8_clip(s, 7, 3), 2); /* inside é */
    assert_int_equal(utf8_clip(s, 7, 0), 0);
}

static void json_string_always(void **state)
{
    json_t *v;
    (void)state;
    v = utf8_json_string("a\xFF" "b\xC0\xAE", 0);
    assert_non_null(v);
    assert_string_equal(json_string_value(v), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD\xEF\xBF\xBD");
    json_decref(v);

    v = utf8_json_string(NULL, 0);
    assert_string_equal(json_string_value(v), "");
    json_decref(v);

    /* a cut through a valid character leaves it out whole */
    v = utf8_json_string("ab\xC3\xA9", 3);
    assert_string_equal(json_string_value(v), "ab");
    json_decref(v);
    v = utf8_json_string("ab\xC3\xA9", 4);
    assert_string_equal(json_string_value(v), "ab\xC3\xA9");
    json_decref(v);
    /* an invalid byte at the cut is still replaced */
    v = utf8_json_string("ab\xFF\xFF", 3);
    assert_string_equal(json_string_value(v), "ab\xEF\xBF\xBD");
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_and_invalid),
        cmocka_unit_test(clip_on_boundary),
        cmocka_unit_test(json_string_always),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
