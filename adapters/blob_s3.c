/* blob_s3.c - S3 presigned URLs, AWS Signature Version 4 (see blob_s3.h).
 *
 * The steps are AWS's: a canonical request (method, encoded path, sorted
 * query, canonical headers, signed header names, UNSIGNED-PAYLOAD), its
 * SHA-256 in a string to sign with the date and the credential scope, and an
 * HMAC-SHA256 with a key derived from the secret, the date, the region and
 * the service. Every piece is built in a fixed buffer that reports overflow
 * instead of growing. */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "adapters/blob_s3.h"
#include "engine/mem.h"

#define S3_MAX_EXPIRES 604800 /* 7 days: S3's limit for SigV4 URLs */
#define BUF_MAX 4096

/* A bounded text buffer: appends past its size set `over` and stop. */
struct sbuf {
    char s[BUF_MAX];
    size_t len;
    bool over;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->over || n >= sizeof b->s - b->len) {
        b->over = true;
        return;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* AWS UriEncode: unreserved characters as they are, '/' kept when keep_slash,
 * every other byte as %XX (upper-case hex). */
static void sb_uri(struct sbuf *b, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' ||
            (keep_slash && *p == '/')) {
            sb_add(b, (const char *)p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            sb_add(b, e, 3);
        }
    }
}

static void hex_of(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static void hmac(const void *key, size_t keylen, const char *msg, unsigned char out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg), out, &len);
}

static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e) return false;
    return true;
}

