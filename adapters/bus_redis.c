/* bus_redis.c - the bus over Redis pub/sub.
 *
 * Two hiredis async contexts ("links") on the loop, attached through
 * adapters/redis_uv: the sub link carries SUBSCRIBE / UNSUBSCRIBE and
 * receives ["message", channel, payload] (and the confirmations) through
 * one callback; the pub link pipelines PUBLISH and counts the replies it
 * still waits for, which bounds what a slow Redis can make us buffer.
 *
 * Each link reconnects on its own: a failed connect (hiredis calls only the
 * connect callback), a dropped connection (the disconnect callback), or a
 * connect that takes longer than BUS_REDIS_CONNECT_TIMEOUT_MS arms the
 * link's timer with a backoff of 100 ms doubling to 2 s, reset by a
 * successful connect.
 *
 * Subscriptions live in a uthash table of unprefixed names with reference
 * counts; the wire follows the table. On every connect of the sub link we
 * SUBSCRIBE each referenced channel and then a private marker channel;
 * Redis answers in order, so the marker's confirmation says everything is
 * subscribed and the bus is up. The marker also keeps the connection's
 * subscription count above zero, so hiredis 0.14 never leaves subscribed
 * mode (it does when an UNSUBSCRIBE reply says zero, and then treats later
 * pushes as replies to commands). hiredis also forgets a channel's callback when its
 * UNSUBSCRIBE reply arrives, even if a SUBSCRIBE for it was sent in
 * between, so a channel re-subscribed while its UNSUBSCRIBE is in flight
 * is SUBSCRIBEd again only when that reply has arrived.
 *
 * Shared counters (the sign-in brake) ride on the pub link, each command a
 * MULTI ... EXEC of INCR + PEXPIRE or GET + PTTL on the key "<prefix>ctr.<key>",
 * so a counter never lives without its expiry and replies keep their order.
 * Their callbacks count against COUNTERS_INFLIGHT_MAX.
 *
 * Status changes are not reported from inside hiredis (a callback there
 * that closed the bus would free a context hiredis is still using): they
 * start a zero timer whose callback calls on_status, reporting a down
 * that was healed before it ran, so the owner always learns of a gap.
 * bus_close() frees both contexts (hiredis defers that when we are inside
 * one of its callbacks) and closes the three timers; the state is freed by
 * the last timer's close callback, after any late hiredis callback. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "adapters/bus_redis.h"
#include "adapters/redis_uv.h"
#include "engine/log.h"
#include "engine/mem.h"

#define uthash_malloc(sz) xmalloc(sz)
#define uthash_free(ptr, sz) free(ptr)
#include <uthash.h>

#define HOST_MAX 256
#define WIRE_MAX (BUS_REDIS_PREFIX_MAX + BUS_CHANNEL_MAX + 1)
#define COUNTER_NS "ctr."
#define COUNTERS_INFLIGHT_MAX 10000

struct bus_redis;

struct link {
    struct bus_redis *br;
    const char *name;      /* "sub" / "pub", for logs */
    redisAsyncContext *ac; /* NULL while down (between attempts) */
    bool connected;        /* the connect callback said OK */
    bool was_connected;    /* for the log: a drop vs. another failed attempt */
    int backoff_ms;
    uv_timer_t timer;      /* retry while down, connect timeout while connecting */
};

struct rsub {
    char *name;          /* unprefixed */
    int refs;
    bool wire;           /* SUBSCRIBE sent on the current connection */
    bool unsub_inflight; /* UNSUBSCRIBE sent, its reply not yet in */
    UT_hash_handle hh;
};

struct bus_redis {
    uv_loop_t *loop;
    struct bus_callbacks cb;
    char host[HOST_MAX];
    int port;
    char prefix[BUS_REDIS_PREFIX_MAX + 1];
    size_t prefix_len;
    char marker[WIRE_MAX]; /* wire name of the sync channel */
    size_t marker_len;
    struct link sub, pub;
    struct rsub *subs;
    bool synced;  /* the marker's confirmation arrived on this sub connection */
    bool up;      /* pub and sub connected and synced */
    int reported; /* last on_status: -1 none yet, 0 down, 1 up */
    bool failed;  /* a connect failed or a link dropped, ever: "down" is news */
    bool flapped; /* went down since the last report */
    uv_timer_t notify;
    size_t inflight, inflight_bytes;
    size_t counters_inflight;
    int open_handles;
    bool closing;
    struct bus_stats stats;
};

