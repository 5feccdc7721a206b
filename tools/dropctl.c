/* dropctl - the admin inspector of a dropind cluster.
 *
 *   dropctl [-u URL] [--token TOKEN] [--json] [--node ID] [--timeout MS]
 *           COMMAND [ARGS] [KEY=VALUE ...]
 *
 * It talks to one node over that node's WebSocket, as an admin (the
 * node's admin_token in the upgrade's Authorization header), and prints for
 * people by default: aligned tables, ids shortened where unambiguous, times
 * relative ("12s ago"), colour only on a terminal and never with NO_COLOR.
 * --json prints the raw reply instead, one JSON document. The node it talks
 * to asks the other nodes of the cluster (admin.cluster: a directed request
 * on node.<id> with a deadline), so nodes, stats, sessions and operators
 * cover the whole cluster; a node that does not answer in time is listed as
 * such. top, watch and tail -f keep the socket open: the node pushes what
 * happens (admin.watch), dropctl only draws it.
 *
 * Exit status: 0 ok, 1 an error reply, 2 bad usage, 3 the node cannot be
 * reached (or does not answer), 4 not authenticated as an admin.
 *
 * The connection is one libwebsockets client on lws's own poll loop;
 * conn_call() writes a request and services the loop until its reply comes
 * (events that arrive meanwhile are kept for conn_event()). */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define REPLY_MAX (16 * 1024 * 1024)
#define EVENTS_MAX 10000 /* events kept while nobody reads them */

enum { EX_OK = 0, EX_ERR = 1, EX_USAGE = 2, EX_UNREACH = 3, EX_UNAUTH = 4 };

/* ---- options ---- */

static struct {
    const char *url;
    const char *token;
    bool json;
    const char *node;
    int timeout_ms;
    bool color;
    bool follow;
} opt;

static const char *C_RED = "", *C_GREEN = "", *C_YELLOW = "", *C_DIM = "", *C_BOLD = "",
                  *C_OFF = "";

static void use_color(bool on)
{
    opt.color = on;
    if (!on) return;
    C_RED = "\033[31m";
    C_GREEN = "\033[32m";
    C_YELLOW = "\033[33m";
    C_DIM = "\033[2m";
    C_BOLD = "\033[1m";
    C_OFF = "\033[0m";
}

static void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("dropctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (dropctl --help)\n", stderr);
    va_end(ap);
    exit(EX_USAGE);
}

/* ---- the connection ---- */

struct conn {
    struct lws_context *ctx;
    struct lws *wsi;
    bool established, closed, failed;
    int close_code;
    char why[256];
    unsigned char *rx;
    size_t rx_len;
    json_t *outq;   /* texts waiting for WRITEABLE */
    json_t *inbox;  /* replies and events received, oldest first */
    int next_id;
};

static struct conn C;

