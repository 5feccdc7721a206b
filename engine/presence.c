/* presence.c - operator presence: uthash by account, refresh-ordered list
 * for expiry, spatial grid for queries (see presence.h). */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/geo.h"
#include "engine/grid.h"
#include "engine/mem.h"
#include "engine/presence.h"

#define uthash_malloc(sz) xmalloc(sz)
#define uthash_free(ptr, sz) free(ptr)
#include <uthash.h>

struct presence_entry {
    struct presence_state s;
    struct grid_entry ge;
    struct presence_entry *older, *newer; /* refresh order */
    UT_hash_handle hh;
};

struct presence {
    struct presence_entry *by_account; /* uthash head */
    struct presence_entry *oldest, *newest;
    struct grid *grid;
};

#define ENTRY_OF(gep) ((struct presence_entry *)((char *)(gep) - offsetof(struct presence_entry, ge)))

drop_err presence_new(double cell_m, struct presence **out)
{
    struct grid *g;
    drop_err err = grid_new(cell_m, &g);

    *out = NULL;
    if (err != DROP_OK) return err;
    *out = xcalloc(1, sizeof **out);
    (*out)->grid = g;
    return DROP_OK;
}

void presence_free(struct presence *p)
{
    struct presence_entry *e, *tmp;

    if (!p) return;
    HASH_ITER(hh, p->by_account, e, tmp) {
        HASH_DEL(p->by_account, e);
        free(e);
    }
    grid_free(p->grid);
    free(p);
}

static struct presence_entry *find(const struct presence *p, const char *account)
{
    struct presence_entry *e = NULL;

    if (!account) return NULL;
    size_t len = strnlen(account, DROP_ID_SIZE);
    if (len == DROP_ID_SIZE) return NULL;
    HASH_FIND(hh, p->by_account, account, len, e);
    return e;
}

static void list_unlink(struct presence *p, struct presence_entry *e)
{
    if (e->older) e->older->newer = e->newer;
    else p->oldest = e->newer;
    if (e->newer) e->newer->older = e->older;
    else p->newest = e->older;
    e->older = e->newer = NULL;
}

static void list_append(struct presence *p, struct presence_entry *e)
{
    e->older = p->newest;
    e->newer = NULL;
    if (p->newest) p->newest->newer = e;
    else p->oldest = e;
    p->newest = e;
}

static bool node_valid(const char *node)
{
    size_t len;

    if (!node) return false;
    len = strnlen(node, DROP_ID_SIZE);
    if (len == 0 || len == DROP_ID_SIZE) return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)node[i] <= 0x20 || (unsigned char)node[i] >= 0x7f) return false;
    return true;
}

static bool accuracy_valid(double a) { return isnan(a) || (isfinite(a) && a >= 0); }
static bool heading_valid(double h) { return isnan(h) || (isfinite(h) && h >= 0 && h <= 360); }
static bool rating_valid(double r) { return isfinite(r) && r >= 0; }

/* Finds or creates (unlinked from the grid, zeroed state) account's entry. */
static struct presence_entry *obtain(struct presence *p, const char *account, bool *created)
{
    struct presence_entry *e = find(p, account);

    *created = e == NULL;
    if (e) return e;
    e = xcalloc(1, sizeof *e);
    memcpy(e->s.account, account, DROP_ID_LEN + 1);
    grid_entry_init(&e->ge);
    HASH_ADD_KEYPTR(hh, p->by_account, e->s.account, DROP_ID_LEN, e);
    list_append(p, e);
    return e;
}

/* Puts e at (lat, lon) in the grid and at the new end of the refresh list. */
static void place(struct presence *p, struct presence_entry *e, double lat, double lon, int64_t now)
{
    if (grid_entry_linked(&e->ge)) grid_move(p->grid, &e->ge, lat, lon);
    else grid_insert(p->grid, &e->ge, lat, lon);
    e->s.lat = lat;
    e->s.lon = lon;
    e->s.updated_at = now;
    list_unlink(p, e);
    list_append(p, e);
}

drop_err presence_update(struct presence *p, const char *account, const char *node, double lat,
                         double lon, double accuracy, double heading, bool available, int64_t now)
{
    struct presence_entry *e;
    bool created;

    if (!id_valid(account) || !node_valid(node) || !geo_valid(lat, lon) ||
        !accuracy_valid(accuracy) || !heading_valid(heading))
        return DROP_EBADREQ;
    e = obtain(p, account, &created);
    snprintf(e->s.node, sizeof e->s.node, "%s", node);
    e->s.accuracy = accuracy;
    e->s.heading = heading;
    e->s.available = available;
    place(p, e, lat, lon, now);
    return DROP_OK;
}

drop_err presence_put(struct presence *p, const struct presence_state *s, int64_t now)
{
    struct presence_entry *e;
    bool created;

    if (!s || !id_valid(s->account) || !node_valid(s->node) || !geo_valid(s->lat, s->lon) ||
        !accuracy_valid(s->accuracy) || !heading_valid(s->heading) || !rating_valid(s->rating))
        return DROP_EBADREQ;
    e = obtain(p, s->account, &created);
    e->s = *s;
    place(p, e, s->lat, s->lon, now);
    return DROP_OK;
}

drop_err presence_set_busy(struct presence *p, const char *account, bool busy)
{
    struct presence_entry *e = find(p, account);

    if (!e) return DROP_ENOTFOUND;
    e->s.busy = busy;
    return DROP_OK;
}

