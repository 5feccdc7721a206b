/* store_conformance.c - the backend-independent store suite (see
 * store_conformance.h). Included as source by each backend's runner.
 *
 * Every case asserts what a caller of engine/store.h relies on, through the
 * store_* wrappers only. The gig cases build gigs with every field set, so a
 * backend that drops or rounds anything fails the field-by-field, bit-for-
 * bit comparison (assert_gig_same). Racing threads never assert: they record
 * their result and the main thread checks the tally. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "adapters/oid.h"
#include "engine/store.h"
#include "tests/unit/store_conformance.h"

static const struct conformance_backend *conf_backend;

static const char *CONF_HASH = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
                               "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";

static uint64_t conf_random(void)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) fail_msg("getrandom failed");
    return r;
}

/* A fresh random tag of 16 hex chars, for identity values. */
static void conf_tag(char out[17])
{
    snprintf(out, 17, "%016llx", (unsigned long long)conf_random());
}

/* A time base of its own for a case: a random millisecond between the
 * years 2100 and about 2135, aligned to 1e7 ms so cases never overlap
 * (they use base .. base + 1e6). */
static int64_t conf_time_base(void)
{
    return 4102444800000LL + (int64_t)(conf_random() % 110000) * 10000000LL;
}

static int conf_setup(void **state)
{
    struct store *st = conf_backend->open();
    if (!st) return -1;
    *state = st;
    return 0;
}

static int conf_teardown(void **state)
{
    conf_backend->close(*state);
    return 0;
}

/* ---- accounts ----------------------------------------------------------- */

/* A new account (fresh ids) with an email "<tag>-<label>@conf.example" and,
 * when phone, a phone number. */
static void conf_account(struct account *a, const char *type, const char *tag, const char *label,
                         bool phone, int64_t now)
{
    account_init(a);
    oid_new(a->id);
    oid_referral_code(a->referral_code);
    a->first_name = strdup("Conf");
    a->last_name = strdup(label);
    snprintf(a->type, sizeof a->type, "%s", type);
    struct identity *id = &a->identities[a->n_identities++];
    strcpy(id->type, "email");
    snprintf(id->value, sizeof id->value, "%s-%s@conf.example", tag, label);
    oid_new(id->id);
    if (phone) {
        id = &a->identities[a->n_identities++];
        strcpy(id->type, "phone");
        snprintf(id->value, sizeof id->value, "+1%014llu",
                 (unsigned long long)(conf_random() % 100000000000000ULL));
        oid_new(id->id);
    }
    account_stamp_new(a, now);
}

static void test_conf_account_crud(void **state)
{
    struct store *st = *state;
    const int64_t T = conf_time_base();
    char tag[17], other[DROP_ID_SIZE];
    struct account a, b, got;
    char *hash = NULL;
    conf_tag(tag);
    oid_new(other);

    conf_account(&a, "operator", tag, "crud", true, T);
    a.picture = strdup("https://x/p.jpg");
    assert_int_equal(store_account_create(st, &a, CONF_HASH), DROP_OK);
    assert_int_equal(store_account_get(st, a.id, &got), DROP_OK);
    assert_string_equal(got.id, a.id);
    assert_string_equal(got.first_name, "Conf");
    assert_string_equal(got.last_name, "crud");
    assert_string_equal(got.type, "operator");
    assert_string_equal(got.status, "active");
    assert_false(got.archive);
    assert_null(got.organization);
    assert_string_equal(got.picture, "https://x/p.jpg");
    assert_string_equal(got.referral_code, a.referral_code);
    assert_int_equal(got.referral_rate, ACCOUNT_REFERRAL_RATE);
    assert_true(got.operator_rating == 5.0 && got.customer_rating == 5.0);
    assert_true(got.created_at == T && got.updated_at == T);
    assert_int_equal(got.n_identities, 2);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(got.identities[i].id, a.identities[i].id);
        assert_string_equal(got.identities[i].type, a.identities[i].type);
        assert_string_equal(got.identities[i].value, a.identities[i].value);
        assert_string_equal(got.identities[i].status, "unverified");
        assert_true(got.identities[i].created_at == T);
    }
    account_free(&got);

    assert_int_equal(store_account_by_identity(st, a.identities[0].value, &got, &hash), DROP_OK);
    assert_string_equal(got.id, a.id);
    assert_string_equal(hash, CONF_HASH);
    free(hash);
    account_free(&got);
    assert_int_equal(store_account_by_identity(st, a.identities[1].value, &got, NULL), DROP_OK);
    assert_string_equal(got.id, a.id);
    account_free(&got);

    /* a second account with the same id is refused */
    conf_account(&b, "user", tag, "crud-dup", false, T);
    strcpy(b.id, a.id);
    assert_int_equal(store_account_create(st, &b, CONF_HASH), DROP_ECONFLICT);
    account_free(&b);

    /* update: profile fields only */
    free(a.first_name);
    a.first_name = strdup("Renamed");
    a.organization = strdup("Org");
    a.updated_at = T + 5;
    strcpy(a.type, "admin");
    assert_int_equal(store_account_update(st, &a), DROP_OK);
    assert_int_equal(store_account_get(st, a.id, &got), DROP_OK);
    assert_string_equal(got.first_name, "Renamed");
    assert_string_equal(got.organization, "Org");
    assert_string_equal(got.type, "operator");
    assert_true(got.updated_at == T + 5 && got.created_at == T);
    account_free(&got);

    /* list finds it by its tag, a substring of its identity */
    struct account *arr = NULL;
    size_t n = 0;
    struct account_filter f = {.q = tag, .limit = 10};
    assert_int_equal(store_account_list(st, &f, &arr, &n), DROP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(arr[0].id, a.id);
    account_array_free(arr, n);

    /* ratings: the first vote replaces the starting 5 */
    assert_int_equal(store_account_add_rating(st, a.id, true, 3, T + 6), DROP_OK);
    assert_int_equal(store_account_add_rating(st, a.id, true, 4, T + 7), DROP_OK);
    assert_int_equal(store_account_add_rating(st, a.id, false, 1, T + 8), DROP_OK);
    assert_int_equal(store_account_add_rating(st, a.id, true, 0, T + 9), DROP_EBADREQ);
    assert_int_equal(store_account_add_rating(st, a.id, false, 6, T + 9), DROP_EBADREQ);
    assert_int_equal(store_account_get(st, a.id, &got), DROP_OK);
    assert_true(got.operator_rating == 3.5);
    assert_int_equal(got.operator_rating_count, 2);
    assert_true(got.customer_rating == 1.0);
    assert_int_equal(got.customer_rating_count, 1);
    account_free(&got);

    /* unknown ids */
    assert_int_equal(store_account_get(st, other, &got), DROP_ENOTFOUND);
    assert_int_equal(store_account_add_rating(st, other, true, 5, T), DROP_ENOTFOUND);
    assert_int_equal(store_account_archive(st, other, T), DROP_ENOTFOUND);
    assert_int_equal(store_account_by_identity(st, "nobody-at-all@conf.example", &got, NULL),
                     DROP_ENOTFOUND);

    /* archive: still readable, no longer reachable by identity, once only */
    assert_int_equal(store_account_archive(st, a.id, T + 10), DROP_OK);
    assert_int_equal(store_account_get(st, a.id, &got), DROP_OK);
    assert_string_equal(got.status, "archived");
    assert_true(got.archive);
    assert_true(got.updated_at == T + 10);
    account_free(&got);
    assert_int_equal(store_account_by_identity(st, a.identities[0].value, &got, NULL),
                     DROP_ENOTFOUND);
    assert_int_equal(store_account_archive(st, a.id, T + 11), DROP_ENOTFOUND);
    assert_int_equal(store_account_update(st, &a), DROP_ENOTFOUND);

    /* its identity values are free again */
    conf_account(&b, "user", tag, "crud", false, T + 20);
    assert_int_equal(store_account_create(st, &b, CONF_HASH), DROP_OK);
    assert_int_equal(store_account_by_identity(st, a.identities[0].value, &got, NULL), DROP_OK);
    assert_string_equal(got.id, b.id);
    account_free(&got);
    account_free(&a);
    account_free(&b);
}

struct conf_racer {
    struct store *st;
    pthread_barrier_t *go;
    const char *tag;
    drop_err result;
};

static void *conf_register(void *arg)
{
    struct conf_racer *r = arg;
    struct account a;
    conf_account(&a, "user", r->tag, "race", false, 1);
    pthread_barrier_wait(r->go);
    r->result = store_account_create(r->st, &a, CONF_HASH);
    account_free(&a);
    return NULL;
}

static void test_conf_unique_identity(void **state)
{
    if (conf_backend->gaps_no_unique_index) {
        print_message("[  SKIP    ] %s: unique identity: the backend does not enforce unique "
                      "secondary indexes (known gap of the test server)\n", conf_backend->name);
        skip();
    }
    struct store *st = *state;
    const int64_t T = conf_time_base();
    char tag[17];
    struct account a, b, got;
    conf_tag(tag);
    conf_account(&a, "user", tag, "uniq", false, T);
    conf_account(&b, "user", tag, "uniq-b", true, T);
    strcpy(b.identities[1].type, "email");
    strcpy(b.identities[1].value, a.identities[0].value); /* the second identity collides */
    assert_int_equal(store_account_create(st, &a, CONF_HASH), DROP_OK);
    assert_int_equal(store_account_create(st, &b, CONF_HASH), DROP_ECONFLICT);
    /* nothing half-written */
    assert_int_equal(store_account_get(st, b.id, &got), DROP_ENOTFOUND);
    assert_int_equal(store_account_by_identity(st, b.identities[0].value, &got, NULL),
                     DROP_ENOTFOUND);
    assert_int_equal(store_account_by_identity(st, a.identities[0].value, &got, NULL), DROP_OK);
    assert_string_equal(got.id, a.id);
    account_free(&got);
    account_free(&a);
    account_free(&b);

    /* 8 threads register one new value at once: exactly one wins */
    enum { N = 8 };
    pthread_t th[N];
    struct conf_racer r[N];
    pthread_barrier_t go;
    conf_tag(tag);
    pthread_barrier_init(&go, NULL, N);
    for (int i = 0; i < N; i++) {
        r[i] = (struct conf_racer){st, &go, tag, DROP_EINTERNAL};
        pthread_create(&th[i], NULL, conf_register, &r[i]);
    }
    int ok = 0, conflict = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (r[i].result == DROP_OK) ok++;
        else if (r[i].result == DROP_ECONFLICT) conflict++;
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(ok, 1);
    assert_int_equal(conflict, N - 1);
}

/* ---- tokens ------------------------------------------------------------- */

static void conf_token(struct store_token *t, const char *account, int64_t created,
                       int64_t expires)
{
    memset(t, 0, sizeof *t);
    if (getrandom(t->hash, sizeof t->hash, 0) != (ssize_t)sizeof t->hash) fail();
    t->sealed_len = 60;
    if (getrandom(t->sealed, t->sealed_len, 0) != (ssize_t)t->sealed_len) fail();
    strcpy(t->account, account);
    t->created_at = created;
    t->expires_at = expires;
}

