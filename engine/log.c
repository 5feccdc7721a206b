/* log.c - writes log lines to stderr, one fprintf per line so concurrent
 * threads do not interleave within a line, and keeps the last ones in a
 * fixed ring for admin.tail. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "engine/log.h"

int log_min_level = LOG_INFO;

static const char *level_names[] = {"debug", "info", "warn", "error"};

static pthread_mutex_t ring_mu = PTHREAD_MUTEX_INITIALIZER;
static char ring[LOG_RING_LINES][LOG_RING_LINE];
static unsigned long long ring_seq; /* lines written; line k is ring[(k - 1) % N] */

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
    char line[sizeof msg + 64];
    int n = snprintf(line, sizeof line, "%s.%03dZ level=%s %s", ts, (int)(tv.tv_usec / 1000),
                     level_names[level], msg);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    fprintf(stderr, "%s\n", line);
    if (len > LOG_RING_LINE - 1) len = LOG_RING_LINE - 1;
    pthread_mutex_lock(&ring_mu);
    memcpy(ring[ring_seq % LOG_RING_LINES], line, len);
    ring[ring_seq % LOG_RING_LINES][len] = '\0';
    ring_seq++;
    pthread_mutex_unlock(&ring_mu);
}

unsigned long long log_tail(unsigned long long after, int limit,
                            void (*fn)(unsigned long long seq, const char *line, void *ud),
                            void *ud)
{
    pthread_mutex_lock(&ring_mu);
    unsigned long long last = ring_seq;
    unsigned long long first = last > LOG_RING_LINES ? last - LOG_RING_LINES + 1 : 1;
    if (first <= after) first = after + 1;
    /* the newest lines for a plain tail; the oldest after `after` when
     * paging forward, so a follower loses none that are still kept */
    if (after == 0 && limit > 0 && last >= first && last - first + 1 > (unsigned long long)limit)
        first = last - (unsigned long long)limit + 1;
    for (unsigned long long k = first, n = 0; k <= last && n < (unsigned long long)limit; k++, n++)
        fn(k, ring[(k - 1) % LOG_RING_LINES], ud);
    pthread_mutex_unlock(&ring_mu);
    return last;
}
