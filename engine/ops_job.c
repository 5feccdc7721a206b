/* ops_job.c - job.save, job.status, job.list (the Freelancer seed's job
 * ledger).
 *
 * Each handler validates on the loop thread and runs one task on a pool thread:
 * read the job, let the pure rules decide (engine/job.h: the workflow
 * table), compare-and-set on the version, and on a lost race re-read and
 * decide again, like gigs. The picture rule needs the worker's account, so
 * it is checked here: accepting needs a picture; creating a job for a
 * worker without one succeeds with a "warning" in the reply. The
 * completion, back on the loop, sends job.updated to both parties and, on
 * REQUESTED, ACCEPTED and DECLINED, the inbox.message of the automated
 * message the worker stored to the other party (from the actor). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/account.h"
#include "engine/engine.h"
#include "engine/inbox.h"
#include "engine/job.h"
#include "engine/log.h"
#include "engine/mem.h"
#include "engine/ops.h"
#include "engine/ops_handlers.h"
#include "engine/store.h"

#define NO_PICTURE_WARNING "worker has no picture: they cannot accept until they add one"

struct job_op {
    struct req *r;
    char me[DROP_ID_SIZE];       /* "" for the built-in admin */
    bool is_admin;
    drop_err err;
    char why[200];
    /* job.save */
    char id[DROP_ID_SIZE];       /* "" = create */
    char worker[DROP_ID_SIZE];
    char *title, *description;   /* heap; description NULL = keep (update) */
    /* job.status */
    enum job_status to;
    /* job.list */
    struct job_filter f;
    /* results */
    struct job after;
    bool changed;
    bool warn_picture;
    bool have_notice;
    struct message notice;
    json_t *out;
};

static struct job_op *job_op_new(struct req *r)
{
    struct job_op *j = xcalloc(1, sizeof *j);
    j->r = r;
    memcpy(j->me, r->who.account, DROP_ID_SIZE);
    j->is_admin = r->who.role == ROLE_ADMIN;
    job_init(&j->after);
    return j;
}

static void job_op_free(struct job_op *j)
{
    free(j->title);
    free(j->description);
    job_free(&j->after);
    message_free(&j->notice);
    json_decref(j->out);
    free(j);
}

/* Records the job's failure; returns e. */
static drop_err op_fail(struct job_op *j, drop_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static drop_err op_fail(struct job_op *j, drop_err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->why, sizeof j->why, fmt, ap);
    va_end(ap);
    j->err = e;
    return e;
}

static void store_fail(struct job_op *j, drop_err e)
{
    if (e == DROP_EUNAVAIL) op_fail(j, e, "%s", "the store is unavailable, retry later");
    else if (e == DROP_ENOTFOUND) op_fail(j, e, "%s", "no such job");
    else op_fail(j, e, "%s", "store error");
}

/* Reads an active account; *has_picture when it has a non-empty picture.
 * DROP_ENOTFOUND for none or an archived one. */
static drop_err active_account(struct engine *e, const char *id, bool *has_picture)
{
    struct account a;
    account_init(&a);
    drop_err rc = store_account_get(e->store, id, &a);
    if (rc == DROP_OK && strcmp(a.status, "active") != 0) rc = DROP_ENOTFOUND;
    if (rc == DROP_OK && has_picture) *has_picture = a.picture && a.picture[0];
    account_free(&a);
    return rc;
}

/* Stores the automated message of a status change from the actor to the
 * other party (failures are logged: the change itself stands). */
static void store_notice(struct engine *e, struct job_op *j, const char *from, const char *to)
{
    char text[JOB_TITLE_MAX + 64];
    job_notice_text(&j->after, text, sizeof text);
    drop_err rc = inbox_store_new(e, from, to, text, &j->notice);
    if (rc == DROP_OK) j->have_notice = true;
    else log_warn("event=job_notice_failed job=%s err=%s", j->after.id, err_code(rc));
}

/* ---- job.save ---- */

static void create_job(struct engine *e, struct job_op *j)
{
    bool pic = false;
    int64_t now = engine_now(e);
    drop_err rc = active_account(e, j->worker, &pic);
    if (rc) {
        if (rc == DROP_ENOTFOUND) op_fail(j, rc, "%s", "worker: no such account");
        else store_fail(j, rc);
        return;
    }
    struct job *n = &j->after;
    e->crypto.oid_new(n->id);
    n->title = xstrdup(j->title);
    n->description = xstrdup(j->description ? j->description : "");
    memcpy(n->client, j->me, DROP_ID_SIZE);
    memcpy(n->worker, j->worker, DROP_ID_SIZE);
    n->created_at = now;
    n->version = 1;
    job_set_status(n, JOB_REQUESTED, now, j->me);
    if ((rc = store_job_create(e->store, n)) != DROP_OK) {
        store_fail(j, rc);
        return;
    }
    j->changed = true;
    j->warn_picture = !pic;
    store_notice(e, j, n->client, n->worker);
}

