/* push_http.h - the push sender: JSON POSTs to a push provider's HTTP
 * endpoint, through the shared libcurl-multi-on-libuv client (curl_uv.h), so
 * nothing blocks the loop. At most max_inflight POSTs run at once; each has
 * a total timeout. Everything here runs on the loop thread. */
#ifndef DROP_PUSH_HTTP_H
#define DROP_PUSH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "engine/err.h"

struct push_http;

/* The outcome of one POST: ok is true for a 2xx answer. Called exactly once,
 * on the loop thread. */
typedef void (*push_http_done_fn)(void *ud, bool ok);

/* Makes a sender that POSTs to url (http:// or https://) with
 * "Authorization: Bearer <key>" when key is not "". timeout_ms bounds each
 * POST from start to end; at most max_inflight run at once. Copies the
 * strings. Returns DROP_OK and *out, or DROP_EBADREQ / DROP_EINTERNAL with
 * why set (never echoing the url or the key, which may hold credentials). */
drop_err push_http_new(uv_loop_t *loop, const char *url, const char *key, int64_t timeout_ms,
                       int max_inflight, struct push_http **out, char *why, size_t whylen);

/* Starts a POST of body (len bytes of JSON, copied). done(ud, ok) runs once
 * the provider answered, failed or timed out; it runs before this call
 * returns (with ok false) when max_inflight POSTs are already running or
 * the sender is closing. */
void push_http_send(struct push_http *p, const char *body, size_t len, push_http_done_fn done,
                    void *ud);

/* POSTs running now. */
int push_http_inflight(const struct push_http *p);

/* Aborts the running POSTs (their done runs with ok false, before this
 * returns) and frees p; the client's loop handles close with the loop's
 * next run, so the loop must run afterwards. NULL is fine. */
void push_http_close(struct push_http *p);

#endif
