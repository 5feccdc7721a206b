/* err.h - the one error enum of the project.
 *
 * Zero is success. Every other value maps once, here, to the protocol's error
 * code string and to its REST status (PROTOCOL.md, "Errors"). Functions that can
 * fail return drop_err and say in their comment which codes they return. */
#ifndef DROP_ERR_H
#define DROP_ERR_H

typedef enum drop_err {
    DROP_OK = 0,
    DROP_EBADREQ,       /* bad_request      400 */
    DROP_EUNAUTH,       /* unauthenticated  401 */
    DROP_EFORBIDDEN,    /* forbidden        403 */
    DROP_ENOTFOUND,     /* not_found        404 */
    DROP_ECONFLICT,     /* conflict         409 */
    DROP_ERATING,       /* rating_required  423 */
    DROP_ETOOLARGE,     /* too_large        413 */
    DROP_ERATELIMIT,    /* rate_limited     429 */
    DROP_EUNAVAIL,      /* unavailable      503 */
    DROP_EINTERNAL,     /* internal         500 */
    DROP_ERR__COUNT
} drop_err;

/* The protocol's code for e ("bad_request", ...); "internal" for out of range. */
const char *err_code(drop_err e);

/* The REST status for e (400, 401, ...); 200 for DROP_OK. */
int err_http_status(drop_err e);

/* Parses a protocol code back to the enum; DROP_EINTERNAL when unknown. */
drop_err err_from_code(const char *code);

#include <stddef.h>

/* Writes a printf-style reason into why (when why and whylen are set) and
 * returns e: `return err_why(DROP_EBADREQ, why, whylen, "x: ...")`. */
drop_err err_why(drop_err e, char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
