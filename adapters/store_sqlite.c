/* store_sqlite.c - the store port on SQLite (see store_sqlite.h).
 *
 * Layout: the schema migrations, the statement table (an enum and its SQL,
 * prepared at open), the open checks, then one function per store op. Each
 * op takes the mutex, binds, steps, resets its statements (an un-reset
 * SELECT would keep a read transaction open), and maps SQLite's result to a
 * drop_err once, in map_rc. Identity values are unique among ACTIVE
 * identities (a partial unique index), so archiving an account releases
 * them; a unique violation, also from a racing insert, is DROP_ECONFLICT.
 * A gig is one row: its record (engine/gig_record.h) as JSON text in doc,
 * beside copies of the fields the queries filter on; the compare-and-set is
 * an UPDATE ... WHERE version = expected that must change one row. Jobs
 * are stored the same way (engine/job.h's record in doc); inbox messages
 * are plain rows, read_at NULL while unread.
 *
 * Checkpoints: SQLite's automatic WAL checkpoint runs inside the COMMIT that
 * crosses 1000 pages, i.e. two fdatasyncs and a page copy on whichever op
 * commits then (a gig.create every ~55 gigs in bench/dispatch.sh). Here the
 * serving connection's WAL hook only counts pages, and a checkpointer thread
 * with its own connection runs PASSIVE checkpoints (never blocking a writer)
 * when the WAL passes CKPT_PAGES, and every CKPT_MS while it holds pages. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "adapters/store_sqlite.h"
#include "adapters/store_sqlite_internal.h"
#include "engine/gig_record.h"
#include "engine/log.h"
#include "engine/mem.h"

/* Migration i takes the schema from version i to i + 1. Append only: a
 * released migration never changes. Inbox, jobs and logs come as further
 * entries. */
static const char *const MIGRATIONS[] = {
    /* 0 -> 1: accounts, identities, tokens */
    "CREATE TABLE accounts ("
    "  id TEXT PRIMARY KEY,"
    "  first_name TEXT NOT NULL,"
    "  last_name TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  organization TEXT,"
    "  picture TEXT,"
    "  referral_code TEXT NOT NULL,"
    "  referral_rate INTEGER NOT NULL,"
    "  operator_rating REAL NOT NULL,"
    "  operator_rating_count INTEGER NOT NULL,"
    "  customer_rating REAL NOT NULL,"
    "  customer_rating_count INTEGER NOT NULL,"
    "  password_hash TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE INDEX accounts_by_created ON accounts(created_at, id);"
    "CREATE INDEX accounts_by_referral ON accounts(referral_code);"
    "CREATE TABLE identities ("
    "  id TEXT PRIMARY KEY,"
    "  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,"
    "  pos INTEGER NOT NULL,"
    "  type TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  active INTEGER NOT NULL DEFAULT 1,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX identities_value_active ON identities(value) WHERE active = 1;"
    "CREATE INDEX identities_by_account ON identities(account_id, pos);"
    "CREATE TABLE tokens ("
    "  hash BLOB PRIMARY KEY,"
    "  account_id TEXT NOT NULL UNIQUE REFERENCES accounts(id) ON DELETE CASCADE,"
    "  sealed BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL);",
    /* 1 -> 2: gigs. doc is the whole gig (engine/gig_record.h); the other
     * columns are copies of its indexed fields, written with it. next_timer
     * is gig_next_timer() (0 = none). gig_open_offers holds the (gig,
     * operator) pairs of OPEN offers, rewritten with the gig in the same
     * transaction, for session.state's "open offers of an operator". */
    "CREATE TABLE gigs ("
    "  id TEXT PRIMARY KEY,"
    "  customer TEXT NOT NULL,"
    "  operator TEXT,"
    "  status TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  next_timer INTEGER NOT NULL,"
    "  doc TEXT NOT NULL);"
    "CREATE INDEX gigs_by_customer ON gigs(customer, created_at, id);"
    "CREATE INDEX gigs_by_operator ON gigs(operator, created_at, id);"
    "CREATE INDEX gigs_by_created ON gigs(created_at, id);"
    "CREATE INDEX gigs_by_status ON gigs(status);"
    "CREATE INDEX gigs_due ON gigs(next_timer, id) WHERE next_timer > 0;"
    "CREATE TABLE gig_open_offers ("
    "  gig_id TEXT NOT NULL REFERENCES gigs(id) ON DELETE CASCADE,"
    "  operator TEXT NOT NULL,"
    "  PRIMARY KEY (gig_id, operator)) WITHOUT ROWID;"
    "CREATE INDEX gig_open_offers_by_operator ON gig_open_offers(operator);",
    /* 2 -> 3: inbox messages (read_at NULL = unread) and jobs (doc is the
     * record of engine/job.h, beside copies of its indexed fields). */
    "CREATE TABLE messages ("
    "  id TEXT PRIMARY KEY,"
    "  sender TEXT NOT NULL,"
    "  recipient TEXT NOT NULL,"
    "  text TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  read_at INTEGER);"
    "CREATE INDEX messages_by_recipient ON messages(recipient, created_at, id);"
    "CREATE INDEX messages_unread ON messages(recipient) WHERE read_at IS NULL;"
    "CREATE TABLE jobs ("
    "  id TEXT PRIMARY KEY,"
    "  client TEXT NOT NULL,"
    "  worker TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  doc TEXT NOT NULL);"
    "CREATE INDEX jobs_by_client ON jobs(client, created_at, id);"
    "CREATE INDEX jobs_by_worker ON jobs(worker, created_at, id);",
    /* 3 -> 4: operator booking records (store_operator_reserve): the gig
     * the operator is reserved for (NULL = none), written by CAS on
     * version. */
    "CREATE TABLE operator_locks ("
    "  operator TEXT PRIMARY KEY,"
    "  gig TEXT,"
    "  version INTEGER NOT NULL) WITHOUT ROWID;",
    /* 4 -> 5: identity codes (store_sqlite_codes.c), and phone identities
     * rewritten to E.164 digits (SQLITE_CODES_MIGRATION there). */
    SQLITE_CODES_MIGRATION,
};
#define N_MIGRATIONS ((int)(sizeof MIGRATIONS / sizeof MIGRATIONS[0]))
_Static_assert(N_MIGRATIONS == STORE_SQLITE_SCHEMA_VERSION, "schema version");

#define ACC_COLS                                                                          \
    "a.id, a.first_name, a.last_name, a.type, a.status, a.organization, a.picture, "     \
    "a.referral_code, a.referral_rate, a.operator_rating, a.operator_rating_count, "     \
    "a.customer_rating, a.customer_rating_count, a.created_at, a.updated_at"
#define ACC_NCOLS 15
#define TOK_COLS "hash, sealed, account_id, created_at, expires_at"
/* The statuses of gig_for_account: live (gig_status_live) and purchased. */
#define GIG_FOR_ACC_STATUSES                                                             \
    "('pendingOperator', 'operatorFound', 'operatorEnroute', 'handshaking', 'streaming',"  \
    " 'purchased')"
#define GIG_LIST_FILTER "(?2 IS NULL OR status = ?2) AND (?3 = 0 OR created_at < ?3)"

enum stmt {
    ST_BEGIN, ST_COMMIT, ST_ROLLBACK, ST_PING,
    ST_ACC_INSERT, ST_IDN_INSERT, ST_ACC_GET, ST_IDN_BY_ACC, ST_ACC_BY_IDN,
    ST_ACC_UPDATE, ST_ACC_ARCHIVE, ST_IDN_RELEASE, ST_ACC_LIST, ST_RATE_OP, ST_RATE_CU,
    ST_TOK_INSERT, ST_TOK_BY_ACC, ST_TOK_BY_HASH, ST_TOK_TOUCH, ST_TOK_DEL, ST_TOK_DEL_ACC,
    ST_GIG_INSERT, ST_GIG_UPDATE, ST_GIG_EXISTS, ST_GIG_GET, ST_OFFERS_DEL, ST_OFFER_INSERT,
    ST_GIG_LIST_ALL, ST_GIG_LIST_ACC, ST_GIG_FOR_ACC, ST_GIG_DUE, ST_GIG_UNRATED,
    ST_MSG_INSERT, ST_MSG_LIST, ST_MSG_READ, ST_MSG_UNREAD,
    ST_JOB_INSERT, ST_JOB_UPDATE, ST_JOB_EXISTS, ST_JOB_GET,
    ST_JOB_LIST_ANY, ST_JOB_LIST_CLIENT, ST_JOB_LIST_WORKER,
    ST_OPLOCK_GET, ST_OPLOCK_INSERT, ST_OPLOCK_UPDATE,
    ST__COUNT
};

