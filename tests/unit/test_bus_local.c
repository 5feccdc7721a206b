/* test_bus_local.c - the in-process bus on a real libuv loop: delivery on
 * the next loop turn (never inside bus_publish, also when publishing from a
 * message callback), order, binary payloads, reference-counted
 * subscriptions, channels held through a callback (bus_local_hold), the
 * bounded queue, closing from a callback, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "adapters/bus_local.h"
#include "engine/bus.h"

#include "bus_test_util.h"

#define MAX_GOT 256

struct rec {
    struct bus *bus;
    int n;
    char channel[MAX_GOT][64];
    unsigned char payload[MAX_GOT][64];
    size_t len[MAX_GOT];
    int depth, max_depth;   /* nesting of on_message */
    int republish;          /* on_message republishes this many times */
    int close_after;        /* on_message closes the bus after this many (0: never) */
    int status_calls;
};

static void on_message(void *ud, const char *channel, const void *payload, size_t len)
{
    struct rec *r = ud;
    r->depth++;
    if (r->depth > r->max_depth) r->max_depth = r->depth;
    if (r->n < MAX_GOT) {
        snprintf(r->channel[r->n], sizeof r->channel[0], "%s", channel);
        memcpy(r->payload[r->n], payload, len < 64 ? len : 64);
        r->len[r->n] = len;
    }
    r->n++;
    if (r->republish > 0) {
        r->republish--;
        int before = r->n;
        assert_int_equal(bus_publish(r->bus, channel, payload, len), DROP_OK);
        assert_int_equal(r->n, before); /* not delivered inside publish */
    }
    if (r->close_after && r->n == r->close_after) {
        bus_close(r->bus);
        r->bus = NULL;
    }
    r->depth--;
}

static void on_status(void *ud, bool up)
{
    (void)up;
    ((struct rec *)ud)->status_calls++;
}

static struct bus *open_bus(uv_loop_t *loop, struct rec *r, size_t qmax)
{
    struct bus_callbacks cb = {.on_message = on_message, .on_status = on_status, .ud = r};
    r->bus = bus_local_open(loop, &cb, qmax);
    assert_non_null(r->bus);
    return r->bus;
}

static void finish(uv_loop_t *loop, struct rec *r)
{
    bus_close(r->bus);
    r->bus = NULL;
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
}

/* A counted publish answers 1 when this process holds the channel, 0 when
 * not (an account nobody here holds: offline), on the next turn, with the
 * message delivered first; closing answers what is pending with
 * DROP_EUNAVAIL. */
