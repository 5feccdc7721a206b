/* node.c - wiring and lifecycle of one dropind node.
 *
 * The loop runs: lws (foreign loop), a 250 ms tick for session deadlines, a
 * loop-lag probe, a reaper that frees closed sessions after each loop turn,
 * and the signal handlers. Blocking work runs through the task port on
 * libuv's thread pool (sized by `workers`). SIGTERM/SIGINT drain: every
 * session is closed with 1001, new sockets are refused, and once the
 * sessions are gone (or after a grace period) the loop is let to end.
 *
 * The node wires its parts and is the only one that knows them all: the
 * session hub (session.h), the cluster (cluster.h), the admin side
 * (admin.h), the server (server.h) and its HTTP side (http.h) each get a
 * small struct of what they read and the callbacks through which they tell
 * the node something; none of them includes node.h, and the calls between
 * them go through here. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "adapters/blob_s3.h"
#include "adapters/admin.h"
#include "adapters/cluster.h"
#include "adapters/http.h"
#include "adapters/node.h"
#include "adapters/oid.h"
#include "adapters/password.h"
#include "adapters/notify.h"
#include "adapters/pusher.h"
#include "adapters/server.h"
#include "adapters/session.h"
#include "adapters/store_mongo.h"
#include "adapters/store_sqlite.h"
#include "adapters/token.h"
#include "adapters/video.h"
#include "engine/bus.h"
#include "engine/login_throttle.h"
#include "engine/presence.h"
#include "engine/push_note.h"
#include <uthash.h>
#include "engine/store.h"
#include "engine/log.h"
#include "engine/mem.h"

#define TICK_MS 250
#define LAG_MS 500
#define DRAIN_GRACE_MS 3000

int64_t node_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- engine ports ---- */

static int64_t port_now(void *ctx)
{
    (void)ctx;
    return node_now();
}

struct pool_task {
    uv_work_t w;
    struct node *n;
    struct req *r;
    task_work_fn work;
    task_done_fn done;
    void *arg;
};

static void pool_task_work(uv_work_t *w)
{
    struct pool_task *j = w->data;
    j->work(&j->n->eng, j->arg);
}

static void pool_task_after(uv_work_t *w, int status)
{
    struct pool_task *j = w->data;
    (void)status;
    j->n->tasks_running--;
    j->done(&j->n->eng, j->r, j->arg);
    free(j);
}

static void port_run_task(void *ctx, struct req *r, task_work_fn work, task_done_fn done, void *arg)
{
    struct node *n = ctx;
    struct pool_task *j = xcalloc(1, sizeof *j);
    j->n = n;
    j->r = r;
    j->work = work;
    j->done = done;
    j->arg = arg;
    j->w.data = j;
    n->tasks_running++;
    uv_queue_work(&n->loop, &j->w, pool_task_work, pool_task_after);
}

/* ---- delivery, and push to the devices of an account no node holds ---- */

struct deliver_wait {
    struct node *n;
    char account[DROP_ID_SIZE];
    json_t *event;
    void (*done)(void *ud, const char *how); /* NULL: an engine event */
    void *ud;
};

static void deliver_end(struct deliver_wait *w, const char *how)
{
    if (w->done) w->done(w->ud, how);
    json_decref(w->event);
    free(w);
}

static void on_pushed(void *ud, bool accepted)
{
    deliver_end(ud, accepted ? "push" : "none");
}

/* The bus said how many nodes hold a session of the account: none means
 * it is offline cluster-wide (PROTOCOL.md section 6) and its devices get
 * the event. When the bus could not count, this node's own sessions
 * decide. */
static void on_counted(void *ud, drop_err err, int64_t nodes)
{
    struct deliver_wait *w = ud;
    struct node *n = w->n;
    if (nodes > 0 || (err != DROP_OK && hub_has_account(n->hub, w->account))) {
        deliver_end(w, "socket");
        return;
    }
    if (n->stopped || !pusher_active(n->pusher)) {
        deliver_end(w, "none");
        return;
    }
    pusher_notify(n->pusher, w->account, w->event, on_pushed, w);
}

