/* sms_twilio.h - text messages through Twilio's REST API, with libcurl on
 * the loop (adapters/curl_uv.c): POST {url}/2010-04-01/Accounts/{sid}/
 * Messages.json, form fields To, From, Body, HTTP Basic auth sid:token.
 * A 2xx answer is a sent message. The token is never logged, nor a body
 * (it holds codes). Loop thread only. */
#ifndef DROP_SMS_TWILIO_H
#define DROP_SMS_TWILIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adapters/curl_uv.h"
#include "engine/err.h"

struct sms_twilio;

/* Makes a sender on cu (borrowed). url is http[s]://HOST[:PORT] (Twilio's
 * is https://api.twilio.com); sid, token and from (an E.164 number or a
 * sender id) are required. Copies the strings. DROP_OK and *out, or
 * DROP_EBADREQ with why naming the key (never a secret). */
drop_err sms_twilio_new(struct curl_uv *cu, const char *url, const char *sid, const char *token,
                        const char *from, int64_t timeout_ms, struct sms_twilio **out, char *why,
                        size_t whylen);

/* Sends text to the E.164 digits `to` ('+' is added). done(ud, ok) once on
 * the loop. */
void sms_twilio_send(struct sms_twilio *t, const char *to, const char *text,
                     void (*done)(void *ud, bool ok), void *ud);

void sms_twilio_free(struct sms_twilio *t);

#endif
