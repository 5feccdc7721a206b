/* grid_bench.c - presence/grid benchmark against redis GEO.
 *
 * For each scenario (a box of a given size with N operators at uniform random
 * positions, and a grid cell size) it builds the presence, then over several
 * runs measures: moves per second (presence_update with a random step of up to
 * ~50 m, the operator's heartbeat), kNN latency (presence_nearest_free, k 20,
 * 5 km, timed one by one: p50 / p99) and queries per second, and bytes per
 * operator (presence_memory and grid_memory, plus the heap growth seen by
 * mallinfo2). With --redis-port it loads the same points into that redis
 * (GEOADD, pipelined), measures GEOADD moves per second (pipelined), GEOSEARCH
 * FROMLONLAT .. BYRADIUS 5 km COUNT 20 ASC per second (pipelined) and latency
 * (one at a time), and used_memory per operator. Figures are medians over the
 * runs. The redis key is deleted after each scenario.
 *
 * Usage: grid_bench [--n N] [--runs R] [--queries Q] [--redis-port P] */
#include <hiredis/hiredis.h>
#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/geo.h"
#include "engine/grid.h"
#include "engine/presence.h"

#define K 20
#define RADIUS_M 5000.0
#define PIPE 64

struct scenario {
    const char *name;
    double lat0, lon0; /* south-west corner */
    double km;         /* box side */
    double cell_m;
};

struct figures {
    double moves_s, p50_us, p99_us, qps, bytes_op, heap_op, grid_op, avg_hits;
};

static uint64_t rs = 0x2545F4914F6CDD1DULL;

static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

static double unif(double a, double b) { return a + (b - a) * ((double)(rnd() >> 11) / 9007199254740992.0); }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof *v, dcmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double pct(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, dcmp);
    size_t i = (size_t)(p * (n - 1));
    return v[i];
}

struct pts {
    size_t n;
    char (*acc)[DROP_ID_SIZE];
    double *lat, *lon;
    double dlat, dlon; /* box extent in degrees */
    const struct scenario *sc;
};

static void rand_in_box(const struct pts *p, double *lat, double *lon)
{
    *lat = p->sc->lat0 + unif(0, p->dlat);
    *lon = p->sc->lon0 + unif(0, p->dlon);
}

/* A step of up to ~50 m, kept in the box. */
static void step(const struct pts *p, size_t i, double *lat, double *lon)
{
    double d = 50.0 / 111195.0;
    *lat = fmin(fmax(p->lat[i] + unif(-d, d), p->sc->lat0), p->sc->lat0 + p->dlat);
    *lon = fmin(fmax(p->lon[i] + unif(-d, d), p->sc->lon0), p->sc->lon0 + p->dlon);
}

static void ours(struct pts *p, int runs, size_t nq, struct figures *f)
{
    struct presence *pr;
    struct mallinfo2 m0 = mallinfo2(), m1;
    double mv[16], p50[16], p99[16], qps[16], hits_total = 0;
    double *lat_us = malloc(nq * sizeof *lat_us);
    struct presence_hit hits[K];

    if (presence_new(p->sc->cell_m, &pr) != DROP_OK) abort();
    for (size_t i = 0; i < p->n; i++)
        presence_update(pr, p->acc[i], "bench", p->lat[i], p->lon[i], 10, NAN, true, 0);
    m1 = mallinfo2();
    f->bytes_op = (double)presence_memory(pr) / p->n;
    f->heap_op = (double)(m1.uordblks - m0.uordblks) / p->n;
    f->grid_op = (double)grid_memory(presence_grid(pr)) / p->n + sizeof(struct grid_entry);
    for (int r = 0; r < runs; r++) {
        /* moves */
        size_t nm = p->n;
        double t0 = now_s();
        for (size_t j = 0; j < nm; j++) {
            size_t i = rnd() % p->n;
            double la, lo;
            step(p, i, &la, &lo);
            presence_update(pr, p->acc[i], "bench", la, lo, 10, NAN, true, r + 1);
            p->lat[i] = la;
            p->lon[i] = lo;
        }
        mv[r] = nm / (now_s() - t0);
        /* kNN */
        double tq = now_s();
        for (size_t q = 0; q < nq; q++) {
            double la, lo, a, b;
            size_t n;
            rand_in_box(p, &la, &lo);
            a = now_s();
            presence_nearest_free(pr, la, lo, RADIUS_M, K, NULL, hits, &n);
            b = now_s();
            lat_us[q] = (b - a) * 1e6;
            hits_total += n;
        }
        qps[r] = nq / (now_s() - tq);
        p50[r] = pct(lat_us, nq, 0.5);
        p99[r] = pct(lat_us, nq, 0.99);
    }
    f->moves_s = median(mv, runs);
    f->p50_us = median(p50, runs);
    f->p99_us = median(p99, runs);
    f->qps = median(qps, runs);
    f->avg_hits = hits_total / ((double)runs * nq);
    presence_free(pr);
    free(lat_us);
}

