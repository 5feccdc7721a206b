/* test_store_sqlite.c - what is particular to the SQLite store, against
 * real files in a temp dir: accounts (create, get, list with filters and
 * paging), unique identities also under concurrent inserts over two
 * connections, no token in clear in the files, data kept across reopen, the
 * migration of a version 1 file, gigs: corrupt stored records (an error, or
 * skipped in listings, never a crash), the compare-and-set racing over two
 * connections, the side columns kept in step with the record, and clear
 * errors (no crash) for read-only, misplaced, corrupt and too-new database
 * files, and a WAL kept bounded by the background checkpointer. The behaviour every backend shares (update, archive, ratings,
 * tokens, all gig ops) is tests/unit/store_conformance.c's, run on SQLite by
 * test_store_conformance_sqlite. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapters/oid.h"
#include "adapters/password.h"
#include "adapters/store_sqlite.h"
#include "adapters/token.h"
#include "engine/inbox.h"
#include "engine/log.h"
#include "engine/store.h"

static char tmpdir[] = "/tmp/dropin-store-XXXXXX";
static const int64_t T0 = 1460430612477LL;

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    chmod(p, 0700);
    return remove(p);
}

static int group_setup(void **state)
{
    (void)state;
    if (!mkdtemp(tmpdir)) return -1;
    unsigned char key[TOKEN_KEY_LEN];
    memset(key, 7, sizeof key);
    token_init(key);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static void db_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
}

static struct store *open_db(const char *name)
{
    char path[512], why[512] = "";
    struct store *st = NULL;
    db_path(path, sizeof path, name);
    drop_err e = store_sqlite_open(path, &st, why, sizeof why);
    if (e != DROP_OK) fail_msg("open %s: %s", path, why);
    return st;
}

/* A new account with fresh ids: first name, an email, optionally a phone. */
static void make_account(struct account *a, const char *first, const char *email,
                         const char *phone, const char *type, int64_t now)
{
    account_init(a);
    oid_new(a->id);
    oid_referral_code(a->referral_code);
    a->first_name = strdup(first);
    a->last_name = strdup("Tester");
    strcpy(a->type, type);
    if (email) {
        struct identity *id = &a->identities[a->n_identities++];
        strcpy(id->type, "email");
        strcpy(id->value, email);
        oid_new(id->id);
    }
    if (phone) {
        struct identity *id = &a->identities[a->n_identities++];
        strcpy(id->type, "phone");
        strcpy(id->value, phone);
        oid_new(id->id);
    }
    account_stamp_new(a, now);
}

static const char *HASH = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
                          "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";

