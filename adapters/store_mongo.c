/* store_mongo.c - the store port on MongoDB (see store_mongo.h).
 *
 * Layout: this file holds driver setup (init once, the log handler),
 * close/ping, the vtable and open (URI options, ping, indexes); error
 * mapping, the per-call client helpers (pop / push a pooled client, find /
 * write wrappers) and the field helpers are store_mongo_internal.h's; the
 * ops live by concept: store_mongo_accounts.c (accounts, tokens),
 * store_mongo_records.c (every record kind through one JSON <-> BSON
 * mapping, the named gig and job queries, operator booking records),
 * store_mongo_inbox.c, store_mongo_devices.c.
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
 *             updatedAt, version}: the record of engine/job.h mapped like a
 *             gig's (struct record_kind JOB_KIND).
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
 * Compare-and-set: record_cas (every kind) is one findAndModify whose
 * filter holds the expected version; account_add_rating is a CAS loop on the vote count.
 * No multi-document transactions are used (see account_archive for the
 * order of its writes). */
#include "adapters/store_mongo_internal.h"

/* ---- driver setup --------------------------------------------------------- */

static pthread_once_t driver_once = PTHREAD_ONCE_INIT;

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

/* ---- ops: accounts ---------------------------------------------------------- */

void mg_close(void *impl)
{
    struct mg *m = impl;
    if (!m) return;
    if (m->pool) mongoc_client_pool_destroy(m->pool);
    if (m->uri) mongoc_uri_destroy(m->uri);
    free(m);
}

drop_err mg_ping(void *impl)
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
    .record_create = mg_record_create,
    .record_get = mg_record_get,
    .record_cas = mg_record_cas,
    .record_delete = mg_record_delete,
    .record_list = mg_record_list,
    .gig_list = mg_gig_list,
    .gig_for_account = mg_gig_for_account,
    .gig_due = mg_gig_due,
    .gig_unrated = mg_gig_unrated,
    .message_create = mg_message_create,
    .message_list = mg_message_list,
    .message_mark_read = mg_message_mark_read,
    .message_unread = mg_message_unread,
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
