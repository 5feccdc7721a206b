/* grid.c - latitude-row cells in a uthash table, ring-walking queries (see
 * grid.h for the layout, the walk and the memory figures). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/geo.h"
#include "engine/grid.h"
#include "engine/mem.h"

#define uthash_malloc(sz) xmalloc(sz)
#define uthash_free(ptr, sz) free(ptr)
#include <uthash.h>

#define DEG2RAD (M_PI / 180.0)
#define RAD2DEG (180.0 / M_PI)
#define R_EARTH GEO_EARTH_RADIUS_M
/* Slack subtracted from a distance bound: covers the rounding of cell edges
 * and of the trigonometry (~1e-8 m), so a stop is never premature. */
#define BOUND_SLACK_M 1e-3
#define PRUNE_MIN_ITEMS 8 /* visit() bounds a cell before scanning it from this size */

struct grid_item {
    double x, y, z;       /* unit vector of the position */
    struct grid_entry *e; /* the caller's handle */
};

struct grid_cell {
    uint64_t key; /* (uint32 row << 32) | uint32 col */
    struct grid_item *items;
    uint32_t n, cap;
    UT_hash_handle hh;
};

struct grid {
    double cell_m;
    double dlat; /* row height in degrees: 180 / nrows */
    int32_t nrows;
    size_t count;
    struct grid_cell *cells;
};

/* ---- geometry of cells ---- */

static int32_t row_of(const struct grid *g, double lat)
{
    double r = floor((lat + 90.0) / g->dlat);
    if (r < 0) return 0;
    if (r >= g->nrows) return g->nrows - 1;
    return (int32_t)r;
}

static double row_south(const struct grid *g, int32_t r) { return -90.0 + r * g->dlat; }

static double row_north(const struct grid *g, int32_t r)
{
    return r == g->nrows - 1 ? 90.0 : -90.0 + (r + 1) * g->dlat;
}

/* Columns of row r: at least cell_m wide at the row's pole-ward edge. */
static int32_t row_ncols(const struct grid *g, int32_t r)
{
    double edge = fmax(fabs(row_south(g, r)), fabs(row_north(g, r)));
    double c;

    if (edge >= 90.0) return 1;
    c = floor(2.0 * M_PI * R_EARTH * cos(edge * DEG2RAD) / g->cell_m);
    if (c < 1) return 1;
    if (c > INT32_MAX / 4) return INT32_MAX / 4;
    return (int32_t)c;
}

/* Unwrapped column of longitude lon in a row of n columns. */
static int64_t col_unwrapped(double lon, int32_t n) { return (int64_t)floor((lon + 180.0) * n / 360.0); }

static int32_t col_wrap(int64_t c, int32_t n)
{
    int64_t w = c % n;
    return (int32_t)(w < 0 ? w + n : w);
}

static uint64_t cell_key(int32_t row, int32_t col) { return ((uint64_t)(uint32_t)row << 32) | (uint32_t)col; }

static uint64_t key_of(const struct grid *g, double lat, double lon)
{
    int32_t r = row_of(g, lat), n = row_ncols(g, r);
    return cell_key(r, col_wrap(col_unwrapped(lon, n), n));
}

static void to_xyz(double lat, double lon, double v[3])
{
    double p = lat * DEG2RAD, l = lon * DEG2RAD, cp = cos(p);
    v[0] = cp * cos(l);
    v[1] = cp * sin(l);
    v[2] = sin(p);
}

/* Ranking key of a position against the query point q, monotone in the
 * great-circle angle t: the squared chord (cheap) up to 90 degrees, beyond it
 * 2 + (t - pi/2) with t from atan2, because the chord loses all precision
 * near the antipode (asin is ill-conditioned there). */
static double key_of_xyz(const double q[3], double x, double y, double z)
{
    double dx = x - q[0], dy = y - q[1], dz = z - q[2];
    double c2 = dx * dx + dy * dy + dz * dz;

    if (c2 <= 2.0) return c2;
    double cx = q[1] * z - q[2] * y, cy = q[2] * x - q[0] * z, cz = q[0] * y - q[1] * x;
    double t = atan2(sqrt(cx * cx + cy * cy + cz * cz), q[0] * x + q[1] * y + q[2] * z);
    return 2.0 + (t - M_PI / 2);
}