static const char *const SQL[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_PING] = "SELECT 1",
    [ST_ACC_INSERT] =
        "INSERT INTO accounts (id, first_name, last_name, type, status, organization, picture,"
        " referral_code, referral_rate, operator_rating, operator_rating_count,"
        " customer_rating, customer_rating_count, password_hash, created_at, updated_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    [ST_IDN_INSERT] =
        "INSERT INTO identities (id, account_id, pos, type, value, status, active,"
        " created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8)",
    [ST_ACC_GET] = "SELECT " ACC_COLS " FROM accounts a WHERE a.id = ?1",
    [ST_IDN_BY_ACC] = "SELECT id, type, value, status, created_at, updated_at"
                      " FROM identities WHERE account_id = ?1 ORDER BY pos",
    [ST_ACC_BY_IDN] = "SELECT " ACC_COLS ", a.password_hash FROM identities i"
                      " JOIN accounts a ON a.id = i.account_id"
                      " WHERE i.value = ?1 AND i.active = 1 AND a.status = 'active'",
    [ST_ACC_UPDATE] = "UPDATE accounts SET first_name = ?2, last_name = ?3, organization = ?4,"
                      " picture = ?5, updated_at = ?6 WHERE id = ?1 AND status = 'active'",
    [ST_ACC_ARCHIVE] = "UPDATE accounts SET status = 'archived', updated_at = ?2"
                       " WHERE id = ?1 AND status = 'active'",
    [ST_IDN_RELEASE] = "UPDATE identities SET active = 0, updated_at = ?2 WHERE account_id = ?1",
    [ST_ACC_LIST] =
        "SELECT " ACC_COLS " FROM accounts a"
        " WHERE (?1 IS NULL OR a.type = ?1) AND (?2 IS NULL OR a.status = ?2)"
        " AND (?3 IS NULL OR instr(lower(a.first_name), ?3) > 0"
        "      OR instr(lower(a.last_name), ?3) > 0"
        "      OR EXISTS (SELECT 1 FROM identities i"
        "                 WHERE i.account_id = a.id AND instr(i.value, ?3) > 0))"
        " ORDER BY a.created_at DESC, a.id DESC LIMIT ?4 OFFSET ?5",
    [ST_RATE_OP] =
        "UPDATE accounts SET operator_rating = (operator_rating * operator_rating_count + ?2)"
        " / (operator_rating_count + 1), operator_rating_count = operator_rating_count + 1,"
        " updated_at = ?3 WHERE id = ?1",
    [ST_RATE_CU] =
        "UPDATE accounts SET customer_rating = (customer_rating * customer_rating_count + ?2)"
        " / (customer_rating_count + 1), customer_rating_count = customer_rating_count + 1,"
        " updated_at = ?3 WHERE id = ?1",
    [ST_TOK_INSERT] = "INSERT INTO tokens (" TOK_COLS ") VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_TOK_BY_ACC] = "SELECT " TOK_COLS " FROM tokens WHERE account_id = ?1",
    [ST_TOK_BY_HASH] = "SELECT " TOK_COLS " FROM tokens WHERE hash = ?1",
    [ST_TOK_TOUCH] = "UPDATE tokens SET expires_at = ?2 WHERE hash = ?1",
    [ST_TOK_DEL] = "DELETE FROM tokens WHERE hash = ?1",
    [ST_TOK_DEL_ACC] = "DELETE FROM tokens WHERE account_id = ?1",
    [ST_GIG_INSERT] = "INSERT INTO gigs (id, customer, operator, status, version, created_at,"
                      " next_timer, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_GIG_UPDATE] = "UPDATE gigs SET customer = ?2, operator = ?3, status = ?4, version = ?5,"
                      " created_at = ?6, next_timer = ?7, doc = ?8"
                      " WHERE id = ?1 AND version = ?9",
    [ST_GIG_EXISTS] = "SELECT 1 FROM gigs WHERE id = ?1",
    [ST_GIG_GET] = "SELECT doc FROM gigs WHERE id = ?1",
    [ST_OFFERS_DEL] = "DELETE FROM gig_open_offers WHERE gig_id = ?1",
    [ST_OFFER_INSERT] = "INSERT OR IGNORE INTO gig_open_offers (gig_id, operator) VALUES (?1, ?2)",
    [ST_GIG_LIST_ALL] = "SELECT doc FROM gigs WHERE " GIG_LIST_FILTER
                        " ORDER BY created_at DESC, id DESC LIMIT ?4",
    /* Two branches so that each uses its index; a gig whose customer is
     * also its operator comes from the first only. */
    [ST_GIG_LIST_ACC] =
        "SELECT doc, created_at, id FROM gigs WHERE customer = ?1 AND " GIG_LIST_FILTER
        " UNION ALL"
        " SELECT doc, created_at, id FROM gigs WHERE operator = ?1 AND customer <> ?1"
        " AND " GIG_LIST_FILTER " ORDER BY 2 DESC, 3 DESC LIMIT ?4",
    [ST_GIG_FOR_ACC] =
        "SELECT doc FROM gigs WHERE id IN ("
        "  SELECT id FROM gigs WHERE customer = ?1 AND status IN " GIG_FOR_ACC_STATUSES
        "  UNION SELECT id FROM gigs WHERE operator = ?1 AND status IN " GIG_FOR_ACC_STATUSES
        "  UNION SELECT o.gig_id FROM gig_open_offers o JOIN gigs g ON g.id = o.gig_id"
        "        WHERE o.operator = ?1 AND g.status = 'pendingOperator')"
        " ORDER BY created_at DESC, id DESC LIMIT ?2",
    [ST_GIG_DUE] = "SELECT doc FROM gigs WHERE next_timer > 0 AND next_timer <= ?1"
                   " ORDER BY next_timer, id LIMIT ?2",
    /* The customer rates the operator (operatorRating), and vice versa.
     * "+status" keeps SQLite on the account's index: without statistics it
     * would scan every purchased gig of every account. */
    [ST_GIG_UNRATED] =
        "SELECT EXISTS (SELECT 1 FROM gigs WHERE customer = ?1 AND +status = 'purchased'"
        "               AND json_extract(doc, '$.operatorRating') = 0)"
        "    OR EXISTS (SELECT 1 FROM gigs WHERE operator = ?1 AND +status = 'purchased'"
        "               AND json_extract(doc, '$.customerRating') = 0)",
    [ST_MSG_INSERT] = "INSERT INTO messages (id, sender, recipient, text, created_at, read_at)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_MSG_LIST] = "SELECT id, sender, recipient, text, created_at, read_at FROM messages"
                    " WHERE recipient = ?1 AND (?2 = 0 OR created_at < ?2)"
                    " ORDER BY created_at DESC, id DESC LIMIT ?3",
    [ST_MSG_READ] = "UPDATE messages SET read_at = ?3"
                    " WHERE id = ?1 AND recipient = ?2 AND read_at IS NULL",
    [ST_MSG_UNREAD] = "SELECT count(*) FROM messages WHERE recipient = ?1 AND read_at IS NULL",
    [ST_JOB_INSERT] = "INSERT INTO jobs (id, client, worker, status, version, created_at, doc)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_JOB_UPDATE] = "UPDATE jobs SET client = ?2, worker = ?3, status = ?4, version = ?5,"
                      " created_at = ?6, doc = ?7 WHERE id = ?1 AND version = ?8",
    [ST_JOB_EXISTS] = "SELECT 1 FROM jobs WHERE id = ?1",
    [ST_JOB_GET] = "SELECT doc FROM jobs WHERE id = ?1",
    [ST_JOB_LIST_ANY] =
        "SELECT doc, created_at, id FROM jobs WHERE client = ?1 AND " GIG_LIST_FILTER
        " UNION ALL"
        " SELECT doc, created_at, id FROM jobs WHERE worker = ?1 AND client <> ?1"
        " AND " GIG_LIST_FILTER " ORDER BY 2 DESC, 3 DESC LIMIT ?4",
    [ST_JOB_LIST_CLIENT] = "SELECT doc FROM jobs WHERE client = ?1 AND " GIG_LIST_FILTER
                           " ORDER BY created_at DESC, id DESC LIMIT ?4",
    [ST_JOB_LIST_WORKER] = "SELECT doc FROM jobs WHERE worker = ?1 AND " GIG_LIST_FILTER
                           " ORDER BY created_at DESC, id DESC LIMIT ?4",
    [ST_OPLOCK_GET] = "SELECT gig, version FROM operator_locks WHERE operator = ?1",
    [ST_OPLOCK_INSERT] = "INSERT INTO operator_locks (operator, gig, version) VALUES (?1, ?2, ?3)",
    [ST_OPLOCK_UPDATE] = "UPDATE operator_locks SET gig = ?2, version = ?3"
                         " WHERE operator = ?1 AND version = ?4",
};

