/* curl_uv.c - HTTP POSTs with libcurl multi on libuv (see curl_uv.h).
 *
 * Three kinds of objects: the client (one curl multi handle, one uv_timer),
 * one cu_sock per socket curl asks us to watch (a uv_poll, found again via
 * curl_multi_assign), and one cu_xfer per POST (the easy handle, its body,
 * headers, the answer so far and the caller's callback). Teardown order:
 * remove and clean up every easy handle (their callbacks run), clean up the
 * multi handle, close the polls curl left behind, close the timer; the
 * timer's close callback frees the client. */
#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/curl_uv.h"
#include "engine/log.h"
#include "engine/mem.h"

struct cu_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct curl_uv *c;
    struct cu_sock *prev, *next;
};

struct cu_xfer {
    CURL *easy;
    char *body;
    struct curl_slist *headers;
    bool keep_body;
    char *answer; /* keep_body: up to CURL_UV_BODY_MAX bytes + NUL */
    size_t answer_len;
    curl_uv_done_fn done;
    void *ud;
    struct cu_xfer *prev, *next;
};

struct curl_uv {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    int max_inflight, inflight;
    struct cu_xfer *xfers;
    struct cu_sock *socks;
    bool closing;
    char *ca_file;          /* extra CAs (curl_uv_set_options), or NULL */
    bool http2;
    int64_t retry_after_s;  /* of the answer being reported */
};

static void check_done(struct curl_uv *c);

/* ---- sockets and the timer, as curl asks ---- */

static void sock_closed(uv_handle_t *h)
{
    free(h->data);
}

static void sock_unlink_close(struct curl_uv *c, struct cu_sock *s)
{
    if (s->prev) s->prev->next = s->next;
    else c->socks = s->next;
    if (s->next) s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, sock_closed);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct cu_sock *s = h->data;
    struct curl_uv *c = s->c;
    int flags = 0, running = 0;
    if (status < 0) flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    }
    curl_multi_socket_action(c->multi, s->fd, flags, &running);
    check_done(c);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct curl_uv *c = userp;
    struct cu_sock *s = socketp;
    int ev = 0;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(c->multi, fd, NULL);
            sock_unlink_close(c, s);
        }
        return 0;
    }
    if (!s) {
        s = xcalloc(1, sizeof *s);
        if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
            log_warn("event=http_poll_failed fd=%d", (int)fd);
            free(s);
            return -1;
        }
        s->fd = fd;
        s->c = c;
        s->poll.data = s;
        s->next = c->socks;
        if (c->socks) c->socks->prev = s;
        c->socks = s;
        curl_multi_assign(c->multi, fd, s);
    }
    if (what & CURL_POLL_IN) ev |= UV_READABLE;
    if (what & CURL_POLL_OUT) ev |= UV_WRITABLE;
    uv_poll_start(&s->poll, ev, on_poll);
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    struct curl_uv *c = t->data;
    int running = 0;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

static int on_timer_set(CURLM *multi, long timeout_ms, void *userp)
{
    struct curl_uv *c = userp;
    (void)multi;
    if (timeout_ms < 0) uv_timer_stop(&c->timer);
    else if (!c->closing) uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct cu_xfer *x = ud;
    size_t n = size * nmemb;
    if (x->keep_body && x->answer_len < CURL_UV_BODY_MAX) {
        size_t take = n;
        if (take > CURL_UV_BODY_MAX - x->answer_len) take = CURL_UV_BODY_MAX - x->answer_len;
        if (!x->answer) x->answer = xmalloc(CURL_UV_BODY_MAX + 1);
        memcpy(x->answer + x->answer_len, ptr, take);
        x->answer_len += take;
    }
    return n; /* the rest of an oversized answer is dropped, not an error */
}

/* ---- transfers ---- */

/* Ends x: unlinks and frees it, then tells the caller. */
static void finish(struct curl_uv *c, struct cu_xfer *x, int curl_rc, long status)
{
    if (x->prev) x->prev->next = x->next;
    else c->xfers = x->next;
    if (x->next) x->next->prev = x->prev;
    curl_multi_remove_handle(c->multi, x->easy);
    curl_easy_cleanup(x->easy);
    c->inflight--;
    if (x->answer) x->answer[x->answer_len] = '\0';
    x->done(x->ud, curl_rc, status, x->answer ? x->answer : "", x->answer_len);
    curl_slist_free_all(x->headers);
    free(x->answer);
    free(x->body);
    free(x);
}

/* CURLOPT_SSL_CTX_FUNCTION: adds the extra CA bundle to the trust store
 * curl built from the system's (CURLOPT_CAINFO would replace it). */
static CURLcode on_ssl_ctx(CURL *easy, void *sslctx, void *ud)
{
    struct curl_uv *c = ud;
    (void)easy;
    X509_STORE *st = SSL_CTX_get_cert_store((SSL_CTX *)sslctx);
    if (!st || X509_STORE_load_file(st, c->ca_file) != 1) {
        log_warn("event=http_ca_file_unreadable");
        return CURLE_SSL_CACERT_BADFILE;
    }
    return CURLE_OK;
}

