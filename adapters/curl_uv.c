/* curl_uv.c - libcurl multi on libuv (see curl_uv.h).
 *
 * Three kinds of objects: the driver (one curl multi handle, one uv_timer),
 * one cu_sock per socket curl asks us to watch (a uv_poll, found again via
 * curl_multi_assign), and one cu_xfer per transfer (the easy handle and the
 * caller's callback). Teardown order: remove and clean up every easy handle
 * (their callbacks run), clean up the multi handle, close the polls curl
 * left behind, close the timer; the timer's close callback frees the
 * driver. */
#include <stdlib.h>

#include "adapters/curl_uv.h"
#include "engine/log.h"
#include "engine/mem.h"

struct cu_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct curl_uv *cu;
    struct cu_sock *prev, *next;
};

struct cu_xfer {
    CURL *easy;
    curl_uv_done_fn done;
    void *ud;
    struct cu_xfer *prev, *next;
};

struct curl_uv {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    int running;
    struct cu_xfer *xfers;
    struct cu_sock *socks;
    bool closing;
};

static void check_done(struct curl_uv *cu);

/* ---- sockets and the timer, as curl asks ---- */

static void sock_closed(uv_handle_t *h)
{
    free(h->data);
}

static void sock_unlink_close(struct curl_uv *cu, struct cu_sock *cs)
{
    if (cs->prev) cs->prev->next = cs->next;
    else cu->socks = cs->next;
    if (cs->next) cs->next->prev = cs->prev;
    uv_poll_stop(&cs->poll);
    uv_close((uv_handle_t *)&cs->poll, sock_closed);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct cu_sock *cs = h->data;
    struct curl_uv *cu = cs->cu;
    int flags = 0, running = 0;
    if (status < 0) flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    }
    curl_multi_socket_action(cu->multi, cs->fd, flags, &running);
    check_done(cu);
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct curl_uv *cu = userp;
    struct cu_sock *cs = socketp;
    int ev = 0;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (cs) {
            curl_multi_assign(cu->multi, s, NULL);
            sock_unlink_close(cu, cs);
        }
        return 0;
    }
    if (!cs) {
        cs = xcalloc(1, sizeof *cs);
        if (uv_poll_init_socket(cu->loop, &cs->poll, s) != 0) {
            log_warn("event=curl_poll_failed fd=%d", (int)s);
            free(cs);
            return -1;
        }
        cs->fd = s;
        cs->cu = cu;
        cs->poll.data = cs;
        cs->next = cu->socks;
        if (cu->socks) cu->socks->prev = cs;
        cu->socks = cs;
        curl_multi_assign(cu->multi, s, cs);
    }
    if (what & CURL_POLL_IN) ev |= UV_READABLE;
    if (what & CURL_POLL_OUT) ev |= UV_WRITABLE;
    uv_poll_start(&cs->poll, ev, on_poll);
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    struct curl_uv *cu = t->data;
    int running = 0;
    curl_multi_socket_action(cu->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(cu);
}

static int on_timer_set(CURLM *multi, long timeout_ms, void *userp)
{
    struct curl_uv *cu = userp;
    (void)multi;
    if (timeout_ms < 0) uv_timer_stop(&cu->timer);
    else if (!cu->closing) uv_timer_start(&cu->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- transfers ---- */

/* Ends x: unlinks and frees it, then tells the caller. */
static void finish(struct curl_uv *cu, struct cu_xfer *x, CURLcode res, long status)
{
    if (x->prev) x->prev->next = x->next;
    else cu->xfers = x->next;
    if (x->next) x->next->prev = x->prev;
    curl_multi_remove_handle(cu->multi, x->easy);
    curl_easy_cleanup(x->easy);
    cu->running--;
    curl_uv_done_fn done = x->done;
    void *ud = x->ud;
    free(x);
    done(ud, res, status);
}

static void check_done(struct curl_uv *cu)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(cu->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        struct cu_xfer *x = NULL;
        CURL *easy = m->easy_handle;
        CURLcode res = m->data.result; /* m is invalid once the handle is removed */
        long status = 0;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
        if (x) finish(cu, x, res, status);
    }
}

void curl_uv_add(struct curl_uv *cu, CURL *easy, curl_uv_done_fn done, void *ud)
{
    if (cu->closing) {
        curl_easy_cleanup(easy);
        done(ud, CURLE_ABORTED_BY_CALLBACK, 0);
        return;
    }
    struct cu_xfer *x = xcalloc(1, sizeof *x);
    x->easy = easy;
    x->done = done;
    x->ud = ud;
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
    x->next = cu->xfers;
    if (cu->xfers) cu->xfers->prev = x;
    cu->xfers = x;
    cu->running++;
    CURLMcode mc = curl_multi_add_handle(cu->multi, easy);
    if (mc != CURLM_OK) {
        log_error("event=curl_add_failed err=\"%s\"", curl_multi_strerror(mc));
        finish(cu, x, CURLE_FAILED_INIT, 0);
    }
}

int curl_uv_running(const struct curl_uv *cu)
{
    return cu->running;
}

/* ---- lifecycle ---- */

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
    curl_global_cleanup();
}

struct curl_uv *curl_uv_new(uv_loop_t *loop)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("event=curl_init_failed");
        return NULL;
    }
    struct curl_uv *cu = xcalloc(1, sizeof *cu);
    cu->loop = loop;
    cu->multi = curl_multi_init();
    if (!cu->multi) {
        log_error("event=curl_init_failed what=multi");
        free(cu);
        curl_global_cleanup();
        return NULL;
    }
    curl_multi_setopt(cu->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(cu->multi, CURLMOPT_SOCKETDATA, cu);
    curl_multi_setopt(cu->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
    curl_multi_setopt(cu->multi, CURLMOPT_TIMERDATA, cu);
    uv_timer_init(loop, &cu->timer);
    cu->timer.data = cu;
    return cu;
}

void curl_uv_close(struct curl_uv *cu)
{
    if (!cu || cu->closing) return;
    cu->closing = true;
    while (cu->xfers) finish(cu, cu->xfers, CURLE_ABORTED_BY_CALLBACK, 0);
    curl_multi_cleanup(cu->multi);
    cu->multi = NULL;
    while (cu->socks) sock_unlink_close(cu, cu->socks);
    uv_timer_stop(&cu->timer);
    uv_close((uv_handle_t *)&cu->timer, timer_closed);
}
