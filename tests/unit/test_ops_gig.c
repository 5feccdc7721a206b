/* test_ops_gig.c - the gig ops under the op harness (op_harness.h): who may
 * call what, who receives which event with which version, the errors, the
 * deadlines from the policy, the rating lock, and the system's moves (timer
 * and sweep) on a clock the test sets. */
#include "op_harness.h"

#define LAT "10.787859"
#define LON "106.70653"

static char cust[DROP_ID_SIZE], op1[DROP_ID_SIZE], op2[DROP_ID_SIZE], stranger[DROP_ID_SIZE];

static struct caller C(void) { return as(ROLE_USER, cust); }
static struct caller O1(void) { return as(ROLE_OPERATOR, op1); }
static struct caller O2(void) { return as(ROLE_OPERATOR, op2); }
static struct caller S(void) { return as(ROLE_USER, stranger); }

/* operator at about metres north of (LAT, LON), free */
static void place(struct caller who, double metres)
{
    assert_int_equal(callf(who, "presence.update", "{\"latitude\": %.7f, \"longitude\": " LON "}",
                           10.787859 + metres / 111195.0),
                     DROP_OK);
}

static int setup(void **state)
{
    if (harness_setup(state)) return -1;
    new_account("user", "Cus", cust);
    new_account("operator", "One", op1);
    new_account("operator", "Two", op2);
    new_account("user", "Str", stranger);
    place(O1(), 100);
    place(O2(), 200);
    json_decref(take_events());
    return 0;
}

static void gig_create(char id[DROP_ID_SIZE])
{
    assert_int_equal(call(C(), "gig.create", "{\"latitude\": " LAT ", \"longitude\": " LON
                                              ", \"deviceId\": \"d\"}"),
                     DROP_OK);
    snprintf(id, DROP_ID_SIZE, "%s", got_s("id"));
}

static drop_err on(struct caller who, const char *op, const char *gig)
{
    return callf(who, op, "{\"gigId\": \"%s\"}", gig);
}

static drop_err claim(struct caller who, const char *gig, const char *resp)
{
    return callf(who, "gig.claim", "{\"gigId\": \"%s\", \"response\": \"%s\"}", gig, resp);
}

static int64_t timer_of(const char *gig)
{
    return json_integer_value(json_object_get(H->timers, gig));
}

/* pendingOperator -> operatorFound (op1) */
static void found(char g[DROP_ID_SIZE])
{
    gig_create(g);
    assert_int_equal(claim(O1(), g, "accept"), DROP_OK);
}

static void to_purchased(char g[DROP_ID_SIZE])
{
    found(g);
    assert_int_equal(on(C(), "gig.confirm", g), DROP_OK);
    assert_int_equal(on(O1(), "gig.handshake", g), DROP_OK);
    assert_int_equal(on(C(), "gig.handshake", g), DROP_OK);
    assert_int_equal(on(C(), "gig.start", g), DROP_OK);
    H->now += 1000; /* within offer_ttl: offers made before stay open */
    assert_int_equal(on(O1(), "gig.stop", g), DROP_OK);
    assert_string_equal(got_s("status"), "purchased");
}

static void rate(struct caller who, const char *g, int rating)
{
    assert_int_equal(callf(who, "gig.rate", "{\"gigId\": \"%s\", \"rating\": %d}", g, rating),
                     DROP_OK);
}

