/* account.h - accounts and their identities: the plain structs, and the pure
 * validation of what clients send for them.
 *
 * An account is a customer ("user"), an operator or an admin. It is reached by
 * up to ACCOUNT_MAX_IDENTITIES identities (an email or a phone number), whose
 * values are unique among active accounts. Validation here is pure: it reads a
 * request's JSON, checks every bound, normalizes identity values (emails
 * lowercased, phones reduced to digits with an optional leading '+') and fills
 * a struct account; ids, the referral code and timestamps are filled by the
 * caller (engine/ makes no ids and has no clock). Persistence is the store
 * port's (engine/store.h); the JSON shape is engine/account_json.h's. */
#ifndef DROP_ACCOUNT_H
#define DROP_ACCOUNT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"
#include "engine/id.h"

#define ACCOUNT_NAME_MAX 100          /* firstName, lastName: characters */
#define ACCOUNT_ORG_MAX 200           /* organization: characters */
#define ACCOUNT_PICTURE_MAX 2048      /* picture (a URL or a storage key): bytes */
#define ACCOUNT_IDENTITY_MAX 254      /* an identity value: bytes */
#define ACCOUNT_IDENTITY_SIZE (ACCOUNT_IDENTITY_MAX + 1)
#define ACCOUNT_MAX_IDENTITIES 4
#define ACCOUNT_PHONE_DIGITS_MAX 15   /* E.164 */
#define ACCOUNT_PASSWORD_MIN 8        /* characters, at registration */
#define ACCOUNT_PASSWORD_MAX 1024     /* bytes */
#define ACCOUNT_REFERRAL_LEN 7
#define ACCOUNT_REFERRAL_RATE 5       /* the seed's default referralRate */
#define ACCOUNT_RATING_START 5.0      /* the seed's rating before any vote */
#define ACCOUNT_LIST_DEFAULT 50
#define ACCOUNT_LIST_MAX 200
#define ACCOUNT_SKIP_MAX 1000000

struct identity {
    char type[8];                         /* "email" | "phone" */
    char value[ACCOUNT_IDENTITY_SIZE];    /* normalized */
    char status[16];                      /* "unverified" */
    char id[DROP_ID_SIZE];
    int64_t created_at;
    int64_t updated_at;
};

struct account {
    char id[DROP_ID_SIZE];
    char *first_name;                     /* owned; never NULL once filled */
    char *last_name;                      /* owned; never NULL once filled */
    char type[12];                        /* "user" | "operator" | "admin" */
    char status[12];                      /* "active" | "archived" */
    bool archive;                         /* the seed's flag: status archived */
    char *organization;                   /* owned; NULL = none */
    char *picture;                        /* owned; NULL = none */
    char referral_code[ACCOUNT_REFERRAL_LEN + 1];
    int referral_rate;
    double operator_rating;               /* running average, starts at 5 */
    double customer_rating;
    int64_t operator_rating_count;        /* votes behind each average */
    int64_t customer_rating_count;
    struct identity identities[ACCOUNT_MAX_IDENTITIES];
    size_t n_identities;
    int64_t created_at;
    int64_t updated_at;
};

/* Filter of account.list; strings are borrowed (from the request's JSON). */
struct account_filter {
    const char *type;    /* NULL = any */
    const char *status;  /* NULL = any */
    const char *q;       /* NULL = none; substring of a name or identity value,
                          * case-insensitive */
    int limit;           /* 1..ACCOUNT_LIST_MAX */
    int skip;            /* 0..ACCOUNT_SKIP_MAX */
};

/* Sets a to an empty account with the seed's defaults: status "active",
 * referral rate 5, both ratings 5 with no votes. Does not free anything. */
void account_init(struct account *a);

/* Frees the strings a owns and leaves a zeroed. NULL is a no-op. */
void account_free(struct account *a);

/* Deep-copies src into dst (dst is overwritten, not freed first). */
void account_copy(struct account *dst, const struct account *src);

/* Frees an array of n accounts (from store_account_list) and the array. */
void account_array_free(struct account *arr, size_t n);

/* Sets the created/updated times of a and of each of its identities to now,
 * and each identity's status to "unverified" when empty. For a new account
 * before store_account_create. */
void account_stamp_new(struct account *a, int64_t now);

