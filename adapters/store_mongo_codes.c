/* store_mongo_codes.c - identity codes on MongoDB, and the account changes
 * that codes and admins make (identity verified, password, type).
 *
 * identity_codes {_id, then CODE_FIELDS (engine/code_fields.h): identity (the
 * normalized value), account, purpose, live, hash, salt (hex strings),
 * attempts, expiresAt, sentAt, windowStart, sends, version}. _id is an ObjectId made from the identity (the first 12
 * bytes of its SHA-256; ids must be ObjectIds on some servers), so one
 * identity has one document and a racing create is a duplicate key
 * (DROP_ECONFLICT) without relying on a secondary unique index; the
 * compare-and-set is one update whose filter holds the expected version and
 * must match one document. */
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "engine/code_fields.h"
#include "adapters/store_mongo_internal.h"
#include "engine/log.h"

/* The document id of an identity's record. */
static void code_oid(const char *identity, bson_oid_t *oid)
{
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)identity, strlen(identity), h);
    bson_oid_init_from_data(oid, h);
}

/* Appends n bytes as a lower-case hex string (CODE_BYTES). */
static void append_hex(bson_t *d, const char *key, const unsigned char *b, size_t n)
{
    char hex[2 * 64 + 1];
    for (size_t i = 0; i < n && i < 64; i++) snprintf(hex + 2 * i, 3, "%02x", b[i]);
    BSON_APPEND_UTF8(d, key, hex);
}

/* Appends every field of c, in the order of CODE_FIELDS. */
static void code_doc(const struct store_code *c, bson_t *d)
{
    for (int i = 0; i < CODE_NFIELDS; i++) {
        const struct code_field *f = &CODE_FIELDS[i];
        const void *v = code_at_c(c, f);
        switch (f->type) {
        case CODE_TEXT: BSON_APPEND_UTF8(d, f->key, v); break;
        case CODE_BOOL: BSON_APPEND_BOOL(d, f->key, *(const bool *)v); break;
        case CODE_INT: BSON_APPEND_INT64(d, f->key, *(const int *)v); break;
        case CODE_INT64: BSON_APPEND_INT64(d, f->key, *(const int64_t *)v); break;
        case CODE_BYTES: append_hex(d, f->key, v, f->size); break;
        }
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Reads a hex string of exactly n bytes; zeros for anything else. */
static void it_hex(bson_iter_t *it, unsigned char *out, size_t n)
{
    uint32_t len = 0;
    const char *s = BSON_ITER_HOLDS_UTF8(it) ? bson_iter_utf8(it, &len) : NULL;
    memset(out, 0, n);
    if (!s || len != 2 * n) return;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            memset(out, 0, n);
            return;
        }
        out[i] = (unsigned char)(hi << 4 | lo);
    }
}

/* A number field as int64; 0 for any other type. */
static int64_t it_num(const bson_iter_t *it)
{
    return it_number(it) ? bson_iter_as_int64(it) : 0;
}

/* Reads the document field k into the code out when CODE_FIELDS names it;
 * a value of another type reads as zero (or ""). */
static void code_field(const char *k, bson_iter_t *it, void *out)
{
    const struct code_field *f = NULL;
    for (int i = 0; i < CODE_NFIELDS && !f; i++)
        if (!strcmp(k, CODE_FIELDS[i].key)) f = &CODE_FIELDS[i];
    if (!f) return;
    void *v = code_at(out, f);
    switch (f->type) {
    case CODE_TEXT: it_copy(it, v, f->size); break;
    case CODE_BOOL: *(bool *)v = BSON_ITER_HOLDS_BOOL(it) && bson_iter_bool(it); break;
    case CODE_INT: *(int *)v = (int)it_num(it); break;
    case CODE_INT64: *(int64_t *)v = it_num(it); break;
    case CODE_BYTES: it_hex(it, v, f->size); break;
    }
}

static void doc_code(const bson_t *doc, struct store_code *c)
{
    memset(c, 0, sizeof *c);
    doc_fields(doc, code_field, c);
}

drop_err mg_code_get(void *impl, const char *identity, struct store_code *out)
{
    bson_error_t err;
    const bson_t *doc;
    drop_err e = DROP_ENOTFOUND;
    mongoc_client_t *c = mg_pop(impl, "code_get");
    if (!c) return DROP_EUNAVAIL;
    mongoc_collection_t *col = mg_coll(impl, c, MG_C_CODES);
    bson_oid_t oid;
    code_oid(identity, &oid);
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid));
    bson_t *opts = BCON_NEW("limit", BCON_INT64(1));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(col, filter, opts, NULL);
    if (mongoc_cursor_next(cur, &doc)) {
        doc_code(doc, out);
        e = DROP_OK;
    } else if (mongoc_cursor_error(cur, &err)) {
        e = mg_map(&err, "code_get");
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(opts);
    bson_destroy(filter);
    mongoc_collection_destroy(col);
    mg_push(impl, c);
    return e;
}

