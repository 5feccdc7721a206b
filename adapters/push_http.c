/* push_http.c - JSON POSTs to a push provider with libcurl multi on libuv
 * (see push_http.h). The loop side of curl is adapters/curl_uv.c; here is
 * one push_xfer per POST (its body and the caller's callback) and the
 * in-flight bound. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/curl_uv.h"
#include "adapters/push_http.h"
#include "engine/log.h"
#include "engine/mem.h"

#define URL_MAX 2048
#define KEY_MAX 1024

struct push_xfer {
    struct push_http *p;
    char *body;
    push_http_done_fn done;
    void *ud;
    uint64_t started;
};

struct push_http {
    struct curl_uv *cu;
    char *url;
    struct curl_slist *headers; /* shared by every easy handle; freed last */
    int64_t timeout_ms;
    int max_inflight, inflight;
    bool closing;
};

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb; /* the provider's answer body is not needed */
}

/* ---- transfers ---- */

/* The end of one POST: tells the caller. */
static void xfer_done(void *ud, CURLcode res, long status)
{
    struct push_xfer *x = ud;
    struct push_http *p = x->p;
    bool ok = res == CURLE_OK && status >= 200 && status < 300;
    p->inflight--;
    log_info("event=push_post ok=%d status=%ld curl=%d ms=%.1f inflight=%d", ok, status, (int)res,
             (double)(uv_hrtime() - x->started) / 1e6, p->inflight);
    push_http_done_fn done = x->done;
    void *cb_ud = x->ud;
    free(x->body);
    free(x);
    done(cb_ud, ok);
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
    x->p = p;
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
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    p->inflight++;
    curl_uv_add(p->cu, easy, xfer_done, x);
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
    p = xcalloc(1, sizeof *p);
    p->url = xstrdup(url);
    p->timeout_ms = timeout_ms;
    p->max_inflight = max_inflight;
    p->cu = curl_uv_new(loop);
    if (!p->cu) {
        push_free(p);
        snprintf(why, whylen, "push: libcurl failed to initialize");
        return DROP_EINTERNAL;
    }
    p->headers = curl_slist_append(p->headers, "Content-Type: application/json");
    p->headers = curl_slist_append(p->headers, "Expect:"); /* no 100-continue round trip */
    if (key[0]) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        p->headers = curl_slist_append(p->headers, auth);
        memset(auth, 0, sizeof auth);
    }
    *out = p;
    return DROP_OK;
}

void push_http_close(struct push_http *p)
{
    if (!p || p->closing) return;
    p->closing = true;
    curl_uv_close(p->cu); /* the running POSTs end here, with ok false */
    push_free(p);
}
