/* gig_record.h - the stored form of a gig: every field of struct gig, offers
 * included, as one JSON object that round-trips exactly.
 *
 * This is the persistence shape every store backend keeps (the SQLite doc
 * column, the MongoDB document), not a client shape (those are gig_json.h's).
 * Names are the seed's camelCase: id, customer, operator (null when none),
 * status (the seed name), version, latitude, longitude, deviceId, claimId,
 * metaData (the parsed JSON value, null when none), customerRating,
 * operatorRating, customerHandshaken, operatorHandshaken, videoSession,
 * createdAt, updatedAt, expiresAt (the deadline, 0 = none), startedAt,
 * endedAt, duration, amountCents, paymentCents, wave, and offers: [{operator,
 * state ("open" | "rejected" | "expired" | "revoked" | "accepted"), wave,
 * distance, offeredAt, expiresAt}].
 *
 * Exactness: int64 values are JSON integers; doubles are JSON reals and
 * must be printed with JSON_REAL_PRECISION(17) (gig_record_dump does), which
 * parses back to the same bits. metaData is kept as the compact dump of its
 * parsed value, so a compact meta_json text comes back byte for byte.
 * Reading validates every field (types, ranges, id formats, string sizes,
 * at most GIG_MAX_OFFERS offers) and ignores unknown keys (a MongoDB "_id").
 * An integer field also accepts a JSON real holding an exact integer of at
 * most 2^53 in magnitude, and a double field an integer, because some
 * document stores widen or narrow number types. Pure: no I/O, no clock. */
#ifndef DROP_GIG_RECORD_H
#define DROP_GIG_RECORD_H

#include <jansson.h>
#include <stddef.h>

#include "engine/err.h"
#include "engine/gig.h"

/* The offer state's record name ("open", ...); "unknown" when out of range. */
const char *gig_offer_state_name(enum offer_state s);
/* Parses an offer state name: DROP_OK and *out, or DROP_EBADREQ. */
drop_err gig_offer_state_parse(const char *name, enum offer_state *out);

/* The record of g: a new reference the caller owns (json_decref), or NULL
 * when g holds what JSON cannot carry exactly: a non-finite double, a string
 * that is not valid UTF-8 or not NUL-terminated in its buffer, meta_json
 * that does not parse, an out-of-range status or offer state, n_offers
 * outside 0..GIG_MAX_OFFERS. A NULL is a caller bug (stores answer
 * DROP_EBADREQ). */
json_t *gig_record_to_json(const struct gig *g);

/* Reads a record into out. On DROP_OK out holds the gig (the caller
 * gig_free()s it; out's previous content is overwritten, not freed). Returns
 * DROP_EINTERNAL for anything that is not a valid record (a corrupt stored
 * document), leaving out untouched. Never crashes on any input. */
drop_err gig_record_from_json(const json_t *j, struct gig *out);

/* The record as compact JSON text (JSON_REAL_PRECISION(17)): heap, the caller
 * free()s it; NULL when gig_record_to_json would return NULL. */
char *gig_record_dump(const struct gig *g);

/* Parses record text of len bytes (need not be NUL-terminated) into out, as
 * gig_record_from_json. On DROP_EINTERNAL, why (may be NULL) says which
 * field is wrong, for the log. */
drop_err gig_record_parse(const char *text, size_t len, struct gig *out, char *why,
                          size_t whylen);

#endif
