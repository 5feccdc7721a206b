/* test_grid.c - the spatial grid: small exact cases (antimeridian, poles,
 * radius 0, k 0, empty grid, bad input, moves) and a property test of
 * grid_nearest / grid_within against brute force over random points with
 * antimeridian and polar clusters, random radius, k, filters and moves. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/geo.h"
#include "engine/grid.h"

struct obj {
    struct grid_entry ge;
    double lat, lon;
    int id;
    bool blocked;
    bool in;
};

#define OBJ_OF(gep) ((struct obj *)((char *)(gep) - offsetof(struct obj, ge)))

static bool not_blocked(const struct grid_entry *e, void *ud)
{
    (void)ud;
    return !OBJ_OF(e)->blocked;
}

static struct grid *mk(double cell)
{
    struct grid *g = NULL;
    assert_int_equal(grid_new(cell, &g), DROP_OK);
    assert_non_null(g);
    return g;
}

static void put(struct grid *g, struct obj *o, int id, double lat, double lon)
{
    memset(o, 0, sizeof *o);
    o->id = id;
    o->lat = lat;
    o->lon = lon;
    assert_int_equal(grid_insert(g, &o->ge, lat, lon), DROP_OK);
    o->in = true;
}

static void test_new_bad(void **state)
{
    struct grid *g = (struct grid *)1;
    (void)state;
    assert_int_equal(grid_new(0.5, &g), DROP_EBADREQ);
    assert_null(g);
    assert_int_equal(grid_new(NAN, &g), DROP_EBADREQ);
    assert_int_equal(grid_new(INFINITY, &g), DROP_EBADREQ);
    assert_int_equal(grid_new(-10, &g), DROP_EBADREQ);
    assert_int_equal(grid_new(2e7, &g), DROP_EBADREQ);
    grid_free(NULL);
}

static void test_empty_and_zero(void **state)
{
    struct grid *g = mk(1000);
    struct grid_hit hits[4];
    struct grid_hit *all = (struct grid_hit *)1;
    size_t n = 99;
    struct obj a, b;
    (void)state;

    assert_int_equal(grid_nearest(g, 10, 10, 1e7, 4, NULL, NULL, hits, &n), DROP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(grid_within(g, 10, 10, 1e7, NULL, NULL, &all, &n), DROP_OK);
    assert_int_equal(n, 0);
    assert_null(all);

    put(g, &a, 1, 10, 10);
    put(g, &b, 2, 10, 10.0001);
    /* k 0 */
    n = 99;
    assert_int_equal(grid_nearest(g, 10, 10, 1e7, 0, NULL, NULL, hits, &n), DROP_OK);
    assert_int_equal(n, 0);
    /* radius 0 finds only the exact point */
    assert_int_equal(grid_nearest(g, 10, 10, 0, 4, NULL, NULL, hits, &n), DROP_OK);
    assert_int_equal(n, 1);
    assert_ptr_equal(hits[0].entry, &a.ge);
    assert_true(hits[0].dist_m == 0.0);
    assert_int_equal(grid_nearest(g, 10, 10.00005, 0, 4, NULL, NULL, hits, &n), DROP_OK);
    assert_int_equal(n, 0);
    grid_remove(g, &a.ge);
    grid_remove(g, &b.ge);
    assert_int_equal(grid_count(g), 0);
    assert_int_equal(grid_cells(g), 0);
    grid_free(g);
}

