/* device.c - device tokens and platforms (see device.h). */
#include <string.h>

#include "engine/device.h"

const char *device_platform_name(enum device_platform p)
{
    return p == DEVICE_APNS ? "apns" : "fcm";
}

bool device_platform_parse(const char *s, enum device_platform *out)
{
    if (!s) return false;
    if (strcmp(s, "fcm") == 0) *out = DEVICE_FCM;
    else if (strcmp(s, "apns") == 0) *out = DEVICE_APNS;
    else return false;
    return true;
}

bool device_token_valid(const char *s)
{
    size_t n = 0;
    if (!s) return false;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n >= DEVICE_TOKEN_MAX || c <= ' ' || c > '~' || c == '/' || c == '%' || c == '?' ||
            c == '#')
            return false;
    }
    return n > 0;
}
