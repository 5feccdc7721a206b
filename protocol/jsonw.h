/* jsonw.h - compact JSON text of a json_t, appended to a growing buffer.
 *
 * The bytes are jansson's (json_dump_callback with JSON_COMPACT |
 * JSON_ENCODE_ANY | JSON_REAL_PRECISION(17)): object keys in insertion
 * order, the same string escapes, reals as "%.17g" with ".0" added to a
 * whole number and the exponent without '+' or leading zeros. What it saves
 * is jansson's cost per dump, which was most of a sys.ping reply: a loop-check
 * table allocated per dump and an entry (a malloc and an snprintf of the
 * container's address) per object or array, an snprintf per integer, and a
 * callback per token. The buffer it fills is also the codec's output buffer
 * (codec.c), for MessagePack as for JSON. Loop thread or any thread: no
 * state outside the buffer. */
#ifndef DROP_JSONW_H
#define DROP_JSONW_H

#include <stddef.h>

#include <jansson.h>

/* Nesting past this is refused (jansson's own dump refuses only a cycle,
 * which would otherwise recurse for ever here). */
#define JSONW_MAX_DEPTH 2048

/* A byte buffer: p from xmalloc/xrealloc (the owner frees it), len bytes
 * used of cap. A zeroed struct is an empty buffer. */
struct jsonw {
    unsigned char *p;
    size_t len, cap;
};

/* Appends n bytes of data, growing the buffer (aborts on out of memory). */
void jsonw_append(struct jsonw *w, const void *data, size_t n);

/* Appends the JSON text of v (borrowed). Returns 0, or -1 when v nests
 * deeper than JSONW_MAX_DEPTH (w then holds a partial text). Strings are
 * copied as they are: jansson's checked constructors, the only ones the
 * project uses, keep them valid UTF-8. */
int jsonw_value(struct jsonw *w, const json_t *v);

#endif
