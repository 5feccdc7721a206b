/* ops_account.c - accounts, login and tokens.
 *
 * Every handler validates on the loop thread, does its store and crypto work
 * in one task on a pool thread, and answers from the task's completion. Tokens are
 * opaque random strings; the store keeps only their SHA-256 and the token
 * sealed under the server key, so a second login can hand back the same
 * live token (one token per account) while a stolen database yields none.
 * Expiry slides: every login and auth.token moves it to
 * min(now + token_ttl, created_at + token_max_age). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/account.h"
#include "engine/account_json.h"
#include "engine/engine.h"
#include "engine/log.h"
#include "engine/login_throttle.h"
#include "engine/mem.h"
#include "engine/ops.h"
#include "engine/ops_account.h"
#include "engine/ops_handlers.h"
#include "engine/session_state.h"
#include "engine/store.h"
#include "engine/timefmt.h"

struct acct_task *acct_task_new(struct req *r)
{
    struct acct_task *j = xcalloc(1, sizeof *j);
    j->r = r;
    account_init(&j->a);
    return j;
}

void acct_task_free(struct acct_task *j)
{
    account_free(&j->a);
    json_decref(j->out);
    json_decref(j->state);
    free(j);
}

void acct_fail(struct acct_task *j, drop_err e, const char *msg)
{
    j->err = e;
    snprintf(j->why, sizeof j->why, "%s", msg);
}

/* Maps a store failure to its protocol answer. */
void acct_store_fail(struct acct_task *j, drop_err e, const char *what)
{
    if (e == DROP_EUNAVAIL) acct_fail(j, e, "the store is unavailable, retry later");
    else if (e == DROP_ENOTFOUND) acct_fail(j, e, what);
    else acct_fail(j, e, "store error");
}

/* Answers r from a finished task: the error, or j->out. */
void acct_finish(struct acct_task *j)
{
    req_answer(j->r, j->err, j->why, j->out);
    j->out = NULL;
    acct_task_free(j);
}

enum role role_of_type(const char *type)
{
    if (strcmp(type, "operator") == 0) return ROLE_OPERATOR;
    if (strcmp(type, "admin") == 0) return ROLE_ADMIN;
    return ROLE_USER;
}

static int64_t slide(struct engine *e, int64_t now, int64_t created_at)
{
    int64_t a = now + e->set.token_ttl_ms, b = created_at + e->set.token_max_age_ms;
    return a < b ? a : b;
}

/* Marks r as authenticating its connection as account a with token hash,
 * with session.state to follow the reply. */
void acct_authenticate(struct acct_task *j)
{
    struct req *r = j->r;
    r->authenticated = true;
    memset(&r->auth, 0, sizeof r->auth);
    r->auth.role = role_of_type(j->a.type);
    memcpy(r->auth.account, j->a.id, DROP_ID_SIZE);
    memcpy(r->auth.token_hash, j->hash, 32);
    r->auth.has_token = true;
    r->after = json_pack("{s:s,s:o}", "ev", "session.state", "data", j->state);
    j->state = NULL;
}

/* ---- account.register ---- */

static void register_work(struct engine *e, void *arg)
{
    struct acct_task *j = arg;
    char hash[256];
    int64_t now = engine_now(e);
    drop_err rc;

    /* without a password the account signs in by code (ops_code.c): its
     * stored hash is "", which no password verifies */
    hash[0] = '\0';
    if (j->password && e->crypto.password_hash(j->password, hash, sizeof hash) != DROP_OK) {
        acct_fail(j, DROP_EINTERNAL, "password hashing failed");
        return;
    }
    e->crypto.oid_new(j->a.id);
    for (size_t i = 0; i < j->a.n_identities; i++) e->crypto.oid_new(j->a.identities[i].id);
    e->crypto.referral_code(j->a.referral_code);
    account_stamp_new(&j->a, now);
    rc = store_account_create(e->store, &j->a, hash);
    if (rc == DROP_ECONFLICT) acct_fail(j, rc, "identity already registered");
    else if (rc) acct_store_fail(j, rc, "no such account");
    else j->out = j->freelancer ? account_to_freelancer_json(&j->a) : account_to_json(&j->a, false);
    if (!rc && j->r->who.role == ROLE_ADMIN)
        log_info("event=admin_account_created account=%s type=%s by=%s", j->a.id, j->a.type,
                 j->r->who.account[0] ? j->r->who.account : "admin_token");
}

