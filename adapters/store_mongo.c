/* store_mongo.c - the store port on MongoDB (see store_mongo.h).
 *
 * Layout: driver setup (init once, the log handler), error mapping, the
 * per-call client helpers (pop / push a pooled client, find / write
 * wrappers), the document shapes (account, token, gig <-> BSON), one
 * function per store op, then open (URI options, ping, indexes).
 *
 * Documents:
 *   accounts {_id, firstName, lastName, type, status, archive, organization,
 *             picture, referralCode, referralRate, operatorRating,
 *             customerRating, counts {operatorRating, customerRating},
 *             identities [{_id, type, value, status, createdAt, updatedAt}],
 *             passwordHash, createdAt, updatedAt}
 *   tokens   {_id, hash (binary), sealed (binary), account (ObjectId),
 *             createdAt, expiresAt}
 *   gigs     the record of engine/gig_record.h with id -> _id and customer,
 *             operator, offers[].operator as ObjectIds, metaData as its JSON
 *             text (a sub-document would not round-trip exactly through a
 *             server that retypes numbers, nor take any key), plus nextTimer
 *             (gig_next_timer, 0 = none) for the sweep.
 *   messages {_id, from, to (ObjectIds), text, createdAt, readAt (null =
 *             unread)}
 *   jobs     {_id, title, description, client, worker (ObjectIds), status,
 *             statusLog [{status, at, by (ObjectId or null)}], createdAt,
 *             updatedAt, version}; job_cas is a findAndModify like gig_cas.
 *   operator_locks {_id (the operator's ObjectId), gig (ObjectId or null),
 *             version}: the booking records of store_operator_reserve;
 *             inserted once (a duplicate _id loses), then replaced by a
 *             findAndModify on the version like gig_cas.
 * Uniqueness: identity values are unique among ACTIVE accounts through a
 * unique multikey index on identities.value with a partialFilterExpression
 * {status: "active"}: archiving an account (one document update) takes its
 * values out of the index, which releases them. account_create also looks
 * for an active holder first, for a plain answer; the index is what decides
 * a race. E11000 from any write maps to DROP_ECONFLICT.
 * Compare-and-set: gig_cas is one findAndModify whose filter holds the
 * expected version; account_add_rating is a CAS loop on the vote count.
 * No multi-document transactions are used (see account_archive for the
 * order of its writes). */
#include <jansson.h>
#include <mongoc/mongoc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/store_mongo.h"
#include "adapters/store_mongo_internal.h"
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

/* ---- driver setup --------------------------------------------------------- */

static pthread_once_t driver_once = PTHREAD_ONCE_INIT;

/* Copies in to out, masking the password of any "scheme://user:pass@" in it
 * and turning quotes and line breaks into spaces (one log line, one field). */
static void mask_secrets(const char *in, char *out, size_t outlen)
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

/* The driver's log lines: warnings and worse to our log, the rest dropped
 * (the pool's monitor would otherwise write debug lines to stderr). */
static void driver_log(mongoc_log_level_t level, const char *domain, const char *message,
                       void *data)
{
    (void)data;
    char buf[1024];
    if (level > MONGOC_LOG_LEVEL_WARNING) return;
    mask_secrets(message, buf, sizeof buf);
    if (level == MONGOC_LOG_LEVEL_WARNING)
        log_warn("event=mongoc_log domain=%s msg=\"%s\"", domain ? domain : "", buf);
    else
        log_error("event=mongoc_log domain=%s msg=\"%s\"", domain ? domain : "", buf);
}

static void driver_init(void)
{
    mongoc_init();
    mongoc_log_set_handler(driver_log, NULL);
}

/* ---- errors --------------------------------------------------------------- */

