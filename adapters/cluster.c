/* cluster.c - the node's messages over the bus (see cluster.h).
 *
 * Messages are compact JSON. Presence changes of local operators are
 * collected in a set and sent every tick in batches of at most
 * PRESENCE_BATCH entries; a full re-announce of the local operators follows
 * every presence_ttl / 3, so a new node's grid is complete after one and a
 * dead node's operators expire everywhere after presence_ttl. A node
 * ignores its own presence and gig announcements (it applied them already). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "adapters/bus_local.h"
#include "adapters/bus_redis.h"
#include "adapters/cluster.h"
#include "adapters/config.h"
#include "adapters/metrics.h"
#include "engine/bus.h"
#include "engine/engine.h"
#include "engine/gig.h"
#include "engine/log.h"
#include "engine/mem.h"
#include "engine/presence.h"
#include "engine/timefmt.h"

#define PRESENCE_BATCH 500     /* entries per presence message */
#define DIRTY_MAX 200000       /* pending presence changes kept before a full re-announce */

#define HEARTBEAT_MS 1000
#define PEER_DEAD_MS (5 * HEARTBEAT_MS)
#define PEERS_MAX 1024

/* Another node, as its heartbeats describe it. */
struct peer {
    char id[DROP_ID_SIZE];
    char addr[80];
    int64_t sessions, operators, started_at, last_seen;
    UT_hash_handle hh;
};

struct dirty {
    char account[DROP_ID_SIZE];
    UT_hash_handle hh;
};

struct cluster {
    struct cluster_deps deps;
    struct bus *bus;           /* NULL until started, and once stopped */
    struct dirty *dirty;       /* local operators changed since the last batch */
    int64_t reannounce_at;
    int64_t heartbeat_at;
    struct peer *peers;        /* other nodes, from heartbeats (uthash) */
    bool held_by_hub;          /* local bus: acct.<id> held through holds_account */
};

/* Every use of cl->bus checks it: work that finishes after cluster_stop()
 * (a request still on a worker thread when the node stopped) finds none. */
static void publish_json(struct cluster *cl, const char *channel, json_t *msg)
{
    if (!cl->bus) {
        json_decref(msg);
        return;
    }
    char *text = json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(msg);
    if (bus_publish(cl->bus, channel, text, strlen(text)) != DROP_OK)
        log_debug("event=bus_publish_dropped channel=%s", channel);
    free(text);
}

/* ---- presence ---- */

static json_t *state_json(const struct presence_state *s)
{
    json_t *o = json_pack("{s:s,s:f,s:f,s:f,s:b,s:b,s:b,s:s}", "a", s->account, "lat", s->lat,
                          "lon", s->lon, "r", s->rating, "av", s->available, "b", s->busy, "l",
                          s->locked, "nm", s->name);
    if (isfinite(s->accuracy)) json_object_set_new(o, "acc", json_real(s->accuracy));
    if (isfinite(s->heading)) json_object_set_new(o, "hd", json_real(s->heading));
    return o;
}

struct batch {
    struct cluster *cl;
    json_t *put, *del;
};

static void batch_flush(struct batch *b)
{
    if (json_array_size(b->put) == 0 && json_array_size(b->del) == 0) return;
    publish_json(b->cl, "presence", json_pack("{s:s,s:O,s:O}", "n", b->cl->deps.node_id, "put",
                                              b->put, "del", b->del));
    json_array_clear(b->put);
    json_array_clear(b->del);
}

static void batch_add_state(struct batch *b, const struct presence_state *s)
{
    json_array_append_new(b->put, state_json(s));
    if (json_array_size(b->put) >= PRESENCE_BATCH) batch_flush(b);
}

static void reannounce_one(const struct presence_state *s, void *ud)
{
    struct batch *b = ud;
    if (strcmp(s->node, b->cl->deps.node_id) == 0) batch_add_state(b, s);
}

