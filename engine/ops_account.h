/* ops_account.h - what the account handlers share with the identity-code
 * handlers (ops_code.c): the task state, answering from it, and signing in.
 * Engine-internal; loop thread unless a comment says pool thread. */
#ifndef DROP_OPS_ACCOUNT_H
#define DROP_OPS_ACCOUNT_H

#include <jansson.h>

#include "engine/account.h"
#include "engine/engine.h"

/* Shared task state of the account handlers. */
struct acct_task {
    struct req *r;
    drop_err err;
    char why[200];
    struct account a;            /* the subject account */
    const char *password;        /* borrowed from r->data */
    char identity[ACCOUNT_IDENTITY_SIZE];
    char token[64];
    unsigned char hash[32];
    int64_t expires_at;
    char target[DROP_ID_SIZE];   /* account.get/update/delete: whose */
    struct account_filter filter;
    json_t *out;                 /* reply data built on the pool thread */
    json_t *state;               /* session.state data */
    bool freelancer;             /* register: answer in the Freelancer shape */
    char new_type[12];           /* account.update by an admin: the new type */
};

/* A new task for r (owns nothing of r). */
struct acct_task *acct_task_new(struct req *r);
void acct_task_free(struct acct_task *j);

/* Records the task's error and its message. */
void acct_fail(struct acct_task *j, drop_err e, const char *msg);

/* Maps a store failure to its protocol answer (not_found says what). */
void acct_store_fail(struct acct_task *j, drop_err e, const char *what);

/* Answers r from a finished task (the error, or j->out) and frees j. */
void acct_finish(struct acct_task *j);

/* The role an account type signs in as. */
enum role role_of_type(const char *type);

/* Marks j->r as authenticating its connection as j->a with token j->hash;
 * session.state (j->state, taken) follows the reply. */
void acct_authenticate(struct acct_task *j);

/* Pool thread: returns the account's live token (extended) or issues a new one
 * into j->token / j->hash / j->expires_at. Store codes. */
drop_err acct_issue_token(struct engine *e, struct acct_task *j, int64_t now);

#endif