#define CKPT_PAGES 1000 /* SQLite's own auto-checkpoint threshold */
#define CKPT_MS 1000

struct sq {
    sqlite3 *db;
    pthread_mutex_t mu;
    sqlite3_stmt *st[ST__COUNT];

    /* The checkpointer: ck is its connection, ck_mu guards wal_pages/ck_stop. */
    sqlite3 *ck;
    pthread_t ck_thread;
    bool ck_running;
    pthread_mutex_t ck_mu;
    pthread_cond_t ck_cond;
    int wal_pages; /* pages in the WAL after the last commit (WAL hook) */
    bool ck_stop;
};

/* The reason-writing error return of this file. */
#define fail err_why

/* Maps a failed SQLite result to the port's codes, logging what is not the
 * caller's doing. Call with the mutex held (sqlite3_errmsg). */
static drop_err map_rc(struct sq *s, int rc, const char *op)
{
    int primary = rc & 0xff;
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        return DROP_ECONFLICT;
    drop_err e;
    switch (primary) {
    case SQLITE_BUSY: case SQLITE_LOCKED: case SQLITE_FULL: case SQLITE_IOERR:
    case SQLITE_READONLY: case SQLITE_CANTOPEN: case SQLITE_PROTOCOL: case SQLITE_NOMEM:
        e = DROP_EUNAVAIL;
        break;
    default:
        e = DROP_EINTERNAL;
    }
    log_error("event=store_error backend=sqlite op=%s rc=%d msg=\"%s\"", op, rc,
              sqlite3_errmsg(s->db));
    return e;
}

/* The prepared statement id, reset and unbound, ready to bind. */
static sqlite3_stmt *stmt(struct sq *s, enum stmt id)
{
    sqlite3_stmt *st = s->st[id];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

/* Steps a statement that returns no row, then resets it. */
static int run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

static int begin(struct sq *s)
{
    int rc = run(stmt(s, ST_BEGIN));
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int commit(struct sq *s)
{
    int rc = run(stmt(s, ST_COMMIT));
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void rollback(struct sq *s)
{
    if (!sqlite3_get_autocommit(s->db)) run(stmt(s, ST_ROLLBACK));
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v) sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, i);
}

/* Copies a text column into a fixed buffer, truncating (a damaged row must
 * not overflow it). */
static void col_copy(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, outlen, "%s", t ? (const char *)t : "");
}

static char *col_dup(sqlite3_stmt *st, int i, bool nullable)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t) return nullable ? NULL : xstrdup("");
    return xstrdup((const char *)t);
}

/* Fills a (initialized here) from a row of ACC_COLS. */
static void row_account(sqlite3_stmt *st, struct account *a)
{
    account_init(a);
    col_copy(st, 0, a->id, sizeof a->id);
    a->first_name = col_dup(st, 1, false);
    a->last_name = col_dup(st, 2, false);
    col_copy(st, 3, a->type, sizeof a->type);
    col_copy(st, 4, a->status, sizeof a->status);
    a->archive = strcmp(a->status, "archived") == 0;
    a->organization = col_dup(st, 5, true);
    a->picture = col_dup(st, 6, true);
    col_copy(st, 7, a->referral_code, sizeof a->referral_code);
    a->referral_rate = sqlite3_column_int(st, 8);
    a->operator_rating = sqlite3_column_double(st, 9);
    a->operator_rating_count = sqlite3_column_int64(st, 10);
    a->customer_rating = sqlite3_column_double(st, 11);
    a->customer_rating_count = sqlite3_column_int64(st, 12);
    a->created_at = sqlite3_column_int64(st, 13);
    a->updated_at = sqlite3_column_int64(st, 14);
}

/* Loads the identities of a (a->id set). Returns an SQLite code. */
static int load_identities(struct sq *s, struct account *a)
{
    sqlite3_stmt *st = stmt(s, ST_IDN_BY_ACC);
    int rc;
    sqlite3_bind_text(st, 1, a->id, -1, SQLITE_TRANSIENT);
    a->n_identities = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (a->n_identities == ACCOUNT_MAX_IDENTITIES) continue;
        struct identity *id = &a->identities[a->n_identities++];
        col_copy(st, 0, id->id, sizeof id->id);
        col_copy(st, 1, id->type, sizeof id->type);
        col_copy(st, 2, id->value, sizeof id->value);
        col_copy(st, 3, id->status, sizeof id->status);
        id->created_at = sqlite3_column_int64(st, 4);
        id->updated_at = sqlite3_column_int64(st, 5);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* ---- the checkpointer ---------------------------------------------------- */

/* The serving connection's WAL hook, after each commit, on the committing
 * thread with s->mu held: record the WAL size, wake the checkpointer when
 * it is due. Returning SQLITE_OK without checkpointing is the point. */
static int on_wal_commit(void *arg, sqlite3 *db, const char *schema, int pages)
{
    (void)db;
    (void)schema;
    struct sq *s = arg;
    pthread_mutex_lock(&s->ck_mu);
    s->wal_pages = pages;
    if (pages >= CKPT_PAGES) pthread_cond_signal(&s->ck_cond);
    pthread_mutex_unlock(&s->ck_mu);
    return SQLITE_OK;
}

static void *checkpointer(void *arg)
{
    struct sq *s = arg;
    pthread_mutex_lock(&s->ck_mu);
    while (!s->ck_stop) {
        if (s->wal_pages < CKPT_PAGES) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += CKPT_MS / 1000;
            until.tv_nsec += (long)(CKPT_MS % 1000) * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&s->ck_cond, &s->ck_mu, &until);
            if (s->ck_stop) break;
        }
        if (s->wal_pages == 0) continue;
        s->wal_pages = 0; /* a commit meanwhile sets it again */
        pthread_mutex_unlock(&s->ck_mu);
        int logged = 0, done = 0;
        int rc = sqlite3_wal_checkpoint_v2(s->ck, NULL, SQLITE_CHECKPOINT_PASSIVE, &logged, &done);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            log_warn("event=store_checkpoint_failed backend=sqlite rc=%d msg=\"%s\"", rc,
                     sqlite3_errmsg(s->ck));
        else
            log_debug("event=store_checkpoint backend=sqlite wal_pages=%d copied=%d", logged, done);
        pthread_mutex_lock(&s->ck_mu);
    }
    pthread_mutex_unlock(&s->ck_mu);
    return NULL;
}

/* Opens the checkpointer's connection and thread; on failure SQLite's own
 * auto-checkpoint stays in place (slower tails, same data). */