static long long redis_used_memory(redisContext *c)
{
    redisReply *r = redisCommand(c, "INFO memory");
    long long v = -1;
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *s = strstr(r->str, "used_memory:");
        if (s) v = atoll(s + 12);
    }
    freeReplyObject(r);
    return v;
}

/* Sends the queued pipeline's n replies and checks them. */
static void drain(redisContext *c, int n, double *hits)
{
    for (int i = 0; i < n; i++) {
        redisReply *r;
        if (redisGetReply(c, (void **)&r) != REDIS_OK) {
            fprintf(stderr, "redis: %s\n", c->errstr);
            exit(1);
        }
        if (r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "redis error: %s\n", r->str);
            exit(1);
        }
        if (hits && r->type == REDIS_REPLY_ARRAY) *hits += r->elements;
        freeReplyObject(r);
    }
}

static void theirs(redisContext *c, struct pts *p, int runs, size_t nq, struct figures *f)
{
    double mv[16], p50[16], p99[16], qps[16], hits_total = 0;
    double *lat_us = malloc(nq * sizeof *lat_us);
    long long m0, m1;
    char lo_s[32], la_s[32];

    freeReplyObject(redisCommand(c, "DEL bench:geo"));
    m0 = redis_used_memory(c);
    for (size_t i = 0; i < p->n; i += PIPE) {
        int cnt = 0;
        for (size_t j = i; j < p->n && j < i + PIPE; j++, cnt++) {
            snprintf(lo_s, sizeof lo_s, "%.7f", p->lon[j]);
            snprintf(la_s, sizeof la_s, "%.7f", p->lat[j]);
            redisAppendCommand(c, "GEOADD bench:geo %s %s %s", lo_s, la_s, p->acc[j]);
        }
        drain(c, cnt, NULL);
    }
    m1 = redis_used_memory(c);
    f->bytes_op = (double)(m1 - m0) / p->n;
    f->heap_op = f->bytes_op;
    for (int r = 0; r < runs; r++) {
        size_t nm = p->n / 5;
        double t0 = now_s();
        for (size_t j = 0; j < nm; j += PIPE) {
            int cnt = 0;
            for (; cnt < PIPE && j + cnt < nm; cnt++) {
                size_t i = rnd() % p->n;
                double la, lo;
                step(p, i, &la, &lo);
                p->lat[i] = la;
                p->lon[i] = lo;
                snprintf(lo_s, sizeof lo_s, "%.7f", lo);
                snprintf(la_s, sizeof la_s, "%.7f", la);
                redisAppendCommand(c, "GEOADD bench:geo %s %s %s", lo_s, la_s, p->acc[i]);
            }
            drain(c, cnt, NULL);
        }
        mv[r] = nm / (now_s() - t0);
        /* pipelined throughput */
        double tq = now_s();
        size_t done = 0;
        while (done < nq) {
            int cnt = 0;
            for (; cnt < PIPE && done + cnt < nq; cnt++) {
                double la, lo;
                rand_in_box(p, &la, &lo);
                snprintf(lo_s, sizeof lo_s, "%.7f", lo);
                snprintf(la_s, sizeof la_s, "%.7f", la);
                redisAppendCommand(c, "GEOSEARCH bench:geo FROMLONLAT %s %s BYRADIUS 5 km COUNT 20 ASC", lo_s, la_s);
            }
            drain(c, cnt, &hits_total);
            done += cnt;
        }
        qps[r] = nq / (now_s() - tq);
        /* one at a time latency */
        for (size_t q = 0; q < nq; q++) {
            double la, lo, a;
            rand_in_box(p, &la, &lo);
            snprintf(lo_s, sizeof lo_s, "%.7f", lo);
            snprintf(la_s, sizeof la_s, "%.7f", la);
            a = now_s();
            freeReplyObject(redisCommand(c, "GEOSEARCH bench:geo FROMLONLAT %s %s BYRADIUS 5 km COUNT 20 ASC", lo_s, la_s));
            lat_us[q] = (now_s() - a) * 1e6;
        }
        p50[r] = pct(lat_us, nq, 0.5);
        p99[r] = pct(lat_us, nq, 0.99);
    }
    f->moves_s = median(mv, runs);
    f->p50_us = median(p50, runs);
    f->p99_us = median(p99, runs);
    f->qps = median(qps, runs);
    f->avg_hits = hits_total / ((double)runs * nq);
    freeReplyObject(redisCommand(c, "DEL bench:geo"));
    free(lat_us);
}

