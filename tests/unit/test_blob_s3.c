/* test_blob_s3.c - the S3 SigV4 presigner against AWS's published example
 * (presigned GET of test.txt in examplebucket, "Authenticating Requests:
 * Using Query Parameters"), the URL layouts of the configured signer, and its
 * refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "adapters/blob_s3.h"

#define AK "AKIAIOSFODNN7EXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define T_20130524 1369353600000LL /* 2013-05-24T00:00:00Z in ms */

static void test_aws_example(void **state)
{
    char url[BLOB_S3_URL_MAX];
    (void)state;
    struct blob_s3_presign p = {
        .method = "GET",
        .scheme = "https",
        .host = "examplebucket.s3.amazonaws.com",
        .path = "/test.txt",
        .region = "us-east-1",
        .access_key = AK,
        .secret_key = SK,
        .now_ms = T_20130524 + 999, /* the signing time is whole seconds */
        .expires_s = 86400,
    };
    assert_int_equal(blob_s3_presign(&p, url, sizeof url), DROP_OK);
    assert_string_equal(
        url, "https://examplebucket.s3.amazonaws.com/test.txt"
             "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
             "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
             "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
             "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");

    /* any change to a signed part changes the signature */
    p.method = "PUT";
    assert_int_equal(blob_s3_presign(&p, url, sizeof url), DROP_OK);
    assert_null(strstr(url, "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"));
    p.method = "GET";
    p.content_type = "image/jpeg";
    assert_int_equal(blob_s3_presign(&p, url, sizeof url), DROP_OK);
    assert_non_null(strstr(url, "&X-Amz-SignedHeaders=content-type%3Bhost&"));
    assert_null(strstr(url, "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"));
}

static void test_refusals(void **state)
{
    char url[BLOB_S3_URL_MAX], small[64];
    (void)state;
    struct blob_s3_presign p = {
        .method = "PUT", .scheme = "https", .host = "b.s3.amazonaws.com", .path = "/k",
        .region = "us-east-1", .access_key = AK, .secret_key = SK, .now_ms = T_20130524,
        .expires_s = 604801,
    };
    assert_int_equal(blob_s3_presign(&p, url, sizeof url), DROP_EBADREQ); /* over 7 days */
    p.expires_s = 0;
    assert_int_equal(blob_s3_presign(&p, url, sizeof url), DROP_EBADREQ);
    p.expires_s = 60;
    assert_int_equal(blob_s3_presign(&p, small, sizeof small), DROP_ETOOLARGE);
    assert_string_equal(small, "");
    p.path = "k"; /* not absolute */
    assert_int_equal(blob_s3_presign(&p, url, sizeof url), DROP_EBADREQ);
    p.path = "/k";
    p.content_type = "image/jpeg\r\nX-Evil: 1";
    assert_int_equal(blob_s3_presign(&p, url, sizeof url), DROP_EBADREQ);
}

static void test_virtual_hosted(void **state)
{
    struct blob_s3 *b;
    char why[200], url[BLOB_S3_URL_MAX];
    int64_t exp = 0;
    (void)state;
    assert_int_equal(blob_s3_new("examplebucket", "eu-west-1", "", AK, SK, 15 * 60 * 1000, &b,
                                 why, sizeof why),
                     DROP_OK);
    assert_int_equal(blob_s3_sign_put(b, "profileImage/0123456789abcdef01234567/89abcdef0123456789abcdef",
                                      "image/jpeg", T_20130524 + 500, url, sizeof url, &exp),
                     DROP_OK);
    assert_true(strncmp(url,
                        "https://examplebucket.s3.eu-west-1.amazonaws.com/profileImage/"
                        "0123456789abcdef01234567/89abcdef0123456789abcdef?",
                        strlen("https://examplebucket.s3.eu-west-1.amazonaws.com/profileImage/"
                               "0123456789abcdef01234567/89abcdef0123456789abcdef?")) == 0);
    assert_non_null(strstr(url, "X-Amz-Credential=" AK "%2F20130524%2Feu-west-1%2Fs3%2Faws4_request"));
    assert_non_null(strstr(url, "&X-Amz-Expires=900&"));
    assert_non_null(strstr(url, "&X-Amz-SignedHeaders=content-type%3Bhost&"));
    assert_non_null(strstr(url, "&X-Amz-Signature="));
    assert_null(strstr(url, SK)); /* the secret never shows */
    assert_true(exp == T_20130524 + 900 * 1000);

    /* bad keys and content types */
    assert_int_equal(blob_s3_sign_put(b, "", NULL, T_20130524, url, sizeof url, &exp), DROP_EBADREQ);
    assert_int_equal(blob_s3_sign_put(b, "/abs", NULL, T_20130524, url, sizeof url, &exp),
                     DROP_EBADREQ);
    char big[600];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(blob_s3_sign_put(b, big, NULL, T_20130524, url, sizeof url, &exp), DROP_EBADREQ);
    blob_s3_free(b);
}

