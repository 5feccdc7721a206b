/* test_video.c - the video providers' pure parts: the OpenTok T1 token
 * against one made by the official SDK (npm opentok 2.23.2, generateToken
 * with fixed inputs; tools/opentok-ref re-checks this in the integration
 * suite), the X-OPENTOK-AUTH and Vonage JWTs decoded and verified by libjwt
 * with the secret / the public key, the session-create answer, the config
 * words of `video`, and the provider's refusals at start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <uv.h>

#include "adapters/config.h"
#include "adapters/video.h"
#include "adapters/video_internal.h"

#define KEY "123456"
#define SECRET "0123456789abcdef0123456789abcdef01234567"
#define SESSION "1_MX4xMjM0NTZ-fjE3MDAwMDAwMDAwMDB-YWJjflB-fg"

/* node -e 'new (require("opentok"))(KEY, SECRET).generateToken(SESSION,
 *   {role: "subscriber", expireTime: 1900090000, create_time: 1900000000,
 *    nonce: "123456", data: "{\"accountId\":\"x\",\"role\":\"subscriber\"}"}, true)' */
static const char sdk_token[] =
    "T1==cGFydG5lcl9pZD0xMjM0NTYmc2lnPWY1OTE2YmE0NTVhZGRiMWI0OGI5NDJlYzdiYzcxMTBlYzcwZjVjNzU6c2Vz"
    "c2lvbl9pZD0xX01YNHhNak0wTlRaLWZqRTNNREF3TURBd01EQXdNREItWVdKamZsQi1mZyZjcmVhdGVfdGltZT0xOTAw"
    "MDAwMDAwJm5vbmNlPTEyMzQ1NiZyb2xlPXN1YnNjcmliZXImZXhwaXJlX3RpbWU9MTkwMDA5MDAwMCZjb25uZWN0aW9u"
    "X2RhdGE9JTdCJTIyYWNjb3VudElkJTIyJTNBJTIyeCUyMiUyQyUyMnJvbGUlMjIlM0ElMjJzdWJzY3JpYmVyJTIyJTdE"
    "JmluaXRpYWxfbGF5b3V0X2NsYXNzX2xpc3Q9JnNjb3BlPXNlc3Npb24uY29ubmVjdA==";

static void test_t1_matches_sdk(void **state)
{
    char out[2048], data[128];
    (void)state;
    video_connection_data("x", "subscriber", data, sizeof data);
    assert_string_equal(data, "{\"accountId\":\"x\",\"role\":\"subscriber\"}");
    assert_int_equal(video_opentok_token(KEY, SECRET, SESSION, 1900000000, "123456", "subscriber",
                                         1900090000, data, out, sizeof out),
                     DROP_OK);
    assert_string_equal(out, sdk_token);
}

static void test_t1_small_buffer(void **state)
{
    char out[64];
    (void)state;
    assert_int_equal(video_opentok_token(KEY, SECRET, SESSION, 1, "1", "publisher", 2, "{}", out,
                                         sizeof out),
                     DROP_EINTERNAL);
}

static void test_opentok_auth_jwt(void **state)
{
    jwt_t *jwt = NULL;
    (void)state;
    char *tok = video_opentok_auth(KEY, SECRET, 1900000000, "abc-jti");
    assert_non_null(tok);
    assert_int_equal(jwt_decode(&jwt, tok, (const unsigned char *)SECRET, (int)strlen(SECRET)), 0);
    assert_int_equal(jwt_get_alg(jwt), JWT_ALG_HS256);
    assert_string_equal(jwt_get_grant(jwt, "iss"), KEY);
    assert_string_equal(jwt_get_grant(jwt, "ist"), "project");
    assert_string_equal(jwt_get_grant(jwt, "jti"), "abc-jti");
    assert_int_equal(jwt_get_grant_int(jwt, "iat"), 1900000000);
    assert_int_equal(jwt_get_grant_int(jwt, "exp"), 1900000000 + 300);
    jwt_free(jwt);
    jwt = NULL;
    /* another secret does not verify it */
    assert_int_not_equal(jwt_decode(&jwt, tok, (const unsigned char *)"wrong", 5), 0);
    jwt_free(jwt);
    free(tok);
}

