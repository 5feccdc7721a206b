/* password.c - Argon2id hashing and verification (password.h).
 *
 * The dummy verify checks the password against a hash of a random secret,
 * made once per process (pthread_once) with the same parameters as real
 * hashes, so its cost tracks whatever PASSWORD_* says. */
#include <argon2.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>

#include "adapters/password.h"
#include "engine/log.h"

drop_err password_hash(const char *pw, char *out, size_t outlen)
{
    unsigned char salt[PASSWORD_SALT_LEN];
    size_t need = argon2_encodedlen(PASSWORD_T_COST, PASSWORD_M_COST, PASSWORD_LANES,
                                    PASSWORD_SALT_LEN, PASSWORD_HASH_LEN, Argon2_id);
    if (outlen < need) return DROP_EBADREQ;
    if (RAND_bytes(salt, sizeof salt) != 1) {
        log_error("event=password_hash_failed reason=rand_bytes");
        return DROP_EINTERNAL;
    }
    int rc = argon2id_hash_encoded(PASSWORD_T_COST, PASSWORD_M_COST, PASSWORD_LANES, pw,
                                   strlen(pw), salt, sizeof salt, PASSWORD_HASH_LEN, out, outlen);
    if (rc != ARGON2_OK) {
        log_error("event=password_hash_failed reason=\"%s\"", argon2_error_message(rc));
        return DROP_EINTERNAL;
    }
    return DROP_OK;
}

bool password_verify(const char *encoded, const char *pw)
{
    if (!encoded || !pw || strncmp(encoded, "$argon2id$", 10) != 0) return false;
    return argon2id_verify(encoded, pw, strlen(pw)) == ARGON2_OK;
}

static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy_hash[PASSWORD_ENCODED_MAX];

static void dummy_init(void)
{
    unsigned char secret[32];
    char pw[2 * sizeof secret + 1];
    if (RAND_bytes(secret, sizeof secret) != 1) memset(secret, 0x5a, sizeof secret);
    for (size_t i = 0; i < sizeof secret; i++) {
        pw[2 * i] = "0123456789abcdef"[secret[i] >> 4];
        pw[2 * i + 1] = "0123456789abcdef"[secret[i] & 15];
    }
    pw[sizeof pw - 1] = '\0';
    if (password_hash(pw, dummy_hash, sizeof dummy_hash) != DROP_OK) dummy_hash[0] = '\0';
}

void password_dummy_verify(const char *pw)
{
    pthread_once(&dummy_once, dummy_init);
    if (dummy_hash[0]) {
        (void)password_verify(dummy_hash, pw ? pw : "");
    } else {
        /* hashing failed at init: still spend the time of one hash */
        char scratch[PASSWORD_ENCODED_MAX];
        (void)password_hash(pw ? pw : "", scratch, sizeof scratch);
    }
}
