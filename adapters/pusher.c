/* pusher.c - the push queue and its providers (see pusher.h).
 *
 * Objects: a message (the note of one event for one account, shared by its
 * pushes, reference-counted), a batch (one notify's callback, told once:
 * true at the first accepted push, false when none was), and an item (one
 * push to one device, or one webhook POST). Items wait in a FIFO of ready
 * items or in an unsorted list of retries whose time has not come (one
 * uv_timer wakes at the earliest); both count against push_queue. pump()
 * starts ready items while fewer than push_max_inflight run. A provider's
 * outcome ends the item, or puts it back in the retry list. */
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/metrics.h"
#include "adapters/push_http.h"
#include "adapters/push_internal.h"
#include "adapters/pusher.h"
#include "engine/device.h"
#include "engine/engine.h"
#include "engine/log.h"
#include "engine/mem.h"
#include "engine/push_note.h"
#include "engine/store.h"

#define BACKOFF_BASE_MS 1000
#define BACKOFF_MAX_MS 60000
#define FILE_MAX (64 * 1024)

enum pkind { PK_FCM = 0, PK_APNS = 1, PK_WEB = 2 }; /* metrics' provider order */

struct pmsg {
    int refs;
    char account[DROP_ID_SIZE];
    struct push_note note;
    json_t *raw; /* the event's data (the webhook's body for `push`) */
};

struct batch {
    pusher_done_fn done;
    void *ud;
    int pending;
    bool told;
};

struct item {
    struct item *prev, *next;
    struct pusher *p;
    enum pkind kind;
    char token[DEVICE_TOKEN_MAX + 1];
    bool sandbox;
    struct pmsg *msg;
    int attempts;
    int64_t not_before;
    struct batch *batch; /* until its first outcome */
};

struct pusher {
    uv_loop_t *loop;
    struct engine *eng;
    struct metrics *m;
    struct push_fcm *fcm;
    struct push_apns *apns;
    struct push_http *web;
    int max_inflight, queue_max;
    int inflight, queued;
    struct item *ready, *ready_tail; /* FIFO */
    struct item *wait;               /* retries not yet due */
    uv_timer_t timer;
    bool timer_closed;
    int tasks;                       /* store tasks in flight */
    bool closing, pumping, again;
    uint64_t rng;                    /* xorshift state of the backoff jitter */
};

/* ---- helpers shared with the providers (push_internal.h) ---- */

char *push_jwt_sign(const char *alg, const char *key, size_t keylen, json_t *claims,
                    const char *kid)
{
    jwt_t *jwt = NULL;
    char *grants = NULL, *tok = NULL, *out = NULL;
    jwt_alg_t a = strcmp(alg, "ES256") == 0 ? JWT_ALG_ES256 : JWT_ALG_RS256;

    if (jwt_new(&jwt) != 0) return NULL;
    grants = json_dumps(claims, JSON_COMPACT);
    if (!grants || jwt_add_grants_json(jwt, grants) != 0 ||
        (kid && jwt_add_header(jwt, "kid", kid) != 0) ||
        jwt_set_alg(jwt, a, (const unsigned char *)key, (int)keylen) != 0)
        goto done;
    tok = jwt_encode_str(jwt);
    if (tok) out = xstrdup(tok);
done:
    if (tok) memset(tok, 0, strlen(tok));
    free(tok);
    free(grants);
    jwt_free(jwt); /* wipes its copy of the key */
    return out;
}

