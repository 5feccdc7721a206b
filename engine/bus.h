/* bus.h - the bus port: fire-and-forget messages between the nodes of a
 * cluster, on named channels, with Redis pub/sub semantics.
 *
 * Delivery is at-most-once: a message published while the bus is down, or
 * while nobody is subscribed, is lost (DESIGN.md principle 6 makes that safe:
 * every event carries a version and clients resync on reconnect). Everything
 * runs on the loop thread and is asynchronous: publish never blocks and never
 * calls back re-entrantly; messages and status changes arrive through the two
 * callbacks given when the bus is opened, from the loop.
 *
 * Channels are given WITHOUT any deployment prefix ("acct.<id>", "presence",
 * "node.<id>", "cluster"); an adapter that shares a server between
 * deployments prepends its configured prefix on the wire and strips it on
 * delivery. Subscriptions are reference-counted: subscribing twice and
 * unsubscribing once leaves the channel subscribed.
 *
 * An adapter (adapters/bus_local, adapters/bus_redis) fills a static struct
 * bus_ops and wraps its state with bus_new(); callers use the bus_*
 * wrappers below, never the vtable. */
#ifndef DROP_BUS_H
#define DROP_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/err.h"
#include "engine/mem.h"

#define BUS_CHANNEL_MAX 200           /* bytes of a channel name, prefix excluded */
#define BUS_PAYLOAD_MAX (1024 * 1024) /* bytes of one message */

/* The owner's callbacks, set when the bus is opened. Both run on the loop
 * thread, never inside a bus_* call, and never after bus_close(). The
 * owner may call any bus_* function from them, bus_close() included. */
struct bus_callbacks {
    /* A message on a subscribed channel (prefix stripped). channel and
     * payload are borrowed until the callback returns; payload is
     * binary-safe (len bytes, not NUL-terminated). */
    void (*on_message)(void *ud, const char *channel, const void *payload, size_t len);
    /* The bus went down (up == false) or came back (up == true). "Up" is
     * reported only after every subscribed channel is subscribed again,
     * so anything published after it reaches this node. Successive calls
     * alternate; the first call may be either. May be NULL. */
    void (*on_status)(void *ud, bool up);
    void *ud;
};

/* Counters of one bus since it was opened. */
struct bus_stats {
    uint64_t published; /* accepted by bus_publish */
    uint64_t delivered; /* handed to on_message */
    uint64_t dropped;   /* refused by bus_publish (down, queue full) or lost in flight */
    uint64_t reconnects; /* successful (re)connections (0 for a local bus) */
};

/* The answer of a counter command: DROP_OK with the counter's value and
 * the milliseconds before it expires (both 0 for a counter that does not
 * exist), or DROP_EUNAVAIL (the bus went down or closed meanwhile). */
typedef void (*bus_counter_cb)(void *ud, drop_err err, int64_t value, int64_t ttl_left_ms);

/* The answer of a counted publish: DROP_OK with the number of subscribers
 * that received the message (Redis PUBLISH's reply: nodes holding the
 * channel; the local bus: 1 when this process holds it, else 0), or
 * DROP_EUNAVAIL (the bus went down or closed before answering). */
typedef void (*bus_count_cb)(void *ud, drop_err err, int64_t receivers);

struct bus_ops {
    const char *name; /* "local", "redis" */
    drop_err (*publish)(void *impl, const char *channel, const void *payload, size_t len);
    drop_err (*subscribe)(void *impl, const char *channel);
    drop_err (*unsubscribe)(void *impl, const char *channel);
    const char *(*status)(void *impl); /* "ok" / "down" */
    void (*stats)(void *impl, struct bus_stats *out);
    void (*close)(void *impl);
    /* Optional shared counters (NULL: the bus keeps none, as bus_local). */
    drop_err (*counter_incr)(void *impl, const char *key, int64_t ttl_ms, bus_counter_cb cb,
                             void *ud);
    drop_err (*counter_get)(void *impl, const char *key, bus_counter_cb cb, void *ud);
    drop_err (*counter_del)(void *impl, const char *key);
    /* Optional: publish and report the receivers (NULL: unknown). */
    drop_err (*publish_counted)(void *impl, const char *channel, const void *payload, size_t len,
                                bus_count_cb cb, void *ud);
};

struct bus {
    const struct bus_ops *ops; /* static, owned by the adapter */
    void *impl;                /* the adapter's state */
};

/* Wraps an adapter into a bus. Takes ownership of impl (released by
 * ops->close in bus_close). For adapters only. */
static inline struct bus *bus_new(const struct bus_ops *ops, void *impl)
{
    struct bus *b = xcalloc(1, sizeof *b);
    b->ops = ops;
    b->impl = impl;
    return b;
}

/* True when channel is a usable name: 1..BUS_CHANNEL_MAX bytes, printable
 * ASCII without spaces. For adapters. */