static void conn_got(const unsigned char *buf, size_t len)
{
    json_t *m = json_loadb((const char *)buf, len, 0, NULL);
    if (!json_is_object(m)) {
        json_decref(m);
        return;
    }
    if (json_object_get(m, "ev") && json_array_size(C.inbox) >= EVENTS_MAX) {
        size_t i; /* drop the oldest event, never a reply */
        json_t *x;
        json_array_foreach(C.inbox, i, x) if (json_object_get(x, "ev")) break;
        json_array_remove(C.inbox, i);
    }
    json_array_append_new(C.inbox, m);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    (void)user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = in, *end = *p + len;
        char value[600];
        if (!opt.token || !*opt.token) return 0;
        snprintf(value, sizeof value, "Bearer %s", opt.token);
        if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                         (unsigned char *)value, (int)strlen(value), p, end))
            return -1;
        return 0;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        C.established = true;
        if (json_array_size(C.outq)) lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        if (!json_array_size(C.outq)) return 0;
        const char *t = json_string_value(json_array_get(C.outq, 0));
        size_t n = strlen(t);
        unsigned char *buf = malloc(LWS_PRE + n);
        if (!buf) return -1;
        memcpy(buf + LWS_PRE, t, n);
        int w = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT);
        free(buf);
        json_array_remove(C.outq, 0);
        if (json_array_size(C.outq)) lws_callback_on_writable(wsi);
        return w < (int)n ? -1 : 0;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (C.rx_len + len > REPLY_MAX) return -1;
        C.rx = realloc(C.rx, C.rx_len + len + 1);
        if (!C.rx) return -1;
        memcpy(C.rx + C.rx_len, in, len);
        C.rx_len += len;
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            conn_got(C.rx, C.rx_len);
            C.rx_len = 0;
        }
        return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2) C.close_code = ((unsigned char *)in)[0] << 8 | ((unsigned char *)in)[1];
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        snprintf(C.why, sizeof C.why, "%s", in ? (const char *)in : "connection error");
        C.failed = true;
        C.wsi = NULL;
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        C.closed = true;
        C.wsi = NULL;
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {"dropin.v1.json", callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Why the connection is gone, as an exit status (message printed). */
static int conn_lost(void)
{
    if (C.close_code == 4401) {
        fprintf(stderr, "dropctl: %s refused the admin token (set DROPIN_ADMIN_TOKEN or --token "
                        "to the node's admin_token)\n", opt.url);
        return EX_UNAUTH;
    }
    if (C.failed && !C.established)
        fprintf(stderr, "dropctl: cannot connect to %s: %s\n", opt.url, C.why);
    else if (C.close_code)
        fprintf(stderr, "dropctl: %s closed the connection (code %d)\n", opt.url, C.close_code);
    else
        fprintf(stderr, "dropctl: %s closed the connection\n", opt.url);
    return EX_UNREACH;
}

/* Starts connecting to opt.url. Returns 0, or an exit status. */
static int conn_open(void)
{
    struct lws_context_creation_info info;
    struct lws_client_connect_info ci;
    const char *proto, *addr, *path;
    static char urlbuf[512], pathbuf[512];
    int port;

    snprintf(urlbuf, sizeof urlbuf, "%s", opt.url);
    if (lws_parse_uri(urlbuf, &proto, &addr, &port, &path) ||
        (strcmp(proto, "ws") != 0 && strcmp(proto, "wss") != 0))
        die_usage("bad address '%s': ws://HOST:PORT/ws expected", opt.url);
    C.outq = json_array();
    C.inbox = json_array();
    signal(SIGPIPE, SIG_IGN);
    lws_set_log_level(0, NULL);
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    if (strcmp(proto, "wss") == 0) info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    C.ctx = lws_create_context(&info);
    if (!C.ctx) {
        fprintf(stderr, "dropctl: cannot create the client context for %s\n", opt.url);
        return EX_UNREACH;
    }
    memset(&ci, 0, sizeof ci);
    ci.context = C.ctx;
    ci.address = addr;
    ci.port = port;
    snprintf(pathbuf, sizeof pathbuf, "/%s", path);
    ci.path = pathbuf;
    ci.host = addr;
    ci.protocol = protocols[0].name;
    ci.ssl_connection = strcmp(proto, "wss") == 0 ? LCCSCF_USE_SSL : 0;
    C.wsi = lws_client_connect_via_info(&ci);
    if (!C.wsi && !C.failed) {
        snprintf(C.why, sizeof C.why, "cannot start the connection");
        C.failed = true;
    }
    if (C.failed) return conn_lost();
    return 0;
}

static void conn_close(void);

static void conn_close(void)
{
    if (C.ctx) lws_context_destroy(C.ctx);
    C.ctx = NULL;
    json_decref(C.outq);
    json_decref(C.inbox);
    free(C.rx);
}

static bool conn_alive(void)
{
    return !C.closed && !C.failed;
}

static lws_sorted_usec_list_t wake;

static void on_wake(lws_sorted_usec_list_t *sul)
{
    (void)sul;
}

/* Services the loop for up to ms, or until something arrives. lws_service
 * waits for its next own timer whatever its timeout says, so a timer of
 * ours bounds the wait. */
static void conn_service(int ms)
{
    int64_t until = now_ms() + ms;
    do {
        lws_sul_schedule(C.ctx, 0, &wake, on_wake, 50 * LWS_US_PER_MS);
        lws_service(C.ctx, 0);
    } while (conn_alive() && now_ms() < until && !json_array_size(C.inbox));
    lws_sul_schedule(C.ctx, 0, &wake, on_wake, LWS_SET_TIMER_USEC_CANCEL);
}

/* Queues a request; returns its id. Takes data (NULL: {}). */
static int conn_send(const char *op, json_t *data)
{
    int id = ++C.next_id;
    json_t *env = json_pack("{s:s,s:i,s:o}", "op", op, "id", id, "data", data ? data : json_object());
    char *text = json_dumps(env, JSON_COMPACT);
    json_decref(env);
    json_array_append_new(C.outq, json_string(text));
    free(text);
    if (C.established && C.wsi) lws_callback_on_writable(C.wsi);
    return id;
}

/* Runs op with data (taken). Returns EX_OK with *out the reply's data (a
 * new reference), EX_ERR / EX_UNAUTH with *out the error object, or
 * EX_UNREACH (message printed). */
static int conn_call(const char *op, json_t *data, json_t **out)
{
    int id = conn_send(op, data);
    int64_t deadline = now_ms() + opt.timeout_ms + 10000;
    *out = NULL;
    while (now_ms() < deadline) {
        size_t i;
        json_t *m;
        json_array_foreach(C.inbox, i, m)
        {
            json_t *re = json_object_get(m, "re");
            if (!json_is_integer(re) || json_integer_value(re) != id) continue;
            int rc = EX_OK;
            if (json_is_true(json_object_get(m, "ok"))) {
                *out = json_incref(json_object_get(m, "data"));
            } else {
                json_t *e = json_object_get(m, "error");
                const char *code = json_string_value(json_object_get(e, "code"));
                *out = json_incref(e);
                rc = code && (!strcmp(code, "unauthenticated") || !strcmp(code, "forbidden"))
                         ? EX_UNAUTH : EX_ERR;
            }
            json_array_remove(C.inbox, i);
            return rc;
        }
        if (!conn_alive()) return conn_lost();
        conn_service(200);
    }
    fprintf(stderr, "dropctl: no answer from %s\n", opt.url);
    return EX_UNREACH;
}

/* The next event (a new reference) within ms, or NULL. */
static json_t *conn_event(int ms)
{
    int64_t until = now_ms() + ms;
    for (;;) {
        size_t i;
        json_t *m;
        json_array_foreach(C.inbox, i, m)
        {
            if (json_object_get(m, "ev")) {
                json_incref(m);
                json_array_remove(C.inbox, i);
                return m;
            }
        }
        if (!conn_alive() || now_ms() >= until) return NULL;
        conn_service((int)(until - now_ms()));
    }
}

/* Prints an error reply and returns rc. */
static int report(int rc, json_t *err)
{
    if ((rc == EX_ERR || rc == EX_UNAUTH) && err) {
        const char *code = json_string_value(json_object_get(err, "code"));
        const char *msg = json_string_value(json_object_get(err, "message"));
        if (rc == EX_UNAUTH)
            fprintf(stderr, "dropctl: %s: %s: %s (set DROPIN_ADMIN_TOKEN or --token to the node's "
                            "admin_token)\n", opt.url, code ? code : "?", msg ? msg : "");
        else
            fprintf(stderr, "dropctl: %s: %s\n", code ? code : "error", msg ? msg : "");
    }
    json_decref(err);
    return rc;
}

/* ---- formatting ---- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "2016-04-12T03:10:12.542Z" -> ms since the epoch, or -1. */
static int64_t parse_time(const char *s)
{
    struct tm tm;
    int ms = 0;
    if (!s) return -1;
    memset(&tm, 0, sizeof tm);
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &ms) < 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static void fmt_span(char *out, size_t len, int64_t secs)
{
    if (secs < 0) secs = 0;
    if (secs < 60) snprintf(out, len, "%llds", (long long)secs);
    else if (secs < 3600) snprintf(out, len, "%lldm", (long long)(secs / 60));
    else if (secs < 86400) snprintf(out, len, "%lldh%02lldm", (long long)(secs / 3600), (long long)(secs % 3600 / 60));
    else snprintf(out, len, "%lldd%02lldh", (long long)(secs / 86400), (long long)(secs % 86400 / 3600));
}

/* "12s ago", "in 30s", or "-". */
static void fmt_ago(char *out, size_t len, json_t *iso)
{
    int64_t t = parse_time(json_string_value(iso));
    char span[32];
    if (t < 0) {
        snprintf(out, len, "-");
        return;
    }
    int64_t d = wall_ms() - t;
    if (d >= -1000) {
        fmt_span(span, sizeof span, d / 1000);
        snprintf(out, len, "%s ago", span);
    } else {
        fmt_span(span, sizeof span, -d / 1000);
        snprintf(out, len, "in %s", span);
    }
}

static void fmt_dist(char *out, size_t len, double m)
{
    if (m < 1000) snprintf(out, len, "%.0f m", m);
    else if (m < 10000) snprintf(out, len, "%.1f km", m / 1000);
    else snprintf(out, len, "%.0f km", m / 1000);
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

static long long num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : (long long)json_number_value(v);
}

/* A table: cells are copied; numeric columns align right. */
struct table {
    int ncols;
    const char *head[16];
    bool right[16];
    json_t *rows; /* [[cell, ...]] */
    json_t *colors; /* per row: a colour for the whole row or null */
};

static void table_init(struct table *t, const char *spec)
{
    /* spec: "ID,>SESSIONS,..." ('>' = right aligned) */
    static char buf[1024];
    char *save = NULL;
    memset(t, 0, sizeof *t);
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *p = strtok_r(buf, ",", &save); p && t->ncols < 16; p = strtok_r(NULL, ",", &save)) {
        t->right[t->ncols] = *p == '>';
        t->head[t->ncols++] = *p == '>' ? p + 1 : p;
    }
    t->rows = json_array();
    t->colors = json_array();
}

