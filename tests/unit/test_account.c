/* test_account.c - account validation (register, update, login, list),
 * identity normalization, copy/free, and the JSON shape of the seed's "Get
 * profile" (protocol/account_json). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/account.h"
#include "engine/account_json.h"

static json_t *J(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &err);
    if (!j) fail_msg("bad test JSON: %s: %s", text, err.text);
    return j;
}

#define GOOD_REG                                                                     \
    "\"firstName\":\" Nguyen \",\"lastName\":\"Hoa\",\"type\":\"user\","             \
    "\"password\":\"s3cret-pass\""

/* Runs register validation; returns the code; checks why names `field`. */
static drop_err reg(const char *text, const char *field)
{
    json_t *j = J(text);
    struct account a;
    const char *pw;
    char why[256] = "";
    drop_err e = account_validate_register(j, &a, &pw, why, sizeof why);
    if (e != DROP_OK && field && !strstr(why, field))
        fail_msg("why \"%s\" does not name %s", why, field);
    account_free(&a);
    json_decref(j);
    return e;
}

static void test_register_ok(void **state)
{
    (void)state;
    json_t *j = J("{" GOOD_REG ",\"archive\":true,\"status\":\"archived\",\"operator\":null,"
                  "\"organization\":null,\"identities\":["
                  "{\"type\":\"email\",\"value\":\"  CodeHub.IO+29@Gmail.com \"},"
                  "{\"type\":\"phone\",\"value\":\"+84 (166) 220-3830\"}]}");
    struct account a;
    const char *pw;
    char why[256];
    assert_int_equal(account_validate_register(j, &a, &pw, why, sizeof why), DROP_OK);
    assert_string_equal(pw, "s3cret-pass");
    assert_string_equal(a.first_name, "Nguyen"); /* trimmed */
    assert_string_equal(a.last_name, "Hoa");
    assert_string_equal(a.type, "user");
    assert_string_equal(a.status, "active"); /* the client cannot choose */
    assert_false(a.archive);
    assert_null(a.organization);
    assert_null(a.picture);
    assert_int_equal(a.n_identities, 2);
    assert_string_equal(a.identities[0].type, "email");
    assert_string_equal(a.identities[0].value, "codehub.io+29@gmail.com");
    assert_string_equal(a.identities[0].status, "unverified");
    assert_string_equal(a.identities[1].type, "phone");
    assert_string_equal(a.identities[1].value, "841662203830"); /* E.164 digits */
    assert_int_equal(a.referral_rate, 5);
    assert_true(a.operator_rating == 5.0 && a.customer_rating == 5.0);
    account_free(&a);
    json_decref(j);
}

/* Wraps body in braces and checks its register outcome. */
static void R(const char *body, drop_err code, const char *field)
{
    size_t n = strlen(body) + 3;
    char *b = malloc(n);
    snprintf(b, n, "{%s}", body);
    drop_err e = reg(b, field);
    if (e != code) fail_msg("%s: got %d, want %d", b, e, code);
    free(b);
}

