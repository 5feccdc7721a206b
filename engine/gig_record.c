/* gig_record.c - the stored form of a gig (see gig_record.h).
 *
 * How it works: one validity check (gig_valid) guards both directions, so
 * a gig that would not read back is never written, and a document that
 * passes the type checks of decode() is still refused when a value is out
 * of range. Writing is json_pack (any NULL inside makes the whole pack
 * fail: invalid UTF-8, a non-finite real). Reading goes field by field
 * through the typed getters of record_json.h, which name the failing key. */
#include "engine/gig_record.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/mem.h"
#include "engine/record_json.h"
#include "engine/store.h"

#define META_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17))

static const char *const offer_state_names[] = {
    [OFFER_OPEN] = "open",
    [OFFER_REJECTED] = "rejected",
    [OFFER_EXPIRED] = "expired",
    [OFFER_REVOKED] = "revoked",
    [OFFER_ACCEPTED] = "accepted",
};
#define N_OFFER_STATES ((int)(sizeof offer_state_names / sizeof offer_state_names[0]))

const char *gig_offer_state_name(enum offer_state s)
{
    return (unsigned)s < (unsigned)N_OFFER_STATES ? offer_state_names[s] : "unknown";
}

drop_err gig_offer_state_parse(const char *name, enum offer_state *out)
{
    for (int i = 0; name && i < N_OFFER_STATES; i++) {
        if (strcmp(name, offer_state_names[i]) == 0) {
            *out = (enum offer_state)i;
            return DROP_OK;
        }
    }
    return DROP_EBADREQ;
}

static bool terminated(const char *buf, size_t size)
{
    return memchr(buf, '\0', size) != NULL;
}

/* The range checks shared by both directions (types are the caller's). */
static bool gig_valid(const struct gig *g, char *why, size_t whylen)
{
    if (!terminated(g->id, sizeof g->id) || !id_valid(g->id)) return record_bad(why, whylen, "id");
    if (!terminated(g->customer, sizeof g->customer) || !id_valid(g->customer))
        return record_bad(why, whylen, "customer");
    if (!terminated(g->operator, sizeof g->operator) ||
        (g->operator[0] && !id_valid(g->operator)))
        return record_bad(why, whylen, "operator");
    if ((unsigned)g->status >= GIG_STATUS__COUNT) return record_bad(why, whylen, "status");
    if (g->version < 0) return record_bad(why, whylen, "version");
    if (!isfinite(g->latitude) || g->latitude < -90 || g->latitude > 90)
        return record_bad(why, whylen, "latitude");
    if (!isfinite(g->longitude) || g->longitude < -180 || g->longitude > 180)
        return record_bad(why, whylen, "longitude");
    if (!terminated(g->device_id, sizeof g->device_id)) return record_bad(why, whylen, "deviceId");
    if (!terminated(g->claim_id, sizeof g->claim_id)) return record_bad(why, whylen, "claimId");
    if (!terminated(g->video_session, sizeof g->video_session))
        return record_bad(why, whylen, "videoSession");
    if (g->customer_rating < 0 || g->customer_rating > 5)
        return record_bad(why, whylen, "customerRating");
    if (g->operator_rating < 0 || g->operator_rating > 5)
        return record_bad(why, whylen, "operatorRating");
    if (g->created_at < 0 || g->updated_at < 0 || g->deadline < 0 || g->started_at < 0 ||
        g->ended_at < 0)
        return record_bad(why, whylen, "a time is negative");
    if (g->duration_s < 0 || g->amount_cents < 0 || g->payment_cents < 0)
        return record_bad(why, whylen, "duration or money is negative");
    if (g->wave < 0) return record_bad(why, whylen, "wave");
    if (g->n_offers < 0 || g->n_offers > GIG_MAX_OFFERS)
        return record_bad(why, whylen, "offers: count");
    if (g->n_events < 0 || g->n_events > GIG_TIMELINE_MAX)
        return record_bad(why, whylen, "timeline: count");
    for (int i = 0; i < g->n_events; i++)
        if (!terminated(g->events[i].what, sizeof g->events[i].what) ||
            !terminated(g->events[i].actor, sizeof g->events[i].actor) ||
            (unsigned)g->events[i].status >= GIG_STATUS__COUNT ||
            (unsigned)g->events[i].role >= GIG_ROLE__COUNT)
            return record_bad(why, whylen, "timeline[%d]", i);
    for (int i = 0; i < g->n_offers; i++) {
        const struct gig_offer *o = &g->offers[i];
        if (!terminated(o->operator, sizeof o->operator) || !id_valid(o->operator))
            return record_bad(why, whylen, "offers[%d].operator", i);
        if ((unsigned)o->state >= (unsigned)N_OFFER_STATES)
            return record_bad(why, whylen, "offers[%d].state", i);
        if (o->wave < 0) return record_bad(why, whylen, "offers[%d].wave", i);
        if (!isfinite(o->distance_m) || o->distance_m < 0)
            return record_bad(why, whylen, "offers[%d].distance", i);
        if (o->offered_at < 0 || o->expires_at < 0)
            return record_bad(why, whylen, "offers[%d]: a time is negative", i);
    }
    return true;
}