static void flush_presence(struct cluster *cl, bool everything)
{
    struct batch b = {cl, json_array(), json_array()};
    struct dirty *d, *tmp;
    HASH_ITER(hh, cl->dirty, d, tmp)
    {
        if (!everything) {
            const struct presence_state *s = presence_get(cl->deps.eng->presence, d->account);
            if (s && strcmp(s->node, cl->deps.node_id) == 0) batch_add_state(&b, s);
            else if (!s) json_array_append_new(b.del, json_string(d->account));
            if (json_array_size(b.del) >= PRESENCE_BATCH) batch_flush(&b);
        }
        HASH_DEL(cl->dirty, d);
        free(d);
    }
    if (everything) presence_foreach(cl->deps.eng->presence, reannounce_one, &b);
    batch_flush(&b);
    json_decref(b.put);
    json_decref(b.del);
}

void cluster_presence_changed(struct cluster *cl, const char *account)
{
    struct dirty *d;
    HASH_FIND_STR(cl->dirty, account, d);
    if (d) return;
    if (HASH_COUNT(cl->dirty) >= DIRTY_MAX) { /* re-announce everything instead */
        cl->reannounce_at = 0;
        return;
    }
    d = xcalloc(1, sizeof *d);
    snprintf(d->account, sizeof d->account, "%s", account);
    HASH_ADD_STR(cl->dirty, account, d);
}

static double num_or(json_t *v, double dflt)
{
    return json_is_number(v) ? json_number_value(v) : dflt;
}

static void on_presence(struct cluster *cl, json_t *msg)
{
    const char *from = json_string_value(json_object_get(msg, "n"));
    size_t i;
    json_t *v;
    int64_t now = engine_now(cl->deps.eng);

    if (!from || strcmp(from, cl->deps.node_id) == 0) return;
    json_array_foreach(json_object_get(msg, "put"), i, v)
    {
        struct presence_state s;
        const char *a = json_string_value(json_object_get(v, "a"));
        const char *nm = json_string_value(json_object_get(v, "nm"));
        if (!a) continue;
        const struct presence_state *mine = presence_get(cl->deps.eng->presence, a);
        if (mine && strcmp(mine->node, cl->deps.node_id) == 0) continue; /* ours is fresher */
        /* where it stood while already free (mine changes in place below) */
        bool was_free = mine && mine->available && !mine->busy && !mine->locked;
        struct late_join_from was = {mine ? mine->lat : 0, mine ? mine->lon : 0};
        memset(&s, 0, sizeof s);
        snprintf(s.account, sizeof s.account, "%s", a);
        snprintf(s.node, sizeof s.node, "%s", from);
        snprintf(s.name, sizeof s.name, "%s", nm ? nm : "");
        s.lat = num_or(json_object_get(v, "lat"), NAN);
        s.lon = num_or(json_object_get(v, "lon"), NAN);
        s.rating = num_or(json_object_get(v, "r"), 0);
        s.accuracy = num_or(json_object_get(v, "acc"), NAN);
        s.heading = num_or(json_object_get(v, "hd"), NAN);
        s.available = json_is_true(json_object_get(v, "av"));
        s.busy = json_is_true(json_object_get(v, "b"));
        s.locked = json_is_true(json_object_get(v, "l"));
        if (presence_put(cl->deps.eng->presence, &s, now) == DROP_OK && s.available && !s.busy &&
            !s.locked)
            gig_operator_free(cl->deps.eng, a, was_free ? &was : NULL);
    }
    json_array_foreach(json_object_get(msg, "del"), i, v)
    {
        const char *a = json_string_value(v);
        const struct presence_state *s = a ? presence_get(cl->deps.eng->presence, a) : NULL;
        if (s && strcmp(s->node, from) == 0) presence_remove(cl->deps.eng->presence, a);
    }
}

/* ---- pending gigs ---- */

void cluster_gig_pending(struct cluster *cl, const struct gig *g)
{
    json_t *offered = json_array();
    for (int i = 0; i < g->n_offers; i++) json_array_append_new(offered, json_string(g->offers[i].operator));
    publish_json(cl, "gigs",
                 json_pack("{s:s,s:s,s:s,s:f,s:f,s:b,s:o}", "n", cl->deps.node_id, "id", g->id, "c",
                           g->customer, "lat", g->latitude, "lon", g->longitude, "p",
                           g->status == GIG_PENDING_OPERATOR, "o", offered));
}

