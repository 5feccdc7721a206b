/* store_sqlite.h - the embedded store: the store port (engine/store.h) on
 * one SQLite 3 file, the default of a single node ("store sqlite:PATH").
 *
 * How it works: one sqlite3 connection, guarded by one mutex, so any thread
 * may call the store and calls run one at a time (simple and correct; SQLite
 * itself writes one transaction at a time anyway). The file is in WAL mode
 * (readers of other processes, e.g. a backup, do not block it), synchronous
 * NORMAL (a committed transaction survives a crash of the process; the last
 * one may be lost on power loss), foreign keys on, a 5 s busy timeout when
 * another process holds the lock. All statements are prepared once at open.
 * The schema is created and migrated by the program, its version kept in
 * PRAGMA user_version: each migration runs in one transaction, so a crash
 * mid-migration leaves the previous version. Every call blocks: worker
 * threads only. Tokens are stored as SHA-256 hash + sealed blob, never in
 * clear; passwords as their $argon2id$ strings. A record (gig, job: any
 * record kind of engine/store.h) is one row holding its record as JSON text
 * beside indexed copies of the fields the queries need; its compare-and-set
 * is one conditional UPDATE. */
#ifndef DROP_STORE_SQLITE_H
#define DROP_STORE_SQLITE_H

#include <stddef.h>

#include "engine/err.h"
#include "engine/store.h"

#define STORE_SQLITE_BUSY_MS 5000
#define STORE_SQLITE_SCHEMA_VERSION 5

/* Opens (creating when missing, with its parent directory) the database at
 * path and returns it as a store in *out (store_close() releases it). Checks
 * at open, each failing with a one-line reason in why and no crash: the
 * path is a directory, the directory cannot be made or written, the file is
 * read-only (no write permission bit, also for root, or access() refuses),
 * not a database, corrupt (PRAGMA quick_check, which reads the whole file),
 * or of a newer schema than this program knows. Returns DROP_OK,
 * DROP_EUNAVAIL (the file cannot be used: all cases above) or DROP_EINTERNAL.
 * Blocking. */
drop_err store_sqlite_open(const char *path, struct store **out, char *why, size_t whylen);

#endif
