/* ops_handlers.h - every op handler, one per row of the op table (ops.c).
 * Each takes ownership of nothing and answers r exactly once. */
#ifndef DROP_OPS_HANDLERS_H
#define DROP_OPS_HANDLERS_H

#include "engine/req.h"

/* ops_sys.c */
void op_sys_ping(struct req *r);

#endif
