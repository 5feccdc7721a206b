/* ops_code.c - one-time codes sent to an identity (PROTOCOL.md section 5):
 * auth.code.send, auth.code.verify, auth.password.reset, and
 * auth.password.change beside them.
 *
 * A code is 6 random digits. The store keeps one record per normalized
 * identity (struct store_code): only the code's HMAC under a key derived
 * from the server key, with a fresh salt per code, the account it was sent
 * for, its expiry (code_ttl), its wrong tries, and the send counters of the
 * rate limit (one send per identity per 30 s, 10 per hour). Every write is a
 * compare-and-set on the record's version, re-read and decided again on a
 * conflict, so on any number of nodes a code is spent once, void after
 * CODE_MAX_TRIES wrong tries, and no more than the limit is sent.
 *
 * No enumeration: auth.code.send answers the same for an unknown or
 * archived identity (its sends are counted alike) and sends nothing; a
 * wrong, expired, spent or unknown code is the same `unauthenticated`.
 * Verifying and resetting go through the sign-in brake (login_throttle.c)
 * like auth.login. The code itself exists only in the task that sends it:
 * never in a log line, a metric or the store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/account.h"
#include "engine/account_json.h"
#include "engine/code.h"
#include "engine/engine.h"
#include "engine/log.h"
#include "engine/login_throttle.h"
#include "engine/mem.h"
#include "engine/ops.h"
#include "engine/ops_account.h"
#include "engine/ops_handlers.h"
#include "engine/session_state.h"
#include "engine/store.h"
#include "engine/throttle.h"
#include "engine/timefmt.h"

#define CODE_CAS_TRIES 8

enum code_op { CODE_SEND, CODE_VERIFY, CODE_RESET, CODE_CHANGE };

struct code_task {
    struct acct_task base;        /* first: acct_finish frees the whole task */
    enum code_op op;
    char type[8];                /* "email" | "phone" */
    char purpose[8];
    char code[CODE_DIGITS + 2];
    bool deliver;                /* send: a known identity, a code to deliver */
    int64_t retry_ms;            /* send: rate_limited, wait this long */
    const char *new_password;    /* reset / change: borrowed from r->data */
    bool had_token;              /* reset / change: tokens to revoke */
    unsigned char old_hash[32];
    bool stay;                   /* verify by a signed-in session: no new sign-in */
};

static struct code_task *code_task_new(struct req *r, enum code_op op)
{
    struct code_task *cj = xcalloc(1, sizeof *cj);
    cj->base.r = r;
    account_init(&cj->base.a);
    cj->op = op;
    return cj;
}