static drop_err fail(drop_err e, char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static drop_err fail(drop_err e, char *why, size_t whylen, const char *fmt, ...)
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

static bool is_dup_key(const bson_error_t *err)
{
    return err->code == 11000 || err->code == 11001 || err->code == 12582;
}

/* Server error codes that mean "not now": host unreachable, network
 * timeout, shutting down, not primary, step-downs, time limits. */
static bool server_unavailable(uint32_t code)
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
static drop_err map_err(const bson_error_t *err, const char *op)
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
static mongoc_client_t *pop(struct mg *m, const char *op)
{
    mongoc_client_t *c = mongoc_client_pool_pop(m->pool);
    if (!c) log_warn("event=store_unavailable backend=mongodb op=%s reason=pool_exhausted", op);
    return c;
}

static void push(struct mg *m, mongoc_client_t *c)
{
    if (c) mongoc_client_pool_push(m->pool, c);
}

static mongoc_collection_t *coll(struct mg *m, mongoc_client_t *c, const char *name)
{
    return mongoc_client_get_collection(c, m->db, name);
}

/* Called with each document of a find; returns DROP_OK to go on. */
typedef drop_err (*doc_fn)(const bson_t *doc, void *ctx);

/* Runs find(filter, opts) on collection name and calls fn on each document.
 * Returns DROP_OK, fn's first error, or a mapped driver error. */
static drop_err find_each(struct mg *m, mongoc_client_t *c, const char *name,
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

static drop_err keep_first(const bson_t *doc, void *ctx)
{
    bson_t **out = ctx;
    if (!*out) *out = bson_copy(doc);
    return DROP_OK;
}

/* The first document matching filter (a copy the caller bson_destroy()s)
 * in *doc, or *doc = NULL when none. */
static drop_err find_one(struct mg *m, mongoc_client_t *c, const char *name,
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
static int64_t reply_count(const bson_t *reply, const char *key)
{
    bson_iter_t it;
    return bson_iter_init_find(&it, reply, key) ? bson_iter_as_int64(&it) : 0;
}

enum wr { WR_INSERT, WR_UPDATE, WR_UPDATE_MANY, WR_REPLACE, WR_REPLACE_UPSERT, WR_DELETE_ONE, WR_DELETE_MANY };

/* One write on collection name. doc is the document (insert), the update
 * or replacement; *n (may be NULL) the matched (update) or deleted count. */
static drop_err write1(struct mg *m, mongoc_client_t *c, const char *name, enum wr kind,
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
static bool to_oid(const char *id, bson_oid_t *oid)
{
    if (!id || !id_valid(id)) return false;
    bson_oid_init_from_string(oid, id);
    return true;
}

static void oid_hex(const bson_iter_t *it, char out[DROP_ID_SIZE])
{
    if (BSON_ITER_HOLDS_OID(it)) bson_oid_to_string(bson_iter_oid(it), out);
    else if (BSON_ITER_HOLDS_UTF8(it)) snprintf(out, DROP_ID_SIZE, "%s", bson_iter_utf8(it, NULL));
    else out[0] = '\0';
}

/* Copies a string field into a fixed buffer, truncating. */
static void it_copy(const bson_iter_t *it, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", BSON_ITER_HOLDS_UTF8(it) ? bson_iter_utf8(it, NULL) : "");
}

static char *it_dup(const bson_iter_t *it)
{
    return BSON_ITER_HOLDS_UTF8(it) ? xstrdup(bson_iter_utf8(it, NULL)) : NULL;
}

static bool it_number(const bson_iter_t *it)
{
    return BSON_ITER_HOLDS_INT32(it) || BSON_ITER_HOLDS_INT64(it) || BSON_ITER_HOLDS_DOUBLE(it);
}

static int64_t it_i64(const bson_iter_t *it)
{
    if (BSON_ITER_HOLDS_DATE_TIME(it)) return bson_iter_date_time(it);
    return it_number(it) ? bson_iter_as_int64(it) : 0;
}

static double it_dbl(const bson_iter_t *it)
{
    return it_number(it) ? bson_iter_as_double(it) : 0.0;
}

static void append_str_or_null(bson_t *d, const char *key, const char *v)
{
    if (v) bson_append_utf8(d, key, -1, v, -1);
    else bson_append_null(d, key, -1);
}

/* ---- accounts ------------------------------------------------------------- */

/* Appends the identities array of a; updated_at >= 0 replaces every
 * identity's updatedAt. False when an identity id is not an ObjectId. */
static bool append_identities(bson_t *d, const struct account *a, int64_t updated_at)
{
    bson_t arr, idn;
    bson_oid_t oid;
    char key[16];
    const char *k;
    bool ok = true;
    BSON_APPEND_ARRAY_BEGIN(d, "identities", &arr);
    for (size_t i = 0; i < a->n_identities && i < ACCOUNT_MAX_IDENTITIES; i++) {
        const struct identity *id = &a->identities[i];
        bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
        BSON_APPEND_DOCUMENT_BEGIN(&arr, k, &idn);
        if (!to_oid(id->id, &oid)) ok = false;
        else BSON_APPEND_OID(&idn, "_id", &oid);
        BSON_APPEND_UTF8(&idn, "type", id->type);
        BSON_APPEND_UTF8(&idn, "value", id->value);
        BSON_APPEND_UTF8(&idn, "status", id->status[0] ? id->status : "unverified");
        BSON_APPEND_INT64(&idn, "createdAt", id->created_at);
        BSON_APPEND_INT64(&idn, "updatedAt", updated_at >= 0 ? updated_at : id->updated_at);
        bson_append_document_end(&arr, &idn);
    }
    bson_append_array_end(d, &arr);
    return ok;
}

/* The account document. False when an id is not an ObjectId (a caller
 * bug: ids come from oid_new). */
static bool account_doc(const struct account *a, const char *pw_hash, bson_t *d)
{
    bson_oid_t oid;
    bson_t sub;
    if (!to_oid(a->id, &oid)) return false;
    BSON_APPEND_OID(d, "_id", &oid);
    BSON_APPEND_UTF8(d, "firstName", a->first_name ? a->first_name : "");
    BSON_APPEND_UTF8(d, "lastName", a->last_name ? a->last_name : "");
    BSON_APPEND_UTF8(d, "type", a->type);
    const char *status = a->status[0] ? a->status : "active";
    BSON_APPEND_UTF8(d, "status", status);
    BSON_APPEND_BOOL(d, "archive", strcmp(status, "archived") == 0);
    append_str_or_null(d, "organization", a->organization);
    append_str_or_null(d, "picture", a->picture);
    BSON_APPEND_UTF8(d, "referralCode", a->referral_code);
    BSON_APPEND_INT32(d, "referralRate", a->referral_rate);
    BSON_APPEND_DOUBLE(d, "operatorRating", a->operator_rating);
    BSON_APPEND_DOUBLE(d, "customerRating", a->customer_rating);
    BSON_APPEND_DOCUMENT_BEGIN(d, "counts", &sub);
    BSON_APPEND_INT64(&sub, "operatorRating", a->operator_rating_count);
    BSON_APPEND_INT64(&sub, "customerRating", a->customer_rating_count);
    bson_append_document_end(d, &sub);
    bool ok = append_identities(d, a, -1);
    BSON_APPEND_UTF8(d, "passwordHash", pw_hash ? pw_hash : "");
    BSON_APPEND_INT64(d, "createdAt", a->created_at);
    BSON_APPEND_INT64(d, "updatedAt", a->updated_at);
    return ok;
}

static void doc_identity(bson_iter_t *it, struct identity *id)
{
    memset(id, 0, sizeof *id);
    while (bson_iter_next(it)) {
        const char *k = bson_iter_key(it);
        if (!strcmp(k, "_id") || !strcmp(k, "id")) oid_hex(it, id->id);
        else if (!strcmp(k, "type")) it_copy(it, id->type, sizeof id->type);
        else if (!strcmp(k, "value")) it_copy(it, id->value, sizeof id->value);
        else if (!strcmp(k, "status")) it_copy(it, id->status, sizeof id->status);
        else if (!strcmp(k, "createdAt")) id->created_at = it_i64(it);
        else if (!strcmp(k, "updatedAt")) id->updated_at = it_i64(it);
    }
}

/* Fills a (initialized here) from an account document; *pw (when not
 * NULL) gets the password hash (heap). Unknown fields are ignored, missing
 * ones keep account_init's defaults. */
static void doc_account(const bson_t *doc, struct account *a, char **pw)
{
    bson_iter_t it, sub;
    account_init(a);
    if (pw) *pw = NULL;
    if (!bson_iter_init(&it, doc)) goto done;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (!strcmp(k, "_id")) oid_hex(&it, a->id);
        else if (!strcmp(k, "firstName")) { free(a->first_name); a->first_name = it_dup(&it); }
        else if (!strcmp(k, "lastName")) { free(a->last_name); a->last_name = it_dup(&it); }
        else if (!strcmp(k, "type")) it_copy(&it, a->type, sizeof a->type);
        else if (!strcmp(k, "status")) it_copy(&it, a->status, sizeof a->status);
        else if (!strcmp(k, "organization")) { free(a->organization); a->organization = it_dup(&it); }
        else if (!strcmp(k, "picture")) { free(a->picture); a->picture = it_dup(&it); }
        else if (!strcmp(k, "referralCode")) it_copy(&it, a->referral_code, sizeof a->referral_code);
        else if (!strcmp(k, "referralRate")) a->referral_rate = (int)it_i64(&it);
        else if (!strcmp(k, "operatorRating")) a->operator_rating = it_dbl(&it);
        else if (!strcmp(k, "customerRating")) a->customer_rating = it_dbl(&it);
        else if (!strcmp(k, "createdAt")) a->created_at = it_i64(&it);
        else if (!strcmp(k, "updatedAt")) a->updated_at = it_i64(&it);
        else if (!strcmp(k, "passwordHash") && pw) { free(*pw); *pw = it_dup(&it); }
        else if (!strcmp(k, "counts") && BSON_ITER_HOLDS_DOCUMENT(&it) && bson_iter_recurse(&it, &sub)) {
            while (bson_iter_next(&sub)) {
                if (!strcmp(bson_iter_key(&sub), "operatorRating"))
                    a->operator_rating_count = it_i64(&sub);
                else if (!strcmp(bson_iter_key(&sub), "customerRating"))
                    a->customer_rating_count = it_i64(&sub);
            }
        } else if (!strcmp(k, "identities") && BSON_ITER_HOLDS_ARRAY(&it) &&
                   bson_iter_recurse(&it, &sub)) {
            while (bson_iter_next(&sub) && a->n_identities < ACCOUNT_MAX_IDENTITIES) {
                bson_iter_t f;
                if (!BSON_ITER_HOLDS_DOCUMENT(&sub) || !bson_iter_recurse(&sub, &f)) continue;
                doc_identity(&f, &a->identities[a->n_identities++]);
            }
        }
    }
done:
    a->archive = strcmp(a->status, "archived") == 0;
    if (!a->first_name) a->first_name = xstrdup("");
    if (!a->last_name) a->last_name = xstrdup("");
    if (pw && !*pw) *pw = xstrdup("");
}

/* ---- ops: accounts ---------------------------------------------------------- */

static void mg_close(void *impl)
{
    struct mg *m = impl;
    if (!m) return;
    if (m->pool) mongoc_client_pool_destroy(m->pool);
    if (m->uri) mongoc_uri_destroy(m->uri);
    free(m);
}

static drop_err mg_ping(void *impl)
{
    struct mg *m = impl;
    bson_error_t err;
    mongoc_client_t *c = pop(m, "ping");
    if (!c) return DROP_EUNAVAIL;
    bson_t *cmd = BCON_NEW("ping", BCON_INT32(1));
    bool ok = mongoc_client_command_simple(c, m->db, cmd, NULL, NULL, &err);
    bson_destroy(cmd);
    push(m, c);
    if (ok) return DROP_OK;
    map_err(&err, "ping"); /* logged; whatever it is, the store does not answer */
    return DROP_EUNAVAIL;
}

static drop_err mg_account_create(void *impl, const struct account *a, const char *pw_hash)
{
    struct mg *m = impl;
    drop_err e = DROP_OK;
    bson_t doc = BSON_INITIALIZER, filter = BSON_INITIALIZER, values, *found = NULL;
    char key[16];
    const char *k;
    mongoc_client_t *c = NULL;
    if (!account_doc(a, pw_hash, &doc)) {
        e = DROP_EBADREQ;
        goto done;
    }
    if (!(c = pop(m, "account_create"))) {
        e = DROP_EUNAVAIL;
        goto done;
    }
    /* A plain answer for the common case; the partial unique index decides
     * races between two creations. */
    if (a->n_identities > 0) {
        bson_t in;
        BSON_APPEND_DOCUMENT_BEGIN(&filter, "identities.value", &values);
        BSON_APPEND_ARRAY_BEGIN(&values, "$in", &in);
        for (size_t i = 0; i < a->n_identities && i < ACCOUNT_MAX_IDENTITIES; i++) {
            bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
            bson_append_utf8(&in, k, -1, a->identities[i].value, -1);
        }
        bson_append_array_end(&values, &in);
        bson_append_document_end(&filter, &values);
        BSON_APPEND_UTF8(&filter, "status", "active");
        bson_t *proj = BCON_NEW("_id", BCON_INT32(1));
        e = find_one(m, c, C_ACCOUNTS, &filter, proj, &found, "account_create");
        bson_destroy(proj);
        if (e != DROP_OK) goto done;
        if (found) {
            e = DROP_ECONFLICT;
            goto done;
        }
    }
    e = write1(m, c, C_ACCOUNTS, WR_INSERT, NULL, &doc, NULL, "account_create");
done:
    if (found) bson_destroy(found);
    push(m, c);
    bson_destroy(&filter);
    bson_destroy(&doc);
    return e;
}

/* Reads the one account matching filter into out (and its password hash). */
static drop_err account_read(struct mg *m, const bson_t *filter, struct account *out, char **pw,
                             const char *op)
{
    bson_t *doc = NULL;
    mongoc_client_t *c = pop(m, op);
    if (!c) return DROP_EUNAVAIL;
    drop_err e = find_one(m, c, C_ACCOUNTS, filter, NULL, &doc, op);
    push(m, c);
    if (e != DROP_OK) return e;
    if (!doc) return DROP_ENOTFOUND;
    doc_account(doc, out, pw);
    bson_destroy(doc);
    return DROP_OK;
}

static drop_err mg_account_get(void *impl, const char *id, struct account *out)
{
    bson_oid_t oid;
    if (!to_oid(id, &oid)) return DROP_ENOTFOUND;
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid));
    drop_err e = account_read(impl, filter, out, NULL, "account_get");
    bson_destroy(filter);
    return e;
}

static drop_err mg_account_by_identity(void *impl, const char *value, struct account *out,
                                       char **pw_hash)
{
    char *pw = NULL;
    if (!value) return DROP_ENOTFOUND;
    bson_t *filter = BCON_NEW("identities.value", BCON_UTF8(value), "status", BCON_UTF8("active"));
    drop_err e = account_read(impl, filter, out, &pw, "account_by_identity");
    bson_destroy(filter);
    if (e == DROP_OK && pw_hash) *pw_hash = pw;
    else free(pw);
    return e;
}

static drop_err mg_account_update(void *impl, const struct account *a)
{
    struct mg *m = impl;
    bson_oid_t oid;
    int64_t matched = 0;
    if (!to_oid(a->id, &oid)) return DROP_ENOTFOUND;
    mongoc_client_t *c = pop(m, "account_update");
    if (!c) return DROP_EUNAVAIL;
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid), "status", BCON_UTF8("active"));
    bson_t update = BSON_INITIALIZER, set;
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BSON_APPEND_UTF8(&set, "firstName", a->first_name ? a->first_name : "");
    BSON_APPEND_UTF8(&set, "lastName", a->last_name ? a->last_name : "");
    append_str_or_null(&set, "organization", a->organization);
    append_str_or_null(&set, "picture", a->picture);
    BSON_APPEND_INT64(&set, "updatedAt", a->updated_at);
    bson_append_document_end(&update, &set);
    drop_err e = write1(m, c, C_ACCOUNTS, WR_UPDATE, filter, &update, &matched, "account_update");
    push(m, c);
    bson_destroy(&update);
    bson_destroy(filter);
    if (e == DROP_OK && matched == 0) e = DROP_ENOTFOUND;
    return e;
}

/* Archiving touches two collections and uses no transaction (a test server
 * that does not roll back, and no replica set needed). The writes are
 * ordered so that a crash between any two leaves nothing that matters:
 *   0. read the active account (none: DROP_ENOTFOUND, nothing written);
 *   1. delete the account's tokens: a crash here leaves an active account
 *      logged out, which its owner fixes by logging in;
 *   2. archive the account in ONE document update, guarded by status
 *      "active" (status, archive flag, updatedAt, and the identities array
 *      rewritten with their updatedAt: identities change nowhere else, and
 *      a positional $[] update is not understood by the test server): this
 *      is the commit point; the partial unique index drops the identity
 *      values, which releases them;
 *   3. delete its tokens again: catches a login that stored a token between
 *      1 and 2 (a crash before 3 can leave such a token behind, as a login
 *      racing the archive can on any backend: token users check the
 *      account's status). */