static void table_row(struct table *t, const char *color, ...)
{
    va_list ap;
    json_t *row = json_array();
    va_start(ap, color);
    for (int i = 0; i < t->ncols; i++) {
        const char *c = va_arg(ap, const char *);
        json_array_append_new(row, json_string(c ? c : "-"));
    }
    va_end(ap);
    json_array_append_new(t->rows, row);
    json_array_append_new(t->colors, color && *color ? json_string(color) : json_null());
}

/* Display width of UTF-8 text (code points; enough for our cells). */
static int width(const char *s)
{
    int w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) w++;
    return w;
}

/* Prints one line of cells padded to w, without trailing blanks. */
static void table_line(struct table *t, const int *w, json_t *cells, const char *color, FILE *f)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    for (int i = 0; i < t->ncols; i++) {
        const char *c = json_string_value(json_array_get(cells, (size_t)i));
        int pad = w[i] - width(c);
        if (t->right[i]) fprintf(m, "%*s%s", pad, "", c);
        else fprintf(m, "%s%*s", c, pad, "");
        if (i < t->ncols - 1) fputs("  ", m);
    }
    fclose(m);
    while (len && buf[len - 1] == ' ') buf[--len] = 0;
    fprintf(f, "%s%s%s\n", color ? color : "", buf, color ? C_OFF : "");
    free(buf);
}

static void table_print(struct table *t, FILE *f)
{
    int w[16];
    size_t r;
    json_t *row, *head = json_array();
    for (int i = 0; i < t->ncols; i++) {
        w[i] = width(t->head[i]);
        json_array_append_new(head, json_string(t->head[i]));
    }
    json_array_foreach(t->rows, r, row) for (int i = 0; i < t->ncols; i++)
    {
        int x = width(json_string_value(json_array_get(row, (size_t)i)));
        if (x > w[i]) w[i] = x;
    }
    table_line(t, w, head, *C_BOLD ? C_BOLD : NULL, f);
    json_array_foreach(t->rows, r, row)
        table_line(t, w, row, json_string_value(json_array_get(t->colors, r)), f);
    json_decref(head);
    json_decref(t->rows);
    json_decref(t->colors);
}

/* Shortened ids: the shortest tail (at least 6) that tells every id of ids
 * apart, prefixed with "…"; an id set with one member keeps 8. */
struct shortener {
    int keep;
};

static void shortener_init(struct shortener *s, json_t *ids)
{
    s->keep = 6;
    for (; s->keep < 24; s->keep++) {
        bool clash = false;
        size_t i, j;
        json_t *a, *b;
        json_array_foreach(ids, i, a)
        {
            const char *x = json_string_value(a);
            size_t lx = x ? strlen(x) : 0;
            if (lx < (size_t)s->keep) continue;
            for (j = i + 1; j < json_array_size(ids) && !clash; j++) {
                b = json_array_get(ids, j);
                const char *y = json_string_value(b);
                size_t ly = y ? strlen(y) : 0;
                if (ly < (size_t)s->keep || strcmp(x, y) == 0) continue;
                if (memcmp(x + lx - s->keep, y + ly - s->keep, (size_t)s->keep) == 0) clash = true;
            }
            if (clash) break;
        }
        if (!clash) break;
    }
    if (s->keep >= 24) s->keep = 24;
}

static const char *shorten(struct shortener *s, const char *id, char *buf, size_t len)
{
    if (!id) return "-";
    size_t l = strlen(id);
    if (l != 24 || s->keep >= 24) return id;
    snprintf(buf, len, "…%s", id + l - s->keep);
    return buf;
}

static void ids_add(json_t *ids, const char *id)
{
    if (id && strlen(id) == 24) json_array_append_new(ids, json_string(id));
}

/* ---- the commands ---- */

struct cmd_ctx {
    int argc;     /* positional arguments after the command */
    char **argv;
    json_t *data; /* KEY=VALUE pairs */
};

static void print_json(json_t *v)
{
    char *out = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    printf("%s\n", out ? out : "null");
    free(out);
}

/* admin.cluster {what, args, node?, timeout}: one entry per node. */
static int cluster_call(const char *what, json_t *args, json_t **out)
{
    json_t *d = json_pack("{s:s,s:o,s:i}", "what", what, "args", args ? args : json_object(),
                          "timeout", opt.timeout_ms);
    if (opt.node) json_object_set_new(d, "node", json_string(opt.node));
    return conn_call("admin.cluster", d, out);
}

static const char *node_state(json_t *e, char *buf, size_t len)
{
    const char *st = str(e, "status");
    if (strcmp(st, "ok") == 0) return "ok";
    if (strcmp(st, "timeout") == 0) {
        snprintf(buf, len, "no answer in %dms", opt.timeout_ms);
        return buf;
    }
    snprintf(buf, len, "%s", st);
    return buf;
}

