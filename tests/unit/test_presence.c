/* test_presence.c - presence entries: create/update/put, validation, the free
 * filter (available, busy, locked, excluded account), expiry by TTL in
 * refresh order, node removal, iteration, and the queries through the grid. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/presence.h"

#define A1 "0000000000000000000000a1"
#define A2 "0000000000000000000000a2"
#define A3 "0000000000000000000000a3"
#define A4 "0000000000000000000000a4"

static struct presence *mk(void)
{
    struct presence *p = NULL;
    assert_int_equal(presence_new(1000, &p), DROP_OK);
    return p;
}

static void test_update_get(void **state)
{
    struct presence *p = mk();
    const struct presence_state *s;
    (void)state;

    assert_null(presence_get(p, A1));
    assert_int_equal(presence_update(p, A1, "node-1", 48.85, 2.35, 12.5, NAN, true, 1000), DROP_OK);
    s = presence_get(p, A1);
    assert_non_null(s);
    assert_string_equal(s->account, A1);
    assert_string_equal(s->node, "node-1");
    assert_true(s->lat == 48.85 && s->lon == 2.35 && s->accuracy == 12.5 && isnan(s->heading));
    assert_true(s->available && !s->busy && !s->locked && s->rating == 0);
    assert_int_equal(s->updated_at, 1000);
    assert_int_equal(presence_count(p), 1);

    /* busy, locked and rating survive the operator's own update */
    assert_int_equal(presence_set_busy(p, A1, true), DROP_OK);
    assert_int_equal(presence_set_locked(p, A1, true), DROP_OK);
    assert_int_equal(presence_set_rating(p, A1, 4.5), DROP_OK);
    assert_int_equal(presence_update(p, A1, "node-2", 48.86, 2.36, NAN, 90, false, 2000), DROP_OK);
    s = presence_get(p, A1);
    assert_true(s->busy && s->locked && s->rating == 4.5 && !s->available);
    assert_string_equal(s->node, "node-2");
    assert_true(s->lat == 48.86 && s->heading == 90);
    assert_int_equal(s->updated_at, 2000);
    assert_int_equal(presence_count(p), 1);
    assert_true(presence_memory(p) > 100);

    assert_int_equal(presence_set_busy(p, A2, true), DROP_ENOTFOUND);
    assert_int_equal(presence_set_locked(p, A2, true), DROP_ENOTFOUND);
    assert_int_equal(presence_set_rating(p, A2, 1), DROP_ENOTFOUND);
    assert_int_equal(presence_set_rating(p, A1, NAN), DROP_EBADREQ);
    assert_int_equal(presence_set_rating(p, A1, -1), DROP_EBADREQ);
    assert_int_equal(presence_remove(p, A2), DROP_ENOTFOUND);
    assert_int_equal(presence_remove(p, A1), DROP_OK);
    assert_null(presence_get(p, A1));
    assert_int_equal(presence_count(p), 0);
    assert_null(presence_get(p, NULL));
    presence_free(p);
    presence_free(NULL);
}

