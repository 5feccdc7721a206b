/* store.h - the store port: the durable truth. Accounts, identities and
 * tokens; the versioned records (gigs, jobs: one record port over every
 * struct record_kind, below); operator booking records and identity codes
 * (compare-and-set on version, each with its own calls); inbox messages;
 * devices. The backend-independent part (the record transaction, operator
 * exclusivity) is store.c.
 *
 * The interface is SYNCHRONOUS and thread-safe: every call blocks until the
 * backend answers, so it is only ever called from worker threads (the server
 * runs each store call inside a job and posts the result to the loop; a job
 * may chain several calls, e.g. read -> decide -> compare-and-set -> retry).
 * A backend (adapters/store_sqlite, adapters/store_mongo) fills a struct
 * store_ops and hands it to store_new(); callers use the store_* wrappers
 * below, never the vtable. Every call returns a drop_err:
 *   DROP_OK        done
 *   DROP_ENOTFOUND no such object (or not visible: e.g. archived)
 *   DROP_ECONFLICT a unique value is taken / a compare-and-set lost
 *   DROP_EUNAUTH   (tokens) no such live token
 *   DROP_EBADREQ   an argument out of range (a bug of the caller)
 *   DROP_EUNAVAIL  the backend is down or busy past its timeout; retry later
 *   DROP_EINTERNAL anything else (logged by the backend)
 * Out-parameters are only written on DROP_OK. Times are ms since the epoch,
 * passed in by the caller: the store has no clock. */
#ifndef DROP_STORE_H
#define DROP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engine/account.h"
#include "engine/device.h"
#include "engine/gig.h"
#include "engine/err.h"
#include "engine/id.h"
#include "engine/inbox.h"
#include "engine/job.h"

#define STORE_TOKEN_HASH_LEN 32   /* SHA-256 of the token */
#define STORE_SEALED_MAX 128      /* a sealed token blob, at most */

/* A stored token: its hash, the token sealed under the server key (never
 * the token in clear), its owner and its lifetime. */
struct store_token {
    unsigned char hash[STORE_TOKEN_HASH_LEN];
    unsigned char sealed[STORE_SEALED_MAX];
    size_t sealed_len;
    char account[DROP_ID_SIZE];
    int64_t created_at;
    int64_t expires_at;
};

/* Filter of a gig listing: newest first (created_at, then id, descending). */
struct gig_filter {
    const char *account;      /* customer or operator; NULL = any (admin) */
    bool has_status;
    enum gig_status status;
    int64_t before;           /* created_at < before (ms); 0 = no bound */
    int limit;                /* 1..200 */
};

#define GIG_LIST_MAX 200

/* Filter of a job listing: the jobs of one account, newest first
 * (created_at, then id, descending). */
enum job_role_filter { JOB_ROLE_ANY = 0, JOB_ROLE_CLIENT, JOB_ROLE_WORKER };
struct job_filter {
    const char *account;      /* required */
    enum job_role_filter role;
    bool has_status;
    enum job_status status;
    int64_t before;           /* created_at < before (ms); 0 = no bound */
    int limit;                /* 1..JOB_LIST_MAX */
};

/* ---- one-time codes of identities (PROTOCOL.md section 5) ----
 * One record per normalized identity value: the live code (only its HMAC),
 * for which account, its tries and expiry, and the send counters of the
 * rate limit. A spent or void code keeps the record (live false) so the
 * counters hold; unknown identities get a record too (never a live code),
 * so the rate limit answers alike for them. Every write is a compare-and-set
 * on version: two nodes cannot both spend one code nor both send past the
 * limit. Issue 14 folds this kind into the one record port. */
#define STORE_CODE_HASH_LEN 32
#define STORE_CODE_SALT_LEN 16
struct store_code {
    char identity[ACCOUNT_IDENTITY_SIZE]; /* the key: a normalized value */
    char account[DROP_ID_SIZE];  /* whose code; "" for an unknown identity */
    char purpose[8];             /* "login" | "verify" | "reset" */
    bool live;                   /* a code waits to be used */
    unsigned char hash[STORE_CODE_HASH_LEN];
    unsigned char salt[STORE_CODE_SALT_LEN];
    int attempts;                /* wrong tries of the live code */
    int64_t expires_at;
    int64_t sent_at;             /* the last send */
    int64_t window_start;        /* start of the hour sends are counted in */
    int sends;                   /* sends since window_start */
    int64_t version;             /* 1 at creation, +1 at every write */
};

