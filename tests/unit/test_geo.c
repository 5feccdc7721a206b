/* test_geo.c - coordinate validation and haversine distances against values
 * computed by hand (R = 6371008.8 m). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "engine/geo.h"

#define R GEO_EARTH_RADIUS_M

static void test_valid(void **state)
{
    (void)state;
    assert_true(geo_valid(0, 0));
    assert_true(geo_valid(90, 180));
    assert_true(geo_valid(-90, -180));
    assert_true(geo_valid(48.8566, 2.3522));
    assert_false(geo_valid(90.0000001, 0));
    assert_false(geo_valid(-90.0000001, 0));
    assert_false(geo_valid(0, 180.0000001));
    assert_false(geo_valid(0, -180.0000001));
    assert_false(geo_valid(NAN, 0));
    assert_false(geo_valid(0, NAN));
    assert_false(geo_valid(INFINITY, 0));
    assert_false(geo_valid(0, -INFINITY));
    assert_int_equal(geo_check(1, 1), DROP_OK);
    assert_int_equal(geo_check(100, 1), DROP_EBADREQ);
}

static void test_distance(void **state)
{
    (void)state;
    /* one degree along the equator and along a meridian */
    assert_true(fabs(geo_distance_m(0, 0, 0, 1) - R * M_PI / 180) < 1e-6);
    assert_true(fabs(geo_distance_m(10, 5, 11, 5) - R * M_PI / 180) < 1e-6);
    /* same point, symmetric */
    assert_true(geo_distance_m(45, 45, 45, 45) == 0.0);
    assert_true(fabs(geo_distance_m(1, 2, 3, 4) - geo_distance_m(3, 4, 1, 2)) < 1e-9);
    /* pole to pole, antipodes */
    assert_true(fabs(geo_distance_m(90, 0, -90, 0) - R * M_PI) < 1e-6);
    assert_true(fabs(geo_distance_m(0, 0, 0, 180) - R * M_PI) < 1e-6);
    assert_true(fabs(geo_distance_m(30, 20, -30, -160) - R * M_PI) < 1e-3);
    /* across the antimeridian: 0.002 degrees of equator */
    assert_true(fabs(geo_distance_m(0, 179.999, 0, -179.999) - R * M_PI / 180 * 0.002) < 1e-6);
    /* at a pole the longitude does not matter */
    assert_true(geo_distance_m(90, 0, 90, 123) < 1e-6);
    assert_true(fabs(geo_distance_m(89.999, 0, 89.999, 180) - R * M_PI / 180 * 0.002) < 1e-6);
    /* Paris - London, about 343.9 km on this sphere */
    double d = geo_distance_m(48.8566, 2.3522, 51.5074, -0.1278);
    assert_true(d > 343000 && d < 345000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_distance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
