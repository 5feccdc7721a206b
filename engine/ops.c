/* ops.c - the op table and the authorization of each call against it.
 * The handlers live beside their concept (ops_sys.c, ops_account.c, ...). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/gig.h"
#include "engine/device.h"
#include "engine/id.h"
#include "engine/inbox.h"
#include "engine/job.h"
#include "engine/log.h"
#include "engine/store.h"
#include "engine/ops.h"
#include "engine/ops_handlers.h"

/* ---- declared arguments ----
 * Bounds are PROTOCOL.md's and the rules' own (GIG_LIST_MAX, ...). Bodies
 * checked whole by a domain validator (account.register's two seed shapes,
 * auth.login, account.list, admin.stats/nodes/sessions' inspector args)
 * declare no field: the validator words its own mistakes. */

static bool gig_status_ok(const char *s)
{
    enum gig_status st;
    return gig_status_parse(s, &st) == DROP_OK;
}

static bool job_status_ok(const char *s)
{
    enum job_status st;
    return job_status_parse(s, &st) == DROP_OK;
}

/* job.status moves a job on: any status but the first */
static bool job_status_next(const char *s)
{
    enum job_status st;
    return job_status_parse(s, &st) == DROP_OK && st != JOB_REQUESTED;
}

#define STR_ANY(f, need) A_STR(f, need, 0, INT64_MAX)
#define STR_SOME(f, need) A_STR(f, need, 1, INT64_MAX)
#define LATITUDE(f) A_NUM(f, REQ, -90, 90)
#define LONGITUDE(f) A_NUM(f, REQ, -180, 180)
#define GIG_STATUS A_WORD("status", OPT, gig_status_ok, "one of the gig statuses")
#define DEVICE_TOKEN(need)                                                                     \
    A_WORD("token", need, device_token_valid,                                                  \
           "a device token (1..512 printable characters without spaces, '/', '%', '?', '#')")

static const char *const PURPOSES[] = {"login", "verify", "reset", NULL};
static const char *const ACCOUNT_TYPES[] = {"user", "operator", "admin", NULL};
static const char *const CLAIM_RESPONSES[] = {"accept", "reject", NULL};
static const char *const JOB_ROLES[] = {"client", "worker", NULL};
static const char *const MEDIA_TYPES[] = {"profileImage", "chat", "gig", NULL};
static const char *const LOG_LEVELS[] = {"debug", "info", "warn", "error", NULL};
static const char *const PLATFORMS[] = {"fcm", "apns", NULL};
static const char *const ADMIN_ACTIONS[] = {"terminate", "invoice", "video_fail", NULL};
static const char *const CLUSTER_WHATS[] = {"stats", "nodes", "sessions", "operators", NULL};

static const struct op_arg NO_ARGS[] = {A_END};
static const struct op_arg TOKEN_ARGS[] = {STR_SOME("token", REQ), A_END};
static const struct op_arg CODE_SEND_ARGS[] = {
    STR_ANY("identity", REQ), A_ENUM("purpose", OPT, PURPOSES), A_END};
static const struct op_arg CODE_VERIFY_ARGS[] = {
    STR_ANY("identity", REQ), STR_ANY("code", REQ), A_END};
static const struct op_arg PASSWORD_RESET_ARGS[] = {
    STR_ANY("identity", REQ), STR_ANY("code", REQ), STR_ANY("password", REQ), A_END};
static const struct op_arg PASSWORD_CHANGE_ARGS[] = {
    STR_SOME("password", REQ), STR_ANY("newPassword", REQ), A_END};
static const struct op_arg ACCOUNT_ID_ARGS[] = {A_ID("id", OPT), A_END};
/* the other fields of account.update are the profile's, checked by account.c */
static const struct op_arg ACCOUNT_UPDATE_ARGS[] = {
    A_ID("id", OPT), A_ENUM("type", OPT, ACCOUNT_TYPES), STR_ANY("newPassword", OPT), A_END};
static const struct op_arg PRESENCE_ARGS[] = {
    LATITUDE("latitude"), LONGITUDE("longitude"), A_NUM("accuracy", OPT, 0, 10000000),
    A_NUM("heading", OPT, 0, 360), A_BOOL("available", OPT), A_END};
static const struct op_arg NEARBY_ARGS[] = {
    LATITUDE("latitude"), LONGITUDE("longitude"), A_NUM("radius", OPT, 0, NEARBY_MAX_RADIUS),
    A_NUM("limit", OPT, 1, NEARBY_MAX_LIMIT), A_END};
