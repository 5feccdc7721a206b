/* session.c - WebSocket sessions and the account hub (see session.h).
 *
 * The node hands the hub a session_env (config, engine, metrics and a few
 * callbacks) and this file reaches nowhere else: it includes no header of
 * the node, the cluster or the server. */
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "adapters/config.h"
#include "adapters/metrics.h"
#include "adapters/session.h"
#include "engine/engine.h"
#include "engine/log.h"
#include "engine/mem.h"
#include "engine/ops.h"
#include "engine/timefmt.h"
#include "protocol/envelope.h"

#define MAX_INFLIGHT 64     /* requests awaiting their reply per session */
#define MAX_HELD 64         /* requests held while an earlier one runs */
#define STRIKES_TO_CLOSE 20 /* refused requests in a row before 4429 */
#define CLOSE_REASON_MAX 63 /* bytes of a close reason we send */

/* 232 bytes and malloc's 8-byte header fill a 240-byte chunk: a field more
 * costs every idle session 16 bytes (see session.h and bench/README.md). */
_Static_assert(sizeof(struct session) <= 232, "struct session grew past one 240-byte chunk");

/* A frame and its bytes are one allocation (frame_of): the codec's buffer,
 * whose headroom holds the struct and then LWS_PRE bytes for lws. */
struct frame {
    struct frame *next;
    size_t len;             /* payload bytes after LWS_PRE */
    enum lws_write_protocol kind;
    unsigned char *buf;     /* LWS_PRE headroom + payload, inside the frame's block */
};

#define FRAME_HEADROOM (sizeof(struct frame) + LWS_PRE)

/* A reply slot in the session's FIFO. While its request runs, r points at it
 * through r->conn; when the session closes first, s is set to NULL and the
 * slot is freed by the request's completion instead. */
struct slot {
    struct slot *next;
    struct session *s;
    bool done;
    struct frame *frame;    /* the reply, or NULL (no reply for no-id success) */
    json_t *after;          /* event to send after the reply (session.state) */
    bool auth;
    struct caller auth_who;
    int close_on_fail;      /* header auth: close with this code on failure */
};

/* A decoded request waiting for an auth op to finish. */
struct held {
    struct held *next;
    json_t *root; /* the envelope; for a refused one (bad), its id */
    char *bad;    /* NULL, or why the codec refused it: answered bad_request */
};

/* A message arriving in fragments: allocated with its first fragment that
 * has to wait (or when it goes over max_message_bytes), freed once it is
 * whole or discarded, so an idle session holds none. */
struct session_rx {
    size_t len, cap;        /* bytes in buf, bytes allocated after the struct */
    size_t discarded;       /* bytes dropped of a message over the limit */
    bool discard;           /* over max_message_bytes: drop the rest */
    unsigned char buf[];
};

struct hub_entry {
    char account[DROP_ID_SIZE];
    struct session *head;
    int count;
    UT_hash_handle hh;
};

struct session_hub {
    struct session_env env;
    struct session *live;       /* every open session (doubly linked) */
    struct session *disused;    /* closed sessions, freed by hub_reap */
    struct hub_entry *accounts; /* account id -> its sessions (uthash) */
    bool draining;              /* new sessions are closed with 1001 */
};

static void sink_done(struct req *r, drop_err err, json_t *data, const char *msg);
static const struct req_sink ws_sink = {sink_done};
static void handle_root(struct session *s, json_t *root);
static void handle_bad(struct session *s, json_t *id, const char *why);

/* ---- outbound queue ---- */

/* Sessions with frames to write at the end of this loop turn
 * (session_flush_all), linked through flush_next. One loop thread: static. */
static struct session *flush_head;
static const struct op_def *ping_op; /* sys.ping, found once */

/* Asks lws for a WRITEABLE callback (POLLOUT): the path of a socket whose
 * kernel buffer is full, of the close frame and of keepalive pings. */
static void request_writable(struct session *s)
{
    if (s->wsi && !s->want_write) {
        s->want_write = true;
        lws_callback_on_writable(s->wsi);
    }
}

