/* server.c - lws context creation and the WebSocket protocol callback.
 *
 * Origin and path checks happen in FILTER_PROTOCOL_CONNECTION: a request for
 * another path than /ws is refused there; a refused Origin is accepted and
 * then closed with 1008, as the protocol promises. The bearer token of the
 * upgrade request is read there too, while the headers are still attached.
 *
 * Three guards sit here because lws 4.1 leaves them to the application:
 * - Accept back-off. When accept() fails (EMFILE, ENFILE, ENOBUFS) lws logs
 *   "accept: errno N" and returns with the listen socket still readable, so
 *   the loop would spin on it. The lws log hook sees that line: the listen
 *   socket's poll is stopped for a back-off (100 ms doubling to 1 s), and
 *   one waiting connection is answered 503 and closed with the help of a
 *   reserve descriptor held for that purpose. lws itself restarts the poll
 *   whenever one of its sockets closes (a descriptor came free), and the
 *   back-off timer restarts it in any case.
 * - HTTP deadlines. lws re-arms its timeouts on every byte, so a client that
 *   trickles headers or a body could hold a connection for ever. Every
 *   connection is tracked from its creation: its headers must be complete
 *   within http_header_timeout and its request answered within
 *   http_body_timeout, both counted from the connection's start or from the
 *   end of its previous request (keep-alive); past them it is closed.
 * - WebSocket framing. lws closes a frame with a 64-bit length whose top bit
 *   is set, or a control frame with an extended length, without a close
 *   frame; it logs a warning first, which the log hook turns into a 1002
 *   close reason just before lws closes the socket. Text frames are checked
 *   for UTF-8 by lws (LWS_SERVER_OPTION_VALIDATE_UTF8: 1007); reserved
 *   opcodes and bits get 1002 from lws. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uthash.h>

#include "adapters/config.h"
#include "adapters/http.h"
#include "adapters/metrics.h"
#include "adapters/server.h"
#include "adapters/session.h"
#include "engine/log.h"
#include "engine/mem.h"

#define ACCEPT_BACKOFF_MIN_MS 100
#define ACCEPT_BACKOFF_MAX_MS 1000
#define MAX_LISTENERS 4
#define WS_RX_BUFFER 128
/* Descriptors kept out of the session capacity: the listen socket, the loop,
 * the store's files and threads, Redis, HTTP clients (curl), logs, the
 * accept reserve, and HTTP requests in flight. */
#define FD_RESERVE 256
#define NOFILE_CAP 1048576

/* One HTTP connection (or a WebSocket before its upgrade), by wsi. */
struct conn_deadline {
    struct lws *wsi;
    int64_t since;          /* connection start, or end of the previous request */
    bool in_request;        /* headers complete, answer not yet written */
    bool killed;
    UT_hash_handle hh;
};

/* Process-wide: the lws log hook has no user pointer. */
static struct {
    struct server_deps deps; /* zero unless started */
    struct http_deps http;   /* deps.http's copy: lws_context_user() */
    struct lws_context *lws;
    int port;                /* the port actually bound */
    uv_timer_t timer;       /* ends an accept back-off */
    bool timer_init;
    bool paused;
    int64_t backoff_ms;
    int64_t last_fail;      /* deps.now() of the last accept failure */
    int reserve_fd;         /* /dev/null, closed to make room for a 503 */
    uv_poll_t *listeners[MAX_LISTENERS];
    uv_poll_cb listen_cb[MAX_LISTENERS];
    int nlisteners;
    bool ws_proto_error;    /* lws just refused a frame without a close reason */
    struct conn_deadline *conns;
    uv_check_t flush;       /* after the I/O phase: session_flush_all */
    uv_prepare_t flush_pre; /* and before polling (what timers and idle queued) */
    bool flush_init;
    int64_t nofile;         /* RLIMIT_NOFILE in force */
    int64_t capacity;       /* sessions this node accepts (then 1013) */
} srv = {.reserve_fd = -1, .nofile = 1024, .capacity = 1};

