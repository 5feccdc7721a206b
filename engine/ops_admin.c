/* ops_admin.c - the inspector ops an admin (and dropctl) uses: stats, nodes,
 * sessions, operators, gigs, tail, kick, drain, one gig with its timeline,
 * the whole cluster's answers (admin.cluster), live watches (admin.watch)
 * and the density map (admin.map). The admin-only gig actions (terminate,
 * invoice, video failure) are in ops_gig.c.
 *
 * What only the node knows (its sessions, its peers, its counters) comes
 * through the inspect port; asking the other nodes and pushing watched
 * events are the adapter's (the admin_cluster and admin_watch ports);
 * operators come from this node's grid, which holds the whole cluster's;
 * gigs from the store. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/geo.h"
#include "engine/gig_json.h"
#include "engine/gig_record.h"
#include "engine/log.h"
#include "engine/mem.h"
#include "engine/ops.h"
#include "engine/ops_handlers.h"
#include "engine/presence.h"
#include "engine/store.h"
#include "engine/timefmt.h"


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
    struct op_list l = {json_array(), (size_t)op_arg_int(r, "limit", 200)};
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
    int64_t a = op_arg_int(r, "after", 0), l = op_arg_int(r, "limit", 100);
    json_t *lines = json_array();
    unsigned long long last = log_tail((unsigned long long)a, (int)l, add_line, lines);
    req_reply(r, json_pack("{s:o,s:I}", "lines", lines, "last", (json_int_t)last));
}

/* admin.kick {accountId} -> {}: every session of the account closes (4401). */
void op_admin_kick(struct req *r)
{
    r->eng->ports.close_account(r->eng->ports.ctx, op_arg_str(r, "accountId"));
    req_reply(r, NULL);
}

/* admin.drain {} -> {}: this node closes its sessions with 1001 and stops. */
void op_admin_drain(struct req *r)
{
    struct engine *e = r->eng;
    req_reply(r, NULL);
    e->ports.drain(e->ports.ctx);
}

struct gigs_task {
    struct gig_filter f;
    char account[DROP_ID_SIZE];
    json_t *out;
    drop_err rc;
};

static void gigs_work(struct engine *e, void *arg)
{
    struct gigs_task *j = arg;
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
    struct gigs_task *j = arg;
    (void)e;
    if (j->rc) req_fail(r, j->rc, "store error");
    else req_reply(r, j->out);
    free(j);
}

/* admin.gigs {status?, accountId?, limit?} -> [gig] newest first. */
void op_admin_gigs(struct req *r)
{
    struct gigs_task *j = xcalloc(1, sizeof *j);
    const char *st = op_arg_str(r, "status"), *acc = op_arg_str(r, "accountId");
    j->f.limit = (int)op_arg_int(r, "limit", 50);
    j->f.has_status = st && gig_status_parse(st, &j->f.status) == DROP_OK;
    if (acc) {
        snprintf(j->account, sizeof j->account, "%s", acc);
        j->f.account = j->account;
    }
    r->eng->ports.run_task(r->eng->ports.ctx, r, gigs_work, gigs_done, j);
}

/* ---- the whole cluster ---- */

#define CLUSTER_TIMEOUT_DEFAULT 2000

/* admin.cluster {what: "stats"|"nodes"|"sessions"|"operators", args?, node?,
 * timeout? (ms, 100..60000, default 2000)} -> [{node, status: "ok" |
 * "timeout" | "error", data?, error?}]: what every node of the cluster (or
 * only `node`) answers for itself, this node first. A directed request on
 * node.<id> per node; a node that does not answer within the timeout is
 * listed with status "timeout", never waited on longer. */
void op_admin_cluster(struct req *r)
{
    r->eng->ports.admin_cluster(r->eng->ports.ctx, r, op_arg_str(r, "what"), op_arg_json(r, "args"),
                                op_arg_str(r, "node"),
                                (int)op_arg_int(r, "timeout", CLUSTER_TIMEOUT_DEFAULT));
}

/* ---- live watching ---- */

static void watch_done(struct engine *e, struct req *r, struct gig_read *t)
{
    if (t->rc == DROP_ENOTFOUND) req_fail(r, DROP_ENOTFOUND, "no gig %s", t->id);
    else if (t->rc) req_fail(r, t->rc, "store error");
    else e->ports.admin_watch(e->ports.ctx, r, t->g.customer, t->id, 0);
}

/* admin.watch {gigId} | {accountId} | {log: true, after?} -> {}: from now on
 * this session gets the events of the gig (every gig event reaches its
 * customer's channel), or of the account, as `admin.watch` events
 * {account, event}; or this node's new log lines as `admin.log` events
 * {lines: [{seq, line}]} (those after `after`). Pushed until the session
 * closes; a session holds at most a few watches. */
void op_admin_watch(struct req *r)
{
    const char *gig = op_arg_str(r, "gigId"), *acc = op_arg_str(r, "accountId");
    bool log = op_arg_bool(r, "log", false);
    if ((gig != NULL) + (acc != NULL) + log != 1) {
        req_fail(r, DROP_EBADREQ, "gigId, accountId, log: exactly one of them is expected");
        return;
    }
    if (log)
        r->eng->ports.admin_watch(r->eng->ports.ctx, r, NULL, NULL,
                                  (long long)op_arg_int(r, "after", (int64_t)log_tail(0, 0, NULL, NULL)));
    else if (acc)
        r->eng->ports.admin_watch(r->eng->ports.ctx, r, acc, NULL, 0);
    else
        gig_read(r->eng, r, gig, watch_done);
}

/* ---- the density map ---- */