/* Great-circle metres of a ranking key. */
static double key_to_m(double key)
{
    if (key > 2.0) return R_EARTH * (key - 2.0 + M_PI / 2);
    double h = sqrt(key) / 2.0;
    return 2.0 * R_EARTH * asin(h > 1.0 ? 1.0 : h);
}

/* The largest key within radius_m (INFINITY: the whole sphere). */
static double key_of_radius(double radius_m)
{
    double t = radius_m / R_EARTH;

    if (t >= M_PI) return INFINITY;
    if (t > M_PI / 2) return 2.0 + (t - M_PI / 2);
    return 4.0 * sin(t / 2) * sin(t / 2);
}

/* ---- lifecycle and updates ---- */

drop_err grid_new(double cell_m, struct grid **out)
{
    struct grid *g;

    *out = NULL;
    if (!isfinite(cell_m) || cell_m < 1.0 || cell_m > 1e7) return DROP_EBADREQ;
    g = xcalloc(1, sizeof *g);
    g->cell_m = cell_m;
    g->nrows = (int32_t)ceil(M_PI * R_EARTH / cell_m);
    g->dlat = 180.0 / g->nrows;
    *out = g;
    return DROP_OK;
}

void grid_free(struct grid *g)
{
    struct grid_cell *c, *tmp;

    if (!g) return;
    HASH_ITER(hh, g->cells, c, tmp) {
        HASH_DEL(g->cells, c);
        free(c->items);
        free(c);
    }
    free(g);
}

void grid_entry_init(struct grid_entry *e)
{
    e->cell = NULL;
    e->idx = 0;
}

bool grid_entry_linked(const struct grid_entry *e) { return e->cell != NULL; }

size_t grid_count(const struct grid *g) { return g->count; }

size_t grid_cells(const struct grid *g) { return HASH_COUNT(g->cells); }

double grid_cell_size(const struct grid *g) { return g->cell_m; }

/* Bytes of a malloc block of n bytes: an 8 B header, rounded up to 16. */
static size_t block(size_t n) { return (n + 8 + 15) & ~(size_t)15; }

size_t grid_memory(const struct grid *g)
{
    size_t ncells = HASH_COUNT(g->cells);
    size_t bytes = block(sizeof *g) + ncells * block(sizeof(struct grid_cell));
    struct grid_cell *c, *tmp;

    HASH_ITER(hh, g->cells, c, tmp) bytes += block(c->cap * sizeof(struct grid_item));
    if (g->cells)
        bytes += block(sizeof(UT_hash_table)) +
                 block(g->cells->hh.tbl->num_buckets * sizeof(UT_hash_bucket));
    return bytes;
}

static void cell_append(struct grid_cell *c, struct grid_entry *e, const double v[3])
{
    if (c->n == c->cap) {
        uint32_t ncap = c->cap ? c->cap * 2 : 2;
        c->items = xrealloc(c->items, ncap * sizeof *c->items);
        c->cap = ncap;
    }
    c->items[c->n] = (struct grid_item){v[0], v[1], v[2], e};
    e->cell = c;
    e->idx = c->n++;
}

/* Swap-removes e's item from its cell; frees the cell when it empties and
 * halves its array when it is a quarter full. */
static void cell_unlink(struct grid *g, struct grid_entry *e)
{
    struct grid_cell *c = e->cell;
    uint32_t last = c->n - 1;

    if (e->idx != last) {
        c->items[e->idx] = c->items[last];
        c->items[e->idx].e->idx = e->idx;
    }
    c->n = last;
    grid_entry_init(e);
    if (c->n == 0) {
        HASH_DEL(g->cells, c);
        free(c->items);
        free(c);
    } else if (c->cap >= 8 && c->n <= c->cap / 4) {
        c->items = xrealloc(c->items, (c->cap / 2) * sizeof *c->items);
        c->cap /= 2;
    }
}

static void link_at(struct grid *g, struct grid_entry *e, uint64_t key, const double v[3])
{
    struct grid_cell *c;

    HASH_FIND(hh, g->cells, &key, sizeof key, c);
    if (!c) {
        c = xcalloc(1, sizeof *c);
        c->key = key;
        HASH_ADD(hh, g->cells, key, sizeof c->key, c);
    }
    cell_append(c, e, v);
}

