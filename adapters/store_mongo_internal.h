/* store_mongo_internal.h - what the files of the MongoDB store share: the
 * pool state, collection names, error mapping, the per-call client and
 * find/write helpers, BSON field helpers, and the store ops each file
 * implements (store_mongo.c holds driver setup, open and the vtable).
 * Not for other modules. */
#ifndef DROP_STORE_MONGO_INTERNAL_H
#define DROP_STORE_MONGO_INTERNAL_H

#include <jansson.h>
#include <mongoc/mongoc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/store_mongo.h"
#include "engine/gig_record.h"
#include "engine/log.h"
#include "engine/mem.h"


#define C_ACCOUNTS "accounts"
#define C_TOKENS "tokens"
#define C_GIGS "gigs"
#define C_MESSAGES "messages"
#define C_JOBS "jobs"
#define C_OPLOCKS "operator_locks"
#define RATING_CAS_TRIES 64   /* contention on one account's votes, bounded */
#define BSON_JSON_DEPTH 16    /* nesting read back from a gig document */

struct mg {
    mongoc_client_pool_t *pool;
    mongoc_uri_t *uri;
    char db[STORE_MONGO_DB_MAX + 1];
    int64_t timeout_ms;
};

/* Copies in to out, masking the password of any "scheme://user:pass@" in it
 * and turning quotes and line breaks into spaces (one log line, one field). */
static inline void mask_secrets(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    if (!outlen) return;
    for (size_t i = 0; in && in[i] && o + 1 < outlen; i++) {
        char c = in[i];
        if (c == '/' && in[i + 1] == '/' && i > 0 && in[i - 1] == ':') {
            /* authority: up to the next '/', '?' or blank; a ':' before an '@' starts the secret */
            size_t end = i + 2;
            while (in[end] && in[end] != '/' && in[end] != '?' && in[end] != ' ') end++;
            const char *at = NULL;
            for (size_t k = i + 2; k < end; k++)
                if (in[k] == '@') at = &in[k];
            const char *colon = NULL;
            for (size_t k = i + 2; at && &in[k] < at; k++)
                if (in[k] == ':') { colon = &in[k]; break; }
            if (colon) {
                int n = snprintf(out + o, outlen - o, "//%.*s:***", (int)(colon - &in[i + 2]),
                                 &in[i + 2]);
                if (n < 0 || (size_t)n >= outlen - o) break;
                o += (size_t)n;
                i = (size_t)(at - in) - 1; /* continue at the '@' */
                continue;
            }
        }
        out[o++] = (c == '"' || c == '\n' || c == '\r') ? ' ' : c;
    }
    out[o] = '\0';
}

/* ---- errors --------------------------------------------------------------- */