static int cmd_nodes(struct cmd_ctx *cc)
{
    json_t *r;
    int rc = cluster_call("stats", json_incref(cc->data), &r);
    if (rc) return report(rc, r);
    if (opt.json) {
        print_json(r);
        json_decref(r);
        return EX_OK;
    }
    struct table t;
    size_t i;
    json_t *e;
    table_init(&t, "NODE,ADDRESS,STATE,>SESSIONS,>OPERATORS,>UPTIME,>LAG,STORE,BUS");
    json_array_foreach(r, i, e)
    {
        json_t *d = json_object_get(e, "data");
        char st[64], s[32], o[32], up[32], lag[32];
        const char *state = node_state(e, st, sizeof st);
        bool ok = strcmp(state, "ok") == 0;
        if (ok && json_is_true(json_object_get(d, "draining"))) state = "draining";
        snprintf(s, sizeof s, "%lld", num(d, "sessions"));
        snprintf(o, sizeof o, "%lld", num(d, "operatorsLocal"));
        fmt_span(up, sizeof up, (int64_t)json_number_value(json_object_get(d, "uptime")));
        snprintf(lag, sizeof lag, "%.0fms", json_number_value(json_object_get(d, "loopLag")) * 1000);
        const char *addr = ok ? str(d, "addr") : str(e, "addr");
        table_row(&t, ok ? "" : C_RED, str(e, "node"), addr, state, ok ? s : "-", ok ? o : "-",
                  ok ? up : "-", ok ? lag : "-", ok ? str(d, "store") : "-", ok ? str(d, "bus") : "-");
    }
    table_print(&t, stdout);
    json_decref(r);
    return EX_OK;
}

static int cmd_stats(struct cmd_ctx *cc)
{
    json_t *r;
    int rc = cluster_call("stats", json_incref(cc->data), &r);
    if (rc) return report(rc, r);
    if (opt.json) {
        print_json(r);
        json_decref(r);
        return EX_OK;
    }
    struct table t;
    size_t i;
    json_t *e;
    long long tot[6] = {0};
    table_init(&t, "NODE,STATE,>SESSIONS,>AUTHED,>OPERATORS,>FREE,>MSGS IN,>MSGS OUT,>ERRORS,>LAG MAX");
    json_array_foreach(r, i, e)
    {
        json_t *d = json_object_get(e, "data");
        char st[64], v[6][32], lag[32];
        const char *state = node_state(e, st, sizeof st);
        bool ok = strcmp(state, "ok") == 0;
        const char *keys[6] = {"sessions", "authenticated", "operatorsLocal", "operatorsFree",
                               "messagesIn", "messagesOut"};
        for (int k = 0; k < 6; k++) {
            snprintf(v[k], sizeof v[k], "%lld", num(d, keys[k]));
            if (ok) tot[k] += num(d, keys[k]);
        }
        char errs[32];
        snprintf(errs, sizeof errs, "%lld", num(d, "errors"));
        snprintf(lag, sizeof lag, "%.0fms", json_number_value(json_object_get(d, "loopLagMax")) * 1000);
        table_row(&t, ok ? "" : C_RED, str(e, "node"), state, ok ? v[0] : "-", ok ? v[1] : "-",
                  ok ? v[2] : "-", ok ? v[3] : "-", ok ? v[4] : "-", ok ? v[5] : "-",
                  ok ? errs : "-", ok ? lag : "-");
    }
    char tv[6][32];
    for (int k = 0; k < 6; k++) snprintf(tv[k], sizeof tv[k], "%lld", tot[k]);
    if (json_array_size(r) > 1)
        table_row(&t, C_DIM, "total", "", tv[0], tv[1], tv[2], tv[3], tv[4], tv[5], "", "");
    table_print(&t, stdout);
    json_decref(r);
    return EX_OK;
}

/* Prints one line per node that did not answer (to stderr). */
static void report_silent(json_t *r)
{
    size_t i;
    json_t *e;
    json_array_foreach(r, i, e)
    {
        char st[64];
        const char *state = node_state(e, st, sizeof st);
        if (strcmp(state, "ok") != 0)
            printf("%snode %s: %s%s\n", C_RED, str(e, "node"), state, C_OFF);
    }
}

/* The items of every node's answer in one array, each with its "node", in
 * a stable order for people: sorted by the keys given (strings). */
static const char *const *sort_keys;

static int by_keys(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    for (int i = 0; sort_keys[i]; i++) {
        const char *p = json_string_value(json_object_get(x, sort_keys[i]));
        const char *q = json_string_value(json_object_get(y, sort_keys[i]));
        int c = strcmp(p ? p : "", q ? q : "");
        if (c) return c;
    }
    return 0;
}

static json_t *flatten(json_t *r, const char *const *keys)
{
    size_t i, j, k = 0, n = 0;
    json_t *e, *it, *out = json_array();
    json_array_foreach(r, i, e) n += json_array_size(json_object_get(e, "data"));
    json_t **arr = calloc(n + 1, sizeof *arr);
    json_array_foreach(r, i, e) json_array_foreach(json_object_get(e, "data"), j, it)
    {
        if (!json_object_get(it, "node")) json_object_set(it, "node", json_object_get(e, "node"));
        arr[k++] = it;
    }
    sort_keys = keys;
    qsort(arr, k, sizeof *arr, by_keys);
    for (i = 0; i < k; i++) json_array_append(out, arr[i]);
    free(arr);
    return out;
}

