/* gig_json.h - the JSON shapes of gigs (PROTOCOL.md §4 and the Dropin seed).
 *
 * Builds jansson values from a struct gig: the full gig object (replies,
 * gig.updated, session.state), the seed's "getall" list item, the seed's
 * detail record {gig, purchase, payment}, and the gig.offer event data.
 * Internal state (offer lists, handshake video session, money in cents) never
 * appears except as documented. Amounts are JSON numbers in currency units
 * (1115 cents -> 11.15); encode with JSON_REAL_PRECISION(15) or less so they
 * print as 11.15 and not 11.150000000000000355. Strings that are not valid
 * UTF-8 come out as null rather than failing the whole object.
 *
 * Every function returns a new reference the caller owns (json_decref), never
 * NULL. Also hosts the project's ISO-8601 time formatter for now. */
#ifndef DROP_GIG_JSON_H
#define DROP_GIG_JSON_H

#include <jansson.h>
#include <stdint.h>

#include "engine/gig.h"


/* The gig object: id, customer, operator (null when none), status, version,
 * latitude, longitude, deviceId, claimId (null when empty), metaData (parsed
 * object, null when none or unparsable), customerRating, operatorRating
 * (null when none), duration, createdAt, updatedAt, expiresAt (null when no
 * deadline), customerHandshaken, operatorHandshaken. */
json_t *gig_to_json(const struct gig *g);

/* The seed's list item: customer, operator, customerRating, operatorRating,
 * longitude, latitude, duration, status, id, plus version and createdAt. */
json_t *gig_list_item_json(const struct gig *g);

/* "none" before purchase; "confirmed" from purchased on (failed, expired and
 * the other ends without a stream stay "none"). */
const char *gig_purchase_status(enum gig_status s);

/* "none" before purchase, "pending_rating" in purchased, "need_invoice" in
 * voted, "invoice_generated", "invoice_sent", "paid" (compensated). */
const char *gig_payment_status(enum gig_status s);

/* The seed's detail record: {gig: {duration, status, customer: {firstName,
 * lastName}, operator: {firstName, lastName} | null, customerRating: {value}
 * | null, operatorRating: {value} | null, latitude, longitude, id, version,
 * createdAt, updatedAt, expiresAt}, purchase: {status, amount}, payment:
 * {status, amount}}. Names are borrowed; NULL reads as "". */
json_t *gig_detail_json(const struct gig *g, const char *customer_first, const char *customer_last,
                        const char *operator_first, const char *operator_last);

/* The gig.offer event data for offer o of g: gigId, latitude, longitude,
 * distance (m, rounded to whole metres), customer: {firstName,
 * customerRating (null when < 0)}, metaData, expiresAt. */
json_t *gig_offer_json(const struct gig *g, const struct gig_offer *o, const char *customer_first,
                       double customer_rating);

#endif
