/* push_http.c - JSON POSTs to a push provider with libcurl multi on libuv
 * (see push_http.h).
 *
 * Three kinds of objects: the sender (one curl multi handle, one uv_timer),
 * one push_sock per socket curl asks us to watch (a uv_poll, found again via
 * curl_multi_assign), and one push_xfer per POST (the easy handle, its body
 * and the caller's callback). Teardown order: remove and clean up every
 * easy handle (their callbacks run with ok false), clean up the multi handle,
 * close the polls curl left behind, close the timer; the timer's close
 * callback frees the sender. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/push_http.h"
#include "engine/log.h"
#include "engine/mem.h"

#define URL_MAX 2048
#define KEY_MAX 1024

struct push_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct push_http *p;
    struct push_sock *prev, *next;
};

struct push_xfer {
    CURL *easy;
    char *body;
    push_http_done_fn done;
    void *ud;
    uint64_t started;
    struct push_xfer *prev, *next;
};

struct push_http {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    char *url;
    struct curl_slist *headers; /* shared by every easy handle; freed last */
    int64_t timeout_ms;
    int max_inflight, inflight;
    struct push_xfer *xfers;
    struct push_sock *socks;
    bool closing;
};

static void check_done(struct push_http *p);

/* ---- sockets and the timer, as curl asks ---- */

static void sock_closed(uv_handle_t *h)
{
    free(h->data);
}

static void sock_unlink_close(struct push_http *p, struct push_sock *ps)
{
    if (ps->prev) ps->prev->next = ps->next;
    else p->socks = ps->next;
    if (ps->next) ps->next->prev = ps->prev;
    uv_poll_stop(&ps->poll);
    uv_close((uv_handle_t *)&ps->poll, sock_closed);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct push_sock *ps = h->data;
    struct push_http *p = ps->p;
    int flags = 0, running = 0;
    if (status < 0) flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    }
    curl_multi_socket_action(p->multi, ps->fd, flags, &running);
    check_done(p);
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct push_http *p = userp;
    struct push_sock *ps = socketp;
    int ev = 0;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (ps) {
            curl_multi_assign(p->multi, s, NULL);
            sock_unlink_close(p, ps);
        }
        return 0;
    }
    if (!ps) {
        ps = xcalloc(1, sizeof *ps);
        if (uv_poll_init_socket(p->loop, &ps->poll, s) != 0) {
            log_warn("event=push_poll_failed fd=%d", (int)s);
            free(ps);
            return -1;
        }
        ps->fd = s;
        ps->p = p;
        ps->poll.data = ps;
        ps->next = p->socks;
        if (p->socks) p->socks->prev = ps;
        p->socks = ps;
        curl_multi_assign(p->multi, s, ps);
    }
    if (what & CURL_POLL_IN) ev |= UV_READABLE;
    if (what & CURL_POLL_OUT) ev |= UV_WRITABLE;
    uv_poll_start(&ps->poll, ev, on_poll);
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    struct push_http *p = t->data;
    int running = 0;
    curl_multi_socket_action(p->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(p);
}

static int on_timer_set(CURLM *multi, long timeout_ms, void *userp)
{
    struct push_http *p = userp;
    (void)multi;
    if (timeout_ms < 0) uv_timer_stop(&p->timer);
    else if (!p->closing) uv_timer_start(&p->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb; /* the provider's answer body is not needed */
}

/* ---- transfers ---- */

/* Ends x: unlinks and frees it, then tells the caller. */
static void finish(struct push_http *p, struct push_xfer *x, bool ok, int curl_rc, long status)
{
    if (x->prev) x->prev->next = x->next;
    else p->xfers = x->next;
    if (x->next) x->next->prev = x->prev;
    curl_multi_remove_handle(p->multi, x->easy);
    curl_easy_cleanup(x->easy);
    p->inflight--;
    log_info("event=push_post ok=%d status=%ld curl=%d ms=%.1f inflight=%d", ok, status, curl_rc,
             (double)(uv_hrtime() - x->started) / 1e6, p->inflight);
    push_http_done_fn done = x->done;
    void *ud = x->ud;
    free(x->body);
    free(x);
    done(ud, ok);
}

static void check_done(struct push_http *p)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(p->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        struct push_xfer *x = NULL;
        CURL *easy = m->easy_handle;
        CURLcode res = m->data.result; /* m is invalid once the handle is removed */
        long status = 0;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        if (x) finish(p, x, res == CURLE_OK && status >= 200 && status < 300, (int)res, status);
    }
}

