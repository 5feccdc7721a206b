/* store_sqlite_internal.h - what the files of the SQLite store share
 * (store_sqlite.c owns the connection; store_sqlite_codes.c adds the
 * identity codes). Not for other modules. */
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

/* store_sqlite_codes.c: creates its tables when missing (at open, before
 * any thread uses db). Returns an SQLite code. */
int sq_codes_schema(sqlite3 *db);

drop_err sq_code_get(void *impl, const char *identity, struct store_code *out);
drop_err sq_code_cas(void *impl, const struct store_code *c, int64_t expected_version);
drop_err sq_identity_verify(void *impl, const char *account, const char *value, int64_t now);
drop_err sq_password_set(void *impl, const char *account, const char *hash, int64_t now);
drop_err sq_account_type_set(void *impl, const char *account, const char *type, int64_t now);

#endif
