/* test_envelope.c - protocol/envelope: which request shapes are accepted
 * (and what the parse yields), which are refused, and the exact wire form of
 * replies, error replies and events in both encodings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/codec.h"
#include "protocol/envelope.h"

static json_t *parse_json(const char *text)
{
    json_t *v = NULL;
    char why[200];

    if (codec_decode(CODEC_JSON, text, strlen(text), CODEC_MAX_DEPTH, &v, why, sizeof why))
        fail_msg("test input does not decode: %s: %s", text, why);
    return v;
}

/* Parses text as an envelope and expects acceptance; returns the root. */
static json_t *accept(const char *text, struct envelope *env)
{
    json_t *root = parse_json(text);
    char why[200] = "";

    memset(env, 0, sizeof *env);
    if (envelope_parse(root, env, why, sizeof why) != DROP_OK)
        fail_msg("refused %s: %s", text, why);
    assert_non_null(env->op);
    assert_true(json_is_object(env->data));
    return root;
}

static void reject(const char *text, const char *expect)
{
    json_t *root = parse_json(text);
    struct envelope env = {"untouched", NULL, NULL};
    char why[200] = "";

    if (envelope_parse(root, &env, why, sizeof why) != DROP_EBADREQ)
        fail_msg("accepted %s", text);
    assert_string_equal(env.op, "untouched");
    if (!strstr(why, expect)) fail_msg("%s: reason \"%s\" lacks \"%s\"", text, why, expect);
    json_decref(root);
}

static void test_parse_full(void **state)
{
    struct envelope env;
    json_t *root =
        accept("{\"op\":\"gig.create\",\"id\":7,\"data\":{\"latitude\":1.5},\"extra\":[1]}", &env);

    (void)state;
    assert_string_equal(env.op, "gig.create");
    assert_true(json_is_integer(env.id));
    assert_int_equal(json_integer_value(env.id), 7);
    assert_true(json_real_value(json_object_get(env.data, "latitude")) == 1.5);
    /* Borrowed from the root, not copies. */
    assert_ptr_equal(env.data, json_object_get(root, "data"));
    json_decref(root);
}

static void test_parse_optional_parts(void **state)
{
    struct envelope env;
    json_t *root;
    char id128[129 + 20], op64[65 + 40];

    (void)state;
    /* No id, no data: fire-and-forget, data becomes {} and lives in root. */
    root = accept("{\"op\":\"presence.update\"}", &env);
    assert_null(env.id);
    assert_int_equal(json_object_size(env.data), 0);
    assert_ptr_equal(env.data, json_object_get(root, "data"));
    json_decref(root);
    /* data null is {} too. */
    root = accept("{\"data\":null,\"op\":\"sys.ping\",\"id\":\"a-1\"}", &env);
    assert_int_equal(json_object_size(env.data), 0);
    assert_string_equal(json_string_value(env.id), "a-1");
    json_decref(root);
    /* Limits are inclusive: 64-byte op, 128-byte string id, int64 id. */
    snprintf(op64, sizeof op64, "{\"op\":\"%064d\"}", 0);
    root = accept(op64, &env);
    assert_int_equal(strlen(env.op), 64);
    json_decref(root);
    snprintf(id128, sizeof id128, "{\"op\":\"x\",\"id\":\"%0128d\"}", 0);
    root = accept(id128, &env);
    assert_int_equal(json_string_length(env.id), 128);
    json_decref(root);
    root = accept("{\"op\":\"x\",\"id\":-9223372036854775808}", &env);
    assert_true(json_integer_value(env.id) == INT64_MIN);
    json_decref(root);
}

static void test_parse_rejects(void **state)
{
    char buf[300];

    (void)state;
    reject("[]", "not an object");
    reject("\"sys.ping\"", "not an object");
    reject("null", "not an object");
    reject("{}", "\"op\"");
    reject("{\"id\":1,\"data\":{}}", "\"op\"");
    reject("{\"op\":7}", "\"op\"");
    reject("{\"op\":null}", "\"op\"");
    reject("{\"op\":[\"sys.ping\"]}", "\"op\"");
    reject("{\"op\":\"\"}", "\"op\"");
    snprintf(buf, sizeof buf, "{\"op\":\"%065d\"}", 0);
    reject(buf, "\"op\"");
    reject("{\"op\":\"x\",\"id\":1.5}", "\"id\"");
    reject("{\"op\":\"x\",\"id\":null}", "\"id\"");
    reject("{\"op\":\"x\",\"id\":true}", "\"id\"");
    reject("{\"op\":\"x\",\"id\":{}}", "\"id\"");
    reject("{\"op\":\"x\",\"id\":[1]}", "\"id\"");
    snprintf(buf, sizeof buf, "{\"op\":\"x\",\"id\":\"%0129d\"}", 0);
    reject(buf, "\"id\"");
    reject("{\"op\":\"x\",\"data\":[]}", "\"data\"");
    reject("{\"op\":\"x\",\"data\":\"{}\"}", "\"data\"");
    reject("{\"op\":\"x\",\"data\":0}", "\"data\"");
    reject("{\"op\":\"x\",\"data\":false}", "\"data\"");
}