static void link_connect(struct link *l);

/* --- status ---------------------------------------------------------- */

static void on_notify(uv_timer_t *t)
{
    struct bus_redis *br = t->data;
    if (br->closing) return;
    if (br->flapped && br->reported == 1) {
        br->reported = 0;
        br->flapped = false;
        if (br->cb.on_status) br->cb.on_status(br->cb.ud, false);
        if (br->closing) return;
    }
    br->flapped = false;
    if (br->reported != (int)br->up && (br->up || br->failed)) {
        br->reported = br->up;
        if (br->cb.on_status) br->cb.on_status(br->cb.ud, br->up);
    }
}

static void update_state(struct bus_redis *br)
{
    if (br->closing) return;
    bool now = br->pub.connected && br->sub.connected && br->synced;
    if (br->up && !now) br->flapped = true;
    if (now != br->up) log_info("event=bus_redis_%s host=%s port=%d", now ? "up" : "down",
                                br->host, br->port);
    br->up = now;
    /* still connecting for the first time is not news */
    bool news = br->flapped || (br->reported != (int)now && (now || br->failed));
    if (news) uv_timer_start(&br->notify, on_notify, 0, 0);
}

/* --- subscriptions ---------------------------------------------------- */

static size_t wire_name(const struct bus_redis *br, const char *channel, char *out)
{
    size_t n = strlen(channel);
    memcpy(out, br->prefix, br->prefix_len);
    memcpy(out + br->prefix_len, channel, n + 1);
    return br->prefix_len + n;
}

static struct rsub *sub_find(struct bus_redis *br, const char *channel)
{
    struct rsub *s = NULL;
    HASH_FIND_STR(br->subs, channel, s);
    return s;
}

static void sub_delete(struct bus_redis *br, struct rsub *s)
{
    HASH_DEL(br->subs, s);
    free(s->name);
    free(s);
}

static void on_sub_reply(redisAsyncContext *ac, void *r, void *privdata);

/* Sends "cmd wire(channel)" on the sub link; true when queued. */
static bool sub_send(struct bus_redis *br, const char *cmd, const char *channel)
{
    char wire[WIRE_MAX];
    size_t n = wire_name(br, channel, wire);
    return redisAsyncCommand(br->sub.ac, on_sub_reply, br, "%s %b", cmd, wire, n) == REDIS_OK;
}

/* The subscription of a channel's wire name (our prefix, then the name),
 * its name copied into name; NULL when not ours or not subscribed. */
static struct rsub *sub_of_wire(struct bus_redis *br, const redisReply *chan,
                                char name[BUS_CHANNEL_MAX + 1])
{
    if (chan->len <= br->prefix_len || chan->len - br->prefix_len > BUS_CHANNEL_MAX ||
        memcmp(chan->str, br->prefix, br->prefix_len) != 0)
        return NULL;
    size_t n = chan->len - br->prefix_len;
    memcpy(name, chan->str + br->prefix_len, n);
    name[n] = 0;
    return sub_find(br, name);
}

static void deliver(struct bus_redis *br, const redisReply *chan, const redisReply *payload)
{
    char name[BUS_CHANNEL_MAX + 1];
    struct rsub *s = sub_of_wire(br, chan, name);
    if (!s || s->refs <= 0) return;
    br->stats.delivered++;
    if (br->cb.on_message) br->cb.on_message(br->cb.ud, name, payload->str, payload->len);
}

/* The unsubscribe confirmation of a channel: hiredis has now dropped its
 * callback, so we may subscribe it again, or forget it. */