static void on_gig(struct cluster *cl, json_t *msg)
{
    const char *from = json_string_value(json_object_get(msg, "n"));
    const char *id = json_string_value(json_object_get(msg, "id"));
    const char *c = json_string_value(json_object_get(msg, "c"));
    json_t *o = json_object_get(msg, "o"), *v;
    char offered[GIG_MAX_OFFERS][DROP_ID_SIZE];
    int k = 0;
    size_t i;

    if (!from || !id || !c || strcmp(from, cl->deps.node_id) == 0 || !id_valid(id)) return;
    json_array_foreach(o, i, v)
    {
        if (k < GIG_MAX_OFFERS && json_is_string(v))
            snprintf(offered[k++], DROP_ID_SIZE, "%s", json_string_value(v));
    }
    engine_pending_apply(cl->deps.eng, id, c, num_or(json_object_get(msg, "lat"), 0),
                         num_or(json_object_get(msg, "lon"), 0), (const char(*)[DROP_ID_SIZE])offered,
                         k, json_is_true(json_object_get(msg, "p")));
}

/* ---- accounts ---- */

static void acct_channel(char out[64], const char *account)
{
    snprintf(out, 64, "acct.%s", account);
}

void cluster_deliver(struct cluster *cl, const char *account, json_t *event)
{
    char ch[64];
    acct_channel(ch, account);
    publish_json(cl, ch, json_pack("{s:s,s:o}", "t", "ev", "e", event));
}

void cluster_deliver_counted(struct cluster *cl, const char *account, json_t *event,
                             void (*cb)(void *ud, drop_err err, int64_t nodes), void *ud)
{
    char ch[64];
    acct_channel(ch, account);
    json_t *msg = json_pack("{s:s,s:o}", "t", "ev", "e", event);
    char *text = json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(msg);
    drop_err rc = bus_publish_counted(cl->bus, ch, text, strlen(text), cb, ud);
    if (rc == DROP_EUNAVAIL && bus_publish(cl->bus, ch, text, strlen(text)) != DROP_OK)
        log_debug("event=bus_publish_dropped channel=%s", ch);
    free(text);
    if (rc != DROP_OK) cb(ud, DROP_EUNAVAIL, 0);
}

void cluster_close_account(struct cluster *cl, const char *account)
{
    char ch[64];
    acct_channel(ch, account);
    publish_json(cl, ch, json_pack("{s:s}", "t", "close"));
}

void cluster_close_token(struct cluster *cl, const unsigned char hash[32])
{
    char hex[65];
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", hash[i]);
    publish_json(cl, "cluster", json_pack("{s:s,s:s}", "t", "close_token", "h", hex));
}

void cluster_account_joined(struct cluster *cl, const char *account)
{
    char ch[64];
    if (!cl->bus || cl->held_by_hub) return;
    acct_channel(ch, account);
    bus_subscribe(cl->bus, ch);
}

void cluster_account_left(struct cluster *cl, const char *account)
{
    char ch[64];
    if (!cl->bus || cl->held_by_hub) return;
    acct_channel(ch, account);
    bus_unsubscribe(cl->bus, ch);
}

static void on_account(struct cluster *cl, const char *account, json_t *msg)
{
    const char *t = json_string_value(json_object_get(msg, "t"));
    json_t *ev = json_object_get(msg, "e");
    if (!t || !id_valid(account)) return;
    if (strcmp(t, "ev") == 0 && json_is_object(ev)) {
        engine_account_event(cl->deps.eng, account, ev);
        cl->deps.deliver(cl->deps.ctx, account, ev);
    } else if (strcmp(t, "close") == 0) {
        cl->deps.close_account(cl->deps.ctx, account);
    }
}

static void heartbeat(struct cluster *cl)
{
    const struct cluster_deps *d = &cl->deps;
    char addr[80];
    snprintf(addr, sizeof addr, "%s:%d", d->cfg->listen_host, *d->port);
    publish_json(cl, "cluster",
                 json_pack("{s:s,s:s,s:s,s:I,s:I,s:I}", "t", "hb", "n", d->node_id, "addr", addr,
                           "sessions", (json_int_t)d->metrics->connections, "operators",
                           (json_int_t)presence_count(d->eng->presence), "started",
                           (json_int_t)d->started_at));
}

