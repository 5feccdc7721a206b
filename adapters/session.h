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
 * A closed session is unlinked at once and freed later by the node's reaper,
 * never inside its own callback. */
#ifndef DROP_SESSION_H
#define DROP_SESSION_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/req.h"
#include "protocol/codec.h"

/* Bytes of frames one corked write carries at most (one send()); the
 * protocols' tx_packet_size in server.c lets lws send them at once. */
#define SESSION_BATCH_BYTES 65536

struct node;
struct slot;
struct frame;
struct held;

struct session {
    struct node *node;
    struct lws *wsi;                /* NULL once lws closed it */
    enum codec codec;
    struct caller who;
    bool authed;
    bool auth_inflight;             /* an auth op runs (the auth deadline waits) */
    bool running;                   /* a request runs: later ones are held */
    int64_t created_at, last_rx, auth_deadline;
    bool ping_due;

    struct frame *out_head, *out_tail;
    size_t out_bytes;
    bool want_write;                /* lws will call WRITEABLE */
    bool flush_queued;              /* on the end-of-turn flush list */
    struct session *flush_next;
    int close_code;                 /* nonzero: close once the queue drained */
    char close_reason[64];
    bool close_sent;                /* our close frame is out; awaiting the peer's */

    unsigned char *rx;              /* reassembly buffer */
    size_t rx_len, rx_cap;
    bool rx_discard;                /* over max_message_bytes: drop the rest */
    size_t rx_discarded;

    struct slot *fifo_head, *fifo_tail;
    int inflight;
    struct held *held_head, *held_tail;
    int held_count;

    double bucket;                  /* rate limit tokens */
    int64_t bucket_at;
    int strikes;

    struct session *prev, *next;    /* node->sessions */
    struct session *acct_prev, *acct_next; /* its hub entry's list */
    struct hub_entry *hub;
    bool dead;
};

/* Called from the lws callback of the WebSocket protocols. */
struct session *session_open(struct node *n, struct lws *wsi, enum codec codec,
                             const char *bearer, bool origin_ok);
void session_on_rx(struct session *s, const void *in, size_t len);
/* Returns -1 when lws must close the connection now. */
int session_on_writeable(struct session *s);
void session_on_closed(struct session *s);

/* Asks the session to close with code once its queue has drained (4408 drops
 * the queue first). Idempotent: the first code wins. */
void session_close(struct session *s, int code, const char *reason);

/* Queues an event (already an envelope) on s; encodes with s's codec. */
void session_send_event(struct session *s, json_t *envelope);

/* Writes every session that queued frames during this loop turn, each in
 * one send() (the server's uv_check handle calls it after the I/O phase).
 * A session whose socket cannot take it all waits for WRITEABLE instead. */
void session_flush_all(void);

/* Periodic checks: auth deadline, idle timeout, keepalive pings. */
void session_tick(struct session *s, int64_t now);

/* Frees a disused session (the reaper). */
void session_free(struct session *s);

/* admin.sessions {accountId?, limit?}: this node's sessions as JSON, or
 * NULL for bad arguments. */
json_t *session_list_json(struct node *n, json_t *args);

/* The session a WebSocket request came from (NULL for REST or when it
 * closed); borrowed. */
struct session *session_of_req(struct req *r);

/* The hub: account id -> sessions, for event delivery. */
void hub_deliver(struct node *n, const char *account, json_t *envelope);
void hub_close_token(struct node *n, const unsigned char hash[32]);
void hub_close_account(struct node *n, const char *account);
/* True when account has at least one session on this node. */
bool hub_has_account(struct node *n, const char *account);

#endif