/* The transaction context of job.save (update) and job.status. */
struct job_txn {
    struct engine *e;
    struct job_op *j;
};

/* Ends a job transaction: the result into j, or the store's answer worded
 * (a callback's refusal is already in j). */
static bool job_txn_run(struct engine *e, struct job_op *j, struct store_txn *t)
{
    struct job_txn ctx = {e, j};
    struct store_txn_result res;
    struct job before;
    t->kind = &JOB_KIND;
    t->id = j->id;
    t->ctx = &ctx;
    t->tries = STORE_TXN_TRIES;
    drop_err rc = store_txn_run(e->store, t, &before, &j->after, &res);
    if (rc == DROP_OK) {
        job_free(&before);
        j->changed = res.written;
        return true;
    }
    if (j->err) return false;
    if (res.exhausted) op_fail(j, DROP_EUNAVAIL, "%s", "too much contention on this job, retry");
    else store_fail(j, rc);
    return false;
}

/* job.save on an existing job: only its client, only while REQUESTED. */
static drop_err edit_decide(void *ctx, const void *cur_, void *next_, bool *write)
{
    struct job_txn *x = ctx;
    struct job_op *j = x->j;
    const struct job *cur = cur_;
    struct job *next = next_;
    unsigned who = job_actors(cur, j->me, false);
    if (!who && !j->is_admin) return op_fail(j, DROP_ENOTFOUND, "%s", "no such job");
    if (!(who & JOB_BY_CLIENT))
        return op_fail(j, DROP_EFORBIDDEN, "%s", "only the job's client may edit it");
    if (cur->status != JOB_REQUESTED)
        return op_fail(j, DROP_ECONFLICT, "job is %s: only a REQUESTED job may be edited",
                       job_status_name(cur->status));
    if (j->worker[0] && strcmp(j->worker, cur->worker) != 0)
        return op_fail(j, DROP_EBADREQ, "%s", "worker: the worker of a job cannot change");
    job_copy(next, cur);
    free(next->title);
    next->title = xstrdup(j->title);
    if (j->description) {
        free(next->description);
        next->description = xstrdup(j->description);
    }
    next->updated_at = engine_now(x->e);
    next->version = cur->version + 1;
    *write = true;
    return DROP_OK;
}

static void update_job(struct engine *e, struct job_op *j)
{
    struct store_txn t = {.decide = edit_decide};
    job_txn_run(e, j, &t);
}

static void save_work(struct engine *e, void *arg)
{
    struct job_op *j = arg;
    if (j->id[0]) update_job(e, j);
    else create_job(e, j);
}

/* ---- completion ---- */

static void deliver_job(struct engine *e, const char *account, const struct job *jb)
{
    e->ports.deliver(e->ports.ctx, account,
                     json_pack("{s:s,s:o}", "ev", "job.updated", "data", job_to_json(jb)));
}

static void change_done(struct engine *e, struct req *r, void *arg)
{
    struct job_op *j = arg;
    if (j->err) {
        req_fail(r, j->err, "%s", j->why);
        job_op_free(j);
        return;
    }
    if (j->changed) {
        deliver_job(e, j->after.client, &j->after);
        deliver_job(e, j->after.worker, &j->after);
        log_info("event=job_change job=%s status=%s version=%lld", j->after.id,
                 job_status_name(j->after.status), (long long)j->after.version);
    }
    if (j->have_notice) inbox_deliver(e, &j->notice);
    json_t *out = job_to_json(&j->after);
    if (j->warn_picture) json_object_set_new(out, "warning", json_string(NO_PICTURE_WARNING));
    req_reply(r, out);
    job_op_free(j);
}