drop_err blob_s3_presign(const struct blob_s3_presign *p, char *out, size_t outlen)
{
    struct sbuf *cred = xcalloc(1, sizeof *cred), *query = xcalloc(1, sizeof *query);
    struct sbuf *canon = xcalloc(1, sizeof *canon), *sts = xcalloc(1, sizeof *sts);
    char date[9], stamp[17], hashhex[65], sighex[65], num[24];
    unsigned char hash[32], k1[32], k2[32], k3[32], k4[32], sig[32];
    const char *signed_headers;
    bool with_ctype = p->content_type && p->content_type[0];
    drop_err rc = DROP_EBADREQ;
    struct tm tm;
    time_t t;

    if (!p->method || !p->scheme || !p->host || !p->path || !p->region || !p->access_key ||
        !p->secret_key || !p->host[0] || p->path[0] != '/' || !p->region[0] ||
        !p->access_key[0] || !p->secret_key[0] || p->expires_s < 1 ||
        p->expires_s > S3_MAX_EXPIRES || p->now_ms < 0 || !printable(p->host) ||
        (with_ctype && !printable(p->content_type)))
        goto done;
    t = (time_t)(p->now_ms / 1000);
    if (!gmtime_r(&t, &tm)) goto done;
    strftime(date, sizeof date, "%Y%m%d", &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    signed_headers = with_ctype ? "content-type;host" : "host";

    /* the credential scope, and the query in sorted order */
    sb_str(cred, p->access_key);
    sb_str(cred, "/");
    sb_str(cred, date);
    sb_str(cred, "/");
    sb_str(cred, p->region);
    sb_str(cred, "/s3/aws4_request");
    snprintf(num, sizeof num, "%lld", (long long)p->expires_s);
    sb_str(query, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
    sb_uri(query, cred->s, false);
    sb_str(query, "&X-Amz-Date=");
    sb_str(query, stamp);
    sb_str(query, "&X-Amz-Expires=");
    sb_str(query, num);
    sb_str(query, "&X-Amz-SignedHeaders=");
    sb_uri(query, signed_headers, false);

    /* the canonical request */
    sb_str(canon, p->method);
    sb_str(canon, "\n");
    sb_uri(canon, p->path, true);
    sb_str(canon, "\n");
    sb_str(canon, query->s);
    sb_str(canon, "\n");
    if (with_ctype) {
        sb_str(canon, "content-type:");
        sb_str(canon, p->content_type);
        sb_str(canon, "\n");
    }
    sb_str(canon, "host:");
    sb_str(canon, p->host);
    sb_str(canon, "\n\n");
    sb_str(canon, signed_headers);
    sb_str(canon, "\nUNSIGNED-PAYLOAD");
    if (cred->over || query->over || canon->over) {
        rc = DROP_ETOOLARGE;
        goto done;
    }
    SHA256((const unsigned char *)canon->s, canon->len, hash);
    hex_of(hash, 32, hashhex);

    /* the string to sign and the derived key */
    sb_str(sts, "AWS4-HMAC-SHA256\n");
    sb_str(sts, stamp);
    sb_str(sts, "\n");
    sb_str(sts, date);
    sb_str(sts, "/");
    sb_str(sts, p->region);
    sb_str(sts, "/s3/aws4_request\n");
    sb_str(sts, hashhex);
    if (sts->over) {
        rc = DROP_ETOOLARGE;
        goto done;
    }
    {
        struct sbuf *k = canon; /* reused: the canonical request is hashed already */
        k->len = 0;
        k->over = false;
        sb_str(k, "AWS4");
        sb_str(k, p->secret_key);
        if (k->over) {
            rc = DROP_ETOOLARGE;
            goto done;
        }
        hmac(k->s, k->len, date, k1);
        OPENSSL_cleanse(k->s, sizeof k->s);
    }
    hmac(k1, 32, p->region, k2);
    hmac(k2, 32, "s3", k3);
    hmac(k3, 32, "aws4_request", k4);
    hmac(k4, 32, sts->s, sig);
    hex_of(sig, 32, sighex);

    int n = snprintf(out, outlen, "%s://%s", p->scheme, p->host);
    if (n < 0 || (size_t)n >= outlen) {
        rc = DROP_ETOOLARGE;
        goto done;
    }
    {
        struct sbuf *u = sts; /* reused for the encoded path */
        u->len = 0;
        u->over = false;
        u->s[0] = '\0';
        sb_uri(u, p->path, true);
        if (u->over) {
            rc = DROP_ETOOLARGE;
            goto done;
        }
        int m = snprintf(out + n, outlen - (size_t)n, "%s?%s&X-Amz-Signature=%s", u->s, query->s,
                         sighex);
        if (m < 0 || (size_t)m >= outlen - (size_t)n) {
            rc = DROP_ETOOLARGE;
            goto done;
        }
    }
    rc = DROP_OK;
done:
    if (rc != DROP_OK && outlen) out[0] = '\0';
    OPENSSL_cleanse(k1, sizeof k1);
    OPENSSL_cleanse(k2, sizeof k2);
    OPENSSL_cleanse(k3, sizeof k3);
    OPENSSL_cleanse(k4, sizeof k4);
    free(cred);
    free(query);
    free(canon);
    free(sts);
    return rc;
}

/* ---- the configured signer ---- */

struct blob_s3 {
    char *bucket, *region, *access_key, *secret_key;
    char scheme[8];
    char host[256];    /* host[:port] */
    bool path_style;
    int64_t ttl_s;
};

void blob_s3_free(struct blob_s3 *b)
{
    if (!b) return;
    if (b->secret_key) OPENSSL_cleanse(b->secret_key, strlen(b->secret_key));
    free(b->bucket);
    free(b->region);
    free(b->access_key);
    free(b->secret_key);
    free(b);
}

/* S3 bucket names: 3..63 of [a-z0-9.-], starting and ending alphanumeric. */
static bool bucket_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '.' ||
              s[i] == '-'))
            return false;
    return true;
}

static bool region_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 32) return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
            return false;
    return true;
}

drop_err blob_s3_new(const char *bucket, const char *region, const char *endpoint,
                     const char *access_key, const char *secret_key, int64_t ttl_ms,
                     struct blob_s3 **out, char *why, size_t whylen)
{
    struct blob_s3 *b = xcalloc(1, sizeof *b);
    drop_err rc = DROP_EBADREQ;

