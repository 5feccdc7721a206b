/* test_bus_redis.c - the Redis bus against a real redis-server that the test
 * starts on a free loopback port (and kills): several buses on one loop
 * exchange messages, prefixes isolate deployments, payloads are binary-safe
 * and ordered, subscriptions are reference-counted (also a re-subscribe
 * while the UNSUBSCRIBE is in flight), a redis-server killed and restarted
 * on the same port brings the bus down then up with every channel
 * subscribed again, a refused first connect reports down without hanging
 * and comes up when the server starts, and closing (also from inside a
 * callback, also while reconnecting) leaves no handle behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "adapters/bus_redis.h"
#include "engine/bus.h"
#include "engine/log.h"

#include "bus_test_util.h"

#define REDIS_SERVER "/usr/bin/redis-server"
#define MAX_GOT 256

extern char **environ;

static pid_t server_pid; /* the running redis-server, killed by teardown if a test fails */

/* --- the redis-server ---------------------------------------------------- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &n), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* Starts redis-server on 127.0.0.1:port and waits until it accepts. */
static pid_t redis_start(int port)
{
    if (access(REDIS_SERVER, X_OK) != 0)
        fail_msg("%s is missing: run tools/install-deps.sh --test", REDIS_SERVER);
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    char *argv[] = {"redis-server", "--port", p, "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, REDIS_SERVER, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(rc, 0);
    server_pid = pid;
    for (int i = 0; i < 500 && !port_open(port); i++) sleep_ms(10);
    assert_true(port_open(port));
    return pid;
}

static void redis_kill(pid_t pid)
{
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    if (pid == server_pid) server_pid = 0;
}

static int teardown(void **state)
{
    (void)state;
    if (server_pid > 0) redis_kill(server_pid);
    return 0;
}

/* --- a bus and what it received -------------------------------------------- */

struct node {
    struct bus *bus;
    int n;
    char channel[MAX_GOT][32];
    unsigned char payload[MAX_GOT][1100];
    size_t len[MAX_GOT];
    int probes; /* "probe" messages, not recorded */
    char status_log[32]; /* "U" / "D" per on_status */
    int ups, downs;
    bool close_on_message; /* close the bus from the first on_message */
    bool close_on_up;      /* close the bus from on_status(up) */
    int after_close;       /* callbacks after a close from a callback (must stay 0) */
    bool closed;
};

static void on_message(void *ud, const char *channel, const void *payload, size_t len)
{
    struct node *nd = ud;
    if (nd->closed) nd->after_close++;
    if (len == 5 && memcmp(payload, "probe", 5) == 0) {
        nd->probes++;
        return;
    }
    if (nd->n < MAX_GOT) {
        snprintf(nd->channel[nd->n], sizeof nd->channel[0], "%s", channel);
        memcpy(nd->payload[nd->n], payload, len < sizeof nd->payload[0] ? len : sizeof nd->payload[0]);
        nd->len[nd->n] = len;
    }
    nd->n++;
    if (nd->close_on_message) {
        bus_close(nd->bus);
        nd->bus = NULL;
        nd->closed = true;
    }
}

static void on_status(void *ud, bool up)
{
    struct node *nd = ud;
    if (nd->closed) nd->after_close++;
    size_t k = strlen(nd->status_log);
    if (k + 1 < sizeof nd->status_log) nd->status_log[k] = up ? 'U' : 'D';
    if (up) nd->ups++;
    else nd->downs++;
    if (up && nd->close_on_up) {
        bus_close(nd->bus);
        nd->bus = NULL;
        nd->closed = true;
    }
}

static void node_open(uv_loop_t *loop, struct node *nd, int port, const char *prefix)
{
    char url[64], why[128] = "";
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    struct bus_callbacks cb = {.on_message = on_message, .on_status = on_status, .ud = nd};
    assert_int_equal(bus_redis_open(loop, url, prefix, &cb, &nd->bus, why, sizeof why), DROP_OK);
    assert_string_equal(bus_name(nd->bus), "redis");
}

static void node_close(struct node *nd)
{
    bus_close(nd->bus);
    nd->bus = NULL;
}

/* --- running the loop ------------------------------------------------------- */

typedef bool (*cond_fn)(void *arg);

static void on_tick(uv_timer_t *t) { (void)t; }
static void on_tick_closed(uv_handle_t *h) { (void)h; }

/* Runs the loop until cond(arg) holds or ms pass; returns cond(arg). A
 * ticking timer makes each UV_RUN_ONCE return within 5 ms. */
static bool wait_for(uv_loop_t *loop, cond_fn cond, void *arg, int ms)
{
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, on_tick, 5, 5);
    uint64_t deadline = uv_hrtime() + (uint64_t)ms * 1000000ULL;
    while (!cond(arg) && uv_hrtime() < deadline) uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, on_tick_closed);
    uv_run(loop, UV_RUN_NOWAIT);
    return cond(arg);
}