static void register_done(struct engine *e, struct req *r, void *arg)
{
    (void)e;
    (void)r;
    acct_finish(arg);
}

void op_account_register(struct req *r)
{
    struct acct_task *j = acct_task_new(r);
    drop_err rc = DROP_OK;
    bool as_admin = false;
    if (account_is_freelancer_shape(r->data)) { /* the Freelancer seed's /signup body */
        json_t *d = NULL;
        j->freelancer = true;
        rc = account_from_freelancer(r->data, &d, j->why, sizeof j->why);
        if (!rc) {
            json_decref(r->data);
            r->data = d;
        }
    }
    /* an admin (admin_token or an admin account) may create admin accounts */
    json_t *t = json_object_get(r->data, "type");
    if (!rc && r->who.role == ROLE_ADMIN && json_is_string(t) &&
        strcmp(json_string_value(t), "admin") == 0) {
        as_admin = true;
        json_object_set_new(r->data, "type", json_string("user"));
    }
    if (!rc) rc = account_validate_register(r->data, &j->a, &j->password, j->why, sizeof j->why);
    if (!rc && as_admin) strcpy(j->a.type, "admin");
    if (rc) {
        req_fail(r, rc, "%s", j->why);
        acct_task_free(j);
        return;
    }
    r->eng->ports.run_task(r->eng->ports.ctx, r, register_work, register_done, j);
}

/* ---- auth.login ---- */

/* Returns the account's live token (extended) or issues a new one. */
drop_err acct_issue_token(struct engine *e, struct acct_task *j, int64_t now)
{
    struct store_token t;
    drop_err rc = store_token_get_by_account(e->store, j->a.id, now, &t);
    if (rc == DROP_OK &&
        e->crypto.token_unseal(t.sealed, t.sealed_len, j->a.id, j->token) == DROP_OK) {
        memcpy(j->hash, t.hash, 32);
        j->expires_at = slide(e, now, t.created_at);
        return store_token_touch(e->store, t.hash, j->expires_at);
    }
    if (rc != DROP_OK && rc != DROP_ENOTFOUND) return rc;
    memset(&t, 0, sizeof t);
    if (e->crypto.token_generate(j->token) != DROP_OK) return DROP_EINTERNAL;
    e->crypto.token_hash(j->token, t.hash);
    if (e->crypto.token_seal(j->token, j->a.id, t.sealed, &t.sealed_len) != DROP_OK)
        return DROP_EINTERNAL;
    memcpy(t.account, j->a.id, DROP_ID_SIZE);
    t.created_at = now;
    t.expires_at = j->expires_at = slide(e, now, now);
    memcpy(j->hash, t.hash, 32);
    return store_token_put(e->store, &t);
}

static void login_work(struct engine *e, void *arg)
{
    struct acct_task *j = arg;
    char *pwhash = NULL;
    int64_t now = engine_now(e);
    drop_err rc = store_account_by_identity(e->store, j->identity, &j->a, &pwhash);

    if (rc == DROP_ENOTFOUND) {
        e->crypto.password_dummy_verify(j->password); /* same time as a wrong password */
        acct_fail(j, DROP_EUNAUTH, "unknown identity or wrong password");
        return;
    }
    if (rc) {
        acct_store_fail(j, rc, "");
        return;
    }
    if (!pwhash || !pwhash[0]) { /* signs in by code only: same time as a wrong password */
        e->crypto.password_dummy_verify(j->password);
        acct_fail(j, DROP_EUNAUTH, "unknown identity or wrong password");
        goto done;
    }
    if (!e->crypto.password_verify(pwhash, j->password)) {
        acct_fail(j, DROP_EUNAUTH, "unknown identity or wrong password");
        goto done;
    }
    rc = acct_issue_token(e, j, now);
    if (rc) {
        acct_store_fail(j, rc, "account gone");
        goto done;
    }
    j->state = session_state_build(e, &j->a);
    j->out = json_pack("{s:s,s:o,s:o}", "token", j->token, "expiresAt",
                       timefmt_json(j->expires_at), "account", account_to_json(&j->a, false));
done:
    free(pwhash);
}

