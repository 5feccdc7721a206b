/* store_sqlite_devices.c - devices (engine/device.h) on the SQLite store.
 *
 * One row per token (the primary key, so a token has one holder and a
 * re-registration moves it), ordered per account by the device id (an
 * ObjectId: newer registrations sort later). The table is created at open
 * with IF NOT EXISTS, outside the numbered migrations of store_sqlite.c,
 * so this kind needs no slot in that list. Statements are prepared per call
 * (cached by SQLite's own page cache; a device op is rare). */
#include <stdlib.h>
#include <string.h>

#include "adapters/store_sqlite_internal.h"
#include "engine/mem.h"

static const char DEVICES_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS devices ("
    "  token TEXT PRIMARY KEY,"
    "  id TEXT NOT NULL,"
    "  account TEXT NOT NULL,"
    "  platform TEXT NOT NULL,"
    "  sandbox INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS devices_by_account ON devices(account, id);";

int sq_devices_init(sqlite3 *db)
{
    return sqlite3_exec(db, DEVICES_SCHEMA, NULL, NULL, NULL);
}

/* Prepares sql; on failure maps and returns the error. */
static drop_err prep(void *impl, const char *sql, sqlite3_stmt **st, const char *op)
{
    int rc = sqlite3_prepare_v2(sq_db(impl), sql, -1, st, NULL);
    return rc == SQLITE_OK ? DROP_OK : sq_map(impl, rc, op);
}

drop_err sq_device_put(void *impl, const struct device *d, int max_per_account)
{
    sqlite3 *db = sq_db(impl);
    sqlite3_stmt *ins = NULL, *trim = NULL;
    drop_err e;
    int rc;

    if (!device_token_valid(d->token) || max_per_account < 1) return DROP_EBADREQ;
    pthread_mutex_lock(sq_mutex(impl));
    if ((e = prep(impl,
                  "INSERT OR REPLACE INTO devices (token, id, account, platform, sandbox, "
                  "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                  &ins, "device_put")) != DROP_OK)
        goto done;
    if ((e = prep(impl,
                  "DELETE FROM devices WHERE account = ?1 AND token NOT IN (SELECT token FROM "
                  "devices WHERE account = ?1 ORDER BY id DESC LIMIT ?2)",
                  &trim, "device_put")) != DROP_OK)
        goto done;
    if ((rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK) {
        e = sq_map(impl, rc, "device_put");
        goto done;
    }
    sqlite3_bind_text(ins, 1, d->token, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, d->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, d->account, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 4, device_platform_name(d->platform), -1, SQLITE_STATIC);
    sqlite3_bind_int(ins, 5, d->sandbox ? 1 : 0);
    sqlite3_bind_int64(ins, 6, d->created_at);
    sqlite3_bind_text(trim, 1, d->account, -1, SQLITE_STATIC);
    sqlite3_bind_int(trim, 2, max_per_account);
    if ((rc = sqlite3_step(ins)) != SQLITE_DONE || (rc = sqlite3_step(trim)) != SQLITE_DONE) {
        e = sq_map(impl, sqlite3_extended_errcode(db), "device_put");
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        goto done;
    }
    if ((rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK) {
        e = sq_map(impl, rc, "device_put");
        if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        goto done;
    }
    e = DROP_OK;
done:
    sqlite3_finalize(ins);
    sqlite3_finalize(trim);
    pthread_mutex_unlock(sq_mutex(impl));
    return e;
}

drop_err sq_device_delete(void *impl, const char *account, const char *token)
{
    sqlite3_stmt *st = NULL;
    drop_err e;
    pthread_mutex_lock(sq_mutex(impl));
    if ((e = prep(impl, "DELETE FROM devices WHERE token = ?1 AND (?2 IS NULL OR account = ?2)",
                  &st, "device_delete")) != DROP_OK)
        goto done;
    sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
    if (account) sqlite3_bind_text(st, 2, account, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, 2);
    if (sqlite3_step(st) != SQLITE_DONE) {
        e = sq_map(impl, sqlite3_extended_errcode(sq_db(impl)), "device_delete");
        goto done;
    }
    e = sqlite3_changes(sq_db(impl)) > 0 ? DROP_OK : DROP_ENOTFOUND;
done:
    sqlite3_finalize(st);
    pthread_mutex_unlock(sq_mutex(impl));
    return e;
}

drop_err sq_device_list(void *impl, const char *account, struct device **out, size_t *nout)
{
    sqlite3_stmt *st = NULL;
    struct device *arr = NULL;
    size_t n = 0, cap = 0;
    drop_err e;
    int rc;

    pthread_mutex_lock(sq_mutex(impl));
    if ((e = prep(impl,
                  "SELECT id, account, platform, token, sandbox, created_at FROM devices "
                  "WHERE account = ?1 ORDER BY id DESC LIMIT 100",
                  &st, "device_list")) != DROP_OK)
        goto done;
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            arr = xrealloc(arr, cap * sizeof *arr);
        }
        struct device *d = &arr[n++];
        memset(d, 0, sizeof *d);
        col_copy(st, 0, d->id, sizeof d->id);
        col_copy(st, 1, d->account, sizeof d->account);
        device_platform_parse((const char *)sqlite3_column_text(st, 2), &d->platform);
        col_copy(st, 3, d->token, sizeof d->token);
        d->sandbox = sqlite3_column_int(st, 4) != 0;
        d->created_at = sqlite3_column_int64(st, 5);
    }
    if (rc != SQLITE_DONE) {
        e = sq_map(impl, rc, "device_list");
        free(arr);
        goto done;
    }
    *out = arr;
    *nout = n;
    e = DROP_OK;
done:
    sqlite3_finalize(st);
    pthread_mutex_unlock(sq_mutex(impl));
    return e;
}
