/* push_apns.c - Apple Push Notification service, token-based (push_internal.h).
 *
 * HTTP/2 over TLS through libcurl (nghttp2): every send is
 *   POST {apns_url or, for a sandbox device, apns_sandbox_url}/3/device/<token>
 *   authorization: bearer <provider token>
 *   apns-topic, apns-push-type: alert, apns-priority (10 offers, 5 else),
 *   apns-expiration (unix seconds), apns-collapse-id (when the note has one)
 *   {"aps": {"alert": {title, body}, "sound": "default"}, <data keys>}
 * on one multiplexed connection per host (CURLOPT_PIPEWAIT). The provider
 * token is an ES256 JWT (header kid = key id; claims iss = team id, iat)
 * signed with the .p8 key, made again after TOKEN_REFRESH_MS (Apple wants
 * 20..60 minutes: never more often than every 20). Answers: 200 sent; 410,
 * or 400 BadDeviceToken / Unregistered: the token is gone; 403
 * ExpiredProviderToken: a new provider token, retried; 429 / 5xx /
 * network: retry; anything else: rejected. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/curl_uv.h"
#include "adapters/push_internal.h"
#include "engine/log.h"
#include "engine/mem.h"

#define TOKEN_REFRESH_MS (30 * 60 * 1000)
#define TOKEN_MIN_AGE_MS (20 * 60 * 1000)
#define DEFAULT_EXPIRY_S (24 * 3600)

struct push_apns {
    struct curl_uv *cu;
    char *key;
    size_t keylen;
    char *key_id, *team_id, *topic, *url, *sandbox_url;
    int64_t timeout_ms;
    char *auth;          /* "authorization: bearer <jwt>" */
    int64_t auth_made;   /* ms */
    bool stale;          /* APNs said ExpiredProviderToken */
};

struct apns_call {
    struct push_apns *a;
    push_outcome_fn done;
    void *ud;
};

static void wipe_free(char *s)
{
    if (s) memset(s, 0, strlen(s));
    free(s);
}

/* Makes a new provider token; false when signing failed. */
static bool refresh_auth(struct push_apns *a, int64_t now)
{
    json_t *claims = json_pack("{s:s,s:I}", "iss", a->team_id, "iat", (json_int_t)(now / 1000));
    char *jwt = push_jwt_sign("ES256", a->key, a->keylen, claims, a->key_id);
    json_decref(claims);
    if (!jwt) {
        log_error("event=push_apns_sign_failed");
        return false;
    }
    size_t n = strlen(jwt) + 32;
    wipe_free(a->auth);
    a->auth = xmalloc(n);
    snprintf(a->auth, n, "authorization: bearer %s", jwt);
    wipe_free(jwt);
    a->auth_made = now;
    a->stale = false;
    log_info("event=push_apns_token_made");
    return true;
}

static void send_done(void *arg, int curl_rc, long status, const char *body, size_t len)
{
    struct apns_call *c = arg;
    struct push_apns *a = c->a;
    enum push_outcome o;
    int64_t ra = curl_uv_retry_after(a->cu) * 1000;
    const char *reason = "";
    json_t *j = NULL;
    (void)len;
    if (curl_rc == 0 && body && *body) {
        j = json_loads(body, 0, NULL);
        reason = json_string_value(json_object_get(j, "reason"));
        if (!reason) reason = "";
    }
    if (curl_rc != 0) o = PUSH_RETRY;
    else if (status == 200) o = PUSH_SENT;
    else if (status == 410 || strcmp(reason, "BadDeviceToken") == 0 ||
             strcmp(reason, "Unregistered") == 0)
        o = PUSH_GONE;
    else if (status == 403 && strcmp(reason, "ExpiredProviderToken") == 0) {
        a->stale = true; /* made again on a retry, once 20 minutes old */
        o = PUSH_RETRY;
    } else if (status == 403) o = PUSH_AUTH;
    else if (status == 429 || status >= 500) o = PUSH_RETRY;
    else o = PUSH_REJECTED;
    log_info("event=push_apns status=%ld reason=%s curl=%d outcome=%d", status,
             reason[0] ? reason : "-", curl_rc, (int)o);
    json_decref(j);
    push_outcome_fn done = c->done;
    void *ud = c->ud;
    free(c);
    done(ud, o, ra);
}