/* The failure is counted: now the client may hear of it. */
static void login_failure_counted(void *arg)
{
    struct acct_task *j = arg;
    login_throttle_release(j->r->eng, j->identity, j->r->addr);
    acct_finish(j);
}

static void login_done(struct engine *e, struct req *r, void *arg)
{
    struct acct_task *j = arg;
    if (j->err == DROP_EUNAUTH) { /* an unknown identity counts as a wrong password */
        login_throttle_failed(e, j->identity, r->addr, login_failure_counted, j);
        return;
    }
    login_throttle_release(e, j->identity, r->addr);
    if (!j->err) {
        login_throttle_succeeded(e, j->identity);
        acct_authenticate(j);
    }
    acct_finish(j);
}

/* The sign-in brake answered: a locked identity or address is refused
 * before any password is hashed. */
static void login_checked(void *arg, int64_t wait_ms)
{
    struct acct_task *j = arg;
    struct req *r = j->r;
    if (wait_ms > 0) {
        int64_t s = throttle_retry_after_s(wait_ms);
        char msg[96];
        snprintf(msg, sizeof msg, "too many failed sign-ins, retry in %lld s", (long long)s);
        acct_task_free(j);
        req_fail_retry(r, s, msg);
        return;
    }
    r->eng->ports.run_task(r->eng->ports.ctx, r, login_work, login_done, j);
}

void op_auth_login(struct req *r)
{
    struct acct_task *j = acct_task_new(r);
    drop_err rc = account_validate_login(r->data, j->identity, &j->password, j->why, sizeof j->why);
    if (rc) {
        req_fail(r, rc, "%s", j->why);
        acct_task_free(j);
        return;
    }
    login_throttle_check(r->eng, j->identity, r->addr, login_checked, j);
}

/* ---- auth.token ---- */

/* Pool thread: the active account whose token hash is j->hash, into j->a,
 * and the token's expiry slid on. False after recording the failure in j:
 * unauthenticated for an unknown, expired or revoked token or an account
 * that is no longer active, else the store's answer. Used by auth.token
 * and by REST's per-request resolution. */
static bool token_account(struct engine *e, struct acct_task *j)
{
    struct store_token t;
    int64_t now = engine_now(e);
    drop_err rc = store_token_lookup(e->store, j->hash, now, &t);

    if (rc == DROP_EUNAUTH || rc == DROP_ENOTFOUND) goto unknown;
    if (rc == DROP_OK) rc = store_account_get(e->store, t.account, &j->a);
    if (rc == DROP_ENOTFOUND || (rc == DROP_OK && strcmp(j->a.status, "active") != 0)) goto unknown;
    if (rc == DROP_OK) rc = store_token_touch(e->store, j->hash, slide(e, now, t.created_at));
    if (rc) {
        acct_store_fail(j, rc, "");
        return false;
    }
    return true;
unknown:
    acct_fail(j, DROP_EUNAUTH, "unknown, expired or revoked token");
    return false;
}

static void token_work(struct engine *e, void *arg)
{
    struct acct_task *j = arg;
    if (!token_account(e, j)) return;
    j->state = session_state_build(e, &j->a);
    j->out = json_pack("{s:o}", "account", account_to_json(&j->a, false));
}