static void assert_token_same(const struct store_token *a, const struct store_token *b)
{
    assert_memory_equal(a->hash, b->hash, STORE_TOKEN_HASH_LEN);
    assert_int_equal(a->sealed_len, b->sealed_len);
    assert_memory_equal(a->sealed, b->sealed, a->sealed_len);
    assert_string_equal(a->account, b->account);
    assert_true(a->created_at == b->created_at);
    assert_true(a->expires_at == b->expires_at);
}

static void test_conf_tokens(void **state)
{
    struct store *st = *state;
    const int64_t T = conf_time_base();
    char tag[17], ghost[DROP_ID_SIZE];
    struct account a, b;
    struct store_token t1, t2, tb, got;
    conf_tag(tag);
    oid_new(ghost);
    conf_account(&a, "user", tag, "tok-a", false, T);
    conf_account(&b, "user", tag, "tok-b", false, T);
    assert_int_equal(store_account_create(st, &a, CONF_HASH), DROP_OK);
    assert_int_equal(store_account_create(st, &b, CONF_HASH), DROP_OK);

    conf_token(&t1, a.id, T, T + 1000);
    assert_int_equal(store_token_put(st, &t1), DROP_OK);
    assert_int_equal(store_token_lookup(st, t1.hash, T + 1, &got), DROP_OK);
    assert_token_same(&t1, &got);
    assert_int_equal(store_token_get_by_account(st, a.id, T + 1, &got), DROP_OK);
    assert_token_same(&t1, &got);

    /* sliding expiry */
    assert_int_equal(store_token_touch(st, t1.hash, T + 5000), DROP_OK);
    assert_int_equal(store_token_lookup(st, t1.hash, T + 4000, &got), DROP_OK);
    assert_true(got.expires_at == T + 5000);
    conf_token(&t2, a.id, T, T);
    assert_int_equal(store_token_touch(st, t2.hash, T + 5000), DROP_EUNAUTH);
    assert_int_equal(store_token_lookup(st, t2.hash, T, &got), DROP_EUNAUTH);

    /* one token per account; another account's token is independent */
    conf_token(&t2, a.id, T + 10, T + 9000);
    assert_int_equal(store_token_put(st, &t2), DROP_OK);
    assert_int_equal(store_token_lookup(st, t1.hash, T + 20, &got), DROP_EUNAUTH);
    assert_int_equal(store_token_lookup(st, t2.hash, T + 20, &got), DROP_OK);
    conf_token(&tb, b.id, T, T + 9000);
    assert_int_equal(store_token_put(st, &tb), DROP_OK);
    assert_int_equal(store_token_get_by_account(st, a.id, T + 20, &got), DROP_OK);
    assert_token_same(&t2, &got);

    /* expiry at expires_at, and it stays gone */
    assert_int_equal(store_token_lookup(st, t2.hash, T + 9000, &got), DROP_EUNAUTH);
    assert_int_equal(store_token_lookup(st, t2.hash, T + 20, &got), DROP_EUNAUTH);
    assert_int_equal(store_token_get_by_account(st, a.id, T + 20, &got), DROP_ENOTFOUND);

    /* delete (twice is fine), delete by account */
    conf_token(&t2, a.id, T, T + 9000);
    assert_int_equal(store_token_put(st, &t2), DROP_OK);
    assert_int_equal(store_token_delete(st, t2.hash), DROP_OK);
    assert_int_equal(store_token_lookup(st, t2.hash, T + 1, &got), DROP_EUNAUTH);
    assert_int_equal(store_token_delete(st, t2.hash), DROP_OK);
    assert_int_equal(store_token_delete_by_account(st, b.id), DROP_OK);
    assert_int_equal(store_token_lookup(st, tb.hash, T + 1, &got), DROP_EUNAUTH);
    assert_int_equal(store_token_delete_by_account(st, b.id), DROP_OK);

    /* archiving deletes the tokens */
    conf_token(&t2, a.id, T, T + 9000);
    assert_int_equal(store_token_put(st, &t2), DROP_OK);
    assert_int_equal(store_account_archive(st, a.id, T + 30), DROP_OK);
    assert_int_equal(store_token_lookup(st, t2.hash, T + 31, &got), DROP_EUNAUTH);

    /* no such account; bad blobs */
    conf_token(&t2, ghost, T, T + 10);
    assert_int_equal(store_token_put(st, &t2), DROP_ENOTFOUND);
    t2.sealed_len = 0;
    strcpy(t2.account, b.id);
    assert_int_equal(store_token_put(st, &t2), DROP_EBADREQ);
    t2.sealed_len = STORE_SEALED_MAX + 1;
    assert_int_equal(store_token_put(st, &t2), DROP_EBADREQ);
    account_free(&a);
    account_free(&b);
}

/* ---- gigs --------------------------------------------------------------- */

/* A new gig (fresh id, version 1) of customer, created at `at`, with no
 * deadline and no offers. */
static void conf_gig(struct gig *g, const char *customer, enum gig_status status, int64_t at)
{
    gig_init(g);
    oid_new(g->id);
    strcpy(g->customer, customer);
    g->status = status;
    g->version = 1;
    g->latitude = 10.762622;
    g->longitude = 106.660172;
    g->created_at = at;
    g->updated_at = at;
}

static void conf_offer(struct gig *g, const char *operator, enum offer_state s, int64_t at,
                       int64_t expires)
{
    assert_true(g->n_offers < GIG_MAX_OFFERS);
    struct gig_offer *o = &g->offers[g->n_offers++];
    snprintf(o->operator, sizeof o->operator, "%s", operator);
    o->state = s;
    o->wave = 1;
    o->distance_m = 123.25 + g->n_offers;
    o->offered_at = at;
    o->expires_at = expires;
}

/* A gig with every field set to a value that is not its default. */
static void conf_full_gig(struct gig *g, int64_t T)
{
    char c[DROP_ID_SIZE], op[DROP_ID_SIZE];
    oid_new(c);
    oid_new(op);
    conf_gig(g, c, GIG_STREAMING, T);
    strcpy(g->operator, op);
    g->latitude = 0.1 + 0.2;
    g->longitude = -122.41941550000001;
    strcpy(g->device_id, "device-\xc3\xa9-\"42\"");
    strcpy(g->claim_id, "claim-7");
    gig_set_meta(g, "{\"note\":\"gate 3\",\"n\":[1,2.5,-0.0,0.5],\"o\":{\"k\":null,\"t\":true}}");
    g->customer_rating = 4;
    g->operator_rating = 2;
    g->customer_handshaken = true;
    g->operator_handshaken = false;
    strcpy(g->video_session, "dev-session-abc");
    g->updated_at = T + 1;
    g->deadline = T + 3600000;
    g->started_at = T + 2;
    g->ended_at = T + 3;
    g->duration_s = 3601;
    g->amount_cents = 6100;
    g->payment_cents = 3050;
    g->wave = 2;
    for (int i = 0; i < 5; i++) {
        char o[DROP_ID_SIZE];
        oid_new(o);
        conf_offer(g, o, (enum offer_state)i, T + i, T + 15000 + i);
        g->offers[i].wave = 1 + i / 3;
        g->offers[i].distance_m = 1.0 / 3.0 + i;
    }
}

static bool conf_same_double(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Every field equal, doubles bit for bit. */
static void assert_gig_same(const struct gig *a, const struct gig *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->customer, b->customer);
    assert_string_equal(a->operator, b->operator);
    assert_int_equal(a->status, b->status);
    assert_true(a->version == b->version);
    assert_true(conf_same_double(a->latitude, b->latitude));
    assert_true(conf_same_double(a->longitude, b->longitude));
    assert_string_equal(a->device_id, b->device_id);
    assert_string_equal(a->claim_id, b->claim_id);
    if (a->meta_json || b->meta_json) {
        assert_non_null(a->meta_json);
        assert_non_null(b->meta_json);
        assert_string_equal(a->meta_json, b->meta_json);
    }
    assert_int_equal(a->customer_rating, b->customer_rating);
    assert_int_equal(a->operator_rating, b->operator_rating);
    assert_int_equal(a->customer_handshaken, b->customer_handshaken);
    assert_int_equal(a->operator_handshaken, b->operator_handshaken);
    assert_string_equal(a->video_session, b->video_session);
    assert_true(a->created_at == b->created_at);
    assert_true(a->updated_at == b->updated_at);
    assert_true(a->deadline == b->deadline);
    assert_true(a->started_at == b->started_at);
    assert_true(a->ended_at == b->ended_at);
    assert_true(a->duration_s == b->duration_s);
    assert_true(a->amount_cents == b->amount_cents);
    assert_true(a->payment_cents == b->payment_cents);
    assert_int_equal(a->wave, b->wave);
    assert_int_equal(a->n_offers, b->n_offers);
    for (int i = 0; i < a->n_offers; i++) {
        const struct gig_offer *x = &a->offers[i], *y = &b->offers[i];
        assert_string_equal(x->operator, y->operator);
        assert_int_equal(x->state, y->state);
        assert_int_equal(x->wave, y->wave);
        assert_true(conf_same_double(x->distance_m, y->distance_m));
        assert_true(x->offered_at == y->offered_at);
        assert_true(x->expires_at == y->expires_at);
    }
}

/* Stores g and checks that it reads back the same. */
static void conf_create(struct store *st, const struct gig *g)
{
    struct gig got;
    assert_int_equal(store_gig_create(st, g), DROP_OK);
    assert_int_equal(store_gig_get(st, g->id, &got), DROP_OK);
    assert_gig_same(g, &got);
    gig_free(&got);
}

/* CAS g (in place: version + 1) from its current version. */
static void conf_cas(struct store *st, struct gig *g)
{
    int64_t expected = g->version;
    g->version++;
    assert_int_equal(store_gig_cas(st, g, expected), DROP_OK);
}

/* Ends g's timers so that it never shows in another case's sweep: a final
 * state, no deadline, no open offer. */
static void conf_retire(struct store *st, struct gig *g)
{
    g->status = GIG_CANCELLED;
    g->deadline = 0;
    for (int i = 0; i < g->n_offers; i++)
        if (g->offers[i].state == OFFER_OPEN) g->offers[i].state = OFFER_REVOKED;
    conf_cas(st, g);
}

static void test_conf_gig_round_trip(void **state)
{
    struct store *st = *state;
    const int64_t T = conf_time_base();
    struct gig g, min, got;

    conf_full_gig(&g, T);
    conf_create(st, &g);
    /* the same id again */
    assert_int_equal(store_gig_create(st, &g), DROP_ECONFLICT);
    assert_int_equal(store_gig_get(st, g.id, &got), DROP_OK);
    assert_gig_same(&g, &got);
    gig_free(&got);

    /* a minimal gig: no operator, no meta, no offers, zero times */
    char c[DROP_ID_SIZE], ghost[DROP_ID_SIZE];
    oid_new(c);
    oid_new(ghost);
    conf_gig(&min, c, GIG_PENDING_OPERATOR, 0);
    conf_create(st, &min);
    assert_int_equal(store_gig_get(st, min.id, &got), DROP_OK);
    assert_null(got.meta_json);
    assert_string_equal(got.operator, "");
    gig_free(&got);

    assert_int_equal(store_gig_get(st, ghost, &got), DROP_ENOTFOUND);

    /* what cannot be stored exactly is refused, and nothing is stored */
    struct gig badg;
    conf_gig(&badg, c, GIG_PENDING_OPERATOR, T);
    badg.latitude = NAN;
    assert_int_equal(store_gig_create(st, &badg), DROP_EBADREQ);
    assert_int_equal(store_gig_get(st, badg.id, &got), DROP_ENOTFOUND);
    badg.latitude = 1;
    badg.version = 0;
    assert_int_equal(store_gig_create(st, &badg), DROP_EBADREQ);
    assert_int_equal(store_gig_get(st, badg.id, &got), DROP_ENOTFOUND);

    conf_retire(st, &g);
    gig_free(&g);
    gig_free(&min);
    gig_free(&badg);
}