static void unsubscribed(struct bus_redis *br, const redisReply *chan)
{
    char name[BUS_CHANNEL_MAX + 1];
    struct rsub *s = sub_of_wire(br, chan, name);
    if (!s) return;
    s->unsub_inflight = false;
    if (s->refs > 0 && br->sub.connected) s->wire = sub_send(br, "SUBSCRIBE", s->name);
    else if (s->refs <= 0) sub_delete(br, s);
}

/* Every reply of the sub link: messages and (un)subscribe confirmations.
 * NULL when the context goes away (the disconnect callback follows). */
static void on_sub_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    struct bus_redis *br = privdata;
    const redisReply *reply = r;
    if (!reply || br->closing) return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_STRING) {
        log_warn("event=bus_redis_unexpected_reply type=%d", reply->type);
        return;
    }
    const char *kind = reply->element[0]->str;
    const redisReply *chan = reply->element[1];
    bool marker = chan->len == br->marker_len && memcmp(chan->str, br->marker, chan->len) == 0;
    if (strcmp(kind, "message") == 0) {
        if (!marker && reply->element[2]->type == REDIS_REPLY_STRING)
            deliver(br, chan, reply->element[2]);
    } else if (strcmp(kind, "subscribe") == 0) {
        if (marker) {
            br->synced = true;
            update_state(br);
        }
    } else if (strcmp(kind, "unsubscribe") == 0) {
        if (!marker) unsubscribed(br, chan);
    }
}

/* A new sub connection: subscribe everything referenced, then the marker. */
static void resubscribe(struct bus_redis *br)
{
    size_t n = 0;
    struct rsub *s, *tmp;
    HASH_ITER(hh, br->subs, s, tmp) {
        s->unsub_inflight = false;
        s->wire = false;
        if (s->refs <= 0) {
            sub_delete(br, s);
            continue;
        }
        s->wire = sub_send(br, "SUBSCRIBE", s->name);
        n++;
    }
    redisAsyncCommand(br->sub.ac, on_sub_reply, br, "SUBSCRIBE %b", br->marker, br->marker_len);
    log_debug("event=bus_redis_resubscribe channels=%zu", n);
}

/* --- links ------------------------------------------------------------ */

static void on_link_timer(uv_timer_t *t);

/* The link is down (its context gone or going): forget the connection
 * state, retry after the backoff. */
static void link_down(struct link *l)
{
    struct bus_redis *br = l->br;
    l->ac = NULL;
    if (l->was_connected)
        log_warn("event=bus_redis_link_lost link=%s host=%s port=%d", l->name, br->host,
                 br->port);
    l->connected = false;
    l->was_connected = false;
    if (br->closing) return;
    br->failed = true;
    if (l == &br->sub) {
        br->synced = false;
        struct rsub *s, *tmp;
        HASH_ITER(hh, br->subs, s, tmp) {
            s->wire = false;
            s->unsub_inflight = false;
            if (s->refs <= 0) sub_delete(br, s);
        }
    }
    update_state(br);
    uv_timer_start(&l->timer, on_link_timer, (uint64_t)l->backoff_ms, 0);
    l->backoff_ms *= 2;
    if (l->backoff_ms > BUS_REDIS_BACKOFF_MAX_MS) l->backoff_ms = BUS_REDIS_BACKOFF_MAX_MS;
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    struct link *l = cac->data;
    struct bus_redis *br = l->br;
    if (br->closing) return;
    if (status != REDIS_OK) {
        log_debug("event=bus_redis_connect_failed link=%s host=%s port=%d err=\"%s\"", l->name,
                  br->host, br->port, cac->errstr);
        link_down(l); /* hiredis frees the context when we return */
        return;
    }
    uv_timer_stop(&l->timer);
    l->connected = true;
    l->was_connected = true;
    l->backoff_ms = BUS_REDIS_BACKOFF_MIN_MS;
    log_info("event=bus_redis_connected link=%s host=%s port=%d", l->name, br->host, br->port);
    if (l == &br->sub) {
        br->stats.reconnects++;
        resubscribe(br);
    }
    update_state(br);
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    struct link *l = cac->data;
    (void)status;
    if (l->br->closing) {
        l->ac = NULL;
        return;
    }
    log_debug("event=bus_redis_disconnect link=%s err=\"%s\"", l->name, cac->errstr);
    link_down(l); /* hiredis frees the context when we return */
}

