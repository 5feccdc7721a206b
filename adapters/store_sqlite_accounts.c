/* store_sqlite_accounts.c - accounts, their identities and tokens on SQLite
 * (see store_sqlite.h; the shared helpers are store_sqlite_internal.h's). */
#include "adapters/store_sqlite_internal.h"

#include "engine/gig_record.h"

/* Fills a (initialized here) from a row of ACC_COLS. */
static void row_account(sqlite3_stmt *st, struct account *a)
{
    account_init(a);
    col_copy(st, 0, a->id, sizeof a->id);
    a->first_name = col_dup(st, 1, false);
    a->last_name = col_dup(st, 2, false);
    col_copy(st, 3, a->type, sizeof a->type);
    col_copy(st, 4, a->status, sizeof a->status);
    a->archive = strcmp(a->status, "archived") == 0;
    a->organization = col_dup(st, 5, true);
    a->picture = col_dup(st, 6, true);
    col_copy(st, 7, a->referral_code, sizeof a->referral_code);
    a->referral_rate = sqlite3_column_int(st, 8);
    a->operator_rating = sqlite3_column_double(st, 9);
    a->operator_rating_count = sqlite3_column_int64(st, 10);
    a->customer_rating = sqlite3_column_double(st, 11);
    a->customer_rating_count = sqlite3_column_int64(st, 12);
    a->created_at = sqlite3_column_int64(st, 13);
    a->updated_at = sqlite3_column_int64(st, 14);
}

/* Loads the identities of a (a->id set). Returns an SQLite code. */
static int load_identities(struct sq *s, struct account *a)
{
    sqlite3_stmt *st = stmt(s, ST_IDN_BY_ACC);
    int rc;
    sqlite3_bind_text(st, 1, a->id, -1, SQLITE_TRANSIENT);
    a->n_identities = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (a->n_identities == ACCOUNT_MAX_IDENTITIES) continue;
        struct identity *id = &a->identities[a->n_identities++];
        col_copy(st, 0, id->id, sizeof id->id);
        col_copy(st, 1, id->type, sizeof id->type);
        col_copy(st, 2, id->value, sizeof id->value);
        col_copy(st, 3, id->status, sizeof id->status);
        id->created_at = sqlite3_column_int64(st, 4);
        id->updated_at = sqlite3_column_int64(st, 5);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

drop_err sq_account_create(void *impl, const struct account *a, const char *pw_hash)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    int rc;
    pthread_mutex_lock(&s->mu);
    if ((rc = begin(s)) != SQLITE_OK) goto fail;

    sqlite3_stmt *st = stmt(s, ST_ACC_INSERT);
    bind_text(st, 1, a->id);
    bind_text(st, 2, a->first_name ? a->first_name : "");
    bind_text(st, 3, a->last_name ? a->last_name : "");
    bind_text(st, 4, a->type);
    bind_text(st, 5, a->status[0] ? a->status : "active");
    bind_text(st, 6, a->organization);
    bind_text(st, 7, a->picture);
    bind_text(st, 8, a->referral_code);
    sqlite3_bind_int(st, 9, a->referral_rate);
    sqlite3_bind_double(st, 10, a->operator_rating);
    sqlite3_bind_int64(st, 11, a->operator_rating_count);
    sqlite3_bind_double(st, 12, a->customer_rating);
    sqlite3_bind_int64(st, 13, a->customer_rating_count);
    bind_text(st, 14, pw_hash);
    sqlite3_bind_int64(st, 15, a->created_at);
    sqlite3_bind_int64(st, 16, a->updated_at);
    if ((rc = run(st)) != SQLITE_DONE) goto fail;

    for (size_t i = 0; i < a->n_identities && i < ACCOUNT_MAX_IDENTITIES; i++) {
        const struct identity *id = &a->identities[i];
        st = stmt(s, ST_IDN_INSERT);
        bind_text(st, 1, id->id);
        bind_text(st, 2, a->id);
        sqlite3_bind_int(st, 3, (int)i);
        bind_text(st, 4, id->type);
        bind_text(st, 5, id->value);
        bind_text(st, 6, id->status[0] ? id->status : "unverified");
        sqlite3_bind_int64(st, 7, id->created_at);
        sqlite3_bind_int64(st, 8, id->updated_at);
        if ((rc = run(st)) != SQLITE_DONE) goto fail;
    }
    if ((rc = commit(s)) != SQLITE_OK) goto fail;
    goto done;
fail:
    e = map_rc(s, sqlite3_extended_errcode(s->db), "account_create");
    rollback(s);
done:
    pthread_mutex_unlock(&s->mu);
    return e;
}

