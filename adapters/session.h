/* session.h - one WebSocket session: decoding, ordering, queueing, closing.
 *
 * A session reassembles fragments (bounded by max_message_bytes), decodes one
 * envelope per message with its codec, rate-limits, and hands requests to the
 * op table. Replies leave in request order: each request takes a slot in a
 * FIFO, and a slot's frame is queued only once every earlier slot is done.
 * Events skip the FIFO. Outbound frames wait in a queue bounded by
 * session_queue_bytes (over it: close 4408) and leave corked: at the end of
 * the loop turn (session_flush_all) everything queued goes in one send();
 * what the kernel does not take waits for the WRITEABLE callback.
 * A closed session is unlinked at once and freed later by the node's reaper
 * (hub_reap), never inside its own callback.
 *
 * The hub holds every session of the node and, by account, the sessions
 * that signed in. The node makes it with a session_env: all a session needs
 * from outside, so that this module depends on none of the node's other
 * parts (the node wires them: it is told through the callbacks). */
#ifndef DROP_SESSION_H
#define DROP_SESSION_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/req.h"
#include "protocol/codec.h"

struct config;
struct engine;
struct metrics;

/* Bytes of frames one corked write carries at most (one send()); the
 * protocols' tx_packet_size in server.c lets lws send them at once. */
#define SESSION_BATCH_BYTES 65536

struct session;
struct session_hub;
struct slot;
struct frame;
struct held;
struct session_rx;

/* What the node gives its sessions: borrowed for the hub's life. The
 * callbacks run on the loop thread with ctx. */
struct session_env {
    const struct config *cfg;   /* limits, timeouts, rate */
    struct engine *eng;         /* runs the ops; its clock */
    struct metrics *metrics;
    const char *node_id;        /* for admin.sessions */
    void *ctx;
    /* Sessions this node accepts (server_capacity); past it: 1013. */
    int64_t (*capacity)(void *ctx);
    /* The first session of account opened on this node / its last one
     * closed (the cluster subscribes acct.<id> while one is open). */
    void (*account_joined)(void *ctx, const char *account);
    void (*account_left)(void *ctx, const char *account);
    /* s closed: it is unlinked, and freed at the next hub_reap. */
    void (*closed)(void *ctx, struct session *s);
};

/* An idle session costs what lws keeps per connection plus this struct:
 * keep it under 232 bytes (one 240-byte malloc chunk). What few sessions
 * use waits behind a pointer (the reassembly state), the flags are bits,
 * the counters as narrow as their bounds. */
struct session {
    struct session_hub *home;       /* the hub that holds it (borrowed) */
    struct lws *wsi;                /* NULL once lws closed it */
    struct caller who;
    int64_t created_at, last_rx;    /* the auth deadline is created_at + auth_timeout */

    struct frame *out_head, *out_tail;
    size_t out_bytes;
    struct session *flush_next;
    const char *close_reason;       /* a static string; NULL until closing */
    struct session_rx *rx;          /* a message arriving in fragments, or NULL */

    struct slot *fifo_head, *fifo_tail;
    struct held *held_head, *held_tail;

    double bucket;                  /* rate limit tokens */
    int64_t bucket_at;

    struct session *prev, *next;    /* the hub's live or disused list */
    struct session *acct_prev, *acct_next; /* its account's sessions (the hub entry) */

    uint16_t close_code;            /* nonzero: close once the queue drained */
    uint16_t inflight;              /* slots in the FIFO (MAX_INFLIGHT, plus refusals) */
    uint8_t held_count;             /* <= MAX_HELD */
    uint8_t strikes;                /* < STRIKES_TO_CLOSE */
    uint8_t codec;                  /* enum codec */
    bool authed : 1;
    bool auth_inflight : 1;         /* an auth op runs (the auth deadline waits) */
    bool running : 1;               /* a request runs: later ones are held */
    bool ping_due : 1;
    bool want_write : 1;            /* lws will call WRITEABLE */
    bool flush_queued : 1;          /* on the end-of-turn flush list */
    bool close_sent : 1;            /* our close frame is out; awaiting the peer's */
    bool dead : 1;
};

/* Called from the lws callback of the WebSocket protocols. */
struct session *session_open(struct session_hub *h, struct lws *wsi, enum codec codec,
                             const char *bearer, bool origin_ok);
void session_on_rx(struct session *s, const void *in, size_t len);
/* The peer answered a keepalive ping: that counts as activity. */
void session_on_pong(struct session *s);
/* Returns -1 when lws must close the connection now. */
int session_on_writeable(struct session *s);
void session_on_closed(struct session *s);

/* Asks the session to close with code once its queue has drained (4408 drops
 * the queue first). Idempotent: the first code wins. reason must be a
 * static string (it is kept, not copied); the close frame carries at most
 * its first 63 bytes. */
void session_close(struct session *s, int code, const char *reason);

/* Queues an event (already an envelope) on s; encodes with s's codec. */
void session_send_event(struct session *s, json_t *envelope);

/* Writes every session that queued frames during this loop turn, each in
 * one send() (the server's uv_check handle calls it after the I/O phase).
 * A session whose socket cannot take it all waits for WRITEABLE instead. */
void session_flush_all(void);

/* admin.sessions {accountId?, limit?}: this node's sessions as JSON, or
 * NULL for bad arguments. */
json_t *session_list_json(struct session_hub *h, json_t *args);

/* The session a WebSocket request came from (NULL for REST or when it
 * closed); borrowed. */
struct session *session_of_req(struct req *r);

/* The hub. env is copied; what it points to is borrowed for the hub's
 * life. hub_free frees the disused sessions too (lws closed the others). */
struct session_hub *hub_new(const struct session_env *env);
void hub_free(struct session_hub *h);

/* Periodic checks of every session: auth deadline, idle timeout,
 * keepalive pings. */
void hub_tick(struct session_hub *h, int64_t now);
/* Closes every session with 1001; sessions opened from now on too. */
void hub_drain(struct session_hub *h);
/* True when no session is open (closed ones may await hub_reap). */
bool hub_empty(const struct session_hub *h);
/* Frees the closed sessions (the node's reaper, after each loop turn). */
void hub_reap(struct session_hub *h);

/* Account id -> sessions, for event delivery. */
void hub_deliver(struct session_hub *h, const char *account, json_t *envelope);
void hub_close_token(struct session_hub *h, const unsigned char hash[32]);
void hub_close_account(struct session_hub *h, const char *account);
/* True when account has at least one session on this node. */
bool hub_has_account(struct session_hub *h, const char *account);
/* The same for a callback whose ud is the hub (cluster_deps.holds_account). */
bool hub_holds_account(void *hub, const char *account);

#endif
