/* device.h - a phone's push address (PROTOCOL.md section 6): the token a
 * push platform (FCM or APNs) gave the app, held for one account.
 *
 * A token is unique: registering it again (from any account) moves it to
 * that account. An account holds at most DEVICE_MAX_PER_ACCOUNT devices;
 * the least recently registered goes when one more is registered. */
#ifndef DROP_DEVICE_H
#define DROP_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/id.h"

#define DEVICE_MAX_PER_ACCOUNT 10
#define DEVICE_TOKEN_MAX 512 /* bytes; FCM tokens are ~160, APNs 64 hex */

enum device_platform { DEVICE_FCM = 0, DEVICE_APNS };

struct device {
    char id[DROP_ID_SIZE];      /* orders registrations (an ObjectId, newer = larger) */
    char account[DROP_ID_SIZE];
    enum device_platform platform;
    char token[DEVICE_TOKEN_MAX + 1];
    bool sandbox;               /* APNs development build */
    int64_t created_at;         /* ms: the last registration */
};

/* "fcm" / "apns". */
const char *device_platform_name(enum device_platform p);

/* Parses "fcm" / "apns"; false for anything else. */
bool device_platform_parse(const char *s, enum device_platform *out);

/* True for a token of 1..DEVICE_TOKEN_MAX printable ASCII bytes without
 * spaces, '/' or '%' (it goes into a URL path). */
bool device_token_valid(const char *s);

#endif