static void test_register_bad(void **state)
{
    (void)state;
    const char *ID1 = "\"identities\":[{\"type\":\"email\",\"value\":\"a@b.co\"}]";
    char buf[1024];
    snprintf(buf, sizeof buf, GOOD_REG ",%s", ID1);
    R(buf, DROP_OK, NULL);
    char b2[1024];
    snprintf(b2, sizeof b2, "\"lastName\":\"H\",\"type\":\"user\",\"password\":\"12345678\",%s", ID1);
    R(b2, DROP_EBADREQ, "firstName");
    snprintf(b2, sizeof b2, "\"firstName\":\"  \",\"lastName\":\"H\",\"type\":\"user\","
             "\"password\":\"12345678\",%s", ID1);
    R(b2, DROP_EBADREQ, "firstName");
    snprintf(b2, sizeof b2, "\"firstName\":7,\"lastName\":\"H\",\"type\":\"user\","
             "\"password\":\"12345678\",%s", ID1);
    R(b2, DROP_EBADREQ, "firstName");
    snprintf(b2, sizeof b2, "\"firstName\":\"N\",\"type\":\"user\",\"password\":\"12345678\",%s", ID1);
    R(b2, DROP_EBADREQ, "lastName");
    snprintf(b2, sizeof b2, "\"firstName\":\"N\",\"lastName\":\"H\",\"type\":\"admin\","
             "\"password\":\"12345678\",%s", ID1);
    R(b2, DROP_EBADREQ, "type");
    snprintf(b2, sizeof b2, "\"firstName\":\"N\",\"lastName\":\"H\",\"password\":\"12345678\",%s", ID1);
    R(b2, DROP_EBADREQ, "type");
    snprintf(b2, sizeof b2, "\"firstName\":\"N\",\"lastName\":\"H\",\"type\":\"operator\","
             "\"password\":\"1234567\",%s", ID1);
    R(b2, DROP_EBADREQ, "password");
    /* no password: the account signs in by code (issue 15) */
    snprintf(b2, sizeof b2, "\"firstName\":\"N\",\"lastName\":\"H\",\"type\":\"operator\",%s", ID1);
    R(b2, DROP_OK, NULL);
    snprintf(b2, sizeof b2, "\"firstName\":\"N\",\"lastName\":\"H\",\"type\":\"operator\","
             "\"password\":null,%s", ID1);
    R(b2, DROP_OK, NULL);
    snprintf(b2, sizeof b2, "\"firstName\":\"N\",\"lastName\":\"H\",\"type\":\"operator\","
             "\"password\":12345678,%s", ID1);
    R(b2, DROP_EBADREQ, "password");
    /* 8 characters of UTF-8 is 8, not 16 bytes */
    snprintf(b2, sizeof b2, "\"firstName\":\"N\",\"lastName\":\"H\",\"type\":\"operator\","
             "\"password\":\"ääääääää\",%s", ID1);
    R(b2, DROP_OK, NULL);
    R(GOOD_REG, DROP_EBADREQ, "identities");
    R(GOOD_REG ",\"identities\":[]", DROP_EBADREQ, "identities");
    R(GOOD_REG ",\"identities\":{}", DROP_EBADREQ, "identities");
    R(GOOD_REG ",\"identities\":[1]", DROP_EBADREQ, "identities[0]");
    R(GOOD_REG ",\"identities\":[{\"type\":\"fax\",\"value\":\"123456\"}]", DROP_EBADREQ,
      "identities[0].type");
    R(GOOD_REG ",\"identities\":[{\"type\":\"email\",\"value\":\"nobody\"}]", DROP_EBADREQ,
      "identities[0].value");
    R(GOOD_REG ",\"identities\":[{\"type\":\"email\",\"value\":\"a@b\"}]", DROP_EBADREQ,
      "identities[0].value");
    R(GOOD_REG ",\"identities\":[{\"type\":\"email\",\"value\":\"@b.co\"}]", DROP_EBADREQ,
      "identities[0].value");
    R(GOOD_REG ",\"identities\":[{\"type\":\"email\",\"value\":\"a@b.\"}]", DROP_EBADREQ,
      "identities[0].value");
    R(GOOD_REG ",\"identities\":[{\"type\":\"email\",\"value\":\"a b@c.de\"}]", DROP_EBADREQ,
      "identities[0].value");
    R(GOOD_REG ",\"identities\":[{\"type\":\"phone\",\"value\":\"12345\"}]", DROP_EBADREQ,
      "identities[0].value");
    R(GOOD_REG ",\"identities\":[{\"type\":\"phone\",\"value\":\"123456789012345678901\"}]",
      DROP_EBADREQ, "identities[0].value");
    R(GOOD_REG ",\"identities\":[{\"type\":\"phone\",\"value\":\"12345x7\"}]", DROP_EBADREQ,
      "identities[0].value");
    R(GOOD_REG ",\"identities\":[{\"type\":\"phone\",\"value\":\"1+2345678\"}]", DROP_EBADREQ,
      "identities[0].value");
    R(GOOD_REG ",\"identities\":[{\"type\":\"phone\",\"value\":\"a@b.co\"}]", DROP_EBADREQ,
      "identities[0].value");
    R(GOOD_REG ",\"identities\":[{\"type\":\"phone\",\"value\":\"123456\"}]", DROP_OK, NULL);
    R(GOOD_REG ",\"identities\":[{\"type\":\"email\",\"value\":\"A@B.co\"},"
               "{\"type\":\"email\",\"value\":\"a@b.CO\"}]", DROP_EBADREQ, "identities[1]");
    R(GOOD_REG ",\"identities\":[{\"type\":\"phone\",\"value\":\"123456\"},"
               "{\"type\":\"phone\",\"value\":\"123457\"},{\"type\":\"phone\",\"value\":\"123458\"},"
               "{\"type\":\"phone\",\"value\":\"123459\"},{\"type\":\"phone\",\"value\":\"123450\"}]",
      DROP_ETOOLARGE, "identities");
    R(GOOD_REG ",\"organization\":5,\"identities\":[{\"type\":\"phone\",\"value\":\"123456\"}]",
      DROP_EBADREQ, "organization");
    R(GOOD_REG ",\"picture\":[],\"identities\":[{\"type\":\"phone\",\"value\":\"123456\"}]",
      DROP_EBADREQ, "picture");
    /* a string with a NUL inside is refused, not silently cut */
    R("\"firstName\":\"N\\u0000x\",\"lastName\":\"H\",\"type\":\"user\",\"password\":\"12345678\","
      "\"identities\":[{\"type\":\"phone\",\"value\":\"123456\"}]", DROP_EBADREQ, "firstName");
    assert_int_equal(reg("[1,2]", "data"), DROP_EBADREQ);
}