static void test_create_get(void **state)
{
    (void)state;
    struct store *st = open_db("create.db");
    assert_string_equal(store_name(st), "sqlite");
    assert_int_equal(store_ping(st), DROP_OK);
    struct account a, got;
    make_account(&a, "Nguyen", "nguyen@example.com", "+841662203830", "operator", T0);
    a.picture = strdup("https://x/p.jpg");
    assert_int_equal(store_account_create(st, &a, HASH), DROP_OK);

    assert_int_equal(store_account_get(st, a.id, &got), DROP_OK);
    assert_string_equal(got.id, a.id);
    assert_string_equal(got.first_name, "Nguyen");
    assert_string_equal(got.last_name, "Tester");
    assert_string_equal(got.type, "operator");
    assert_string_equal(got.status, "active");
    assert_false(got.archive);
    assert_null(got.organization);
    assert_string_equal(got.picture, "https://x/p.jpg");
    assert_string_equal(got.referral_code, a.referral_code);
    assert_int_equal(strlen(got.referral_code), 7);
    for (const char *c = got.referral_code; *c; c++)
        assert_true((*c >= '0' && *c <= '9') || (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z'));
    assert_true(id_valid(got.id));
    assert_true(id_valid(got.identities[0].id));
    assert_string_not_equal(got.identities[0].id, got.identities[1].id);
    assert_string_not_equal(got.identities[0].id, got.id);
    assert_int_equal(got.referral_rate, 5);
    assert_true(got.operator_rating == 5.0 && got.customer_rating == 5.0);
    assert_int_equal(got.created_at, T0);
    assert_int_equal(got.updated_at, T0);
    assert_int_equal(got.n_identities, 2);
    assert_string_equal(got.identities[0].value, "nguyen@example.com");
    assert_string_equal(got.identities[0].type, "email");
    assert_string_equal(got.identities[0].status, "unverified");
    assert_string_equal(got.identities[0].id, a.identities[0].id);
    assert_int_equal(got.identities[0].created_at, T0);
    assert_string_equal(got.identities[1].value, "+841662203830");
    account_free(&got);

    char *hash = NULL;
    assert_int_equal(store_account_by_identity(st, "+841662203830", &got, &hash), DROP_OK);
    assert_string_equal(got.id, a.id);
    assert_string_equal(hash, HASH);
    free(hash);
    account_free(&got);
    assert_int_equal(store_account_by_identity(st, "nguyen@example.com", &got, NULL), DROP_OK);
    account_free(&got);

    char other[DROP_ID_SIZE];
    oid_new(other);
    assert_int_equal(store_account_get(st, other, &got), DROP_ENOTFOUND);
    assert_int_equal(store_account_by_identity(st, "nobody@example.com", &got, &hash),
                     DROP_ENOTFOUND);
    account_free(&a);
    store_close(st);
}

static void test_duplicate_identity(void **state)
{
    (void)state;
    struct store *st = open_db("dup.db");
    struct account a, b, got;
    make_account(&a, "A", "same@example.com", NULL, "user", T0);
    make_account(&b, "B", "free@example.com", "123456789", "user", T0);
    strcpy(b.identities[1].value, "same@example.com"); /* second identity collides */
    strcpy(b.identities[1].type, "email");
    assert_int_equal(store_account_create(st, &a, HASH), DROP_OK);
    assert_int_equal(store_account_create(st, &b, HASH), DROP_ECONFLICT);
    /* nothing half-written: b does not exist and its first identity is free */
    assert_int_equal(store_account_get(st, b.id, &got), DROP_ENOTFOUND);
    assert_int_equal(store_account_by_identity(st, "free@example.com", &got, NULL),
                     DROP_ENOTFOUND);
    b.n_identities = 1;
    assert_int_equal(store_account_create(st, &b, HASH), DROP_OK);
    /* the same account id twice */
    struct account c;
    make_account(&c, "C", "c@example.com", NULL, "user", T0);
    strcpy(c.id, a.id);
    assert_int_equal(store_account_create(st, &c, HASH), DROP_ECONFLICT);
    account_free(&a);
    account_free(&b);
    account_free(&c);
    store_close(st);
}

struct racer {
    struct store *st;
    pthread_barrier_t *go;
    drop_err result;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    struct account a;
    make_account(&a, "Racer", "race@example.com", NULL, "user", T0);
    pthread_barrier_wait(r->go);
    r->result = store_account_create(r->st, &a, HASH);
    account_free(&a);
    return NULL;
}

/* n threads register the same identity at once over the given stores (one
 * shared, or one connection each): exactly one wins. */
static void run_race(struct store **stores, int nstores, int n)
{
    pthread_t th[16];
    struct racer r[16];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        r[i] = (struct racer){stores[i % nstores], &go, DROP_EINTERNAL};
        pthread_create(&th[i], NULL, race, &r[i]);
    }
    int ok = 0, conflict = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        if (r[i].result == DROP_OK) ok++;
        else if (r[i].result == DROP_ECONFLICT) conflict++;
        else fail_msg("racer %d: unexpected %d", i, r[i].result);
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(ok, 1);
    assert_int_equal(conflict, n - 1);
}

static void test_concurrent_register(void **state)
{
    (void)state;
    struct store *st = open_db("race1.db");
    run_race(&st, 1, 8);
    store_close(st);

    struct store *two[2] = {open_db("race2.db"), open_db("race2.db")};
    run_race(two, 2, 8);
    store_close(two[0]);
    store_close(two[1]);
}

static void put_token(struct store *st, const char *account, const char *tok, int64_t created,
                      int64_t expires, unsigned char hash[32])
{
    struct store_token t = {0};
    token_hash(tok, t.hash);
    assert_int_equal(token_seal(tok, account, t.sealed), DROP_OK);
    t.sealed_len = TOKEN_SEALED_LEN;
    strcpy(t.account, account);
    t.created_at = created;
    t.expires_at = expires;
    assert_int_equal(store_token_put(st, &t), DROP_OK);
    if (hash) memcpy(hash, t.hash, 32);
}

static void test_list(void **state)
{
    (void)state;
    struct store *st = open_db("list.db");
    const char *names[] = {"Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace"};
    char ids[7][DROP_ID_SIZE];
    for (int i = 0; i < 7; i++) {
        struct account a;
        char email[64];
        snprintf(email, sizeof email, "%s@list.example", names[i]);
        for (char *p = email; *p; p++) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        make_account(&a, names[i], email, NULL, i % 2 ? "operator" : "user", T0 + i * 1000);
        strcpy(ids[i], a.id);
        assert_int_equal(store_account_create(st, &a, HASH), DROP_OK);
        account_free(&a);
    }
    assert_int_equal(store_account_archive(st, ids[6], T0 + 99999), DROP_OK);

    struct account *arr;
    size_t n;
    struct account_filter f = {.limit = 50};
    assert_int_equal(store_account_list(st, &f, &arr, &n), DROP_OK);
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++) assert_string_equal(arr[i].id, ids[6 - i]); /* newest first */
    assert_int_equal(arr[0].n_identities, 1);
    account_array_free(arr, n);

    f = (struct account_filter){.type = "operator", .limit = 50};
    assert_int_equal(store_account_list(st, &f, &arr, &n), DROP_OK);
    assert_int_equal(n, 3); /* Bob, Dave, Frank */
    for (size_t i = 0; i < n; i++) assert_string_equal(arr[i].type, "operator");
    account_array_free(arr, n);

    f = (struct account_filter){.status = "archived", .limit = 50};
    assert_int_equal(store_account_list(st, &f, &arr, &n), DROP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(arr[0].first_name, "Grace");
    account_array_free(arr, n);

    f = (struct account_filter){.type = "user", .status = "active", .limit = 50};
    assert_int_equal(store_account_list(st, &f, &arr, &n), DROP_OK);
    assert_int_equal(n, 3); /* Alice, Carol, Eve (Grace archived) */
    account_array_free(arr, n);

    /* q: case-insensitive substring of a name ... */
    f = (struct account_filter){.q = "RA", .limit = 50};
    assert_int_equal(store_account_list(st, &f, &arr, &n), DROP_OK);
    assert_int_equal(n, 2); /* Frank, Grace */
    account_array_free(arr, n);
    /* ... or of an identity value */
    f = (struct account_filter){.q = "dave@", .limit = 50};
    assert_int_equal(store_account_list(st, &f, &arr, &n), DROP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(arr[0].id, ids[3]);
    account_array_free(arr, n);
    /* LIKE wildcards are plain characters */
    f = (struct account_filter){.q = "%", .limit = 50};
    assert_int_equal(store_account_list(st, &f, &arr, &n), DROP_OK);
    assert_int_equal(n, 0);
    assert_null(arr);

    /* paging */
    f = (struct account_filter){.limit = 3, .skip = 0};
    assert_int_equal(store_account_list(st, &f, &arr, &n), DROP_OK);
    assert_int_equal(n, 3);
    assert_string_equal(arr[0].id, ids[6]);
    assert_string_equal(arr[2].id, ids[4]);
    account_array_free(arr, n);
    f.skip = 3;
    assert_int_equal(store_account_list(st, &f, &arr, &n), DROP_OK);
    assert_int_equal(n, 3);
    assert_string_equal(arr[0].id, ids[3]);
    account_array_free(arr, n);
    f.skip = 6;
    assert_int_equal(store_account_list(st, &f, &arr, &n), DROP_OK);
    assert_int_equal(n, 1);
    assert_string_equal(arr[0].id, ids[0]);
    account_array_free(arr, n);
    f.skip = 7;
    assert_int_equal(store_account_list(st, &f, &arr, &n), DROP_OK);
    assert_int_equal(n, 0);
    /* an over-large limit is capped, never unbounded */
    f = (struct account_filter){.limit = 100000};
    assert_int_equal(store_account_list(st, &f, &arr, &n), DROP_OK);
    assert_int_equal(n, 7);
    account_array_free(arr, n);
    store_close(st);
}

/* True when needle occurs in the file at path (absent files hold nothing). */
static bool file_holds(const char *path, const void *needle, size_t nlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(sz > 0 ? (size_t)sz : 1);
    size_t got = fread(buf, 1, (size_t)(sz > 0 ? sz : 0), f);
    fclose(f);
    bool hit = memmem(buf, got, needle, nlen) != NULL;
    free(buf);
    return hit;
}

static bool db_files_hold(const char *path, const void *needle, size_t nlen)
{
    char p[600];
    if (file_holds(path, needle, nlen)) return true;
    snprintf(p, sizeof p, "%s-wal", path);
    if (file_holds(p, needle, nlen)) return true;
    snprintf(p, sizeof p, "%s-shm", path);
    return file_holds(p, needle, nlen);
}

static void test_no_plain_secrets(void **state)
{
    (void)state;
    char path[512];
    db_path(path, sizeof path, "secrets.db");
    struct store *st = open_db("secrets.db");
    struct account a;
    make_account(&a, "Secret", "secret@example.com", NULL, "user", T0);
    char pwhash[PASSWORD_ENCODED_MAX];
    const char *pw = "a plain password 123";
    assert_int_equal(password_hash(pw, pwhash, sizeof pwhash), DROP_OK);
    assert_int_equal(store_account_create(st, &a, pwhash), DROP_OK);
    char tok[TOKEN_SIZE];
    assert_int_equal(token_generate(tok), DROP_OK);
    put_token(st, a.id, tok, T0, T0 + 100000, NULL);

    /* the writes really reached the files: the identity is visible ... */
    assert_true(db_files_hold(path, "secret@example.com", 18));
    assert_true(db_files_hold(path, "$argon2id$v=19$m=19456,t=2,p=1$", 31));
    /* ... but neither the token nor the password, in any form we can think of */
    assert_false(db_files_hold(path, tok, TOKEN_LEN));
    assert_false(db_files_hold(path, tok, 16));
    assert_false(db_files_hold(path, pw, strlen(pw)));
    store_close(st); /* checkpoints the WAL into the main file */
    assert_true(file_holds(path, "secret@example.com", 18));
    assert_false(db_files_hold(path, tok, TOKEN_LEN));
    account_free(&a);
}

static void test_reopen(void **state)
{
    (void)state;
    struct store *st = open_db("reopen.db");
    struct account a, got;
    make_account(&a, "Stay", "stay@example.com", NULL, "user", T0);
    assert_int_equal(store_account_create(st, &a, HASH), DROP_OK);
    char tok[TOKEN_SIZE], back[TOKEN_SIZE];
    unsigned char h[32];
    assert_int_equal(token_generate(tok), DROP_OK);
    put_token(st, a.id, tok, T0, T0 + 100000, h);
    store_close(st);

    st = open_db("reopen.db");
    assert_int_equal(store_account_get(st, a.id, &got), DROP_OK);
    assert_string_equal(got.first_name, "Stay");
    assert_int_equal(got.n_identities, 1);
    account_free(&got);
    struct store_token t;
    assert_int_equal(store_token_lookup(st, h, T0 + 1, &t), DROP_OK);
    assert_int_equal(store_token_get_by_account(st, a.id, T0 + 1, &t), DROP_OK);
    assert_int_equal(token_unseal(t.sealed, t.sealed_len, a.id, back), DROP_OK);
    assert_string_equal(back, tok);
    store_close(st);

    /* the schema version is recorded */
    char path[512];
    sqlite3 *db;
    sqlite3_stmt *s;
    db_path(path, sizeof path, "reopen.db");
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), STORE_SQLITE_SCHEMA_VERSION);
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);
    account_free(&a);
}

