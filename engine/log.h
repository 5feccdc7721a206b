/* log.h - level-filtered logging: one line an event, key=value fields.
 *
 * The macros test the level before any formatting happens, so a disabled
 * debug line costs one comparison. Never log secrets (passwords, tokens).
 *
 * Repeated lines are rate-limited everywhere: the same text (after the
 * timestamp) is written at most LOG_REPEAT_BURST times per
 * LOG_REPEAT_INTERVAL_MS; the rest are counted, and the count is written as
 * one line, `<the line> repeated=N`, when the interval is over (on the next
 * occurrence or on log_flush_repeats(), whichever comes first). A flood of
 * one event costs a few lines an interval, not one line each.
 *
 * The one deliberate exception to engine/'s "no I/O, no clock": log.c writes
 * to stderr and reads the wall clock for its timestamps and the repeat
 * interval. Every module logs, engine/ included, and a log line written
 * where its event happens keeps the order of events; so the logger lives
 * here rather than behind a port. Nothing else in engine/ does I/O. */
#ifndef DROP_LOG_H
#define DROP_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

extern int log_min_level;

/* Parses "debug" / "info" / "warn" / "error"; returns -1 when unknown. */
int log_level_parse(const char *s);

#define LOG_REPEAT_INTERVAL_MS 10000
#define LOG_REPEAT_BURST 5

/* The repeat interval in use (LOG_REPEAT_INTERVAL_MS; tests shorten it). */
extern int log_repeat_interval_ms;

/* Writes one line: time, level, then the formatted text, unless the same
 * text was already written LOG_REPEAT_BURST times in this interval (then it
 * is only counted). Thread-safe. */
void log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes the counts of repeated lines whose interval is over. Call it
 * periodically (the node's tick); thread-safe. */
void log_flush_repeats(void);

/* The last LOG_RING_LINES lines written (each cut to LOG_RING_LINE - 1
 * bytes) stay in memory for admin.tail; each has a sequence number from 1. */
#define LOG_RING_LINES 512
#define LOG_RING_LINE 512

/* Calls fn(seq, line, ud) for the kept lines with seq > after, oldest first,
 * at most limit of them: with after 0 the newest ones, otherwise the first
 * ones after `after`. Returns the sequence number of the newest line
 * written so far (0: none). Thread-safe. */
unsigned long long log_tail(unsigned long long after, int limit,
                            void (*fn)(unsigned long long seq, const char *line, void *ud),
                            void *ud);

#define LOG_AT(lvl, ...) \
    do { if ((lvl) >= log_min_level) log_write((lvl), __VA_ARGS__); } while (0)
#define log_debug(...) LOG_AT(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) LOG_AT(LOG_INFO, __VA_ARGS__)
#define log_warn(...) LOG_AT(LOG_WARN, __VA_ARGS__)
#define log_error(...) LOG_AT(LOG_ERROR, __VA_ARGS__)

#endif
