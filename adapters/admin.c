/* admin.c - cluster-wide admin answers and live watches (see admin.h).
 *
 * admin.cluster: this node answers for itself at once, then sends a
 * directed request to every peer its heartbeats know (or to the one asked
 * for) and keeps a fan-out record holding one entry per node. Answers fill
 * their entry; the record is answered as soon as no entry is pending, or by
 * the tick once its deadline passed, the silent entries marked "timeout".
 * At most FANOUT_MAX records are open at a time (`unavailable` beyond).
 *
 * admin.watch: a watch ties a session to an account's events (optionally
 * only those of one gig) or to the log. For an account the node subscribes
 * acct.<id> on the bus (reference-counted, so the account's own sessions
 * are unaffected) and forwards what arrives as `admin.watch` events; log
 * lines are pushed from the tick as `admin.log` events. Watches end with
 * their session (admin_session_closed). Bounded per session and per node. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/admin.h"
#include "adapters/cluster.h"
#include "adapters/config.h"
#include "adapters/metrics.h"
#include "adapters/session.h"
#include "engine/bus.h"
#include "engine/engine.h"
#include "engine/log.h"
#include "engine/mem.h"
#include "engine/presence.h"
#include "engine/timefmt.h"

#define FANOUT_MAX 64
#define WATCHES_MAX 256         /* per node */
#define WATCHES_PER_SESSION 8
#define LOG_PUSH_MAX 200        /* lines per admin.log event */
#define OPERATORS_MAX 1000

struct fanout {
    struct fanout *next;
    unsigned long long rid;
    struct req *r;
    json_t *out;     /* [{node, status, ...}], this node first */
    int pending;     /* entries still "pending" */
    int64_t deadline;
};

struct watch {
    struct watch *next;
    struct session *s;
    char account[DROP_ID_SIZE]; /* "" for the log */
    char gig[DROP_ID_SIZE];     /* "" = every event of the account */
    unsigned long long log_seq;
};

struct admin {
    struct admin_deps deps;
    struct fanout *fanouts;
    int nfanouts;
    unsigned long long next_rid;
    struct watch *watches;
    int nwatches;
};

struct admin *admin_new(const struct admin_deps *deps)
{
    struct admin *a = xcalloc(1, sizeof *a);
    a->deps = *deps;
    return a;
}

/* The cluster's bus; NULL before it started and once it stopped. */
static struct bus *bus_of(struct admin *a)
{
    return cluster_bus(a->deps.cluster);
}

static void publish(struct admin *a, const char *channel, json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(msg);
    if (strlen(text) > BUS_PAYLOAD_MAX ||
        bus_publish(bus_of(a), channel, text, strlen(text)) != DROP_OK)
        log_debug("event=admin_publish_dropped channel=%s", channel);
    free(text);
}

/* ---- what a node answers for itself ---- */

struct op_count {
    struct admin *a;
    json_int_t local, free_;
    json_t *list;
    size_t max;
};

static void count_local(const struct presence_state *s, void *ud)
{
    struct op_count *c = ud;
    if (strcmp(s->node, c->a->deps.node_id) != 0) return;
    c->local++;
    if (s->available && !s->busy && !s->locked) c->free_++;
    if (c->list && json_array_size(c->list) < c->max) {
        int64_t now = engine_now(c->a->deps.eng), age = now - s->updated_at;
        json_array_append_new(
            c->list, json_pack("{s:s,s:s,s:s,s:f,s:f,s:b,s:b,s:b,s:f,s:o}", "id", s->account, "node",
                               s->node, "firstName", s->name, "latitude", s->lat, "longitude",
                               s->lon, "available", s->available, "busy", s->busy, "locked",
                               s->locked, "operatorRating", s->rating, "updatedAt",
                               timefmt_json(now - (age > 0 ? age : 0))));
    }
}

/* A new reference, or NULL for bad arguments. */
static json_t *answer_local(struct admin *a, const char *what, json_t *args)
{
    const struct admin_deps *d = &a->deps;
    if (strcmp(what, "stats") == 0) {
        json_t *st = d->eng->ports.inspect(d->eng->ports.ctx, "stats", args);
        struct op_count c = {a, 0, 0, NULL, 0};
        char addr[80];
        if (!st) return NULL;
        presence_foreach(d->eng->presence, count_local, &c);
        snprintf(addr, sizeof addr, "%s:%d", d->cfg->listen_host, *d->port);
        json_object_set_new(st, "addr", json_string(addr));
        json_object_set_new(st, "operatorsLocal", json_integer(c.local));
        json_object_set_new(st, "operatorsFree", json_integer(c.free_));
        json_object_set_new(st, "loopLag", json_real(d->metrics->loop_lag_s));
        return st;
    }
    if (strcmp(what, "nodes") == 0) return cluster_nodes_json(d->cluster);
    if (strcmp(what, "sessions") == 0) return session_list_json(d->sessions, args);
    if (strcmp(what, "operators") == 0) {
        json_t *lim = json_object_get(args, "limit");
        struct op_count c = {a, 0, 0, json_array(), 200};
        if (lim && !json_is_null(lim)) {
            if (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
                json_integer_value(lim) > OPERATORS_MAX) {
                json_decref(c.list);
                return NULL;
            }
            c.max = (size_t)json_integer_value(lim);
        }
        presence_foreach(d->eng->presence, count_local, &c);
        return c.list;
    }
    return NULL;
}

