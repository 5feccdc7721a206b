/* bus_redis.h - the bus over Redis pub/sub (hiredis async on the node's
 * libuv loop), for a cluster of nodes. See bus_redis.c for how. */
#ifndef DROP_BUS_REDIS_H
#define DROP_BUS_REDIS_H

#include <stddef.h>
#include <uv.h>

#include "engine/bus.h"
#include "engine/err.h"

#define BUS_REDIS_PREFIX_MAX 64         /* bytes of the channel prefix */
#define BUS_REDIS_BACKOFF_MIN_MS 100    /* first retry after a failure ... */
#define BUS_REDIS_BACKOFF_MAX_MS 2000   /* ... doubling up to this */
#define BUS_REDIS_CONNECT_TIMEOUT_MS 2000
#define BUS_REDIS_INFLIGHT_MAX 100000   /* PUBLISHes awaiting their reply ... */
#define BUS_REDIS_INFLIGHT_BYTES ((size_t)64 * 1024 * 1024) /* ... and their bytes */

/* Opens a Redis bus on loop (loop thread only) and starts connecting; it
 * returns at once, the bus is "down" until both connections are up and
 * every subscription is in place, which on_status(true) reports (a failed
 * first attempt reports on_status(false)). Connections that fail or drop
 * are retried forever with backoff.
 *   url     "redis://HOST[:PORT][/]", PORT 6379 by default. HOST is an IP
 *           address or a name in /etc/hosts (hiredis resolves it with a
 *           blocking getaddrinfo on every connect).
 *   prefix  prepended on the wire to every channel ("dropin:"), may be "";
 *           printable ASCII without spaces, at most BUS_REDIS_PREFIX_MAX.
 *   cb      copied.
 * Publishes are refused (DROP_EUNAVAIL, counted as dropped) while the
 * publishing connection is down or more than BUS_REDIS_INFLIGHT_MAX
 * publishes (or BUS_REDIS_INFLIGHT_BYTES) await their reply.
 * Returns DROP_OK and *out (close with bus_close(), then run the loop once
 * more), or DROP_EBADREQ for a bad url or prefix with a reason in why. */
drop_err bus_redis_open(uv_loop_t *loop, const char *url, const char *prefix,
                        const struct bus_callbacks *cb, struct bus **out, char *why,
                        size_t whylen);

#endif