static inline drop_err fail(drop_err e, char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static inline drop_err fail(drop_err e, char *why, size_t whylen, const char *fmt, ...)
{
    if (why && whylen) {
        char raw[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(raw, sizeof raw, fmt, ap);
        va_end(ap);
        mask_secrets(raw, why, whylen);
    }
    return e;
}

static inline bool is_dup_key(const bson_error_t *err)
{
    return err->code == 11000 || err->code == 11001 || err->code == 12582;
}

/* Server error codes that mean "not now": host unreachable, network
 * timeout, shutting down, not primary, step-downs, time limits. */
static inline bool server_unavailable(uint32_t code)
{
    switch (code) {
    case 6: case 7: case 50: case 89: case 91: case 189: case 262: case 9001:
    case 10107: case 11600: case 11602: case 13435: case 13436:
        return true;
    default:
        return false;
    }
}

/* Maps a driver error to the port's codes, logging what is not the caller's
 * doing (one warn line per failed call while the server is down). */
static inline drop_err map_err(const bson_error_t *err, const char *op)
{
    char msg[512];
    mask_secrets(err->message, msg, sizeof msg);
    if (err->domain != MONGOC_ERROR_STREAM && err->domain != MONGOC_ERROR_SERVER_SELECTION &&
        is_dup_key(err))
        return DROP_ECONFLICT;
    if (err->domain == MONGOC_ERROR_STREAM || err->domain == MONGOC_ERROR_SERVER_SELECTION ||
        err->domain == MONGOC_ERROR_CLIENT ||
        ((err->domain == MONGOC_ERROR_SERVER || err->domain == MONGOC_ERROR_WRITE_CONCERN) &&
         server_unavailable(err->code))) {
        log_warn("event=store_unavailable backend=mongodb op=%s domain=%u code=%u msg=\"%s\"", op,
                 err->domain, err->code, msg);
        return DROP_EUNAVAIL;
    }
    log_error("event=store_error backend=mongodb op=%s domain=%u code=%u msg=\"%s\"", op,
              err->domain, err->code, msg);
    return DROP_EINTERNAL;
}

/* ---- clients and commands ------------------------------------------------- */

/* A pooled client, or NULL (logged) when the pool stayed exhausted for the
 * wait-queue timeout. */
static inline mongoc_client_t *pop(struct mg *m, const char *op)
{
    mongoc_client_t *c = mongoc_client_pool_pop(m->pool);
    if (!c) log_warn("event=store_unavailable backend=mongodb op=%s reason=pool_exhausted", op);
    return c;
}

static inline void push(struct mg *m, mongoc_client_t *c)
{
    if (c) mongoc_client_pool_push(m->pool, c);
}

static inline mongoc_collection_t *coll(struct mg *m, mongoc_client_t *c, const char *name)
{
    return mongoc_client_get_collection(c, m->db, name);
}

/* Called with each document of a find; returns DROP_OK to go on. */
typedef drop_err (*doc_fn)(const bson_t *doc, void *ctx);

/* Runs find(filter, opts) on collection name and calls fn on each document.
 * Returns DROP_OK, fn's first error, or a mapped driver error. */
static inline drop_err find_each(struct mg *m, mongoc_client_t *c, const char *name,
                          const bson_t *filter, const bson_t *opts, doc_fn fn, void *ctx,
                          const char *op)
{
    drop_err e = DROP_OK;
    bson_error_t err;
    const bson_t *doc;
    mongoc_collection_t *col = coll(m, c, name);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(col, filter, opts, NULL);
    while (e == DROP_OK && mongoc_cursor_next(cur, &doc)) e = fn(doc, ctx);
    if (e == DROP_OK && mongoc_cursor_error(cur, &err)) e = map_err(&err, op);
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(col);
    return e;
}

/* find_each on a pooled client of its own: DROP_EUNAVAIL when none. */
static inline drop_err find_pooled(struct mg *m, const char *name, const bson_t *filter,
                                   const bson_t *opts, doc_fn fn, void *ctx, const char *op)
{
    drop_err e = DROP_EUNAVAIL;
    mongoc_client_t *c = pop(m, op);
    if (c) e = find_each(m, c, name, filter, opts, fn, ctx, op);
    push(m, c);
    return e;
}

static inline drop_err keep_first(const bson_t *doc, void *ctx)
{
    bson_t **out = ctx;
    if (!*out) *out = bson_copy(doc);
    return DROP_OK;
}

/* The first document matching filter (a copy the caller bson_destroy()s)
 * in *doc, or *doc = NULL when none. */
static inline drop_err find_one(struct mg *m, mongoc_client_t *c, const char *name,
                         const bson_t *filter, const bson_t *projection, bson_t **doc,
                         const char *op)
{
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_INT64(&opts, "limit", 1);
    if (projection) BSON_APPEND_DOCUMENT(&opts, "projection", projection);
    *doc = NULL;
    drop_err e = find_each(m, c, name, filter, &opts, keep_first, doc, op);
    if (e != DROP_OK && *doc) {
        bson_destroy(*doc);
        *doc = NULL;
    }
    bson_destroy(&opts);
    return e;
}

/* A count field of a write reply ("matchedCount", "deletedCount"). */
static inline int64_t reply_count(const bson_t *reply, const char *key)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, reply, key) ? bson_iter_as_int64(&it) : 0;
}