/* An operator's booking record (exclusivity: one live gig per operator):
 * the gig the operator is reserved for ("" = none) and the record's version
 * (0 = no record stored yet). Written only by compare-and-set on version. */
struct store_operator_lock {
    char operator[DROP_ID_SIZE];
    char gig[DROP_ID_SIZE];
    int64_t version;
};


/* ---- record kinds ----------------------------------------------------------
 * A versioned record (a gig, a job, and the kinds to come) is stored the same
 * way by every backend, so each kind is described once, here, and each
 * backend implements the record calls once for all kinds:
 *   - its table (SQLite) / collection (MongoDB): table;
 *   - its codec: the struct <-> stored JSON object (encode / decode). SQLite
 *     keeps the object as compact JSON text in the doc column; MongoDB keeps
 *     it as the document, "id" as _id, the keys of id_keys as ObjectIds ("" as
 *     null; "a.b" is key b in the objects of array a) and those of text_keys
 *     as their JSON text;
 *   - its indexed fields: copies of record values beside the record, that
 *     queries filter on (SQLite columns; MongoDB keys, appended to the
 *     document when the record has no such key: derived ones, such as a gig's
 *     next timer); index() computes them;
 *   - optionally a set: a multi-valued index that SQLite keeps in a side
 *     table (owner id, value), rewritten with the record in one transaction.
 * Every kind has an id (24 hex), a version (>= 1, moved on by each CAS) and a
 * created_at (ms); listings page on (created_at, id), newest first. */
enum record_type { RECORD_TEXT, RECORD_INT };

struct record_field {
    const char *column;   /* SQLite column */
    const char *key;      /* MongoDB key */
    enum record_type type;
    bool derived;         /* not a key of the record: MongoDB appends it */
};

/* The value of an indexed field: text (NULL = SQL NULL / BSON null, an id
 * field's null when the key is in id_keys) or i. */
struct record_value {
    const char *text;     /* borrowed from the record */
    int64_t i;
};

#define RECORD_FIELDS_MAX 8
#define RECORD_SET_MAX 64

struct record_set {
    const char *table;    /* SQLite side table */
    const char *owner;    /* its column holding the record's id */
    const char *column;   /* its column holding a value */
    /* The values of rec (borrowed from it), at most RECORD_SET_MAX. */
    int (*values)(const void *rec, const char **out);
};

struct record_kind {
    const char *name;                    /* "gig": logs, op names */
    const char *table;                   /* table / collection */
    size_t size;                         /* sizeof the record struct */
    const struct record_field *fields;   /* indexed fields, n_fields <= RECORD_FIELDS_MAX */
    int n_fields;
    const char *const *id_keys;          /* NULL-terminated */
    const char *const *text_keys;        /* NULL-terminated */
    const struct record_set *set;        /* NULL = none */
    /* The stored object of rec (a new reference), or NULL when rec cannot be
     * stored (invalid: the caller's bug, DROP_EBADREQ). */
    json_t *(*encode)(const void *rec);
    /* Reads a stored object into out (the caller frees it with free_rec);
     * DROP_EINTERNAL with a reason in why for a corrupt record, out
     * untouched. Never crashes. */
    drop_err (*decode)(const json_t *j, void *out, char *why, size_t whylen);
    /* The indexed values of rec, n_fields of them, in the order of fields. */
    void (*index)(const void *rec, struct record_value *out);
    const char *(*id)(const void *rec);
    int64_t (*version)(const void *rec);
    void (*free_rec)(void *rec);
    void (*copy)(void *dst, const void *src); /* a deep copy into uninitialized dst */
};

/* Defines `const struct record_kind NAME` for struct T, written once for
 * every kind: T has char id[] and int64_t version, is freed by T_free and
 * deep-copied by T_copy; ENCODE, DECODE and INDEX are the kind's codec and
 * index functions typed on struct T (the encode, decode and index of struct
 * record_kind); FIELDS is its array of indexed fields. The rest of the
 * description follows as designated initializers (.name, .table, .id_keys,
 * .text_keys, .set). */