static inline bool bus_channel_valid(const char *channel)
{
    if (!channel) return false;
    size_t n = 0;
    for (; channel[n]; n++)
        if (n >= BUS_CHANNEL_MAX || channel[n] <= ' ' || channel[n] > '~') return false;
    return n > 0;
}

/* The adapter's name ("local", "redis"). */
static inline const char *bus_name(const struct bus *b) { return b->ops->name; }

/* Queues payload (copied) for every subscriber of channel, returns at once.
 * DROP_OK when accepted (delivery is still at-most-once), DROP_EUNAVAIL when
 * the bus is down or its queue is full (the message is dropped and
 * counted), DROP_EBADREQ for an invalid channel, DROP_ETOOLARGE when len >
 * BUS_PAYLOAD_MAX. */
static inline drop_err bus_publish(struct bus *b, const char *channel, const void *payload,
                                   size_t len)
{
    return b->ops->publish(b->impl, channel, payload, len);
}

/* As bus_publish, and tells how many subscribers received the message:
 * on DROP_OK cb runs exactly once from the loop (never inside this call;
 * with DROP_EUNAVAIL when the bus goes down or closes first, which may
 * happen inside bus_close). Any other return: cb is never called.
 * DROP_EUNAVAIL also when the bus cannot count (no publish_counted). This
 * is how a node tells that an account is offline cluster-wide: 0 receivers
 * on "acct.<id>". */
static inline drop_err bus_publish_counted(struct bus *b, const char *channel,
                                           const void *payload, size_t len, bus_count_cb cb,
                                           void *ud)
{
    if (!b || !b->ops->publish_counted) return DROP_EUNAVAIL;
    return b->ops->publish_counted(b->impl, channel, payload, len, cb, ud);
}

/* Adds one reference to channel; messages start arriving once the adapter
 * has subscribed on the wire (a later bus_publish from this node reaches
 * it). Works while the bus is down: the channel is subscribed when it comes
 * back. DROP_OK, or DROP_EBADREQ for an invalid channel. */
static inline drop_err bus_subscribe(struct bus *b, const char *channel)
{
    return b->ops->subscribe(b->impl, channel);
}

/* Drops one reference; the last one unsubscribes. DROP_OK, DROP_ENOTFOUND
 * when the channel holds no reference, DROP_EBADREQ for an invalid name. */
static inline drop_err bus_unsubscribe(struct bus *b, const char *channel)
{
    return b->ops->unsubscribe(b->impl, channel);
}

/* "ok" when connected and every subscription is in place, else "down".
 * A static string. */
static inline const char *bus_status(struct bus *b) { return b->ops->status(b->impl); }

/* Fills *out with the bus's counters. */
static inline void bus_stats(struct bus *b, struct bus_stats *out) { b->ops->stats(b->impl, out); }

/* Counters with an expiry, shared by every node on the bus (the sign-in
 * brake). Keys follow the channel rules (bus_channel_valid) and live in
 * their own namespace under the deployment prefix.
 *
 * bus_counter_incr adds one to key and sets its expiry to ttl_ms from now,
 * atomically; cb gets the new value and ttl_ms. bus_counter_get reads the
 * value and the time left. Each returns DROP_OK and then calls cb exactly
 * once from the loop (never inside the call; with DROP_EUNAVAIL when the
 * bus goes down or is closed first, which may happen inside bus_close), or
 * returns DROP_EUNAVAIL (no shared counters on this bus, bus down, too many
 * commands in flight) or DROP_EBADREQ (a bad key) and never calls cb.
 * bus_counter_del removes key, fire-and-forget; it is ordered after every
 * counter command this node sent before. */
static inline drop_err bus_counter_incr(struct bus *b, const char *key, int64_t ttl_ms,
                                        bus_counter_cb cb, void *ud)
{
    if (!b || !b->ops->counter_incr) return DROP_EUNAVAIL;
    return b->ops->counter_incr(b->impl, key, ttl_ms, cb, ud);
}

static inline drop_err bus_counter_get(struct bus *b, const char *key, bus_counter_cb cb,
                                       void *ud)
{
    if (!b || !b->ops->counter_get) return DROP_EUNAVAIL;
    return b->ops->counter_get(b->impl, key, cb, ud);
}

static inline drop_err bus_counter_del(struct bus *b, const char *key)
{
    if (!b || !b->ops->counter_del) return DROP_EUNAVAIL;
    return b->ops->counter_del(b->impl, key);
}

/* Closes the bus and frees b: no callback runs after this returns (nor
 * during it). The adapter's libuv handles finish closing on the loop's
 * next turn, so run the loop once more before uv_loop_close(). May be
 * called from a bus callback. NULL is a no-op. */
static inline void bus_close(struct bus *b)
{
    if (!b) return;
    b->ops->close(b->impl);
    free(b);
}

#endif