static const struct op_arg GIG_CREATE_ARGS[] = {
    LATITUDE("latitude"), LONGITUDE("longitude"), STR_ANY("claimId", OPT),
    STR_ANY("deviceId", OPT), A_OBJ("metaData", OPT), A_END};
static const struct op_arg GIG_CLAIM_ARGS[] = {
    A_ENUM("response", REQ, CLAIM_RESPONSES), A_ID("gigId", REQ), A_END};
static const struct op_arg GIG_ID_ARGS[] = {A_ID("gigId", REQ), A_END};
static const struct op_arg GIG_RATE_ARGS[] = {
    A_INT("rating", REQ, 1, 5), A_ID("gigId", REQ), A_END};
static const struct op_arg GIG_VIDEO_FAILED_ARGS[] = {
    STR_ANY("reason", OPT), A_ID("gigId", REQ), A_END};
/* gig.get's accountId is the REST route's: not the caller's is forbidden */
static const struct op_arg GIG_GET_ARGS[] = {STR_ANY("accountId", OPT), A_ID("gigId", REQ), A_END};
static const struct op_arg GIG_LIST_ARGS[] = {
    A_ID("accountId", OPT), GIG_STATUS, A_INT("limit", OPT, 1, GIG_LIST_MAX),
    A_TIME("before", OPT), A_END};
static const struct op_arg INBOX_SEND_ARGS[] = {A_ID("to", REQ), STR_ANY("text", REQ), A_END};
static const struct op_arg INBOX_LIST_ARGS[] = {
    A_TIME("before", OPT), A_INT("limit", OPT, 1, INBOX_LIST_MAX), A_END};
static const struct op_arg INBOX_READ_ARGS[] = {A_IDS("ids", REQ, 1, INBOX_READ_MAX), A_END};
static const struct op_arg JOB_SAVE_ARGS[] = {
    A_ID("id", OPT), STR_ANY("title", OPT), STR_ANY("description", OPT), A_ID("worker", OPT), A_END};
static const struct op_arg JOB_STATUS_ARGS[] = {
    A_ID("id", REQ),
    A_WORD("status", REQ, job_status_next,
           "one of ACCEPTED, DECLINED, STARTED, COMPLETED, PENDING_PAYMENT, PAID"),
    A_END};
static const struct op_arg JOB_LIST_ARGS[] = {
    A_WORD("status", OPT, job_status_ok, "one of the job statuses"),
    A_ENUM("role", OPT, JOB_ROLES), A_INT("limit", OPT, 1, JOB_LIST_MAX), A_TIME("before", OPT),
    A_END};
/* gigId: an ObjectId for type gig, checked by the handler (ignored otherwise) */
static const struct op_arg STORAGE_ARGS[] = {
    A_ENUM("type", REQ, MEDIA_TYPES), STR_ANY("contentType", OPT), A_END};
/* data is the sender's own payload, handed on as it is */
static const struct op_arg PUSH_ARGS[] = {A_ID("recipientId", REQ), A_OBJ("data", OPT), A_END};
/* data (any JSON) is the client's own, logged as it is */
static const struct op_arg LOG_ARGS[] = {
    A_ENUM("level", REQ, LOG_LEVELS), STR_ANY("message", REQ), A_END};
static const struct op_arg DEVICE_REGISTER_ARGS[] = {
    A_ENUM("platform", REQ, PLATFORMS), DEVICE_TOKEN(REQ), A_BOOL("sandbox", OPT), A_END};
static const struct op_arg DEVICE_UNREGISTER_ARGS[] = {DEVICE_TOKEN(REQ), A_END};
static const struct op_arg ADMIN_OPERATORS_ARGS[] = {A_INT("limit", OPT, 1, ADMIN_LIST_MAX), A_END};
static const struct op_arg ADMIN_GIGS_ARGS[] = {
    GIG_STATUS, A_ID("accountId", OPT), A_INT("limit", OPT, 1, GIG_LIST_MAX), A_END};
static const struct op_arg ADMIN_GIG_ARGS[] = {
    A_ENUM("action", OPT, ADMIN_ACTIONS), A_ID("gigId", REQ), A_END};
static const struct op_arg ADMIN_TAIL_ARGS[] = {
    A_INT("after", OPT, 0, INT64_MAX), A_INT("limit", OPT, 1, LOG_RING_LINES), A_END};