static void check_done(struct curl_uv *c)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        struct cu_xfer *x = NULL;
        CURL *easy = m->easy_handle;
        CURLcode res = m->data.result; /* m is invalid once the handle is removed */
        long status = 0;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        curl_off_t ra = 0;
        if (curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &ra) != CURLE_OK || ra < 0) ra = 0;
        c->retry_after_s = (int64_t)ra;
        if (x) finish(c, x, (int)res, status);
        c->retry_after_s = 0;
    }
}

/* Whether a transfer may start now (not closing, under max_inflight); when
 * not, logs it, cleans easy up (may be NULL) and answers done(ud) failed. */
static bool admit(struct curl_uv *c, CURL *easy, curl_uv_done_fn done, void *ud)
{
    if (!c->closing && c->inflight < c->max_inflight) return true;
    log_warn("event=http_refused reason=%s inflight=%d", c->closing ? "closing" : "busy",
             c->inflight);
    if (easy) curl_easy_cleanup(easy);
    done(ud, -1, 0, "", 0);
    return false;
}

/* Starts x (its easy handle set up by the caller): the options every
 * transfer has, then in flight on the multi handle; a refusal there
 * finishes x as failed. */
static void start(struct curl_uv *c, struct cu_xfer *x, int64_t timeout_ms)
{
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    x->next = c->xfers;
    if (c->xfers) c->xfers->prev = x;
    c->xfers = x;
    c->inflight++;
    CURLMcode mc = curl_multi_add_handle(c->multi, x->easy);
    if (mc != CURLM_OK) {
        log_error("event=http_add_failed err=\"%s\"", curl_multi_strerror(mc));
        finish(c, x, -1, 0);
    }
}

void curl_uv_post(struct curl_uv *c, const char *url, const char *const *headers, size_t n,
                  const char *body, size_t len, int64_t timeout_ms, bool keep_body,
                  curl_uv_done_fn done, void *ud)
{
    struct cu_xfer *x;
    CURL *easy;

    if (!admit(c, NULL, done, ud)) return;
    easy = curl_easy_init();
    if (!easy) {
        log_error("event=http_refused reason=curl_easy_init");
        done(ud, -1, 0, "", 0);
        return;
    }
    x = xcalloc(1, sizeof *x);
    x->easy = easy;
    x->body = xmalloc(len + 1);
    memcpy(x->body, body, len);
    x->body[len] = '\0';
    x->keep_body = keep_body;
    x->done = done;
    x->ud = ud;
    x->headers = curl_slist_append(NULL, "Expect:"); /* no 100-continue round trip */
    for (size_t i = 0; i < n; i++) x->headers = curl_slist_append(x->headers, headers[i]);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, x->body);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, x);
    if (c->ca_file) {
        curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
        curl_easy_setopt(easy, CURLOPT_SSL_CTX_DATA, c);
    }
    if (c->http2) {
        curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, strncmp(url, "http://", 7) == 0
                                                         ? (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
                                                         : (long)CURL_HTTP_VERSION_2TLS);
        curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L); /* wait to multiplex on one connection */
    }
    start(c, x, timeout_ms);
}

void curl_uv_set_options(struct curl_uv *c, const char *ca_file, bool http2)
{
    free(c->ca_file);
    c->ca_file = ca_file && *ca_file ? xstrdup(ca_file) : NULL;
    c->http2 = http2;
}

int64_t curl_uv_retry_after(const struct curl_uv *c)
{
    return c->retry_after_s;
}

void curl_uv_perform(struct curl_uv *c, CURL *easy, int64_t timeout_ms, curl_uv_done_fn done,
                     void *ud)
{
    if (!admit(c, easy, done, ud)) return;
    struct cu_xfer *x = xcalloc(1, sizeof *x);
    x->easy = easy;
    x->done = done;
    x->ud = ud;
    start(c, x, timeout_ms);
}

int curl_uv_inflight(const struct curl_uv *c)
{
    return c->inflight;
}

bool curl_uv_url_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max || (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f) return false;
    return true;
}

/* ---- lifecycle ---- */

static void timer_closed(uv_handle_t *h)
{
    struct curl_uv *c = h->data;
    free(c->ca_file);
    free(c);
    curl_global_cleanup();
}

drop_err curl_uv_new(uv_loop_t *loop, int max_inflight, struct curl_uv **out)
{
    struct curl_uv *c;

    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return DROP_EINTERNAL;
    c = xcalloc(1, sizeof *c);
    c->loop = loop;
    c->max_inflight = max_inflight < 1 ? 1 : max_inflight;
    c->multi = curl_multi_init();
    if (!c->multi) {
        free(c);
        curl_global_cleanup();
        return DROP_EINTERNAL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    *out = c;
    return DROP_OK;
}

void curl_uv_close(struct curl_uv *c)
{
    if (!c || c->closing) return;
    c->closing = true;
    while (c->xfers) finish(c, c->xfers, (int)CURLE_ABORTED_BY_CALLBACK, 0);
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    while (c->socks) sock_unlink_close(c, c->socks);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, timer_closed);
}
