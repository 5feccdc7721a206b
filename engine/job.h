/* job.h - the Freelancer seed's job ledger: a job a client asks a worker to
 * do, and its status workflow, as pure rules (no store, no clock).
 *
 * The workflow is one table (job.c): each row is (from, to, who may do it).
 * job_transition() looks a change up in it: no row is a conflict (the job is
 * not in a state that allows it), a row whose actors do not include the
 * caller is forbidden. The picture rule (a worker must have a picture to
 * accept) is the caller's to check, since it needs the worker's account.
 * A job keeps the last JOB_LOG_MAX entries of its status log. The record
 * functions give the store's JSON text of a job (times as ms integers);
 * job_to_json gives the protocol's shape (ISO times). */
#ifndef DROP_JOB_H
#define DROP_JOB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"
#include "engine/id.h"

#define JOB_TITLE_MAX 200        /* bytes, at least 1 */
#define JOB_DESCRIPTION_MAX 4000 /* bytes, may be empty */
#define JOB_LOG_MAX 50           /* status log entries kept (the newest) */
#define JOB_LIST_MAX 200

enum job_status {
    JOB_REQUESTED = 0,
    JOB_ACCEPTED,
    JOB_DECLINED,
    JOB_STARTED,
    JOB_COMPLETED,
    JOB_PENDING_PAYMENT,
    JOB_PAID,
    JOB_STATUS__COUNT
};

/* Who a caller is to a job: a bit set, since an admin may also be a party. */
enum job_actor { JOB_BY_CLIENT = 1, JOB_BY_WORKER = 2, JOB_BY_ADMIN = 4 };

struct job_log_entry {
    enum job_status status;
    int64_t at;
    char by[DROP_ID_SIZE]; /* "" = an admin without an account */
};

struct job {
    char id[DROP_ID_SIZE];
    char *title;           /* owned */
    char *description;     /* owned; "" when none */
    char client[DROP_ID_SIZE];
    char worker[DROP_ID_SIZE];
    enum job_status status;
    struct job_log_entry log[JOB_LOG_MAX]; /* oldest first */
    int n_log;
    int64_t created_at, updated_at, version;
};

/* Zeroes j (no strings). */
void job_init(struct job *j);

/* Frees j's strings and re-inits it. */
void job_free(struct job *j);

/* A deep copy of src into dst (dst need not be initialized). */
void job_copy(struct job *dst, const struct job *src);

/* "REQUESTED" ... "PAID". */
const char *job_status_name(enum job_status s);

/* DROP_OK and *out for a status name (exact, upper case), DROP_EBADREQ
 * otherwise. */
drop_err job_status_parse(const char *s, enum job_status *out);

/* The workflow table: DROP_OK when `actors` (a set of enum job_actor bits)
 * may move a job from `from` to `to`; DROP_ECONFLICT when no row leads from
 * `from` to `to`; DROP_EFORBIDDEN when a row does but for other actors. */
drop_err job_transition(enum job_status from, enum job_status to, unsigned actors);

/* The actor bits of account (may be "") on j, plus JOB_BY_ADMIN when
 * is_admin. */
unsigned job_actors(const struct job *j, const char *account, bool is_admin);

/* Checks a title (1..JOB_TITLE_MAX bytes) and a description
 * (0..JOB_DESCRIPTION_MAX bytes): DROP_OK, DROP_EBADREQ (empty title) or
 * DROP_ETOOLARGE, with the reason in why. */
drop_err job_check_text(const char *title, const char *description, char *why, size_t whylen);

/* Sets the status and appends (status, at, by) to the log, dropping the
 * oldest entry when the log is full; sets updated_at. */
void job_set_status(struct job *j, enum job_status s, int64_t at, const char *by);

/* The protocol's job object: {id, title, description, client, worker,
 * status, statusLog: [{status, at, by}], createdAt, updatedAt, version}.
 * New reference. */
json_t *job_to_json(const struct job *j);

/* The store's record: JSON text with times as ms (heap, free()), or NULL
 * when j does not hold a valid job (a caller bug). */
char *job_record_dump(const struct job *j);

/* Parses a record into out (initialized here; job_free it on DROP_OK).
 * DROP_EINTERNAL with the reason in why for anything that is not a valid
 * record. */
drop_err job_record_parse(const char *text, size_t len, struct job *out, char *why,
                          size_t whylen);

/* The automated inbox text of a status change ("Job \"<title>\" was
 * accepted"), into out (truncated to outlen). */
void job_notice_text(const struct job *j, char *out, size_t outlen);

/* Frees an array of n jobs from the store's listing. NULL is fine. */
void job_array_free(struct job *arr, size_t n);

#endif
