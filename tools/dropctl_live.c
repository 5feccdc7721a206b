/* dropctl's live commands, which keep the socket open: top (a full-screen
 * view redrawn every second from admin.cluster stats and the newest gigs;
 * plain ANSI, no curses; q quits), watch (a gig's or an account's events)
 * and tail -f (the node's log). For watch and tail -f the node pushes what
 * happens (admin.watch) and dropctl only prints it. The terminal is put in
 * raw mode for top and restored on every way out, a signal included. */
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "dropctl_internal.h"

static struct termios tty_saved;
static bool tty_raw;

static bool tty_cursor_hidden;

/* Undoes tty_setup (echo, line mode, the cursor); idempotent, so every way
 * out may call it. */
static void tty_restore(void)
{
    if (tty_raw) tcsetattr(0, TCSANOW, &tty_saved);
    tty_raw = false;
    if (tty_cursor_hidden) fputs("\033[?25h", stdout);
    tty_cursor_hidden = false;
    fflush(stdout);
}

/* SIGINT/SIGTERM in a live command: the terminal restored, exit 0. */
static void on_quit(int sig)
{
    (void)sig;
    tty_restore();
    _exit(EX_OK);
}

/* For top: keys without Enter or echo, no cursor while drawing, and the
 * terminal restored at exit or on a signal. */
static void tty_setup(void)
{
    struct termios t;
    if (isatty(0) && tcgetattr(0, &tty_saved) == 0) {
        t = tty_saved;
        t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        t.c_cc[VMIN] = 0;
        t.c_cc[VTIME] = 0;
        tty_raw = tcsetattr(0, TCSANOW, &t) == 0;
    }
    atexit(tty_restore);
    if (isatty(1)) { /* no cursor while drawing */
        fputs("\033[?25l", stdout);
        tty_cursor_hidden = true;
    }
    signal(SIGINT, on_quit);
    signal(SIGTERM, on_quit);
}

/* True when q (or Q, or end of input on a terminal) was typed. */
static bool key_quit(void)
{
    struct pollfd p = {0, POLLIN, 0};
    char buf[64];
    if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLHUP))) return false;
    ssize_t n = read(0, buf, sizeof buf);
    if (n == 0 && isatty(0)) return true;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == 'q' || buf[i] == 'Q' || buf[i] == 3) return true;
    return false;
}

/* Each node's counters at the last frame, for requests and errors a second. */
struct top_rates {
    struct {
        char node[64];
        long long in, errors;
        int64_t at;
    } prev[64];
    int n;
};

/* Sets *rs and *es to node's requests and errors a second since the last
 * frame (-1: no earlier frame of it) and remembers in and errs at t. */
static void top_rate(struct top_rates *rt, const char *node, long long in, long long errs,
                     int64_t t, double *rs, double *es)
{
    *rs = *es = -1;
    for (int k = 0; k < rt->n; k++) {
        if (strcmp(rt->prev[k].node, node) != 0) continue;
        double dt = (double)(t - rt->prev[k].at) / 1000.0;
        if (dt > 0) {
            *rs = (double)(in - rt->prev[k].in) / dt;
            *es = (double)(errs - rt->prev[k].errors) / dt;
        }
        rt->prev[k].in = in;
        rt->prev[k].errors = errs;
        rt->prev[k].at = t;
        return;
    }
    if (rt->n < 64) {
        snprintf(rt->prev[rt->n].node, sizeof rt->prev[rt->n].node, "%s", node);
        rt->prev[rt->n].in = in;
        rt->prev[rt->n].errors = errs;
        rt->prev[rt->n++].at = t;
    }
}

static void fmt_rate(char *out, size_t len, double r)
{
    if (r < 0) snprintf(out, len, "-");
    else snprintf(out, len, "%.1f", r);
}

/* Draws one frame from the cluster's stats r and the newest gigs (both
 * borrowed); frame counts from 0. */
