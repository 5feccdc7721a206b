/* store_mongo_devices.c - devices (engine/device.h) on the MongoDB store.
 *
 *   devices {_id, token, seq: the device id (ObjectId, orders registrations),
 *            account (ObjectId), platform, sandbox, createdAt}
 * A registration is one replace-with-upsert filtered on the token (unique
 * index "token"), so the token has one holder and moves to the new account;
 * a racing upsert that loses on the unique index is tried again. (The
 * token is not the _id because the CongoDB test server only takes
 * ObjectIds there.) The per-account bound is enforced after the upsert: the
 * account's devices beyond the newest max_per_account (by seq) are
 * deleted. */
#include <stdlib.h>
#include <string.h>

#include "adapters/store_mongo_internal.h"
#include "engine/log.h"
#include "engine/mem.h"

#define C_DEVICES "devices"

drop_err mg_devices_init(void *impl, mongoc_client_t *c, char *why, size_t whylen)
{
    bson_error_t err;
    mongoc_collection_t *col = mg_coll(impl, c, C_DEVICES);
    bson_t *keys = BCON_NEW("account", BCON_INT32(1), "seq", BCON_INT32(-1));
    bson_t *tkeys = BCON_NEW("token", BCON_INT32(1));
    bson_t *cmd = BCON_NEW("createIndexes", BCON_UTF8(C_DEVICES), "indexes", "[", "{", "key",
                           BCON_DOCUMENT(keys), "name", BCON_UTF8("account_seq"), "}", "{",
                           "key", BCON_DOCUMENT(tkeys), "name", BCON_UTF8("token"), "unique",
                           BCON_BOOL(true), "}", "]");
    bool ok = mongoc_collection_command_simple(col, cmd, NULL, NULL, &err);
    bson_destroy(cmd);
    bson_destroy(keys);
    bson_destroy(tkeys);
    mongoc_collection_destroy(col);
    if (!ok) {
        mg_map(&err, "devices_init");
        err_why(DROP_EUNAVAIL, why, whylen, "mongodb: cannot create the indexes of devices: %s",
                err.message);
        return DROP_EUNAVAIL;
    }
    return DROP_OK;
}

drop_err mg_device_put(void *impl, const struct device *d, int max_per_account)
{
    bson_oid_t acc, seq;
    bson_error_t err;
    drop_err e = DROP_OK;
    mongoc_client_t *c;
    mongoc_collection_t *col;
    const bson_t *doc;

    if (!device_token_valid(d->token) || max_per_account < 1 || !bson_oid_is_valid(d->account, 24) ||
        !bson_oid_is_valid(d->id, 24))
        return DROP_EBADREQ;
    bson_oid_init_from_string(&acc, d->account);
    bson_oid_init_from_string(&seq, d->id);
    if (!(c = mg_pop(impl, "device_put"))) return DROP_EUNAVAIL;
    col = mg_coll(impl, c, C_DEVICES);

    bson_t *filter = BCON_NEW("token", BCON_UTF8(d->token));
    bson_t *repl = BCON_NEW("token", BCON_UTF8(d->token), "seq", BCON_OID(&seq), "account",
                            BCON_OID(&acc), "platform", BCON_UTF8(device_platform_name(d->platform)),
                            "sandbox", BCON_BOOL(d->sandbox), "createdAt",
                            BCON_INT64(d->created_at));
    bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
    for (int tries = 0; tries < 3; tries++) { /* a racing upsert of the same token */
        e = DROP_OK;
        if (mongoc_collection_replace_one(col, filter, repl, opts, NULL, &err)) break;
        e = mg_map(&err, "device_put");
        if (e != DROP_ECONFLICT) break;
    }
    bson_destroy(filter);
    bson_destroy(repl);
    bson_destroy(opts);
    if (e != DROP_OK) goto done;

    /* the account's devices past the newest max_per_account go */
    bson_t *q = BCON_NEW("account", BCON_OID(&acc));
    bson_t *fopts = BCON_NEW("sort", "{", "seq", BCON_INT32(-1), "}", "skip",
                             BCON_INT64(max_per_account), "projection", "{", "_id",
                             BCON_INT32(1), "}");
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(col, q, fopts, NULL);
    bson_destroy(q);
    bson_destroy(fopts);
    bson_t ids = BSON_INITIALIZER;
    int k = 0;
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        char key[16];
        if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it)) {
            snprintf(key, sizeof key, "%d", k++);
            BSON_APPEND_OID(&ids, key, bson_iter_oid(&it));
        }
    }
    if (mongoc_cursor_error(cur, &err)) e = mg_map(&err, "device_put");
    mongoc_cursor_destroy(cur);
    if (e == DROP_OK && k > 0) {
        bson_t del = BSON_INITIALIZER, in;
        BSON_APPEND_DOCUMENT_BEGIN(&del, "_id", &in);
        BSON_APPEND_ARRAY(&in, "$in", &ids);
        bson_append_document_end(&del, &in);
        if (!mongoc_collection_delete_many(col, &del, NULL, NULL, &err))
            e = mg_map(&err, "device_put");
        bson_destroy(&del);
    }
    bson_destroy(&ids);
