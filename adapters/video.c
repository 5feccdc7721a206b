/* video.c - the video providers behind the engine's video port (see
 * video.h), and the pieces the providers share (video_internal.h): JWT
 * signing through libjwt, random ids, the session-create answer.
 *
 * A session is created by one form POST to {url}/session/create, the same
 * path and body for OpenTok and for the Vonage Video API; only the auth
 * header differs (X-OPENTOK-AUTH: HS256 JWT with the API secret; or
 * Authorization: Bearer RS256 JWT with the application's private key). The
 * answer is a JSON array whose first element holds session_id. Anything
 * else - refused, non-2xx, malformed, timed out - is DROP_EUNAVAIL and is
 * logged without the request's headers. */
#include <jwt.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/curl_uv.h"
#include "adapters/video.h"
#include "adapters/video_dev.h"
#include "adapters/video_internal.h"
#include "engine/engine.h"
#include "engine/log.h"
#include "engine/mem.h"

#define URL_MAX 2048
#define KEY_FILE_MAX (64 * 1024)
#define SESSION_INFLIGHT 64

enum video_kind { VIDEO_DEV = 0, VIDEO_OPENTOK, VIDEO_VONAGE };

struct video {
    enum video_kind kind;
    const char *name;
    struct curl_uv *cu;    /* NULL for dev */
    char *key;             /* the OpenTok API key or the Vonage application id */
    char *secret;          /* the OpenTok API secret or the Vonage PEM; wiped before free */
    size_t secret_len;
    char *url;             /* {base}/session/create */
    char form[96];         /* the session-create body */
    int64_t timeout_ms;
};

struct video_call {
    struct video *v;
    engine_video_session_fn done;
    void *ud;
};

/* ---- shared pieces ---- */

char *video_jwt_sign(bool rs256, const char *key, size_t keylen, json_t *claims)
{
    jwt_t *jwt = NULL;
    char *grants = NULL, *tok = NULL, *out = NULL;

    if (jwt_new(&jwt) != 0) return NULL;
    grants = json_dumps(claims, JSON_COMPACT);
    if (!grants || jwt_add_grants_json(jwt, grants) != 0 ||
        jwt_set_alg(jwt, rs256 ? JWT_ALG_RS256 : JWT_ALG_HS256, (const unsigned char *)key,
                    (int)keylen) != 0)
        goto done;
    tok = jwt_encode_str(jwt);
    if (tok) out = xstrdup(tok);
done:
    free(tok);
    free(grants);
    jwt_free(jwt); /* wipes its copy of the key */
    return out;
}

static void random_bytes(unsigned char *b, size_t n)
{
    if (RAND_bytes(b, (int)n) != 1) {
        fprintf(stderr, "fatal: RAND_bytes failed\n");
        abort();
    }
}

void video_uuid(char out[37])
{
    unsigned char b[16];
    random_bytes(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

void video_connection_data(const char *account, const char *role, char *out, size_t outlen)
{
    /* account is an ObjectId and role a fixed word: nothing to escape */
    snprintf(out, outlen, "{\"accountId\":\"%s\",\"role\":\"%s\"}", account, role);
}

static bool session_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           strchr("_~.=+/-", c);
}

drop_err video_parse_session(const char *body, size_t len, char *out, size_t outlen)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    json_t *id = json_object_get(json_array_get(j, 0), "session_id");
    const char *s = json_string_value(id);
    drop_err rc = DROP_EUNAVAIL;
    if (s && s[0] && strlen(s) < outlen) {
        rc = DROP_OK;
        for (const char *p = s; *p; p++)
            if (!session_char(*p)) rc = DROP_EUNAVAIL;
        if (rc == DROP_OK) memcpy(out, s, strlen(s) + 1);
    }
    json_decref(j);
    return rc;
}

/* ---- the port ---- */

static void call_done(void *arg, int curl_rc, long status, const char *body, size_t len)
{
    struct video_call *c = arg;
    char session[GIG_VIDEO_SESSION_SIZE];
    drop_err rc = DROP_EUNAVAIL;

    if (curl_rc == 0 && status >= 200 && status < 300)
        rc = video_parse_session(body, len, session, sizeof session);
    if (rc == DROP_OK)
        log_info("event=video_session provider=%s ok=1 status=%ld", c->v->name, status);
    else
        log_warn("event=video_session provider=%s ok=0 status=%ld curl=%d", c->v->name, status,
                 curl_rc);
    c->done(c->ud, rc, rc == DROP_OK ? session : NULL);
    free(c);
}

