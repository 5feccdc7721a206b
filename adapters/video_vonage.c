/* video_vonage.c - the Vonage Video API's REST auth JWT and client tokens
 * (see video_internal.h). Both are JWTs RS256 with the application's private
 * key; the client token carries the claims Vonage's own server SDKs put in
 * (@vonage/video generateClientToken through @vonage/jwt tokenGenerate). */
#include <stdlib.h>
#include <string.h>

#include "adapters/video_internal.h"

char *video_vonage_auth(const char *app_id, const char *pem, size_t pemlen, int64_t now_s,
                        const char *jti)
{
    json_t *claims = json_pack("{s:s,s:I,s:I,s:s}", "application_id", app_id, "iat",
                               (json_int_t)now_s, "exp", (json_int_t)(now_s + VIDEO_JWT_TTL_S),
                               "jti", jti);
    char *jwt = video_jwt_sign(true, pem, pemlen, claims);
    json_decref(claims);
    return jwt;
}

drop_err video_vonage_token(const char *app_id, const char *pem, size_t pemlen,
                            const char *session, const char *role, const char *connection_data,
                            int64_t iat_s, int64_t exp_s, const char *jti, char *out,
                            size_t outlen)
{
    json_t *claims = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:{s:{s:{}}},s:I,s:I,s:s}", "application_id", app_id,
        "scope", "session.connect", "session_id", session, "role", role,
        "initial_layout_class_list", "", "connection_data", connection_data, "sub", "video", "acl",
        "paths", "/session/**", "iat", (json_int_t)iat_s, "exp", (json_int_t)exp_s, "jti", jti);
    char *jwt = video_jwt_sign(true, pem, pemlen, claims);
    drop_err rc = DROP_EINTERNAL;
    json_decref(claims);
    if (jwt && strlen(jwt) < outlen) {
        memcpy(out, jwt, strlen(jwt) + 1);
        rc = DROP_OK;
    }
    free(jwt);
    return rc;
}