done:
    mongoc_collection_destroy(col);
    mg_push(impl, c);
    return e;
}

drop_err mg_device_delete(void *impl, const char *account, const char *token)
{
    bson_oid_t acc;
    bson_error_t err;
    bson_t reply;
    drop_err e = DROP_OK;
    mongoc_client_t *c;

    if (account && !bson_oid_is_valid(account, strlen(account))) return DROP_ENOTFOUND;
    if (!(c = mg_pop(impl, "device_delete"))) return DROP_EUNAVAIL;
    mongoc_collection_t *col = mg_coll(impl, c, C_DEVICES);
    bson_t *filter = BCON_NEW("token", BCON_UTF8(token));
    if (account) {
        bson_oid_init_from_string(&acc, account);
        BSON_APPEND_OID(filter, "account", &acc);
    }
    if (!mongoc_collection_delete_one(col, filter, NULL, &reply, &err)) {
        e = mg_map(&err, "device_delete");
    } else {
        bson_iter_t it;
        int64_t n = bson_iter_init_find(&it, &reply, "deletedCount") ? bson_iter_as_int64(&it) : 0;
        e = n > 0 ? DROP_OK : DROP_ENOTFOUND;
    }
    bson_destroy(&reply);
    bson_destroy(filter);
    mongoc_collection_destroy(col);
    mg_push(impl, c);
    return e;
}

static void device_field(const char *k, bson_iter_t *it, void *out)
{
    struct device *d = out;
    if (strcmp(k, "token") == 0 && BSON_ITER_HOLDS_UTF8(it))
        snprintf(d->token, sizeof d->token, "%s", bson_iter_utf8(it, NULL));
    else if (strcmp(k, "seq") == 0 && BSON_ITER_HOLDS_OID(it))
        bson_oid_to_string(bson_iter_oid(it), d->id);
    else if (strcmp(k, "account") == 0 && BSON_ITER_HOLDS_OID(it))
        bson_oid_to_string(bson_iter_oid(it), d->account);
    else if (strcmp(k, "platform") == 0 && BSON_ITER_HOLDS_UTF8(it))
        device_platform_parse(bson_iter_utf8(it, NULL), &d->platform);
    else if (strcmp(k, "sandbox") == 0)
        d->sandbox = bson_iter_as_bool(it);
    else if (strcmp(k, "createdAt") == 0)
        d->created_at = bson_iter_as_int64(it);
}

static void doc_device(const bson_t *doc, struct device *d)
{
    memset(d, 0, sizeof *d);
    doc_fields(doc, device_field, d);
}

drop_err mg_device_list(void *impl, const char *account, struct device **out, size_t *nout)
{
    bson_oid_t acc;
    bson_error_t err;
    const bson_t *doc;
    struct device *arr = NULL;
    size_t n = 0, cap = 0;
    drop_err e = DROP_OK;
    mongoc_client_t *c;

    if (!bson_oid_is_valid(account, strlen(account))) {
        *out = NULL;
        *nout = 0;
        return DROP_OK;
    }
    bson_oid_init_from_string(&acc, account);
    if (!(c = mg_pop(impl, "device_list"))) return DROP_EUNAVAIL;
    mongoc_collection_t *col = mg_coll(impl, c, C_DEVICES);
    bson_t *q = BCON_NEW("account", BCON_OID(&acc));
    bson_t *opts = BCON_NEW("sort", "{", "seq", BCON_INT32(-1), "}", "limit", BCON_INT64(100));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(col, q, opts, NULL);
    while (mongoc_cursor_next(cur, &doc)) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            arr = xrealloc(arr, cap * sizeof *arr);
        }
        doc_device(doc, &arr[n]);
        if (arr[n].token[0]) n++;
    }
    if (mongoc_cursor_error(cur, &err)) e = mg_map(&err, "device_list");
    mongoc_cursor_destroy(cur);
    bson_destroy(q);
    bson_destroy(opts);
    mongoc_collection_destroy(col);
    mg_push(impl, c);
    if (e != DROP_OK) {
        free(arr);
        return e;
    }
    *out = arr;
    *nout = n;
    return DROP_OK;
}