void push_http_send(struct push_http *p, const char *body, size_t len, push_http_done_fn done,
                    void *ud)
{
    struct push_xfer *x;
    CURL *easy;

    if (p->closing || p->inflight >= p->max_inflight) {
        log_warn("event=push_refused reason=%s inflight=%d", p->closing ? "closing" : "busy",
                 p->inflight);
        done(ud, false);
        return;
    }
    easy = curl_easy_init();
    if (!easy) {
        log_error("event=push_refused reason=curl_easy_init");
        done(ud, false);
        return;
    }
    x = xcalloc(1, sizeof *x);
    x->easy = easy;
    x->body = xmalloc(len + 1);
    memcpy(x->body, body, len);
    x->body[len] = '\0';
    x->done = done;
    x->ud = ud;
    x->started = uv_hrtime();
    curl_easy_setopt(easy, CURLOPT_URL, p->url);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, x->body);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, p->headers);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
    x->next = p->xfers;
    if (p->xfers) p->xfers->prev = x;
    p->xfers = x;
    p->inflight++;
    CURLMcode mc = curl_multi_add_handle(p->multi, easy);
    if (mc != CURLM_OK) {
        log_error("event=push_add_failed err=\"%s\"", curl_multi_strerror(mc));
        finish(p, x, false, -1, 0);
    }
}

int push_http_inflight(const struct push_http *p)
{
    return p->inflight;
}

/* ---- lifecycle ---- */

static bool url_ok(const char *s)
{
    size_t n = strlen(s);
    if (n > URL_MAX || (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f) return false;
    return true;
}

static void push_free(struct push_http *p)
{
    curl_slist_free_all(p->headers);
    free(p->url);
    free(p);
    curl_global_cleanup();
}

static void timer_closed(uv_handle_t *h)
{
    push_free(h->data);
}

drop_err push_http_new(uv_loop_t *loop, const char *url, const char *key, int64_t timeout_ms,
                       int max_inflight, struct push_http **out, char *why, size_t whylen)
{
    struct push_http *p;
    char auth[KEY_MAX + 32];

    *out = NULL;
    if (!url_ok(url)) {
        snprintf(why, whylen, "push_url: an http:// or https:// URL of at most %d printable bytes "
                              "expected", URL_MAX);
        return DROP_EBADREQ;
    }
    if (strlen(key) > KEY_MAX || strpbrk(key, "\r\n")) {
        snprintf(why, whylen, "push_key: at most %d bytes on one line expected", KEY_MAX);
        return DROP_EBADREQ;
    }
    if (timeout_ms < 1 || max_inflight < 1) {
        snprintf(why, whylen, "push_timeout and push_max_inflight must be positive");
        return DROP_EBADREQ;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(why, whylen, "push: libcurl failed to initialize");
        return DROP_EINTERNAL;
    }
    p = xcalloc(1, sizeof *p);
    p->loop = loop;
    p->url = xstrdup(url);
    p->timeout_ms = timeout_ms;
    p->max_inflight = max_inflight;
    p->multi = curl_multi_init();
    if (!p->multi) {
        push_free(p);
        snprintf(why, whylen, "push: curl_multi_init failed");
        return DROP_EINTERNAL;
    }
    p->headers = curl_slist_append(p->headers, "Content-Type: application/json");
    p->headers = curl_slist_append(p->headers, "Expect:"); /* no 100-continue round trip */
    if (key[0]) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        p->headers = curl_slist_append(p->headers, auth);
        memset(auth, 0, sizeof auth);
    }
    curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p);
    curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
    curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p);
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    *out = p;
    return DROP_OK;
}

void push_http_close(struct push_http *p)
{
    if (!p || p->closing) return;
    p->closing = true;
    while (p->xfers) finish(p, p->xfers, false, (int)CURLE_ABORTED_BY_CALLBACK, 0);
    curl_multi_cleanup(p->multi);
    p->multi = NULL;
    while (p->socks) sock_unlink_close(p, p->socks);
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, timer_closed);
}
