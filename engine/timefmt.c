/* timefmt.c - ISO-8601 formatting without locale or timezone dependence. */
#include <stdio.h>
#include <time.h>

#include "engine/timefmt.h"

void timefmt_iso(int64_t ms, char out[TIMEFMT_SIZE])
{
    time_t secs = (time_t)(ms / 1000);
    int milli = (int)(ms % 1000);
    struct tm tm;
    if (milli < 0) {
        milli += 1000;
        secs -= 1;
    }
    gmtime_r(&secs, &tm);
    snprintf(out, TIMEFMT_SIZE, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, milli);
}

json_t *timefmt_json(int64_t ms)
{
    char buf[TIMEFMT_SIZE];
    if (ms == 0) return json_null();
    timefmt_iso(ms, buf);
    return json_string(buf);
}