drop_err sq_account_get(void *impl, const char *id, struct account *out)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    struct account a;
    account_init(&a);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_ACC_GET);
    bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) row_account(st, &a);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) {
        e = DROP_ENOTFOUND;
    } else if (rc != SQLITE_ROW || (rc = load_identities(s, &a)) != SQLITE_OK) {
        e = map_rc(s, rc, "account_get");
    }
    pthread_mutex_unlock(&s->mu);
    if (e == DROP_OK) *out = a;
    else account_free(&a);
    return e;
}

drop_err sq_account_by_identity(void *impl, const char *value, struct account *out,
                                       char **pw_hash)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    struct account a;
    char *hash = NULL;
    account_init(&a);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_ACC_BY_IDN);
    bind_text(st, 1, value);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        row_account(st, &a);
        hash = col_dup(st, ACC_NCOLS, false);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) {
        e = DROP_ENOTFOUND;
    } else if (rc != SQLITE_ROW || (rc = load_identities(s, &a)) != SQLITE_OK) {
        e = map_rc(s, rc, "account_by_identity");
    }
    pthread_mutex_unlock(&s->mu);
    if (e == DROP_OK) {
        *out = a;
        if (pw_hash) *pw_hash = hash;
        else free(hash);
    } else {
        account_free(&a);
        free(hash);
    }
    return e;
}

drop_err sq_account_update(void *impl, const struct account *a)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_ACC_UPDATE);
    bind_text(st, 1, a->id);
    bind_text(st, 2, a->first_name ? a->first_name : "");
    bind_text(st, 3, a->last_name ? a->last_name : "");
    bind_text(st, 4, a->organization);
    bind_text(st, 5, a->picture);
    sqlite3_bind_int64(st, 6, a->updated_at);
    int rc = run(st);
    if (rc != SQLITE_DONE) e = map_rc(s, rc, "account_update");
    else if (sqlite3_changes(s->db) == 0) e = DROP_ENOTFOUND;
    pthread_mutex_unlock(&s->mu);
    return e;
}

drop_err sq_account_archive(void *impl, const char *id, int64_t now)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    int rc;
    pthread_mutex_lock(&s->mu);
    if ((rc = begin(s)) != SQLITE_OK) goto fail;
    sqlite3_stmt *st = stmt(s, ST_ACC_ARCHIVE);
    bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    if ((rc = run(st)) != SQLITE_DONE) goto fail;
    if (sqlite3_changes(s->db) == 0) {
        e = DROP_ENOTFOUND;
        rollback(s);
        goto done;
    }
    st = stmt(s, ST_IDN_RELEASE);
    bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    if ((rc = run(st)) != SQLITE_DONE) goto fail;
    st = stmt(s, ST_TOK_DEL_ACC);
    bind_text(st, 1, id);
    if ((rc = run(st)) != SQLITE_DONE) goto fail;
    if ((rc = commit(s)) != SQLITE_OK) goto fail;
    goto done;
fail:
    e = map_rc(s, sqlite3_extended_errcode(s->db), "account_archive");
    rollback(s);
done:
    pthread_mutex_unlock(&s->mu);
    return e;
}