static void top_draw(struct top_rates *rt, json_t *r, json_t *gigs, int frame)
{
    int64_t t = now_ms();
    char when[32];
    fmt_clock(when, sizeof when);
    /* on a terminal each frame replaces the last; elsewhere they follow
     * one another, a blank line apart */
    if (isatty(1)) printf("\033[H\033[2J");
    else if (frame) printf("\n");
    printf("%sdropctl top%s  %s  %s  (q quits)\n\n", C_BOLD, C_OFF, opt.url, when);
    struct table tb;
    size_t i;
    json_t *e;
    long long ts = 0, top_ = 0, tfree = 0;
    double treq = 0, terr = 0;
    table_init(&tb, "NODE,STATE,>SESSIONS,>OPS,>FREE,>REQ/S,>ERR/S,>LAG,>LAG MAX,STORE,BUS");
    json_array_foreach(r, i, e)
    {
        json_t *d = json_object_get(e, "data");
        char st[64], s[32], o[32], f[32], rq[32], er[32], lag[32], lagm[32];
        const char *node = str(e, "node");
        const char *state = node_state(e, st, sizeof st);
        if (strcmp(state, "ok") != 0) {
            table_row(&tb, C_RED, node, state, "-", "-", "-", "-", "-", "-", "-", "-", "-");
            continue;
        }
        double rs, es;
        top_rate(rt, node, num(d, "messagesIn"), num(d, "errors"), t, &rs, &es);
        fmt_rate(rq, sizeof rq, rs);
        fmt_rate(er, sizeof er, es);
        if (rs > 0) treq += rs;
        if (es > 0) terr += es;
        ts += num(d, "sessions");
        top_ += num(d, "operatorsLocal");
        tfree += num(d, "operatorsFree");
        snprintf(s, sizeof s, "%lld", num(d, "sessions"));
        snprintf(o, sizeof o, "%lld", num(d, "operatorsLocal"));
        snprintf(f, sizeof f, "%lld", num(d, "operatorsFree"));
        snprintf(lag, sizeof lag, "%.1fms", json_number_value(json_object_get(d, "loopLag")) * 1000);
        snprintf(lagm, sizeof lagm, "%.1fms", json_number_value(json_object_get(d, "loopLagMax")) * 1000);
        bool bad = strcmp(str(d, "store"), "ok") || strcmp(str(d, "bus"), "ok");
        table_row(&tb, bad ? C_YELLOW : "", node, json_is_true(json_object_get(d, "draining")) ? "draining" : "ok",
                  s, o, f, rq, er, lag, lagm, str(d, "store"), str(d, "bus"));
    }
    table_print(&tb, stdout);
    printf("\ncluster: %zu nodes  %lld sessions  %lld operators (%lld free)  %.1f req/s  %.1f err/s\n",
           json_array_size(r), ts, top_, tfree, treq, terr);
    /* gigs by status, among the newest */
    json_t *by = json_object();
    json_array_foreach(gigs, i, e)
    {
        const char *s = str(e, "status");
        json_object_set_new(by, s, json_integer(json_integer_value(json_object_get(by, s)) + 1));
    }
    printf("gigs (newest %zu):", json_array_size(gigs));
    const char *k;
    json_t *v;
    json_object_foreach(by, k, v) printf("  %s %lld", k, (long long)json_integer_value(v));
    printf("\n");
    fflush(stdout);
    json_decref(by);
}

/* Ends top on a failed call: the terminal restored, then the error
 * reported. Returns rc. */
static int top_fail(int rc, json_t *err)
{
    tty_restore();
    return report(rc, err);
}

/* Waits a second for the next frame, keeping the connection serviced.
 * Returns -1 when the next frame is due, EX_OK when q was typed, or the exit
 * status of a lost connection (message printed). */
static int top_pause(void)
{
    int64_t until = now_ms() + 1000;
    while (now_ms() < until) {
        if (key_quit()) return EX_OK;
        conn_service(100);
        json_decref(conn_event(0)); /* top has no use for events */
        if (!conn_alive()) {
            tty_restore();
            return conn_lost();
        }
    }
    return -1;
}

/* dropctl top [frames=N]: a frame a second until q (or N frames). */
int cmd_top(struct cmd_ctx *cc)
{
    struct top_rates rt = {.n = 0};
    int frames = 0;
    json_t *fr = json_object_get(cc->data, "frames");
    int max_frames = json_is_integer(fr) ? (int)json_integer_value(fr) : -1;
    tty_setup();
    for (;;) {
        json_t *r, *gigs;
        int rc = cluster_call("stats", NULL, &r);
        if (rc) return top_fail(rc, r);
        rc = conn_call("admin.gigs", json_pack("{s:i}", "limit", 200), &gigs);
        if (rc) {
            json_decref(r);
            return top_fail(rc, gigs);
        }
        top_draw(&rt, r, gigs, frames);
        json_decref(r);
        json_decref(gigs);
        if (++frames >= max_frames && max_frames > 0) break;
        rc = top_pause();
        if (rc == EX_OK) break;
        if (rc > 0) return rc;
    }
    tty_restore();
    printf("\n");
    return EX_OK;
}

