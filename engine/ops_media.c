/* ops_media.c - storage.sign (upload URLs) and push.send (notifications).
 *
 * storage.sign asks the blob signer port for a presigned PUT URL under a key
 * the server chooses: profileImage/<account>/<new id>, chat/<account>/<new id>
 * or gig/<gigId>/<new id>; a gig key needs the caller to be a party of the gig
 * (read in a task). Without a configured signer the op is `unavailable`.
 *
 * push.send lets an admin, or a party of a live gig with the recipient (read
 * in a task), send {from, data} to an account. The event `push` always goes
 * through the push port, so it reaches the recipient's sessions on every
 * node; the reply says how it was delivered (PROTOCOL.md section 6):
 * "socket" when some node holds a session of the recipient, otherwise
 * "push" when a push provider accepted it for one of its devices (or the
 * webhook answered 2xx), otherwise "none". A recipient that does not exist
 * or is archived is not_found (checked after the live-gig rule, so a
 * non-admin learns nothing of accounts it has no gig with). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/account.h"
#include "engine/engine.h"
#include "engine/log.h"
#include "engine/mem.h"
#include "engine/ops.h"
#include "engine/ops_handlers.h"
#include "engine/store.h"
#include "engine/timefmt.h"

#define MEDIA_URL_MAX 4096
#define MEDIA_CTYPE_MAX 127
#define PUSH_DATA_MAX 8192 /* bytes of compact JSON; push providers take ~4 KiB */

struct media_task {
    struct req *r;
    char account[DROP_ID_SIZE];   /* the caller */
    char gig_id[DROP_ID_SIZE];    /* storage.sign of a gig */
    char recipient[DROP_ID_SIZE]; /* push.send */
    char type[16];
    char ctype[MEDIA_CTYPE_MAX + 1];
    bool admin;
    json_t *data;                 /* push.send's data; loop thread only */
    drop_err err;
    char why[120];
};

static void media_task_free(struct media_task *j)
{
    json_decref(j->data);
    free(j);
}

/* ---- storage.sign ---- */

static bool tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A media type without parameters: token "/" token (RFC 9110). */
static bool ctype_valid(const char *s)
{
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || !slash[1]) return false;
    for (const char *p = s; *p; p++)
        if (p != slash && !tchar(*p)) return false;
    return true;
}

/* Signs a new key under prefix/owner/ and answers r. */
static void sign_reply(struct req *r, const char *type, const char *owner, const char *ctype)
{
    struct engine *e = r->eng;
    char oid[DROP_ID_SIZE], key[128];
    char *url = xmalloc(MEDIA_URL_MAX);
    int64_t expires = 0;
    drop_err rc;

    e->crypto.oid_new(oid);
    snprintf(key, sizeof key, "%s/%s/%s", type, owner, oid);
    rc = e->blob.sign_put(e->blob.ctx, key, ctype[0] ? ctype : NULL, engine_now(e), url,
                          MEDIA_URL_MAX, &expires);
    if (rc != DROP_OK) {
        log_error("event=storage_sign_failed key=%s err=%s", key, err_code(rc));
        req_fail(r, DROP_EINTERNAL, "the upload URL could not be signed");
        goto done;
    }
    json_t *headers = json_object();
    if (ctype[0]) json_object_set_new(headers, "Content-Type", json_string(ctype));
    log_info("event=storage_signed account=%s key=%s", r->who.account[0] ? r->who.account : "-",
             key);
    req_reply(r, json_pack("{s:s,s:s,s:o,s:s,s:o}", "url", url, "method", "PUT", "headers",
                           headers, "key", key, "expiresAt", timefmt_json(expires)));
done:
    free(url);
}

static void gig_party_work(struct engine *e, void *arg)
{
    struct media_task *j = arg;
    struct gig g;
    gig_init(&g);
    drop_err rc = store_gig_get(e->store, j->gig_id, &g);
    if (rc == DROP_OK && !j->admin && strcmp(g.customer, j->account) != 0 &&
        strcmp(g.operator, j->account) != 0)
        rc = DROP_ENOTFOUND; /* only the parties see a gig */
    if (rc == DROP_ENOTFOUND) {
        j->err = rc;
        snprintf(j->why, sizeof j->why, "no such gig");
    } else if (rc) {
        j->err = DROP_EUNAVAIL;
        snprintf(j->why, sizeof j->why, "the store is unavailable, retry later");
    }
    gig_free(&g);
}

static void gig_party_done(struct engine *e, struct req *r, void *arg)
{
    struct media_task *j = arg;
    (void)e;
    if (j->err) req_fail(r, j->err, "%s", j->why);
    else sign_reply(r, j->type, j->gig_id, j->ctype);
    media_task_free(j);
}

/* storage.sign {type, gigId?, contentType?} -> {url, method, headers, key,
 * expiresAt}. */