static void link_connect(struct link *l)
{
    struct bus_redis *br = l->br;
    redisAsyncContext *ac = redisAsyncConnect(br->host, br->port);
    if (!ac) goto fail;
    if (ac->err) {
        log_debug("event=bus_redis_connect_failed link=%s host=%s port=%d err=\"%s\"", l->name,
                  br->host, br->port, ac->errstr);
        goto fail;
    }
    ac->data = l;
    redisEnableKeepAlive(&ac->c); /* a peer gone without FIN is noticed, eventually */
    if (redis_uv_attach(ac, br->loop) != 0) goto fail;
    l->ac = ac;
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    redisAsyncSetConnectCallback(ac, on_connect); /* arms the first write event */
    uv_timer_start(&l->timer, on_link_timer, BUS_REDIS_CONNECT_TIMEOUT_MS, 0);
    return;
fail:
    if (ac) redisAsyncFree(ac);
    link_down(l);
}

/* Down: time to retry. Connecting: the connect took too long, give up on
 * this attempt (no hiredis callback runs for a context never connected). */
static void on_link_timer(uv_timer_t *t)
{
    struct link *l = t->data;
    if (l->br->closing || l->connected) return;
    if (!l->ac) {
        link_connect(l);
        return;
    }
    log_debug("event=bus_redis_connect_timeout link=%s", l->name);
    redisAsyncContext *ac = l->ac;
    l->ac = NULL;
    redisAsyncFree(ac);
    link_down(l);
}

/* --- publish ----------------------------------------------------------- */

/* Accounts for a PUBLISH of len bytes answered, or lost with the
 * connection (reply NULL): the in-flight bounds, and the dropped counter
 * when it was not taken (an error; with want_int, anything but the count).
 * Returns whether it was taken. */
static bool pub_done(redisAsyncContext *ac, const redisReply *reply, size_t len, bool want_int)
{
    struct link *l = ac->data;
    struct bus_redis *br = l->br;
    br->inflight--;
    br->inflight_bytes -= len;
    if (reply && (want_int ? reply->type == REDIS_REPLY_INTEGER : reply->type != REDIS_REPLY_ERROR))
        return true;
    br->stats.dropped++;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        log_warn("event=bus_redis_publish_error err=\"%s\"", reply->str);
    return false;
}

static void on_pub_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    pub_done(ac, r, (size_t)(uintptr_t)privdata, false);
}

/* Whether a PUBLISH of len bytes on channel may go out now: DROP_EBADREQ
 * or DROP_ETOOLARGE for the caller's mistakes, DROP_EUNAVAIL (counted as
 * dropped) while Redis is away or the in-flight bounds are reached. */
static drop_err pub_admit(struct bus_redis *br, const char *channel, const void *payload,
                          size_t len)
{
    if (!bus_channel_valid(channel) || (!payload && len)) return DROP_EBADREQ;
    if (len > BUS_PAYLOAD_MAX) return DROP_ETOOLARGE;
    if (!br->pub.connected || br->inflight >= BUS_REDIS_INFLIGHT_MAX ||
        br->inflight_bytes + len > BUS_REDIS_INFLIGHT_BYTES) {
        br->stats.dropped++;
        return DROP_EUNAVAIL;
    }
    return DROP_OK;
}

/* Sends an admitted PUBLISH with fn(privdata) for its reply: DROP_OK, or
 * DROP_EUNAVAIL (counted as dropped) when hiredis refuses it. */
static drop_err pub_send(struct bus_redis *br, const char *channel, const void *payload,
                         size_t len, redisCallbackFn *fn, void *privdata)
{
    char wire[WIRE_MAX];
    size_t n = wire_name(br, channel, wire);
    if (redisAsyncCommand(br->pub.ac, fn, privdata, "PUBLISH %b %b", wire, n,
                          payload ? payload : "", len) != REDIS_OK) {
        br->stats.dropped++;
        return DROP_EUNAVAIL;
    }
    br->inflight++;
    br->inflight_bytes += len;
    br->stats.published++;
    return DROP_OK;
}

