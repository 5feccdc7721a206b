/* test_gig_json.c - the JSON shapes of gigs: PROTOCOL.md §4's gig object,
 * the Dropin seed's getall item and detail record, the gig.offer event data,
 * and ISO-8601 times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "engine/gig.h"
#include "engine/gig_json.h"
#include "engine/timefmt.h"

#define CUST "570732086a5e9bd853b4f00b"
#define OPER "570c6714c0a4eea545970637"
#define GID "57076378674ea5da598a6a67"

static void make(struct gig *g, enum gig_status st)
{
    gig_init(g);
    strcpy(g->id, GID);
    strcpy(g->customer, CUST);
    g->status = st;
    g->version = 3;
    g->latitude = 10.81507;
    g->longitude = 106.673498;
    strcpy(g->device_id, "12321432432");
    g->created_at = 1460430612542LL;
    g->updated_at = 1460430612583LL;
}

/* The object's keys, sorted, comma-joined. */
static char *keys_of(const json_t *o)
{
    static char buf[1024];
    const char *k;
    json_t *v;
    const char *sorted[64];
    size_t n = 0;
    json_object_foreach((json_t *)o, k, v) {
        (void)v;
        sorted[n++] = k;
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(sorted[j - 1], sorted[j]) > 0; j--) {
            const char *t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(buf, ",");
        strcat(buf, sorted[i]);
    }
    return buf;
}

static void test_time(void **state)
{
    (void)state;
    char b[32];
    timefmt_iso(1460430612542LL, b);
    assert_string_equal(b, "2016-04-12T03:10:12.542Z");
    timefmt_iso(0, b);
    assert_string_equal(b, "1970-01-01T00:00:00.000Z");
    timefmt_iso(-1, b);
    assert_string_equal(b, "1969-12-31T23:59:59.999Z");
    timefmt_iso(951782400007LL, b); /* a leap day */
    assert_string_equal(b, "2000-02-29T00:00:00.007Z");
    timefmt_iso(253402300799999LL, b);
    assert_string_equal(b, "9999-12-31T23:59:59.999Z");
    timefmt_iso(253402300800000LL, b); /* year 10000: out of range */
    assert_string_equal(b, "1970-01-01T00:00:00.000Z");
    timefmt_iso(INT64_MIN, b);
    assert_string_equal(b, "1970-01-01T00:00:00.000Z");
    timefmt_iso(INT64_MAX, b);
    assert_string_equal(b, "1970-01-01T00:00:00.000Z");
}