/* lws allocates this per connection for its whole life: keep it small.
 * The bearer token is read in ESTABLISHED, where lws 4.1 still holds the
 * upgrade request's headers (it drops them right after: server-ws.c). */
struct ws_pss {
    struct session *s;
    bool origin_ok;
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
    const struct lws_protocols *proto = lws_get_protocol(wsi);
    char buf[512];

    if (reason != LWS_CALLBACK_WS_SERVER_DROP_PROTOCOL) srv.ws_proto_error = false;
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        if (lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_GET_URI) <= 0 || strcmp(buf, "/ws") != 0)
            return -1;
        pss->origin_ok = true;
        if (lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_ORIGIN) > 0)
            pss->origin_ok = origin_allowed(srv.deps.cfg->allowed_origins, buf);
        return 0;

    case LWS_CALLBACK_ESTABLISHED: {
        char bearer[256] = "";
        server_conn_forget(wsi); /* a session has deadlines of its own */
        if (lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_HTTP_AUTHORIZATION) > 7 &&
            strncasecmp(buf, "Bearer ", 7) == 0)
            snprintf(bearer, sizeof bearer, "%.*s", (int)sizeof bearer - 1, buf + 7);
        pss->s = session_open(srv.deps.sessions, wsi,
                              strcmp(proto->name, "dropin.v1.msgpack") == 0 ? CODEC_MSGPACK
                                                                            : CODEC_JSON,
                              bearer, pss->origin_ok);
        memset(bearer, 0, sizeof bearer);
        memset(buf, 0, sizeof buf);
        return 0;
    }

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
        if (pss->s) session_on_pong(pss->s);
        return 0;

    case LWS_CALLBACK_SERVER_WRITEABLE:
        return pss->s ? session_on_writeable(pss->s) : 0;

    case LWS_CALLBACK_WS_SERVER_DROP_PROTOCOL:
        /* lws is closing the socket; when it refused a frame without a
         * reason (see the log hook), give the peer a close frame with one */
        if (srv.ws_proto_error) {
            static const char why[] = "protocol error";
            srv.ws_proto_error = false;
            lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, (unsigned char *)why,
                             sizeof why - 1);
            if (pss && pss->s && !pss->s->close_code) {
                pss->s->close_code = LWS_CLOSE_STATUS_PROTOCOL_ERR;
                metrics_close(srv.deps.metrics, LWS_CLOSE_STATUS_PROTOCOL_ERR);
            }
        }
        return 0;

    case LWS_CALLBACK_CLOSED:
        if (pss->s) session_on_closed(pss->s);
        pss->s = NULL;
        return 0;

    default:
        return 0;
    }
}

/* ---- HTTP deadlines ---- */

void server_conn_forget(struct lws *wsi)
{
    struct conn_deadline *c;
    HASH_FIND_PTR(srv.conns, &wsi, c);
    if (c) {
        HASH_DEL(srv.conns, c);
        free(c);
    }
}

static void conn_track(struct lws *wsi)
{
    struct conn_deadline *c;
    HASH_FIND_PTR(srv.conns, &wsi, c);
    if (!c) {
        c = xcalloc(1, sizeof *c);
        c->wsi = wsi;
        HASH_ADD_PTR(srv.conns, wsi, c);
    }
    c->since = srv.deps.now();
    c->in_request = false;
    c->killed = false;
}

static struct conn_deadline *conn_find(struct lws *wsi)
{
    struct conn_deadline *c;
    HASH_FIND_PTR(srv.conns, &wsi, c);
    return c;
}

/* protocols[0]: tracks each connection's deadlines around http_callback,
 * which does the HTTP work. lws sends WSI_CREATE / WSI_DESTROY to
 * protocols[0] for every accepted connection. */
