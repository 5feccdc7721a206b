/* store.c - the backend-independent part of the store port: wrapping a
 * backend's vtable and state into a struct store, and closing it; operator
 * exclusivity on the backends' booking-record calls. */
#include <stdlib.h>
#include <string.h>

#include "engine/mem.h"
#include "engine/store.h"

struct store *store_new(const struct store_ops *ops, void *impl)
{
    struct store *st = xcalloc(1, sizeof *st);
    st->ops = ops;
    st->impl = impl;
    return st;
}

void store_close(struct store *st)
{
    if (!st) return;
    st->ops->close(st->impl);
    free(st);
}

void record_array_free(const struct record_kind *k, void *arr, size_t n)
{
    for (size_t i = 0; i < n; i++) k->free_rec((char *)arr + i * k->size);
    free(arr);
}

char *record_dump(const struct record_kind *k, const void *rec)
{
    json_t *j = k->encode(rec);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(j);
    return text;
}

drop_err record_parse(const struct record_kind *k, const char *text, size_t len, void *out,
                      char *why, size_t whylen)
{
    json_error_t jerr;
    json_t *j = text ? json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!j) return err_why(DROP_EINTERNAL, why, whylen, "not JSON: %s", text ? jerr.text : "none");
    drop_err e = k->decode(j, out, why, whylen);
    json_decref(j);
    return e;
}

drop_err store_txn_run(struct store *st, const struct store_txn *t, void *before, void *after,
                       struct store_txn_result *res)
{
    const struct record_kind *k = t->kind;
    struct store_txn_result r = {0};
    int tries = t->tries > 0 ? t->tries : STORE_TXN_TRIES;
    void *cur = xmalloc(k->size), *next = xmalloc(k->size); /* a gig is ~5 KB */
    drop_err rc = DROP_ECONFLICT;
    bool create = t->id == NULL;
    for (r.tries = 1; r.tries <= tries; r.tries++) {
        bool write = false;
        if (create) k->copy(cur, t->seed);
        else if ((rc = store_record_get(st, k, t->id, cur)) != DROP_OK) break;
        if ((rc = t->decide(t->ctx, cur, next, &write)) != DROP_OK) {
            k->free_rec(cur);
            break;
        }
        if (!write) {
            if (after) k->copy(after, cur);
            goto done;
        }
        if (t->prepare && (rc = t->prepare(t->ctx, cur, next)) != DROP_OK) {
            k->free_rec(cur);
            k->free_rec(next);
            break;
        }
        rc = create ? store_record_create(st, k, next)
                    : store_record_cas(st, k, next, k->version(cur));
        if (rc == DROP_OK) {
            r.written = true;
            if (after) memcpy(after, next, k->size);
            else k->free_rec(next);
            goto done;
        }
        /* nothing was written: what prepare did goes */
        if (t->undo && rc == DROP_ECONFLICT && !create) t->undo(t->ctx, next);
        k->free_rec(cur);
        k->free_rec(next);
        if (rc != DROP_ECONFLICT || create) break;
        rc = DROP_ECONFLICT;
    }
    r.exhausted = rc == DROP_ECONFLICT && r.tries > tries;
    if (r.tries > tries) r.tries = tries;
    free(cur);
    free(next);
    if (res) *res = r;
    return rc;
done:
    if (before) memcpy(before, cur, k->size);
    else k->free_rec(cur);
    free(cur);
    free(next);
    if (res) *res = r;
    return DROP_OK;
}

void gig_array_free(struct gig *arr, size_t n)
{
    for (size_t i = 0; i < n; i++) gig_free(&arr[i]);
    free(arr);
}

#define RESERVE_TRIES 16 /* lost CAS on one operator's record, bounded */

/* Whether g still holds operator (see store_operator_reserve). */
static bool gig_holds(const struct gig *g, const char *operator)
{
    if (gig_status_busy(g->status)) return strcmp(g->operator, operator) == 0;
    if (g->status != GIG_PENDING_OPERATOR) return false;
    int i = gig_find_offer(g, operator);
    return i >= 0 && g->offers[i].state == OFFER_OPEN;
}

drop_err store_operator_reserve(struct store *st, const char *operator, const char *gig_id,
                                int64_t *ticket)
{
    if (!operator || !gig_id || !id_valid(operator) || !id_valid(gig_id)) return DROP_EBADREQ;
    for (int attempt = 0; attempt < RESERVE_TRIES; attempt++) {
        struct store_operator_lock cur, next;
        drop_err rc = store_operator_lock_get(st, operator, &cur);
        if (rc == DROP_ENOTFOUND) {
            memset(&cur, 0, sizeof cur);
        } else if (rc != DROP_OK) {
            return rc;
        }
        if (cur.gig[0]) {
            struct gig g;
            rc = store_gig_get(st, cur.gig, &g);
            if (rc == DROP_OK) {
                bool holds = gig_holds(&g, operator);
                gig_free(&g);
                if (holds) return DROP_ECONFLICT;
            } else if (rc != DROP_ENOTFOUND) {
                return rc;
            }
            /* stale: taken over below */
        }
        memset(&next, 0, sizeof next);
        memcpy(next.operator, operator, strlen(operator) + 1);
        memcpy(next.gig, gig_id, strlen(gig_id) + 1);
        next.version = cur.version + 1;
        rc = store_operator_lock_cas(st, &next, cur.version);
        if (rc == DROP_OK) {
            *ticket = next.version;
            return DROP_OK;
        }
        if (rc != DROP_ECONFLICT && rc != DROP_ENOTFOUND) return rc;
        /* another writer moved the record on: look again */
    }
    return DROP_EUNAVAIL;
}

drop_err store_operator_release(struct store *st, const char *operator, const char *gig_id,
                                int64_t ticket)
{
    struct store_operator_lock cur;
    if (!operator || !gig_id || !id_valid(operator) || !id_valid(gig_id) || ticket < 1)
        return DROP_EBADREQ;
    drop_err rc = store_operator_lock_get(st, operator, &cur);
    if (rc == DROP_ENOTFOUND) return DROP_OK;
    if (rc != DROP_OK) return rc;
    if (cur.version != ticket || strcmp(cur.gig, gig_id) != 0) return DROP_OK; /* not ours now */
    cur.gig[0] = '\0';
    cur.version = ticket + 1;
    rc = store_operator_lock_cas(st, &cur, ticket);
    return rc == DROP_ECONFLICT || rc == DROP_ENOTFOUND ? DROP_OK : rc;
}
