/* id.h - object ids: 24 lowercase hex chars (a MongoDB ObjectId) in every
 * backend, held as a NUL-terminated char[DROP_ID_SIZE]. engine/ only checks
 * them; adapters/oid.c makes new ones with libbson. */
#ifndef DROP_ID_H
#define DROP_ID_H

#include <stdbool.h>

#define DROP_ID_LEN 24
#define DROP_ID_SIZE (DROP_ID_LEN + 1)

/* True when s is exactly 24 hex characters. */
bool id_valid(const char *s);

#endif