#define RECORD_KIND_DEFINE(NAME, T, ENCODE, DECODE, INDEX, FIELDS, ...)                      \
    static json_t *T##_kind_encode(const void *rec) { return ENCODE(rec); }                  \
    static drop_err T##_kind_decode(const json_t *j, void *out, char *why, size_t whylen)    \
    {                                                                                         \
        return DECODE(j, out, why, whylen);                                                   \
    }                                                                                         \
    static void T##_kind_index(const void *rec, struct record_value *v) { INDEX(rec, v); }   \
    static const char *T##_kind_id(const void *rec) { return ((const struct T *)rec)->id; }  \
    static int64_t T##_kind_version(const void *rec)                                          \
    {                                                                                         \
        return ((const struct T *)rec)->version;                                              \
    }                                                                                         \
    static void T##_kind_free(void *rec) { T##_free(rec); }                                  \
    static void T##_kind_copy(void *dst, const void *src) { T##_copy(dst, src); }            \
    const struct record_kind NAME = {                                                         \
        .size = sizeof(struct T),                                                             \
        .fields = FIELDS,                                                                     \
        .n_fields = (int)(sizeof FIELDS / sizeof FIELDS[0]),                                  \
        .encode = T##_kind_encode,                                                            \
        .decode = T##_kind_decode,                                                            \
        .index = T##_kind_index,                                                              \
        .id = T##_kind_id,                                                                    \
        .version = T##_kind_version,                                                          \
        .free_rec = T##_kind_free,                                                            \
        .copy = T##_kind_copy,                                                                \
        __VA_ARGS__}

/* The kinds (defined beside their codecs: gig_record.c, job.c). */
extern const struct record_kind GIG_KIND;
extern const struct record_kind JOB_KIND;

/* A page of a listing by one indexed field: the records whose field equals
 * value (field NULL: every record), created_at < before when before > 0,
 * newest first (created_at, then id, descending), at most limit. */
struct record_page {
    const char *field;    /* an indexed field's column, or NULL */
    const char *value;
    int64_t before;
    int limit;            /* 1..RECORD_LIST_MAX */
};
#define RECORD_LIST_MAX 200

/* Frees an array of n records of kind k from a listing call. */
void record_array_free(const struct record_kind *k, void *arr, size_t n);

/* The encoded record as compact JSON text (heap) or NULL (invalid record). */
char *record_dump(const struct record_kind *k, const void *rec);

/* Parses text of len bytes into out as k->decode, a reason in why. */
drop_err record_parse(const struct record_kind *k, const char *text, size_t len, void *out,
                      char *why, size_t whylen);

struct store_ops {
    const char *name; /* "sqlite", "mongodb" */
    void (*close)(void *impl);
    drop_err (*ping)(void *impl);

    drop_err (*account_create)(void *impl, const struct account *a, const char *password_hash);
    drop_err (*account_get)(void *impl, const char *id, struct account *out);
    drop_err (*account_by_identity)(void *impl, const char *value, struct account *out,
                                    char **password_hash);
    drop_err (*account_update)(void *impl, const struct account *a);
    drop_err (*account_archive)(void *impl, const char *id, int64_t now);
    drop_err (*account_list)(void *impl, const struct account_filter *f, struct account **out,
                             size_t *n);
    drop_err (*account_add_rating)(void *impl, const char *id, bool as_operator, int rating,
                                   int64_t now);

    drop_err (*token_put)(void *impl, const struct store_token *t);
    drop_err (*token_get_by_account)(void *impl, const char *account, int64_t now,
                                     struct store_token *out);
    drop_err (*token_lookup)(void *impl, const unsigned char hash[STORE_TOKEN_HASH_LEN],
                             int64_t now, struct store_token *out);
    drop_err (*token_touch)(void *impl, const unsigned char hash[STORE_TOKEN_HASH_LEN],
                            int64_t expires_at);
    drop_err (*token_delete)(void *impl, const unsigned char hash[STORE_TOKEN_HASH_LEN]);
    drop_err (*token_delete_by_account)(void *impl, const char *account);

    /* the record port: one family over every record kind */
    drop_err (*record_create)(void *impl, const struct record_kind *k, const void *rec);
    drop_err (*record_get)(void *impl, const struct record_kind *k, const char *id, void *out);
    drop_err (*record_cas)(void *impl, const struct record_kind *k, const void *rec,
                           int64_t expected_version);
    drop_err (*record_delete)(void *impl, const struct record_kind *k, const char *id);
    drop_err (*record_list)(void *impl, const struct record_kind *k, const struct record_page *p,
                            void **out, size_t *n);

