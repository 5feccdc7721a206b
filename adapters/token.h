/* token.h - session tokens: generation, hashing, sealing, and the server key.
 *
 * A token is 256 random bits from OpenSSL's RAND_bytes, written base64url
 * without padding (43 chars). The store looks tokens up by their SHA-256
 * only. Because one account keeps one token (a second login returns the live
 * token), the store must also be able to give the token back: it keeps it
 * SEALED with AES-256-GCM under the server key (a random 12-byte nonce per
 * seal, the account id as associated data, the 16-byte tag checked on
 * unseal), laid out as nonce | ciphertext | tag. So neither the database
 * file nor a dump of it holds a usable token without the key.
 *
 * The key comes from config (token_secret / DROPIN_TOKEN_SECRET, see
 * token_key_from_secret) or, when none is configured, from a 0600 file beside
 * the database made once with a random key (token_key_load_or_create). Call
 * token_init() once at start, before any worker thread runs; everything else
 * is then safe from any thread. Nothing here logs a token or the key. */
#ifndef DROP_TOKEN_H
#define DROP_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/err.h"

#define TOKEN_BYTES 32
#define TOKEN_LEN 43                 /* base64url of 32 bytes, no padding */
#define TOKEN_SIZE (TOKEN_LEN + 1)
#define TOKEN_HASH_LEN 32            /* SHA-256 */
#define TOKEN_KEY_LEN 32             /* AES-256 */
#define TOKEN_NONCE_LEN 12
#define TOKEN_TAG_LEN 16
#define TOKEN_SEALED_LEN (TOKEN_NONCE_LEN + TOKEN_LEN + TOKEN_TAG_LEN)

/* Sets the server key used by token_seal / token_unseal (copied). Not
 * thread-safe: call at start, before workers run. */
void token_init(const unsigned char key[TOKEN_KEY_LEN]);

/* Writes a new random token (TOKEN_LEN chars + NUL). DROP_OK, or
 * DROP_EINTERNAL when the random generator fails (logged). */
drop_err token_generate(char out[TOKEN_SIZE]);

/* True when s looks like a token: exactly TOKEN_LEN base64url chars. */
bool token_well_formed(const char *s);

/* SHA-256 of the token's characters. */
void token_hash(const char *token, unsigned char out[TOKEN_HASH_LEN]);

/* Seals token (TOKEN_LEN chars) for account into out. DROP_OK, DROP_EBADREQ
 * (token not well formed), DROP_EINTERNAL (no key set, or OpenSSL failed). */
drop_err token_seal(const char *token, const char *account,
                    unsigned char out[TOKEN_SEALED_LEN]);

/* Opens a sealed token of account into out (TOKEN_LEN chars + NUL).
 * DROP_OK; DROP_EUNAUTH when the blob is not TOKEN_SEALED_LEN bytes, was
 * tampered with, belongs to another account or was sealed under another
 * key (the caller then issues a new token); DROP_EINTERNAL when no key is
 * set. */
drop_err token_unseal(const unsigned char *sealed, size_t len, const char *account,
                      char out[TOKEN_SIZE]);

/* Derives the key from a configured secret: 64 hex chars are the key
 * itself; any other string of at least 32 bytes is hashed with SHA-256.
 * DROP_OK, or DROP_EBADREQ (shorter than 32 bytes) with a reason in why. */
drop_err token_key_from_secret(const char *secret, unsigned char key[TOKEN_KEY_LEN],
                               char *why, size_t whylen);

/* Reads the key from path (64 hex chars and a newline), or, when the file
 * does not exist, makes a random key and writes it there with mode 0600
 * (creating the parent directory; atomic, so two processes starting at once
 * agree on one key). DROP_OK, or DROP_EUNAVAIL / DROP_EINTERNAL with a
 * reason naming the path in why (unreadable, malformed, not writable).
 * Blocking (file I/O): call at start. */
drop_err token_key_load_or_create(const char *path, unsigned char key[TOKEN_KEY_LEN],
                                  char *why, size_t whylen);

/* ---- one-time codes (engine/ops_code.c) ---- */

#define TOKEN_CODE_DIGITS 6

/* Writes a uniformly random code of TOKEN_CODE_DIGITS decimal digits + NUL.
 * DROP_OK, or DROP_EINTERNAL when the random generator fails. */
drop_err token_code_new(char out[TOKEN_CODE_DIGITS + 1]);

/* Fills out with n random bytes. DROP_OK or DROP_EINTERNAL. */
drop_err token_random(unsigned char *out, size_t n);

/* HMAC-SHA256 under a key derived from the server key (never the sealing
 * key itself) of salt | identity | NUL | code: how a code is stored, so a
 * copy of the database alone cannot test the million codes. */
void token_code_hash(const unsigned char *salt, size_t saltlen, const char *identity,
                     const char *code, unsigned char out[TOKEN_HASH_LEN]);

#endif
