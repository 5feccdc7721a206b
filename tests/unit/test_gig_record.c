/* test_gig_record.c - the stored gig record: every field round-trips
 * exactly (doubles bit for bit, int64 beyond 2^53, offers, meta), the names
 * and JSON types are the agreed ones, a gig JSON cannot carry is refused on
 * write, and every kind of corrupt record is DROP_EINTERNAL on read (a
 * missing or mistyped key, out-of-range values, too many offers, random
 * byte damage) with the output untouched and no crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gig_record.h"

static const char *ID_G = "5d1f0c2ab1c9d440000a1b01";
static const char *ID_C = "5d1f0c2ab1c9d440000a1b02";
static const char *ID_O = "5d1f0c2ab1c9d440000a1b03";

/* A gig with every field set to a value that is not its default. */
static void full_gig(struct gig *g)
{
    gig_init(g);
    strcpy(g->id, ID_G);
    strcpy(g->customer, ID_C);
    strcpy(g->operator, ID_O);
    g->status = GIG_STREAMING;
    g->version = 9007199254740993LL; /* 2^53 + 1: not a double */
    g->latitude = 0.1 + 0.2;          /* 0.30000000000000004 */
    g->longitude = -122.41941550000001;
    strcpy(g->device_id, "device-\xc3\xa9-42"); /* UTF-8 */
    strcpy(g->claim_id, "claim \"quoted\" \\ back");
    gig_set_meta(g, "{\"a\":[1,2.5,{\"b\":null}],\"s\":\"x\",\"t\":true,\"d\":0.10000000000000001}");
    g->customer_rating = 4;
    g->operator_rating = 2;
    g->customer_handshaken = true;
    g->operator_handshaken = false;
    strcpy(g->video_session, "dev-session-abc");
    g->created_at = 1460430612477LL;
    g->updated_at = 1460430612478LL;
    g->deadline = 253402300799999LL;
    g->started_at = 1460430613000LL;
    g->ended_at = 1460430614000LL;
    g->duration_s = 3601;
    g->amount_cents = INT64_MAX;
    g->payment_cents = INT64_MAX - 1;
    g->wave = 3;
    g->n_offers = GIG_MAX_OFFERS;
    for (int i = 0; i < g->n_offers; i++) {
        struct gig_offer *o = &g->offers[i];
        snprintf(o->operator, sizeof o->operator, "5d1f0c2ab1c9d4400%07x", (unsigned)i & 0xfffffffu);
        o->state = (enum offer_state)(i % 5);
        o->wave = i / 5 + 1;
        o->distance_m = i * 1.1 + 1.0 / 3.0;
        o->offered_at = 1460430612477LL + i;
        o->expires_at = 1460430627477LL + i;
    }
}

