/* push_fcm.c - Firebase Cloud Messaging, HTTP v1 API (push_internal.h).
 *
 * Auth is the OAuth2 service-account flow: an RS256 JWT assertion (iss =
 * client_email, scope firebase.messaging, aud = token_uri, iat, exp = iat
 * + 1 h) is posted to token_uri as grant_type jwt-bearer; the access token
 * in the answer is cached until a minute before it expires. Sends that
 * arrive while no token is cached wait in a list for the one exchange in
 * flight. Then each message is
 *   POST {url}/v1/projects/{project_id}/messages:send
 *   Authorization: Bearer <access token>
 *   {"message": {token, notification {title, body}, data {strings},
 *                android {priority, ttl, collapse_key},
 *                apns {headers {apns-priority, apns-expiration, apns-collapse-id}}}}
 * Answers: 2xx sent; 404, or an error naming UNREGISTERED, or
 * INVALID_ARGUMENT about the registration token: the token is gone; 401:
 * the cached access token is dropped and the send retried; 429 / 5xx /
 * network: retry (with Retry-After); other 4xx: rejected. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "adapters/curl_uv.h"
#include "adapters/push_internal.h"
#include "engine/log.h"
#include "engine/mem.h"

#define FCM_SCOPE "https://www.googleapis.com/auth/firebase.messaging"
#define TOKEN_LIFE_S 3600
#define TOKEN_MARGIN_MS 60000

struct fcm_wait {
    struct fcm_wait *next;
    char *token;
    struct push_note note; /* data referenced */
    int64_t now;
    push_outcome_fn done;
    void *ud;
};

struct push_fcm {
    struct curl_uv *cu;
    char *email, *key, *token_uri, *project, *send_url;
    size_t keylen;
    int64_t timeout_ms;
    char *access;          /* "Authorization: Bearer ..." or NULL */
    int64_t access_until;  /* ms */
    bool fetching;
    struct fcm_wait *waiting, **waiting_tail;
    bool closing;
};

struct fcm_call {
    struct push_fcm *f;
    push_outcome_fn done;
    void *ud;
};

static void wipe_free(char *s)
{
    if (s) memset(s, 0, strlen(s));
    free(s);
}

/* ---- the message ---- */

static char *message_body(const char *token, const struct push_note *n, int64_t now)
{
    json_t *android = json_object(), *hdrs = json_object();
    json_object_set_new(android, "priority", json_string(n->high ? "HIGH" : "NORMAL"));
    json_object_set_new(hdrs, "apns-priority", json_string(n->high ? "10" : "5"));
    if (n->expires_at) {
        int64_t left = n->expires_at - now;
        char ttl[32], exp[32];
        if (left < 0) left = 0;
        snprintf(ttl, sizeof ttl, "%lld.%03llds", (long long)(left / 1000),
                 (long long)(left % 1000));
        json_object_set_new(android, "ttl", json_string(ttl));
        snprintf(exp, sizeof exp, "%lld", (long long)(n->expires_at / 1000));
        json_object_set_new(hdrs, "apns-expiration", json_string(exp));
    }
    if (n->collapse[0]) {
        json_object_set_new(android, "collapse_key", json_string(n->collapse));
        json_object_set_new(hdrs, "apns-collapse-id", json_string(n->collapse));
    }
    json_t *msg = json_pack("{s:{s:s,s:{s:s,s:s},s:O,s:o,s:{s:o}}}", "message", "token", token,
                            "notification", "title", n->title, "body", n->body, "data", n->data,
                            "android", android, "apns", "headers", hdrs);
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    return text;
}

/* True when an error answer says the registration token is no good. */
static bool token_gone(long status, const char *body)
{
    if (status == 404) return true;
    json_t *j = json_loads(body, 0, NULL);
    bool gone = false;
    json_t *err = json_object_get(j, "error");
    const char *st = json_string_value(json_object_get(err, "status"));
    const char *msg = json_string_value(json_object_get(err, "message"));
    json_t *details = json_object_get(err, "details"), *d;
    size_t i;
    if (st && strcmp(st, "UNREGISTERED") == 0) gone = true;
    json_array_foreach(details, i, d)
    {
        const char *code = json_string_value(json_object_get(d, "errorCode"));
        if (code && strcmp(code, "UNREGISTERED") == 0) gone = true;
    }
    if (st && strcmp(st, "INVALID_ARGUMENT") == 0 && msg &&
        (strstr(msg, "token") || strstr(msg, "Token"))) gone = true;
    json_decref(j);
    return gone;
}

