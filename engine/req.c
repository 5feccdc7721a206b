/* req.c - answering a request through its transport's sink. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/req.h"

void req_reply(struct req *r, json_t *data)
{
    r->sink->done(r, DROP_OK, data ? data : json_object(), NULL);
}

void req_fail(struct req *r, drop_err e, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->sink->done(r, e, NULL, msg);
}

void req_fail_retry(struct req *r, int64_t retry_after_s, const char *msg)
{
    json_t *extra = json_pack("{s:I}", "retryAfter", (json_int_t)(retry_after_s > 0 ? retry_after_s : 1));
    r->sink->done(r, DROP_ERATELIMIT, extra, msg);
}

void req_answer(struct req *r, drop_err err, const char *why, json_t *out)
{
    if (err) {
        json_decref(out);
        req_fail(r, err, "%s", why);
    } else {
        req_reply(r, out);
    }
}

void req_free(struct req *r)
{
    if (!r) return;
    json_decref(r->id);
    json_decref(r->data);
    json_decref(r->after);
    free(r);
}
