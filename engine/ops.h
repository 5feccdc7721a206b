/* ops.h - the op table: one row per protocol op, shared by WebSocket and REST.
 *
 * A row names the op, who may call it (a mask of roles) and its handler.
 * ops_dispatch() authorizes the caller against the row and runs the handler,
 * which answers through req_reply()/req_fail() (req.h). */
#ifndef DROP_OPS_H
#define DROP_OPS_H

#include "engine/req.h"

#define WHO_ANON (1u << ROLE_ANON)
#define WHO_USER (1u << ROLE_USER)
#define WHO_OPERATOR (1u << ROLE_OPERATOR)
#define WHO_ADMIN (1u << ROLE_ADMIN)
#define WHO_AUTHED (WHO_USER | WHO_OPERATOR | WHO_ADMIN)
#define WHO_ANY (WHO_ANON | WHO_AUTHED)

#define OPF_AUTH 1u /* authenticates the connection: hold later requests */
#define OPF_BUS 2u  /* reaches other nodes: `unavailable` while the bus is down */

struct op_def {
    const char *name;
    unsigned who;
    unsigned flags;   /* OPF_* */
    void (*handler)(struct req *r);
};

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