static drop_err mg_account_archive(void *impl, const char *id, int64_t now)
{
    struct mg *m = impl;
    bson_oid_t oid;
    bson_t *doc = NULL;
    int64_t matched = 0;
    struct account a;
    if (!to_oid(id, &oid)) return DROP_ENOTFOUND;
    mongoc_client_t *c = pop(m, "account_archive");
    if (!c) return DROP_EUNAVAIL;
    account_init(&a);
    bson_t *tok = BCON_NEW("account", BCON_OID(&oid));
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid), "status", BCON_UTF8("active"));
    bson_t *proj = BCON_NEW("identities", BCON_INT32(1));
    bson_t update = BSON_INITIALIZER, set;
    drop_err e = find_one(m, c, C_ACCOUNTS, filter, proj, &doc, "account_archive");
    if (e == DROP_OK && !doc) e = DROP_ENOTFOUND;
    if (e == DROP_OK) {
        account_free(&a);
        doc_account(doc, &a, NULL);
        e = write1(m, c, C_TOKENS, WR_DELETE_MANY, tok, NULL, NULL, "account_archive");
    }
    if (e == DROP_OK) {
        BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
        BSON_APPEND_UTF8(&set, "status", "archived");
        BSON_APPEND_BOOL(&set, "archive", true);
        BSON_APPEND_INT64(&set, "updatedAt", now);
        if (!append_identities(&set, &a, now)) e = DROP_EINTERNAL; /* a corrupt stored id */
        bson_append_document_end(&update, &set);
    }
    if (e == DROP_OK)
        e = write1(m, c, C_ACCOUNTS, WR_UPDATE, filter, &update, &matched, "account_archive");
    if (e == DROP_OK && matched == 0) e = DROP_ENOTFOUND; /* archived meanwhile */
    if (e == DROP_OK) e = write1(m, c, C_TOKENS, WR_DELETE_MANY, tok, NULL, NULL, "account_archive");
    push(m, c);
    account_free(&a);
    if (doc) bson_destroy(doc);
    bson_destroy(&update);
    bson_destroy(proj);
    bson_destroy(filter);
    bson_destroy(tok);
    return e;
}

/* Appends a regex matching q as a substring with ASCII letters of either
 * case and every other character literal: what the SQLite backend's
 * instr(lower(x), lower(q)) matches. */
static void append_substring_regex(bson_t *d, const char *key, const char *q)
{
    char re[ACCOUNT_IDENTITY_MAX * 4 + 1];
    size_t o = 0;
    for (size_t i = 0; q[i] && i < ACCOUNT_IDENTITY_MAX; i++) {
        unsigned char ch = (unsigned char)q[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) {
            char lo = (char)(ch | 0x20);
            re[o++] = '[';
            re[o++] = lo;
            re[o++] = (char)(lo - 'a' + 'A');
            re[o++] = ']';
        } else if (ch < 0x80 && !(ch >= '0' && ch <= '9') && ch != ' ' && ch != '@') {
            re[o++] = '\\';
            re[o++] = (char)ch;
        } else {
            re[o++] = (char)ch;
        }
    }
    re[o] = '\0';
    bson_t sub;
    BSON_APPEND_DOCUMENT_BEGIN(d, key, &sub);
    BSON_APPEND_UTF8(&sub, "$regex", re);
    bson_append_document_end(d, &sub);
}

struct acc_list {
    struct account *arr;
    size_t n, cap;
};

static drop_err collect_account(const bson_t *doc, void *ctx)
{
    struct acc_list *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->arr = xrealloc(l->arr, l->cap * sizeof *l->arr);
    }
    doc_account(doc, &l->arr[l->n++], NULL);
    return DROP_OK;
}

static drop_err mg_account_list(void *impl, const struct account_filter *f, struct account **out,
                                size_t *nout)
{
    struct mg *m = impl;
    struct acc_list l = {0};
    int limit = f->limit < 1 ? ACCOUNT_LIST_DEFAULT : f->limit;
    if (limit > ACCOUNT_LIST_MAX) limit = ACCOUNT_LIST_MAX;
    if (f->skip < 0) return DROP_EBADREQ;
    bson_t filter = BSON_INITIALIZER, or, alt;
    if (f->type) BSON_APPEND_UTF8(&filter, "type", f->type);
    if (f->status) BSON_APPEND_UTF8(&filter, "status", f->status);
    if (f->q) {
        static const char *const fields[] = {"firstName", "lastName", "identities.value"};
        BSON_APPEND_ARRAY_BEGIN(&filter, "$or", &or);
        for (int i = 0; i < 3; i++) {
            char key[4];
            snprintf(key, sizeof key, "%d", i);
            BSON_APPEND_DOCUMENT_BEGIN(&or, key, &alt);
            append_substring_regex(&alt, fields[i], f->q);
            bson_append_document_end(&or, &alt);
        }
        bson_append_array_end(&filter, &or);
    }
    bson_t *opts = BCON_NEW("sort", "{", "createdAt", BCON_INT32(-1), "_id", BCON_INT32(-1), "}",
                            "skip", BCON_INT64(f->skip), "limit", BCON_INT64(limit),
                            "projection", "{", "passwordHash", BCON_INT32(0), "}");
    drop_err e = DROP_EUNAVAIL;
    mongoc_client_t *c = pop(m, "account_list");
    if (c) e = find_each(m, c, C_ACCOUNTS, &filter, opts, collect_account, &l, "account_list");
    push(m, c);
    bson_destroy(opts);
    bson_destroy(&filter);
    if (e == DROP_OK) {
        *out = l.n ? l.arr : NULL;
        *nout = l.n;
        if (!l.n) free(l.arr);
    } else {
        account_array_free(l.arr, l.n);
    }
    return e;
}

/* A CAS loop on the vote count: read the average and its count, write the
 * new ones only if the count is still the one read (it only grows, so no
 * ABA). Atomic on any MongoDB, no update pipeline needed. */
static drop_err mg_account_add_rating(void *impl, const char *id, bool as_operator, int rating,
                                      int64_t now)
{
    struct mg *m = impl;
    bson_oid_t oid;
    drop_err e = DROP_ECONFLICT;
    const char *avg_key = as_operator ? "operatorRating" : "customerRating";
    const char *cnt_key = as_operator ? "counts.operatorRating" : "counts.customerRating";
    if (!account_rating_valid(rating)) return DROP_EBADREQ;
    if (!to_oid(id, &oid)) return DROP_ENOTFOUND;
    mongoc_client_t *c = pop(m, "account_add_rating");
    if (!c) return DROP_EUNAVAIL;
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid));
    bson_t *proj = BCON_NEW(avg_key, BCON_INT32(1), "counts", BCON_INT32(1));
    for (int tries = 0; tries < RATING_CAS_TRIES && e == DROP_ECONFLICT; tries++) {
        bson_t *doc = NULL;
        int64_t matched = 0;
        if ((e = find_one(m, c, C_ACCOUNTS, filter, proj, &doc, "account_add_rating")) != DROP_OK)
            break;
        if (!doc) {
            e = DROP_ENOTFOUND;
            break;
        }
        struct account a;
        doc_account(doc, &a, NULL);
        bson_destroy(doc);
        double avg = as_operator ? a.operator_rating : a.customer_rating;
        int64_t count = as_operator ? a.operator_rating_count : a.customer_rating_count;
        account_free(&a);
        double next = (avg * (double)count + (double)rating) / (double)(count + 1);
        bson_t *cas = BCON_NEW("_id", BCON_OID(&oid), cnt_key, BCON_INT64(count));
        bson_t *update = BCON_NEW("$set", "{", avg_key, BCON_DOUBLE(next), cnt_key,
                                  BCON_INT64(count + 1), "updatedAt", BCON_INT64(now), "}");
        e = write1(m, c, C_ACCOUNTS, WR_UPDATE, cas, update, &matched, "account_add_rating");
        bson_destroy(update);
        bson_destroy(cas);
        if (e == DROP_OK && matched == 0) e = DROP_ECONFLICT; /* another vote won: again */
    }
    if (e == DROP_ECONFLICT)
        log_error("event=store_error backend=mongodb op=account_add_rating reason=cas_exhausted");
    push(m, c);
    bson_destroy(proj);
    bson_destroy(filter);
    return e == DROP_ECONFLICT ? DROP_EUNAVAIL : e;
}

/* ---- tokens ------------------------------------------------------------------ */

static void token_doc(const struct store_token *t, const bson_oid_t *account, bson_t *d)
{
    BSON_APPEND_BINARY(d, "hash", BSON_SUBTYPE_BINARY, t->hash, STORE_TOKEN_HASH_LEN);
    BSON_APPEND_BINARY(d, "sealed", BSON_SUBTYPE_BINARY, t->sealed, (uint32_t)t->sealed_len);
    BSON_APPEND_OID(d, "account", account);
    BSON_APPEND_INT64(d, "createdAt", t->created_at);
    BSON_APPEND_INT64(d, "expiresAt", t->expires_at);
}

static void doc_token(const bson_t *doc, struct store_token *t)
{
    bson_iter_t it;
    memset(t, 0, sizeof *t);
    if (!bson_iter_init(&it, doc)) return;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        const uint8_t *bin;
        uint32_t len;
        bson_subtype_t sub;
        if (!strcmp(k, "hash") && BSON_ITER_HOLDS_BINARY(&it)) {
            bson_iter_binary(&it, &sub, &len, &bin);
            if (len == STORE_TOKEN_HASH_LEN) memcpy(t->hash, bin, len);
        } else if (!strcmp(k, "sealed") && BSON_ITER_HOLDS_BINARY(&it)) {
            bson_iter_binary(&it, &sub, &len, &bin);
            if (len > 0 && len <= STORE_SEALED_MAX) {
                memcpy(t->sealed, bin, len);
                t->sealed_len = len;
            }
        } else if (!strcmp(k, "account")) {
            oid_hex(&it, t->account);
        } else if (!strcmp(k, "createdAt")) {
            t->created_at = it_i64(&it);
        } else if (!strcmp(k, "expiresAt")) {
            t->expires_at = it_i64(&it);
        }
    }
}

/* One token per account: an upsert replacing the account's token document
 * (atomic per document). Two racing puts on a real MongoDB may both try to
 * insert: the unique index on account refuses one, which then replaces. */
