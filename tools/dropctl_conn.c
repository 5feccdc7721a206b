/* dropctl's connection to one node: one libwebsockets client on lws's own
 * poll loop, authenticated as an admin by the node's admin_token in the
 * upgrade's Authorization header. conn_call() writes a request and services
 * the loop until its reply comes; events that arrive meanwhile are kept
 * (at most EVENTS_MAX, the oldest dropped first) for conn_event(). Every
 * failure is mapped here to dropctl's exit statuses: 1 an error reply,
 * 3 the node cannot be reached or does not answer, 4 not an admin. */
#include <libwebsockets.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dropctl_internal.h"

#define REPLY_MAX (16 * 1024 * 1024)
#define EVENTS_MAX 10000 /* events kept while nobody reads them */

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

/* Keeps one received message (a reply or an event) in the inbox; what is
 * not a JSON object is dropped. */
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

/* The client's lws callback: the token header, writes from outq, reads
 * into rx until a message is whole, and how the connection ended. */
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

/* The monotonic clock in ms, for deadlines. */
int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Why the connection is gone, as an exit status (message printed). */
int conn_lost(void)
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
int conn_open(void)
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

/* Closes the connection and frees what conn_open made; safe after a
 * failed conn_open. */
void conn_close(void)
{
    if (C.ctx) lws_context_destroy(C.ctx);
    C.ctx = NULL;
    json_decref(C.outq);
    json_decref(C.inbox);
    free(C.rx);
}

/* False once the connection failed or was closed (conn_lost says why). */
bool conn_alive(void)
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
void conn_service(int ms)
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
int conn_call(const char *op, json_t *data, json_t **out)
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
json_t *conn_event(int ms)
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
int report(int rc, json_t *err)
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

/* The common head of a command that prints one reply: an error reply is
 * reported, and with --json the reply is printed as it came. Returns -1
 * when the caller is to draw r itself (r still its own), else the exit
 * status, r released. */
int reply_done(int rc, json_t *r)
{
    if (rc) return report(rc, r);
    if (!opt.json) return -1;
    print_json(r);
    json_decref(r);
    return EX_OK;
}

/* admin.cluster {what, args (taken; NULL: {}), node?, timeout}: the node
 * asks every node of the cluster (or --node's) and answers with one entry
 * per node. Returns as conn_call. */
int cluster_call(const char *what, json_t *args, json_t **out)
{
    json_t *d = json_pack("{s:s,s:o,s:i}", "what", what, "args", args ? args : json_object(),
                          "timeout", opt.timeout_ms);
    if (opt.node) json_object_set_new(d, "node", json_string(opt.node));
    return conn_call("admin.cluster", d, out);
}

/* The state of one node's entry e in a cluster answer: "ok", "no answer in
 * NNNms", or the status the node gave; in buf unless "ok". */
const char *node_state(json_t *e, char *buf, size_t len)
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