static int cmd_sessions(struct cmd_ctx *cc)
{
    static const char *const keys[] = {"node", "since", "role", "account", NULL};
    json_t *r, *ids;
    int rc = cluster_call("sessions", json_incref(cc->data), &r);
    if (rc) return report(rc, r);
    ids = json_array();
    if (opt.json) {
        print_json(r);
        json_decref(r);
        json_decref(ids);
        return EX_OK;
    }
    size_t i;
    json_t *s, *all = flatten(r, keys);
    json_array_foreach(all, i, s) ids_add(ids, json_string_value(json_object_get(s, "account")));
    struct shortener sh;
    shortener_init(&sh, ids);
    struct table t;
    table_init(&t, "NODE,ACCOUNT,ROLE,CODEC,>QUEUED,>INFLIGHT,SINCE");
    json_array_foreach(all, i, s)
    {
        char b[40], q[32], inf[32], since[40];
        snprintf(q, sizeof q, "%lld", num(s, "queuedBytes"));
        snprintf(inf, sizeof inf, "%lld", num(s, "inflight"));
        fmt_ago(since, sizeof since, json_object_get(s, "since"));
        table_row(&t, "", str(s, "node"),
                  shorten(&sh, json_string_value(json_object_get(s, "account")), b, sizeof b),
                  str(s, "role"), str(s, "codec"), q, inf, since);
    }
    table_print(&t, stdout);
    report_silent(r);
    json_decref(all);
    json_decref(r);
    json_decref(ids);
    return EX_OK;
}

static const char *op_state(json_t *o)
{
    if (json_is_true(json_object_get(o, "busy"))) return "busy";
    if (json_is_true(json_object_get(o, "locked"))) return "locked";
    if (json_is_true(json_object_get(o, "available"))) return "free";
    return "away";
}

static int cmd_operators(struct cmd_ctx *cc)
{
    static const char *const keys[] = {"node", "firstName", "id", NULL};
    json_t *r, *ids;
    int rc = cluster_call("operators", json_incref(cc->data), &r);
    if (rc) return report(rc, r);
    ids = json_array();
    if (opt.json) {
        print_json(r);
        json_decref(r);
        json_decref(ids);
        return EX_OK;
    }
    size_t i;
    json_t *o, *all = flatten(r, keys);
    json_array_foreach(all, i, o) ids_add(ids, json_string_value(json_object_get(o, "id")));
    struct shortener sh;
    shortener_init(&sh, ids);
    struct table t;
    table_init(&t, "NODE,OPERATOR,NAME,STATE,>LAT,>LNG,>RATING,SEEN");
    json_array_foreach(all, i, o)
    {
        char b[40], la[32], lo[32], ra[32], seen[40];
        snprintf(la, sizeof la, "%.5f", json_number_value(json_object_get(o, "latitude")));
        snprintf(lo, sizeof lo, "%.5f", json_number_value(json_object_get(o, "longitude")));
        snprintf(ra, sizeof ra, "%.1f", json_number_value(json_object_get(o, "operatorRating")));
        fmt_ago(seen, sizeof seen, json_object_get(o, "updatedAt"));
        const char *st = op_state(o);
        table_row(&t, !strcmp(st, "free") ? C_GREEN : !strcmp(st, "busy") ? C_YELLOW : "",
                  str(o, "node"), shorten(&sh, json_string_value(json_object_get(o, "id")), b, sizeof b),
                  str(o, "firstName"), st, la, lo, ra, seen);
    }
    table_print(&t, stdout);
    report_silent(r);
    json_decref(all);
    json_decref(r);
    json_decref(ids);
    return EX_OK;
}

static int cmd_gigs(struct cmd_ctx *cc)
{
    json_t *r, *ids;
    int rc = conn_call("admin.gigs", json_incref(cc->data), &r);
    if (rc) return report(rc, r);
    ids = json_array();
    if (opt.json) {
        print_json(r);
        json_decref(r);
        json_decref(ids);
        return EX_OK;
    }
    size_t i;
    json_t *g;
    json_array_foreach(r, i, g)
    {
        ids_add(ids, json_string_value(json_object_get(g, "customer")));
        ids_add(ids, json_string_value(json_object_get(g, "operator")));
    }
    struct shortener sh;
    shortener_init(&sh, ids);
    struct table t;
    table_init(&t, "GIG,STATUS,>VER,CUSTOMER,OPERATOR,CREATED,UPDATED");
    json_array_foreach(r, i, g)
    {
        char b1[40], b2[40], ver[16], cr[40], up[40];
        snprintf(ver, sizeof ver, "%lld", num(g, "version"));
        fmt_ago(cr, sizeof cr, json_object_get(g, "createdAt"));
        fmt_ago(up, sizeof up, json_object_get(g, "updatedAt"));
        table_row(&t, "", str(g, "id"), str(g, "status"), ver,
                  shorten(&sh, json_string_value(json_object_get(g, "customer")), b1, sizeof b1),
                  shorten(&sh, json_string_value(json_object_get(g, "operator")), b2, sizeof b2),
                  cr, up);
    }
    table_print(&t, stdout);
    json_decref(r);
    json_decref(ids);
    return EX_OK;
}

/* dropctl gig ID [action=terminate]: the gig and its timeline. */
static int cmd_gig(struct cmd_ctx *cc)
{
    json_t *r;
    if (cc->argc >= 1) json_object_set_new(cc->data, "gigId", json_string(cc->argv[0]));
    if (!json_object_get(cc->data, "gigId")) die_usage("gig: a gig id is expected");
    int rc = conn_call("admin.gig", json_incref(cc->data), &r);
    if (rc) return report(rc, r);
    if (opt.json) {
        print_json(r);
        json_decref(r);
        return EX_OK;
    }
    char cr[40], up[40], ex[40];
    fmt_ago(cr, sizeof cr, json_object_get(r, "createdAt"));
    fmt_ago(up, sizeof up, json_object_get(r, "updatedAt"));
    fmt_ago(ex, sizeof ex, json_object_get(r, "expiresAt"));
    printf("gig       %s\nstatus    %s (version %lld)\ncustomer  %s\noperator  %s\n"
           "position  %.5f, %.5f\ncreated   %s\nupdated   %s\ndeadline  %s\n",
           str(r, "id"), str(r, "status"), num(r, "version"), str(r, "customer"), str(r, "operator"),
           json_number_value(json_object_get(r, "latitude")),
           json_number_value(json_object_get(r, "longitude")), cr, up, ex);
    json_t *tl = json_object_get(r, "timeline");
    if (json_array_size(tl)) {
        struct table t;
        size_t i;
        json_t *e, *ids = json_array();
        json_array_foreach(tl, i, e) ids_add(ids, json_string_value(json_object_get(e, "actor")));
        struct shortener sh;
        shortener_init(&sh, ids);
        table_init(&t, "TIME,AGO,EVENT,STATUS,>VER,BY");
        json_array_foreach(tl, i, e)
        {
            static const char *names[][2] = {{"claim_accept", "accepted"}, {"claim_reject", "declined"},
                                             {"offer", "offer sent"}, {"offer_expired", "offer expired"},
                                             {"offer_revoked", "offer revoked"}};
            char ago[40], b[40], v[16], by[80];
            const char *at = str(e, "at"), *ev = str(e, "event"), *role = str(e, "role");
            for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
                if (strcmp(ev, names[k][0]) == 0) ev = names[k][1];
            fmt_ago(ago, sizeof ago, json_object_get(e, "at"));
            snprintf(v, sizeof v, "%lld", num(e, "version"));
            const char *actor = json_string_value(json_object_get(e, "actor"));
            if (!strcmp(role, "system") && !actor) snprintf(by, sizeof by, "system");
            else if (!strcmp(role, "system")) snprintf(by, sizeof by, "operator %s", shorten(&sh, actor, b, sizeof b));
            else if (!actor) snprintf(by, sizeof by, "%s", role);
            else snprintf(by, sizeof by, "%s %s", !strcmp(role, "offered") ? "operator" : role, shorten(&sh, actor, b, sizeof b));
            table_row(&t, "", strlen(at) > 11 ? at + 11 : at, ago, ev, str(e, "status"), v, by);
        }
        printf("\n");
        table_print(&t, stdout);
        json_decref(ids);
    }
    json_decref(r);
    return EX_OK;
}

