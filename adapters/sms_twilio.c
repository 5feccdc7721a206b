/* sms_twilio.c - Twilio's Messages API on the loop (see sms_twilio.h). */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/sms_twilio.h"
#include "engine/log.h"
#include "engine/mem.h"

struct sms_twilio {
    struct curl_uv *cu;
    char *endpoint; /* {url}/2010-04-01/Accounts/{sid}/Messages.json */
    char *auth;     /* "Authorization: Basic base64(sid:token)"; wiped before free */
    char *from;
    int64_t timeout_ms;
};

struct sms_call {
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
    size_t cl = strlen(sid) + 1 + strlen(token);
    char *cred = xmalloc(cl + 1);
    snprintf(cred, cl + 1, "%s:%s", sid, token);
    size_t al = 32 + 4 * (cl / 3 + 1);
    t->auth = xmalloc(al);
    int hl = snprintf(t->auth, al, "Authorization: Basic ");
    EVP_EncodeBlock((unsigned char *)t->auth + hl, (const unsigned char *)cred, (int)cl);
    OPENSSL_cleanse(cred, cl);
    free(cred);
    t->from = xstrdup(from);
    t->timeout_ms = timeout_ms;
    *out = t;
    return DROP_OK;
}

void sms_twilio_free(struct sms_twilio *t)
{
    if (!t) return;
    free(t->endpoint);
    if (t->auth) OPENSSL_cleanse(t->auth, strlen(t->auth));
    free(t->auth);
    free(t->from);
    free(t);
}

static void post_done(void *ud, int curl_rc, long status, const char *body, size_t len)
{
    struct sms_call *c = ud;
    bool ok = curl_rc == 0 && status >= 200 && status < 300;
    (void)body;
    (void)len;
    log_info("event=sms_sent provider=twilio ok=%d status=%ld curl=%d", ok, status, curl_rc);
    void (*done)(void *, bool) = c->done;
    void *cb = c->ud;
    free(c);
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
    CURL *esc = curl_easy_init(); /* only for curl_easy_escape */
    if (!esc || strlen(to) > 20) {
        if (esc) curl_easy_cleanup(esc);
        done(ud, false);
        return;
    }
    snprintf(num, sizeof num, "+%s", to);
    char *form = NULL;
    size_t len = 0;
    field(esc, &form, &len, "To", num);
    field(esc, &form, &len, "From", t->from);
    field(esc, &form, &len, "Body", text);
    curl_easy_cleanup(esc);
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded", t->auth};
    struct sms_call *c = xcalloc(1, sizeof *c);
    c->done = done;
    c->ud = ud;
    curl_uv_post(t->cu, t->endpoint, headers, 2, form, len, t->timeout_ms, false, post_done, c);
    OPENSSL_cleanse(form, len); /* curl_uv copied it */
    free(form);
}
