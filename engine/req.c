/* req.c - answering a request through its transport's sink. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/engine.h"
#include "engine/log.h"
#include "engine/req.h"
#include "engine/ops.h"

/* The references of internal errors: the node, the time and a counter, so
 * that neither two nodes nor a restarted node repeat one. */
static _Atomic unsigned internal_seq;

void req_reply(struct req *r, json_t *data)
{
    r->sink->done(r, DROP_OK, data ? data : json_object(), NULL);
}

void req_internal_ref(struct engine *e, const char *op, const char *why, char *ref, size_t n)
{
    int64_t now = e ? engine_now(e) : 0;
    snprintf(ref, n, "%s-%llx-%04x", e && e->set.node_id ? e->set.node_id : "-",
             (unsigned long long)now, (unsigned)(internal_seq++ & 0xffff));
    log_error("event=internal_error ref=%s op=%s msg=\"%s\"", ref, op ? op : "-", why);
}

void req_fail(struct req *r, drop_err e, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (e == DROP_EINTERNAL) {
        /* the reason stays in the log; the client gets the reference that
         * finds it there (PROTOCOL.md, errors: internal) */
        char ref[REQ_REF_SIZE];
        req_internal_ref(r->eng, r->op ? r->op->name : NULL, msg, ref, sizeof ref);
        snprintf(msg, sizeof msg, "internal error, reference %s", ref);
    }
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
