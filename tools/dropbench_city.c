/* dropbench_city.c - the city scenario: a simulated city against one node.
 *
 * --operators authenticated operator sessions (one --tokens line each: each
 * its own account) stand at uniform random points of a 10 x 10 km box and
 * walk; each re-announces with a fire-and-forget presence.update every
 * --announce seconds, spread evenly over the period. Customer sessions
 * (--customer-tokens, one account each) create gigs at random points of the
 * box at --rate gigs/s in total (open loop), each customer holding at most one
 * gig: a gig is scheduled on the next free customer, and counted as
 * no_customer when none is free.
 *
 * An operator that gets a gig.offer thinks for a uniform 0..--think ms, then
 * accepts it (gig.claim accept) if it is free, or rejects it if it already
 * holds a gig; gig.offer_revoked ends the thinking. A claim that loses the
 * race (conflict: the offer was taken or revoked meanwhile) is counted as
 * claims_lost, not as an error. The winner's customer confirms on the
 * gig.updated operatorFound, then: the operator's handshake, the customer's,
 * the customer's start, the operator's stop, and both rate at once. A gig is
 * completed when both ratings are acknowledged; only then are its customer
 * and operator free again (rating locks are cleared before reuse).
 *
 * Requests carry id = seq << 20 | customer << 4 | kind, so a reply names its
 * gig and step without a table; the create's metaData carries the customer
 * and seq, so a gig.offer names its gig even before the create's reply
 * arrives. Frames are parsed with jansson.
 *
 * Phases: open every session; one acknowledged presence.update per
 * operator; wait until the server's CPU settles; 1 s idle (the node's own
 * CPU, its session tick); --calm seconds without gigs (the first half
 * presence alone: server CPU per update, less the idle CPU; the second
 * presence and the sys.ping probe: the background's CPU per second); then
 * --duration seconds of the city, and a drain until every live gig has
 * completed (at most --think + 30 s). CPU per gig is the server CPU of the
 * city and drain, less the background's for as long, over the completed
 * gigs.
 *
 * Reported: create -> first gig.offer at any operator (p50/p99: from just
 * before the create frame is written to the epoll round that read the
 * offer), offers per gig, accept -> confirm (from the winning gig.claim
 * being written to the customer's gig.confirm reply), completed gigs, gigs
 * that ended otherwise, errors by op and code, server CPU per gig and per
 * presence update, the server's peak RSS, and as a baseline on a noisy
 * machine, the round trip of a sys.ping on one more (anonymous) socket,
 * one in flight, 100 a second, over the city's window. A server whose RSS passes
 * --max-rss (a queue growing without bound) ends the run early: the machine
 * is shared. */
#define _GNU_SOURCE
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dropbench.h"

#define CENTER_LAT 10.78
#define CENTER_LON 106.70
#define HALF_BOX_DEG_LAT (5.0 / 111.32)                                 /* 5 km */
#define HALF_BOX_DEG_LON (5.0 / (111.32 * 0.98235))                     /* cos(10.78°) */
#define STEP_DEG (20.0 / 111320.0)                                      /* a walk step: 20 m */
#define MAX_CUSTOMERS 65535                                             /* 16 bits of the id */
#define MAX_CODES 32

enum kind {
    K_CREATE, K_CLAIM, K_REJECT, K_CONFIRM, K_HS_OP, K_HS_CUST, K_START, K_STOP,
    K_RATE_CUST, K_RATE_OP, K_ANNOUNCE, K_PING, K__COUNT
};
static const char *const kind_op[K__COUNT] = {
    "gig.create", "gig.claim", "gig.claim", "gig.confirm", "gig.handshake", "gig.handshake",
    "gig.start", "gig.stop", "gig.rate", "gig.rate", "presence.update", "sys.ping"};

enum phase {
    G_FREE, G_CREATING, G_PENDING, G_CONFIRMING, G_ENROUTE, G_HS_OP, G_HS_CUST, G_STARTING,
    G_STOPPING, G_RATING
};

struct cgig { /* a customer's live gig */
    enum phase ph;
    uint32_t seq;
    char id[32];
    int op;                  /* the winning operator's conn index, -1 */
    uint64_t t_create, t_claim, t_confirmed;
    bool offered, rated_c, rated_o;
};