static drop_err mg_token_put(void *impl, const struct store_token *t)
{
    struct mg *m = impl;
    bson_oid_t acc;
    bson_t *found = NULL;
    drop_err e;
    if (t->sealed_len == 0 || t->sealed_len > STORE_SEALED_MAX) return DROP_EBADREQ;
    if (!to_oid(t->account, &acc)) return DROP_ENOTFOUND;
    mongoc_client_t *c = pop(m, "token_put");
    if (!c) return DROP_EUNAVAIL;
    bson_t *afilter = BCON_NEW("_id", BCON_OID(&acc));
    bson_t *proj = BCON_NEW("_id", BCON_INT32(1));
    bson_t *tfilter = BCON_NEW("account", BCON_OID(&acc));
    bson_t doc = BSON_INITIALIZER;
    token_doc(t, &acc, &doc);
    e = find_one(m, c, C_ACCOUNTS, afilter, proj, &found, "token_put");
    if (e == DROP_OK && !found) e = DROP_ENOTFOUND;
    if (e == DROP_OK) {
        e = write1(m, c, C_TOKENS, WR_REPLACE_UPSERT, tfilter, &doc, NULL, "token_put");
        if (e == DROP_ECONFLICT) /* lost the insert race: now it exists, replace it */
            e = write1(m, c, C_TOKENS, WR_REPLACE_UPSERT, tfilter, &doc, NULL, "token_put");
    }
    push(m, c);
    if (found) bson_destroy(found);
    bson_destroy(&doc);
    bson_destroy(tfilter);
    bson_destroy(proj);
    bson_destroy(afilter);
    return e;
}

/* Reads the token matching filter; deletes it when expired. miss is the
 * code for none / expired. */
static drop_err token_read(struct mg *m, const bson_t *filter, int64_t now, drop_err miss,
                           struct store_token *out, const char *op)
{
    bson_t *doc = NULL;
    struct store_token t;
    mongoc_client_t *c = pop(m, op);
    if (!c) return DROP_EUNAVAIL;
    drop_err e = find_one(m, c, C_TOKENS, filter, NULL, &doc, op);
    if (e == DROP_OK && !doc) e = miss;
    if (e == DROP_OK) {
        doc_token(doc, &t);
        if (t.expires_at <= now) {
            bson_iter_t it;
            if (bson_iter_init_find(&it, doc, "_id") && BSON_ITER_HOLDS_OID(&it)) {
                bson_t *del = BCON_NEW("_id", BCON_OID(bson_iter_oid(&it)), "expiresAt",
                                       BCON_INT64(t.expires_at));
                write1(m, c, C_TOKENS, WR_DELETE_ONE, del, NULL, NULL, op); /* logged; a miss */
                bson_destroy(del);
            }
            e = miss;
        } else {
            *out = t;
        }
    }
    if (doc) bson_destroy(doc);
    push(m, c);
    return e;
}

static drop_err mg_token_get_by_account(void *impl, const char *account, int64_t now,
                                        struct store_token *out)
{
    bson_oid_t acc;
    if (!to_oid(account, &acc)) return DROP_ENOTFOUND;
    bson_t *filter = BCON_NEW("account", BCON_OID(&acc));
    drop_err e = token_read(impl, filter, now, DROP_ENOTFOUND, out, "token_get_by_account");
    bson_destroy(filter);
    return e;
}

static drop_err mg_token_lookup(void *impl, const unsigned char hash[STORE_TOKEN_HASH_LEN],
                                int64_t now, struct store_token *out)
{
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_BINARY(&filter, "hash", BSON_SUBTYPE_BINARY, hash, STORE_TOKEN_HASH_LEN);
    drop_err e = token_read(impl, &filter, now, DROP_EUNAUTH, out, "token_lookup");
    bson_destroy(&filter);
    return e;
}

/* Read, then replace the token document (guarded by its _id and hash) with
 * the new expiry: the same on MongoDB as a $set, and the CongoDB test
 * server's $set path mangles binary fields (it re-clones the document
 * without knowing Binary). A token deleted in between is not brought back
 * (no upsert): DROP_EUNAUTH. */
static drop_err mg_token_touch(void *impl, const unsigned char hash[STORE_TOKEN_HASH_LEN],
                               int64_t expires_at)
{
    struct mg *m = impl;
    int64_t matched = 0;
    bson_t *doc = NULL;
    bson_t filter = BSON_INITIALIZER, cas = BSON_INITIALIZER, repl = BSON_INITIALIZER;
    bson_iter_t it;
    bson_oid_t acc;
    struct store_token t;
    mongoc_client_t *c = pop(m, "token_touch");
    if (!c) return DROP_EUNAVAIL;
    BSON_APPEND_BINARY(&filter, "hash", BSON_SUBTYPE_BINARY, hash, STORE_TOKEN_HASH_LEN);
    drop_err e = find_one(m, c, C_TOKENS, &filter, NULL, &doc, "token_touch");
    if (e == DROP_OK && !doc) e = DROP_EUNAUTH;
    if (e == DROP_OK) {
        doc_token(doc, &t);
        if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_OID(&it) ||
            !to_oid(t.account, &acc) || t.sealed_len == 0) {
            log_error("event=store_error backend=mongodb op=token_touch reason=bad_document");
            e = DROP_EINTERNAL;
        }
    }
    if (e == DROP_OK) {
        BSON_APPEND_OID(&cas, "_id", bson_iter_oid(&it));
        BSON_APPEND_BINARY(&cas, "hash", BSON_SUBTYPE_BINARY, hash, STORE_TOKEN_HASH_LEN);
        t.expires_at = expires_at;
        token_doc(&t, &acc, &repl);
        e = write1(m, c, C_TOKENS, WR_REPLACE, &cas, &repl, &matched, "token_touch");
        if (e == DROP_OK && matched == 0) e = DROP_EUNAUTH;
    }
    push(m, c);
    if (doc) bson_destroy(doc);
    bson_destroy(&repl);
    bson_destroy(&cas);
    bson_destroy(&filter);
    return e;
}

static drop_err token_delete_where(struct mg *m, const bson_t *filter, const char *op)
{
    mongoc_client_t *c = pop(m, op);
    if (!c) return DROP_EUNAVAIL;
    drop_err e = write1(m, c, C_TOKENS, WR_DELETE_MANY, filter, NULL, NULL, op);
    push(m, c);
    return e;
}

static drop_err mg_token_delete(void *impl, const unsigned char hash[STORE_TOKEN_HASH_LEN])
{
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_BINARY(&filter, "hash", BSON_SUBTYPE_BINARY, hash, STORE_TOKEN_HASH_LEN);
    drop_err e = token_delete_where(impl, &filter, "token_delete");
    bson_destroy(&filter);
    return e;
}

static drop_err mg_token_delete_by_account(void *impl, const char *account)
{
    bson_oid_t acc;
    if (!to_oid(account, &acc)) return DROP_OK;
    bson_t *filter = BCON_NEW("account", BCON_OID(&acc));
    drop_err e = token_delete_where(impl, filter, "token_delete_by_account");
    bson_destroy(filter);
    return e;
}

/* ---- gigs: record <-> document ------------------------------------------------ */

/* Appends a JSON value of the gig record as BSON. as_oid: a 24-hex string
 * becomes an ObjectId (ids); null stays null. */
static bool json_append(bson_t *d, const char *key, const json_t *v, bool as_oid)
{
    bson_oid_t oid;
    switch (json_typeof(v)) {
    case JSON_STRING:
        if (as_oid) {
            if (!to_oid(json_string_value(v), &oid)) return false;
            return bson_append_oid(d, key, -1, &oid);
        }
        return bson_append_utf8(d, key, -1, json_string_value(v), (int)json_string_length(v));
    case JSON_INTEGER:
        return bson_append_int64(d, key, -1, (int64_t)json_integer_value(v));
    case JSON_REAL:
        return bson_append_double(d, key, -1, json_real_value(v));
    case JSON_TRUE:
    case JSON_FALSE:
        return bson_append_bool(d, key, -1, json_is_true(v));
    case JSON_NULL:
        return bson_append_null(d, key, -1);
    default:
        return false; /* objects and arrays are handled by the caller */
    }
}

/* The gig document: the record's fields, ids as ObjectIds, metaData as
 * text, plus nextTimer. False when g cannot be stored (a caller bug). */
static bool gig_doc(const struct gig *g, bson_t *d)
{
    json_t *rec = gig_record_to_json(g);
    const char *key;
    json_t *v;
    bool ok = rec != NULL;
    if (!ok) return false;
    json_t *id = json_object_get(rec, "id");
    ok = json_is_string(id) && json_append(d, "_id", id, true);
    json_object_foreach(rec, key, v) {
        if (!ok) break;
        if (!strcmp(key, "id")) continue;
        if (!strcmp(key, "customer") || !strcmp(key, "operator")) {
            ok = json_append(d, key, v, true);
        } else if (!strcmp(key, "metaData")) {
            if (json_is_null(v)) {
                ok = bson_append_null(d, key, -1);
            } else {
                char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
                ok = text && bson_append_utf8(d, key, -1, text, -1);
                free(text);
            }
        } else if ((!strcmp(key, "offers") || !strcmp(key, "timeline")) && json_is_array(v)) {
            bson_t arr, off;
            size_t i;
            json_t *o;
            ok = BSON_APPEND_ARRAY_BEGIN(d, key, &arr);
            json_array_foreach(v, i, o) {
                char ik[16];
                const char *k;
                const char *ok2;
                json_t *f;
                if (!ok || !json_is_object(o)) { ok = false; break; }
                bson_uint32_to_string((uint32_t)i, &k, ik, sizeof ik);
                BSON_APPEND_DOCUMENT_BEGIN(&arr, k, &off);
                json_object_foreach(o, ok2, f) {
                    if (!ok) break;
                    ok = json_append(&off, ok2, f, !strcmp(key, "offers") && !strcmp(ok2, "operator"));
                }
                bson_append_document_end(&arr, &off);
            }
            bson_append_array_end(d, &arr);
        } else {
            ok = json_append(d, key, v, false);
        }
    }
    if (ok) ok = BSON_APPEND_INT64(d, "nextTimer", gig_next_timer(g));
    json_decref(rec);
    return ok;
}

/* A BSON value of a gig document as JSON (ObjectIds as hex, numbers as they
 * come: gig_record_from_json accepts retyped numbers), or NULL for a type a
 * record never holds. depth bounds nesting. */
static json_t *bson_to_json(bson_iter_t *it, int depth)
{
    char hex[DROP_ID_SIZE];
    bson_iter_t sub;
    switch (bson_iter_type(it)) {
    case BSON_TYPE_OID:
        bson_oid_to_string(bson_iter_oid(it), hex);
        return json_string(hex);
    case BSON_TYPE_UTF8: {
        uint32_t len;
        const char *s = bson_iter_utf8(it, &len);
        return json_stringn(s, len);
    }
    case BSON_TYPE_INT32:
    case BSON_TYPE_INT64:
        return json_integer(bson_iter_as_int64(it));
    case BSON_TYPE_DOUBLE:
        return json_real(bson_iter_double(it));
    case BSON_TYPE_BOOL:
        return json_boolean(bson_iter_bool(it));
    case BSON_TYPE_NULL:
        return json_null();
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY: {
        bool is_arr = BSON_ITER_HOLDS_ARRAY(it);
        if (depth <= 0 || !bson_iter_recurse(it, &sub)) return NULL;
        json_t *out = is_arr ? json_array() : json_object();
        while (bson_iter_next(&sub)) {
            json_t *v = bson_to_json(&sub, depth - 1);
            if (!v) {
                json_decref(out);
                return NULL;
            }
            if (is_arr) json_array_append_new(out, v);
            else json_object_set_new(out, bson_iter_key(&sub), v);
        }
        return out;
    }
    default:
        return NULL;
    }
}