static bool never(void *arg)
{
    (void)arg;
    return false;
}

static void spin(uv_loop_t *loop, int ms) { wait_for(loop, never, NULL, ms); }

struct nodes {
    struct node **v;
    int k;
    int ups, downs; /* each of v has at least these */
};

static bool all_status(void *arg)
{
    struct nodes *ns = arg;
    for (int i = 0; i < ns->k; i++)
        if (ns->v[i]->ups < ns->ups || ns->v[i]->downs < ns->downs) return false;
    return true;
}

static bool wait_status(uv_loop_t *loop, struct node **v, int k, int ups, int downs, int ms)
{
    struct nodes ns = {v, k, ups, downs};
    return wait_for(loop, all_status, &ns, ms);
}

struct count_arg {
    int *counter;
    int at_least;
};

static bool counter_reached(void *arg)
{
    struct count_arg *c = arg;
    return *c->counter >= c->at_least;
}

static bool wait_count(uv_loop_t *loop, int *counter, int at_least, int ms)
{
    struct count_arg c = {counter, at_least};
    return wait_for(loop, counter_reached, &c, ms);
}

/* Publishes "probe" from `from` on channel until `to` receives one: then
 * to's subscription is in place at the server (and every command sent
 * before it on to's subscribing connection has been processed). */
static void wait_subscribed(uv_loop_t *loop, struct node *from, struct node *to,
                            const char *channel)
{
    int before = to->probes;
    for (int i = 0; i < 200 && to->probes == before; i++) {
        assert_int_equal(bus_publish(from->bus, channel, "probe", 5), DROP_OK);
        wait_count(loop, &to->probes, before + 1, 10);
    }
    assert_true(to->probes > before);
    spin(loop, 20); /* let the other probes in flight land */
}

static void finish_loop(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
}

/* --- tests ------------------------------------------------------------------- */

