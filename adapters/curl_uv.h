/* curl_uv.h - outgoing transfers with libcurl's multi interface on the
 * node's libuv loop: HTTP POSTs for the push sender, the video providers and
 * the SMS sender, and caller-configured transfers (the SMTP mailer).
 *
 * Nothing blocks the loop: curl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION, one uv_poll per socket) and when to wake it
 * (CURLMOPT_TIMERFUNCTION, one uv_timer); readiness and timeouts are fed back
 * with curl_multi_socket_action, and finished transfers are collected with
 * curl_multi_info_read. At most max_inflight POSTs run at once; each has its
 * own total timeout. Everything here runs on the loop thread. */
#ifndef DROP_CURL_UV_H
#define DROP_CURL_UV_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "engine/err.h"

#define CURL_UV_BODY_MAX (64 * 1024) /* answer bytes kept; the rest is dropped */

struct curl_uv;

/* The outcome of one POST, called exactly once on the loop thread. curl_rc
 * is 0 when the server answered (status is its HTTP status), else a libcurl
 * error code (-1: refused before starting, busy or closing). body holds the
 * first CURL_UV_BODY_MAX bytes of the answer (NUL-terminated, borrowed for
 * the call; "" unless keep_body was asked for). */
typedef void (*curl_uv_done_fn)(void *ud, int curl_rc, long status, const char *body, size_t len);

/* Makes a client on loop; at most max_inflight POSTs at once. Returns
 * DROP_OK and *out, or DROP_EINTERNAL when libcurl cannot start. */
drop_err curl_uv_new(uv_loop_t *loop, int max_inflight, struct curl_uv **out);

/* Starts a POST of body (len bytes, copied) to url with the given header
 * lines ("Name: value", copied; n may be 0), bounded by timeout_ms from start
 * to end. done runs once; before this returns (curl_rc -1) when max_inflight
 * POSTs are running or the client is closing. */
void curl_uv_post(struct curl_uv *c, const char *url, const char *const *headers, size_t n,
                  const char *body, size_t len, int64_t timeout_ms, bool keep_body,
                  curl_uv_done_fn done, void *ud);

/* Options of every later POST of c (push providers): ca_file (copied; ""
 * or NULL = none) is a PEM bundle of extra CAs trusted besides the
 * system's; http2 asks for HTTP/2 (ALPN over TLS, prior knowledge over
 * cleartext http://), one connection per host multiplexing the POSTs. */
void curl_uv_set_options(struct curl_uv *c, const char *ca_file, bool http2);

/* The Retry-After of the answer whose done callback is running, in
 * seconds (0 = none). Valid only inside that callback. */
int64_t curl_uv_retry_after(const struct curl_uv *c);

/* Runs a transfer the caller configured on easy (URL, protocols, upload,
 * credentials; takes ownership: cleaned up once done), bounded by
 * timeout_ms. done runs once as for a POST: curl_rc 0 when the transfer
 * completed, status the protocol's last reply code (HTTP status, SMTP
 * code), body "". It counts against max_inflight like a POST. */
void curl_uv_perform(struct curl_uv *c, CURL *easy, int64_t timeout_ms, curl_uv_done_fn done,
                     void *ud);

/* POSTs running now. */
int curl_uv_inflight(const struct curl_uv *c);

/* True for an http:// or https:// URL of at most max printable bytes. */
bool curl_uv_url_ok(const char *s, size_t max);

/* Aborts the running POSTs (their done runs with CURLE_ABORTED_BY_CALLBACK,
 * before this returns), closes the loop handles and frees c once libuv has
 * closed them: the loop must run afterwards. NULL is fine. */
void curl_uv_close(struct curl_uv *c);

#endif