enum wr { WR_INSERT, WR_UPDATE, WR_UPDATE_MANY, WR_REPLACE, WR_REPLACE_UPSERT, WR_DELETE_ONE, WR_DELETE_MANY };

/* One write on collection name. doc is the document (insert), the update
 * or replacement; *n (may be NULL) the matched (update) or deleted count. */
static inline drop_err write1(struct mg *m, mongoc_client_t *c, const char *name, enum wr kind,
                       const bson_t *filter, const bson_t *doc, int64_t *n, const char *op)
{
    bson_error_t err;
    bson_t reply;
    bool ok = false;
    mongoc_collection_t *col = coll(m, c, name);
    bson_t opts = BSON_INITIALIZER;
    switch (kind) {
    case WR_INSERT:
        ok = mongoc_collection_insert_one(col, doc, NULL, &reply, &err);
        break;
    case WR_UPDATE:
        ok = mongoc_collection_update_one(col, filter, doc, NULL, &reply, &err);
        break;
    case WR_UPDATE_MANY:
        ok = mongoc_collection_update_many(col, filter, doc, NULL, &reply, &err);
        break;
    case WR_REPLACE:
    case WR_REPLACE_UPSERT:
        if (kind == WR_REPLACE_UPSERT) BSON_APPEND_BOOL(&opts, "upsert", true);
        ok = mongoc_collection_replace_one(col, filter, doc, &opts, &reply, &err);
        break;
    case WR_DELETE_ONE:
        ok = mongoc_collection_delete_one(col, filter, NULL, &reply, &err);
        break;
    case WR_DELETE_MANY:
        ok = mongoc_collection_delete_many(col, filter, NULL, &reply, &err);
        break;
    }
    if (ok && n)
        *n = reply_count(&reply, kind == WR_DELETE_ONE || kind == WR_DELETE_MANY
                                     ? "deletedCount" : "matchedCount");
    bson_destroy(&reply);
    bson_destroy(&opts);
    mongoc_collection_destroy(col);
    return ok ? DROP_OK : map_err(&err, op);
}

/* ---- field helpers --------------------------------------------------------- */

/* Parses a 24-hex id; false for anything else (no such object). */
static inline bool to_oid(const char *id, bson_oid_t *oid)
{
    if (!id || !id_valid(id)) return false;
    bson_oid_init_from_string(oid, id);
    return true;
}

static inline void oid_hex(const bson_iter_t *it, char out[DROP_ID_SIZE])
{
    if (BSON_ITER_HOLDS_OID(it)) bson_oid_to_string(bson_iter_oid(it), out);
    else if (BSON_ITER_HOLDS_UTF8(it)) snprintf(out, DROP_ID_SIZE, "%s", bson_iter_utf8(it, NULL));
    else out[0] = '\0';
}

/* Calls field(key, it, out) for each field of doc, in order: a reader's
 * one loop. False when doc cannot be iterated. */
static inline bool doc_fields(const bson_t *doc, void (*field)(const char *, bson_iter_t *, void *),
                              void *out)
{
    bson_iter_t it;
    if (!bson_iter_init(&it, doc)) return false;
    while (bson_iter_next(&it)) field(bson_iter_key(&it), &it, out);
    return true;
}

/* Copies a string field into a fixed buffer, truncating. */
static inline void it_copy(const bson_iter_t *it, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", BSON_ITER_HOLDS_UTF8(it) ? bson_iter_utf8(it, NULL) : "");
}

static inline char *it_dup(const bson_iter_t *it)
{
    return BSON_ITER_HOLDS_UTF8(it) ? xstrdup(bson_iter_utf8(it, NULL)) : NULL;
}