static void test_conf_gig_cas(void **state)
{
    struct store *st = *state;
    const int64_t T = conf_time_base();
    struct gig g, stale, got;
    char c[DROP_ID_SIZE], op[DROP_ID_SIZE];
    oid_new(c);
    oid_new(op);
    conf_gig(&g, c, GIG_PENDING_OPERATOR, T);
    conf_offer(&g, op, OFFER_OPEN, T, T + 15000);
    g.deadline = T + 120000;
    gig_set_meta(&g, "{\"a\":1}");
    conf_create(st, &g);
    gig_copy(&stale, &g);

    /* success: the whole gig is replaced, offers and meta included */
    strcpy(g.operator, op);
    g.status = GIG_OPERATOR_FOUND;
    g.offers[0].state = OFFER_ACCEPTED;
    g.deadline = T + 60000;
    g.updated_at = T + 10;
    gig_set_meta(&g, NULL);
    conf_cas(st, &g);
    assert_true(g.version == 2);
    assert_int_equal(store_gig_get(st, g.id, &got), DROP_OK);
    assert_gig_same(&g, &got);
    gig_free(&got);

    /* conflict: a writer that read version 1 loses, and writes nothing */
    stale.version = 2;
    stale.status = GIG_CANCELLED;
    assert_int_equal(store_gig_cas(st, &stale, 1), DROP_ECONFLICT);
    assert_int_equal(store_gig_get(st, g.id, &got), DROP_OK);
    assert_gig_same(&g, &got);
    gig_free(&got);
    /* a version from the future is a conflict too */
    stale.version = 10;
    assert_int_equal(store_gig_cas(st, &stale, 9), DROP_ECONFLICT);

    /* the next writer from version 2 wins */
    g.status = GIG_OPERATOR_ENROUTE;
    conf_cas(st, &g);
    assert_int_equal(store_gig_get(st, g.id, &got), DROP_OK);
    assert_true(got.version == 3);
    assert_int_equal(got.status, GIG_OPERATOR_ENROUTE);
    gig_free(&got);

    /* not found */
    oid_new(stale.id);
    stale.version = 2;
    assert_int_equal(store_gig_cas(st, &stale, 1), DROP_ENOTFOUND);
    assert_int_equal(store_gig_get(st, stale.id, &got), DROP_ENOTFOUND);

    /* a new version that does not move forward is the caller's bug */
    struct gig same;
    gig_copy(&same, &g);
    assert_int_equal(store_gig_cas(st, &same, same.version), DROP_EBADREQ);
    assert_int_equal(store_gig_get(st, g.id, &got), DROP_OK);
    assert_true(got.version == 3);
    gig_free(&got);
    gig_free(&same);

    conf_retire(st, &g);
    gig_free(&g);
    gig_free(&stale);
}

struct conf_casser {
    struct store *st;
    pthread_barrier_t *go;
    struct gig g; /* the thread's own copy */
    int64_t expected;
    drop_err result;
};

static void *conf_cas_thread(void *arg)
{
    struct conf_casser *c = arg;
    pthread_barrier_wait(c->go);
    c->result = store_gig_cas(c->st, &c->g, c->expected);
    return NULL;
}

static void test_conf_gig_cas_race(void **state)
{
    struct store *st = *state;
    const int64_t T = conf_time_base();
    enum { N = 8, ROUNDS = 5 };
    struct gig g, got;
    char c[DROP_ID_SIZE];
    oid_new(c);
    conf_gig(&g, c, GIG_PENDING_OPERATOR, T);
    for (int i = 0; i < N; i++) {
        char op[DROP_ID_SIZE];
        oid_new(op);
        conf_offer(&g, op, OFFER_OPEN, T, T + 15000);
    }
    conf_create(st, &g);

    struct conf_casser *cs = calloc(N, sizeof *cs);
    for (int round = 0; round < ROUNDS; round++) {
        /* every thread read the same version and accepts its own offer */
        pthread_t th[N];
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, N);
        for (int i = 0; i < N; i++) {
            cs[i].st = st;
            cs[i].go = &go;
            gig_copy(&cs[i].g, &g);
            cs[i].expected = g.version;
            cs[i].g.version = g.version + 1;
            strcpy(cs[i].g.operator, g.offers[i].operator);
            cs[i].g.offers[i].state = OFFER_ACCEPTED;
            cs[i].g.updated_at = T + round * 100 + i;
            cs[i].result = DROP_EINTERNAL;
            pthread_create(&th[i], NULL, conf_cas_thread, &cs[i]);
        }
        int ok = 0, conflict = 0, winner = -1;
        for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
        for (int i = 0; i < N; i++) {
            if (cs[i].result == DROP_OK) {
                ok++;
                winner = i;
            } else if (cs[i].result == DROP_ECONFLICT) {
                conflict++;
            }
        }
        if (ok != 1 || conflict != N - 1)
            fail_msg("round %d: %d winners, %d conflicts", round, ok, conflict);
        /* the stored gig is the winner's, whole */
        assert_int_equal(store_gig_get(st, g.id, &got), DROP_OK);
        assert_gig_same(&cs[winner].g, &got);
        gig_free(&got);
        gig_free(&g);
        gig_copy(&g, &cs[winner].g);
        /* back to open offers for the next round */
        g.operator[0] = '\0';
        g.offers[winner].state = OFFER_OPEN;
        conf_cas(st, &g);
        for (int i = 0; i < N; i++) gig_free(&cs[i].g);
    }
    assert_int_equal(store_gig_get(st, g.id, &got), DROP_OK);
    assert_true(got.version == 1 + 2 * ROUNDS);
    gig_free(&got);
    free(cs);
    conf_retire(st, &g);
    gig_free(&g);
}

/* True when a sorts before b in a listing: created_at, then id, descending. */
static bool conf_newer(const struct gig *a, const struct gig *b)
{
    if (a->created_at != b->created_at) return a->created_at > b->created_at;
    return strcmp(a->id, b->id) > 0;
}

/* The listing arr holds exactly the gigs want[0..nwant) in this order. */
static void assert_ids(const struct gig *arr, size_t n, const struct gig *const *want,
                       size_t nwant)
{
    if (n != nwant) fail_msg("got %zu gigs, want %zu", n, nwant);
    for (size_t i = 0; i < n; i++) {
        const char *w = want[i] ? want[i]->id : "(none)";
        if (strcmp(arr[i].id, w) != 0) fail_msg("gig %zu is %s, want %s", i, arr[i].id, w);
    }
}

static void test_conf_gig_list(void **state)
{
    struct store *st = *state;
    const int64_t T = conf_time_base();
    char C[DROP_ID_SIZE], D[DROP_ID_SIZE], O1[DROP_ID_SIZE], O2[DROP_ID_SIZE];
    oid_new(C);
    oid_new(D);
    oid_new(O1);
    oid_new(O2);
    struct gig g[6];
    conf_gig(&g[0], C, GIG_PENDING_OPERATOR, T);
    conf_gig(&g[1], C, GIG_OPERATOR_FOUND, T + 1000);
    strcpy(g[1].operator, O1);
    conf_gig(&g[2], C, GIG_PURCHASED, T + 2000);
    strcpy(g[2].operator, O1);
    conf_gig(&g[3], C, GIG_CANCELLED, T + 2000); /* same time: id decides */
    conf_gig(&g[4], D, GIG_STREAMING, T + 3000);
    strcpy(g[4].operator, O1);
    conf_gig(&g[5], D, GIG_VOTED, T + 4000);
    strcpy(g[5].operator, O2);
    /* insertion order is not listing order */
    const int order[] = {3, 0, 5, 1, 4, 2};
    for (int i = 0; i < 6; i++) conf_create(st, &g[order[i]]);
    const struct gig *hi = conf_newer(&g[2], &g[3]) ? &g[2] : &g[3];
    const struct gig *lo = hi == &g[2] ? &g[3] : &g[2];

    struct gig *arr = NULL;
    size_t n = 0;
    struct gig_filter f = {.account = C, .limit = 50};
    assert_int_equal(store_gig_list(st, &f, &arr, &n), DROP_OK);
    assert_ids(arr, n, (const struct gig *[]){hi, lo, &g[1], &g[0]}, 4);
    for (size_t i = 0; i < n; i++) { /* whole gigs come back */
        const struct gig *want = strcmp(arr[i].id, g[2].id) == 0 ? &g[2] : NULL;
        if (want) assert_gig_same(want, &arr[i]);
    }
    gig_array_free(arr, n);

    /* as the operator */
    f = (struct gig_filter){.account = O1, .limit = 50};
    assert_int_equal(store_gig_list(st, &f, &arr, &n), DROP_OK);
    assert_ids(arr, n, (const struct gig *[]){&g[4], &g[2], &g[1]}, 3);
    gig_array_free(arr, n);
    f = (struct gig_filter){.account = O2, .limit = 50};
    assert_int_equal(store_gig_list(st, &f, &arr, &n), DROP_OK);
    assert_ids(arr, n, (const struct gig *[]){&g[5]}, 1);
    gig_array_free(arr, n);

    /* status */
    f = (struct gig_filter){.account = C, .has_status = true, .status = GIG_PURCHASED, .limit = 50};
    assert_int_equal(store_gig_list(st, &f, &arr, &n), DROP_OK);
    assert_ids(arr, n, (const struct gig *[]){&g[2]}, 1);
    gig_array_free(arr, n);
    f.status = GIG_PENDING_OPERATOR; /* the enum's 0 is a real filter */
    assert_int_equal(store_gig_list(st, &f, &arr, &n), DROP_OK);
    assert_ids(arr, n, (const struct gig *[]){&g[0]}, 1);
    gig_array_free(arr, n);
    f.status = GIG_EXPIRED;
    assert_int_equal(store_gig_list(st, &f, &arr, &n), DROP_OK);
    assert_int_equal(n, 0);
    gig_array_free(arr, n);

    /* before (strict) and limit: the pages of a listing */
    f = (struct gig_filter){.account = C, .before = T + 2000, .limit = 50};
    assert_int_equal(store_gig_list(st, &f, &arr, &n), DROP_OK);
    assert_ids(arr, n, (const struct gig *[]){&g[1], &g[0]}, 2);
    gig_array_free(arr, n);
    f = (struct gig_filter){.account = C, .limit = 3};
    assert_int_equal(store_gig_list(st, &f, &arr, &n), DROP_OK);
    assert_ids(arr, n, (const struct gig *[]){hi, lo, &g[1]}, 3);
    gig_array_free(arr, n);
    f = (struct gig_filter){.account = O1, .limit = 1, .before = T + 3000};
    assert_int_equal(store_gig_list(st, &f, &arr, &n), DROP_OK);
    assert_ids(arr, n, (const struct gig *[]){&g[2]}, 1);
    gig_array_free(arr, n);

    /* any account (admin): this case's window of time holds only its gigs */
    f = (struct gig_filter){.before = T + 4001, .limit = 6};
    assert_int_equal(store_gig_list(st, &f, &arr, &n), DROP_OK);
    assert_ids(arr, n, (const struct gig *[]){&g[5], &g[4], hi, lo, &g[1], &g[0]}, 6);
    gig_array_free(arr, n);
    f = (struct gig_filter){.before = T + 4001, .has_status = true, .status = GIG_STREAMING,
                            .limit = 1};
    assert_int_equal(store_gig_list(st, &f, &arr, &n), DROP_OK);
    assert_ids(arr, n, (const struct gig *[]){&g[4]}, 1);
    gig_array_free(arr, n);
    f = (struct gig_filter){.limit = GIG_LIST_MAX};
    assert_int_equal(store_gig_list(st, &f, &arr, &n), DROP_OK);
    assert_true(n >= 6 && n <= GIG_LIST_MAX);
    for (size_t i = 1; i < n; i++) assert_true(conf_newer(&arr[i - 1], &arr[i]));
    gig_array_free(arr, n);

    /* a stranger has none; bad limits are refused */
    char X[DROP_ID_SIZE];
    oid_new(X);
    f = (struct gig_filter){.account = X, .limit = 50};
    assert_int_equal(store_gig_list(st, &f, &arr, &n), DROP_OK);
    assert_int_equal(n, 0);
    gig_array_free(arr, n);
    f.limit = 0;
    assert_int_equal(store_gig_list(st, &f, &arr, &n), DROP_EBADREQ);
    f.limit = GIG_LIST_MAX + 1;
    assert_int_equal(store_gig_list(st, &f, &arr, &n), DROP_EBADREQ);
    for (int i = 0; i < 6; i++) gig_free(&g[i]);
}

