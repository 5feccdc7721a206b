/* log.c - writes log lines to stderr, one fprintf per line so concurrent
 * threads do not interleave within a line. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "engine/log.h"

int log_min_level = LOG_INFO;

static const char *level_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0) return i;
    return -1;
}

void log_write(int level, const char *fmt, ...)
{
    char msg[1024], ts[32];
    struct timeval tv;
    struct tm tm;
    va_list ap;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (level < 0 || level > LOG_ERROR) level = LOG_ERROR;
    fprintf(stderr, "%s.%03dZ level=%s %s\n", ts, (int)(tv.tv_usec / 1000),
            level_names[level], msg);
}
