/* timefmt.c - ISO-8601 formatting without locale or timezone dependence.
 * Times outside years 0..9999 (which no client can hold) print as the epoch. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/timefmt.h"

void timefmt_iso(int64_t ms, char out[TIMEFMT_SIZE])
{
    int64_t s = ms / 1000, r = ms % 1000;
    struct tm tm;
    time_t t;

    if (r < 0) {
        r += 1000;
        s--;
    }
    t = (time_t)s;
    if (!gmtime_r(&t, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) {
        memcpy(out, "1970-01-01T00:00:00.000Z", 25);
        return;
    }
    snprintf(out, TIMEFMT_SIZE, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
             (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
             (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
             (unsigned)tm.tm_sec % 100u, (unsigned)r % 1000u);
}

json_t *timefmt_json(int64_t ms)
{
    char buf[TIMEFMT_SIZE];
    if (ms == 0) return json_null();
    timefmt_iso(ms, buf);
    return json_string(buf);
}