void op_storage_sign(struct req *r)
{
    struct engine *e = r->eng;
    /* declared in the op table: type (one of the three), contentType? (a
     * string); gigId matters only for type gig, so it is checked here */
    const char *t = op_arg_str(r, "type"), *gig = op_arg_str(r, "gigId");
    const char *ctype = op_arg_str(r, "contentType");

    if (ctype && strlen(ctype) > MEDIA_CTYPE_MAX) {
        req_fail(r, DROP_ETOOLARGE, "contentType: at most %d bytes", MEDIA_CTYPE_MAX);
        return;
    }
    if (ctype && !ctype_valid(ctype)) {
        req_fail(r, DROP_EBADREQ, "contentType: a media type like image/jpeg is expected");
        return;
    }
    if (!ctype) ctype = "";
    if (strcmp(t, "gig") == 0 && (!gig || !id_valid(gig))) {
        req_fail(r, DROP_EBADREQ, "gigId: an ObjectId string is required for type gig");
        return;
    }
    if (!e->blob.sign_put) {
        req_fail(r, DROP_EUNAVAIL, "storage is not configured on this server");
        return;
    }
    if (strcmp(t, "gig") != 0) {
        if (!r->who.account[0]) {
            req_fail(r, DROP_EFORBIDDEN, "%s uploads need an account session", t);
            return;
        }
        sign_reply(r, t, r->who.account, ctype);
        return;
    }
    struct media_task *j = xcalloc(1, sizeof *j);
    j->r = r;
    memcpy(j->account, r->who.account, DROP_ID_SIZE);
    snprintf(j->gig_id, sizeof j->gig_id, "%s", gig);
    snprintf(j->type, sizeof j->type, "%s", t);
    snprintf(j->ctype, sizeof j->ctype, "%s", ctype);
    j->admin = r->who.role == ROLE_ADMIN;
    e->ports.run_task(e->ports.ctx, r, gig_party_work, gig_party_done, j);
}

/* ---- push.send ---- */

static void push_reply(struct req *r, const char *how)
{
    req_reply(r, json_pack("{s:s}", "delivered", how));
}

static void push_delivered(void *ud, const char *how)
{
    push_reply(ud, how);
}

/* Delivers the event and answers j->r; frees j. */
static void push_deliver(struct engine *e, struct media_task *j)
{
    struct req *r = j->r;
    json_t *from = j->account[0] ? json_string(j->account) : json_null();
    json_t *ev = json_pack("{s:s,s:{s:o,s:O}}", "ev", "push", "data", "from", from, "data",
                           j->data);
    log_info("event=push_send from=%s to=%s", j->account[0] ? j->account : "-", j->recipient);
    if (e->push.deliver) {
        char to[DROP_ID_SIZE];
        memcpy(to, j->recipient, DROP_ID_SIZE);
        media_task_free(j);
        /* the last step: done may answer r before deliver returns */
        e->push.deliver(e->push.ctx, to, ev, push_delivered, r);
        return;
    }
    e->ports.deliver(e->ports.ctx, j->recipient, ev);
    bool here = e->ports.has_session && e->ports.has_session(e->ports.ctx, j->recipient);
    media_task_free(j);
    push_reply(r, here ? "socket" : "none");
}

static void push_check_work(struct engine *e, void *arg)
{
    struct media_task *j = arg;
    struct gig *arr = NULL;
    size_t n = 0;
    bool ok = j->admin;
    drop_err rc = j->admin ? DROP_OK : store_gig_for_account(e->store, j->account, &arr, &n);
    if (rc) {
        j->err = DROP_EUNAVAIL;
        snprintf(j->why, sizeof j->why, "the store is unavailable, retry later");
        return;
    }
    for (size_t i = 0; i < n && !ok; i++) {
        const struct gig *g = &arr[i];
        if (!gig_status_live(g->status) || !g->operator[0]) continue;
        ok = (strcmp(g->customer, j->account) == 0 && strcmp(g->operator, j->recipient) == 0) ||
             (strcmp(g->operator, j->account) == 0 && strcmp(g->customer, j->recipient) == 0);
    }
    gig_array_free(arr, n);
    if (!ok) {
        j->err = DROP_EFORBIDDEN;
        snprintf(j->why, sizeof j->why, "push.send needs a live gig with the recipient");
        return;
    }
    /* the recipient must be an active account (an admin may name any id) */
    struct account a;
    account_init(&a);
    rc = store_account_get(e->store, j->recipient, &a);
    if (rc == DROP_ENOTFOUND || (rc == DROP_OK && strcmp(a.status, "active") != 0)) {
        j->err = DROP_ENOTFOUND;
        snprintf(j->why, sizeof j->why, "recipientId: no such account");
    } else if (rc) {
        j->err = DROP_EUNAVAIL;
        snprintf(j->why, sizeof j->why, "the store is unavailable, retry later");
    }
    account_free(&a);
}

static void push_check_done(struct engine *e, struct req *r, void *arg)
{
    struct media_task *j = arg;
    if (j->err) {
        req_fail(r, j->err, "%s", j->why);
        media_task_free(j);
        return;
    }
    push_deliver(e, j);
}

/* push.send {recipientId, data} -> {delivered: "socket" | "push" | "none"}. */
void op_push_send(struct req *r)
{
    struct engine *e = r->eng;
    /* declared in the op table: recipientId, data? (an object, the
     * sender's own payload) */
    json_t *data = op_arg_json(r, "data");
    struct media_task *j;

    if (data) {
        char *text = json_dumps(data, JSON_COMPACT);
        size_t len = text ? strlen(text) : 0;
        free(text);
        if (len > PUSH_DATA_MAX) {
            req_fail(r, DROP_ETOOLARGE, "data: at most %d bytes of JSON", PUSH_DATA_MAX);
            return;
        }
    }
    j = xcalloc(1, sizeof *j);
    j->r = r;
    memcpy(j->account, r->who.account, DROP_ID_SIZE);
    snprintf(j->recipient, sizeof j->recipient, "%s", op_arg_str(r, "recipientId"));
    j->data = data ? json_deep_copy(data) : json_object();
    j->admin = r->who.role == ROLE_ADMIN;
    e->ports.run_task(e->ports.ctx, r, push_check_work, push_check_done, j);
}