static void on_heartbeat(struct cluster *cl, json_t *msg)
{
    const char *id = json_string_value(json_object_get(msg, "n"));
    const char *addr = json_string_value(json_object_get(msg, "addr"));
    struct peer *p;
    if (!id || strcmp(id, cl->deps.node_id) == 0 || strlen(id) >= DROP_ID_SIZE) return;
    HASH_FIND_STR(cl->peers, id, p);
    if (!p) {
        if (HASH_COUNT(cl->peers) >= PEERS_MAX) return;
        p = xcalloc(1, sizeof *p);
        snprintf(p->id, sizeof p->id, "%s", id);
        HASH_ADD_STR(cl->peers, id, p);
        log_info("event=node_joined node=%s", id);
    }
    snprintf(p->addr, sizeof p->addr, "%s", addr ? addr : "");
    p->sessions = json_integer_value(json_object_get(msg, "sessions"));
    p->operators = json_integer_value(json_object_get(msg, "operators"));
    p->started_at = json_integer_value(json_object_get(msg, "started"));
    p->last_seen = engine_now(cl->deps.eng);
}

json_t *cluster_nodes_json(struct cluster *cl)
{
    const struct cluster_deps *d = &cl->deps;
    char addr[80];
    int64_t now = engine_now(d->eng);
    struct peer *p, *tmp;
    json_t *out = json_array();
    snprintf(addr, sizeof addr, "%s:%d", d->cfg->listen_host, *d->port);
    json_array_append_new(out, json_pack("{s:s,s:s,s:I,s:I,s:o,s:b,s:b}", "id", d->node_id, "addr",
                                         addr, "sessions", (json_int_t)d->metrics->connections,
                                         "operators", (json_int_t)presence_count(d->eng->presence),
                                         "startedAt", timefmt_json(d->started_at), "self", 1,
                                         "alive", 1));
    HASH_ITER(hh, cl->peers, p, tmp)
    {
        if (now - p->last_seen > 10 * PEER_DEAD_MS) { /* long gone: forget it */
            HASH_DEL(cl->peers, p);
            free(p);
            continue;
        }
        json_array_append_new(out, json_pack("{s:s,s:s,s:I,s:I,s:o,s:b,s:b}", "id", p->id, "addr",
                                             p->addr, "sessions", (json_int_t)p->sessions,
                                             "operators", (json_int_t)p->operators, "startedAt",
                                             timefmt_json(p->started_at), "self", 0, "alive",
                                             now - p->last_seen <= PEER_DEAD_MS));
    }
    return out;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "id")),
                  json_string_value(json_object_get(*(json_t *const *)b, "id")));
}

json_t *cluster_peers_json(struct cluster *cl)
{
    int64_t now = engine_now(cl->deps.eng);
    struct peer *p, *tmp;
    size_t k = 0, count = HASH_COUNT(cl->peers);
    json_t **arr = xcalloc(count + 1, sizeof *arr), *out = json_array();
    HASH_ITER(hh, cl->peers, p, tmp)
    {
        if (now - p->last_seen > 10 * PEER_DEAD_MS) continue;
        arr[k++] = json_pack("{s:s,s:s,s:b}", "id", p->id, "addr", p->addr, "alive",
                             now - p->last_seen <= PEER_DEAD_MS);
    }
    qsort(arr, k, sizeof *arr, by_id);
    for (size_t i = 0; i < k; i++) json_array_append_new(out, arr[i]);
    free(arr);
    return out;
}

static void on_cluster(struct cluster *cl, json_t *msg)
{
    const char *t = json_string_value(json_object_get(msg, "t"));
    const char *h = json_string_value(json_object_get(msg, "h"));
    unsigned char hash[32];
    if (t && strcmp(t, "hb") == 0) {
        on_heartbeat(cl, msg);
        return;
    }
    if (!t || strcmp(t, "close_token") != 0 || !h || strlen(h) != 64) return;
    for (int i = 0; i < 32; i++) {
        unsigned int b;
        if (sscanf(h + 2 * i, "%2x", &b) != 1) return;
        hash[i] = (unsigned char)b;
    }
    cl->deps.close_token(cl->deps.ctx, hash);
}

/* ---- the bus ---- */