static int conn_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    struct conn_deadline *c;
    int r;

    switch (reason) {
    case LWS_CALLBACK_WSI_CREATE:
        conn_track(wsi);
        break;
    case LWS_CALLBACK_WSI_DESTROY:
        server_conn_forget(wsi);
        break;
    case LWS_CALLBACK_HTTP:
        if ((c = conn_find(wsi))) c->in_request = true;
        /* an HTTP/2 stream: its deadlines are its own, not its connection's
         * (which carries many requests and has lws's own timeouts) */
        if (lws_get_network_wsi(wsi) != wsi) server_conn_forget(lws_get_network_wsi(wsi));
        break;
    default:
        break;
    }
    /* the body due is the last write of a request (http_callback then
     * completes the transaction, which may free user: look before) */
    bool answering = reason == LWS_CALLBACK_HTTP_WRITEABLE && user &&
                     ((struct http_conn *)user)->phase == 2;
    r = http_callback(wsi, reason, user, in, len);
    if (answering && r == 0 && (c = conn_find(wsi))) {
        /* answered: the next request on this connection starts its clock now */
        c->in_request = false;
        c->since = srv.deps.now();
    }
    return r;
}

/* Closes the connections past their deadline. */
static void deadlines_check(int64_t now)
{
    const struct config *cfg = srv.deps.cfg;
    struct conn_deadline *c, *tmp;
    HASH_ITER(hh, srv.conns, c, tmp) {
        if (c->killed) continue;
        bool headers = !c->in_request && now - c->since >= cfg->http_header_timeout_ms;
        if (!headers && now - c->since < cfg->http_body_timeout_ms) continue;
        c->killed = true;
        log_info("event=http_deadline phase=%s", headers ? "headers" : "request");
        /* may free c (WSI_DESTROY) before returning: c is not used after */
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
    }
}

/* ---- accept back-off ---- */

struct listen_walk {
    uv_poll_t **found;
    int max, n;
};

static void find_listener(uv_handle_t *h, void *arg)
{
    struct listen_walk *w = arg;
    uv_os_fd_t fd;
    int on = 0;
    socklen_t sl = sizeof on;
    if (h->type != UV_POLL || uv_is_closing(h) || w->n >= w->max) return;
    if (uv_fileno(h, &fd) != 0) return;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &sl) == 0 && on)
        w->found[w->n++] = (uv_poll_t *)h;
}

