/* store.c - the backend-independent part of the store port: wrapping a
 * backend's vtable and state into a struct store, and closing it. */
#include <stdlib.h>

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

void gig_array_free(struct gig *arr, size_t n)
{
    for (size_t i = 0; i < n; i++) gig_free(&arr[i]);
    free(arr);
}
