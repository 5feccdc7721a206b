/* store_sqlite_records.c - the versioned records on SQLite: gigs, jobs and
 * operator booking records, each a row written by compare-and-set on its
 * version (see store_sqlite.h and store_sqlite_internal.h). */
#include "adapters/store_sqlite_internal.h"

#include <stdint.h>

#include "engine/gig_record.h"
#include "engine/id.h"

/* ---- records: every kind the same way ---------------------------------------
 * A record is one row of its kind's table: id, version, the indexed copies
 * (struct record_kind's fields, in order) and doc, the record as JSON text.
 * The compare-and-set is an UPDATE ... WHERE version = expected that must
 * change one row; a kind's set is rewritten in the same transaction. */

/* The statements of k, prepared on first use. Mutex held. NULL (logged)
 * when they cannot be prepared. */
static struct sq_kind *kind_stmts(struct sq *s, const struct record_kind *k)
{
    for (int i = 0; i < s->n_kinds; i++)
        if (s->kinds[i].k == k) return &s->kinds[i];
    if (s->n_kinds == SQ_KINDS_MAX || k->n_fields > RECORD_FIELDS_MAX) return NULL;
    char cols[512] = "", qs[128] = "", sets[512] = "", sql[RS__COUNT][1024] = {{0}};
    int n = k->n_fields, o = 0, q = 0, u = 0;
    for (int i = 0; i < n; i++) {
        o += snprintf(cols + o, sizeof cols - (size_t)o, ", %s", k->fields[i].column);
        q += snprintf(qs + q, sizeof qs - (size_t)q, ", ?%d", i + 3);
        u += snprintf(sets + u, sizeof sets - (size_t)u, "%s = ?%d, ", k->fields[i].column, i + 3);
    }
    snprintf(sql[RS_INSERT], sizeof sql[0], "INSERT INTO %s (id, version%s, doc) VALUES (?1, ?2%s, ?%d)",
             k->table, cols, qs, n + 3);
    snprintf(sql[RS_UPDATE], sizeof sql[0],
             "UPDATE %s SET version = ?2, %sdoc = ?%d WHERE id = ?1 AND version = ?%d", k->table,
             sets, n + 3, n + 4);
    snprintf(sql[RS_EXISTS], sizeof sql[0], "SELECT 1 FROM %s WHERE id = ?1", k->table);
    snprintf(sql[RS_GET], sizeof sql[0], "SELECT doc FROM %s WHERE id = ?1", k->table);
    snprintf(sql[RS_DELETE], sizeof sql[0], "DELETE FROM %s WHERE id = ?1", k->table);
    if (k->set) {
        snprintf(sql[RS_SET_DEL], sizeof sql[0], "DELETE FROM %s WHERE %s = ?1", k->set->table,
                 k->set->owner);
        snprintf(sql[RS_SET_INS], sizeof sql[0], "INSERT OR IGNORE INTO %s (%s, %s) VALUES (?1, ?2)",
                 k->set->table, k->set->owner, k->set->column);
    }
    struct sq_kind *sk = &s->kinds[s->n_kinds];
    memset(sk, 0, sizeof *sk);
    for (int i = 0; i < RS__COUNT; i++) {
        if (!sql[i][0]) continue;
        if (sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &sk->st[i], NULL) !=
            SQLITE_OK) {
            log_error("event=store_error backend=sqlite op=%s_prepare msg=\"%s\"", k->name,
                      sqlite3_errmsg(s->db));
            for (int j = 0; j < RS__COUNT; j++) sqlite3_finalize(sk->st[j]);
            memset(sk, 0, sizeof *sk);
            return NULL;
        }
    }
    sk->k = k;
    s->n_kinds++;
    return sk;
}

void sq_record_close(struct sq *s)
{
    for (int i = 0; i < s->n_kinds; i++)
        for (int j = 0; j < RS__COUNT; j++) sqlite3_finalize(s->kinds[i].st[j]);
    s->n_kinds = 0;
}