static void test_publish_counted(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rec r = {0};
    struct counted held = {0}, nobody = {0}, pending = {0};
    struct bus *b = open_bus(&loop, &r, 0);
    assert_int_equal(bus_subscribe(b, "acct.1"), DROP_OK);
    assert_int_equal(bus_publish_counted(b, "acct.1", "x", 1, on_count, &held), DROP_OK);
    assert_int_equal(bus_publish_counted(b, "acct.2", "y", 1, on_count, &nobody), DROP_OK);
    assert_int_equal(held.calls + nobody.calls, 0); /* never inside the call */
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(held.calls, 1);
    assert_int_equal(held.err, DROP_OK);
    assert_int_equal(held.receivers, 1);
    assert_int_equal(r.n, 1);
    assert_int_equal(nobody.calls, 1);
    assert_int_equal(nobody.err, DROP_OK);
    assert_int_equal(nobody.receivers, 0);
    assert_int_equal(bus_publish_counted(b, "bad channel", "z", 1, on_count, &pending),
                     DROP_EBADREQ);
    assert_int_equal(bus_publish_counted(b, "acct.1", "z", 1, on_count, &pending), DROP_OK);
    bus_close(b);
    r.bus = NULL;
    assert_int_equal(pending.calls, 1);
    assert_int_equal(pending.err, DROP_EUNAVAIL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(pending.calls, 1);
    assert_int_equal(r.n, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* The accounts the owner holds, for bus_local_hold. */
static bool holds(void *ud, const char *rest)
{
    return strcmp(rest, (const char *)ud) == 0;
}

/* A channel under the held prefix is delivered and counted while the
 * callback holds it, without a subscription, and dropped once it no longer
 * does (checked again at delivery); other channels still need one. */
static void test_hold_prefix(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rec r = {0};
    char account[16] = "1";
    struct counted held = {0}, nobody = {0}, other = {0};
    struct bus *b = open_bus(&loop, &r, 0);
    bus_local_hold(b, "acct.", holds, account);
    assert_int_equal(bus_publish_counted(b, "acct.1", "x", 1, on_count, &held), DROP_OK);
    assert_int_equal(bus_publish_counted(b, "acct.2", "y", 1, on_count, &nobody), DROP_OK);
    assert_int_equal(bus_publish_counted(b, "node.1", "z", 1, on_count, &other), DROP_OK);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(held.receivers, 1);
    assert_int_equal(nobody.receivers, 0);
    assert_int_equal(other.receivers, 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.channel[0], "acct.1");
    /* let go between the publish and the delivery: nothing arrives */
    assert_int_equal(bus_publish(b, "acct.1", "w", 1), DROP_OK);
    account[0] = 0;
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(r.n, 1);
    /* a subscription still counts under the prefix */
    assert_int_equal(bus_subscribe(b, "acct.3"), DROP_OK);
    assert_int_equal(bus_publish(b, "acct.3", "v", 1), DROP_OK);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(r.n, 2);
    finish(&loop, &r);
}

static void test_delivery_next_turn(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rec r = {0};
    struct bus *b = open_bus(&loop, &r, 0);
    assert_string_equal(bus_name(b), "local");
    assert_string_equal(bus_status(b), "ok");
    assert_int_equal(bus_subscribe(b, "acct.1"), DROP_OK);
    const unsigned char bin[5] = {'a', 0, 'b', 0xff, 0};
    assert_int_equal(bus_publish(b, "acct.1", bin, sizeof bin), DROP_OK);
    assert_int_equal(bus_publish(b, "acct.2", "x", 1), DROP_OK); /* nobody listens */
    assert_int_equal(r.n, 0); /* asynchronous */
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.channel[0], "acct.1");
    assert_int_equal(r.len[0], sizeof bin);
    assert_memory_equal(r.payload[0], bin, sizeof bin);
    /* the idle handle stopped: a default run returns at once */
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(r.n, 1);
    /* empty payload */
    assert_int_equal(bus_publish(b, "acct.1", NULL, 0), DROP_OK);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.len[1], 0);
    struct bus_stats st;
    bus_stats(b, &st);
    assert_int_equal(st.delivered, 2);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(r.status_calls, 0);
    finish(&loop, &r);
}

static void test_order(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rec r = {0};
    struct bus *b = open_bus(&loop, &r, 0);
    assert_int_equal(bus_subscribe(b, "presence"), DROP_OK);
    assert_int_equal(bus_subscribe(b, "cluster"), DROP_OK);
    for (int i = 0; i < 200; i++) {
        char msg[16];
        int n = snprintf(msg, sizeof msg, "%d", i);
        assert_int_equal(bus_publish(b, i % 2 ? "presence" : "cluster", msg, (size_t)n), DROP_OK);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.n, 200);
    for (int i = 0; i < 200; i++) {
        char msg[16];
        int n = snprintf(msg, sizeof msg, "%d", i);
        assert_int_equal(r.len[i], (size_t)n);
        assert_memory_equal(r.payload[i], msg, (size_t)n);
        assert_string_equal(r.channel[i], i % 2 ? "presence" : "cluster");
    }
    finish(&loop, &r);
}

static void test_refcounts(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rec r = {0};
    struct bus *b = open_bus(&loop, &r, 0);
    assert_int_equal(bus_unsubscribe(b, "acct.1"), DROP_ENOTFOUND);
    assert_int_equal(bus_subscribe(b, "acct.1"), DROP_OK);
    assert_int_equal(bus_subscribe(b, "acct.1"), DROP_OK);
    assert_int_equal(bus_unsubscribe(b, "acct.1"), DROP_OK);
    assert_int_equal(bus_publish(b, "acct.1", "one", 3), DROP_OK);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.n, 1); /* still subscribed */
    assert_int_equal(bus_unsubscribe(b, "acct.1"), DROP_OK);
    assert_int_equal(bus_publish(b, "acct.1", "two", 3), DROP_OK);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.n, 1); /* gone */
    assert_int_equal(bus_unsubscribe(b, "acct.1"), DROP_ENOTFOUND);
    /* unsubscribed between publish and delivery: nothing arrives */
    assert_int_equal(bus_subscribe(b, "acct.1"), DROP_OK);
    assert_int_equal(bus_publish(b, "acct.1", "three", 5), DROP_OK);
    assert_int_equal(bus_unsubscribe(b, "acct.1"), DROP_OK);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.n, 1);
    finish(&loop, &r);
}

