/* ops_handlers.h - every op handler, one per row of the op table (ops.c).
 * Each takes ownership of nothing and answers r exactly once. */
#ifndef DROP_OPS_HANDLERS_H
#define DROP_OPS_HANDLERS_H

#include "engine/req.h"

/* ops_sys.c */
void op_sys_ping(struct req *r);

/* ops_account.c */
void op_account_register(struct req *r);
void op_auth_login(struct req *r);
void op_auth_token(struct req *r);
void op_auth_logout(struct req *r);
void op_account_get(struct req *r);
void op_account_update(struct req *r);
void op_account_delete(struct req *r);
void op_account_list(struct req *r);

#endif