static void deliver_counted(struct node *n, const char *account, json_t *event,
                            void (*done)(void *ud, const char *how), void *ud)
{
    struct deliver_wait *w = xcalloc(1, sizeof *w);
    w->n = n;
    snprintf(w->account, sizeof w->account, "%s", account);
    w->event = json_incref(event);
    w->done = done;
    w->ud = ud;
    cluster_deliver_counted(n->cluster, account, event, on_counted, w);
}

static void port_deliver(void *ctx, const char *account, json_t *event)
{
    struct node *n = ctx;
    if (pusher_active(n->pusher) &&
        push_note_wanted(json_string_value(json_object_get(event, "ev"))))
        deliver_counted(n, account, event, NULL, NULL);
    else
        cluster_deliver(n->cluster, account, event);
}

static void push_deliver(void *ctx, const char *account, json_t *event,
                         void (*done)(void *ud, const char *how), void *ud)
{
    deliver_counted(ctx, account, event, done, ud);
}

static void port_close_token(void *ctx, const unsigned char hash[32])
{
    struct node *n = ctx;
    cluster_close_token(n->cluster, hash);
}

static void port_close_account(void *ctx, const char *account)
{
    struct node *n = ctx;
    cluster_close_account(n->cluster, account);
}

static void port_presence_changed(void *ctx, const char *account)
{
    struct node *n = ctx;
    cluster_presence_changed(n->cluster, account);
}

static void port_gig_pending(void *ctx, const struct gig *g)
{
    struct node *n = ctx;
    cluster_gig_pending(n->cluster, g);
}

static bool port_has_session(void *ctx, const char *account)
{
    struct node *n = ctx;
    return hub_has_account(n->hub, account);
}

static drop_err port_counter_incr(void *ctx, const char *key, int64_t ttl_ms, bus_counter_cb cb,
                                  void *ud)
{
    struct node *n = ctx;
    if (!n->bus) return DROP_EUNAVAIL; /* stopped */
    return bus_counter_incr(n->bus, key, ttl_ms, cb, ud);
}

static drop_err port_counter_get(void *ctx, const char *key, bus_counter_cb cb, void *ud)
{
    struct node *n = ctx;
    if (!n->bus) return DROP_EUNAVAIL; /* stopped */
    return bus_counter_get(n->bus, key, cb, ud);
}

static drop_err port_counter_del(void *ctx, const char *key)
{
    struct node *n = ctx;
    if (!n->bus) return DROP_EUNAVAIL; /* stopped */
    return bus_counter_del(n->bus, key);
}

static bool port_bus_ok(void *ctx)
{
    struct node *n = ctx;
    return strcmp(cluster_status(n->cluster), "ok") == 0;
}

static void port_admin_cluster(void *ctx, struct req *r, const char *what, json_t *args,
                               const char *node, int timeout_ms)
{
    struct node *n = ctx;
    admin_cluster(n->admin, r, what, args, node, timeout_ms);
}

static void port_admin_watch(void *ctx, struct req *r, const char *account, const char *gig,
                             long long log_after)
{
    struct node *n = ctx;
    admin_watch(n->admin, r, account, gig, log_after);
}

/* ---- what the sessions tell the node (session_env) ---- */

static int64_t sessions_capacity(void *ctx)
{
    (void)ctx;
    return server_capacity();
}

static void on_account_joined(void *ctx, const char *account)
{
    struct node *n = ctx;
    cluster_account_joined(n->cluster, account);
}

static void on_account_left(void *ctx, const char *account)
{
    struct node *n = ctx;
    cluster_account_left(n->cluster, account);
}

static void on_session_closed(void *ctx, struct session *s)
{
    struct node *n = ctx;
    admin_session_closed(n->admin, s);
}

/* ---- what the cluster tells the node (cluster_deps) ---- */

static void on_bus_event(void *ctx, const char *account, json_t *event)
{
    struct node *n = ctx;
    hub_deliver(n->hub, account, event);
    admin_account_event(n->admin, account, event);
}

static void on_bus_close_account(void *ctx, const char *account)
{
    struct node *n = ctx;
    hub_close_account(n->hub, account);
}