/* A subscriber that publishes from on_message is served on a later turn:
 * on_message never nests, and one turn delivers only what was queued before
 * it began (the loop keeps turning). */
static void test_no_reentrancy(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rec r = {0};
    struct bus *b = open_bus(&loop, &r, 0);
    r.republish = 5;
    assert_int_equal(bus_subscribe(b, "node.a"), DROP_OK);
    assert_int_equal(bus_publish(b, "node.a", "ping", 4), DROP_OK);
    for (int turn = 1; turn <= 6; turn++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        assert_int_equal(r.n, turn);
    }
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(r.n, 6);
    assert_int_equal(r.max_depth, 1);
    finish(&loop, &r);
}

static void test_bounded_queue(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rec r = {0};
    struct bus *b = open_bus(&loop, &r, 10);
    assert_int_equal(bus_subscribe(b, "presence"), DROP_OK);
    int ok = 0, full = 0;
    for (int i = 0; i < 15; i++) {
        drop_err e = bus_publish(b, "presence", &i, sizeof i);
        if (e == DROP_OK) ok++;
        else if (e == DROP_EUNAVAIL) full++;
    }
    assert_int_equal(ok, 10);
    assert_int_equal(full, 5);
    struct bus_stats st;
    bus_stats(b, &st);
    assert_int_equal(st.dropped, 5);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.n, 10);
    for (int i = 0; i < 10; i++) assert_memory_equal(r.payload[i], &i, sizeof i);
    /* room again once delivered */
    assert_int_equal(bus_publish(b, "presence", "x", 1), DROP_OK);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.n, 11);
    finish(&loop, &r);
}

static void test_close_from_callback(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rec r = {0};
    struct bus *b = open_bus(&loop, &r, 0);
    r.close_after = 2;
    assert_int_equal(bus_subscribe(b, "acct.9"), DROP_OK);
    for (int i = 0; i < 5; i++) assert_int_equal(bus_publish(b, "acct.9", "m", 1), DROP_OK);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.n, 2); /* nothing after close */
    assert_null(r.bus);
    assert_int_equal(uv_loop_close(&loop), 0);
    /* closing with messages still queued */
    uv_loop_init(&loop);
    struct rec r2 = {0};
    b = open_bus(&loop, &r2, 0);
    assert_int_equal(bus_subscribe(b, "acct.9"), DROP_OK);
    assert_int_equal(bus_publish(b, "acct.9", "m", 1), DROP_OK);
    finish(&loop, &r2);
    assert_int_equal(r2.n, 0);
}

static void test_bad_input(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rec r = {0};
    struct bus *b = open_bus(&loop, &r, 0);
    char longname[BUS_CHANNEL_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    assert_int_equal(bus_subscribe(b, ""), DROP_EBADREQ);
    assert_int_equal(bus_subscribe(b, NULL), DROP_EBADREQ);
    assert_int_equal(bus_subscribe(b, "a b"), DROP_EBADREQ);
    assert_int_equal(bus_subscribe(b, "a\nb"), DROP_EBADREQ);
    assert_int_equal(bus_subscribe(b, longname), DROP_EBADREQ);
    assert_int_equal(bus_unsubscribe(b, longname), DROP_EBADREQ);
    assert_int_equal(bus_publish(b, longname, "x", 1), DROP_EBADREQ);
    assert_int_equal(bus_publish(b, "x", NULL, 3), DROP_EBADREQ);
    longname[BUS_CHANNEL_MAX] = 0; /* exactly the maximum */
    assert_int_equal(bus_subscribe(b, longname), DROP_OK);
    assert_int_equal(bus_publish(b, longname, "x", 1), DROP_OK);
    static char big[BUS_PAYLOAD_MAX + 1];
    assert_int_equal(bus_publish(b, longname, big, sizeof big), DROP_ETOOLARGE);
    assert_int_equal(bus_publish(b, longname, big, BUS_PAYLOAD_MAX), DROP_OK);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.len[1], BUS_PAYLOAD_MAX);
    bus_close(NULL);
    finish(&loop, &r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delivery_next_turn),
        cmocka_unit_test(test_publish_counted),
        cmocka_unit_test(test_hold_prefix),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_refcounts),
        cmocka_unit_test(test_no_reentrancy),
        cmocka_unit_test(test_bounded_queue),
        cmocka_unit_test(test_close_from_callback),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