json_t *gig_record_to_json(const struct gig *g)
{
    json_t *meta = NULL, *offers = NULL, *rec = NULL, *timeline = NULL;
    if (!gig_valid(g, NULL, 0)) goto fail;
    if (g->meta_json) {
        meta = json_loads(g->meta_json, JSON_DECODE_ANY, NULL);
        if (!meta) goto fail;
    }
    offers = json_array();
    for (int i = 0; i < g->n_offers; i++) {
        const struct gig_offer *o = &g->offers[i];
        json_t *jo = json_pack("{s:s, s:s, s:i, s:f, s:I, s:I}", "operator", o->operator,
                               "state", gig_offer_state_name(o->state), "wave", o->wave,
                               "distance", o->distance_m, "offeredAt", (json_int_t)o->offered_at,
                               "expiresAt", (json_int_t)o->expires_at);
        if (!jo || json_array_append_new(offers, jo) != 0) goto fail;
    }
    timeline = json_array();
    for (int i = 0; i < g->n_events; i++) {
        const struct gig_event *e = &g->events[i];
        json_t *je = json_pack("{s:I, s:s, s:s, s:I, s:s, s:s}", "at", (json_int_t)e->at, "what",
                               e->what, "status", gig_status_name(e->status), "version",
                               (json_int_t)e->version, "role", gig_role_name(e->role), "actor",
                               e->actor);
        if (!je || json_array_append_new(timeline, je) != 0) goto fail;
    }
    /* json_pack steals meta and offers even when it fails. */
    rec = json_pack("{s:s, s:s, s:s?, s:s, s:I, s:f, s:f, s:s, s:s, s:o?, s:i, s:i, s:b, s:b,"
                    " s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:o}",
                    "id", g->id, "customer", g->customer,
                    "operator", g->operator[0] ? g->operator : NULL,
                    "status", gig_status_name(g->status), "version", (json_int_t)g->version,
                    "latitude", g->latitude, "longitude", g->longitude,
                    "deviceId", g->device_id, "claimId", g->claim_id, "metaData", meta,
                    "customerRating", g->customer_rating, "operatorRating", g->operator_rating,
                    "customerHandshaken", (int)g->customer_handshaken,
                    "operatorHandshaken", (int)g->operator_handshaken,
                    "videoSession", g->video_session,
                    "createdAt", (json_int_t)g->created_at, "updatedAt", (json_int_t)g->updated_at,
                    "expiresAt", (json_int_t)g->deadline, "startedAt", (json_int_t)g->started_at,
                    "endedAt", (json_int_t)g->ended_at, "duration", (json_int_t)g->duration_s,
                    "amountCents", (json_int_t)g->amount_cents,
                    "paymentCents", (json_int_t)g->payment_cents, "wave", g->wave,
                    "offers", offers);
    if (rec && json_object_set_new(rec, "timeline", timeline) != 0) {
        json_decref(rec);
        rec = NULL;
    }
    else if (!rec) json_decref(timeline);
    return rec;
fail:
    json_decref(meta);
    json_decref(offers);
    json_decref(timeline);
    return NULL;
}

char *gig_record_dump(const struct gig *g)
{
    return record_dump(&GIG_KIND, g);
}

/* ---- reading ------------------------------------------------------------ */

static bool get_time(const json_t *o, const char *key, int64_t *out, char *why, size_t whylen)
{
    return record_get_int(o, key, 0, INT64_MAX, out, why, whylen);
}