drop_err sq_account_list(void *impl, const struct account_filter *f, struct account **out,
                                size_t *nout)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    struct account *arr = NULL;
    size_t n = 0, cap = 0;
    char q[ACCOUNT_IDENTITY_SIZE];
    int rc = SQLITE_OK;
    int limit = f->limit < 1 ? ACCOUNT_LIST_DEFAULT : f->limit;
    if (limit > ACCOUNT_LIST_MAX) limit = ACCOUNT_LIST_MAX;
    if (f->skip < 0) return DROP_EBADREQ;
    if (f->q) {
        size_t i = 0;
        for (; f->q[i] && i < ACCOUNT_IDENTITY_MAX; i++)
            q[i] = (f->q[i] >= 'A' && f->q[i] <= 'Z') ? (char)(f->q[i] - 'A' + 'a') : f->q[i];
        q[i] = '\0';
    }
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_ACC_LIST);
    bind_text(st, 1, f->type);
    bind_text(st, 2, f->status);
    bind_text(st, 3, f->q ? q : NULL);
    sqlite3_bind_int(st, 4, limit);
    sqlite3_bind_int(st, 5, f->skip);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            arr = xrealloc(arr, cap * sizeof *arr);
        }
        row_account(st, &arr[n++]);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) goto fail;
    for (size_t i = 0; i < n; i++)
        if ((rc = load_identities(s, &arr[i])) != SQLITE_OK) goto fail;
    goto done;
fail:
    e = map_rc(s, rc, "account_list");
done:
    pthread_mutex_unlock(&s->mu);
    if (e == DROP_OK) {
        *out = n ? arr : NULL;
        *nout = n;
        if (!n) free(arr);
    } else {
        account_array_free(arr, n);
    }
    return e;
}

drop_err sq_account_add_rating(void *impl, const char *id, bool as_operator, int rating,
                                      int64_t now)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    if (!account_rating_valid(rating)) return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, as_operator ? ST_RATE_OP : ST_RATE_CU);
    bind_text(st, 1, id);
    sqlite3_bind_double(st, 2, (double)rating);
    sqlite3_bind_int64(st, 3, now);
    int rc = run(st);
    if (rc != SQLITE_DONE) e = map_rc(s, rc, "account_add_rating");
    else if (sqlite3_changes(s->db) == 0) e = DROP_ENOTFOUND;
    pthread_mutex_unlock(&s->mu);
    return e;
}

/* ---- tokens ------------------------------------------------------------- */

static void row_token(sqlite3_stmt *st, struct store_token *t)
{
    memset(t, 0, sizeof *t);
    const void *h = sqlite3_column_blob(st, 0);
    int hl = sqlite3_column_bytes(st, 0);
    if (h && hl == STORE_TOKEN_HASH_LEN) memcpy(t->hash, h, STORE_TOKEN_HASH_LEN);
    const void *b = sqlite3_column_blob(st, 1);
    int bl = sqlite3_column_bytes(st, 1);
    if (b && bl > 0 && bl <= STORE_SEALED_MAX) {
        memcpy(t->sealed, b, (size_t)bl);
        t->sealed_len = (size_t)bl;
    }
    col_copy(st, 2, t->account, sizeof t->account);
    t->created_at = sqlite3_column_int64(st, 3);
    t->expires_at = sqlite3_column_int64(st, 4);
}

drop_err sq_token_put(void *impl, const struct store_token *t)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    int rc;
    if (t->sealed_len == 0 || t->sealed_len > STORE_SEALED_MAX) return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    if ((rc = begin(s)) != SQLITE_OK) goto fail;
    sqlite3_stmt *st = stmt(s, ST_TOK_DEL_ACC);
    bind_text(st, 1, t->account);
    if ((rc = run(st)) != SQLITE_DONE) goto fail;
    st = stmt(s, ST_TOK_INSERT);
    sqlite3_bind_blob(st, 1, t->hash, STORE_TOKEN_HASH_LEN, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 2, t->sealed, (int)t->sealed_len, SQLITE_TRANSIENT);
    bind_text(st, 3, t->account);
    sqlite3_bind_int64(st, 4, t->created_at);
    sqlite3_bind_int64(st, 5, t->expires_at);
    if ((rc = run(st)) != SQLITE_DONE) goto fail;
    if ((rc = commit(s)) != SQLITE_OK) goto fail;
    goto done;
