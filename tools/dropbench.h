/* dropbench.h - what dropbench's scenario files share: the connections, the
 * epoll pump, frames, latency histograms and the server's CPU and RSS from
 * /proc. dropbench.c holds these and the socket-path scenarios (ping, idle,
 * presence); dropbench_city.c the gig-flow simulation (city). One thread:
 * nothing here is locked. */
#ifndef DROPBENCH_H
#define DROPBENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RBUF 16384
#define HIST_MAX 2000000 /* µs: latencies past 2 s land in the last bin */
#define MAX_INFLIGHT 4096

enum cstate { C_CONNECTING, C_UPGRADING, C_OPEN, C_DEAD };

struct conn {
    int fd;
    enum cstate st;
    bool measure;          /* its replies are timed */
    bool got_first;        /* first frame arrived (session.state) */
    unsigned char *rbuf;
    size_t rlen;
    uint64_t *ts;          /* ring of send times (ns) of requests awaiting replies */
    unsigned head, count;
    const char *token;
};

/* A latency histogram in µs bins (HIST_MAX of them). */
struct hist {
    uint32_t *bins;
    uint64_t n;
};

/* A measured window: the server's CPU and the counters at its start. */
struct window {
    uint64_t t0;
    long long cpu0;
    uint64_t replies0, sent0;
};

struct bench {
    const char *host;
    int port;
    int pid;
    int conns;
    int inflight;
    double rate;
    double duration;
    int sources;
    const char *token;
    char **tokens;         /* --tokens: one a line (operators in city) */
    int ntokens;
    char **ctokens;        /* --customer-tokens (city) */
    int nctokens;
    int idle_n;
    double hold;
    int operators;         /* city: --operators (default 10,000) */
    int customers;         /* city: --customers (default: every customer token) */
    double think_ms;       /* city: an operator's think time, uniform 0..think_ms */
    double announce;       /* city: seconds between an operator's presence.update */
    double calm;           /* city: seconds of presence alone, before the gigs */
    double max_rss_mb;     /* city: stop early when the server's RSS passes it */
    int epfd;
    struct conn *c;
    int nc;
    struct hist lat;       /* ping round trips (ping, idle's probe) */
    uint64_t replies, sent, errors, lost, events, closes;
    int opened, upgraded, first_frames;
    unsigned char *req;    /* one masked sys.ping frame */
    size_t req_len;
    bool quiet;
    /* when set, every text or binary frame goes here instead of the
     * ping bookkeeping; p is borrowed until it returns */
    void (*on_text)(struct conn *c, const unsigned char *p, size_t len, uint64_t t);
};

extern struct bench B;

uint64_t now_ns(void);
void die(const char *what);
long long proc_cpu_ticks(int pid);
/* VmRSS of pid in bytes, or -1. */
long long proc_rss(int pid);

/* Writes a masked client frame of payload into out (room for len + 14);
 * returns its length. */
size_t frame_build(unsigned char *out, int opcode, const void *payload, size_t len);
/* Sends all of buf on c; -1 when c died (it is closed and counted lost). */
int send_all(struct conn *c, const void *buf, size_t len);

void hist_init(struct hist *h);
void hist_add(struct hist *h, uint64_t ns);
double hist_pct(const struct hist *h, double p);
void hist_reset(struct hist *h);

/* One epoll round of at most timeout_ms: reads, parses, hands frames on. */
void pump(int timeout_ms, bool closed_loop);
/* Opens conns [from, to) and waits until each is upgraded (and, with
 * want_first, got its first frame). Returns seconds taken. */
double open_conns(int from, int to, bool want_first);
/* B.c = n connections, not yet opened, tokens from --token/--tokens. */
void conns_alloc(int n);

void window_start(struct window *w);
/* Server CPU µs over the window, or -1 without --pid. */
double window_cpu_us(struct window *w);

int scenario_city(void);

#endif