static void test_exchange_prefix_binary_order(void **state)
{
    (void)state;
    int port = free_port();
    pid_t pid = redis_start(port);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct node *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b), *c = calloc(1, sizeof *c);
    node_open(&loop, a, port, "t1:");
    node_open(&loop, b, port, "t1:");
    node_open(&loop, c, port, "t2:");
    assert_string_equal(bus_status(a->bus), "down"); /* not yet connected */
    assert_int_equal(bus_subscribe(a->bus, "chan"), DROP_OK);
    assert_int_equal(bus_subscribe(c->bus, "chan"), DROP_OK);
    struct node *all[3] = {a, b, c};
    assert_true(wait_status(&loop, all, 3, 1, 0, 3000));
    for (int i = 0; i < 3; i++) {
        assert_string_equal(all[i]->status_log, "U");
        assert_string_equal(bus_status(all[i]->bus), "ok");
    }

    /* prefix isolation: c's message on "chan" reaches c, not a */
    assert_int_equal(bus_publish(c->bus, "chan", "from-c", 6), DROP_OK);
    assert_true(wait_count(&loop, &c->n, 1, 2000));
    unsigned char bin[1000];
    for (size_t i = 0; i < sizeof bin; i++) bin[i] = (unsigned char)(i * 7);
    bin[0] = 0;
    bin[500] = 0;
    assert_int_equal(bus_publish(b->bus, "chan", bin, sizeof bin), DROP_OK);
    assert_true(wait_count(&loop, &a->n, 1, 2000));
    spin(&loop, 20);
    assert_int_equal(a->n, 1); /* c's message never reached a */
    assert_string_equal(a->channel[0], "chan");
    assert_int_equal(a->len[0], sizeof bin);
    assert_memory_equal(a->payload[0], bin, sizeof bin);
    /* and b's never reached c: c's next own message is its second */
    assert_int_equal(bus_publish(c->bus, "chan", "c-again", 7), DROP_OK);
    assert_true(wait_count(&loop, &c->n, 2, 2000));
    assert_memory_equal(c->payload[1], "c-again", 7);
    assert_int_equal(bus_publish(b->bus, "chan", "", 0), DROP_OK); /* empty payload */
    assert_true(wait_count(&loop, &a->n, 2, 2000));
    assert_int_equal(a->len[1], 0);

    /* order: 100 messages arrive in order */
    for (int i = 0; i < 100; i++) {
        char m[16];
        int n = snprintf(m, sizeof m, "m%d", i);
        assert_int_equal(bus_publish(b->bus, "chan", m, (size_t)n), DROP_OK);
    }
    assert_true(wait_count(&loop, &a->n, 102, 3000));
    for (int i = 0; i < 100; i++) {
        char m[16];
        int n = snprintf(m, sizeof m, "m%d", i);
        assert_int_equal(a->len[2 + i], (size_t)n);
        assert_memory_equal(a->payload[2 + i], m, (size_t)n);
    }

    /* refcounts: subscribed twice, unsubscribed once -> still subscribed */
    a->n = 0;
    assert_int_equal(bus_subscribe(a->bus, "rc"), DROP_OK);
    assert_int_equal(bus_subscribe(a->bus, "rc"), DROP_OK);
    wait_subscribed(&loop, b, a, "rc");
    assert_int_equal(bus_unsubscribe(a->bus, "rc"), DROP_OK);
    assert_int_equal(bus_publish(b->bus, "rc", "still", 5), DROP_OK);
    assert_true(wait_count(&loop, &a->n, 1, 2000));
    assert_memory_equal(a->payload[0], "still", 5);
    /* the last reference goes: once "s2" (subscribed after) works, "rc" is gone */
    assert_int_equal(bus_unsubscribe(a->bus, "rc"), DROP_OK);
    assert_int_equal(bus_unsubscribe(a->bus, "rc"), DROP_ENOTFOUND);
    assert_int_equal(bus_subscribe(a->bus, "s2"), DROP_OK);
    wait_subscribed(&loop, b, a, "s2");
    assert_int_equal(bus_publish(b->bus, "rc", "gone", 4), DROP_OK);
    assert_int_equal(bus_publish(b->bus, "s2", "end", 3), DROP_OK);
    assert_true(wait_count(&loop, &a->n, 2, 2000));
    spin(&loop, 20);
    assert_int_equal(a->n, 2);
    assert_string_equal(a->channel[1], "s2");

    /* unsubscribe + subscribe in one turn (the UNSUBSCRIBE still in flight) */
    assert_int_equal(bus_subscribe(a->bus, "flip"), DROP_OK);
    wait_subscribed(&loop, b, a, "flip");
    assert_int_equal(bus_unsubscribe(a->bus, "flip"), DROP_OK);
    assert_int_equal(bus_subscribe(a->bus, "flip"), DROP_OK);
    wait_subscribed(&loop, b, a, "flip");
    assert_int_equal(bus_unsubscribe(a->bus, "flip"), DROP_OK);
    assert_int_equal(bus_unsubscribe(a->bus, "s2"), DROP_OK);
    assert_int_equal(bus_subscribe(a->bus, "s3"), DROP_OK);
    wait_subscribed(&loop, b, a, "s3");
    assert_int_equal(bus_publish(b->bus, "flip", "x", 1), DROP_OK);
    assert_int_equal(bus_publish(b->bus, "s3", "y", 1), DROP_OK);
    assert_true(wait_count(&loop, &a->n, 3, 2000));
    spin(&loop, 20);
    assert_int_equal(a->n, 3);
    assert_string_equal(a->channel[2], "s3");

    /* c drops its only channel and takes another in the same turn: the
     * server's count for c's connection must not reach zero under hiredis */
    assert_int_equal(bus_unsubscribe(c->bus, "chan"), DROP_OK);
    assert_int_equal(bus_subscribe(c->bus, "chan2"), DROP_OK);
    wait_subscribed(&loop, c, c, "chan2");
    assert_int_equal(bus_publish(c->bus, "chan2", "c2", 2), DROP_OK);
    assert_true(wait_count(&loop, &c->n, 3, 2000));
    assert_string_equal(c->channel[2], "chan2");

    struct bus_stats st;
    bus_stats(a->bus, &st);
    assert_true(st.delivered >= 105);
    assert_int_equal(st.reconnects, 1);
    bus_stats(b->bus, &st);
    assert_int_equal(st.dropped, 0);

    for (int i = 0; i < 3; i++) node_close(all[i]);
    finish_loop(&loop);
    for (int i = 0; i < 3; i++) free(all[i]);
    redis_kill(pid);
}

