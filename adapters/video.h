/* video.h - the video provider behind gig.handshake (PROTOCOL.md section 7):
 * `video dev` (video_dev.c, nothing external), `video opentok` (the OpenTok
 * REST API, T1 tokens) or `video vonage` (the Vonage Video API, JWT tokens).
 *
 * A provider fills the engine's video port. Sessions are created with one
 * REST POST through the shared curl-on-libuv client, so nothing blocks the
 * loop; tokens are computed locally (no I/O). Secrets (the API secret, the
 * private key) are held here, never logged. Loop thread only. */
#ifndef DROP_VIDEO_H
#define DROP_VIDEO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "engine/err.h"

struct engine_video;
struct video;

struct video_config {
    const char *provider;      /* "dev", "opentok" or "vonage" */
    const char *opentok_api_key;
    const char *opentok_api_secret;
    const char *opentok_url;   /* base URL, no trailing path */
    const char *vonage_application_id;
    const char *vonage_private_key; /* path to the PEM file */
    const char *vonage_url;
    bool relayed;              /* video_media_mode relayed (else routed) */
    bool archive_always;       /* video_archive always (else off) */
    int64_t timeout_ms;        /* one session-create POST, start to end */
};

/* Makes the provider (reads the Vonage key file: at start only). Copies what
 * it keeps. Returns DROP_OK and *out, or DROP_EBADREQ with why naming the
 * config key at fault (never a secret), DROP_EINTERNAL when libcurl fails. */
drop_err video_new(uv_loop_t *loop, const struct video_config *cfg, struct video **out,
                   char *why, size_t whylen);

/* Fills port with v's functions (v stays owned by the caller). */
void video_port(struct video *v, struct engine_video *port);

/* Aborts session creations in flight (their callbacks run with
 * DROP_EUNAVAIL before this returns) and frees v once the loop has closed
 * its handles: the loop must run afterwards. NULL is fine. */
void video_close(struct video *v);

#endif