    drop_err (*gig_list)(void *impl, const struct gig_filter *f, struct gig **out, size_t *n);
    drop_err (*gig_for_account)(void *impl, const char *account, struct gig **out, size_t *n);
    drop_err (*gig_due)(void *impl, int64_t now, int limit, struct gig **out, size_t *n);
    drop_err (*gig_unrated)(void *impl, const char *account, bool *unrated);

    drop_err (*message_create)(void *impl, const struct message *m);
    drop_err (*message_list)(void *impl, const char *to, int64_t before, int limit,
                             struct message **out, size_t *n);
    drop_err (*message_mark_read)(void *impl, const char *to, const char (*ids)[DROP_ID_SIZE],
                                  size_t n, int64_t now);
    drop_err (*message_unread)(void *impl, const char *to, int64_t *count);

    drop_err (*job_list)(void *impl, const struct job_filter *f, struct job **out, size_t *n);

    /* identity codes and what they change (store_*_codes.c) */
    drop_err (*code_get)(void *impl, const char *identity, struct store_code *out);
    drop_err (*code_cas)(void *impl, const struct store_code *c, int64_t expected_version);
    drop_err (*identity_verify)(void *impl, const char *account, const char *value, int64_t now);
    drop_err (*password_set)(void *impl, const char *account, const char *password_hash,
                             int64_t now);
    drop_err (*account_type_set)(void *impl, const char *account, const char *type, int64_t now);
    drop_err (*operator_lock_get)(void *impl, const char *operator,
                                  struct store_operator_lock *out);
    drop_err (*operator_lock_cas)(void *impl, const struct store_operator_lock *l,
                                  int64_t expected_version);
    /* devices (push to phones; adapters/store_*_devices.c) */
    drop_err (*device_put)(void *impl, const struct device *d, int max_per_account);
    drop_err (*device_delete)(void *impl, const char *account, const char *token);
    drop_err (*device_list)(void *impl, const char *account, struct device **out, size_t *n);
};

struct store {
    const struct store_ops *ops; /* static, owned by the backend */
    void *impl;                  /* the backend's state */
};

/* Wraps a backend into a store. Takes ownership of impl (released by
 * ops->close in store_close). */
struct store *store_new(const struct store_ops *ops, void *impl);

/* Closes the backend and frees st. Call once no job can use it any more.
 * NULL is a no-op. */
void store_close(struct store *st);

/* The backend's name ("sqlite", ...). */
static inline const char *store_name(const struct store *st) { return st->ops->name; }

/* A cheap round trip: DROP_OK when the backend answers, DROP_EUNAVAIL not. */
static inline drop_err store_ping(struct store *st) { return st->ops->ping(st->impl); }

/* Inserts a new account with its identities (ids, referral code and times
 * already filled by the caller) and its password hash (the $argon2id$
 * string). DROP_ECONFLICT when an identity value is held by an active
 * account (also when two creations race) or the id exists. */
static inline drop_err store_account_create(struct store *st, const struct account *a,
                                            const char *password_hash)
{
    return st->ops->account_create(st->impl, a, password_hash);
}

/* Reads an account (archived ones too) into out (the caller account_free()s
 * it). DROP_ENOTFOUND when there is none. */
static inline drop_err store_account_get(struct store *st, const char *id, struct account *out)
{
    return st->ops->account_get(st->impl, id, out);
}

/* Finds the active account holding an identity value (normalized by
 * account_identity_normalize) and, when password_hash is not NULL, its
 * password hash (heap, the caller free()s it). DROP_ENOTFOUND when no active
 * account holds it. */
static inline drop_err store_account_by_identity(struct store *st, const char *value,
                                                 struct account *out, char **password_hash)
{
    return st->ops->account_by_identity(st->impl, value, out, password_hash);
}

/* Writes the profile fields of an active account: first/last name,
 * organization, picture, updated_at (the caller sets it). Identities, type,
 * status and ratings are not touched. DROP_ENOTFOUND when there is no such
 * active account. */
static inline drop_err store_account_update(struct store *st, const struct account *a)
{
    return st->ops->account_update(st->impl, a);
}

/* Archives an active account: status "archived", archive true, its identity
 * values released (they may be registered again) and its tokens deleted, in
 * one transaction. DROP_ENOTFOUND when there is no such active account. */
static inline drop_err store_account_archive(struct store *st, const char *id, int64_t now)
{
    return st->ops->account_archive(st->impl, id, now);
}

/* Lists accounts matching f (see struct account_filter), newest first, at
 * most f->limit after skipping f->skip. *out is a heap array of *n accounts
 * (account_array_free; NULL when *n is 0). */