drop_err grid_insert(struct grid *g, struct grid_entry *e, double lat, double lon)
{
    double v[3];

    if (!geo_valid(lat, lon)) return DROP_EBADREQ;
    if (e->cell) return DROP_ECONFLICT;
    to_xyz(lat, lon, v);
    link_at(g, e, key_of(g, lat, lon), v);
    g->count++;
    return DROP_OK;
}

drop_err grid_move(struct grid *g, struct grid_entry *e, double lat, double lon)
{
    double v[3];
    uint64_t key;

    if (!geo_valid(lat, lon)) return DROP_EBADREQ;
    if (!e->cell) return DROP_ENOTFOUND;
    to_xyz(lat, lon, v);
    key = key_of(g, lat, lon);
    if (key == e->cell->key) {
        struct grid_item *it = &e->cell->items[e->idx];
        it->x = v[0];
        it->y = v[1];
        it->z = v[2];
        return DROP_OK;
    }
    cell_unlink(g, e);
    link_at(g, e, key, v);
    return DROP_OK;
}

void grid_remove(struct grid *g, struct grid_entry *e)
{
    if (!e->cell) return;
    cell_unlink(g, e);
    g->count--;
}

/* ---- queries ---- */

/* Where the results go: a max-heap of k (nearest) or a growing array
 * (within). While collecting, dist_m holds the ranking key. */
struct collect {
    struct grid_hit *h;
    size_t n, cap, k; /* k == SIZE_MAX: unbounded */
    bool grow;
};

struct query {
    const struct grid *g;
    double lat, lon, phi; /* degrees, degrees, latitude in radians */
    double cphi;          /* cos(phi) */
    double q[3];
    double key_max; /* ranking key of the radius */
    grid_filter_fn filter;
    void *ud;
    struct collect *out;
};

static void heap_down(struct grid_hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l].dist_m > h[m].dist_m) m = l;
        if (r < n && h[r].dist_m > h[m].dist_m) m = r;
        if (m == i) return;
        struct grid_hit t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_up(struct grid_hit *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p].dist_m >= h[i].dist_m) return;
        struct grid_hit t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static void collect_add(struct collect *c, struct grid_entry *e, double c2)
{
    if (c->grow) {
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 64;
            c->h = xrealloc(c->h, c->cap * sizeof *c->h);
        }
        c->h[c->n++] = (struct grid_hit){e, c2};
    } else if (c->n < c->k) {
        c->h[c->n] = (struct grid_hit){e, c2};
        heap_up(c->h, c->n++);
    } else {
        c->h[0] = (struct grid_hit){e, c2};
        heap_down(c->h, c->n, 0);
    }
}

static void scan_cell(const struct query *q, const struct grid_cell *cell)
{
    struct collect *c = q->out;

    for (uint32_t i = 0; i < cell->n; i++) {
        const struct grid_item *it = &cell->items[i];
        double c2 = key_of_xyz(q->q, it->x, it->y, it->z);

        if (c2 > q->key_max) continue;
        if (!c->grow && c->n == c->k && c2 >= c->h[0].dist_m) continue;
        if (q->filter && !q->filter(it->e, q->ud)) continue;
        collect_add(c, it->e, c2);
    }
}

/* Lower bound (metres) on the distance from the query point to cell (row,
 * col) of a row of n columns: the larger of the latitude gap and the
 * distance to the great circle of the nearer bounding meridian (as in
 * box_bound), so a cell wholly beyond the k-th best or the radius is
 * skipped unscanned. col may be unwrapped. */
static double cell_bound_m(const struct query *q, int32_t row, int64_t col, int32_t n)
{
    double west = (double)col * 360.0 / n - 180.0, east = (double)(col + 1) * 360.0 / n - 180.0;
    double off = fabs(remainder(q->lon - (west + east) / 2, 360.0));
    double delta = fmax(0.0, off - (east - west) / 2) * DEG2RAD;
    double mer = delta >= M_PI / 2 ? M_PI / 2 - fabs(q->phi) : asin(q->cphi * sin(delta));
    double s = row_south(q->g, row), nn = row_north(q->g, row);
    double lat = fmax(0.0, fmax(s - q->lat, q->lat - nn)) * DEG2RAD;
    return fmax(mer, lat) * R_EARTH - BOUND_SLACK_M;
}

