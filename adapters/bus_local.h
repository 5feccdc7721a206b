/* bus_local.h - the in-process bus (the default, one node): a publish
 * reaches the subscribers of this same process on the loop's next turn.
 * See bus_local.c for how. */
#ifndef DROP_BUS_LOCAL_H
#define DROP_BUS_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "engine/bus.h"

#define BUS_LOCAL_QUEUE_DEFAULT 65536 /* messages waiting for the next turn */

/* Opens an in-process bus on loop (loop thread only). cb is copied.
 * queue_max bounds the messages waiting for delivery (0: the default);
 * a publish over it is dropped, counted and answered DROP_EUNAVAIL.
 * Never fails; bus_status() is always "ok" and on_status is never called.
 * Close with bus_close(), then run the loop once more. */
struct bus *bus_local_open(uv_loop_t *loop, const struct bus_callbacks *cb, size_t queue_max);

/* Channels whose name starts with prefix (at most 31 bytes) count as
 * subscribed while held(ud, the rest of the name) is true, with no
 * subscription kept for each: the owner answers from a table it keeps
 * anyway (the node's sessions by account, for acct.<id>). Delivery and
 * counted publishes treat them as any subscribed channel; subscribing
 * one as well still works. One prefix per bus; b must come from
 * bus_local_open. */
void bus_local_hold(struct bus *b, const char *prefix, bool (*held)(void *ud, const char *rest),
                    void *ud);

#endif