static inline drop_err store_account_list(struct store *st, const struct account_filter *f,
                                          struct account **out, size_t *n)
{
    return st->ops->account_list(st->impl, f, out, n);
}

/* Adds a vote (1..5) to an account's operator rating (as_operator) or its
 * customer rating, updating the running average atomically; the first vote
 * replaces the starting 5. DROP_EBADREQ for a rating outside 1..5,
 * DROP_ENOTFOUND when there is no such account. */
static inline drop_err store_account_add_rating(struct store *st, const char *id,
                                                bool as_operator, int rating, int64_t now)
{
    return st->ops->account_add_rating(st->impl, id, as_operator, rating, now);
}

/* Stores the token of t->account, replacing any previous token of that
 * account (one token per account). DROP_ENOTFOUND when the account does not
 * exist, DROP_EBADREQ when t->sealed_len is 0 or over STORE_SEALED_MAX. */
static inline drop_err store_token_put(struct store *st, const struct store_token *t)
{
    return st->ops->token_put(st->impl, t);
}

/* The live token of an account (expires_at > now) into out. DROP_ENOTFOUND
 * when it has none (an expired one is deleted). */
static inline drop_err store_token_get_by_account(struct store *st, const char *account,
                                                  int64_t now, struct store_token *out)
{
    return st->ops->token_get_by_account(st->impl, account, now, out);
}

/* The live token with this hash into out. DROP_EUNAUTH when there is none or
 * it expired (an expired one is deleted). */
static inline drop_err store_token_lookup(struct store *st,
                                          const unsigned char hash[STORE_TOKEN_HASH_LEN],
                                          int64_t now, struct store_token *out)
{
    return st->ops->token_lookup(st->impl, hash, now, out);
}

/* Sets a token's expiry (the sliding TTL: the caller computes
 * min(now + token_ttl, created_at + token_max_age)). DROP_EUNAUTH when the
 * token does not exist. */
static inline drop_err store_token_touch(struct store *st,
                                         const unsigned char hash[STORE_TOKEN_HASH_LEN],
                                         int64_t expires_at)
{
    return st->ops->token_touch(st->impl, hash, expires_at);
}

/* Deletes a token (logout). DROP_OK also when it did not exist. */
static inline drop_err store_token_delete(struct store *st,
                                          const unsigned char hash[STORE_TOKEN_HASH_LEN])
{
    return st->ops->token_delete(st->impl, hash);
}

/* Deletes every token of an account. DROP_OK also when it had none. */
static inline drop_err store_token_delete_by_account(struct store *st, const char *account)
{
    return st->ops->token_delete_by_account(st->impl, account);
}

/* ---- the record port ----------------------------------------------------
 * The same five calls for every kind (see struct record_kind). rec / out
 * point to the kind's struct.
 *
 * Inserts a new record (id, version >= 1, times set by the caller), with its
 * indexed copies. DROP_EBADREQ when k->encode refuses it, DROP_ECONFLICT when
 * the id exists. */
static inline drop_err store_record_create(struct store *st, const struct record_kind *k,
                                           const void *rec)
{
    return st->ops->record_create(st->impl, k, rec);
}

/* Reads a record into out (k->free_rec it). DROP_ENOTFOUND when there is
 * none, DROP_EINTERNAL (logged) when the stored record is corrupt. */
static inline drop_err store_record_get(struct store *st, const struct record_kind *k,
                                        const char *id, void *out)
{
    return st->ops->record_get(st->impl, k, id, out);
}

/* The compare-and-set every change goes through: replaces the stored record
 * by rec (whole; its version the new one, above expected_version) only when
 * the stored version is still expected_version, atomically, indexed copies
 * and set included. DROP_ECONFLICT when another writer won (re-read and
 * decide again: store_update), DROP_ENOTFOUND when there is no such record,
 * DROP_EBADREQ for an invalid record or a version that does not move on. */
static inline drop_err store_record_cas(struct store *st, const struct record_kind *k,
                                        const void *rec, int64_t expected_version)
{
    return st->ops->record_cas(st->impl, k, rec, expected_version);
}

/* Deletes a record (and its set). DROP_OK also when there was none. */
static inline drop_err store_record_delete(struct store *st, const struct record_kind *k,
                                           const char *id)
{
    return st->ops->record_delete(st->impl, k, id);
}