static void reserve_open(void)
{
    if (srv.reserve_fd < 0) srv.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* With the reserve descriptor given up for a moment, accepts one waiting
 * connection and answers it 503, so that clients learn the node is full
 * instead of waiting in the backlog. */
static void shed_one(int lfd)
{
    static const char body[] =
        "{\"error\":{\"code\":\"unavailable\",\"message\":\"no connections available\"}}";
    char resp[320], drain[2048];
    int rl = snprintf(resp, sizeof resp,
                      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                      sizeof body - 1, body);
    if (srv.reserve_fd < 0) return;
    close(srv.reserve_fd);
    srv.reserve_fd = -1;
    int fd = accept(lfd, NULL, NULL); /* lws made the listen socket non-blocking */
    if (fd >= 0) {
        fcntl(fd, F_SETFL, O_NONBLOCK);
        /* read what the client sent, so that closing does not reset it */
        while (recv(fd, drain, sizeof drain, MSG_DONTWAIT) > 0) {}
        (void)!send(fd, resp, (size_t)rl, MSG_DONTWAIT | MSG_NOSIGNAL); /* best effort */
        shutdown(fd, SHUT_WR);
        close(fd);
    }
    reserve_open();
}

static void accept_resume(uv_timer_t *t)
{
    (void)t;
    srv.paused = false;
    for (int i = 0; i < srv.nlisteners; i++)
        if (!uv_is_closing((uv_handle_t *)srv.listeners[i]))
            uv_poll_start(srv.listeners[i], UV_READABLE, srv.listen_cb[i]);
    srv.nlisteners = 0;
}

/* Called from the lws log hook, inside lws's handling of the listen socket,
 * when accept() failed with err. lws may have restarted the poll during a
 * back-off (one of its sockets closed): then it is only stopped again, and
 * the back-off runs on. */
static void accept_failed(int err)
{
    uv_poll_t *found[MAX_LISTENERS];
    struct listen_walk w = {found, MAX_LISTENERS, 0};
    int64_t now;

    if (!srv.deps.loop || !srv.timer_init) return;
    if (srv.paused) {
        for (int i = 0; i < srv.nlisteners; i++) uv_poll_stop(srv.listeners[i]);
        return;
    }
    now = srv.deps.now();
    srv.backoff_ms = now - srv.last_fail < 2 * ACCEPT_BACKOFF_MAX_MS && srv.backoff_ms
                         ? (srv.backoff_ms * 2 > ACCEPT_BACKOFF_MAX_MS ? ACCEPT_BACKOFF_MAX_MS
                                                                       : srv.backoff_ms * 2)
                         : ACCEPT_BACKOFF_MIN_MS;
    srv.last_fail = now;
    uv_walk(srv.deps.loop, find_listener, &w);
    for (int i = 0; i < w.n; i++) {
        uv_os_fd_t fd;
        srv.listeners[i] = found[i];
        srv.listen_cb[i] = found[i]->poll_cb;
        uv_poll_stop(found[i]);
        if ((err == EMFILE || err == ENFILE) && uv_fileno((uv_handle_t *)found[i], &fd) == 0)
            shed_one(fd);
    }
    srv.nlisteners = w.n;
    srv.paused = true;
    uv_timer_start(&srv.timer, accept_resume, (uint64_t)srv.backoff_ms, 0);
    log_warn("event=accept_paused errno=%d reason=\"%s\"", err, strerror(err));
}

/* ---- the lws log hook ---- */

static void lws_log_sink(int level, const char *line)
{
    size_t l = strlen(line);
    int err;
    while (l && (line[l - 1] == '\n' || line[l - 1] == '\r')) l--;
    if ((level & LLL_ERR) && sscanf(line, "accept: errno %d", &err) == 1) accept_failed(err);
    if ((level & LLL_WARN) && (strncmp(line, "b63 of length must be zero", 26) == 0 ||
                               strncmp(line, "Control frame with xtended length", 33) == 0))
        srv.ws_proto_error = true;
    if (level & LLL_ERR) log_warn("event=lws msg=\"%.*s\"", (int)l, line);
    else log_debug("event=lws msg=\"%.*s\"", (int)l, line);
}

/* A request whose method lws does not know (TRACE, FOO, ...) is handed over
 * as raw bytes (LWS_SERVER_OPTION_FALLBACK_TO_APPLY_LISTEN_ACCEPT_CONFIG)
 * instead of lws answering its HTML 403: we answer 501 in the JSON error
 * shape and close. */
static int refuse_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                           void *in, size_t len)
{
    static const char body[] =
        "{\"error\":{\"code\":\"not_implemented\",\"message\":\"unknown HTTP method\"}}";
    unsigned char buf[LWS_PRE + 256];
    int n;

    (void)user, (void)in, (void)len;
    switch (reason) {
    case LWS_CALLBACK_RAW_ADOPT:
        lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, 5);
        lws_callback_on_writable(wsi);
        return 0;
    case LWS_CALLBACK_RAW_WRITEABLE:
        n = snprintf((char *)buf + LWS_PRE, sizeof buf - LWS_PRE,
                     "HTTP/1.1 501 Not Implemented\r\ncontent-type: application/json\r\n"
                     "content-length: %zu\r\nconnection: close\r\n\r\n%s",
                     sizeof body - 1, body);
        lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_RAW);
        return -1;
    default:
        return 0;
    }
}