static void send_done(void *arg, int curl_rc, long status, const char *body, size_t len)
{
    struct fcm_call *c = arg;
    struct push_fcm *f = c->f;
    enum push_outcome o;
    int64_t ra = curl_uv_retry_after(f->cu) * 1000;
    (void)len;
    if (curl_rc != 0) o = PUSH_RETRY;
    else if (status >= 200 && status < 300) o = PUSH_SENT;
    else if (status == 401) {
        wipe_free(f->access); /* expired or revoked: exchange again */
        f->access = NULL;
        o = PUSH_RETRY;
    } else if (status == 429 || status >= 500) o = PUSH_RETRY;
    else if (token_gone(status, body)) o = PUSH_GONE;
    else if (status == 403) o = PUSH_AUTH;
    else o = PUSH_REJECTED;
    log_info("event=push_fcm status=%ld curl=%d outcome=%d", status, curl_rc, (int)o);
    push_outcome_fn done = c->done;
    void *ud = c->ud;
    free(c);
    done(ud, o, ra);
}

static void send_now(struct push_fcm *f, const char *token, const struct push_note *n,
                     int64_t now, push_outcome_fn done, void *ud)
{
    const char *headers[2] = {"Content-Type: application/json; charset=UTF-8", f->access};
    char *body = message_body(token, n, now);
    struct fcm_call *c = xcalloc(1, sizeof *c);
    c->f = f;
    c->done = done;
    c->ud = ud;
    curl_uv_post(f->cu, f->send_url, headers, 2, body, strlen(body), f->timeout_ms, true,
                 send_done, c);
    free(body);
}

/* ---- the access token ---- */