static void test_gig_object(void **state)
{
    (void)state;
    struct gig g;
    make(&g, GIG_PENDING_OPERATOR);
    g.deadline = g.created_at + 120000;
    gig_set_meta(&g, "{\"city\":\"Saigon\"}");
    g.n_offers = 1;
    strcpy(g.offers[0].operator, OPER);
    json_t *o = gig_to_json(&g);
    assert_string_equal(keys_of(o), "claimId,createdAt,customer,customerHandshaken,customerRating,deviceId,"
                                    "duration,expiresAt,id,latitude,longitude,metaData,operator,"
                                    "operatorHandshaken,operatorRating,status,updatedAt,version");
    assert_string_equal(json_string_value(json_object_get(o, "id")), GID);
    assert_string_equal(json_string_value(json_object_get(o, "customer")), CUST);
    assert_true(json_is_null(json_object_get(o, "operator")));
    assert_string_equal(json_string_value(json_object_get(o, "status")), "pendingOperator");
    assert_int_equal(json_integer_value(json_object_get(o, "version")), 3);
    assert_true(json_real_value(json_object_get(o, "latitude")) == 10.81507);
    assert_true(json_real_value(json_object_get(o, "longitude")) == 106.673498);
    assert_string_equal(json_string_value(json_object_get(o, "deviceId")), "12321432432");
    assert_true(json_is_null(json_object_get(o, "claimId")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "metaData"), "city")), "Saigon");
    assert_true(json_is_null(json_object_get(o, "customerRating")));
    assert_true(json_is_null(json_object_get(o, "operatorRating")));
    assert_int_equal(json_integer_value(json_object_get(o, "duration")), 0);
    assert_string_equal(json_string_value(json_object_get(o, "createdAt")), "2016-04-12T03:10:12.542Z");
    assert_string_equal(json_string_value(json_object_get(o, "updatedAt")), "2016-04-12T03:10:12.583Z");
    assert_string_equal(json_string_value(json_object_get(o, "expiresAt")), "2016-04-12T03:12:12.542Z");
    json_decref(o);

    /* an ended, rated gig; broken meta and bad UTF-8 become null, never a crash */
    g.status = GIG_VOTED;
    strcpy(g.operator, OPER);
    strcpy(g.claim_id, "\xff\xfe");
    g.customer_rating = 2;
    g.operator_rating = 5;
    g.duration_s = 69;
    g.deadline = 0;
    gig_set_meta(&g, "{not json");
    o = gig_to_json(&g);
    assert_string_equal(json_string_value(json_object_get(o, "operator")), OPER);
    assert_true(json_is_null(json_object_get(o, "claimId")));
    assert_true(json_is_null(json_object_get(o, "metaData")));
    assert_true(json_is_null(json_object_get(o, "expiresAt")));
    assert_int_equal(json_integer_value(json_object_get(o, "customerRating")), 2);
    assert_int_equal(json_integer_value(json_object_get(o, "operatorRating")), 5);
    assert_int_equal(json_integer_value(json_object_get(o, "duration")), 69);
    char *s = json_dumps(o, JSON_COMPACT);
    assert_non_null(s);
    assert_null(strstr(s, "offer"));
    free(s);
    json_decref(o);
    gig_free(&g);
}

static void test_list_item(void **state)
{
    (void)state;
    struct gig g;
    make(&g, GIG_EXPIRED);
    g.duration_s = 36;
    json_t *o = gig_list_item_json(&g);
    /* the seed's getall item, field for field, inside the whole gig object */
    json_t *want = json_loads("{\"customer\":\"570732086a5e9bd853b4f00b\",\"operator\":null,"
                              "\"customerRating\":null,\"operatorRating\":null,\"longitude\":106.673498,"
                              "\"latitude\":10.81507,\"duration\":36,\"status\":\"expired\","
                              "\"id\":\"57076378674ea5da598a6a67\",\"version\":3,"
                              "\"createdAt\":\"2016-04-12T03:10:12.542Z\"}",
                              0, NULL);
    assert_non_null(want);
    const char *k;
    json_t *v;
    json_object_foreach(want, k, v) {
        if (!json_equal(json_object_get(o, k), v)) fail_msg("%s differs", k);
    }
    json_t *whole = gig_to_json(&g);
    assert_true(json_equal(o, whole));
    json_decref(whole);
    json_decref(want);
    json_decref(o);
    gig_free(&g);
}

