/* ops.c - the op table and the authorization of each call against it.
 * The handlers live beside their concept (ops_sys.c, ops_account.c, ...). */
#include <inttypes.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/gig.h"
#include "engine/id.h"
#include "engine/job.h"
#include "engine/log.h"
#include "engine/store.h"
#include "engine/ops.h"
#include "engine/ops_handlers.h"

/* ---- declared arguments ---- */

static const struct op_arg GIG_ID_ARGS[] = {
    {"gigId", ARG_ID, true, 0, 0},
    {NULL, 0, false, 0, 0},
};
static const struct op_arg GIG_RATE_ARGS[] = {
    {"rating", ARG_INT, true, 1, 5},
    {"gigId", ARG_ID, true, 0, 0},
    {NULL, 0, false, 0, 0},
};
static const struct op_arg GIG_LIST_ARGS[] = {
    {"accountId", ARG_ID, false, 0, 0},
    {"limit", ARG_INT, false, 1, GIG_LIST_MAX},
    {"before", ARG_TIME, false, 0, 0},
    {NULL, 0, false, 0, 0},
};
static const struct op_arg JOB_LIST_ARGS[] = {
    {"limit", ARG_INT, false, 1, JOB_LIST_MAX},
    {"before", ARG_TIME, false, 0, 0},
    {NULL, 0, false, 0, 0},
};

/* A row that declares no arguments leaves args NULL (its handler checks its
 * own), so the rows stay one line each without a trailing NULL. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct op_def op_table[] = {
    {"sys.ping", WHO_ANY, 0, op_sys_ping},
    {"account.register", WHO_ANON | WHO_ADMIN, 0, op_account_register},
    {"auth.login", WHO_ANON, OPF_AUTH, op_auth_login},
    {"auth.token", WHO_ANON, OPF_AUTH, op_auth_token},
    {"auth.logout", WHO_AUTHED, 0, op_auth_logout},
    /* identity codes (ops_code.c) */
    {"auth.code.send", WHO_ANY, 0, op_auth_code_send},
    {"auth.code.verify", WHO_ANY, OPF_AUTH, op_auth_code_verify},
    {"auth.password.reset", WHO_ANON, OPF_AUTH, op_auth_password_reset},
    {"auth.password.change", WHO_AUTHED, 0, op_auth_password_change},
    {"account.get", WHO_AUTHED, 0, op_account_get},
    {"account.update", WHO_AUTHED, 0, op_account_update},
    {"account.delete", WHO_AUTHED, 0, op_account_delete},
    {"account.list", WHO_AUTHED, 0, op_account_list},
    {"presence.update", WHO_OPERATOR, OPF_BUS, op_presence_update},
    {"presence.offline", WHO_OPERATOR, OPF_BUS, op_presence_offline},
    {"map.nearby", WHO_AUTHED, 0, op_map_nearby},
    {"gig.create", WHO_USER, OPF_BUS, op_gig_create},
    {"gig.claim", WHO_OPERATOR, OPF_BUS, op_gig_claim},
    {"gig.confirm", WHO_USER, OPF_BUS, op_gig_confirm, GIG_ID_ARGS},
    {"gig.reject", WHO_USER, OPF_BUS, op_gig_reject, GIG_ID_ARGS},
    {"gig.cancel", WHO_USER | WHO_OPERATOR, OPF_BUS, op_gig_cancel, GIG_ID_ARGS},
    {"gig.handshake", WHO_USER | WHO_OPERATOR, OPF_BUS, op_gig_handshake, GIG_ID_ARGS},
    {"gig.start", WHO_USER | WHO_OPERATOR, OPF_BUS, op_gig_start, GIG_ID_ARGS},
    {"gig.stop", WHO_USER | WHO_OPERATOR, OPF_BUS, op_gig_stop, GIG_ID_ARGS},
    {"gig.rate", WHO_USER | WHO_OPERATOR, OPF_BUS, op_gig_rate, GIG_RATE_ARGS},
    {"gig.video_failed", WHO_USER | WHO_OPERATOR, OPF_BUS, op_gig_video_failed},
    {"gig.get", WHO_AUTHED, 0, op_gig_get},
    {"gig.list", WHO_AUTHED, 0, op_gig_list, GIG_LIST_ARGS},
    {"inbox.send", WHO_AUTHED, 0, op_inbox_send},
    {"inbox.list", WHO_AUTHED, 0, op_inbox_list},
    {"inbox.read", WHO_AUTHED, 0, op_inbox_read},
    {"job.save", WHO_AUTHED, 0, op_job_save},
    {"job.list", WHO_AUTHED, 0, op_job_list, JOB_LIST_ARGS},
    {"job.status", WHO_AUTHED, 0, op_job_status},
    {"storage.sign", WHO_AUTHED, 0, op_storage_sign},
    {"push.send", WHO_AUTHED, OPF_BUS, op_push_send},
    {"log.write", WHO_AUTHED, 0, op_log_write},
    /* devices and push to phones (ops_device.c) */
    {"device.register", WHO_AUTHED, 0, op_device_register},
    {"device.unregister", WHO_AUTHED, 0, op_device_unregister},
    {"offer.list", WHO_OPERATOR, 0, op_offer_list},
    {"admin.stats", WHO_ADMIN, 0, op_admin_stats},
    {"admin.nodes", WHO_ADMIN, 0, op_admin_nodes},
    {"admin.sessions", WHO_ADMIN, 0, op_admin_sessions},
    {"admin.operators", WHO_ADMIN, 0, op_admin_operators},
    {"admin.gigs", WHO_ADMIN, 0, op_admin_gigs},
    {"admin.gig", WHO_ADMIN, OPF_BUS, op_admin_gig},
    {"admin.tail", WHO_ADMIN, 0, op_admin_tail},
    {"admin.kick", WHO_ADMIN, 0, op_admin_kick},
    {"admin.drain", WHO_ADMIN, 0, op_admin_drain},
    {"admin.cluster", WHO_ADMIN, 0, op_admin_cluster},
    {"admin.watch", WHO_ADMIN, 0, op_admin_watch},
    {"admin.map", WHO_ADMIN, 0, op_admin_map},
};
#pragma GCC diagnostic pop

