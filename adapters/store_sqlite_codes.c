/* store_sqlite_codes.c - identity codes on SQLite, and the account changes
 * that codes and admins make (identity verified, password, type).
 *
 * The codes table comes with schema version 5 (SQLITE_CODES_MIGRATION in
 * store_sqlite_internal.h; issue 14 folds it into the record store). One row per normalized
 * identity; the compare-and-set is an UPDATE ... WHERE version = expected
 * that must change one row, a create an INSERT that a racing create turns
 * into a unique violation (DROP_ECONFLICT). Statements are built from
 * CODE_FIELDS (engine/code_fields.h, the fields MongoDB stores too) and
 * prepared per call: codes are rare next to gigs. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "engine/code_fields.h"
#include "adapters/store_sqlite_internal.h"

enum code_sql { CODE_SELECT, CODE_INSERT, CODE_UPDATE };

/* The SQL of a code statement, its columns from CODE_FIELDS: ?i binds
 * field i - 1 (code_bind), a selected row's column i is field i
 * (code_row), and the update's expected version is ?(CODE_NFIELDS + 1). */
static void code_sql(enum code_sql which, char *sql, size_t n)
{
    char cols[512], params[128], sets[512];
    size_t c = 0, p = 0, u = 0;
    for (int i = 0; i < CODE_NFIELDS; i++) {
        const char *sep = i ? ", " : "";
        c += (size_t)snprintf(cols + c, sizeof cols - c, "%s%s", sep, CODE_FIELDS[i].column);
        p += (size_t)snprintf(params + p, sizeof params - p, "%s?%d", sep, i + 1);
        if (i > 0) /* the key is not set */
            u += (size_t)snprintf(sets + u, sizeof sets - u, "%s%s = ?%d", i > 1 ? ", " : "",
                                  CODE_FIELDS[i].column, i + 1);
    }
    if (which == CODE_SELECT)
        snprintf(sql, n, "SELECT %s FROM identity_codes WHERE %s = ?1", cols,
                 CODE_FIELDS[0].column);
    else if (which == CODE_INSERT)
        snprintf(sql, n, "INSERT INTO identity_codes (%s) VALUES (%s)", cols, params);
    else
        snprintf(sql, n, "UPDATE identity_codes SET %s WHERE %s = ?1 AND version = ?%d", sets,
                 CODE_FIELDS[0].column, CODE_NFIELDS + 1);
}

/* Prepares sql on the store's connection (mutex held). */
static int prep(void *impl, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v2(sq_db(impl), sql, -1, st, NULL);
}

static int prep_code(void *impl, enum code_sql which, sqlite3_stmt **st)
{
    char sql[1024];
    code_sql(which, sql, sizeof sql);
    return prep(impl, sql, st);
}

/* Binds every field of c, field i as parameter i + 1. */
static void code_bind(sqlite3_stmt *st, const struct store_code *c)
{
    for (int i = 0; i < CODE_NFIELDS; i++) {
        const struct code_field *f = &CODE_FIELDS[i];
        const void *v = code_at_c(c, f);
        switch (f->type) {
        case CODE_TEXT: sqlite3_bind_text(st, i + 1, v, -1, SQLITE_TRANSIENT); break;
        case CODE_BOOL: sqlite3_bind_int(st, i + 1, *(const bool *)v ? 1 : 0); break;
        case CODE_INT: sqlite3_bind_int(st, i + 1, *(const int *)v); break;
        case CODE_INT64: sqlite3_bind_int64(st, i + 1, *(const int64_t *)v); break;
        case CODE_BYTES: sqlite3_bind_blob(st, i + 1, v, (int)f->size, SQLITE_TRANSIENT); break;
        }
    }
}

/* Copies a blob column of exactly n bytes; zeros for anything else. */
static void blob_copy(sqlite3_stmt *st, int i, unsigned char *out, size_t n)
{
    memset(out, 0, n);
    if (sqlite3_column_type(st, i) == SQLITE_BLOB && (size_t)sqlite3_column_bytes(st, i) == n)
        memcpy(out, sqlite3_column_blob(st, i), n);
}

