/* test_jsonw.c - protocol/jsonw writes jansson's own compact text for every
 * value type, escape and awkward real, and codec_encode_reply writes the
 * bytes of codec_encode(envelope_reply(...)) in both codecs. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/codec.h"
#include "protocol/envelope.h"
#include "protocol/jsonw.h"

/* jsonw's text of v equals jansson's json_dumps with the codec's flags. */
static void same_as_jansson(const json_t *v)
{
    struct jsonw w = {0};
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));

    assert_non_null(want);
    assert_int_equal(jsonw_value(&w, v), 0);
    jsonw_append(&w, "", 1);
    assert_string_equal((char *)w.p, want);
    free(w.p);
    free(want);
}

static void test_scalars(void **state)
{
    static const json_int_t ints[] = {0, 1, -1, 9, 10, 99, 100, 123456789, -987654321,
                                      INT64_MAX, INT64_MIN, INT64_MIN + 1};
    static const double reals[] = {0.0, -0.0, 1.0, -1.0, 0.5, 0.1, 1.5, 100.0, 1e15, 1e16,
                                   1e17, 1e21, 1e22, 1e300, 1e-300, 1e-7, 123.456, -2.5e-10,
                                   3.141592653589793, 5e-324, DBL_MAX, DBL_MIN, 12345678901234567.0,
                                   106.70123456789, 10.78};
    size_t i;
    json_t *v;

    (void)state;
    for (i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        v = json_integer(ints[i]);
        same_as_jansson(v);
        json_decref(v);
    }
    for (i = 0; i < sizeof reals / sizeof reals[0]; i++) {
        v = json_real(reals[i]);
        same_as_jansson(v);
        json_decref(v);
    }
    same_as_jansson(json_true());
    same_as_jansson(json_false());
    same_as_jansson(json_null());
}

static void test_strings(void **state)
{
    static const char *strs[] = {"", "plain", "quote \" and backslash \\", "/slash/",
                                 "tab\tnl\ncr\rbs\bff\f", "\x01\x02\x1f\x7f end",
                                 "caf\xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80", "\"", "\\"};
    json_t *v;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        v = json_string(strs[i]);
        assert_non_null(v);
        same_as_jansson(v);
        json_decref(v);
    }
    /* every control character, each alone and all in one string */
    char all[33];
    for (i = 1; i < 32; i++) {
        char one[2] = {(char)i, 0};
        all[i - 1] = (char)i;
        v = json_string(one);
        same_as_jansson(v);
        json_decref(v);
    }
    all[31] = '\0';
    v = json_string(all);
    same_as_jansson(v);
    json_decref(v);
}

static void test_containers(void **state)
{
    json_t *v = json_pack("{s:[i,f,s,n,b,{}],s:{},s:[],s:{s:{s:[[],[i]]}},s:s}", "a", 1, 2.5,
                          "x\"y", 0, "b", "c", "k", "\n", "inner", 3, "last", "caf\xc3\xa9");
    json_t *nested = json_array(), *cur = nested;

    (void)state;
    assert_non_null(v);
    json_object_set_new(v, "key \"quoted\"\t", json_integer(-5));
    same_as_jansson(v);
    for (int i = 0; i < 100; i++) {
        json_t *next = json_object();
        json_array_append_new(cur, next);
        cur = json_array();
        json_object_set_new(next, "d", cur);
    }
    same_as_jansson(nested);
    json_decref(nested);
    json_decref(v);
}

/* Past JSONW_MAX_DEPTH (a cycle, or absurd nesting) jsonw refuses and the
 * codec answers NULL. */
static void test_too_deep(void **state)
{
    json_t *root = json_array(), *cur = root;
    size_t len = 1;

    (void)state;
    for (int i = 0; i < JSONW_MAX_DEPTH + 1; i++) {
        json_t *next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    assert_null(codec_encode(CODEC_JSON, root, 8, &len));
    assert_int_equal(len, 0);
    json_decref(root);
}

static void expect_reply_bytes(enum codec c, json_t *id, json_t *data)
{
    size_t la = 0, lb = 0;
    json_t *env = envelope_reply(id, data ? json_incref(data) : NULL);
    unsigned char *a = codec_encode(c, env, 16, &la);
    unsigned char *b = codec_encode_reply(c, id, data, 40, &lb);

    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(la, lb);
    assert_memory_equal(a + 16, b + 40, la);
    free(a);
    free(b);
    json_decref(env);
}

static void test_reply_bytes(void **state)
{
    json_t *ids[] = {json_integer(7), json_integer(-1), json_string("req-\"1\""), NULL};
    json_t *datas[] = {json_pack("{s:s}", "time", "2026-11-30T02:00:00.000Z"),
                       json_pack("{s:[f,i],s:{}}", "x", 0.25, 3, "y"), json_object(), NULL};

    (void)state;
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 4; j++) {
            expect_reply_bytes(CODEC_JSON, ids[i], datas[j]);
            expect_reply_bytes(CODEC_MSGPACK, ids[i], datas[j]);
        }
    for (size_t i = 0; i < 4; i++) {
        json_decref(ids[i]);
        json_decref(datas[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_containers),
        cmocka_unit_test(test_too_deep),
        cmocka_unit_test(test_reply_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