/* Opening path must fail with DROP_EUNAVAIL and a reason holding `says`. */
static void open_fails(const char *path, const char *says)
{
    char why[512] = "";
    struct store *st = NULL;
    drop_err e = store_sqlite_open(path, &st, why, sizeof why);
    if (e == DROP_OK) {
        store_close(st);
        fail_msg("%s opened", path);
    }
    assert_int_equal(e, DROP_EUNAVAIL);
    assert_null(st);
    if (!strstr(why, says)) fail_msg("%s: reason \"%s\" lacks \"%s\"", path, why, says);
}

static void test_unusable_paths(void **state)
{
    (void)state;
    char path[512], bad[600];
    /* a read-only file: refused even for root */
    struct store *st = open_db("ro.db");
    store_close(st);
    db_path(path, sizeof path, "ro.db");
    assert_int_equal(chmod(path, 0444), 0);
    open_fails(path, "read-only");
    assert_int_equal(chmod(path, 0644), 0);
    st = open_db("ro.db");
    store_close(st);

    /* a parent that is a file */
    snprintf(bad, sizeof bad, "%s/sub/x.db", path);
    open_fails(bad, "cannot create directory");
    /* the path is a directory */
    open_fails(tmpdir, "is a directory");
    /* a place nobody can create anything */
    open_fails("/proc/dropin-no-such/x.db", "cannot create directory");
    open_fails("", "empty");

    /* a directory that does not exist yet is created */
    snprintf(bad, sizeof bad, "%s/deep/er/new.db", tmpdir);
    char why[512];
    assert_int_equal(store_sqlite_open(bad, &st, why, sizeof why), DROP_OK);
    store_close(st);
    assert_int_equal(access(bad, F_OK), 0);
}

