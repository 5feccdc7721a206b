/* utf8.h - UTF-8 checks for every place where client bytes become a JSON
 * string (an error message that echoes a path, a path parameter, a query
 * value). jansson refuses text that is not valid UTF-8 (json_string returns
 * NULL), so such bytes are either refused with bad_request or replaced here,
 * and text is cut only on a character boundary. */
#ifndef DROP_UTF8_H
#define DROP_UTF8_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* True when s[0..n) is valid UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF) and holds no NUL byte. */
bool utf8_valid(const char *s, size_t n);

/* The length of the longest prefix of s[0..n) that is at most max bytes and
 * does not end inside a multi-byte character (s is assumed valid). */
size_t utf8_clip(const char *s, size_t n, size_t max);

/* A JSON string of s (NUL-terminated, may be NULL) that always succeeds:
 * each byte that does not start a valid sequence becomes U+FFFD, and the
 * text is cut to at most max bytes of input on a character boundary (max 0:
 * no cut). Returns a new reference. */
json_t *utf8_json_string(const char *s, size_t max);

#endif