static void test_restart(void **state)
{
    (void)state;
    int port = free_port();
    pid_t pid = redis_start(port);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct node *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    struct node *both[2] = {a, b};
    node_open(&loop, a, port, "r:");
    node_open(&loop, b, port, "r:");
    assert_int_equal(bus_subscribe(a->bus, "chan"), DROP_OK);
    assert_true(wait_status(&loop, both, 2, 1, 0, 3000));
    assert_int_equal(bus_publish(b->bus, "chan", "before", 6), DROP_OK);
    assert_true(wait_count(&loop, &a->n, 1, 2000));

    redis_kill(pid);
    assert_true(wait_status(&loop, both, 2, 1, 1, 3000));
    assert_string_equal(bus_status(a->bus), "down");
    assert_int_equal(bus_publish(b->bus, "chan", "lost", 4), DROP_EUNAVAIL);
    assert_int_equal(bus_subscribe(a->bus, "later"), DROP_OK); /* while down */
    spin(&loop, 150); /* a few refused reconnects */
    assert_int_equal(a->downs, 1);

    pid = redis_start(port);
    assert_true(wait_status(&loop, both, 2, 2, 1, 5000));
    assert_string_equal(a->status_log, "UDU");
    assert_string_equal(b->status_log, "UDU");
    assert_string_equal(bus_status(a->bus), "ok");
    /* "up" means resubscribed: the first publish after it arrives */
    assert_int_equal(bus_publish(b->bus, "chan", "after", 5), DROP_OK);
    assert_int_equal(bus_publish(b->bus, "later", "later", 5), DROP_OK);
    assert_true(wait_count(&loop, &a->n, 3, 2000));
    assert_memory_equal(a->payload[1], "after", 5);
    assert_string_equal(a->channel[2], "later");
    struct bus_stats st;
    bus_stats(b->bus, &st);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.reconnects, 2);

    node_close(a);
    node_close(b);
    finish_loop(&loop);
    free(a);
    free(b);
    redis_kill(pid);
}

static void test_refused_then_up(void **state)
{
    (void)state;
    int port = free_port(); /* nobody listens */
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct node *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    node_open(&loop, a, port, "f:");
    assert_int_equal(bus_subscribe(a->bus, "x"), DROP_OK);
    assert_true(wait_status(&loop, &a, 1, 0, 1, 1000));
    assert_string_equal(bus_status(a->bus), "down");
    assert_int_equal(bus_publish(a->bus, "x", "no", 2), DROP_EUNAVAIL);
    spin(&loop, 300); /* refused retries keep failing, quietly */
    assert_string_equal(a->status_log, "D");

    pid_t pid = redis_start(port);
    assert_true(wait_status(&loop, &a, 1, 1, 1, 5000));
    assert_string_equal(a->status_log, "DU");
    node_open(&loop, b, port, "f:");
    assert_true(wait_status(&loop, &b, 1, 1, 0, 3000));
    assert_int_equal(bus_publish(b->bus, "x", "yes", 3), DROP_OK);
    assert_true(wait_count(&loop, &a->n, 1, 2000));
    assert_memory_equal(a->payload[0], "yes", 3);

    node_close(a);
    node_close(b);
    finish_loop(&loop);
    free(a);
    free(b);
    redis_kill(pid);
}