/* A MessagePack request parses the same way. */
static void test_parse_msgpack(void **state)
{
    static const unsigned char req[] = {0x82, 0xa2, 'o', 'p', 0xa8, 's', 'y', 's', '.',
                                        'p',  'i',  'n', 'g', 0xa2, 'i', 'd', 0x2a};
    struct envelope env;
    json_t *root = NULL;

    (void)state;
    assert_int_equal(codec_decode(CODEC_MSGPACK, req, sizeof req, 8, &root, NULL, 0), DROP_OK);
    assert_int_equal(envelope_parse(root, &env, NULL, 0), DROP_OK);
    assert_string_equal(env.op, "sys.ping");
    assert_int_equal(json_integer_value(env.id), 42);
    json_decref(root);
}

static void expect_text(json_t *v, const char *want)
{
    size_t len = 0;
    unsigned char *buf = codec_encode(CODEC_JSON, v, 0, &len);

    assert_non_null(buf);
    if (len != strlen(want) || memcmp(buf, want, len) != 0)
        fail_msg("got %.*s\nwant %s", (int)len, buf, want);
    free(buf);
    json_decref(v);
}

static void test_builders_json(void **state)
{
    json_t *id = json_integer(7), *sid = json_string("r-1");

    (void)state;
    expect_text(envelope_reply(id, json_pack("{s:i}", "time", 1)),
                "{\"re\":7,\"ok\":true,\"data\":{\"time\":1}}");
    expect_text(envelope_reply(sid, NULL), "{\"re\":\"r-1\",\"ok\":true,\"data\":{}}");
    expect_text(envelope_error(id, DROP_ECONFLICT, "gig already taken"),
                "{\"re\":7,\"ok\":false,\"error\":{\"code\":\"conflict\","
                "\"message\":\"gig already taken\"}}");
    expect_text(envelope_error(NULL, DROP_EBADREQ, "unknown op"),
                "{\"re\":null,\"ok\":false,\"error\":{\"code\":\"bad_request\","
                "\"message\":\"unknown op\"}}");
    expect_text(envelope_error(sid, DROP_ERATING, NULL),
                "{\"re\":\"r-1\",\"ok\":false,\"error\":{\"code\":\"rating_required\","
                "\"message\":\"rating_required\"}}");
    expect_text(envelope_event("gig.offer_revoked", json_pack("{s:s}", "reason", "taken")),
                "{\"ev\":\"gig.offer_revoked\",\"data\":{\"reason\":\"taken\"}}");
    expect_text(envelope_event("session.state", NULL),
                "{\"ev\":\"session.state\",\"data\":{}}");
    /* The replies took their own references to the ids. */
    assert_int_equal(id->refcount, 1);
    assert_int_equal(sid->refcount, 1);
    json_decref(id);
    json_decref(sid);
}

static void test_builders_msgpack(void **state)
{
    static const unsigned char want[] = {
        0x83, 0xa2, 'r', 'e', 0xc0, 0xa2, 'o', 'k', 0xc2, 0xa5, 'e', 'r', 'r', 'o', 'r',
        0x82, 0xa4, 'c', 'o', 'd', 'e', 0xa8, 'i', 'n', 't', 'e', 'r', 'n', 'a', 'l',
        0xa7, 'm', 'e', 's', 's', 'a', 'g', 'e', 0xa1, 'x'};
    static const unsigned char ev[] = {0x82, 0xa2, 'e', 'v', 0xa1, 'e',
                                       0xa4, 'd', 'a', 't', 'a', 0x80};
    json_t *v = envelope_error(NULL, DROP_EINTERNAL, "x");
    size_t len = 0;
    unsigned char *buf = codec_encode(CODEC_MSGPACK, v, 0, &len);

    (void)state;
    assert_int_equal(len, sizeof want);
    assert_memory_equal(buf, want, len);
    free(buf);
    json_decref(v);
    v = envelope_event("e", NULL);
    buf = codec_encode(CODEC_MSGPACK, v, 0, &len);
    assert_int_equal(len, sizeof ev);
    assert_memory_equal(buf, ev, len);
    free(buf);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_full),       cmocka_unit_test(test_parse_optional_parts),
        cmocka_unit_test(test_parse_rejects),    cmocka_unit_test(test_parse_msgpack),
        cmocka_unit_test(test_builders_json),    cmocka_unit_test(test_builders_msgpack),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
