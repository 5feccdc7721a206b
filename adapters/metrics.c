/* metrics.c - Prometheus text exposition of struct metrics. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/metrics.h"
#include "engine/mem.h"
#include "engine/ops.h"

static const int close_codes[] = {1001, 1008, 1009, 4400, 4401, 4408, 4429};

void metrics_close(struct metrics *m, int code)
{
    for (int i = 0; i < 7; i++)
        if (close_codes[i] == code) {
            m->closes_by_code[i]++;
            return;
        }
    m->closes_by_code[7]++;
}

struct sbuf {
    char *p;
    size_t len, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)(n > 0 ? n : 0);
        b->p = xrealloc(b->p, b->cap);
    }
}

char *metrics_render(const struct metrics *m, const char *node, double uptime_s)
{
    struct sbuf b = {xmalloc(8192), 0, 8192};
    b.p[0] = '\0';

    sb_printf(&b, "# HELP dropin_up 1 while the node runs.\n# TYPE dropin_up gauge\n");
    sb_printf(&b, "dropin_up{node=\"%s\"} 1\n", node);
    sb_printf(&b, "# HELP dropin_uptime_seconds Seconds since the node started.\n"
                  "# TYPE dropin_uptime_seconds gauge\ndropin_uptime_seconds %.3f\n", uptime_s);
    sb_printf(&b, "# HELP dropin_connections Open WebSocket sessions.\n"
                  "# TYPE dropin_connections gauge\ndropin_connections %lld\n",
              (long long)m->connections);
    sb_printf(&b, "# HELP dropin_sessions_authenticated Authenticated WebSocket sessions.\n"
                  "# TYPE dropin_sessions_authenticated gauge\ndropin_sessions_authenticated %lld\n",
              (long long)m->sessions_authed);
    sb_printf(&b, "# HELP dropin_connections_total WebSocket sessions accepted.\n"
                  "# TYPE dropin_connections_total counter\ndropin_connections_total %lld\n",
              (long long)m->connections_total);
    sb_printf(&b, "# HELP dropin_messages_in_total Requests received, by op.\n"
                  "# TYPE dropin_messages_in_total counter\n");
    for (int i = 0; i < ops_count() && i < METRICS_MAX_OPS; i++)
        sb_printf(&b, "dropin_messages_in_total{op=\"%s\"} %lld\n", ops_at(i)->name,
                  (long long)m->msgs_in[i]);
    sb_printf(&b, "dropin_messages_in_total{op=\"unknown\"} %lld\n",
              (long long)m->msgs_in[METRICS_MAX_OPS]);
    sb_printf(&b, "# HELP dropin_messages_out_total Frames sent to clients, by kind.\n"
                  "# TYPE dropin_messages_out_total counter\n"
                  "dropin_messages_out_total{kind=\"reply\"} %lld\n"
                  "dropin_messages_out_total{kind=\"event\"} %lld\n",
              (long long)m->msgs_out, (long long)m->events_out);
    sb_printf(&b, "# HELP dropin_bytes_total WebSocket payload bytes.\n"
                  "# TYPE dropin_bytes_total counter\n"
                  "dropin_bytes_total{dir=\"in\"} %lld\ndropin_bytes_total{dir=\"out\"} %lld\n",
              (long long)m->bytes_in, (long long)m->bytes_out);
    sb_printf(&b, "# HELP dropin_errors_total Error replies, by protocol code.\n"
                  "# TYPE dropin_errors_total counter\n");
    for (int e = 1; e < DROP_ERR__COUNT; e++)
        sb_printf(&b, "dropin_errors_total{code=\"%s\"} %lld\n", err_code((drop_err)e),
                  (long long)m->errors[e]);
    sb_printf(&b, "# HELP dropin_closes_total Sessions closed by the server, by close code.\n"
                  "# TYPE dropin_closes_total counter\n");
    for (int i = 0; i < 7; i++)
        sb_printf(&b, "dropin_closes_total{code=\"%d\"} %lld\n", close_codes[i],
                  (long long)m->closes_by_code[i]);
    sb_printf(&b, "dropin_closes_total{code=\"other\"} %lld\n", (long long)m->closes_by_code[7]);
    sb_printf(&b, "# HELP dropin_http_requests_total HTTP requests answered, by status class.\n"
                  "# TYPE dropin_http_requests_total counter\n");
    for (int i = 1; i < 6; i++)
        sb_printf(&b, "dropin_http_requests_total{class=\"%dxx\"} %lld\n", i,
                  (long long)m->http_by_class[i]);
    sb_printf(&b, "# HELP dropin_codes_sent_total Identity codes accepted by the mail server "
                  "or SMS provider, by channel.\n# TYPE dropin_codes_sent_total counter\n"
                  "dropin_codes_sent_total{channel=\"email\"} %lld\n"
                  "dropin_codes_sent_total{channel=\"sms\"} %lld\n",
              (long long)m->codes_sent[0], (long long)m->codes_sent[1]);
    sb_printf(&b, "# HELP dropin_code_delivery_failures_total Identity codes the mail server or "
                  "SMS provider refused or never answered for, by channel.\n"
                  "# TYPE dropin_code_delivery_failures_total counter\n"
                  "dropin_code_delivery_failures_total{channel=\"email\"} %lld\n"
                  "dropin_code_delivery_failures_total{channel=\"sms\"} %lld\n",
              (long long)m->codes_failed[0], (long long)m->codes_failed[1]);
    sb_printf(&b, "# HELP dropin_loop_lag_seconds Latest event loop timer drift.\n"
                  "# TYPE dropin_loop_lag_seconds gauge\ndropin_loop_lag_seconds %.6f\n",
              m->loop_lag_s);
    sb_printf(&b, "# HELP dropin_loop_lag_max_seconds Largest loop timer drift seen.\n"
                  "# TYPE dropin_loop_lag_max_seconds gauge\ndropin_loop_lag_max_seconds %.6f\n",
              m->loop_lag_max_s);
    {
        static const char *const providers[3] = {"fcm", "apns", "webhook"};
        static const char *const reasons[6] = METRICS_PUSH_REASONS;
        sb_printf(&b, "# HELP dropin_push_sent_total Pushes a provider accepted, by provider.\n"
                      "# TYPE dropin_push_sent_total counter\n");
        for (int i = 0; i < 3; i++)
            sb_printf(&b, "dropin_push_sent_total{provider=\"%s\"} %lld\n", providers[i],
                      (long long)m->push_sent[i]);
        sb_printf(&b, "# HELP dropin_push_failed_total Pushes given up, by reason.\n"
                      "# TYPE dropin_push_failed_total counter\n");
        for (int i = 0; i < 6; i++)
            sb_printf(&b, "dropin_push_failed_total{reason=\"%s\"} %lld\n", reasons[i],
                      (long long)m->push_failed[i]);
        sb_printf(&b, "# HELP dropin_push_retried_total Push attempts retried after a transient "
                      "failure.\n# TYPE dropin_push_retried_total counter\n"
                      "dropin_push_retried_total %lld\n", (long long)m->push_retried);
        sb_printf(&b, "# HELP dropin_push_devices_removed_total Devices deleted because the "
                      "provider said their token is invalid or unregistered.\n"
                      "# TYPE dropin_push_devices_removed_total counter\n"
                      "dropin_push_devices_removed_total %lld\n",
                  (long long)m->push_devices_removed);
        sb_printf(&b, "# HELP dropin_push_queue_depth Pushes waiting or in flight.\n"
                      "# TYPE dropin_push_queue_depth gauge\ndropin_push_queue_depth %lld\n",
                  (long long)m->push_queue_depth);
    }
    return b.p;
}