static const struct op_arg ADMIN_KICK_ARGS[] = {A_ID("accountId", REQ), A_END};
static const struct op_arg ADMIN_CLUSTER_ARGS[] = {
    A_ENUM("what", REQ, CLUSTER_WHATS), A_OBJ("args", OPT), A_STR("node", OPT, 1, DROP_ID_SIZE - 1),
    A_INT("timeout", OPT, 100, CLUSTER_TIMEOUT_MAX), A_END};
/* exactly one of gigId, accountId or log: true (the handler's rule) */
static const struct op_arg ADMIN_WATCH_ARGS[] = {
    A_ID("gigId", OPT), A_ID("accountId", OPT), A_BOOL("log", OPT),
    A_INT("after", OPT, 0, INT64_MAX), A_END};
/* cells: a whole number (3.0 is one), checked by the handler */
static const struct op_arg ADMIN_MAP_ARGS[] = {
    LATITUDE("lat"), LONGITUDE("lng"), A_NUM("radius", OPT, 10, MAP_RADIUS_MAX),
    A_NUM("cells", OPT, 3, MAP_CELLS_MAX), A_END};

static const struct op_def op_table[] = {
    {"sys.ping", WHO_ANY, 0, op_sys_ping, NO_ARGS},
    {"account.register", WHO_ANON | WHO_ADMIN, 0, op_account_register, NO_ARGS},
    {"auth.login", WHO_ANON, OPF_AUTH, op_auth_login, NO_ARGS},
    {"auth.token", WHO_ANON, OPF_AUTH, op_auth_token, TOKEN_ARGS},
    {"auth.logout", WHO_AUTHED, 0, op_auth_logout, NO_ARGS},
    /* identity codes (ops_code.c) */
    {"auth.code.send", WHO_ANY, 0, op_auth_code_send, CODE_SEND_ARGS},
    {"auth.code.verify", WHO_ANY, OPF_AUTH, op_auth_code_verify, CODE_VERIFY_ARGS},
    {"auth.password.reset", WHO_ANON, OPF_AUTH, op_auth_password_reset, PASSWORD_RESET_ARGS},
    {"auth.password.change", WHO_AUTHED, 0, op_auth_password_change, PASSWORD_CHANGE_ARGS},
    {"account.get", WHO_AUTHED, 0, op_account_get, ACCOUNT_ID_ARGS},
    {"account.update", WHO_AUTHED, 0, op_account_update, ACCOUNT_UPDATE_ARGS},
    {"account.delete", WHO_AUTHED, 0, op_account_delete, ACCOUNT_ID_ARGS},
    {"account.list", WHO_AUTHED, 0, op_account_list, NO_ARGS},
    {"presence.update", WHO_OPERATOR, OPF_BUS, op_presence_update, PRESENCE_ARGS},
    {"presence.offline", WHO_OPERATOR, OPF_BUS, op_presence_offline, NO_ARGS},
    {"map.nearby", WHO_AUTHED, 0, op_map_nearby, NEARBY_ARGS},
    {"gig.create", WHO_USER, OPF_BUS, op_gig_create, GIG_CREATE_ARGS},
    {"gig.claim", WHO_OPERATOR, OPF_BUS, op_gig_claim, GIG_CLAIM_ARGS},
    {"gig.confirm", WHO_USER, OPF_BUS, op_gig_confirm, GIG_ID_ARGS},
    {"gig.reject", WHO_USER, OPF_BUS, op_gig_reject, GIG_ID_ARGS},
    {"gig.cancel", WHO_USER | WHO_OPERATOR, OPF_BUS, op_gig_cancel, GIG_ID_ARGS},
    {"gig.handshake", WHO_USER | WHO_OPERATOR, OPF_BUS, op_gig_handshake, GIG_ID_ARGS},
    {"gig.start", WHO_USER | WHO_OPERATOR, OPF_BUS, op_gig_start, GIG_ID_ARGS},
    {"gig.stop", WHO_USER | WHO_OPERATOR, OPF_BUS, op_gig_stop, GIG_ID_ARGS},
    {"gig.rate", WHO_USER | WHO_OPERATOR, OPF_BUS, op_gig_rate, GIG_RATE_ARGS},
    {"gig.video_failed", WHO_USER | WHO_OPERATOR, OPF_BUS, op_gig_video_failed, GIG_VIDEO_FAILED_ARGS},
    {"gig.get", WHO_AUTHED, 0, op_gig_get, GIG_GET_ARGS},
    {"gig.list", WHO_AUTHED, 0, op_gig_list, GIG_LIST_ARGS},
    {"inbox.send", WHO_AUTHED, OPF_ACCOUNT, op_inbox_send, INBOX_SEND_ARGS},
    {"inbox.list", WHO_AUTHED, OPF_ACCOUNT, op_inbox_list, INBOX_LIST_ARGS},
    {"inbox.read", WHO_AUTHED, OPF_ACCOUNT, op_inbox_read, INBOX_READ_ARGS},
    {"job.save", WHO_AUTHED, OPF_ACCOUNT, op_job_save, JOB_SAVE_ARGS},
    {"job.list", WHO_AUTHED, OPF_ACCOUNT, op_job_list, JOB_LIST_ARGS},
    {"job.status", WHO_AUTHED, 0, op_job_status, JOB_STATUS_ARGS},
    {"storage.sign", WHO_AUTHED, 0, op_storage_sign, STORAGE_ARGS},
    {"push.send", WHO_AUTHED, OPF_BUS, op_push_send, PUSH_ARGS},
    {"log.write", WHO_AUTHED, 0, op_log_write, LOG_ARGS},
    /* devices and push to phones (ops_device.c) */
    {"device.register", WHO_AUTHED, OPF_ACCOUNT, op_device_register, DEVICE_REGISTER_ARGS},
    {"device.unregister", WHO_AUTHED, OPF_ACCOUNT, op_device_unregister, DEVICE_UNREGISTER_ARGS},
    {"offer.list", WHO_OPERATOR, OPF_ACCOUNT, op_offer_list, NO_ARGS},
    {"admin.stats", WHO_ADMIN, 0, op_admin_stats, NO_ARGS},
    {"admin.nodes", WHO_ADMIN, 0, op_admin_nodes, NO_ARGS},
    {"admin.sessions", WHO_ADMIN, 0, op_admin_sessions, NO_ARGS},
    {"admin.operators", WHO_ADMIN, 0, op_admin_operators, ADMIN_OPERATORS_ARGS},
    {"admin.gigs", WHO_ADMIN, 0, op_admin_gigs, ADMIN_GIGS_ARGS},
    {"admin.gig", WHO_ADMIN, OPF_BUS, op_admin_gig, ADMIN_GIG_ARGS},
    {"admin.tail", WHO_ADMIN, 0, op_admin_tail, ADMIN_TAIL_ARGS},
    {"admin.kick", WHO_ADMIN, 0, op_admin_kick, ADMIN_KICK_ARGS},
    {"admin.drain", WHO_ADMIN, 0, op_admin_drain, NO_ARGS},
    {"admin.cluster", WHO_ADMIN, 0, op_admin_cluster, ADMIN_CLUSTER_ARGS},
    {"admin.watch", WHO_ADMIN, 0, op_admin_watch, ADMIN_WATCH_ARGS},
    {"admin.map", WHO_ADMIN, 0, op_admin_map, ADMIN_MAP_ARGS},
};

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

