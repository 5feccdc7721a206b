/* store_mongo.h - the store port (engine/store.h) on MongoDB, the store of
 * a multi-node deployment ("store mongodb://...").
 *
 * How it works: one mongoc_client_pool_t (mongo-c-driver 1.23); every call
 * pops a client, runs its commands and pushes the client back, so any worker
 * thread may call the store concurrently. The connect, socket, server
 * selection and wait-queue timeouts are all set to the configured timeout
 * (never the driver's 30 s defaults), so a down server answers
 * DROP_EUNAVAIL within about that time and the driver reconnects by itself
 * when the server is back. The driver's own log lines go to engine/log.h
 * (warnings and errors only; a password in a URI is masked). The database is
 * the URI's path (default "dropin"); collections accounts, tokens and gigs
 * and their indexes are created at open. Documents use the seeds' camelCase
 * field names and ObjectId _ids; times are int64 ms since the epoch; numbers
 * are read back with bson_iter_as_int64 / as_double because servers may
 * widen or narrow integer types. Every call blocks: worker threads only. */
#ifndef DROP_STORE_MONGO_H
#define DROP_STORE_MONGO_H

#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"
#include "engine/store.h"

#define STORE_MONGO_DEFAULT_DB "dropin"
#define STORE_MONGO_DB_MAX 63 /* bytes of a database name */

/* Opens the MongoDB store at uri ("mongodb://[user:pass@]host[:port][/db]
 * [?options]"), with every driver timeout set to timeout_ms (1..600000), and
 * returns it in *out (store_close() releases it). Pings the server and
 * creates the collections' indexes (idempotent), so a server that is down
 * or refuses fails the open with a one-line reason in why (never the
 * password). Returns DROP_OK, DROP_EBADREQ (a malformed URI, database name
 * or timeout), DROP_EUNAVAIL (the server cannot be reached or refused the
 * indexes) or DROP_EINTERNAL. Blocking, at most a few timeout_ms. */
drop_err store_mongo_open(const char *uri, int64_t timeout_ms, struct store **out, char *why,
                          size_t whylen);

#endif