static void checkpointer_start(struct sq *s, const char *path)
{
    int rc = sqlite3_open_v2(path, &s->ck, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(s->ck, STORE_SQLITE_BUSY_MS);
        /* A connection learns the file is in WAL mode on its first read. */
        rc = sqlite3_exec(s->ck, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK) {
        if (pthread_create(&s->ck_thread, NULL, checkpointer, s) == 0) {
            s->ck_running = true;
            sqlite3_wal_hook(s->db, on_wal_commit, s); /* replaces the auto-checkpoint */
            return;
        }
    }
    log_warn("event=store_checkpointer_unavailable backend=sqlite msg=\"%s\"",
             s->ck ? sqlite3_errmsg(s->ck) : sqlite3_errstr(rc));
    sqlite3_close(s->ck);
    s->ck = NULL;
}

static void checkpointer_stop(struct sq *s)
{
    if (s->ck_running) {
        pthread_mutex_lock(&s->ck_mu);
        s->ck_stop = true;
        pthread_cond_signal(&s->ck_cond);
        pthread_mutex_unlock(&s->ck_mu);
        pthread_join(s->ck_thread, NULL);
        s->ck_running = false;
    }
    if (s->ck) sqlite3_close(s->ck); /* before db: the last close checkpoints */
    s->ck = NULL;
    pthread_cond_destroy(&s->ck_cond);
    pthread_mutex_destroy(&s->ck_mu);
}

/* ---- ops ---------------------------------------------------------------- */

static void sq_close(void *impl)
{
    struct sq *s = impl;
    if (!s) return;
    checkpointer_stop(s);
    for (int i = 0; i < ST__COUNT; i++) sqlite3_finalize(s->st[i]);
    int rc = sqlite3_close(s->db);
    if (rc != SQLITE_OK) log_error("event=store_close_failed backend=sqlite rc=%d", rc);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static drop_err sq_ping(void *impl)
{
    struct sq *s = impl;
    pthread_mutex_lock(&s->mu);
    int rc = run(stmt(s, ST_PING));
    drop_err e = rc == SQLITE_DONE ? DROP_OK : map_rc(s, rc, "ping");
    pthread_mutex_unlock(&s->mu);
    return e;
}

static drop_err sq_account_create(void *impl, const struct account *a, const char *pw_hash)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    int rc;
    pthread_mutex_lock(&s->mu);
    if ((rc = begin(s)) != SQLITE_OK) goto fail;

    sqlite3_stmt *st = stmt(s, ST_ACC_INSERT);
    bind_text(st, 1, a->id);
    bind_text(st, 2, a->first_name ? a->first_name : "");
    bind_text(st, 3, a->last_name ? a->last_name : "");
    bind_text(st, 4, a->type);
    bind_text(st, 5, a->status[0] ? a->status : "active");
    bind_text(st, 6, a->organization);
    bind_text(st, 7, a->picture);
    bind_text(st, 8, a->referral_code);
    sqlite3_bind_int(st, 9, a->referral_rate);
    sqlite3_bind_double(st, 10, a->operator_rating);
    sqlite3_bind_int64(st, 11, a->operator_rating_count);
    sqlite3_bind_double(st, 12, a->customer_rating);
    sqlite3_bind_int64(st, 13, a->customer_rating_count);
    bind_text(st, 14, pw_hash);
    sqlite3_bind_int64(st, 15, a->created_at);
    sqlite3_bind_int64(st, 16, a->updated_at);
    if ((rc = run(st)) != SQLITE_DONE) goto fail;

    for (size_t i = 0; i < a->n_identities && i < ACCOUNT_MAX_IDENTITIES; i++) {
        const struct identity *id = &a->identities[i];
        st = stmt(s, ST_IDN_INSERT);
        bind_text(st, 1, id->id);
        bind_text(st, 2, a->id);
        sqlite3_bind_int(st, 3, (int)i);
        bind_text(st, 4, id->type);
        bind_text(st, 5, id->value);
        bind_text(st, 6, id->status[0] ? id->status : "unverified");
        sqlite3_bind_int64(st, 7, id->created_at);
        sqlite3_bind_int64(st, 8, id->updated_at);
        if ((rc = run(st)) != SQLITE_DONE) goto fail;
    }
    if ((rc = commit(s)) != SQLITE_OK) goto fail;
    goto done;
fail:
    e = map_rc(s, sqlite3_extended_errcode(s->db), "account_create");
    rollback(s);
done:
    pthread_mutex_unlock(&s->mu);
    return e;
}

static drop_err sq_account_get(void *impl, const char *id, struct account *out)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    struct account a;
    account_init(&a);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_ACC_GET);
    bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) row_account(st, &a);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) {
        e = DROP_ENOTFOUND;
    } else if (rc != SQLITE_ROW || (rc = load_identities(s, &a)) != SQLITE_OK) {
        e = map_rc(s, rc, "account_get");
    }
    pthread_mutex_unlock(&s->mu);
    if (e == DROP_OK) *out = a;
    else account_free(&a);
    return e;
}

static drop_err sq_account_by_identity(void *impl, const char *value, struct account *out,
                                       char **pw_hash)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    struct account a;
    char *hash = NULL;
    account_init(&a);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_ACC_BY_IDN);
    bind_text(st, 1, value);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        row_account(st, &a);
        hash = col_dup(st, ACC_NCOLS, false);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) {
        e = DROP_ENOTFOUND;
    } else if (rc != SQLITE_ROW || (rc = load_identities(s, &a)) != SQLITE_OK) {
        e = map_rc(s, rc, "account_by_identity");
    }
    pthread_mutex_unlock(&s->mu);
    if (e == DROP_OK) {
        *out = a;
        if (pw_hash) *pw_hash = hash;
        else free(hash);
    } else {
        account_free(&a);
        free(hash);
    }
    return e;
}

static drop_err sq_account_update(void *impl, const struct account *a)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_ACC_UPDATE);
    bind_text(st, 1, a->id);
    bind_text(st, 2, a->first_name ? a->first_name : "");
    bind_text(st, 3, a->last_name ? a->last_name : "");
    bind_text(st, 4, a->organization);
    bind_text(st, 5, a->picture);
    sqlite3_bind_int64(st, 6, a->updated_at);
    int rc = run(st);
    if (rc != SQLITE_DONE) e = map_rc(s, rc, "account_update");
    else if (sqlite3_changes(s->db) == 0) e = DROP_ENOTFOUND;
    pthread_mutex_unlock(&s->mu);
    return e;
}

static drop_err sq_account_archive(void *impl, const char *id, int64_t now)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    int rc;
    pthread_mutex_lock(&s->mu);
    if ((rc = begin(s)) != SQLITE_OK) goto fail;
    sqlite3_stmt *st = stmt(s, ST_ACC_ARCHIVE);
    bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    if ((rc = run(st)) != SQLITE_DONE) goto fail;
    if (sqlite3_changes(s->db) == 0) {
        e = DROP_ENOTFOUND;
        rollback(s);
        goto done;
    }
    st = stmt(s, ST_IDN_RELEASE);
    bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    if ((rc = run(st)) != SQLITE_DONE) goto fail;
    st = stmt(s, ST_TOK_DEL_ACC);
    bind_text(st, 1, id);
    if ((rc = run(st)) != SQLITE_DONE) goto fail;
    if ((rc = commit(s)) != SQLITE_OK) goto fail;
    goto done;
fail:
    e = map_rc(s, sqlite3_extended_errcode(s->db), "account_archive");
    rollback(s);
done:
    pthread_mutex_unlock(&s->mu);
    return e;
}

static drop_err sq_account_list(void *impl, const struct account_filter *f, struct account **out,
                                size_t *nout)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    struct account *arr = NULL;
    size_t n = 0, cap = 0;
    char q[ACCOUNT_IDENTITY_SIZE];
    int rc = SQLITE_OK;
    int limit = f->limit < 1 ? ACCOUNT_LIST_DEFAULT : f->limit;
    if (limit > ACCOUNT_LIST_MAX) limit = ACCOUNT_LIST_MAX;
    if (f->skip < 0) return DROP_EBADREQ;
    if (f->q) {
        size_t i = 0;
        for (; f->q[i] && i < ACCOUNT_IDENTITY_MAX; i++)
            q[i] = (f->q[i] >= 'A' && f->q[i] <= 'Z') ? (char)(f->q[i] - 'A' + 'a') : f->q[i];
        q[i] = '\0';
    }
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_ACC_LIST);
    bind_text(st, 1, f->type);
    bind_text(st, 2, f->status);
    bind_text(st, 3, f->q ? q : NULL);
    sqlite3_bind_int(st, 4, limit);
    sqlite3_bind_int(st, 5, f->skip);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            arr = xrealloc(arr, cap * sizeof *arr);
        }
        row_account(st, &arr[n++]);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) goto fail;
    for (size_t i = 0; i < n; i++)
        if ((rc = load_identities(s, &arr[i])) != SQLITE_OK) goto fail;
    goto done;
fail:
    e = map_rc(s, rc, "account_list");
done:
    pthread_mutex_unlock(&s->mu);
    if (e == DROP_OK) {
        *out = n ? arr : NULL;
        *nout = n;
        if (!n) free(arr);
    } else {
        account_array_free(arr, n);
    }
    return e;
}

static drop_err sq_account_add_rating(void *impl, const char *id, bool as_operator, int rating,
                                      int64_t now)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    if (!account_rating_valid(rating)) return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, as_operator ? ST_RATE_OP : ST_RATE_CU);
    bind_text(st, 1, id);
    sqlite3_bind_double(st, 2, (double)rating);
    sqlite3_bind_int64(st, 3, now);
    int rc = run(st);
    if (rc != SQLITE_DONE) e = map_rc(s, rc, "account_add_rating");
    else if (sqlite3_changes(s->db) == 0) e = DROP_ENOTFOUND;
    pthread_mutex_unlock(&s->mu);
    return e;
}

/* ---- tokens ------------------------------------------------------------- */