static void test_corrupt(void **state)
{
    (void)state;
    char path[512];
    /* not a database at all */
    db_path(path, sizeof path, "garbage.db");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < 4096; i++) fputc("garbage!"[i % 8], f);
    fclose(f);
    open_fails(path, "not a database");

    /* a real database with damaged pages */
    struct store *st = open_db("damaged.db");
    for (int i = 0; i < 200; i++) {
        struct account a;
        char email[64];
        snprintf(email, sizeof email, "user%d@damaged.example", i);
        make_account(&a, "Damaged", email, NULL, "user", T0 + i);
        assert_int_equal(store_account_create(st, &a, HASH), DROP_OK);
        account_free(&a);
    }
    store_close(st);
    db_path(path, sizeof path, "damaged.db");
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_true(sb.st_size > 8 * 4096);
    f = fopen(path, "r+b");
    assert_non_null(f);
    for (long off = 4096; off + 4096 <= sb.st_size; off += 4 * 4096) {
        fseek(f, off + 8, SEEK_SET); /* keep nothing sane in the page headers */
        for (int i = 0; i < 512; i++) fputc(0xA5 ^ i, f);
    }
    fclose(f);
    char why[512] = "";
    drop_err e = store_sqlite_open(path, &st, why, sizeof why);
    assert_int_equal(e, DROP_EUNAVAIL);
    assert_true(strstr(why, "corrupt") || strstr(why, "malformed"));

    /* a schema newer than this program */
    st = open_db("future.db");
    store_close(st);
    db_path(path, sizeof path, "future.db");
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    open_fails(path, "newer");
}

