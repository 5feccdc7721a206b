/* account_json.c - accounts to the seed's JSON shape (account_json.h). */
#include <math.h>
#include <string.h>

#include "engine/timefmt.h"
#include "engine/account_json.h"

static json_t *time_json(int64_t ms)
{
    char buf[TIMEFMT_SIZE];
    timefmt_iso(ms, buf);
    return json_string(buf);
}

/* A string, or null when there is none or it is not valid UTF-8 (a corrupt
 * or cut stored value): one bad field never drops a key or an identity. */
static json_t *str_or_null(const char *s)
{
    json_t *v = s ? json_string(s) : NULL;
    return v ? v : json_null();
}

static json_t *rating_json(double r)
{
    if (isfinite(r) && r == floor(r) && fabs(r) < 1e15) return json_integer((json_int_t)r);
    return json_real(isfinite(r) ? r : 0.0);
}

json_t *account_to_json(const struct account *a, bool public_view)
{
    json_t *o = json_object();
    if (!public_view) {
        json_t *ids = json_array();
        for (size_t i = 0; i < a->n_identities && i < ACCOUNT_MAX_IDENTITIES; i++) {
            const struct identity *id = &a->identities[i];
            json_array_append_new(ids, json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}",
                                                 "type", str_or_null(id->type),
                                                 "value", str_or_null(id->value),
                                                 "status", str_or_null(id->status),
                                                 "createdAt", time_json(id->created_at),
                                                 "updatedAt", time_json(id->updated_at),
                                                 "id", str_or_null(id->id)));
        }
        json_object_set_new(o, "identities", ids);
    }
    json_object_set_new(o, "firstName", str_or_null(a->first_name));
    json_object_set_new(o, "lastName", str_or_null(a->last_name));
    json_object_set_new(o, "archive", json_boolean(a->archive));
    json_object_set_new(o, "status", str_or_null(a->status));
    json_object_set_new(o, "type", str_or_null(a->type));
    if (!public_view) json_object_set_new(o, "organization", str_or_null(a->organization));
    json_object_set_new(o, "picture", str_or_null(a->picture));
    json_object_set_new(o, "referralRate", json_integer(a->referral_rate));
    json_object_set_new(o, "createdAt", time_json(a->created_at));
    json_object_set_new(o, "updatedAt", time_json(a->updated_at));
    json_object_set_new(o, "referralCode", str_or_null(a->referral_code));
    json_object_set_new(o, "id", str_or_null(a->id));
    json_object_set_new(o, "operatorRating", rating_json(a->operator_rating));
    json_object_set_new(o, "customerRating", rating_json(a->customer_rating));
    return o;
}

json_t *account_array_to_json(const struct account *arr, size_t n, bool public_view)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, account_to_json(&arr[i], public_view));
    return a;
}

json_t *account_to_freelancer_json(const struct account *a)
{
    json_t *o = json_object(), *ids = json_array();
    const char *email = NULL;
    for (size_t i = 0; i < a->n_identities && i < ACCOUNT_MAX_IDENTITIES; i++) {
        const struct identity *id = &a->identities[i];
        if (!email && strcmp(id->type, "email") == 0) email = id->value;
        json_array_append_new(ids, json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "type", id->type,
                                             "value", id->value, "status", id->status, "id",
                                             id->id, "created_at", time_json(id->created_at),
                                             "updated_at", time_json(id->updated_at)));
    }
    const char *role = strcmp(a->type, "operator") == 0 ? "WORKER"
                       : strcmp(a->type, "admin") == 0  ? "ADMIN"
                                                        : "CLIENT";
    json_object_set_new(o, "id", json_string(a->id));
    json_object_set_new(o, "first_name", str_or_null(a->first_name));
    json_object_set_new(o, "last_name", str_or_null(a->last_name));
    json_object_set_new(o, "email", str_or_null(email));
    json_object_set_new(o, "roles", json_pack("[s]", role));
    json_object_set_new(o, "status", json_string(a->status));
    json_object_set_new(o, "picture", str_or_null(a->picture));
    json_object_set_new(o, "identities", ids);
    json_object_set_new(o, "created_at", time_json(a->created_at));
    json_object_set_new(o, "updated_at", time_json(a->updated_at));
    return o;
}
