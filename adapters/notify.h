/* notify.h - the engine's code sender (struct engine_notify): email through
 * the SMTP mailer (mail_smtp.c) when mail_url is set, SMS through Twilio
 * (sms_twilio.c) when sms_provider is twilio, both on one curl driver on
 * the loop (curl_uv.c). Sends and failures are counted in /metrics by
 * channel. Loop thread only. */
#ifndef DROP_NOTIFY_H
#define DROP_NOTIFY_H

#include <stddef.h>
#include <uv.h>

#include "adapters/config.h"
#include "adapters/metrics.h"
#include "engine/engine.h"

#define NOTIFY_TIMEOUT_MS 15000 /* longest SMTP conversation or provider POST */
#define NOTIFY_MAX_INFLIGHT 64  /* sends at once; more: `unavailable` */

/* Fills *out from the config (secrets also from DROPIN_MAIL_PASSWORD and
 * DROPIN_TWILIO_AUTH_TOKEN); out->send stays NULL when neither channel is
 * configured. Returns 0, or -1 with why naming the bad key. */
int notify_start(uv_loop_t *loop, const struct config *c, struct metrics *m,
                 struct engine_notify *out, char *why, size_t whylen);

/* Ends the running sends (their callbacks run with ok false) and closes the
 * loop handles; frees the sender once the loop has run. Idempotent. */
void notify_stop(struct engine_notify *n);

#endif