    *out = NULL;
    if (!bucket_valid(bucket)) {
        snprintf(why, whylen, "s3_bucket: 3..63 of [a-z0-9.-] expected");
        goto fail;
    }
    if (!region_valid(region)) {
        snprintf(why, whylen, "s3_region: a region name like us-east-1 expected");
        goto fail;
    }
    if (!access_key[0] || !secret_key[0] || strlen(access_key) > 128 ||
        strlen(secret_key) > 256 || !printable(access_key) || !printable(secret_key)) {
        snprintf(why, whylen, "s3_bucket is set: s3_access_key and s3_secret_key (or "
                              "DROPIN_S3_SECRET_KEY) are required, printable, at most 128/256 bytes");
        goto fail;
    }
    if (ttl_ms < 1000 || ttl_ms > (int64_t)S3_MAX_EXPIRES * 1000) {
        snprintf(why, whylen, "s3_url_ttl: 1s .. 7d expected");
        goto fail;
    }
    if (!endpoint[0]) {
        snprintf(b->scheme, sizeof b->scheme, "https");
        snprintf(b->host, sizeof b->host, "%s.s3.%s.amazonaws.com", bucket, region);
    } else {
        const char *h;
        size_t hl;
        if (strncmp(endpoint, "https://", 8) == 0) {
            snprintf(b->scheme, sizeof b->scheme, "https");
            h = endpoint + 8;
        } else if (strncmp(endpoint, "http://", 7) == 0) {
            snprintf(b->scheme, sizeof b->scheme, "http");
            h = endpoint + 7;
        } else {
            snprintf(why, whylen, "s3_endpoint: http://HOST[:PORT] or https://HOST[:PORT] expected");
            goto fail;
        }
        hl = strcspn(h, "/");
        if (hl == 0 || hl >= sizeof b->host || (h[hl] == '/' && h[hl + 1] != '\0') ||
            strcspn(h, "?#@ \t") < hl) {
            snprintf(why, whylen, "s3_endpoint: http://HOST[:PORT] or https://HOST[:PORT] expected");
            goto fail;
        }
        memcpy(b->host, h, hl);
        b->host[hl] = '\0';
        if (!printable(b->host)) {
            snprintf(why, whylen, "s3_endpoint: the host must be printable ASCII");
            goto fail;
        }
        b->path_style = true;
    }
    b->bucket = xstrdup(bucket);
    b->region = xstrdup(region);
    b->access_key = xstrdup(access_key);
    b->secret_key = xstrdup(secret_key);
    b->ttl_s = ttl_ms / 1000;
    *out = b;
    return DROP_OK;
fail:
    blob_s3_free(b);
    return rc;
}

drop_err blob_s3_sign_put(const struct blob_s3 *b, const char *key, const char *content_type,
                          int64_t now_ms, char *url, size_t urllen, int64_t *expires_at_ms)
{
    char path[BLOB_S3_KEY_MAX + 80];
    size_t kl = strlen(key);

    if (kl == 0 || kl > BLOB_S3_KEY_MAX || key[0] == '/' ||
        (content_type && strlen(content_type) > BLOB_S3_CTYPE_MAX))
        return DROP_EBADREQ;
    if (b->path_style) snprintf(path, sizeof path, "/%s/%s", b->bucket, key);
    else snprintf(path, sizeof path, "/%s", key);
    struct blob_s3_presign p = {
        .method = "PUT",
        .scheme = b->scheme,
        .host = b->host,
        .path = path,
        .region = b->region,
        .access_key = b->access_key,
        .secret_key = b->secret_key,
        .content_type = content_type,
        .now_ms = now_ms,
        .expires_s = b->ttl_s,
    };
    drop_err rc = blob_s3_presign(&p, url, urllen);
    if (rc == DROP_OK) *expires_at_ms = now_ms / 1000 * 1000 + b->ttl_s * 1000;
    return rc;
}
