/* rest.h - the REST shim's route table: a method and path of the seeds'
 * APIs map onto an op of the op table and its data, so REST and WebSocket
 * run the same handlers (PROTOCOL.md section 3).
 *
 * rest_match() builds the op's data from path parameters, the query string
 * and the JSON body, and turns the numeric strings legacy clients send
 * ("latitude": "10.23") into numbers. */
#ifndef DROP_REST_H
#define DROP_REST_H

#include <jansson.h>
#include <stddef.h>

enum rest_method { REST_GET, REST_POST, REST_PUT, REST_DELETE, REST_PATCH, REST_OTHER };

enum rest_outcome {
    REST_OK,              /* *op and *data are set */
    REST_NOT_FOUND,       /* no route has this path (404) */
    REST_BAD_METHOD,      /* the path exists with other methods (405) */
    REST_NOT_IMPLEMENTED, /* a seed route whose feature has not landed (501) */
    REST_BAD_BODY,        /* the body is not a JSON object, or the path or a query
                           * value is not valid UTF-8 (400) */
};

/* Matches method + path (no query) against the routes. query is the raw
 * query string ("a=1&b=2", may be NULL), body the request body (may be NULL
 * or empty). On REST_OK sets *op (static) and *data (new reference, an
 * object). why explains the other outcomes. */
enum rest_outcome rest_match(enum rest_method method, const char *path, const char *query,
                             const char *body, size_t body_len, const char **op, json_t **data,
                             char *why, size_t whylen);

/* Writes the methods the routes accept on path, as an Allow header value
 * ("GET, POST"), into out; "" when the path is unknown. */
void rest_allowed(const char *path, char *out, size_t outlen);

#endif