/* Frames were queued. Like Redis's beforeSleep, the session is written at
 * the end of the loop turn (session_flush_all) without waiting for POLLOUT:
 * asking lws for WRITEABLE costs two epoll_ctl calls each way through
 * libuv (a DEL and an ADD), more than the send() itself. */
static void want_write(struct session *s)
{
    if (!s->wsi || s->want_write || s->flush_queued) return;
    if (s->close_code || lws_get_network_wsi(s->wsi) != s->wsi) {
        request_writable(s);
        return;
    }
    s->flush_queued = true;
    s->flush_next = flush_head;
    flush_head = s;
}

static void flush_unlink(struct session *s)
{
    struct session **pp = &flush_head;
    if (!s->flush_queued) return;
    while (*pp && *pp != s) pp = &(*pp)->flush_next;
    if (*pp) *pp = s->flush_next;
    s->flush_next = NULL;
    s->flush_queued = false;
}

static void frame_free(struct frame *f)
{
    free(f);
}

static void queue_drop_all(struct session *s)
{
    struct frame *f = s->out_head, *nx;
    for (; f; f = nx) {
        nx = f->next;
        frame_free(f);
    }
    s->out_head = s->out_tail = NULL;
    s->out_bytes = 0;
}

/* Takes ownership of f. Closes the session with 4408 when its queue would
 * grow past session_queue_bytes. */
static void queue_push(struct session *s, struct frame *f)
{
    if (s->dead || s->close_code) {
        frame_free(f);
        return;
    }
    if (s->out_bytes + f->len > (size_t)s->home->env.cfg->session_queue_bytes) {
        frame_free(f);
        log_warn("event=slow_consumer account=%s queued=%zu", s->who.account, s->out_bytes);
        session_close(s, 4408, "slow consumer");
        return;
    }
    f->next = NULL;
    if (s->out_tail) s->out_tail->next = f;
    else s->out_head = f;
    s->out_tail = f;
    s->out_bytes += f->len;
    want_write(s);
}

/* Takes p, a codec buffer of len payload bytes after FRAME_HEADROOM, and
 * makes it a frame in place. NULL (a value the codec refused) gives an
 * empty frame. */
static struct frame *frame_of(struct session *s, unsigned char *p, size_t len)
{
    struct frame *f;
    if (!p) {
        p = xmalloc(FRAME_HEADROOM);
        len = 0;
    }
    f = (struct frame *)(void *)p;
    f->next = NULL;
    f->buf = p + sizeof *f;
    f->len = len;
    f->kind = s->codec == CODEC_MSGPACK ? LWS_WRITE_BINARY : LWS_WRITE_TEXT;
    return f;
}

static struct frame *frame_encode(struct session *s, json_t *envelope)
{
    size_t len;
    unsigned char *p = codec_encode(s->codec, envelope, FRAME_HEADROOM, &len);
    return frame_of(s, p, len);
}

void session_send_event(struct session *s, json_t *envelope)
{
    if (!s->authed || s->dead) return;
    s->home->env.metrics->events_out++;
    queue_push(s, frame_encode(s, envelope));
}

/* ---- closing ---- */

void session_close(struct session *s, int code, const char *reason)
{
    if (s->dead || s->close_code) return;
    s->close_code = (uint16_t)code;
    s->close_reason = reason;
    metrics_close(s->home->env.metrics, code);
    log_info("event=session_close code=%d reason=\"%s\" account=%s", code, reason,
             s->who.account[0] ? s->who.account : "-");
    if (code == 4408) queue_drop_all(s);
    if (s->wsi) {
        /* a peer that never reads again cannot take the close frame: drop it */
        lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, 5);
        s->want_write = false;
        request_writable(s);
    }
}

/* ---- the hub ---- */

/* A session is listed under its account while it is signed in to one and
 * open: the hub entry holds no pointer back, the account finds it. */
static bool in_hub(const struct session *s)
{
    return s->authed && s->who.account[0] && !s->dead;
}