/* ---- gigs --------------------------------------------------------------- */

static void make_gig(struct gig *g, const char *customer, enum gig_status status, int64_t at)
{
    gig_init(g);
    oid_new(g->id);
    strcpy(g->customer, customer);
    g->status = status;
    g->version = 1;
    g->latitude = 10.5;
    g->longitude = 106.25;
    g->created_at = at;
    g->updated_at = at;
}

static void add_offer(struct gig *g, enum offer_state s, int64_t expires)
{
    struct gig_offer *o = &g->offers[g->n_offers++];
    oid_new(o->operator);
    o->state = s;
    o->wave = 1;
    o->distance_m = 100;
    o->offered_at = T0;
    o->expires_at = expires;
}

/* Runs one SQL statement on a raw connection to the file (the test's own
 * view of the bytes, beside the store's connection). */
static void raw_exec(const char *name, const char *sql)
{
    char path[512];
    sqlite3 *db;
    db_path(path, sizeof path, name);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) fail_msg("%s: %s", sql, err);
    sqlite3_close(db);
}

/* The first column of the first row of sql, as an integer. */
static int64_t raw_int(const char *name, const char *sql)
{
    char path[512];
    sqlite3 *db;
    sqlite3_stmt *st;
    db_path(path, sizeof path, name);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void test_gig_corrupt_record(void **state)
{
    (void)state;
    struct store *st = open_db("gigcorrupt.db");
    char c[DROP_ID_SIZE], sql[512];
    oid_new(c);
    struct gig g[3], got;
    for (int i = 0; i < 3; i++) {
        make_gig(&g[i], c, GIG_PENDING_OPERATOR, T0 + i);
        g[i].deadline = T0 + 100 + i;
        assert_int_equal(store_gig_create(st, &g[i]), DROP_OK);
    }
    /* damaged JSON, a valid record of another gig, a record with a bad field */
    snprintf(sql, sizeof sql, "UPDATE gigs SET doc = '{\"id\":' WHERE id = '%s'", g[0].id);
    raw_exec("gigcorrupt.db", sql);
    snprintf(sql, sizeof sql,
             "UPDATE gigs SET doc = (SELECT doc FROM gigs WHERE id = '%s') WHERE id = '%s'",
             g[2].id, g[1].id);
    raw_exec("gigcorrupt.db", sql);
    assert_int_equal(store_gig_get(st, g[0].id, &got), DROP_EINTERNAL);
    assert_int_equal(store_gig_get(st, g[1].id, &got), DROP_EINTERNAL);
    assert_int_equal(store_gig_get(st, g[2].id, &got), DROP_OK);
    gig_free(&got);
    snprintf(sql, sizeof sql,
             "UPDATE gigs SET doc = json_set(doc, '$.latitude', 91.0) WHERE id = '%s'", g[2].id);
    raw_exec("gigcorrupt.db", sql);
    assert_int_equal(store_gig_get(st, g[2].id, &got), DROP_EINTERNAL);

    /* listings skip what they cannot read, and still answer */
    struct gig *arr;
    size_t n;
    struct gig_filter f = {.account = c, .limit = 10};
    assert_int_equal(store_gig_list(st, &f, &arr, &n), DROP_OK);
    assert_int_equal(n, 1); /* g1's row holds g2's record */
    assert_string_equal(arr[0].id, g[2].id);
    gig_array_free(arr, n);
    assert_int_equal(store_gig_due(st, T0 + 1000, 10, &arr, &n), DROP_OK);
    assert_int_equal(n, 1);
    gig_array_free(arr, n);
    for (int i = 0; i < 3; i++) gig_free(&g[i]);
    store_close(st);
}

struct cas_racer {
    struct store *st;
    pthread_barrier_t *go;
    struct gig g;
    drop_err result;
};

static void *cas_race(void *arg)
{
    struct cas_racer *r = arg;
    pthread_barrier_wait(r->go);
    r->result = store_gig_cas(r->st, &r->g, 1);
    return NULL;
}

/* Two connections (as two processes would have): the version check inside
 * BEGIN IMMEDIATE still lets exactly one writer through. */
static void test_gig_cas_two_connections(void **state)
{
    (void)state;
    struct store *two[2] = {open_db("gigrace.db"), open_db("gigrace.db")};
    char c[DROP_ID_SIZE];
    oid_new(c);
    struct gig g, got;
    make_gig(&g, c, GIG_PENDING_OPERATOR, T0);
    for (int i = 0; i < 8; i++) add_offer(&g, OFFER_OPEN, T0 + 1000);
    assert_int_equal(store_gig_create(two[0], &g), DROP_OK);
    pthread_t th[8];
    struct cas_racer *r = calloc(8, sizeof *r);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 8);
    for (int i = 0; i < 8; i++) {
        r[i].st = two[i % 2];
        r[i].go = &go;
        gig_copy(&r[i].g, &g);
        r[i].g.version = 2;
        r[i].g.status = GIG_OPERATOR_FOUND;
        strcpy(r[i].g.operator, g.offers[i].operator);
        r[i].g.offers[i].state = OFFER_ACCEPTED;
        r[i].result = DROP_EINTERNAL;
        pthread_create(&th[i], NULL, cas_race, &r[i]);
    }
    int ok = 0, conflict = 0, winner = -1;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        if (r[i].result == DROP_OK) {
            ok++;
            winner = i;
        } else if (r[i].result == DROP_ECONFLICT) {
            conflict++;
        }
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(ok, 1);
    assert_int_equal(conflict, 7);
    assert_int_equal(store_gig_get(two[1], g.id, &got), DROP_OK);
    assert_string_equal(got.operator, g.offers[winner].operator);
    assert_int_equal(got.version, 2);
    gig_free(&got);
    for (int i = 0; i < 8; i++) gig_free(&r[i].g);
    free(r);
    gig_free(&g);
    store_close(two[0]);
    store_close(two[1]);
}

