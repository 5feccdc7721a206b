/* grid.h - the spatial index of online operators: fixed-size cells in a hash
 * table, k-nearest and within-radius queries by great-circle distance.
 *
 * Cells: the sphere is cut into latitude rows of height cell_m; row r is cut
 * into ncols(r) = floor(2 pi R cos(pole-ward edge) / cell_m) columns (at least
 * one), so every cell is at least cell_m wide and the polar rows are a single
 * cell. A cell is keyed by its integer (row, column) in a uthash table and
 * holds a dense array of items (unit vector x, y, z + back pointer to the
 * caller's grid_entry). Insert, move and remove are O(1): a move inside the
 * same cell rewrites the item in place, otherwise the item is swap-removed from
 * the old cell and appended to the new one; empty cells are freed.
 *
 * Queries walk rings outward: ring j visits the cells of the bounding box of
 * the spherical cap of radius j * cell_m that ring j-1 did not visit (the box
 * covers every longitude once it reaches a pole), then computes a lower bound
 * on the distance of every unvisited cell (latitude distance to unvisited rows,
 * meridian distance to the unvisited part of partly visited rows). The walk
 * stops as soon as the k-th best distance is within that bound or the bound
 * exceeds the radius. If the cells a walk would look up outnumber the non-empty
 * cells, it scans every cell instead, which bounds the cost of huge radii and
 * sparse grids. Ranking uses the chord length (monotone in great-circle
 * distance; an atan2 angle beyond 90 degrees, where the chord loses precision);
 * results carry great-circle metres.
 *
 * Memory per operator (x86-64): the item in its cell, 32 B, times the array's
 * slack (capacity doubles, shrinks at a quarter: 1 to 2x, ~1.3x typical), the
 * caller-embedded struct grid_entry, 16 B, plus the cell's share: a cell is
 * 88 B (key 8, item pointer 8, counts 8, UT_hash_handle 56, rounded) plus the
 * malloc headers of its two blocks and ~1/4 of a 16 B uthash bucket. With ~5
 * operators a cell that is 32*1.3 + 16 + 120/5 = ~82 B per operator;
 * grid_memory() reports the exact figure of a grid. Pick cell_m so that a
 * cell holds a few operators at the expected density: a cell per operator
 * costs ~170 B. */
#ifndef DROP_GRID_H
#define DROP_GRID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"

struct grid;
struct grid_cell;

/* The caller embeds one of these per indexed object (zeroed or set by
 * grid_entry_init before first use); the grid finds the object again through
 * it. Its fields are the grid's: do not touch them. */
struct grid_entry {
    struct grid_cell *cell; /* NULL when not in a grid */
    uint32_t idx;           /* index of the item in cell */
};

/* One query result: the entry (borrowed: valid until it is moved or removed)
 * and its great-circle distance from the query point in metres. */
struct grid_hit {
    struct grid_entry *entry;
    double dist_m;
};

/* Decides whether an entry counts for a query (e.g. "a free operator"). Must
 * not modify the grid. NULL means every entry counts. */
typedef bool (*grid_filter_fn)(const struct grid_entry *e, void *ud);

/* Creates an empty grid with cells of cell_m metres. Returns DROP_OK and the
 * grid in *out (the caller owns it, grid_free releases it), or DROP_EBADREQ
 * when cell_m is not finite or outside [1, 1e7]. */
drop_err grid_new(double cell_m, struct grid **out);

/* Releases the grid and its cells. Entries still in it are left dangling
 * (their cell pointer is stale): remove them first if they live on. NULL ok. */
void grid_free(struct grid *g);

/* Marks e as not in any grid. */
void grid_entry_init(struct grid_entry *e);

/* True when e is in a grid. */
bool grid_entry_linked(const struct grid_entry *e);

/* Adds e at (lat, lon). O(1). Returns DROP_OK, DROP_EBADREQ for invalid
 * coordinates (nothing stored), DROP_ECONFLICT when e is already in a grid.
 * e is borrowed: it must stay at its address until removed. */
drop_err grid_insert(struct grid *g, struct grid_entry *e, double lat, double lon);

/* Moves e to (lat, lon). O(1). Returns DROP_OK, DROP_EBADREQ for invalid
 * coordinates (e stays where it was), DROP_ENOTFOUND when e is not in a grid. */
drop_err grid_move(struct grid *g, struct grid_entry *e, double lat, double lon);

/* Removes e if it is in g; a no-op otherwise. O(1). */
void grid_remove(struct grid *g, struct grid_entry *e);

/* Number of entries in the grid. */
size_t grid_count(const struct grid *g);

/* Number of non-empty cells. */
size_t grid_cells(const struct grid *g);

/* The cell size in metres. */
double grid_cell_size(const struct grid *g);

/* Bytes the grid allocates itself (cells, item arrays, hash table, the grid),
 * malloc headers estimated at 8 B per block rounded to 16; excludes the
 * caller-embedded grid_entry structs. */
size_t grid_memory(const struct grid *g);

/* The up to k nearest entries within radius_m metres of (lat, lon) that pass
 * filter, nearest first (ties in any order), into out[0..*nout). out has room
 * for k hits. Returns DROP_OK (also for k 0, radius 0: only entries exactly at
 * the point, or an empty grid), DROP_EBADREQ for invalid coordinates or a NaN
 * or negative radius (*nout = 0). Does not allocate. */
drop_err grid_nearest(const struct grid *g, double lat, double lon, double radius_m, size_t k,
                      grid_filter_fn filter, void *ud, struct grid_hit *out, size_t *nout);

/* Every entry within radius_m of (lat, lon) that passes filter, nearest
 * first, in a new array *out of *nout hits (the caller frees it with free();
 * NULL when there are none). Returns DROP_OK or DROP_EBADREQ as
 * grid_nearest. The result is bounded by the grid's size. */
drop_err grid_within(const struct grid *g, double lat, double lon, double radius_m,
                     grid_filter_fn filter, void *ud, struct grid_hit **out, size_t *nout);

#endif
