/* job.c - the job ledger's rules (see job.h): the status workflow as a
 * table, validation, the status log, and the JSON shapes (protocol and
 * store record). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/job.h"
#include "engine/store.h"
#include "engine/mem.h"
#include "engine/record_json.h"
#include "engine/timefmt.h"

static const char *const STATUS_NAMES[JOB_STATUS__COUNT] = {
    [JOB_REQUESTED] = "REQUESTED",   [JOB_ACCEPTED] = "ACCEPTED",
    [JOB_DECLINED] = "DECLINED",     [JOB_STARTED] = "STARTED",
    [JOB_COMPLETED] = "COMPLETED",   [JOB_PENDING_PAYMENT] = "PENDING_PAYMENT",
    [JOB_PAID] = "PAID",
};

/* The workflow (PROTOCOL.md, the Freelancer seed). Creation (-> REQUESTED,
 * by the client) is job.save's, not a row. */
static const struct {
    enum job_status from, to;
    unsigned actors;
} WORKFLOW[] = {
    {JOB_REQUESTED, JOB_ACCEPTED, JOB_BY_WORKER},
    {JOB_REQUESTED, JOB_DECLINED, JOB_BY_WORKER},
    {JOB_ACCEPTED, JOB_STARTED, JOB_BY_WORKER},
    {JOB_STARTED, JOB_COMPLETED, JOB_BY_WORKER},
    {JOB_COMPLETED, JOB_PENDING_PAYMENT, JOB_BY_CLIENT},
    {JOB_PENDING_PAYMENT, JOB_PAID, JOB_BY_CLIENT | JOB_BY_ADMIN},
};

void job_init(struct job *j) { memset(j, 0, sizeof *j); }

void job_free(struct job *j)
{
    free(j->title);
    free(j->description);
    job_init(j);
}

void job_copy(struct job *dst, const struct job *src)
{
    *dst = *src;
    dst->title = src->title ? xstrdup(src->title) : NULL;
    dst->description = src->description ? xstrdup(src->description) : NULL;
}

const char *job_status_name(enum job_status s)
{
    return (unsigned)s < JOB_STATUS__COUNT ? STATUS_NAMES[s] : "UNKNOWN";
}

drop_err job_status_parse(const char *s, enum job_status *out)
{
    for (int i = 0; s && i < JOB_STATUS__COUNT; i++)
        if (strcmp(s, STATUS_NAMES[i]) == 0) {
            *out = (enum job_status)i;
            return DROP_OK;
        }
    return DROP_EBADREQ;
}

drop_err job_transition(enum job_status from, enum job_status to, unsigned actors)
{
    for (size_t i = 0; i < sizeof WORKFLOW / sizeof WORKFLOW[0]; i++) {
        if (WORKFLOW[i].from != from || WORKFLOW[i].to != to) continue;
        return (WORKFLOW[i].actors & actors) ? DROP_OK : DROP_EFORBIDDEN;
    }
    return DROP_ECONFLICT;
}

unsigned job_actors(const struct job *j, const char *account, bool is_admin)
{
    unsigned a = is_admin ? JOB_BY_ADMIN : 0;
    if (account && account[0]) {
        if (strcmp(account, j->client) == 0) a |= JOB_BY_CLIENT;
        if (strcmp(account, j->worker) == 0) a |= JOB_BY_WORKER;
    }
    return a;
}

drop_err job_check_text(const char *title, const char *description, char *why, size_t whylen)
{
    if (!title || !title[0]) return err_why(DROP_EBADREQ, why, whylen, "title: a non-empty string is expected");
    if (strlen(title) > JOB_TITLE_MAX)
        return err_why(DROP_ETOOLARGE, why, whylen, "title: at most %d bytes", JOB_TITLE_MAX);
    if (description && strlen(description) > JOB_DESCRIPTION_MAX)
        return err_why(DROP_ETOOLARGE, why, whylen, "description: at most %d bytes",
                       JOB_DESCRIPTION_MAX);
    return DROP_OK;
}

void job_set_status(struct job *j, enum job_status s, int64_t at, const char *by)
{
    if (j->n_log == JOB_LOG_MAX) {
        memmove(&j->log[0], &j->log[1], (JOB_LOG_MAX - 1) * sizeof j->log[0]);
        j->n_log--;
    }
    struct job_log_entry *e = &j->log[j->n_log++];
    e->status = s;
    e->at = at;
    snprintf(e->by, sizeof e->by, "%s", by ? by : "");
    j->status = s;
    j->updated_at = at;
}

/* by as JSON: the id, or null for an admin without an account. */
static json_t *by_json(const char *by) { return by[0] ? json_string(by) : json_null(); }

json_t *job_to_json(const struct job *j)
{
    json_t *log = json_array();
    for (int i = 0; i < j->n_log; i++)
        json_array_append_new(log, json_pack("{s:s,s:o,s:o}", "status",
                                             job_status_name(j->log[i].status), "at",
                                             timefmt_json(j->log[i].at), "by",
                                             by_json(j->log[i].by)));
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:I}", "id", j->id, "title",
                     j->title ? j->title : "", "description",
                     j->description ? j->description : "", "client", j->client, "worker",
                     j->worker, "status", job_status_name(j->status), "statusLog", log,
                     "createdAt", timefmt_json(j->created_at), "updatedAt",
                     timefmt_json(j->updated_at), "version", (json_int_t)j->version);
}

