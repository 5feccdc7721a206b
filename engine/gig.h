/* gig.h - the gig state machine: states, actions, roles, money and deadlines.
 *
 * A gig moves through the seed's states by actions taken by a role (the gig's
 * customer, its operator, an offered operator, a stranger, the system timers,
 * an admin). Which (state, action, role) cells are allowed is one static table
 * in gig.c (PROTOCOL.md §2); gig_apply() looks the cell up, checks the guards
 * of the cell (an open offer, both handshakes, not rated yet, deadline due),
 * and returns the new gig (version + 1) plus the effects the caller carries
 * out: gig.updated to the parties, offers to send or revoke, the next timer.
 * The function is pure: no I/O, no clock (now is in the action), no globals.
 * The store's compare-and-set on version lives outside and calls it again on
 * conflict.
 *
 * Refusals are, in this order of checking:
 *   DROP_EFORBIDDEN  the role may never take that action (no table row for
 *                    (action, role) in any state);
 *   DROP_EBADREQ     invalid action data (rating outside 1..5, coordinates of
 *                    a new gig not finite or out of range);
 *   DROP_ERATING     CREATE / CLAIM_* by an actor with an unrated purchased
 *                    gig (action.actor_locked, computed by the caller);
 *   DROP_ECONFLICT   the role may take the action, but not in this state or
 *                    not now (second accept, start before both handshakes,
 *                    rating twice, offer no longer open);
 *   DROP_EINTERNAL   a caller bug (first handshake without a video session).
 *
 * "Live" states (gig_status_live) are pendingOperator .. streaming: the gigs
 * session.state lists and the only ones an admin may terminate. An operator
 * is "busy" (gig_status_busy) in operatorFound .. streaming. A purchased gig
 * is not live but locks an actor who has not rated it (see actor_locked). */
#ifndef DROP_GIG_H
#define DROP_GIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"
#include "engine/id.h"

enum gig_status {
    GIG_PENDING_OPERATOR = 0,
    GIG_OPERATOR_FOUND,
    GIG_OPERATOR_ENROUTE,
    GIG_HANDSHAKING,
    GIG_STREAMING,
    GIG_PURCHASED,
    GIG_VOTED,
    GIG_INVOICE_GENERATED,
    GIG_INVOICE_SENT,
    GIG_COMPENSATED,
    GIG_EXPIRED,
    GIG_ALL_OPERATORS_REJECTED,
    GIG_CUSTOMER_REJECTED,
    GIG_CANCELLED,
    GIG_FAILED,
    GIG_TERMINATED,
    GIG_STATUS__COUNT
};

/* The seed's name ("pendingOperator", ...); "unknown" when out of range. */
const char *gig_status_name(enum gig_status s);
/* Parses a seed name; returns DROP_OK and sets *out, or DROP_EBADREQ. */
drop_err gig_status_parse(const char *name, enum gig_status *out);
/* pendingOperator .. streaming. */
bool gig_status_live(enum gig_status s);
/* operatorFound .. streaming: the assigned operator is not free. */
bool gig_status_busy(enum gig_status s);

enum gig_action_kind {
    GIG_CREATE = 0,
    GIG_CLAIM_ACCEPT,
    GIG_CLAIM_REJECT,
    GIG_CONFIRM,
    GIG_REJECT,
    GIG_CANCEL,
    GIG_HANDSHAKE,
    GIG_START,
    GIG_STOP,
    GIG_RATE,
    GIG_DEADLINE,     /* system timer: the deadline of the waiting state passed */
    GIG_OFFER_EXPIRE, /* system timer: open offers passed offer_ttl */
    GIG_LATE_JOIN,    /* system: free operators (the candidates) near a pending gig */
    GIG_VIDEO_FAIL,   /* a party, the system or an admin: the video session failed */
    GIG_INVOICE,      /* admin or billing: voted -> invoiceGenerated -> invoiceSent -> compensated */
    GIG_TERMINATE,    /* admin: any live state -> terminated */
    GIG_ACTION__COUNT
};

/* "create", "claim_accept", ...; "unknown" when out of range. */
const char *gig_action_name(enum gig_action_kind k);