/* A fresh RSA key pair as PEM texts (heap). */
static void rsa_pair(char **priv, char **pub)
{
    EVP_PKEY *pk = EVP_RSA_gen(2048);
    BIO *b1 = BIO_new(BIO_s_mem()), *b2 = BIO_new(BIO_s_mem());
    char *p;
    long n;
    assert_non_null(pk);
    assert_int_equal(PEM_write_bio_PrivateKey(b1, pk, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(PEM_write_bio_PUBKEY(b2, pk), 1);
    n = BIO_get_mem_data(b1, &p);
    *priv = strndup(p, (size_t)n);
    n = BIO_get_mem_data(b2, &p);
    *pub = strndup(p, (size_t)n);
    BIO_free(b1);
    BIO_free(b2);
    EVP_PKEY_free(pk);
}

static void test_vonage_tokens(void **state)
{
    char *priv, *pub, out[4096], *acl;
    jwt_t *jwt = NULL;
    (void)state;
    rsa_pair(&priv, &pub);
    assert_int_equal(video_vonage_token("app-1", priv, strlen(priv), "2_SESSION", "publisher",
                                        "{\"accountId\":\"a\",\"role\":\"publisher\"}", 1900000000,
                                        1900005400, "jti-1", out, sizeof out),
                     DROP_OK);
    assert_int_equal(jwt_decode(&jwt, out, (const unsigned char *)pub, (int)strlen(pub)), 0);
    assert_int_equal(jwt_get_alg(jwt), JWT_ALG_RS256);
    assert_string_equal(jwt_get_grant(jwt, "application_id"), "app-1");
    assert_string_equal(jwt_get_grant(jwt, "scope"), "session.connect");
    assert_string_equal(jwt_get_grant(jwt, "session_id"), "2_SESSION");
    assert_string_equal(jwt_get_grant(jwt, "role"), "publisher");
    assert_string_equal(jwt_get_grant(jwt, "initial_layout_class_list"), "");
    assert_string_equal(jwt_get_grant(jwt, "connection_data"),
                        "{\"accountId\":\"a\",\"role\":\"publisher\"}");
    assert_string_equal(jwt_get_grant(jwt, "sub"), "video");
    assert_string_equal(jwt_get_grant(jwt, "jti"), "jti-1");
    assert_int_equal(jwt_get_grant_int(jwt, "iat"), 1900000000);
    assert_int_equal(jwt_get_grant_int(jwt, "exp"), 1900005400);
    acl = jwt_get_grants_json(jwt, "acl");
    assert_non_null(acl);
    assert_string_equal(acl, "{\"paths\":{\"/session/**\":{}}}");
    free(acl);
    jwt_free(jwt);

    char *auth = video_vonage_auth("app-1", priv, strlen(priv), 1900000000, "jti-2");
    jwt = NULL;
    assert_non_null(auth);
    assert_int_equal(jwt_decode(&jwt, auth, (const unsigned char *)pub, (int)strlen(pub)), 0);
    assert_string_equal(jwt_get_grant(jwt, "application_id"), "app-1");
    assert_int_equal(jwt_get_grant_int(jwt, "exp") - jwt_get_grant_int(jwt, "iat"), 300);
    assert_string_equal(jwt_get_grant(jwt, "jti"), "jti-2");
    jwt_free(jwt);
    free(auth);
    /* too small a buffer is refused, not truncated */
    assert_int_equal(video_vonage_token("app-1", priv, strlen(priv), "s", "publisher", "{}", 1, 2,
                                        "j", out, 100),
                     DROP_EINTERNAL);
    free(priv);
    free(pub);
}

static void test_parse_session(void **state)
{
    char out[128];
    const char *ok = "[{\"session_id\":\"1_MX4xMjM~\",\"project_id\":\"123456\"}]";
    (void)state;
    assert_int_equal(video_parse_session(ok, strlen(ok), out, sizeof out), DROP_OK);
    assert_string_equal(out, "1_MX4xMjM~");
    const char *bad[] = {"", "{}", "[]", "[{}]", "[{\"session_id\":\"\"}]",
                         "[{\"session_id\":7}]", "[{\"session_id\":\"a b\"}]",
                         "[{\"session_id\":\"a\\\"b\"}]", "<html>"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(video_parse_session(bad[i], strlen(bad[i]), out, sizeof out),
                         DROP_EUNAVAIL);
    char big[300];
    snprintf(big, sizeof big, "[{\"session_id\":\"%0200d\"}]", 1);
    assert_int_equal(video_parse_session(big, strlen(big), out, sizeof out), DROP_EUNAVAIL);
}

static void test_config_words(void **state)
{
    struct config c;
    char why[256];
    (void)state;
    config_init(&c);
    assert_string_equal(c.video, "dev");
    assert_string_equal(c.opentok_url, "https://api.opentok.com");
    assert_string_equal(c.vonage_url, "https://video.api.vonage.com");
    assert_string_equal(c.video_media_mode, "routed");
    assert_string_equal(c.video_archive, "off");
    assert_int_equal(c.video_timeout_ms, 5000);
    assert_int_equal(config_set(&c, "video", "opentok", why, sizeof why), DROP_OK);
    assert_int_equal(config_set(&c, "video", "vonage", why, sizeof why), DROP_OK);
    assert_int_equal(config_set(&c, "video", "bogus", why, sizeof why), DROP_EBADREQ);
    assert_non_null(strstr(why, "'video'"));
    assert_int_equal(config_set(&c, "video", "", why, sizeof why), DROP_EBADREQ);
    assert_int_equal(config_set(&c, "video", "dev|opentok", why, sizeof why), DROP_EBADREQ);
    assert_int_equal(config_set(&c, "video_media_mode", "relayed", why, sizeof why), DROP_OK);
    assert_int_equal(config_set(&c, "video_media_mode", "p2p", why, sizeof why), DROP_EBADREQ);
    assert_non_null(strstr(why, "video_media_mode"));
    assert_int_equal(config_set(&c, "video_archive", "always", why, sizeof why), DROP_OK);
    assert_int_equal(config_set(&c, "video_archive", "manual", why, sizeof why), DROP_EBADREQ);
    assert_int_equal(config_set(&c, "opentok_api_secret", "s3cret-value", why, sizeof why),
                     DROP_OK);
    /* the secret is masked in the dump */
    char *dump = NULL;
    size_t dl = 0;
    FILE *f = open_memstream(&dump, &dl);
    config_dump(&c, f);
    fclose(f);
    assert_null(strstr(dump, "s3cret-value"));
    assert_non_null(strstr(dump, "opentok_api_secret \"********\""));
    free(dump);
    config_free(&c);
}

static void test_provider_refusals(void **state)
{
    uv_loop_t loop;
    struct video *v = NULL;
    char why[256];
    (void)state;
    uv_loop_init(&loop);
    struct video_config vc = {.provider = "opentok", .opentok_api_key = "",
                              .opentok_api_secret = "topsecret", .opentok_url = "http://x",
                              .vonage_application_id = "", .vonage_private_key = "",
                              .vonage_url = "http://x", .timeout_ms = 1000};
    assert_int_equal(video_new(&loop, &vc, &v, why, sizeof why), DROP_EBADREQ);
    assert_non_null(strstr(why, "opentok_api_key"));
    vc.opentok_api_key = "123456";
    vc.opentok_api_secret = "";
    assert_int_equal(video_new(&loop, &vc, &v, why, sizeof why), DROP_EBADREQ);
    assert_non_null(strstr(why, "opentok_api_secret"));
    vc.opentok_api_secret = "topsecret";
    vc.opentok_url = "ftp://x";
    assert_int_equal(video_new(&loop, &vc, &v, why, sizeof why), DROP_EBADREQ);
    assert_non_null(strstr(why, "opentok_url"));
    assert_null(strstr(why, "topsecret"));
    vc.opentok_url = "http://127.0.0.1:1/";
    vc.relayed = vc.archive_always = true;
    assert_int_equal(video_new(&loop, &vc, &v, why, sizeof why), DROP_EBADREQ);
    assert_non_null(strstr(why, "video_archive"));
    vc.relayed = false;
    assert_int_equal(video_new(&loop, &vc, &v, why, sizeof why), DROP_OK);
    video_close(v);
    vc.provider = "vonage";
    vc.vonage_application_id = "app-1";
    vc.vonage_private_key = "/nonexistent/key.pem";
    assert_int_equal(video_new(&loop, &vc, &v, why, sizeof why), DROP_EBADREQ);
    assert_non_null(strstr(why, "vonage_private_key"));
    vc.vonage_private_key = "/etc/hostname"; /* readable, not a key */
    assert_int_equal(video_new(&loop, &vc, &v, why, sizeof why), DROP_EBADREQ);
    assert_non_null(strstr(why, "vonage_private_key"));
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_t1_matches_sdk),
        cmocka_unit_test(test_t1_small_buffer),
        cmocka_unit_test(test_opentok_auth_jwt),
        cmocka_unit_test(test_vonage_tokens),
        cmocka_unit_test(test_parse_session),
        cmocka_unit_test(test_config_words),
        cmocka_unit_test(test_provider_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
