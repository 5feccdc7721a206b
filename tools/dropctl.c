/* dropctl - the admin inspector: runs one admin.* op on a dropind node over
 * its WebSocket and prints the reply as JSON.
 *
 *   dropctl [-u ws://HOST:PORT/ws] [-t TOKEN] COMMAND [KEY=VALUE ...]
 *
 * COMMAND is an admin op without its prefix (stats, nodes, sessions,
 * operators, gigs, gig, kick, drain) or a full op name (gig.get). KEY=VALUE
 * pairs become the op's data: a value that parses as JSON (a number, true,
 * an object) is taken as such, anything else as a string. The token comes
 * from -t or the environment variable DROPIN_ADMIN_TOKEN (never from the
 * command line in scripts: it shows in ps). Exit status: 0 on an ok reply,
 * 1 on an error reply (printed to stderr), 2 on bad usage, 3 when the node
 * cannot be reached or does not answer in time.
 *
 * One libwebsockets client connection on lws's own event loop: the token
 * goes in the upgrade's Authorization header, the request is written once
 * the socket is writable, and events that arrive before the reply (the
 * session.state snapshot) are skipped. */
#include <jansson.h>
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPLY_MAX (16 * 1024 * 1024)

struct ctl {
    const char *token;
    char *request;      /* the envelope, JSON text */
    unsigned char *rx;  /* reassembly of the current message */
    size_t rx_len;
    int status;         /* exit status once done; -1 while running */
};

static int handle_message(struct ctl *c, const unsigned char *buf, size_t len)
{
    json_error_t err;
    json_t *m = json_loadb((const char *)buf, len, 0, &err);
    json_t *re = m ? json_object_get(m, "re") : NULL;
    if (!m) {
        fprintf(stderr, "dropctl: the node sent malformed JSON: %s\n", err.text);
        c->status = 3;
        return -1;
    }
    if (!json_is_integer(re) || json_integer_value(re) != 1) { /* an event: skip it */
        json_decref(m);
        return 0;
    }
    if (json_is_true(json_object_get(m, "ok"))) {
        char *out = json_dumps(json_object_get(m, "data"), JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
        printf("%s\n", out ? out : "null");
        free(out);
        c->status = 0;
    } else {
        json_t *e = json_object_get(m, "error");
        fprintf(stderr, "dropctl: %s: %s\n", json_string_value(json_object_get(e, "code")),
                json_string_value(json_object_get(e, "message")));
        c->status = 1;
    }
    json_decref(m);
    return -1; /* done: close */
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct ctl *c = lws_context_user(lws_get_context(wsi));
    (void)user;

    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = in, *end = *p + len;
        char value[600];
        if (!c->token || !*c->token) return 0;
        snprintf(value, sizeof value, "Bearer %s", c->token);
        if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                         (unsigned char *)value, (int)strlen(value), p, end))
            return -1;
        return 0;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
        size_t n = strlen(c->request);
        unsigned char *buf = malloc(LWS_PRE + n);
        if (!buf) return -1;
        memcpy(buf + LWS_PRE, c->request, n);
        int w = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT);
        free(buf);
        return w < (int)n ? -1 : 0;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (c->rx_len + len > REPLY_MAX) {
            fprintf(stderr, "dropctl: reply over %d bytes\n", REPLY_MAX);
            c->status = 3;
            return -1;
        }
        c->rx = realloc(c->rx, c->rx_len + len + 1);
        if (!c->rx) return -1;
        memcpy(c->rx + c->rx_len, in, len);
        c->rx_len += len;
        if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
            size_t n = c->rx_len;
            c->rx_len = 0;
            return handle_message(c, c->rx, n);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        fprintf(stderr, "dropctl: cannot connect: %s\n", in ? (const char *)in : "error");
        c->status = 3;
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c->status < 0) {
            fprintf(stderr, "dropctl: the node closed the connection (bad token?)\n");
            c->status = 3;
        }
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    {"dropin.v1.json", callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void usage(void)
{
    fprintf(stderr,
            "usage: dropctl [-u ws://HOST:PORT/ws] [-t TOKEN] COMMAND [KEY=VALUE ...]\n"
            "  COMMAND: stats | nodes | sessions | operators | gigs | gig | tail | kick | drain,\n"
            "           or any op name (gig.get gigId=...)\n"
            "  the token defaults to $DROPIN_ADMIN_TOKEN (the node's admin_token)\n"
            "examples: dropctl nodes; dropctl gigs status=pendingOperator limit=10;\n"
            "          dropctl gig gigId=<id> action=terminate; dropctl kick accountId=<id>\n");
}

/* Builds {"op", "id": 1, "data": {...}} from the command and its pairs. */
static char *build_request(const char *cmd, int argc, char **argv)
{
    char op[128];
    json_t *data = json_object();
    if (strchr(cmd, '.')) snprintf(op, sizeof op, "%s", cmd);
    else snprintf(op, sizeof op, "admin.%s", cmd);
    for (int i = 0; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i]) {
            json_decref(data);
            return NULL;
        }
        char *key = strndup(argv[i], (size_t)(eq - argv[i]));
        json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
        if (!v) v = json_string(eq + 1);
        json_object_set_new(data, key, v ? v : json_null());
        free(key);
    }
    json_t *env = json_pack("{s:s,s:i,s:o}", "op", op, "id", 1, "data", data);
    char *text = json_dumps(env, JSON_COMPACT);
    json_decref(env);
    return text;
}