struct op {
    double lat, lon;
    int gig;                 /* the customer slot of its live gig, -1 */
    bool claiming;           /* an accept awaits its reply */
    uint64_t t_claim;
};

struct thought { /* an offer an operator is thinking about */
    int op, slot;
    uint32_t seq;
    uint64_t due;
    char gig_id[32];
};

struct tally {
    struct { char key[48]; uint64_t n; } k[MAX_CODES];
    int n;
};

static struct {
    int nops, ncust;
    struct op *o;
    struct cgig *g;
    struct thought *th;
    size_t nth, cap_th;
    unsigned int seed;
    int live;                /* gigs not G_FREE */
    struct hist first_offer, accept_confirm, ping;
    int probe;               /* conn index of the sys.ping probe (anonymous) */
    uint64_t ping_sent;      /* when its ping in flight left, 0: none */
    uint64_t created, completed, offers, claims_sent, claims_lost, rejects, no_customer;
    uint64_t announces, acked, errors, ended;
    long long rss_peak;      /* the server's, sampled every 0.5 s */
    bool rss_over;           /* past --max-rss: the run stopped early */
    struct tally errs, ends; /* errors by op/code; gigs ended short, by status */
} S;

static double rnd(void) { return (double)rand_r(&S.seed) / RAND_MAX; }

static void tally_add(struct tally *t, const char *key)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->k[i].key, key) == 0) {
            t->k[i].n++;
            return;
        }
    if (t->n < MAX_CODES) {
        snprintf(t->k[t->n].key, sizeof t->k[t->n].key, "%s", key);
        t->k[t->n++].n = 1;
    }
}

/* Prints "key:n,key:n" ("-" when empty): no spaces, for the result line. */
static void tally_print(const struct tally *t)
{
    if (!t->n) fputs("-", stdout);
    for (int i = 0; i < t->n; i++)
        printf("%s%s:%llu", i ? "," : "", t->k[i].key, (unsigned long long)t->k[i].n);
}

static void count_error(const char *op, const char *code)
{
    char key[48];
    snprintf(key, sizeof key, "%s/%s", op, code ? code : "?");
    S.errors++;
    tally_add(&S.errs, key);
}

/* Sends op k on connection ci about customer slot's gig; data is the
 * envelope's data object, or NULL for a fire-and-forget presence.update. */
static void send_req(int ci, enum kind k, int slot, const char *data, bool with_id)
{
    char body[512];
    unsigned char f[540];
    uint64_t id = (uint64_t)(k >= K_ANNOUNCE ? 0 : S.g[slot].seq) << 20 | (uint64_t)slot << 4 | k;
    int l = with_id ? snprintf(body, sizeof body, "{\"op\":\"%s\",\"id\":%llu,\"data\":%s}",
                               kind_op[k], (unsigned long long)id, data)
                    : snprintf(body, sizeof body, "{\"op\":\"%s\",\"data\":%s}", kind_op[k], data);
    if (B.c[ci].st != C_OPEN) return;
    send_all(&B.c[ci], f, frame_build(f, 1, body, (size_t)l));
    B.sent++;
}

/* A gig step named by its gigId alone (claim, confirm, handshake, ...). */
static void send_step(int ci, enum kind k, int slot)
{
    char data[128];
    const char *extra = k == K_CLAIM ? ",\"response\":\"accept\""
                      : k == K_REJECT ? ",\"response\":\"reject\""
                      : k == K_RATE_CUST || k == K_RATE_OP ? ",\"rating\":5" : "";
    snprintf(data, sizeof data, "{\"gigId\":\"%s\"%s}", S.g[slot].id, extra);
    send_req(ci, k, slot, data, true);
}

static void announce(int i, bool with_id)
{
    struct op *o = &S.o[i];
    char data[160];
    o->lat += (rnd() - 0.5) * 2 * STEP_DEG;
    o->lon += (rnd() - 0.5) * 2 * STEP_DEG;
    o->lat = fmin(fmax(o->lat, CENTER_LAT - HALF_BOX_DEG_LAT), CENTER_LAT + HALF_BOX_DEG_LAT);
    o->lon = fmin(fmax(o->lon, CENTER_LON - HALF_BOX_DEG_LON), CENTER_LON + HALF_BOX_DEG_LON);
    snprintf(data, sizeof data, "{\"latitude\":%.6f,\"longitude\":%.6f,\"available\":true}",
             o->lat, o->lon);
    send_req(i, K_ANNOUNCE, i, data, with_id);
    S.announces++;
}