drop_err presence_set_locked(struct presence *p, const char *account, bool locked)
{
    struct presence_entry *e = find(p, account);

    if (!e) return DROP_ENOTFOUND;
    e->s.locked = locked;
    return DROP_OK;
}

drop_err presence_set_rating(struct presence *p, const char *account, double rating)
{
    struct presence_entry *e = find(p, account);

    if (!rating_valid(rating)) return DROP_EBADREQ;
    if (!e) return DROP_ENOTFOUND;
    e->s.rating = rating;
    return DROP_OK;
}

drop_err presence_set_name(struct presence *p, const char *account, const char *name)
{
    struct presence_entry *e = find(p, account);

    if (!e) return DROP_ENOTFOUND;
    snprintf(e->s.name, sizeof e->s.name, "%s", name ? name : "");
    return DROP_OK;
}

static void drop_entry(struct presence *p, struct presence_entry *e)
{
    grid_remove(p->grid, &e->ge);
    list_unlink(p, e);
    HASH_DEL(p->by_account, e);
    free(e);
}

drop_err presence_remove(struct presence *p, const char *account)
{
    struct presence_entry *e = find(p, account);

    if (!e) return DROP_ENOTFOUND;
    drop_entry(p, e);
    return DROP_OK;
}

const struct presence_state *presence_get(const struct presence *p, const char *account)
{
    struct presence_entry *e = find(p, account);

    return e ? &e->s : NULL;
}

size_t presence_count(const struct presence *p) { return HASH_COUNT(p->by_account); }

size_t presence_memory(const struct presence *p)
{
    size_t n = HASH_COUNT(p->by_account);
    size_t bytes = (sizeof *p + 8 + 15) / 16 * 16 + grid_memory(p->grid);

    bytes += n * ((sizeof(struct presence_entry) + 8 + 15) / 16 * 16);
    if (p->by_account)
        bytes += sizeof(UT_hash_table) + p->by_account->hh.tbl->num_buckets * sizeof(UT_hash_bucket) + 32;
    return bytes;
}

const struct grid *presence_grid(const struct presence *p) { return p->grid; }

size_t presence_expire(struct presence *p, int64_t now, int64_t ttl_ms, presence_fn cb, void *ud)
{
    size_t removed = 0;

    while (p->oldest && p->oldest->s.updated_at <= now - ttl_ms) {
        struct presence_entry *e = p->oldest;
        if (cb) cb(&e->s, ud);
        drop_entry(p, e);
        removed++;
    }
    return removed;
}

size_t presence_remove_node(struct presence *p, const char *node, presence_fn cb, void *ud)
{
    struct presence_entry *e, *tmp;
    size_t removed = 0;

    if (!node) return 0;
    HASH_ITER(hh, p->by_account, e, tmp) {
        if (strcmp(e->s.node, node) != 0) continue;
        if (cb) cb(&e->s, ud);
        drop_entry(p, e);
        removed++;
    }
    return removed;
}

void presence_foreach(const struct presence *p, presence_fn cb, void *ud)
{
    for (const struct presence_entry *e = p->oldest; e; e = e->newer) cb(&e->s, ud);
}

static bool is_free(const struct grid_entry *ge, void *ud)
{
    const struct presence_entry *e = ENTRY_OF(ge);
    const char *exclude = ud;

    return e->s.available && !e->s.busy && !e->s.locked && !(exclude && strcmp(e->s.account, exclude) == 0);
}

drop_err presence_nearest_free(const struct presence *p, double lat, double lon, double radius_m,
                               size_t k, const char *exclude, struct presence_hit *out, size_t *nout)
{
    struct grid_hit small[64], *hits = small; /* no allocation for the usual k */
    drop_err err;

    *nout = 0;
    if (k == 0) return geo_valid(lat, lon) && radius_m >= 0 ? DROP_OK : DROP_EBADREQ;
    if (k > presence_count(p)) k = presence_count(p) ? presence_count(p) : 1;
    if (k > sizeof small / sizeof small[0]) hits = xmalloc(k * sizeof *hits);
    err = grid_nearest(p->grid, lat, lon, radius_m, k, is_free, (void *)exclude, hits, nout);
    for (size_t i = 0; i < *nout; i++)
        out[i] = (struct presence_hit){&ENTRY_OF(hits[i].entry)->s, hits[i].dist_m};
    if (hits != small) free(hits);
    return err;
}

static drop_err within(const struct presence *p, double lat, double lon, double radius_m,
                       grid_filter_fn filter, const char *exclude, struct presence_hit **out,
                       size_t *nout)
{
    struct grid_hit *hits = NULL;
    drop_err err = grid_within(p->grid, lat, lon, radius_m, filter, (void *)exclude, &hits, nout);

    *out = NULL;
    if (*nout) {
        *out = xmalloc(*nout * sizeof **out);
        for (size_t i = 0; i < *nout; i++)
            (*out)[i] = (struct presence_hit){&ENTRY_OF(hits[i].entry)->s, hits[i].dist_m};
    }
    free(hits);
    return err;
}

drop_err presence_within_free(const struct presence *p, double lat, double lon, double radius_m,
                              const char *exclude, struct presence_hit **out, size_t *nout)
{
    return within(p, lat, lon, radius_m, is_free, exclude, out, nout);
}

drop_err presence_within(const struct presence *p, double lat, double lon, double radius_m,
                         struct presence_hit **out, size_t *nout)
{
    return within(p, lat, lon, radius_m, NULL, NULL, out, nout);
}