/* The built-in admin of `admin_token`: no account, no stored token. */
static void admin_login(struct req *r)
{
    struct engine *e = r->eng;
    r->authenticated = true;
    memset(&r->auth, 0, sizeof r->auth);
    r->auth.role = ROLE_ADMIN;
    json_t *acct = json_pack("{s:n,s:s,s:s}", "id", "type", "admin", "firstName", "admin");
    r->after = json_pack("{s:s,s:{s:O,s:[],s:[],s:i}}", "ev", "session.state", "data", "account",
                         acct, "gigs", "offers", "unread", 0);
    (void)e;
    req_reply(r, json_pack("{s:o}", "account", acct));
}

/* Constant-time comparison of two NUL-terminated strings. */
static bool secret_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++) d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return d == 0;
}

void op_auth_token(struct req *r)
{
    struct engine *e = r->eng;
    const char *t = op_arg_str(r, "token"); /* declared: a non-empty string */

    if (e->set.admin_token && e->set.admin_token[0] && secret_equal(t, e->set.admin_token)) {
        admin_login(r);
        return;
    }
    if (!e->crypto.token_well_formed(t)) {
        req_fail(r, DROP_EUNAUTH, "unknown, expired or revoked token");
        return;
    }
    struct acct_task *j = acct_task_new(r);
    e->crypto.token_hash(t, j->hash);
    e->ports.run_task(e->ports.ctx, r, token_work, login_done, j);
}

/* ---- auth.logout ---- */

static void logout_work(struct engine *e, void *arg)
{
    struct acct_task *j = arg;
    drop_err rc = store_token_delete(e->store, j->hash);
    if (rc) acct_store_fail(j, rc, "");
}

static void logout_done(struct engine *e, struct req *r, void *arg)
{
    struct acct_task *j = arg;
    unsigned char hash[32];
    bool ok = !j->err;
    (void)r;
    memcpy(hash, j->hash, 32);
    acct_finish(j); /* the reply is queued before the close frame */
    if (ok) e->ports.close_token(e->ports.ctx, hash);
}

void op_auth_logout(struct req *r)
{
    if (!r->who.has_token) { /* the config admin has nothing to revoke */
        req_reply(r, NULL);
        return;
    }
    struct acct_task *j = acct_task_new(r);
    memcpy(j->hash, r->who.token_hash, 32);
    r->eng->ports.run_task(r->eng->ports.ctx, r, logout_work, logout_done, j);
}

/* ---- account.get / update / delete / list ---- */

/* Resolves data.id (default: self) and checks that the caller may act on
 * it: self, or admin. Returns false after answering r. */
static bool target_of(struct req *r, struct acct_task *j, bool others_allowed)
{
    const char *id = op_arg_str(r, "id"); /* declared: an ObjectId */
    if (id) {
        snprintf(j->target, sizeof j->target, "%s", id);
    } else if (r->who.account[0]) {
        memcpy(j->target, r->who.account, DROP_ID_SIZE);
    } else {
        req_fail(r, DROP_EBADREQ, "id: required for the built-in admin");
        return false;
    }
    if (!others_allowed && r->who.role != ROLE_ADMIN && strcmp(j->target, r->who.account) != 0) {
        req_fail(r, DROP_EFORBIDDEN, "only the account itself or an admin may do this");
        return false;
    }
    return true;
}

static void get_work(struct engine *e, void *arg)
{
    struct acct_task *j = arg;
    drop_err rc = store_account_get(e->store, j->target, &j->a);
    bool self = strcmp(j->target, j->r->who.account) == 0;
    bool admin = j->r->who.role == ROLE_ADMIN;
    if (rc == DROP_OK && !admin && !self && strcmp(j->a.status, "active") != 0)
        rc = DROP_ENOTFOUND;
    if (rc) acct_store_fail(j, rc, "no such account");
    else j->out = account_to_json(&j->a, !(self || admin));
}

