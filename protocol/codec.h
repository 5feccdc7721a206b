/* codec.h - the two wire encodings of the WebSocket envelope (PROTOCOL.md §1).
 *
 * Every message, whichever subprotocol the client chose, becomes a jansson
 * json_t inside the node: handlers never see bytes. dropin.v1.json frames are
 * decoded by jansson, dropin.v1.msgpack frames by msgpack-c after a bounded
 * walk of the bytes (msgpack-c preallocates declared container sizes, so every
 * count is checked against the bytes left before it is trusted). Both codecs
 * accept the same value space: null, booleans, int64 integers, finite reals,
 * valid UTF-8 strings without NUL, arrays, and objects with unique string keys,
 * nested at most max_depth (capped at CODEC_MAX_DEPTH) containers deep. */
#ifndef DROP_CODEC_H
#define DROP_CODEC_H

#include <stddef.h>

#include <jansson.h>

#include "engine/err.h"

enum codec { CODEC_JSON, CODEC_MSGPACK };

/* Deepest container nesting any decode accepts (msgpack-c's unpack stack). A
 * top-level object is depth 1; {"data":{}} is depth 2. */
#define CODEC_MAX_DEPTH 32

/* Decodes exactly one value from buf[0..len) (trailing bytes other than JSON
 * whitespace are an error). max_depth bounds container nesting; values above
 * CODEC_MAX_DEPTH are treated as CODEC_MAX_DEPTH.
 * Returns DROP_OK and a new reference in *out (the caller owns it), or
 * DROP_EBADREQ with *out = NULL and a one-line reason in why (when why is not
 * NULL). Allocation stays proportional to len whatever the input declares.
 * Never blocks. */
drop_err codec_decode(enum codec c, const void *buf, size_t len, size_t max_depth,
                      json_t **out, char *why, size_t whylen);

/* codec_decode for a request. When it refuses JSON only for a value
 * jansson cannot hold (a \u0000 in a string, an integer beyond 64 bits)
 * inside an otherwise well-formed envelope, *bad_id gets a new reference to
 * the envelope's id (JSON null when it has none) and why the value's
 * problem, so the request is answered bad_request instead of closing the
 * session. *bad_id stays NULL otherwise: the text is not such an envelope,
 * the id or op is itself the bad value, or it is MessagePack. */
drop_err codec_decode_request(enum codec c, const void *buf, size_t len, size_t max_depth,
                              json_t **out, json_t **bad_id, char *why, size_t whylen);

/* Encodes v (borrowed) compactly: JSON with reals printed to round-trip, or
 * MessagePack with integers in their smallest form, reals as float64 and
 * strings as str. Returns a buffer from xmalloc (free() it) whose first
 * `headroom` bytes are unused (pass LWS_PRE so lws_write needs no copy) and
 * whose payload follows; *len is the payload length, headroom excluded.
 * JSON is jansson's text (protocol/jsonw.h). Returns NULL only when v nests
 * deeper than JSONW_MAX_DEPTH (a cycle); MessagePack never fails. */
/* Our own words for why jansson refused a text (its messages name its
 * internals, e.g. "not allowed without JSON_ALLOW_NUL"). Static. */
const char *codec_json_problem(const json_error_t *err);

unsigned char *codec_encode(enum codec c, const json_t *v, size_t headroom, size_t *len);

/* The bytes of codec_encode(c, envelope_reply(id, data)), {"re": id, "ok":
 * true, "data": data}, written without building the envelope: the reply of
 * every successful request takes this path. id and data are borrowed; id
 * NULL gives "re": null, data NULL gives {}. Returns like codec_encode. */
unsigned char *codec_encode_reply(enum codec c, const json_t *id, const json_t *data,
                                  size_t headroom, size_t *len);

#endif
