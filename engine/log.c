/* log.c - writes log lines to stderr, one fprintf per line so concurrent
 * threads do not interleave within a line, and keeps the last ones in a
 * fixed ring for admin.tail.
 *
 * Repeats are found in a small 4-way set-associative table keyed by a hash
 * of the line's text: each slot remembers one text, when its interval
 * began, how many times it was written and how many times it was held back
 * since. A new text takes a slot of its set that is not holding lines
 * back, the oldest first (an evicted text's count is written first), so a
 * burst of many different lines is never held back and does not end the
 * holding back of a flood. */
#include <pthread.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "engine/log.h"

int log_min_level = LOG_INFO;
int log_repeat_interval_ms = LOG_REPEAT_INTERVAL_MS;

static const char *level_names[] = {"debug", "info", "warn", "error"};

static pthread_mutex_t ring_mu = PTHREAD_MUTEX_INITIALIZER;
static char ring[LOG_RING_LINES][LOG_RING_LINE];
static unsigned long long ring_seq; /* lines written; line k is ring[(k - 1) % N] */

#define REPEAT_SLOTS 64
#define REPEAT_WAYS 4         /* a text may sit in any of 4 slots of its set */

struct repeat_slot {
    uint64_t hash;            /* 0: free */
    int64_t since;            /* monotonic ms the interval began */
    unsigned written;         /* lines written in this interval */
    unsigned long held;       /* lines held back in this interval */
    int level;
    char text[LOG_RING_LINE];
};

static pthread_mutex_t repeat_mu = PTHREAD_MUTEX_INITIALIZER;
static struct repeat_slot repeats[REPEAT_SLOTS];

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0) return i;
    return -1;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t text_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h ? h : 1;
}

/* Writes one line as is: stderr and the ring. */
static void emit(int level, const char *msg)
{
    char ts[32];
    struct timeval tv;
    struct tm tm;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    char line[1024 + 64];
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

/* A count taken out of a slot under repeat_mu, written after unlocking. */
struct held_count {
    int level;
    unsigned long n;
    char text[LOG_RING_LINE];
};

static void take_count(struct repeat_slot *sl, struct held_count *out)
{
    out->level = sl->level;
    out->n = sl->held;
    memcpy(out->text, sl->text, sizeof out->text);
    sl->held = 0;
}

static void emit_count(const struct held_count *c)
{
    char msg[LOG_RING_LINE + 32];
    snprintf(msg, sizeof msg, "%s repeated=%lu", c->text, c->n);
    emit(c->level, msg);
}

/* Decides under repeat_mu whether msg is written now; a count that is due
 * (its interval is over, or its slot is taken by another text) is moved
 * to *due. */
static bool repeat_admit(int level, const char *msg, struct held_count *due)
{
    uint64_t h = text_hash(msg);
    int64_t now = mono_ms();
    bool write = true;

    due->n = 0;
    pthread_mutex_lock(&repeat_mu);
    struct repeat_slot *set = &repeats[(h % (REPEAT_SLOTS / REPEAT_WAYS)) * REPEAT_WAYS], *sl = NULL;
    for (int i = 0; i < REPEAT_WAYS && !sl; i++)
        if (set[i].hash == h && strncmp(set[i].text, msg, sizeof set[i].text - 1) == 0) sl = &set[i];
    if (!sl) { /* a new text: a free way, else one not flooding, oldest first */
        sl = &set[0];
        for (int i = 1; i < REPEAT_WAYS && sl->hash; i++)
            if (!set[i].hash || (!set[i].held && sl->held) ||
                (!set[i].held == !sl->held && set[i].since < sl->since))
                sl = &set[i];
        if (sl->hash && sl->held) take_count(sl, due);
        sl->hash = h;
        sl->since = now;
        sl->written = 1;
        sl->held = 0;
        sl->level = level;
        snprintf(sl->text, sizeof sl->text, "%.*s", (int)sizeof sl->text - 1, msg);
    } else if (now - sl->since >= log_repeat_interval_ms) {
        sl->since = now;
        if (sl->held) { /* still flooding: the count, and keep holding back */
            take_count(sl, due);
            sl->written = LOG_REPEAT_BURST;
            sl->held = 1;
            write = false;
        } else {
            sl->written = 1;
        }
    } else if (sl->written < LOG_REPEAT_BURST) {
        sl->written++;
    } else {
        sl->held++;
        write = false;
    }
    pthread_mutex_unlock(&repeat_mu);
    return write;
}

void log_write(int level, const char *fmt, ...)
{
    char msg[1024];
    struct held_count due;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (level < 0 || level > LOG_ERROR) level = LOG_ERROR;
    bool write = repeat_admit(level, msg, &due);
    if (due.n) emit_count(&due);
    if (write) emit(level, msg);
}

void log_flush_repeats(void)
{
    int64_t now = mono_ms();
    for (int i = 0; i < REPEAT_SLOTS; i++) {
        struct held_count due = {0};
        pthread_mutex_lock(&repeat_mu);
        struct repeat_slot *sl = &repeats[i];
        if (sl->hash && sl->held && now - sl->since >= log_repeat_interval_ms) {
            take_count(sl, &due);
            sl->since = now; /* a flood that goes on is counted again next interval */
            sl->written = LOG_REPEAT_BURST;
        }
        pthread_mutex_unlock(&repeat_mu);
        if (due.n) emit_count(&due);
    }
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