drop_err mg_code_cas(void *impl, const struct store_code *code, int64_t expected_version)
{
    bson_error_t err;
    bson_t reply;
    bool ok;
    drop_err e = DROP_OK;
    if (code->version <= expected_version || expected_version < 0) return DROP_EBADREQ;
    mongoc_client_t *c = mg_pop(impl, "code_cas");
    if (!c) return DROP_EUNAVAIL;
    mongoc_collection_t *col = mg_coll(impl, c, MG_C_CODES);
    bson_t doc = BSON_INITIALIZER;
    bson_oid_t oid;
    code_oid(code->identity, &oid);
    if (expected_version == 0) {
        BSON_APPEND_OID(&doc, "_id", &oid);
        code_doc(code, &doc);
        ok = mongoc_collection_insert_one(col, &doc, NULL, &reply, &err);
        if (!ok) e = mg_map(&err, "code_cas");
    } else {
        bson_t set;
        bson_t *filter = BCON_NEW("_id", BCON_OID(&oid), "version",
                                  BCON_INT64(expected_version));
        BSON_APPEND_DOCUMENT_BEGIN(&doc, "$set", &set);
        code_doc(code, &set);
        bson_append_document_end(&doc, &set);
        ok = mongoc_collection_update_one(col, filter, &doc, NULL, &reply, &err);
        if (!ok) {
            e = mg_map(&err, "code_cas");
        } else {
            bson_iter_t it;
            int64_t matched = bson_iter_init_find(&it, &reply, "matchedCount")
                                  ? bson_iter_as_int64(&it) : 0;
            if (matched != 1) e = DROP_ECONFLICT;
        }
        bson_destroy(filter);
    }
    bson_destroy(&reply);
    bson_destroy(&doc);
    mongoc_collection_destroy(col);
    mg_push(impl, c);
    return e;
}

/* One update_one on accounts; DROP_ENOTFOUND when it matched nothing. */
static drop_err account_update1(void *impl, const bson_t *filter, const bson_t *update,
                                const char *op)
{
    bson_error_t err;
    bson_t reply;
    drop_err e = DROP_OK;
    mongoc_client_t *c = mg_pop(impl, op);
    if (!c) return DROP_EUNAVAIL;
    mongoc_collection_t *col = mg_coll(impl, c, "accounts");
    if (!mongoc_collection_update_one(col, filter, update, NULL, &reply, &err)) {
        e = mg_map(&err, op);
    } else {
        bson_iter_t it;
        if (!(bson_iter_init_find(&it, &reply, "matchedCount") && bson_iter_as_int64(&it) > 0))
            e = DROP_ENOTFOUND;
    }
    bson_destroy(&reply);
    mongoc_collection_destroy(col);
    mg_push(impl, c);
    return e;
}

drop_err mg_identity_verify(void *impl, const char *account, const char *value, int64_t now)
{
    bson_oid_t oid;
    bson_error_t err;
    const bson_t *doc;
    int pos = -1;
    drop_err e = DROP_ENOTFOUND;
    if (!mg_oid(account, &oid)) return DROP_ENOTFOUND;
    /* find the identity's position, then set it there, guarded by its value */
    mongoc_client_t *c = mg_pop(impl, "identity_verify");
    if (!c) return DROP_EUNAVAIL;
    mongoc_collection_t *col = mg_coll(impl, c, "accounts");
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid), "status", BCON_UTF8("active"));
    bson_t *opts = BCON_NEW("limit", BCON_INT64(1));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(col, filter, opts, NULL);
    if (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it, arr, idn;
        int i = 0;
        if (bson_iter_init_find(&it, doc, "identities") && BSON_ITER_HOLDS_ARRAY(&it) &&
            bson_iter_recurse(&it, &arr))
            for (; bson_iter_next(&arr); i++)
                if (BSON_ITER_HOLDS_DOCUMENT(&arr) && bson_iter_recurse(&arr, &idn) &&
                    bson_iter_find(&idn, "value") && BSON_ITER_HOLDS_UTF8(&idn) &&
                    strcmp(bson_iter_utf8(&idn, NULL), value) == 0) {
                    pos = i;
                    break;
                }
    } else if (mongoc_cursor_error(cur, &err)) {
        e = mg_map(&err, "identity_verify");
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(opts);
    bson_destroy(filter);
    mongoc_collection_destroy(col);
    mg_push(impl, c);
    if (pos < 0) return e;

    char kv[48], ks[48], ku[48];
    snprintf(kv, sizeof kv, "identities.%d.value", pos);
    snprintf(ks, sizeof ks, "identities.%d.status", pos);
    snprintf(ku, sizeof ku, "identities.%d.updatedAt", pos);
    bson_t *f = BCON_NEW("_id", BCON_OID(&oid), kv, BCON_UTF8(value));
    bson_t *u = BCON_NEW("$set", "{", ks, BCON_UTF8("verified"), ku, BCON_INT64(now), "}");
    e = account_update1(impl, f, u, "identity_verify");
    bson_destroy(u);
    bson_destroy(f);
    return e;
}