static void test_authorisation(void **state)
{
    (void)state;
    char g[DROP_ID_SIZE];
    const char *create = "{\"latitude\": " LAT ", \"longitude\": " LON ", \"deviceId\": \"d\"}";
    assert_int_equal(call(as(ROLE_ANON, ""), "gig.create", create), DROP_EUNAUTH);
    assert_int_equal(call(O1(), "gig.create", create), DROP_EFORBIDDEN);
    assert_int_equal(call(C(), "presence.update", "{\"latitude\": 1, \"longitude\": 1}"),
                     DROP_EFORBIDDEN);
    gig_create(g);
    /* only the customer confirms, rejects; strangers do not see the gig */
    assert_int_equal(on(S(), "gig.cancel", g), DROP_ENOTFOUND);
    assert_int_equal(on(S(), "gig.get", g), DROP_ENOTFOUND);
    assert_int_equal(claim(as(ROLE_OPERATOR, stranger), g, "accept"), DROP_ENOTFOUND);
    assert_int_equal(callf(S(), "gig.list", "{\"accountId\": \"%s\"}", cust), DROP_EFORBIDDEN);
    assert_int_equal(callf(C(), "admin.gig", "{\"gigId\": \"%s\", \"action\": \"terminate\"}", g),
                     DROP_EFORBIDDEN);
    assert_int_equal(claim(O1(), g, "accept"), DROP_OK);
    assert_int_equal(on(O1(), "gig.confirm", g), DROP_EFORBIDDEN);
    assert_int_equal(claim(O2(), g, "accept"), DROP_ECONFLICT); /* taken */
    assert_int_equal(on(C(), "gig.start", g), DROP_ECONFLICT);
    assert_int_equal(on(C(), "gig.reject", g), DROP_OK);
    assert_int_equal(on(C(), "gig.reject", g), DROP_ECONFLICT);
    assert_int_equal(on(C(), "gig.confirm", "nope"), DROP_EBADREQ);
    assert_int_equal(on(C(), "gig.confirm", "000000000000000000000000"), DROP_ENOTFOUND);
    json_decref(take_events());
}

static void test_effects_and_versions(void **state)
{
    (void)state;
    char g[DROP_ID_SIZE];
    gig_create(g);
    json_int_t v = got_i("version");
    assert_int_equal(timer_of(g), H->now + H_POLICY.offer_ttl_ms); /* the offers' expiry first */
    json_t *ev = take_events();
    assert_int_equal(count_ev(ev, op1, "gig.offer", g), 1);
    assert_int_equal(count_ev(ev, op2, "gig.offer", g), 1);
    assert_int_equal(count_ev(ev, cust, "gig.updated", g), 1); /* the actor too */
    json_decref(ev);

    H->now += 1000;
    assert_int_equal(claim(O1(), g, "accept"), DROP_OK);
    assert_true(got_i("version") > v);
    v = got_i("version");
    assert_string_equal(got_s("operator"), op1);
    assert_int_equal(timer_of(g), H->now + H_POLICY.confirm_ttl_ms);
    /* op1 is busy now: off the map; op2 is free again */
    assert_int_equal(callf(S(), "map.nearby", "{\"latitude\": " LAT ", \"longitude\": " LON "}"),
                     DROP_OK);
    assert_int_equal(json_array_size(H->data), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(H->data, 0), "id")), op2);
    ev = take_events();
    /* both parties, the actor included, with the reply's version */
    assert_int_equal(count_ev(ev, cust, "gig.updated", g), 1);
    assert_int_equal(count_ev(ev, op1, "gig.updated", g), 1);
    assert_int_equal(count_ev(ev, op2, "gig.offer_revoked", g), 1);
    assert_int_equal(count_ev(ev, op2, "gig.updated", g), 0);
    size_t i;
    json_t *e;
    json_array_foreach(ev, i, e) {
        json_t *d = json_object_get(json_array_get(e, 1), "data");
        assert_int_equal(json_integer_value(json_object_get(d, "version")), v);
    }
    json_decref(ev);

    assert_int_equal(on(C(), "gig.confirm", g), DROP_OK);
    assert_int_equal(timer_of(g), H->now + H_POLICY.handshake_ttl_ms);
    assert_int_equal(on(O1(), "gig.handshake", g), DROP_OK);
    assert_string_equal(json_string_value(json_object_get(json_object_get(H->data, "video"),
                                                           "role")),
                        "publisher");
    assert_int_equal(on(C(), "gig.start", g), DROP_ECONFLICT); /* the customer has not */
    assert_int_equal(on(C(), "gig.handshake", g), DROP_OK);
    assert_int_equal(on(C(), "gig.start", g), DROP_OK);
    assert_int_equal(timer_of(g), H->now + H_POLICY.max_stream_ms);
    H->now += 61500; /* two started minutes */
    assert_int_equal(on(C(), "gig.stop", g), DROP_OK);
    assert_int_equal(got_i("duration"), 61);
    assert_int_equal(timer_of(g), 0);
    json_decref(take_events());
    rate(C(), g, 4);
    assert_string_equal(got_s("status"), "purchased");
    assert_int_equal(callf(C(), "gig.rate", "{\"gigId\": \"%s\", \"rating\": 5}", g),
                     DROP_ECONFLICT); /* once */
    rate(O1(), g, 5);
    assert_string_equal(got_s("status"), "voted");
    assert_int_equal(on(C(), "gig.get", g), DROP_OK);
    json_t *pur = json_object_get(H->data, "purchase");
    json_t *pay = json_object_get(H->data, "payment");
    assert_true(json_number_value(json_object_get(pur, "amount")) == 2.0);
    assert_true(json_number_value(json_object_get(pay, "amount")) == 1.0);
    json_decref(take_events());
}

