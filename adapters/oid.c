/* oid.c - ObjectIds from libbson and referral codes from OpenSSL (oid.h). */
#include <bson/bson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>

#include "adapters/oid.h"

void oid_new(char out[DROP_ID_SIZE])
{
    bson_oid_t oid;
    bson_oid_init(&oid, NULL); /* the default context is thread-safe */
    bson_oid_to_string(&oid, out);
}

void oid_referral_code(char out[ACCOUNT_REFERRAL_LEN + 1])
{
    static const char B62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    size_t n = 0;
    while (n < ACCOUNT_REFERRAL_LEN) {
        unsigned char buf[16];
        if (RAND_bytes(buf, sizeof buf) != 1) {
            fprintf(stderr, "fatal: RAND_bytes failed\n");
            abort();
        }
        for (size_t i = 0; i < sizeof buf && n < ACCOUNT_REFERRAL_LEN; i++)
            if (buf[i] < 248) out[n++] = B62[buf[i] % 62]; /* 248 = 4 * 62 */
    }
    out[n] = '\0';
}
