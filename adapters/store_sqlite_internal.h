/* store_sqlite_internal.h - what the SQLite store's per-kind files
 * (store_sqlite_devices.c) use of the main one (store_sqlite.c): its
 * connection, the mutex every op holds, and the error mapping. */
#ifndef DROP_STORE_SQLITE_INTERNAL_H
#define DROP_STORE_SQLITE_INTERNAL_H

#include <sqlite3.h>

#include "engine/store.h"

/* The serving connection of impl (a struct sq); use it with the lock held. */
sqlite3 *sq_db(void *impl);
void sq_lock(void *impl);
void sq_unlock(void *impl);
/* Maps a failed SQLite result to a drop_err, logging it. Lock held. */
drop_err sq_map_rc(void *impl, int rc, const char *op);

/* store_sqlite_devices.c: creates the devices table when missing (at open,
 * before any op). Returns an SQLite result code. */
int sq_devices_init(sqlite3 *db);
drop_err sq_device_put(void *impl, const struct device *d, int max_per_account);
drop_err sq_device_delete(void *impl, const char *account, const char *token);
drop_err sq_device_list(void *impl, const char *account, struct device **out, size_t *n);

#endif
