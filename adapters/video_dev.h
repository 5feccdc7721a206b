/* video_dev.h - the development video provider (`video dev`). It mints
 * random session ids and tokens that no real video service accepts; every
 * reply names the provider "dev" so it cannot pass for a real one. The
 * real providers (OpenTok, Vonage) and the engine port are in video.h. */
#ifndef DROP_VIDEO_DEV_H
#define DROP_VIDEO_DEV_H

#include <stdbool.h>

void video_dev_session(char out[128]);
void video_dev_token(const char *session, const char *account, bool publisher, char out[256]);

#endif