static bool same_double(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static void assert_gig_equal(const struct gig *a, const struct gig *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->customer, b->customer);
    assert_string_equal(a->operator, b->operator);
    assert_int_equal(a->status, b->status);
    assert_true(a->version == b->version);
    assert_true(same_double(a->latitude, b->latitude));
    assert_true(same_double(a->longitude, b->longitude));
    assert_string_equal(a->device_id, b->device_id);
    assert_string_equal(a->claim_id, b->claim_id);
    if (a->meta_json || b->meta_json) {
        assert_non_null(a->meta_json);
        assert_non_null(b->meta_json);
        assert_string_equal(a->meta_json, b->meta_json);
    }
    assert_int_equal(a->customer_rating, b->customer_rating);
    assert_int_equal(a->operator_rating, b->operator_rating);
    assert_int_equal(a->customer_handshaken, b->customer_handshaken);
    assert_int_equal(a->operator_handshaken, b->operator_handshaken);
    assert_string_equal(a->video_session, b->video_session);
    assert_true(a->created_at == b->created_at);
    assert_true(a->updated_at == b->updated_at);
    assert_true(a->deadline == b->deadline);
    assert_true(a->started_at == b->started_at);
    assert_true(a->ended_at == b->ended_at);
    assert_true(a->duration_s == b->duration_s);
    assert_true(a->amount_cents == b->amount_cents);
    assert_true(a->payment_cents == b->payment_cents);
    assert_int_equal(a->wave, b->wave);
    assert_int_equal(a->n_offers, b->n_offers);
    for (int i = 0; i < a->n_offers; i++) {
        const struct gig_offer *x = &a->offers[i], *y = &b->offers[i];
        assert_string_equal(x->operator, y->operator);
        assert_int_equal(x->state, y->state);
        assert_int_equal(x->wave, y->wave);
        assert_true(same_double(x->distance_m, y->distance_m));
        assert_true(x->offered_at == y->offered_at);
        assert_true(x->expires_at == y->expires_at);
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    struct gig g, back;
    full_gig(&g);
    json_t *j = gig_record_to_json(&g);
    assert_non_null(j);
    assert_int_equal(gig_record_from_json(j, &back), DROP_OK);
    assert_gig_equal(&g, &back);
    gig_free(&back);
    json_decref(j);

    /* through text, as the stores keep it */
    char *text = gig_record_dump(&g);
    assert_non_null(text);
    assert_int_equal(gig_record_parse(text, strlen(text), &back, NULL, 0), DROP_OK);
    assert_gig_equal(&g, &back);
    gig_free(&back);
    free(text);

    /* awkward doubles: extremes, negative zero, the smallest subnormal */
    const double lats[] = {-90.0, 90.0, -0.0, 4.9406564584124654e-324, 1.0 / 3.0, 45.0};
    const double lons[] = {-180.0, 180.0, 0.0, -4.9406564584124654e-324, -2.0 / 3.0, -0.0};
    for (size_t i = 0; i < sizeof lats / sizeof lats[0]; i++) {
        g.latitude = lats[i];
        g.longitude = lons[i];
        g.offers[0].distance_m = fabs(lons[i]);
        text = gig_record_dump(&g);
        assert_non_null(text);
        assert_int_equal(gig_record_parse(text, strlen(text), &back, NULL, 0), DROP_OK);
        assert_gig_equal(&g, &back);
        gig_free(&back);
        free(text);
    }
    gig_free(&g);

    /* a minimal gig: no operator, no meta, no offers, zero times */
    gig_init(&g);
    strcpy(g.id, ID_G);
    strcpy(g.customer, ID_C);
    j = gig_record_to_json(&g);
    assert_non_null(j);
    assert_true(json_is_null(json_object_get(j, "operator")));
    assert_true(json_is_null(json_object_get(j, "metaData")));
    assert_int_equal(json_array_size(json_object_get(j, "offers")), 0);
    assert_int_equal(gig_record_from_json(j, &back), DROP_OK);
    assert_gig_equal(&g, &back);
    assert_null(back.meta_json);
    gig_free(&back);
    json_decref(j);
}

static void test_names_and_types(void **state)
{
    (void)state;
    struct gig g;
    full_gig(&g);
    json_t *j = gig_record_to_json(&g);
    assert_non_null(j);
    const char *strings[] = {"id", "customer", "operator", "status", "deviceId", "claimId",
                             "videoSession"};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        assert_true(json_is_string(json_object_get(j, strings[i])));
    const char *ints[] = {"version", "customerRating", "operatorRating", "createdAt",
                          "updatedAt", "expiresAt", "startedAt", "endedAt", "duration",
                          "amountCents", "paymentCents", "wave"};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        assert_true(json_is_integer(json_object_get(j, ints[i])));
    assert_true(json_is_real(json_object_get(j, "latitude")));
    assert_true(json_is_real(json_object_get(j, "longitude")));
    assert_true(json_is_true(json_object_get(j, "customerHandshaken")));
    assert_true(json_is_false(json_object_get(j, "operatorHandshaken")));
    assert_true(json_is_object(json_object_get(j, "metaData")));
    assert_string_equal(json_string_value(json_object_get(j, "status")), "streaming");
    assert_true(json_integer_value(json_object_get(j, "expiresAt")) == 253402300799999LL);
    assert_true(json_integer_value(json_object_get(j, "version")) == 9007199254740993LL);
    json_t *o = json_array_get(json_object_get(j, "offers"), 1);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "rejected");
    assert_string_equal(json_string_value(json_object_get(o, "operator")), g.offers[1].operator);
    assert_true(json_is_integer(json_object_get(o, "wave")));
    assert_true(json_is_real(json_object_get(o, "distance")));
    assert_true(json_is_integer(json_object_get(o, "offeredAt")));
    assert_true(json_is_integer(json_object_get(o, "expiresAt")));
    json_decref(j);

    for (int s = 0; s <= OFFER_ACCEPTED; s++) {
        enum offer_state back;
        assert_int_equal(gig_offer_state_parse(gig_offer_state_name(s), &back), DROP_OK);
        assert_int_equal(back, s);
    }
    enum offer_state x;
    assert_int_equal(gig_offer_state_parse("Open", &x), DROP_EBADREQ);
    assert_int_equal(gig_offer_state_parse(NULL, &x), DROP_EBADREQ);
    assert_string_equal(gig_offer_state_name((enum offer_state)99), "unknown");
    gig_free(&g);
}

