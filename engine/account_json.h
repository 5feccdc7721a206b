/* account_json.h - an account as the clients see it: the Dropin seed's "Get
 * profile" shape (PROTOCOL.md §4), with organization and picture beside it.
 * Passwords and token hashes are not in struct account, so they cannot leak
 * through here. */
#ifndef DROP_ACCOUNT_JSON_H
#define DROP_ACCOUNT_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "engine/account.h"

/* A new JSON object for a:
 *   {identities: [{type, value, status, createdAt, updatedAt, id}], firstName,
 *    lastName, archive, status, type, organization, picture, referralRate,
 *    createdAt, updatedAt, referralCode, id, operatorRating, customerRating}
 * organization and picture are null when unset, and so is any string that
 * is not valid UTF-8 (a corrupt stored value); times are ISO-8601 UTC with
 * milliseconds; a rating that is a whole number is a JSON integer (the seed
 * shows 5), otherwise a real. public_view (another account looking) leaves
 * out identities and organization. The caller owns the result. */
json_t *account_to_json(const struct account *a, bool public_view);

/* A new JSON array of account_to_json(arr[i], public_view). */
json_t *account_array_to_json(const struct account *arr, size_t n, bool public_view);

/* The Freelancer seed's snake_case shape of a, for POST /signup in that
 * shape: {id, first_name, last_name, email (the first email identity, or
 * null), roles: ["CLIENT"] (user) | ["WORKER"] (operator) | ["ADMIN"],
 * status, picture, identities: [{type, value, status, id, created_at,
 * updated_at}], created_at, updated_at}. The caller owns the result. */
json_t *account_to_freelancer_json(const struct account *a);

#endif