static void test_bad_input(void **state)
{
    struct grid *g = mk(1000);
    struct grid_hit hits[2];
    struct grid_hit *all;
    size_t n = 7;
    struct obj o = {0};
    const double bad[][2] = {{NAN, 0}, {0, NAN}, {91, 0}, {-90.5, 0}, {0, 180.5}, {0, -181}, {INFINITY, 0}, {0, -INFINITY}};
    (void)state;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(grid_insert(g, &o.ge, bad[i][0], bad[i][1]), DROP_EBADREQ);
        assert_false(grid_entry_linked(&o.ge));
        assert_int_equal(grid_nearest(g, bad[i][0], bad[i][1], 100, 2, NULL, NULL, hits, &n), DROP_EBADREQ);
        assert_int_equal(n, 0);
        assert_int_equal(grid_within(g, bad[i][0], bad[i][1], 100, NULL, NULL, &all, &n), DROP_EBADREQ);
        assert_null(all);
    }
    assert_int_equal(grid_count(g), 0);
    assert_int_equal(grid_nearest(g, 0, 0, NAN, 2, NULL, NULL, hits, &n), DROP_EBADREQ);
    assert_int_equal(grid_nearest(g, 0, 0, -1, 2, NULL, NULL, hits, &n), DROP_EBADREQ);

    /* double insert, move of an unlinked entry, bad move keeps the old place */
    assert_int_equal(grid_move(g, &o.ge, 1, 1), DROP_ENOTFOUND);
    assert_int_equal(grid_insert(g, &o.ge, 1, 1), DROP_OK);
    assert_int_equal(grid_insert(g, &o.ge, 2, 2), DROP_ECONFLICT);
    assert_int_equal(grid_move(g, &o.ge, NAN, 2), DROP_EBADREQ);
    assert_int_equal(grid_nearest(g, 1, 1, 1, 2, NULL, NULL, hits, &n), DROP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(grid_count(g), 1);
    grid_remove(g, &o.ge);
    grid_remove(g, &o.ge); /* no-op */
    assert_int_equal(grid_count(g), 0);
    grid_free(g);
}

static void test_antimeridian(void **state)
{
    struct grid *g = mk(1000);
    struct grid_hit hits[4];
    size_t n;
    struct obj a, b, c;
    (void)state;

    put(g, &a, 1, 0, -179.999);
    put(g, &b, 2, 0, 180.0);
    put(g, &c, 3, 0, 179.0);
    assert_int_equal(grid_nearest(g, 0, 179.999, 1000, 4, NULL, NULL, hits, &n), DROP_OK);
    assert_int_equal(n, 2);
    assert_ptr_equal(hits[0].entry, &b.ge);
    assert_ptr_equal(hits[1].entry, &a.ge);
    assert_true(fabs(hits[1].dist_m - geo_distance_m(0, 179.999, 0, -179.999)) < 1e-6);
    /* and from the other side, -180 is the same meridian as 180 */
    assert_int_equal(grid_nearest(g, 0, -180, 1, 4, NULL, NULL, hits, &n), DROP_OK);
    assert_int_equal(n, 1);
    assert_ptr_equal(hits[0].entry, &b.ge);
    /* k nearest with no radius limit walks across the line too */
    assert_int_equal(grid_nearest(g, 0.5, -179.5, 1e6, 3, NULL, NULL, hits, &n), DROP_OK);
    assert_int_equal(n, 3);
    assert_ptr_equal(hits[2].entry, &c.ge);
    grid_free(g);
}