static void hub_add(struct session *s)
{
    struct session_hub *h = s->home;
    struct hub_entry *e;
    HASH_FIND_STR(h->accounts, s->who.account, e);
    if (!e) {
        e = xcalloc(1, sizeof *e);
        memcpy(e->account, s->who.account, DROP_ID_SIZE);
        HASH_ADD_STR(h->accounts, account, e);
        h->env.account_joined(h->env.ctx, e->account);
    }
    s->acct_prev = NULL;
    s->acct_next = e->head;
    if (e->head) e->head->acct_prev = s;
    e->head = s;
    e->count++;
}

/* Unlinks s (in_hub) from its account's entry. Returns true when it was the
 * account's last session on this node. */
static bool hub_remove(struct session *s)
{
    struct hub_entry *e;
    HASH_FIND_STR(s->home->accounts, s->who.account, e);
    if (!e) return false;
    if (s->acct_prev) s->acct_prev->acct_next = s->acct_next;
    else e->head = s->acct_next;
    if (s->acct_next) s->acct_next->acct_prev = s->acct_prev;
    s->acct_prev = s->acct_next = NULL;
    if (--e->count > 0) return false;
    s->home->env.account_left(s->home->env.ctx, e->account);
    HASH_DEL(s->home->accounts, e);
    free(e);
    return true;
}

void hub_deliver(struct session_hub *h, const char *account, json_t *envelope)
{
    struct hub_entry *e;
    HASH_FIND_STR(h->accounts, account, e);
    if (e)
        for (struct session *s = e->head; s; s = s->acct_next) session_send_event(s, envelope);
}

bool hub_has_account(struct session_hub *h, const char *account)
{
    struct hub_entry *e;
    HASH_FIND_STR(h->accounts, account, e);
    return e != NULL;
}

bool hub_holds_account(void *hub, const char *account)
{
    return hub_has_account(hub, account);
}

void hub_close_token(struct session_hub *h, const unsigned char hash[32])
{
    for (struct session *s = h->live; s; s = s->next)
        if (s->authed && s->who.has_token && memcmp(s->who.token_hash, hash, 32) == 0)
            session_close(s, 4401, "token revoked");
}

void hub_close_account(struct session_hub *h, const char *account)
{
    struct hub_entry *e;
    HASH_FIND_STR(h->accounts, account, e);
    if (e)
        for (struct session *s = e->head; s; s = s->acct_next)
            session_close(s, 4401, "account closed");
}

/* ---- replies in request order ---- */

static void fifo_flush(struct session *s)
{
    struct slot *sl;
    while ((sl = s->fifo_head) && sl->done) {
        s->fifo_head = sl->next;
        if (!s->fifo_head) s->fifo_tail = NULL;
        s->inflight--;
        if (sl->frame) {
            s->home->env.metrics->msgs_out++;
            queue_push(s, sl->frame);
        }
        if (sl->auth && !s->dead) {
            if (in_hub(s)) hub_remove(s); /* found by the account it leaves */
            s->who = sl->auth_who;
            if (!s->authed) s->home->env.metrics->sessions_authed++;
            s->authed = true;
            if (in_hub(s)) hub_add(s);
        }
        if (sl->after) {
            session_send_event(s, sl->after);
            json_decref(sl->after);
        }
        free(sl);
    }
}

/* The running request finished: dispatches the requests that waited for
 * it, in order, until one of them runs asynchronously in turn. */
static void release_held(struct session *s)
{
    s->running = false;
    while (s->held_head && !s->running && !s->dead && !s->close_code) {
        struct held *h = s->held_head;
        s->held_head = h->next;
        if (!s->held_head) s->held_tail = NULL;
        s->held_count--;
        if (h->bad) handle_bad(s, h->root, h->bad);
        else handle_root(s, h->root);
        json_decref(h->root);
        free(h->bad);
        free(h);
    }
}