/* Reads a row of CODE_SELECT into c. */
static void code_row(sqlite3_stmt *st, struct store_code *c)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < CODE_NFIELDS; i++) {
        const struct code_field *f = &CODE_FIELDS[i];
        void *v = code_at(c, f);
        switch (f->type) {
        case CODE_TEXT: col_copy(st, i, v, f->size); break;
        case CODE_BOOL: *(bool *)v = sqlite3_column_int(st, i) != 0; break;
        case CODE_INT: *(int *)v = sqlite3_column_int(st, i); break;
        case CODE_INT64: *(int64_t *)v = sqlite3_column_int64(st, i); break;
        case CODE_BYTES: blob_copy(st, i, v, f->size); break;
        }
    }
}

drop_err sq_code_get(void *impl, const char *identity, struct store_code *out)
{
    sqlite3_stmt *st = NULL;
    drop_err e = DROP_OK;
    pthread_mutex_lock(sq_mutex(impl));
    int rc = prep_code(impl, CODE_SELECT, &st);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, identity, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
    }
    if (rc == SQLITE_ROW) {
        code_row(st, out);
    } else if (rc == SQLITE_DONE) {
        e = DROP_ENOTFOUND;
    } else {
        e = sq_map(impl, sqlite3_extended_errcode(sq_db(impl)), "code_get");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(sq_mutex(impl));
    return e;
}

drop_err sq_code_cas(void *impl, const struct store_code *c, int64_t expected_version)
{
    sqlite3_stmt *st = NULL;
    drop_err e = DROP_OK;
    if (c->version <= expected_version || expected_version < 0) return DROP_EBADREQ;
    pthread_mutex_lock(sq_mutex(impl));
    int rc = prep_code(impl, expected_version == 0 ? CODE_INSERT : CODE_UPDATE, &st);
    if (rc == SQLITE_OK) {
        code_bind(st, c);
        if (expected_version) sqlite3_bind_int64(st, CODE_NFIELDS + 1, expected_version);
        rc = sqlite3_step(st);
    }
    if (rc == SQLITE_DONE) {
        if (sqlite3_changes(sq_db(impl)) != 1) e = DROP_ECONFLICT;
    } else {
        e = sq_map(impl, sqlite3_extended_errcode(sq_db(impl)), "code_cas");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(sq_mutex(impl));
    return e;
}

/* Runs one UPDATE with the given text/int64 bindings; DROP_ENOTFOUND when
 * it changed no row. */
static drop_err update1(void *impl, const char *sql, const char *a1, const char *a2,
                        const char *a3, int64_t now, const char *op)
{
    sqlite3_stmt *st = NULL;
    drop_err e = DROP_OK;
    pthread_mutex_lock(sq_mutex(impl));
    int rc = prep(impl, sql, &st);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, a1, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, a2, -1, SQLITE_TRANSIENT);
        if (a3) sqlite3_bind_text(st, 3, a3, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, now);
        rc = sqlite3_step(st);
    }
    if (rc == SQLITE_DONE) {
        if (sqlite3_changes(sq_db(impl)) == 0) e = DROP_ENOTFOUND;
    } else {
        e = sq_map(impl, sqlite3_extended_errcode(sq_db(impl)), op);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(sq_mutex(impl));
    return e;
}

drop_err sq_identity_verify(void *impl, const char *account, const char *value, int64_t now)
{
    return update1(impl,
                   "UPDATE identities SET status = 'verified', updated_at = ?4"
                   " WHERE account_id = ?1 AND value = ?2 AND active = 1 AND ?3 IS NULL"
                   " AND EXISTS (SELECT 1 FROM accounts WHERE id = ?1 AND status = 'active')",
                   account, value, NULL, now, "identity_verify");
}

drop_err sq_password_set(void *impl, const char *account, const char *hash, int64_t now)
{
    return update1(impl,
                   "UPDATE accounts SET password_hash = ?2, updated_at = ?4"
                   " WHERE id = ?1 AND status = 'active' AND ?3 IS NULL",
                   account, hash, NULL, now, "password_set");
}

drop_err sq_account_type_set(void *impl, const char *account, const char *type, int64_t now)
{
    return update1(impl,
                   "UPDATE accounts SET type = ?2, updated_at = ?4"
                   " WHERE id = ?1 AND status = 'active' AND ?3 IS NULL",
                   account, type, NULL, now, "account_type_set");
}