static drop_err redis_publish(void *impl, const char *channel, const void *payload, size_t len)
{
    struct bus_redis *br = impl;
    drop_err e = pub_admit(br, channel, payload, len);
    if (e) return e;
    return pub_send(br, channel, payload, len, on_pub_reply, (void *)(uintptr_t)len);
}

/* A counted publish in flight: its size (for the in-flight bounds) and
 * the caller's callback. */
struct pub_count {
    size_t len;
    bus_count_cb cb;
    void *ud;
};

static void on_pub_count_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    const redisReply *reply = r;
    struct pub_count *pc = privdata;
    if (pub_done(ac, reply, pc->len, true)) pc->cb(pc->ud, DROP_OK, (int64_t)reply->integer);
    else pc->cb(pc->ud, DROP_EUNAVAIL, 0);
    free(pc);
}

/* PUBLISH answers the number of clients that received the message: for
 * "acct.<id>", the nodes holding a session of that account. */
static drop_err redis_publish_counted(void *impl, const char *channel, const void *payload,
                                      size_t len, bus_count_cb cb, void *ud)
{
    struct bus_redis *br = impl;
    drop_err e = pub_admit(br, channel, payload, len);
    if (e) return e;
    struct pub_count *pc = xcalloc(1, sizeof *pc);
    pc->len = len;
    pc->cb = cb;
    pc->ud = ud;
    e = pub_send(br, channel, payload, len, on_pub_count_reply, pc);
    if (e) free(pc);
    return e;
}

/* --- counters ------------------------------------------------------------ */

struct counter_cmd {
    struct bus_redis *br;
    bus_counter_cb cb;
    void *ud;
    int64_t ttl_ms; /* INCR: the expiry just set; GET: 0, PTTL tells */
};

static int64_t reply_int(const redisReply *r)
{
    if (r->type == REDIS_REPLY_INTEGER) return (int64_t)r->integer;
    if (r->type == REDIS_REPLY_STRING) return strtoll(r->str, NULL, 10);
    return 0; /* nil: no such counter */
}

/* The EXEC of a counter command: [value, PEXPIRE's 1] or [value, PTTL].
 * NULL when the link
 * went away or the bus closed: the caller still gets its one answer. */
static void on_counter_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    struct counter_cmd *c = privdata;
    const redisReply *reply = r;
    drop_err err = DROP_EUNAVAIL;
    int64_t value = 0, ttl = 0;
    c->br->counters_inflight--;
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type != REDIS_REPLY_ERROR &&
        reply->element[1]->type == REDIS_REPLY_INTEGER) {
        err = DROP_OK;
        value = reply_int(reply->element[0]);
        ttl = c->ttl_ms ? c->ttl_ms : reply->element[1]->integer;
        if (value <= 0 || ttl < 0) value = ttl = 0; /* -2 gone; -1 never set: not ours */
    } else if (reply) {
        log_warn("event=bus_redis_counter_error type=%d", reply->type);
    }
    c->cb(c->ud, err, value, ttl);
    free(c);
}

/* Queues MULTI, the two commands, EXEC; the EXEC reply answers. */
static drop_err counter_send(struct bus_redis *br, const char *key, const char *cmd1,
                             const char *cmd2, int64_t ttl_ms, bus_counter_cb cb, void *ud)
{
    if (!bus_channel_valid(key) || !cb) return DROP_EBADREQ;
    if (!br->pub.connected || br->closing || br->counters_inflight >= COUNTERS_INFLIGHT_MAX)
        return DROP_EUNAVAIL;
    char wire[WIRE_MAX + sizeof COUNTER_NS];
    size_t n = (size_t)snprintf(wire, sizeof wire, "%s" COUNTER_NS "%s", br->prefix, key);
    redisAsyncContext *ac = br->pub.ac;
    struct counter_cmd *c = xcalloc(1, sizeof *c);
    c->br = br;
    c->cb = cb;
    c->ud = ud;
    c->ttl_ms = ttl_ms;
    bool ok = redisAsyncCommand(ac, NULL, NULL, "MULTI") == REDIS_OK;
    ok = ok && redisAsyncCommand(ac, NULL, NULL, "%s %b", cmd1, wire, n) == REDIS_OK;
    if (ok && ttl_ms > 0)
        ok = redisAsyncCommand(ac, NULL, NULL, "%s %b %lld", cmd2, wire, n,
                               (long long)ttl_ms) == REDIS_OK;
    else if (ok)
        ok = redisAsyncCommand(ac, NULL, NULL, "%s %b", cmd2, wire, n) == REDIS_OK;
    ok = ok && redisAsyncCommand(ac, on_counter_reply, c, "EXEC") == REDIS_OK;
    if (!ok) { /* only when the context is going away: its callbacks answer nothing */
        free(c);
        return DROP_EUNAVAIL;
    }
    br->counters_inflight++;
    return DROP_OK;
}