drop_err mg_password_set(void *impl, const char *account, const char *hash, int64_t now)
{
    bson_oid_t oid;
    if (!mg_oid(account, &oid)) return DROP_ENOTFOUND;
    bson_t *f = BCON_NEW("_id", BCON_OID(&oid), "status", BCON_UTF8("active"));
    bson_t *u = BCON_NEW("$set", "{", "passwordHash", BCON_UTF8(hash), "updatedAt",
                         BCON_INT64(now), "}");
    drop_err e = account_update1(impl, f, u, "password_set");
    bson_destroy(u);
    bson_destroy(f);
    return e;
}

drop_err mg_account_type_set(void *impl, const char *account, const char *type, int64_t now)
{
    bson_oid_t oid;
    if (!mg_oid(account, &oid)) return DROP_ENOTFOUND;
    bson_t *f = BCON_NEW("_id", BCON_OID(&oid), "status", BCON_UTF8("active"));
    bson_t *u = BCON_NEW("$set", "{", "type", BCON_UTF8(type), "updatedAt", BCON_INT64(now), "}");
    drop_err e = account_update1(impl, f, u, "account_type_set");
    bson_destroy(u);
    bson_destroy(f);
    return e;
}

/* The E.164 form of an old phone value, or NULL when it needs no change. */
static const char *e164_of(const char *v)
{
    if (v[0] == '+') return v + 1;
    if (v[0] == '0' && v[1] == '0' && strlen(v) > 8) return v + 2;
    return NULL;
}

drop_err mg_codes_open(void *impl, mongoc_client_t *c)
{
    bson_error_t err;
    const bson_t *doc;
    bson_oid_t marker;
    drop_err e = DROP_OK;
    int changed = 0;
    code_oid("#phones-e164", &marker); /* never a normalized identity */
    mongoc_collection_t *codes = mg_coll(impl, c, MG_C_CODES);
    bson_t *mf = BCON_NEW("_id", BCON_OID(&marker));
    int64_t seen = mongoc_collection_count_documents(codes, mf, NULL, NULL, NULL, &err);
    if (seen < 0) e = mg_map(&err, "codes_open");
    if (seen != 0) goto done;

    mongoc_collection_t *acc = mg_coll(impl, c, "accounts");
    bson_t *all = BCON_NEW("identities.type", BCON_UTF8("phone"));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(acc, all, NULL, NULL);
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it, arr, idn;
        bson_oid_t id;
        int pos = 0;
        if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_OID(&it)) continue;
        bson_oid_copy(bson_iter_oid(&it), &id);
        if (!bson_iter_init_find(&it, doc, "identities") || !BSON_ITER_HOLDS_ARRAY(&it) ||
            !bson_iter_recurse(&it, &arr))
            continue;
        for (; bson_iter_next(&arr); pos++) {
            char type[8] = "", value[300] = "";
            if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &idn)) continue;
            while (bson_iter_next(&idn)) {
                if (!strcmp(bson_iter_key(&idn), "type")) it_copy(&idn, type, sizeof type);
                else if (!strcmp(bson_iter_key(&idn), "value")) it_copy(&idn, value, sizeof value);
            }
            const char *nv = strcmp(type, "phone") == 0 ? e164_of(value) : NULL;
            if (!nv) continue;
            char kv[48];
            snprintf(kv, sizeof kv, "identities.%d.value", pos);
            bson_t *f = BCON_NEW("_id", BCON_OID(&id), kv, BCON_UTF8(value));
            bson_t *u = BCON_NEW("$set", "{", kv, BCON_UTF8(nv), "}");
            /* a value another active account holds is a duplicate key: kept */
            if (account_update1(impl, f, u, "codes_open") == DROP_OK) changed++;
            bson_destroy(u);
            bson_destroy(f);
        }
    }
    if (mongoc_cursor_error(cur, &err)) e = mg_map(&err, "codes_open");
    mongoc_cursor_destroy(cur);
    bson_destroy(all);
    mongoc_collection_destroy(acc);
    if (e == DROP_OK) {
        bson_t *m = BCON_NEW("_id", BCON_OID(&marker), "identity", BCON_UTF8("#phones-e164"),
                             "version", BCON_INT64(0));
        if (!mongoc_collection_insert_one(codes, m, NULL, NULL, &err)) {
            drop_err me = mg_map(&err, "codes_open");
            if (me != DROP_ECONFLICT) e = me; /* another node did it at once */
        }
        bson_destroy(m);
        log_info("event=store_migrated backend=mongodb what=identity_codes phones_e164=%d",
                 changed);
    }
done:
    bson_destroy(mf);
    mongoc_collection_destroy(codes);
    return e;
}