/* The ids of arr are exactly want (any order given; checked against the
 * listing order: newest first). */
static void assert_for_account(struct store *st, const char *account, struct gig *const *want,
                               size_t nwant)
{
    struct gig *arr = NULL;
    size_t n = 0;
    const struct gig *sorted[16] = {0};
    assert_true(nwant <= 16);
    for (size_t i = 0; i < nwant; i++) {
        size_t j = i;
        while (j > 0 && conf_newer(want[i], sorted[j - 1])) {
            sorted[j] = sorted[j - 1];
            j--;
        }
        sorted[j] = want[i];
    }
    assert_int_equal(store_gig_for_account(st, account, &arr, &n), DROP_OK);
    assert_ids(arr, n, sorted, nwant);
    gig_array_free(arr, n);
}

static void test_conf_gig_for_account(void **state)
{
    struct store *st = *state;
    const int64_t T = conf_time_base();
    char A[DROP_ID_SIZE], X[DROP_ID_SIZE], P[DROP_ID_SIZE];
    oid_new(A);
    oid_new(X);
    oid_new(P);
    enum { N = 10 };
    struct gig g[N];
    /* A as the customer: live and purchased count, the rest does not */
    conf_gig(&g[0], A, GIG_PENDING_OPERATOR, T + 0);
    conf_gig(&g[1], A, GIG_PURCHASED, T + 1);
    strcpy(g[1].operator, X);
    conf_gig(&g[2], A, GIG_VOTED, T + 2);
    conf_gig(&g[3], A, GIG_CANCELLED, T + 3);
    /* A as the operator */
    conf_gig(&g[4], X, GIG_STREAMING, T + 4);
    strcpy(g[4].operator, A);
    conf_gig(&g[5], X, GIG_COMPENSATED, T + 5);
    strcpy(g[5].operator, A);
    /* A offered: only an open offer on a pending gig counts */
    conf_gig(&g[6], X, GIG_PENDING_OPERATOR, T + 6);
    conf_offer(&g[6], P, OFFER_REJECTED, T, T + 15000);
    conf_offer(&g[6], A, OFFER_OPEN, T + 6, T + 15006);
    conf_gig(&g[7], X, GIG_PENDING_OPERATOR, T + 7);
    conf_offer(&g[7], A, OFFER_REJECTED, T + 7, T + 15007);
    conf_offer(&g[7], P, OFFER_OPEN, T + 7, T + 15007);
    conf_gig(&g[8], X, GIG_PENDING_OPERATOR, T + 8);
    conf_offer(&g[8], A, OFFER_EXPIRED, T + 8, T + 15008);
    conf_gig(&g[9], X, GIG_OPERATOR_FOUND, T + 9);
    strcpy(g[9].operator, P);
    conf_offer(&g[9], A, OFFER_OPEN, T + 9, T + 15009);
    for (int i = 0; i < N; i++) conf_create(st, &g[i]);

    assert_for_account(st, A, (struct gig *const[]){&g[0], &g[1], &g[4], &g[6]}, 4);
    /* the other parties see theirs */
    assert_for_account(st, P, (struct gig *const[]){&g[7], &g[9]}, 2);
    /* X: the operator of g1 (purchased), the customer of g4 and g6..g9 (live) */
    assert_for_account(st, X, (struct gig *const[]){&g[1], &g[4], &g[6], &g[7], &g[8], &g[9]},
                       6);

    /* offers move with the gig's writes: revoked on g6, reopened on g7 */
    g[6].offers[1].state = OFFER_REVOKED;
    conf_cas(st, &g[6]);
    g[7].offers[0].state = OFFER_OPEN;
    conf_cas(st, &g[7]);
    assert_for_account(st, A, (struct gig *const[]){&g[0], &g[1], &g[4], &g[7]}, 4);
    /* a gig that leaves the live states leaves the list */
    g[4].status = GIG_PURCHASED;
    conf_cas(st, &g[4]);
    g[0].status = GIG_EXPIRED;
    conf_cas(st, &g[0]);
    assert_for_account(st, A, (struct gig *const[]){&g[1], &g[4], &g[7]}, 3);

    char nobody[DROP_ID_SIZE];
    oid_new(nobody);
    assert_for_account(st, nobody, NULL, 0);
    for (int i = 0; i < N; i++) {
        conf_retire(st, &g[i]);
        gig_free(&g[i]);
    }
}

/* The sweep at now: results sorted by next timer, all due, and mine (the
 * gigs of this case) among them exactly want, in this order. Foreign due
 * gigs (a shared database) are tolerated but must sort right. */
static void assert_due(struct store *st, int64_t now, int limit, struct gig *const *mine,
                       size_t nmine, struct gig *const *want, size_t nwant)
{
    struct gig *arr = NULL;
    size_t n = 0, k = 0;
    assert_int_equal(store_gig_due(st, now, limit, &arr, &n), DROP_OK);
    assert_true(n <= (size_t)limit);
    for (size_t i = 0; i < n; i++) {
        int64_t t = gig_next_timer(&arr[i]);
        assert_true(t > 0 && t <= now);
        if (i > 0) assert_true(gig_next_timer(&arr[i - 1]) <= t);
        bool is_mine = false, wanted = false;
        for (size_t m = 0; m < nmine; m++) is_mine |= strcmp(arr[i].id, mine[m]->id) == 0;
        if (!is_mine) continue;
        for (size_t w = 0; w < nwant; w++) wanted |= strcmp(arr[i].id, want[w]->id) == 0;
        if (!wanted || k >= nwant) fail_msg("unexpected due gig %s", arr[i].id);
        /* in want's order, except that equal timers may come in either order */
        if (gig_next_timer(&arr[i]) != gig_next_timer(want[k]))
            fail_msg("due gig %zu is %s, want %s", k, arr[i].id, want[k]->id);
        k++;
    }
    if (k != nwant) fail_msg("%zu of this case's gigs due, want %zu", k, nwant);
    gig_array_free(arr, n);
}

static void test_conf_gig_due(void **state)
{
    struct store *st = *state;
    const int64_t T = conf_time_base();
    char C[DROP_ID_SIZE], P[DROP_ID_SIZE], Q[DROP_ID_SIZE];
    oid_new(C);
    oid_new(P);
    oid_new(Q);
    enum { N = 6 };
    struct gig g[N];
    conf_gig(&g[0], C, GIG_OPERATOR_FOUND, T); /* deadline only */
    g[0].deadline = T + 100;
    conf_gig(&g[1], C, GIG_PENDING_OPERATOR, T); /* an open offer is earliest */
    g[1].deadline = T + 120000;
    conf_offer(&g[1], P, OFFER_REJECTED, T, T + 10); /* not open: no timer */
    conf_offer(&g[1], Q, OFFER_OPEN, T, T + 50);
    conf_gig(&g[2], C, GIG_PENDING_OPERATOR, T); /* offer later than the deadline */
    g[2].deadline = T + 300;
    conf_offer(&g[2], P, OFFER_OPEN, T, T + 400);
    conf_gig(&g[3], C, GIG_PURCHASED, T); /* no timer at all */
    conf_offer(&g[3], P, OFFER_EXPIRED, T, T + 5);
    conf_gig(&g[4], C, GIG_HANDSHAKING, T); /* same time as g0 */
    g[4].deadline = T + 100;
    conf_gig(&g[5], C, GIG_STREAMING, T); /* far away */
    g[5].deadline = T + 900000;
    for (int i = 0; i < N; i++) conf_create(st, &g[i]);
    struct gig *const mine[N] = {&g[0], &g[1], &g[2], &g[3], &g[4], &g[5]};

    assert_due(st, T + 49, GIG_LIST_MAX, mine, N, NULL, 0);
    assert_due(st, T + 50, GIG_LIST_MAX, mine, N, (struct gig *const[]){&g[1]}, 1);
    assert_due(st, T + 100, GIG_LIST_MAX, mine, N, (struct gig *const[]){&g[1], &g[0], &g[4]},
               3);
    assert_due(st, T + 899999, GIG_LIST_MAX, mine, N,
               (struct gig *const[]){&g[1], &g[0], &g[4], &g[2]}, 4);
    assert_due(st, T + 900000, GIG_LIST_MAX, mine, N,
               (struct gig *const[]){&g[1], &g[0], &g[4], &g[2], &g[5]}, 5);

    /* limit: the earliest come first */
    struct gig *arr = NULL;
    size_t n = 0;
    assert_int_equal(store_gig_due(st, T + 900000, 2, &arr, &n), DROP_OK);
    assert_int_equal(n, 2);
    assert_true(gig_next_timer(&arr[1]) <= T + 100);
    gig_array_free(arr, n);
    assert_int_equal(store_gig_due(st, T, 0, &arr, &n), DROP_EBADREQ);
    assert_int_equal(store_gig_due(st, T, GIG_LIST_MAX + 1, &arr, &n), DROP_EBADREQ);

    /* the timer moves with every write */
    g[1].offers[1].state = OFFER_EXPIRED; /* now the deadline, T + 120000 */
    conf_cas(st, &g[1]);
    g[0].deadline = 0;
    conf_cas(st, &g[0]);
    assert_due(st, T + 100, GIG_LIST_MAX, mine, N, (struct gig *const[]){&g[4]}, 1);
    assert_due(st, T + 120000, GIG_LIST_MAX, mine, N,
               (struct gig *const[]){&g[4], &g[2], &g[1]}, 3);
    for (int i = 0; i < N; i++) {
        conf_retire(st, &g[i]);
        gig_free(&g[i]);
    }
    assert_due(st, T + 900000, GIG_LIST_MAX, mine, N, NULL, 0);
}

