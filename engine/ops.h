/* ops.h - the op table: one row per protocol op, shared by WebSocket and REST.
 *
 * A row names the op, who may call it (a mask of roles), its handler and
 * its arguments (field, type, required, bounds). ops_dispatch() authorizes
 * the caller against the row, checks the declared arguments in one place
 * with one wording per kind of mistake (`limit: an integer 1..200 is
 * expected`; "is required" for a required one that is missing), and runs
 * the handler, which reads them with op_arg_*() and checks only the rules of its domain (a
 * code's digits, a size answered too_large), answering through
 * req_reply()/req_fail() (req.h). REST's numeric-string rule is applied
 * before (protocol/), so REST and WebSocket arguments check alike. */
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
#define OPF_ACCOUNT 4u /* acts as an account: the built-in admin (admin_token) has none */

/* The kinds of declared arguments and what each accepts (null or absent is
 * "not given": refused when required, else the handler's default). */
enum op_arg_type {
    ARG_ID,      /* an ObjectId string (24 hex) */
    ARG_INT,     /* a JSON integer in min..max */
    ARG_TIME,    /* a JSON integer > 0: ms since the epoch */
    ARG_STRING,  /* a string of min..max bytes */
    ARG_NUMBER,  /* a finite JSON number in min..max (latitude, longitude, metres) */
    ARG_BOOL,    /* true or false */
    ARG_ENUM,    /* one of the strings of choices */
    ARG_WORD,    /* a string that valid() accepts; `what` words it ("one of the gig statuses") */
    ARG_OBJECT,  /* a JSON object, handed to the handler as it is (free-form payloads) */
    ARG_IDS,     /* an array of min..max ObjectId strings */
};

struct op_arg {
    const char *field;    /* NULL ends a list */
    enum op_arg_type type;
    bool required;
    int64_t min, max;     /* ARG_INT, ARG_NUMBER: the value; ARG_STRING: bytes; ARG_IDS: items */
    const char *const *choices;  /* ARG_ENUM: NULL-terminated */
    bool (*valid)(const char *s); /* ARG_WORD */
    const char *what;             /* ARG_WORD */
};

/* Declaring rows: OPT or REQ, then the kind's bounds. */
#define OPT false
#define REQ true
#define A_ID(f, need) {.field = (f), .type = ARG_ID, .required = (need)}
#define A_INT(f, need, lo, hi) {.field = (f), .type = ARG_INT, .required = (need), .min = (lo), .max = (hi)}
#define A_TIME(f, need) {.field = (f), .type = ARG_TIME, .required = (need)}
#define A_STR(f, need, lo, hi) {.field = (f), .type = ARG_STRING, .required = (need), .min = (lo), .max = (hi)}
#define A_NUM(f, need, lo, hi) {.field = (f), .type = ARG_NUMBER, .required = (need), .min = (lo), .max = (hi)}
#define A_BOOL(f, need) {.field = (f), .type = ARG_BOOL, .required = (need)}
#define A_ENUM(f, need, list) {.field = (f), .type = ARG_ENUM, .required = (need), .choices = (list)}
#define A_WORD(f, need, fn, text) {.field = (f), .type = ARG_WORD, .required = (need), .valid = (fn), .what = (text)}
#define A_OBJ(f, need) {.field = (f), .type = ARG_OBJECT, .required = (need)}
#define A_IDS(f, need, lo, hi) {.field = (f), .type = ARG_IDS, .required = (need), .min = (lo), .max = (hi)}
#define A_END {.field = NULL}

struct op_def {
    const char *name;
    unsigned who;
    unsigned flags;   /* OPF_* */
    void (*handler)(struct req *r);
    const struct op_arg *args; /* declared arguments, A_END-terminated */
};

/* A declared argument of r (checked by ops_dispatch), or the default when
 * it was not given. Strings and JSON values are borrowed from r->data
 * (valid while r is). */
bool op_arg_given(const struct req *r, const char *field);
int64_t op_arg_int(const struct req *r, const char *field, int64_t dflt);
double op_arg_num(const struct req *r, const char *field, double dflt);
bool op_arg_bool(const struct req *r, const char *field, bool dflt);
/* NULL when not given (or, for an undeclared field, not a string). */
const char *op_arg_str(const struct req *r, const char *field);
/* ARG_ENUM: the index of the value in the row's choices, or dflt. */
int op_arg_enum(const struct req *r, const char *field, int dflt);
/* ARG_OBJECT / ARG_IDS: the value, or NULL when not given. */
json_t *op_arg_json(const struct req *r, const char *field);

/* The row for name, or NULL when there is no such op. */
const struct op_def *ops_find(const char *name);

/* Number of rows, and row i (for per-op metrics). */
int ops_count(void);
const struct op_def *ops_at(int i);

/* Index of a row in the table (0..ops_count()-1). */
int ops_index(const struct op_def *op);

/* Checks r's data against the declared arguments of another op, for a
 * handler that hands r on to that op's handler: false (r answered) at the
 * first mistake. */
bool ops_check_as(struct req *r, const char *name);

/* Runs r->op for r->who: DROP_EUNAUTH for an anonymous caller of an op that
 * needs a session, DROP_EFORBIDDEN for a role the op does not allow. */
void ops_dispatch(struct req *r);

#endif
