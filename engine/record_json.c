/* record_json.c - the typed getters of stored records (see record_json.h). */
#include "engine/record_json.h"

#include <math.h>
#include <string.h>

#define EXACT_INT_MAX 9007199254740992.0 /* 2^53: a double holds every integer up to it */

bool record_get_int(const json_t *o, const char *key, int64_t min, int64_t max, int64_t *out,
                    char *why, size_t whylen)
{
    const json_t *v = json_object_get(o, key);
    int64_t x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        /* bounds first: casting a double out of range is undefined */
        if (!(fabs(d) <= EXACT_INT_MAX) || d != trunc(d))
            return record_bad(why, whylen, "%s: not an integer", key);
        x = (int64_t)d;
    } else {
        return record_bad(why, whylen, "%s: missing or not a number", key);
    }
    if (x < min || x > max) return record_bad(why, whylen, "%s: out of range", key);
    *out = x;
    return true;
}

bool record_get_i32(const json_t *o, const char *key, int min, int max, int *out, char *why,
                    size_t whylen)
{
    int64_t x;
    if (!record_get_int(o, key, min, max, &x, why, whylen)) return false;
    *out = (int)x;
    return true;
}

bool record_get_double(const json_t *o, const char *key, double *out, char *why, size_t whylen)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_number(v)) return record_bad(why, whylen, "%s: missing or not a number", key);
    *out = json_number_value(v);
    return true;
}

bool record_get_bool(const json_t *o, const char *key, bool *out, char *why, size_t whylen)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_boolean(v)) return record_bad(why, whylen, "%s: missing or not a boolean", key);
    *out = json_is_true(v);
    return true;
}

bool record_get_str(const json_t *o, const char *key, char *out, size_t size, bool nullable,
                    char *why, size_t whylen)
{
    const json_t *v = json_object_get(o, key);
    if (nullable && json_is_null(v)) {
        out[0] = '\0';
        return true;
    }
    if (!json_is_string(v)) return record_bad(why, whylen, "%s: missing or not a string", key);
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (len >= size || strlen(s) != len)
        return record_bad(why, whylen, "%s: too long or holds NUL", key);
    memcpy(out, s, len + 1);
    return true;
}

bool record_get_id(const json_t *o, const char *key, char out[DROP_ID_SIZE], bool nullable,
                   char *why, size_t whylen)
{
    char id[DROP_ID_SIZE];
    if (!record_get_str(o, key, id, sizeof id, nullable, why, whylen)) return false;
    if (!id_valid(id) && !(nullable && !id[0]))
        return record_bad(why, whylen, "%s: not an id", key);
    memcpy(out, id, sizeof id);
    return true;
}