static void new_session(void *ctx, engine_video_session_fn done, void *ud)
{
    struct video *v = ctx;
    char jti[37], *jwt, *hdr;
    const char *headers[3] = {"Content-Type: application/x-www-form-urlencoded",
                              "Accept: application/json", NULL};
    int64_t now_s = (int64_t)time(NULL);
    struct video_call *c;

    if (v->kind == VIDEO_DEV) {
        char session[128];
        video_dev_session(session);
        done(ud, DROP_OK, session);
        return;
    }
    video_uuid(jti);
    if (v->kind == VIDEO_OPENTOK) jwt = video_opentok_auth(v->key, v->secret, now_s, jti);
    else jwt = video_vonage_auth(v->key, v->secret, v->secret_len, now_s, jti);
    if (!jwt) {
        log_error("event=video_session provider=%s ok=0 reason=sign_failed", v->name);
        done(ud, DROP_EUNAVAIL, NULL);
        return;
    }
    size_t hl = strlen(jwt) + 32;
    hdr = xmalloc(hl);
    snprintf(hdr, hl, v->kind == VIDEO_OPENTOK ? "X-OPENTOK-AUTH: %s" : "Authorization: Bearer %s",
             jwt);
    headers[2] = hdr;
    c = xcalloc(1, sizeof *c);
    c->v = v;
    c->done = done;
    c->ud = ud;
    curl_uv_post(v->cu, v->url, headers, 3, v->form, strlen(v->form), v->timeout_ms, true,
                 call_done, c);
    free(hdr);
    free(jwt);
}

static drop_err token(void *ctx, const char *session, const char *account, bool publisher,
                      int64_t now_ms, int64_t expires_ms, char *out, size_t outlen)
{
    struct video *v = ctx;
    const char *role = publisher ? "publisher" : "subscriber";
    char data[128], nonce[16], jti[37];
    int64_t now_s = now_ms / 1000, exp_s = (expires_ms + 999) / 1000;
    unsigned char r[4];

    if (exp_s <= now_s) exp_s = now_s + 1;
    if (exp_s > now_s + VIDEO_TOKEN_MAX_S) exp_s = now_s + VIDEO_TOKEN_MAX_S;
    video_connection_data(account, role, data, sizeof data);
    switch (v->kind) {
    case VIDEO_OPENTOK:
        random_bytes(r, sizeof r);
        snprintf(nonce, sizeof nonce, "%u",
                 ((unsigned)r[0] << 24 | (unsigned)r[1] << 16 | (unsigned)r[2] << 8 | r[3]) %
                     1000000000u);
        return video_opentok_token(v->key, v->secret, session, now_s, nonce, role, exp_s, data,
                                   out, outlen);
    case VIDEO_VONAGE:
        video_uuid(jti);
        return video_vonage_token(v->key, v->secret, v->secret_len, session, role, data, now_s,
                                  exp_s, jti, out, outlen);
    case VIDEO_DEV:
    default: {
        char dev[256];
        video_dev_token(session, account, publisher, dev);
        if (strlen(dev) >= outlen) return DROP_EINTERNAL;
        memcpy(out, dev, strlen(dev) + 1);
        return DROP_OK;
    }
    }
}

void video_port(struct video *v, struct engine_video *port)
{
    *port = (struct engine_video){
        .ctx = v,
        .provider = v->name,
        .api_key = v->kind == VIDEO_DEV ? "dev" : v->key,
        .ahead = v->kind != VIDEO_DEV,
        .new_session = new_session,
        .token = token,
    };
}

/* ---- lifecycle ---- */

static bool id_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 128 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") == n;
}

static void video_free(struct video *v)
{
    if (!v) return;
    if (v->secret) memset(v->secret, 0, v->secret_len);
    free(v->secret);
    free(v->key);
    free(v->url);
    free(v);
}

/* Reads the Vonage private key file and checks that it holds a PEM private
 * key. Returns 0, or -1 with why set (the path only, never the content). */
