/* video_internal.h - what the video providers' files share (video.c,
 * video_opentok.c, video_vonage.c) and what the unit tests check with fixed
 * inputs: JWT signing through libjwt, the OpenTok T1 token, the Vonage
 * client token, and the provider's session-create answer.
 *
 * Every function here is pure apart from the random ids the callers pass
 * in; none logs, so no secret can reach a log line. */
#ifndef DROP_VIDEO_INTERNAL_H
#define DROP_VIDEO_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"

#define VIDEO_JWT_TTL_S 300            /* REST auth JWTs: exp = iat + 5 min */
#define VIDEO_TOKEN_MAX_S (30 * 86400) /* providers refuse tokens past 30 days */

/* A JWT over claims (borrowed), HS256 with key (the OpenTok API secret) or
 * RS256 with key (a PEM private key), header {"alg", "typ": "JWT"}. Returns
 * a heap string (free()) or NULL when signing failed. */
char *video_jwt_sign(bool rs256, const char *key, size_t keylen, json_t *claims);

/* A random UUID v4 (jti claims) into out. */
void video_uuid(char out[37]);

/* The party's connection data, a JSON text: {"accountId":..,"role":..}. */
void video_connection_data(const char *account, const char *role, char *out, size_t outlen);

/* The OpenTok X-OPENTOK-AUTH header value: claims iss = api_key,
 * ist = "project", iat = now_s, exp = now_s + VIDEO_JWT_TTL_S, jti. Heap
 * string or NULL. */
char *video_opentok_auth(const char *api_key, const char *secret, int64_t now_s, const char *jti);

/* An OpenTok T1 token (PROTOCOL.md section 7): "T1==" + base64 of
 * "partner_id=KEY&sig=HEX:" + data, data = the query string session_id,
 * create_time, nonce, role, expire_time, connection_data,
 * initial_layout_class_list (empty), scope=session.connect in the order and
 * escaping of the official SDK, sig = hex HMAC-SHA1 over data with secret.
 * Returns DROP_OK, or DROP_EINTERNAL when out is too small. */
drop_err video_opentok_token(const char *api_key, const char *secret, const char *session,
                             int64_t create_s, const char *nonce, const char *role,
                             int64_t expire_s, const char *connection_data, char *out,
                             size_t outlen);

/* The Vonage Bearer JWT for REST calls: application_id, iat, exp, jti;
 * RS256 with pem. Heap string or NULL. */
char *video_vonage_auth(const char *app_id, const char *pem, size_t pemlen, int64_t now_s,
                        const char *jti);

/* A Vonage Video client token, as the Vonage server SDKs make them: a JWT
 * RS256 with application_id, scope "session.connect", session_id, role,
 * initial_layout_class_list "", connection_data, sub "video",
 * acl {paths: {"/session/ALL": {}}} (ALL = two stars), iat, exp, jti. Returns DROP_OK, or
 * DROP_EINTERNAL (signing failed or out too small). */
drop_err video_vonage_token(const char *app_id, const char *pem, size_t pemlen,
                            const char *session, const char *role, const char *connection_data,
                            int64_t iat_s, int64_t exp_s, const char *jti, char *out,
                            size_t outlen);

/* The session id in a session-create answer (a JSON array whose first
 * element has "session_id"), both providers. Returns DROP_OK with out set,
 * or DROP_EUNAVAIL for any other answer or an id that is not 1..outlen-1
 * bytes of [A-Za-z0-9_~.=+/-]. */
drop_err video_parse_session(const char *body, size_t len, char *out, size_t outlen);

#endif