/* Constant-time comparison of two 32-byte hashes. */
static bool hash_equal(const unsigned char *a, const unsigned char *b)
{
    unsigned char d = 0;
    for (int i = 0; i < 32; i++) d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

/* "j***@example.com" / "+*******3830": enough for a person to recognize
 * where the code went, computed from the request alone (the same for an
 * unknown identity). */
static void mask(const char *identity, const char *type, char *out, size_t outlen)
{
    if (strcmp(type, "email") == 0) {
        const char *at = strchr(identity, '@');
        char first = (unsigned char)identity[0] < 0x80 ? identity[0] : '*'; /* whole UTF-8 only */
        snprintf(out, outlen, "%c***%s", first, at ? at : "");
        return;
    }
    size_t n = strlen(identity);
    char stars[24] = "";
    size_t k = n > 4 ? n - 4 : 0;
    for (size_t i = 0; i < k && i < sizeof stars - 1; i++) stars[i] = '*';
    stars[k < sizeof stars - 1 ? k : sizeof stars - 1] = '\0';
    snprintf(out, outlen, "+%s%s", stars, identity + k);
}

static void answer_retry(struct req *r, int64_t wait_ms, const char *what)
{
    int64_t s = throttle_retry_after_s(wait_ms);
    char msg[128];
    snprintf(msg, sizeof msg, "%s, retry in %lld s", what, (long long)s);
    req_fail_retry(r, s, msg);
}

/* ---- auth.code.send ---- */

/* Worker: decides on the identity's record and writes it (CAS, retried). */
static void send_work(struct engine *e, void *arg)
{
    struct code_task *cj = arg;
    struct acct_task *j = &cj->base;
    int64_t now = engine_now(e);
    bool known = false;
    drop_err rc = store_account_by_identity(e->store, j->identity, &j->a, NULL);

    if (rc == DROP_OK) known = true;
    else if (rc != DROP_ENOTFOUND) {
        acct_store_fail(j, rc, "");
        return;
    }
    for (int tries = 0; tries < CODE_CAS_TRIES; tries++) {
        struct store_code c;
        int64_t expected = 0;
        memset(&c, 0, sizeof c);
        rc = store_code_get(e->store, j->identity, &c);
        if (rc == DROP_OK) expected = c.version;
        else if (rc != DROP_ENOTFOUND) {
            acct_store_fail(j, rc, "");
            return;
        } else {
            snprintf(c.identity, sizeof c.identity, "%s", j->identity);
        }
        if ((cj->retry_ms = code_send_admit(&c, expected != 0, now)) > 0) return;
        snprintf(c.purpose, sizeof c.purpose, "%s", cj->purpose);
        c.live = known; /* a new code replaces the previous one */
        memset(c.account, 0, sizeof c.account);
        memset(c.hash, 0, sizeof c.hash);
        c.expires_at = now + e->set.code_ttl_ms;
        if (known) {
            memcpy(c.account, j->a.id, DROP_ID_SIZE);
            if (e->crypto.random(c.salt, sizeof c.salt) != DROP_OK ||
                e->crypto.code_new(cj->code) != DROP_OK) {
                acct_fail(j, DROP_EINTERNAL, "random generator failed");
                return;
            }
            e->crypto.code_hash(c.salt, sizeof c.salt, c.identity, cj->code, c.hash);
        }
        c.version = expected + 1;
        rc = store_code_cas(e->store, &c, expected);
        if (rc == DROP_ECONFLICT) continue; /* another node sent: decide again */
        if (rc) {
            acct_store_fail(j, rc, "");
            return;
        }
        cj->deliver = known;
        j->expires_at = c.expires_at;
        return;
    }
    acct_fail(j, DROP_EUNAVAIL, "too much contention on this identity, retry later");
}

static void send_reply(struct code_task *cj)
{
    struct acct_task *j = &cj->base;
    char masked[ACCOUNT_IDENTITY_SIZE + 24];
    mask(j->identity, cj->type, masked, sizeof masked);
    j->out = json_pack("{s:s,s:o}", "sentTo", masked, "expiresAt", timefmt_json(j->expires_at));
    acct_finish(j);
}

static void send_delivered(void *ud, bool ok)
{
    struct code_task *cj = ud;
    if (!ok) {
        log_warn("event=code_delivery_failed type=%s", cj->type);
        acct_fail(&cj->base, DROP_EUNAVAIL, "the code could not be delivered, retry later");
        acct_finish(&cj->base);
        return;
    }
    send_reply(cj);
}

static void send_done(struct engine *e, struct req *r, void *arg)
{
    struct code_task *cj = arg;
    struct acct_task *j = &cj->base;
    (void)r;
    if (j->err) {
        acct_finish(j);
        return;
    }
    if (cj->retry_ms > 0) {
        struct req *rq = j->r;
        int64_t wait = cj->retry_ms;
        acct_task_free(j);
        answer_retry(rq, wait, "a code was sent to this identity recently");
        return;
    }
    if (!cj->deliver) { /* unknown or archived: the same answer, nothing sent */
        send_reply(cj);
        return;
    }
    char subject[96], text[512];
    int64_t minutes = (e->set.code_ttl_ms + 59999) / 60000;
    const char *why = strcmp(cj->purpose, "reset") == 0    ? "to reset your password"
                      : strcmp(cj->purpose, "verify") == 0 ? "to verify this address"
                                                           : "to sign in";
    snprintf(subject, sizeof subject, "Your Dropin code: %s", cj->code);
    if (strcmp(cj->type, "email") == 0)
        snprintf(text, sizeof text,
                 "Hello %s,\r\n\r\nYour Dropin code %s is:\r\n\r\n    %s\r\n\r\n"
                 "It works once and for %lld minute%s. If you did not ask for it, ignore "
                 "this message.\r\n",
                 j->a.first_name ? j->a.first_name : "", why, cj->code, (long long)minutes,
                 minutes == 1 ? "" : "s");
    else
        snprintf(text, sizeof text, "Your Dropin code %s: %s (valid %lld min)", why, cj->code,
                 (long long)minutes);
    e->notify.send(e->notify.ctx, cj->type, j->identity, subject, text, send_delivered, cj);
    memset(text, 0, sizeof text);
    memset(subject, 0, sizeof subject);
}

void op_auth_code_send(struct req *r)
{
    struct engine *e = r->eng;
    struct code_task *cj = code_task_new(r, CODE_SEND);
    struct acct_task *j = &cj->base;
    const char *type = NULL;
    const char *purpose = op_arg_str(r, "purpose"); /* declared: login, verify or reset */
    drop_err rc = account_validate_identity(r->data, j->identity, &type, j->why, sizeof j->why);

    if (rc) goto bad;
    snprintf(cj->type, sizeof cj->type, "%s", type);
    snprintf(cj->purpose, sizeof cj->purpose, "%s", purpose ? purpose : "login");
    if (!e->notify.send || !e->notify.can(e->notify.ctx, cj->type)) {
        acct_task_free(j);
        req_fail(r, DROP_EUNAVAIL, "no %s delivery is configured on this server",
                 strcmp(type, "email") == 0 ? "email" : "SMS");
        return;
    }
    e->ports.run_task(e->ports.ctx, r, send_work, send_done, cj);
    return;
bad:
    req_fail(r, rc, "%s", j->why);
    acct_task_free(j);
}

/* ---- auth.code.verify / auth.password.reset ---- */

/* Pool thread: sets cj->new_password on the account j->a and revokes every
 * token of it, keeping the live one's hash in cj->old_hash (had_token) so
 * the caller can close its sessions. Store codes; when hashing fails, the
 * failure is recorded in j (j->err set) and DROP_EINTERNAL returned. */
static drop_err set_password(struct engine *e, struct code_task *cj, int64_t now)
{
    struct acct_task *j = &cj->base;
    struct store_token t;
    char hash[256];
    drop_err rc;
    if (e->crypto.password_hash(cj->new_password, hash, sizeof hash) != DROP_OK) {
        acct_fail(j, DROP_EINTERNAL, "password hashing failed");
        return DROP_EINTERNAL;
    }
    if ((rc = store_password_set(e->store, j->a.id, hash, now))) return rc;
    rc = store_token_get_by_account(e->store, j->a.id, now, &t);
    if (rc == DROP_OK) {
        cj->had_token = true;
        memcpy(cj->old_hash, t.hash, 32);
    } else if (rc != DROP_ENOTFOUND) {
        return rc;
    }
    return store_token_delete_by_account(e->store, j->a.id);
}

/* Worker: checks the code against the identity's record and spends it, or
 * counts a wrong try (the fifth voids it). DROP_OK with j->a the account,
 * DROP_EUNAUTH for any failure of the code, else a store code. */
static drop_err spend_code(struct engine *e, struct code_task *cj, int64_t now)
{
    struct acct_task *j = &cj->base;
    drop_err rc = store_account_by_identity(e->store, j->identity, &j->a, NULL);
    if (rc == DROP_ENOTFOUND) return DROP_EUNAUTH;
    if (rc) return rc;
    for (int tries = 0; tries < CODE_CAS_TRIES; tries++) {
        struct store_code c;
        unsigned char h[32];
        rc = store_code_get(e->store, j->identity, &c);
        if (rc == DROP_ENOTFOUND) return DROP_EUNAUTH;
        if (rc) return rc;
        e->crypto.code_hash(c.salt, sizeof c.salt, c.identity, cj->code, h);
        int64_t expected = c.version;
        enum code_try t = code_try(&c, j->a.id, hash_equal(h, c.hash), now);
        if (t == CODE_TRY_DEAD) return DROP_EUNAUTH;
        bool right = t == CODE_TRY_RIGHT;
        c.version = expected + 1;
        rc = store_code_cas(e->store, &c, expected);
        if (rc == DROP_ECONFLICT) continue; /* someone else tried it: decide again */
        if (rc) return rc;
        return right ? DROP_OK : DROP_EUNAUTH;
    }
    return DROP_EUNAVAIL;
}

static void verify_work(struct engine *e, void *arg)
{
    struct code_task *cj = arg;
    struct acct_task *j = &cj->base;
    int64_t now = engine_now(e);
    drop_err rc = spend_code(e, cj, now);

    if (rc == DROP_EUNAUTH) {
        acct_fail(j, rc, "unknown identity, or a wrong, expired or used code");
        return;
    }
    if (rc) goto store;
    if (cj->stay && strcmp(j->a.id, j->r->who.account) != 0) {
        acct_fail(j, DROP_EFORBIDDEN, "identity: not an identity of this account");
        return;
    }
    if ((rc = store_identity_verify(e->store, j->a.id, j->identity, now))) goto store;
    for (size_t i = 0; i < j->a.n_identities; i++)
        if (strcmp(j->a.identities[i].value, j->identity) == 0) {
            strcpy(j->a.identities[i].status, "verified");
            j->a.identities[i].updated_at = now;
        }
    if (cj->op == CODE_RESET) {
        if ((rc = set_password(e, cj, now))) {
            if (j->err) return; /* hashing failed */
            goto store;
        }
        log_info("event=password_reset account=%s", j->a.id);
    }
    /* the same reply either way; a signed-in session keeps its token (the
     * account's one live token) and gets no new session.state */
    if ((rc = acct_issue_token(e, j, now))) goto store;
    if (!cj->stay) j->state = session_state_build(e, &j->a);
    j->out = json_pack("{s:s,s:o,s:o}", "token", j->token, "expiresAt",
                       timefmt_json(j->expires_at), "account", account_to_json(&j->a, false));
    return;
store:
    acct_store_fail(j, rc, "account gone");
}

static void counted(void *arg)
{
    struct acct_task *j = arg;
    login_throttle_release(j->r->eng, j->identity, j->r->addr);
    acct_finish(j);
}

static void verify_done(struct engine *e, struct req *r, void *arg)
{
    struct code_task *cj = arg;
    struct acct_task *j = &cj->base;
    bool revoke = !j->err && cj->had_token;
    unsigned char old[32];
    memcpy(old, cj->old_hash, 32);
    if (j->err == DROP_EUNAUTH) {
        login_throttle_failed(e, j->identity, r->addr, counted, j);
        return;
    }
    login_throttle_release(e, j->identity, r->addr); /* the check reserved it */
    if (!j->err) {
        login_throttle_succeeded(e, j->identity);
        if (!cj->stay) acct_authenticate(j);
    }
    acct_finish(j);
    /* every other token of the account is gone: their sessions close 4401 */
    if (revoke) e->ports.close_token(e->ports.ctx, old);
}

static void verify_checked(void *arg, int64_t wait_ms)
{
    struct code_task *cj = arg;
    struct req *r = cj->base.r;
    if (wait_ms > 0) {
        acct_task_free(&cj->base);
        answer_retry(r, wait_ms, "too many failed sign-ins");
        return;
    }
    r->eng->ports.run_task(r->eng->ports.ctx, r, verify_work, verify_done, cj);
}

static void code_sign_in(struct req *r, enum code_op op)
{
    struct code_task *cj = code_task_new(r, op);
    struct acct_task *j = &cj->base;
    const char *type = NULL;
    const char *code = op_arg_str(r, "code"); /* declared: a string */
    drop_err rc = account_validate_identity(r->data, j->identity, &type, j->why, sizeof j->why);

    if (rc) goto bad;
    /* blanks a person may type inside the code are dropped */
    size_t o = 0;
    for (const char *s = code; *s; s++) {
        if (*s == ' ' || *s == '-') continue;
        if (*s < '0' || *s > '9' || o >= CODE_DIGITS) {
            o = CODE_DIGITS + 1;
            break;
        }
        cj->code[o++] = *s;
    }
    if (o != CODE_DIGITS) {
        rc = DROP_EBADREQ;
        snprintf(j->why, sizeof j->why, "code must be %d digits", CODE_DIGITS);
        goto bad;
    }
    cj->code[o] = '\0';
    if (op == CODE_RESET &&
        (rc = account_validate_password(r->data, "password", &cj->new_password, j->why,
                                        sizeof j->why)))
        goto bad;
    cj->stay = op == CODE_VERIFY && r->who.role != ROLE_ANON;
    if (cj->stay && !r->who.account[0]) {
        rc = DROP_EBADREQ;
        snprintf(j->why, sizeof j->why, "the built-in admin has no identities");
        goto bad;
    }
    login_throttle_check(r->eng, j->identity, r->addr, verify_checked, cj);
    return;
bad:
    req_fail(r, rc, "%s", j->why);
    acct_task_free(j);
}

void op_auth_code_verify(struct req *r)
{
    code_sign_in(r, CODE_VERIFY);
}

void op_auth_password_reset(struct req *r)
{
    code_sign_in(r, CODE_RESET);
}

/* ---- auth.password.change ---- */

static void change_work(struct engine *e, void *arg)
{
    struct code_task *cj = arg;
    struct acct_task *j = &cj->base;
    int64_t now = engine_now(e);
    char *pwhash = NULL;
    struct account probe;
    drop_err rc = store_account_get(e->store, j->r->who.account, &j->a);

    if (rc == DROP_OK && strcmp(j->a.status, "active") != 0) rc = DROP_ENOTFOUND;
    if (rc) goto store;
    /* the hash comes with a lookup by identity; an account has at least one */
    if (j->a.n_identities == 0) {
        acct_fail(j, DROP_EINTERNAL, "account without identities");
        return;
    }
    rc = store_account_by_identity(e->store, j->a.identities[0].value, &probe, &pwhash);
    account_free(&probe);
    if (rc) goto store;
    if (!pwhash[0]) { /* a code-only account sets its first password by reset */
        e->crypto.password_dummy_verify(j->password);
        acct_fail(j, DROP_EUNAUTH, "wrong password");
        goto done;
    }
    if (!e->crypto.password_verify(pwhash, j->password)) {
        acct_fail(j, DROP_EUNAUTH, "wrong password");
        goto done;
    }
    /* other tokens are revoked; the caller keeps signing in on a new one */
    if ((rc = set_password(e, cj, now))) {
        if (j->err) goto done; /* hashing failed */
        goto store;
    }
    if ((rc = acct_issue_token(e, j, now))) goto store;
    log_info("event=password_changed account=%s", j->a.id);
    j->out = json_pack("{s:s,s:o,s:o}", "token", j->token, "expiresAt",
                       timefmt_json(j->expires_at), "account", account_to_json(&j->a, false));
    goto done;
store:
    acct_store_fail(j, rc, "no such account");
done:
    free(pwhash);
}

static void change_done(struct engine *e, struct req *r, void *arg)
{
    struct code_task *cj = arg;
    struct acct_task *j = &cj->base;
    bool ok = !j->err;
    unsigned char old[32];
    memcpy(old, cj->old_hash, 32);
    if (ok && r->conn && r->who.has_token) {
        /* this connection moves to the new token before the old one closes */
        r->authenticated = true;
        r->auth = r->who;
        memcpy(r->auth.token_hash, j->hash, 32);
    }
    bool revoke = ok && cj->had_token;
    acct_finish(j);
    if (revoke) e->ports.close_token(e->ports.ctx, old);
}

void op_auth_password_change(struct req *r)
{
    struct code_task *cj = code_task_new(r, CODE_CHANGE);
    struct acct_task *j = &cj->base;
    drop_err rc;
    if (!r->who.account[0]) {
        req_fail(r, DROP_EBADREQ, "the built-in admin has no password");
        acct_task_free(j);
        return;
    }
    j->password = op_arg_str(r, "password"); /* declared: the current one, non-empty */
    if ((rc = account_validate_password(r->data, "newPassword", &cj->new_password, j->why,
                                        sizeof j->why)))
        goto bad;
    r->eng->ports.run_task(r->eng->ports.ctx, r, change_work, change_done, cj);
    return;
bad:
    req_fail(r, rc, "%s", j->why);
    acct_task_free(j);
}