/* Normalizes an identity value: trims blanks; an email (holds '@') is
 * lowercased and must have a non-empty local part and a dot in a non-empty
 * domain; a phone is reduced to its E.164 digits: a leading '+' or '00' is
 * dropped, spaces, '-', '.', '(' and ')' too, and 6..15 digits must remain. Writes the
 * normalized value to out and "email" / "phone" to *type (static strings).
 * Returns DROP_OK, DROP_EBADREQ (not a valid email or phone) or
 * DROP_ETOOLARGE (over ACCOUNT_IDENTITY_MAX). */
drop_err account_identity_normalize(const char *in, char out[ACCOUNT_IDENTITY_SIZE],
                                    const char **type);

/* Validates the data of account.register and fills out (initialized here
 * with account_init; the caller frees it with account_free, also on error).
 * *password is set to the password, borrowed from data. firstName, lastName
 * (non-empty strings), type ("user" | "operator"), password (8..1024), and
 * identities (1..4 of {type: "email" | "phone", value}, values distinct) are
 * required; password is optional (absent or null: the account signs in by
 * code, *password NULL); organization and picture are optional strings (null = none);
 * other keys are ignored. The caller fills the account id, identity ids,
 * referral code and times. Returns DROP_OK, DROP_EBADREQ or DROP_ETOOLARGE
 * with a message naming the field in why. */
drop_err account_validate_register(json_t *data, struct account *out, const char **password,
                                   char *why, size_t whylen);

/* Validates the data of account.update and applies it to a: firstName,
 * lastName (non-empty strings), picture, organization (strings, or null to
 * clear) are optional, id is the caller's; any other key is DROP_EBADREQ
 * naming it (a silent 200 would hide a dropped change). Nothing is changed
 * on error. Sets *changed when a field differs. Does not touch updated_at.
 * Returns DROP_OK, DROP_EBADREQ or DROP_ETOOLARGE (field named in why). */
drop_err account_validate_update(json_t *data, struct account *a, bool *changed,
                                 char *why, size_t whylen);

/* Validates the data of auth.login: identity (normalized into identity) and
 * password (borrowed from data; 1..1024 bytes, no minimum so that accounts
 * from older rules can still log in). Returns DROP_OK, DROP_EBADREQ or
 * DROP_ETOOLARGE. */
drop_err account_validate_login(json_t *data, char identity[ACCOUNT_IDENTITY_SIZE],
                                const char **password, char *why, size_t whylen);

/* Validates the data of account.list into f (strings borrowed from data):
 * type ("user" | "operator" | "admin"), status ("active" | "archived"), q (a
 * string up to ACCOUNT_IDENTITY_MAX bytes), limit (1..200, default 50), skip
 * (>= 0, default 0). Returns DROP_OK, DROP_EBADREQ or DROP_ETOOLARGE. */
drop_err account_validate_list(json_t *data, struct account_filter *f, char *why, size_t whylen);

/* True when a registration body is in the Freelancer seed's shape
 * (first_name, last_name, email, password, roles). */
bool account_is_freelancer_shape(json_t *data);

/* Translates a Freelancer-shaped registration body into the Dropin shape
 * (*out, a new object): first_name/last_name -> firstName/lastName, email
 * -> identities [{type: "email", value}], roles ["CLIENT"] -> type "user",
 * ["WORKER"] -> "operator" (absent: CLIENT), password and picture kept.
 * DROP_OK or DROP_EBADREQ naming the snake_case field. */
drop_err account_from_freelancer(json_t *data, json_t **out, char *why, size_t whylen);

/* Checks the password in data[field]: a string of 8..1024 (bytes) characters,
 * borrowed into *password. DROP_OK, DROP_EBADREQ or DROP_ETOOLARGE. */
drop_err account_validate_password(json_t *data, const char *field, const char **password,
                                   char *why, size_t whylen);

/* Checks data.identity and normalizes it into identity, *type "email" or
 * "phone". DROP_OK, DROP_EBADREQ or DROP_ETOOLARGE. */
drop_err account_validate_identity(json_t *data, char identity[ACCOUNT_IDENTITY_SIZE],
                                   const char **type, char *why, size_t whylen);

/* True for a rating a party may give: an integer 1..5. */
bool account_rating_valid(int rating);

#endif