static void run_waiting(struct push_fcm *f, bool ok)
{
    struct fcm_wait *w = f->waiting;
    f->waiting = NULL;
    f->waiting_tail = &f->waiting;
    while (w) {
        struct fcm_wait *next = w->next;
        if (ok && !f->closing) send_now(f, w->token, &w->note, w->now, w->done, w->ud);
        else w->done(w->ud, PUSH_RETRY, 0);
        push_note_free(&w->note);
        free(w->token);
        free(w);
        w = next;
    }
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void token_done(void *arg, int curl_rc, long status, const char *body, size_t len)
{
    struct push_fcm *f = arg;
    bool ok = false;
    (void)len;
    f->fetching = false;
    if (curl_rc == 0 && status == 200) {
        json_t *j = json_loads(body, 0, NULL);
        const char *tok = json_string_value(json_object_get(j, "access_token"));
        json_int_t exp = json_integer_value(json_object_get(j, "expires_in"));
        if (tok && *tok && !strpbrk(tok, "\r\n")) {
            size_t n = strlen(tok) + 32;
            wipe_free(f->access);
            f->access = xmalloc(n);
            snprintf(f->access, n, "Authorization: Bearer %s", tok);
            if (exp <= 0 || exp > 86400) exp = TOKEN_LIFE_S;
            f->access_until = wall_ms() + (int64_t)exp * 1000 - TOKEN_MARGIN_MS;
            ok = true;
        }
        json_decref(j);
    }
    log_info("event=push_fcm_token ok=%d status=%ld curl=%d", ok, status, curl_rc);
    run_waiting(f, ok);
}

static void fetch_token(struct push_fcm *f, int64_t now)
{
    json_t *claims = json_pack("{s:s,s:s,s:s,s:I,s:I}", "iss", f->email, "scope", FCM_SCOPE, "aud",
                               f->token_uri, "iat", (json_int_t)(now / 1000), "exp",
                               (json_int_t)(now / 1000 + TOKEN_LIFE_S));
    char *jwt = push_jwt_sign("RS256", f->key, f->keylen, claims, NULL);
    json_decref(claims);
    if (!jwt) {
        log_error("event=push_fcm_sign_failed");
        run_waiting(f, false);
        return;
    }
    static const char pre[] = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
                              "&assertion=";
    size_t n = sizeof pre + strlen(jwt);
    char *body = xmalloc(n);
    snprintf(body, n, "%s%s", pre, jwt); /* a JWT is URL-safe base64 and dots */
    wipe_free(jwt);
    const char *headers[1] = {"Content-Type: application/x-www-form-urlencoded"};
    f->fetching = true;
    curl_uv_post(f->cu, f->token_uri, headers, 1, body, strlen(body), f->timeout_ms, true,
                 token_done, f);
    wipe_free(body);
}

void push_fcm_send(struct push_fcm *f, const char *token, const struct push_note *n, int64_t now,
                   push_outcome_fn done, void *ud)
{
    if (f->closing) {
        done(ud, PUSH_RETRY, 0);
        return;
    }
    if (f->access && now < f->access_until) {
        send_now(f, token, n, now, done, ud);
        return;
    }
    struct fcm_wait *w = xcalloc(1, sizeof *w);
    w->token = xstrdup(token);
    w->note = *n;
    json_incref(w->note.data);
    w->now = now;
    w->done = done;
    w->ud = ud;
    *f->waiting_tail = w;
    f->waiting_tail = &w->next;
    if (!f->fetching) fetch_token(f, now);
}

/* ---- lifecycle ---- */

static const char *str_of(json_t *j, const char *k)
{
    const char *v = json_string_value(json_object_get(j, k));
    return v && *v ? v : NULL;
}

drop_err push_fcm_new(uv_loop_t *loop, const char *credentials, const char *url,
                      const char *ca_file, int64_t timeout_ms, int max_inflight,
                      struct push_fcm **out, char *why, size_t whylen)
{
    json_error_t jerr;
    struct push_fcm *f;
    json_t *j = json_load_file(credentials, 0, &jerr);
    const char *email, *key, *uri, *project;

    *out = NULL;
    if (!j) {
        snprintf(why, whylen, "fcm_credentials: cannot read a JSON service account from %s",
                 credentials);
        return DROP_EBADREQ;
    }
    email = str_of(j, "client_email");
    key = str_of(j, "private_key");
    uri = str_of(j, "token_uri");
    project = str_of(j, "project_id");
    if (!email || !key || !uri || !project || !curl_uv_url_ok(uri, 2048) ||
        strpbrk(project, "/?#% ")) {
        json_decref(j);
        snprintf(why, whylen, "fcm_credentials: %s lacks client_email, private_key, token_uri "
                              "(an http(s) URL) or project_id", credentials);
        return DROP_EBADREQ;
    }
    if (!curl_uv_url_ok(url, 2048)) {
        json_decref(j);
        snprintf(why, whylen, "fcm_url: an http:// or https:// URL expected");
        return DROP_EBADREQ;
    }
    f = xcalloc(1, sizeof *f);
    if (curl_uv_new(loop, max_inflight + 1, &f->cu) != DROP_OK) {
        json_decref(j);
        free(f);
        snprintf(why, whylen, "fcm: libcurl failed to initialize");
        return DROP_EINTERNAL;
    }
    curl_uv_set_options(f->cu, ca_file, false);
    f->email = xstrdup(email);
    f->key = xstrdup(key);
    f->keylen = strlen(key);
    f->token_uri = xstrdup(uri);
    f->project = xstrdup(project);
    size_t n = strlen(url) + strlen(project) + 64;
    f->send_url = xmalloc(n);
    size_t ul = strlen(url);
    if (url[ul - 1] == '/') ul--; /* no double slash */
    snprintf(f->send_url, n, "%.*s/v1/projects/%s/messages:send", (int)ul, url, project);
    f->timeout_ms = timeout_ms;
    f->waiting_tail = &f->waiting;
    json_decref(j); /* jansson does not wipe; the key's copy there is freed */
    *out = f;
    log_info("event=push_fcm_ready project=%s", f->project);
    return DROP_OK;
}

void push_fcm_close(struct push_fcm *f)
{
    if (!f) return;
    f->closing = true;
    curl_uv_close(f->cu); /* a running exchange ends here and fails the waiting sends */
    run_waiting(f, false);
    wipe_free(f->access);
    wipe_free(f->key);
    free(f->email);
    free(f->token_uri);
    free(f->project);
    free(f->send_url);
    free(f);
}