#define MAP_CELLS_DEFAULT 21
#define MAP_RADIUS_DEFAULT 2000.0

/* admin.map {lat, lng, radius? (m, default 2000, at most 200 km), cells?
 * (per side, odd, 3..61, default 21)} -> {lat, lng, radius, cells,
 * cellMeters, free: [[n]], busy: [[n]], totalFree, totalBusy}: counts of
 * free and busy (or locked, or away) operators in a cells x cells square
 * centred on the point, row 0 the northernmost, column 0 the westernmost,
 * on a local flat projection. One within-radius query of the grid (its
 * cost bounded by the grid's non-empty cells). */
void op_admin_map(struct req *r)
{
    /* declared in the op table: lat, lng, radius? (10..MAP_RADIUS_MAX),
     * cells? (3..MAP_CELLS_MAX) */
    double lat = op_arg_num(r, "lat", 0), lng = op_arg_num(r, "lng", 0);
    double radius = op_arg_num(r, "radius", MAP_RADIUS_DEFAULT);
    double cellsd = op_arg_num(r, "cells", MAP_CELLS_DEFAULT);
    if (cellsd != floor(cellsd)) {
        req_fail(r, DROP_EBADREQ, "cells: an integer 3..%d is expected", MAP_CELLS_MAX);
        return;
    }
    int n = (int)cellsd | 1; /* odd: the point is a cell's centre */
    if (n > MAP_CELLS_MAX) n -= 2;
    double cell = 2 * radius / n;
    int *fc = xcalloc((size_t)(n * n), sizeof *fc), *bc = xcalloc((size_t)(n * n), sizeof *bc);
    struct presence_hit *hits = NULL;
    size_t nh = 0;
    json_int_t tf = 0, tb = 0;
    /* the square's corners are radius * sqrt(2) away */
    presence_within(r->eng->presence, lat, lng, radius * 1.4143, &hits, &nh);
    for (size_t i = 0; i < nh; i++) {
        const struct presence_state *s = hits[i].state;
        double dlon = s->lon - lng;
        if (dlon > 180) dlon -= 360;
        if (dlon < -180) dlon += 360;
        double dy = (s->lat - lat) * (M_PI / 180) * 6371008.8;
        double dx = dlon * (M_PI / 180) * 6371008.8 * cos(lat * M_PI / 180);
        int x = (int)floor((dx + radius) / cell), y = (int)floor((radius - dy) / cell);
        if (x < 0 || x >= n || y < 0 || y >= n) continue;
        bool fr = s->available && !s->busy && !s->locked;
        if (fr) fc[y * n + x]++, tf++;
        else bc[y * n + x]++, tb++;
    }
    free(hits);
    json_t *jf = json_array(), *jb = json_array();
    for (int y = 0; y < n; y++) {
        json_t *rf = json_array(), *rb = json_array();
        for (int x = 0; x < n; x++) {
            json_array_append_new(rf, json_integer(fc[y * n + x]));
            json_array_append_new(rb, json_integer(bc[y * n + x]));
        }
        json_array_append_new(jf, rf);
        json_array_append_new(jb, rb);
    }
    free(fc);
    free(bc);
    req_reply(r, json_pack("{s:f,s:f,s:f,s:i,s:f,s:o,s:o,s:I,s:I}", "lat", lat, "lng", lng, "radius",
                           radius, "cells", n, "cellMeters", cell, "free", jf, "busy", jb,
                           "totalFree", tf, "totalBusy", tb));
}

/* ---- one gig, with its timeline ---- */

static json_t *id_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

static void show_done(struct engine *e, struct req *r, struct gig_read *j)
{
    (void)e;
    if (j->rc == DROP_ENOTFOUND) {
        req_fail(r, DROP_ENOTFOUND, "no gig %s", j->id);
    } else if (j->rc) {
        req_fail(r, j->rc, "store error");
    } else {
        json_t *out = gig_to_json(&j->g), *offers = json_array(), *tl = json_array();
        for (int i = 0; i < j->g.n_offers; i++) {
            const struct gig_offer *o = &j->g.offers[i];
            json_array_append_new(offers, json_pack("{s:s,s:s,s:i,s:f,s:o,s:o}", "operator", o->operator,
                                                    "state", gig_offer_state_name(o->state), "wave",
                                                    o->wave, "distance", round(o->distance_m * 10) / 10,
                                                    "offeredAt", timefmt_json(o->offered_at),
                                                    "expiresAt", timefmt_json(o->expires_at)));
        }
        for (int i = 0; i < j->g.n_events; i++) {
            const struct gig_event *ev = &j->g.events[i];
            json_array_append_new(tl, json_pack("{s:o,s:s,s:s,s:I,s:s,s:o}", "at", timefmt_json(ev->at),
                                                "event", ev->what, "status", gig_status_name(ev->status),
                                                "version", (json_int_t)ev->version, "role",
                                                gig_role_name(ev->role), "actor", id_or_null(ev->actor)));
        }
        json_object_set_new(out, "offers", offers);
        json_object_set_new(out, "timeline", tl);
        req_reply(r, out);
    }
}

/* admin.gig {gigId} (no action) -> the gig with `offers` [{operator, state,
 * wave, distance, offeredAt, expiresAt}] and `timeline` [{at, event,
 * status, version, role, actor}], oldest first: every action applied to it
 * (create, claim_accept, claim_reject, confirm, ..., deadline) and every
 * offer sent, expired or revoked, as stored on the gig record (the last
 * GIG_TIMELINE_MAX entries, the creation always kept). */
void op_admin_gig_show(struct req *r)
{
    gig_read(r->eng, r, op_arg_str(r, "gigId"), show_done);
}
