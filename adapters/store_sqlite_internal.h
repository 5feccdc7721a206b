/* store_sqlite_internal.h - what the files of the SQLite store share: the
 * connection state, the statement ids, the small step/bind helpers and the
 * store ops each file implements (store_sqlite.c holds the schema, the SQL
 * table, the checkpointer, open and the vtable). Not for other modules. */
#ifndef DROP_STORE_SQLITE_INTERNAL_H
#define DROP_STORE_SQLITE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/store_sqlite.h"
#include "engine/log.h"
#include "engine/mem.h"

#define ACC_NCOLS 15

enum stmt {
    ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_PING,
    ST_ACC_INSERT, ST_IDN_INSERT, ST_ACC_GET, ST_IDN_BY_ACC, ST_ACC_BY_IDN,
    ST_ACC_UPDATE, ST_ACC_ARCHIVE, ST_IDN_RELEASE, ST_ACC_LIST, ST_RATE_OP, ST_RATE_CU,
    ST_TOK_INSERT, ST_TOK_BY_ACC, ST_TOK_BY_HASH, ST_TOK_TOUCH, ST_TOK_DEL, ST_TOK_DEL_ACC,
    ST_GIG_LIST_ALL, ST_GIG_LIST_ACC, ST_GIG_FOR_ACC, ST_GIG_DUE, ST_GIG_UNRATED,
    ST_MSG_INSERT, ST_MSG_LIST, ST_MSG_READ, ST_MSG_UNREAD,
    ST_JOB_LIST_ANY, ST_JOB_LIST_CLIENT, ST_JOB_LIST_WORKER,
    ST_OPLOCK_GET, ST_OPLOCK_INSERT, ST_OPLOCK_UPDATE,
    ST__COUNT
};

/* The statements of one record kind, prepared on its first use. */
enum rstmt { RS_INSERT, RS_UPDATE, RS_EXISTS, RS_GET, RS_DELETE, RS_SET_DEL, RS_SET_INS,
             RS__COUNT };
#define SQ_KINDS_MAX 8
struct sq_kind {
    const struct record_kind *k;
    sqlite3_stmt *st[RS__COUNT]; /* NULL: none (no set) */
};

struct sq {
    sqlite3 *db;
    pthread_mutex_t mu;
    sqlite3_stmt *st[ST__COUNT];
    struct sq_kind kinds[SQ_KINDS_MAX];
    int n_kinds;

    /* The checkpointer: ck is its connection, ck_mu guards wal_pages/ck_stop. */
    sqlite3 *ck;
    pthread_t ck_thread;
    bool ck_running;
    pthread_mutex_t ck_mu;
    pthread_cond_t ck_cond;
    int wal_pages; /* pages in the WAL after the last commit (WAL hook) */
    bool ck_stop;
};

/* The reason-writing error return of this file. */
#define fail err_why

/* Maps a failed SQLite result to the port's codes, logging what is not the
 * caller's doing. Call with the mutex held (sqlite3_errmsg). */
static inline drop_err map_rc(struct sq *s, int rc, const char *op)
{
    int primary = rc & 0xff;
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        return DROP_ECONFLICT;
    drop_err e;
    switch (primary) {
    case SQLITE_BUSY: case SQLITE_LOCKED: case SQLITE_FULL: case SQLITE_IOERR:
    case SQLITE_READONLY: case SQLITE_CANTOPEN: case SQLITE_PROTOCOL: case SQLITE_NOMEM:
        e = DROP_EUNAVAIL;
        break;
    default:
        e = DROP_EINTERNAL;
    }
    log_error("event=store_error backend=sqlite op=%s rc=%d msg=\"%s\"", op, rc,
              sqlite3_errmsg(s->db));
    return e;
}

/* The prepared statement id, reset and unbound, ready to bind. */
static inline sqlite3_stmt *stmt(struct sq *s, enum stmt id)
{
    sqlite3_stmt *st = s->st[id];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

/* Steps a statement that returns no row, then resets it. */
static inline int run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

static inline int begin(struct sq *s)
{
    int rc = run(stmt(s, ST_BEGIN));
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static inline int commit(struct sq *s)
{
    int rc = run(stmt(s, ST_COMMIT));
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static inline void rollback(struct sq *s)
{
    if (!sqlite3_get_autocommit(s->db)) run(stmt(s, ST_ROLLBACK));
}

static inline void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v) sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, i);
}

/* Copies a text column into a fixed buffer, truncating (a damaged row must
 * not overflow it). */
static inline void col_copy(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, outlen, "%s", t ? (const char *)t : "");
}

static inline char *col_dup(sqlite3_stmt *st, int i, bool nullable)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t) return nullable ? NULL : xstrdup("");
    return xstrdup((const char *)t);
}

/* ---- the ops, one file per concept -------------------------------------- */

void sq_close(void *impl);
drop_err sq_ping(void *impl);
drop_err sq_account_create(void *impl, const struct account *a, const char *pw_hash);
drop_err sq_account_get(void *impl, const char *id, struct account *out);
drop_err sq_account_by_identity(void *impl, const char *value, struct account *out,
                                       char **pw_hash);
drop_err sq_account_update(void *impl, const struct account *a);
drop_err sq_account_archive(void *impl, const char *id, int64_t now);
drop_err sq_account_list(void *impl, const struct account_filter *f, struct account **out,
                                size_t *nout);
