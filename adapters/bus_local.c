/* bus_local.c - the in-process bus.
 *
 * Subscriptions are a uthash set of channel names with reference counts. A
 * publish to a subscribed channel copies the message into a FIFO and starts
 * a uv_idle handle; the idle callback (next loop turn, never inside
 * bus_publish) delivers the messages queued before it started, so a
 * subscriber that publishes from on_message is served on the turn after,
 * and the loop keeps polling sockets in between. Delivery checks the
 * subscription again: a channel unsubscribed meanwhile gets nothing. The
 * FIFO is bounded in messages and bytes; over either bound a publish is
 * dropped and counted. A channel family the owner tracks itself (acct.<id>
 * of the node's sessions) is held through a callback instead of one
 * subscription per channel (bus_local_hold): a subscription costs a hash
 * entry and a name, about 130 bytes, for every idle signed-in session. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/bus_local.h"
#include "engine/log.h"
#include "engine/mem.h"

#define uthash_malloc(sz) xmalloc(sz)
#define uthash_free(ptr, sz) free(ptr)
#include <uthash.h>

#define QUEUE_BYTES_MAX ((size_t)64 * 1024 * 1024)

struct local_sub {
    char *name;
    int refs;
    UT_hash_handle hh;
};

struct local_msg {
    struct local_msg *next;
    char *channel;
    bus_count_cb cb; /* a counted publish: told the receivers once handled */
    void *ud;
    int64_t receivers;
    size_t len;
    unsigned char payload[];
};

struct bus_local {
    uv_idle_t idle;
    struct bus_callbacks cb;
    struct local_sub *subs;
    char hold_prefix[32];       /* bus_local_hold: channels held by callback */
    size_t hold_len;
    bool (*held)(void *ud, const char *rest);
    void *held_ud;
    struct local_msg *head, *tail;
    size_t queued, queued_bytes, queue_max;
    bool closing;
    struct bus_stats stats;
};

static struct local_sub *sub_find(struct bus_local *bl, const char *channel)
{
    struct local_sub *s = NULL;
    HASH_FIND_STR(bl->subs, channel, s);
    return s;
}

/* True when a message on channel reaches this process. */
static bool channel_held(struct bus_local *bl, const char *channel)
{
    struct local_sub *s = sub_find(bl, channel);
    if (s && s->refs > 0) return true;
    return bl->held && strncmp(channel, bl->hold_prefix, bl->hold_len) == 0 &&
           bl->held(bl->held_ud, channel + bl->hold_len);
}

static void msg_free(struct local_msg *m)
{
    if (!m) return;
    free(m->channel);
    free(m);
}

/* Delivers the messages that were queued when this turn began. */
static void on_idle(uv_idle_t *h)
{
    struct bus_local *bl = h->data;
    size_t n = bl->queued;
    while (n-- > 0 && bl->head && !bl->closing) {
        struct local_msg *m = bl->head;
        bl->head = m->next;
        if (!bl->head) bl->tail = NULL;
        bl->queued--;
        bl->queued_bytes -= m->len;
        if (m->receivers > 0 && bl->cb.on_message && channel_held(bl, m->channel)) {
            bl->stats.delivered++;
            bl->cb.on_message(bl->cb.ud, m->channel, m->payload, m->len);
        }
        if (m->cb) m->cb(m->ud, bl->closing ? DROP_EUNAVAIL : DROP_OK, m->receivers);
        msg_free(m);
    }
    if (!bl->closing && !bl->head) uv_idle_stop(&bl->idle);
}

static drop_err local_enqueue(struct bus_local *bl, const char *channel, const void *payload,
                              size_t len, bus_count_cb cb, void *ud)
{
    if (!bus_channel_valid(channel) || (!payload && len)) return DROP_EBADREQ;
    if (len > BUS_PAYLOAD_MAX) return DROP_ETOOLARGE;
    int64_t receivers = channel_held(bl, channel) ? 1 : 0;
    if (!receivers && !cb) {
        bl->stats.published++; /* nobody listens: accepted and gone, as with Redis */
        return DROP_OK;
    }
    if (bl->queued >= bl->queue_max || bl->queued_bytes + len > QUEUE_BYTES_MAX) {
        bl->stats.dropped++;
        if ((bl->stats.dropped & (bl->stats.dropped - 1)) == 0)
            log_warn("event=bus_local_drop dropped=%llu queued=%zu",
                     (unsigned long long)bl->stats.dropped, bl->queued);
        return DROP_EUNAVAIL;
    }
    struct local_msg *m = xmalloc(sizeof *m + len + 1);
    m->next = NULL;
    m->cb = cb;
    m->ud = ud;
    m->receivers = receivers;
    m->channel = xstrdup(channel);
    m->len = len;
    if (len) memcpy(m->payload, payload, len);
    m->payload[len] = 0;
    if (bl->tail) bl->tail->next = m;
    else bl->head = m;
    bl->tail = m;
    bl->queued++;
    bl->queued_bytes += len;
    bl->stats.published++;
    uv_idle_start(&bl->idle, on_idle);
    return DROP_OK;
}