static drop_err redis_counter_incr(void *impl, const char *key, int64_t ttl_ms,
                                   bus_counter_cb cb, void *ud)
{
    if (ttl_ms <= 0) return DROP_EBADREQ;
    return counter_send(impl, key, "INCR", "PEXPIRE", ttl_ms, cb, ud);
}

static drop_err redis_counter_get(void *impl, const char *key, bus_counter_cb cb, void *ud)
{
    return counter_send(impl, key, "GET", "PTTL", 0, cb, ud);
}

static drop_err redis_counter_del(void *impl, const char *key)
{
    struct bus_redis *br = impl;
    if (!bus_channel_valid(key)) return DROP_EBADREQ;
    if (!br->pub.connected || br->closing) return DROP_EUNAVAIL;
    char wire[WIRE_MAX + sizeof COUNTER_NS];
    size_t n = (size_t)snprintf(wire, sizeof wire, "%s" COUNTER_NS "%s", br->prefix, key);
    if (redisAsyncCommand(br->pub.ac, NULL, NULL, "DEL %b", wire, n) != REDIS_OK)
        return DROP_EUNAVAIL;
    return DROP_OK;
}

/* --- the rest of the port ------------------------------------------------ */

static drop_err redis_subscribe(void *impl, const char *channel)
{
    struct bus_redis *br = impl;
    if (!bus_channel_valid(channel)) return DROP_EBADREQ;
    struct rsub *s = sub_find(br, channel);
    if (!s) {
        s = xcalloc(1, sizeof *s);
        s->name = xstrdup(channel);
        HASH_ADD_KEYPTR(hh, br->subs, s->name, strlen(s->name), s);
    }
    if (++s->refs == 1 && br->sub.connected && !s->wire && !s->unsub_inflight)
        s->wire = sub_send(br, "SUBSCRIBE", s->name);
    return DROP_OK;
}

static drop_err redis_unsubscribe(void *impl, const char *channel)
{
    struct bus_redis *br = impl;
    if (!bus_channel_valid(channel)) return DROP_EBADREQ;
    struct rsub *s = sub_find(br, channel);
    if (!s || s->refs <= 0) return DROP_ENOTFOUND;
    if (--s->refs > 0) return DROP_OK;
    if (s->wire && br->sub.connected) {
        s->wire = false;
        s->unsub_inflight = sub_send(br, "UNSUBSCRIBE", s->name);
    }
    if (!s->wire && !s->unsub_inflight) sub_delete(br, s);
    return DROP_OK;
}

static const char *redis_status(void *impl)
{
    struct bus_redis *br = impl;
    return br->up ? "ok" : "down";
}

static void redis_stats(void *impl, struct bus_stats *out)
{
    struct bus_redis *br = impl;
    *out = br->stats;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct bus_redis *br = h->data;
    if (--br->open_handles == 0) free(br);
}