/* Reads a gig document into out via its record. DROP_EINTERNAL (logged)
 * for a document that is not a valid gig. */
static drop_err doc_gig(const bson_t *doc, struct gig *out)
{
    bson_iter_t it;
    drop_err e = DROP_EINTERNAL;
    const char *bad = "";
    json_t *rec = json_object();
    if (!bson_iter_init(&it, doc)) goto done;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (!strcmp(k, "nextTimer")) continue;
        if (!strcmp(k, "metaData") && BSON_ITER_HOLDS_UTF8(&it)) {
            uint32_t len;
            const char *s = bson_iter_utf8(&it, &len);
            json_t *meta = json_loadb(s, len, JSON_DECODE_ANY, NULL);
            if (!meta) { bad = k; goto done; }
            json_object_set_new(rec, k, meta);
            continue;
        }
        json_t *v = bson_to_json(&it, BSON_JSON_DEPTH);
        if (!v) { bad = k; goto done; }
        json_object_set_new(rec, !strcmp(k, "_id") ? "id" : k, v);
    }
    e = gig_record_from_json(rec, out);
done:
    if (e != DROP_OK)
        log_error("event=store_error backend=mongodb op=gig_read reason=bad_document field=%s",
                  bad[0] ? bad : "record");
    json_decref(rec);
    return e;
}

/* ---- ops: gigs -------------------------------------------------------------------- */

static drop_err mg_gig_create(void *impl, const struct gig *g)
{
    struct mg *m = impl;
    bson_t doc = BSON_INITIALIZER;
    drop_err e = DROP_EBADREQ;
    if (g->version >= 1 && gig_doc(g, &doc)) {
        mongoc_client_t *c = pop(m, "gig_create");
        e = c ? write1(m, c, C_GIGS, WR_INSERT, NULL, &doc, NULL, "gig_create") : DROP_EUNAVAIL;
        push(m, c);
    }
    bson_destroy(&doc);
    return e;
}

static drop_err mg_gig_get(void *impl, const char *id, struct gig *out)
{
    struct mg *m = impl;
    bson_oid_t oid;
    bson_t *doc = NULL;
    if (!to_oid(id, &oid)) return DROP_ENOTFOUND;
    mongoc_client_t *c = pop(m, "gig_get");
    if (!c) return DROP_EUNAVAIL;
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid));
    drop_err e = find_one(m, c, C_GIGS, filter, NULL, &doc, "gig_get");
    push(m, c);
    bson_destroy(filter);
    if (e == DROP_OK && !doc) e = DROP_ENOTFOUND;
    if (e == DROP_OK) e = doc_gig(doc, out);
    if (doc) bson_destroy(doc);
    return e;
}

/* The compare-and-set of gigs and jobs: one findAndModify replacing the
 * document of oid in collection name only where {_id, version: expected}.
 * No match: the object is either gone (DROP_ENOTFOUND) or another writer
 * moved the version on (DROP_ECONFLICT). Takes nothing; doc is borrowed. */
static drop_err versioned_replace(struct mg *m, const char *name, const bson_oid_t *oid,
                                  int64_t expected_version, const bson_t *doc, const char *what)
{
    bson_error_t err;
    bson_t reply, *found = NULL;
    drop_err e = DROP_OK;
    mongoc_client_t *c = pop(m, what);
    if (!c) return DROP_EUNAVAIL;
    mongoc_collection_t *col = coll(m, c, name);
    bson_t *filter = BCON_NEW("_id", BCON_OID(oid), "version", BCON_INT64(expected_version));
    mongoc_find_and_modify_opts_t *opts = mongoc_find_and_modify_opts_new();
    mongoc_find_and_modify_opts_set_update(opts, doc);
    if (!mongoc_collection_find_and_modify_with_opts(col, filter, opts, &reply, &err)) {
        e = map_err(&err, what);
    } else {
        bson_iter_t it;
        if (!(bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it))) {
            bson_t *byid = BCON_NEW("_id", BCON_OID(oid));
            bson_t *proj = BCON_NEW("_id", BCON_INT32(1));
            e = find_one(m, c, name, byid, proj, &found, what);
            if (e == DROP_OK) e = found ? DROP_ECONFLICT : DROP_ENOTFOUND;
            bson_destroy(proj);
            bson_destroy(byid);
        }
    }
    bson_destroy(&reply);
    mongoc_find_and_modify_opts_destroy(opts);
    bson_destroy(filter);
    mongoc_collection_destroy(col);
    push(m, c);
    if (found) bson_destroy(found);
    return e;
}

static drop_err mg_gig_cas(void *impl, const struct gig *g, int64_t expected_version)
{
    struct mg *m = impl;
    bson_oid_t oid;
    bson_t doc = BSON_INITIALIZER;
    drop_err e = DROP_EBADREQ;
    /* a version that does not move forward is the caller's bug */
    if (to_oid(g->id, &oid) && expected_version >= 1 && g->version > expected_version &&
        gig_doc(g, &doc))
        e = versioned_replace(m, C_GIGS, &oid, expected_version, &doc, "gig_cas");
    bson_destroy(&doc);
    return e;
}

struct gig_list {
    struct gig *arr;
    size_t n, cap;
};

static drop_err collect_gig(const bson_t *doc, void *ctx)
{
    struct gig_list *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->arr = xrealloc(l->arr, l->cap * sizeof *l->arr);
    }
    /* a corrupt document is logged (doc_gig) and skipped: one bad record
     * must not hide the others, the sweep's above all */
    if (doc_gig(doc, &l->arr[l->n]) == DROP_OK) l->n++;
    return DROP_OK;
}

/* Runs a gig query and hands out the array (gig_array_free). */
static drop_err gig_query(struct mg *m, const bson_t *filter, const bson_t *opts,
                          struct gig **out, size_t *nout, const char *op)
{
    struct gig_list l = {0};
    drop_err e = DROP_EUNAVAIL;
    mongoc_client_t *c = pop(m, op);
    if (c) e = find_each(m, c, C_GIGS, filter, opts, collect_gig, &l, op);
    push(m, c);
    if (e == DROP_OK) {
        *out = l.n ? l.arr : NULL;
        *nout = l.n;
        if (!l.n) free(l.arr);
    } else {
        gig_array_free(l.arr, l.n);
    }
    return e;
}

static void append_party(bson_t *d, const char *key, const bson_oid_t *acc)
{
    bson_t or, alt;
    BSON_APPEND_ARRAY_BEGIN(d, key, &or);
    BSON_APPEND_DOCUMENT_BEGIN(&or, "0", &alt);
    BSON_APPEND_OID(&alt, "customer", acc);
    bson_append_document_end(&or, &alt);
    BSON_APPEND_DOCUMENT_BEGIN(&or, "1", &alt);
    BSON_APPEND_OID(&alt, "operator", acc);
    bson_append_document_end(&or, &alt);
    bson_append_array_end(d, &or);
}

static drop_err mg_gig_list(void *impl, const struct gig_filter *f, struct gig **out,
                            size_t *nout)
{
    bson_oid_t acc;
    if (f->limit < 1 || f->limit > GIG_LIST_MAX || f->before < 0) return DROP_EBADREQ;
    if (f->has_status && (unsigned)f->status >= GIG_STATUS__COUNT) return DROP_EBADREQ;
    if (f->account && !to_oid(f->account, &acc)) {
        *out = NULL;
        *nout = 0;
        return DROP_OK;
    }
    bson_t filter = BSON_INITIALIZER, lt;
    if (f->account) append_party(&filter, "$or", &acc);
    if (f->has_status) BSON_APPEND_UTF8(&filter, "status", gig_status_name(f->status));
    if (f->before > 0) {
        BSON_APPEND_DOCUMENT_BEGIN(&filter, "createdAt", &lt);
        BSON_APPEND_INT64(&lt, "$lt", f->before);
        bson_append_document_end(&filter, &lt);
    }
    bson_t *opts = BCON_NEW("sort", "{", "createdAt", BCON_INT32(-1), "_id", BCON_INT32(-1), "}",
                            "limit", BCON_INT64(f->limit));
    drop_err e = gig_query(impl, &filter, opts, out, nout, "gig_list");
    bson_destroy(opts);
    bson_destroy(&filter);
    return e;
}

static drop_err mg_gig_for_account(void *impl, const char *account, struct gig **out,
                                   size_t *nout)
{
    bson_oid_t acc;
    if (!account) return DROP_EBADREQ;
    if (!to_oid(account, &acc)) {
        *out = NULL;
        *nout = 0;
        return DROP_OK;
    }
    /* (customer or operator) and status live or purchased, or an open
     * offer on a pendingOperator gig. */
    bson_t filter = BSON_INITIALIZER, or, alt, st, in, em, match;
    BSON_APPEND_ARRAY_BEGIN(&filter, "$or", &or);
    static const char *const party[] = {"customer", "operator"};
    for (int i = 0; i < 2; i++) {
        BSON_APPEND_DOCUMENT_BEGIN(&or, i == 0 ? "0" : "1", &alt);
        BSON_APPEND_OID(&alt, party[i], &acc);
        BSON_APPEND_DOCUMENT_BEGIN(&alt, "status", &st);
        BSON_APPEND_ARRAY_BEGIN(&st, "$in", &in);
        int k = 0;
        for (int s = 0; s < GIG_STATUS__COUNT; s++) {
            if (!gig_status_live((enum gig_status)s) && s != GIG_PURCHASED) continue;
            char key[16];
            snprintf(key, sizeof key, "%d", k++);
            BSON_APPEND_UTF8(&in, key, gig_status_name((enum gig_status)s));
        }
        bson_append_array_end(&st, &in);
        bson_append_document_end(&alt, &st);
        bson_append_document_end(&or, &alt);
    }
    BSON_APPEND_DOCUMENT_BEGIN(&or, "2", &alt);
    BSON_APPEND_UTF8(&alt, "status", gig_status_name(GIG_PENDING_OPERATOR));
    BSON_APPEND_DOCUMENT_BEGIN(&alt, "offers", &em);
    BSON_APPEND_DOCUMENT_BEGIN(&em, "$elemMatch", &match);
    BSON_APPEND_OID(&match, "operator", &acc);
    BSON_APPEND_UTF8(&match, "state", gig_offer_state_name(OFFER_OPEN));
    bson_append_document_end(&em, &match);
    bson_append_document_end(&alt, &em);
    bson_append_document_end(&or, &alt);
    bson_append_array_end(&filter, &or);
    bson_t *opts = BCON_NEW("sort", "{", "createdAt", BCON_INT32(-1), "_id", BCON_INT32(-1), "}",
                            "limit", BCON_INT64(GIG_LIST_MAX));
    drop_err e = gig_query(impl, &filter, opts, out, nout, "gig_for_account");
    bson_destroy(opts);
    bson_destroy(&filter);
    return e;
}