static int cust_conn(int slot) { return S.nops + slot; }

/* Ends slot's gig (completed or not): its customer and operator are free. */
static void gig_end(int slot)
{
    struct cgig *g = &S.g[slot];
    if (g->ph == G_FREE) return;
    if (g->op >= 0) S.o[g->op].gig = -1;
    g->ph = G_FREE;
    g->id[0] = '\0';
    g->op = -1;
    S.live--;
}

static void gig_create(int slot, uint64_t t)
{
    struct cgig *g = &S.g[slot];
    char data[256];
    double lat = CENTER_LAT + (rnd() - 0.5) * 2 * HALF_BOX_DEG_LAT;
    double lon = CENTER_LON + (rnd() - 0.5) * 2 * HALF_BOX_DEG_LON;
    g->seq = (g->seq + 1) & 0xfffffff;
    g->ph = G_CREATING;
    g->id[0] = '\0';
    g->op = -1;
    g->offered = g->rated_c = g->rated_o = false;
    g->t_claim = g->t_confirmed = 0;
    S.live++;
    S.created++;
    snprintf(data, sizeof data,
             "{\"latitude\":%.6f,\"longitude\":%.6f,\"deviceId\":\"bench\","
             "\"metaData\":{\"b\":%d,\"s\":%u}}", lat, lon, slot, g->seq);
    g->t_create = t;
    send_req(cust_conn(slot), K_CREATE, slot, data, true);
}

static void on_offer(int ci, json_t *d, uint64_t t)
{
    const char *gid = json_string_value(json_object_get(d, "gigId"));
    json_t *meta = json_object_get(d, "metaData");
    json_int_t slot = json_integer_value(json_object_get(meta, "b"));
    json_int_t seq = json_integer_value(json_object_get(meta, "s"));
    if (!gid || ci >= S.nops || slot < 0 || slot >= S.ncust) return;
    struct cgig *g = &S.g[slot];
    if (g->seq != (uint32_t)seq || g->ph == G_FREE) return; /* a gig of an earlier run */
    S.offers++;
    if (!g->offered) {
        g->offered = true;
        hist_add(&S.first_offer, t - g->t_create);
    }
    if (!g->id[0]) snprintf(g->id, sizeof g->id, "%s", gid);
    if (S.nth == S.cap_th) {
        S.cap_th = S.cap_th ? 2 * S.cap_th : 256;
        if (!(S.th = realloc(S.th, S.cap_th * sizeof *S.th))) die("realloc");
    }
    struct thought *h = &S.th[S.nth++];
    h->op = ci;
    h->slot = (int)slot;
    h->seq = (uint32_t)seq;
    h->due = t + (uint64_t)(rnd() * B.think_ms * 1e6);
    snprintf(h->gig_id, sizeof h->gig_id, "%s", gid);
}

static void on_revoked(int ci, json_t *d)
{
    const char *gid = json_string_value(json_object_get(d, "gigId"));
    if (!gid) return;
    for (size_t i = 0; i < S.nth; i++)
        if (S.th[i].op == ci && strcmp(S.th[i].gig_id, gid) == 0) S.th[i--] = S.th[--S.nth];
}

/* The customer's view of its gig: confirm on operatorFound; a gig that
 * ends before completion (expired, rejected by all, ...) frees it. */
static void on_updated(int ci, json_t *d)
{
    static const char *const ends[] = {"expired", "allOperatorsRejected", "customerRejected",
                                       "cancelled", "failed", "terminated"};
    const char *id = json_string_value(json_object_get(d, "id"));
    const char *st = json_string_value(json_object_get(d, "status"));
    int slot = ci - S.nops;
    if (slot < 0 || !id || !st) return;
    struct cgig *g = &S.g[slot];
    if (g->ph == G_FREE || strcmp(g->id, id) != 0) return;
    if (strcmp(st, "operatorFound") == 0 && (g->ph == G_PENDING || g->ph == G_CREATING)) {
        g->ph = G_CONFIRMING;
        send_step(ci, K_CONFIRM, slot);
        return;
    }
    for (size_t i = 0; i < sizeof ends / sizeof *ends; i++)
        if (strcmp(st, ends[i]) == 0) {
            if (!B.quiet) fprintf(stderr, "dropbench: gig %s %s\n", id, st);
            S.ended++;
            tally_add(&S.ends, st);
            gig_end(slot);
            return;
        }
}

