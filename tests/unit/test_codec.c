/* test_codec.c - protocol/codec: both encodings round-trip every value type,
 * the encoders emit known bytes, and every malformed or hostile input is
 * refused with DROP_EBADREQ and a reason (fast, for hostile size headers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "protocol/codec.h"

#define DEPTH 32

static const char *codec_name(enum codec c)
{
    return c == CODEC_MSGPACK ? "msgpack" : "json";
}

/* Decodes or fails the test. */
static json_t *decode_ok(enum codec c, const void *buf, size_t len)
{
    char why[256] = "";
    json_t *v = NULL;
    drop_err rc = codec_decode(c, buf, len, DEPTH, &v, why, sizeof why);

    if (rc != DROP_OK) fail_msg("%s decode failed: %s", codec_name(c), why);
    assert_non_null(v);
    return v;
}

/* Asserts that decoding fails with DROP_EBADREQ, no value and a reason that
 * contains `expect` (when not NULL). */
static void decode_bad(enum codec c, const void *buf, size_t len, size_t depth,
                       const char *expect)
{
    char why[256] = "";
    json_t *v = (json_t *)1;
    drop_err rc = codec_decode(c, buf, len, depth, &v, why, sizeof why);

    if (rc != DROP_EBADREQ) {
        if (rc == DROP_OK) json_decref(v);
        fail_msg("%s decode of %zu bytes: expected bad_request, got %d", codec_name(c), len,
                 rc);
    }
    assert_null(v);
    assert_true(why[0] != '\0');
    if (expect && !strstr(why, expect))
        fail_msg("%s: reason \"%s\" does not mention \"%s\"", codec_name(c), why, expect);
}

#define BAD_MP(lit, expect) decode_bad(CODEC_MSGPACK, lit, sizeof(lit) - 1, DEPTH, expect)
#define BAD_JS(lit, expect) decode_bad(CODEC_JSON, lit, sizeof(lit) - 1, DEPTH, expect)

/* Encodes v in c, decodes it again and checks equality. */
static void roundtrip(enum codec c, const json_t *v)
{
    size_t len = 0;
    unsigned char *buf = codec_encode(c, v, 0, &len);
    json_t *back;

    assert_non_null(buf);
    assert_true(len > 0);
    back = decode_ok(c, buf, len);
    if (!json_equal(v, back)) {
        char *a = json_dumps(v, JSON_ENCODE_ANY), *b = json_dumps(back, JSON_ENCODE_ANY);
        fail_msg("%s round trip changed %s into %s", codec_name(c), a, b);
    }
    json_decref(back);
    free(buf);
}

static json_t *sample_value(void)
{
    /* Every type, integers at each msgpack size boundary and the int64
     * limits, reals that need 17 digits, multi-byte UTF-8, nesting. */
    json_t *v = json_pack(
        "{s:n, s:b, s:b, s:[I,I,I,I,I,I,I,I,I,I,I,I,I,I,I,I,I,I],"
        " s:[f,f,f,f,f,f,f], s:s, s:s, s:s, s:{s:[{s:[[],{}]}]}, s:[], s:{}}",
        "null", "t", 1, "f", 0, "ints", (json_int_t)0, (json_int_t)1, (json_int_t)-1,
        (json_int_t)127, (json_int_t)128, (json_int_t)-32, (json_int_t)-33,
        (json_int_t)255, (json_int_t)256, (json_int_t)65535, (json_int_t)65536,
        (json_int_t)-32769, (json_int_t)4294967295LL, (json_int_t)4294967296LL,
        (json_int_t)INT64_MAX, (json_int_t)INT64_MIN, (json_int_t)(INT64_MAX - 1),
        (json_int_t)(INT64_MIN + 1), "reals", 0.1, -1.5e300, 1e-300, 3.141592653589793,
        -0.5, 2.0, 5e-324, "ascii", "hello", "unicode", "h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80",
        "empty", "", "nested", "a", "b", "emptyarr", "emptyobj");

    assert_non_null(v);
    return v;
}

static void test_roundtrip_all_types(void **state)
{
    json_t *v = sample_value();

    (void)state;
    roundtrip(CODEC_JSON, v);
    roundtrip(CODEC_MSGPACK, v);
    json_decref(v);
}

