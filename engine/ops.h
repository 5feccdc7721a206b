/* ops.h - the op table: one row per protocol op, shared by WebSocket and REST.
 *
 * A row names the op, who may call it (a mask of roles), its handler and,
 * for the ops that declare them, its arguments (field, type, required,
 * bounds). ops_dispatch() authorizes the caller against the row, checks the
 * declared arguments in one place with one wording per kind of mistake
 * (`limit: an integer 1..200 is expected`; "is required" for a required
 * one), and runs the handler, which reads them with op_arg_*() and answers
 * through req_reply()/req_fail() (req.h). REST's numeric-string rule is
 * applied before (protocol/), so REST and WebSocket arguments check alike. */
#ifndef DROP_OPS_H
#define DROP_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/req.h"

#define WHO_ANON (1u << ROLE_ANON)
#define WHO_USER (1u << ROLE_USER)
#define WHO_OPERATOR (1u << ROLE_OPERATOR)
#define WHO_ADMIN (1u << ROLE_ADMIN)
#define WHO_AUTHED (WHO_USER | WHO_OPERATOR | WHO_ADMIN)
#define WHO_ANY (WHO_ANON | WHO_AUTHED)

#define OPF_AUTH 1u /* authenticates the connection: hold later requests */
#define OPF_BUS 2u  /* reaches other nodes: `unavailable` while the bus is down */

/* The kinds of declared arguments and what each accepts (null or absent is
 * "not given": refused when required, else the handler's default). */
enum op_arg_type {
    ARG_ID,      /* an ObjectId string (24 hex) */
    ARG_INT,     /* a JSON integer in min..max */
    ARG_TIME,    /* a JSON integer > 0: ms since the epoch */
    ARG_STRING,  /* a string of min..max bytes */
};

struct op_arg {
    const char *field;    /* NULL ends a list */
    enum op_arg_type type;
    bool required;
    int64_t min, max;     /* ARG_INT: the value; ARG_STRING: bytes */
};

struct op_def {
    const char *name;
    unsigned who;
    unsigned flags;   /* OPF_* */
    void (*handler)(struct req *r);
    const struct op_arg *args; /* declared arguments; NULL = the handler checks its own */
};

/* A declared argument of r (checked by ops_dispatch), or the default when
 * it was not given. op_arg_str: borrowed from r->data, NULL when not given. */
int64_t op_arg_int(const struct req *r, const char *field, int64_t dflt);
const char *op_arg_str(const struct req *r, const char *field);

/* The row for name, or NULL when there is no such op. */
const struct op_def *ops_find(const char *name);

/* Number of rows, and row i (for per-op metrics). */
int ops_count(void);
const struct op_def *ops_at(int i);

/* Index of a row in the table (0..ops_count()-1). */
int ops_index(const struct op_def *op);

/* Runs r->op for r->who: DROP_EUNAUTH for an anonymous caller of an op that
 * needs a session, DROP_EFORBIDDEN for a role the op does not allow. */
void ops_dispatch(struct req *r);

#endif