static bool conf_unrated(struct store *st, const char *account)
{
    bool v = true;
    assert_int_equal(store_gig_unrated(st, account, &v), DROP_OK);
    bool w = !v; /* the out value is written, whatever it held */
    assert_int_equal(store_gig_unrated(st, account, &w), DROP_OK);
    assert_int_equal(v, w);
    return v;
}

static void test_conf_gig_unrated(void **state)
{
    struct store *st = *state;
    const int64_t T = conf_time_base();
    char C[DROP_ID_SIZE], O[DROP_ID_SIZE], X[DROP_ID_SIZE];
    oid_new(C);
    oid_new(O);
    oid_new(X);
    struct gig live, voted, p;
    /* not locked by live or voted gigs */
    conf_gig(&live, C, GIG_STREAMING, T);
    strcpy(live.operator, O);
    conf_gig(&voted, C, GIG_VOTED, T + 1);
    strcpy(voted.operator, O);
    conf_create(st, &live);
    conf_create(st, &voted);
    assert_false(conf_unrated(st, C));
    assert_false(conf_unrated(st, O));

    /* purchased, nobody rated: both locked */
    conf_gig(&p, C, GIG_PURCHASED, T + 2);
    strcpy(p.operator, O);
    conf_create(st, &p);
    assert_true(conf_unrated(st, C));
    assert_true(conf_unrated(st, O));
    assert_false(conf_unrated(st, X));
    /* the customer rated the operator: the customer is free */
    p.operator_rating = 4;
    conf_cas(st, &p);
    assert_false(conf_unrated(st, C));
    assert_true(conf_unrated(st, O));
    /* the operator rated the customer too */
    p.customer_rating = 2;
    conf_cas(st, &p);
    assert_false(conf_unrated(st, C));
    assert_false(conf_unrated(st, O));
    /* only the operator rated: only the customer is locked */
    struct gig q;
    conf_gig(&q, C, GIG_PURCHASED, T + 3);
    strcpy(q.operator, O);
    q.customer_rating = 5;
    conf_create(st, &q);
    assert_true(conf_unrated(st, C));
    assert_false(conf_unrated(st, O));
    gig_free(&live);
    gig_free(&voted);
    gig_free(&p);
    gig_free(&q);
}

/* Values at the edges of their types come back bit for bit, through create
 * and through a CAS. */
static void test_conf_numbers_exact(void **state)
{
    struct store *st = *state;
    const struct {
        double lat, lon, dist;
        int64_t t;
    } cases[] = {
        {-90.0, -180.0, 0.0, 0},
        {90.0, 180.0, 1e308, 1},
        {-0.0, -0.0, 4.9406564584124654e-324, 9007199254740993LL},     /* 2^53 + 1 */
        {1.0 / 3.0, -2.0 / 3.0, 0.1, 4611686018427387903LL},             /* 2^62 - 1 */
        {4.9406564584124654e-324, 2.2250738585072014e-308, 1e-7, 1460430612477LL},
        {45.0, 100.0, 12345678.9, INT64_MAX},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct gig g, got;
        char c[DROP_ID_SIZE], op[DROP_ID_SIZE];
        oid_new(c);
        oid_new(op);
        conf_gig(&g, c, GIG_VOTED, cases[i].t);
        g.latitude = cases[i].lat;
        g.longitude = cases[i].lon;
        g.updated_at = cases[i].t;
        g.started_at = cases[i].t;
        g.ended_at = cases[i].t;
        g.duration_s = cases[i].t;
        g.amount_cents = cases[i].t;
        g.payment_cents = cases[i].t;
        g.version = cases[i].t > 1 ? cases[i].t / 2 : 1;
        conf_offer(&g, op, OFFER_ACCEPTED, cases[i].t, cases[i].t);
        g.offers[0].distance_m = cases[i].dist;
        conf_create(st, &g);
        g.latitude = cases[i].lon / 2;
        g.longitude = cases[i].lat * 2;
        conf_cas(st, &g);
        assert_int_equal(store_gig_get(st, g.id, &got), DROP_OK);
        assert_gig_same(&g, &got);
        gig_free(&got);
        gig_free(&g);
    }

    /* account and token times too */
    char tag[17];
    struct account a, got;
    struct store_token t, tg;
    conf_tag(tag);
    conf_account(&a, "user", tag, "num", false, 9007199254740993LL);
    assert_int_equal(store_account_create(st, &a, CONF_HASH), DROP_OK);
    assert_int_equal(store_account_get(st, a.id, &got), DROP_OK);
    assert_true(got.created_at == 9007199254740993LL);
    assert_true(got.identities[0].updated_at == 9007199254740993LL);
    account_free(&got);
    conf_token(&t, a.id, 9007199254740993LL, INT64_MAX);
    assert_int_equal(store_token_put(st, &t), DROP_OK);
    assert_int_equal(store_token_lookup(st, t.hash, INT64_MAX - 1, &tg), DROP_OK);
    assert_token_same(&t, &tg);
    account_free(&a);
}

/* ---- inbox -------------------------------------------------------------- */

static void conf_message(struct message *m, const char *from, const char *to, const char *text,
                         int64_t at)
{
    memset(m, 0, sizeof *m);
    oid_new(m->id);
    snprintf(m->from, sizeof m->from, "%s", from);
    snprintf(m->to, sizeof m->to, "%s", to);
    m->text = strdup(text);
    m->created_at = at;
}

static void assert_message_same(const struct message *a, const struct message *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->from, b->from);
    assert_string_equal(a->to, b->to);
    assert_string_equal(a->text, b->text);
    assert_true(a->created_at == b->created_at);
    assert_true(a->read_at == b->read_at);
}

static int64_t conf_unread(struct store *st, const char *to)
{
    int64_t n = -1;
    assert_int_equal(store_message_unread(st, to, &n), DROP_OK);
    return n;
}

static void test_conf_inbox(void **state)
{
    struct store *st = *state;
    const int64_t T = conf_time_base();
    char a[DROP_ID_SIZE], b[DROP_ID_SIZE], c[DROP_ID_SIZE], nobody[DROP_ID_SIZE];
    struct message m[4], bad, *arr = NULL;
    size_t n = 99;
    char big[INBOX_TEXT_MAX + 2];
    oid_new(a);
    oid_new(b);
    oid_new(c);
    oid_new(nobody);
    memset(big, 'x', sizeof big);
    big[INBOX_TEXT_MAX] = '\0';

    conf_message(&m[0], a, b, "hello \xc3\xa9t\xc3\xa9 \"quoted\"\n\xf0\x9f\x98\x80", T + 1);
    conf_message(&m[1], a, b, big, T + 2);
    conf_message(&m[2], c, b, "third", T + 3);
    conf_message(&m[3], a, c, "to c", T + 3);
    for (int i = 0; i < 4; i++) assert_int_equal(store_message_create(st, &m[i]), DROP_OK);
    assert_int_equal(store_message_create(st, &m[0]), DROP_ECONFLICT);
    big[INBOX_TEXT_MAX] = 'x';
    big[INBOX_TEXT_MAX + 1] = '\0';
    conf_message(&bad, a, b, big, T + 4);
    assert_int_equal(store_message_create(st, &bad), DROP_EBADREQ);
    free(bad.text);
    conf_message(&bad, a, b, "", T + 4);
    assert_int_equal(store_message_create(st, &bad), DROP_EBADREQ);
    free(bad.text);

    /* newest first, exact */
    assert_int_equal(store_message_list(st, b, 0, 10, &arr, &n), DROP_OK);
    assert_int_equal(n, 3);
    assert_message_same(&arr[0], &m[2]);
    assert_message_same(&arr[1], &m[1]);
    assert_message_same(&arr[2], &m[0]);
    message_array_free(arr, n);
    assert_int_equal(store_message_list(st, b, T + 3, 10, &arr, &n), DROP_OK);
    assert_int_equal(n, 2);
    assert_string_equal(arr[0].id, m[1].id);
    message_array_free(arr, n);
    assert_int_equal(store_message_list(st, b, 0, 1, &arr, &n), DROP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(arr[0].id, m[2].id);
    message_array_free(arr, n);
    assert_int_equal(store_message_list(st, nobody, 0, 10, &arr, &n), DROP_OK);
    assert_int_equal(n, 0);
    assert_null(arr);
    assert_int_equal(store_message_list(st, b, 0, 0, &arr, &n), DROP_EBADREQ);
    assert_int_equal(store_message_list(st, b, 0, INBOX_LIST_MAX + 1, &arr, &n), DROP_EBADREQ);

    /* unread counts and marking read: only the recipient's own */
    assert_int_equal(conf_unread(st, b), 3);
    assert_int_equal(conf_unread(st, c), 1);
    assert_int_equal(conf_unread(st, a), 0);
    char w[3][DROP_ID_SIZE];
    const char(*ids)[DROP_ID_SIZE] = (const char(*)[DROP_ID_SIZE])w;
    snprintf(w[0], DROP_ID_SIZE, "%s", m[0].id);
    snprintf(w[1], DROP_ID_SIZE, "%s", m[3].id); /* c's: ignored */
    snprintf(w[2], DROP_ID_SIZE, "%s", nobody);  /* unknown: ignored */
    assert_int_equal(store_message_mark_read(st, b, ids, 3, T + 10), DROP_OK);
    assert_int_equal(conf_unread(st, b), 2);
    assert_int_equal(conf_unread(st, c), 1);
    assert_int_equal(store_message_mark_read(st, b, ids, 1, T + 20), DROP_OK); /* stays T+10 */
    assert_int_equal(store_message_mark_read(st, b, ids, INBOX_READ_MAX + 1, T), DROP_EBADREQ);
    assert_int_equal(store_message_list(st, b, 0, 10, &arr, &n), DROP_OK);
    assert_int_equal(n, 3);
    m[0].read_at = T + 10;
    assert_message_same(&arr[2], &m[0]);
    assert_true(arr[0].read_at == 0 && arr[1].read_at == 0);
    message_array_free(arr, n);
    assert_int_equal(store_message_list(st, c, 0, 10, &arr, &n), DROP_OK);
    assert_int_equal(n, 1);
    assert_true(arr[0].read_at == 0);
    message_array_free(arr, n);
    for (int i = 0; i < 4; i++) message_free(&m[i]);
}

/* ---- jobs --------------------------------------------------------------- */

static void conf_job(struct job *j, const char *client, const char *worker, const char *title,
                     int64_t at)
{
    job_init(j);
    oid_new(j->id);
    j->title = strdup(title);
    j->description = strdup("d\xc3\xa9scription \"q\"\n");
    snprintf(j->client, sizeof j->client, "%s", client);
    snprintf(j->worker, sizeof j->worker, "%s", worker);
    j->created_at = at;
    j->version = 1;
    job_set_status(j, JOB_REQUESTED, at, client);
}

static void assert_job_same(const struct job *a, const struct job *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->title, b->title);
    assert_string_equal(a->description, b->description);
    assert_string_equal(a->client, b->client);
    assert_string_equal(a->worker, b->worker);
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->n_log, b->n_log);
    for (int i = 0; i < a->n_log; i++) {
        assert_int_equal(a->log[i].status, b->log[i].status);
        assert_true(a->log[i].at == b->log[i].at);
        assert_string_equal(a->log[i].by, b->log[i].by);
    }
    assert_true(a->created_at == b->created_at);
    assert_true(a->updated_at == b->updated_at);
    assert_true(a->version == b->version);
}