static drop_err mg_gig_due(void *impl, int64_t now, int limit, struct gig **out, size_t *nout)
{
    if (limit < 1 || limit > GIG_LIST_MAX) return DROP_EBADREQ;
    bson_t *filter = BCON_NEW("nextTimer", "{", "$gt", BCON_INT64(0), "$lte", BCON_INT64(now), "}");
    bson_t *opts = BCON_NEW("sort", "{", "nextTimer", BCON_INT32(1), "_id", BCON_INT32(1), "}",
                            "limit", BCON_INT64(limit));
    drop_err e = gig_query(impl, filter, opts, out, nout, "gig_due");
    bson_destroy(opts);
    bson_destroy(filter);
    return e;
}

static drop_err mg_gig_unrated(void *impl, const char *account, bool *unrated)
{
    struct mg *m = impl;
    bson_oid_t acc;
    bson_t *doc = NULL;
    if (!account) return DROP_EBADREQ;
    if (!to_oid(account, &acc)) {
        *unrated = false;
        return DROP_OK;
    }
    bson_t *filter = BCON_NEW("status", BCON_UTF8(gig_status_name(GIG_PURCHASED)),
                              "$or", "[",
                              "{", "customer", BCON_OID(&acc), "operatorRating", BCON_INT64(0), "}",
                              "{", "operator", BCON_OID(&acc), "customerRating", BCON_INT64(0), "}",
                              "]");
    bson_t *proj = BCON_NEW("_id", BCON_INT32(1));
    drop_err e = DROP_EUNAVAIL;
    mongoc_client_t *c = pop(m, "gig_unrated");
    if (c) e = find_one(m, c, C_GIGS, filter, proj, &doc, "gig_unrated");
    push(m, c);
    if (e == DROP_OK) *unrated = doc != NULL;
    if (doc) bson_destroy(doc);
    bson_destroy(proj);
    bson_destroy(filter);
    return e;
}

/* ---- inbox -------------------------------------------------------------------- */

static drop_err doc_message(const bson_t *doc, struct message *m)
{
    bson_iter_t it;
    memset(m, 0, sizeof *m);
    if (!bson_iter_init(&it, doc)) return DROP_EINTERNAL;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (!strcmp(k, "_id")) oid_hex(&it, m->id);
        else if (!strcmp(k, "from")) oid_hex(&it, m->from);
        else if (!strcmp(k, "to")) oid_hex(&it, m->to);
        else if (!strcmp(k, "text") && !m->text) m->text = it_dup(&it);
        else if (!strcmp(k, "createdAt")) m->created_at = it_i64(&it);
        else if (!strcmp(k, "readAt")) m->read_at = it_i64(&it); /* null reads as 0 */
    }
    if (!m->text || !id_valid(m->id)) {
        message_free(m);
        log_error("event=store_error backend=mongodb op=message_read reason=bad_document");
        return DROP_EINTERNAL;
    }
    return DROP_OK;
}

static drop_err mg_message_create(void *impl, const struct message *msg)
{
    struct mg *m = impl;
    bson_oid_t id, from, to;
    if (!to_oid(msg->id, &id) || !to_oid(msg->from, &from) || !to_oid(msg->to, &to) ||
        !msg->text || !msg->text[0] || strlen(msg->text) > INBOX_TEXT_MAX)
        return DROP_EBADREQ;
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_OID(&doc, "_id", &id);
    BSON_APPEND_OID(&doc, "from", &from);
    BSON_APPEND_OID(&doc, "to", &to);
    BSON_APPEND_UTF8(&doc, "text", msg->text);
    BSON_APPEND_INT64(&doc, "createdAt", msg->created_at);
    if (msg->read_at > 0) BSON_APPEND_INT64(&doc, "readAt", msg->read_at);
    else BSON_APPEND_NULL(&doc, "readAt");
    mongoc_client_t *c = pop(m, "message_create");
    drop_err e = c ? write1(m, c, C_MESSAGES, WR_INSERT, NULL, &doc, NULL, "message_create")
                   : DROP_EUNAVAIL;
    push(m, c);
    bson_destroy(&doc);
    return e;
}

struct msg_list {
    struct message *arr;
    size_t n, cap;
};

static drop_err collect_message(const bson_t *doc, void *ctx)
{
    struct msg_list *l = ctx;
    if (l->n == l->cap) return DROP_OK; /* bounded by the query's limit anyway */
    if (doc_message(doc, &l->arr[l->n]) == DROP_OK) l->n++; /* a bad one is skipped */
    return DROP_OK;
}

static drop_err mg_message_list(void *impl, const char *to, int64_t before, int limit,
                                struct message **out, size_t *nout)
{
    struct mg *m = impl;
    bson_oid_t acc;
    if (!to || limit < 1 || limit > INBOX_LIST_MAX || before < 0) return DROP_EBADREQ;
    if (!to_oid(to, &acc)) {
        *out = NULL;
        *nout = 0;
        return DROP_OK;
    }
    bson_t filter = BSON_INITIALIZER, lt;
    BSON_APPEND_OID(&filter, "to", &acc);
    if (before > 0) {
        BSON_APPEND_DOCUMENT_BEGIN(&filter, "createdAt", &lt);
        BSON_APPEND_INT64(&lt, "$lt", before);
        bson_append_document_end(&filter, &lt);
    }
    bson_t *opts = BCON_NEW("sort", "{", "createdAt", BCON_INT32(-1), "_id", BCON_INT32(-1), "}",
                            "limit", BCON_INT64(limit));
    struct msg_list l = {xcalloc((size_t)limit, sizeof(struct message)), 0, (size_t)limit};
    drop_err e = DROP_EUNAVAIL;
    mongoc_client_t *c = pop(m, "message_list");
    if (c) e = find_each(m, c, C_MESSAGES, &filter, opts, collect_message, &l, "message_list");
    push(m, c);
    bson_destroy(opts);
    bson_destroy(&filter);
    if (e != DROP_OK || l.n == 0) {
        message_array_free(l.arr, l.n);
        l.arr = NULL;
        if (e != DROP_OK) return e;
    }
    *out = l.arr;
    *nout = l.n;
    return DROP_OK;
}

/* One updateMany: {to, readAt: null, _id: {$in: ids}} -> $set readAt. */
static drop_err mg_message_mark_read(void *impl, const char *to, const char (*ids)[DROP_ID_SIZE],
                                     size_t n, int64_t now)
{
    struct mg *m = impl;
    bson_oid_t acc, oid;
    if (!to || n > INBOX_READ_MAX) return DROP_EBADREQ;
    if (n == 0 || !to_oid(to, &acc)) return DROP_OK;
    bson_t filter = BSON_INITIALIZER, in, arr;
    BSON_APPEND_OID(&filter, "to", &acc);
    BSON_APPEND_NULL(&filter, "readAt");
    BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &in);
    BSON_APPEND_ARRAY_BEGIN(&in, "$in", &arr);
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        char key[16];
        const char *ks;
        if (!to_oid(ids[i], &oid)) continue;
        bson_uint32_to_string((uint32_t)k++, &ks, key, sizeof key);
        bson_append_oid(&arr, ks, -1, &oid);
    }
    bson_append_array_end(&in, &arr);
    bson_append_document_end(&filter, &in);
    bson_t *update = BCON_NEW("$set", "{", "readAt", BCON_INT64(now), "}");
    drop_err e = DROP_OK;
    if (k > 0) {
        mongoc_client_t *c = pop(m, "message_mark_read");
        e = c ? write1(m, c, C_MESSAGES, WR_UPDATE_MANY, &filter, update, NULL, "message_mark_read")
              : DROP_EUNAVAIL;
        push(m, c);
    }
    bson_destroy(update);
    bson_destroy(&filter);
    return e;
}

static drop_err mg_message_unread(void *impl, const char *to, int64_t *count)
{
    struct mg *m = impl;
    bson_oid_t acc;
    bson_error_t err;
    if (!to) return DROP_EBADREQ;
    if (!to_oid(to, &acc)) {
        *count = 0;
        return DROP_OK;
    }
    mongoc_client_t *c = pop(m, "message_unread");
    if (!c) return DROP_EUNAVAIL;
    bson_t *filter = BCON_NEW("to", BCON_OID(&acc), "readAt", BCON_NULL);
    mongoc_collection_t *col = coll(m, c, C_MESSAGES);
    int64_t n = mongoc_collection_count_documents(col, filter, NULL, NULL, NULL, &err);
    drop_err e = n < 0 ? map_err(&err, "message_unread") : DROP_OK;
    mongoc_collection_destroy(col);
    bson_destroy(filter);
    push(m, c);
    if (e == DROP_OK) *count = n;
    return e;
}

/* ---- jobs ------------------------------------------------------------------------- */

/* The job document. False when j is not a valid job (a caller bug). */
static bool job_doc(const struct job *j, bson_t *d)
{
    bson_oid_t id, client, worker, by;
    bson_t arr, en;
    if (!to_oid(j->id, &id) || !to_oid(j->client, &client) || !to_oid(j->worker, &worker) ||
        !j->title || (unsigned)j->status >= JOB_STATUS__COUNT || j->n_log < 0 ||
        j->n_log > JOB_LOG_MAX || j->version < 1)
        return false;
    BSON_APPEND_OID(d, "_id", &id);
    BSON_APPEND_UTF8(d, "title", j->title);
    BSON_APPEND_UTF8(d, "description", j->description ? j->description : "");
    BSON_APPEND_OID(d, "client", &client);
    BSON_APPEND_OID(d, "worker", &worker);
    BSON_APPEND_UTF8(d, "status", job_status_name(j->status));
    BSON_APPEND_ARRAY_BEGIN(d, "statusLog", &arr);
    for (int i = 0; i < j->n_log; i++) {
        char key[16];
        const char *ks;
        bson_uint32_to_string((uint32_t)i, &ks, key, sizeof key);
        BSON_APPEND_DOCUMENT_BEGIN(&arr, ks, &en);
        BSON_APPEND_UTF8(&en, "status", job_status_name(j->log[i].status));
        BSON_APPEND_INT64(&en, "at", j->log[i].at);
        if (to_oid(j->log[i].by, &by)) BSON_APPEND_OID(&en, "by", &by);
        else BSON_APPEND_NULL(&en, "by");
        bson_append_document_end(&arr, &en);
    }
    bson_append_array_end(d, &arr);
    BSON_APPEND_INT64(d, "createdAt", j->created_at);
    BSON_APPEND_INT64(d, "updatedAt", j->updated_at);
    BSON_APPEND_INT64(d, "version", j->version);
    return true;
}