static inline bool it_number(const bson_iter_t *it)
{
    return BSON_ITER_HOLDS_INT32(it) || BSON_ITER_HOLDS_INT64(it) || BSON_ITER_HOLDS_DOUBLE(it);
}

static inline int64_t it_i64(const bson_iter_t *it)
{
    if (BSON_ITER_HOLDS_DATE_TIME(it)) return bson_iter_date_time(it);
    return it_number(it) ? bson_iter_as_int64(it) : 0;
}

static inline double it_dbl(const bson_iter_t *it)
{
    return it_number(it) ? bson_iter_as_double(it) : 0.0;
}

static inline void append_str_or_null(bson_t *d, const char *key, const char *v)
{
    if (v) bson_append_utf8(d, key, -1, v, -1);
    else bson_append_null(d, key, -1);
}

/* ---- the ops, one file per concept ----------------------------------------- */

void mg_close(void *impl);
drop_err mg_ping(void *impl);
drop_err mg_account_create(void *impl, const struct account *a, const char *pw_hash);
drop_err mg_account_get(void *impl, const char *id, struct account *out);
drop_err mg_account_by_identity(void *impl, const char *value, struct account *out,
                                       char **pw_hash);
drop_err mg_account_update(void *impl, const struct account *a);
drop_err mg_account_archive(void *impl, const char *id, int64_t now);
drop_err mg_account_list(void *impl, const struct account_filter *f, struct account **out,
                                size_t *nout);
drop_err mg_account_add_rating(void *impl, const char *id, bool as_operator, int rating,
                                      int64_t now);
drop_err mg_token_put(void *impl, const struct store_token *t);
drop_err mg_token_get_by_account(void *impl, const char *account, int64_t now,
                                        struct store_token *out);
drop_err mg_token_lookup(void *impl, const unsigned char hash[STORE_TOKEN_HASH_LEN],
                                int64_t now, struct store_token *out);
drop_err mg_token_touch(void *impl, const unsigned char hash[STORE_TOKEN_HASH_LEN],
                               int64_t expires_at);
drop_err mg_token_delete(void *impl, const unsigned char hash[STORE_TOKEN_HASH_LEN]);
drop_err mg_token_delete_by_account(void *impl, const char *account);
drop_err mg_record_create(void *impl, const struct record_kind *k, const void *rec);
drop_err mg_record_get(void *impl, const struct record_kind *k, const char *id, void *out);
drop_err mg_record_cas(void *impl, const struct record_kind *k, const void *rec,
                       int64_t expected_version);
drop_err mg_record_delete(void *impl, const struct record_kind *k, const char *id);
drop_err mg_record_list(void *impl, const struct record_kind *k, const struct record_page *p,
                        void **out, size_t *n);
drop_err mg_gig_list(void *impl, const struct gig_filter *f, struct gig **out,
                            size_t *nout);
drop_err mg_gig_for_account(void *impl, const char *account, struct gig **out,
                                   size_t *nout);
drop_err mg_gig_due(void *impl, int64_t now, int limit, struct gig **out, size_t *nout);
drop_err mg_gig_unrated(void *impl, const char *account, bool *unrated);
drop_err mg_job_list(void *impl, const struct job_filter *f, struct job **out,
                            size_t *nout);
drop_err mg_operator_lock_get(void *impl, const char *operator,
                                     struct store_operator_lock *out);
drop_err mg_operator_lock_cas(void *impl, const struct store_operator_lock *l,
                                     int64_t expected);
drop_err mg_message_create(void *impl, const struct message *msg);
drop_err mg_message_list(void *impl, const char *to, int64_t before, int limit,
                                struct message **out, size_t *nout);
drop_err mg_message_mark_read(void *impl, const char *to, const char (*ids)[DROP_ID_SIZE],
                                     size_t n, int64_t now);
drop_err mg_message_unread(void *impl, const char *to, int64_t *count);

/* ---- what the devices and codes files use -------------------------------- */

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