static void test_register_bounds(void **state)
{
    (void)state;
    char name[300], body[4096], email[300];
    /* 100 characters of two-byte UTF-8 pass; 101 do not */
    name[0] = '\0';
    for (int i = 0; i < 100; i++) strcat(name, "é");
    snprintf(body, sizeof body, "{\"firstName\":\"%s\",\"lastName\":\"H\",\"type\":\"user\","
             "\"password\":\"12345678\",\"identities\":[{\"type\":\"phone\",\"value\":\"123456\"}]}",
             name);
    assert_int_equal(reg(body, NULL), DROP_OK);
    strcat(name, "é");
    snprintf(body, sizeof body, "{\"firstName\":\"%s\",\"lastName\":\"H\",\"type\":\"user\","
             "\"password\":\"12345678\",\"identities\":[{\"type\":\"phone\",\"value\":\"123456\"}]}",
             name);
    assert_int_equal(reg(body, "firstName"), DROP_ETOOLARGE);
    /* identity value: 254 bytes pass, 255 do not */
    memset(email, 'a', 250);
    strcpy(email + 250, "@b.c");
    assert_int_equal(strlen(email), 254);
    snprintf(body, sizeof body, "{" GOOD_REG ",\"identities\":[{\"type\":\"email\",\"value\":\"%s\"}]}",
             email);
    assert_int_equal(reg(body, NULL), DROP_OK);
    memset(email, 'a', 251);
    strcpy(email + 251, "@b.c");
    snprintf(body, sizeof body, "{" GOOD_REG ",\"identities\":[{\"type\":\"email\",\"value\":\"%s\"}]}",
             email);
    assert_int_equal(reg(body, "identities[0].value"), DROP_ETOOLARGE);
    /* password over 1024 bytes */
    char *big = malloc(1100 + 512);
    char *pw = malloc(1026);
    memset(pw, 'p', 1025);
    pw[1025] = '\0';
    snprintf(big, 1100 + 512, "{\"firstName\":\"N\",\"lastName\":\"H\",\"type\":\"user\","
             "\"password\":\"%s\",\"identities\":[{\"type\":\"phone\",\"value\":\"123456\"}]}", pw);
    assert_int_equal(reg(big, "password"), DROP_ETOOLARGE);
    free(big);
    free(pw);
}