static void test_close_cases(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char why[128];
    struct bus *bad = NULL;
    struct bus_callbacks cb = {.on_message = on_message, .on_status = on_status, .ud = NULL};
    const char *urls[] = {"http://127.0.0.1:6379", "redis://", "redis://h:0", "redis://h:99999",
                          "redis://h:12x", "redis://[::1", NULL};
    for (int i = 0; urls[i]; i++) {
        why[0] = 0;
        assert_int_equal(bus_redis_open(&loop, urls[i], "p:", &cb, &bad, why, sizeof why),
                         DROP_EBADREQ);
        assert_true(why[0] != 0);
    }
    assert_int_equal(bus_redis_open(&loop, NULL, "p:", &cb, &bad, why, sizeof why), DROP_EBADREQ);
    assert_int_equal(bus_redis_open(&loop, "redis://127.0.0.1:1", "a b", &cb, &bad, why, sizeof why),
                     DROP_EBADREQ);
    assert_null(bad);

    /* closed while reconnecting to nothing, and right after opening */
    int port = free_port();
    struct node *r = calloc(1, sizeof *r), *q = calloc(1, sizeof *q);
    node_open(&loop, r, port, "c:");
    assert_true(wait_status(&loop, &r, 1, 0, 1, 1000));
    node_close(r);
    node_open(&loop, q, port, "c:");
    node_close(q);
    spin(&loop, 50);
    assert_int_equal(r->downs, 1);
    assert_int_equal(q->downs + q->ups, 0);

    /* closed from on_message with more messages coming, and from on_status */
    pid_t pid = redis_start(port);
    struct node *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b), *c = calloc(1, sizeof *c);
    node_open(&loop, a, port, "c:");
    node_open(&loop, b, port, "c:");
    struct node *ab[2] = {a, b};
    assert_int_equal(bus_subscribe(a->bus, "chan"), DROP_OK);
    assert_true(wait_status(&loop, ab, 2, 1, 0, 3000));
    a->close_on_message = true;
    for (int i = 0; i < 3; i++) assert_int_equal(bus_publish(b->bus, "chan", "m", 1), DROP_OK);
    assert_true(wait_count(&loop, &a->n, 1, 2000));
    c->close_on_up = true;
    node_open(&loop, c, port, "c:");
    assert_true(wait_count(&loop, &c->ups, 1, 3000));
    spin(&loop, 50);
    assert_int_equal(a->n, 1);
    assert_true(a->closed && c->closed);
    assert_int_equal(a->after_close + c->after_close, 0);

    node_close(b);
    finish_loop(&loop);
    free(r);
    free(q);
    free(a);
    free(b);
    free(c);
    redis_kill(pid);
}

/* --- shared counters --------------------------------------------------------- */

struct ctr {
    int calls;
    drop_err err;
    int64_t value, ttl;
};

static void on_counter(void *ud, drop_err err, int64_t value, int64_t ttl_left_ms)
{
    struct ctr *c = ud;
    c->calls++;
    c->err = err;
    c->value = value;
    c->ttl = ttl_left_ms;
}

/* Runs one counter command to its answer. */
static struct ctr ctr_run(uv_loop_t *loop, struct bus *b, const char *key, int64_t incr_ttl)
{
    struct ctr c = {0};
    drop_err rc = incr_ttl ? bus_counter_incr(b, key, incr_ttl, on_counter, &c)
                           : bus_counter_get(b, key, on_counter, &c);
    assert_int_equal(rc, DROP_OK);
    assert_int_equal(c.calls, 0); /* never inside the call */
    assert_true(wait_count(loop, &c.calls, 1, 3000));
    spin(loop, 5);
    assert_int_equal(c.calls, 1);
    return c;
}

