/* store_mongo_records.c - the versioned records on MongoDB: gigs, jobs and
 * operator booking records, each a document replaced by findAndModify on
 * its version (see store_mongo.c's header and store_mongo_internal.h). */
#include "adapters/store_mongo_internal.h"

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
        } else if (!strcmp(key, "offers") && json_is_array(v)) {
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
                    ok = json_append(&off, ok2, f, !strcmp(ok2, "operator"));
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

drop_err mg_gig_create(void *impl, const struct gig *g)
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

drop_err mg_gig_get(void *impl, const char *id, struct gig *out)
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

drop_err mg_gig_cas(void *impl, const struct gig *g, int64_t expected_version)
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
    drop_err e = gig_query(impl, &filter, opts, out, nout, "gig_for_account");
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
    drop_err e = gig_query(impl, filter, opts, out, nout, "gig_due");
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

drop_err mg_job_create(void *impl, const struct job *j)
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

drop_err mg_job_get(void *impl, const char *id, struct job *out)
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

drop_err mg_job_cas(void *impl, const struct job *j, int64_t expected_version)
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