static void test_normalize(void **state)
{
    (void)state;
    char out[ACCOUNT_IDENTITY_SIZE];
    const char *t;
    assert_int_equal(account_identity_normalize(" Foo@Example.COM\t", out, &t), DROP_OK);
    assert_string_equal(out, "foo@example.com");
    assert_string_equal(t, "email");
    assert_int_equal(account_identity_normalize("+1 555.123-4567", out, &t), DROP_OK);
    assert_string_equal(out, "15551234567");
    assert_string_equal(t, "phone");
    /* one identity however it is typed: the E.164 digits */
    assert_int_equal(account_identity_normalize("+84 166 220 3830", out, &t), DROP_OK);
    assert_string_equal(out, "841662203830");
    assert_int_equal(account_identity_normalize("0084 (166) 220-3830", out, &t), DROP_OK);
    assert_string_equal(out, "841662203830");
    assert_int_equal(account_identity_normalize("841662203830", out, &t), DROP_OK);
    assert_string_equal(out, "841662203830");
    assert_int_equal(account_identity_normalize("1234567890123456", out, &t), DROP_EBADREQ);
    assert_int_equal(account_identity_normalize("12+3456789", out, &t), DROP_EBADREQ);
    assert_int_equal(account_identity_normalize("", out, &t), DROP_EBADREQ);
    assert_int_equal(account_identity_normalize("   ", out, &t), DROP_EBADREQ);
    assert_int_equal(account_identity_normalize("a@@b.co", out, &t), DROP_EBADREQ);
    assert_int_equal(account_identity_normalize("a@.co", out, &t), DROP_EBADREQ);
    assert_int_equal(account_identity_normalize("++123456", out, &t), DROP_EBADREQ);
}

static void test_update(void **state)
{
    (void)state;
    struct account a;
    account_init(&a);
    a.first_name = strdup("Old");
    a.last_name = strdup("Name");
    a.organization = strdup("Org");
    char why[256];
    bool changed;

    json_t *j = J("{\"id\":\"x\",\"firstName\":\" New \",\"picture\":\"https://p/1.jpg\","
                  "\"organization\":null}");
    assert_int_equal(account_validate_update(j, &a, &changed, why, sizeof why), DROP_OK);
    assert_true(changed);
    assert_string_equal(a.first_name, "New");
    assert_string_equal(a.last_name, "Name");
    assert_string_equal(a.picture, "https://p/1.jpg");
    assert_null(a.organization);
    json_decref(j);

    j = J("{\"firstName\":\"New\"}");
    assert_int_equal(account_validate_update(j, &a, &changed, why, sizeof why), DROP_OK);
    assert_false(changed);
    json_decref(j);

    /* an error changes nothing, even for fields before the bad one */
    j = J("{\"firstName\":\"Other\",\"lastName\":\"\"}");
    assert_int_equal(account_validate_update(j, &a, &changed, why, sizeof why), DROP_EBADREQ);
    assert_non_null(strstr(why, "lastName"));
    assert_string_equal(a.first_name, "New");
    json_decref(j);
    j = J("{\"firstName\":\"Other\",\"picture\":3}");
    assert_int_equal(account_validate_update(j, &a, &changed, why, sizeof why), DROP_EBADREQ);
    assert_string_equal(a.first_name, "New");
    json_decref(j);
    j = J("{\"firstName\":null}");
    assert_int_equal(account_validate_update(j, &a, &changed, why, sizeof why), DROP_EBADREQ);
    json_decref(j);

    struct account c;
    account_copy(&c, &a);
    assert_ptr_not_equal(c.first_name, a.first_name);
    assert_string_equal(c.first_name, "New");
    assert_null(c.organization);
    account_free(&a);
    assert_string_equal(c.picture, "https://p/1.jpg");
    account_free(&c);
    account_free(NULL);
}

static void test_login(void **state)
{
    (void)state;
    char id[ACCOUNT_IDENTITY_SIZE], why[256];
    const char *pw;
    json_t *j = J("{\"identity\":\" A@B.CO \",\"password\":\"x\"}");
    assert_int_equal(account_validate_login(j, id, &pw, why, sizeof why), DROP_OK);
    assert_string_equal(id, "a@b.co");
    assert_string_equal(pw, "x");
    json_decref(j);
    j = J("{\"identity\":\"a@b.co\"}");
    assert_int_equal(account_validate_login(j, id, &pw, why, sizeof why), DROP_EBADREQ);
    assert_non_null(strstr(why, "password"));
    json_decref(j);
    j = J("{\"identity\":\"who?\",\"password\":\"x\"}");
    assert_int_equal(account_validate_login(j, id, &pw, why, sizeof why), DROP_EBADREQ);
    assert_non_null(strstr(why, "identity"));
    json_decref(j);
    j = J("{\"identity\":\"a@b.co\",\"password\":\"\"}");
    assert_int_equal(account_validate_login(j, id, &pw, why, sizeof why), DROP_EBADREQ);
    json_decref(j);
}