static void on_bus_close_token(void *ctx, const unsigned char hash[32])
{
    struct node *n = ctx;
    hub_close_token(n->hub, hash);
}

static void on_bus_directed(void *ctx, json_t *msg)
{
    struct node *n = ctx;
    admin_on_directed(n->admin, msg);
}

static void on_bus_status(void *ctx, const char *status)
{
    struct node *n = ctx;
    n->bus_status = status;
}

/* ---- what the HTTP side reads of the node (http_deps) ---- */

static const char *http_store_status(void *ctx)
{
    const struct node *n = ctx;
    return n->store_status;
}

static const char *http_bus_status(void *ctx)
{
    const struct node *n = ctx;
    return n->bus_status;
}

static bool http_draining(void *ctx)
{
    const struct node *n = ctx;
    return n->draining;
}

/* ---- gig timers: one uv timer per gig with a deadline or open offers ---- */

struct gig_timer {
    char id[DROP_ID_SIZE];
    uv_timer_t t;
    struct node *n;
    UT_hash_handle hh;
};

static void gig_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void gig_timer_fire(uv_timer_t *t)
{
    struct gig_timer *gt = t->data;
    struct node *n = gt->n;
    char id[DROP_ID_SIZE];
    memcpy(id, gt->id, DROP_ID_SIZE);
    HASH_DEL(n->gig_timers, gt);
    uv_close((uv_handle_t *)&gt->t, gig_timer_closed);
    if (!n->draining) gig_timer_fired(&n->eng, id);
}

static void port_gig_timer(void *ctx, const char *gig_id, int64_t at_ms)
{
    struct node *n = ctx;
    struct gig_timer *gt;
    HASH_FIND_STR(n->gig_timers, gig_id, gt);
    if (at_ms <= 0 || n->stopped) {
        if (gt) {
            HASH_DEL(n->gig_timers, gt);
            uv_close((uv_handle_t *)&gt->t, gig_timer_closed);
        }
        return;
    }
    if (!gt) {
        gt = xcalloc(1, sizeof *gt);
        snprintf(gt->id, sizeof gt->id, "%s", gig_id);
        gt->n = n;
        uv_timer_init(&n->loop, &gt->t);
        gt->t.data = gt;
        HASH_ADD_STR(n->gig_timers, id, gt);
    }
    int64_t delay = at_ms - node_now();
    uv_timer_start(&gt->t, gig_timer_fire, (uint64_t)(delay > 0 ? delay : 0) + 1, 0);
}

static void gig_timers_close(struct node *n)
{
    struct gig_timer *gt, *tmp;
    HASH_ITER(hh, n->gig_timers, gt, tmp)
    {
        HASH_DEL(n->gig_timers, gt);
        uv_close((uv_handle_t *)&gt->t, gig_timer_closed);
    }
}

/* ---- crypto port: thin wrappers where the adapter's shape differs ---- */

static drop_err crypto_token_generate(char out[64])
{
    return token_generate(out);
}

static drop_err crypto_token_seal(const char *token, const char *account, unsigned char *out,
                                  size_t *outlen)
{
    *outlen = TOKEN_SEALED_LEN;
    return token_seal(token, account, out);
}

static drop_err crypto_token_unseal(const unsigned char *sealed, size_t len, const char *account,
                                    char out[64])
{
    return token_unseal(sealed, len, account, out);
}

static void crypto_referral_code(char out[16])
{
    oid_referral_code(out);
}

static drop_err crypto_code_new(char out[8])
{
    return token_code_new(out);
}

static const struct engine_crypto crypto = {
    .password_hash = password_hash,
    .password_verify = password_verify,
    .password_dummy_verify = password_dummy_verify,
    .token_generate = crypto_token_generate,
    .token_well_formed = token_well_formed,
    .token_hash = token_hash,
    .token_seal = crypto_token_seal,
    .token_unseal = crypto_token_unseal,
    .oid_new = oid_new,
    .referral_code = crypto_referral_code,
    .code_new = crypto_code_new,
    .random = token_random,
    .code_hash = token_code_hash,
};

/* ---- uploads and push: the blob signer and the push sender ---- */