static void test_unwritable(void **state)
{
    (void)state;
    struct gig g;
    for (int k = 0; k < 12; k++) {
        full_gig(&g);
        switch (k) {
        case 0: strcpy(g.id, "nothex"); break;
        case 1: g.latitude = NAN; break;
        case 2: g.longitude = INFINITY; break;
        case 3: strcpy(g.device_id, "bad \xff utf8"); break;
        case 4: gig_set_meta(&g, "{not json"); break;
        case 5: g.n_offers = GIG_MAX_OFFERS + 1; break;
        case 6: g.status = GIG_STATUS__COUNT; break;
        case 7: g.offers[3].state = (enum offer_state)7; break;
        case 8: g.latitude = 90.5; break;
        case 9: g.customer_rating = 6; break;
        case 10: memset(g.claim_id, 'x', sizeof g.claim_id); break; /* unterminated */
        case 11: g.offers[0].distance_m = -1; break;
        }
        json_t *j = gig_record_to_json(&g);
        if (j) fail_msg("case %d written", k);
        assert_null(gig_record_dump(&g));
        gig_free(&g);
    }
}

/* A valid record (new reference). */
static json_t *valid_record(void)
{
    struct gig g;
    full_gig(&g);
    g.n_offers = 2;
    json_t *j = gig_record_to_json(&g);
    gig_free(&g);
    assert_non_null(j);
    return j;
}

/* from_json must refuse j with DROP_EINTERNAL and leave out as it was. */
static void refused(json_t *j, const char *what)
{
    struct gig out;
    memset(&out, 0x5a, sizeof out);
    drop_err e = gig_record_from_json(j, &out);
    if (e != DROP_EINTERNAL) fail_msg("%s: got %d", what, e);
    unsigned char *p = (unsigned char *)&out;
    for (size_t i = 0; i < sizeof out; i++)
        if (p[i] != 0x5a) fail_msg("%s: out written at byte %zu", what, i);
    json_decref(j);
}