static sqlite3_stmt *kstmt(struct sq_kind *sk, enum rstmt id)
{
    sqlite3_stmt *st = sk->st[id];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

/* Takes the mutex and begins a transaction on k's statements (*sk): an
 * SQLite result; SQLITE_ERROR (logged) when they cannot be prepared. The
 * mutex stays held either way. */
static int begin_kind(struct sq *s, const struct record_kind *k, struct sq_kind **sk)
{
    pthread_mutex_lock(&s->mu);
    if (!(*sk = kind_stmts(s, k))) return SQLITE_ERROR;
    return begin(s);
}

/* Rewrites the set of rec (the old values deleted first when replace).
 * Mutex held, inside the caller's transaction. */
static int write_set(struct sq_kind *sk, const void *rec, bool replace)
{
    const char *vals[RECORD_SET_MAX];
    const char *id = sk->k->id(rec);
    int rc;
    sqlite3_stmt *st;
    if (replace) {
        st = kstmt(sk, RS_SET_DEL);
        bind_text(st, 1, id);
        if ((rc = run(st)) != SQLITE_DONE) return rc;
    }
    int n = sk->k->set->values(rec, vals);
    for (int i = 0; i < n; i++) {
        st = kstmt(sk, RS_SET_INS);
        bind_text(st, 1, id);
        bind_text(st, 2, vals[i]);
        if ((rc = run(st)) != SQLITE_DONE) return rc;
    }
    return SQLITE_DONE;
}

/* Insert (expected < 0) or compare-and-set (expected = the version the
 * caller read): the row, its indexed copies and its set, in one
 * transaction. */
static drop_err record_write(struct sq *s, const struct record_kind *k, const void *rec,
                             int64_t expected, const char *op)
{
    drop_err e = DROP_OK;
    bool cas = expected >= 0;
    int64_t version = k->version(rec);
    struct record_value v[RECORD_FIELDS_MAX];
    int rc;
    if (!id_valid(k->id(rec)) || version < 1 || (cas && (expected < 1 || version <= expected)))
        return DROP_EBADREQ;
    char *doc = record_dump(k, rec); /* the codec validates every field */
    if (!doc) return DROP_EBADREQ;
    k->index(rec, v);

    struct sq_kind *sk;
    if ((rc = begin_kind(s, k, &sk)) != SQLITE_OK) goto fail;
    sqlite3_stmt *st = kstmt(sk, cas ? RS_UPDATE : RS_INSERT);
    bind_text(st, 1, k->id(rec));
    sqlite3_bind_int64(st, 2, version);
    for (int i = 0; i < k->n_fields; i++) {
        if (k->fields[i].type == RECORD_INT) sqlite3_bind_int64(st, i + 3, v[i].i);
        else bind_text(st, i + 3, v[i].text);
    }
    sqlite3_bind_text(st, k->n_fields + 3, doc, -1, SQLITE_STATIC);
    if (cas) sqlite3_bind_int64(st, k->n_fields + 4, expected);
    rc = run(st);
    sqlite3_clear_bindings(st); /* doc is freed below */
    if (rc != SQLITE_DONE) goto fail;
    if (cas && sqlite3_changes(s->db) == 0) {
        st = kstmt(sk, RS_EXISTS);
        bind_text(st, 1, k->id(rec));
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) goto fail;
        e = rc == SQLITE_ROW ? DROP_ECONFLICT : DROP_ENOTFOUND;
        rollback(s);
        goto done;
    }
    if (k->set && (rc = write_set(sk, rec, cas)) != SQLITE_DONE) goto fail;
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

drop_err sq_record_create(void *impl, const struct record_kind *k, const void *rec)
{
    return record_write(impl, k, rec, -1, "record_create");
}

drop_err sq_record_cas(void *impl, const struct record_kind *k, const void *rec,
                       int64_t expected_version)
{
    if (expected_version < 1) return DROP_EBADREQ;
    return record_write(impl, k, rec, expected_version, "record_cas");
}

/* Parses the doc in column 0 of the current row into out (k's struct). A
 * corrupt record is logged: DROP_EINTERNAL. */
static drop_err row_record(const struct record_kind *k, sqlite3_stmt *st, void *out,
                           const char *op)
{
    char why[128] = "";
    const char *doc = (const char *)sqlite3_column_text(st, 0);
    size_t len = (size_t)sqlite3_column_bytes(st, 0);
    drop_err e = record_parse(k, doc, len, out, why, sizeof why);
    if (e != DROP_OK)
        log_error("event=store_corrupt_%s backend=sqlite op=%s why=\"%s\"", k->name, op, why);
    return e;
}

drop_err sq_record_get(void *impl, const struct record_kind *k, const char *id, void *out)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    if (!id) return DROP_ENOTFOUND;
    void *rec = xmalloc(k->size); /* a gig is ~5 KB: off the (worker's) stack */
    pthread_mutex_lock(&s->mu);
    struct sq_kind *sk = kind_stmts(s, k);
    if (!sk) {
        e = DROP_EINTERNAL;
    } else {
        sqlite3_stmt *st = kstmt(sk, RS_GET);
        bind_text(st, 1, id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) e = row_record(k, st, rec, "record_get");
        else if (rc == SQLITE_DONE) e = DROP_ENOTFOUND;
        else e = map_rc(s, rc, "record_get");
        sqlite3_reset(st);
    }
    pthread_mutex_unlock(&s->mu);
    if (e == DROP_OK && strcmp(k->id(rec), id) != 0) {
        log_error("event=store_corrupt_%s backend=sqlite op=record_get id=%s doc_id=%s", k->name,
                  id, k->id(rec));
        k->free_rec(rec);
        e = DROP_EINTERNAL;
    }
    if (e == DROP_OK) memcpy(out, rec, k->size);
    free(rec);
    return e;
}

