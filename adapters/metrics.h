/* metrics.h - the node's counters and their Prometheus text exposition.
 * Loop thread only. Label sets are bounded: ops come from the op table
 * (unknown ops share one label), error codes from the error enum. */
#ifndef DROP_METRICS_H
#define DROP_METRICS_H

#include <stdint.h>

#include "engine/err.h"

#define METRICS_MAX_OPS 96

struct metrics {
    int64_t connections;           /* open WebSocket sessions */
    int64_t connections_total;
    int64_t sessions_authed;
    int64_t msgs_in[METRICS_MAX_OPS + 1]; /* by op index; last = unknown op */
    int64_t msgs_out;
    int64_t events_out;
    int64_t bytes_in, bytes_out;
    int64_t errors[DROP_ERR__COUNT];
    int64_t closes_by_code[8];      /* see metrics_close_slot() */
    int64_t http_requests;
    int64_t http_by_class[6];       /* 1xx..5xx */
    int64_t codes_sent[2];          /* identity codes delivered: email, sms */
    int64_t codes_failed[2];        /* refused or failed deliveries */
    double loop_lag_s;              /* latest measured timer drift */
    double loop_lag_max_s;
    /* push to phones (adapters/pusher.c) */
    int64_t push_sent[3];          /* accepted by the provider: fcm, apns, webhook */
    int64_t push_failed[6];        /* by reason, see METRICS_PUSH_REASONS */
    int64_t push_retried;
    int64_t push_devices_removed;
    int64_t push_queue_depth;      /* waiting or in flight */
};

/* The reasons a push is given up, in push_failed's order. */
#define METRICS_PUSH_REASONS                                                              \
    {"invalid_token", "rejected", "unavailable", "queue_full", "expired", "auth"}
enum { PUSH_FAIL_INVALID_TOKEN = 0, PUSH_FAIL_REJECTED, PUSH_FAIL_UNAVAILABLE,
       PUSH_FAIL_QUEUE_FULL, PUSH_FAIL_EXPIRED, PUSH_FAIL_AUTH };

/* Counts a close code (1001, 1008, 1009, 4400, 4401, 4408, 4429, other). */
void metrics_close(struct metrics *m, int code);

/* Renders the Prometheus text format; returns an xmalloc'd string. */
char *metrics_render(const struct metrics *m, const char *node_id, double uptime_s);

#endif