static struct lws_protocols protocols[] = {
    {"http", conn_callback, sizeof(struct http_conn), 0, 0, NULL, 0},
    {"http-refuse", refuse_callback, 0, 0, 0, NULL, 0},
    /* rx_buffer_size: lws allocates it per connection; larger messages come
     * in fragments that session_on_rx reassembles (bounded by
     * max_message_bytes). tx_packet_size: lws_issue_raw sends at most this
     * much at once (rx_buffer_size otherwise): room for a corked batch. */
    {"dropin.v1.json", ws_callback, sizeof(struct ws_pss), WS_RX_BUFFER, 0, NULL,
     SESSION_BATCH_BYTES},
    {"dropin.v1.msgpack", ws_callback, sizeof(struct ws_pss), WS_RX_BUFFER, 0, NULL,
     SESSION_BATCH_BYTES},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* Clients that offer no subprotocol land on the one marked "default". */
static const struct lws_protocol_vhost_options pvo_default = {NULL, NULL, "default", ""};
static const struct lws_protocol_vhost_options pvo_json = {NULL, &pvo_default, "dropin.v1.json",
                                                           ""};

static void flush_cb(uv_check_t *h)
{
    (void)h;
    session_flush_all();
}

static void flush_pre_cb(uv_prepare_t *h)
{
    (void)h;
    session_flush_all();
}

int64_t server_capacity(void)
{
    return srv.capacity;
}

int server_port(void)
{
    return srv.port;
}

void server_tick(int64_t now)
{
    deadlines_check(now);
}

/* Binds host:port once and lets go, before lws tries: lws 4.1 on a foreign
 * loop turns a failed bind into a context it is already destroying, and
 * tearing that down raced libuv's close callbacks into the unloaded evlib
 * plugin (a wild jump at exit). An address lws will resolve itself (not a
 * literal IPv4) is left to lws. -1 with why when the bind fails. */
static int bind_probe(const char *host, int port, char *why, size_t whylen)
{
    struct sockaddr_in sa;
    int fd, rc, err, one = 1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) return 0;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0; /* out of descriptors: lws will say */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    err = errno;
    close(fd);
    if (rc == 0) return 0;
    snprintf(why, whylen, "cannot bind %s:%d (%s)", host, port, strerror(err));
    return -1;
}

