/* push_http.c - JSON POSTs to a push provider (see push_http.h), through the
 * shared curl-on-libuv client (curl_uv.c). The sender holds the provider's
 * URL and the Authorization header line; each POST carries the caller's
 * callback in a small record that the completion frees. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/curl_uv.h"
#include "adapters/push_http.h"
#include "engine/log.h"
#include "engine/mem.h"

#define URL_MAX 2048
#define KEY_MAX 1024

struct push_http {
    struct curl_uv *cu;
    char *url;
    char *auth; /* "Authorization: Bearer <key>", or NULL; wiped before free */
    int64_t timeout_ms;
};

struct push_call {
    struct push_http *p;
    push_http_done_fn done;
    void *ud;
    uint64_t started;
};

static void push_done(void *arg, int curl_rc, long status, const char *body, size_t len)
{
    struct push_call *pc = arg;
    bool ok = curl_rc == 0 && status >= 200 && status < 300;
    (void)body;
    (void)len;
    log_info("event=push_post ok=%d status=%ld curl=%d ms=%.1f inflight=%d", ok, status, curl_rc,
             (double)(uv_hrtime() - pc->started) / 1e6, curl_uv_inflight(pc->p->cu));
    push_http_done_fn done = pc->done;
    void *ud = pc->ud;
    free(pc);
    done(ud, ok);
}

void push_http_send(struct push_http *p, const char *body, size_t len, push_http_done_fn done,
                    void *ud)
{
    const char *headers[2] = {"Content-Type: application/json", p->auth};
    struct push_call *pc = xcalloc(1, sizeof *pc);
    pc->p = p;
    pc->done = done;
    pc->ud = ud;
    pc->started = uv_hrtime();
    curl_uv_post(p->cu, p->url, headers, p->auth ? 2 : 1, body, len, p->timeout_ms, false,
                 push_done, pc);
}

int push_http_inflight(const struct push_http *p)
{
    return curl_uv_inflight(p->cu);
}

drop_err push_http_new(uv_loop_t *loop, const char *url, const char *key, int64_t timeout_ms,
                       int max_inflight, struct push_http **out, char *why, size_t whylen)
{
    struct push_http *p;
    char auth[KEY_MAX + 32];

    *out = NULL;
    if (!curl_uv_url_ok(url, URL_MAX)) {
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
    p = xcalloc(1, sizeof *p);
    if (curl_uv_new(loop, max_inflight, &p->cu) != DROP_OK) {
        free(p);
        snprintf(why, whylen, "push: libcurl failed to initialize");
        return DROP_EINTERNAL;
    }
    p->url = xstrdup(url);
    p->timeout_ms = timeout_ms;
    if (key[0]) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        p->auth = xstrdup(auth);
        memset(auth, 0, sizeof auth);
    }
    *out = p;
    return DROP_OK;
}

void push_http_close(struct push_http *p)
{
    if (!p) return;
    curl_uv_close(p->cu); /* running POSTs end here, with ok false */
    if (p->auth) memset(p->auth, 0, strlen(p->auth));
    free(p->auth);
    free(p->url);
    free(p);
}