/* A page of records (struct record_page) into a heap array of *n records of
 * k (record_array_free; NULL when *n is 0). A corrupt stored record is
 * logged and skipped. DROP_EBADREQ for a limit out of range or a field that
 * is not one of k's. */
static inline drop_err store_record_list(struct store *st, const struct record_kind *k,
                                         const struct record_page *p, void **out, size_t *n)
{
    return st->ops->record_list(st->impl, k, p, out, n);
}

/* Inserts a new gig (id, version 1 and times set by the caller), with its
 * offers and its next timer (gig_next_timer). DROP_ECONFLICT when the id
 * exists. */
static inline drop_err store_gig_create(struct store *st, const struct gig *g)
{
    return st->ops->record_create(st->impl, &GIG_KIND, g);
}

/* Reads a gig with its offers into out (gig_free() it). DROP_ENOTFOUND. */
static inline drop_err store_gig_get(struct store *st, const char *id, struct gig *out)
{
    return st->ops->record_get(st->impl, &GIG_KIND, id, out);
}

/* The compare-and-set every transition goes through: replaces the stored
 * gig by g (whole, offers included; g->version is the new version) only when
 * the stored version is still expected_version, atomically. DROP_ECONFLICT
 * when another writer won (re-read and decide again), DROP_ENOTFOUND when
 * there is no such gig. */
static inline drop_err store_gig_cas(struct store *st, const struct gig *g,
                                     int64_t expected_version)
{
    return st->ops->record_cas(st->impl, &GIG_KIND, g, expected_version);
}

/* Lists gigs matching f into a heap array of *n gigs (gig_array_free). */
static inline drop_err store_gig_list(struct store *st, const struct gig_filter *f,
                                      struct gig **out, size_t *n)
{
    return st->ops->gig_list(st->impl, f, out, n);
}

/* The gigs an account must know about after a (re)connect: those where it is
 * the customer or the operator and the status is live (pendingOperator ..
 * streaming) or purchased, and the pendingOperator gigs where it holds an
 * open offer. At most GIG_LIST_MAX, newest first. */
static inline drop_err store_gig_for_account(struct store *st, const char *account,
                                             struct gig **out, size_t *n)
{
    return st->ops->gig_for_account(st->impl, account, out, n);
}

/* Gigs whose next timer (gig_next_timer: a deadline or an open offer's
 * expiry; stored beside the gig at every write) is due: 0 < timer <= now,
 * earliest first, at most limit. The sweep that makes lost timers fire. */
static inline drop_err store_gig_due(struct store *st, int64_t now, int limit, struct gig **out,
                                     size_t *n)
{
    return st->ops->gig_due(st->impl, now, limit, out, n);
}

/* Sets *unrated when account is a party of a purchased gig it has not rated
 * yet (the customer rates the operator: operator_rating still 0; the
 * operator rates the customer: customer_rating still 0): the rating lock. */
static inline drop_err store_gig_unrated(struct store *st, const char *account, bool *unrated)
{
    return st->ops->gig_unrated(st->impl, account, unrated);
}

/* ---- the transaction: read -> decide -> compare-and-set -> retry ----------
 * DESIGN principle 4 written once. store_txn_run reads the record (or takes
 * t->seed for a creation), asks decide for the next record, runs prepare
 * (optional: an accept reserves its operator), writes by compare-and-set on
 * the version read (or creates), and on a lost CAS runs undo, re-reads and
 * decides again, at most t->tries times. Effects (events, replies) are the
 * caller's, after it returns, from *before and *after.
 *
 * The callbacks record why they refuse in ctx; the store's own answers come
 * back as the return code, so a caller tells them apart by its ctx. */
#define STORE_TXN_TRIES 16

struct store_txn {
    const struct record_kind *kind;
    const char *id;      /* the record to change; NULL: create t->seed's decision */
    const void *seed;    /* with id NULL: the record decide starts from (borrowed) */
    int tries;           /* 1.., 0 = STORE_TXN_TRIES */
    void *ctx;
    /* Decides on cur. DROP_OK with *write true and next filled (the whole new
     * record, its version cur's + 1; the transaction owns it), DROP_OK with
     * *write false for no change (next untouched), or an error that ends the
     * transaction (next untouched). Must not write the store. */
    drop_err (*decide)(void *ctx, const void *cur, void *next, bool *write);
    /* Optional: after decide, before the write; an error ends the transaction. */
    drop_err (*prepare)(void *ctx, const void *cur, const void *next);
    /* Optional: the write lost after prepare succeeded: undo prepare. */
    void (*undo)(void *ctx, const void *next);
};