static void test_path_style_endpoint(void **state)
{
    struct blob_s3 *b;
    char why[200], url[BLOB_S3_URL_MAX];
    int64_t exp;
    (void)state;
    assert_int_equal(blob_s3_new("media", "us-east-1", "http://127.0.0.1:9000/", AK, SK, 60000, &b,
                                 why, sizeof why),
                     DROP_OK);
    assert_int_equal(blob_s3_sign_put(b, "gig/0123456789abcdef01234567/x y", NULL, T_20130524, url,
                                      sizeof url, &exp),
                     DROP_OK);
    assert_true(strncmp(url, "http://127.0.0.1:9000/media/gig/0123456789abcdef01234567/x%20y?",
                        strlen("http://127.0.0.1:9000/media/gig/0123456789abcdef01234567/x%20y?")) ==
                0);
    assert_non_null(strstr(url, "&X-Amz-SignedHeaders=host&"));
    blob_s3_free(b);
}

static void test_bad_settings(void **state)
{
    struct blob_s3 *b = (struct blob_s3 *)1;
    char why[200];
    (void)state;
    assert_int_equal(blob_s3_new("Bad_Bucket", "us-east-1", "", AK, SK, 60000, &b, why, sizeof why),
                     DROP_EBADREQ);
    assert_null(b);
    assert_non_null(strstr(why, "s3_bucket"));
    assert_int_equal(blob_s3_new("ok-bucket", "US EAST", "", AK, SK, 60000, &b, why, sizeof why),
                     DROP_EBADREQ);
    assert_non_null(strstr(why, "s3_region"));
    assert_int_equal(blob_s3_new("ok-bucket", "us-east-1", "", AK, "", 60000, &b, why, sizeof why),
                     DROP_EBADREQ);
    assert_non_null(strstr(why, "s3_secret_key"));
    assert_int_equal(blob_s3_new("ok-bucket", "us-east-1", "ftp://x", AK, SK, 60000, &b, why,
                                 sizeof why),
                     DROP_EBADREQ);
    assert_non_null(strstr(why, "s3_endpoint"));
    assert_int_equal(blob_s3_new("ok-bucket", "us-east-1", "http://h:1/base", AK, SK, 60000, &b,
                                 why, sizeof why),
                     DROP_EBADREQ);
    assert_int_equal(blob_s3_new("ok-bucket", "us-east-1", "http://user@h:1", AK, SK, 60000, &b,
                                 why, sizeof why),
                     DROP_EBADREQ);
    assert_int_equal(blob_s3_new("ok-bucket", "us-east-1", "", AK, SK, 8 * 86400000LL, &b, why,
                                 sizeof why),
                     DROP_EBADREQ);
    assert_non_null(strstr(why, "s3_url_ttl"));
    assert_null(strstr(why, SK));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_example),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_virtual_hosted),
        cmocka_unit_test(test_path_style_endpoint),
        cmocka_unit_test(test_bad_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