/* The indexed columns and the open-offer rows follow every write. */
static void test_gig_side_columns(void **state)
{
    (void)state;
    struct store *st = open_db("gigcols.db");
    char c[DROP_ID_SIZE], sql[256];
    oid_new(c);
    struct gig g;
    make_gig(&g, c, GIG_PENDING_OPERATOR, T0);
    g.deadline = T0 + 120000;
    add_offer(&g, OFFER_OPEN, T0 + 15000);
    add_offer(&g, OFFER_REJECTED, T0 + 5000);
    add_offer(&g, OFFER_OPEN, T0 + 16000);
    assert_int_equal(store_gig_create(st, &g), DROP_OK);
    snprintf(sql, sizeof sql, "SELECT next_timer FROM gigs WHERE id = '%s'", g.id);
    assert_int_equal(raw_int("gigcols.db", sql), T0 + 15000);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM gig_open_offers WHERE gig_id = '%s'", g.id);
    assert_int_equal(raw_int("gigcols.db", sql), 2);

    strcpy(g.operator, g.offers[2].operator);
    g.status = GIG_OPERATOR_FOUND;
    g.offers[0].state = OFFER_REVOKED;
    g.offers[2].state = OFFER_ACCEPTED;
    g.deadline = T0 + 60000;
    g.version = 2;
    assert_int_equal(store_gig_cas(st, &g, 1), DROP_OK);
    assert_int_equal(raw_int("gigcols.db", sql), 0);
    snprintf(sql, sizeof sql,
             "SELECT next_timer = %lld AND status = 'operatorFound' AND version = 2 AND"
             " operator = '%s' FROM gigs WHERE id = '%s'",
             (long long)(T0 + 60000), g.operator, g.id);
    assert_int_equal(raw_int("gigcols.db", sql), 1);
    /* a lost CAS changes nothing, not even the side rows */
    g.offers[0].state = OFFER_OPEN;
    g.version = 2;
    assert_int_equal(store_gig_cas(st, &g, 1), DROP_ECONFLICT);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM gig_open_offers WHERE gig_id = '%s'", g.id);
    assert_int_equal(raw_int("gigcols.db", sql), 0);
    gig_free(&g);
    store_close(st);
}