/* The handshake can go once the customer confirmed and the winner knows it won. */
static void advance(int slot)
{
    struct cgig *g = &S.g[slot];
    if (g->t_confirmed && g->op >= 0 && g->t_claim) {
        hist_add(&S.accept_confirm, g->t_confirmed - g->t_claim);
        g->t_claim = 0;
    }
    if (g->ph == G_ENROUTE && g->op >= 0) {
        g->ph = G_HS_OP;
        send_step(g->op, K_HS_OP, slot);
    }
}

static void on_reply(int ci, uint64_t id, json_t *env, uint64_t t)
{
    enum kind k = (enum kind)(id & 15);
    int slot = (int)(id >> 4 & 0xffff);
    uint32_t seq = (uint32_t)(id >> 20);
    json_t *d = json_object_get(env, "data");
    if (k >= K__COUNT || (k < K_ANNOUNCE && slot >= S.ncust)) return;
    if (k == K_ANNOUNCE) S.acked++;
    if (k == K_PING && S.ping_sent) {
        hist_add(&S.ping, t - S.ping_sent);
        S.ping_sent = 0;
    }
    if (k == K_CLAIM) S.o[ci].claiming = false;
    if (!json_is_true(json_object_get(env, "ok"))) {
        const char *code = json_string_value(json_object_get(json_object_get(env, "error"), "code"));
        if ((k == K_CLAIM || k == K_REJECT) && code && strcmp(code, "conflict") == 0) {
            S.claims_lost++;
            return;
        }
        count_error(kind_op[k], code);
        if (!B.quiet) fprintf(stderr, "dropbench: %s failed: %s\n", kind_op[k],
                              json_string_value(json_object_get(json_object_get(env, "error"),
                                                                "message")));
        if (k < K_ANNOUNCE && k != K_CLAIM && k != K_REJECT && S.g[slot].seq == seq)
            gig_end(slot); /* abandoned: the error is the finding */
        return;
    }
    if (k >= K_ANNOUNCE || k == K_REJECT) return;
    struct cgig *g = &S.g[slot];
    if (g->seq != seq || g->ph == G_FREE) return;
    switch (k) {
    case K_CREATE:
        if (!g->id[0] && json_is_string(json_object_get(d, "id")))
            snprintf(g->id, sizeof g->id, "%s", json_string_value(json_object_get(d, "id")));
        if (g->ph == G_CREATING) g->ph = G_PENDING;
        break;
    case K_CLAIM:
        S.o[ci].gig = slot;
        g->op = ci;
        g->t_claim = S.o[ci].t_claim;
        advance(slot);
        break;
    case K_CONFIRM:
        g->t_confirmed = t;
        g->ph = G_ENROUTE;
        advance(slot);
        break;
    case K_HS_OP:
        g->ph = G_HS_CUST;
        send_step(cust_conn(slot), K_HS_CUST, slot);
        break;
    case K_HS_CUST:
        g->ph = G_STARTING;
        send_step(cust_conn(slot), K_START, slot);
        break;
    case K_START:
        g->ph = G_STOPPING;
        send_step(g->op, K_STOP, slot);
        break;
    case K_STOP:
        g->ph = G_RATING;
        send_step(cust_conn(slot), K_RATE_CUST, slot);
        send_step(g->op, K_RATE_OP, slot);
        break;
    case K_RATE_CUST:
    case K_RATE_OP:
        if (k == K_RATE_CUST) g->rated_c = true;
        else g->rated_o = true;
        if (g->rated_c && g->rated_o) {
            S.completed++;
            gig_end(slot);
        }
        break;
    default:
        break;
    }
}

