/* video_opentok.c - the OpenTok REST auth JWT and T1 client tokens (see
 * video_internal.h). The T1 layout follows the official server SDKs
 * (opentok-node's generateToken with opentok-token): the data is a query
 * string escaped like Node's querystring.escape, signed with HMAC-SHA1 and
 * the API secret; the signature travels as lowercase hex. HMAC and base64
 * come from OpenSSL. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/video_internal.h"
#include "engine/mem.h"

#define T1_DATA_MAX 4096

char *video_opentok_auth(const char *api_key, const char *secret, int64_t now_s, const char *jti)
{
    json_t *claims = json_pack("{s:s,s:s,s:I,s:I,s:s}", "iss", api_key, "ist", "project", "iat",
                               (json_int_t)now_s, "exp", (json_int_t)(now_s + VIDEO_JWT_TTL_S),
                               "jti", jti);
    char *jwt = video_jwt_sign(false, secret, strlen(secret), claims);
    json_decref(claims);
    return jwt;
}

/* Appends s to out at *n, escaped as Node's querystring.escape does: every
 * byte but A-Z a-z 0-9 - _ . ! ~ * ' ( ) becomes %XX (uppercase hex).
 * Returns false when out is full. */
static bool qs_append(char *out, size_t outlen, size_t *n, const char *s, bool escape)
{
    static const char hexd[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool plain = !escape || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                     (*p >= '0' && *p <= '9') || strchr("-_.!~*'()", *p);
        size_t need = plain ? 1 : 3;
        if (*n + need >= outlen) return false;
        if (plain) {
            out[(*n)++] = (char)*p;
        } else {
            out[(*n)++] = '%';
            out[(*n)++] = hexd[*p >> 4];
            out[(*n)++] = hexd[*p & 15];
        }
    }
    out[*n] = '\0';
    return true;
}

drop_err video_opentok_token(const char *api_key, const char *secret, const char *session,
                             int64_t create_s, const char *nonce, const char *role,
                             int64_t expire_s, const char *connection_data, char *out,
                             size_t outlen)
{
    char data[T1_DATA_MAX], plain[T1_DATA_MAX + 256], create_num[32], expire_num[32];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    size_t n = 0;
    bool ok = true;
    int plen;

    snprintf(create_num, sizeof create_num, "%lld", (long long)create_s);
    snprintf(expire_num, sizeof expire_num, "%lld", (long long)expire_s);
    const char *const params[][2] = {
        {"session_id", session},
        {"create_time", create_num},
        {"nonce", nonce},
        {"role", role},
        {"expire_time", expire_num},
        {"connection_data", connection_data},
        {"initial_layout_class_list", ""},
        {"scope", "session.connect"},
    };
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        ok = ok && qs_append(data, sizeof data, &n, i ? "&" : "", false) &&
             qs_append(data, sizeof data, &n, params[i][0], false) &&
             qs_append(data, sizeof data, &n, "=", false) &&
             qs_append(data, sizeof data, &n, params[i][1], true);
    if (!ok) return DROP_EINTERNAL;

    if (!HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)data, n, mac,
              &maclen))
        return DROP_EINTERNAL;
    for (unsigned i = 0; i < maclen; i++) snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    plen = snprintf(plain, sizeof plain, "partner_id=%s&sig=%s:%s", api_key, hex, data);
    if (plen < 0 || (size_t)plen >= sizeof plain) return DROP_EINTERNAL;
    /* "T1==" + base64 (4 bytes per 3, padded) + NUL */
    if (outlen < 4 + 4 * (((size_t)plen + 2) / 3) + 1) return DROP_EINTERNAL;
    memcpy(out, "T1==", 4);
    EVP_EncodeBlock((unsigned char *)out + 4, (const unsigned char *)plain, plen);
    return DROP_OK;
}