drop_err sq_account_add_rating(void *impl, const char *id, bool as_operator, int rating,
                                      int64_t now);
drop_err sq_token_put(void *impl, const struct store_token *t);
drop_err sq_token_get_by_account(void *impl, const char *account, int64_t now,
                                        struct store_token *out);
drop_err sq_token_lookup(void *impl, const unsigned char hash[STORE_TOKEN_HASH_LEN],
                                int64_t now, struct store_token *out);
drop_err sq_token_touch(void *impl, const unsigned char hash[STORE_TOKEN_HASH_LEN],
                               int64_t expires_at);
drop_err sq_token_delete(void *impl, const unsigned char hash[STORE_TOKEN_HASH_LEN]);
drop_err sq_token_delete_by_account(void *impl, const char *account);
drop_err sq_record_create(void *impl, const struct record_kind *k, const void *rec);
drop_err sq_record_get(void *impl, const struct record_kind *k, const char *id, void *out);
drop_err sq_record_cas(void *impl, const struct record_kind *k, const void *rec,
                       int64_t expected_version);
drop_err sq_record_delete(void *impl, const struct record_kind *k, const char *id);
drop_err sq_record_list(void *impl, const struct record_kind *k, const struct record_page *p,
                        void **out, size_t *n);
void sq_record_close(struct sq *s);
drop_err sq_gig_list(void *impl, const struct gig_filter *f, struct gig **out, size_t *n);
drop_err sq_gig_for_account(void *impl, const char *account, struct gig **out, size_t *n);
drop_err sq_gig_due(void *impl, int64_t now, int limit, struct gig **out, size_t *n);
drop_err sq_gig_unrated(void *impl, const char *account, bool *unrated);
drop_err sq_job_list(void *impl, const struct job_filter *f, struct job **out,
                            size_t *nout);
drop_err sq_operator_lock_get(void *impl, const char *operator,
                                     struct store_operator_lock *out);
drop_err sq_operator_lock_cas(void *impl, const struct store_operator_lock *l,
                                     int64_t expected);
drop_err sq_message_create(void *impl, const struct message *m);
drop_err sq_message_list(void *impl, const char *to, int64_t before, int limit,
                                struct message **out, size_t *nout);
drop_err sq_message_mark_read(void *impl, const char *to, const char (*ids)[DROP_ID_SIZE],
                              size_t n, int64_t now);
drop_err sq_message_unread(void *impl, const char *to, int64_t *count);

/* ---- what the devices and codes files use -------------------------------- */

/* The connection and its mutex of a store impl (struct sq). */
sqlite3 *sq_db(void *impl);
pthread_mutex_t *sq_mutex(void *impl);

/* Maps a failed SQLite result to the port's codes (logged); mutex held. */
drop_err sq_map(void *impl, int rc, const char *op);

/* The schema migration of the identity codes (one entry of store_sqlite.c's
 * MIGRATIONS): the codes table, and phone identities written before issue
 * 15 (a leading '+' or '00') rewritten to E.164 digits. OR IGNORE leaves a
 * value whose digits another active identity already holds (two accounts
 * before; the older form stays reachable by an admin). */
#define SQLITE_CODES_MIGRATION                                                        \
    "CREATE TABLE identity_codes ("                                                   \
    "  identity TEXT PRIMARY KEY,"                                                    \
    "  account TEXT NOT NULL,"                                                        \
    "  purpose TEXT NOT NULL,"                                                        \
    "  live INTEGER NOT NULL,"                                                        \
    "  hash BLOB NOT NULL,"                                                           \
    "  salt BLOB NOT NULL,"                                                           \
    "  attempts INTEGER NOT NULL,"                                                    \
    "  expires_at INTEGER NOT NULL,"                                                  \
    "  sent_at INTEGER NOT NULL,"                                                     \
    "  window_start INTEGER NOT NULL,"                                                \
    "  sends INTEGER NOT NULL,"                                                       \
    "  version INTEGER NOT NULL);"                                                    \
    "UPDATE OR IGNORE identities SET value = substr(value, 2)"                        \
    " WHERE type = 'phone' AND value LIKE '+%';"                                      \
    "UPDATE OR IGNORE identities SET value = substr(value, 3)"                        \
    " WHERE type = 'phone' AND value LIKE '00%' AND length(value) > 8;"

drop_err sq_code_get(void *impl, const char *identity, struct store_code *out);
drop_err sq_code_cas(void *impl, const struct store_code *c, int64_t expected_version);
drop_err sq_identity_verify(void *impl, const char *account, const char *value, int64_t now);
drop_err sq_password_set(void *impl, const char *account, const char *hash, int64_t now);
drop_err sq_account_type_set(void *impl, const char *account, const char *type, int64_t now);

/* store_sqlite_devices.c: creates the devices table when missing (at open,
 * before any op). Returns an SQLite result code. */
int sq_devices_init(sqlite3 *db);
drop_err sq_device_put(void *impl, const struct device *d, int max_per_account);
drop_err sq_device_delete(void *impl, const char *account, const char *token);
drop_err sq_device_list(void *impl, const char *account, struct device **out, size_t *n);

#endif