struct store_txn_result {
    bool written;   /* next was written; false: decide kept cur */
    bool exhausted; /* every try lost its CAS (DROP_ECONFLICT returned) */
    int tries;      /* reads done */
};

/* Runs t. DROP_OK: *before holds the record decided on and *after the one
 * written (a copy of *before when nothing changed); both k->size buffers the
 * caller frees with kind->free_rec (NULL: not wanted). Otherwise the error
 * of a read, of a callback, of the write, or DROP_ECONFLICT with
 * res->exhausted when the bound was hit; nothing to free. res may be NULL. */
drop_err store_txn_run(struct store *st, const struct store_txn *t, void *before, void *after,
                       struct store_txn_result *res);

/* Frees an array of n gigs from the listing calls. */
void gig_array_free(struct gig *arr, size_t n);

/* Inserts a message (id, from, to, text and created_at set by the caller,
 * read_at 0). DROP_EBADREQ for an invalid id or a text outside
 * 1..INBOX_TEXT_MAX bytes, DROP_ECONFLICT when the id exists. */
static inline drop_err store_message_create(struct store *st, const struct message *m)
{
    return st->ops->message_create(st->impl, m);
}

/* The messages received by `to`, newest first (created_at, then id,
 * descending), created_at < before when before > 0, at most limit
 * (1..INBOX_LIST_MAX). *out: heap array of *n (message_array_free; NULL
 * when *n is 0). DROP_EBADREQ for a limit out of range. */
static inline drop_err store_message_list(struct store *st, const char *to, int64_t before,
                                          int limit, struct message **out, size_t *n)
{
    return st->ops->message_list(st->impl, to, before, limit, out, n);
}

/* Sets read_at = now on those of the n (<= INBOX_READ_MAX) messages ids
 * that `to` received and has not read yet; other ids (unknown, or someone
 * else's) are ignored. DROP_EBADREQ for n over INBOX_READ_MAX. */
static inline drop_err store_message_mark_read(struct store *st, const char *to,
                                               const char (*ids)[DROP_ID_SIZE], size_t n,
                                               int64_t now)
{
    return st->ops->message_mark_read(st->impl, to, ids, n, now);
}

/* The number of unread messages of `to`. */
static inline drop_err store_message_unread(struct store *st, const char *to, int64_t *count)
{
    return st->ops->message_unread(st->impl, to, count);
}

/* Inserts a new job (id, version 1, times and status log set by the
 * caller). DROP_EBADREQ when j is not a valid job, DROP_ECONFLICT when the
 * id exists. */
static inline drop_err store_job_create(struct store *st, const struct job *j)
{
    return st->ops->record_create(st->impl, &JOB_KIND, j);
}

/* Reads a job into out (job_free it). DROP_ENOTFOUND. */
static inline drop_err store_job_get(struct store *st, const char *id, struct job *out)
{
    return st->ops->record_get(st->impl, &JOB_KIND, id, out);
}

/* Replaces the stored job by j (j->version the new version, above
 * expected_version) only when the stored version is still expected_version,
 * atomically. DROP_ECONFLICT when another writer won, DROP_ENOTFOUND when
 * there is no such job, DROP_EBADREQ for a version that does not move on. */
static inline drop_err store_job_cas(struct store *st, const struct job *j,
                                     int64_t expected_version)
{
    return st->ops->record_cas(st->impl, &JOB_KIND, j, expected_version);
}

/* Lists the jobs matching f into a heap array of *n (job_array_free; NULL
 * when *n is 0). DROP_EBADREQ for a limit out of range or no account. */
static inline drop_err store_job_list(struct store *st, const struct job_filter *f,
                                      struct job **out, size_t *n)
{
    return st->ops->job_list(st->impl, f, out, n);
}

/* ---- identity codes ---- */

/* The code record of a normalized identity value into out. DROP_ENOTFOUND
 * when there is none. */
static inline drop_err store_code_get(struct store *st, const char *identity,
                                      struct store_code *out)
{
    return st->ops->code_get(st->impl, identity, out);
}

/* Writes c (c->version the new version) when the stored record's version is
 * still expected_version; expected_version 0 creates the record.
 * DROP_ECONFLICT when another writer won (or a record exists for a create):
 * re-read and decide again. DROP_EBADREQ for a version that does not move on. */