/* ---- top ---- */

static struct termios tty_saved;
static bool tty_raw;

static bool tty_cursor_hidden;

static void tty_restore(void)
{
    if (tty_raw) tcsetattr(0, TCSANOW, &tty_saved);
    tty_raw = false;
    if (tty_cursor_hidden) fputs("\033[?25h", stdout);
    tty_cursor_hidden = false;
    fflush(stdout);
}

static void on_quit(int sig)
{
    (void)sig;
    tty_restore();
    _exit(EX_OK);
}

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

struct prev {
    char node[64];
    long long in, errors;
    int64_t at;
};

static int cmd_top(struct cmd_ctx *cc)
{
    struct prev prev[64];
    int nprev = 0, frames = 0;
    int max_frames = json_is_integer(json_object_get(cc->data, "frames"))
                         ? (int)json_integer_value(json_object_get(cc->data, "frames")) : -1;
    tty_setup();
    for (;;) {
        json_t *r, *gigs;
        int rc = cluster_call("stats", NULL, &r);
        if (rc) {
            tty_restore();
            return report(rc, r);
        }
        rc = conn_call("admin.gigs", json_pack("{s:i}", "limit", 200), &gigs);
        if (rc) {
            json_decref(r);
            tty_restore();
            return report(rc, gigs);
        }
        int64_t t = now_ms();
        char when[32];
        time_t wall = time(NULL);
        strftime(when, sizeof when, "%H:%M:%S", localtime(&wall));
        /* on a terminal each frame replaces the last; elsewhere they follow
         * one another, a blank line apart */
        if (isatty(1)) printf("\033[H\033[2J");
        else if (frames) printf("\n");
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
            bool ok = strcmp(state, "ok") == 0;
            if (ok) {
                long long in = num(d, "messagesIn"), errs = num(d, "errors");
                double rs = -1, es = -1;
                for (int k = 0; k < nprev; k++) {
                    if (strcmp(prev[k].node, node) != 0) continue;
                    double dt = (double)(t - prev[k].at) / 1000.0;
                    if (dt > 0) {
                        rs = (double)(in - prev[k].in) / dt;
                        es = (double)(errs - prev[k].errors) / dt;
                    }
                    prev[k].in = in;
                    prev[k].errors = errs;
                    prev[k].at = t;
                    goto have;
                }
                if (nprev < 64) {
                    snprintf(prev[nprev].node, sizeof prev[nprev].node, "%s", node);
                    prev[nprev].in = in;
                    prev[nprev].errors = errs;
                    prev[nprev++].at = t;
                }
            have:
                if (rs < 0) snprintf(rq, sizeof rq, "-");
                else snprintf(rq, sizeof rq, "%.1f", rs);
                if (es < 0) snprintf(er, sizeof er, "-");
                else snprintf(er, sizeof er, "%.1f", es);
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
            } else {
                table_row(&tb, C_RED, node, state, "-", "-", "-", "-", "-", "-", "-", "-", "-");
            }
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
        json_decref(r);
        json_decref(gigs);
        if (++frames >= max_frames && max_frames > 0) break;
        int64_t until = now_ms() + 1000;
        while (now_ms() < until) {
            if (key_quit()) goto done;
            conn_service(100);
            json_decref(conn_event(0)); /* top has no use for events */
            if (!conn_alive()) {
                tty_restore();
                return conn_lost();
            }
        }
    }
done:
    tty_restore();
    printf("\n");
    return EX_OK;
}

/* ---- watch, tail -f ---- */

static void print_watch_event(json_t *ev)
{
    json_t *d = json_object_get(ev, "data");
    json_t *inner = json_object_get(d, "event");
    const char *name = json_string_value(json_object_get(inner, "ev"));
    json_t *g = json_object_get(inner, "data");
    if (opt.json) {
        char *s = json_dumps(d, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        fflush(stdout);
        return;
    }
    char when[32];
    time_t wall = time(NULL);
    strftime(when, sizeof when, "%H:%M:%S", localtime(&wall));
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
            size_t i;
            json_t *l;
            json_array_foreach(json_object_get(d, "lines"), i, l)
            {
                if (opt.json) {
                    char *s = json_dumps(l, JSON_COMPACT);
                    printf("%s\n", s);
                    free(s);
                } else {
                    printf("%s\n", str(l, "line"));
                }
                n++;
            }
            fflush(stdout);
        } else if (name && strcmp(name, "admin.watch") == 0) {
            print_watch_event(ev);
            n++;
        }
        json_decref(ev);
    }
    return EX_OK;
}

static int cmd_watch(struct cmd_ctx *cc)
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

static int cmd_tail(struct cmd_ctx *cc)
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
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(r, "lines"), i, l)
    {
        if (opt.json) {
            char *s = json_dumps(l, JSON_COMPACT);
            printf("%s\n", s);
            free(s);
        } else {
            printf("%s\n", str(l, "line"));
        }
    }
    fflush(stdout);
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

