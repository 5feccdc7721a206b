/* oid.h - new identifiers: MongoDB ObjectIds (libbson) for every object in
 * every backend, and the short random referral codes of accounts. Safe from
 * any thread. */
#ifndef DROP_OID_H
#define DROP_OID_H

#include "engine/account.h"
#include "engine/id.h"

/* Writes a new ObjectId as 24 lowercase hex chars + NUL (bson_oid_init:
 * time, a per-process random value and a counter, so ids sort by creation
 * second and never repeat within a process). */
void oid_new(char out[DROP_ID_SIZE]);

/* Writes a random referral code: ACCOUNT_REFERRAL_LEN base62 chars + NUL,
 * from OpenSSL's RAND_bytes (rejection-sampled, so unbiased). Aborts if the
 * random generator fails, which OpenSSL only does when it cannot be seeded. */
void oid_referral_code(char out[ACCOUNT_REFERRAL_LEN + 1]);

#endif
