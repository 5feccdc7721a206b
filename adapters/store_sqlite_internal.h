/* store_sqlite_internal.h - what the files of the SQLite store share
 * (store_sqlite.c owns the connection; store_sqlite_devices.c and
 * store_sqlite_codes.c add devices and identity codes). Not for other
 * modules. */
#ifndef DROP_STORE_SQLITE_INTERNAL_H
#define DROP_STORE_SQLITE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>

#include "engine/err.h"
#include "engine/store.h"

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
