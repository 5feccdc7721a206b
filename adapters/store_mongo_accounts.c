/* store_mongo_accounts.c - accounts (with their identities) and tokens on
 * MongoDB (documents: store_mongo.c's header; helpers: store_mongo_internal.h). */
#include "adapters/store_mongo_internal.h"

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

drop_err mg_account_create(void *impl, const struct account *a, const char *pw_hash)
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

drop_err mg_account_get(void *impl, const char *id, struct account *out)
{
    bson_oid_t oid;
    if (!to_oid(id, &oid)) return DROP_ENOTFOUND;
    bson_t *filter = BCON_NEW("_id", BCON_OID(&oid));
    drop_err e = account_read(impl, filter, out, NULL, "account_get");
    bson_destroy(filter);
    return e;
}

drop_err mg_account_by_identity(void *impl, const char *value, struct account *out,
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

drop_err mg_account_update(void *impl, const struct account *a)
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
drop_err mg_account_archive(void *impl, const char *id, int64_t now)
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

drop_err mg_account_list(void *impl, const struct account_filter *f, struct account **out,
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
    drop_err e = find_pooled(m, C_ACCOUNTS, &filter, opts, collect_account, &l, "account_list");
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
drop_err mg_account_add_rating(void *impl, const char *id, bool as_operator, int rating,
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

static void token_field(const char *k, bson_iter_t *it, void *out)
{
    struct store_token *t = out;
    const uint8_t *bin;
    uint32_t len;
    bson_subtype_t sub;
    if (!strcmp(k, "hash") && BSON_ITER_HOLDS_BINARY(it)) {
        bson_iter_binary(it, &sub, &len, &bin);
        if (len == STORE_TOKEN_HASH_LEN) memcpy(t->hash, bin, len);
    } else if (!strcmp(k, "sealed") && BSON_ITER_HOLDS_BINARY(it)) {
        bson_iter_binary(it, &sub, &len, &bin);
        if (len > 0 && len <= STORE_SEALED_MAX) {
            memcpy(t->sealed, bin, len);
            t->sealed_len = len;
        }
    } else if (!strcmp(k, "account")) {
        oid_hex(it, t->account);
    } else if (!strcmp(k, "createdAt")) {
        t->created_at = it_i64(it);
    } else if (!strcmp(k, "expiresAt")) {
        t->expires_at = it_i64(it);
    }
}

static void doc_token(const bson_t *doc, struct store_token *t)
{
    memset(t, 0, sizeof *t);
    doc_fields(doc, token_field, t);
}

/* One token per account: an upsert replacing the account's token document
 * (atomic per document). Two racing puts on a real MongoDB may both try to
 * insert: the unique index on account refuses one, which then replaces. */
drop_err mg_token_put(void *impl, const struct store_token *t)
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

drop_err mg_token_get_by_account(void *impl, const char *account, int64_t now,
                                        struct store_token *out)
{
    bson_oid_t acc;
    if (!to_oid(account, &acc)) return DROP_ENOTFOUND;
    bson_t *filter = BCON_NEW("account", BCON_OID(&acc));
    drop_err e = token_read(impl, filter, now, DROP_ENOTFOUND, out, "token_get_by_account");
    bson_destroy(filter);
    return e;
}

drop_err mg_token_lookup(void *impl, const unsigned char hash[STORE_TOKEN_HASH_LEN],
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
drop_err mg_token_touch(void *impl, const unsigned char hash[STORE_TOKEN_HASH_LEN],
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

drop_err mg_token_delete(void *impl, const unsigned char hash[STORE_TOKEN_HASH_LEN])
{
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_BINARY(&filter, "hash", BSON_SUBTYPE_BINARY, hash, STORE_TOKEN_HASH_LEN);
    drop_err e = token_delete_where(impl, &filter, "token_delete");
    bson_destroy(&filter);
    return e;
}

drop_err mg_token_delete_by_account(void *impl, const char *account)
{
    bson_oid_t acc;
    if (!to_oid(account, &acc)) return DROP_OK;
    bson_t *filter = BCON_NEW("account", BCON_OID(&acc));
    drop_err e = token_delete_where(impl, filter, "token_delete_by_account");
    bson_destroy(filter);
    return e;
}

