/* login_throttle.h - the sign-in brake applied to auth.login: failures
 * counted per identity and per source address, on the cluster's shared
 * counters when the bus has them (Redis), else on the node's own bounded
 * table (engine/throttle.h has the rule).
 *
 * An identity is locked after e->set.login.max_failures failures; a source
 * address after LOGIN_THROTTLE_ADDR_FACTOR times as many (one address
 * spraying many identities is slowed; a few users behind one NAT are not).
 * A success forgets the identity's failures, not the address's: else an
 * attacker could clear its address by signing in to an account of its own.
 * Keys are a hash of the identity or address: no address or identity is
 * written to Redis. Everything runs on the loop thread. */
#ifndef DROP_LOGIN_THROTTLE_H
#define DROP_LOGIN_THROTTLE_H

#include <stdint.h>

#include "engine/engine.h"

#define LOGIN_THROTTLE_ADDR_FACTOR 4

/* Asks whether a sign-in for identity from addr ("" unknown) may go ahead:
 * cb(ud, wait_ms) with 0 (go ahead) or the milliseconds to wait, once, on
 * the loop, possibly before this returns. A shared counter that cannot be
 * read falls back to the node's table. */
void login_throttle_check(struct engine *e, const char *identity, const char *addr,
                          void (*cb)(void *ud, int64_t wait_ms), void *ud);

/* A check that answers 0 has reserved the attempt (it counts as in flight
 * on the identity and the address, so concurrent attempts cannot exceed the
 * limit): login_throttle_release() it once its outcome is recorded (after
 * login_throttle_failed()'s callback, or after a success or any other
 * end). */
void login_throttle_release(struct engine *e, const char *identity, const char *addr);
/* Counts a failed sign-in; cb(ud) once the counts are recorded (so the
 * next attempt, on any node, sees them), possibly before this returns. */
void login_throttle_failed(struct engine *e, const char *identity, const char *addr,
                           void (*cb)(void *ud), void *ud);

/* A successful sign-in: the identity's failures are forgotten. */
void login_throttle_succeeded(struct engine *e, const char *identity);

/* Frees the node's table (at shutdown). */
void login_throttle_free(struct engine *e);

#endif
