/* store_mongo_records.c - the versioned records on MongoDB: gigs, jobs and
 * operator booking records, each a document replaced by findAndModify on
 * its version (see store_mongo.c's header and store_mongo_internal.h). */
#include "adapters/store_mongo_internal.h"

#include "engine/gig_record.h"

/* Appends a JSON value of a record as BSON. as_oid: a 24-hex string
 * becomes an ObjectId (ids), "" and null become null. */
static bool json_append(bson_t *d, const char *key, const json_t *v, bool as_oid)
{
    bson_oid_t oid;
    switch (json_typeof(v)) {
    case JSON_STRING:
        if (as_oid && !json_string_length(v)) return bson_append_null(d, key, -1);
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

/* A BSON value of a record document as JSON (ObjectIds as hex, numbers as they
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

/* ---- records: every kind the same way ---------------------------------------
 * A record is one document of its kind's collection: the codec's object with
 * id -> _id, the keys of id_keys as ObjectIds, those of text_keys as JSON
 * text, plus the derived indexed fields (a gig's nextTimer). The
 * compare-and-set is one findAndModify whose filter holds the version. */

static bool in_list(const char *const *list, const char *key)
{
    for (; list && *list; list++)
        if (!strcmp(*list, key)) return true;
    return false;
}

/* Whether "outer.inner" is in list. */
static bool in_list2(const char *const *list, const char *outer, const char *inner)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", outer, inner);
    return in_list(list, key);
}

/* Appends an array of objects (offers, a status log). */
static bool append_objects(const struct record_kind *k, bson_t *d, const char *key,
                           const json_t *v)
{
    bson_t arr, sub;
    size_t i;
    json_t *o;
    bool ok = BSON_APPEND_ARRAY_BEGIN(d, key, &arr);
    json_array_foreach(v, i, o) {
        char ik[16];
        const char *ks, *sk;
        json_t *f;
        if (!ok || !json_is_object(o)) {
            ok = false;
            break;
        }
        bson_uint32_to_string((uint32_t)i, &ks, ik, sizeof ik);
        BSON_APPEND_DOCUMENT_BEGIN(&arr, ks, &sub);
        json_object_foreach(o, sk, f) {
            if (!ok) break;
            ok = json_append(&sub, sk, f, in_list2(k->id_keys, key, sk));
        }
        bson_append_document_end(&arr, &sub);
    }
    bson_append_array_end(d, &arr);
    return ok;
}

/* The document of rec. False when rec cannot be stored (a caller bug). */
static bool record_doc(const struct record_kind *k, const void *rec, bson_t *d)
{
    json_t *j = k->encode(rec);
    const char *key;
    json_t *v;
    if (!j) return false;
    json_t *id = json_object_get(j, "id");
    bool ok = json_is_string(id) && json_append(d, "_id", id, true);
    json_object_foreach(j, key, v) {
        if (!ok) break;
        if (!strcmp(key, "id")) continue;
        if (in_list(k->text_keys, key) && !json_is_null(v)) {
            char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
            ok = text && bson_append_utf8(d, key, -1, text, -1);
            free(text);
        } else if (json_is_array(v)) {
            ok = append_objects(k, d, key, v);
        } else {
            ok = json_append(d, key, v, in_list(k->id_keys, key));
        }
    }
    json_decref(j);
    struct record_value iv[RECORD_FIELDS_MAX];
    if (ok) k->index(rec, iv);
    for (int i = 0; ok && i < k->n_fields; i++) {
        if (!k->fields[i].derived) continue;
        if (k->fields[i].type == RECORD_INT) ok = BSON_APPEND_INT64(d, k->fields[i].key, iv[i].i);
        else ok = BSON_APPEND_UTF8(d, k->fields[i].key, iv[i].text ? iv[i].text : "");
    }
    return ok;
}

static bool derived_key(const struct record_kind *k, const char *key)
{
    for (int i = 0; i < k->n_fields; i++)
        if (k->fields[i].derived && !strcmp(k->fields[i].key, key)) return true;
    return false;
}

/* Reads a document of kind k into out via its record. DROP_EINTERNAL
 * (logged) for a document that is not a valid record. */
static drop_err doc_record(const struct record_kind *k, const bson_t *doc, void *out)
{
    bson_iter_t it;
    drop_err e = DROP_EINTERNAL;
    char why[128] = "";
    const char *bad = "";
    json_t *rec = json_object();
    if (!bson_iter_init(&it, doc)) goto done;
    while (bson_iter_next(&it)) {
        const char *key = bson_iter_key(&it);
        if (derived_key(k, key)) continue;
        if (in_list(k->text_keys, key) && BSON_ITER_HOLDS_UTF8(&it)) {
            uint32_t len;
            const char *s = bson_iter_utf8(&it, &len);
            json_t *v = json_loadb(s, len, JSON_DECODE_ANY, NULL);
            if (!v) { bad = key; goto done; }
            json_object_set_new(rec, key, v);
            continue;
        }
        json_t *v = bson_to_json(&it, BSON_JSON_DEPTH);
        if (!v) { bad = key; goto done; }
        json_object_set_new(rec, !strcmp(key, "_id") ? "id" : key, v);
    }
    e = k->decode(rec, out, why, sizeof why);
done:
    if (e != DROP_OK)
        log_error("event=store_error backend=mongodb op=%s_read reason=bad_document field=%s"
                  " why=\"%s\"", k->name, bad[0] ? bad : "record", why);
    json_decref(rec);
    return e;
}

drop_err mg_record_create(void *impl, const struct record_kind *k, const void *rec)
{
    struct mg *m = impl;
    bson_t doc = BSON_INITIALIZER;
    drop_err e = DROP_EBADREQ;
    if (k->version(rec) >= 1 && record_doc(k, rec, &doc)) {
        mongoc_client_t *c = pop(m, "record_create");
        e = c ? write1(m, c, k->table, WR_INSERT, NULL, &doc, NULL, "record_create")
              : DROP_EUNAVAIL;
        push(m, c);
    }
    bson_destroy(&doc);
    return e;
}

drop_err mg_record_get(void *impl, const struct record_kind *k, const char *id, void *out)
{
    struct mg *m = impl;
    bson_oid_t oid;
    bson_t *doc = NULL;
    if (!id || !to_oid(id, &oid)) return DROP_ENOTFOUND;
    mongoc_client_t *c = pop(m, "record_get");
    if (!c) return DROP_EUNAVAIL;
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid));
    drop_err e = find_one(m, c, k->table, filter, NULL, &doc, "record_get");
    push(m, c);
    bson_destroy(filter);
    if (e == DROP_OK && !doc) e = DROP_ENOTFOUND;
    if (e == DROP_OK) e = doc_record(k, doc, out);
    if (doc) bson_destroy(doc);
    return e;
}