/* The stored object of j (see JOB_KIND), or NULL for an invalid job. */
static json_t *job_record_encode(const struct job *j)
{
    if (!id_valid(j->id) || !id_valid(j->client) || !id_valid(j->worker) || !j->title ||
        (unsigned)j->status >= JOB_STATUS__COUNT || j->n_log < 0 || j->n_log > JOB_LOG_MAX ||
        j->version < 1)
        return NULL;
    json_t *log = json_array();
    for (int i = 0; i < j->n_log; i++) {
        if ((unsigned)j->log[i].status >= JOB_STATUS__COUNT) {
            json_decref(log);
            return NULL;
        }
        json_array_append_new(log, json_pack("{s:s,s:I,s:s}", "status",
                                             job_status_name(j->log[i].status), "at",
                                             (json_int_t)j->log[i].at, "by", j->log[i].by));
    }
    json_t *rec = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:I,s:I,s:I}", "id", j->id, "title",
                            j->title, "description", j->description ? j->description : "",
                            "client", j->client, "worker", j->worker, "status",
                            job_status_name(j->status), "statusLog", log, "createdAt",
                            (json_int_t)j->created_at, "updatedAt", (json_int_t)j->updated_at,
                            "version", (json_int_t)j->version);
    return rec;
}

char *job_record_dump(const struct job *j)
{
    return record_dump(&JOB_KIND, j);
}

/* Reads a record object into out (see JOB_KIND). Nothing is allocated
 * before the last check, so a refusal has nothing to free. */
static drop_err job_record_decode(const json_t *rec, struct job *out, char *why, size_t whylen)
{
    struct job j;
    char status[32];
    const char *title = json_string_value(json_object_get(rec, "title"));
    const char *desc = json_string_value(json_object_get(rec, "description"));
    const json_t *log = json_object_get(rec, "statusLog");
    job_init(&j);
    if (!title || !desc)
        return err_why(DROP_EINTERNAL, why, whylen, "title, description: missing or not a string");
    if (!json_is_array(log) || json_array_size(log) > JOB_LOG_MAX)
        return err_why(DROP_EINTERNAL, why, whylen, "statusLog: not an array of at most %d",
                       JOB_LOG_MAX);
    /* version >= 1: job_record_dump writes none lower, it is not a stored job */
    if (!record_get_id(rec, "id", j.id, false, why, whylen) ||
        !record_get_id(rec, "client", j.client, false, why, whylen) ||
        !record_get_id(rec, "worker", j.worker, false, why, whylen) ||
        !record_get_str(rec, "status", status, sizeof status, false, why, whylen) ||
        !record_get_int(rec, "createdAt", INT64_MIN, INT64_MAX, &j.created_at, why, whylen) ||
        !record_get_int(rec, "updatedAt", INT64_MIN, INT64_MAX, &j.updated_at, why, whylen) ||
        !record_get_int(rec, "version", 1, INT64_MAX, &j.version, why, whylen))
        return DROP_EINTERNAL;
    if (job_status_parse(status, &j.status) != DROP_OK)
        return err_why(DROP_EINTERNAL, why, whylen, "status: unknown");
    for (size_t i = 0; i < json_array_size(log); i++) {
        const json_t *en = json_array_get(log, i);
        struct job_log_entry *le = &j.log[j.n_log++];
        if (!record_get_str(en, "status", status, sizeof status, false, why, whylen) ||
            !record_get_int(en, "at", INT64_MIN, INT64_MAX, &le->at, why, whylen) ||
            !record_get_id(en, "by", le->by, true, why, whylen))
            return DROP_EINTERNAL;
        if (job_status_parse(status, &le->status) != DROP_OK)
            return err_why(DROP_EINTERNAL, why, whylen, "statusLog[%zu].status: unknown", i);
    }
    j.title = xstrdup(title);
    j.description = xstrdup(desc);
    *out = j;
    return DROP_OK;
}

drop_err job_record_parse(const char *text, size_t len, struct job *out, char *why,
                          size_t whylen)
{
    return record_parse(&JOB_KIND, text, len, out, why, whylen);
}

void job_notice_text(const struct job *j, char *out, size_t outlen)
{
    const char *verb;
    switch (j->status) {
    case JOB_REQUESTED: verb = "requested"; break;
    case JOB_ACCEPTED: verb = "accepted"; break;
    case JOB_DECLINED: verb = "declined"; break;
    case JOB_STARTED: verb = "started"; break;
    case JOB_COMPLETED: verb = "completed"; break;
    case JOB_PENDING_PAYMENT: verb = "marked pending payment"; break;
    case JOB_PAID: verb = "paid"; break;
    default: verb = "updated";
    }
    snprintf(out, outlen, "Job \"%s\" was %s", j->title ? j->title : "", verb);
}

void job_array_free(struct job *arr, size_t n)
{
    for (size_t i = 0; i < n; i++) job_free(&arr[i]);
    free(arr);
}

/* ---- the job record kind (engine/store.h) ---------------------------------- */

/* The indexed values of j, in the order of job_fields. */
static void index_values(const struct job *j, struct record_value *v)
{
    v[0] = (struct record_value){.text = j->client};
    v[1] = (struct record_value){.text = j->worker};
    v[2] = (struct record_value){.text = job_status_name(j->status)};
    v[3] = (struct record_value){.i = j->created_at};
}

static const struct record_field job_fields[] = {
    {"client", "client", RECORD_TEXT, false},
    {"worker", "worker", RECORD_TEXT, false},
    {"status", "status", RECORD_TEXT, false},
    {"created_at", "createdAt", RECORD_INT, false},
};
static const char *const job_id_keys[] = {"client", "worker", "statusLog.by", NULL};
static const char *const job_text_keys[] = {NULL};

RECORD_KIND_DEFINE(JOB_KIND, job, job_record_encode, job_record_decode, index_values, job_fields,
                   .name = "job", .table = "jobs", .id_keys = job_id_keys,
                   .text_keys = job_text_keys, .set = NULL);
