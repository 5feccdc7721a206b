/* ops_inbox.c - inbox.send, inbox.list, inbox.read (the Freelancer seed's
 * messenger).
 *
 * Each handler validates on the loop thread, does its store work in one task
 * on a pool thread and answers from the task's completion. A send stores one
 * message in the recipient's inbox and delivers the event inbox.message to
 * every session of the recipient; the session rate limit bounds how fast a
 * caller can send. Every op needs an account: the built-in admin (config
 * admin_token) has none and gets bad_request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/account.h"
#include "engine/engine.h"
#include "engine/inbox.h"
#include "engine/log.h"
#include "engine/mem.h"
#include "engine/ops.h"
#include "engine/ops_handlers.h"
#include "engine/store.h"

struct inbox_task {
    struct req *r;
    char me[DROP_ID_SIZE];
    drop_err err;
    char why[200];
    struct message m;                        /* send: the stored message */
    char to[DROP_ID_SIZE];                   /* send */
    char *text;                              /* send: heap */
    int64_t before;                          /* list */
    int limit;
    char (*ids)[DROP_ID_SIZE];               /* read: heap, n_ids */
    size_t n_ids;
    json_t *out;
};

static void inbox_task_free(struct inbox_task *j)
{
    message_free(&j->m);
    free(j->text);
    free(j->ids);
    json_decref(j->out);
    free(j);
}

static void store_fail(struct inbox_task *j, drop_err e)
{
    j->err = e;
    snprintf(j->why, sizeof j->why, "%s",
             e == DROP_EUNAVAIL ? "the store is unavailable, retry later" : "store error");
}

/* A new task for r (its op is OPF_ACCOUNT: the caller has an account). */
static struct inbox_task *inbox_task_new(struct req *r)
{
    struct inbox_task *j = xcalloc(1, sizeof *j);
    j->r = r;
    memcpy(j->me, r->who.account, DROP_ID_SIZE);
    return j;
}

static void inbox_done(struct engine *e, struct req *r, void *arg)
{
    struct inbox_task *j = arg;
    (void)e;
    req_answer(r, j->err, j->why, j->out);
    j->out = NULL;
    inbox_task_free(j);
}

drop_err inbox_store_new(struct engine *e, const char *from, const char *to, const char *text,
                         struct message *m)
{
    struct account a;
    account_init(&a);
    drop_err rc = store_account_get(e->store, to, &a);
    if (rc == DROP_OK && strcmp(a.status, "active") != 0) rc = DROP_ENOTFOUND;
    account_free(&a);
    if (rc) return rc;
    memset(m, 0, sizeof *m);
    e->crypto.oid_new(m->id);
    snprintf(m->from, sizeof m->from, "%s", from);
    snprintf(m->to, sizeof m->to, "%s", to);
    m->text = xstrdup(text);
    m->created_at = engine_now(e);
    rc = store_message_create(e->store, m);
    if (rc) message_free(m);
    return rc;
}

void inbox_deliver(struct engine *e, const struct message *m)
{
    e->ports.deliver(e->ports.ctx, m->to,
                     json_pack("{s:s,s:o}", "ev", "inbox.message", "data", message_to_json(m)));
}

static void send_work(struct engine *e, void *arg)
{
    struct inbox_task *j = arg;
    drop_err rc = inbox_store_new(e, j->me, j->to, j->text, &j->m);
    if (rc == DROP_ENOTFOUND) {
        j->err = rc;
        snprintf(j->why, sizeof j->why, "to: no such account");
    } else if (rc) {
        store_fail(j, rc);
    } else {
        j->out = message_to_json(&j->m);
    }
}

static void send_done(struct engine *e, struct req *r, void *arg)
{
    struct inbox_task *j = arg;
    if (!j->err) {
        inbox_deliver(e, &j->m);
        log_debug("event=inbox_send from=%s to=%s id=%s", j->m.from, j->m.to, j->m.id);
    }
    inbox_done(e, r, arg);
}

void op_inbox_send(struct req *r)
{
    char why[128];
    /* declared in the op table: to (an ObjectId), text (a string) */
    const char *to = op_arg_str(r, "to"), *text = op_arg_str(r, "text");
    drop_err rc;
    if ((rc = inbox_check_text(text, why, sizeof why)) != DROP_OK) {
        req_fail(r, rc, "%s", why);
        return;
    }
    struct inbox_task *j = inbox_task_new(r);
    snprintf(j->to, sizeof j->to, "%s", to);
    j->text = xstrdup(text);
    r->eng->ports.run_task(r->eng->ports.ctx, r, send_work, send_done, j);
}

static void list_work(struct engine *e, void *arg)
{
    struct inbox_task *j = arg;
    struct message *arr = NULL;
    size_t n = 0;
    drop_err rc = store_message_list(e->store, j->me, j->before, j->limit, &arr, &n);
    if (rc) {
        store_fail(j, rc);
        return;
    }
    j->out = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(j->out, message_to_json(&arr[i]));
    message_array_free(arr, n);
}

void op_inbox_list(struct req *r)
{
    struct inbox_task *j = inbox_task_new(r);
    j->before = op_arg_int(r, "before", 0);
    j->limit = (int)op_arg_int(r, "limit", INBOX_LIST_DEFAULT);
    r->eng->ports.run_task(r->eng->ports.ctx, r, list_work, inbox_done, j);
}

static void read_work(struct engine *e, void *arg)
{
    struct inbox_task *j = arg;
    drop_err rc = store_message_mark_read(e->store, j->me, (const char(*)[DROP_ID_SIZE])j->ids,
                                          j->n_ids, engine_now(e));
    if (rc) store_fail(j, rc);
    else j->out = json_object();
}

void op_inbox_read(struct req *r)
{
    /* declared in the op table: 1..INBOX_READ_MAX ObjectIds */
    json_t *ids = op_arg_json(r, "ids");
    size_t n = json_array_size(ids);
    struct inbox_task *j = inbox_task_new(r);
    j->ids = xcalloc(n, sizeof *j->ids);
    j->n_ids = n;
    for (size_t i = 0; i < n; i++)
        snprintf(j->ids[i], DROP_ID_SIZE, "%s", json_string_value(json_array_get(ids, i)));
    r->eng->ports.run_task(r->eng->ports.ctx, r, read_work, inbox_done, j);
}
