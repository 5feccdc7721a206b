/* push_internal.h - the push providers behind adapters/pusher.c: FCM HTTP v1
 * (push_fcm.c) and APNs (push_apns.c). Each sends one note to one device
 * token over its own curl-on-libuv client and reports how it went; the
 * pusher owns queueing, retries, metrics and device removal. Loop thread
 * only. Keys, tokens and bearer headers never reach the log. */
#ifndef DROP_PUSH_INTERNAL_H
#define DROP_PUSH_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "engine/err.h"
#include "engine/push_note.h"

enum push_outcome {
    PUSH_SENT = 0,  /* the provider accepted it */
    PUSH_GONE,      /* the token is invalid or unregistered: delete the device */
    PUSH_RETRY,     /* transient (network, 429, 5xx): try again later */
    PUSH_REJECTED,  /* refused for another reason: give up */
    PUSH_AUTH,      /* our credentials were refused: give up */
};

/* Called exactly once per send, on the loop (possibly before send
 * returns). retry_after_ms: the provider's Retry-After (0 = none). */
typedef void (*push_outcome_fn)(void *ud, enum push_outcome o, int64_t retry_after_ms);

/* Signs a JWT (libjwt) with alg "RS256" or "ES256" over claims (a JSON
 * object, borrowed), with header kid when not NULL. Returns a heap string
 * or NULL. */
char *push_jwt_sign(const char *alg, const char *key, size_t keylen, json_t *claims,
                    const char *kid);

/* Reads a whole (small) file; NULL when unreadable or over 64 KiB. */
char *push_read_file(const char *path, size_t *len);

struct push_fcm;

/* Reads the service-account JSON at credentials (client_email,
 * private_key, token_uri, project_id). url is the FCM API base
 * (https://fcm.googleapis.com). ca_file: extra CAs ("" = none). Returns
 * DROP_OK, or DROP_EBADREQ with why set (never echoing the key). */
drop_err push_fcm_new(uv_loop_t *loop, const char *credentials, const char *url,
                      const char *ca_file, int64_t timeout_ms, int max_inflight,
                      struct push_fcm **out, char *why, size_t whylen);
void push_fcm_send(struct push_fcm *f, const char *token, const struct push_note *n, int64_t now,
                   push_outcome_fn done, void *ud);
/* Aborts what runs (outcomes PUSH_RETRY before this returns) and frees f;
 * the loop must run afterwards. NULL is fine. */
void push_fcm_close(struct push_fcm *f);

struct push_apns_config {
    const char *key_path, *key_id, *team_id, *topic, *url, *sandbox_url, *ca_file;
    int64_t timeout_ms;
    int max_inflight;
};

struct push_apns;
drop_err push_apns_new(uv_loop_t *loop, const struct push_apns_config *c, struct push_apns **out,
                       char *why, size_t whylen);
void push_apns_send(struct push_apns *a, const char *token, bool sandbox,
                    const struct push_note *n, int64_t now, push_outcome_fn done, void *ud);
void push_apns_close(struct push_apns *a);

#endif
