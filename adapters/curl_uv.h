/* curl_uv.h - libcurl's multi interface on the node's libuv loop: the one
 * place where curl transfers are driven, shared by the push sender
 * (push_http.c), the mailer (mail_smtp.c) and the SMS sender (sms_twilio.c).
 *
 * Nothing blocks the loop: curl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION, one uv_poll per socket) and when to wake it
 * (CURLMOPT_TIMERFUNCTION, one uv_timer); readiness and timeouts are fed back
 * with curl_multi_socket_action, and finished transfers are collected with
 * curl_multi_info_read. A caller configures an easy handle (URL, protocol,
 * body, timeout) and hands it over; its callback runs once with the outcome.
 * Everything here runs on the loop thread. */
#ifndef DROP_CURL_UV_H
#define DROP_CURL_UV_H

#include <curl/curl.h>
#include <stdbool.h>
#include <uv.h>

struct curl_uv;

/* The end of one transfer: res is curl's result, status the protocol's
 * response code (HTTP status, SMTP reply code; 0 when none). The easy
 * handle is already cleaned up. Called exactly once, on the loop thread. */
typedef void (*curl_uv_done_fn)(void *ud, CURLcode res, long status);

/* A driver on loop, or NULL when libcurl fails to initialize (logged). */
struct curl_uv *curl_uv_new(uv_loop_t *loop);

/* Runs easy (configured by the caller; takes ownership: it is cleaned up
 * after the transfer). CURLOPT_PRIVATE and CURLOPT_NOSIGNAL are set here.
 * done runs once, before this returns when the driver is closing or curl
 * refuses the handle. */
void curl_uv_add(struct curl_uv *cu, CURL *easy, curl_uv_done_fn done, void *ud);

/* Transfers running now. */
int curl_uv_running(const struct curl_uv *cu);

/* Aborts the running transfers (their done runs with CURLE_ABORTED_BY_CALLBACK
 * before this returns), closes the loop handles and frees cu once libuv has
 * closed them: the loop must run afterwards. NULL is fine. */
void curl_uv_close(struct curl_uv *cu);

#endif