static void test_counters(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    int port = free_port();
    struct node *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b), *o = calloc(1, sizeof *o);
    struct ctr c = {0};

    /* no server: refused at once, no callback */
    node_open(&loop, a, port, "k:");
    assert_true(wait_status(&loop, &a, 1, 0, 1, 1000));
    assert_int_equal(bus_counter_incr(a->bus, "login.x", 1000, on_counter, &c), DROP_EUNAVAIL);
    assert_int_equal(bus_counter_get(a->bus, "login.x", on_counter, &c), DROP_EUNAVAIL);
    assert_int_equal(bus_counter_del(a->bus, "login.x"), DROP_EUNAVAIL);

    pid_t pid = redis_start(port);
    node_open(&loop, b, port, "k:");
    node_open(&loop, o, port, "other:");
    struct node *all[3] = {a, b, o};
    assert_true(wait_status(&loop, all, 3, 1, 0, 5000));
    assert_int_equal(bus_counter_incr(a->bus, "bad key", 1000, on_counter, &c), DROP_EBADREQ);
    assert_int_equal(bus_counter_incr(a->bus, "k", 0, on_counter, &c), DROP_EBADREQ);
    assert_int_equal(c.calls, 0);

    /* counted on one node, seen on another with the time left */
    for (int i = 1; i <= 3; i++) {
        c = ctr_run(&loop, a->bus, "login.x", 600000);
        assert_int_equal(c.err, DROP_OK);
        assert_int_equal(c.value, i);
        assert_int_equal(c.ttl, 600000);
    }
    c = ctr_run(&loop, b->bus, "login.x", 0);
    assert_int_equal(c.err, DROP_OK);
    assert_int_equal(c.value, 3);
    assert_true(c.ttl > 500000 && c.ttl <= 600000);
    /* unknown key; another prefix is another deployment */
    c = ctr_run(&loop, b->bus, "login.y", 0);
    assert_true(c.err == DROP_OK && c.value == 0 && c.ttl == 0);
    c = ctr_run(&loop, o->bus, "login.x", 0);
    assert_true(c.err == DROP_OK && c.value == 0 && c.ttl == 0);
    /* deleted: ordered before a's next command */
    assert_int_equal(bus_counter_del(a->bus, "login.x"), DROP_OK);
    c = ctr_run(&loop, a->bus, "login.x", 0);
    assert_true(c.err == DROP_OK && c.value == 0 && c.ttl == 0);
    /* an expiry that passes forgets the counter */
    c = ctr_run(&loop, a->bus, "login.z", 30);
    assert_int_equal(c.value, 1);
    struct ctr g = {0};
    for (int i = 0; i < 100; i++) {
        g = ctr_run(&loop, b->bus, "login.z", 0);
        if (g.value == 0) break;
        spin(&loop, 10);
    }
    assert_true(g.err == DROP_OK && g.value == 0 && g.ttl == 0);

    /* a command in flight at close is answered once, unavailable */
    memset(&c, 0, sizeof c);
    assert_int_equal(bus_counter_get(b->bus, "login.x", on_counter, &c), DROP_OK);
    node_close(b);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.err, DROP_EUNAVAIL);

    node_close(a);
    node_close(o);
    finish_loop(&loop);
    free(a);
    free(b);
    free(o);
    redis_kill(pid);
}

/* PUBLISH's reply is the number of subscribers: 1 for a channel one node
 * holds (another deployment's prefix does not count), 0 for one nobody
 * holds; a counted publish in flight at close is answered once,
 * unavailable. */
static void test_publish_counted(void **state)
{
    (void)state;
    int port = free_port();
    pid_t pid = redis_start(port);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct node *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b), *o = calloc(1, sizeof *o);
    struct counted held = {0}, nobody = {0}, pending = {0};
    node_open(&loop, a, port, "pc:");
    node_open(&loop, b, port, "pc:");
    node_open(&loop, o, port, "other:");
    assert_int_equal(bus_subscribe(a->bus, "acct.1"), DROP_OK);
    assert_int_equal(bus_subscribe(o->bus, "acct.1"), DROP_OK);
    struct node *all[3] = {a, b, o};
    assert_true(wait_status(&loop, all, 3, 1, 0, 5000));

    assert_int_equal(bus_publish_counted(b->bus, "acct.1", "x", 1, on_count, &held), DROP_OK);
    assert_int_equal(bus_publish_counted(b->bus, "acct.2", "y", 1, on_count, &nobody), DROP_OK);
    assert_int_equal(held.calls + nobody.calls, 0);
    assert_true(wait_count(&loop, &nobody.calls, 1, 2000));
    assert_true(wait_count(&loop, &held.calls, 1, 2000));
    assert_int_equal(held.err, DROP_OK);
    assert_int_equal(held.receivers, 1);
    assert_int_equal(nobody.err, DROP_OK);
    assert_int_equal(nobody.receivers, 0);
    assert_true(wait_count(&loop, &a->n, 1, 2000));
    assert_int_equal(bus_publish_counted(b->bus, "bad channel", "z", 1, on_count, &pending),
                     DROP_EBADREQ);

    assert_int_equal(bus_publish_counted(b->bus, "acct.1", "z", 1, on_count, &pending), DROP_OK);
    node_close(b);
    assert_int_equal(pending.calls, 1);
    assert_int_equal(pending.err, DROP_EUNAVAIL);

    node_close(a);
    node_close(o);
    finish_loop(&loop);
    assert_int_equal(pending.calls, 1);
    free(a);
    free(b);
    free(o);
    redis_kill(pid);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (getenv("BUS_TEST_DEBUG")) log_min_level = LOG_DEBUG;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_exchange_prefix_binary_order, teardown),
        cmocka_unit_test_teardown(test_restart, teardown),
        cmocka_unit_test_teardown(test_refused_then_up, teardown),
        cmocka_unit_test_teardown(test_close_cases, teardown),
        cmocka_unit_test_teardown(test_counters, teardown),
        cmocka_unit_test_teardown(test_publish_counted, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