static void test_detail_seed(void **state)
{
    (void)state;
    struct gig g;
    make(&g, GIG_VOTED);
    strcpy(g.operator, OPER);
    g.duration_s = 69;
    g.customer_rating = 1;
    g.operator_rating = 1;
    g.amount_cents = 1115;
    g.payment_cents = 558;
    json_t *o = gig_detail_json(&g, "Ninh", "Vo", "Ninh Vo", "Thanh");
    assert_string_equal(keys_of(o), "gig,payment,purchase");
    /* the seed's record, field for field */
    json_t *want = json_loads("{\"gig\":{\"duration\":69,\"status\":\"voted\","
                              "\"customer\":{\"firstName\":\"Ninh\",\"lastName\":\"Vo\"},"
                              "\"operator\":{\"firstName\":\"Ninh Vo\",\"lastName\":\"Thanh\"},"
                              "\"customerRating\":{\"value\":1},\"operatorRating\":{\"value\":1},"
                              "\"latitude\":10.81507,\"longitude\":106.673498},"
                              "\"purchase\":{\"status\":\"confirmed\",\"amount\":11.15},"
                              "\"payment\":{\"status\":\"need_invoice\",\"amount\":5.58}}",
                              0, NULL);
    assert_non_null(want);
    json_t *gj = json_object_get(o, "gig");
    json_t *wg = json_object_get(want, "gig");
    const char *k;
    json_t *v;
    json_object_foreach(wg, k, v) {
        if (!json_equal(json_object_get(gj, k), v))
            fail_msg("gig.%s differs", k);
    }
    assert_string_equal(json_string_value(json_object_get(gj, "id")), GID);
    assert_true(json_equal(json_object_get(o, "purchase"), json_object_get(want, "purchase")));
    assert_true(json_equal(json_object_get(o, "payment"), json_object_get(want, "payment")));
    /* printed the way a client reads them */
    char *s = json_dumps(json_object_get(o, "payment"), JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
    assert_string_equal(s, "{\"amount\":5.58,\"status\":\"need_invoice\"}");
    free(s);
    json_decref(want);
    json_decref(o);

    /* before a purchase: no operator, no ratings, nothing to pay */
    g.status = GIG_PENDING_OPERATOR;
    g.operator[0] = '\0';
    g.customer_rating = g.operator_rating = 0;
    o = gig_detail_json(&g, NULL, "Vo", NULL, NULL);
    gj = json_object_get(o, "gig");
    assert_true(json_is_null(json_object_get(gj, "operator")));
    assert_true(json_is_null(json_object_get(gj, "customerRating")));
    assert_true(json_is_null(json_object_get(gj, "operatorRating")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(gj, "customer"), "firstName")), "");
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "purchase"), "status")), "none");
    assert_true(json_real_value(json_object_get(json_object_get(o, "purchase"), "amount")) == 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "payment"), "status")), "none");
    json_decref(o);
    gig_free(&g);

    const struct { enum gig_status s; const char *purchase, *payment; } st[] = {
        {GIG_STREAMING, "none", "none"},
        {GIG_PURCHASED, "confirmed", "pending_rating"},
        {GIG_VOTED, "confirmed", "need_invoice"},
        {GIG_INVOICE_GENERATED, "confirmed", "invoice_generated"},
        {GIG_INVOICE_SENT, "confirmed", "invoice_sent"},
        {GIG_COMPENSATED, "confirmed", "paid"},
        {GIG_FAILED, "none", "none"},
        {GIG_TERMINATED, "none", "none"},
    };
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++) {
        assert_string_equal(gig_purchase_status(st[i].s), st[i].purchase);
        assert_string_equal(gig_payment_status(st[i].s), st[i].payment);
    }
}

static void test_offer(void **state)
{
    (void)state;
    struct gig g;
    make(&g, GIG_PENDING_OPERATOR);
    gig_set_meta(&g, "{\"city\":\"Saigon\"}");
    struct gig_offer off = {.state = OFFER_OPEN, .distance_m = 1234.56, .expires_at = 1460430627542LL};
    strcpy(off.operator, OPER);
    json_t *o = gig_offer_json(&g, &off, "Ninh", 4.5);
    json_t *want = json_loads("{\"gigId\":\"57076378674ea5da598a6a67\",\"version\":3,\"latitude\":10.81507,"
                              "\"longitude\":106.673498,\"distance\":1235,"
                              "\"customer\":{\"firstName\":\"Ninh\",\"customerRating\":4.5},"
                              "\"metaData\":{\"city\":\"Saigon\"},\"expiresAt\":\"2016-04-12T03:10:27.542Z\"}",
                              0, NULL);
    assert_non_null(want);
    assert_true(json_equal(o, want));
    json_decref(o);
    o = gig_offer_json(&g, &off, "Ninh", -1);
    assert_true(json_is_null(json_object_get(json_object_get(o, "customer"), "customerRating")));
    json_decref(o);
    json_decref(want);
    gig_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_gig_object),
        cmocka_unit_test(test_list_item),
        cmocka_unit_test(test_detail_seed),
        cmocka_unit_test(test_offer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