static void redis_close(void *impl)
{
    struct bus_redis *br = impl;
    br->closing = true;
    struct link *links[2] = {&br->sub, &br->pub};
    for (int i = 0; i < 2; i++) {
        redisAsyncContext *ac = links[i]->ac;
        links[i]->ac = NULL;
        links[i]->connected = false;
        if (ac) redisAsyncFree(ac); /* deferred by hiredis inside its own callback */
    }
    struct rsub *s, *tmp;
    HASH_ITER(hh, br->subs, s, tmp) sub_delete(br, s);
    uv_timer_t *timers[3] = {&br->sub.timer, &br->pub.timer, &br->notify};
    for (int i = 0; i < 3; i++) {
        timers[i]->data = br;
        uv_timer_stop(timers[i]);
        uv_close((uv_handle_t *)timers[i], on_handle_closed);
    }
}

static const struct bus_ops redis_ops = {
    .name = "redis",
    .publish = redis_publish,
    .subscribe = redis_subscribe,
    .unsubscribe = redis_unsubscribe,
    .status = redis_status,
    .stats = redis_stats,
    .close = redis_close,
    .counter_incr = redis_counter_incr,
    .counter_get = redis_counter_get,
    .counter_del = redis_counter_del,
    .publish_counted = redis_publish_counted,
};

/* Splits "redis://HOST[:PORT][/]" into host and port. */
static bool parse_url(const char *url, char *host, int *port)
{
    static const char scheme[] = "redis://";
    if (!url || strncmp(url, scheme, sizeof scheme - 1) != 0) return false;
    const char *p = url + sizeof scheme - 1, *end;
    if (*p == '[') { /* [v6] */
        end = strchr(++p, ']');
        if (!end) return false;
    } else {
        end = p + strcspn(p, ":/");
    }
    size_t n = (size_t)(end - p);
    if (n == 0 || n >= HOST_MAX) return false;
    memcpy(host, p, n);
    host[n] = 0;
    if (*end == ']') end++;
    *port = 6379;
    if (*end == ':') {
        char *q;
        long v = strtol(end + 1, &q, 10);
        if (q == end + 1 || v < 1 || v > 65535) return false;
        *port = (int)v;
        end = q;
    }
    if (*end == '/') end++;
    return *end == 0;
}

drop_err bus_redis_open(uv_loop_t *loop, const char *url, const char *prefix,
                        const struct bus_callbacks *cb, struct bus **out, char *why,
                        size_t whylen)
{
    char host[HOST_MAX];
    int port;
    if (!parse_url(url, host, &port)) {
        snprintf(why, whylen, "bus url must be redis://HOST[:PORT], got \"%s\"", url ? url : "");
        return DROP_EBADREQ;
    }
    if (!prefix) prefix = "";
    size_t plen = strlen(prefix);
    bool ok = plen <= BUS_REDIS_PREFIX_MAX;
    for (size_t i = 0; ok && i < plen; i++) ok = prefix[i] > ' ' && prefix[i] <= '~';
    if (!ok) {
        snprintf(why, whylen, "bus prefix must be at most %d printable characters",
                 BUS_REDIS_PREFIX_MAX);
        return DROP_EBADREQ;
    }

    struct bus_redis *br = xcalloc(1, sizeof *br);
    br->loop = loop;
    br->cb = *cb;
    memcpy(br->host, host, sizeof host);
    br->port = port;
    memcpy(br->prefix, prefix, plen + 1);
    br->prefix_len = plen;
    br->marker_len = (size_t)snprintf(br->marker, sizeof br->marker, "%s_bus.%d.%llx", prefix,
                                      (int)getpid(),
                                      (unsigned long long)(uv_hrtime() ^ (uintptr_t)br));
    br->reported = -1;
    struct link *links[2] = {&br->sub, &br->pub};
    for (int i = 0; i < 2; i++) {
        links[i]->br = br;
        links[i]->name = i == 0 ? "sub" : "pub";
        links[i]->backoff_ms = BUS_REDIS_BACKOFF_MIN_MS;
        uv_timer_init(loop, &links[i]->timer);
        links[i]->timer.data = links[i];
    }
    uv_timer_init(loop, &br->notify);
    br->notify.data = br;
    br->open_handles = 3;
    link_connect(&br->sub);
    link_connect(&br->pub);
    *out = bus_new(&redis_ops, br);
    return DROP_OK;
}
