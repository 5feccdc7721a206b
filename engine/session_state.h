/* session_state.h - the snapshot a session gets first after authenticating:
 * {account, gigs: [live gigs], offers: [open offers], unread}. It is how a
 * client heals after any disconnect (DESIGN.md principle 6). */
#ifndef DROP_SESSION_STATE_H
#define DROP_SESSION_STATE_H

#include <jansson.h>

#include "engine/err.h"

struct engine;
struct account;

/* Builds the session.state data for account a. Blocking (store reads): call
 * inside a job. Never NULL: parts the store cannot give are empty lists. */
json_t *session_state_build(struct engine *e, const struct account *a);

/* The gig.offer data of every offer still open to account (the same list
 * session.state.offers carries), as a new array in *out. Blocking: worker
 * threads only. The store's codes. */
drop_err session_state_offers(struct engine *e, const char *account, json_t **out);

#endif