/* Prints log lines (admin.tail's or admin.log's "lines"): each line's text,
 * or with --json each entry as one JSON document. Returns how many. */
static int print_log_lines(json_t *lines)
{
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l)
    {
        if (opt.json) print_compact(l);
        else printf("%s\n", str(l, "line"));
    }
    fflush(stdout);
    return (int)json_array_size(lines);
}

/* One admin.watch event as a line: time, event, status, version, gig (and
 * the account when watching one); with --json the event's data. */
static void print_watch_event(json_t *ev)
{
    json_t *d = json_object_get(ev, "data");
    json_t *inner = json_object_get(d, "event");
    const char *name = json_string_value(json_object_get(inner, "ev"));
    json_t *g = json_object_get(inner, "data");
    if (opt.json) {
        print_compact(d);
        fflush(stdout);
        return;
    }
    char when[32];
    fmt_clock(when, sizeof when);
    const char *gig = json_string_value(json_object_get(g, "id"));
    if (!gig) gig = json_string_value(json_object_get(g, "gigId"));
    const char *status = json_string_value(json_object_get(g, "status"));
    json_t *ver = json_object_get(g, "version");
    printf("%s  %-18s %-20s", when, name ? name : "?", status ? status : "-");
    if (json_is_integer(ver)) printf(" v%-4lld", (long long)json_integer_value(ver));
    else printf(" %-5s", "-");
    if (gig) printf(" gig %s", gig);
    const char *reason = json_string_value(json_object_get(g, "reason"));
    if (reason) printf(" reason=%s", reason);
    if (json_is_string(json_object_get(d, "gig"))) printf("\n");
    else printf("  %saccount %s%s\n", C_DIM, str(d, "account"), C_OFF);
    fflush(stdout);
}

/* Prints pushed events (admin.log lines, admin.watch events) until
 * frames_max of them (-1: no end) or the connection is lost. Returns an
 * exit status. */
static int follow(int frames_max)
{
    int n = 0;
    while (frames_max < 0 || n < frames_max) {
        json_t *ev = conn_event(1000);
        if (!ev) {
            if (!conn_alive()) return conn_lost();
            continue;
        }
        const char *name = json_string_value(json_object_get(ev, "ev"));
        json_t *d = json_object_get(ev, "data");
        if (name && strcmp(name, "admin.log") == 0) {
            n += print_log_lines(json_object_get(d, "lines"));
        } else if (name && strcmp(name, "admin.watch") == 0) {
            print_watch_event(ev);
            n++;
        }
        json_decref(ev);
    }
    return EX_OK;
}

/* dropctl watch gig ID | account ID [events=N]. */
int cmd_watch(struct cmd_ctx *cc)
{
    json_t *r;
    if (cc->argc != 2 || (strcmp(cc->argv[0], "gig") != 0 && strcmp(cc->argv[0], "account") != 0))
        die_usage("watch: 'watch gig ID' or 'watch account ID' expected");
    json_t *d = json_pack("{s:s}", strcmp(cc->argv[0], "gig") == 0 ? "gigId" : "accountId", cc->argv[1]);
    int rc = conn_call("admin.watch", d, &r);
    if (rc) return report(rc, r);
    if (!opt.json) {
        printf("%swatching %s %s (Ctrl-C stops)%s\n", C_DIM, cc->argv[0], cc->argv[1], C_OFF);
        fflush(stdout);
    }
    json_decref(r);
    signal(SIGINT, on_quit);
    json_t *fr = json_object_get(cc->data, "events");
    return follow(json_is_integer(fr) ? (int)json_integer_value(fr) : -1);
}

/* dropctl tail [-f] [limit=N]: the newest log lines; with -f the node then
 * pushes each new line (admin.watch log, after the last one printed). */
int cmd_tail(struct cmd_ctx *cc)
{
    json_t *r;
    json_t *lim = json_object_get(cc->data, "limit");
    int rc = conn_call("admin.tail", json_pack("{s:O?}", "limit", lim), &r);
    if (rc) return report(rc, r);
    if (opt.json && !opt.follow) {
        print_json(r);
        json_decref(r);
        return EX_OK;
    }
    print_log_lines(json_object_get(r, "lines"));
    if (!opt.follow) {
        json_decref(r);
        return EX_OK;
    }
    json_t *w;
    rc = conn_call("admin.watch", json_pack("{s:b,s:O}", "log", 1, "after", json_object_get(r, "last")), &w);
    json_decref(r);
    if (rc) return report(rc, w);
    json_decref(w);
    signal(SIGINT, on_quit);
    return follow(-1);
}
