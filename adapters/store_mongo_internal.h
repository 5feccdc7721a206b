/* store_mongo_internal.h - what the MongoDB store's per-kind files
 * (store_mongo_devices.c) use of the main one (store_mongo.c): pooled
 * clients, collections and the error mapping. */
#ifndef DROP_STORE_MONGO_INTERNAL_H
#define DROP_STORE_MONGO_INTERNAL_H

#include <mongoc/mongoc.h>

#include "engine/store.h"

/* A pooled client of impl (a struct mg), or NULL (logged) when the pool
 * stayed exhausted; give it back with mg_client_push. */
mongoc_client_t *mg_client_pop(void *impl, const char *op);
void mg_client_push(void *impl, mongoc_client_t *c);
/* A collection of the store's database (mongoc_collection_destroy it). */
mongoc_collection_t *mg_collection(void *impl, mongoc_client_t *c, const char *name);
/* Maps a driver error to a drop_err, logging it. */
drop_err mg_map_err(const bson_error_t *err, const char *op);

/* store_mongo_devices.c: creates the devices indexes (at open). */
drop_err mg_devices_init(void *impl, mongoc_client_t *c, char *why, size_t whylen);
drop_err mg_device_put(void *impl, const struct device *d, int max_per_account);
drop_err mg_device_delete(void *impl, const char *account, const char *token);
drop_err mg_device_list(void *impl, const char *account, struct device **out, size_t *n);

#endif