static void row_token(sqlite3_stmt *st, struct store_token *t)
{
    memset(t, 0, sizeof *t);
    const void *h = sqlite3_column_blob(st, 0);
    int hl = sqlite3_column_bytes(st, 0);
    if (h && hl == STORE_TOKEN_HASH_LEN) memcpy(t->hash, h, STORE_TOKEN_HASH_LEN);
    const void *b = sqlite3_column_blob(st, 1);
    int bl = sqlite3_column_bytes(st, 1);
    if (b && bl > 0 && bl <= STORE_SEALED_MAX) {
        memcpy(t->sealed, b, (size_t)bl);
        t->sealed_len = (size_t)bl;
    }
    col_copy(st, 2, t->account, sizeof t->account);
    t->created_at = sqlite3_column_int64(st, 3);
    t->expires_at = sqlite3_column_int64(st, 4);
}

static drop_err sq_token_put(void *impl, const struct store_token *t)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    int rc;
    if (t->sealed_len == 0 || t->sealed_len > STORE_SEALED_MAX) return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    if ((rc = begin(s)) != SQLITE_OK) goto fail;
    sqlite3_stmt *st = stmt(s, ST_TOK_DEL_ACC);
    bind_text(st, 1, t->account);
    if ((rc = run(st)) != SQLITE_DONE) goto fail;
    st = stmt(s, ST_TOK_INSERT);
    sqlite3_bind_blob(st, 1, t->hash, STORE_TOKEN_HASH_LEN, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 2, t->sealed, (int)t->sealed_len, SQLITE_TRANSIENT);
    bind_text(st, 3, t->account);
    sqlite3_bind_int64(st, 4, t->created_at);
    sqlite3_bind_int64(st, 5, t->expires_at);
    if ((rc = run(st)) != SQLITE_DONE) goto fail;
    if ((rc = commit(s)) != SQLITE_OK) goto fail;
    goto done;
fail:
    rc = sqlite3_extended_errcode(s->db);
    e = rc == SQLITE_CONSTRAINT_FOREIGNKEY ? DROP_ENOTFOUND : map_rc(s, rc, "token_put");
    rollback(s);
done:
    pthread_mutex_unlock(&s->mu);
    return e;
}

/* Reads one token row by the statement id bound to key; deletes it when it
 * expired. miss is the code for none / expired. Mutex held by the caller. */
static drop_err token_read(struct sq *s, sqlite3_stmt *st, int64_t now, drop_err miss,
                           struct store_token *out, const char *op)
{
    struct store_token t;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) row_token(st, &t);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) return miss;
    if (rc != SQLITE_ROW) return map_rc(s, rc, op);
    if (t.expires_at <= now) {
        sqlite3_stmt *del = stmt(s, ST_TOK_DEL);
        sqlite3_bind_blob(del, 1, t.hash, STORE_TOKEN_HASH_LEN, SQLITE_TRANSIENT);
        if ((rc = run(del)) != SQLITE_DONE) map_rc(s, rc, op); /* logged; still a miss */
        return miss;
    }
    *out = t;
    return DROP_OK;
}

static drop_err sq_token_get_by_account(void *impl, const char *account, int64_t now,
                                        struct store_token *out)
{
    struct sq *s = impl;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_TOK_BY_ACC);
    bind_text(st, 1, account);
    drop_err e = token_read(s, st, now, DROP_ENOTFOUND, out, "token_get_by_account");
    pthread_mutex_unlock(&s->mu);
    return e;
}

static drop_err sq_token_lookup(void *impl, const unsigned char hash[STORE_TOKEN_HASH_LEN],
                                int64_t now, struct store_token *out)
{
    struct sq *s = impl;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_TOK_BY_HASH);
    sqlite3_bind_blob(st, 1, hash, STORE_TOKEN_HASH_LEN, SQLITE_TRANSIENT);
    drop_err e = token_read(s, st, now, DROP_EUNAUTH, out, "token_lookup");
    pthread_mutex_unlock(&s->mu);
    return e;
}

/* Runs a one-statement write keyed by a token hash or an account id.
 * zero_rows is returned when nothing changed. */
static drop_err token_write(struct sq *s, enum stmt id, const unsigned char *hash,
                            const char *account, const int64_t *ts, drop_err zero_rows,
                            const char *op)
{
    drop_err e = DROP_OK;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, id);
    if (hash) sqlite3_bind_blob(st, 1, hash, STORE_TOKEN_HASH_LEN, SQLITE_TRANSIENT);
    else bind_text(st, 1, account);
    if (ts) sqlite3_bind_int64(st, 2, *ts);
    int rc = run(st);
    if (rc != SQLITE_DONE) e = map_rc(s, rc, op);
    else if (sqlite3_changes(s->db) == 0) e = zero_rows;
    pthread_mutex_unlock(&s->mu);
    return e;
}

static drop_err sq_token_touch(void *impl, const unsigned char hash[STORE_TOKEN_HASH_LEN],
                               int64_t expires_at)
{
    return token_write(impl, ST_TOK_TOUCH, hash, NULL, &expires_at, DROP_EUNAUTH, "token_touch");
}

static drop_err sq_token_delete(void *impl, const unsigned char hash[STORE_TOKEN_HASH_LEN])
{
    return token_write(impl, ST_TOK_DEL, hash, NULL, NULL, DROP_OK, "token_delete");
}

static drop_err sq_token_delete_by_account(void *impl, const char *account)
{
    return token_write(impl, ST_TOK_DEL_ACC, NULL, account, NULL, DROP_OK,
                       "token_delete_by_account");
}

/* ---- gigs --------------------------------------------------------------- */

/* Writes the open offers of g into gig_open_offers (the old ones deleted
 * first when replace). Mutex held, inside the caller's transaction. */
static int write_open_offers(struct sq *s, const struct gig *g, bool replace)
{
    int rc;
    sqlite3_stmt *st;
    if (replace) {
        st = stmt(s, ST_OFFERS_DEL);
        bind_text(st, 1, g->id);
        if ((rc = run(st)) != SQLITE_DONE) return rc;
    }
    for (int i = 0; i < g->n_offers; i++) {
        if (g->offers[i].state != OFFER_OPEN) continue;
        st = stmt(s, ST_OFFER_INSERT);
        bind_text(st, 1, g->id);
        bind_text(st, 2, g->offers[i].operator);
        if ((rc = run(st)) != SQLITE_DONE) return rc;
    }
    return SQLITE_DONE;
}

/* gig_create (expected < 0) and gig_cas (expected = the version the caller
 * read): the gig row, its indexed copies and its open offers, in one
 * transaction. */
static drop_err gig_write(struct sq *s, const struct gig *g, int64_t expected, const char *op)
{
    drop_err e = DROP_OK;
    bool cas = expected >= 0;
    int rc;
    if (!id_valid(g->id) || g->version < 1 || (cas && (expected < 1 || g->version <= expected)))
        return DROP_EBADREQ;
    char *doc = gig_record_dump(g); /* validates every field */
    if (!doc) return DROP_EBADREQ;

    pthread_mutex_lock(&s->mu);
    if ((rc = begin(s)) != SQLITE_OK) goto fail;
    sqlite3_stmt *st = stmt(s, cas ? ST_GIG_UPDATE : ST_GIG_INSERT);
    bind_text(st, 1, g->id);
    bind_text(st, 2, g->customer);
    bind_text(st, 3, g->operator[0] ? g->operator : NULL);
    bind_text(st, 4, gig_status_name(g->status));
    sqlite3_bind_int64(st, 5, g->version);
    sqlite3_bind_int64(st, 6, g->created_at);
    sqlite3_bind_int64(st, 7, gig_next_timer(g));
    sqlite3_bind_text(st, 8, doc, -1, SQLITE_STATIC);
    if (cas) sqlite3_bind_int64(st, 9, expected);
    rc = run(st);
    sqlite3_clear_bindings(st); /* doc is freed below */
    if (rc != SQLITE_DONE) goto fail;
    if (cas && sqlite3_changes(s->db) == 0) {
        st = stmt(s, ST_GIG_EXISTS);
        bind_text(st, 1, g->id);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) goto fail;
        e = rc == SQLITE_ROW ? DROP_ECONFLICT : DROP_ENOTFOUND;
        rollback(s);
        goto done;
    }
    if ((rc = write_open_offers(s, g, cas)) != SQLITE_DONE) goto fail;
    if ((rc = commit(s)) != SQLITE_OK) goto fail;
    goto done;
fail:
    e = map_rc(s, sqlite3_extended_errcode(s->db), op);
    rollback(s);
done:
    pthread_mutex_unlock(&s->mu);
    free(doc);
    return e;
}