static void city_on_text(struct conn *c, const unsigned char *p, size_t len, uint64_t t)
{
    int ci = (int)(c - B.c);
    json_t *env = json_loadb((const char *)p, len, 0, NULL), *re;
    const char *ev;
    if (!env) {
        count_error("frame", "bad_json");
        return;
    }
    if ((ev = json_string_value(json_object_get(env, "ev")))) {
        json_t *d = json_object_get(env, "data");
        B.events++;
        if (strcmp(ev, "gig.offer") == 0) on_offer(ci, d, t);
        else if (strcmp(ev, "gig.offer_revoked") == 0) on_revoked(ci, d);
        else if (strcmp(ev, "gig.updated") == 0) on_updated(ci, d);
    } else if (json_is_integer(re = json_object_get(env, "re"))) {
        B.replies++;
        on_reply(ci, (uint64_t)json_integer_value(re), env, t);
    } else if (!json_is_true(json_object_get(env, "ok"))) { /* a fire-and-forget failed */
        json_t *code = json_object_get(json_object_get(env, "error"), "code");
        count_error("no-id", json_string_value(code));
    }
    json_decref(env);
}

/* Offers whose think time is over: accept when free, reject when busy,
 * wait a little while an accept of another offer is in flight. */
static void thoughts_due(uint64_t now)
{
    for (size_t i = 0; i < S.nth; i++) {
        struct thought h = S.th[i];
        struct op *o = &S.o[h.op];
        if (h.due > now) continue;
        if (o->claiming) {
            S.th[i].due = now + 5000000;
            continue;
        }
        S.th[i--] = S.th[--S.nth];
        struct cgig *g = &S.g[h.slot];
        if (g->seq != h.seq || g->ph == G_FREE || strcmp(g->id, h.gig_id) != 0) continue;
        if (o->gig >= 0) {
            S.rejects++;
            send_step(h.op, K_REJECT, h.slot);
            continue;
        }
        o->claiming = true;
        o->t_claim = now_ns();
        S.claims_sent++;
        send_step(h.op, K_CLAIM, h.slot);
    }
}

/* Samples the server's RSS every 0.5 s; true once it passed --max-rss (a
 * server that falls behind may queue work without bound). */
static bool rss_over(void)
{
    static uint64_t next;
    uint64_t t = now_ns();
    if (B.pid && !S.rss_over && t >= next) {
        long long rss = proc_rss(B.pid);
        if (rss > S.rss_peak) S.rss_peak = rss;
        S.rss_over = rss > B.max_rss_mb * 1e6;
        next = t + 500000000ull;
    }
    return S.rss_over;
}

/* Runs the city for secs: presence every --announce s per operator, gigs
 * at --rate when create is set, the probe's sys.ping when probe is; with
 * drain, returns early once no gig is live. */
static void run(double secs, bool create, bool drain, bool probe)
{
    uint64_t start = now_ns(), end = start + (uint64_t)(secs * 1e9);
    uint64_t ann_sent = 0, gigs_sent = 0;
    double ann_rate = S.nops / B.announce;
    int rr_op = 0, rr_cust = 0;
    uint64_t next_ping = start;
    while (now_ns() < end && !(drain && S.live == 0) && !rss_over()) {
        uint64_t t = now_ns();
        for (uint64_t due = (uint64_t)((double)(t - start) / 1e9 * ann_rate); ann_sent < due;
             ann_sent++) {
            announce(rr_op, false);
            rr_op = (rr_op + 1) % S.nops;
        }
        for (uint64_t due = create ? (uint64_t)((double)(t - start) / 1e9 * B.rate) : 0;
             gigs_sent < due; gigs_sent++) {
            int k = 0;
            while (k < S.ncust && S.g[(rr_cust + k) % S.ncust].ph != G_FREE) k++;
            if (k == S.ncust) {
                S.no_customer++;
                continue;
            }
            rr_cust = (rr_cust + k) % S.ncust;
            gig_create(rr_cust, now_ns());
            rr_cust = (rr_cust + 1) % S.ncust;
        }
        thoughts_due(t);
        if (probe && !S.ping_sent && t >= next_ping && B.c[S.probe].st == C_OPEN) {
            S.ping_sent = now_ns(); /* the echo baseline: 100/s, one in flight */
            send_req(S.probe, K_PING, 0, "{}", true);
            next_ping = t + 10000000;
        }
        pump(1, false);
    }
}

/* Waits (pumping) until the server's CPU over a 250 ms slice is under 10%
 * of a core: the sign-ins and first presence updates leave work on its
 * workers (each operator's profile: three store reads) that must not be
 * billed to what is measured next. At most 60 s. */