/* The declared argument field of r's row, or NULL. */
static const struct op_arg *declared(const struct req *r, const char *field)
{
    for (const struct op_arg *a = r->op ? r->op->args : NULL; a && a->field; a++)
        if (strcmp(a->field, field) == 0) return a;
    return NULL;
}

/* The index of s in a NULL-terminated list, or -1. */
static int choice_of(const char *const *list, const char *s)
{
    for (int i = 0; s && list[i]; i++)
        if (strcmp(list[i], s) == 0) return i;
    return -1;
}

static bool ids_ok(const json_t *v, int64_t min, int64_t max)
{
    if (!json_is_array(v) || (int64_t)json_array_size(v) < min ||
        (int64_t)json_array_size(v) > max)
        return false;
    for (size_t i = 0; i < json_array_size(v); i++) {
        const char *s = json_string_value(json_array_get(v, i));
        if (!s || !id_valid(s)) return false;
    }
    return true;
}

/* Whether v (not NULL) is what a accepts. */
static bool arg_ok(const struct op_arg *a, const json_t *v)
{
    switch (a->type) {
    case ARG_ID: return json_is_string(v) && id_valid(json_string_value(v));
    case ARG_INT:
        return json_is_integer(v) && json_integer_value(v) >= a->min &&
               json_integer_value(v) <= a->max;
    case ARG_TIME: return json_is_integer(v) && json_integer_value(v) > 0;
    case ARG_STRING:
        return json_is_string(v) && (int64_t)json_string_length(v) >= a->min &&
               (int64_t)json_string_length(v) <= a->max;
    case ARG_NUMBER:
        return json_is_number(v) && isfinite(json_number_value(v)) &&
               json_number_value(v) >= (double)a->min && json_number_value(v) <= (double)a->max;
    case ARG_BOOL: return json_is_boolean(v);
    case ARG_ENUM: return choice_of(a->choices, json_string_value(v)) >= 0;
    case ARG_WORD: return json_is_string(v) && a->valid(json_string_value(v));
    case ARG_OBJECT: return json_is_object(v);
    case ARG_IDS: return ids_ok(v, a->min, a->max);
    }
    return false;
}

