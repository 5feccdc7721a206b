/* code.h - the pure rules of one-time identity codes (PROTOCOL.md section
 * 5), decided on a store_code record: may a code be sent now (one per
 * identity per CODE_GAP_MS, CODE_WINDOW_SENDS per CODE_WINDOW_MS), and what
 * a try does (spent on its first success, void after CODE_MAX_TRIES wrong
 * ones). No I/O, no clock: now is passed in. ops_code.c writes the changed
 * record back with a compare-and-set. */
#ifndef DROP_CODE_H
#define DROP_CODE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/store.h"

#define CODE_DIGITS 6
#define CODE_MAX_TRIES 5
#define CODE_GAP_MS 30000          /* one send per identity per 30 s */
#define CODE_WINDOW_MS 3600000     /* and at most CODE_WINDOW_SENDS an hour */
#define CODE_WINDOW_SENDS 10

/* Admits a send on c (exists: c holds the stored record; else a new one):
 * returns 0 and counts the send in c (sent_at, window, sends; tries reset),
 * or the milliseconds to wait, c unchanged. The caller then sets the code
 * fields (live, account, hash, salt, expires_at) and the version. */
int64_t code_send_admit(struct store_code *c, bool exists, int64_t now);

enum code_try { CODE_TRY_RIGHT, CODE_TRY_WRONG, CODE_TRY_DEAD };

/* A try of a code on c for account: CODE_TRY_DEAD (nothing to try: no live
 * code, expired, void, or another account's; c unchanged), else
 * CODE_TRY_RIGHT (right is true: the code is spent) or CODE_TRY_WRONG (a
 * wrong try counted; the CODE_MAX_TRIES-th voids it). */
enum code_try code_try(struct store_code *c, const char *account, bool right, int64_t now);

#endif