static void sink_done(struct req *r, drop_err err, json_t *data, const char *msg)
{
    struct slot *sl = r->conn;
    struct session *s = sl->s;
    json_t *env = NULL;

    if (!s) { /* the session closed while the request ran */
        json_decref(data);
        free(sl);
        req_free(r);
        return;
    }
    if (err == DROP_OK) {
        if (r->id) { /* encoded straight from id and data: no envelope json_t */
            size_t len;
            unsigned char *p = codec_encode_reply(s->codec, r->id, data, FRAME_HEADROOM, &len);
            sl->frame = frame_of(s, p, len);
        }
        json_decref(data);
        if (r->authenticated) {
            sl->auth = true;
            sl->auth_who = r->auth;
            sl->after = r->after;
            r->after = NULL;
        }
    } else {
        s->home->env.metrics->errors[err]++;
        if (sl->close_on_fail) session_close(s, sl->close_on_fail, "authentication failed");
        else env = envelope_error(r->id, err, msg);
        if (env && data) json_object_update(json_object_get(env, "error"), data); /* retryAfter */
        json_decref(data);
    }
    if (env) {
        sl->frame = frame_encode(s, env);
        json_decref(env);
    }
    sl->done = true;
    if (r->op->flags & OPF_AUTH) s->auth_inflight = false;
    req_free(r);
    fifo_flush(s);
    release_held(s);
}

static struct slot *slot_new(struct session *s)
{
    struct slot *sl = xcalloc(1, sizeof *sl);
    sl->s = s;
    if (s->fifo_tail) s->fifo_tail->next = sl;
    else s->fifo_head = sl;
    s->fifo_tail = sl;
    s->inflight++;
    return sl;
}

/* Answers a request that never reached a handler (rate limit, unknown op). */
static void reply_error_now(struct session *s, json_t *id, drop_err err, const char *msg)
{
    struct slot *sl = slot_new(s);
    json_t *env = envelope_error(id, err, msg);
    s->home->env.metrics->errors[err]++;
    sl->frame = frame_encode(s, env);
    json_decref(env);
    sl->done = true;
    fifo_flush(s);
}

/* Starts one request: takes a slot and runs the op. */
static void dispatch(struct session *s, const struct op_def *op, json_t *id, json_t *data,
                     int close_on_fail)
{
    struct req *r = xcalloc(1, sizeof *r);
    struct slot *sl = slot_new(s);
    sl->close_on_fail = close_on_fail;
    r->op = op;
    r->id = id ? json_incref(id) : NULL;
    r->data = data ? json_incref(data) : json_object();
    r->who = s->who;
    r->eng = s->home->env.eng;
    r->sink = &ws_sink;
    r->conn = sl;
    /* sign-in ops: the brake counts per address (two getpeername() calls:
     * not for sys.ping, which needs none and is what idle clients send) */
    if (!ping_op) ping_op = ops_find("sys.ping");
    if (s->wsi && r->who.role == ROLE_ANON && op != ping_op)
        lws_get_peer_simple(s->wsi, r->addr, sizeof r->addr);
    s->home->env.metrics->msgs_in[ops_index(op)]++;
    if (op->flags & OPF_AUTH) s->auth_inflight = true;
    s->running = true;
    ops_dispatch(r);
}

/* ---- inbound ---- */

static bool rate_ok(struct session *s, int64_t now)
{
    const struct config *c = s->home->env.cfg;
    s->bucket += (double)(now - s->bucket_at) * c->rate_limit / 1000.0;
    if (s->bucket > (double)c->rate_burst) s->bucket = (double)c->rate_burst;
    s->bucket_at = now;
    if (s->bucket < 1.0) return false;
    s->bucket -= 1.0;
    return true;
}

/* Refuses a request with `rate_limited`, whatever the limit that was hit
 * (rate, requests waiting, requests in flight): each refusal is a strike,
 * and STRIKES_TO_CLOSE of them in a row close the session with 4429. A
 * request that gets past every limit clears the strikes (a request put on
 * hold behind a running one is checked when it leaves the hold). */
static void refuse(struct session *s, json_t *id, const char *msg)
{
    if (++s->strikes >= STRIKES_TO_CLOSE) {
        session_close(s, 4429, "rate limit exceeded repeatedly");
        return;
    }
    reply_error_now(s, id, DROP_ERATELIMIT, msg);
}

/* Holds v (the envelope, or a refused request's id with why) until the
 * running request finishes; past MAX_HELD the request is refused. */