char *push_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;
    if (!f) return NULL;
    buf = xmalloc(FILE_MAX + 1);
    n = fread(buf, 1, FILE_MAX + 1, f);
    fclose(f);
    if (n == 0 || n > FILE_MAX) {
        memset(buf, 0, FILE_MAX + 1);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* ---- messages, batches, items ---- */

static void msg_unref(struct pmsg *m)
{
    if (!m || --m->refs > 0) return;
    push_note_free(&m->note);
    json_decref(m->raw);
    free(m);
}

static void batch_tell(struct batch *b, bool ok)
{
    if (b->told) return;
    b->told = true;
    if (b->done) b->done(b->ud, ok);
}

/* One push of b ended its first attempt. */
static void batch_settle(struct batch *b, bool ok)
{
    if (ok) batch_tell(b, true);
    if (--b->pending == 0) {
        batch_tell(b, false);
        free(b);
    }
}

static void item_settle(struct item *it, bool ok)
{
    struct batch *b = it->batch;
    it->batch = NULL;
    if (b) batch_settle(b, ok);
}

static void item_free(struct item *it)
{
    item_settle(it, false);
    msg_unref(it->msg);
    free(it);
}

static void depth(struct pusher *p)
{
    p->m->push_queue_depth = p->queued + p->inflight;
}

static void fail(struct pusher *p, struct item *it, int reason)
{
    p->m->push_failed[reason]++;
    item_free(it);
}

static void maybe_free(struct pusher *p)
{
    if (p->closing && p->timer_closed && p->tasks == 0 && p->inflight == 0) free(p);
}

/* ---- the lists ---- */

static void ready_push(struct pusher *p, struct item *it)
{
    it->next = NULL;
    it->prev = p->ready_tail;
    if (p->ready_tail) p->ready_tail->next = it;
    else p->ready = it;
    p->ready_tail = it;
}

static void ready_unlink(struct pusher *p, struct item *it)
{
    if (it->prev) it->prev->next = it->next;
    else p->ready = it->next;
    if (it->next) it->next->prev = it->prev;
    else p->ready_tail = it->prev;
    it->prev = it->next = NULL;
}

static void wait_unlink(struct pusher *p, struct item *it)
{
    if (it->prev) it->prev->next = it->next;
    else p->wait = it->next;
    if (it->next) it->next->prev = it->prev;
    it->prev = it->next = NULL;
}

static void on_timer(uv_timer_t *t);

static void arm_timer(struct pusher *p)
{
    int64_t first = 0, now = engine_now(p->eng);
    for (struct item *it = p->wait; it; it = it->next)
        if (!first || it->not_before < first) first = it->not_before;
    if (!first) {
        uv_timer_stop(&p->timer);
        return;
    }
    uv_timer_start(&p->timer, on_timer, (uint64_t)(first > now ? first - now : 0), 0);
}

static void pump(struct pusher *p);

static void on_timer(uv_timer_t *t)
{
    struct pusher *p = t->data;
    int64_t now = engine_now(p->eng);
    struct item *it = p->wait, *next;
    for (; it; it = next) {
        next = it->next;
        if (it->not_before <= now) {
            wait_unlink(p, it);
            ready_push(p, it);
        }
    }
    arm_timer(p);
    pump(p);
}

/* Queues it (counted against push_queue); over the bound the oldest
 * queued offer push goes, else it. */
static void enqueue(struct pusher *p, struct item *it)
{
    if (p->queued >= p->queue_max) {
        struct item *victim = NULL;
        for (struct item *v = p->ready; v && !victim; v = v->next)
            if (v->msg->note.high) victim = v;
        if (!victim) {
            log_warn("event=push_queue_full queued=%d", p->queued);
            fail(p, it, PUSH_FAIL_QUEUE_FULL);
            return;
        }
        ready_unlink(p, victim);
        p->queued--;
        log_warn("event=push_queue_full queued=%d dropped=offer", p->queued);
        fail(p, victim, PUSH_FAIL_QUEUE_FULL);
    }
    ready_push(p, it);
    p->queued++;
    depth(p);
}

/* ---- sending ---- */

/* Deleting a gone token; the item ends (and its notify hears of it) once
 * the device is deleted, so a later notify never reads it again. */
struct del_task {
    struct pusher *p;
    struct item *it;
};

static void del_work(struct engine *e, void *arg)
{
    struct del_task *j = arg;
    drop_err rc = store_device_delete(e->store, NULL, j->it->token);
    if (rc != DROP_OK && rc != DROP_ENOTFOUND)
        log_warn("event=push_device_remove_failed account=%s err=%s", j->it->msg->account,
                 err_code(rc));
}

static void del_done(struct engine *e, struct req *r, void *arg)
{
    struct del_task *j = arg;
    struct pusher *p = j->p;
    (void)e;
    (void)r;
    fail(p, j->it, PUSH_FAIL_INVALID_TOKEN);
    free(j);
    p->tasks--;
    depth(p);
    maybe_free(p);
}

/* BACKOFF_BASE_MS doubling per attempt up to BACKOFF_MAX_MS, times a
 * jitter of 0.5 .. 1.5 (per node, so nodes do not retry in step). */
static int64_t backoff_ms(struct pusher *p, int attempts)
{
    int64_t d = BACKOFF_BASE_MS;
    for (int i = 1; i < attempts && d < BACKOFF_MAX_MS; i++) d *= 2;
    if (d > BACKOFF_MAX_MS) d = BACKOFF_MAX_MS;
    p->rng ^= p->rng << 13;
    p->rng ^= p->rng >> 7;
    p->rng ^= p->rng << 17;
    return d / 2 + (int64_t)(p->rng % (uint64_t)d);
}

static const char *const KIND[] = {"fcm", "apns", "webhook"};

static void on_outcome(void *ud, enum push_outcome o, int64_t retry_after_ms)
{
    struct item *it = ud;
    struct pusher *p = it->p;
    int64_t now = engine_now(p->eng);
    p->inflight--;
    if (p->closing) {
        item_free(it);
        maybe_free(p);
        return;
    }
    switch (o) {
    case PUSH_SENT:
        p->m->push_sent[it->kind]++;
        log_info("event=push_sent provider=%s account=%s ev=%s attempt=%d", KIND[it->kind],
                 it->msg->account, it->msg->note.event, it->attempts);
        item_settle(it, true);
        item_free(it);
        break;
    case PUSH_GONE: {
        struct del_task *j = xcalloc(1, sizeof *j);
        j->p = p;
        j->it = it;
        p->m->push_devices_removed++;
        log_info("event=push_device_removed provider=%s account=%s", KIND[it->kind],
                 it->msg->account);
        p->tasks++;
        p->eng->ports.run_task(p->eng->ports.ctx, NULL, del_work, del_done, j);
        break;
    }
    case PUSH_RETRY: {
        int64_t delay = backoff_ms(p, it->attempts);
        if (retry_after_ms > delay) delay = retry_after_ms;
        int64_t exp = it->msg->note.expires_at;
        if (it->attempts >= PUSHER_ATTEMPTS) {
            log_warn("event=push_given_up provider=%s account=%s attempts=%d", KIND[it->kind],
                     it->msg->account, it->attempts);
            fail(p, it, PUSH_FAIL_UNAVAILABLE);
        } else if (exp && now + delay >= exp) {
            fail(p, it, PUSH_FAIL_EXPIRED);
        } else {
            p->m->push_retried++;
            log_info("event=push_retry provider=%s account=%s attempt=%d delay_ms=%lld",
                     KIND[it->kind], it->msg->account, it->attempts, (long long)delay);
            item_settle(it, false);
            it->not_before = now + delay;
            it->prev = NULL;
            it->next = p->wait;
            if (p->wait) p->wait->prev = it;
            p->wait = it;
            p->queued++;
            arm_timer(p);
        }
        break;
    }
    case PUSH_REJECTED:
        log_warn("event=push_rejected provider=%s account=%s", KIND[it->kind], it->msg->account);
        fail(p, it, PUSH_FAIL_REJECTED);
        break;
    case PUSH_AUTH:
        log_error("event=push_auth_refused provider=%s", KIND[it->kind]);
        fail(p, it, PUSH_FAIL_AUTH);
        break;
    }
    depth(p);
    pump(p);
}

static void on_web(void *ud, bool ok)
{
    struct item *it = ud;
    if (ok) on_outcome(ud, PUSH_SENT, 0);
    else {
        it->attempts = PUSHER_ATTEMPTS; /* the webhook is not retried (as before) */
        on_outcome(ud, PUSH_RETRY, 0);
    }
}

static void start(struct pusher *p, struct item *it)
{
    int64_t now = engine_now(p->eng);
    const struct push_note *n = &it->msg->note;
    if (n->expires_at && now >= n->expires_at) {
        fail(p, it, PUSH_FAIL_EXPIRED);
        return;
    }
    p->inflight++;
    it->attempts++;
    if (it->kind == PK_FCM) {
        push_fcm_send(p->fcm, it->token, n, now, on_outcome, it);
    } else if (it->kind == PK_APNS) {
        push_apns_send(p->apns, it->token, it->sandbox, n, now, on_outcome, it);
    } else {
        json_t *body;
        if (strcmp(n->event, "push") == 0)
            body = json_pack("{s:s,s:O,s:O}", "to", it->msg->account, "from",
                             json_object_get(it->msg->raw, "from"), "data",
                             json_object_get(it->msg->raw, "data"));
        else
            body = json_pack("{s:s,s:s,s:s,s:s,s:O}", "to", it->msg->account, "event", n->event,
                             "title", n->title, "body", n->body, "data", n->data);
        char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        if (!text) {
            p->inflight--;
            fail(p, it, PUSH_FAIL_REJECTED);
            return;
        }
        push_http_send(p->web, text, strlen(text), on_web, it);
        free(text);
    }
}

static void pump(struct pusher *p)
{
    if (p->pumping) {
        p->again = true;
        return;
    }
    p->pumping = true;
    do {
        p->again = false;
        while (!p->closing && p->inflight < p->max_inflight && p->ready) {
            struct item *it = p->ready;
            ready_unlink(p, it);
            p->queued--;
            start(p, it);
        }
    } while (p->again && !p->closing);
    p->pumping = false;
    depth(p);
}

/* ---- notify ---- */

struct notify_task {
    struct pusher *p;
    struct pmsg *msg;
    struct batch *batch;
    struct device *devs;
    size_t n;
    drop_err err;
};

static void list_work(struct engine *e, void *arg)
{
    struct notify_task *j = arg;
    j->err = store_device_list(e->store, j->msg->account, &j->devs, &j->n);
}

static struct item *item_new(struct pusher *p, struct notify_task *j, enum pkind kind)
{
    struct item *it = xcalloc(1, sizeof *it);
    it->p = p;
    it->kind = kind;
    it->msg = j->msg;
    j->msg->refs++;
    it->batch = j->batch;
    j->batch->pending++;
    return it;
}

static void list_done(struct engine *e, struct req *r, void *arg)
{
    struct notify_task *j = arg;
    struct pusher *p = j->p;
    int devices = 0;
    (void)e;
    (void)r;
    p->tasks--;
    if (!p->closing) {
        if (j->err != DROP_OK)
            log_warn("event=push_devices_unreadable account=%s err=%s", j->msg->account,
                     err_code(j->err));
        for (size_t i = 0; j->err == DROP_OK && i < j->n; i++) {
            const struct device *d = &j->devs[i];
            if ((d->platform == DEVICE_FCM && !p->fcm) || (d->platform == DEVICE_APNS && !p->apns))
                continue;
            struct item *it = item_new(p, j, d->platform == DEVICE_FCM ? PK_FCM : PK_APNS);
            snprintf(it->token, sizeof it->token, "%s", d->token);
            it->sandbox = d->sandbox;
            enqueue(p, it);
            devices++;
        }
        if (p->web) enqueue(p, item_new(p, j, PK_WEB));
        log_info("event=push_notify account=%s ev=%s devices=%d webhook=%d", j->msg->account,
                 j->msg->note.event, devices, p->web != NULL);
    }
    if (j->devs) memset(j->devs, 0, j->n * sizeof *j->devs);
    free(j->devs);
    msg_unref(j->msg);
    batch_settle(j->batch, false); /* the hold of the notify itself */
    free(j);
    if (p->closing) maybe_free(p);
    else pump(p);
}

void pusher_notify(struct pusher *p, const char *account, const json_t *envelope,
                   pusher_done_fn done, void *ud)
{
    struct push_note n;
    if (!p || p->closing || !pusher_active(p) ||
        !push_note_build(envelope, engine_now(p->eng), &n)) {
        if (done) done(ud, false);
        return;
    }
    struct notify_task *j = xcalloc(1, sizeof *j);
    j->p = p;
    j->msg = xcalloc(1, sizeof *j->msg);
    j->msg->refs = 1;
    snprintf(j->msg->account, sizeof j->msg->account, "%s", account);
    j->msg->note = n;
    j->msg->raw = json_incref(json_object_get(envelope, "data"));
    j->batch = xcalloc(1, sizeof *j->batch);
    j->batch->done = done;
    j->batch->ud = ud;
    j->batch->pending = 1; /* held until every item is queued */
    p->tasks++;
    if (p->fcm || p->apns) p->eng->ports.run_task(p->eng->ports.ctx, NULL, list_work, list_done, j);
    else list_done(p->eng, NULL, j); /* the webhook needs no devices */
}

/* ---- lifecycle ---- */

bool pusher_active(const struct pusher *p)
{
    return p && (p->fcm || p->apns || p->web);
}

const char *pusher_describe(const struct pusher *p, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s%s", p && p->fcm ? "fcm," : "", p && p->apns ? "apns," : "",
             p && p->web ? "webhook," : "", pusher_active(p) ? "" : "off");
    size_t n = strlen(buf);
    if (n && buf[n - 1] == ',') buf[n - 1] = '\0';
    return buf;
}

