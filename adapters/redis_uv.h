/* redis_uv.h - attaches a hiredis async context to a libuv loop.
 *
 * Our replacement for hiredis 0.14's adapters/libuv.h, which ignores a poll
 * error: a refused (re)connect then hangs forever without a callback. Here
 * a poll error is passed on as readable + writable, so hiredis reads the
 * socket error and fails the connect (its connect callback) or the
 * connection (its disconnect callback). See redis_uv.c. */
#ifndef DROP_REDIS_UV_H
#define DROP_REDIS_UV_H

#include <hiredis/async.h>
#include <uv.h>

/* Hooks ac's ev.* to one uv_poll on ac's socket in loop (loop thread
 * only). Call right after redisAsyncConnect() (ac->err == 0) and before
 * redisAsyncSetConnectCallback(), which arms the first write event. The
 * attachment lives until hiredis calls its cleanup hook (the context is
 * freed or disconnected); its memory goes with the poll handle's close on
 * the loop's next turn. Returns 0, or -1 when ac is already attached or
 * the socket cannot be polled (then nothing is attached and the caller
 * redisAsyncFree()s ac). */
int redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop);

#endif
