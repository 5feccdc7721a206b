/* token.c - token generation, SHA-256, AES-256-GCM sealing and the server
 * key file (token.h). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapters/token.h"
#include "engine/log.h"

static unsigned char server_key[TOKEN_KEY_LEN];
static bool have_key;

/* The reason-writing error return of this file. */
#define fail err_why

void token_init(const unsigned char key[TOKEN_KEY_LEN])
{
    memcpy(server_key, key, TOKEN_KEY_LEN);
    have_key = true;
}

drop_err token_generate(char out[TOKEN_SIZE])
{
    unsigned char raw[TOKEN_BYTES];
    unsigned char b64[TOKEN_LEN + 8];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        log_error("event=token_generate_failed reason=rand_bytes");
        return DROP_EINTERNAL;
    }
    EVP_EncodeBlock(b64, raw, sizeof raw); /* 44 chars: 43 + one '=' */
    OPENSSL_cleanse(raw, sizeof raw);
    for (int i = 0; i < TOKEN_LEN; i++) {
        char c = (char)b64[i];
        out[i] = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    out[TOKEN_LEN] = '\0';
    OPENSSL_cleanse(b64, sizeof b64);
    return DROP_OK;
}

bool token_well_formed(const char *s)
{
    if (!s) return false;
    size_t i = 0;
    for (; s[i]; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok || i >= TOKEN_LEN) return false;
    }
    return i == TOKEN_LEN;
}

void token_hash(const char *token, unsigned char out[TOKEN_HASH_LEN])
{
    SHA256((const unsigned char *)token, strlen(token), out);
}

drop_err token_seal(const char *token, const char *account, unsigned char out[TOKEN_SEALED_LEN])
{
    drop_err err = DROP_EINTERNAL;
    EVP_CIPHER_CTX *ctx = NULL;
    int len = 0;
    if (!token_well_formed(token)) return DROP_EBADREQ;
    if (!have_key) {
        log_error("event=token_seal_failed reason=no_key");
        return DROP_EINTERNAL;
    }
    unsigned char *nonce = out, *ct = out + TOKEN_NONCE_LEN, *tag = ct + TOKEN_LEN;
    if (RAND_bytes(nonce, TOKEN_NONCE_LEN) != 1) goto done;
    if (!(ctx = EVP_CIPHER_CTX_new())) goto done;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, server_key, nonce) != 1) goto done;
    if (EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)account,
                          (int)strlen(account)) != 1)
        goto done;
    if (EVP_EncryptUpdate(ctx, ct, &len, (const unsigned char *)token, TOKEN_LEN) != 1 ||
        len != TOKEN_LEN)
        goto done;
    if (EVP_EncryptFinal_ex(ctx, ct + len, &len) != 1) goto done;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TOKEN_TAG_LEN, tag) != 1) goto done;
    err = DROP_OK;
done:
    if (err != DROP_OK) log_error("event=token_seal_failed reason=openssl");
    EVP_CIPHER_CTX_free(ctx);
    return err;
}

drop_err token_unseal(const unsigned char *sealed, size_t slen, const char *account,
                      char out[TOKEN_SIZE])
{
    drop_err err = DROP_EUNAUTH;
    EVP_CIPHER_CTX *ctx = NULL;
    char plain[TOKEN_LEN + 16];
    int len = 0;
    if (!have_key) {
        log_error("event=token_unseal_failed reason=no_key");
        return DROP_EINTERNAL;
    }
    if (!sealed || slen != TOKEN_SEALED_LEN) return DROP_EUNAUTH;
    const unsigned char *nonce = sealed, *ct = sealed + TOKEN_NONCE_LEN, *tag = ct + TOKEN_LEN;
    if (!(ctx = EVP_CIPHER_CTX_new())) goto done;
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, server_key, nonce) != 1) goto done;
    if (EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)account,
                          (int)strlen(account)) != 1)
        goto done;
    if (EVP_DecryptUpdate(ctx, (unsigned char *)plain, &len, ct, TOKEN_LEN) != 1 ||
        len != TOKEN_LEN)
        goto done;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TOKEN_TAG_LEN, (void *)tag) != 1)
        goto done;
    if (EVP_DecryptFinal_ex(ctx, (unsigned char *)plain + len, &len) != 1) goto done;
    plain[TOKEN_LEN] = '\0';
    if (!token_well_formed(plain)) goto done;
    memcpy(out, plain, TOKEN_SIZE);
    err = DROP_OK;
done:
    OPENSSL_cleanse(plain, sizeof plain);
    EVP_CIPHER_CTX_free(ctx);
    return err;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes exactly 2 * TOKEN_KEY_LEN hex chars; false otherwise. */