int server_start(const struct server_deps *deps, char *why, size_t whylen)
{
    struct lws_context_creation_info info;
    const struct config *cfg = deps->cfg;
    void *foreign[1] = {deps->loop};
    struct rlimit rl;

    /* lws sizes its fd tables from RLIMIT_NOFILE at context creation: raise
     * the soft limit to the hard one first (an unlimited hard limit is
     * capped, lws would allocate tables for it) */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rlim_t want = rl.rlim_max > NOFILE_CAP ? NOFILE_CAP : rl.rlim_max;
            if (want > rl.rlim_cur) {
                rl.rlim_cur = want;
                if (setrlimit(RLIMIT_NOFILE, &rl) != 0) getrlimit(RLIMIT_NOFILE, &rl);
            }
        }
        srv.nofile = (int64_t)rl.rlim_cur;
    }
    srv.capacity = srv.nofile - FD_RESERVE;
    if (srv.capacity > cfg->max_sessions) srv.capacity = cfg->max_sessions;
    if (srv.capacity < 1) srv.capacity = 1;
    log_info("event=capacity sessions=%lld nofile=%lld nofile_hard=%lld reserve=%d "
             "max_sessions=%lld%s",
             (long long)srv.capacity, (long long)srv.nofile, (long long)rl.rlim_max, FD_RESERVE,
             (long long)cfg->max_sessions,
             srv.capacity < cfg->max_sessions ? " limit=descriptors" : " limit=max_sessions");
    /* warnings are always on: the hook learns of refused frames from them */
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_sink);
    srv.deps = *deps;
    srv.http = *deps->http;
    srv.deps.http = &srv.http;

    memset(&info, 0, sizeof info);
    info.port = cfg->listen_port;
    info.iface = cfg->listen_host;
    info.protocols = protocols;
    info.pvo = &pvo_json;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6 |
                   LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE |
                   LWS_SERVER_OPTION_FALLBACK_TO_APPLY_LISTEN_ACCEPT_CONFIG |
                   LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND |
                   LWS_SERVER_OPTION_VALIDATE_UTF8;
    info.listen_accept_role = "raw-skt";
    info.listen_accept_protocol = "http-refuse";
    /* room for the request line and headers: what is over our own limits
     * (http.c: 414, 431) is answered in JSON; only a request over this
     * buffer is closed by lws without an answer */
    info.max_http_header_data = HTTP_HEADER_BUFFER;
    info.foreign_loops = foreign;
    info.pcontext = &srv.lws;
    info.user = &srv.http; /* http.c's deps */
    info.timeout_secs = 10;
    /* No lws validity timer per connection: our own tick pings idle
     * sessions (session.c). lws 4.1 keeps every timer in one sorted list and
     * inserts by walking it, and the default policy arms a 300 s timer on
     * each WebSocket when it is established, after every one already armed:
     * opening the n-th session walked n-1 timers (a third of the CPU while
     * 10,000 sessions connect). A policy without a hangup time arms none. */
    static const lws_retry_bo_t no_validity = {.secs_since_valid_ping = 0,
                                               .secs_since_valid_hangup = 0};
    info.retry_and_idle_policy = &no_validity;
    info.fd_limit_per_thread = (unsigned int)srv.nofile; /* lws's fd tables */
    if (cfg->tls_cert[0]) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = cfg->tls_cert;
        info.ssl_private_key_filepath = cfg->tls_key;
    }
    if (bind_probe(cfg->listen_host, cfg->listen_port, why, whylen) != 0) return -1;
    srv.lws = lws_create_context(&info);
    if (!srv.lws) {
        snprintf(why, whylen, "cannot listen on %s:%d (in use, or bad TLS files?)",
                 cfg->listen_host, cfg->listen_port);
        return -1;
    }
    reserve_open();
    uv_check_init(deps->loop, &srv.flush);
    uv_check_start(&srv.flush, flush_cb);
    uv_unref((uv_handle_t *)&srv.flush); /* does not keep the loop alive */
    uv_prepare_init(deps->loop, &srv.flush_pre);
    uv_prepare_start(&srv.flush_pre, flush_pre_cb);
    uv_unref((uv_handle_t *)&srv.flush_pre);
    srv.flush_init = true;
    uv_timer_init(deps->loop, &srv.timer);
    srv.timer_init = true;
    /* on a foreign loop lws returns a context even when the bind failed
     * (it is being destroyed): the missing vhost tells */
    struct lws_vhost *vh = lws_get_vhost_by_name(srv.lws, "default");
    srv.port = vh ? lws_get_vhost_listen_port(vh) : -1;
    if (srv.port <= 0) {
        snprintf(why, whylen, "cannot bind %s:%d (address in use, or not this machine's)",
                 cfg->listen_host, cfg->listen_port);
        return -1;
    }
    return 0;
}

void server_stop(void)
{
    if (srv.timer_init) {
        uv_timer_stop(&srv.timer);
        srv.nlisteners = 0;
        srv.paused = false;
        uv_close((uv_handle_t *)&srv.timer, NULL);
        srv.timer_init = false;
    }
    if (srv.flush_init) {
        uv_check_stop(&srv.flush);
        uv_close((uv_handle_t *)&srv.flush, NULL);
        uv_prepare_stop(&srv.flush_pre);
        uv_close((uv_handle_t *)&srv.flush_pre, NULL);
        srv.flush_init = false;
    }
    if (srv.lws) lws_context_destroy(srv.lws);
}

void server_finish(void)
{
    struct conn_deadline *c, *tmp;
    if (srv.lws) lws_context_destroy(srv.lws);
    srv.lws = NULL;
    HASH_ITER(hh, srv.conns, c, tmp) {
        HASH_DEL(srv.conns, c);
        free(c);
    }
    if (srv.reserve_fd >= 0) close(srv.reserve_fd);
    srv.reserve_fd = -1;
    srv.deps = (struct server_deps){0};
    srv.http = (struct http_deps){0};
}