static inline drop_err store_code_cas(struct store *st, const struct store_code *c,
                                      int64_t expected_version)
{
    return st->ops->code_cas(st->impl, c, expected_version);
}

/* Marks the identity `value` of an active account "verified" (updatedAt =
 * now). DROP_ENOTFOUND when the account is not active or has no such
 * identity. */
static inline drop_err store_identity_verify(struct store *st, const char *account,
                                             const char *value, int64_t now)
{
    return st->ops->identity_verify(st->impl, account, value, now);
}

/* Replaces the password hash of an active account. DROP_ENOTFOUND. */
static inline drop_err store_password_set(struct store *st, const char *account,
                                          const char *password_hash, int64_t now)
{
    return st->ops->password_set(st->impl, account, password_hash, now);
}

/* Changes the type ("user" | "operator" | "admin") of an active account.
 * DROP_ENOTFOUND. */
static inline drop_err store_account_type_set(struct store *st, const char *account,
                                              const char *type, int64_t now)
{
    return st->ops->account_type_set(st->impl, account, type, now);
}

/* The booking record of an operator into out. DROP_ENOTFOUND when the
 * operator has none yet (as good as a free one of version 0). */
static inline drop_err store_operator_lock_get(struct store *st, const char *operator,
                                               struct store_operator_lock *out)
{
    return st->ops->operator_lock_get(st->impl, operator, out);
}

/* Writes l (l->gig "" or a gig id; l->version the new version, above
 * expected_version) only when the stored record of l->operator is still at
 * expected_version, atomically; expected_version 0 inserts the first
 * record. DROP_ECONFLICT when another writer won (or, for 0, a record
 * exists), DROP_ENOTFOUND when expected_version > 0 and there is no record,
 * DROP_EBADREQ for invalid ids or a version that does not move on. */
static inline drop_err store_operator_lock_cas(struct store *st,
                                               const struct store_operator_lock *l,
                                               int64_t expected_version)
{
    return st->ops->operator_lock_cas(st->impl, l, expected_version);
}

/* Operator exclusivity, the same code on every backend (store.c), on the
 * two calls above. An accept reserves the operator before its gig's
 * compare-and-set and releases the reservation when that CAS loses.
 *
 * A reservation of gig G holds while G keeps the operator: G is busy
 * (gig_status_busy) with the operator as its operator, or G is still
 * pendingOperator with the operator's offer OPEN (an accept in flight: its
 * CAS may yet win). Otherwise it is stale (G ended, went to someone else,
 * the offer was rejected or expired, G is gone) and may be taken over; so
 * a gig that ends needs no release, and a node dying between reserve and
 * CAS blocks the operator only until the offer's expiry is swept.
 *
 * Reserves operator for gig_id: DROP_OK with *ticket (pass it to release)
 * when the record was free or stale, DROP_ECONFLICT when a reservation that
 * holds is in the way (another gig's, or a concurrent accept of this same
 * gig), or a store error. */
drop_err store_operator_reserve(struct store *st, const char *operator, const char *gig_id,
                                int64_t *ticket);

/* Releases the reservation that store_operator_reserve made (ticket):
 * DROP_OK also when it was already taken over or released. */
drop_err store_operator_release(struct store *st, const char *operator, const char *gig_id,
                                int64_t ticket);
/* ---- devices (PROTOCOL.md section 6) ---- */

/* Stores d (id, account, platform, token, sandbox, created_at set by the
 * caller) under its token: a token held by any account (this one included)
 * is replaced, so it moves to d->account. Then keeps only the
 * max_per_account newest devices of d->account (by id), deleting the
 * others. DROP_EBADREQ for an invalid token or max_per_account < 1. */
static inline drop_err store_device_put(struct store *st, const struct device *d,
                                        int max_per_account)
{
    return st->ops->device_put(st->impl, d, max_per_account);
}

/* Deletes the device with this token; account NULL = whoever holds it,
 * else only when account holds it. DROP_ENOTFOUND when nothing was
 * deleted. */
static inline drop_err store_device_delete(struct store *st, const char *account,
                                           const char *token)
{
    return st->ops->device_delete(st->impl, account, token);
}

/* The devices of account, newest first (at most DEVICE_MAX_PER_ACCOUNT
 * plus whatever a racing put left), into a heap array of *n (free() it;
 * NULL when *n is 0). */
static inline drop_err store_device_list(struct store *st, const char *account,
                                         struct device **out, size_t *n)
{
    return st->ops->device_list(st->impl, account, out, n);
}

#endif