/* The compare-and-set of every record kind: one findAndModify replacing the
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

drop_err mg_record_cas(void *impl, const struct record_kind *k, const void *rec,
                       int64_t expected_version)
{
    struct mg *m = impl;
    bson_oid_t oid;
    bson_t doc = BSON_INITIALIZER;
    drop_err e = DROP_EBADREQ;
    /* a version that does not move forward is the caller's bug */
    if (to_oid(k->id(rec), &oid) && expected_version >= 1 && k->version(rec) > expected_version &&
        record_doc(k, rec, &doc))
        e = versioned_replace(m, k->table, &oid, expected_version, &doc, "record_cas");
    bson_destroy(&doc);
    return e;
}

drop_err mg_record_delete(void *impl, const struct record_kind *k, const char *id)
{
    struct mg *m = impl;
    bson_oid_t oid;
    if (!id || !to_oid(id, &oid)) return DROP_OK;
    mongoc_client_t *c = pop(m, "record_delete");
    if (!c) return DROP_EUNAVAIL;
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid));
    drop_err e = write1(m, c, k->table, WR_DELETE_ONE, filter, NULL, NULL, "record_delete");
    push(m, c);
    bson_destroy(filter);
    return e;
}

struct record_acc {
    const struct record_kind *k;
    char *arr;
    size_t n, cap;
};

static drop_err collect_record(const bson_t *doc, void *ctx)
{
    struct record_acc *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->arr = xrealloc(l->arr, l->cap * l->k->size);
    }
    /* a corrupt document is logged (doc_record) and skipped: one bad record
     * must not hide the others, the sweep's above all */
    if (doc_record(l->k, doc, l->arr + l->n * l->k->size) == DROP_OK) l->n++;
    return DROP_OK;
}

/* Runs a query on k's collection and hands out the array
 * (record_array_free; NULL when empty). */
static drop_err record_query(struct mg *m, const struct record_kind *k, const bson_t *filter,
                             const bson_t *opts, void **out, size_t *nout, const char *op)
{
    struct record_acc l = {k, NULL, 0, 0};
    drop_err e = find_pooled(m, k->table, filter, opts, collect_record, &l, op);
    if (e == DROP_OK) {
        *out = l.n ? l.arr : NULL;
        *nout = l.n;
        if (!l.n) free(l.arr);
    } else {
        record_array_free(k, l.arr, l.n);
    }
    return e;
}

