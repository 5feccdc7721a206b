/* store_mongo_internal.h - what the files of the MongoDB store share
 * (store_mongo.c owns the pool and the helpers; store_mongo_codes.c adds
 * the identity codes). Not for other modules. */
#ifndef DROP_STORE_MONGO_INTERNAL_H
#define DROP_STORE_MONGO_INTERNAL_H

#include <mongoc/mongoc.h>

#include "engine/err.h"
#include "engine/store.h"

#define MG_C_CODES "identity_codes"

/* A pooled client of a store impl (struct mg), or NULL when none came
 * within the timeout (logged); give it back with mg_push. */
mongoc_client_t *mg_pop(void *impl, const char *op);
void mg_push(void *impl, mongoc_client_t *c);

/* A collection handle of the store's database (mongoc_collection_destroy). */
mongoc_collection_t *mg_coll(void *impl, mongoc_client_t *c, const char *name);

/* Maps a driver error to the port's codes (logged). */
drop_err mg_map(const bson_error_t *err, const char *op);

/* Parses a 24-hex id; false for anything else. */
bool mg_oid(const char *id, bson_oid_t *oid);

/* At open: once per database, rewrites phone identities stored before
 * issue 15 (a leading '+' or '00') to E.164 digits. Blocking. */
drop_err mg_codes_open(void *impl, mongoc_client_t *c);

drop_err mg_code_get(void *impl, const char *identity, struct store_code *out);
drop_err mg_code_cas(void *impl, const struct store_code *c, int64_t expected_version);
drop_err mg_identity_verify(void *impl, const char *account, const char *value, int64_t now);
drop_err mg_password_set(void *impl, const char *account, const char *hash, int64_t now);
drop_err mg_account_type_set(void *impl, const char *account, const char *type, int64_t now);

#endif