static void visit(const struct query *q, int32_t row, int64_t col, int32_t n)
{
    uint64_t key = cell_key(row, col_wrap(col, n));
    struct grid_cell *cell;
    const struct collect *c = q->out;

    HASH_FIND(hh, q->g->cells, &key, sizeof key, cell);
    if (!cell) return;
    /* Prune: nothing in a cell whose every point lies beyond the current
     * k-th best (or the radius) can enter the result. The bound costs a few
     * trig calls, more than scanning a handful of items: sparse cells are
     * just scanned. */
    double limit = !c->grow && c->n == c->k ? c->h[0].dist_m : q->key_max;
    if (cell->n >= PRUNE_MIN_ITEMS && isfinite(limit)) {
        double b = cell_bound_m(q, row, col, n);
        if (b > 0 && key_of_radius(b) > limit) return;
    }
    scan_cell(q, cell);
}

/* The bounding box of the cap of angular radius d around the query point:
 * rows [rlo, rhi] and a longitude half-width (every longitude when full). */
struct box {
    int32_t rlo, rhi;
    bool full;
    double dlon; /* degrees */
};

static void cap_box(const struct query *q, double d, struct box *b)
{
    double dd = d * RAD2DEG, lo = q->lat - dd, hi = q->lat + dd;

    b->rlo = row_of(q->g, lo < -90.0 ? -90.0 : lo);
    b->rhi = row_of(q->g, hi > 90.0 ? 90.0 : hi);
    b->full = true;
    b->dlon = 180.0;
    if (lo > -90.0 && hi < 90.0 && d < M_PI / 2) {
        double s = sin(d) / cos(q->phi);
        if (s < 1.0) {
            b->full = false;
            b->dlon = asin(s) * RAD2DEG;
        }
    }
}

/* Columns of row r inside box b: unwrapped [*lo, *hi]; returns true when they
 * cover the whole row. */
static bool box_cols(const struct query *q, const struct box *b, int32_t n, int64_t *lo, int64_t *hi)
{
    if (b->full) return true;
    *lo = col_unwrapped(q->lon - b->dlon, n);
    *hi = col_unwrapped(q->lon + b->dlon, n);
    return *hi - *lo + 1 >= n;
}

/* Visits (or, with dry, counts) the cells of row r in cur but not in prev. */
static size_t ring_row(const struct query *q, const struct box *cur, const struct box *prev, int32_t r, bool dry)
{
    int32_t n = row_ncols(q->g, r);
    int64_t clo = 0, chi = 0, plo = 0, phi = 0, a1, b1, a2 = 1, b2 = 0;
    bool cfull = box_cols(q, cur, n, &clo, &chi);

    if (!prev || r < prev->rlo || r > prev->rhi) { /* the whole row part is new */
        if (cfull) {
            a1 = 0;
            b1 = n - 1;
        } else {
            a1 = clo;
            b1 = chi;
        }
    } else if (box_cols(q, prev, n, &plo, &phi)) {
        return 0;
    } else if (cfull) { /* the complement of prev in the row */
        a1 = phi + 1;
        b1 = plo + n - 1;
    } else {
        a1 = clo;
        b1 = plo - 1;
        a2 = phi + 1;
        b2 = chi;
    }
    size_t cnt = (size_t)(b1 >= a1 ? b1 - a1 + 1 : 0) + (size_t)(b2 >= a2 ? b2 - a2 + 1 : 0);
    if (dry) return cnt;
    for (int64_t c = a1; c <= b1; c++) visit(q, r, c, n);
    for (int64_t c = a2; c <= b2; c++) visit(q, r, c, n);
    return cnt;
}

/* Lower bound (metres) on the distance from the query point to any cell not
 * in box b; INFINITY when b covers the sphere. */
