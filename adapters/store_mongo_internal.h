/* store_mongo_internal.h - what the MongoDB store's per-kind files
 * (store_mongo_devices.c, store_mongo_codes.c) use of the main one
 * (store_mongo.c): pooled clients, collections and the error mapping. Not
 * for other modules. */
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

/* store_mongo_devices.c: creates the devices indexes (at open). */
drop_err mg_devices_init(void *impl, mongoc_client_t *c, char *why, size_t whylen);
drop_err mg_device_put(void *impl, const struct device *d, int max_per_account);
drop_err mg_device_delete(void *impl, const char *account, const char *token);
drop_err mg_device_list(void *impl, const char *account, struct device **out, size_t *n);

#endif