static drop_err sq_gig_create(void *impl, const struct gig *g)
{
    return gig_write(impl, g, -1, "gig_create");
}

static drop_err sq_gig_cas(void *impl, const struct gig *g, int64_t expected_version)
{
    if (expected_version < 1) return DROP_EBADREQ;
    return gig_write(impl, g, expected_version, "gig_cas");
}

/* Parses the doc in column 0 of the current row into out. */
static drop_err row_gig(sqlite3_stmt *st, struct gig *out, const char *op)
{
    char why[128] = "";
    const char *doc = (const char *)sqlite3_column_text(st, 0);
    size_t len = (size_t)sqlite3_column_bytes(st, 0);
    drop_err e = gig_record_parse(doc, len, out, why, sizeof why);
    if (e != DROP_OK)
        log_error("event=store_corrupt_gig backend=sqlite op=%s why=\"%s\"", op, why);
    return e;
}

static drop_err sq_gig_get(void *impl, const char *id, struct gig *out)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    struct gig g;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_GIG_GET);
    bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) e = row_gig(st, &g, "gig_get");
    else if (rc == SQLITE_DONE) e = DROP_ENOTFOUND;
    else e = map_rc(s, rc, "gig_get");
    sqlite3_reset(st);
    pthread_mutex_unlock(&s->mu);
    if (e == DROP_OK && strcmp(g.id, id) != 0) {
        log_error("event=store_corrupt_gig backend=sqlite op=gig_get id=%s doc_id=%s", id, g.id);
        gig_free(&g);
        e = DROP_EINTERNAL;
    }
    if (e == DROP_OK) *out = g;
    return e;
}

/* Steps a bound SELECT whose column 0 is a gig doc into a heap array. A
 * corrupt row is logged and skipped: one bad record must not hide the others
 * (the sweep above all). Mutex held; resets st. */
static drop_err read_gigs(struct sq *s, sqlite3_stmt *st, struct gig **out, size_t *nout,
                          const char *op)
{
    struct gig *arr = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            arr = xrealloc(arr, cap * sizeof *arr);
        }
        if (row_gig(st, &arr[n], op) == DROP_OK) n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        gig_array_free(arr, n);
        return map_rc(s, rc, op);
    }
    if (!n) {
        free(arr);
        arr = NULL;
    }
    *out = arr;
    *nout = n;
    return DROP_OK;
}

static drop_err sq_gig_list(void *impl, const struct gig_filter *f, struct gig **out, size_t *n)
{
    struct sq *s = impl;
    if (f->limit < 1 || f->limit > GIG_LIST_MAX || f->before < 0 ||
        (f->has_status && (unsigned)f->status >= GIG_STATUS__COUNT))
        return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, f->account ? ST_GIG_LIST_ACC : ST_GIG_LIST_ALL);
    if (f->account) bind_text(st, 1, f->account);
    bind_text(st, 2, f->has_status ? gig_status_name(f->status) : NULL);
    sqlite3_bind_int64(st, 3, f->before);
    sqlite3_bind_int(st, 4, f->limit);
    drop_err e = read_gigs(s, st, out, n, "gig_list");
    pthread_mutex_unlock(&s->mu);
    return e;
}

static drop_err sq_gig_for_account(void *impl, const char *account, struct gig **out, size_t *n)
{
    struct sq *s = impl;
    if (!account) return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_GIG_FOR_ACC);
    bind_text(st, 1, account);
    sqlite3_bind_int(st, 2, GIG_LIST_MAX);
    drop_err e = read_gigs(s, st, out, n, "gig_for_account");
    pthread_mutex_unlock(&s->mu);
    return e;
}

static drop_err sq_gig_due(void *impl, int64_t now, int limit, struct gig **out, size_t *n)
{
    struct sq *s = impl;
    if (limit < 1 || limit > GIG_LIST_MAX) return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_GIG_DUE);
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, limit);
    drop_err e = read_gigs(s, st, out, n, "gig_due");
    pthread_mutex_unlock(&s->mu);
    return e;
}

static drop_err sq_gig_unrated(void *impl, const char *account, bool *unrated)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    if (!account) return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_GIG_UNRATED);
    bind_text(st, 1, account);
    int rc = sqlite3_step(st);
    bool v = rc == SQLITE_ROW && sqlite3_column_int(st, 0) != 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW) e = map_rc(s, rc, "gig_unrated");
    pthread_mutex_unlock(&s->mu);
    if (e == DROP_OK) *unrated = v;
    return e;
}

/* ---- inbox ---------------------------------------------------------------- */

static drop_err sq_message_create(void *impl, const struct message *m)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    if (!id_valid(m->id) || !id_valid(m->from) || !id_valid(m->to) || !m->text ||
        !m->text[0] || strlen(m->text) > INBOX_TEXT_MAX)
        return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_MSG_INSERT);
    bind_text(st, 1, m->id);
    bind_text(st, 2, m->from);
    bind_text(st, 3, m->to);
    bind_text(st, 4, m->text);
    sqlite3_bind_int64(st, 5, m->created_at);
    if (m->read_at > 0) sqlite3_bind_int64(st, 6, m->read_at);
    else sqlite3_bind_null(st, 6);
    int rc = run(st);
    if (rc != SQLITE_DONE) e = map_rc(s, sqlite3_extended_errcode(s->db), "message_create");
    pthread_mutex_unlock(&s->mu);
    return e;
}

static drop_err sq_message_list(void *impl, const char *to, int64_t before, int limit,
                                struct message **out, size_t *nout)
{
    struct sq *s = impl;
    struct message *arr = NULL;
    size_t n = 0;
    int rc;
    if (!to || limit < 1 || limit > INBOX_LIST_MAX || before < 0) return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_MSG_LIST);
    bind_text(st, 1, to);
    sqlite3_bind_int64(st, 2, before);
    sqlite3_bind_int(st, 3, limit);
    arr = xcalloc((size_t)limit, sizeof *arr);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < (size_t)limit) {
        struct message *m = &arr[n++];
        col_copy(st, 0, m->id, sizeof m->id);
        col_copy(st, 1, m->from, sizeof m->from);
        col_copy(st, 2, m->to, sizeof m->to);
        m->text = col_dup(st, 3, false);
        m->created_at = sqlite3_column_int64(st, 4);
        m->read_at = sqlite3_column_int64(st, 5); /* NULL reads as 0 */
    }
    sqlite3_reset(st);
    drop_err e = rc == SQLITE_DONE || rc == SQLITE_ROW ? DROP_OK : map_rc(s, rc, "message_list");
    pthread_mutex_unlock(&s->mu);
    if (e != DROP_OK || n == 0) {
        message_array_free(arr, n);
        arr = NULL;
        if (e != DROP_OK) return e;
    }
    *out = arr;
    *nout = n;
    return DROP_OK;
}

/* One transaction of per-id updates guarded by the recipient. */
static drop_err sq_message_mark_read(void *impl, const char *to, const char (*ids)[DROP_ID_SIZE],
                                     size_t n, int64_t now)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    int rc;
    if (!to || n > INBOX_READ_MAX) return DROP_EBADREQ;
    if (n == 0) return DROP_OK;
    pthread_mutex_lock(&s->mu);
    if ((rc = begin(s)) != SQLITE_OK) goto fail;
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = stmt(s, ST_MSG_READ);
        bind_text(st, 1, ids[i]);
        bind_text(st, 2, to);
        sqlite3_bind_int64(st, 3, now);
        if ((rc = run(st)) != SQLITE_DONE) goto fail;
    }
    if ((rc = commit(s)) != SQLITE_OK) goto fail;
    goto done;
fail:
    e = map_rc(s, sqlite3_extended_errcode(s->db), "message_mark_read");
    rollback(s);
done:
    pthread_mutex_unlock(&s->mu);
    return e;
}

static drop_err sq_message_unread(void *impl, const char *to, int64_t *count)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    if (!to) return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_MSG_UNREAD);
    bind_text(st, 1, to);
    int rc = sqlite3_step(st);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW) e = map_rc(s, rc, "message_unread");
    pthread_mutex_unlock(&s->mu);
    if (e == DROP_OK) *count = v;
    return e;
}

/* ---- jobs ----------------------------------------------------------------- */

/* Inserts (expected < 0) or compare-and-sets a job row: its record in doc
 * beside the indexed copies. */