/* A file of schema version 1 (accounts only) gains the gig tables, keeps its
 * data, and then keeps gigs across reopen. */
static void test_migrate_v1(void **state)
{
    (void)state;
    struct store *st = open_db("v1.db");
    struct account a, got;
    make_account(&a, "Old", "old@example.com", NULL, "user", T0);
    assert_int_equal(store_account_create(st, &a, HASH), DROP_OK);
    store_close(st);
    raw_exec("v1.db", "BEGIN; DROP TABLE gig_open_offers; DROP TABLE gigs;"
                      " DROP TABLE messages; DROP TABLE jobs; DROP TABLE operator_locks;"
                      " DROP TABLE identity_codes;"
                      " PRAGMA user_version = 1; COMMIT");
    assert_int_equal(raw_int("v1.db", "SELECT count(*) FROM sqlite_master WHERE name = 'gigs'"),
                     0);

    st = open_db("v1.db");
    assert_int_equal(store_account_get(st, a.id, &got), DROP_OK);
    account_free(&got);
    struct gig g, back;
    make_gig(&g, a.id, GIG_PENDING_OPERATOR, T0);
    gig_set_meta(&g, "{\"k\":[1,2]}");
    add_offer(&g, OFFER_OPEN, T0 + 1);
    assert_int_equal(store_gig_create(st, &g), DROP_OK);
    store_close(st);
    assert_int_equal(raw_int("v1.db", "PRAGMA user_version"), STORE_SQLITE_SCHEMA_VERSION);

    st = open_db("v1.db");
    assert_int_equal(store_gig_get(st, g.id, &back), DROP_OK);
    assert_string_equal(back.meta_json, "{\"k\":[1,2]}");
    assert_int_equal(back.n_offers, 1);
    assert_string_equal(back.offers[0].operator, g.offers[0].operator);
    gig_free(&back);
    struct gig *arr;
    size_t n;
    assert_int_equal(store_gig_for_account(st, g.offers[0].operator, &arr, &n), DROP_OK);
    assert_int_equal(n, 1);
    gig_array_free(arr, n);
    gig_free(&g);
    account_free(&a);
    store_close(st);
}