enum gig_role {
    GIG_ROLE_CUSTOMER = 0, /* the gig's customer */
    GIG_ROLE_OPERATOR,     /* the gig's assigned operator */
    GIG_ROLE_OFFERED,      /* an operator this gig was offered to (any offer state) */
    GIG_ROLE_OTHER,        /* authenticated, no relation to the gig */
    GIG_ROLE_SYSTEM,       /* timers, sweeps, dispatch */
    GIG_ROLE_ADMIN,
    GIG_ROLE__COUNT
};

/* "customer", "operator", ...; "unknown" when out of range. */
const char *gig_role_name(enum gig_role r);

#define GIG_MAX_OFFERS 64
#define GIG_DEVICE_ID_SIZE 128
#define GIG_CLAIM_ID_SIZE 128
#define GIG_VIDEO_SESSION_SIZE 128

enum offer_state { OFFER_OPEN = 0, OFFER_REJECTED, OFFER_EXPIRED, OFFER_REVOKED, OFFER_ACCEPTED };

struct gig_offer {
    char operator[DROP_ID_SIZE];
    enum offer_state state;
    int wave;
    double distance_m;
    int64_t offered_at, expires_at;
};

/* One entry of a gig's timeline (admin.gig): an applied action, or an
 * offer sent / expired / revoked. Kept on the gig record, at most
 * GIG_TIMELINE_MAX (then the oldest after the creation are dropped). */
#define GIG_TIMELINE_MAX 40
#define GIG_EVENT_NAME_SIZE 24

struct gig_event {
    int64_t at;
    char what[GIG_EVENT_NAME_SIZE]; /* gig_action_name(), or "offer", "offer_expired", "offer_revoked" */
    enum gig_status status;         /* the gig's status after it */
    int64_t version;                /* the gig's version after it */
    enum gig_role role;             /* who did it */
    char actor[DROP_ID_SIZE];       /* their account; "" for the system and the built-in admin */
};

struct gig {
    char id[DROP_ID_SIZE];
    char customer[DROP_ID_SIZE];
    char operator[DROP_ID_SIZE]; /* "" when none */
    enum gig_status status;
    int64_t version; /* 0 = not created yet; CREATE makes it 1 */
    double latitude, longitude;
    char device_id[GIG_DEVICE_ID_SIZE];
    char claim_id[GIG_CLAIM_ID_SIZE];
    char *meta_json; /* owned; JSON text of metaData, or NULL */
    int customer_rating; /* received by the customer (from the operator); 0 = none */
    int operator_rating; /* received by the operator (from the customer); 0 = none */
    bool customer_handshaken, operator_handshaken;
    char video_session[GIG_VIDEO_SESSION_SIZE]; /* "" until confirm (ahead) or the first handshake */
    int64_t created_at, updated_at;
    int64_t deadline; /* expiresAt of the current waiting state; 0 = none */
    int64_t started_at, ended_at; /* 0 = not yet */
    int64_t duration_s;
    int64_t amount_cents, payment_cents;
    int wave; /* number of dispatch waves offered so far */
    int n_offers;
    struct gig_offer offers[GIG_MAX_OFFERS]; /* never more; when full, no further offers */
    int n_events;
    struct gig_event events[GIG_TIMELINE_MAX]; /* oldest first */
};

struct gig_policy {
    int64_t pending_ttl_ms;   /* pendingOperator -> expired (default 120 s) */
    int64_t offer_ttl_ms;     /* an open offer -> expired, next wave (15 s) */
    int64_t confirm_ttl_ms;   /* operatorFound -> expired (60 s) */
    int64_t handshake_ttl_ms; /* operatorEnroute + handshaking -> expired (30 min) */
    int64_t max_stream_ms;    /* streaming -> purchased (60 min) */
    int wave_size;            /* operators per wave (5) */
    double dispatch_radius_m; /* candidates farther are never offered (5000) */
    int64_t price_per_minute_cents; /* per started minute (100) */
    int operator_share_bp;    /* basis points of the amount paid to the operator (5000) */
};