static void row(const char *sc, const char *cell, const char *eng, const struct figures *f)
{
    char g[16] = "-";
    if (f->grid_op > 0) snprintf(g, sizeof g, "%.1f", f->grid_op);
    printf("| %-8s | %6s | %-6s | %10.0f | %8.1f | %8.1f | %9.0f | %6.1f | %7.1f | %7s | %6.1f |\n", sc, cell, eng,
           f->moves_s, f->p50_us, f->p99_us, f->qps, f->bytes_op, f->heap_op, g, f->avg_hits);
}

int main(int argc, char **argv)
{
    size_t n = 1000000, nq = 100000, nq_redis = 2000;
    int runs = 5, port = 0;
    const struct scenario scs[] = {
        {"city", 48.70, 2.15, 30, 100},
        {"city", 48.70, 2.15, 30, 1000},
        {"country", 42.0, -4.5, 1000, 2000},
        {"country", 42.0, -4.5, 1000, 1000},
    };
    redisContext *rc = NULL;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--n")) n = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--queries")) nq = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--redis-queries")) nq_redis = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--redis-port")) port = atoi(argv[i + 1]);
    }
    if (runs < 1 || runs > 16 || n < 1 || nq < 1 || nq_redis < 1) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    if (port) {
        rc = redisConnect("127.0.0.1", port);
        if (!rc || rc->err) {
            fprintf(stderr, "cannot connect to redis on %d\n", port);
            return 1;
        }
    }
    printf("grid_bench: %zu operators, %d runs (medians), kNN k=%d r=%.0f m, %zu queries/run (redis %zu)\n", n, runs,
           K, RADIUS_M, nq, nq_redis);
    printf("| scenario | cell m | engine |    moves/s | p50 µs   | p99 µs   |   kNN q/s | B/op   | heap/op | grid/op | hits   |\n");
    printf("|----------|--------|--------|------------|----------|----------|-----------|--------|---------|---------|--------|\n");
    fflush(stdout);
    for (size_t s = 0; s < sizeof scs / sizeof scs[0]; s++) {
        struct pts p = {.n = n, .sc = &scs[s]};
        struct figures fo = {0}, fr = {0};
        p.acc = malloc(n * sizeof *p.acc);
        p.lat = malloc(n * sizeof *p.lat);
        p.lon = malloc(n * sizeof *p.lon);
        p.dlat = scs[s].km * 1000 / 111195.0;
        p.dlon = p.dlat / cos((scs[s].lat0 + p.dlat / 2) * M_PI / 180);
        rs = 0x2545F4914F6CDD1DULL + s;
        for (size_t i = 0; i < n; i++) {
            snprintf(p.acc[i], DROP_ID_SIZE, "%024zx", i + 1);
            rand_in_box(&p, &p.lat[i], &p.lon[i]);
        }
        ours(&p, runs, nq, &fo);
        char cell[16];
        snprintf(cell, sizeof cell, "%.0f", scs[s].cell_m);
        row(scs[s].name, cell, "dropin", &fo);
        fflush(stdout);
        if (rc && (s == 0 || scs[s].lat0 != scs[s - 1].lat0)) {
            theirs(rc, &p, runs, nq_redis, &fr);
            row(scs[s].name, "-", "redis", &fr);
            printf("| %-8s |        | ratio  | %9.1fx | %7.2fx | %7.2fx | %8.1fx | %5.2fx | %6.2fx |         |        |\n",
                   scs[s].name, fo.moves_s / fr.moves_s, fr.p50_us / fo.p50_us, fr.p99_us / fo.p99_us,
                   fo.qps / fr.qps, fo.bytes_op / fr.bytes_op, fo.heap_op / fr.heap_op);
            fflush(stdout);
        }
        free(p.acc);
        free(p.lat);
        free(p.lon);
    }
    printf("B/op: presence_memory / N (dropin), used_memory growth / N (redis); heap/op: mallinfo2 growth / N;\n"
           "grid/op: grid_memory / N + the grid_entry in each presence entry; hits: mean results per query.\n");
    printf("ratio: dropin over redis for rates and bytes, redis over dropin for latency (>1 = dropin faster).\n");
    if (rc) redisFree(rc);
    return 0;
}