drop_err sq_record_delete(void *impl, const struct record_kind *k, const char *id)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    int rc;
    if (!id) return DROP_OK;
    struct sq_kind *sk;
    if ((rc = begin_kind(s, k, &sk)) != SQLITE_OK) goto fail;
    sqlite3_stmt *st;
    if (k->set) {
        st = kstmt(sk, RS_SET_DEL);
        bind_text(st, 1, id);
        if ((rc = run(st)) != SQLITE_DONE) goto fail;
    }
    st = kstmt(sk, RS_DELETE);
    bind_text(st, 1, id);
    if ((rc = run(st)) != SQLITE_DONE) goto fail;
    if ((rc = commit(s)) != SQLITE_OK) goto fail;
    goto done;
fail:
    e = map_rc(s, sqlite3_extended_errcode(s->db), "record_delete");
    rollback(s);
done:
    pthread_mutex_unlock(&s->mu);
    return e;
}

/* Steps a bound SELECT whose column 0 is a record of k into a heap array
 * (record_array_free; NULL when empty), at most max. A corrupt row is logged
 * and skipped: one bad record must not hide the others (the sweep above
 * all). Mutex held; resets st. */
static drop_err read_records(struct sq *s, const struct record_kind *k, sqlite3_stmt *st,
                             size_t max, void **out, size_t *nout, const char *op)
{
    char *arr = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            arr = xrealloc(arr, cap * k->size);
        }
        if (row_record(k, st, arr + n * k->size, op) == DROP_OK) n++;
    }
    if (n == max) rc = SQLITE_DONE;
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        record_array_free(k, arr, n);
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

drop_err sq_record_list(void *impl, const struct record_kind *k, const struct record_page *p,
                        void **out, size_t *n)
{
    struct sq *s = impl;
    char sql[512];
    sqlite3_stmt *st = NULL;
    int f = -1;
    for (int i = 0; p->field && i < k->n_fields; i++)
        if (!strcmp(k->fields[i].column, p->field)) f = i;
    if (p->limit < 1 || p->limit > RECORD_LIST_MAX || p->before < 0 || (p->field && f < 0))
        return DROP_EBADREQ;
    snprintf(sql, sizeof sql,
             "SELECT doc FROM %s WHERE %s%s (?2 = 0 OR created_at < ?2)"
             " ORDER BY created_at DESC, id DESC LIMIT ?3",
             k->table, f >= 0 ? k->fields[f].column : "", f >= 0 ? " = ?1 AND" : "");
    pthread_mutex_lock(&s->mu);
    drop_err e;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        e = map_rc(s, rc, "record_list");
    } else {
        if (f >= 0 && k->fields[f].type == RECORD_INT)
            sqlite3_bind_int64(st, 1, strtoll(p->value ? p->value : "0", NULL, 10));
        else if (f >= 0) bind_text(st, 1, p->value);
        sqlite3_bind_int64(st, 2, p->before);
        sqlite3_bind_int(st, 3, p->limit);
        e = read_records(s, k, st, (size_t)p->limit, out, n, "record_list");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return e;
}

/* ---- gigs: the named queries -------------------------------------------------- */

static drop_err read_gigs(struct sq *s, sqlite3_stmt *st, struct gig **out, size_t *nout,
                          const char *op)
{
    return read_records(s, &GIG_KIND, st, SIZE_MAX, (void **)out, nout, op);
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

/* Runs the gig query id, whose ?1 is text (when not NULL) or else i, and
 * ?2 the limit. */
static drop_err gig_query(struct sq *s, enum stmt id, const char *text, int64_t i, int limit,
                          struct gig **out, size_t *n, const char *op)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, id);
    if (text) bind_text(st, 1, text);
    else sqlite3_bind_int64(st, 1, i);
    sqlite3_bind_int(st, 2, limit);
    drop_err e = read_gigs(s, st, out, n, op);
    pthread_mutex_unlock(&s->mu);
    return e;
}

drop_err sq_gig_for_account(void *impl, const char *account, struct gig **out, size_t *n)
{
    if (!account) return DROP_EBADREQ;
    return gig_query(impl, ST_GIG_FOR_ACC, account, 0, GIG_LIST_MAX, out, n, "gig_for_account");
}

drop_err sq_gig_due(void *impl, int64_t now, int limit, struct gig **out, size_t *n)
{
    if (limit < 1 || limit > GIG_LIST_MAX) return DROP_EBADREQ;
    return gig_query(impl, ST_GIG_DUE, NULL, now, limit, out, n, "gig_due");
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


/* ---- jobs: the named query ---------------------------------------------------- */

drop_err sq_job_list(void *impl, const struct job_filter *f, struct job **out, size_t *nout)
{
    struct sq *s = impl;
    static const enum stmt by_role[] = {ST_JOB_LIST_ANY, ST_JOB_LIST_CLIENT, ST_JOB_LIST_WORKER};
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
    drop_err e = read_records(s, &JOB_KIND, st, (size_t)f->limit, (void **)out, nout, "job_list");
    pthread_mutex_unlock(&s->mu);
    return e;
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

