/* password.h - password hashing with Argon2id (libargon2).
 *
 * Parameters follow the OWASP minimum for Argon2id: m = 19456 KiB (19 MiB),
 * t = 2 passes, p = 1 lane, a 16-byte salt from OpenSSL's RAND_bytes and a
 * 32-byte hash, stored as the standard encoding
 *   $argon2id$v=19$m=19456,t=2,p=1$<salt b64>$<hash b64>
 * which carries its own parameters, so hashes made with other parameters
 * still verify. Each call takes tens of milliseconds of CPU and 19 MiB of
 * memory: BLOCKING, call it only from a worker thread, never the loop. */
#ifndef DROP_PASSWORD_H
#define DROP_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/err.h"

#define PASSWORD_M_COST 19456
#define PASSWORD_T_COST 2
#define PASSWORD_LANES 1
#define PASSWORD_SALT_LEN 16
#define PASSWORD_HASH_LEN 32
#define PASSWORD_ENCODED_MAX 128 /* room for the encoding above + NUL */

/* Hashes pw into out (NUL-terminated, at most PASSWORD_ENCODED_MAX bytes).
 * Returns DROP_OK, DROP_EBADREQ (outlen too small), or DROP_EINTERNAL (the
 * random generator or libargon2 failed; logged). Blocking. */
drop_err password_hash(const char *pw, char *out, size_t outlen);

/* True when pw matches the encoded Argon2id hash; false for a mismatch or
 * an encoding that is not a valid $argon2id$ string. Blocking. */
bool password_verify(const char *encoded, const char *pw);

/* Costs what a password_verify against a real hash costs, and always fails:
 * called when the identity is unknown, so that an unknown identity and a
 * wrong password take about the same time. Blocking. */
void password_dummy_verify(const char *pw);

#endif