/* What a accepts, in words: "an integer 1..200". */
static void arg_words(const struct op_arg *a, char *out, size_t n)
{
    switch (a->type) {
    case ARG_ID: snprintf(out, n, "an ObjectId string"); break;
    case ARG_INT:
        if (a->max == INT64_MAX) snprintf(out, n, "an integer >= %" PRId64, a->min);
        else snprintf(out, n, "an integer %" PRId64 "..%" PRId64, a->min, a->max);
        break;
    case ARG_TIME: snprintf(out, n, "a time in ms since the epoch"); break;
    case ARG_STRING:
        if (a->max == INT64_MAX) snprintf(out, n, a->min > 0 ? "a non-empty string" : "a string");
        else snprintf(out, n, "a string of %" PRId64 "..%" PRId64 " bytes", a->min, a->max);
        break;
    case ARG_NUMBER: snprintf(out, n, "a number in [%" PRId64 ", %" PRId64 "]", a->min, a->max); break;
    case ARG_BOOL: snprintf(out, n, "true or false"); break;
    case ARG_ENUM: {
        size_t o = (size_t)snprintf(out, n, "one of");
        for (int i = 0; a->choices[i] && o < n; i++)
            o += (size_t)snprintf(out + o, n - o, "%s \"%s\"", i ? "," : "", a->choices[i]);
        break;
    }
    case ARG_WORD: snprintf(out, n, "%s", a->what); break;
    case ARG_OBJECT: snprintf(out, n, "an object"); break;
    case ARG_IDS:
        snprintf(out, n, "an array of %" PRId64 "..%" PRId64 " ObjectId strings", a->min, a->max);
        break;
    }
}

/* Checks r's data against the row's declared arguments: false (answered
 * bad_request naming the field) at the first mistake. The one place an
 * op's input is checked for shape; handlers check only their rules. */
static bool check_args(struct req *r, const struct op_arg *args)
{
    for (const struct op_arg *a = args; a && a->field; a++) {
        json_t *v = json_object_get(r->data, a->field);
        if (!v || json_is_null(v)) {
            if (!a->required) continue;
        } else if (arg_ok(a, v)) {
            continue;
        }
        char what[200];
        arg_words(a, what, sizeof what);
        /* "required" when it is missing, "expected" when it is wrong */
        req_fail(r, DROP_EBADREQ, "%s: %s is %s", a->field, what,
                 !v || json_is_null(v) ? "required" : "expected");
        return false;
    }
    return true;
}

bool ops_check_as(struct req *r, const char *name)
{
    const struct op_def *op = ops_find(name);
    return check_args(r, op ? op->args : NULL);
}

/* The value of a given argument, or NULL (absent or null). */
static json_t *given(const struct req *r, const char *field)
{
    json_t *v = json_object_get(r->data, field);
    return json_is_null(v) ? NULL : v;
}

bool op_arg_given(const struct req *r, const char *field) { return given(r, field) != NULL; }

int64_t op_arg_int(const struct req *r, const char *field, int64_t dflt)
{
    json_t *v = given(r, field);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

double op_arg_num(const struct req *r, const char *field, double dflt)
{
    json_t *v = given(r, field);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

bool op_arg_bool(const struct req *r, const char *field, bool dflt)
{
    json_t *v = given(r, field);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

const char *op_arg_str(const struct req *r, const char *field)
{
    return json_string_value(given(r, field));
}

int op_arg_enum(const struct req *r, const char *field, int dflt)
{
    const struct op_arg *a = declared(r, field);
    int i = a && a->type == ARG_ENUM ? choice_of(a->choices, op_arg_str(r, field)) : -1;
    return i >= 0 ? i : dflt;
}

json_t *op_arg_json(const struct req *r, const char *field) { return given(r, field); }

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
    if ((r->op->flags & OPF_ACCOUNT) && !r->who.account[0]) {
        req_fail(r, DROP_EBADREQ, "%s needs an account (the built-in admin has none)", r->op->name);
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
    if (!check_args(r, r->op->args)) return;
    r->op->handler(r);
}
