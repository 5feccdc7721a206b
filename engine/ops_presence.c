/* ops_presence.c - operators' positions and the map: presence.update,
 * presence.offline, map.nearby, and what happens when an operator's last
 * session ends.
 *
 * Presence is soft state on the loop thread (engine/presence.h). The first
 * update of an operator reads their account once (first name for the map,
 * rating, and whether they owe a rating) in a task; later updates touch only
 * memory. An operator who becomes free near a pending gig is offered it
 * (gig_operator_free). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/account.h"
#include "engine/engine.h"
#include "engine/gig.h"
#include "engine/mem.h"
#include "engine/ops.h"
#include "engine/ops_handlers.h"
#include "engine/presence.h"
#include "engine/store.h"

#define NEARBY_DEFAULT_LIMIT 20

/* The profile read of an operator's first update. */
struct profile_task {
    char account[DROP_ID_SIZE];
    char name[48];
    double rating;
    bool locked;
    bool busy;   /* the operator of a live gig (known to the store, e.g. after a restart) */
    drop_err rc;
};

static void profile_work(struct engine *e, void *arg)
{
    struct profile_task *p = arg;
    struct account a;
    account_init(&a);
    p->rc = store_account_get(e->store, p->account, &a);
    if (p->rc == DROP_OK) {
        snprintf(p->name, sizeof p->name, "%s", a.first_name ? a.first_name : "");
        p->rating = a.operator_rating;
        p->rc = store_gig_unrated(e->store, p->account, &p->locked);
    }
    if (p->rc == DROP_OK) {
        struct gig *arr = NULL;
        size_t n = 0;
        if (store_gig_for_account(e->store, p->account, &arr, &n) == DROP_OK) {
            for (size_t i = 0; i < n; i++)
                if (strcmp(arr[i].operator, p->account) == 0 && gig_status_busy(arr[i].status))
                    p->busy = true;
            gig_array_free(arr, n);
        }
    }
    account_free(&a);
}

static void profile_done(struct engine *e, struct req *r, void *arg)
{
    struct profile_task *p = arg;
    (void)r;
    if (p->rc == DROP_OK && presence_get(e->presence, p->account)) {
        presence_set_name(e->presence, p->account, p->name);
        presence_set_rating(e->presence, p->account, p->rating >= 0 ? p->rating : 0);
        presence_set_locked(e->presence, p->account, p->locked);
        presence_set_busy(e->presence, p->account, p->busy);
        e->ports.presence_changed(e->ports.ctx, p->account);
        gig_operator_free(e, p->account, NULL);
        /* a gig created meanwhile is not in the pending cache yet: it
         * offers this operator when it lands there */
        unsigned k = ++e->recent_free_count % 16;
        memcpy(e->recent_free[k], p->account, DROP_ID_SIZE);
        e->recent_free_seq[k] = e->recent_free_count;
    }
    free(p);
}

void op_presence_update(struct req *r)
{
    struct engine *e = r->eng;
    /* declared in the op table: latitude, longitude, accuracy?, heading?, available? */
    double lat = op_arg_num(r, "latitude", NAN), lon = op_arg_num(r, "longitude", NAN);
    double acc = op_arg_num(r, "accuracy", NAN), heading = op_arg_num(r, "heading", NAN);
    const struct presence_state *prev = presence_get(e->presence, r->who.account);
    bool available = op_arg_bool(r, "available", prev ? prev->available : true);
    /* where it stood while already free: only what changes is news for
     * the pending gigs (prev is updated in place below) */
    bool was_free = prev && prev->available && !prev->busy && !prev->locked;
    struct late_join_from was = {prev ? prev->lat : 0, prev ? prev->lon : 0};

    drop_err rc = presence_update(e->presence, r->who.account, e->set.node_id, lat, lon, acc,
                                  heading, available, engine_now(e));
    if (rc) {
        req_fail(r, rc, "invalid position");
        return;
    }
    e->ports.presence_changed(e->ports.ctx, r->who.account);
    if (!prev) { /* first sight: learn name, rating and rating lock, then match */
        struct profile_task *p = xcalloc(1, sizeof *p);
        memcpy(p->account, r->who.account, DROP_ID_SIZE);
        presence_set_locked(e->presence, r->who.account, true); /* until known */
        e->ports.run_task(e->ports.ctx, NULL, profile_work, profile_done, p);
    } else {
        /* moved into range or became free: pending gigs are offered */
        gig_operator_free(e, r->who.account, was_free ? &was : NULL);
    }
    req_reply(r, NULL);
}

void op_presence_offline(struct req *r)
{
    presence_remove(r->eng->presence, r->who.account);
    r->eng->ports.presence_changed(r->eng->ports.ctx, r->who.account);
    req_reply(r, NULL);
}

void op_map_nearby(struct req *r)
{
    struct engine *e = r->eng;
    /* declared in the op table: latitude, longitude, radius?, limit? */
    double lat = op_arg_num(r, "latitude", 0), lon = op_arg_num(r, "longitude", 0);
    double radius = op_arg_num(r, "radius", e->policy.dispatch_radius_m);
    double limit = op_arg_num(r, "limit", NEARBY_DEFAULT_LIMIT);
    struct presence_hit hits[NEARBY_MAX_LIMIT];
    size_t n = 0;

    if (presence_nearest_free(e->presence, lat, lon, radius, (size_t)limit,
                              r->who.account[0] ? r->who.account : NULL, hits, &n) != DROP_OK) {
        req_fail(r, DROP_EBADREQ, "invalid position");
        return;
    }
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct presence_state *s = hits[i].state;
        json_array_append_new(out, json_pack("{s:s,s:s,s:f,s:f,s:f,s:f}", "id", s->account,
                                             "firstName", s->name, "latitude", s->lat, "longitude",
                                             s->lon, "distance", round(hits[i].dist_m * 10) / 10,
                                             "operatorRating", s->rating));
    }
    req_reply(r, out);
}

void engine_session_ended(struct engine *e, const char *account, enum role role, bool last)
{
    if (role == ROLE_OPERATOR && last && presence_remove(e->presence, account) == DROP_OK)
        e->ports.presence_changed(e->ports.ctx, account);
}