static void test_roundtrip_scalars_top_level(void **state)
{
    json_t *vals[] = {json_null(), json_true(), json_integer(INT64_MIN), json_real(-2.5),
                      json_string("\xe6\x97\xa5\xe6\x9c\xac"), json_array()};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        roundtrip(CODEC_JSON, vals[i]);
        roundtrip(CODEC_MSGPACK, vals[i]);
        json_decref(vals[i]);
    }
}

/* A long string (str16 / str32 territory) and a wide array (array16). */
static void test_roundtrip_large(void **state)
{
    char *s = malloc(70000);
    json_t *arr = json_array(), *v;
    size_t i;

    (void)state;
    memset(s, 'x', 69999);
    s[69999] = '\0';
    for (i = 0; i < 70000; i++) json_array_append_new(arr, json_integer((json_int_t)i));
    v = json_pack("{s:s, s:o}", "s", s, "a", arr);
    roundtrip(CODEC_JSON, v);
    roundtrip(CODEC_MSGPACK, v);
    json_decref(v);
    free(s);
}

/* The same bytes decode to the same value through either codec. */
static void test_cross_codec(void **state)
{
    static const char js[] = "{\"op\":\"sys.ping\",\"id\":7,\"data\":{\"x\":[1,-2,1.5,null,true]}}";
    static const unsigned char mp[] = {
        0x83, 0xa2, 'o', 'p', 0xa8, 's', 'y', 's', '.', 'p', 'i', 'n', 'g', 0xa2, 'i', 'd', 0x07,
        0xa4, 'd', 'a', 't', 'a', 0x81, 0xa1, 'x', 0x95, 0x01, 0xfe,
        0xca, 0x3f, 0xc0, 0x00, 0x00, /* float32 1.5 */
        0xc0, 0xc3};
    json_t *a, *b;

    (void)state;
    a = decode_ok(CODEC_JSON, js, sizeof js - 1);
    b = decode_ok(CODEC_MSGPACK, mp, sizeof mp);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
}

static void expect_bytes(enum codec c, const json_t *v, const void *want, size_t wantlen)
{
    size_t len = 0, i;
    unsigned char *buf = codec_encode(c, v, 0, &len);

    assert_non_null(buf);
    if (len != wantlen || memcmp(buf, want, len) != 0) {
        char hex[1024] = "";
        for (i = 0; i < len && i < 300; i++)
            snprintf(hex + strlen(hex), sizeof hex - strlen(hex), "%02x ", buf[i]);
        fail_msg("%s encoding (%zu bytes): %s", codec_name(c), len, hex);
    }
    free(buf);
}

static void test_encode_known_bytes(void **state)
{
    static const unsigned char reply_mp[] = {
        0x83, 0xa2, 'r', 'e', 0x07, 0xa2, 'o', 'k', 0xc3, 0xa4, 'd', 'a', 't', 'a',
        0x81, 0xa4, 't', 'i', 'm', 'e', 0x01};
    static const char reply_js[] = "{\"re\":7,\"ok\":true,\"data\":{\"time\":1}}";
    json_t *v = json_pack("{s:i, s:b, s:{s:i}}", "re", 7, "ok", 1, "data", "time", 1);

    (void)state;
    expect_bytes(CODEC_MSGPACK, v, reply_mp, sizeof reply_mp);
    expect_bytes(CODEC_JSON, v, reply_js, sizeof reply_js - 1);
    json_decref(v);
}

