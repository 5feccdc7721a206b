/* server.c - lws context creation and the WebSocket protocol callback.
 *
 * Origin and path checks happen in FILTER_PROTOCOL_CONNECTION: a request for
 * another path than /ws is refused there; a refused Origin is accepted and
 * then closed with 1008, as the protocol promises. The bearer token of the
 * upgrade request is read there too, while the headers are still attached. */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "adapters/http.h"
#include "adapters/node.h"
#include "adapters/server.h"
#include "adapters/session.h"
#include "engine/log.h"

struct ws_pss {
    struct session *s;
    bool origin_ok;
    char bearer[256];
};

static bool origin_allowed(const char *list, const char *origin)
{
    size_t ol = strlen(origin);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        size_t l = strcspn(p, " ,");
        if (l == 1 && *p == '*') return true;
        if (l == ol && strncasecmp(p, origin, l) == 0) return true;
        p += l;
    }
    return false;
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
    struct ws_pss *pss = user;
    struct node *n = lws_context_user(lws_get_context(wsi));
    const struct lws_protocols *proto = lws_get_protocol(wsi);
    char buf[512];

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        if (lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_GET_URI) <= 0 || strcmp(buf, "/ws") != 0)
            return -1;
        pss->origin_ok = true;
        if (lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_ORIGIN) > 0)
            pss->origin_ok = origin_allowed(n->cfg->allowed_origins, buf);
        pss->bearer[0] = '\0';
        if (lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_AUTHORIZATION) > 7 &&
            strncasecmp(buf, "Bearer ", 7) == 0)
            snprintf(pss->bearer, sizeof pss->bearer, "%.*s", (int)sizeof pss->bearer - 1, buf + 7);
        return 0;

    case LWS_CALLBACK_ESTABLISHED:
        pss->s = session_open(n, wsi,
                              strcmp(proto->name, "dropin.v1.msgpack") == 0 ? CODEC_MSGPACK
                                                                            : CODEC_JSON,
                              pss->bearer, pss->origin_ok);
        memset(pss->bearer, 0, sizeof pss->bearer);
        return 0;

    case LWS_CALLBACK_RECEIVE:
        if (!pss->s) return 0;
        session_on_rx(pss->s, in, len);
        if (pss->s->close_code == 4400 || pss->s->close_code == 1009) {
            /* closing from RECEIVE lets lws run the close handshake itself */
            lws_close_reason(wsi, (enum lws_close_status)pss->s->close_code,
                             (unsigned char *)pss->s->close_reason, strlen(pss->s->close_reason));
            return -1;
        }
        return 0;

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        /* after our own close frame (session_on_writeable) this is the peer's
         * answer: echoing it would send a second close frame, and a browser
         * fails such a connection (1006, the close code lost) */
        return pss->s && pss->s->close_sent ? -1 : 0;

    case LWS_CALLBACK_RECEIVE_PONG:
        if (pss->s) pss->s->last_rx = node_now();
        return 0;

    case LWS_CALLBACK_SERVER_WRITEABLE:
        return pss->s ? session_on_writeable(pss->s) : 0;

    case LWS_CALLBACK_CLOSED:
        if (pss->s) session_on_closed(pss->s);
        pss->s = NULL;
        return 0;

    default:
        return 0;
    }
}

static struct lws_protocols protocols[] = {
    {"http", http_callback, sizeof(struct http_conn), 0, 0, NULL, 0},
    {"dropin.v1.json", ws_callback, sizeof(struct ws_pss), 1024, 0, NULL, 0},
    {"dropin.v1.msgpack", ws_callback, sizeof(struct ws_pss), 1024, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* Clients that offer no subprotocol land on the one marked "default". */
static const struct lws_protocol_vhost_options pvo_default = {NULL, NULL, "default", ""};
static const struct lws_protocol_vhost_options pvo_json = {NULL, &pvo_default, "dropin.v1.json",
                                                           ""};

static void lws_log_sink(int level, const char *line)
{
    size_t l = strlen(line);
    while (l && (line[l - 1] == '\n' || line[l - 1] == '\r')) l--;
    if (level & LLL_ERR) log_warn("event=lws msg=\"%.*s\"", (int)l, line);
    else log_debug("event=lws msg=\"%.*s\"", (int)l, line);
}

int server_start(struct node *n, char *why, size_t whylen)
{
    struct lws_context_creation_info info;
    void *foreign[1] = {&n->loop};
    struct rlimit rl;

    /* lws sizes its fd tables from RLIMIT_NOFILE: raise it first */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max > 1048576 ? 1048576 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    lws_set_log_level(LLL_ERR | (log_min_level <= LOG_DEBUG ? LLL_WARN : 0), lws_log_sink);

    memset(&info, 0, sizeof info);
    info.port = n->cfg->listen_port;
    info.iface = n->cfg->listen_host;
    info.protocols = protocols;
    info.pvo = &pvo_json;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6 |
                   LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
    info.foreign_loops = foreign;
    info.pcontext = &n->lws;
    info.user = n;
    info.timeout_secs = 10;
    if (n->cfg->tls_cert[0]) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = n->cfg->tls_cert;
        info.ssl_private_key_filepath = n->cfg->tls_key;
    }
    n->lws = lws_create_context(&info);
    if (!n->lws) {
        snprintf(why, whylen, "cannot listen on %s:%d (in use, or bad TLS files?)",
                 n->cfg->listen_host, n->cfg->listen_port);
        return -1;
    }
    struct lws_vhost *vh = lws_get_vhost_by_name(n->lws, "default");
    n->port = vh ? lws_get_vhost_listen_port(vh) : n->cfg->listen_port;
    if (n->port <= 0) {
        snprintf(why, whylen, "cannot listen on %s:%d", n->cfg->listen_host, n->cfg->listen_port);
        return -1;
    }
    return 0;
}

void server_stop(struct node *n)
{
    if (n->lws) lws_context_destroy(n->lws);
}

void server_finish(struct node *n)
{
    if (n->lws) lws_context_destroy(n->lws);
    n->lws = NULL;
}