int main(int argc, char **argv)
{
    const char *url = "ws://127.0.0.1:8080/ws";
    struct ctl c = {getenv("DROPIN_ADMIN_TOKEN"), NULL, NULL, 0, -1};
    struct lws_context_creation_info info;
    struct lws_client_connect_info ci;
    struct lws_context *ctx;
    const char *proto, *addr, *path;
    char urlbuf[512];
    int port, i = 1;

    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-u") == 0 && i + 1 < argc) url = argv[++i];
        else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) c.token = argv[++i];
        else {
            usage();
            return strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (i >= argc) {
        usage();
        return 2;
    }
    c.request = build_request(argv[i], argc - i - 1, argv + i + 1);
    if (!c.request) {
        fprintf(stderr, "dropctl: arguments must be KEY=VALUE\n");
        return 2;
    }
    snprintf(urlbuf, sizeof urlbuf, "%s", url);
    if (lws_parse_uri(urlbuf, &proto, &addr, &port, &path) ||
        (strcmp(proto, "ws") != 0 && strcmp(proto, "wss") != 0)) {
        fprintf(stderr, "dropctl: bad url '%s' (ws://HOST:PORT/ws)\n", url);
        free(c.request);
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    lws_set_log_level(0, NULL);
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.user = &c;
    if (strcmp(proto, "wss") == 0) info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    ctx = lws_create_context(&info);
    if (!ctx) {
        fprintf(stderr, "dropctl: cannot create the client context\n");
        free(c.request);
        return 3;
    }
    memset(&ci, 0, sizeof ci);
    ci.context = ctx;
    ci.address = addr;
    ci.port = port;
    char pathbuf[256];
    snprintf(pathbuf, sizeof pathbuf, "/%s", path);
    ci.path = pathbuf;
    ci.host = addr;
    ci.origin = NULL;
    ci.protocol = protocols[0].name;
    ci.ssl_connection = strcmp(proto, "wss") == 0 ? LCCSCF_USE_SSL : 0;
    if (!lws_client_connect_via_info(&ci)) c.status = 3;

    time_t deadline = time(NULL) + 10;
    while (c.status < 0 && time(NULL) < deadline)
        if (lws_service(ctx, 100) < 0) break;
    if (c.status < 0) {
        fprintf(stderr, "dropctl: no answer from %s\n", url);
        c.status = 3;
    }
    lws_context_destroy(ctx);
    free(c.request);
    free(c.rx);
    return c.status;
}