static drop_err blob_sign_put(void *ctx, const char *key, const char *content_type,
                              int64_t now_ms, char *url, size_t urllen, int64_t *expires_at_ms)
{
    return blob_s3_sign_put(ctx, key, content_type, now_ms, url, urllen, expires_at_ms);
}

/* Makes the video provider of `video` (dev, opentok, vonage). The API
 * secret comes from the config or DROPIN_OPENTOK_API_SECRET and is never
 * logged. Returns 0, or -1 with why set. */
static int video_start(struct node *n, char *why, size_t whylen)
{
    const struct config *c = n->cfg;
    const char *secret = c->opentok_api_secret[0] ? c->opentok_api_secret
                                                  : getenv("DROPIN_OPENTOK_API_SECRET");
    struct video_config vc = {
        .provider = c->video,
        .opentok_api_key = c->opentok_api_key,
        .opentok_api_secret = secret ? secret : "",
        .opentok_url = c->opentok_url,
        .vonage_application_id = c->vonage_application_id,
        .vonage_private_key = c->vonage_private_key,
        .vonage_url = c->vonage_url,
        .relayed = strcmp(c->video_media_mode, "relayed") == 0,
        .archive_always = strcmp(c->video_archive, "always") == 0,
        .timeout_ms = c->video_timeout_ms,
    };
    struct video *v;
    if (video_new(&n->loop, &vc, &v, why, whylen) != DROP_OK) return -1;
    video_port(v, &n->eng.video);
    return 0;
}

/* Makes the signer (s3_bucket set) and the push sender (push_url set).
 * Secrets come from the config or the environment and are never logged.
 * Returns 0, or -1 with why set. */
static int media_start(struct node *n, char *why, size_t whylen)
{
    const struct config *c = n->cfg;
    if (c->s3_bucket[0]) {
        const char *secret = c->s3_secret_key[0] ? c->s3_secret_key : getenv("DROPIN_S3_SECRET_KEY");
        struct blob_s3 *b;
        if (blob_s3_new(c->s3_bucket, c->s3_region, c->s3_endpoint, c->s3_access_key,
                        secret ? secret : "", c->s3_url_ttl_ms, &b, why, whylen) != DROP_OK)
            return -1;
        n->eng.blob = (struct engine_blob){.ctx = b, .sign_put = blob_sign_put};
    }
    const char *key = c->push_key[0] ? c->push_key : getenv("DROPIN_PUSH_KEY");
    struct pusher_config pc = {
        .fcm_credentials = c->fcm_credentials,
        .fcm_url = c->fcm_url,
        .apns_key = c->apns_key,
        .apns_key_id = c->apns_key_id,
        .apns_team_id = c->apns_team_id,
        .apns_topic = c->apns_topic,
        .apns_url = c->apns_url,
        .apns_sandbox_url = c->apns_sandbox_url,
        .ca_file = c->push_ca_file,
        .webhook_url = c->push_url,
        .webhook_key = key ? key : "",
        .timeout_ms = c->push_timeout_ms,
        .max_inflight = (int)c->push_max_inflight,
        .queue_max = (int)c->push_queue,
    };
    if (pusher_new(&n->loop, &n->eng, &n->metrics, &pc, &n->pusher, why, whylen) != DROP_OK)
        return -1;
    n->eng.push = (struct engine_push){.ctx = n, .deliver = push_deliver};
    if (video_start(n, why, whylen) != 0) return -1;
    if (notify_start(&n->loop, c, &n->metrics, &n->eng.notify, why, whylen) != 0) return -1;
    char providers[64];
    log_info("event=media storage=%s push=%s video=%s", n->eng.blob.sign_put ? "s3" : "off",
             pusher_describe(n->pusher, providers, sizeof providers), n->eng.video.provider);
    return 0;
}

/* Aborts running pushes and closes the sender's handles (idempotent); the
 * signer holds no handles and is freed in node_free. */
static void media_stop(struct node *n)
{
    struct pusher *p = n->pusher;
    struct video *v = n->eng.video.ctx;
    n->eng.push = (struct engine_push){0};
    n->pusher = NULL;
    pusher_close(p); /* queued and running pushes end; freed once its tasks are back */
    n->eng.video = (struct engine_video){.provider = "none", .api_key = ""};
    video_close(v); /* session creations in flight end unavailable */
    notify_stop(&n->eng.notify);
}