static void test_bad_input(void **state)
{
    struct presence *p = mk();
    struct presence *bad = (struct presence *)1;
    struct presence_state s = {.account = A1, .node = "n", .lat = 1, .lon = 1, .accuracy = NAN, .heading = NAN};
    struct presence_hit hits[2];
    size_t n;
    char longnode[40];
    (void)state;

    assert_int_equal(presence_new(0, &bad), DROP_EBADREQ);
    assert_null(bad);
    memset(longnode, 'x', sizeof longnode - 1);
    longnode[sizeof longnode - 1] = 0;
    assert_int_equal(presence_update(p, "xyz", "n", 1, 1, NAN, NAN, true, 1), DROP_EBADREQ);
    assert_int_equal(presence_update(p, NULL, "n", 1, 1, NAN, NAN, true, 1), DROP_EBADREQ);
    assert_int_equal(presence_update(p, A1, "", 1, 1, NAN, NAN, true, 1), DROP_EBADREQ);
    assert_int_equal(presence_update(p, A1, NULL, 1, 1, NAN, NAN, true, 1), DROP_EBADREQ);
    assert_int_equal(presence_update(p, A1, longnode, 1, 1, NAN, NAN, true, 1), DROP_EBADREQ);
    assert_int_equal(presence_update(p, A1, "bad node", 1, 1, NAN, NAN, true, 1), DROP_EBADREQ);
    assert_int_equal(presence_update(p, A1, "n", NAN, 1, NAN, NAN, true, 1), DROP_EBADREQ);
    assert_int_equal(presence_update(p, A1, "n", 91, 1, NAN, NAN, true, 1), DROP_EBADREQ);
    assert_int_equal(presence_update(p, A1, "n", 1, -180.5, NAN, NAN, true, 1), DROP_EBADREQ);
    assert_int_equal(presence_update(p, A1, "n", 1, 1, -1, NAN, true, 1), DROP_EBADREQ);
    assert_int_equal(presence_update(p, A1, "n", 1, 1, INFINITY, NAN, true, 1), DROP_EBADREQ);
    assert_int_equal(presence_update(p, A1, "n", 1, 1, NAN, 361, true, 1), DROP_EBADREQ);
    assert_int_equal(presence_count(p), 0);
    assert_int_equal(presence_put(p, NULL, 1), DROP_EBADREQ);
    s.rating = NAN;
    assert_int_equal(presence_put(p, &s, 1), DROP_EBADREQ);
    s.rating = 0;
    s.lat = 100;
    assert_int_equal(presence_put(p, &s, 1), DROP_EBADREQ);
    assert_int_equal(presence_count(p), 0);

    /* a rejected update leaves an existing entry as it was */
    assert_int_equal(presence_update(p, A1, "n", 1, 1, NAN, NAN, true, 1), DROP_OK);
    assert_int_equal(presence_update(p, A1, "n", NAN, 5, NAN, NAN, true, 2), DROP_EBADREQ);
    assert_true(presence_get(p, A1)->lat == 1 && presence_get(p, A1)->updated_at == 1);
    assert_int_equal(presence_nearest_free(p, 1, 1, 10, 2, NULL, hits, &n), DROP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(presence_nearest_free(p, NAN, 1, 10, 2, NULL, hits, &n), DROP_EBADREQ);
    assert_int_equal(presence_nearest_free(p, 1, 1, -5, 2, NULL, hits, &n), DROP_EBADREQ);
    assert_int_equal(presence_nearest_free(p, 1, 1, NAN, 0, NULL, hits, &n), DROP_EBADREQ);
    assert_int_equal(presence_nearest_free(p, 1, 1, 10, 0, NULL, hits, &n), DROP_OK);
    assert_int_equal(n, 0);
    presence_free(p);
}

static void test_free_filter(void **state)
{
    struct presence *p = mk();
    struct presence_hit hits[8];
    struct presence_hit *all;
    size_t n;
    (void)state;

    /* four operators 0.001 degrees (~111 m) apart going north */
    assert_int_equal(presence_update(p, A1, "n", 48.000, 2, NAN, NAN, true, 1), DROP_OK);
    assert_int_equal(presence_update(p, A2, "n", 48.001, 2, NAN, NAN, true, 1), DROP_OK);
    assert_int_equal(presence_update(p, A3, "n", 48.002, 2, NAN, NAN, true, 1), DROP_OK);
    assert_int_equal(presence_update(p, A4, "n", 48.003, 2, NAN, NAN, true, 1), DROP_OK);
    assert_int_equal(presence_nearest_free(p, 48, 2, 5000, 8, NULL, hits, &n), DROP_OK);
    assert_int_equal(n, 4);
    assert_string_equal(hits[0].state->account, A1);
    assert_string_equal(hits[3].state->account, A4);
    assert_true(hits[1].dist_m > 110 && hits[1].dist_m < 112);

    /* each way of not being free removes exactly that operator */
    assert_int_equal(presence_set_busy(p, A1, true), DROP_OK);
    assert_int_equal(presence_set_locked(p, A2, true), DROP_OK);
    assert_int_equal(presence_update(p, A3, "n", 48.002, 2, NAN, NAN, false, 2), DROP_OK);
    assert_int_equal(presence_nearest_free(p, 48, 2, 5000, 8, NULL, hits, &n), DROP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(hits[0].state->account, A4);
    assert_int_equal(presence_nearest_free(p, 48, 2, 5000, 8, A4, hits, &n), DROP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(presence_within_free(p, 48, 2, 5000, A4, &all, &n), DROP_OK);
    assert_int_equal(n, 0);
    assert_null(all);

    assert_int_equal(presence_set_busy(p, A1, false), DROP_OK);
    assert_int_equal(presence_set_locked(p, A2, false), DROP_OK);
    /* A1 excluded, A2 at 111 m, A3 at 222 m unavailable, A4 at 333 m */
    assert_int_equal(presence_within_free(p, 48, 2, 250, A1, &all, &n), DROP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(all[0].state->account, A2);
    free(all);
    assert_int_equal(presence_within_free(p, 48, 2, 400, A1, &all, &n), DROP_OK);
    assert_int_equal(n, 2);
    assert_string_equal(all[0].state->account, A2);
    assert_string_equal(all[1].state->account, A4);
    free(all);
    /* k smaller than the free set: the nearest ones */
    assert_int_equal(presence_nearest_free(p, 48.0031, 2, 5000, 2, NULL, hits, &n), DROP_OK);
    assert_int_equal(n, 2);
    assert_string_equal(hits[0].state->account, A4);
    assert_string_equal(hits[1].state->account, A2);
    presence_free(p);
}

struct seen {
    char acc[8][DROP_ID_SIZE];
    int n;
};

static void record(const struct presence_state *s, void *ud)
{
    struct seen *v = ud;
    if (v->n < 8) snprintf(v->acc[v->n++], DROP_ID_SIZE, "%s", s->account);
}

static void test_expire_and_nodes(void **state)
{
    struct presence *p = mk();
    struct presence_state s = {.account = A4, .node = "node-b", .lat = -33.9, .lon = 151.2, .accuracy = 5,
                               .heading = NAN, .rating = 3.5, .updated_at = 12345, .available = true, .busy = true};
    struct seen v = {0};
    (void)state;

    assert_int_equal(presence_update(p, A1, "node-a", 1, 1, NAN, NAN, true, 1000), DROP_OK);
    assert_int_equal(presence_update(p, A2, "node-a", 1, 1, NAN, NAN, true, 2000), DROP_OK);
    assert_int_equal(presence_update(p, A3, "node-b", 1, 1, NAN, NAN, true, 3000), DROP_OK);
    assert_int_equal(presence_put(p, &s, 4000), DROP_OK);
    assert_true(presence_get(p, A4)->busy && presence_get(p, A4)->rating == 3.5);
    assert_int_equal(presence_get(p, A4)->updated_at, 4000);
    /* A1 refreshes: now the oldest is A2 */
    assert_int_equal(presence_update(p, A1, "node-a", 1, 1.001, NAN, NAN, true, 5000), DROP_OK);

    presence_foreach(p, record, &v);
    assert_int_equal(v.n, 4);
    assert_string_equal(v.acc[0], A2);
    assert_string_equal(v.acc[3], A1);

    /* ttl 2500 at 5000: A2 (2000) expires, A3 (3000) not yet (5000-2500 = 2500) */
    memset(&v, 0, sizeof v);
    assert_int_equal(presence_expire(p, 5000, 2500, record, &v), 1);
    assert_int_equal(v.n, 1);
    assert_string_equal(v.acc[0], A2);
    assert_null(presence_get(p, A2));
    /* exactly at the TTL it goes */
    assert_int_equal(presence_expire(p, 5500, 2500, NULL, NULL), 1);
    assert_null(presence_get(p, A3));
    assert_int_equal(presence_count(p), 2);

    /* a node leaving takes its operators along */
    memset(&v, 0, sizeof v);
    assert_int_equal(presence_remove_node(p, "node-b", record, &v), 1);
    assert_string_equal(v.acc[0], A4);
    assert_int_equal(presence_remove_node(p, "node-x", NULL, NULL), 0);
    assert_int_equal(presence_count(p), 1);
    assert_int_equal(presence_expire(p, 1000000, 100, NULL, NULL), 1);
    assert_int_equal(presence_count(p), 0);
    assert_int_equal(presence_expire(p, 1000000, 100, NULL, NULL), 0);
    presence_free(p);
}

static void test_many(void **state)
{
    struct presence *p = mk();
    struct presence_hit hits[20];
    char acc[DROP_ID_SIZE];
    size_t n;
    (void)state;

    /* 2000 operators on a 50 x 40 lattice, 0.01 degrees apart, every third busy */
    for (int i = 0; i < 2000; i++) {
        snprintf(acc, sizeof acc, "%024x", i + 1);
        assert_int_equal(presence_update(p, acc, "n", 10 + (i / 50) * 0.01, 20 + (i % 50) * 0.01, NAN, NAN, true, i), DROP_OK);
        if (i % 3 == 0) assert_int_equal(presence_set_busy(p, acc, true), DROP_OK);
    }
    assert_int_equal(presence_count(p), 2000);
    assert_int_equal(presence_nearest_free(p, 10.2, 20.2, 1e6, 20, NULL, hits, &n), DROP_OK);
    assert_int_equal(n, 20);
    for (size_t i = 0; i < n; i++) {
        assert_false(hits[i].state->busy);
        if (i) assert_true(hits[i - 1].dist_m <= hits[i].dist_m);
    }
    /* the nearest free one: the lattice point (10.2, 20.2) is i = 20*50+20 = 1020, 1020 % 3 == 0 busy */
    assert_true(hits[0].dist_m > 1000 && hits[0].dist_m < 1200);
    assert_int_equal(presence_expire(p, 2000 + 999, 1000, NULL, NULL), 2000);
    presence_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_update_get),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_free_filter),
        cmocka_unit_test(test_expire_and_nodes),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