drop_err pusher_new(uv_loop_t *loop, struct engine *eng, struct metrics *m,
                    const struct pusher_config *c, struct pusher **out, char *why, size_t whylen)
{
    struct pusher *p = xcalloc(1, sizeof *p);
    drop_err rc = DROP_OK;

    *out = NULL;
    p->loop = loop;
    p->eng = eng;
    p->m = m;
    p->max_inflight = c->max_inflight > 0 ? c->max_inflight : 1;
    p->queue_max = c->queue_max > 0 ? c->queue_max : 1;
    p->rng = uv_hrtime() ^ ((uint64_t)(uintptr_t)p << 16) ^ 0x9e3779b97f4a7c15ULL;
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    if (c->fcm_credentials && c->fcm_credentials[0] &&
        (rc = push_fcm_new(loop, c->fcm_credentials, c->fcm_url, c->ca_file, c->timeout_ms,
                           p->max_inflight, &p->fcm, why, whylen)) != DROP_OK)
        goto fail;
    if (c->apns_key && c->apns_key[0]) {
        struct push_apns_config ac = {
            .key_path = c->apns_key, .key_id = c->apns_key_id, .team_id = c->apns_team_id,
            .topic = c->apns_topic, .url = c->apns_url, .sandbox_url = c->apns_sandbox_url,
            .ca_file = c->ca_file, .timeout_ms = c->timeout_ms, .max_inflight = p->max_inflight,
        };
        if ((rc = push_apns_new(loop, &ac, &p->apns, why, whylen)) != DROP_OK) goto fail;
    }
    if (c->webhook_url && c->webhook_url[0] &&
        (rc = push_http_new(loop, c->webhook_url, c->webhook_key ? c->webhook_key : "",
                            c->timeout_ms, p->max_inflight, &p->web, why, whylen)) != DROP_OK)
        goto fail;
    *out = p;
    return DROP_OK;
fail:
    pusher_close(p);
    return rc;
}

static void timer_closed(uv_handle_t *h)
{
    struct pusher *p = h->data;
    p->timer_closed = true;
    maybe_free(p);
}

void pusher_close(struct pusher *p)
{
    if (!p || p->closing) return;
    p->closing = true;
    while (p->ready) {
        struct item *it = p->ready;
        ready_unlink(p, it);
        item_free(it);
    }
    while (p->wait) {
        struct item *it = p->wait;
        wait_unlink(p, it);
        item_free(it);
    }
    p->queued = 0;
    /* running sends end here: their outcomes free them (closing) */
    push_fcm_close(p->fcm);
    p->fcm = NULL;
    push_apns_close(p->apns);
    p->apns = NULL;
    push_http_close(p->web);
    p->web = NULL;
    depth(p);
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, timer_closed);
}