static void on_message(void *ud, const char *channel, const void *payload, size_t len)
{
    struct cluster *cl = ud;
    json_error_t err;
    json_t *msg = json_loadb(payload, len, 0, &err);
    if (!json_is_object(msg)) {
        log_warn("event=bus_bad_message channel=%s", channel);
        json_decref(msg);
        return;
    }
    if (strncmp(channel, "acct.", 5) == 0) on_account(cl, channel + 5, msg);
    else if (strcmp(channel, "presence") == 0) on_presence(cl, msg);
    else if (strcmp(channel, "gigs") == 0) on_gig(cl, msg);
    else if (strcmp(channel, "cluster") == 0) on_cluster(cl, msg);
    else if (strncmp(channel, "node.", 5) == 0 && strcmp(channel + 5, cl->deps.node_id) == 0)
        cl->deps.directed(cl->deps.ctx, msg);
    json_decref(msg);
}

static void on_status(void *ud, bool up)
{
    struct cluster *cl = ud;
    const char *status = up ? "ok" : "down";
    cl->deps.bus_status(cl->deps.ctx, status);
    log_warn("event=bus_status status=%s", status);
    if (up) cl->reannounce_at = 0; /* tell the others everything at once */
}

struct cluster *cluster_new(const struct cluster_deps *deps)
{
    struct cluster *cl = xcalloc(1, sizeof *cl);
    cl->deps = *deps;
    return cl;
}

void cluster_free(struct cluster *cl)
{
    if (!cl) return;
    cluster_stop(cl);
    free(cl);
}

int cluster_start(struct cluster *cl, char *why, size_t whylen)
{
    struct bus_callbacks cb = {on_message, on_status, cl};
    const char *bus = cl->deps.cfg->bus;

    if (strcmp(bus, "local") == 0) {
        cl->bus = bus_local_open(cl->deps.loop, &cb, 0);
        if (cl->deps.holds_account) {
            bus_local_hold(cl->bus, "acct.", cl->deps.holds_account, cl->deps.holds_ud);
            cl->held_by_hub = true;
        }
    } else if (strncmp(bus, "redis://", 8) == 0) {
        if (strncmp(cl->deps.cfg->store, "sqlite:", 7) == 0 && !cl->deps.cfg->single_node) {
            snprintf(why, whylen, "bus redis with a sqlite store is single-node only: use a "
                                  "mongodb:// store, or set single_node yes");
            return -1;
        }
        if (bus_redis_open(cl->deps.loop, bus, cl->deps.cfg->bus_prefix, &cb, &cl->bus, why,
                           whylen) != DROP_OK)
            return -1;
        cl->deps.bus_status(cl->deps.ctx, "down"); /* until connected and subscribed */
    } else {
        snprintf(why, whylen, "bus: expected local or redis://HOST:PORT");
        return -1;
    }
    bus_subscribe(cl->bus, "presence");
    bus_subscribe(cl->bus, "gigs");
    bus_subscribe(cl->bus, "cluster");
    char mine[64];
    snprintf(mine, sizeof mine, "node.%s", cl->deps.node_id);
    bus_subscribe(cl->bus, mine); /* directed requests (adapters/admin.c) */
    return 0;
}

void cluster_stop(struct cluster *cl)
{
    struct peer *p, *ptmp;
    if (!cl) return;
    HASH_ITER(hh, cl->peers, p, ptmp)
    {
        HASH_DEL(cl->peers, p);
        free(p);
    }
    struct dirty *d, *tmp;
    HASH_ITER(hh, cl->dirty, d, tmp)
    {
        HASH_DEL(cl->dirty, d);
        free(d);
    }
    bus_close(cl->bus);
    cl->bus = NULL;
    cl->held_by_hub = false;
}

const char *cluster_status(struct cluster *cl)
{
    return cl && cl->bus ? bus_status(cl->bus) : "down";
}

struct bus *cluster_bus(struct cluster *cl)
{
    return cl ? cl->bus : NULL;
}

void cluster_tick(struct cluster *cl, int64_t now)
{
    if (!cl->bus) return;
    if (now >= cl->heartbeat_at) {
        cl->heartbeat_at = now + HEARTBEAT_MS;
        heartbeat(cl);
    }
    if (now >= cl->reannounce_at) {
        cl->reannounce_at = now + cl->deps.cfg->presence_ttl_ms / 3;
        flush_presence(cl, true);
    } else if (cl->dirty) {
        flush_presence(cl, false);
    }
}
