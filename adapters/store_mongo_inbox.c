/* store_mongo_inbox.c - inbox messages on MongoDB (see store_mongo.c's
 * header and store_mongo_internal.h). */
#include "adapters/store_mongo_internal.h"

/* ---- inbox -------------------------------------------------------------------- */

static void message_field(const char *k, bson_iter_t *it, void *out)
{
    struct message *m = out;
    if (!strcmp(k, "_id")) oid_hex(it, m->id);
    else if (!strcmp(k, "from")) oid_hex(it, m->from);
    else if (!strcmp(k, "to")) oid_hex(it, m->to);
    else if (!strcmp(k, "text") && !m->text) m->text = it_dup(it);
    else if (!strcmp(k, "createdAt")) m->created_at = it_i64(it);
    else if (!strcmp(k, "readAt")) m->read_at = it_i64(it); /* null reads as 0 */
}

static drop_err doc_message(const bson_t *doc, struct message *m)
{
    memset(m, 0, sizeof *m);
    if (!doc_fields(doc, message_field, m)) return DROP_EINTERNAL;
    if (!m->text || !id_valid(m->id)) {
        message_free(m);
        log_error("event=store_error backend=mongodb op=message_read reason=bad_document");
        return DROP_EINTERNAL;
    }
    return DROP_OK;
}

drop_err mg_message_create(void *impl, const struct message *msg)
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

drop_err mg_message_list(void *impl, const char *to, int64_t before, int limit,
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
    drop_err e = find_pooled(m, C_MESSAGES, &filter, opts, collect_message, &l, "message_list");
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
drop_err mg_message_mark_read(void *impl, const char *to, const char (*ids)[DROP_ID_SIZE],
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

drop_err mg_message_unread(void *impl, const char *to, int64_t *count)
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

