/* timefmt.c - ISO-8601 formatting without locale or timezone dependence.
 * Times outside years 0..9999 (which no client can hold) print as the epoch. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/timefmt.h"

/* Writes v as exactly n decimal digits (zero-padded). */
static void put_digits(char *p, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--, v /= 10) p[i] = (char)('0' + v % 10);
}

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
    /* digits by hand: snprintf was a measurable part of every sys.ping */
    put_digits(out, (unsigned)(tm.tm_year + 1900) % 10000u, 4);
    out[4] = '-';
    put_digits(out + 5, (unsigned)(tm.tm_mon + 1) % 100u, 2);
    out[7] = '-';
    put_digits(out + 8, (unsigned)tm.tm_mday % 100u, 2);
    out[10] = 'T';
    put_digits(out + 11, (unsigned)tm.tm_hour % 100u, 2);
    out[13] = ':';
    put_digits(out + 14, (unsigned)tm.tm_min % 100u, 2);
    out[16] = ':';
    put_digits(out + 17, (unsigned)tm.tm_sec % 100u, 2);
    out[19] = '.';
    put_digits(out + 20, (unsigned)r % 1000u, 3);
    out[23] = 'Z';
    out[24] = '\0';
}

json_t *timefmt_json(int64_t ms)
{
    char buf[TIMEFMT_SIZE];
    if (ms == 0) return json_null();
    timefmt_iso(ms, buf);
    return json_string(buf);
}