static void test_cancel_revokes_open_offers(void **state)
{
    (void)state;
    char g[DROP_ID_SIZE];
    gig_create(g);
    json_decref(take_events());
    assert_int_equal(on(O1(), "gig.cancel", g), DROP_EFORBIDDEN); /* offered, not a party yet */
    assert_int_equal(on(C(), "gig.cancel", g), DROP_OK);
    json_int_t v = got_i("version");
    json_t *ev = take_events();
    assert_int_equal(count_ev(ev, op1, "gig.offer_revoked", g), 1);
    assert_int_equal(count_ev(ev, op2, "gig.offer_revoked", g), 1);
    assert_int_equal(count_ev(ev, cust, "gig.updated", g), 1);
    json_t *d = json_object_get(json_array_get(json_array_get(ev, 0), 1), "data");
    assert_int_equal(json_integer_value(json_object_get(d, "version")), v);
    assert_string_equal(json_string_value(json_object_get(d, "reason")), "cancelled");
    json_decref(ev);
    assert_int_equal(timer_of(g), 0);
    assert_int_equal(claim(O1(), g, "accept"), DROP_ECONFLICT);
}

static void test_rating_lock(void **state)
{
    (void)state;
    char g[DROP_ID_SIZE], g2[DROP_ID_SIZE], g3[DROP_ID_SIZE];
    gig_create(g2); /* both operators hold an offer for g2 */
    to_purchased(g);
    /* unrated: the customer may not create, op1 may not claim what he holds */
    assert_int_equal(call(C(), "gig.create", "{\"latitude\": " LAT ", \"longitude\": " LON
                                             ", \"deviceId\": \"d\"}"),
                     DROP_ERATING);
    rate(C(), g, 5);
    assert_int_equal(claim(O1(), g2, "accept"), DROP_ERATING);
    assert_int_equal(claim(O1(), g2, "reject"), DROP_ERATING); /* gig.claim, either answer */
    /* op1 is locked: off the map; op2 (offered g2 already) stays on it */
    assert_int_equal(callf(S(), "map.nearby", "{\"latitude\": " LAT ", \"longitude\": " LON "}"),
                     DROP_OK);
    assert_int_equal(json_array_size(H->data), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(H->data, 0), "id")), op2);
    json_decref(take_events());
    assert_int_equal(call(S(), "gig.create", "{\"latitude\": " LAT ", \"longitude\": " LON
                                             ", \"deviceId\": \"d\"}"),
                     DROP_OK);
    snprintf(g3, sizeof g3, "%s", got_s("id"));
    json_t *ev = take_events();
    assert_int_equal(count_ev(ev, op1, "gig.offer", g3), 0);
    assert_int_equal(count_ev(ev, op2, "gig.offer", g3), 1);
    json_decref(ev);
    /* rating frees him: the pending gigs reach him (late join) */
    rate(O1(), g, 5);
    ev = take_events();
    assert_int_equal(count_ev(ev, op1, "gig.offer", g3), 1);
    json_decref(ev);
    assert_int_equal(claim(O1(), g2, "accept"), DROP_OK);
    /* clean up: the live gigs end */
    assert_int_equal(on(C(), "gig.reject", g2), DROP_OK);
    assert_int_equal(on(S(), "gig.cancel", g3), DROP_OK);
    json_decref(take_events());
}