static void hold(struct session *s, json_t *v, json_t *id, const char *bad)
{
    if (s->held_count >= MAX_HELD) {
        refuse(s, id, "too many requests waiting");
        return;
    }
    struct held *h = xcalloc(1, sizeof *h);
    h->root = json_incref(v);
    h->bad = bad ? xstrdup(bad) : NULL;
    if (s->held_tail) s->held_tail->next = h;
    else s->held_head = h;
    s->held_tail = h;
    s->held_count++;
}

/* A request the codec refused for one value it cannot hold (its id from
 * codec_decode_request; JSON null when it had none): answered bad_request in
 * its turn, after the requests before it, and the session goes on. */
static void handle_bad(struct session *s, json_t *id, const char *why)
{
    json_t *re = json_is_null(id) ? NULL : id;
    if (s->running) hold(s, id, re, why);
    else if (!rate_ok(s, engine_now(s->home->env.eng))) refuse(s, re, "rate limit exceeded");
    else reply_error_now(s, re, DROP_EBADREQ, why);
}

static void handle_root(struct session *s, json_t *root)
{
    struct envelope env;
    char why[160];
    const struct op_def *op;

    if (envelope_parse(root, &env, why, sizeof why) != DROP_OK) {
        session_close(s, 4400, "malformed envelope");
        return;
    }
    if (s->running) { /* one request at a time, in order: wait for the running one */
        hold(s, root, env.id, NULL);
        return;
    }
    if (!rate_ok(s, engine_now(s->home->env.eng))) {
        refuse(s, env.id, "rate limit exceeded");
        return;
    }
    if (s->inflight >= MAX_INFLIGHT) {
        refuse(s, env.id, "too many requests in flight");
        return;
    }
    s->strikes = 0;
    op = ops_find(env.op);
    if (!op) {
        s->home->env.metrics->msgs_in[METRICS_MAX_OPS]++;
        snprintf(why, sizeof why, "unknown op '%.64s'", env.op);
        reply_error_now(s, env.id, DROP_EBADREQ, why);
        return;
    }
    dispatch(s, op, env.id, env.data, 0);
}

static void on_message(struct session *s, const unsigned char *buf, size_t len)
{
    json_t *root = NULL, *id = NULL;
    char why[160];
    if (codec_decode_request(s->codec, buf, len, 32, &root, &id, why, sizeof why) != DROP_OK) {
        /* a well-formed request with a value jansson cannot hold (a \u0000,
         * an integer beyond 64 bits) is the request's mistake, not the
         * session's: answered bad_request in its turn */
        if (id) {
            handle_bad(s, id, why);
            json_decref(id);
            return;
        }
        log_debug("event=bad_frame reason=\"%s\"", why);
        session_close(s, 4400, "malformed envelope");
        return;
    }
    handle_root(s, root);
    json_decref(root);
}

void session_on_rx(struct session *s, const void *in, size_t len)
{
    struct lws *wsi = s->wsi;
    size_t max = (size_t)s->home->env.cfg->max_message_bytes;
    bool first = lws_is_first_fragment(wsi), final = lws_is_final_fragment(wsi);
    size_t remaining = lws_remaining_packet_payload(wsi);
    struct session_rx *x = s->rx;

    s->last_rx = engine_now(s->home->env.eng);
    s->home->env.metrics->bytes_in += (int64_t)len;
    if (s->close_code || s->dead) return;
    if (!(x && x->discard) && (x ? x->len : 0) + len + remaining > max) {
        /* over the limit: stop buffering, but read the rest of the message
         * before closing, so the close frame is not lost to a TCP reset */
        s->rx = x = xrealloc(x, sizeof *x);
        *x = (struct session_rx){.discard = true};
    }
    if (x && x->discard) {
        x->discarded += len;
        if ((final && remaining == 0) || x->discarded > 8 * max) {
            free(x);
            s->rx = NULL;
            session_close(s, 1009, "message too big");
        }
        return;
    }
    if (first && final && remaining == 0 && !x) { /* common case: no copy */
        on_message(s, in, len);
        return;
    }
    if (!x || x->len + len > x->cap) {
        size_t used = x ? x->len : 0;
        size_t cap = x && x->cap ? x->cap : 1024;
        while (cap < used + len) cap *= 2;
        if (cap > max) cap = max;
        s->rx = x = xrealloc(x, sizeof *x + cap);
        if (!used) *x = (struct session_rx){0};
        x->cap = cap;
    }
    if (len) { /* an empty fragment (legal) comes as in == NULL */
        memcpy(x->buf + x->len, in, len);
        x->len += len;
    }
    if (final && remaining == 0) {
        /* an idle session holds no reassembly state (messages over the rx
         * buffer of server.c are the rare ones) */
        s->rx = NULL;
        on_message(s, x->buf, x->len);
        free(x);
    }
}

