/* gig_json.c - builds the JSON shapes of gigs (see gig_json.h).
 *
 * Each shape is assembled key by key with json_object_set_new, so a NULL from
 * a failed json_string (invalid UTF-8) can be replaced by null instead of
 * losing the object. metaData is stored as JSON text and parsed here. */
#include "engine/gig_json.h"
#include "engine/timefmt.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* A JSON string, or null when s is NULL or not valid UTF-8. */
static json_t *str_or_null(const char *s)
{
    json_t *j = s ? json_string(s) : NULL;
    return j ? j : json_null();
}

/* A JSON string, "" when s is NULL; null when not valid UTF-8. */
static json_t *str_or_empty(const char *s)
{
    return str_or_null(s ? s : "");
}

static json_t *id_or_null(const char *id)
{
    return id[0] ? str_or_null(id) : json_null();
}

static json_t *time_or_null(int64_t ms)
{
    return timefmt_json(ms);
}

static json_t *rating_or_null(int r)
{
    return r ? json_integer(r) : json_null();
}

static json_t *meta_or_null(const struct gig *g)
{
    json_t *m = g->meta_json ? json_loads(g->meta_json, JSON_DECODE_ANY, NULL) : NULL;
    return m ? m : json_null();
}

/* A finite number, null otherwise (a gig is never stored with NaN, but
 * jansson refuses non-finite reals). */
static json_t *number(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *cents_as_units(int64_t cents)
{
    return json_real((double)cents / 100.0);
}

/* The fields the client shapes share, each with one representation. */
enum gig_key {
    K_ID, K_CUSTOMER, K_OPERATOR, K_STATUS, K_VERSION, K_LATITUDE, K_LONGITUDE, K_DEVICE_ID,
    K_CLAIM_ID, K_META, K_CUSTOMER_RATING, K_OPERATOR_RATING, K_DURATION, K_CREATED_AT,
    K_UPDATED_AT, K_EXPIRES_AT, K_CUSTOMER_HANDSHAKEN, K_OPERATOR_HANDSHAKEN
};

static const char *const key_names[] = {
    [K_ID] = "id", [K_CUSTOMER] = "customer", [K_OPERATOR] = "operator", [K_STATUS] = "status",
    [K_VERSION] = "version", [K_LATITUDE] = "latitude", [K_LONGITUDE] = "longitude",
    [K_DEVICE_ID] = "deviceId", [K_CLAIM_ID] = "claimId", [K_META] = "metaData",
    [K_CUSTOMER_RATING] = "customerRating", [K_OPERATOR_RATING] = "operatorRating",
    [K_DURATION] = "duration", [K_CREATED_AT] = "createdAt", [K_UPDATED_AT] = "updatedAt",
    [K_EXPIRES_AT] = "expiresAt", [K_CUSTOMER_HANDSHAKEN] = "customerHandshaken",
    [K_OPERATOR_HANDSHAKEN] = "operatorHandshaken",
};

static json_t *key_value(const struct gig *g, enum gig_key k)
{
    switch (k) {
    case K_ID: return str_or_empty(g->id);
    case K_CUSTOMER: return str_or_empty(g->customer);
    case K_OPERATOR: return id_or_null(g->operator);
    case K_STATUS: return json_string(gig_status_name(g->status));
    case K_VERSION: return json_integer(g->version);
    case K_LATITUDE: return number(g->latitude);
    case K_LONGITUDE: return number(g->longitude);
    case K_DEVICE_ID: return id_or_null(g->device_id);
    case K_CLAIM_ID: return id_or_null(g->claim_id);
    case K_META: return meta_or_null(g);
    case K_CUSTOMER_RATING: return rating_or_null(g->customer_rating);
    case K_OPERATOR_RATING: return rating_or_null(g->operator_rating);
    case K_DURATION: return json_integer(g->duration_s);
    case K_CREATED_AT: return time_or_null(g->created_at);
    case K_UPDATED_AT: return time_or_null(g->updated_at);
    case K_EXPIRES_AT: return time_or_null(g->deadline);
    case K_CUSTOMER_HANDSHAKEN: return json_boolean(g->customer_handshaken);
    case K_OPERATOR_HANDSHAKEN: return json_boolean(g->operator_handshaken);
    }
    return json_null();
}

/* Sets the n keys of g into o, in that order (jansson keeps insertion
 * order, which clients reading raw frames see). */
static void set_keys(json_t *o, const struct gig *g, const enum gig_key *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, key_names[keys[i]], key_value(g, keys[i]));
}

#define SET_KEYS(o, g, ...)                                                                   \
    do {                                                                                      \
        static const enum gig_key keys_[] = {__VA_ARGS__};                                    \
        set_keys(o, g, keys_, sizeof keys_ / sizeof keys_[0]);                                \
    } while (0)

