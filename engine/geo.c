/* geo.c - coordinate validation and haversine distance (see geo.h). */
#include <math.h>

#include "engine/geo.h"

#define DEG2RAD (M_PI / 180.0)

bool geo_valid(double lat, double lon)
{
    return isfinite(lat) && isfinite(lon) && lat >= -90.0 && lat <= 90.0 &&
           lon >= -180.0 && lon <= 180.0;
}

drop_err geo_check(double lat, double lon)
{
    return geo_valid(lat, lon) ? DROP_OK : DROP_EBADREQ;
}

double geo_distance_m(double lat1, double lon1, double lat2, double lon2)
{
    double p1 = lat1 * DEG2RAD, p2 = lat2 * DEG2RAD;
    double sdp = sin((p2 - p1) / 2.0);
    double sdl = sin((lon2 - lon1) * DEG2RAD / 2.0);
    double a = sdp * sdp + cos(p1) * cos(p2) * sdl * sdl;

    if (a < 0.0) a = 0.0;
    if (a > 1.0) a = 1.0;
    return 2.0 * GEO_EARTH_RADIUS_M * atan2(sqrt(a), sqrt(1.0 - a));
}