/* ---- the store ---- */

/* Opens cfg->store and loads the token key. Blocking: at start only. */
static int open_store(struct node *n, char *why, size_t whylen)
{
    const char *spec = n->cfg->store;
    unsigned char key[TOKEN_KEY_LEN];
    char keypath[1100];
    const char *secret = n->cfg->token_secret[0] ? n->cfg->token_secret : getenv("DROPIN_TOKEN_SECRET");

    keypath[0] = '\0';
    if (strncmp(spec, "sqlite:", 7) == 0) {
        if (store_sqlite_open(spec + 7, &n->eng.store, why, whylen) != DROP_OK) return -1;
        snprintf(keypath, sizeof keypath, "%s.key", spec + 7);
    } else if (strncmp(spec, "mongodb://", 10) == 0 || strncmp(spec, "mongodb+srv://", 14) == 0) {
        /* nodes sharing a MongoDB must share the key that seals tokens */
        if (!secret || !*secret) {
            snprintf(why, whylen, "store mongodb: set token_secret (or DROPIN_TOKEN_SECRET), "
                                  "the same on every node");
            return -1;
        }
        if (store_mongo_open(spec, n->cfg->store_timeout_ms, &n->eng.store, why, whylen) != DROP_OK)
            return -1;
    } else {
        /* never echo the value: a URI may hold a password */
        snprintf(why, whylen, "store: expected sqlite:PATH or a mongodb:// URI");
        return -1;
    }
    if (secret && *secret) {
        if (token_key_from_secret(secret, key, why, whylen) != DROP_OK) return -1;
    } else if (token_key_load_or_create(keypath, key, why, whylen) != DROP_OK) {
        return -1;
    }
    token_init(key);
    memset(key, 0, sizeof key);
    return 0;
}

struct probe {
    drop_err rc;
};

static void probe_work(struct engine *e, void *arg)
{
    struct probe *p = arg;
    p->rc = store_ping(e->store);
}

static void probe_done(struct engine *e, struct req *r, void *arg)
{
    struct node *n = e->ports.ctx;
    struct probe *p = arg;
    const char *was = n->store_status;
    (void)r;
    n->store_status = p->rc == DROP_OK ? "ok" : "unavailable";
    if (strcmp(was, n->store_status) != 0)
        log_warn("event=store_status status=%s", n->store_status);
    n->probe_running = false;
    free(p);
}

/* ---- periodic work ---- */

static void on_stop(uv_timer_t *t);

/* An entry expired: a local operator is announced gone. */
static void presence_gone(const struct presence_state *s, void *ud)
{
    struct node *n = ud;
    if (strcmp(s->node, n->node_id) == 0) cluster_presence_changed(n->cluster, s->account);
}

/* Gives back to the kernel what a burst of sessions opening or closing left
 * free in malloc's arenas: once the count has settled (it moved by fewer
 * than TRIM_SETTLED since the last tick) after moving by TRIM_SESSIONS
 * since the last trim, and at most once a second. bench/README.md has the
 * figures. */
#define TRIM_SESSIONS 1000
#define TRIM_SETTLED 50
static void trim_after_burst(struct node *n, int64_t now)
{
    int64_t count = n->metrics.connections;
    int64_t step = count - n->trim_last_count, moved = count - n->trim_sessions;
    n->trim_last_count = count;
    if (step >= TRIM_SETTLED || step <= -TRIM_SETTLED) return;
    if ((moved < TRIM_SESSIONS && moved > -TRIM_SESSIONS) || now - n->trim_at < 1000) return;
    n->trim_at = now;
    n->trim_sessions = count;
    malloc_trim(0);
}

