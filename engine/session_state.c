/* session_state.c - builds the session.state snapshot (see session_state.h).
 *
 * gigs: the account's live gigs (pendingOperator .. streaming) and the
 * purchased ones it has not rated yet (it must rate them before anything
 * else); offers: the gig.offer data of every offer still open to it;
 * unread: its unread inbox messages (0 when the store cannot say). */
#include <string.h>

#include "engine/account_json.h"
#include "engine/engine.h"
#include "engine/gig_json.h"
#include "engine/session_state.h"
#include "engine/store.h"

/* True when the account has rated g (each party rates the other). */
static bool rated_by(const struct gig *g, const char *account)
{
    if (strcmp(g->customer, account) == 0) return g->operator_rating != 0;
    return g->customer_rating != 0;
}

/* The gig.offer data of account's open offer on g, or NULL. */
static json_t *open_offer(struct engine *e, const struct gig *g, const char *account)
{
    int k = gig_find_offer(g, account);
    if (g->status != GIG_PENDING_OPERATOR || k < 0 || g->offers[k].state != OFFER_OPEN)
        return NULL;
    struct account c;
    account_init(&c);
    bool have = store_account_get(e->store, g->customer, &c) == DROP_OK;
    json_t *o = gig_offer_json(g, &g->offers[k], have && c.first_name ? c.first_name : "",
                               have ? c.customer_rating : -1);
    account_free(&c);
    return o;
}

drop_err session_state_offers(struct engine *e, const char *account, json_t **out)
{
    struct gig *arr = NULL;
    size_t n = 0;
    drop_err rc = store_gig_for_account(e->store, account, &arr, &n);
    if (rc != DROP_OK) return rc;
    json_t *offers = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = open_offer(e, &arr[i], account);
        if (o) json_array_append_new(offers, o);
    }
    gig_array_free(arr, n);
    *out = offers;
    return DROP_OK;
}

json_t *session_state_build(struct engine *e, const struct account *a)
{
    json_t *gigs = json_array(), *offers = json_array();
    struct gig *arr = NULL;
    size_t n = 0;
    int64_t unread = 0;

    if (store_gig_for_account(e->store, a->id, &arr, &n) == DROP_OK) {
        for (size_t i = 0; i < n; i++) {
            const struct gig *g = &arr[i];
            bool party = strcmp(g->customer, a->id) == 0 || strcmp(g->operator, a->id) == 0;
            if (party && (gig_status_live(g->status) ||
                          (g->status == GIG_PURCHASED && !rated_by(g, a->id)))) {
                json_array_append_new(gigs, gig_to_json(g));
                continue;
            }
            json_t *o = open_offer(e, g, a->id);
            if (o) json_array_append_new(offers, o);
        }
        gig_array_free(arr, n);
    }
    if (store_message_unread(e->store, a->id, &unread) != DROP_OK) unread = 0;
    return json_pack("{s:o,s:o,s:o,s:I}", "account", account_to_json(a, false), "gigs", gigs,
                     "offers", offers, "unread", (json_int_t)unread);
}