static void test_poles(void **state)
{
    struct grid *g = mk(1000);
    struct grid_hit hits[16];
    struct grid_hit *all;
    struct obj o[12], s;
    size_t n;
    (void)state;

    for (int i = 0; i < 12; i++) put(g, &o[i], i, 89.99, -180 + 30 * i);
    put(g, &s, 100, -90, 0);
    /* from the pole, all twelve are 1.11 km away */
    assert_int_equal(grid_within(g, 90, 0, 1200, NULL, NULL, &all, &n), DROP_OK);
    assert_int_equal(n, 12);
    for (size_t i = 0; i < n; i++) assert_true(fabs(all[i].dist_m - 0.01 * M_PI / 180 * GEO_EARTH_RADIUS_M) < 1e-6);
    free(all);
    /* near the pole, the point across it (lon + 180) is found in order */
    assert_int_equal(grid_nearest(g, 89.99, 0, 2300, 16, NULL, NULL, hits, &n), DROP_OK);
    assert_int_equal(n, 12);
    assert_ptr_equal(hits[0].entry, &o[6].ge); /* lon 0 itself */
    assert_ptr_equal(hits[11].entry, &o[0].ge); /* lon -180: across the pole */
    assert_true(fabs(hits[11].dist_m - geo_distance_m(89.99, 0, 89.99, -180)) < 1e-6);
    /* the south pole at any longitude */
    assert_int_equal(grid_nearest(g, -89.9999, 137, 100, 2, NULL, NULL, hits, &n), DROP_OK);
    assert_int_equal(n, 1);
    assert_ptr_equal(hits[0].entry, &s.ge);
    /* the whole sphere */
    assert_int_equal(grid_within(g, -90, 0, 3e7, NULL, NULL, &all, &n), DROP_OK);
    assert_int_equal(n, 13);
    assert_ptr_equal(all[0].entry, &s.ge);
    free(all);
    grid_free(g);
}

static void test_move_filter_order(void **state)
{
    struct grid *g = mk(500);
    struct grid_hit hits[8];
    struct obj o[5];
    size_t n;
    (void)state;

    for (int i = 0; i < 5; i++) put(g, &o[i], i, 48.0 + 0.001 * i, 2.0); /* ~111 m apart */
    assert_int_equal(grid_nearest(g, 48.0, 2.0, 10000, 3, NULL, NULL, hits, &n), DROP_OK);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) assert_ptr_equal(hits[i].entry, &o[i].ge);
    assert_true(hits[0].dist_m < hits[1].dist_m && hits[1].dist_m < hits[2].dist_m);
    /* filter: blocked ones are skipped, the next ones take their place */
    o[0].blocked = o[2].blocked = true;
    assert_int_equal(grid_nearest(g, 48.0, 2.0, 10000, 3, not_blocked, NULL, hits, &n), DROP_OK);
    assert_int_equal(n, 3);
    assert_ptr_equal(hits[0].entry, &o[1].ge);
    assert_ptr_equal(hits[1].entry, &o[3].ge);
    assert_ptr_equal(hits[2].entry, &o[4].ge);
    o[0].blocked = o[2].blocked = false;
    /* move o[4] far away (another cell) and o[3] a little (same cell) */
    assert_int_equal(grid_move(g, &o[4].ge, -33.9, 151.2), DROP_OK);
    assert_int_equal(grid_move(g, &o[3].ge, 48.0, 2.0), DROP_OK);
    assert_int_equal(grid_nearest(g, 48.0, 2.0, 10000, 8, NULL, NULL, hits, &n), DROP_OK);
    assert_int_equal(n, 4);
    assert_ptr_equal(hits[0].entry == &o[0].ge ? hits[1].entry : hits[0].entry, &o[3].ge);
    assert_int_equal(grid_nearest(g, -33.9, 151.2, 10, 8, NULL, NULL, hits, &n), DROP_OK);
    assert_int_equal(n, 1);
    assert_ptr_equal(hits[0].entry, &o[4].ge);
    assert_int_equal(grid_count(g), 5);
    assert_true(grid_memory(g) > 5 * 32);
    for (int i = 0; i < 5; i++) grid_remove(g, &o[i].ge);
    assert_int_equal(grid_cells(g), 0);
    grid_free(g);
}

/* ---- property test against brute force ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static double unif(double a, double b) { return a + (b - a) * ((double)(rnd() >> 11) / 9007199254740992.0); }

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

/* A random position: uniform on the globe, or in one of the clusters (a city,
 * both sides of the antimeridian, both poles). */