/* ---- map ---- */

static int cmd_map(struct cmd_ctx *cc)
{
    json_t *r;
    json_t *d = json_deep_copy(cc->data);
    if (!json_object_get(d, "lat") || !json_object_get(d, "lng")) {
        json_decref(d);
        die_usage("map: --lat and --lng are required");
    }
    int rc = conn_call("admin.map", d, &r);
    if (rc) return report(rc, r);
    if (opt.json) {
        print_json(r);
        json_decref(r);
        return EX_OK;
    }
    int n = (int)num(r, "cells");
    double cell = json_number_value(json_object_get(r, "cellMeters"));
    json_t *free_ = json_object_get(r, "free"), *busy = json_object_get(r, "busy");
    char dist[32], dist2[32];
    fmt_dist(dist, sizeof dist, json_number_value(json_object_get(r, "radius")));
    printf("%soperators within %s of %.5f, %.5f%s  (north up; one cell = ", C_BOLD, dist,
           json_number_value(json_object_get(r, "lat")), json_number_value(json_object_get(r, "lng")),
           C_OFF);
    fmt_dist(dist2, sizeof dist2, cell);
    printf("%s)\n", dist2);
    printf("+");
    for (int x = 0; x < n; x++) printf("--");
    printf("+\n");
    for (int y = 0; y < n; y++) {
        json_t *fr = json_array_get(free_, (size_t)y), *br = json_array_get(busy, (size_t)y);
        printf("|");
        for (int x = 0; x < n; x++) {
            long long f = json_integer_value(json_array_get(fr, (size_t)x));
            long long b = json_integer_value(json_array_get(br, (size_t)x));
            bool centre = x == n / 2 && y == n / 2;
            if (f == 0 && b == 0) {
                printf("%s", centre ? "+ " : ". ");
                continue;
            }
            const char *col = b > f ? C_YELLOW : C_GREEN;
            long long tot = f + b;
            char c = b > f ? (tot > 9 ? 'B' : (char)('0' + tot)) : (tot > 9 ? 'F' : (char)('0' + tot));
            if (b > f && tot <= 9) printf("%s%c*%s", col, c, C_OFF);
            else printf("%s%c %s", col, c, C_OFF);
        }
        printf("|\n");
    }
    printf("+");
    for (int x = 0; x < n; x++) printf("--");
    printf("+\n");
    /* the scale bar: a round length that fits in a quarter of the width */
    double span = cell * n, bar = 1;
    while (bar * 10 <= span / 4) bar *= 10;
    if (bar * 5 <= span / 4) bar *= 5;
    else if (bar * 2 <= span / 4) bar *= 2;
    int chars = (int)lround(bar / cell * 2);
    if (chars < 1) chars = 1;
    fmt_dist(dist, sizeof dist, bar);
    printf("|");
    for (int i = 0; i < chars - 1; i++) printf("-");
    printf("| %s\n", dist);
    printf("digit = operators in the cell (%sgreen: mostly free%s, %syellow*: mostly busy%s), + = "
           "the centre; free %lld, busy %lld\n",
           C_GREEN, C_OFF, C_YELLOW, C_OFF, num(r, "totalFree"), num(r, "totalBusy"));
    json_decref(r);
    return EX_OK;
}

static int cmd_raw(const char *op, struct cmd_ctx *cc)
{
    json_t *r;
    int rc = conn_call(op, json_incref(cc->data), &r);
    if (rc) return report(rc, r);
    print_json(r);
    json_decref(r);
    return EX_OK;
}

/* ---- help ---- */

struct help {
    const char *cmd, *synopsis, *text;
};

static const struct help helps[] = {
    {"nodes", "nodes",
     "Every node of the cluster, as each answers for itself: address, sessions,\n"
     "operators connected to it, uptime, loop lag, store and bus state. A node that\n"
     "does not answer within --timeout is listed as \"no answer\"."},
    {"stats", "stats",
     "Counters of every node (sessions, authenticated, local operators and free ones,\n"
     "messages in/out, errors, worst loop lag) and their total."},
    {"sessions", "sessions [accountId=ID] [limit=N]",
     "The open WebSocket sessions of every node (node, account, role, codec,\n"
     "queued bytes, requests in flight, age); limit is per node (default 200)."},
    {"operators", "operators [limit=N]",
     "The online operators, listed by the node holding their session: state\n"
     "(free, busy, locked, away), position, rating, last update."},
    {"gigs", "gigs [status=S] [accountId=ID] [limit=N]",
     "Gigs from the shared store, newest first (the store is the cluster's truth\n"
     "for gigs, so one node answers for all)."},
    {"gig", "gig ID [action=terminate|invoice|video_fail]",
     "One gig and its timeline: every status change with time and actor, offers\n"
     "sent, declined and expired. With action=, an admin action on it."},
    {"top", "top",
     "A full-screen view refreshed every second: per node sessions, operators\n"
     "online/free, requests/s and errors/s, loop lag, store and bus state, and the\n"
     "newest gigs by status. q quits. frames=N stops after N frames (for scripts;\n"
     "without a terminal the frames follow one another)."},
    {"watch", "watch gig ID | watch account ID",
     "Events of a gig or an account as they happen, pushed by the node (one line\n"
     "each: time, event, status, version). Ctrl-C stops; events=N stops after N."},
    {"tail", "tail [-f] [limit=N]",
     "The node's newest log lines; with -f, follows them as they are written."},
    {"map", "map --lat LAT --lng LNG [--radius M] [--cells N]",
     "A density map of free and busy operators around a point (north up) with a\n"
     "scale bar; radius defaults to 2000 m, cells (per side) to 21."},
    {"kick", "kick accountId=ID", "Closes every session of an account (code 4401), on every node."},
    {"drain", "drain", "The node closes its sessions with 1001 and stops."},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dropctl [OPTIONS] COMMAND [ARGS] [KEY=VALUE ...]\n\n"
            "Inspects a running dropind cluster through one of its nodes.\n\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++)
        fprintf(f, "  %-44s\n", helps[i].synopsis);
    fprintf(f,
            "  OP.NAME [KEY=VALUE ...]                     any op, e.g. gig.get gigId=ID\n\n"
            "options:\n"
            "  -u, --url URL      the node (default $DROPIN_URL, else ws://127.0.0.1:8080/ws)\n"
            "  -t, --token TOKEN  the admin token (default $DROPIN_ADMIN_TOKEN; prefer the\n"
            "                     variable: a flag shows in ps)\n"
            "  --json             print the raw reply, one JSON document\n"
            "  --node ID          ask only that node\n"
            "  --timeout MS       how long the cluster's nodes get to answer (default 2000)\n"
            "  --no-color         no colour (also when NO_COLOR is set or not on a terminal)\n"
            "  -h, --help         this help; dropctl help COMMAND for one command\n\n"
            "KEY=VALUE pairs become the op's data (a value that parses as JSON is taken\n"
            "as such). Exit status: 0 ok, 1 an error reply, 2 bad usage, 3 the node\n"
            "cannot be reached, 4 not authenticated as an admin.\n");
}

