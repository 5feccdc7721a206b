/* record_json.h - reading a stored record: the typed getters every record
 * codec (gig_record.c, job.c, the kinds to come) reads its JSON object with.
 *
 * Each getter reads one key of an object into out and returns true, or
 * writes "key: what is wrong" into why (may be NULL) and returns false, so a
 * decoder is one chain of `get || get || ...` and the log names the failing
 * key. out is only written on true. Some document stores widen or narrow
 * number types, so an integer field also accepts a JSON real holding an
 * exact integer of at most 2^53 in magnitude, and a double field an
 * integer. Pure: no I/O. */
#ifndef DROP_RECORD_JSON_H
#define DROP_RECORD_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"
#include "engine/id.h"

/* err_why for a predicate: writes the reason into why, yields false
 * (`return record_bad(why, whylen, "offers: more than %d", n)`). */
#define record_bad(why, whylen, ...) (err_why(DROP_EINTERNAL, (why), (whylen), __VA_ARGS__), false)

/* An integer in min..max. */
bool record_get_int(const json_t *o, const char *key, int64_t min, int64_t max, int64_t *out,
                    char *why, size_t whylen);

/* An integer in min..max, as an int. */
bool record_get_i32(const json_t *o, const char *key, int min, int max, int *out, char *why,
                    size_t whylen);

/* Any number, as a double. */
bool record_get_double(const json_t *o, const char *key, double *out, char *why, size_t whylen);

/* A boolean. */
bool record_get_bool(const json_t *o, const char *key, bool *out, char *why, size_t whylen);

/* A string without NUL into a buffer of size bytes (it must fit, with its
 * NUL); null reads as "" when nullable. */
bool record_get_str(const json_t *o, const char *key, char *out, size_t size, bool nullable,
                    char *why, size_t whylen);

/* An id (engine/id.h); when nullable, also null or "" (read as ""). */
bool record_get_id(const json_t *o, const char *key, char out[DROP_ID_SIZE], bool nullable,
                   char *why, size_t whylen);

#endif