/* ---- admin.cluster ---- */

static void fanout_finish(struct admin *a, struct fanout *f)
{
    size_t i;
    json_t *e;
    for (struct fanout **pp = &a->fanouts; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            a->nfanouts--;
            break;
        }
    }
    json_array_foreach(f->out, i, e)
    {
        const char *st = json_string_value(json_object_get(e, "status"));
        if (st && strcmp(st, "pending") == 0) json_object_set_new(e, "status", json_string("timeout"));
    }
    req_reply(f->r, f->out);
    free(f);
}

void admin_cluster(struct admin *a, struct req *r, const char *what, json_t *args,
                   const char *node, int timeout_ms)
{
    const char *self = a->deps.node_id;
    json_t *empty = json_object();
    if (!args) args = empty;
    json_t *mine = NULL;
    bool want_self = !node || strcmp(node, self) == 0;

    if (want_self) {
        mine = answer_local(a, what, args);
        if (!mine) {
            json_decref(empty);
            req_fail(r, DROP_EBADREQ, "bad args for %s", what);
            return;
        }
    }
    if (a->nfanouts >= FANOUT_MAX) {
        json_decref(mine);
        json_decref(empty);
        req_fail(r, DROP_EUNAVAIL, "too many cluster requests in flight, retry later");
        return;
    }
    struct fanout *f = xcalloc(1, sizeof *f);
    f->r = r;
    f->rid = ++a->next_rid;
    f->out = json_array();
    f->deadline = engine_now(a->deps.eng) + timeout_ms;
    if (mine)
        json_array_append_new(f->out, json_pack("{s:s,s:s,s:o}", "node", self, "status", "ok",
                                                "data", mine));
    if (!want_self || !node) {
        json_t *peers = cluster_peers_json(a->deps.cluster), *p;
        size_t i;
        if (node) { /* one node, known or not: ask it anyway */
            json_t *one = json_array(), *addr = NULL;
            json_array_foreach(peers, i, p) if (strcmp(json_string_value(json_object_get(p, "id")), node) == 0)
                addr = json_object_get(p, "addr");
            json_array_append_new(one, json_pack("{s:s,s:O?}", "id", node, "addr", addr));
            json_decref(peers);
            peers = one;
        }
        json_array_foreach(peers, i, p)
        {
            const char *id = json_string_value(json_object_get(p, "id"));
            char ch[64];
            if (!bus_of(a) || strcmp(cluster_status(a->deps.cluster), "ok") != 0) {
                json_array_append_new(f->out, json_pack("{s:s,s:O?,s:s,s:s}", "node", id, "addr",
                                                        json_object_get(p, "addr"), "status", "error",
                                                        "error", "the bus is down"));
                continue;
            }
            json_array_append_new(f->out, json_pack("{s:s,s:O?,s:s}", "node", id, "addr",
                                                    json_object_get(p, "addr"), "status", "pending"));
            f->pending++;
            snprintf(ch, sizeof ch, "node.%s", id);
            publish(a, ch, json_pack("{s:s,s:s,s:I,s:s,s:O}", "t", "q", "from", self, "rid",
                                     (json_int_t)f->rid, "what", what, "args", args));
        }
        json_decref(peers);
    }
    json_decref(empty);
    f->next = a->fanouts;
    a->fanouts = f;
    a->nfanouts++;
    if (f->pending == 0) fanout_finish(a, f);
}

void admin_on_directed(struct admin *a, json_t *msg)
{
    const char *t = json_string_value(json_object_get(msg, "t"));
    const char *from = json_string_value(json_object_get(msg, "from"));
    json_t *rid = json_object_get(msg, "rid");
    if (!t || !from || !json_is_integer(rid) || strlen(from) >= DROP_ID_SIZE) return;
    if (strcmp(t, "q") == 0) {
        const char *what = json_string_value(json_object_get(msg, "what"));
        json_t *args = json_object_get(msg, "args");
        char ch[64];
        json_t *data = what ? answer_local(a, what, json_is_object(args) ? args : NULL) : NULL;
        snprintf(ch, sizeof ch, "node.%s", from);
        if (data)
            publish(a, ch, json_pack("{s:s,s:s,s:O,s:o}", "t", "a", "from", a->deps.node_id, "rid",
                                     rid, "data", data));
        else
            publish(a, ch, json_pack("{s:s,s:s,s:O,s:s}", "t", "a", "from", a->deps.node_id, "rid",
                                     rid, "err", "bad arguments"));
        return;
    }
    if (strcmp(t, "a") != 0) return;
    for (struct fanout *f = a->fanouts; f; f = f->next) {
        if (f->rid != (unsigned long long)json_integer_value(rid)) continue;
        size_t i;
        json_t *e;
        json_array_foreach(f->out, i, e)
        {
            const char *id = json_string_value(json_object_get(e, "node"));
            const char *st = json_string_value(json_object_get(e, "status"));
            if (strcmp(id, from) != 0 || strcmp(st, "pending") != 0) continue;
            json_t *err = json_object_get(msg, "err");
            if (err) {
                json_object_set_new(e, "status", json_string("error"));
                json_object_set(e, "error", err);
            } else {
                json_object_set_new(e, "status", json_string("ok"));
                json_object_set(e, "data", json_object_get(msg, "data"));
            }
            if (--f->pending == 0) fanout_finish(a, f);
            return;
        }
        return;
    }
}

