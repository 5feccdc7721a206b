/* test_log.c - the log ring behind admin.tail: sequence numbers, the newest
 * lines for a plain tail, paging forward after a sequence number, the ring
 * wrapping (old lines dropped), long lines cut, nothing kept below the
 * level (the macros filter before log_write), and a repeated line written
 * LOG_REPEAT_BURST times, then once with its count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "engine/log.h"

struct seen {
    unsigned long long seq[LOG_RING_LINES + 1];
    char line[LOG_RING_LINES + 1][LOG_RING_LINE];
    int n;
};

static void keep(unsigned long long seq, const char *line, void *ud)
{
    struct seen *s = ud;
    s->seq[s->n] = seq;
    snprintf(s->line[s->n], LOG_RING_LINE, "%s", line);
    s->n++;
}

static struct seen seen;

static void test_tail(void **state)
{
    (void)state;
    memset(&seen, 0, sizeof seen);
    assert_int_equal(log_tail(0, 10, keep, &seen), 0);
    assert_int_equal(seen.n, 0);

    for (int i = 1; i <= 5; i++) log_info("event=probe n=%d", i);
    log_debug("event=hidden"); /* below log_min_level (info): never written */
    assert_int_equal(log_tail(0, 3, keep, &seen), 5);
    assert_int_equal(seen.n, 3); /* the newest three, oldest first */
    assert_int_equal(seen.seq[0], 3);
    assert_int_equal(seen.seq[2], 5);
    assert_non_null(strstr(seen.line[0], "level=info event=probe n=3"));
    assert_non_null(strstr(seen.line[2], "event=probe n=5"));

    memset(&seen, 0, sizeof seen);
    log_tail(1, 2, keep, &seen); /* paging forward: the first two after 1 */
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.seq[0], 2);
    assert_int_equal(seen.seq[1], 3);
    memset(&seen, 0, sizeof seen);
    log_tail(5, 10, keep, &seen);
    assert_int_equal(seen.n, 0);
}

static void test_wrap_and_cut(void **state)
{
    (void)state;
    char big[900];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < LOG_RING_LINES + 100; i++) log_warn("event=wrap n=%d", i);
    log_warn("event=long text=%s", big);
    memset(&seen, 0, sizeof seen);
    unsigned long long last = log_tail(1, LOG_RING_LINES, keep, &seen);
    assert_int_equal(last, 5 + LOG_RING_LINES + 100 + 1);
    /* lines 2.. are long gone: the follower gets the oldest still kept */
    assert_int_equal(seen.n, LOG_RING_LINES);
    assert_int_equal(seen.seq[0], last - LOG_RING_LINES + 1);
    assert_int_equal(seen.seq[LOG_RING_LINES - 1], last);
    assert_int_equal(strlen(seen.line[LOG_RING_LINES - 1]), LOG_RING_LINE - 1);
    assert_non_null(strstr(seen.line[LOG_RING_LINES - 1], "event=long text=xxx"));
}

static int count_lines(const char *needle)
{
    int k = 0;
    memset(&seen, 0, sizeof seen);
    log_tail(0, LOG_RING_LINES, keep, &seen);
    for (int i = 0; i < seen.n; i++)
        if (strstr(seen.line[i], needle)) k++;
    return k;
}

static void test_repeats(void **state)
{
    (void)state;
    for (int i = 0; i < 1000; i++) log_warn("event=flood errno=%d", 24);
    assert_int_equal(count_lines("event=flood errno=24"), LOG_REPEAT_BURST);
    log_flush_repeats(); /* the interval is not over: nothing yet */
    assert_int_equal(count_lines("repeated="), 0);
    /* other lines in between are written as usual, and do not end the
     * holding back of the flood */
    log_warn("event=other");
    assert_int_equal(count_lines("event=other"), 1);
    for (int i = 0; i < 200; i++) log_warn("event=distinct n=%d", i);
    assert_int_equal(count_lines("event=distinct"), 200);
    for (int i = 0; i < 1000; i++) log_warn("event=flood errno=%d", 24);
    assert_int_equal(count_lines("event=flood errno=24"), LOG_REPEAT_BURST);
    log_repeat_interval_ms = 0; /* the interval is over */
    log_flush_repeats();
    assert_int_equal(count_lines("event=flood errno=24 repeated=1995"), 1);
    log_flush_repeats(); /* counted once */
    assert_int_equal(count_lines("repeated="), 1);
    log_repeat_interval_ms = LOG_REPEAT_INTERVAL_MS;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tail),
        cmocka_unit_test(test_wrap_and_cut),
        cmocka_unit_test(test_repeats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
