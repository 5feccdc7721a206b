/* dropbench.c - load generator for a dropind node (or any server answering
 * the sys.ping envelope): one thread, epoll, pre-masked frames.
 *
 * Scenarios:
 *   ping      closed loop (--inflight K per connection) or open loop
 *             (--rate R requests/s in total): round trips/s, p50/p99/p99.9,
 *             and the server's CPU time per round trip (--pid: utime+stime
 *             of /proc/PID/stat over the measured window).
 *   idle N    N sessions (authenticated when --token/--tokens is given: the
 *             Authorization header), time to open them (to the first frame,
 *             session.state, when authenticated), the server's RSS growth
 *             per session, then a sys.ping client's latency while they are
 *             held.
 *   presence  --conns operators sending presence.update (no id: no reply)
 *             at --rate updates/s in total: server CPU µs per update.
 *   city      operators moving and re-announcing, customers creating gigs
 *             at --rate, the whole gig flow to rating (dropbench_city.c).
 *
 * Connections are spread over --sources loopback source addresses
 * (127.0.0.1, .2, ...; IP_BIND_ADDRESS_NO_PORT so the port is picked at
 * connect()), since one source address gives at most ~28k ports.
 *
 * Replies are matched to requests by order (a session answers in request
 * order), so the request frame is the same bytes every time: built and
 * masked once. Latency in the open loop runs from the request's scheduled
 * time, so a stalled server is not hidden by a stalled sender.
 *
 * Output: a human summary and one line "result key=value ..." for scripts.
 * Exit status 0 when the scenario ran with no connection lost. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dropbench.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

struct bench B = {.host = "127.0.0.1", .conns = 100, .inflight = 1, .duration = 5, .sources = 1,
                  .hold = 3, .operators = 10000, .think_ms = 1000, .announce = 4, .calm = 4, .max_rss_mb = 2048};

uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

void die(const char *what)
{
    perror(what);
    exit(2);
}

/* utime+stime of pid in clock ticks, or -1. */
long long proc_cpu_ticks(int pid)
{
    char path[64], buf[1024];
    FILE *f;
    size_t n;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (!(f = fopen(path, "r"))) return -1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    unsigned long long ut = 0, st = 0;
    /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

long long proc_rss(int pid)
{
    char path[64], line[256];
    long long kb = -1;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    if (!(f = fopen(path, "r"))) return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %lld kB", &kb) == 1) break;
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

/* ---- frames ---- */

size_t frame_build(unsigned char *out, int opcode, const void *payload, size_t len)
{
    static const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t h = 0;
    out[h++] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        out[h++] = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        out[h++] = 0x80 | 126;
        out[h++] = (unsigned char)(len >> 8);
        out[h++] = (unsigned char)len;
    } else {
        out[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) out[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    memcpy(out + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < len; i++) out[h + i] = ((const unsigned char *)payload)[i] ^ mask[i & 3];
    return h + len;
}

void hist_init(struct hist *h)
{
    h->bins = calloc(HIST_MAX, sizeof *h->bins);
    if (!h->bins) die("calloc");
    h->n = 0;
}

void hist_add(struct hist *h, uint64_t ns)
{
    uint64_t us = ns / 1000;
    if (us >= HIST_MAX) us = HIST_MAX - 1;
    h->bins[us]++;
    h->n++;
}

double hist_pct(const struct hist *h, double p)
{
    uint64_t want = (uint64_t)ceil(p / 100.0 * (double)h->n), acc = 0;
    if (!h->n) return 0;
    if (want < 1) want = 1;
    for (int i = 0; i < HIST_MAX; i++) {
        acc += h->bins[i];
        if (acc >= want) return (double)i + 0.5;
    }
    return HIST_MAX;
}

void hist_reset(struct hist *h)
{
    memset(h->bins, 0, HIST_MAX * sizeof *h->bins);
    h->n = 0;
}

/* ---- connections ---- */

static void conn_kill(struct conn *c, const char *why)
{
    if (c->st == C_DEAD) return;
    if (!B.quiet) fprintf(stderr, "dropbench: connection lost (%s)\n", why);
    epoll_ctl(B.epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->st = C_DEAD;
    B.lost++;
}

int send_all(struct conn *c, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len) {
        ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                /* the benchmark never fills a socket's send buffer with its
                 * small frames unless the server stopped reading */
                usleep(100);
                continue;
            }
            conn_kill(c, strerror(errno));
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static void conn_start(struct conn *c, int k)
{
    struct sockaddr_in src = {0}, dst = {0};
    int one = 1;
    struct epoll_event ev = {0};

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket");
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (B.sources > 1) {
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(k % B.sources));
        if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0) die("bind");
    }
    dst.sin_family = AF_INET;
    dst.sin_port = htons((uint16_t)B.port);
    if (inet_pton(AF_INET, B.host, &dst.sin_addr) != 1) die("inet_pton");
    if (connect(c->fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS)
        die("connect");
    c->st = C_CONNECTING;
    c->rbuf = malloc(RBUF);
    if (!c->rbuf) die("malloc");
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.ptr = c;
    if (epoll_ctl(B.epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
}

static void conn_upgrade(struct conn *c)
{
    char req[1024];
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    int l = snprintf(req, sizeof req,
                     "GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s%s%s\r\n",
                     B.host, B.port, c->token ? "Authorization: Bearer " : "",
                     c->token ? c->token : "", c->token ? "\r\n" : "");
    epoll_ctl(B.epfd, EPOLL_CTL_MOD, c->fd, &ev);
    B.opened++;
    c->st = C_UPGRADING;
    send_all(c, req, (size_t)l);
}

static void on_reply(struct conn *c, uint64_t t)
{
    if (!c->count) { /* a reply nobody waits for: an error frame */
        B.errors++;
        return;
    }
    uint64_t sent = c->ts[c->head];
    c->head = (c->head + 1) % MAX_INFLIGHT;
    c->count--;
    B.replies++;
    if (c->measure) hist_add(&B.lat, t - sent);
}

static void on_frame(struct conn *c, int op, const unsigned char *p, size_t len, uint64_t t)
{
    if (!c->got_first) {
        c->got_first = true;
        B.first_frames++;
    }
    if (op == 8) {
        B.closes++;
        if (!B.quiet)
            fprintf(stderr, "dropbench: server closed a session: %d %.*s\n",
                    len >= 2 ? p[0] << 8 | p[1] : 0, len > 2 ? (int)len - 2 : 0, p + 2);
        conn_kill(c, "close frame");
        return;
    }
    if (op == 9) { /* ping: pong with the same payload */
        unsigned char f[140];
        if (len <= 125) send_all(c, f, frame_build(f, 10, p, len));
        return;
    }
    if (op != 1 && op != 2) return;
    if (B.on_text) {
        B.on_text(c, p, len, t);
        return;
    }
    if (len > 5 && memcmp(p, "{\"ev\"", 5) == 0) {
        B.events++;
        return;
    }
    if (len > 12 && memmem(p, len > 64 ? 64 : len, "\"ok\":false", 10)) B.errors++;
    on_reply(c, t);
}

/* Parses what c's buffer holds; returns -1 when c died. */
static int conn_parse(struct conn *c, uint64_t t)
{
    size_t off = 0;
    if (c->st == C_UPGRADING) {
        unsigned char *e = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
        if (!e) return 0;
        if (c->rlen < 12 || memcmp(c->rbuf + 9, "101", 3) != 0) {
            conn_kill(c, "upgrade refused");
            return -1;
        }
        c->st = C_OPEN;
        B.upgraded++;
        off = (size_t)(e - c->rbuf) + 4;
    }
    while (c->st == C_OPEN && c->rlen - off >= 2) {
        const unsigned char *p = c->rbuf + off;
        size_t avail = c->rlen - off, h = 2;
        uint64_t len = p[1] & 0x7f;
        if (len == 126) {
            if (avail < 4) break;
            len = (uint64_t)p[2] << 8 | p[3];
            h = 4;
        } else if (len == 127) {
            if (avail < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = len << 8 | p[2 + i];
            h = 10;
        }
        if (len > RBUF - 16) {
            conn_kill(c, "frame too large for the bench");
            return -1;
        }
        if (avail < h + len) break;
        on_frame(c, p[0] & 0x0f, p + h, (size_t)len, t);
        off += h + (size_t)len;
    }
    if (c->st == C_DEAD) return -1;
    memmove(c->rbuf, c->rbuf + off, c->rlen - off);
    c->rlen -= off;
    return 0;
}

/* Sends n sys.ping requests on c in one send(), stamped t. */
static void send_pings(struct conn *c, int n, uint64_t t)
{
    static unsigned char *batch;
    static int batch_n;
    if (c->st != C_OPEN || n <= 0) return;
    if (c->count + (unsigned)n > MAX_INFLIGHT) n = MAX_INFLIGHT - (int)c->count;
    if (n > batch_n) {
        batch = realloc(batch, (size_t)n * B.req_len);
        if (!batch) die("realloc");
        for (int i = batch_n; i < n; i++) memcpy(batch + (size_t)i * B.req_len, B.req, B.req_len);
        batch_n = n;
    }
    for (int i = 0; i < n; i++) {
        c->ts[(c->head + c->count) % MAX_INFLIGHT] = t;
        c->count++;
    }
    B.sent += (uint64_t)n;
    send_all(c, batch, (size_t)n * B.req_len);
}

/* One epoll round: reads and parses; in closed loop, tops each connection
 * that got replies back up to --inflight. */
void pump(int timeout_ms, bool closed_loop)
{
    struct epoll_event evs[256];
    int n = epoll_wait(B.epfd, evs, 256, timeout_ms);
    uint64_t t = now_ns();
    for (int i = 0; i < n; i++) {
        struct conn *c = evs[i].data.ptr;
        if (c->st == C_DEAD) continue;
        if (c->st == C_CONNECTING) {
            int err = 0;
            socklen_t sl = sizeof err;
            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0 || err) {
                conn_kill(c, err ? strerror(err) : "connect");
                continue;
            }
            conn_upgrade(c);
            continue;
        }
        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
            for (;;) {
                ssize_t r = recv(c->fd, c->rbuf + c->rlen, RBUF - c->rlen, 0);
                if (r > 0) {
                    c->rlen += (size_t)r;
                    if (conn_parse(c, t) < 0) break;
                    if (c->rlen == RBUF) {
                        conn_kill(c, "receive buffer full");
                        break;
                    }
                    if ((size_t)r < RBUF / 2) break;
                    continue;
                }
                if (r == 0) conn_kill(c, "eof");
                else if (errno != EAGAIN && errno != EINTR) conn_kill(c, strerror(errno));
                break;
            }
        }
        if (closed_loop && c->st == C_OPEN && c->count < (unsigned)B.inflight)
            send_pings(c, B.inflight - (int)c->count, t);
    }
}

/* Opens conns [from, to) and waits until each is upgraded (and, with
 * want_first, got its first frame). Returns seconds taken. */
double open_conns(int from, int to, bool want_first)
{
    uint64_t t0 = now_ns();
    int batch = 256, started = from;
    for (;;) {
        int live = 0, ready = 0;
        for (int i = from; i < started; i++) {
            struct conn *c = &B.c[i];
            if (c->st == C_DEAD) continue;
            live++;
            if (c->st == C_OPEN && (!want_first || c->got_first)) ready++;
        }
        /* keep at most `batch` handshakes pending at once */
        for (int pending = live - ready; started < to && pending < batch; pending++, live++) {
            conn_start(&B.c[started], started);
            started++;
        }
        if (started == to && ready == live) break;
        if (live == 0 && started > from) {
            fprintf(stderr, "dropbench: every connection failed\n");
            break;
        }
        if ((now_ns() - t0) / 1e9 > 120) {
            fprintf(stderr, "dropbench: gave up opening after 120 s (%d ready)\n", ready);
            break;
        }
        pump(10, false);
    }
    return (double)(now_ns() - t0) / 1e9;
}

void conns_alloc(int n)
{
    B.c = calloc((size_t)n, sizeof *B.c);
    if (!B.c) die("calloc");
    B.nc = n;
    for (int i = 0; i < n; i++) {
        if (B.ntokens) B.c[i].token = B.tokens[i % B.ntokens];
        else B.c[i].token = B.token;
    }
}

static void ts_alloc(struct conn *c)
{
    c->ts = calloc(MAX_INFLIGHT, sizeof *c->ts);
    if (!c->ts) die("calloc");
}

/* ---- scenarios ---- */

void window_start(struct window *w)
{
    w->t0 = now_ns();
    w->cpu0 = B.pid ? proc_cpu_ticks(B.pid) : -1;
    w->replies0 = B.replies;
    w->sent0 = B.sent;
    hist_reset(&B.lat);
}

double window_cpu_us(struct window *w)
{
    long long c1 = B.pid ? proc_cpu_ticks(B.pid) : -1;
    if (w->cpu0 < 0 || c1 < 0) return -1;
    return (double)(c1 - w->cpu0) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

static int scenario_ping(void)
{
    struct window w;
    double secs, cpu;
    bool open_loop = B.rate > 0;
    conns_alloc(B.conns);
    for (int i = 0; i < B.nc; i++) {
        ts_alloc(&B.c[i]);
        B.c[i].measure = true;
    }
    open_conns(0, B.nc, B.token || B.ntokens);
    if (B.lost) return 1;
    /* warm-up: 0.3 s, not measured */
    for (int phase = 0; phase < 2; phase++) {
        double len = phase == 0 ? 0.3 : B.duration;
        uint64_t start = now_ns(), end = start + (uint64_t)(len * 1e9), due_sent = 0;
        int rr = 0;
        if (phase == 1) window_start(&w);
        if (!open_loop)
            for (int i = 0; i < B.nc; i++)
                if (B.c[i].count < (unsigned)B.inflight)
                    send_pings(&B.c[i], B.inflight - (int)B.c[i].count, now_ns());
        while (now_ns() < end) {
            if (open_loop) {
                uint64_t t = now_ns();
                uint64_t due = (uint64_t)((double)(t - start) / 1e9 * B.rate);
                /* spread the due requests over the connections, one each,
                 * stamped with their scheduled time */
                while (due_sent < due) {
                    uint64_t sched = start + (uint64_t)((double)due_sent * 1e9 / B.rate);
                    struct conn *c = &B.c[rr];
                    rr = (rr + 1) % B.nc;
                    if (c->st == C_OPEN) send_pings(c, 1, sched);
                    due_sent++;
                }
                pump(1, false);
            } else {
                pump(5, true);
            }
            if (B.lost) break;
        }
    }
    secs = (double)(now_ns() - w.t0) / 1e9;
    cpu = window_cpu_us(&w);
    uint64_t rt = B.replies - w.replies0;
    printf("ping %s: %d conns, %s %g, %.1f s: %.0f rt/s, p50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs",
           open_loop ? "open loop" : "closed loop", B.nc, open_loop ? "rate" : "inflight",
           open_loop ? B.rate : (double)B.inflight, secs, (double)rt / secs, hist_pct(&B.lat, 50),
           hist_pct(&B.lat, 99), hist_pct(&B.lat, 99.9));
    if (cpu >= 0) printf(", server %.2f µs CPU/rt (%.0f%% of a core)", cpu / (double)rt,
                         cpu / 1e4 / secs);
    printf("\nresult scenario=ping mode=%s conns=%d inflight=%d rate=%.0f secs=%.2f rt=%llu "
           "rtps=%.0f p50_us=%.0f p99_us=%.0f p999_us=%.0f cpu_us_per_rt=%.3f errors=%llu "
           "lost=%llu replies_total=%llu\n",
           open_loop ? "open" : "closed", B.nc, B.inflight, B.rate, secs, (unsigned long long)rt,
           (double)rt / secs, hist_pct(&B.lat, 50), hist_pct(&B.lat, 99), hist_pct(&B.lat, 99.9),
           cpu >= 0 ? cpu / (double)rt : -1.0, (unsigned long long)B.errors,
           (unsigned long long)B.lost, (unsigned long long)B.replies);
    return B.lost || rt == 0 ? 1 : 0;
}

static int scenario_idle(void)
{
    long long rss0, rss1, rss_half;
    double open_s, secs;
    struct window w;
    int n = B.idle_n;
    bool authed = B.token || B.ntokens;
    struct conn *probe;

    conns_alloc(n + 1);
    probe = &B.c[n];
    probe->token = NULL;
    ts_alloc(probe);
    probe->measure = true;
    /* settle, then the baseline RSS */
    usleep(200000);
    rss0 = B.pid ? proc_rss(B.pid) : -1;
    /* two halves: the second half's growth is the marginal cost of a
     * session, without what fills once whatever the count (store caches,
     * the first pages of lws's descriptor tables, allocator arenas) */
    open_s = open_conns(0, n / 2, authed);
    for (uint64_t end = now_ns() + 300000000ull; now_ns() < end;) pump(10, false);
    rss_half = B.pid ? proc_rss(B.pid) : -1;
    {
        uint64_t t = now_ns();
        open_conns(n / 2, n, authed);
        open_s += (double)(now_ns() - t) / 1e9;
    }
    int ready = 0;
    for (int i = 0; i < n; i++)
        if (B.c[i].st == C_OPEN && (!authed || B.c[i].got_first)) ready++;
    /* let the server finish what opening left (token touches, logs) */
    for (uint64_t end = now_ns() + 500000000ull; now_ns() < end;) pump(10, false);
    rss1 = B.pid ? proc_rss(B.pid) : -1;
    /* a client's sys.ping while they are held, one in flight */
    open_conns(n, n + 1, false);
    window_start(&w);
    for (uint64_t end = now_ns() + (uint64_t)(B.hold * 1e9); now_ns() < end;) {
        if (probe->st == C_OPEN && probe->count == 0) send_pings(probe, 1, now_ns());
        pump(1, false);
    }
    secs = (double)(now_ns() - w.t0) / 1e9;
    /* and once they have been held: what the node keeps, not what the
     * burst of opening left in malloc's free lists */
    long long rss2 = B.pid ? proc_rss(B.pid) : -1;
    double held = rss0 >= 0 && rss2 >= 0 && ready ? (double)(rss2 - rss0) / ready : -1;
    double per = rss0 >= 0 && rss1 >= 0 && ready ? (double)(rss1 - rss0) / ready : -1;
    double marginal = rss_half >= 0 && rss1 >= 0 && n - n / 2 > 0
                          ? (double)(rss1 - rss_half) / (n - n / 2) : -1;
    printf("idle: %d/%d sessions %s in %.2f s (%.0f/s); server RSS %.1f -> %.1f MB, %.0f B per "
           "session (%.0f B marginal, second half; %.0f B after the hold); probe sys.ping p50 %.0f µs "
           "p99 %.0f µs over %.1f s (%llu pings)\n",
           ready, n, authed ? "authenticated" : "open", open_s, ready / open_s, rss0 / 1e6,
           rss1 / 1e6, per, marginal, held, hist_pct(&B.lat, 50), hist_pct(&B.lat, 99), secs,
           (unsigned long long)B.lat.n);
    printf("result scenario=idle sessions=%d ready=%d authed=%d open_s=%.3f rss0=%lld rss1=%lld "
           "rss_held=%lld bytes_per_session=%.0f marginal_bytes=%.0f held_bytes=%.0f "
           "probe_p50_us=%.0f probe_p99_us=%.0f lost=%llu\n",
           n, ready, authed, open_s, rss0, rss1, rss2, per, marginal, held, hist_pct(&B.lat, 50),
           hist_pct(&B.lat, 99), (unsigned long long)B.lost);
    return ready == n && !B.lost && B.lat.n ? 0 : 1;
}

static int scenario_presence(void)
{
    struct window w;
    double rate = B.rate > 0 ? B.rate : 1000;
    uint64_t start, end, due_sent = 0;
    int rr = 0;
    unsigned int seed = 42;

    conns_alloc(B.conns);
    open_conns(0, B.nc, true);
    if (B.lost) return 1;
    window_start(&w);
    start = w.t0;
    end = start + (uint64_t)(B.duration * 1e9);
    while (now_ns() < end && !B.lost) {
        uint64_t due = (uint64_t)((double)(now_ns() - start) / 1e9 * rate);
        while (due_sent < due) {
            char body[160];
            unsigned char f[200];
            struct conn *c = &B.c[rr];
            double lat = 10.78 + ((double)rand_r(&seed) / RAND_MAX - 0.5) * 0.09;
            double lon = 106.70 + ((double)rand_r(&seed) / RAND_MAX - 0.5) * 0.09;
            int l = snprintf(body, sizeof body,
                             "{\"op\":\"presence.update\",\"data\":{\"latitude\":%.6f,"
                             "\"longitude\":%.6f,\"available\":true}}",
                             lat, lon);
            rr = (rr + 1) % B.nc;
            if (c->st == C_OPEN) {
                send_all(c, f, frame_build(f, 1, body, (size_t)l));
                B.sent++;
            }
            due_sent++;
        }
        pump(1, false);
    }
    /* let the server catch up before reading its CPU */
    for (uint64_t e = now_ns() + 200000000ull; now_ns() < e;) pump(10, false);
    double secs = (double)(now_ns() - w.t0) / 1e9, cpu = window_cpu_us(&w);
    uint64_t sent = B.sent - w.sent0;
    printf("presence: %d operators, %.0f updates/s for %.1f s: %llu sent, %llu error replies, "
           "server %.2f µs CPU/update\n",
           B.nc, rate, secs, (unsigned long long)sent, (unsigned long long)B.errors,
           cpu >= 0 && sent ? cpu / (double)sent : -1.0);
    printf("result scenario=presence conns=%d rate=%.0f secs=%.2f updates=%llu errors=%llu "
           "cpu_us_per_update=%.3f lost=%llu\n",
           B.nc, rate, secs, (unsigned long long)sent, (unsigned long long)B.errors,
           cpu >= 0 && sent ? cpu / (double)sent : -1.0, (unsigned long long)B.lost);
    return B.lost || B.errors || !sent ? 1 : 0;
}

/* Appends path's tokens, one a line, to *tokens. */
static void load_tokens(const char *path, char ***tokens, int *n)
{
    FILE *f = fopen(path, "r");
    char line[512];
    if (!f) die(path);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0]) continue;
        *tokens = realloc(*tokens, (size_t)(*n + 1) * sizeof **tokens);
        if (!*tokens || !((*tokens)[(*n)++] = strdup(line))) die("alloc");
    }
    fclose(f);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: dropbench --port P [--host 127.0.0.1] [--pid SERVER_PID] [options] SCENARIO\n"
            "  ping                 --conns N --inflight K (closed loop) | --rate R (open loop)\n"
            "  idle N               N sessions held --hold S seconds (RSS per session)\n"
            "  presence             --conns N operators, --rate updates/s (needs tokens)\n"
            "  city                 --operators N (--tokens: one each) --customer-tokens FILE\n"
            "                       [--customers N] --rate gigs/s --think MS --announce S\n"
            "                       --calm S (presence alone first) --duration S\n"
            "                       --max-rss MB (stop early past it; default 2048)\n"
            "options: --duration S, --sources K (127.0.0.1..K source addresses),\n"
            "         --token T | --tokens FILE (one a line; Authorization: Bearer), --quiet\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"host", 1, 0, 'h'},     {"port", 1, 0, 'p'},   {"pid", 1, 0, 'P'},
        {"conns", 1, 0, 'c'},    {"inflight", 1, 0, 'k'}, {"rate", 1, 0, 'r'},
        {"duration", 1, 0, 'd'}, {"sources", 1, 0, 's'}, {"token", 1, 0, 't'},
        {"tokens", 1, 0, 'T'},   {"hold", 1, 0, 'H'},   {"quiet", 0, 0, 'q'},
        {"customer-tokens", 1, 0, 'C'}, {"operators", 1, 0, 'o'}, {"customers", 1, 0, 'u'},
        {"think", 1, 0, 'K'},    {"announce", 1, 0, 'A'}, {"calm", 1, 0, 'm'},
        {"max-rss", 1, 0, 'M'},
        {0, 0, 0, 0}};
    static const char ping_json[] = "{\"op\":\"sys.ping\",\"id\":1}";
    struct rlimit rl;
    int o;

    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'h': B.host = optarg; break;
        case 'p': B.port = atoi(optarg); break;
        case 'P': B.pid = atoi(optarg); break;
        case 'c': B.conns = atoi(optarg); break;
        case 'k': B.inflight = atoi(optarg); break;
        case 'r': B.rate = atof(optarg); break;
        case 'd': B.duration = atof(optarg); break;
        case 's': B.sources = atoi(optarg); break;
        case 't': B.token = optarg; break;
        case 'T': load_tokens(optarg, &B.tokens, &B.ntokens); break;
        case 'C': load_tokens(optarg, &B.ctokens, &B.nctokens); break;
        case 'o': B.operators = atoi(optarg); break;
        case 'u': B.customers = atoi(optarg); break;
        case 'K': B.think_ms = atof(optarg); break;
        case 'A': B.announce = atof(optarg); break;
        case 'm': B.calm = atof(optarg); break;
        case 'M': B.max_rss_mb = atof(optarg); break;
        case 'H': B.hold = atof(optarg); break;
        case 'q': B.quiet = true; break;
        default: usage();
        }
    }
    if (optind >= argc || B.port <= 0 || B.conns < 1 || B.inflight < 1 ||
        B.inflight > MAX_INFLIGHT || B.sources < 1 || B.sources > 250)
        usage();
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    B.epfd = epoll_create1(EPOLL_CLOEXEC);
    hist_init(&B.lat);
    B.req = malloc(sizeof ping_json + 14);
    if (B.epfd < 0 || !B.req) die("init");
    B.req_len = frame_build(B.req, 1, ping_json, sizeof ping_json - 1);

    if (strcmp(argv[optind], "ping") == 0) return scenario_ping();
    if (strcmp(argv[optind], "presence") == 0) {
        if (!B.token && !B.ntokens) usage();
        return scenario_presence();
    }
    if (strcmp(argv[optind], "city") == 0) {
        if (B.ntokens < B.operators || B.nctokens < 1 || B.operators < 1 || B.rate < 0)
            usage();
        return scenario_city();
    }
    if (strcmp(argv[optind], "idle") == 0 && optind + 1 < argc) {
        B.idle_n = atoi(argv[optind + 1]);
        if (B.idle_n < 1) usage();
        return scenario_idle();
    }
    usage();
    return 2;
}