static void settle(void)
{
    long long hz = sysconf(_SC_CLK_TCK), c0 = B.pid ? proc_cpu_ticks(B.pid) : -1;
    for (uint64_t e = now_ns() + 60000000000ull; c0 >= 0 && now_ns() < e && !rss_over();) {
        for (uint64_t s = now_ns() + 250000000ull; now_ns() < s;) pump(10, false);
        long long c1 = proc_cpu_ticks(B.pid);
        if ((double)(c1 - c0) / (double)hz < 0.025) break;
        c0 = c1;
    }
}

int scenario_city(void)
{
    struct window idle, calm, bg, city;
    double open_s, idle_cpu, calm_cpu, bg_cpu, city_cpu, idle_s, calm_s, bg_s, city_s;
    uint64_t calm_ann, gigs_window;

    S.nops = B.operators;
    S.ncust = B.customers > 0 && B.customers < B.nctokens ? B.customers : B.nctokens;
    if (S.ncust > MAX_CUSTOMERS) S.ncust = MAX_CUSTOMERS;
    S.seed = 42;
    S.o = calloc((size_t)S.nops, sizeof *S.o);
    S.g = calloc((size_t)S.ncust, sizeof *S.g);
    if (!S.o || !S.g) die("calloc");
    hist_init(&S.first_offer);
    hist_init(&S.accept_confirm);
    hist_init(&S.ping);
    for (int i = 0; i < S.nops; i++) {
        S.o[i].lat = CENTER_LAT + (rnd() - 0.5) * 2 * HALF_BOX_DEG_LAT;
        S.o[i].lon = CENTER_LON + (rnd() - 0.5) * 2 * HALF_BOX_DEG_LON;
        S.o[i].gig = -1;
    }
    for (int i = 0; i < S.ncust; i++) S.g[i].op = -1;
    conns_alloc(S.nops + S.ncust + 1);
    for (int i = 0; i < S.ncust; i++) B.c[S.nops + i].token = B.ctokens[i];
    S.probe = S.nops + S.ncust;
    B.c[S.probe].token = NULL;
    B.on_text = city_on_text;

    open_s = open_conns(0, S.probe, true);
    open_conns(S.probe, B.nc, false);
    if (B.lost) return 1;
    /* every operator on the map before anything is measured */
    for (int i = 0; i < S.nops; i++) announce(i, true);
    for (uint64_t e = now_ns() + 60000000000ull;
         S.acked < (uint64_t)S.nops && now_ns() < e && !rss_over();)
        pump(10, false);
    settle();
    window_start(&idle); /* nothing sent: the node's idle CPU */
    for (uint64_t e = now_ns() + 1000000000ull; now_ns() < e;) pump(10, false);
    idle_s = (double)(now_ns() - idle.t0) / 1e9;
    idle_cpu = window_cpu_us(&idle);

    /* calm, first half: presence alone; second half: presence and the
     * probe, the background that the city's CPU is charged less */
    window_start(&calm);
    calm_ann = S.announces;
    run(B.calm / 2, false, false, false);
    calm_s = (double)(now_ns() - calm.t0) / 1e9;
    calm_cpu = window_cpu_us(&calm);
    calm_ann = S.announces - calm_ann;
    window_start(&bg);
    run(B.calm / 2, false, false, true);
    bg_s = (double)(now_ns() - bg.t0) / 1e9;
    bg_cpu = window_cpu_us(&bg);

    window_start(&city);
    hist_reset(&S.ping);
    run(B.duration, true, false, true);
    gigs_window = S.created;
    run(B.think_ms / 1000 + 30, false, true, true); /* drain: every live gig to its rating */
    city_s = (double)(now_ns() - city.t0) / 1e9;
    city_cpu = window_cpu_us(&city);

    /* the node's own idle cost (its session tick walks every session) is
     * not the updates' */
    double per_update = calm_cpu >= 0 && idle_cpu >= 0 && calm_ann
                            ? (calm_cpu - idle_cpu / idle_s * calm_s) / (double)calm_ann
                            : -1;
    double per_gig = city_cpu >= 0 && bg_cpu >= 0 && S.completed
                         ? (city_cpu - bg_cpu / bg_s * city_s) / (double)S.completed
                         : -1;
    double offers_per_gig = S.created ? (double)S.offers / (double)S.created : 0;

    printf("city: %d operators (opened in %.1f s, re-announcing every %g s), %d customers, "
           "%g gigs/s for %g s (+ %.1f s drain), think 0..%g ms\n",
           S.nops, open_s, B.announce, S.ncust, B.rate, B.duration, city_s - B.duration,
           B.think_ms);
    printf("  gigs: %llu created, %llu completed to rating, %llu ended otherwise, %d unfinished, "
           "%llu not created (no free customer)\n",
           (unsigned long long)S.created, (unsigned long long)S.completed,
           (unsigned long long)S.ended, S.live, (unsigned long long)S.no_customer);
    printf("  create -> first offer: p50 %.0f µs, p99 %.0f µs (n %llu); %.2f offers/gig\n",
           hist_pct(&S.first_offer, 50), hist_pct(&S.first_offer, 99),
           (unsigned long long)S.first_offer.n, offers_per_gig);
    printf("  baseline: sys.ping round trip on another socket meanwhile: p50 %.0f µs, p99 %.0f µs "
           "(n %llu)\n", hist_pct(&S.ping, 50), hist_pct(&S.ping, 99), (unsigned long long)S.ping.n);
    printf("  accept -> confirm: p50 %.0f µs, p99 %.0f µs (n %llu); claims %llu sent, %llu lost "
           "the race, %llu rejects (busy)\n",
           hist_pct(&S.accept_confirm, 50), hist_pct(&S.accept_confirm, 99),
           (unsigned long long)S.accept_confirm.n, (unsigned long long)S.claims_sent,
           (unsigned long long)S.claims_lost, (unsigned long long)S.rejects);
    printf("  server CPU: idle %.1f%% of a core; %.2f µs/presence update (calm: %llu in %.1f s, "
           "net of idle), %.0f µs/gig (net of the background: idle, presence and probe, %.1f%% "
           "of a core); errors %llu: ",
           idle_cpu / idle_s / 1e4, per_update, (unsigned long long)calm_ann, calm_s, per_gig,
           bg_cpu / bg_s / 1e4,
           (unsigned long long)S.errors);
    tally_print(&S.errs);
    printf("; ended short: ");
    tally_print(&S.ends);
    printf("; connections lost %llu; server RSS peak %.0f MB%s\n", (unsigned long long)B.lost,
           S.rss_peak / 1e6, S.rss_over ? " (over --max-rss: stopped early)" : "");
    printf("result scenario=city operators=%d customers=%d rate=%.1f secs=%.2f open_s=%.2f "
           "gigs=%llu gigs_in_window=%llu completed=%llu ended=%llu unfinished=%d "
           "no_customer=%llu offers_per_gig=%.2f first_offer_p50_us=%.0f "
           "first_offer_p99_us=%.0f ping_p50_us=%.0f ping_p99_us=%.0f accept_confirm_p50_us=%.0f accept_confirm_p99_us=%.0f "
           "claims=%llu claims_lost=%llu rejects=%llu updates=%llu cpu_us_per_update=%.3f "
           "cpu_us_per_gig=%.1f errors=%llu lost=%llu rss_peak=%lld rss_over=%d errors_by_code=",
           S.nops, S.ncust, B.rate, city_s, open_s, (unsigned long long)S.created,
           (unsigned long long)gigs_window, (unsigned long long)S.completed,
           (unsigned long long)S.ended, S.live, (unsigned long long)S.no_customer,
           offers_per_gig, hist_pct(&S.first_offer, 50), hist_pct(&S.first_offer, 99),
           hist_pct(&S.ping, 50), hist_pct(&S.ping, 99), hist_pct(&S.accept_confirm, 50), hist_pct(&S.accept_confirm, 99),
           (unsigned long long)S.claims_sent, (unsigned long long)S.claims_lost,
           (unsigned long long)S.rejects, (unsigned long long)S.announces, per_update, per_gig,
           (unsigned long long)S.errors, (unsigned long long)B.lost, S.rss_peak, S.rss_over);
    tally_print(&S.errs);
    printf(" ended_by_status=");
    tally_print(&S.ends);
    printf("\n");
    return B.lost || S.errors || !S.completed || S.live || S.rss_over ? 1 : 0;
}
