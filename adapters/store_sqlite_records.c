/* store_sqlite_records.c - the versioned records on SQLite: gigs, jobs and
 * operator booking records, each a row written by compare-and-set on its
 * version (see store_sqlite.h and store_sqlite_internal.h). */
#include "adapters/store_sqlite_internal.h"

#include "engine/gig_record.h"

/* ---- gigs --------------------------------------------------------------- */

/* Writes the open offers of g into gig_open_offers (the old ones deleted
 * first when replace). Mutex held, inside the caller's transaction. */
static int write_open_offers(struct sq *s, const struct gig *g, bool replace)
{
    int rc;
    sqlite3_stmt *st;
    if (replace) {
        st = stmt(s, ST_OFFERS_DEL);
        bind_text(st, 1, g->id);
        if ((rc = run(st)) != SQLITE_DONE) return rc;
    }
    for (int i = 0; i < g->n_offers; i++) {
        if (g->offers[i].state != OFFER_OPEN) continue;
        st = stmt(s, ST_OFFER_INSERT);
        bind_text(st, 1, g->id);
        bind_text(st, 2, g->offers[i].operator);
        if ((rc = run(st)) != SQLITE_DONE) return rc;
    }
    return SQLITE_DONE;
}

/* gig_create (expected < 0) and gig_cas (expected = the version the caller
 * read): the gig row, its indexed copies and its open offers, in one
 * transaction. */
static drop_err gig_write(struct sq *s, const struct gig *g, int64_t expected, const char *op)
{
    drop_err e = DROP_OK;
    bool cas = expected >= 0;
    int rc;
    if (!id_valid(g->id) || g->version < 1 || (cas && (expected < 1 || g->version <= expected)))
        return DROP_EBADREQ;
    char *doc = gig_record_dump(g); /* validates every field */
    if (!doc) return DROP_EBADREQ;

    pthread_mutex_lock(&s->mu);
    if ((rc = begin(s)) != SQLITE_OK) goto fail;
    sqlite3_stmt *st = stmt(s, cas ? ST_GIG_UPDATE : ST_GIG_INSERT);
    bind_text(st, 1, g->id);
    bind_text(st, 2, g->customer);
    bind_text(st, 3, g->operator[0] ? g->operator : NULL);
    bind_text(st, 4, gig_status_name(g->status));
    sqlite3_bind_int64(st, 5, g->version);
    sqlite3_bind_int64(st, 6, g->created_at);
    sqlite3_bind_int64(st, 7, gig_next_timer(g));
    sqlite3_bind_text(st, 8, doc, -1, SQLITE_STATIC);
    if (cas) sqlite3_bind_int64(st, 9, expected);
    rc = run(st);
    sqlite3_clear_bindings(st); /* doc is freed below */
    if (rc != SQLITE_DONE) goto fail;
    if (cas && sqlite3_changes(s->db) == 0) {
        st = stmt(s, ST_GIG_EXISTS);
        bind_text(st, 1, g->id);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) goto fail;
        e = rc == SQLITE_ROW ? DROP_ECONFLICT : DROP_ENOTFOUND;
        rollback(s);
        goto done;
    }
    if ((rc = write_open_offers(s, g, cas)) != SQLITE_DONE) goto fail;
    if ((rc = commit(s)) != SQLITE_OK) goto fail;
    goto done;
fail:
    e = map_rc(s, sqlite3_extended_errcode(s->db), op);
    rollback(s);
done:
    pthread_mutex_unlock(&s->mu);
    free(doc);
    return e;
}

drop_err sq_gig_create(void *impl, const struct gig *g)
{
    return gig_write(impl, g, -1, "gig_create");
}

drop_err sq_gig_cas(void *impl, const struct gig *g, int64_t expected_version)
{
    if (expected_version < 1) return DROP_EBADREQ;
    return gig_write(impl, g, expected_version, "gig_cas");
}

/* Parses the doc in column 0 of the current row into out. */
static drop_err row_gig(sqlite3_stmt *st, struct gig *out, const char *op)
{
    char why[128] = "";
    const char *doc = (const char *)sqlite3_column_text(st, 0);
    size_t len = (size_t)sqlite3_column_bytes(st, 0);
    drop_err e = gig_record_parse(doc, len, out, why, sizeof why);
    if (e != DROP_OK)
        log_error("event=store_corrupt_gig backend=sqlite op=%s why=\"%s\"", op, why);
    return e;
}

drop_err sq_gig_get(void *impl, const char *id, struct gig *out)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    struct gig g;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_GIG_GET);
    bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) e = row_gig(st, &g, "gig_get");
    else if (rc == SQLITE_DONE) e = DROP_ENOTFOUND;
    else e = map_rc(s, rc, "gig_get");
    sqlite3_reset(st);
    pthread_mutex_unlock(&s->mu);
    if (e == DROP_OK && strcmp(g.id, id) != 0) {
        log_error("event=store_corrupt_gig backend=sqlite op=gig_get id=%s doc_id=%s", id, g.id);
        gig_free(&g);
        e = DROP_EINTERNAL;
    }
    if (e == DROP_OK) *out = g;
    return e;
}

