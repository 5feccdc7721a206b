/* store_sqlite_inbox.c - inbox messages on SQLite: plain rows, read_at NULL
 * while unread (see store_sqlite.h and store_sqlite_internal.h). */
#include "adapters/store_sqlite_internal.h"

#include "engine/gig_record.h"

/* ---- inbox ---------------------------------------------------------------- */

drop_err sq_message_create(void *impl, const struct message *m)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    if (!id_valid(m->id) || !id_valid(m->from) || !id_valid(m->to) || !m->text ||
        !m->text[0] || strlen(m->text) > INBOX_TEXT_MAX)
        return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_MSG_INSERT);
    bind_text(st, 1, m->id);
    bind_text(st, 2, m->from);
    bind_text(st, 3, m->to);
    bind_text(st, 4, m->text);
    sqlite3_bind_int64(st, 5, m->created_at);
    if (m->read_at > 0) sqlite3_bind_int64(st, 6, m->read_at);
    else sqlite3_bind_null(st, 6);
    int rc = run(st);
    if (rc != SQLITE_DONE) e = map_rc(s, sqlite3_extended_errcode(s->db), "message_create");
    pthread_mutex_unlock(&s->mu);
    return e;
}

drop_err sq_message_list(void *impl, const char *to, int64_t before, int limit,
                                struct message **out, size_t *nout)
{
    struct sq *s = impl;
    struct message *arr = NULL;
    size_t n = 0;
    int rc;
    if (!to || limit < 1 || limit > INBOX_LIST_MAX || before < 0) return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_MSG_LIST);
    bind_text(st, 1, to);
    sqlite3_bind_int64(st, 2, before);
    sqlite3_bind_int(st, 3, limit);
    arr = xcalloc((size_t)limit, sizeof *arr);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < (size_t)limit) {
        struct message *m = &arr[n++];
        col_copy(st, 0, m->id, sizeof m->id);
        col_copy(st, 1, m->from, sizeof m->from);
        col_copy(st, 2, m->to, sizeof m->to);
        m->text = col_dup(st, 3, false);
        m->created_at = sqlite3_column_int64(st, 4);
        m->read_at = sqlite3_column_int64(st, 5); /* NULL reads as 0 */
    }
    sqlite3_reset(st);
    drop_err e = rc == SQLITE_DONE || rc == SQLITE_ROW ? DROP_OK : map_rc(s, rc, "message_list");
    pthread_mutex_unlock(&s->mu);
    if (e != DROP_OK || n == 0) {
        message_array_free(arr, n);
        arr = NULL;
        if (e != DROP_OK) return e;
    }
    *out = arr;
    *nout = n;
    return DROP_OK;
}

/* One transaction of per-id updates guarded by the recipient. */
drop_err sq_message_mark_read(void *impl, const char *to, const char (*ids)[DROP_ID_SIZE],
                                     size_t n, int64_t now)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    int rc;
    if (!to || n > INBOX_READ_MAX) return DROP_EBADREQ;
    if (n == 0) return DROP_OK;
    pthread_mutex_lock(&s->mu);
    if ((rc = begin(s)) != SQLITE_OK) goto fail;
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = stmt(s, ST_MSG_READ);
        bind_text(st, 1, ids[i]);
        bind_text(st, 2, to);
        sqlite3_bind_int64(st, 3, now);
        if ((rc = run(st)) != SQLITE_DONE) goto fail;
    }
    if ((rc = commit(s)) != SQLITE_OK) goto fail;
    goto done;
fail:
    e = map_rc(s, sqlite3_extended_errcode(s->db), "message_mark_read");
    rollback(s);
done:
    pthread_mutex_unlock(&s->mu);
    return e;
}

drop_err sq_message_unread(void *impl, const char *to, int64_t *count)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    if (!to) return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_MSG_UNREAD);
    bind_text(st, 1, to);
    int rc = sqlite3_step(st);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW) e = map_rc(s, rc, "message_unread");
    pthread_mutex_unlock(&s->mu);
    if (e == DROP_OK) *count = v;
    return e;
}