/* The serving connection never checkpoints (its WAL hook only counts); the
 * checkpointer thread must, or the WAL grows without end. A big round of
 * one-page messages (several thousand WAL frames: the checkpointer is woken
 * at 1000), a pause, then a small round: once the big round is checkpointed
 * the small one restarts the WAL from its start, so the WAL then holds the
 * small round's frames only (without checkpoints it would hold both). */
static void write_messages(struct store *st, int n, const char *text)
{
    for (int i = 0; i < n; i++) {
        struct message m = {.text = (char *)text, .created_at = T0 + i};
        oid_new(m.id);
        oid_new(m.from);
        oid_new(m.to);
        assert_int_equal(store_message_create(st, &m), DROP_OK);
    }
}

/* log_tail callback: notes a checkpoint pass that copied the whole WAL. */
static void saw_checkpoint(unsigned long long seq, const char *line, void *ud)
{
    (void)seq;
    const char *c = strstr(line, "event=store_checkpoint backend=sqlite wal_pages=");
    if (!c) return;
    int logged = atoi(c + strlen("event=store_checkpoint backend=sqlite wal_pages="));
    const char *d = strstr(c, " copied=");
    if (d && logged > 0 && atoi(d + 8) == logged) *(bool *)ud = true;
}

static void test_wal_checkpointed(void **state)
{
    (void)state;
    int level = log_min_level;
    log_min_level = LOG_DEBUG;
    struct store *st = open_db("wal.db");
    char text[3000];
    memset(text, 'w', sizeof text - 1);
    text[sizeof text - 1] = 0;
    write_messages(st, 1200, text);

    char path[512];
    db_path(path, sizeof path, "wal.db");
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL), SQLITE_OK);
    /* Wait for the checkpointer's pass over the whole WAL (its log line),
     * not for a time; then 50 more messages must restart the WAL from its
     * start: its file does not grow (measured without checkpointing here).
     * A pass already running when a round began may log a full copy of an
     * older WAL; then the WAL does not restart yet and a next round shows
     * it (each write to a WAL over CKPT_PAGES wakes the checkpointer). */
    char wal[520];
    snprintf(wal, sizeof wal, "%s-wal", path);
    bool restarted = false;
    for (int round = 0; round < 10 && !restarted; round++) {
        unsigned long long mark = log_tail(0, 0, saw_checkpoint, NULL);
        bool seen = false;
        for (int i = 0; i < 6000 && !seen; i++) {
            log_tail(mark, LOG_RING_LINES, saw_checkpoint, &seen);
            if (seen) break;
            usleep(10 * 1000);
            /* the pass may have ended before mark (a fast checkpointer, as
             * under TSan): one more write wakes it for another */
            if (i % 200 == 199) write_messages(st, 1, text);
        }
        assert_true(seen);
        struct stat before, after;
        assert_int_equal(stat(wal, &before), 0);
        write_messages(st, 50, text);
        assert_int_equal(stat(wal, &after), 0);
        print_message("wal: %lld bytes, %lld after 50 more (round %d)\n",
                      (long long)before.st_size, (long long)after.st_size, round);
        restarted = after.st_size == before.st_size;
    }
    assert_true(restarted);
    int frames = -1, copied = -1, rc = SQLITE_OK;
    /* BUSY: the checkpointer's own pass is running; ask again */
    for (int i = 0; i < 6000; i++) {
        rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, &copied);
        if (rc != SQLITE_BUSY) break;
        usleep(10 * 1000);
    }
    assert_int_equal(rc, SQLITE_OK);
    print_message("wal: %d frames at the end\n", frames);
    log_min_level = level;
    assert_true(frames > 0);
    assert_true(frames < 1000);
    sqlite3_close(db);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_get),
        cmocka_unit_test(test_duplicate_identity),
        cmocka_unit_test(test_concurrent_register),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_no_plain_secrets),
        cmocka_unit_test(test_reopen),
        cmocka_unit_test(test_unusable_paths),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_gig_corrupt_record),
        cmocka_unit_test(test_gig_cas_two_connections),
        cmocka_unit_test(test_gig_side_columns),
        cmocka_unit_test(test_migrate_v1),
        cmocka_unit_test(test_wal_checkpointed),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
