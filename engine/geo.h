/* geo.h - coordinates on the sphere: validation and great-circle distance.
 *
 * Positions are WGS84 degrees treated as points on a sphere of the IUGG mean
 * earth radius. Distances are great-circle (haversine) metres; the error against
 * the ellipsoid (up to ~0.5 %) does not matter for "who is nearest". */
#ifndef DROP_GEO_H
#define DROP_GEO_H

#include <stdbool.h>

#include "engine/err.h"

/* Mean earth radius in metres (IUGG R1). */
#define GEO_EARTH_RADIUS_M 6371008.8

/* True when lat and lon are finite, lat in [-90, 90] and lon in [-180, 180]. */
bool geo_valid(double lat, double lon);

/* DROP_OK when geo_valid(lat, lon), DROP_EBADREQ otherwise. */
drop_err geo_check(double lat, double lon);

/* Great-circle distance in metres between two valid positions (haversine, in
 * the atan2 form that stays accurate for antipodal points). Longitudes may be
 * on either side of the antimeridian. Result in [0, pi * R]. */
double geo_distance_m(double lat1, double lon1, double lat2, double lon2);

#endif