#define NOPS ((int)(sizeof op_table / sizeof op_table[0]))

const struct op_def *ops_find(const char *name)
{
    for (int i = 0; i < NOPS; i++)
        if (strcmp(op_table[i].name, name) == 0) return &op_table[i];
    return NULL;
}

int ops_count(void) { return NOPS; }

const struct op_def *ops_at(int i) { return i >= 0 && i < NOPS ? &op_table[i] : NULL; }

int ops_index(const struct op_def *op) { return (int)(op - op_table); }

/* Checks r's data against the row's declared arguments: false (answered)
 * at the first mistake. */
static bool check_args(struct req *r)
{
    for (const struct op_arg *a = r->op->args; a && a->field; a++) {
        json_t *v = json_object_get(r->data, a->field);
        const char *need = a->required ? "required" : "expected";
        if (!v || json_is_null(v)) {
            if (!a->required) continue;
            v = NULL;
        }
        switch (a->type) {
        case ARG_ID:
            if (v && json_is_string(v) && id_valid(json_string_value(v))) continue;
            req_fail(r, DROP_EBADREQ, "%s: an ObjectId string is %s", a->field, need);
            return false;
        case ARG_INT:
            if (v && json_is_integer(v) && json_integer_value(v) >= a->min &&
                json_integer_value(v) <= a->max)
                continue;
            req_fail(r, DROP_EBADREQ, "%s: an integer %" PRId64 "..%" PRId64 " is %s", a->field,
                     a->min, a->max, need);
            return false;
        case ARG_TIME:
            if (v && json_is_integer(v) && json_integer_value(v) > 0) continue;
            req_fail(r, DROP_EBADREQ, "%s: a time in ms since the epoch is %s", a->field, need);
            return false;
        case ARG_STRING:
            if (v && json_is_string(v) && (int64_t)json_string_length(v) >= a->min &&
                (int64_t)json_string_length(v) <= a->max)
                continue;
            req_fail(r, DROP_EBADREQ, "%s: a string of %" PRId64 "..%" PRId64 " bytes is %s",
                     a->field, a->min, a->max, need);
            return false;
        }
    }
    return true;
}

int64_t op_arg_int(const struct req *r, const char *field, int64_t dflt)
{
    json_t *v = json_object_get(r->data, field);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

const char *op_arg_str(const struct req *r, const char *field)
{
    return json_string_value(json_object_get(r->data, field));
}

void ops_dispatch(struct req *r)
{
    unsigned me = 1u << r->who.role;
    if (!(r->op->who & me)) {
        if (r->who.role == ROLE_ANON)
            req_fail(r, DROP_EUNAUTH, "%s needs an authenticated session", r->op->name);
        else
            req_fail(r, DROP_EFORBIDDEN, "%s is not allowed for this account", r->op->name);
        return;
    }
    if ((r->op->flags & OPF_BUS) && r->eng->ports.bus_ok && !r->eng->ports.bus_ok(r->eng->ports.ctx)) {
        req_fail(r, DROP_EUNAVAIL, "the bus is down, retry later");
        return;
    }
    /* the audit trail of admin rights; reading the log (admin.tail) is not
     * logged, or a follower of the log would never catch up with it */
    if (r->who.role == ROLE_ADMIN && strcmp(r->op->name, "admin.tail") != 0 &&
        strcmp(r->op->name, "sys.ping") != 0)
        log_info("event=admin_op op=%s by=%s", r->op->name,
                 r->who.account[0] ? r->who.account : "admin_token");
    if (!check_args(r)) return;
    r->op->handler(r);
}