void push_apns_send(struct push_apns *a, const char *token, bool sandbox,
                    const struct push_note *n, int64_t now, push_outcome_fn done, void *ud)
{
    char url[2600], topic[300], prio[32], exp[48], collapse[80];
    const char *headers[7];
    size_t nh = 0;

    int64_t age = now - a->auth_made;
    if (!a->auth || age >= TOKEN_REFRESH_MS || (a->stale && age >= TOKEN_MIN_AGE_MS)) {
        if (!refresh_auth(a, now)) {
            done(ud, PUSH_AUTH, 0);
            return;
        }
    }
    snprintf(url, sizeof url, "%s/3/device/%s", sandbox ? a->sandbox_url : a->url, token);
    snprintf(topic, sizeof topic, "apns-topic: %s", a->topic);
    snprintf(prio, sizeof prio, "apns-priority: %d", n->high ? 10 : 5);
    snprintf(exp, sizeof exp, "apns-expiration: %lld",
             (long long)(n->expires_at ? n->expires_at / 1000 : now / 1000 + DEFAULT_EXPIRY_S));
    headers[nh++] = "content-type: application/json";
    headers[nh++] = a->auth;
    headers[nh++] = topic;
    headers[nh++] = "apns-push-type: alert";
    headers[nh++] = prio;
    headers[nh++] = exp;
    if (n->collapse[0]) {
        snprintf(collapse, sizeof collapse, "apns-collapse-id: %s", n->collapse);
        headers[nh++] = collapse;
    }
    json_t *payload = json_deep_copy(n->data);
    json_object_set_new(payload, "aps",
                        json_pack("{s:{s:s,s:s},s:s}", "alert", "title", n->title, "body",
                                  n->body, "sound", "default"));
    char *body = json_dumps(payload, JSON_COMPACT);
    json_decref(payload);
    struct apns_call *c = xcalloc(1, sizeof *c);
    c->a = a;
    c->done = done;
    c->ud = ud;
    curl_uv_post(a->cu, url, headers, nh, body, strlen(body), a->timeout_ms, true, send_done, c);
    free(body);
}

static char *strip_slash(const char *u)
{
    char *s = xstrdup(u);
    size_t n = strlen(s);
    if (n && s[n - 1] == '/') s[n - 1] = '\0';
    return s;
}

drop_err push_apns_new(uv_loop_t *loop, const struct push_apns_config *c, struct push_apns **out,
                       char *why, size_t whylen)
{
    struct push_apns *a;
    size_t keylen = 0;
    char *key;

    *out = NULL;
    if (!c->key_id[0] || !c->team_id[0] || !c->topic[0] || strpbrk(c->key_id, "\r\n") ||
        strpbrk(c->team_id, "\r\n") || strpbrk(c->topic, "\r\n")) {
        snprintf(why, whylen, "apns_key needs apns_key_id, apns_team_id and apns_topic (one "
                              "line each)");
        return DROP_EBADREQ;
    }
    if (!curl_uv_url_ok(c->url, 2048) || !curl_uv_url_ok(c->sandbox_url, 2048)) {
        snprintf(why, whylen, "apns_url / apns_sandbox_url: http:// or https:// URLs expected");
        return DROP_EBADREQ;
    }
    if (!(key = push_read_file(c->key_path, &keylen))) {
        snprintf(why, whylen, "apns_key: cannot read the .p8 key %s", c->key_path);
        return DROP_EBADREQ;
    }
    a = xcalloc(1, sizeof *a);
    if (curl_uv_new(loop, c->max_inflight, &a->cu) != DROP_OK) {
        wipe_free(key);
        free(a);
        snprintf(why, whylen, "apns: libcurl failed to initialize");
        return DROP_EINTERNAL;
    }
    curl_uv_set_options(a->cu, c->ca_file, true);
    a->key = key;
    a->keylen = keylen;
    a->key_id = xstrdup(c->key_id);
    a->team_id = xstrdup(c->team_id);
    a->topic = xstrdup(c->topic);
    a->url = strip_slash(c->url);
    a->sandbox_url = strip_slash(c->sandbox_url);
    a->timeout_ms = c->timeout_ms;
    if (!refresh_auth(a, 0) /* proves the key signs */) {
        push_apns_close(a);
        snprintf(why, whylen, "apns_key: %s is not an EC P-256 private key (PEM)", c->key_path);
        return DROP_EBADREQ;
    }
    wipe_free(a->auth);
    a->auth = NULL;
    *out = a;
    log_info("event=push_apns_ready topic=%s", a->topic);
    return DROP_OK;
}

void push_apns_close(struct push_apns *a)
{
    if (!a) return;
    curl_uv_close(a->cu);
    wipe_free(a->auth);
    wipe_free(a->key);
    free(a->key_id);
    free(a->team_id);
    free(a->topic);
    free(a->url);
    free(a->sandbox_url);
    free(a);
}
