/* blob_s3.h - the blob signer: S3 presigned URLs (AWS Signature Version 4,
 * query-string authentication).
 *
 * A client asks for an upload URL (storage.sign); the node answers with a URL
 * that lets exactly one PUT of one key for a limited time, and the bytes go
 * straight from the client to S3 (or any S3-compatible store). Signing is pure
 * computation with OpenSSL's SHA-256 and HMAC-SHA256: no network, no clock of
 * its own (now is passed in), thread-safe.
 *
 * Two layers: blob_s3_presign() signs one request given its parts (method,
 * host, path, ...), which is what AWS's published examples exercise; a
 * struct blob_s3 holds the configured bucket, region, endpoint and keys and
 * turns an object key into a presigned PUT URL. With no endpoint the URL is
 * virtual-hosted (https://BUCKET.s3.REGION.amazonaws.com/KEY); a custom
 * endpoint (http://127.0.0.1:9000, MinIO, ...) is path style
 * (ENDPOINT/BUCKET/KEY). */
#ifndef DROP_BLOB_S3_H
#define DROP_BLOB_S3_H

#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"

#define BLOB_S3_URL_MAX 2048   /* every URL we make fits in this */
#define BLOB_S3_KEY_MAX 512    /* object keys, bytes */
#define BLOB_S3_CTYPE_MAX 127  /* a signed Content-Type, bytes */

/* One request to presign. Every string is borrowed for the call. */
struct blob_s3_presign {
    const char *method;       /* "PUT", "GET", ... */
    const char *scheme;       /* "https" or "http" */
    const char *host;         /* host[:port], exactly as the client's Host header */
    const char *path;         /* the object's path, not encoded, starting with '/' */
    const char *region;       /* "us-east-1" */
    const char *access_key;
    const char *secret_key;
    const char *content_type; /* NULL or "": not signed (any Content-Type is accepted) */
    int64_t now_ms;           /* signing time, ms since the epoch */
    int64_t expires_s;        /* validity, 1 .. 604800 seconds */
};

/* Writes the presigned URL of p into out (outlen bytes, NUL-terminated).
 * Signed headers are host, plus content-type when p->content_type is set;
 * the payload is UNSIGNED-PAYLOAD. Returns DROP_OK, DROP_EBADREQ for a
 * missing part or expires_s out of range, DROP_ETOOLARGE when the URL does
 * not fit in out. */
drop_err blob_s3_presign(const struct blob_s3_presign *p, char *out, size_t outlen);

struct blob_s3;

/* Makes a signer for bucket in region. endpoint "" means AWS
 * (virtual-hosted https://BUCKET.s3.REGION.amazonaws.com); otherwise
 * http[s]://HOST[:PORT] with no path, addressed path style. ttl_ms is the
 * validity of every URL (1 s .. 7 days). Copies every string (the secret is
 * wiped on free). Returns DROP_OK and *out, or DROP_EBADREQ with why naming
 * the bad setting (never echoing a key). */
drop_err blob_s3_new(const char *bucket, const char *region, const char *endpoint,
                     const char *access_key, const char *secret_key, int64_t ttl_ms,
                     struct blob_s3 **out, char *why, size_t whylen);

/* Frees b (NULL is fine). */
void blob_s3_free(struct blob_s3 *b);

/* A presigned PUT URL for key (1..BLOB_S3_KEY_MAX bytes, no leading '/'),
 * valid from now_ms for the configured ttl; *expires_at_ms is when it stops
 * working. content_type as in struct blob_s3_presign. Thread-safe. Returns
 * DROP_OK, DROP_EBADREQ for a bad key or content type, DROP_ETOOLARGE when
 * the URL does not fit in url (urllen; BLOB_S3_URL_MAX always does). */
drop_err blob_s3_sign_put(const struct blob_s3 *b, const char *key, const char *content_type,
                          int64_t now_ms, char *url, size_t urllen, int64_t *expires_at_ms);

#endif