static void test_deadlines_timer_and_sweep(void **state)
{
    (void)state;
    char g[DROP_ID_SIZE], g2[DROP_ID_SIZE];
    found(g);
    int64_t due = timer_of(g);
    assert_int_equal(due, H->now + H_POLICY.confirm_ttl_ms);
    /* early: nothing moves, the timer is armed again */
    H->now = due - 1;
    gig_timer_fired(&H->eng, g);
    assert_int_equal(on(C(), "gig.get", g), DROP_OK);
    assert_string_equal(json_string_value(json_object_get(json_object_get(H->data, "gig"),
                                                          "status")),
                        "operatorFound");
    json_decref(take_events());
    H->now = due;
    gig_timer_fired(&H->eng, g);
    json_t *ev = take_events();
    assert_int_equal(count_ev(ev, cust, "gig.updated", g), 1);
    assert_int_equal(count_ev(ev, op1, "gig.updated", g), 1);
    json_decref(ev);
    assert_int_equal(on(C(), "gig.get", g), DROP_OK);
    assert_string_equal(json_string_value(json_object_get(json_object_get(H->data, "gig"),
                                                          "status")),
                        "expired");
    /* the sweep finds a gig whose timer never fires (its node died) */
    found(g2);
    H->now = timer_of(g2);
    gig_sweep(&H->eng);
    assert_int_equal(on(C(), "gig.get", g2), DROP_OK);
    assert_string_equal(json_string_value(json_object_get(json_object_get(H->data, "gig"),
                                                          "status")),
                        "expired");
    json_decref(take_events());
}

/* Declared arguments (the op table's rows): checked before the handler, one
 * wording per kind of mistake, "required" for a required one. */