/* Steps a bound SELECT whose column 0 is a gig doc into a heap array. A
 * corrupt row is logged and skipped: one bad record must not hide the others
 * (the sweep above all). Mutex held; resets st. */
static drop_err read_gigs(struct sq *s, sqlite3_stmt *st, struct gig **out, size_t *nout,
                          const char *op)
{
    struct gig *arr = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            arr = xrealloc(arr, cap * sizeof *arr);
        }
        if (row_gig(st, &arr[n], op) == DROP_OK) n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        gig_array_free(arr, n);
        return map_rc(s, rc, op);
    }
    if (!n) {
        free(arr);
        arr = NULL;
    }
    *out = arr;
    *nout = n;
    return DROP_OK;
}

drop_err sq_gig_list(void *impl, const struct gig_filter *f, struct gig **out, size_t *n)
{
    struct sq *s = impl;
    if (f->limit < 1 || f->limit > GIG_LIST_MAX || f->before < 0 ||
        (f->has_status && (unsigned)f->status >= GIG_STATUS__COUNT))
        return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, f->account ? ST_GIG_LIST_ACC : ST_GIG_LIST_ALL);
    if (f->account) bind_text(st, 1, f->account);
    bind_text(st, 2, f->has_status ? gig_status_name(f->status) : NULL);
    sqlite3_bind_int64(st, 3, f->before);
    sqlite3_bind_int(st, 4, f->limit);
    drop_err e = read_gigs(s, st, out, n, "gig_list");
    pthread_mutex_unlock(&s->mu);
    return e;
}

drop_err sq_gig_for_account(void *impl, const char *account, struct gig **out, size_t *n)
{
    struct sq *s = impl;
    if (!account) return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_GIG_FOR_ACC);
    bind_text(st, 1, account);
    sqlite3_bind_int(st, 2, GIG_LIST_MAX);
    drop_err e = read_gigs(s, st, out, n, "gig_for_account");
    pthread_mutex_unlock(&s->mu);
    return e;
}

drop_err sq_gig_due(void *impl, int64_t now, int limit, struct gig **out, size_t *n)
{
    struct sq *s = impl;
    if (limit < 1 || limit > GIG_LIST_MAX) return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_GIG_DUE);
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, limit);
    drop_err e = read_gigs(s, st, out, n, "gig_due");
    pthread_mutex_unlock(&s->mu);
    return e;
}

drop_err sq_gig_unrated(void *impl, const char *account, bool *unrated)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    if (!account) return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_GIG_UNRATED);
    bind_text(st, 1, account);
    int rc = sqlite3_step(st);
    bool v = rc == SQLITE_ROW && sqlite3_column_int(st, 0) != 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW) e = map_rc(s, rc, "gig_unrated");
    pthread_mutex_unlock(&s->mu);
    if (e == DROP_OK) *unrated = v;
    return e;
}

/* ---- jobs ----------------------------------------------------------------- */

/* Inserts (expected < 0) or compare-and-sets a job row: its record in doc
 * beside the indexed copies. */
static drop_err job_write(struct sq *s, const struct job *j, int64_t expected, const char *op)
{
    drop_err e = DROP_OK;
    bool cas = expected >= 0;
    int rc;
    if (cas && (expected < 1 || j->version <= expected)) return DROP_EBADREQ;
    char *doc = job_record_dump(j); /* validates */
    if (!doc) return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, cas ? ST_JOB_UPDATE : ST_JOB_INSERT);
    bind_text(st, 1, j->id);
    bind_text(st, 2, j->client);
    bind_text(st, 3, j->worker);
    bind_text(st, 4, job_status_name(j->status));
    sqlite3_bind_int64(st, 5, j->version);
    sqlite3_bind_int64(st, 6, j->created_at);
    sqlite3_bind_text(st, 7, doc, -1, SQLITE_STATIC);
    if (cas) sqlite3_bind_int64(st, 8, expected);
    rc = run(st);
    sqlite3_clear_bindings(st); /* doc is freed below */
    if (rc != SQLITE_DONE) {
        e = map_rc(s, sqlite3_extended_errcode(s->db), op);
    } else if (cas && sqlite3_changes(s->db) == 0) {
        st = stmt(s, ST_JOB_EXISTS);
        bind_text(st, 1, j->id);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_ROW) e = DROP_ECONFLICT;
        else if (rc == SQLITE_DONE) e = DROP_ENOTFOUND;
        else e = map_rc(s, rc, op);
    }
    pthread_mutex_unlock(&s->mu);
    free(doc);
    return e;
}

drop_err sq_job_create(void *impl, const struct job *j)
{
    return job_write(impl, j, -1, "job_create");
}

drop_err sq_job_cas(void *impl, const struct job *j, int64_t expected_version)
{
    if (expected_version < 1) return DROP_EBADREQ;
    return job_write(impl, j, expected_version, "job_cas");
}