static void rand_pos(double *lat, double *lon)
{
    switch (rnd() % 6) {
    case 0:
        *lat = asin(unif(-1, 1)) * 180 / M_PI;
        *lon = unif(-180, 180);
        break;
    case 1: /* city */
        *lat = unif(48.7, 49.0);
        *lon = unif(2.2, 2.6);
        break;
    case 2: /* antimeridian */
        *lat = unif(-1, 1);
        *lon = rnd() % 2 ? unif(179.5, 180) : unif(-180, -179.5);
        break;
    case 3: /* north pole */
        *lat = unif(89.5, 90);
        *lon = unif(-180, 180);
        break;
    case 4: /* south pole */
        *lat = unif(-90, -89.6);
        *lon = unif(-180, 180);
        break;
    default: /* exact corner values */
        *lat = (double)(int)(rnd() % 181) - 90.0;
        *lon = (double)(int)(rnd() % 361) - 180.0;
        if (rnd() % 2) *lat = clampd(*lat + unif(-1e-9, 1e-9), -90, 90);
        break;
    }
}

static double rand_radius(void)
{
    switch (rnd() % 8) {
    case 0: return 0;
    case 1: return unif(0, 2000);
    case 2: return unif(0, 50000);
    case 3: return unif(0, 500000);
    case 4: return unif(0, 2.1e7);
    case 5: return INFINITY;
    default: return exp(unif(log(10), log(3e6)));
    }
}

struct bf {
    int idx;
    double d;
};

static int bf_cmp(const void *a, const void *b)
{
    double x = ((const struct bf *)a)->d, y = ((const struct bf *)b)->d;
    return (x > y) - (x < y);
}

#define NPTS 2000
#define NQUERIES 100000
#define TOL 1e-6

/* The reference distance: geo_distance_m, except within 50 km of the
 * antipode where haversine is ill-conditioned (its error grows like
 * 1e-16 / distance-to-antipode, ~1e-4 m at 70 m): there the same formula in
 * long double, 2^11 times finer. */
static double ref_distance(double lat1, double lon1, double lat2, double lon2)
{
    double d = geo_distance_m(lat1, lon1, lat2, lon2);
    if (d < M_PI * GEO_EARTH_RADIUS_M - 50000) return d;
    long double r = 3.14159265358979323846264338327950288L / 180, p1 = lat1 * r, p2 = lat2 * r;
    long double sdp = sinl((p2 - p1) / 2), sdl = sinl((lon2 - lon1) * r / 2);
    long double a = sdp * sdp + cosl(p1) * cosl(p2) * sdl * sdl;
    if (a > 1) a = 1;
    return (double)(2 * (long double)GEO_EARTH_RADIUS_M * atan2l(sqrtl(a), sqrtl(1 - a)));
}

static void check_query(struct grid *g, struct obj *pts, struct bf *bf, struct grid_hit *hits, uint64_t *nonempty)
{
    double lat, lon, radius = rand_radius();
    size_t k, n, nb = 0, lo = 0, hi = 0;
    bool use_filter = rnd() % 3 == 0, within = rnd() % 10 == 0;
    struct grid_hit *wh = NULL;

    if (rnd() % 4 == 0) { /* a query at a stored point */
        struct obj *o = &pts[rnd() % NPTS];
        lat = o->lat;
        lon = o->lon;
    } else {
        rand_pos(&lat, &lon);
    }
    k = rnd() % 4 == 0 ? rnd() % 200 : rnd() % 25;
    for (int i = 0; i < NPTS; i++) {
        if (!pts[i].in || (use_filter && pts[i].blocked)) continue;
        double d = ref_distance(lat, lon, pts[i].lat, pts[i].lon);
        if (d > radius + TOL) continue;
        bf[nb++] = (struct bf){i, d};
        hi++;
        if (d <= radius - TOL) lo++;
    }
    qsort(bf, nb, sizeof *bf, bf_cmp);
    if (within) {
        assert_int_equal(grid_within(g, lat, lon, radius, use_filter ? not_blocked : NULL, NULL, &wh, &n), DROP_OK);
        k = SIZE_MAX;
    } else {
        assert_int_equal(grid_nearest(g, lat, lon, radius, k, use_filter ? not_blocked : NULL, NULL, hits, &n), DROP_OK);
        wh = hits;
    }
    size_t want_lo = lo < k ? lo : k, want_hi = hi < k ? hi : k;
    if (n < want_lo || n > want_hi) {
        fprintf(stderr, "query (%.12g, %.12g) r=%.17g k=%zu filter=%d within=%d: got %zu want [%zu, %zu]\n", lat,
                lon, radius, k, use_filter, within, n, want_lo, want_hi);
        fail();
    }
    for (size_t i = 0; i < n; i++) {
        struct obj *o = OBJ_OF(wh[i].entry);
        double d = ref_distance(lat, lon, o->lat, o->lon);
        assert_true(o->in);
        assert_false(use_filter && o->blocked);
        if (fabs(d - wh[i].dist_m) > TOL || fabs(bf[i].d - wh[i].dist_m) > TOL) {
            fprintf(stderr, "query (%.12g, %.12g) r=%.17g k=%zu rank %zu: got id %d at %.9f (true %.9f), brute id %d at %.9f\n",
                    lat, lon, radius, k, i, o->id, wh[i].dist_m, d, bf[i].idx, bf[i].d);
            fail();
        }
        for (size_t j = 0; j < i && i < 64; j++) assert_ptr_not_equal(wh[j].entry, wh[i].entry);
    }
    if (n) (*nonempty)++;
    if (within) free(wh);
}