static bool get_offer(const json_t *jo, int i, struct gig_offer *o, char *why, size_t whylen)
{
    char state[16];
    int64_t x;
    if (!json_is_object(jo)) return record_bad(why, whylen, "offers[%d]: not an object", i);
    if (!record_get_str(jo, "operator", o->operator, sizeof o->operator, false, why, whylen) ||
        !record_get_str(jo, "state", state, sizeof state, false, why, whylen) ||
        !record_get_int(jo, "wave", 0, INT_MAX, &x, why, whylen) ||
        !record_get_double(jo, "distance", &o->distance_m, why, whylen) ||
        !get_time(jo, "offeredAt", &o->offered_at, why, whylen) ||
        !get_time(jo, "expiresAt", &o->expires_at, why, whylen))
        return false;
    o->wave = (int)x;
    if (gig_offer_state_parse(state, &o->state) != DROP_OK)
        return record_bad(why, whylen, "offers[%d].state: unknown", i);
    return true;
}

static bool get_event(const json_t *je, int i, struct gig_event *e, char *why, size_t whylen)
{
    char status[32], role[16];
    if (!json_is_object(je)) return record_bad(why, whylen, "timeline[%d]: not an object", i);
    if (!get_time(je, "at", &e->at, why, whylen) ||
        !record_get_str(je, "what", e->what, sizeof e->what, false, why, whylen) ||
        !record_get_str(je, "status", status, sizeof status, false, why, whylen) ||
        !record_get_int(je, "version", 0, INT64_MAX, &e->version, why, whylen) ||
        !record_get_str(je, "role", role, sizeof role, false, why, whylen) ||
        !record_get_str(je, "actor", e->actor, sizeof e->actor, false, why, whylen))
        return false;
    if (gig_status_parse(status, &e->status) != DROP_OK)
        return record_bad(why, whylen, "timeline[%d].status: unknown", i);
    int r = 0;
    while (r < GIG_ROLE__COUNT && strcmp(gig_role_name((enum gig_role)r), role) != 0) r++;
    if (r == GIG_ROLE__COUNT) return record_bad(why, whylen, "timeline[%d].role: unknown", i);
    e->role = (enum gig_role)r;
    return true;
}

/* Decodes j into g (initialized by the caller); range checks are gig_valid's. */
static bool decode(const json_t *j, struct gig *g, char *why, size_t whylen)
{
    char status[32];
    if (!json_is_object(j)) return record_bad(why, whylen, "not an object");
    if (!record_get_str(j, "id", g->id, sizeof g->id, false, why, whylen) ||
        !record_get_str(j, "customer", g->customer, sizeof g->customer, false, why, whylen) ||
        !record_get_str(j, "operator", g->operator, sizeof g->operator, true, why, whylen) ||
        !record_get_str(j, "status", status, sizeof status, false, why, whylen) ||
        !record_get_int(j, "version", 0, INT64_MAX, &g->version, why, whylen) ||
        !record_get_double(j, "latitude", &g->latitude, why, whylen) ||
        !record_get_double(j, "longitude", &g->longitude, why, whylen) ||
        !record_get_str(j, "deviceId", g->device_id, sizeof g->device_id, true, why, whylen) ||
        !record_get_str(j, "claimId", g->claim_id, sizeof g->claim_id, true, why, whylen) ||
        !record_get_i32(j, "customerRating", 0, 5, &g->customer_rating, why, whylen) ||
        !record_get_i32(j, "operatorRating", 0, 5, &g->operator_rating, why, whylen) ||
        !record_get_bool(j, "customerHandshaken", &g->customer_handshaken, why, whylen) ||
        !record_get_bool(j, "operatorHandshaken", &g->operator_handshaken, why, whylen) ||
        !record_get_str(j, "videoSession", g->video_session, sizeof g->video_session, true, why,
                 whylen) ||
        !get_time(j, "createdAt", &g->created_at, why, whylen) ||
        !get_time(j, "updatedAt", &g->updated_at, why, whylen) ||
        !get_time(j, "expiresAt", &g->deadline, why, whylen) ||
        !get_time(j, "startedAt", &g->started_at, why, whylen) ||
        !get_time(j, "endedAt", &g->ended_at, why, whylen) ||
        !get_time(j, "duration", &g->duration_s, why, whylen) ||
        !get_time(j, "amountCents", &g->amount_cents, why, whylen) ||
        !get_time(j, "paymentCents", &g->payment_cents, why, whylen) ||
        !record_get_i32(j, "wave", 0, INT_MAX, &g->wave, why, whylen))
        return false;
    if (gig_status_parse(status, &g->status) != DROP_OK)
        return record_bad(why, whylen, "status: unknown");
    if (!g->operator[0] && !json_is_null(json_object_get(j, "operator")))
        return record_bad(why, whylen, "operator: empty string (none is null)");

    const json_t *offers = json_object_get(j, "offers");
    if (!json_is_array(offers)) return record_bad(why, whylen, "offers: missing or not an array");
    if (json_array_size(offers) > GIG_MAX_OFFERS)
        return record_bad(why, whylen, "offers: more than %d", GIG_MAX_OFFERS);
    g->n_offers = (int)json_array_size(offers);
    for (int i = 0; i < g->n_offers; i++)
        if (!get_offer(json_array_get(offers, (size_t)i), i, &g->offers[i], why, whylen))
            return false;

    const json_t *tl = json_object_get(j, "timeline"); /* optional: older records have none */
    if (tl && !json_is_array(tl)) return record_bad(why, whylen, "timeline: not an array");
    if (json_array_size(tl) > GIG_TIMELINE_MAX)
        return record_bad(why, whylen, "timeline: more than %d", GIG_TIMELINE_MAX);
    for (size_t i = 0; i < json_array_size(tl); i++) {
        if (!get_event(json_array_get(tl, i), (int)i, &g->events[i], why, whylen)) return false;
        g->n_events = (int)i + 1;
    }

    const json_t *meta = json_object_get(j, "metaData");
    if (meta && !json_is_null(meta)) {
        g->meta_json = json_dumps(meta, META_FLAGS);
        if (!g->meta_json) return record_bad(why, whylen, "metaData: cannot be encoded");
    }
    return gig_valid(g, why, whylen);
}