static void simple_done(struct engine *e, struct req *r, void *arg)
{
    (void)e;
    (void)r;
    acct_finish(arg);
}

/* Starts a task on the account data.id names (see target_of). */
static void target_task(struct req *r, bool others_allowed, task_work_fn work, task_done_fn done)
{
    struct acct_task *j = acct_task_new(r);
    if (!target_of(r, j, others_allowed)) {
        acct_task_free(j);
        return;
    }
    r->eng->ports.run_task(r->eng->ports.ctx, r, work, done, j);
}

void op_account_get(struct req *r)
{
    target_task(r, true, get_work, simple_done);
}

static void update_work(struct engine *e, void *arg)
{
    struct acct_task *j = arg;
    bool changed = false;
    drop_err rc = store_account_get(e->store, j->target, &j->a);
    if (rc == DROP_OK && strcmp(j->a.status, "active") != 0) rc = DROP_ENOTFOUND;
    if (rc) {
        acct_store_fail(j, rc, "no such account");
        return;
    }
    rc = account_validate_update(j->r->data, &j->a, &changed, j->why, sizeof j->why);
    if (rc) {
        j->err = rc;
        return;
    }
    if (j->new_type[0] && strcmp(j->new_type, j->a.type) != 0) {
        rc = store_account_type_set(e->store, j->a.id, j->new_type, engine_now(e));
        if (rc) {
            acct_store_fail(j, rc, "no such account");
            return;
        }
        log_info("event=admin_account_type account=%s type=%s was=%s by=%s", j->a.id,
                 j->new_type, j->a.type, j->r->who.account[0] ? j->r->who.account : "admin_token");
        snprintf(j->a.type, sizeof j->a.type, "%s", j->new_type);
        j->a.updated_at = engine_now(e);
    } else {
        j->new_type[0] = '\0'; /* nothing changed: nobody to sign out */
    }
    if (changed) {
        j->a.updated_at = engine_now(e);
        rc = store_account_update(e->store, &j->a);
        if (rc) {
            acct_store_fail(j, rc, "no such account");
            return;
        }
    }
    j->out = account_to_json(&j->a, false);
}

static void update_done(struct engine *e, struct req *r, void *arg)
{
    struct acct_task *j = arg;
    char target[DROP_ID_SIZE];
    bool retyped = !j->err && j->new_type[0];
    (void)r;
    memcpy(target, j->a.id, DROP_ID_SIZE);
    acct_finish(j);
    /* its sessions hold the old role: they sign in again */
    if (retyped) e->ports.close_account(e->ports.ctx, target);
}

void op_account_update(struct req *r)
{
    /* the Freelancer seed changes a password with POST /user {password,
     * newPassword} */
    if (op_arg_given(r, "newPassword")) {
        const char *id = op_arg_str(r, "id");
        if (id && strcmp(id, r->who.account) != 0) { /* not someone else's, even an admin's */
            req_fail(r, DROP_EFORBIDDEN, "newPassword: only its owner changes a password");
            return;
        }
        if (ops_check_as(r, "auth.password.change")) op_auth_password_change(r);
        return;
    }
    const char *ts = op_arg_str(r, "type"); /* declared: user, operator or admin */
    char new_type[12] = "";
    if (ts) {
        if (r->who.role != ROLE_ADMIN) {
            req_fail(r, DROP_EFORBIDDEN, "type: only an admin may change an account's type");
            return;
        }
        snprintf(new_type, sizeof new_type, "%s", ts);
        json_object_del(r->data, "type");
    }
    struct acct_task *j = acct_task_new(r);
    memcpy(j->new_type, new_type, sizeof new_type);
    if (!target_of(r, j, false)) {
        acct_task_free(j);
        return;
    }
    r->eng->ports.run_task(r->eng->ports.ctx, r, update_work, update_done, j);
}

static void delete_work(struct engine *e, void *arg)
{
    struct acct_task *j = arg;
    drop_err rc = store_account_archive(e->store, j->target, engine_now(e));
    if (rc) acct_store_fail(j, rc, "no such account");
}