/* ---- lifecycle ---- */

void session_on_pong(struct session *s)
{
    s->last_rx = engine_now(s->home->env.eng);
}

struct session *session_open(struct session_hub *h, struct lws *wsi, enum codec codec,
                             const char *bearer, bool origin_ok)
{
    struct session *s = xcalloc(1, sizeof *s);
    const struct session_env *env = &h->env;
    int64_t now = engine_now(env->eng);
    s->home = h;
    s->wsi = wsi;
    s->codec = (uint8_t)codec;
    s->created_at = s->last_rx = s->bucket_at = now;
    s->bucket = (double)env->cfg->rate_burst;
    s->next = h->live;
    if (h->live) h->live->prev = s;
    h->live = s;
    env->metrics->connections++;
    env->metrics->connections_total++;
    if (!origin_ok) {
        session_close(s, 1008, "origin not allowed");
    } else if (h->draining) {
        session_close(s, 1001, "going away");
    } else if (env->metrics->connections > env->capacity(env->ctx)) {
        /* max_sessions, or the descriptors left (server_capacity) */
        session_close(s, 1013, "too many sessions");
    } else if (bearer && *bearer) {
        const struct op_def *op = ops_find("auth.token");
        if (op) {
            json_t *data = json_pack("{s:s}", "token", bearer);
            dispatch(s, op, NULL, data, 4401);
            json_decref(data);
        } else {
            session_close(s, 4401, "authentication unavailable");
        }
    }
    return s;
}

/* Server frame header for a payload of len (no mask): returns its size. */
static size_t ws_header(unsigned char *h, enum lws_write_protocol kind, size_t len)
{
    h[0] = (unsigned char)(0x80 | (kind == LWS_WRITE_BINARY ? 0x2 : 0x1));
    if (len < 126) {
        h[1] = (unsigned char)len;
        return 2;
    }
    if (len < 65536) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; i++) h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

static void frame_pop(struct session *s, struct frame *f)
{
    s->out_head = f->next;
    if (!s->out_head) s->out_tail = NULL;
    s->out_bytes -= f->len;
    s->home->env.metrics->bytes_out += (int64_t)f->len;
    frame_free(f);
}

/* Corked write: the queued frames, framed here, leave in one lws_write of
 * LWS_WRITE_HTTP, which the ws role hands to lws_issue_raw untouched (no
 * framing of its own): one send() for everything queued in this loop turn,
 * and no poll() per frame as lws_send_pipe_choked() would cost. lws_issue_raw
 * keeps what the kernel did not take (lws_partial_buffered) and drains it
 * before it calls WRITEABLE again, so frames keep their order and a slow
 * reader costs at most one batch on top of the session's own bounded queue;
 * the protocol's tx_packet_size (server.c) lets one send() carry the whole
 * batch. A frame bigger than the batch goes alone through lws's framing.
 * Returns -1 when the connection must close. */