static void test_property(void **state)
{
    static struct obj pts[NPTS];
    static struct bf bf[NPTS];
    static struct grid_hit hits[200];
    const double cells[] = {1000, 25000, 300000, 3000};
    uint64_t nonempty = 0;
    (void)state;

    for (size_t gi = 0; gi < sizeof cells / sizeof cells[0]; gi++) {
        struct grid *g = mk(cells[gi]);
        for (int i = 0; i < NPTS; i++) {
            double lat, lon;
            rand_pos(&lat, &lon);
            put(g, &pts[i], i, lat, lon);
            pts[i].blocked = rnd() % 3 == 0;
        }
        for (int q = 0; q < NQUERIES / 4; q++) {
            if (q % 50 == 0) { /* churn: moves, removals, re-inserts */
                for (int m = 0; m < 40; m++) {
                    struct obj *o = &pts[rnd() % NPTS];
                    double lat, lon;
                    rand_pos(&lat, &lon);
                    if (!o->in) {
                        assert_int_equal(grid_insert(g, &o->ge, lat, lon), DROP_OK);
                        o->in = true;
                    } else if (rnd() % 8 == 0) {
                        grid_remove(g, &o->ge);
                        o->in = false;
                        continue;
                    } else if (rnd() % 2) { /* a small step, often the same cell */
                        lat = clampd(o->lat + unif(-1e-3, 1e-3), -90, 90);
                        lon = clampd(o->lon + unif(-1e-3, 1e-3), -180, 180);
                        assert_int_equal(grid_move(g, &o->ge, lat, lon), DROP_OK);
                    } else {
                        assert_int_equal(grid_move(g, &o->ge, lat, lon), DROP_OK);
                    }
                    o->lat = lat;
                    o->lon = lon;
                }
            }
            check_query(g, pts, bf, hits, &nonempty);
        }
        size_t in = 0;
        for (int i = 0; i < NPTS; i++) in += pts[i].in;
        assert_int_equal(grid_count(g), in);
        for (int i = 0; i < NPTS; i++) grid_remove(g, &pts[i].ge);
        assert_int_equal(grid_count(g), 0);
        assert_int_equal(grid_cells(g), 0);
        grid_free(g);
    }
    /* the generator must exercise real answers, not mostly empty ones */
    assert_true(nonempty > NQUERIES / 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_bad),
        cmocka_unit_test(test_empty_and_zero),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_antimeridian),
        cmocka_unit_test(test_poles),
        cmocka_unit_test(test_move_filter_order),
        cmocka_unit_test(test_property),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