static void assert_job_ids(struct store *st, const struct job_filter *f,
                           const struct job *const *want, size_t nwant)
{
    struct job *arr = NULL;
    size_t n = 99;
    assert_int_equal(store_job_list(st, f, &arr, &n), DROP_OK);
    assert_int_equal(n, nwant);
    for (size_t i = 0; i < n; i++) assert_string_equal(arr[i].id, want[i]->id);
    if (n) assert_job_same(&arr[0], want[0]);
    job_array_free(arr, n);
}

static void test_conf_jobs(void **state)
{
    struct store *st = *state;
    const int64_t T = conf_time_base();
    char a[DROP_ID_SIZE], b[DROP_ID_SIZE], c[DROP_ID_SIZE], nobody[DROP_ID_SIZE];
    struct job j1, j2, j3, got, next;
    oid_new(a);
    oid_new(b);
    oid_new(c);
    oid_new(nobody);
    conf_job(&j1, a, b, "Paint the \xc3\xa9 fence", T + 1);
    conf_job(&j2, b, a, "Fix a tap", T + 2);
    conf_job(&j3, a, c, "Walk the dog", T + 3);
    assert_int_equal(store_job_create(st, &j1), DROP_OK);
    assert_int_equal(store_job_create(st, &j2), DROP_OK);
    assert_int_equal(store_job_create(st, &j3), DROP_OK);
    assert_int_equal(store_job_create(st, &j1), DROP_ECONFLICT);
    assert_int_equal(store_job_get(st, j1.id, &got), DROP_OK);
    assert_job_same(&got, &j1);
    job_free(&got);
    assert_int_equal(store_job_get(st, nobody, &got), DROP_ENOTFOUND);

    /* compare-and-set on the version */
    job_copy(&next, &j1);
    job_set_status(&next, JOB_ACCEPTED, T + 5, b);
    next.version = 2;
    assert_int_equal(store_job_cas(st, &next, 1), DROP_OK);
    assert_int_equal(store_job_cas(st, &next, 1), DROP_ECONFLICT);
    next.version = 2;
    assert_int_equal(store_job_cas(st, &next, 2), DROP_EBADREQ); /* does not move on */
    assert_int_equal(store_job_get(st, j1.id, &got), DROP_OK);
    assert_job_same(&got, &next);
    assert_int_equal(got.status, JOB_ACCEPTED);
    job_free(&got);
    job_free(&j1);
    job_copy(&j1, &next);
    job_free(&next);
    job_copy(&next, &j2);
    snprintf(next.id, sizeof next.id, "%s", nobody);
    next.version = 2;
    assert_int_equal(store_job_cas(st, &next, 1), DROP_ENOTFOUND);
    job_free(&next);

    /* a full status log, with an admin entry (no account) */
    job_copy(&next, &j3);
    for (int i = 0; i < JOB_LOG_MAX + 5; i++)
        job_set_status(&next, (enum job_status)(i % JOB_STATUS__COUNT), T + 10 + i,
                       i == 7 ? "" : c);
    next.version = 2;
    assert_int_equal(next.n_log, JOB_LOG_MAX);
    assert_int_equal(store_job_cas(st, &next, 1), DROP_OK);
    assert_int_equal(store_job_get(st, j3.id, &got), DROP_OK);
    assert_job_same(&got, &next);
    job_free(&got);
    job_free(&j3);
    j3 = next;

    /* listings: newest first, by role, status, before, limit */
    struct job_filter f = {.account = a, .limit = 10};
    assert_job_ids(st, &f, (const struct job *const[]){&j3, &j2, &j1}, 3);
    f.role = JOB_ROLE_CLIENT;
    assert_job_ids(st, &f, (const struct job *const[]){&j3, &j1}, 2);
    f.role = JOB_ROLE_WORKER;
    assert_job_ids(st, &f, (const struct job *const[]){&j2}, 1);
    f.role = JOB_ROLE_ANY;
    f.has_status = true;
    f.status = JOB_ACCEPTED;
    assert_job_ids(st, &f, (const struct job *const[]){&j1}, 1);
    f.has_status = false;
    f.before = T + 3;
    assert_job_ids(st, &f, (const struct job *const[]){&j2, &j1}, 2);
    f.before = 0;
    f.limit = 1;
    assert_job_ids(st, &f, (const struct job *const[]){&j3}, 1);
    f.account = nobody;
    assert_job_ids(st, &f, NULL, 0);
    struct job *arr = NULL;
    size_t n = 0;
    f.limit = 0;
    assert_int_equal(store_job_list(st, &f, &arr, &n), DROP_EBADREQ);
    f.limit = JOB_LIST_MAX + 1;
    assert_int_equal(store_job_list(st, &f, &arr, &n), DROP_EBADREQ);
    job_free(&j1);
    job_free(&j2);
    job_free(&j3);
}

/* ---- identity codes (issue 15) --------------------------------------------- */

static void conf_code(struct store_code *c, const char *identity, const char *account, int64_t T)
{
    memset(c, 0, sizeof *c);
    snprintf(c->identity, sizeof c->identity, "%s", identity);
    snprintf(c->account, sizeof c->account, "%s", account);
    strcpy(c->purpose, "login");
    c->live = true;
    for (int i = 0; i < STORE_CODE_HASH_LEN; i++) c->hash[i] = (unsigned char)(i * 7 + 1);
    for (int i = 0; i < STORE_CODE_SALT_LEN; i++) c->salt[i] = (unsigned char)(0xf0 - i);
    c->expires_at = T + 600000;
    c->sent_at = c->window_start = T;
    c->sends = 1;
    c->version = 1;
}

struct conf_code_casser {
    struct store *st;
    pthread_barrier_t *go;
    struct store_code c;
    drop_err result;
};

static void *conf_code_thread(void *arg)
{
    struct conf_code_casser *k = arg;
    pthread_barrier_wait(k->go);
    k->result = store_code_cas(k->st, &k->c, k->c.version - 1);
    return NULL;
}

static void test_conf_codes(void **state)
{
    struct store *st = *state;
    const int64_t T = conf_time_base();
    enum { N = 8 };
    char tag[17];
    struct account a, got;
    struct store_code c, r;
    char *hash = NULL;
    conf_tag(tag);
    conf_account(&a, "user", tag, "codes", true, T);
    assert_int_equal(store_account_create(st, &a, ""), DROP_OK); /* no password */

    assert_int_equal(store_code_get(st, a.identities[0].value, &r), DROP_ENOTFOUND);
    conf_code(&c, a.identities[0].value, a.id, T);
    assert_int_equal(store_code_cas(st, &c, 0), DROP_OK);
    assert_int_equal(store_code_cas(st, &c, 0), DROP_ECONFLICT); /* one record per identity */
    assert_int_equal(store_code_get(st, a.identities[0].value, &r), DROP_OK);
    assert_string_equal(r.identity, c.identity);
    assert_string_equal(r.account, a.id);
    assert_string_equal(r.purpose, "login");
    assert_true(r.live);
    assert_memory_equal(r.hash, c.hash, STORE_CODE_HASH_LEN);
    assert_memory_equal(r.salt, c.salt, STORE_CODE_SALT_LEN);
    assert_true(r.expires_at == T + 600000 && r.sent_at == T && r.window_start == T);
    assert_true(r.sends == 1 && r.attempts == 0 && r.version == 1);

    /* a stale version loses; a version that does not move on is refused */
    c.attempts = 1;
    c.version = 2;
    assert_int_equal(store_code_cas(st, &c, 1), DROP_OK);
    c.version = 3;
    assert_int_equal(store_code_cas(st, &c, 1), DROP_ECONFLICT);
    c.version = 2;
    assert_int_equal(store_code_cas(st, &c, 2), DROP_EBADREQ);
    assert_int_equal(store_code_get(st, a.identities[0].value, &r), DROP_OK);
    assert_true(r.attempts == 1 && r.version == 2);

    /* eight writers from one version: exactly one wins */
    struct conf_code_casser k[N];
    pthread_t th[N];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N);
    for (int i = 0; i < N; i++) {
        k[i].st = st;
        k[i].go = &go;
        k[i].c = r;
        k[i].c.version = 3;
        k[i].c.attempts = 10 + i;
        k[i].result = DROP_EINTERNAL;
        pthread_create(&th[i], NULL, conf_code_thread, &k[i]);
    }
    int ok = 0, winner = -1;
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < N; i++) {
        if (k[i].result == DROP_OK) {
            ok++;
            winner = i;
        } else {
            assert_int_equal(k[i].result, DROP_ECONFLICT);
        }
    }
    assert_int_equal(ok, 1);
    assert_int_equal(store_code_get(st, a.identities[0].value, &r), DROP_OK);
    assert_true(r.version == 3 && r.attempts == 10 + winner);

    /* what codes change on the account */
    assert_int_equal(store_identity_verify(st, a.id, a.identities[1].value, T + 5), DROP_OK);
    assert_int_equal(store_identity_verify(st, a.id, "nobody@conf.example", T + 5), DROP_ENOTFOUND);
    assert_int_equal(store_password_set(st, a.id, CONF_HASH, T + 6), DROP_OK);
    assert_int_equal(store_account_type_set(st, a.id, "admin", T + 7), DROP_OK);
    assert_int_equal(store_account_by_identity(st, a.identities[0].value, &got, &hash), DROP_OK);
    assert_string_equal(hash, CONF_HASH);
    assert_string_equal(got.type, "admin");
    assert_string_equal(got.identities[0].status, "unverified");
    assert_string_equal(got.identities[1].status, "verified");
    assert_true(got.identities[1].updated_at == T + 5);
    free(hash);
    account_free(&got);
    char nobody[DROP_ID_SIZE];
    oid_new(nobody);
    assert_int_equal(store_password_set(st, nobody, CONF_HASH, T), DROP_ENOTFOUND);
    assert_int_equal(store_account_type_set(st, nobody, "user", T), DROP_ENOTFOUND);
    account_free(&a);
}

/* ---- operator exclusivity ------------------------------------------------- */