static void on_tick(uv_timer_t *t)
{
    struct node *n = t->data;
    int64_t now = node_now();
    hub_tick(n->hub, now);
    server_tick(now);
    log_flush_repeats();
    presence_expire(n->eng.presence, now, n->cfg->presence_ttl_ms, presence_gone, n);
    if (!n->draining && n->bus) {
        admin_tick(n->admin, now);
        cluster_tick(n->cluster, now);
    }
    if (!n->draining && now - n->sweep_at >= n->cfg->sweep_interval_ms) {
        n->sweep_at = now;
        gig_sweep(&n->eng);
    }
    if (!n->draining && !n->probe_running && now - n->probe_at >= 2000) {
        n->probe_running = true;
        n->probe_at = now;
        port_run_task(n, NULL, probe_work, probe_done, xcalloc(1, sizeof(struct probe)));
    }
    trim_after_burst(n, now);
    if (n->draining && hub_empty(n->hub) && !n->stopped)
        uv_timer_start(&n->stop_timer, on_stop, 0, 0);
}

static void on_lag(uv_timer_t *t)
{
    struct node *n = t->data;
    uint64_t now = uv_hrtime();
    if (n->lag_expected) {
        double lag = now > n->lag_expected ? (double)(now - n->lag_expected) / 1e9 : 0;
        n->metrics.loop_lag_s = lag;
        if (lag > n->metrics.loop_lag_max_s) n->metrics.loop_lag_max_s = lag;
    }
    n->lag_expected = now + (uint64_t)LAG_MS * 1000000;
}

static void on_reap(uv_check_t *c)
{
    struct node *n = c->data;
    hub_reap(n->hub);
}

static void close_handle(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h)) uv_close(h, NULL);
}

/* Tears lws down and closes what was opened (the end of a drain, or a
 * failed start), so uv_run returns once the running tasks have finished.
 * Admin answers what is pending while the bus is still there. */
static void stop_parts(struct node *n)
{
    n->stopped = true;
    server_stop();
    gig_timers_close(n);
    admin_stop(n->admin);
    cluster_stop(n->cluster);
    n->bus = NULL;
    media_stop(n);
    close_handle((uv_handle_t *)&n->tick);
    close_handle((uv_handle_t *)&n->lag);
    close_handle((uv_handle_t *)&n->sigterm);
    close_handle((uv_handle_t *)&n->sigint);
    close_handle((uv_handle_t *)&n->stop_timer);
}

static void on_stop(uv_timer_t *t)
{
    struct node *n = t->data;
    if (n->stopped) return;
    log_info("event=stopping sessions_left=%lld jobs=%d", (long long)n->metrics.connections,
             n->tasks_running);
    stop_parts(n);
}

/* Closes every session with 1001 and stops once they are gone (or after a
 * grace period). */
static void drain(struct node *n, const char *why)
{
    if (n->draining) return;
    n->draining = true;
    log_info("event=drain reason=%s sessions=%lld", why, (long long)n->metrics.connections);
    hub_drain(n->hub);
    uv_timer_start(&n->stop_timer, on_stop, hub_empty(n->hub) ? 0 : DRAIN_GRACE_MS, 0);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct node *n = h->data;
    if (n->draining) {
        log_warn("event=signal signum=%d action=stop_now", signum);
        on_stop(&n->stop_timer);
        return;
    }
    drain(n, signum == SIGTERM ? "sigterm" : "sigint");
}

static void port_drain(void *ctx)
{
    drain(ctx, "admin");
}

static json_t *port_inspect(void *ctx, const char *what, json_t *args)
{
    struct node *n = ctx;
    if (strcmp(what, "nodes") == 0) return cluster_nodes_json(n->cluster);
    if (strcmp(what, "sessions") == 0) return session_list_json(n->hub, args);
    if (strcmp(what, "stats") == 0) {
        int64_t in = 0;
        for (int i = 0; i <= METRICS_MAX_OPS; i++) in += n->metrics.msgs_in[i];
        int64_t errors = 0;
        for (int i = 1; i < DROP_ERR__COUNT; i++) errors += n->metrics.errors[i];
        return json_pack("{s:s,s:f,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:s,s:f,s:b}", "node",
                         n->node_id, "uptime", (double)(node_now() - n->started_at) / 1000.0,
                         "sessions", (json_int_t)n->metrics.connections, "authenticated",
                         (json_int_t)n->metrics.sessions_authed, "operators",
                         (json_int_t)presence_count(n->eng.presence), "gigTimers",
                         (json_int_t)HASH_COUNT(n->gig_timers), "messagesIn", (json_int_t)in,
                         "messagesOut", (json_int_t)(n->metrics.msgs_out + n->metrics.events_out),
                         "errors", (json_int_t)errors, "store", n->store_status, "bus",
                         cluster_status(n->cluster), "loopLagMax", n->metrics.loop_lag_max_s,
                         "draining", n->draining);
    }
    return NULL;
}

