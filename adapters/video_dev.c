/* video_dev.c - see video_dev.h. Tokens are random, per party and role. */
#include <openssl/rand.h>
#include <stdio.h>

#include "adapters/video_dev.h"

static void hex(char *out, int nbytes)
{
    unsigned char b[32];
    if (nbytes > 32) nbytes = 32;
    if (RAND_bytes(b, nbytes) != 1)
        for (int i = 0; i < nbytes; i++) b[i] = (unsigned char)(i * 37 + 11);
    for (int i = 0; i < nbytes; i++) snprintf(out + 2 * i, 3, "%02x", b[i]);
}

void video_dev_session(char out[128])
{
    char h[65];
    hex(h, 16);
    snprintf(out, 128, "dev_session_%s", h);
}

void video_dev_token(const char *session, const char *account, bool publisher, char out[256])
{
    char h[65];
    hex(h, 16);
    snprintf(out, 256, "dev_token_%s_%.24s_%.40s_%s", publisher ? "publisher" : "subscriber",
             account, session, h);
}
