/* ops_device.c - device.register, device.unregister (PROTOCOL.md section 6)
 * and offer.list (GET /offers: a REST-only operator's open offers).
 *
 * Each validates on the loop thread and does its store work in one task. A
 * registration stores the token for the caller; the store moves a token
 * another account holds and keeps the DEVICE_MAX_PER_ACCOUNT newest of the
 * caller's devices. Unregistering a token the caller does not hold answers
 * {} as well: the app's wish (no pushes to this token for me) holds. Tokens
 * are never logged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/device.h"
#include "engine/engine.h"
#include "engine/log.h"
#include "engine/mem.h"
#include "engine/ops.h"
#include "engine/ops_handlers.h"
#include "engine/session_state.h"
#include "engine/store.h"

struct device_task {
    struct device d;
    drop_err err;
    json_t *out;
};

static void device_task_done(struct engine *e, struct req *r, void *arg)
{
    struct device_task *j = arg;
    (void)e;
    if (j->err == DROP_EUNAVAIL) req_fail(r, DROP_EUNAVAIL, "the store is unavailable, retry later");
    else if (j->err) req_fail(r, DROP_EINTERNAL, "store error");
    else req_reply(r, j->out ? json_incref(j->out) : NULL);
    json_decref(j->out);
    free(j);
}

static void register_work(struct engine *e, void *arg)
{
    struct device_task *j = arg;
    j->err = store_device_put(e->store, &j->d, DEVICE_MAX_PER_ACCOUNT);
}

/* device.register {platform: "fcm" | "apns", token, sandbox?} -> {}. */
void op_device_register(struct req *r)
{
    struct engine *e = r->eng;
    /* declared in the op table: platform ("fcm" or "apns"), token (a
     * valid device token), sandbox? */
    struct device_task *j;

    j = xcalloc(1, sizeof *j);
    device_platform_parse(op_arg_str(r, "platform"), &j->d.platform);
    snprintf(j->d.token, sizeof j->d.token, "%s", op_arg_str(r, "token"));
    memcpy(j->d.account, r->who.account, DROP_ID_SIZE);
    j->d.sandbox = op_arg_bool(r, "sandbox", false);
    j->d.created_at = engine_now(e);
    e->crypto.oid_new(j->d.id);
    log_info("event=device_register account=%s platform=%s sandbox=%d", j->d.account,
             device_platform_name(j->d.platform), j->d.sandbox);
    e->ports.run_task(e->ports.ctx, r, register_work, device_task_done, j);
}

static void unregister_work(struct engine *e, void *arg)
{
    struct device_task *j = arg;
    j->err = store_device_delete(e->store, j->d.account, j->d.token);
    if (j->err == DROP_ENOTFOUND) j->err = DROP_OK;
}

/* device.unregister {token} -> {}. */
void op_device_unregister(struct req *r)
{
    struct engine *e = r->eng;
    const char *token = op_arg_str(r, "token"); /* declared: a valid device token */
    struct device_task *j;

    j = xcalloc(1, sizeof *j);
    snprintf(j->d.token, sizeof j->d.token, "%s", token);
    memcpy(j->d.account, r->who.account, DROP_ID_SIZE);
    e->ports.run_task(e->ports.ctx, r, unregister_work, device_task_done, j);
}

static void offers_work(struct engine *e, void *arg)
{
    struct device_task *j = arg;
    j->err = session_state_offers(e, j->d.account, &j->out);
}

/* offer.list {} -> [gig.offer data]: the caller's open offers. */
void op_offer_list(struct req *r)
{
    struct engine *e = r->eng;
    struct device_task *j;
    j = xcalloc(1, sizeof *j);
    memcpy(j->d.account, r->who.account, DROP_ID_SIZE);
    e->ports.run_task(e->ports.ctx, r, offers_work, device_task_done, j);
}
