/* sms_twilio.c - Twilio's Messages API on the loop (see sms_twilio.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/sms_twilio.h"
#include "engine/log.h"
#include "engine/mem.h"

struct sms_twilio {
    struct curl_uv *cu;
    char *endpoint; /* {url}/2010-04-01/Accounts/{sid}/Messages.json */
    char *sid;
    char *token;
    char *from;
    int64_t timeout_ms;
};

struct sms_xfer {
    char *form;
    void (*done)(void *ud, bool ok);
    void *ud;
};

static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f) return false;
    return true;
}

drop_err sms_twilio_new(struct curl_uv *cu, const char *url, const char *sid, const char *token,
                        const char *from, int64_t timeout_ms, struct sms_twilio **out, char *why,
                        size_t whylen)
{
    *out = NULL;
    if ((strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
        !printable(url) || strlen(url) > 1024) {
        snprintf(why, whylen, "twilio_url: an http:// or https:// URL expected");
        return DROP_EBADREQ;
    }
    if (!sid[0] || !printable(sid) || strlen(sid) > 64 || strchr(sid, '/') || strchr(sid, ':')) {
        snprintf(why, whylen, "twilio_account_sid: required with sms_provider twilio");
        return DROP_EBADREQ;
    }
    if (!token[0] || !printable(token)) {
        snprintf(why, whylen, "twilio_auth_token (or DROPIN_TWILIO_AUTH_TOKEN): required with "
                              "sms_provider twilio");
        return DROP_EBADREQ;
    }
    if (!from[0] || strlen(from) > 64 || strpbrk(from, "\r\n")) {
        snprintf(why, whylen, "twilio_from: the sending number is required");
        return DROP_EBADREQ;
    }
    struct sms_twilio *t = xcalloc(1, sizeof *t);
    size_t n = strlen(url) + strlen(sid) + 64;
    t->endpoint = xmalloc(n);
    snprintf(t->endpoint, n, "%s%s2010-04-01/Accounts/%s/Messages.json", url,
             url[strlen(url) - 1] == '/' ? "" : "/", sid);
    t->cu = cu;
    t->sid = xstrdup(sid);
    t->token = xstrdup(token);
    t->from = xstrdup(from);
    t->timeout_ms = timeout_ms;
    *out = t;
    return DROP_OK;
}

void sms_twilio_free(struct sms_twilio *t)
{
    if (!t) return;
    free(t->endpoint);
    free(t->sid);
    if (t->token) memset(t->token, 0, strlen(t->token));
    free(t->token);
    free(t->from);
    free(t);
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

static void xfer_done(void *ud, CURLcode res, long status)
{
    struct sms_xfer *x = ud;
    bool ok = res == CURLE_OK && status >= 200 && status < 300;
    log_info("event=sms_sent provider=twilio ok=%d status=%ld curl=%d", ok, status, (int)res);
    memset(x->form, 0, strlen(x->form));
    free(x->form);
    void (*done)(void *, bool) = x->done;
    void *cb = x->ud;
    free(x);
    done(cb, ok);
}

/* Appends "&name=value" (url-encoded) to the form being built. */
static void field(CURL *easy, char **form, size_t *len, const char *name, const char *value)
{
    char *enc = curl_easy_escape(easy, value, 0);
    size_t add = strlen(name) + strlen(enc ? enc : "") + 2;
    *form = xrealloc(*form, *len + add + 1);
    *len += (size_t)snprintf(*form + *len, add + 1, "%s%s=%s", *len ? "&" : "", name,
                             enc ? enc : "");
    curl_free(enc);
}

void sms_twilio_send(struct sms_twilio *t, const char *to, const char *text,
                     void (*done)(void *ud, bool ok), void *ud)
{
    char num[40];
    CURL *easy = curl_easy_init();
    if (!easy || strlen(to) > 20) {
        if (easy) curl_easy_cleanup(easy);
        done(ud, false);
        return;
    }
    snprintf(num, sizeof num, "+%s", to);
    struct sms_xfer *x = xcalloc(1, sizeof *x);
    size_t len = 0;
    field(easy, &x->form, &len, "To", num);
    field(easy, &x->form, &len, "From", t->from);
    field(easy, &x->form, &len, "Body", text);
    x->done = done;
    x->ud = ud;
    curl_easy_setopt(easy, CURLOPT_URL, t->endpoint);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, x->form);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(easy, CURLOPT_USERNAME, t->sid);
    curl_easy_setopt(easy, CURLOPT_PASSWORD, t->token);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)t->timeout_ms);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    curl_uv_add(t->cu, easy, xfer_done, x);
}
