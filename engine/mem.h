/* mem.h - the one out-of-memory policy: these wrappers abort with a message
 * when the allocator fails, so no caller checks for NULL by hand. */
#ifndef DROP_MEM_H
#define DROP_MEM_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