static drop_err local_publish(void *impl, const char *channel, const void *payload, size_t len)
{
    return local_enqueue(impl, channel, payload, len, NULL, NULL);
}

/* The receivers are counted now (1 when this process holds the channel);
 * the message and the answer go out on the next turn, as any publish. */
static drop_err local_publish_counted(void *impl, const char *channel, const void *payload,
                                      size_t len, bus_count_cb cb, void *ud)
{
    return local_enqueue(impl, channel, payload, len, cb, ud);
}

static drop_err local_subscribe(void *impl, const char *channel)
{
    struct bus_local *bl = impl;
    if (!bus_channel_valid(channel)) return DROP_EBADREQ;
    struct local_sub *s = sub_find(bl, channel);
    if (!s) {
        s = xcalloc(1, sizeof *s);
        s->name = xstrdup(channel);
        HASH_ADD_KEYPTR(hh, bl->subs, s->name, strlen(s->name), s);
    }
    s->refs++;
    return DROP_OK;
}

static drop_err local_unsubscribe(void *impl, const char *channel)
{
    struct bus_local *bl = impl;
    if (!bus_channel_valid(channel)) return DROP_EBADREQ;
    struct local_sub *s = sub_find(bl, channel);
    if (!s) return DROP_ENOTFOUND;
    if (--s->refs == 0) {
        HASH_DEL(bl->subs, s);
        free(s->name);
        free(s);
    }
    return DROP_OK;
}

static const char *local_status(void *impl)
{
    (void)impl;
    return "ok";
}

static void local_stats(void *impl, struct bus_stats *out)
{
    struct bus_local *bl = impl;
    *out = bl->stats;
}

static void on_idle_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Frees the queue and the subscriptions now; the state itself goes with the
 * idle handle's close callback, so an on_idle that called us (from
 * on_message) can still read bl->closing. */
static void local_close(void *impl)
{
    struct bus_local *bl = impl;
    bl->closing = true;
    while (bl->head) {
        struct local_msg *m = bl->head;
        bl->head = m->next;
        if (m->cb) m->cb(m->ud, DROP_EUNAVAIL, 0);
        msg_free(m);
    }
    bl->tail = NULL;
    bl->queued = bl->queued_bytes = 0;
    struct local_sub *s, *tmp;
    HASH_ITER(hh, bl->subs, s, tmp) {
        HASH_DEL(bl->subs, s);
        free(s->name);
        free(s);
    }
    uv_idle_stop(&bl->idle);
    uv_close((uv_handle_t *)&bl->idle, on_idle_closed);
}

static const struct bus_ops local_ops = {
    .name = "local",
    .publish = local_publish,
    .subscribe = local_subscribe,
    .unsubscribe = local_unsubscribe,
    .status = local_status,
    .stats = local_stats,
    .close = local_close,
    .publish_counted = local_publish_counted,
};

void bus_local_hold(struct bus *b, const char *prefix, bool (*held)(void *ud, const char *rest),
                    void *ud)
{
    struct bus_local *bl = b->impl;
    if (b->ops != &local_ops || strlen(prefix) >= sizeof bl->hold_prefix) abort();
    snprintf(bl->hold_prefix, sizeof bl->hold_prefix, "%s", prefix);
    bl->hold_len = strlen(prefix);
    bl->held = held;
    bl->held_ud = ud;
}

struct bus *bus_local_open(uv_loop_t *loop, const struct bus_callbacks *cb, size_t queue_max)
{
    struct bus_local *bl = xcalloc(1, sizeof *bl);
    bl->cb = *cb;
    bl->queue_max = queue_max ? queue_max : BUS_LOCAL_QUEUE_DEFAULT;
    uv_idle_init(loop, &bl->idle);
    bl->idle.data = bl;
    return bus_new(&local_ops, bl);
}