static void test_declared_arguments(void **state)
{
    (void)state;
    static const struct {
        const char *op, *data, *msg;
    } cases[] = {
        {"gig.list", "{\"limit\": 0}", "limit: an integer 1..200 is expected"},
        {"gig.list", "{\"limit\": \"5\"}", "limit: an integer 1..200 is expected"},
        {"gig.list", "{\"before\": -3}", "before: a time in ms since the epoch is expected"},
        {"gig.list", "{\"accountId\": \"nope\"}", "accountId: an ObjectId string is expected"},
        {"job.list", "{\"limit\": 201}", "limit: an integer 1..200 is expected"},
        {"gig.cancel", "{}", "gigId: an ObjectId string is required"},
        {"gig.rate", "{\"gigId\": \"0123456789abcdef01234567\", \"rating\": 6}",
         "rating: an integer 1..5 is expected"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(call(C(), cases[i].op, cases[i].data), DROP_EBADREQ);
        assert_string_equal(H->msg, cases[i].msg);
    }
    /* null is "not given": the default */
    assert_int_equal(call(C(), "gig.list", "{\"limit\": null, \"before\": null}"), DROP_OK);
}

/* The one place: for each kind of mistake (missing required field, wrong
 * type, out of bounds, not one of the allowed strings), several ops answer
 * bad_request naming the field, in the one wording, and their handler does
 * not run: no task reaches the store, no event goes out, no operator is
 * placed. */
static void test_arguments_checked_before_the_handler(void **state)
{
    (void)state;
    static const struct {
        const char *op, *data, *msg;
        bool as_operator;
    } cases[] = {
        /* missing */
        {"gig.create", "{\"longitude\": " LON ", \"deviceId\": \"d\"}",
         "latitude: a number in [-90, 90] is required", false},
        {"gig.claim", "{\"gigId\": \"0123456789abcdef01234567\"}",
         "response: one of \"accept\", \"reject\" is required", true},
        {"inbox.send", "{\"text\": \"hi\"}", "to: an ObjectId string is required", false},
        {"job.status", "{\"id\": \"0123456789abcdef01234567\"}",
         "status: one of ACCEPTED, DECLINED, STARTED, COMPLETED, PENDING_PAYMENT, PAID is required", false},
        /* wrong type */
        {"gig.create", "{\"latitude\": \"10.7\", \"longitude\": " LON ", \"deviceId\": \"d\"}",
         "latitude: a number in [-90, 90] is expected", false},
        {"gig.create",
         "{\"latitude\": " LAT ", \"longitude\": " LON ", \"deviceId\": \"d\", \"metaData\": [1]}",
         "metaData: an object is expected", false},
        {"presence.update",
         "{\"latitude\": " LAT ", \"longitude\": " LON ", \"available\": \"yes\"}",
         "available: true or false is expected", true},
        {"inbox.read", "{\"ids\": [\"0123456789abcdef01234567\", 7]}",
         "ids: an array of 1..200 ObjectId strings is expected", false},
        {"push.send", "{\"recipientId\": \"0123456789abcdef01234567\", \"data\": \"x\"}",
         "data: an object is expected", false},
        /* out of bounds */
        {"gig.create", "{\"latitude\": 91, \"longitude\": " LON ", \"deviceId\": \"d\"}",
         "latitude: a number in [-90, 90] is expected", false},
        {"presence.update", "{\"latitude\": " LAT ", \"longitude\": 181}",
         "longitude: a number in [-180, 180] is expected", true},
        {"map.nearby", "{\"latitude\": " LAT ", \"longitude\": " LON ", \"radius\": 50001}",
         "radius: a number in [0, 50000] is expected", false},
        {"inbox.list", "{\"limit\": 201}", "limit: an integer 1..200 is expected", false},
        {"inbox.read", "{\"ids\": []}", "ids: an array of 1..200 ObjectId strings is expected", false},
        /* not one of the allowed strings */
        {"storage.sign", "{\"type\": \"avatar\"}",
         "type: one of \"profileImage\", \"chat\", \"gig\" is expected", false},
        {"job.list", "{\"role\": \"boss\"}", "role: one of \"client\", \"worker\" is expected", false},
        {"gig.list", "{\"status\": \"nope\"}", "status: one of the gig statuses is expected", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int tasks = H->tasks;
        struct caller who = cases[i].as_operator ? as(ROLE_OPERATOR, stranger) : C();
        assert_int_equal(call(who, cases[i].op, cases[i].data), DROP_EBADREQ);
        assert_string_equal(H->msg, cases[i].msg);
        assert_int_equal(H->tasks, tasks); /* the handler ran no task */
    }
    assert_int_equal(json_array_size(H->events), 0);
    assert_null(presence_get(H->eng.presence, stranger)); /* presence.update never ran */
    /* the same bodies, put right, do run their handler */
    int tasks = H->tasks;
    assert_int_equal(call(C(), "inbox.list", "{\"limit\": 200}"), DROP_OK);
    assert_int_equal(H->tasks, tasks + 1);
    assert_int_equal(call(as(ROLE_OPERATOR, stranger), "presence.update",
                          "{\"latitude\": " LAT ", \"longitude\": " LON ", \"available\": false}"),
                     DROP_OK);
    assert_non_null(presence_get(H->eng.presence, stranger));
    presence_remove(H->eng.presence, stranger);
    json_decref(take_events());
}

/* The built-in admin (admin_token) has no account: every op that acts as
 * one (OPF_ACCOUNT) refuses it with one message before its handler runs,
 * and the same op runs for an admin that has an account. */
static void test_ops_that_need_an_account(void **state)
{
    (void)state;
    struct caller builtin = as(ROLE_ADMIN, NULL);
    int flagged = 0;
    for (int i = 0; i < ops_count(); i++) {
        const struct op_def *op = ops_at(i);
        if (!(op->flags & OPF_ACCOUNT) || !(op->who & WHO_ADMIN)) continue;
        int tasks = H->tasks;
        char want[128];
        snprintf(want, sizeof want, "%s needs an account (the built-in admin has none)", op->name);
        assert_int_equal(call(builtin, op->name, NULL), DROP_EBADREQ);
        assert_string_equal(H->msg, want);
        assert_int_equal(H->tasks, tasks);
        flagged++;
    }
    assert_int_equal(flagged, 7); /* inbox.send/list/read, job.save/list, device.(un)register */
    char admin[DROP_ID_SIZE];
    new_account("operator", "Ada", admin); /* any account: the role is the caller's */
    assert_int_equal(call(as(ROLE_ADMIN, admin), "inbox.list", NULL), DROP_OK);
}

/* Late join is for news: an operator who becomes free, or moves into a
 * pending gig's range, is offered it; one re-announcing where he already
 * stood free is not (the waves chose among those), and a gig that holds
 * GIG_MAX_OFFERS offers gets no task at all (city at 10,000 operators
 * queued one per re-announcement per full gig, without bound). */
static void test_late_join_only_on_news(void **state)
{
    (void)state;
    char g[DROP_ID_SIZE], op3[DROP_ID_SIZE], op4[DROP_ID_SIZE];
    new_account("operator", "Three", op3);
    new_account("operator", "Four", op4);
    struct caller o3 = as(ROLE_OPERATOR, op3), o4 = as(ROLE_OPERATOR, op4);
    place(o3, 300);
    json_decref(take_events());
    gig_create(g); /* a wave of 2: op1 and op2, the nearest */
    json_t *ev = take_events();
    assert_int_equal(count_ev(ev, op1, "gig.offer", g), 1);
    assert_int_equal(count_ev(ev, op3, "gig.offer", g), 0);
    json_decref(ev);

    int tasks = H->tasks;
    for (int i = 0; i < 3; i++) {
        place(O1(), 100);
        place(O2(), 200);
        place(o3, 300 + 20 * i); /* walking, still in range */
    }
    assert_int_equal(H->tasks, tasks);
    ev = take_events();
    assert_int_equal(count_ev(ev, NULL, "gig.offer", g), 0);
    json_decref(ev);

    place(o3, 6000); /* out of range (5 km) ... */
    ev = take_events();
    assert_int_equal(count_ev(ev, NULL, "gig.offer", g), 0);
    json_decref(ev);
    place(o3, 300); /* ... and back in: news */
    ev = take_events();
    assert_int_equal(count_ev(ev, op3, "gig.offer", g), 1);
    json_decref(ev);

    /* a pending gig with every offer slot taken, as another node announces it */
    static char offered[GIG_MAX_OFFERS][DROP_ID_SIZE];
    const char *full = "00000000000000000000f011";
    for (int i = 0; i < GIG_MAX_OFFERS; i++) snprintf(offered[i], DROP_ID_SIZE, "%024x", i + 1);
    engine_pending_apply(&H->eng, full, stranger, 10.787859, 106.70653, offered, GIG_MAX_OFFERS,
                         true);
    tasks = H->tasks;
    place(o4, 400); /* first sight: its profile, then late join of g only */
    assert_int_equal(H->tasks, tasks + 2);
    ev = take_events();
    assert_int_equal(count_ev(ev, op4, "gig.offer", g), 1);
    assert_int_equal(count_ev(ev, op4, "gig.offer", full), 0);
    json_decref(ev);

    engine_pending_apply(&H->eng, full, stranger, 0, 0, NULL, 0, false);
    assert_int_equal(on(C(), "gig.cancel", g), DROP_OK);
    presence_remove(H->eng.presence, op3);
    presence_remove(H->eng.presence, op4);
    json_decref(take_events());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_authorisation),
        cmocka_unit_test(test_effects_and_versions),
        cmocka_unit_test(test_cancel_revokes_open_offers),
        cmocka_unit_test(test_rating_lock),
        cmocka_unit_test(test_deadlines_timer_and_sweep),
        cmocka_unit_test(test_declared_arguments),
        cmocka_unit_test(test_arguments_checked_before_the_handler),
        cmocka_unit_test(test_ops_that_need_an_account),
        cmocka_unit_test(test_late_join_only_on_news),
    };
    return cmocka_run_group_tests(tests, setup, harness_teardown);
}
