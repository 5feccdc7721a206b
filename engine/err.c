/* err.c - the single mapping of drop_err to protocol codes and REST statuses. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine/err.h"

static const struct {
    const char *code;
    int status;
} err_table[DROP_ERR__COUNT] = {
    [DROP_OK] = {"ok", 200},
    [DROP_EBADREQ] = {"bad_request", 400},
    [DROP_EUNAUTH] = {"unauthenticated", 401},
    [DROP_EFORBIDDEN] = {"forbidden", 403},
    [DROP_ENOTFOUND] = {"not_found", 404},
    [DROP_ECONFLICT] = {"conflict", 409},
    [DROP_ERATING] = {"rating_required", 423},
    [DROP_ETOOLARGE] = {"too_large", 413},
    [DROP_ERATELIMIT] = {"rate_limited", 429},
    [DROP_EUNAVAIL] = {"unavailable", 503},
    [DROP_EINTERNAL] = {"internal", 500},
};

const char *err_code(drop_err e)
{
    if ((int)e < 0 || e >= DROP_ERR__COUNT) return "internal";
    return err_table[e].code;
}

int err_http_status(drop_err e)
{
    if ((int)e < 0 || e >= DROP_ERR__COUNT) return 500;
    return err_table[e].status;
}

drop_err err_from_code(const char *code)
{
    for (int i = 0; i < DROP_ERR__COUNT; i++)
        if (code && strcmp(code, err_table[i].code) == 0) return (drop_err)i;
    return DROP_EINTERNAL;
}

drop_err err_why(drop_err e, char *why, size_t whylen, const char *fmt, ...)
{
    if (why && whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return e;
}