/* Reads a job document into out (job_init'ed here). DROP_EINTERNAL
 * (logged) for a document that is not a valid job. */
static drop_err doc_job(const bson_t *doc, struct job *out)
{
    bson_iter_t it, sub, en;
    struct job j;
    bool status_ok = false;
    job_init(&j);
    if (!bson_iter_init(&it, doc)) goto fail;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (!strcmp(k, "_id")) oid_hex(&it, j.id);
        else if (!strcmp(k, "title") && !j.title) j.title = it_dup(&it);
        else if (!strcmp(k, "description") && !j.description) j.description = it_dup(&it);
        else if (!strcmp(k, "client")) oid_hex(&it, j.client);
        else if (!strcmp(k, "worker")) oid_hex(&it, j.worker);
        else if (!strcmp(k, "status") && BSON_ITER_HOLDS_UTF8(&it))
            status_ok = job_status_parse(bson_iter_utf8(&it, NULL), &j.status) == DROP_OK;
        else if (!strcmp(k, "createdAt")) j.created_at = it_i64(&it);
        else if (!strcmp(k, "updatedAt")) j.updated_at = it_i64(&it);
        else if (!strcmp(k, "version")) j.version = it_i64(&it);
        else if (!strcmp(k, "statusLog") && BSON_ITER_HOLDS_ARRAY(&it) &&
                 bson_iter_recurse(&it, &sub)) {
            while (bson_iter_next(&sub)) {
                if (j.n_log == JOB_LOG_MAX || !BSON_ITER_HOLDS_DOCUMENT(&sub) ||
                    !bson_iter_recurse(&sub, &en))
                    goto fail;
                struct job_log_entry *le = &j.log[j.n_log];
                bool st_ok = false;
                while (bson_iter_next(&en)) {
                    const char *ek = bson_iter_key(&en);
                    if (!strcmp(ek, "status") && BSON_ITER_HOLDS_UTF8(&en))
                        st_ok = job_status_parse(bson_iter_utf8(&en, NULL), &le->status) == DROP_OK;
                    else if (!strcmp(ek, "at")) le->at = it_i64(&en);
                    else if (!strcmp(ek, "by")) oid_hex(&en, le->by);
                }
                if (!st_ok) goto fail;
                j.n_log++;
            }
        }
    }
    if (!id_valid(j.id) || !id_valid(j.client) || !id_valid(j.worker) || !j.title || !status_ok)
        goto fail;
    if (!j.description) j.description = xstrdup("");
    *out = j;
    return DROP_OK;
fail:
    job_free(&j);
    log_error("event=store_error backend=mongodb op=job_read reason=bad_document");
    return DROP_EINTERNAL;
}

static drop_err mg_job_create(void *impl, const struct job *j)
{
    struct mg *m = impl;
    bson_t doc = BSON_INITIALIZER;
    drop_err e = DROP_EBADREQ;
    if (job_doc(j, &doc)) {
        mongoc_client_t *c = pop(m, "job_create");
        e = c ? write1(m, c, C_JOBS, WR_INSERT, NULL, &doc, NULL, "job_create") : DROP_EUNAVAIL;
        push(m, c);
    }
    bson_destroy(&doc);
    return e;
}

static drop_err mg_job_get(void *impl, const char *id, struct job *out)
{
    struct mg *m = impl;
    bson_oid_t oid;
    bson_t *doc = NULL;
    if (!to_oid(id, &oid)) return DROP_ENOTFOUND;
    mongoc_client_t *c = pop(m, "job_get");
    if (!c) return DROP_EUNAVAIL;
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid));
    drop_err e = find_one(m, c, C_JOBS, filter, NULL, &doc, "job_get");
    push(m, c);
    bson_destroy(filter);
    if (e == DROP_OK && !doc) e = DROP_ENOTFOUND;
    if (e == DROP_OK) e = doc_job(doc, out);
    if (doc) bson_destroy(doc);
    return e;
}

static drop_err mg_job_cas(void *impl, const struct job *j, int64_t expected_version)
{
    struct mg *m = impl;
    bson_oid_t oid;
    bson_t doc = BSON_INITIALIZER;
    drop_err e = DROP_EBADREQ;
    if (to_oid(j->id, &oid) && expected_version >= 1 && j->version > expected_version &&
        job_doc(j, &doc))
        e = versioned_replace(m, C_JOBS, &oid, expected_version, &doc, "job_cas");
    bson_destroy(&doc);
    return e;
}

struct job_list {
    struct job *arr;
    size_t n, cap;
};

static drop_err collect_job(const bson_t *doc, void *ctx)
{
    struct job_list *l = ctx;
    if (l->n == l->cap) return DROP_OK;
    if (doc_job(doc, &l->arr[l->n]) == DROP_OK) l->n++; /* a bad one is logged and skipped */
    return DROP_OK;
}

static drop_err mg_job_list(void *impl, const struct job_filter *f, struct job **out,
                            size_t *nout)
{
    struct mg *m = impl;
    bson_oid_t acc;
    if (!f->account || f->limit < 1 || f->limit > JOB_LIST_MAX || f->before < 0 ||
        (unsigned)f->role > JOB_ROLE_WORKER ||
        (f->has_status && (unsigned)f->status >= JOB_STATUS__COUNT))
        return DROP_EBADREQ;
    if (!to_oid(f->account, &acc)) {
        *out = NULL;
        *nout = 0;
        return DROP_OK;
    }
    bson_t filter = BSON_INITIALIZER, lt, or, alt;
    if (f->role == JOB_ROLE_CLIENT) {
        BSON_APPEND_OID(&filter, "client", &acc);
    } else if (f->role == JOB_ROLE_WORKER) {
        BSON_APPEND_OID(&filter, "worker", &acc);
    } else {
        BSON_APPEND_ARRAY_BEGIN(&filter, "$or", &or);
        BSON_APPEND_DOCUMENT_BEGIN(&or, "0", &alt);
        BSON_APPEND_OID(&alt, "client", &acc);
        bson_append_document_end(&or, &alt);
        BSON_APPEND_DOCUMENT_BEGIN(&or, "1", &alt);
        BSON_APPEND_OID(&alt, "worker", &acc);
        bson_append_document_end(&or, &alt);
        bson_append_array_end(&filter, &or);
    }
    if (f->has_status) BSON_APPEND_UTF8(&filter, "status", job_status_name(f->status));
    if (f->before > 0) {
        BSON_APPEND_DOCUMENT_BEGIN(&filter, "createdAt", &lt);
        BSON_APPEND_INT64(&lt, "$lt", f->before);
        bson_append_document_end(&filter, &lt);
    }
    bson_t *opts = BCON_NEW("sort", "{", "createdAt", BCON_INT32(-1), "_id", BCON_INT32(-1), "}",
                            "limit", BCON_INT64(f->limit));
    struct job_list l = {xcalloc((size_t)f->limit, sizeof(struct job)), 0, (size_t)f->limit};
    drop_err e = DROP_EUNAVAIL;
    mongoc_client_t *c = pop(m, "job_list");
    if (c) e = find_each(m, c, C_JOBS, &filter, opts, collect_job, &l, "job_list");
    push(m, c);
    bson_destroy(opts);
    bson_destroy(&filter);
    if (e != DROP_OK || l.n == 0) {
        job_array_free(l.arr, l.n);
        l.arr = NULL;
        if (e != DROP_OK) return e;
    }
    *out = l.arr;
    *nout = l.n;
    return DROP_OK;
}

/* ---- ops: operator booking records ------------------------------------------------ */

static drop_err mg_operator_lock_get(void *impl, const char *operator,
                                     struct store_operator_lock *out)
{
    struct mg *m = impl;
    bson_oid_t oid;
    bson_t *doc = NULL;
    bson_iter_t it;
    if (!to_oid(operator, &oid)) return DROP_ENOTFOUND;
    mongoc_client_t *c = pop(m, "operator_lock_get");
    if (!c) return DROP_EUNAVAIL;
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid));
    drop_err e = find_one(m, c, C_OPLOCKS, filter, NULL, &doc, "operator_lock_get");
    push(m, c);
    bson_destroy(filter);
    if (e == DROP_OK && !doc) e = DROP_ENOTFOUND;
    if (e == DROP_OK) {
        struct store_operator_lock l;
        memset(&l, 0, sizeof l);
        snprintf(l.operator, sizeof l.operator, "%s", operator);
        if (bson_iter_init_find(&it, doc, "gig")) oid_hex(&it, l.gig);
        if (bson_iter_init_find(&it, doc, "version")) l.version = it_i64(&it);
        if (l.version < 1 || (l.gig[0] && !id_valid(l.gig))) {
            log_error("event=store_error backend=mongodb op=operator_lock_get"
                      " reason=bad_document");
            e = DROP_EINTERNAL;
        } else {
            *out = l;
        }
    }
    if (doc) bson_destroy(doc);
    return e;
}

static drop_err mg_operator_lock_cas(void *impl, const struct store_operator_lock *l,
                                     int64_t expected)
{
    struct mg *m = impl;
    bson_oid_t oid, gig;
    if (!to_oid(l->operator, &oid) || (l->gig[0] && !to_oid(l->gig, &gig)) || expected < 0 ||
        l->version <= expected)
        return DROP_EBADREQ;
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_OID(&doc, "_id", &oid);
    if (l->gig[0]) BSON_APPEND_OID(&doc, "gig", &gig);
    else BSON_APPEND_NULL(&doc, "gig");
    BSON_APPEND_INT64(&doc, "version", l->version);
    drop_err e;
    if (expected == 0) {
        mongoc_client_t *c = pop(m, "operator_lock_cas");
        e = c ? write1(m, c, C_OPLOCKS, WR_INSERT, NULL, &doc, NULL, "operator_lock_cas")
              : DROP_EUNAVAIL;
        push(m, c);
    } else {
        e = versioned_replace(m, C_OPLOCKS, &oid, expected, &doc, "operator_lock_cas");
    }
    bson_destroy(&doc);
    return e;
}

