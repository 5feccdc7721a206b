/* ops_handlers.h - every op handler, one per row of the op table (ops.c).
 * Each takes ownership of nothing and answers r exactly once. */
#ifndef DROP_OPS_HANDLERS_H
#define DROP_OPS_HANDLERS_H

#include "engine/req.h"

/* ops_sys.c */
void op_sys_ping(struct req *r);
void op_log_write(struct req *r);

/* ops_account.c */
void op_account_register(struct req *r);
void op_auth_login(struct req *r);
void op_auth_token(struct req *r);
void op_auth_logout(struct req *r);
void op_account_get(struct req *r);
void op_account_update(struct req *r);
void op_account_delete(struct req *r);
void op_account_list(struct req *r);

/* ops_admin.c (and op_admin_gig in ops_gig.c) */
void op_admin_stats(struct req *r);
void op_admin_nodes(struct req *r);
void op_admin_sessions(struct req *r);
void op_admin_operators(struct req *r);
void op_admin_gigs(struct req *r);
void op_admin_kick(struct req *r);
void op_admin_drain(struct req *r);
void op_admin_gig(struct req *r);

/* ops_presence.c */
void op_presence_update(struct req *r);
void op_presence_offline(struct req *r);
void op_map_nearby(struct req *r);

/* ops_gig.c */
void op_gig_create(struct req *r);
void op_gig_claim(struct req *r);
void op_gig_confirm(struct req *r);
void op_gig_reject(struct req *r);
void op_gig_cancel(struct req *r);
void op_gig_handshake(struct req *r);
void op_gig_start(struct req *r);
void op_gig_stop(struct req *r);
void op_gig_rate(struct req *r);
void op_gig_get(struct req *r);
void op_gig_list(struct req *r);

#endif