static void delete_done(struct engine *e, struct req *r, void *arg)
{
    struct acct_task *j = arg;
    char target[DROP_ID_SIZE];
    bool ok = !j->err;
    (void)r;
    memcpy(target, j->target, DROP_ID_SIZE);
    acct_finish(j);
    if (ok) e->ports.close_account(e->ports.ctx, target);
}

void op_account_delete(struct req *r)
{
    target_task(r, false, delete_work, delete_done);
}

/* Case-insensitive (ASCII) substring test. */
static bool ci_contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    if (!hay) return false;
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return true;
    }
    return n == 0;
}

static void list_work(struct engine *e, void *arg)
{
    struct acct_task *j = arg;
    struct account *arr = NULL;
    size_t n = 0;
    drop_err rc = store_account_list(e->store, &j->filter, &arr, &n);
    if (rc) {
        acct_store_fail(j, rc, "");
        return;
    }
    bool admin = j->r->who.role == ROLE_ADMIN;
    if (admin) {
        j->out = account_array_to_json(arr, n, false);
    } else {
        /* others see public profiles of active accounts, and q matches names
         * only: a search must not reveal who holds an email or a phone */
        j->out = json_array();
        for (size_t i = 0; i < n; i++) {
            if (j->filter.q && !ci_contains(arr[i].first_name, j->filter.q) &&
                !ci_contains(arr[i].last_name, j->filter.q))
                continue;
            json_array_append_new(j->out, account_to_json(&arr[i], true));
        }
    }
    account_array_free(arr, n);
}

void op_account_list(struct req *r)
{
    struct acct_task *j = acct_task_new(r);
    drop_err rc = account_validate_list(r->data, &j->filter, j->why, sizeof j->why);
    if (!rc && r->who.role != ROLE_ADMIN) j->filter.status = "active";
    if (rc) {
        req_fail(r, rc, "%s", j->why);
        acct_task_free(j);
        return;
    }
    r->eng->ports.run_task(r->eng->ports.ctx, r, list_work, simple_done, j);
}

/* ---- token resolution for REST (one request, no session) ---- */

struct resolve_task {
    struct acct_task base;
    void (*cb)(void *ud, drop_err err, const struct caller *who);
    void *ud;
};

static void resolve_work(struct engine *e, void *arg)
{
    struct resolve_task *rj = arg;
    token_account(e, &rj->base);
}

static void resolve_done(struct engine *e, struct req *r, void *arg)
{
    struct resolve_task *rj = arg;
    struct acct_task *j = &rj->base;
    struct caller who;
    (void)e;
    (void)r;
    memset(&who, 0, sizeof who);
    if (!j->err) {
        who.role = role_of_type(j->a.type);
        memcpy(who.account, j->a.id, DROP_ID_SIZE);
        memcpy(who.token_hash, j->hash, 32);
        who.has_token = true;
    }
    rj->cb(rj->ud, j->err, &who);
    account_free(&j->a);
    free(rj);
}

void engine_resolve_token(struct engine *e, const char *token,
                          void (*cb)(void *ud, drop_err err, const struct caller *who), void *ud)
{
    struct caller who;
    memset(&who, 0, sizeof who);
    if (e->set.admin_token && e->set.admin_token[0] && secret_equal(token, e->set.admin_token)) {
        who.role = ROLE_ADMIN;
        cb(ud, DROP_OK, &who);
        return;
    }
    if (!e->crypto.token_well_formed(token)) {
        cb(ud, DROP_EUNAUTH, &who);
        return;
    }
    struct resolve_task *rj = xcalloc(1, sizeof *rj);
    account_init(&rj->base.a);
    rj->cb = cb;
    rj->ud = ud;
    e->crypto.token_hash(token, rj->base.hash);
    e->ports.run_task(e->ports.ctx, NULL, resolve_work, resolve_done, rj);
}