static const struct store_ops MONGO_OPS = {
    .name = "mongodb",
    .close = mg_close,
    .ping = mg_ping,
    .account_create = mg_account_create,
    .account_get = mg_account_get,
    .account_by_identity = mg_account_by_identity,
    .account_update = mg_account_update,
    .account_archive = mg_account_archive,
    .account_list = mg_account_list,
    .account_add_rating = mg_account_add_rating,
    .token_put = mg_token_put,
    .token_get_by_account = mg_token_get_by_account,
    .token_lookup = mg_token_lookup,
    .token_touch = mg_token_touch,
    .token_delete = mg_token_delete,
    .token_delete_by_account = mg_token_delete_by_account,
    .gig_create = mg_gig_create,
    .gig_get = mg_gig_get,
    .gig_cas = mg_gig_cas,
    .gig_list = mg_gig_list,
    .gig_for_account = mg_gig_for_account,
    .gig_due = mg_gig_due,
    .gig_unrated = mg_gig_unrated,
    .message_create = mg_message_create,
    .message_list = mg_message_list,
    .message_mark_read = mg_message_mark_read,
    .message_unread = mg_message_unread,
    .job_create = mg_job_create,
    .job_get = mg_job_get,
    .job_cas = mg_job_cas,
    .job_list = mg_job_list,
    /* identity codes and account changes: store_mongo_codes.c */
    .code_get = mg_code_get,
    .code_cas = mg_code_cas,
    .identity_verify = mg_identity_verify,
    .password_set = mg_password_set,
    .account_type_set = mg_account_type_set,
    .operator_lock_get = mg_operator_lock_get,
    .operator_lock_cas = mg_operator_lock_cas,
    .device_put = mg_device_put,
    .device_delete = mg_device_delete,
    .device_list = mg_device_list,
};

/* ---- for store_mongo_codes.c (store_mongo_internal.h) ---- */

mongoc_client_t *mg_pop(void *impl, const char *op) { return pop(impl, op); }
void mg_push(void *impl, mongoc_client_t *c) { push(impl, c); }
mongoc_collection_t *mg_coll(void *impl, mongoc_client_t *c, const char *name)
{
    return coll(impl, c, name);
}
drop_err mg_map(const bson_error_t *err, const char *op) { return map_err(err, op); }
bool mg_oid(const char *id, bson_oid_t *oid) { return to_oid(id, oid); }

/* ---- open ------------------------------------------------------------------------- */

/* MongoDB database names: 1..63 bytes, none of / \ . " $ * < > : | ? or
 * blanks. */
static bool db_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > STORE_MONGO_DB_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (strchr("/\\. \"$*<>:|?", s[i]) || (unsigned char)s[i] < 0x20) return false;
    return true;
}

struct index_spec {
    const char *coll;
    const char *name;
    const char *keys[2]; /* field names; a leading '-' sorts descending */
    bool unique;
    bool active_only; /* partialFilterExpression {status: "active"} */
};

static const struct index_spec INDEXES[] = {
    {C_ACCOUNTS, "identities_value_active", {"identities.value", NULL}, true, true},
    {C_ACCOUNTS, "created", {"-createdAt", "-_id"}, false, false},
    {C_ACCOUNTS, "referral_code", {"referralCode", NULL}, false, false},
    {C_TOKENS, "hash", {"hash", NULL}, true, false},
    {C_TOKENS, "account", {"account", NULL}, true, false},
    {C_GIGS, "customer_created", {"customer", "-createdAt"}, false, false},
    {C_GIGS, "operator_created", {"operator", "-createdAt"}, false, false},
    {C_GIGS, "status", {"status", NULL}, false, false},
    {C_GIGS, "next_timer", {"nextTimer", NULL}, false, false},
    {C_GIGS, "offer_operator", {"offers.operator", NULL}, false, false},
    {C_MESSAGES, "to_created", {"to", "-createdAt"}, false, false},
    {C_JOBS, "client_created", {"client", "-createdAt"}, false, false},
    {C_JOBS, "worker_created", {"worker", "-createdAt"}, false, false},
};
#define N_INDEXES (sizeof INDEXES / sizeof INDEXES[0])

/* Creates the indexes of each collection (createIndexes is idempotent for
 * identical specs; a differing spec under the same name is an error). */
static drop_err create_indexes(struct mg *m, mongoc_client_t *c, char *why, size_t whylen)
{
    static const char *const colls[] = {C_ACCOUNTS, C_TOKENS, C_GIGS, C_MESSAGES, C_JOBS};
    for (size_t ci = 0; ci < sizeof colls / sizeof colls[0]; ci++) {
        bson_t cmd = BSON_INITIALIZER, arr, ix, key, pf;
        bson_error_t err;
        int k = 0;
        BSON_APPEND_UTF8(&cmd, "createIndexes", colls[ci]);
        BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &arr);
        for (size_t i = 0; i < N_INDEXES; i++) {
            const struct index_spec *s = &INDEXES[i];
            char ik[16];
            if (strcmp(s->coll, colls[ci]) != 0) continue;
            snprintf(ik, sizeof ik, "%d", k++);
            BSON_APPEND_DOCUMENT_BEGIN(&arr, ik, &ix);
            BSON_APPEND_DOCUMENT_BEGIN(&ix, "key", &key);
            for (int j = 0; j < 2 && s->keys[j]; j++) {
                bool desc = s->keys[j][0] == '-';
                BSON_APPEND_INT32(&key, s->keys[j] + desc, desc ? -1 : 1);
            }
            bson_append_document_end(&ix, &key);
            BSON_APPEND_UTF8(&ix, "name", s->name);
            if (s->unique) BSON_APPEND_BOOL(&ix, "unique", true);
            if (s->active_only) {
                BSON_APPEND_DOCUMENT_BEGIN(&ix, "partialFilterExpression", &pf);
                BSON_APPEND_UTF8(&pf, "status", "active");
                bson_append_document_end(&ix, &pf);
            }
            bson_append_document_end(&arr, &ix);
        }
        bson_append_array_end(&cmd, &arr);
        bool ok = mongoc_client_command_simple(c, m->db, &cmd, NULL, NULL, &err);
        bson_destroy(&cmd);
        if (!ok) {
            map_err(&err, "create_indexes"); /* logged */
            return fail(DROP_EUNAVAIL, why, whylen, "mongodb: cannot create the indexes of %s.%s: %s", m->db,
                        colls[ci], err.message);
        }
    }
    return DROP_OK;
}

drop_err store_mongo_open(const char *uri_s, int64_t timeout_ms, struct store **out, char *why,
                          size_t whylen)
{
    drop_err e;
    bson_error_t err;
    struct mg *m = NULL;
    mongoc_client_t *c = NULL;
    char hosts[256] = "";

    pthread_once(&driver_once, driver_init);
    if (!uri_s || !*uri_s) {
        e = fail(DROP_EBADREQ, why, whylen, "empty mongodb URI");
        goto fail;
    }
    if (timeout_ms < 1 || timeout_ms > 600000) {
        e = fail(DROP_EBADREQ, why, whylen, "mongodb timeout %lld ms out of 1..600000",
                 (long long)timeout_ms);
        goto fail;
    }
    m = xcalloc(1, sizeof *m);
    m->timeout_ms = timeout_ms;
    m->uri = mongoc_uri_new_with_error(uri_s, &err);
    if (!m->uri) {
        e = fail(DROP_EBADREQ, why, whylen, "invalid mongodb URI: %s", err.message);
        goto fail;
    }
    const char *db = mongoc_uri_get_database(m->uri);
    if (!db || !*db) db = STORE_MONGO_DEFAULT_DB;
    if (!db_name_valid(db)) {
        e = fail(DROP_EBADREQ, why, whylen, "invalid mongodb database name in the URI");
        goto fail;
    }
    snprintf(m->db, sizeof m->db, "%s", db);
    for (const mongoc_host_list_t *h = mongoc_uri_get_hosts(m->uri); h; h = h->next) {
        size_t n = strlen(hosts);
        if (n + 1 + strlen(h->host_and_port) >= sizeof hosts) break; /* the log line only */
        if (n) strcat(hosts, ",");
        strcat(hosts, h->host_and_port);
    }
    /* Never the 30 s defaults: a down server must answer within the timeout. */
    int32_t t = (int32_t)timeout_ms;
    if (!mongoc_uri_set_option_as_int32(m->uri, MONGOC_URI_CONNECTTIMEOUTMS, t) ||
        !mongoc_uri_set_option_as_int32(m->uri, MONGOC_URI_SOCKETTIMEOUTMS, t) ||
        !mongoc_uri_set_option_as_int32(m->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, t) ||
        !mongoc_uri_set_option_as_int32(m->uri, MONGOC_URI_WAITQUEUETIMEOUTMS, t)) {
        e = fail(DROP_EINTERNAL, why, whylen, "mongodb: cannot set the timeouts on the URI");
        goto fail;
    }
    m->pool = mongoc_client_pool_new_with_error(m->uri, &err);
    if (!m->pool) {
        e = fail(DROP_EBADREQ, why, whylen, "mongodb: %s", err.message);
        goto fail;
    }
    mongoc_client_pool_set_error_api(m->pool, MONGOC_ERROR_API_VERSION_2);
    mongoc_client_pool_set_appname(m->pool, "dropind");

    if (!(c = pop(m, "open"))) {
        e = fail(DROP_EUNAVAIL, why, whylen, "mongodb %s: no client available", hosts);
        goto fail;
    }
    bson_t *ping = BCON_NEW("ping", BCON_INT32(1));
    bool ok = mongoc_client_command_simple(c, m->db, ping, NULL, NULL, &err);
    bson_destroy(ping);
    if (!ok) {
        e = fail(DROP_EUNAVAIL, why, whylen, "mongodb %s unreachable: %s", hosts, err.message);
        goto fail;
    }
    if ((e = create_indexes(m, c, why, whylen)) != DROP_OK) goto fail;
    if ((e = mg_devices_init(m, c, why, whylen)) != DROP_OK) goto fail;
    if (mg_codes_open(m, c) != DROP_OK) { /* store_mongo_codes.c */
        e = fail(DROP_EUNAVAIL, why, whylen, "mongodb: cannot prepare the identity codes");
        goto fail;
    }
    push(m, c);
    log_info("event=store_open backend=mongodb hosts=%s db=%s timeout_ms=%lld", hosts, m->db,
             (long long)timeout_ms);
    *out = store_new(&MONGO_OPS, m);
    return DROP_OK;
fail:
    if (c) push(m, c);
    mg_close(m);
    log_error("event=store_open_failed backend=mongodb reason=\"%s\"", why ? why : "");
    return e;
}