static drop_err job_write(struct sq *s, const struct job *j, int64_t expected, const char *op)
{
    drop_err e = DROP_OK;
    bool cas = expected >= 0;
    int rc;
    if (cas && (expected < 1 || j->version <= expected)) return DROP_EBADREQ;
    char *doc = job_record_dump(j); /* validates */
    if (!doc) return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, cas ? ST_JOB_UPDATE : ST_JOB_INSERT);
    bind_text(st, 1, j->id);
    bind_text(st, 2, j->client);
    bind_text(st, 3, j->worker);
    bind_text(st, 4, job_status_name(j->status));
    sqlite3_bind_int64(st, 5, j->version);
    sqlite3_bind_int64(st, 6, j->created_at);
    sqlite3_bind_text(st, 7, doc, -1, SQLITE_STATIC);
    if (cas) sqlite3_bind_int64(st, 8, expected);
    rc = run(st);
    sqlite3_clear_bindings(st); /* doc is freed below */
    if (rc != SQLITE_DONE) {
        e = map_rc(s, sqlite3_extended_errcode(s->db), op);
    } else if (cas && sqlite3_changes(s->db) == 0) {
        st = stmt(s, ST_JOB_EXISTS);
        bind_text(st, 1, j->id);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_ROW) e = DROP_ECONFLICT;
        else if (rc == SQLITE_DONE) e = DROP_ENOTFOUND;
        else e = map_rc(s, rc, op);
    }
    pthread_mutex_unlock(&s->mu);
    free(doc);
    return e;
}

static drop_err sq_job_create(void *impl, const struct job *j)
{
    return job_write(impl, j, -1, "job_create");
}

static drop_err sq_job_cas(void *impl, const struct job *j, int64_t expected_version)
{
    if (expected_version < 1) return DROP_EBADREQ;
    return job_write(impl, j, expected_version, "job_cas");
}

/* Parses the doc in column 0 of the current row into out. */
static drop_err row_job(sqlite3_stmt *st, struct job *out, const char *op)
{
    char why[128] = "";
    const char *doc = (const char *)sqlite3_column_text(st, 0);
    size_t len = (size_t)sqlite3_column_bytes(st, 0);
    drop_err e = job_record_parse(doc, len, out, why, sizeof why);
    if (e != DROP_OK)
        log_error("event=store_corrupt_job backend=sqlite op=%s why=\"%s\"", op, why);
    return e;
}

static drop_err sq_job_get(void *impl, const char *id, struct job *out)
{
    struct sq *s = impl;
    drop_err e;
    struct job j;
    if (!id) return DROP_ENOTFOUND;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_JOB_GET);
    bind_text(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) e = row_job(st, &j, "job_get");
    else if (rc == SQLITE_DONE) e = DROP_ENOTFOUND;
    else e = map_rc(s, rc, "job_get");
    sqlite3_reset(st);
    pthread_mutex_unlock(&s->mu);
    if (e == DROP_OK && strcmp(j.id, id) != 0) {
        job_free(&j);
        e = DROP_EINTERNAL;
    }
    if (e == DROP_OK) *out = j;
    return e;
}

static drop_err sq_job_list(void *impl, const struct job_filter *f, struct job **out,
                            size_t *nout)
{
    struct sq *s = impl;
    static const enum stmt by_role[] = {ST_JOB_LIST_ANY, ST_JOB_LIST_CLIENT, ST_JOB_LIST_WORKER};
    struct job *arr = NULL;
    size_t n = 0;
    int rc;
    if (!f->account || f->limit < 1 || f->limit > JOB_LIST_MAX || f->before < 0 ||
        (unsigned)f->role > JOB_ROLE_WORKER ||
        (f->has_status && (unsigned)f->status >= JOB_STATUS__COUNT))
        return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, by_role[f->role]);
    bind_text(st, 1, f->account);
    bind_text(st, 2, f->has_status ? job_status_name(f->status) : NULL);
    sqlite3_bind_int64(st, 3, f->before);
    sqlite3_bind_int(st, 4, f->limit);
    arr = xcalloc((size_t)f->limit, sizeof *arr);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < (size_t)f->limit)
        if (row_job(st, &arr[n], "job_list") == DROP_OK) n++; /* a corrupt row is skipped */
    sqlite3_reset(st);
    drop_err e = rc == SQLITE_DONE || rc == SQLITE_ROW ? DROP_OK : map_rc(s, rc, "job_list");
    pthread_mutex_unlock(&s->mu);
    if (e != DROP_OK || n == 0) {
        job_array_free(arr, n);
        arr = NULL;
        if (e != DROP_OK) return e;
    }
    *out = arr;
    *nout = n;
    return DROP_OK;
}

/* ---- operator booking records ---------------------------------------------- */

static drop_err sq_operator_lock_get(void *impl, const char *operator,
                                     struct store_operator_lock *out)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    struct store_operator_lock l;
    if (!operator || !id_valid(operator)) return DROP_ENOTFOUND;
    memset(&l, 0, sizeof l);
    snprintf(l.operator, sizeof l.operator, "%s", operator);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_OPLOCK_GET);
    bind_text(st, 1, operator);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        col_copy(st, 0, l.gig, sizeof l.gig);
        l.version = sqlite3_column_int64(st, 1);
    } else if (rc == SQLITE_DONE) {
        e = DROP_ENOTFOUND;
    } else {
        e = map_rc(s, rc, "operator_lock_get");
    }
    sqlite3_reset(st);
    pthread_mutex_unlock(&s->mu);
    if (e == DROP_OK) *out = l;
    return e;
}

static drop_err sq_operator_lock_cas(void *impl, const struct store_operator_lock *l,
                                     int64_t expected)
{
    struct sq *s = impl;
    drop_err e = DROP_OK;
    if (!id_valid(l->operator) || (l->gig[0] && !id_valid(l->gig)) || expected < 0 ||
        l->version <= expected)
        return DROP_EBADREQ;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, expected == 0 ? ST_OPLOCK_INSERT : ST_OPLOCK_UPDATE);
    bind_text(st, 1, l->operator);
    bind_text(st, 2, l->gig[0] ? l->gig : NULL);
    sqlite3_bind_int64(st, 3, l->version);
    if (expected > 0) sqlite3_bind_int64(st, 4, expected);
    int rc = run(st);
    if (rc != SQLITE_DONE) {
        e = map_rc(s, sqlite3_extended_errcode(s->db), "operator_lock_cas");
    } else if (expected > 0 && sqlite3_changes(s->db) == 0) {
        st = stmt(s, ST_OPLOCK_GET);
        bind_text(st, 1, l->operator);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_ROW) e = DROP_ECONFLICT;
        else if (rc == SQLITE_DONE) e = DROP_ENOTFOUND;
        else e = map_rc(s, rc, "operator_lock_cas");
    }
    pthread_mutex_unlock(&s->mu);
    return e;
}

static const struct store_ops SQLITE_OPS = {
    .name = "sqlite",
    .close = sq_close,
    .ping = sq_ping,
    .account_create = sq_account_create,
    .account_get = sq_account_get,
    .account_by_identity = sq_account_by_identity,
    .account_update = sq_account_update,
    .account_archive = sq_account_archive,
    .account_list = sq_account_list,
    .account_add_rating = sq_account_add_rating,
    .token_put = sq_token_put,
    .token_get_by_account = sq_token_get_by_account,
    .token_lookup = sq_token_lookup,
    .token_touch = sq_token_touch,
    .token_delete = sq_token_delete,
    .token_delete_by_account = sq_token_delete_by_account,
    .gig_create = sq_gig_create,
    .gig_get = sq_gig_get,
    .gig_cas = sq_gig_cas,
    .gig_list = sq_gig_list,
    .gig_for_account = sq_gig_for_account,
    .gig_due = sq_gig_due,
    .gig_unrated = sq_gig_unrated,
    .message_create = sq_message_create,
    .message_list = sq_message_list,
    .message_mark_read = sq_message_mark_read,
    .message_unread = sq_message_unread,
    .job_create = sq_job_create,
    .job_get = sq_job_get,
    .job_cas = sq_job_cas,
    .job_list = sq_job_list,
    /* identity codes and account changes: store_sqlite_codes.c */
    .code_get = sq_code_get,
    .code_cas = sq_code_cas,
    .identity_verify = sq_identity_verify,
    .password_set = sq_password_set,
    .account_type_set = sq_account_type_set,
    .operator_lock_get = sq_operator_lock_get,
    .operator_lock_cas = sq_operator_lock_cas,
    .device_put = sq_device_put,
    .device_delete = sq_device_delete,
    .device_list = sq_device_list,
};

/* ---- for store_sqlite_codes.c (store_sqlite_internal.h) ---- */

