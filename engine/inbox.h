/* inbox.h - the Freelancer seed's peer-to-peer messages: one stored message
 * per send, owned by its recipient's inbox, read or unread.
 *
 * Pure rules: the message object, its limits, its JSON shape. The store
 * keeps messages (engine/store.h: message_*); ops_inbox.c runs the ops. */
#ifndef DROP_INBOX_H
#define DROP_INBOX_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"
#include "engine/id.h"

#define INBOX_TEXT_MAX 4000   /* bytes, at least 1 */
#define INBOX_LIST_MAX 200    /* messages per inbox.list */
#define INBOX_LIST_DEFAULT 50
#define INBOX_READ_MAX 200    /* ids per inbox.read */

struct message {
    char id[DROP_ID_SIZE];
    char from[DROP_ID_SIZE];
    char to[DROP_ID_SIZE];
    char *text;       /* owned */
    int64_t created_at;
    int64_t read_at;  /* 0 = unread */
};

/* Frees m's text (m itself is the caller's). */
void message_free(struct message *m);

/* Frees an array of n messages from the store's listing. NULL is fine. */
void message_array_free(struct message *arr, size_t n);

/* Checks a message text: DROP_OK, DROP_EBADREQ (missing or empty) or
 * DROP_ETOOLARGE (over INBOX_TEXT_MAX bytes), with the reason in why. */
drop_err inbox_check_text(const char *text, char *why, size_t whylen);

/* {id, from, to, text, createdAt, readAt (null when unread)}. New reference. */
json_t *message_to_json(const struct message *m);

#endif
