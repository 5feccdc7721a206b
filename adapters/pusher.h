/* pusher.h - push to phones (PROTOCOL.md section 6): the events an offline
 * account missed go to every device it registered, through FCM HTTP v1,
 * APNs, and the push_url webhook.
 *
 * pusher_notify() turns an event into a note (engine/push_note.h), reads
 * the account's devices (a store job), and queues one push per device (and
 * one webhook POST when push_url is set). The queue is bounded (push_queue
 * entries; over it the oldest offer push goes first, else the new one),
 * at most push_max_inflight run at once, transient failures are retried
 * with exponential backoff and jitter (honouring Retry-After) up to
 * PUSHER_ATTEMPTS attempts or the offer's expiry, and a token the provider
 * calls invalid or unregistered is deleted at once. Counters go to the
 * node's metrics. Loop thread only. */
#ifndef DROP_PUSHER_H
#define DROP_PUSHER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "engine/err.h"

#define PUSHER_ATTEMPTS 6

struct engine;
struct metrics;
struct pusher;

struct pusher_config {
    const char *fcm_credentials, *fcm_url;
    const char *apns_key, *apns_key_id, *apns_team_id, *apns_topic, *apns_url, *apns_sandbox_url;
    const char *ca_file;
    const char *webhook_url, *webhook_key;
    int64_t timeout_ms;
    int max_inflight;
    int queue_max;
};

/* Makes the providers that c configures (FCM when fcm_credentials is set,
 * APNs when apns_key is, the webhook when webhook_url is). eng (its job
 * port and store) and m are borrowed for the pusher's life. Returns
 * DROP_OK and *out (also when no provider is configured: then every
 * notify answers false), or DROP_EBADREQ / DROP_EINTERNAL with why set. */
drop_err pusher_new(uv_loop_t *loop, struct engine *eng, struct metrics *m,
                    const struct pusher_config *c, struct pusher **out, char *why, size_t whylen);

/* True when at least one provider is configured. */
bool pusher_active(const struct pusher *p);

/* "fcm,apns,webhook" or "off", for the start log line. */
const char *pusher_describe(const struct pusher *p, char *buf, size_t len);

/* Called once per notify, on the loop: accepted is true when a provider
 * accepted at least one push at its first attempt (later retries go on
 * in the background). */
typedef void (*pusher_done_fn)(void *ud, bool accepted);

/* Pushes envelope (an event {"ev", "data"}, borrowed for the call) to
 * every device of account. done may be NULL; it may run before this
 * returns (nothing to push). */
void pusher_notify(struct pusher *p, const char *account, const json_t *envelope,
                   pusher_done_fn done, void *ud);

/* Stops: queued and running pushes end (done false), providers close; the
 * state is freed once the store jobs in flight are back. The loop must
 * run afterwards. NULL is fine. */
void pusher_close(struct pusher *p);

#endif