/* ---- watches ---- */

static void watch_free(struct admin *a, struct watch *w)
{
    char ch[64];
    if (w->account[0] && bus_of(a)) {
        snprintf(ch, sizeof ch, "acct.%s", w->account);
        bus_unsubscribe(bus_of(a), ch);
    }
    free(w);
}

void admin_watch(struct admin *a, struct req *r, const char *account, const char *gig,
                 long long log_after)
{
    struct session *s = session_of_req(r);
    int mine = 0;
    if (!s) {
        req_fail(r, DROP_EBADREQ, "admin.watch needs a WebSocket session");
        return;
    }
    for (struct watch *w = a->watches; w; w = w->next) mine += w->s == s;
    if (mine >= WATCHES_PER_SESSION || a->nwatches >= WATCHES_MAX) {
        req_fail(r, DROP_ETOOLARGE, "too many watches (at most %d a session, %d a node)",
                 WATCHES_PER_SESSION, WATCHES_MAX);
        return;
    }
    struct watch *w = xcalloc(1, sizeof *w);
    w->s = s;
    if (account) {
        char ch[64];
        snprintf(w->account, sizeof w->account, "%s", account);
        if (gig) snprintf(w->gig, sizeof w->gig, "%s", gig);
        snprintf(ch, sizeof ch, "acct.%s", account);
        if (bus_of(a)) bus_subscribe(bus_of(a), ch);
    } else {
        w->log_seq = log_after > 0 ? (unsigned long long)log_after : 0;
    }
    w->next = a->watches;
    a->watches = w;
    a->nwatches++;
    req_reply(r, NULL);
}

void admin_account_event(struct admin *a, const char *account, json_t *envelope)
{
    for (struct watch *w = a->watches; w; w = w->next) {
        if (!w->account[0] || strcmp(w->account, account) != 0) continue;
        if (w->gig[0]) {
            json_t *d = json_object_get(envelope, "data");
            const char *id = json_string_value(json_object_get(d, "gigId"));
            const char *ev = json_string_value(json_object_get(envelope, "ev"));
            if (!id && ev && strncmp(ev, "gig.", 4) == 0) id = json_string_value(json_object_get(d, "id"));
            if (!id || strcmp(id, w->gig) != 0) continue;
        }
        json_t *ev = json_pack("{s:s,s:{s:s,s:s?,s:O}}", "ev", "admin.watch", "data", "account",
                               account, "gig", w->gig[0] ? w->gig : NULL, "event", envelope);
        session_send_event(w->s, ev); /* borrows ev */
        json_decref(ev);
    }
}

void admin_session_closed(struct admin *a, struct session *s)
{
    struct watch **pp = &a->watches;
    while (*pp) {
        struct watch *w = *pp;
        if (w->s == s) {
            *pp = w->next;
            a->nwatches--;
            watch_free(a, w);
        } else {
            pp = &w->next;
        }
    }
}

static void add_line(unsigned long long seq, const char *line, void *ud)
{
    json_array_append_new(ud, json_pack("{s:I,s:s}", "seq", (json_int_t)seq, "line", line));
}

void admin_tick(struct admin *a, int64_t now)
{
    struct fanout *f = a->fanouts, *next;
    for (; f; f = next) {
        next = f->next;
        if (now >= f->deadline) fanout_finish(a, f);
    }
    for (struct watch *w = a->watches; w; w = w->next) {
        if (w->account[0]) continue;
        json_t *lines = json_array();
        log_tail(w->log_seq, LOG_PUSH_MAX, add_line, lines);
        size_t k = json_array_size(lines);
        if (k) {
            w->log_seq = (unsigned long long)json_integer_value(
                json_object_get(json_array_get(lines, k - 1), "seq"));
            json_t *ev = json_pack("{s:s,s:{s:o}}", "ev", "admin.log", "data", "lines", lines);
            session_send_event(w->s, ev); /* borrows ev */
            json_decref(ev);
        } else {
            json_decref(lines);
        }
    }
}

void admin_stop(struct admin *a)
{
    if (!a) return; /* a node that failed to start */
    while (a->fanouts) fanout_finish(a, a->fanouts);
    while (a->watches) {
        struct watch *w = a->watches;
        a->watches = w->next;
        watch_free(a, w);
    }
    a->nwatches = 0;
}

void admin_free(struct admin *a)
{
    if (!a) return;
    admin_stop(a);
    free(a);
}