static void test_conf_operator_lock(void **state)
{
    struct store *st = *state;
    struct store_operator_lock l, got;
    char op[DROP_ID_SIZE], g1[DROP_ID_SIZE], g2[DROP_ID_SIZE];
    oid_new(op);
    oid_new(g1);
    oid_new(g2);

    assert_int_equal(store_operator_lock_get(st, op, &got), DROP_ENOTFOUND);
    /* the first record is an insert (expected version 0) */
    memset(&l, 0, sizeof l);
    strcpy(l.operator, op);
    strcpy(l.gig, g1);
    l.version = 1;
    assert_int_equal(store_operator_lock_cas(st, &l, 0), DROP_OK);
    assert_int_equal(store_operator_lock_get(st, op, &got), DROP_OK);
    assert_string_equal(got.operator, op);
    assert_string_equal(got.gig, g1);
    assert_true(got.version == 1);
    /* a second insert loses */
    strcpy(l.gig, g2);
    assert_int_equal(store_operator_lock_cas(st, &l, 0), DROP_ECONFLICT);
    /* CAS from the stored version wins, from another one loses */
    l.version = 2;
    assert_int_equal(store_operator_lock_cas(st, &l, 1), DROP_OK);
    l.gig[0] = '\0';
    l.version = 3;
    assert_int_equal(store_operator_lock_cas(st, &l, 1), DROP_ECONFLICT);
    assert_int_equal(store_operator_lock_get(st, op, &got), DROP_OK);
    assert_string_equal(got.gig, g2);
    assert_true(got.version == 2);
    /* to no gig */
    assert_int_equal(store_operator_lock_cas(st, &l, 2), DROP_OK);
    assert_int_equal(store_operator_lock_get(st, op, &got), DROP_OK);
    assert_string_equal(got.gig, "");
    assert_true(got.version == 3);
    /* the caller's bugs, and no record */
    l.version = 3;
    assert_int_equal(store_operator_lock_cas(st, &l, 3), DROP_EBADREQ);
    strcpy(l.gig, "not-an-id");
    l.version = 4;
    assert_int_equal(store_operator_lock_cas(st, &l, 3), DROP_EBADREQ);
    assert_int_equal(store_operator_lock_get(st, op, &got), DROP_OK);
    assert_true(got.version == 3);
    oid_new(l.operator);
    l.gig[0] = '\0';
    assert_int_equal(store_operator_lock_cas(st, &l, 3), DROP_ENOTFOUND);
    assert_int_equal(store_operator_lock_get(st, l.operator, &got), DROP_ENOTFOUND);
}

/* A pendingOperator gig offering op (an open offer) and another operator. */
static void conf_offered_gig(struct store *st, struct gig *g, const char *op, int64_t T)
{
    char c[DROP_ID_SIZE], other[DROP_ID_SIZE];
    oid_new(c);
    oid_new(other);
    conf_gig(g, c, GIG_PENDING_OPERATOR, T);
    conf_offer(g, op, OFFER_OPEN, T, T + 15000);
    conf_offer(g, other, OFFER_OPEN, T, T + 15000);
    g->deadline = T + 120000;
    conf_create(st, g);
}

/* g's offer i accepted: operatorFound with that operator. */
static void conf_accept(struct store *st, struct gig *g, int i)
{
    strcpy(g->operator, g->offers[i].operator);
    g->offers[i].state = OFFER_ACCEPTED;
    for (int k = 0; k < g->n_offers; k++)
        if (g->offers[k].state == OFFER_OPEN) g->offers[k].state = OFFER_REVOKED;
    g->status = GIG_OPERATOR_FOUND;
    conf_cas(st, g);
}

static void test_conf_operator_reserve(void **state)
{
    struct store *st = *state;
    const int64_t T = conf_time_base();
    struct gig g1, g2, g3, g4;
    struct store_operator_lock got;
    char op[DROP_ID_SIZE];
    int64_t t1 = 0, t2 = 0, t3 = 0, t4 = 0, tx = 0;
    oid_new(op);
    conf_offered_gig(st, &g1, op, T);
    conf_offered_gig(st, &g2, op, T + 1);
    conf_offered_gig(st, &g3, op, T + 2);
    conf_offered_gig(st, &g4, op, T + 3);

    /* free: the first reservation wins */
    assert_int_equal(store_operator_reserve(st, op, g1.id, &t1), DROP_OK);
    assert_true(t1 >= 1);
    assert_int_equal(store_operator_lock_get(st, op, &got), DROP_OK);
    assert_string_equal(got.gig, g1.id);
    /* an accept of g1 in flight (its offer still open) holds the operator:
     * neither another gig nor a second accept of g1 gets it */
    assert_int_equal(store_operator_reserve(st, op, g2.id, &tx), DROP_ECONFLICT);
    assert_int_equal(store_operator_reserve(st, op, g1.id, &tx), DROP_ECONFLICT);
    /* g1 taken by op: still held */
    conf_accept(st, &g1, 0);
    assert_int_equal(store_operator_reserve(st, op, g2.id, &tx), DROP_ECONFLICT);
    /* g1 ends: the reservation is stale and is taken over */
    conf_retire(st, &g1);
    assert_int_equal(store_operator_reserve(st, op, g2.id, &t2), DROP_OK);
    assert_true(t2 > t1);
    /* a late release of the old reservation does not touch the new one */
    assert_int_equal(store_operator_release(st, op, g1.id, t1), DROP_OK);
    assert_int_equal(store_operator_lock_get(st, op, &got), DROP_OK);
    assert_string_equal(got.gig, g2.id);
    /* g2's CAS lost: the release frees the operator at once */
    assert_int_equal(store_operator_reserve(st, op, g3.id, &tx), DROP_ECONFLICT);
    assert_int_equal(store_operator_release(st, op, g2.id, t2), DROP_OK);
    assert_int_equal(store_operator_lock_get(st, op, &got), DROP_OK);
    assert_string_equal(got.gig, "");
    assert_int_equal(store_operator_release(st, op, g2.id, t2), DROP_OK); /* twice: no-op */

    /* stale when the gig went to another operator */
    assert_int_equal(store_operator_reserve(st, op, g3.id, &t3), DROP_OK);
    conf_accept(st, &g3, 1);
    assert_int_equal(store_operator_reserve(st, op, g4.id, &t4), DROP_OK);
    /* stale when the operator's offer is no longer open (rejected) */
    g4.offers[0].state = OFFER_REJECTED;
    conf_cas(st, &g4);
    assert_int_equal(store_operator_reserve(st, op, g2.id, &t2), DROP_OK);
    /* stale when the gig does not exist */
    struct store_operator_lock ghost;
    assert_int_equal(store_operator_lock_get(st, op, &got), DROP_OK);
    ghost = got;
    oid_new(ghost.gig);
    ghost.version = got.version + 1;
    assert_int_equal(store_operator_lock_cas(st, &ghost, got.version), DROP_OK);
    assert_int_equal(store_operator_reserve(st, op, g2.id, &t2), DROP_OK);
    assert_int_equal(store_operator_lock_get(st, op, &got), DROP_OK);
    assert_string_equal(got.gig, g2.id);
    assert_true(got.version == t2);
    /* the caller's bugs */
    assert_int_equal(store_operator_reserve(st, op, "nope", &tx), DROP_EBADREQ);
    assert_int_equal(store_operator_release(st, op, g2.id, 0), DROP_EBADREQ);

    conf_retire(st, &g2);
    conf_retire(st, &g3);
    conf_retire(st, &g4);
    gig_free(&g1);
    gig_free(&g2);
    gig_free(&g3);
    gig_free(&g4);
}

struct conf_reserver {
    struct store *st;
    pthread_barrier_t *go;
    const char *op;
    const char *gig;
    int64_t ticket;
    drop_err result;
};

static void *conf_reserve_thread(void *arg)
{
    struct conf_reserver *r = arg;
    pthread_barrier_wait(r->go);
    r->result = store_operator_reserve(r->st, r->op, r->gig, &r->ticket);
    return NULL;
}

/* 8 threads reserve one operator for 8 gigs at once, for several rounds:
 * exactly one wins each round (the others see its accept in flight). */
static void test_conf_operator_reserve_race(void **state)
{
    struct store *st = *state;
    const int64_t T = conf_time_base();
    enum { N = 8, ROUNDS = 5 };
    struct gig g[N];
    char op[DROP_ID_SIZE];
    oid_new(op);
    for (int i = 0; i < N; i++) conf_offered_gig(st, &g[i], op, T + i);
    struct conf_reserver rs[N];
    for (int round = 0; round < ROUNDS; round++) {
        pthread_t th[N];
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, N);
        for (int i = 0; i < N; i++) {
            rs[i] = (struct conf_reserver){st, &go, op, g[i].id, 0, DROP_EINTERNAL};
            pthread_create(&th[i], NULL, conf_reserve_thread, &rs[i]);
        }
        for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
        int ok = 0, conflict = 0, winner = -1;
        for (int i = 0; i < N; i++) {
            if (rs[i].result == DROP_OK) {
                ok++;
                winner = i;
            } else if (rs[i].result == DROP_ECONFLICT) {
                conflict++;
            }
        }
        if (ok != 1 || conflict != N - 1)
            fail_msg("round %d: %d winners, %d conflicts", round, ok, conflict);
        struct store_operator_lock got;
        assert_int_equal(store_operator_lock_get(st, op, &got), DROP_OK);
        assert_string_equal(got.gig, g[winner].id);
        /* the winner's gig CAS lost: released for the next round */
        assert_int_equal(store_operator_release(st, op, g[winner].id, rs[winner].ticket),
                         DROP_OK);
    }
    for (int i = 0; i < N; i++) {
        conf_retire(st, &g[i]);
        gig_free(&g[i]);
    }
}

/* ---- devices ------------------------------------------------------------ */

static void conf_device(struct device *d, const char *account, const char *tag, int i,
                        bool apns, int64_t at)
{
    memset(d, 0, sizeof *d);
    oid_new(d->id); /* increasing: the registration order */
    snprintf(d->account, sizeof d->account, "%s", account);
    snprintf(d->token, sizeof d->token, "%s-tok:%d_x", tag, i);
    d->platform = apns ? DEVICE_APNS : DEVICE_FCM;
    d->sandbox = apns && i % 2;
    d->created_at = at;
}

