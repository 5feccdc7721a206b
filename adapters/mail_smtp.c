/* mail_smtp.c - plain-text email over SMTP with libcurl on the loop (see
 * mail_smtp.h). One mail_xfer per message: the whole message, built once,
 * and the read position curl uploads it from. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/mail_smtp.h"
#include "adapters/token.h"
#include "engine/log.h"
#include "engine/mem.h"

#define MAIL_TEXT_MAX 8192

struct mail_smtp {
    struct curl_uv *cu;
    char *url;
    char *from;       /* the From header as configured */
    char *from_addr;  /* its addr-spec, for MAIL FROM */
    char *domain;     /* of from_addr, for Message-ID */
    char *user;
    char *password;
    int64_t timeout_ms;
};

struct mail_xfer {
    char *msg;
    size_t len, pos;
    struct curl_slist *rcpt;
    void (*done)(void *ud, bool ok);
    void *ud;
};

static bool has_crlf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

drop_err mail_smtp_new(struct curl_uv *cu, const char *url, const char *from, const char *user,
                       const char *password, int64_t timeout_ms, struct mail_smtp **out,
                       char *why, size_t whylen)
{
    *out = NULL;
    if (strncmp(url, "smtp://", 7) != 0 && strncmp(url, "smtps://", 8) != 0) {
        snprintf(why, whylen, "mail_url: smtp://HOST:PORT or smtps://HOST:PORT expected");
        return DROP_EBADREQ;
    }
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
            snprintf(why, whylen, "mail_url: printable characters only");
            return DROP_EBADREQ;
        }
    const char *lt = strchr(from, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    const char *a = lt ? lt + 1 : from;
    size_t alen = lt ? (gt ? (size_t)(gt - a) : 0) : strlen(from);
    const char *at = memchr(a, '@', alen);
    if (!from[0] || has_crlf(from) || alen == 0 || !at || at == a || at + 1 >= a + alen ||
        memchr(a, ' ', alen)) {
        snprintf(why, whylen, "mail_from: \"Name <addr@host>\" or \"addr@host\" expected");
        return DROP_EBADREQ;
    }
    if (has_crlf(user) || has_crlf(password)) {
        snprintf(why, whylen, "mail_user and mail_password must be one line each");
        return DROP_EBADREQ;
    }
    struct mail_smtp *m = xcalloc(1, sizeof *m);
    m->cu = cu;
    m->url = xstrdup(url);
    m->from = xstrdup(from);
    m->from_addr = xstrndup(a, alen);
    m->domain = xstrndup(at + 1, (size_t)(a + alen - at - 1));
    m->user = xstrdup(user);
    m->password = xstrdup(password);
    m->timeout_ms = timeout_ms;
    *out = m;
    return DROP_OK;
}

void mail_smtp_free(struct mail_smtp *m)
{
    if (!m) return;
    free(m->url);
    free(m->from);
    free(m->from_addr);
    free(m->domain);
    free(m->user);
    if (m->password) memset(m->password, 0, strlen(m->password));
    free(m->password);
    free(m);
}

static size_t read_msg(char *buf, size_t size, size_t nitems, void *ud)
{
    struct mail_xfer *x = ud;
    size_t room = size * nitems, left = x->len - x->pos;
    size_t n = left < room ? left : room;
    memcpy(buf, x->msg + x->pos, n);
    x->pos += n;
    return n;
}

static void xfer_done(void *ud, int curl_rc, long status, const char *body, size_t len)
{
    struct mail_xfer *x = ud;
    bool ok = curl_rc == 0;
    (void)body;
    (void)len;
    /* no address, no body: the reply code and curl's result are enough */
    log_info("event=mail_sent ok=%d smtp=%ld curl=%d", ok, status, curl_rc);
    curl_slist_free_all(x->rcpt);
    memset(x->msg, 0, x->len);
    free(x->msg);
    void (*done)(void *, bool) = x->done;
    void *cb = x->ud;
    free(x);
    done(cb, ok);
}

/* Appends text with every line ending made CRLF and a leading '.' kept
 * as is (curl dot-stuffs the upload itself). */
static size_t put_text(char *out, size_t room, const char *text)
{
    size_t o = 0;
    for (const char *p = text; *p && o + 2 < room; p++) {
        if (*p == '\r') continue;
        if (*p == '\n') out[o++] = '\r';
        out[o++] = *p;
    }
    out[o] = '\0';
    return o;
}

void mail_smtp_send(struct mail_smtp *m, const char *to, const char *subject, const char *text,
                    void (*done)(void *ud, bool ok), void *ud)
{
    char date[64], mid[64], rcpt[300], from[300];
    unsigned char rnd[12];
    time_t now = time(NULL);
    struct tm tm;
    CURL *easy;

    if (has_crlf(to) || has_crlf(subject) || strlen(to) > 254 || strlen(text) > MAIL_TEXT_MAX ||
        !(easy = curl_easy_init())) {
        done(ud, false);
        return;
    }
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    if (token_random(rnd, sizeof rnd) != DROP_OK) memset(rnd, 0, sizeof rnd);
    for (size_t i = 0; i < sizeof rnd; i++) snprintf(mid + 2 * i, 3, "%02x", rnd[i]);

    struct mail_xfer *x = xcalloc(1, sizeof *x);
    size_t cap = strlen(m->from) + strlen(to) + strlen(subject) + 2 * strlen(text) +
                 strlen(m->domain) + 512;
    x->msg = xmalloc(cap);
    int n = snprintf(x->msg, cap,
                     "Date: %s\r\n"
                     "Message-ID: <%lld.%s@%s>\r\n"
                     "From: %s\r\n"
                     "To: <%s>\r\n"
                     "Subject: %s\r\n"
                     "MIME-Version: 1.0\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\n"
                     "Content-Transfer-Encoding: 8bit\r\n"
                     "\r\n",
                     date, (long long)now, mid, m->domain, m->from, to, subject);
    x->len = (size_t)n + put_text(x->msg + n, cap - (size_t)n, text);
    x->done = done;
    x->ud = ud;
    snprintf(rcpt, sizeof rcpt, "<%s>", to);
    snprintf(from, sizeof from, "<%s>", m->from_addr);
    x->rcpt = curl_slist_append(NULL, rcpt);

    curl_easy_setopt(easy, CURLOPT_URL, m->url);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(easy, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY); /* STARTTLS when offered */
    curl_easy_setopt(easy, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(easy, CURLOPT_MAIL_RCPT, x->rcpt);
    curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(easy, CURLOPT_READFUNCTION, read_msg);
    curl_easy_setopt(easy, CURLOPT_READDATA, x);
    curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->len);
    if (m->user[0]) {
        curl_easy_setopt(easy, CURLOPT_USERNAME, m->user);
        curl_easy_setopt(easy, CURLOPT_PASSWORD, m->password);
    }
    curl_uv_perform(m->cu, easy, m->timeout_ms, xfer_done, x);
}