static bool key_from_hex(const char *s, size_t n, unsigned char key[TOKEN_KEY_LEN])
{
    if (n != 2 * TOKEN_KEY_LEN) return false;
    for (size_t i = 0; i < TOKEN_KEY_LEN; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        key[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

drop_err token_key_from_secret(const char *secret, unsigned char key[TOKEN_KEY_LEN], char *why,
                               size_t whylen)
{
    size_t n = secret ? strlen(secret) : 0;
    if (key_from_hex(secret, n, key)) return DROP_OK;
    if (n < 32)
        return fail(DROP_EBADREQ, why, whylen,
                    "token secret is %zu bytes; it needs at least 32 (or 64 hex chars)", n);
    SHA256((const unsigned char *)secret, n, key);
    return DROP_OK;
}

/* mkdir -p of the directory part of path. */
static int make_parent(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return 0;
    size_t n = (size_t)(slash - path);
    if (n >= sizeof dir) return ENAMETOOLONG;
    memcpy(dir, path, n);
    dir[n] = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) return errno;
        *p = '/';
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return errno;
    return 0;
}

static drop_err key_read(const char *path, unsigned char key[TOKEN_KEY_LEN], char *why,
                         size_t whylen)
{
    char buf[256];
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(DROP_EUNAVAIL, why, whylen, "%s: %s", path, strerror(errno));
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (fstat(fd, &sb) == 0 && (sb.st_mode & 077))
        log_warn("event=token_key_file_mode path=%s mode=%04o hint=\"chmod 600\"", path,
                 (unsigned)(sb.st_mode & 07777));
    close(fd);
    if (n < 0) return fail(DROP_EUNAVAIL, why, whylen, "%s: %s", path, strerror(errno));
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) n--;
    bool ok = key_from_hex(buf, (size_t)n, key);
    OPENSSL_cleanse(buf, sizeof buf);
    if (!ok)
        return fail(DROP_EINTERNAL, why, whylen, "%s: not a token key (64 hex chars expected)",
                    path);
    return DROP_OK;
}

drop_err token_key_load_or_create(const char *path, unsigned char key[TOKEN_KEY_LEN], char *why,
                                  size_t whylen)
{
    drop_err err = DROP_EINTERNAL;
    char tmp[4200];
    char hex[2 * TOKEN_KEY_LEN + 2];
    int fd = -1, rc;
    bool tmp_made = false;

    if (access(path, F_OK) == 0) return key_read(path, key, why, whylen);
    if ((rc = make_parent(path)) != 0) {
        err = fail(DROP_EUNAVAIL, why, whylen, "%s: cannot create its directory: %s", path,
                   strerror(rc));
        goto done;
    }
    if (RAND_bytes(key, TOKEN_KEY_LEN) != 1) {
        err = fail(DROP_EINTERNAL, why, whylen, "RAND_bytes failed");
        goto done;
    }
    for (size_t i = 0; i < TOKEN_KEY_LEN; i++) {
        hex[2 * i] = "0123456789abcdef"[key[i] >> 4];
        hex[2 * i + 1] = "0123456789abcdef"[key[i] & 15];
    }
    hex[2 * TOKEN_KEY_LEN] = '\n';
    hex[2 * TOKEN_KEY_LEN + 1] = '\0';
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp) {
        err = fail(DROP_EINTERNAL, why, whylen, "%s: path too long", path);
        goto done;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        err = fail(DROP_EUNAVAIL, why, whylen, "%s: %s", tmp, strerror(errno));
        goto done;
    }
    tmp_made = true;
    if (write(fd, hex, 2 * TOKEN_KEY_LEN + 1) != 2 * TOKEN_KEY_LEN + 1 || fsync(fd) != 0) {
        err = fail(DROP_EUNAVAIL, why, whylen, "%s: %s", tmp, strerror(errno));
        goto done;
    }
    /* link() fails with EEXIST when another process made the key first:
     * then its key wins and is read back. */
    if (link(tmp, path) != 0) {
        if (errno != EEXIST) {
            err = fail(DROP_EUNAVAIL, why, whylen, "%s: %s", path, strerror(errno));
            goto done;
        }
        err = key_read(path, key, why, whylen);
        goto done;
    }
    log_info("event=token_key_created path=%s", path);
    err = DROP_OK;
done:
    if (fd >= 0) close(fd);
    if (tmp_made) unlink(tmp);
    OPENSSL_cleanse(hex, sizeof hex);
    return err;
}

/* ---- one-time codes ---- */

drop_err token_random(unsigned char *out, size_t n)
{
    if (RAND_bytes(out, (int)n) != 1) {
        log_error("event=random_failed");
        return DROP_EINTERNAL;
    }
    return DROP_OK;
}

drop_err token_code_new(char out[TOKEN_CODE_DIGITS + 1])
{
    uint32_t x;
    do { /* rejection sampling: no modulo bias */
        if (token_random((unsigned char *)&x, sizeof x) != DROP_OK) return DROP_EINTERNAL;
    } while (x >= 4294000000u); /* a multiple of 10^6 */
    snprintf(out, TOKEN_CODE_DIGITS + 1, "%06u", (unsigned)(x % 1000000u));
    return DROP_OK;
}

void token_code_hash(const unsigned char *salt, size_t saltlen, const char *identity,
                     const char *code, unsigned char out[TOKEN_HASH_LEN])
{
    unsigned char key[SHA256_DIGEST_LENGTH];
    unsigned int len = TOKEN_HASH_LEN;
    unsigned char kin[15 + TOKEN_KEY_LEN];
    /* the code key: SHA-256("dropin code key" | server key) */
    memcpy(kin, "dropin code key", 15);
    memcpy(kin + 15, server_key, TOKEN_KEY_LEN);
    SHA256(kin, sizeof kin, key);
    OPENSSL_cleanse(kin, sizeof kin);
    size_t il = strlen(identity), cl = strlen(code);
    size_t n = saltlen + il + 1 + cl;
    unsigned char buf[512];
    if (n > sizeof buf) { /* identities are at most 254 bytes: never */
        memset(out, 0, TOKEN_HASH_LEN);
        return;
    }
    memcpy(buf, salt, saltlen);
    memcpy(buf + saltlen, identity, il);
    buf[saltlen + il] = 0;
    memcpy(buf + saltlen + il + 1, code, cl);
    HMAC(EVP_sha256(), key, sizeof key, buf, n, out, &len);
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(buf, n);
}