sqlite3 *sq_db(void *impl) { return ((struct sq *)impl)->db; }
pthread_mutex_t *sq_mutex(void *impl) { return &((struct sq *)impl)->mu; }
drop_err sq_map(void *impl, int rc, const char *op) { return map_rc(impl, rc, op); }

/* ---- open --------------------------------------------------------------- */

/* mkdir -p of dir. Returns 0 or an errno. */
static int mkdir_p(const char *dir)
{
    char buf[4096];
    if (strlen(dir) >= sizeof buf) return ENAMETOOLONG;
    strcpy(buf, dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return errno;
    struct stat sb;
    if (stat(buf, &sb) != 0) return errno;
    if (!S_ISDIR(sb.st_mode)) return ENOTDIR;
    return 0;
}

/* File-system checks before SQLite sees the path, so that the reasons are
 * plain: a directory, an unmakeable or unwritable directory, a read-only
 * file. Root passes access() for any mode, so the mode bits are checked too:
 * a file that nobody may write is refused as read-only. */
static drop_err check_path(const char *path, char *why, size_t whylen)
{
    struct stat sb;
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) >= sizeof dir)
        return fail(DROP_EUNAVAIL, why, whylen, "%s: path too long", path);
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);

    int rc = mkdir_p(dir);
    if (rc != 0)
        return fail(DROP_EUNAVAIL, why, whylen, "%s: cannot create directory %s: %s", path, dir,
                    strerror(rc));
    if (access(dir, W_OK | X_OK) != 0)
        return fail(DROP_EUNAVAIL, why, whylen, "%s: directory %s is not writable: %s", path, dir,
                    strerror(errno));
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT) return DROP_OK; /* created by SQLite */
        return fail(DROP_EUNAVAIL, why, whylen, "%s: %s", path, strerror(errno));
    }
    if (S_ISDIR(sb.st_mode))
        return fail(DROP_EUNAVAIL, why, whylen, "%s: is a directory, not a database file", path);
    if (!S_ISREG(sb.st_mode))
        return fail(DROP_EUNAVAIL, why, whylen, "%s: not a regular file", path);
    if ((sb.st_mode & 0222) == 0)
        return fail(DROP_EUNAVAIL, why, whylen, "%s: file is read-only (mode %04o)", path,
                    (unsigned)(sb.st_mode & 07777));
    if (access(path, R_OK | W_OK) != 0)
        return fail(DROP_EUNAVAIL, why, whylen, "%s: cannot read and write: %s", path,
                    strerror(errno));
    return DROP_OK;
}

/* The database holds password hashes: the file is created 0600 before
 * SQLite opens it (SQLite gives its -wal and -shm files the database
 * file's mode), and an older file, -wal or -shm is narrowed to 0600. */
static drop_err make_private(const char *path, char *why, size_t whylen)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    char p[4200];
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail(DROP_EUNAVAIL, why, whylen, "%s: cannot create: %s", path, strerror(errno));
    close(fd);
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        if (chmod(p, 0600) != 0 && errno != ENOENT)
            return fail(DROP_EUNAVAIL, why, whylen, "%s: cannot chmod 0600: %s", p, strerror(errno));
    }
    return DROP_OK;
}

/* Runs a pragma and copies its first result column into out (may be
 * NULL). Returns an SQLite code. */
static int pragma(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return rc;
    rc = sqlite3_step(st);
    if (out && outlen) {
        out[0] = '\0';
        if (rc == SQLITE_ROW) col_copy(st, 0, out, outlen);
    }
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) rc = SQLITE_OK;
    sqlite3_finalize(st);
    return rc;
}

static int migrate(sqlite3 *db, int from)
{
    char sql[64];
    for (int v = from; v < N_MIGRATIONS; v++) {
        int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK) rc = sqlite3_exec(db, MIGRATIONS[v], NULL, NULL, NULL);
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
        if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        if (rc == SQLITE_OK) rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            rc = sqlite3_extended_errcode(db);
            if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
        log_info("event=store_migrated backend=sqlite version=%d", v + 1);
    }
    return SQLITE_OK;
}

drop_err store_sqlite_open(const char *path, struct store **out, char *why, size_t whylen)
{
    drop_err e;
    struct sq *s = NULL;
    sqlite3 *db = NULL;
    char val[256];
    int rc;

    if (!path || !*path) return fail(DROP_EUNAVAIL, why, whylen, "empty sqlite path");
    if ((e = check_path(path, why, whylen)) != DROP_OK) goto fail;
    if (strcmp(path, ":memory:") != 0 && strncmp(path, "file:", 5) != 0 &&
        (e = make_private(path, why, whylen)) != DROP_OK)
        goto fail;

    rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                        SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        e = fail(DROP_EUNAVAIL, why, whylen, "%s: cannot open: %s", path,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, STORE_SQLITE_BUSY_MS);
    if (sqlite3_db_readonly(db, "main") == 1) {
        e = fail(DROP_EUNAVAIL, why, whylen, "%s: opened read-only (no write permission)", path);
        goto fail;
    }
    /* The first read of the file: "file is not a database" shows here. */
    if ((rc = pragma(db, "PRAGMA journal_mode = WAL", val, sizeof val)) != SQLITE_OK) {
        e = fail(DROP_EUNAVAIL, why, whylen, "%s: %s", path, sqlite3_errmsg(db));
        goto fail;
    }
    if (strcmp(val, "wal") != 0) {
        e = fail(DROP_EUNAVAIL, why, whylen, "%s: cannot switch to WAL mode (journal mode %s)",
                 path, val);
        goto fail;
    }
    rc = pragma(db, "PRAGMA quick_check", val, sizeof val);
    for (char *p = val; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' '; /* one log line */
    if (rc != SQLITE_OK || strcmp(val, "ok") != 0) {
        e = fail(DROP_EUNAVAIL, why, whylen, "%s: database is corrupt: %s", path,
                 rc != SQLITE_OK ? sqlite3_errmsg(db) : val);
        goto fail;
    }
    if ((rc = pragma(db, "PRAGMA synchronous = NORMAL", NULL, 0)) != SQLITE_OK ||
        (rc = pragma(db, "PRAGMA foreign_keys = ON", NULL, 0)) != SQLITE_OK) {
        e = fail(DROP_EUNAVAIL, why, whylen, "%s: %s", path, sqlite3_errmsg(db));
        goto fail;
    }
    if ((rc = pragma(db, "PRAGMA user_version", val, sizeof val)) != SQLITE_OK) {
        e = fail(DROP_EUNAVAIL, why, whylen, "%s: %s", path, sqlite3_errmsg(db));
        goto fail;
    }
    int version = atoi(val);
    if (version > N_MIGRATIONS) {
        e = fail(DROP_EUNAVAIL, why, whylen,
                 "%s: schema version %d is newer than this program's (%d)", path, version,
                 N_MIGRATIONS);
        goto fail;
    }
    if ((rc = migrate(db, version)) != SQLITE_OK) {
        e = fail(DROP_EUNAVAIL, why, whylen, "%s: cannot create or migrate the schema: %s", path,
                 sqlite3_errstr(rc));
        goto fail;
    }
    if ((rc = sq_devices_init(db)) != SQLITE_OK) {
        e = fail(DROP_EUNAVAIL, why, whylen, "%s: cannot create the devices table: %s", path,
                 sqlite3_errmsg(db));
        goto fail;
    }
    /* Prove that we can write (a read-only mount or file passes the checks
     * above when nothing needed migrating). */
    rc = sqlite3_exec(db, "BEGIN IMMEDIATE; COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        e = fail(DROP_EUNAVAIL, why, whylen, "%s: not writable: %s", path, sqlite3_errmsg(db));
        goto fail;
    }

    s = xcalloc(1, sizeof *s);
    s->db = db;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->ck_mu, NULL);
    pthread_cond_init(&s->ck_cond, NULL);
    for (int i = 0; i < ST__COUNT; i++) {
        rc = sqlite3_prepare_v3(db, SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
        if (rc != SQLITE_OK) {
            e = fail(DROP_EINTERNAL, why, whylen, "%s: preparing statement %d: %s", path, i,
                     sqlite3_errmsg(db));
            goto fail;
        }
    }
    checkpointer_start(s, path);
    log_info("event=store_open backend=sqlite path=%s schema=%d", path, N_MIGRATIONS);
    *out = store_new(&SQLITE_OPS, s);
    return DROP_OK;
fail:
    if (s) {
        sq_close(s); /* closes db too */
    } else if (db) {
        sqlite3_close(db);
    }
    log_error("event=store_open_failed backend=sqlite reason=\"%s\"", why ? why : "");
    return e;
}
