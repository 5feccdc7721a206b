/* envelope.h - the WebSocket envelope of PROTOCOL.md §1, on decoded json_t.
 *
 * A request is {"op": "gig.create", "id": 7, "data": {...}}; the node answers
 * {"re": 7, "ok": true, "data": {...}}, {"re": 7, "ok": false, "error":
 * {"code": "conflict", "message": "..."}} or pushes {"ev": "gig.offer",
 * "data": {...}}. envelope_parse checks the shape of a request (a bad shape is
 * the transport's close 4400); the builders make the three replies, which the
 * codec then encodes for whichever subprotocol the session uses. */
#ifndef DROP_ENVELOPE_H
#define DROP_ENVELOPE_H

#include <stddef.h>

#include <jansson.h>

#include "engine/err.h"

#define ENVELOPE_OP_MAX 64  /* bytes in "op" */
#define ENVELOPE_ID_MAX 128 /* bytes in a string "id" */

/* A parsed request. Every pointer is borrowed from the root given to
 * envelope_parse and valid while the caller holds that root. */
struct envelope {
    const char *op; /* non-empty, at most ENVELOPE_OP_MAX bytes */
    json_t *id;     /* integer or string, NULL when the request has no id */
    json_t *data;   /* always an object ({} when absent or null) */
};

/* Checks that root is an object with "op" a non-empty string of at most
 * ENVELOPE_OP_MAX bytes, "id" absent, an integer, or a string of at most
 * ENVELOPE_ID_MAX bytes, and "data" absent, null or an object; other keys are
 * ignored. When "data" is absent or null an empty object is stored in root
 * under "data" so env->data is always an object. Returns DROP_OK and fills env,
 * or DROP_EBADREQ with a reason in why (env then untouched). */
drop_err envelope_parse(json_t *root, struct envelope *env, char *why, size_t whylen);

/* {"re": id, "ok": true, "data": data}. id is borrowed (the reply takes its
 * own reference; NULL gives "re": null); data is stolen (NULL gives {}).
 * Returns a new reference. */
json_t *envelope_reply(json_t *id, json_t *data);

/* {"re": id, "ok": false, "error": {"code": err_code(e), "message": message}}.
 * id is borrowed and may be NULL ("re": null, the answer to a failed request
 * without id); message NULL gives the code itself. Returns a new reference. */
json_t *envelope_error(json_t *id, drop_err e, const char *message);

/* {"ev": ev, "data": data}. data is stolen (NULL gives {}). Returns a new
 * reference. */
json_t *envelope_event(const char *ev, json_t *data);

#endif