/* The defaults above. */
struct gig_policy gig_policy_defaults(void);

struct dispatch_candidate; /* engine/dispatch.h */

struct gig_action {
    enum gig_action_kind kind;
    enum gig_role role; /* trusted: compute it with gig_role_of() */
    const char *actor;  /* account id of the actor; may be NULL for SYSTEM/ADMIN */
    int64_t now;
    int rating;         /* RATE: 1..5 */
    bool actor_locked;  /* the actor has a purchased gig they have not rated */
    /* Free operators near the gig, nearest first (borrowed for the call), for
     * CREATE, CLAIM_REJECT, OFFER_EXPIRE and LATE_JOIN. */
    const struct dispatch_candidate *candidates;
    size_t n_candidates;
    const char *video_session; /* minted by the video provider; used at the first handshake */
};

enum gig_revoke_reason { GIG_REVOKE_TAKEN = 0, GIG_REVOKE_CANCELLED, GIG_REVOKE_EXPIRED };

/* "taken" / "cancelled" / "expired". */
const char *gig_revoke_reason_name(enum gig_revoke_reason r);

struct gig_fx_offer {
    char operator[DROP_ID_SIZE];
    double distance_m;
    int64_t expires_at;
};

struct gig_fx_revoke {
    char operator[DROP_ID_SIZE];
    enum gig_revoke_reason reason;
};

/* What the caller does after writing the new gig. Bounded, no allocation. */
struct gig_effects {
    bool changed;  /* false: out equals the input (idempotent repeat, nothing due) */
    int n_notify;  /* gig.updated (new version) to these accounts: customer, operator */
    char notify[2][DROP_ID_SIZE];
    int n_offers;  /* gig.offer to send */
    struct gig_fx_offer offers[GIG_MAX_OFFERS];
    int n_revokes; /* gig.offer_revoked to send */
    struct gig_fx_revoke revokes[GIG_MAX_OFFERS];
    int64_t next_timer; /* earliest of deadline and open offers' expiry; 0 = none */
};

/* Zeroes g: version 0 (not created), status pendingOperator, no meta. */
void gig_init(struct gig *g);
/* Deep copy of src into dst (dst's previous content is not freed). */
void gig_copy(struct gig *dst, const struct gig *src);
/* Frees what g owns (meta_json) and re-inits it; safe to call twice. */
void gig_free(struct gig *g);
/* Takes ownership of a copy of json (may be NULL), replacing any old meta. */
void gig_set_meta(struct gig *g, const char *json);

/* The role of account_id on g. Party roles win: the customer, then the
 * assigned operator, then an operator with an offer record; otherwise ADMIN
 * when is_admin, else OTHER. Admin-only ops pass GIG_ROLE_ADMIN directly. */
enum gig_role gig_role_of(const struct gig *g, const char *account_id, bool is_admin);

/* Index of account's offer on g, or -1. */
int gig_find_offer(const struct gig *g, const char *account);

/* Amount of a stream of streamed_ms milliseconds: price x started minutes
 * (a stream of 60.6 s has started its second minute; 0 ms costs nothing). */
int64_t gig_amount_cents(int64_t streamed_ms, const struct gig_policy *p);
/* amount x share_bp / 10000, rounded half up, integer arithmetic (share clamped to 0..10000). */
int64_t gig_payment_cents(int64_t amount_cents, int share_bp);

/* Earliest of g->deadline and the open offers' expires_at; 0 when none. */
int64_t gig_next_timer(const struct gig *g);

/* Applies a to g at a->now. g is not modified; out must not alias g and is
 * overwritten without being freed: on return it always holds a gig the caller
 * must gig_free (the new gig on success, a copy of g when !fx->changed, an
 * empty gig on error). fx is always reset. CREATE takes g as the caller-filled
 * new gig (version 0: id, customer, position, device, claim, meta, created_at
 * may be 0 to use now). Returns DROP_OK or a code listed at the top. */
drop_err gig_apply(const struct gig *g, const struct gig_action *a, const struct gig_policy *p,
                   struct gig *out, struct gig_effects *fx);

#endif
