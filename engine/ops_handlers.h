/* ops_handlers.h - every op handler, one per row of the op table (ops.c).
 * Each takes ownership of nothing and answers r exactly once. */
#ifndef DROP_OPS_HANDLERS_H
#define DROP_OPS_HANDLERS_H

#include "engine/engine.h"
#include "engine/gig.h"
#include "engine/req.h"

/* Bounds of the handlers' arguments, declared in the op table (ops.c). */
#define NEARBY_MAX_LIMIT 100       /* map.nearby operators */
#define NEARBY_MAX_RADIUS 50000    /* map.nearby metres */
#define ADMIN_LIST_MAX 1000        /* admin.operators */
#define CLUSTER_TIMEOUT_MAX 60000  /* admin.cluster ms */
#define MAP_CELLS_MAX 61           /* admin.map cells per side */
#define MAP_RADIUS_MAX 200000      /* admin.map metres */

/* One gig read by id on a pool thread (ops_gig.c). */
struct gig_read;
typedef void (*gig_read_fn)(struct engine *e, struct req *r, struct gig_read *t);
struct gig_read {
    char id[DROP_ID_SIZE];
    struct gig g;   /* filled when rc is DROP_OK */
    drop_err rc;    /* store_gig_get's */
    gig_read_fn done;
};

/* Reads gig id on a pool thread, then runs done(e, r, t) on the loop; t
 * and its gig are freed when done returns. r may be NULL. */
void gig_read(struct engine *e, struct req *r, const char *id, gig_read_fn done);

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

/* ops_code.c */
void op_auth_code_send(struct req *r);
void op_auth_code_verify(struct req *r);
void op_auth_password_reset(struct req *r);
void op_auth_password_change(struct req *r);

/* ops_admin.c (and op_admin_gig in ops_gig.c) */
void op_admin_stats(struct req *r);
void op_admin_nodes(struct req *r);
void op_admin_sessions(struct req *r);
void op_admin_operators(struct req *r);
void op_admin_gigs(struct req *r);
void op_admin_tail(struct req *r);
void op_admin_kick(struct req *r);
void op_admin_drain(struct req *r);
void op_admin_gig(struct req *r);
void op_admin_cluster(struct req *r);
void op_admin_watch(struct req *r);
void op_admin_map(struct req *r);
void op_admin_gig_show(struct req *r);

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
void op_gig_video_failed(struct req *r);
void op_gig_get(struct req *r);
void op_gig_list(struct req *r);

/* ops_inbox.c */
void op_inbox_send(struct req *r);
void op_inbox_list(struct req *r);
void op_inbox_read(struct req *r);

struct engine;
struct message;
/* Stores a new message from `from` to `to` (an active account) into *m
 * (message_free it on DROP_OK). Blocking: pool threads only. DROP_ENOTFOUND
 * when `to` is no active account, else the store's codes. Also used by the
 * job ledger's automated messages. */
drop_err inbox_store_new(struct engine *e, const char *from, const char *to, const char *text,
                         struct message *m);
/* Sends the event inbox.message for m to every session of its recipient.
 * Loop thread. */
void inbox_deliver(struct engine *e, const struct message *m);

/* ops_job.c */
void op_job_save(struct req *r);
void op_job_list(struct req *r);
void op_job_status(struct req *r);

/* ops_media.c */
void op_storage_sign(struct req *r);
void op_push_send(struct req *r);

/* ops_device.c */
void op_device_register(struct req *r);
void op_device_unregister(struct req *r);
void op_offer_list(struct req *r);

#endif