static int write_corked(struct session *s)
{
    static unsigned char batch[LWS_PRE + SESSION_BATCH_BYTES];
    struct frame *f;

    while ((f = s->out_head) && !lws_partial_buffered(s->wsi)) {
        size_t used = 0;
        if (f->len + 10 > SESSION_BATCH_BYTES) {
            int w = lws_write(s->wsi, f->buf + LWS_PRE, f->len, f->kind);
            frame_pop(s, f);
            if (w < 0) return -1;
            continue;
        }
        while ((f = s->out_head) && used + f->len + 10 <= SESSION_BATCH_BYTES) {
            used += ws_header(batch + LWS_PRE + used, f->kind, f->len);
            memcpy(batch + LWS_PRE + used, f->buf + LWS_PRE, f->len);
            used += f->len;
            frame_pop(s, f);
        }
        if (lws_write(s->wsi, batch + LWS_PRE, used, LWS_WRITE_HTTP) < 0) return -1;
    }
    return 0;
}

int session_on_writeable(struct session *s)
{
    struct frame *f;
    s->want_write = false;
    if (lws_get_network_wsi(s->wsi) == s->wsi) { /* not a stream inside HTTP/2 */
        if (write_corked(s) < 0) return -1;
    } else {
        while ((f = s->out_head) && !lws_send_pipe_choked(s->wsi)) {
            int w = lws_write(s->wsi, f->buf + LWS_PRE, f->len, f->kind);
            frame_pop(s, f);
            if (w < 0) return -1;
        }
    }
    if (s->out_head) {
        request_writable(s);
        return 0;
    }
    if (s->close_code) {
        /* lws 4.1 marks the socket unusable when WRITEABLE returns -1, so the
         * frame lws_close_reason() prepares is never sent: write the close
         * frame ourselves (opcode value 4, LWS_WRITE_CLOSE, which 4.1 still
         * handles but no longer names), then keep reading until the peer
         * answers it (lws completes the handshake) or CLOSE_ACK times out.
         * Returning -1 here instead would reset a peer whose requests are
         * still unread, and the close frame would be lost with them. */
        unsigned char cf[LWS_PRE + 2 + CLOSE_REASON_MAX];
        const char *reason = s->close_reason ? s->close_reason : "";
        size_t rl = strnlen(reason, CLOSE_REASON_MAX);
        if (s->close_sent) return 0;
        if (lws_partial_buffered(s->wsi)) {
            request_writable(s);
            return 0;
        }
        cf[LWS_PRE] = (unsigned char)(s->close_code >> 8);
        cf[LWS_PRE + 1] = (unsigned char)(s->close_code & 0xff);
        memcpy(cf + LWS_PRE + 2, reason, rl);
        if (lws_write(s->wsi, cf + LWS_PRE, 2 + rl, (enum lws_write_protocol)4) < 0) return -1;
        s->close_sent = true;
        lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_ACK, 3);
        return 0;
    }
    if (s->ping_due) {
        /* lws 4.1 reports no RECEIVE_PONG for an empty pong: ping with a
         * payload so the client's pong counts as activity */
        unsigned char ping[LWS_PRE + 4] = {0};
        memcpy(ping + LWS_PRE, "dpng", 4);
        s->ping_due = false;
        if (lws_write(s->wsi, ping + LWS_PRE, 4, LWS_WRITE_PING) < 0) return -1;
    }
    return 0;
}

void session_flush_all(void)
{
    struct session *s;
    while ((s = flush_head)) {
        flush_head = s->flush_next;
        s->flush_next = NULL;
        s->flush_queued = false;
        if (!s->wsi || s->dead) continue;
        if (s->close_code || s->want_write || lws_partial_buffered(s->wsi)) {
            request_writable(s);
            continue;
        }
        if (write_corked(s) < 0) {
            /* the socket failed: lws closes it on its next service */
            lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
            continue;
        }
        if (s->out_head) request_writable(s); /* the kernel took part: wait for POLLOUT */
    }
}

/* Auth deadline, idle timeout, keepalive ping. */
static void session_tick(struct session *s, int64_t now)
{
    const struct config *c = s->home->env.cfg;
    if (s->close_code || s->dead) return;
    if (!s->authed && !s->auth_inflight && now >= s->created_at + c->auth_timeout_ms) {
        session_close(s, 4401, "authentication timeout");
        return;
    }
    if (now - s->last_rx >= c->idle_timeout_ms) {
        session_close(s, 1001, "idle timeout");
        return;
    }
    if (now - s->last_rx >= c->idle_timeout_ms / 2 && !s->ping_due) {
        s->ping_due = true;
        request_writable(s);
    }
}