static int read_key(struct video *v, const char *path, char *why, size_t whylen)
{
    FILE *f = fopen(path, "rb");
    BIO *bio;
    EVP_PKEY *pk;
    size_t n;

    if (!f) {
        snprintf(why, whylen, "vonage_private_key: cannot read '%s'", path);
        return -1;
    }
    v->secret = xmalloc(KEY_FILE_MAX + 1);
    n = fread(v->secret, 1, KEY_FILE_MAX + 1, f);
    fclose(f);
    v->secret_len = n;
    if (n == 0 || n > KEY_FILE_MAX) {
        snprintf(why, whylen, "vonage_private_key: '%s' is empty or over %d bytes", path,
                 KEY_FILE_MAX);
        return -1;
    }
    v->secret[n] = '\0';
    bio = BIO_new_mem_buf(v->secret, (int)n);
    pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!pk || EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
        EVP_PKEY_free(pk);
        snprintf(why, whylen, "vonage_private_key: '%s' holds no PEM RSA private key", path);
        return -1;
    }
    EVP_PKEY_free(pk);
    return 0;
}

drop_err video_new(uv_loop_t *loop, const struct video_config *cfg, struct video **out,
                   char *why, size_t whylen)
{
    struct video *v = xcalloc(1, sizeof *v);
    const char *base;
    size_t bl;

    *out = NULL;
    v->timeout_ms = cfg->timeout_ms;
    if (strcmp(cfg->provider, "dev") == 0) {
        v->kind = VIDEO_DEV;
        v->name = "dev";
        *out = v;
        return DROP_OK;
    }
    if (strcmp(cfg->provider, "opentok") == 0) {
        v->kind = VIDEO_OPENTOK;
        v->name = "opentok";
        base = cfg->opentok_url;
        if (!id_ok(cfg->opentok_api_key)) {
            snprintf(why, whylen, "opentok_api_key: required with video opentok "
                                  "(1..128 of [A-Za-z0-9-_.])");
            goto bad;
        }
        if (!cfg->opentok_api_secret || !cfg->opentok_api_secret[0]) {
            snprintf(why, whylen, "opentok_api_secret (or DROPIN_OPENTOK_API_SECRET): "
                                  "required with video opentok");
            goto bad;
        }
        v->key = xstrdup(cfg->opentok_api_key);
        v->secret = xstrdup(cfg->opentok_api_secret);
        v->secret_len = strlen(v->secret);
    } else if (strcmp(cfg->provider, "vonage") == 0) {
        v->kind = VIDEO_VONAGE;
        v->name = "vonage";
        base = cfg->vonage_url;
        if (!id_ok(cfg->vonage_application_id)) {
            snprintf(why, whylen, "vonage_application_id: required with video vonage "
                                  "(1..128 of [A-Za-z0-9-_.])");
            goto bad;
        }
        if (!cfg->vonage_private_key[0]) {
            snprintf(why, whylen, "vonage_private_key: required with video vonage (a PEM file)");
            goto bad;
        }
        v->key = xstrdup(cfg->vonage_application_id);
        if (read_key(v, cfg->vonage_private_key, why, whylen) != 0) goto bad;
    } else {
        snprintf(why, whylen, "video: expected dev, opentok or vonage, got '%s'", cfg->provider);
        goto bad;
    }
    if (!curl_uv_url_ok(base, URL_MAX)) {
        snprintf(why, whylen, "%s_url: an http:// or https:// URL expected", v->name);
        goto bad;
    }
    bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/') bl--;
    v->url = xmalloc(bl + sizeof "/session/create");
    memcpy(v->url, base, bl);
    memcpy(v->url + bl, "/session/create", sizeof "/session/create");
    if (cfg->archive_always && cfg->relayed) {
        snprintf(why, whylen, "video_archive: always needs video_media_mode routed");
        goto bad;
    }
    snprintf(v->form, sizeof v->form, "archiveMode=%s&p2p.preference=%s",
             cfg->archive_always ? "always" : "manual", cfg->relayed ? "enabled" : "disabled");
    if (curl_uv_new(loop, SESSION_INFLIGHT, &v->cu) != DROP_OK) {
        video_free(v);
        snprintf(why, whylen, "video: libcurl failed to initialize");
        return DROP_EINTERNAL;
    }
    *out = v;
    return DROP_OK;
bad:
    video_free(v);
    return DROP_EBADREQ;
}

void video_close(struct video *v)
{
    if (!v) return;
    curl_uv_close(v->cu); /* creations in flight end here, unavailable */
    video_free(v);
}