static void test_list_filter(void **state)
{
    (void)state;
    struct account_filter f;
    char why[256];
    json_t *j = J("{}");
    assert_int_equal(account_validate_list(j, &f, why, sizeof why), DROP_OK);
    assert_int_equal(f.limit, 50);
    assert_int_equal(f.skip, 0);
    assert_null(f.type);
    assert_null(f.q);
    json_decref(j);
    j = J("{\"type\":\"operator\",\"status\":\"archived\",\"q\":\"ngu\",\"limit\":200,\"skip\":10}");
    assert_int_equal(account_validate_list(j, &f, why, sizeof why), DROP_OK);
    assert_string_equal(f.type, "operator");
    assert_string_equal(f.status, "archived");
    assert_string_equal(f.q, "ngu");
    assert_int_equal(f.limit, 200);
    assert_int_equal(f.skip, 10);
    json_decref(j);
    const char *bad[] = {"{\"limit\":0}", "{\"limit\":201}", "{\"limit\":\"5\"}", "{\"skip\":-1}",
                         "{\"type\":\"boss\"}", "{\"status\":\"gone\"}", "{\"q\":5}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = J(bad[i]);
        assert_int_equal(account_validate_list(j, &f, why, sizeof why), DROP_EBADREQ);
        json_decref(j);
    }
}

static void test_json_shape(void **state)
{
    (void)state;
    struct account a;
    account_init(&a);
    strcpy(a.id, "570c6714c0a4eea545970637");
    a.first_name = strdup("Nguyen");
    a.last_name = strdup("Hoa");
    strcpy(a.type, "user");
    strcpy(a.referral_code, "HyTzwy9");
    a.created_at = 1460430612477LL;
    a.updated_at = 1460430612583LL;
    a.n_identities = 1;
    strcpy(a.identities[0].type, "email");
    strcpy(a.identities[0].value, "xxxx@gmail.com");
    strcpy(a.identities[0].status, "unverified");
    strcpy(a.identities[0].id, "570c6714c0a4eea545970638");
    a.identities[0].created_at = a.identities[0].updated_at = 1460430612542LL;

    json_t *o = account_to_json(&a, false);
    json_t *want = J("{\"identities\":[{\"type\":\"email\",\"value\":\"xxxx@gmail.com\","
                     "\"status\":\"unverified\",\"createdAt\":\"2016-04-12T03:10:12.542Z\","
                     "\"updatedAt\":\"2016-04-12T03:10:12.542Z\",\"id\":\"570c6714c0a4eea545970638\"}],"
                     "\"firstName\":\"Nguyen\",\"lastName\":\"Hoa\",\"archive\":false,"
                     "\"status\":\"active\",\"type\":\"user\",\"organization\":null,\"picture\":null,"
                     "\"referralRate\":5,\"createdAt\":\"2016-04-12T03:10:12.477Z\","
                     "\"updatedAt\":\"2016-04-12T03:10:12.583Z\",\"referralCode\":\"HyTzwy9\","
                     "\"id\":\"570c6714c0a4eea545970637\",\"operatorRating\":5,\"customerRating\":5}");
    if (!json_equal(o, want)) {
        char *s = json_dumps(o, JSON_SORT_KEYS);
        fail_msg("shape differs: %s", s);
    }
    json_decref(want);
    json_decref(o);

    a.operator_rating = 4.5;
    a.organization = strdup("Acme");
    o = account_to_json(&a, true);
    assert_null(json_object_get(o, "identities"));
    assert_null(json_object_get(o, "organization"));
    assert_true(json_is_real(json_object_get(o, "operatorRating")));
    assert_true(json_real_value(json_object_get(o, "operatorRating")) == 4.5);
    assert_string_equal(json_string_value(json_object_get(o, "firstName")), "Nguyen");
    json_decref(o);
    o = account_array_to_json(&a, 1, false);
    assert_int_equal(json_array_size(o), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(o, 0), "organization")),
                        "Acme");
    json_decref(o);
    account_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_ok),
        cmocka_unit_test(test_register_bad),
        cmocka_unit_test(test_register_bounds),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_update),
        cmocka_unit_test(test_login),
        cmocka_unit_test(test_list_filter),
        cmocka_unit_test(test_json_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