fail:
    rc = sqlite3_extended_errcode(s->db);
    e = rc == SQLITE_CONSTRAINT_FOREIGNKEY ? DROP_ENOTFOUND : map_rc(s, rc, "token_put");
    rollback(s);
done:
    pthread_mutex_unlock(&s->mu);
    return e;
}

/* Reads one token row by the statement id bound to key; deletes it when it
 * expired. miss is the code for none / expired. Mutex held by the caller. */
static drop_err token_read(struct sq *s, sqlite3_stmt *st, int64_t now, drop_err miss,
                           struct store_token *out, const char *op)
{
    struct store_token t;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) row_token(st, &t);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) return miss;
    if (rc != SQLITE_ROW) return map_rc(s, rc, op);
    if (t.expires_at <= now) {
        sqlite3_stmt *del = stmt(s, ST_TOK_DEL);
        sqlite3_bind_blob(del, 1, t.hash, STORE_TOKEN_HASH_LEN, SQLITE_TRANSIENT);
        if ((rc = run(del)) != SQLITE_DONE) map_rc(s, rc, op); /* logged; still a miss */
        return miss;
    }
    *out = t;
    return DROP_OK;
}

drop_err sq_token_get_by_account(void *impl, const char *account, int64_t now,
                                        struct store_token *out)
{
    struct sq *s = impl;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_TOK_BY_ACC);
    bind_text(st, 1, account);
    drop_err e = token_read(s, st, now, DROP_ENOTFOUND, out, "token_get_by_account");
    pthread_mutex_unlock(&s->mu);
    return e;
}

drop_err sq_token_lookup(void *impl, const unsigned char hash[STORE_TOKEN_HASH_LEN],
                                int64_t now, struct store_token *out)
{
    struct sq *s = impl;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_TOK_BY_HASH);
    sqlite3_bind_blob(st, 1, hash, STORE_TOKEN_HASH_LEN, SQLITE_TRANSIENT);
    drop_err e = token_read(s, st, now, DROP_EUNAUTH, out, "token_lookup");
    pthread_mutex_unlock(&s->mu);
    return e;
}

/* Runs a one-statement write keyed by a token hash or an account id.
 * zero_rows is returned when nothing changed. */
static drop_err token_write(struct sq *s, enum stmt id, const unsigned char *hash,
                            const char *account, const int64_t *ts, drop_err zero_rows,
                            const char *op)
{
    drop_err e = DROP_OK;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, id);
    if (hash) sqlite3_bind_blob(st, 1, hash, STORE_TOKEN_HASH_LEN, SQLITE_TRANSIENT);
    else bind_text(st, 1, account);
    if (ts) sqlite3_bind_int64(st, 2, *ts);
    int rc = run(st);
    if (rc != SQLITE_DONE) e = map_rc(s, rc, op);
    else if (sqlite3_changes(s->db) == 0) e = zero_rows;
    pthread_mutex_unlock(&s->mu);
    return e;
}

drop_err sq_token_touch(void *impl, const unsigned char hash[STORE_TOKEN_HASH_LEN],
                               int64_t expires_at)
{
    return token_write(impl, ST_TOK_TOUCH, hash, NULL, &expires_at, DROP_EUNAUTH, "token_touch");
}

drop_err sq_token_delete(void *impl, const unsigned char hash[STORE_TOKEN_HASH_LEN])
{
    return token_write(impl, ST_TOK_DEL, hash, NULL, NULL, DROP_OK, "token_delete");
}

drop_err sq_token_delete_by_account(void *impl, const char *account)
{
    return token_write(impl, ST_TOK_DEL_ACC, NULL, account, NULL, DROP_OK,
                       "token_delete_by_account");
}