json_t *gig_to_json(const struct gig *g)
{
    json_t *o = json_object();
    SET_KEYS(o, g, K_ID, K_CUSTOMER, K_OPERATOR, K_STATUS, K_VERSION, K_LATITUDE, K_LONGITUDE,
             K_DEVICE_ID, K_CLAIM_ID, K_META, K_CUSTOMER_RATING, K_OPERATOR_RATING, K_DURATION,
             K_CREATED_AT, K_UPDATED_AT, K_EXPIRES_AT, K_CUSTOMER_HANDSHAKEN,
             K_OPERATOR_HANDSHAKEN);
    return o;
}

/* The seed's getall item (customer, operator, ratings, position, duration,
 * status, id) with the same representation as the gig object, so the item
 * is the whole gig object: PROTOCOL.md section 4 asks every gig for more. */
json_t *gig_list_item_json(const struct gig *g)
{
    return gig_to_json(g);
}

const char *gig_purchase_status(enum gig_status s)
{
    switch (s) {
    case GIG_PURCHASED:
    case GIG_VOTED:
    case GIG_INVOICE_GENERATED:
    case GIG_INVOICE_SENT:
    case GIG_COMPENSATED:
        return "confirmed";
    default:
        return "none";
    }
}

const char *gig_payment_status(enum gig_status s)
{
    switch (s) {
    case GIG_PURCHASED: return "pending_rating";
    case GIG_VOTED: return "need_invoice";
    case GIG_INVOICE_GENERATED: return "invoice_generated";
    case GIG_INVOICE_SENT: return "invoice_sent";
    case GIG_COMPENSATED: return "paid";
    default: return "none";
    }
}

static json_t *name_json(const char *first, const char *last)
{
    json_t *o = json_object();
    json_object_set_new(o, "firstName", str_or_empty(first));
    json_object_set_new(o, "lastName", str_or_empty(last));
    return o;
}

static json_t *rating_value_or_null(int r)
{
    return r ? json_pack("{s:i}", "value", r) : json_null();
}

static json_t *money_json(const char *status, int64_t cents)
{
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string(status));
    json_object_set_new(o, "amount", cents_as_units(cents));
    return o;
}

json_t *gig_detail_json(const struct gig *g, const char *customer_first, const char *customer_last,
                        const char *operator_first, const char *operator_last)
{
    json_t *gj = json_object();
    json_t *o = json_object();
    const char *ps = gig_purchase_status(g->status);

    SET_KEYS(gj, g, K_DURATION, K_STATUS);
    json_object_set_new(gj, "customer", name_json(customer_first, customer_last));
    json_object_set_new(gj, "operator",
                        g->operator[0] ? name_json(operator_first, operator_last) : json_null());
    json_object_set_new(gj, "customerRating", rating_value_or_null(g->customer_rating));
    json_object_set_new(gj, "operatorRating", rating_value_or_null(g->operator_rating));
    SET_KEYS(gj, g, K_LATITUDE, K_LONGITUDE, K_ID, K_VERSION, K_DEVICE_ID, K_CLAIM_ID, K_META,
             K_CREATED_AT, K_UPDATED_AT, K_EXPIRES_AT);

    json_object_set_new(o, "gig", gj);
    json_object_set_new(o, "purchase",
                        money_json(ps, strcmp(ps, "none") == 0 ? 0 : g->amount_cents));
    json_object_set_new(o, "payment",
                        money_json(gig_payment_status(g->status), strcmp(ps, "none") == 0 ? 0 : g->payment_cents));
    return o;
}

json_t *gig_offer_json(const struct gig *g, const struct gig_offer *off, const char *customer_first,
                       double customer_rating)
{
    json_t *o = json_object();
    json_t *c = json_object();

    json_object_set_new(c, "firstName", str_or_empty(customer_first));
    json_object_set_new(c, "customerRating",
                        isfinite(customer_rating) && customer_rating >= 0 ? json_real(customer_rating)
                                                                          : json_null());
    json_object_set_new(o, "gigId", str_or_empty(g->id));
    json_object_set_new(o, "version", json_integer(g->version));
    json_object_set_new(o, "latitude", number(g->latitude));
    json_object_set_new(o, "longitude", number(g->longitude));
    json_object_set_new(o, "distance",
                        isfinite(off->distance_m) ? json_integer((json_int_t)llround(off->distance_m))
                                                  : json_null());
    json_object_set_new(o, "customer", c);
    json_object_set_new(o, "metaData", meta_or_null(g));
    json_object_set_new(o, "expiresAt", time_or_null(off->expires_at));
    return o;
}
