/* code_fields.h - the identity-code kind, described once as the record
 * kinds are (store.h): the stored fields of a struct store_code, for both
 * backends. Each row names the MongoDB key, the SQLite column, the stored
 * type and where the field sits in the struct; adapters/store_sqlite_codes.c
 * binds and reads a row, and adapters/store_mongo_codes.c appends and reads
 * a document, by one loop over CODE_FIELDS each.
 *
 * The order is the stored order: the SQLite columns of the statements and
 * the keys of a MongoDB document (after _id) follow it. The first field is
 * the key (identity): an update sets every field but that one. The SQLite
 * table itself is SQLITE_CODES_MIGRATION (adapters/store_sqlite_internal.h),
 * which stays as written: a migration is history. Data only, no I/O. */
#ifndef DROP_CODE_FIELDS_H
#define DROP_CODE_FIELDS_H

#include <stddef.h>

#include "engine/store.h"

enum code_type {
    CODE_TEXT,  /* char[]: SQLite TEXT, MongoDB string */
    CODE_BOOL,  /* bool: SQLite INTEGER 0/1, MongoDB bool */
    CODE_INT,   /* int: SQLite INTEGER, MongoDB int64 */
    CODE_INT64, /* int64_t: SQLite INTEGER, MongoDB int64 */
    CODE_BYTES  /* unsigned char[]: SQLite BLOB, MongoDB lower-case hex string
                 * (the CongoDB test server mangles a binary value written by
                 * $set: it comes back as a document) */
};

struct code_field {
    const char *key;    /* MongoDB */
    const char *column; /* SQLite */
    enum code_type type;
    size_t off;         /* offsetof(struct store_code, ...) */
    size_t size;        /* its sizeof: the buffer of a text, the length of bytes */
};

#define CODE_FIELD(KEY, MEMBER, TYPE)                                                        \
    {KEY, #MEMBER, TYPE, offsetof(struct store_code, MEMBER),                                \
     sizeof(((struct store_code *)0)->MEMBER)}

static const struct code_field CODE_FIELDS[] = {
    CODE_FIELD("identity", identity, CODE_TEXT),
    CODE_FIELD("account", account, CODE_TEXT),
    CODE_FIELD("purpose", purpose, CODE_TEXT),
    CODE_FIELD("live", live, CODE_BOOL),
    CODE_FIELD("hash", hash, CODE_BYTES),
    CODE_FIELD("salt", salt, CODE_BYTES),
    CODE_FIELD("attempts", attempts, CODE_INT),
    CODE_FIELD("expiresAt", expires_at, CODE_INT64),
    CODE_FIELD("sentAt", sent_at, CODE_INT64),
    CODE_FIELD("windowStart", window_start, CODE_INT64),
    CODE_FIELD("sends", sends, CODE_INT),
    CODE_FIELD("version", version, CODE_INT64),
};
#define CODE_NFIELDS ((int)(sizeof CODE_FIELDS / sizeof CODE_FIELDS[0]))

/* The field f of c, to read or write as f->type says. */
static inline void *code_at(struct store_code *c, const struct code_field *f)
{
    return (char *)c + f->off;
}

static inline const void *code_at_c(const struct store_code *c, const struct code_field *f)
{
    return (const char *)c + f->off;
}

#endif
