/* push_note.h - what a phone shows for an event its app missed
 * (PROTOCOL.md section 6): a readable title and body, and data the app
 * uses to open the right screen and resync (the event name and the ids,
 * every value a string, as FCM requires).
 *
 * Pure: built from the event envelope the engine delivers, with the time
 * passed in. Only gig.offer, gig.updated, inbox.message, job.updated and
 * push are pushed; every other event gives no note. */
#ifndef DROP_PUSH_NOTE_H
#define DROP_PUSH_NOTE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define PUSH_TITLE_MAX 128
#define PUSH_BODY_MAX 240

struct push_note {
    char event[24];              /* "gig.offer", ... */
    char title[PUSH_TITLE_MAX];
    char body[PUSH_BODY_MAX];
    json_t *data;                /* owned: an object of string values */
    bool high;                   /* high priority (offers) */
    int64_t expires_at;          /* ms; 0 = no expiry of its own */
    char collapse[40];           /* a newer note with the same key replaces it; "" = none */
};

/* True when an event named ev is pushed to offline recipients. */
bool push_note_wanted(const char *ev);

/* Builds the note for envelope ({"ev", "data"}) at time now (ms) into out.
 * Returns false (out untouched) when the event is not pushed or is
 * malformed; else out->data must be released with push_note_free. */
bool push_note_build(const json_t *envelope, int64_t now, struct push_note *out);

void push_note_free(struct push_note *n);

/* Parses the protocol's ISO-8601 UTC time ("2016-04-12T03:10:12.542Z") into
 * ms since the epoch; 0 when it is not one. */
int64_t push_note_parse_time(const char *s);

#endif