void session_on_closed(struct session *s)
{
    struct session_hub *h = s->home;
    s->wsi = NULL;
    flush_unlink(s);
    if (s->dead) return;
    bool listed = in_hub(s);
    s->dead = true;
    h->env.closed(h->env.ctx, s);
    h->env.metrics->connections--;
    if (s->authed) h->env.metrics->sessions_authed--;
    if (listed) {
        bool last = hub_remove(s);
        engine_session_ended(h->env.eng, s->who.account, s->who.role, last);
    }
    /* unlink from the live list, move to the disused list */
    if (s->prev) s->prev->next = s->next;
    else h->live = s->next;
    if (s->next) s->next->prev = s->prev;
    s->prev = NULL;
    s->next = h->disused;
    h->disused = s;
    /* orphan the requests still running; drop finished ones */
    struct slot *sl = s->fifo_head, *nx;
    for (; sl; sl = nx) {
        nx = sl->next;
        if (sl->done) {
            if (sl->frame) frame_free(sl->frame);
            json_decref(sl->after);
            free(sl);
        } else {
            sl->s = NULL;
        }
    }
    s->fifo_head = s->fifo_tail = NULL;
    queue_drop_all(s);
}

static void session_free(struct session *s)
{
    struct held *h = s->held_head, *hn;
    for (; h; h = hn) {
        hn = h->next;
        json_decref(h->root);
        free(h->bad);
        free(h);
    }
    free(s->rx);
    free(s);
}

json_t *session_list_json(struct session_hub *h, json_t *args)
{
    static const char *roles[] = {"anonymous", "user", "operator", "admin"};
    json_t *acc = json_object_get(args, "accountId"), *lim = json_object_get(args, "limit");
    json_int_t max = 200;
    json_t *out;

    if ((acc && !json_is_null(acc) && (!json_is_string(acc) || !id_valid(json_string_value(acc)))) ||
        (lim && !json_is_null(lim) &&
         (!json_is_integer(lim) || json_integer_value(lim) < 1 || json_integer_value(lim) > 1000)))
        return NULL;
    if (json_is_integer(lim)) max = json_integer_value(lim);
    out = json_array();
    for (struct session *s = h->live; s && (json_int_t)json_array_size(out) < max; s = s->next) {
        if (json_is_string(acc) && strcmp(s->who.account, json_string_value(acc)) != 0) continue;
        json_array_append_new(
            out, json_pack("{s:s?,s:s,s:s,s:o,s:I,s:i,s:s}", "account",
                           s->who.account[0] ? s->who.account : NULL, "role", roles[s->who.role],
                           "codec", s->codec == CODEC_MSGPACK ? "msgpack" : "json", "since",
                           timefmt_json(s->created_at), "queuedBytes", (json_int_t)s->out_bytes,
                           "inflight", s->inflight, "node", h->env.node_id));
    }
    return out;
}

struct session *session_of_req(struct req *r)
{
    struct slot *sl = r->conn;
    return r->sink == &ws_sink && sl ? sl->s : NULL;
}

/* ---- the hub's life ---- */

struct session_hub *hub_new(const struct session_env *env)
{
    struct session_hub *h = xcalloc(1, sizeof *h);
    h->env = *env;
    return h;
}

void hub_tick(struct session_hub *h, int64_t now)
{
    for (struct session *s = h->live; s; s = s->next) session_tick(s, now);
}

void hub_drain(struct session_hub *h)
{
    h->draining = true;
    for (struct session *s = h->live; s; s = s->next) session_close(s, 1001, "going away");
}

bool hub_empty(const struct session_hub *h)
{
    return h->live == NULL;
}

void hub_reap(struct session_hub *h)
{
    while (h->disused) {
        struct session *s = h->disused;
        h->disused = s->next;
        session_free(s);
    }
}

void hub_free(struct session_hub *h)
{
    if (!h) return;
    hub_reap(h);
    free(h);
}
