/* ops_admin.c - the inspector ops an admin (and dropctl) uses: stats, nodes,
 * sessions, operators, gigs, tail, kick, drain, and the admin-only gig actions
 * (terminate, invoice, video failure).
 *
 * What only the node knows (its sessions, its peers, its counters) comes
 * through the inspect port; operators come from this node's grid, which holds
 * the whole cluster's; gigs from the store. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/gig_json.h"
#include "engine/log.h"
#include "engine/mem.h"
#include "engine/ops_handlers.h"
#include "engine/presence.h"
#include "engine/store.h"

#define ADMIN_LIST_MAX 1000

static void inspect(struct req *r, const char *what)
{
    json_t *out = r->eng->ports.inspect(r->eng->ports.ctx, what, r->data);
    if (!out) req_fail(r, DROP_EBADREQ, "bad arguments for admin.%s", what);
    else req_reply(r, out);
}

void op_admin_stats(struct req *r) { inspect(r, "stats"); }
void op_admin_nodes(struct req *r) { inspect(r, "nodes"); }
void op_admin_sessions(struct req *r) { inspect(r, "sessions"); }

struct op_list {
    json_t *out;
    size_t max;
};

static json_t *operator_json(const struct presence_state *s, double dist)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:f,s:f,s:b,s:b,s:b,s:f}", "id", s->account, "node", s->node,
                          "firstName", s->name, "latitude", s->lat, "longitude", s->lon,
                          "available", s->available, "busy", s->busy, "locked", s->locked,
                          "operatorRating", s->rating);
    if (dist >= 0) json_object_set_new(o, "distance", json_real(round(dist * 10) / 10));
    return o;
}

static void add_operator(const struct presence_state *s, void *ud)
{
    struct op_list *l = ud;
    if (json_array_size(l->out) < l->max) json_array_append_new(l->out, operator_json(s, -1));
}

/* admin.operators {limit?} -> every operator on the grid (free or not). */
void op_admin_operators(struct req *r)
{
    json_t *lim = json_object_get(r->data, "limit");
    struct op_list l = {json_array(), 200};
    if (json_is_integer(lim) && json_integer_value(lim) >= 1 &&
        json_integer_value(lim) <= ADMIN_LIST_MAX)
        l.max = (size_t)json_integer_value(lim);
    else if (lim && !json_is_null(lim)) {
        json_decref(l.out);
        req_fail(r, DROP_EBADREQ, "limit: an integer 1..%d is expected", ADMIN_LIST_MAX);
        return;
    }
    presence_foreach(r->eng->presence, add_operator, &l);
    req_reply(r, l.out);
}

static void add_line(unsigned long long seq, const char *line, void *ud)
{
    json_array_append_new(ud, json_pack("{s:I,s:s}", "seq", (json_int_t)seq, "line", line));
}

/* admin.tail {after?, limit?} -> {lines: [{seq, line}], last}: this node's
 * log lines (those at log_level or above; the last LOG_RING_LINES are
 * kept), oldest first, at most `limit` (default 100): the newest ones, or
 * with `after` the first ones after that sequence number. Polling with
 * after = the last seq received follows the log. */
void op_admin_tail(struct req *r)
{
    json_t *after = json_object_get(r->data, "after"), *lim = json_object_get(r->data, "limit");
    json_int_t a = 0, l = 100;
    if (after && !json_is_null(after)) {
        if (!json_is_integer(after) || json_integer_value(after) < 0) {
            req_fail(r, DROP_EBADREQ, "after: a sequence number >= 0 is expected");
            return;
        }
        a = json_integer_value(after);
    }
    if (lim && !json_is_null(lim)) {
        if (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
            json_integer_value(lim) > LOG_RING_LINES) {
            req_fail(r, DROP_EBADREQ, "limit: an integer 1..%d is expected", LOG_RING_LINES);
            return;
        }
        l = json_integer_value(lim);
    }
    json_t *lines = json_array();
    unsigned long long last = log_tail((unsigned long long)a, (int)l, add_line, lines);
    req_reply(r, json_pack("{s:o,s:I}", "lines", lines, "last", (json_int_t)last));
}

/* admin.kick {accountId} -> {}: every session of the account closes (4401). */
void op_admin_kick(struct req *r)
{
    json_t *id = json_object_get(r->data, "accountId");
    if (!json_is_string(id) || !id_valid(json_string_value(id))) {
        req_fail(r, DROP_EBADREQ, "accountId: an ObjectId string is required");
        return;
    }
    r->eng->ports.close_account(r->eng->ports.ctx, json_string_value(id));
    req_reply(r, NULL);
}

/* admin.drain {} -> {}: this node closes its sessions with 1001 and stops. */
void op_admin_drain(struct req *r)
{
    struct engine *e = r->eng;
    req_reply(r, NULL);
    e->ports.drain(e->ports.ctx);
}

struct gigs_job {
    struct gig_filter f;
    char account[DROP_ID_SIZE];
    json_t *out;
    drop_err rc;
};

static void gigs_work(struct engine *e, void *arg)
{
    struct gigs_job *j = arg;
    struct gig *arr = NULL;
    size_t n = 0;
    j->rc = store_gig_list(e->store, &j->f, &arr, &n);
    if (j->rc) return;
    j->out = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(j->out, gig_to_json(&arr[i]));
    gig_array_free(arr, n);
}

static void gigs_done(struct engine *e, struct req *r, void *arg)
{
    struct gigs_job *j = arg;
    (void)e;
    if (j->rc) req_fail(r, j->rc, "store error");
    else req_reply(r, j->out);
    free(j);
}

/* admin.gigs {status?, accountId?, limit?} -> [gig] newest first. */
void op_admin_gigs(struct req *r)
{
    struct gigs_job *j = xcalloc(1, sizeof *j);
    json_t *st = json_object_get(r->data, "status"), *acc = json_object_get(r->data, "accountId");
    json_t *lim = json_object_get(r->data, "limit");
    j->f.limit = 50;
    if (st && !json_is_null(st)) {
        if (!json_is_string(st) || gig_status_parse(json_string_value(st), &j->f.status) != DROP_OK) {
            req_fail(r, DROP_EBADREQ, "status: one of the gig statuses is expected");
            goto fail;
        }
        j->f.has_status = true;
    }
    if (acc && !json_is_null(acc)) {
        if (!json_is_string(acc) || !id_valid(json_string_value(acc))) {
            req_fail(r, DROP_EBADREQ, "accountId: an ObjectId string is expected");
            goto fail;
        }
        snprintf(j->account, sizeof j->account, "%s", json_string_value(acc));
        j->f.account = j->account;
    }
    if (lim && !json_is_null(lim)) {
        if (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
            json_integer_value(lim) > GIG_LIST_MAX) {
            req_fail(r, DROP_EBADREQ, "limit: an integer 1..%d is expected", GIG_LIST_MAX);
            goto fail;
        }
        j->f.limit = (int)json_integer_value(lim);
    }
    r->eng->ports.job(r->eng->ports.ctx, r, gigs_work, gigs_done, j);
    return;
fail:
    free(j);
}