void op_job_save(struct req *r)
{
    /* declared in the op table: id?, worker? (ObjectIds), title?,
     * description? (strings); the job's own rules are checked here */
    char why[128];
    const char *id = op_arg_str(r, "id"), *worker = op_arg_str(r, "worker");
    const char *title = op_arg_str(r, "title"), *desc = op_arg_str(r, "description");
    drop_err rc;
    if ((rc = job_check_text(title, desc, why, sizeof why)) != DROP_OK) {
        req_fail(r, rc, "%s", why);
        return;
    }
    if (!id && !worker) {
        req_fail(r, DROP_EBADREQ, "worker: an ObjectId string is required for a new job");
        return;
    }
    if (!id && strcmp(worker, r->who.account) == 0) {
        req_fail(r, DROP_EBADREQ, "worker: a job is for another account than its client");
        return;
    }
    struct job_op *j = job_op_new(r);
    if (id) snprintf(j->id, sizeof j->id, "%s", id);
    if (worker) snprintf(j->worker, sizeof j->worker, "%s", worker);
    j->title = xstrdup(title);
    j->description = desc ? xstrdup(desc) : NULL;
    r->eng->ports.run_task(r->eng->ports.ctx, r, save_work, change_done, j);
}

/* ---- job.status ---- */

/* job.status: the workflow table decides; accepting needs the worker's
 * picture (read here: the one store read a decision makes). */
static drop_err status_decide(void *ctx, const void *cur_, void *next_, bool *write)
{
    struct job_txn *x = ctx;
    struct job_op *j = x->j;
    const struct job *cur = cur_;
    unsigned who = job_actors(cur, j->me, j->is_admin);
    drop_err rc = who ? job_transition(cur->status, j->to, who) : DROP_ENOTFOUND;
    if (rc == DROP_ENOTFOUND) return op_fail(j, rc, "no such job");
    if (rc == DROP_ECONFLICT)
        return op_fail(j, rc, "job is %s: it cannot become %s", job_status_name(cur->status),
                       job_status_name(j->to));
    if (rc == DROP_EFORBIDDEN)
        return op_fail(j, rc, "%s is not allowed for this account on this job",
                       job_status_name(j->to));
    if (j->to == JOB_ACCEPTED) {
        bool pic = false;
        if ((rc = active_account(x->e, cur->worker, &pic)) != DROP_OK) {
            store_fail(j, rc);
            return rc;
        }
        if (!pic)
            return op_fail(j, DROP_ECONFLICT,
                           "worker has no picture: add one before accepting a job");
    }
    struct job *next = next_;
    job_copy(next, cur);
    job_set_status(next, j->to, engine_now(x->e), j->me);
    next->version = cur->version + 1;
    *write = true;
    return DROP_OK;
}

static void status_work(struct engine *e, void *arg)
{
    struct job_op *j = arg;
    struct store_txn t = {.decide = status_decide};
    /* ACCEPTED and DECLINED are the worker's: tell the client */
    if (job_txn_run(e, j, &t) && (j->to == JOB_ACCEPTED || j->to == JOB_DECLINED))
        store_notice(e, j, j->after.worker, j->after.client);
}

void op_job_status(struct req *r)
{
    /* declared in the op table: id, status (any but REQUESTED) */
    struct job_op *j = job_op_new(r);
    snprintf(j->id, sizeof j->id, "%s", op_arg_str(r, "id"));
    job_status_parse(op_arg_str(r, "status"), &j->to);
    r->eng->ports.run_task(r->eng->ports.ctx, r, status_work, change_done, j);
}

/* ---- job.list ---- */

static void list_work(struct engine *e, void *arg)
{
    struct job_op *j = arg;
    struct job *arr = NULL;
    size_t n = 0;
    drop_err rc = store_job_list(e->store, &j->f, &arr, &n);
    if (rc) {
        store_fail(j, rc);
        return;
    }
    j->out = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(j->out, job_to_json(&arr[i]));
    job_array_free(arr, n);
}

static void list_done(struct engine *e, struct req *r, void *arg)
{
    struct job_op *j = arg;
    (void)e;
    req_answer(r, j->err, j->why, j->out);
    j->out = NULL;
    job_op_free(j);
}

void op_job_list(struct req *r)
{
    /* declared in the op table: status?, role? ("client" or "worker"),
     * limit?, before? */
    static const enum job_role_filter roles[] = {JOB_ROLE_CLIENT, JOB_ROLE_WORKER};
    int role = op_arg_enum(r, "role", -1);
    struct job_filter f = {.limit = (int)op_arg_int(r, "limit", 50),
                           .before = op_arg_int(r, "before", 0)};

    f.has_status = job_status_parse(op_arg_str(r, "status"), &f.status) == DROP_OK; /* NULL: no */
    if (role >= 0) f.role = roles[role];
    struct job_op *j = job_op_new(r);
    j->f = f;
    j->f.account = j->me;
    r->eng->ports.run_task(r->eng->ports.ctx, r, list_work, list_done, j);
}