static void test_corrupt_records(void **state)
{
    (void)state;
    /* every key but metaData and timeline (older records have none) is required */
    json_t *proto = valid_record();
    const char *key;
    json_t *val;
    int n = 0;
    json_object_foreach(proto, key, val) {
        (void)val;
        json_t *j = json_deep_copy(proto);
        json_object_del(j, key);
        if (strcmp(key, "metaData") == 0 || strcmp(key, "timeline") == 0) {
            struct gig g;
            assert_int_equal(gig_record_from_json(j, &g), DROP_OK);
            if (strcmp(key, "metaData") == 0) assert_null(g.meta_json);
            else assert_int_equal(g.n_events, 0);
            gig_free(&g);
            json_decref(j);
        } else {
            refused(j, key);
        }
        /* and no key but metaData takes any type: an array is never right */
        j = json_deep_copy(proto);
        json_object_set_new(j, key, json_array());
        if (strcmp(key, "metaData") == 0 || strcmp(key, "offers") == 0 ||
            strcmp(key, "timeline") == 0)
            json_decref(j);
        else refused(j, key);
        n++;
    }
    assert_int_equal(n, 26);
    json_decref(proto);

    struct { const char *key; json_t *v; } bads[] = {
        {"id", json_string("5d1f0c2ab1c9d440000a1b0")},        /* 23 chars */
        {"id", json_string("5d1f0c2ab1c9d440000a1b0g")},
        {"customer", json_null()},
        {"operator", json_string("")},
        {"status", json_string("Streaming")},
        {"version", json_integer(-1)},
        {"version", json_real(1.5)},
        {"version", json_string("1")},
        {"latitude", json_real(-90.0000001)},
        {"longitude", json_integer(181)},
        {"latitude", json_string("1.0")},
        {"customerRating", json_integer(6)},
        {"operatorRating", json_integer(-1)},
        {"customerHandshaken", json_integer(1)},
        {"createdAt", json_integer(-5)},
        {"expiresAt", json_real(1e300)},
        {"duration", json_real(1e17)},           /* above 2^53: not exact */
        {"wave", json_integer((json_int_t)INT32_MAX + 1)},
        {"deviceId", json_integer(5)},
        {"videoSession", json_stringn("a\0b", 3)},
        {"offers", json_object()},
    };
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        json_t *j = valid_record();
        json_object_set_new(j, bads[i].key, bads[i].v);
        refused(j, bads[i].key);
    }
    /* a too-long string */
    json_t *j = valid_record();
    char longs[GIG_DEVICE_ID_SIZE + 1];
    memset(longs, 'd', GIG_DEVICE_ID_SIZE);
    longs[GIG_DEVICE_ID_SIZE] = '\0';
    json_object_set_new(j, "deviceId", json_string(longs));
    refused(j, "long deviceId");
    longs[GIG_DEVICE_ID_SIZE - 1] = '\0'; /* exactly the largest that fits */
    j = valid_record();
    json_object_set_new(j, "deviceId", json_string(longs));
    struct gig g;
    assert_int_equal(gig_record_from_json(j, &g), DROP_OK);
    assert_int_equal(strlen(g.device_id), GIG_DEVICE_ID_SIZE - 1);
    gig_free(&g);
    json_decref(j);

    /* offers: too many, and each field of one offer */
    j = valid_record();
    json_t *offers = json_object_get(j, "offers");
    while (json_array_size(offers) <= GIG_MAX_OFFERS)
        json_array_append_new(offers, json_deep_copy(json_array_get(offers, 0)));
    refused(j, "65 offers");
    const char *okeys[] = {"operator", "state", "wave", "distance", "offeredAt", "expiresAt"};
    for (size_t i = 0; i < sizeof okeys / sizeof okeys[0]; i++) {
        j = valid_record();
        json_object_del(json_array_get(json_object_get(j, "offers"), 1), okeys[i]);
        refused(j, okeys[i]);
    }
    j = valid_record();
    json_object_set_new(json_array_get(json_object_get(j, "offers"), 0), "state",
                        json_string("pending"));
    refused(j, "offer state");
    j = valid_record();
    json_object_set_new(json_array_get(json_object_get(j, "offers"), 0), "distance",
                        json_real(-0.5));
    refused(j, "offer distance");
    j = valid_record();
    json_array_append_new(json_object_get(j, "offers"), json_string("x"));
    refused(j, "offer not an object");
    refused(json_array(), "an array");
    refused(json_null(), "null");

    /* widened/narrowed numbers from document stores are accepted exactly */
    j = valid_record();
    json_object_set_new(j, "createdAt", json_real(1460430612477.0));
    json_object_set_new(j, "latitude", json_integer(45));
    json_object_set_new(j, "_id", json_string("ignored"));
    assert_int_equal(gig_record_from_json(j, &g), DROP_OK);
    assert_true(g.created_at == 1460430612477LL);
    assert_true(g.latitude == 45.0);
    gig_free(&g);
    json_decref(j);
}

static void test_text_damage(void **state)
{
    (void)state;
    struct gig g, back;
    char why[128];
    full_gig(&g);
    char *text = gig_record_dump(&g);
    size_t len = strlen(text);
    gig_free(&g);
    assert_int_equal(gig_record_parse(text, len - 1, &back, why, sizeof why), DROP_EINTERNAL);
    assert_non_null(strstr(why, "not JSON"));
    assert_int_equal(gig_record_parse(NULL, 0, &back, why, sizeof why), DROP_EINTERNAL);
    /* a duplicated key is damage, not a choice */
    char dup[] = "{\"id\":\"5d1f0c2ab1c9d440000a1b01\",\"id\":\"5d1f0c2ab1c9d440000a1b02\"}";
    assert_int_equal(gig_record_parse(dup, strlen(dup), &back, why, sizeof why),
                     DROP_EINTERNAL);

    /* random byte damage: never a crash, only OK or EINTERNAL */
    char *buf = malloc(len);
    unsigned seed = 12345;
    int ok = 0;
    for (int round = 0; round < 3000; round++) {
        memcpy(buf, text, len);
        int flips = 1 + round % 4;
        for (int f = 0; f < flips; f++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % len;
            seed = seed * 1103515245u + 12345u;
            buf[at] = (char)(seed >> 16);
        }
        drop_err e = gig_record_parse(buf, len, &back, why, sizeof why);
        if (e == DROP_OK) {
            ok++;
            gig_free(&back);
        } else {
            assert_int_equal(e, DROP_EINTERNAL);
        }
    }
    assert_true(ok < 3000);
    free(buf);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_names_and_types),
        cmocka_unit_test(test_unwritable),
        cmocka_unit_test(test_corrupt_records),
        cmocka_unit_test(test_text_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