static double box_bound(const struct query *q, const struct box *b)
{
    double best = INFINITY; /* radians */
    double cphi = q->cphi;

    if (b->rlo > 0) best = fmin(best, (q->lat - row_south(q->g, b->rlo)) * DEG2RAD);
    if (b->rhi < q->g->nrows - 1) best = fmin(best, (row_north(q->g, b->rhi) - q->lat) * DEG2RAD);
    if (!b->full) {
        for (int32_t r = b->rlo; r <= b->rhi; r++) {
            int32_t n = row_ncols(q->g, r);
            int64_t lo, hi;
            if (box_cols(q, b, n, &lo, &hi)) continue;
            double west = q->lon - ((double)lo * 360.0 / n - 180.0);
            double east = ((double)(hi + 1) * 360.0 / n - 180.0) - q->lon;
            double delta = fmax(0.0, fmin(west, east)) * DEG2RAD;
            double mer = delta >= M_PI / 2 ? M_PI / 2 - fabs(q->phi) : asin(cphi * sin(delta));
            double s = row_south(q->g, r), nn = row_north(q->g, r);
            double lat = fmax(0.0, fmax(s - q->lat, q->lat - nn)) * DEG2RAD;
            best = fmin(best, fmax(mer, lat));
        }
    }
    if (isinf(best)) return INFINITY;
    return best * R_EARTH - BOUND_SLACK_M;
}

static void scan_all(const struct query *q)
{
    struct grid_cell *cell, *tmp;

    q->out->n = 0;
    HASH_ITER(hh, q->g->cells, cell, tmp) scan_cell(q, cell);
}

static void walk(const struct query *q, double radius_m)
{
    const struct grid *g = q->g;
    size_t budget = HASH_COUNT(g->cells) + 8, looked = 0;
    struct box cur, prev;
    bool have_prev = false;

    for (uint64_t j = 0;; j++) {
        double d = (double)j * g->cell_m / R_EARTH;
        size_t cnt = 0;

        cap_box(q, d > M_PI ? M_PI : d, &cur);
        for (int32_t r = cur.rlo; r <= cur.rhi && looked + cnt <= budget; r++)
            cnt += ring_row(q, &cur, have_prev ? &prev : NULL, r, true);
        if (looked + cnt > budget) {
            scan_all(q);
            return;
        }
        for (int32_t r = cur.rlo; r <= cur.rhi; r++) ring_row(q, &cur, have_prev ? &prev : NULL, r, false);
        looked += cnt;

        double bound = box_bound(q, &cur);
        if (isinf(bound) || bound > radius_m) return;
        if (!q->out->grow && q->out->n == q->out->k && key_to_m(q->out->h[0].dist_m) <= bound) return;
        prev = cur;
        have_prev = true;
    }
}

static int hit_cmp(const void *a, const void *b)
{
    double x = ((const struct grid_hit *)a)->dist_m, y = ((const struct grid_hit *)b)->dist_m;
    return (x > y) - (x < y);
}

static drop_err query_run(const struct grid *g, double lat, double lon, double radius_m,
                          grid_filter_fn filter, void *ud, struct collect *out)
{
    struct query q;

    if (!geo_valid(lat, lon) || isnan(radius_m) || radius_m < 0) return DROP_EBADREQ;
    if (g->count == 0 || (!out->grow && out->k == 0)) return DROP_OK;
    q.g = g;
    q.lat = lat;
    q.lon = lon;
    q.phi = lat * DEG2RAD;
    q.cphi = cos(q.phi);
    to_xyz(lat, lon, q.q);
    q.key_max = key_of_radius(radius_m);
    q.filter = filter;
    q.ud = ud;
    q.out = out;
    walk(&q, radius_m);
    for (size_t i = 0; i < out->n; i++) out->h[i].dist_m = key_to_m(out->h[i].dist_m);
    if (out->n > 1) qsort(out->h, out->n, sizeof *out->h, hit_cmp);
    return DROP_OK;
}

drop_err grid_nearest(const struct grid *g, double lat, double lon, double radius_m, size_t k,
                      grid_filter_fn filter, void *ud, struct grid_hit *out, size_t *nout)
{
    struct collect c = {.h = out, .k = k};
    drop_err err = query_run(g, lat, lon, radius_m, filter, ud, &c);

    *nout = c.n;
    return err;
}

drop_err grid_within(const struct grid *g, double lat, double lon, double radius_m,
                     grid_filter_fn filter, void *ud, struct grid_hit **out, size_t *nout)
{
    struct collect c = {.k = SIZE_MAX, .grow = true};
    drop_err err = query_run(g, lat, lon, radius_m, filter, ud, &c);

    if (err != DROP_OK || c.n == 0) {
        free(c.h);
        c.h = NULL;
        c.n = 0;
    }
    *out = c.h;
    *nout = c.n;
    return err;
}