static drop_err from_json(const json_t *j, struct gig *out, char *why, size_t whylen)
{
    struct gig *g = xmalloc(sizeof *g); /* ~5 KB: off the (worker's) stack */
    gig_init(g);
    drop_err e = DROP_EINTERNAL;
    if (!decode(j, g, why, whylen)) goto done;
    *out = *g; /* hands meta_json over */
    gig_init(g);
    e = DROP_OK;
done:
    gig_free(g);
    free(g);
    return e;
}

drop_err gig_record_from_json(const json_t *j, struct gig *out)
{
    return from_json(j, out, NULL, 0);
}

drop_err gig_record_parse(const char *text, size_t len, struct gig *out, char *why,
                          size_t whylen)
{
    return record_parse(&GIG_KIND, text, len, out, why, whylen);
}

/* ---- the gig record kind (engine/store.h) --------------------------------- */

/* The indexed values of g, in the order of gig_fields. */
static void index_values(const struct gig *g, struct record_value *v)
{
    v[0] = (struct record_value){.text = g->customer};
    v[1] = (struct record_value){.text = g->operator[0] ? g->operator : NULL};
    v[2] = (struct record_value){.text = gig_status_name(g->status)};
    v[3] = (struct record_value){.i = g->created_at};
    v[4] = (struct record_value){.i = gig_next_timer(g)};
}

/* The operators holding an OPEN offer (session.state's "open offers of an
 * operator"). */
static int kind_open_offers(const void *rec, const char **out)
{
    const struct gig *g = rec;
    int n = 0;
    for (int i = 0; i < g->n_offers && n < RECORD_SET_MAX; i++)
        if (g->offers[i].state == OFFER_OPEN) out[n++] = g->offers[i].operator;
    return n;
}

static const struct record_field gig_fields[] = {
    {"customer", "customer", RECORD_TEXT, false},
    {"operator", "operator", RECORD_TEXT, false},
    {"status", "status", RECORD_TEXT, false},
    {"created_at", "createdAt", RECORD_INT, false},
    /* gig_next_timer (0 = none): what the sweep looks for */
    {"next_timer", "nextTimer", RECORD_INT, true},
};
static const char *const gig_id_keys[] = {"customer", "operator", "offers.operator", NULL};
/* a sub-document would not round-trip exactly through a server that
 * retypes numbers, nor take any key */
static const char *const gig_text_keys[] = {"metaData", NULL};
static const struct record_set gig_open_offers = {
    "gig_open_offers", "gig_id", "operator", kind_open_offers};

RECORD_KIND_DEFINE(GIG_KIND, gig, gig_record_to_json, from_json, index_values, gig_fields,
                   .name = "gig", .table = "gigs", .id_keys = gig_id_keys,
                   .text_keys = gig_text_keys, .set = &gig_open_offers);