/* Parses the doc in column 0 of the current row into out. */
static drop_err row_job(sqlite3_stmt *st, struct job *out, const char *op)
{
    char why[128] = "";
    const char *doc = (const char *)sqlite3_column_text(st, 0);
    size_t len = (size_t)sqlite3_column_bytes(st, 0);
    drop_err e = job_record_parse(doc, len, out, why, sizeof why);
    if (e != DROP_OK)
        log_error("event=store_corrupt_job backend=sqlite op=%s why=\"%s\"", op, why);
    return e;
}

drop_err sq_job_get(void *impl, const char *id, struct job *out)
{
    struct sq *s = impl;
    drop_err e;
    struct job j;
    if (!id) return DROP_ENOTFOUND;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_JOB_GET);
    bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) e = row_job(st, &j, "job_get");
    else if (rc == SQLITE_DONE) e = DROP_ENOTFOUND;
    else e = map_rc(s, rc, "job_get");
    sqlite3_reset(st);
    pthread_mutex_unlock(&s->mu);
    if (e == DROP_OK && strcmp(j.id, id) != 0) {
        job_free(&j);
        e = DROP_EINTERNAL;
    }
    if (e == DROP_OK) *out = j;
    return e;
}

drop_err sq_job_list(void *impl, const struct job_filter *f, struct job **out,
                            size_t *nout)
{
    struct sq *s = impl;
    static const enum stmt by_role[] = {ST_JOB_LIST_ANY, ST_JOB_LIST_CLIENT, ST_JOB_LIST_WORKER};
    struct job *arr = NULL;
    size_t n = 0;
    int rc;
    if (!f->account || f->limit < 1 || f->limit > JOB_LIST_MAX || f->before < 0 ||
        (unsigned)f->role > JOB_ROLE_WORKER ||
        (f->has_status && (unsigned)f->status >= JOB_STATUS__COUNT))
        return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, by_role[f->role]);
    bind_text(st, 1, f->account);
    bind_text(st, 2, f->has_status ? job_status_name(f->status) : NULL);
    sqlite3_bind_int64(st, 3, f->before);
    sqlite3_bind_int(st, 4, f->limit);
    arr = xcalloc((size_t)f->limit, sizeof *arr);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < (size_t)f->limit)
        if (row_job(st, &arr[n], "job_list") == DROP_OK) n++; /* a corrupt row is skipped */
    sqlite3_reset(st);
    drop_err e = rc == SQLITE_DONE || rc == SQLITE_ROW ? DROP_OK : map_rc(s, rc, "job_list");
    pthread_mutex_unlock(&s->mu);
    if (e != DROP_OK || n == 0) {
        job_array_free(arr, n);
        arr = NULL;
        if (e != DROP_OK) return e;
    }
    *out = arr;
    *nout = n;
    return DROP_OK;
}

/* ---- operator booking records ---------------------------------------------- */

drop_err sq_operator_lock_get(void *impl, const char *operator,
                                     struct store_operator_lock *out)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    struct store_operator_lock l;
    if (!operator || !id_valid(operator)) return DROP_ENOTFOUND;
    memset(&l, 0, sizeof l);
    snprintf(l.operator, sizeof l.operator, "%s", operator);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_OPLOCK_GET);
    bind_text(st, 1, operator);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        col_copy(st, 0, l.gig, sizeof l.gig);
        l.version = sqlite3_column_int64(st, 1);
    } else if (rc == SQLITE_DONE) {
        e = DROP_ENOTFOUND;
    } else {
        e = map_rc(s, rc, "operator_lock_get");
    }
    sqlite3_reset(st);
    pthread_mutex_unlock(&s->mu);
    if (e == DROP_OK) *out = l;
    return e;
}

drop_err sq_operator_lock_cas(void *impl, const struct store_operator_lock *l,
                                     int64_t expected)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    if (!id_valid(l->operator) || (l->gig[0] && !id_valid(l->gig)) || expected < 0 ||
        l->version <= expected)
        return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, expected == 0 ? ST_OPLOCK_INSERT : ST_OPLOCK_UPDATE);
    bind_text(st, 1, l->operator);
    bind_text(st, 2, l->gig[0] ? l->gig : NULL);
    sqlite3_bind_int64(st, 3, l->version);
    if (expected > 0) sqlite3_bind_int64(st, 4, expected);
    int rc = run(st);
    if (rc != SQLITE_DONE) {
        e = map_rc(s, sqlite3_extended_errcode(s->db), "operator_lock_cas");
    } else if (expected > 0 && sqlite3_changes(s->db) == 0) {
        st = stmt(s, ST_OPLOCK_GET);
        bind_text(st, 1, l->operator);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_ROW) e = DROP_ECONFLICT;
        else if (rc == SQLITE_DONE) e = DROP_ENOTFOUND;
        else e = map_rc(s, rc, "operator_lock_cas");
    }
    pthread_mutex_unlock(&s->mu);
    return e;
}

