/* store_sqlite.c - the store port on SQLite (see store_sqlite.h).
 *
 * Layout: this file holds the schema migrations, the statement table (an
 * enum in store_sqlite_internal.h and its SQL here, prepared at open), the
 * checkpointer, close/ping, the vtable and open. The ops live by concept:
 * store_sqlite_accounts.c (accounts, identities, tokens),
 * store_sqlite_records.c (every record kind, the named gig and job
 * queries, operator booking records), store_sqlite_inbox.c,
 * store_sqlite_devices.c. Each op takes the mutex, binds, steps, resets its statements (an un-reset
 * SELECT would keep a read transaction open), and maps SQLite's result to a
 * drop_err once, in map_rc. Identity values are unique among ACTIVE
 * identities (a partial unique index), so archiving an account releases
 * them; a unique violation, also from a racing insert, is DROP_ECONFLICT.
 * A record (a gig, a job: any struct record_kind of engine/store.h) is one
 * row: its record as JSON text in doc, beside copies of its indexed fields;
 * the compare-and-set is an UPDATE ... WHERE version = expected that must
 * change one row. Inbox messages are plain rows, read_at NULL while unread.
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
#include "engine/gig_record.h"
#include "engine/log.h"
#include "engine/mem.h"
#include "adapters/store_sqlite_internal.h"

/* Migration i takes the schema from version i to i + 1 (PRAGMA
 * user_version holds the version). Append only: a released migration never
 * changes. A new table comes as a further entry, or, when no migration will
 * ever touch it, IF NOT EXISTS at open (devices: store_sqlite_devices.c). A
 * record kind's table holds id, version, its indexed fields and doc, and a
 * kind with a set has its side table too (gigs: gig_open_offers). */
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
#define TOK_COLS "hash, sealed, account_id, created_at, expires_at"
/* The statuses of gig_for_account: live (gig_status_live) and purchased. */
#define GIG_FOR_ACC_STATUSES                                                             \
    "('pendingOperator', 'operatorFound', 'operatorEnroute', 'handshaking', 'streaming',"  \
    " 'purchased')"
#define GIG_LIST_FILTER "(?2 IS NULL OR status = ?2) AND (?3 = 0 OR created_at < ?3)"

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

void sq_close(void *impl)
{
    struct sq *s = impl;
    if (!s) return;
    checkpointer_stop(s);
    for (int i = 0; i < ST__COUNT; i++) sqlite3_finalize(s->st[i]);
    sq_record_close(s);
    int rc = sqlite3_close(s->db);
    if (rc != SQLITE_OK) log_error("event=store_close_failed backend=sqlite rc=%d", rc);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

drop_err sq_ping(void *impl)
{
    struct sq *s = impl;
    pthread_mutex_lock(&s->mu);
    int rc = run(stmt(s, ST_PING));
    drop_err e = rc == SQLITE_DONE ? DROP_OK : map_rc(s, rc, "ping");
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
    .record_create = sq_record_create,
    .record_get = sq_record_get,
    .record_cas = sq_record_cas,
    .record_delete = sq_record_delete,
    .record_list = sq_record_list,
    .gig_list = sq_gig_list,
    .gig_for_account = sq_gig_for_account,
    .gig_due = sq_gig_due,
    .gig_unrated = sq_gig_unrated,
    .message_create = sq_message_create,
    .message_list = sq_message_list,
    .message_mark_read = sq_message_mark_read,
    .message_unread = sq_message_unread,
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