/* Integers take their smallest msgpack form; reals are float64; strings str. */
static void test_encode_msgpack_forms(void **state)
{
    static const struct {
        json_int_t v;
        unsigned char bytes[9];
        size_t len;
    } ints[] = {
        {0, {0x00}, 1},
        {127, {0x7f}, 1},
        {128, {0xcc, 0x80}, 2},
        {255, {0xcc, 0xff}, 2},
        {256, {0xcd, 0x01, 0x00}, 3},
        {65536, {0xce, 0x00, 0x01, 0x00, 0x00}, 5},
        {4294967296LL, {0xcf, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00}, 9},
        {INT64_MAX, {0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 9},
        {-1, {0xff}, 1},
        {-32, {0xe0}, 1},
        {-33, {0xd0, 0xdf}, 2},
        {-129, {0xd1, 0xff, 0x7f}, 3},
        {-32769, {0xd2, 0xff, 0xff, 0x7f, 0xff}, 5},
        {INT64_MIN, {0xd3, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, 9},
    };
    static const unsigned char real[] = {0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0};
    static const unsigned char str[] = {0xa3, 'a', 'b', 'c'};
    unsigned char str32[2 + 32];
    char s32[33];
    json_t *v;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        v = json_integer(ints[i].v);
        expect_bytes(CODEC_MSGPACK, v, ints[i].bytes, ints[i].len);
        json_decref(v);
    }
    v = json_real(1.5);
    expect_bytes(CODEC_MSGPACK, v, real, sizeof real);
    expect_bytes(CODEC_JSON, v, "1.5", 3);
    json_decref(v);
    v = json_string("abc");
    expect_bytes(CODEC_MSGPACK, v, str, sizeof str);
    json_decref(v);
    memset(s32, 'z', 32);
    s32[32] = '\0';
    str32[0] = 0xd9;
    str32[1] = 32;
    memset(str32 + 2, 'z', 32);
    v = json_string(s32);
    expect_bytes(CODEC_MSGPACK, v, str32, sizeof str32);
    json_decref(v);
}

/* The first `headroom` bytes are left for the transport; len excludes them. */
static void test_encode_headroom(void **state)
{
    json_t *v = json_pack("{s:i}", "a", 1);
    size_t len = 0;
    unsigned char *buf;

    (void)state;
    buf = codec_encode(CODEC_JSON, v, 16, &len);
    assert_int_equal(len, 7);
    assert_memory_equal(buf + 16, "{\"a\":1}", 7);
    free(buf);
    buf = codec_encode(CODEC_MSGPACK, v, 1000, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(buf + 1000, "\x81\xa1"
                                    "a\x01",
                        4);
    free(buf);
    json_decref(v);
}

static void test_decode_msgpack_types(void **state)
{
    static const unsigned char f32[] = {0xca, 0x3f, 0xc0, 0x00, 0x00};
    static const unsigned char i64max[] = {0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const unsigned char i64min[] = {0xd3, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    static const unsigned char pos_int8[] = {0xd0, 0x05}; /* int8 holding 5 */
    static const unsigned char str8[] = {0xd9, 0x02, 'h', 'i'};
    json_t *v;

    (void)state;
    v = decode_ok(CODEC_MSGPACK, f32, sizeof f32);
    assert_true(json_is_real(v));
    assert_true(json_real_value(v) == 1.5);
    json_decref(v);
    v = decode_ok(CODEC_MSGPACK, i64max, sizeof i64max);
    assert_true(json_integer_value(v) == INT64_MAX);
    json_decref(v);
    v = decode_ok(CODEC_MSGPACK, i64min, sizeof i64min);
    assert_true(json_integer_value(v) == INT64_MIN);
    json_decref(v);
    v = decode_ok(CODEC_MSGPACK, pos_int8, sizeof pos_int8);
    assert_int_equal(json_integer_value(v), 5);
    json_decref(v);
    v = decode_ok(CODEC_MSGPACK, str8, sizeof str8);
    assert_string_equal(json_string_value(v), "hi");
    json_decref(v);
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Hostile size headers: 5 bytes declaring billions of elements must be refused
 * by the bounds walk (before msgpack-c could preallocate them), quickly. */
static void test_msgpack_hostile_headers(void **state)
{
    static const struct {
        const char *bytes;
        size_t len;
        const char *why;
    } cases[] = {
        {"\xdd\xff\xff\xff\xff", 5, "exceeds"},               /* array32 4G items */
        {"\xdf\xff\xff\xff\xff", 5, "exceeds"},               /* map32 4G pairs */
        {"\xdc\xff\xff", 3, "exceeds"},                       /* array16 65535 items */
        {"\xde\xff\xff", 3, "exceeds"},                       /* map16 */
        {"\x91\xdd\x7f\xff\xff\xff\x01", 7, "exceeds"},       /* nested array32 */
        {"\x81\xa1k\xdf\x10\x00\x00\x00\x01\x01", 10, "exceeds"}, /* map32 as a value */
        {"\xdd\x00\x00\x00\x03\x01\x02", 7, "exceeds"},       /* one short */
        {"\x83\xa1"
         "a\x01\xa1"
         "b\x02",
         7, "truncated"}, /* fixmap of 3 with 2 pairs */
        {"\xdb\xff\xff\xff\xff", 5, "truncated"},             /* str32 4 GB */
        {"\xdb\xff\xff\xff", 4, "truncated"},                 /* truncated length */
        {"\xdd\xff", 2, "truncated"},
        {"\xc6\xff\xff\xff\xff", 5, "bin"},                   /* bin32 4 GB */
        {"\xc9\xff\xff\xff\xff\x01", 6, "ext"},               /* ext32 4 GB */
    };
    size_t i;
    double t0;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        t0 = now_ms();
        decode_bad(CODEC_MSGPACK, cases[i].bytes, cases[i].len, DEPTH, cases[i].why);
        /* a figure, not an assert: that the declared lengths are never
         * allocated up front is what ASan's allocation limits show */
        print_message("hostile case %zu: %.1f ms\n", i, now_ms() - t0);
    }
}

static void test_depth_limits(void **state)
{
    unsigned char mp[64];
    char js[200000];
    json_t *v;
    size_t n;

    (void)state;
    /* msgpack: 32 nested fixarrays is the cap; 33 fails. */
    memset(mp, 0x91, 31);
    mp[31] = 0x90;
    v = decode_ok(CODEC_MSGPACK, mp, 32);
    json_decref(v);
    memset(mp, 0x91, 32);
    mp[32] = 0x90;
    decode_bad(CODEC_MSGPACK, mp, 33, DEPTH, "nesting");
    /* A caller's smaller limit holds: {"a":{"b":{}}} is depth 3. */
    decode_bad(CODEC_MSGPACK, "\x81\xa1"
                              "a\x81\xa1"
                              "b\x80",
               7, 2, "nesting");
    v = NULL;
    assert_int_equal(codec_decode(CODEC_MSGPACK, "\x81\xa1"
                                                 "a\x81\xa1"
                                                 "b\x80",
                                  7, 3, &v, NULL, 0),
                     DROP_OK);
    json_decref(v);
    decode_bad(CODEC_JSON, "{\"a\":{\"b\":{}}}", 14, 2, "nesting");
    decode_bad(CODEC_JSON, "[[[1]]]", 7, 2, "nesting");
    v = NULL;
    assert_int_equal(codec_decode(CODEC_JSON, "[[[1]]]", 7, 3, &v, NULL, 0), DROP_OK);
    json_decref(v);
    /* Scalars have depth 0. */
    v = NULL;
    assert_int_equal(codec_decode(CODEC_JSON, "1", 1, 0, &v, NULL, 0), DROP_OK);
    json_decref(v);
    /* JSON depth bombs: just over the cap, over jansson's own cap, huge. */
    memset(js, '[', 33);
    memset(js + 33, ']', 33);
    decode_bad(CODEC_JSON, js, 66, DEPTH, "nesting");
    memset(js, '[', 32);
    memset(js + 32, ']', 32);
    v = decode_ok(CODEC_JSON, js, 64);
    json_decref(v);
    n = sizeof js;
    memset(js, '[', n);
    decode_bad(CODEC_JSON, js, n, DEPTH, NULL);
    memset(js, '[', 3000);
    memset(js + 3000, ']', 3000);
    decode_bad(CODEC_JSON, js, 6000, DEPTH, NULL);
    /* A max_depth above the cap is the cap. */
    memset(mp, 0x91, 32);
    mp[32] = 0x90;
    decode_bad(CODEC_MSGPACK, mp, 33, 1000, "nesting");
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    BAD_MP("\xa2\xc3\x28", "UTF-8");                     /* bad continuation */
    BAD_MP("\xa2\xc0\x80", "UTF-8");                     /* overlong NUL */
    BAD_MP("\xa3\xed\xa0\x80", "UTF-8");                 /* UTF-16 surrogate */
    BAD_MP("\xa1\xff", "UTF-8");
    BAD_MP("\xa2\xe2\x98", "UTF-8");                     /* truncated sequence */
    BAD_MP("\x81\xa2\xc3\x28\x01", "UTF-8");             /* in a key */
    BAD_MP("\x91\xa1\x80", "UTF-8");                     /* inside an array */
    BAD_JS("\"\xc3\x28\"", NULL);
    BAD_JS("{\"\xff\":1}", NULL);
    BAD_JS("[\"\xed\xa0\x80\"]", NULL);
    /* NUL is refused in both so the two codecs accept the same strings. */
    BAD_MP("\xa1\x00", "NUL");
    BAD_MP("\x81\xa2\x61\x00\x01", "NUL");
    BAD_JS("\"a\\u0000\"", NULL);
}

static void test_trailing_and_truncated(void **state)
{
    json_t *v;

    (void)state;
    BAD_MP("\xc0\xc0", "trailing");
    BAD_MP("\x80\x00", "trailing");
    BAD_MP("\x92\x01", "exceeds");
    BAD_MP("\x92\x01\xa1", "truncated");
    BAD_MP("\xcb\x00\x00", "truncated");
    BAD_MP("\xa5"
           "abc",
           "truncated");
    BAD_JS("{} x", NULL);
    BAD_JS("{}{}", NULL);
    BAD_JS("{\"a\":1", NULL);
    BAD_JS("", NULL);
    BAD_MP("", "empty");
    decode_bad(CODEC_JSON, NULL, 0, DEPTH, "empty");
    /* Whitespace after a JSON value is not garbage. */
    v = decode_ok(CODEC_JSON, "{} \n\t", 5);
    json_decref(v);
}

static void test_bin_ext_and_reserved(void **state)
{
    (void)state;
    BAD_MP("\xc4\x01\x00", "bin");
    BAD_MP("\xc5\x00\x01\x00", "bin");
    BAD_MP("\x81\xa1k\xc4\x00", "bin");
    BAD_MP("\xd4\x01\x00", "ext");
    BAD_MP("\xd6\xff\x00\x00\x00\x00", "ext"); /* timestamp32 */
    BAD_MP("\xc7\x01\x01\x00", "ext");
    BAD_MP("\xc1", "0xc1");
}

static void test_keys_and_numbers(void **state)
{
    (void)state;
    /* Map keys must be strings. */
    BAD_MP("\x81\x01\x01", "key");
    BAD_MP("\x81\xc0\x01", "key");
    BAD_MP("\x81\x90\x01", "key");
    /* Duplicate keys. */
    BAD_MP("\x82\xa1"
           "a\x01\xa1"
           "a\x02",
           "duplicate");
    BAD_JS("{\"a\":1,\"a\":2}", NULL);
    BAD_JS("{\"x\":{\"a\":1,\"b\":2,\"a\":3}}", NULL);
    /* Non-finite reals. */
    BAD_MP("\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00", "finite"); /* NaN */
    BAD_MP("\xcb\xff\xf0\x00\x00\x00\x00\x00\x00", "finite"); /* -inf */
    BAD_MP("\xca\x7f\x80\x00\x00", "finite");                 /* float32 inf */
    BAD_MP("\xca\x7f\xc0\x00\x00", "finite");                 /* float32 NaN */
    BAD_JS("NaN", NULL);
    BAD_JS("[Infinity]", NULL);
    BAD_JS("1e400", NULL);
    /* Integers beyond int64. */
    BAD_MP("\xcf\x80\x00\x00\x00\x00\x00\x00\x00", "range");
    BAD_MP("\xcf\xff\xff\xff\xff\xff\xff\xff\xff", "range");
    BAD_JS("9223372036854775808", NULL);
    BAD_JS("-9223372036854775809", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_all_types),
        cmocka_unit_test(test_roundtrip_scalars_top_level),
        cmocka_unit_test(test_roundtrip_large),
        cmocka_unit_test(test_cross_codec),
        cmocka_unit_test(test_encode_known_bytes),
        cmocka_unit_test(test_encode_msgpack_forms),
        cmocka_unit_test(test_encode_headroom),
        cmocka_unit_test(test_decode_msgpack_types),
        cmocka_unit_test(test_msgpack_hostile_headers),
        cmocka_unit_test(test_depth_limits),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_trailing_and_truncated),
        cmocka_unit_test(test_bin_ext_and_reserved),
        cmocka_unit_test(test_keys_and_numbers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