static int help_cmd(const char *cmd)
{
    for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++) {
        if (strcmp(helps[i].cmd, cmd) == 0) {
            printf("usage: dropctl [OPTIONS] %s\n\n%s\n", helps[i].synopsis, helps[i].text);
            return EX_OK;
        }
    }
    fprintf(stderr, "dropctl: no command '%s' (dropctl --help)\n", cmd);
    return EX_USAGE;
}

/* ---- main ---- */

static bool is_command(const char *c)
{
    for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++)
        if (strcmp(helps[i].cmd, c) == 0) return true;
    return strchr(c, '.') != NULL;
}

static json_t *parse_value(const char *s)
{
    json_t *v = json_loads(s, JSON_DECODE_ANY, NULL);
    return v ? v : json_string(s);
}

/* Globals, so an early exit leaves nothing unreachable behind. */
static struct cmd_ctx cc;
static char **pos;

int main(int argc, char **argv)
{
    const char *cmd = NULL;
    cc.data = json_object();
    pos = calloc((size_t)argc + 1, sizeof *pos);
    bool no_color = false;

    opt.url = getenv("DROPIN_URL") && *getenv("DROPIN_URL") ? getenv("DROPIN_URL")
                                                           : "ws://127.0.0.1:8080/ws";
    opt.token = getenv("DROPIN_ADMIN_TOKEN");
    opt.timeout_ms = 2000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define NEXT() (i + 1 < argc ? argv[++i] : (die_usage("%s needs a value", a), (char *)NULL))
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return EX_OK;
        } else if (!strcmp(a, "-u") || !strcmp(a, "--url")) opt.url = NEXT();
        else if (!strcmp(a, "-t") || !strcmp(a, "--token")) opt.token = NEXT();
        else if (!strcmp(a, "--json")) opt.json = true;
        else if (!strcmp(a, "--no-color")) no_color = true;
        else if (!strcmp(a, "--node")) opt.node = NEXT();
        else if (!strcmp(a, "-f") || !strcmp(a, "--follow")) opt.follow = true;
        else if (!strcmp(a, "--timeout")) {
            char *end;
            long v = strtol(NEXT(), &end, 10);
            if (*end || v < 100 || v > 60000) die_usage("--timeout: milliseconds 100..60000 expected");
            opt.timeout_ms = (int)v;
        } else if (!strcmp(a, "--lat") || !strcmp(a, "--lng") || !strcmp(a, "--radius") ||
                   !strcmp(a, "--cells")) {
            const char *v = NEXT();
            char *end;
            double d = strtod(v, &end);
            if (*end || end == v) die_usage("%s: a number expected", a);
            json_object_set_new(cc.data, a + 2, json_real(d));
        } else if (a[0] == '-' && a[1] && !isdigit((unsigned char)a[1])) {
            die_usage("unknown option '%s'", a);
        } else if (!cmd) {
            cmd = a;
        } else if (strchr(a, '=') && a[0] != '=') {
            const char *eq = strchr(a, '=');
            char *key = strndup(a, (size_t)(eq - a));
            json_object_set_new(cc.data, key, parse_value(eq + 1));
            free(key);
        } else {
            pos[cc.argc++] = argv[i];
        }
#undef NEXT
    }
    cc.argv = pos;
    if (!cmd) {
        usage(stderr);
        return EX_USAGE;
    }
    if (!strcmp(cmd, "help")) return cc.argc ? help_cmd(cc.argv[0]) : (usage(stdout), EX_OK);
    if (!is_command(cmd)) die_usage("unknown command '%s'", cmd);
    use_color(!no_color && !opt.json && isatty(1) && !(getenv("NO_COLOR") && *getenv("NO_COLOR")));
    if (strcmp(cmd, "gig") && strcmp(cmd, "watch") && cc.argc)
        die_usage("%s: unexpected argument '%s' (KEY=VALUE expected)", cmd, cc.argv[0]);
    if (opt.follow && strcmp(cmd, "tail")) die_usage("-f is for tail");

    int rc = conn_open();
    if (rc) {
        conn_close();
        json_decref(cc.data);
        free(pos);
        return rc;
    }
    if (!strcmp(cmd, "nodes")) rc = cmd_nodes(&cc);
    else if (!strcmp(cmd, "stats")) rc = cmd_stats(&cc);
    else if (!strcmp(cmd, "sessions")) rc = cmd_sessions(&cc);
    else if (!strcmp(cmd, "operators")) rc = cmd_operators(&cc);
    else if (!strcmp(cmd, "gigs")) rc = cmd_gigs(&cc);
    else if (!strcmp(cmd, "gig")) rc = cmd_gig(&cc);
    else if (!strcmp(cmd, "top")) rc = cmd_top(&cc);
    else if (!strcmp(cmd, "watch")) rc = cmd_watch(&cc);
    else if (!strcmp(cmd, "tail")) rc = cmd_tail(&cc);
    else if (!strcmp(cmd, "map")) rc = cmd_map(&cc);
    else if (!strcmp(cmd, "kick") || !strcmp(cmd, "drain")) {
        char op[64];
        snprintf(op, sizeof op, "admin.%s", cmd);
        rc = cmd_raw(op, &cc);
    } else rc = cmd_raw(cmd, &cc);
    conn_close();
    json_decref(cc.data);
    free(pos);
    return rc;
}
