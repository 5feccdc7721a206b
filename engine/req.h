/* req.h - one client request, whatever transport carried it.
 *
 * The transport (a WebSocket session or a REST call) decodes a request, fills
 * a struct req and hands it to ops_dispatch(). The handler answers exactly once
 * with req_reply() or req_fail(), at once or later from a job's completion; the
 * answer goes back through r->sink, which owns and frees the req. When the
 * connection went away first, the sink drops the answer: handlers never need to
 * know. Everything here runs on the loop thread. */
#ifndef DROP_REQ_H
#define DROP_REQ_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/err.h"
#include "engine/id.h"

enum role { ROLE_ANON = 0, ROLE_USER, ROLE_OPERATOR, ROLE_ADMIN };

/* Who sent a request: the authenticated identity of its connection. */
struct caller {
    enum role role;
    char account[DROP_ID_SIZE]; /* "" for anonymous and the built-in admin */
    unsigned char token_hash[32];
    bool has_token;             /* false for anonymous and config admin_token */
};

struct req;
struct op_def;
struct engine;

/* The transport's side of a request. done() is called once per request with
 * the outcome; it takes ownership of data (may be NULL) and of r. With an
 * error, data (usually NULL) holds extra fields of the error object, such
 * as rate_limited's retryAfter. */
struct req_sink {
    void (*done)(struct req *r, drop_err err, json_t *data, const char *msg);
};

struct req {
    const struct op_def *op;
    json_t *id;          /* owned; NULL when the client sent none */
    json_t *data;        /* owned; always an object */
    struct caller who;
    struct engine *eng;
    const struct req_sink *sink;
    void *conn;          /* the transport's connection; NULL once it is gone */
    char addr[64];       /* the client's source address; "" when unknown */
    /* Set by an authentication handler before its reply: the connection
     * becomes this caller, and `after` (session.state) is sent right after
     * the reply, before any other event. */
    bool authenticated;
    struct caller auth;
    json_t *after;       /* owned */
};

/* Answers r with success; takes data (NULL means {}). r is gone afterwards. */
void req_reply(struct req *r, json_t *data);

/* Answers r with an error code and a printf-style message. r is gone after.
 * For DROP_EINTERNAL the message is logged with a fresh reference, and the
 * client gets only "internal error, reference <ref>". */
void req_fail(struct req *r, drop_err e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Logs an internal error (why, in op: NULL when none) under a new reference
 * and writes the reference to ref (REQ_REF_SIZE bytes hold any): what a
 * transport answers in place of the reason when it fails on its own. */
#define REQ_REF_SIZE 64
struct engine;
void req_internal_ref(struct engine *e, const char *op, const char *why, char *ref, size_t n);

/* Answers r with rate_limited and retryAfter (whole seconds, >= 1) in the
 * error object. r is gone after. */
void req_fail_retry(struct req *r, int64_t retry_after_s, const char *msg);

/* Answers r from a job's outcome: the error err with message why, or out
 * (which may be NULL for {}). Takes ownership of out either way. */
void req_answer(struct req *r, drop_err err, const char *why, json_t *out);

/* Releases what a req owns (the sink calls this when it is done with it). */
void req_free(struct req *r);

#endif
