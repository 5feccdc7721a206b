/* redis_uv.c - hiredis async on a libuv loop (see redis_uv.h for why).
 *
 * One uv_poll per context, started with the union of the events hiredis
 * asked for through addRead/addWrite and stopped when both are deleted.
 * On readiness we call redisAsyncHandleRead, then redisAsyncHandleWrite
 * unless the first call freed the context (the cleanup hook clears our
 * pointer). On a poll error libuv has already stopped the handle; we call
 * both handlers so hiredis meets the error itself (SO_ERROR of a failed
 * connect, or a failing read), and re-arm the poll if the context is still
 * alive and still wants events, so nothing ever waits silently. */
#include <stdlib.h>

#include "adapters/redis_uv.h"
#include "engine/log.h"
#include "engine/mem.h"

struct redis_uv {
    redisAsyncContext *ac; /* NULL once hiredis called cleanup */
    uv_poll_t poll;
    int events;
};

static void arm(struct redis_uv *p);

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct redis_uv *p = h->data;
    if (status < 0) {
        log_debug("event=redis_uv_poll_error err=%s", uv_strerror(status));
        events = UV_READABLE | UV_WRITABLE;
    }
    if (p->ac && (events & UV_READABLE)) redisAsyncHandleRead(p->ac);
    if (p->ac && (events & UV_WRITABLE)) redisAsyncHandleWrite(p->ac);
    if (status < 0) arm(p);
}

static void arm(struct redis_uv *p)
{
    if (!p || !p->ac) return;
    if (p->events) uv_poll_start(&p->poll, p->events, on_poll);
    else uv_poll_stop(&p->poll);
}

static void add_read(void *privdata)
{
    struct redis_uv *p = privdata;
    if (!p) return;
    p->events |= UV_READABLE;
    arm(p);
}

static void del_read(void *privdata)
{
    struct redis_uv *p = privdata;
    if (!p) return;
    p->events &= ~UV_READABLE;
    arm(p);
}

static void add_write(void *privdata)
{
    struct redis_uv *p = privdata;
    if (!p) return;
    p->events |= UV_WRITABLE;
    arm(p);
}

static void del_write(void *privdata)
{
    struct redis_uv *p = privdata;
    if (!p) return;
    p->events &= ~UV_WRITABLE;
    arm(p);
}

static void on_poll_closed(uv_handle_t *h)
{
    free(h->data);
}

/* hiredis may run its cleanup more than once; detaching ev.data makes the
 * later calls (and any late add/del) no-ops. The context still exists
 * here: it closes its socket only after this returns, so the poll is
 * stopped before the fd goes away. */
static void cleanup(void *privdata)
{
    struct redis_uv *p = privdata;
    if (!p || !p->ac) return;
    p->ac->ev.data = NULL;
    p->ac = NULL;
    p->events = 0;
    uv_close((uv_handle_t *)&p->poll, on_poll_closed);
}

int redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    if (ac->ev.data != NULL) return -1;
    struct redis_uv *p = xcalloc(1, sizeof *p);
    if (uv_poll_init(loop, &p->poll, ac->c.fd) != 0) {
        free(p);
        return -1;
    }
    p->ac = ac;
    p->poll.data = p;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    ac->ev.data = p;
    return 0;
}