static void test_conf_devices(void **state)
{
    struct store *st = *state;
    const int64_t T = conf_time_base();
    char a[DROP_ID_SIZE], b[DROP_ID_SIZE], nobody[DROP_ID_SIZE], tag[17];
    struct device d[12], moved, *arr = NULL;
    size_t n = 0;
    oid_new(a);
    oid_new(b);
    oid_new(nobody);
    conf_tag(tag);

    /* twelve registrations: the ten newest stay, newest first, whole */
    for (int i = 0; i < 12; i++) {
        conf_device(&d[i], a, tag, i, i >= 6, T + i);
        assert_int_equal(store_device_put(st, &d[i], DEVICE_MAX_PER_ACCOUNT), DROP_OK);
    }
    assert_int_equal(store_device_list(st, a, &arr, &n), DROP_OK);
    assert_int_equal(n, 10);
    for (size_t k = 0; k < n; k++) {
        const struct device *want = &d[11 - k];
        assert_string_equal(arr[k].token, want->token);
        assert_string_equal(arr[k].account, a);
        assert_string_equal(arr[k].id, want->id);
        assert_int_equal(arr[k].platform, want->platform);
        assert_int_equal(arr[k].sandbox, want->sandbox);
        assert_int_equal(arr[k].created_at, want->created_at);
    }
    free(arr);

    /* a token registered by another account moves to it */
    conf_device(&moved, b, tag, 11, false, T + 20);
    assert_int_equal(store_device_put(st, &moved, DEVICE_MAX_PER_ACCOUNT), DROP_OK);
    assert_int_equal(store_device_list(st, a, &arr, &n), DROP_OK);
    assert_int_equal(n, 9);
    for (size_t k = 0; k < n; k++) assert_string_not_equal(arr[k].token, moved.token);
    free(arr);
    assert_int_equal(store_device_list(st, b, &arr, &n), DROP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(arr[0].token, moved.token);
    assert_int_equal(arr[0].platform, DEVICE_FCM);
    assert_int_equal(arr[0].created_at, T + 20);
    free(arr);

    /* deleting: only the holder's when an account is named; anyone's with NULL */
    assert_int_equal(store_device_delete(st, a, moved.token), DROP_ENOTFOUND);
    assert_int_equal(store_device_delete(st, NULL, moved.token), DROP_OK);
    assert_int_equal(store_device_delete(st, NULL, moved.token), DROP_ENOTFOUND);
    assert_int_equal(store_device_delete(st, a, d[10].token), DROP_OK);
    assert_int_equal(store_device_list(st, a, &arr, &n), DROP_OK);
    assert_int_equal(n, 8);
    assert_string_equal(arr[0].token, d[9].token);
    free(arr);
    assert_int_equal(store_device_list(st, b, &arr, &n), DROP_OK);
    assert_int_equal(n, 0);
    free(arr);
    assert_int_equal(store_device_list(st, nobody, &arr, &n), DROP_OK);
    assert_int_equal(n, 0);
    free(arr);

    /* bad input */
    struct device bad = d[0];
    strcpy(bad.token, "has space");
    assert_int_equal(store_device_put(st, &bad, DEVICE_MAX_PER_ACCOUNT), DROP_EBADREQ);
    assert_int_equal(store_device_put(st, &d[0], 0), DROP_EBADREQ);

    for (int i = 0; i < 12; i++) store_device_delete(st, NULL, d[i].token); /* tidy */
}

/* ---- the record port, over any kind ----------------------------------------- */

/* Jobs through the generic calls: create, get, CAS (conflict, version that
 * does not move), list by an indexed field with paging, delete. */
static void test_conf_record_port(void **state)
{
    struct store *st = *state;
    const int64_t T = conf_time_base();
    enum { N = 5 };
    char client[DROP_ID_SIZE], worker[DROP_ID_SIZE];
    struct job j[N], got;
    oid_new(client);
    oid_new(worker);
    for (int i = 0; i < N; i++) {
        /* created_at T+1, T+2, T+3, T+4, T+4: a tie ordered by id */
        conf_job(&j[i], client, worker, "Record", T + 1 + i - (i == 4));
        assert_int_equal(store_record_create(st, &JOB_KIND, &j[i]), DROP_OK);
    }
    assert_int_equal(store_record_create(st, &JOB_KIND, &j[0]), DROP_ECONFLICT);
    assert_int_equal(store_record_get(st, &JOB_KIND, j[1].id, &got), DROP_OK);
    assert_job_same(&got, &j[1]);
    job_free(&got);

    /* the expected order: created_at, then id, descending */
    int order[N] = {4, 3, 2, 1, 0};
    if (strcmp(j[3].id, j[4].id) > 0) {
        order[0] = 3;
        order[1] = 4;
    }
    /* pages of 2 by client, each the next one's `before` */
    struct record_page p = {.field = "client", .value = client, .before = 0, .limit = 2};
    int seen = 0;
    for (int page = 0; page < 3; page++) {
        void *arr = NULL;
        size_t n = 99;
        assert_int_equal(store_record_list(st, &JOB_KIND, &p, &arr, &n), DROP_OK);
        struct job *jobs = arr;
        for (size_t i = 0; i < n && seen < N; i++) {
            /* `before` is on created_at alone: the tie fills one page */
            assert_string_equal(jobs[i].id, j[order[seen]].id);
            seen++;
        }
        if (n) p.before = jobs[n - 1].created_at;
        record_array_free(&JOB_KIND, arr, n);
        if (!n) break;
    }
    assert_int_equal(seen, N);
    /* by the other indexed field, whole */
    struct record_page pw = {.field = "worker", .value = worker, .limit = 200};
    void *arr = NULL;
    size_t n = 0;
    assert_int_equal(store_record_list(st, &JOB_KIND, &pw, &arr, &n), DROP_OK);
    assert_int_equal(n, N);
    assert_job_same(&((struct job *)arr)[0], &j[order[0]]);
    record_array_free(&JOB_KIND, arr, n);
    /* mistakes are the caller's */
    struct record_page bad = {.field = "title", .value = "Record", .limit = 2};
    assert_int_equal(store_record_list(st, &JOB_KIND, &bad, &arr, &n), DROP_EBADREQ);
    bad.field = "client";
    bad.limit = 0;
    assert_int_equal(store_record_list(st, &JOB_KIND, &bad, &arr, &n), DROP_EBADREQ);
    bad.limit = RECORD_LIST_MAX + 1;
    assert_int_equal(store_record_list(st, &JOB_KIND, &bad, &arr, &n), DROP_EBADREQ);

    /* CAS: a stale expected version loses, a version that does not move is
     * refused, the winner's record is stored whole */
    struct job next;
    job_copy(&next, &j[0]);
    job_set_status(&next, JOB_ACCEPTED, T + 50, worker);
    next.version = 2;
    assert_int_equal(store_record_cas(st, &JOB_KIND, &next, 1), DROP_OK);
    next.version = 3;
    assert_int_equal(store_record_cas(st, &JOB_KIND, &next, 1), DROP_ECONFLICT);
    assert_int_equal(store_record_cas(st, &JOB_KIND, &next, 3), DROP_EBADREQ);
    next.version = 2;
    assert_int_equal(store_record_cas(st, &JOB_KIND, &next, 2), DROP_EBADREQ);
    assert_int_equal(store_record_get(st, &JOB_KIND, j[0].id, &got), DROP_OK);
    assert_true(got.version == 2);
    assert_int_equal(got.status, JOB_ACCEPTED);
    job_free(&got);
    job_free(&next);

    /* delete: gone, and CAS on it is DROP_ENOTFOUND; deleting again is fine */
    for (int i = 0; i < N; i++) {
        assert_int_equal(store_record_delete(st, &JOB_KIND, j[i].id), DROP_OK);
        assert_int_equal(store_record_get(st, &JOB_KIND, j[i].id, &got), DROP_ENOTFOUND);
    }
    j[1].version = 2;
    assert_int_equal(store_record_cas(st, &JOB_KIND, &j[1], 1), DROP_ENOTFOUND);
    assert_int_equal(store_record_delete(st, &JOB_KIND, j[1].id), DROP_OK);
    assert_int_equal(store_record_list(st, &JOB_KIND, &pw, &arr, &n), DROP_OK);
    assert_int_equal(n, 0);
    for (int i = 0; i < N; i++) job_free(&j[i]);
}

/* The gig kind with a codec that stores a status no reader knows: a corrupt
 * stored record, written through the port as a damaged database would hold
 * it (same table, valid indexed fields). */
static json_t *corrupt_encode(const void *rec)
{
    json_t *j = GIG_KIND.encode(rec);
    if (j) json_object_set_new(j, "status", json_string("noSuchStatus"));
    return j;
}

/* A corrupt stored record is a clear error on read (DROP_EINTERNAL, never a
 * crash) and is skipped by listings, which still return the good ones. */
static void test_conf_corrupt_record(void **state)
{
    struct store *st = *state;
    const int64_t T = conf_time_base();
    struct record_kind corrupt = GIG_KIND;
    corrupt.encode = corrupt_encode;
    char c[DROP_ID_SIZE];
    struct gig good, bad, got;
    oid_new(c);
    conf_gig(&good, c, GIG_PURCHASED, T + 1);
    conf_gig(&bad, c, GIG_PURCHASED, T + 2);
    conf_create(st, &good);
    assert_int_equal(store_record_create(st, &corrupt, &bad), DROP_OK);
    gig_init(&got);
    assert_int_equal(store_gig_get(st, bad.id, &got), DROP_EINTERNAL);
    assert_int_equal(store_gig_get(st, good.id, &got), DROP_OK);
    gig_free(&got);
    struct gig_filter f = {.account = c, .limit = 10};
    struct gig *arr = NULL;
    size_t n = 0;
    assert_int_equal(store_gig_list(st, &f, &arr, &n), DROP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(arr[0].id, good.id);
    gig_array_free(arr, n);
    struct record_page p = {.field = "customer", .value = c, .limit = 10};
    void *ra = NULL;
    assert_int_equal(store_record_list(st, &GIG_KIND, &p, &ra, &n), DROP_OK);
    assert_int_equal(n, 1);
    record_array_free(&GIG_KIND, ra, n);
    /* a CAS over it from what a reader last knew still works: the store
     * compares versions, not contents */
    bad.version = 2;
    assert_int_equal(store_gig_cas(st, &bad, 1), DROP_OK);
    assert_int_equal(store_gig_get(st, bad.id, &got), DROP_OK);
    gig_free(&got);
    assert_int_equal(store_record_delete(st, &GIG_KIND, bad.id), DROP_OK);
    assert_int_equal(store_record_delete(st, &GIG_KIND, good.id), DROP_OK);
    gig_free(&good);
    gig_free(&bad);
}

int store_conformance_run(const struct conformance_backend *b)
{
    conf_backend = b;
#define CONF_CASE(f) cmocka_unit_test_setup_teardown(f, conf_setup, conf_teardown)
    const struct CMUnitTest tests[] = {
        CONF_CASE(test_conf_account_crud),
        CONF_CASE(test_conf_unique_identity),
        CONF_CASE(test_conf_tokens),
        CONF_CASE(test_conf_gig_round_trip),
        CONF_CASE(test_conf_gig_cas),
        CONF_CASE(test_conf_gig_cas_race),
        CONF_CASE(test_conf_gig_list),
        CONF_CASE(test_conf_gig_for_account),
        CONF_CASE(test_conf_gig_due),
        CONF_CASE(test_conf_gig_unrated),
        CONF_CASE(test_conf_numbers_exact),
        CONF_CASE(test_conf_inbox),
        CONF_CASE(test_conf_jobs),
        CONF_CASE(test_conf_codes),
        CONF_CASE(test_conf_operator_lock),
        CONF_CASE(test_conf_operator_reserve),
        CONF_CASE(test_conf_operator_reserve_race),
        CONF_CASE(test_conf_devices),
        CONF_CASE(test_conf_record_port),
        CONF_CASE(test_conf_corrupt_record),
    };
#undef CONF_CASE
    return _cmocka_run_group_tests(b->name, tests, sizeof tests / sizeof tests[0], NULL, NULL);
}
