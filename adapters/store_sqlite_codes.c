/* store_sqlite_codes.c - identity codes on SQLite, and the account changes
 * that codes and admins make (identity verified, password, type).
 *
 * The codes table comes with schema version 5 (SQLITE_CODES_MIGRATION in
 * store_sqlite_internal.h; issue 14 folds it into the record store). One row per normalized
 * identity; the compare-and-set is an UPDATE ... WHERE version = expected
 * that must change one row, a create an INSERT that a racing create turns
 * into a unique violation (DROP_ECONFLICT). Statements are prepared per
 * call: codes are rare next to gigs. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "adapters/store_sqlite_internal.h"

#define CODE_COLS                                                                     \
    "identity, account, purpose, live, hash, salt, attempts, expires_at, sent_at, "  \
    "window_start, sends, version"

/* Prepares sql on the store's connection (mutex held). */
static int prep(void *impl, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v2(sq_db(impl), sql, -1, st, NULL);
}

static void blob_copy(sqlite3_stmt *st, int i, unsigned char *out, size_t n)
{
    memset(out, 0, n);
    if (sqlite3_column_type(st, i) == SQLITE_BLOB && (size_t)sqlite3_column_bytes(st, i) == n)
        memcpy(out, sqlite3_column_blob(st, i), n);
}

static void text_copy(sqlite3_stmt *st, int i, char *out, size_t n)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, n, "%s", t ? (const char *)t : "");
}

drop_err sq_code_get(void *impl, const char *identity, struct store_code *out)
{
    sqlite3_stmt *st = NULL;
    drop_err e = DROP_OK;
    pthread_mutex_lock(sq_mutex(impl));
    int rc = prep(impl, "SELECT " CODE_COLS " FROM identity_codes WHERE identity = ?1", &st);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, identity, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
    }
    if (rc == SQLITE_ROW) {
        struct store_code c;
        memset(&c, 0, sizeof c);
        text_copy(st, 0, c.identity, sizeof c.identity);
        text_copy(st, 1, c.account, sizeof c.account);
        text_copy(st, 2, c.purpose, sizeof c.purpose);
        c.live = sqlite3_column_int(st, 3) != 0;
        blob_copy(st, 4, c.hash, sizeof c.hash);
        blob_copy(st, 5, c.salt, sizeof c.salt);
        c.attempts = sqlite3_column_int(st, 6);
        c.expires_at = sqlite3_column_int64(st, 7);
        c.sent_at = sqlite3_column_int64(st, 8);
        c.window_start = sqlite3_column_int64(st, 9);
        c.sends = sqlite3_column_int(st, 10);
        c.version = sqlite3_column_int64(st, 11);
        *out = c;
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
    int rc = prep(impl,
                  expected_version == 0
                      ? "INSERT INTO identity_codes (" CODE_COLS ") VALUES"
                        " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
                      : "UPDATE identity_codes SET account = ?2, purpose = ?3, live = ?4,"
                        " hash = ?5, salt = ?6, attempts = ?7, expires_at = ?8, sent_at = ?9,"
                        " window_start = ?10, sends = ?11, version = ?12"
                        " WHERE identity = ?1 AND version = ?13",
                  &st);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, c->identity, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, c->account, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, c->purpose, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 4, c->live ? 1 : 0);
        sqlite3_bind_blob(st, 5, c->hash, sizeof c->hash, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 6, c->salt, sizeof c->salt, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 7, c->attempts);
        sqlite3_bind_int64(st, 8, c->expires_at);
        sqlite3_bind_int64(st, 9, c->sent_at);
        sqlite3_bind_int64(st, 10, c->window_start);
        sqlite3_bind_int(st, 11, c->sends);
        sqlite3_bind_int64(st, 12, c->version);
        if (expected_version) sqlite3_bind_int64(st, 13, expected_version);
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
