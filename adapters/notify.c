/* notify.c - the code sender: routes "email" to the mailer and "phone" to
 * the SMS provider, and counts the outcome (see notify.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/curl_uv.h"
#include "adapters/mail_smtp.h"
#include "adapters/notify.h"
#include "adapters/sms_twilio.h"
#include "engine/log.h"
#include "engine/mem.h"

struct notify {
    struct curl_uv *cu;
    struct mail_smtp *mail;
    struct sms_twilio *sms;
    struct metrics *m;
};

struct notify_call {
    struct notify *n;
    int channel; /* 0 email, 1 sms */
    void (*done)(void *ud, bool ok);
    void *ud;
};

static bool can(void *ctx, const char *type)
{
    struct notify *n = ctx;
    if (strcmp(type, "email") == 0) return n->mail != NULL;
    if (strcmp(type, "phone") == 0) return n->sms != NULL;
    return false;
}

static void sent(void *ud, bool ok)
{
    struct notify_call *c = ud;
    if (ok) c->n->m->codes_sent[c->channel]++;
    else c->n->m->codes_failed[c->channel]++;
    void (*done)(void *, bool) = c->done;
    void *cb = c->ud;
    free(c);
    done(cb, ok);
}

static void notify_send(void *ctx, const char *type, const char *to, const char *subject,
                 const char *text, void (*done)(void *ud, bool ok), void *ud)
{
    struct notify *n = ctx;
    if (!can(ctx, type)) {
        done(ud, false);
        return;
    }
    struct notify_call *c = xcalloc(1, sizeof *c);
    c->n = n;
    c->done = done;
    c->ud = ud;
    c->channel = strcmp(type, "email") == 0 ? 0 : 1;
    if (c->channel == 0) mail_smtp_send(n->mail, to, subject, text, sent, c);
    else sms_twilio_send(n->sms, to, text, sent, c);
}

static const char *secret(const char *configured, const char *env)
{
    const char *v = configured && configured[0] ? configured : getenv(env);
    return v ? v : "";
}

int notify_start(uv_loop_t *loop, const struct config *c, struct metrics *m,
                 struct engine_notify *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    bool mail = c->mail_url[0] != '\0', sms = strcmp(c->sms_provider, "twilio") == 0;
    if (!mail && !sms) {
        log_info("event=notify email=off sms=off");
        return 0;
    }
    struct notify *n = xcalloc(1, sizeof *n);
    n->m = m;
    if (curl_uv_new(loop, NOTIFY_MAX_INFLIGHT, &n->cu) != DROP_OK) {
        snprintf(why, whylen, "mail/sms: libcurl failed to initialize");
        free(n);
        return -1;
    }
    out->ctx = n;
    out->can = can;
    out->send = notify_send;
    if (mail && mail_smtp_new(n->cu, c->mail_url, c->mail_from, c->mail_user,
                              secret(c->mail_password, "DROPIN_MAIL_PASSWORD"), NOTIFY_TIMEOUT_MS,
                              &n->mail, why, whylen) != DROP_OK)
        goto fail;
    if (sms && sms_twilio_new(n->cu, c->twilio_url, c->twilio_account_sid,
                              secret(c->twilio_auth_token, "DROPIN_TWILIO_AUTH_TOKEN"),
                              c->twilio_from, NOTIFY_TIMEOUT_MS, &n->sms, why,
                              whylen) != DROP_OK)
        goto fail;
    log_info("event=notify email=%s sms=%s", mail ? "smtp" : "off", sms ? "twilio" : "off");
    return 0;
fail:
    notify_stop(out);
    return -1;
}

void notify_stop(struct engine_notify *e)
{
    struct notify *n = e->ctx;
    memset(e, 0, sizeof *e);
    if (!n) return;
    curl_uv_close(n->cu); /* running sends end here */
    mail_smtp_free(n->mail);
    sms_twilio_free(n->sms);
    free(n);
}