/* A page of a listing: filter (taken: destroyed here) and created_at <
 * before when before > 0, newest first (createdAt, then _id, descending), at
 * most limit. */
static drop_err page_query(struct mg *m, const struct record_kind *k, bson_t *filter,
                           int64_t before, int limit, void **out, size_t *nout, const char *op)
{
    bson_t lt;
    if (before > 0) {
        BSON_APPEND_DOCUMENT_BEGIN(filter, "createdAt", &lt);
        BSON_APPEND_INT64(&lt, "$lt", before);
        bson_append_document_end(filter, &lt);
    }
    bson_t *opts = BCON_NEW("sort", "{", "createdAt", BCON_INT32(-1), "_id", BCON_INT32(-1), "}",
                            "limit", BCON_INT64(limit));
    drop_err e = record_query(m, k, filter, opts, out, nout, op);
    bson_destroy(opts);
    bson_destroy(filter);
    return e;
}

drop_err mg_record_list(void *impl, const struct record_kind *k, const struct record_page *p,
                        void **out, size_t *nout)
{
    int f = -1;
    bson_oid_t oid;
    for (int i = 0; p->field && i < k->n_fields; i++)
        if (!strcmp(k->fields[i].column, p->field)) f = i;
    if (p->limit < 1 || p->limit > RECORD_LIST_MAX || p->before < 0 || (p->field && f < 0))
        return DROP_EBADREQ;
    bson_t filter = BSON_INITIALIZER;
    if (f >= 0) {
        const char *key = k->fields[f].key;
        if (k->fields[f].type == RECORD_INT) {
            BSON_APPEND_INT64(&filter, key, strtoll(p->value ? p->value : "0", NULL, 10));
        } else if (!p->value) {
            BSON_APPEND_NULL(&filter, key);
        } else if (in_list(k->id_keys, key)) {
            if (!to_oid(p->value, &oid)) {
                bson_destroy(&filter);
                *out = NULL;
                *nout = 0;
                return DROP_OK;
            }
            BSON_APPEND_OID(&filter, key, &oid);
        } else {
            BSON_APPEND_UTF8(&filter, key, p->value);
        }
    }
    return page_query(impl, k, &filter, p->before, p->limit, out, nout, "record_list");
}

/* ---- gigs: the named queries -------------------------------------------------- */

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

drop_err mg_gig_list(void *impl, const struct gig_filter *f, struct gig **out,
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
    bson_t filter = BSON_INITIALIZER;
    if (f->account) append_party(&filter, "$or", &acc);
    if (f->has_status) BSON_APPEND_UTF8(&filter, "status", gig_status_name(f->status));
    return page_query(impl, &GIG_KIND, &filter, f->before, f->limit, (void **)out, nout, "gig_list");
}

drop_err mg_gig_for_account(void *impl, const char *account, struct gig **out,
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
    drop_err e = record_query(impl, &GIG_KIND, &filter, opts, (void **)out, nout, "gig_for_account");
    bson_destroy(opts);
    bson_destroy(&filter);
    return e;
}

drop_err mg_gig_due(void *impl, int64_t now, int limit, struct gig **out, size_t *nout)
{
    if (limit < 1 || limit > GIG_LIST_MAX) return DROP_EBADREQ;
    bson_t *filter = BCON_NEW("nextTimer", "{", "$gt", BCON_INT64(0), "$lte", BCON_INT64(now), "}");
    bson_t *opts = BCON_NEW("sort", "{", "nextTimer", BCON_INT32(1), "_id", BCON_INT32(1), "}",
                            "limit", BCON_INT64(limit));
    drop_err e = record_query(impl, &GIG_KIND, filter, opts, (void **)out, nout, "gig_due");
    bson_destroy(opts);
    bson_destroy(filter);
    return e;
}

drop_err mg_gig_unrated(void *impl, const char *account, bool *unrated)
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

/* ---- jobs: the named query ---------------------------------------------------- */

drop_err mg_job_list(void *impl, const struct job_filter *f, struct job **out,
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
    bson_t filter = BSON_INITIALIZER, or, alt;
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
    return page_query(m, &JOB_KIND, &filter, f->before, f->limit, (void **)out, nout, "job_list");
}

/* ---- ops: operator booking records ------------------------------------------------ */

drop_err mg_operator_lock_get(void *impl, const char *operator,
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

drop_err mg_operator_lock_cas(void *impl, const struct store_operator_lock *l,
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