/* ---- lifecycle ---- */

static void make_node_id(struct node *n)
{
    if (n->cfg->node_id[0]) {
        snprintf(n->node_id, DROP_ID_SIZE, "%s", n->cfg->node_id);
        return;
    }
    unsigned char b[6];
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(b, 1, sizeof b, f) != sizeof b) memset(b, 0x5a, sizeof b);
    if (f) fclose(f);
    snprintf(n->node_id, sizeof n->node_id, "node-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
             b[3], b[4], b[5]);
}

int node_start(struct node *n, struct config *cfg, char *why, size_t whylen)
{
    char threads[16];
    memset(n, 0, sizeof *n);
    n->cfg = cfg;
    n->started_at = node_now();
    n->store_status = "ok";
    n->bus_status = "ok";
    make_node_id(n);

    /* libuv reads this once, at the first queued task */
    snprintf(threads, sizeof threads, "%d", cfg->workers);
    setenv("UV_THREADPOOL_SIZE", threads, 1);

    if (uv_loop_init(&n->loop) != 0) {
        snprintf(why, whylen, "cannot create the event loop");
        return -1;
    }
    n->eng.ports = (struct engine_ports){
        .ctx = n,
        .now_ms = port_now,
        .run_task = port_run_task,
        .deliver = port_deliver,
        .close_token = port_close_token,
        .close_account = port_close_account,
        .gig_timer = port_gig_timer,
        .presence_changed = port_presence_changed,
        .gig_pending = port_gig_pending,
        .bus_ok = port_bus_ok,
        .inspect = port_inspect,
        .drain = port_drain,
        .has_session = port_has_session,
        .counter_incr = port_counter_incr,
        .counter_get = port_counter_get,
        .counter_del = port_counter_del,
        .admin_cluster = port_admin_cluster,
        .admin_watch = port_admin_watch,
    };
    n->eng.policy = (struct gig_policy){
        .pending_ttl_ms = cfg->pending_ttl_ms,
        .offer_ttl_ms = cfg->offer_ttl_ms,
        .confirm_ttl_ms = cfg->confirm_ttl_ms,
        .handshake_ttl_ms = cfg->handshake_ttl_ms,
        .max_stream_ms = cfg->max_stream_ms,
        .wave_size = (int)cfg->wave_size,
        .dispatch_radius_m = cfg->dispatch_radius_m,
        .price_per_minute_cents = (int64_t)(cfg->price_per_minute * 100 + 0.5),
        .operator_share_bp = (int)(cfg->operator_share * 10000 + 0.5),
    };
    if (presence_new(cfg->grid_cell_m, &n->eng.presence) != DROP_OK) {
        snprintf(why, whylen, "grid_cell %g: invalid cell size", cfg->grid_cell_m);
        return -1;
    }
    n->eng.crypto = crypto;
    n->eng.set.token_ttl_ms = cfg->token_ttl_ms;
    n->eng.set.token_max_age_ms = cfg->token_max_age_ms;
    n->eng.set.admin_token = cfg->admin_token;
    n->eng.set.node_id = n->node_id;
    n->eng.set.presence_ttl_ms = cfg->presence_ttl_ms;
    n->eng.set.code_ttl_ms = cfg->code_ttl_ms;
    n->eng.set.login = (struct throttle_policy){
        .max_failures = cfg->login_max_failures,
        .base_ms = THROTTLE_BASE_MS,
        .lockout_max_ms = cfg->login_lockout_max_ms,
        .window_ms = THROTTLE_WINDOW_MS,
    };
    n->eng.started_at = n->started_at;

    uv_timer_init(&n->loop, &n->tick);
    uv_timer_init(&n->loop, &n->lag);
    uv_timer_init(&n->loop, &n->stop_timer);
    uv_check_init(&n->loop, &n->reaper);
    uv_signal_init(&n->loop, &n->sigterm);
    uv_signal_init(&n->loop, &n->sigint);
    n->tick.data = n->lag.data = n->stop_timer.data = n->reaper.data = n;
    n->sigterm.data = n->sigint.data = n;

    n->hub = hub_new(&(struct session_env){
        .cfg = cfg,
        .eng = &n->eng,
        .metrics = &n->metrics,
        .node_id = n->node_id,
        .ctx = n,
        .capacity = sessions_capacity,
        .account_joined = on_account_joined,
        .account_left = on_account_left,
        .closed = on_session_closed,
    });
    n->cluster = cluster_new(&(struct cluster_deps){
        .loop = &n->loop,
        .cfg = cfg,
        .eng = &n->eng,
        .metrics = &n->metrics,
        .node_id = n->node_id,
        .started_at = n->started_at,
        .port = &n->port,
        .ctx = n,
        .deliver = on_bus_event,
        .close_account = on_bus_close_account,
        .close_token = on_bus_close_token,
        .directed = on_bus_directed,
        .bus_status = on_bus_status,
        .holds_account = hub_holds_account, /* acct.<id> on a local bus */
        .holds_ud = n->hub,
    });
    n->admin = admin_new(&(struct admin_deps){
        .cfg = cfg,
        .eng = &n->eng,
        .metrics = &n->metrics,
        .node_id = n->node_id,
        .port = &n->port,
        .cluster = n->cluster,
        .sessions = n->hub,
    });
    struct server_deps server = {
        .loop = &n->loop,
        .cfg = cfg,
        .metrics = &n->metrics,
        .sessions = n->hub,
        .now = node_now,
        .http = &(struct http_deps){
            .cfg = cfg,
            .eng = &n->eng,
            .metrics = &n->metrics,
            .node_id = n->node_id,
            .started_at = n->started_at,
            .ctx = n,
            .store_status = http_store_status,
            .bus_status = http_bus_status,
            .draining = http_draining,
        },
    };

    if (open_store(n, why, whylen) != 0) return -1;
    if (media_start(n, why, whylen) != 0) return -1;
    if (cluster_start(n->cluster, why, whylen) != 0) return -1;
    n->bus = cluster_bus(n->cluster);
    if (server_start(&server, why, whylen) != 0) return -1;
    n->port = server_port();

    uv_timer_start(&n->tick, on_tick, TICK_MS, TICK_MS);
    uv_timer_start(&n->lag, on_lag, 0, LAG_MS);
    uv_check_start(&n->reaper, on_reap);
    uv_unref((uv_handle_t *)&n->reaper);
    uv_signal_start(&n->sigterm, on_signal, SIGTERM);
    uv_signal_start(&n->sigint, on_signal, SIGINT);
    log_info("event=listening node=%s addr=%s:%d store=\"%s\" bus=%s", n->node_id,
             cfg->listen_host, n->port, cfg->store, cfg->bus);
    return 0;
}

void node_run(struct node *n)
{
    uv_run(&n->loop, UV_RUN_DEFAULT);
}

void node_free(struct node *n)
{
    if (!n->loop.data && !n->cfg) return;
    if (!n->stopped) stop_parts(n); /* a failed start */
    close_handle((uv_handle_t *)&n->reaper);
    uv_run(&n->loop, UV_RUN_DEFAULT);
    server_finish();
    uv_run(&n->loop, UV_RUN_DEFAULT);
    hub_free(n->hub); /* with the sessions lws closed */
    n->hub = NULL;
    store_close(n->eng.store);
    n->eng.store = NULL;
    engine_free(&n->eng);
    login_throttle_free(&n->eng);
    blob_s3_free(n->eng.blob.ctx);
    n->eng.blob = (struct engine_blob){0};
    presence_free(n->eng.presence);
    n->eng.presence = NULL;
    admin_free(n->admin); /* after the sessions: their close ends their watches */
    n->admin = NULL;
    cluster_free(n->cluster);
    n->cluster = NULL;
    if (uv_loop_close(&n->loop) != 0) log_warn("event=loop_close_busy");
}
