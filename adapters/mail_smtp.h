/* mail_smtp.h - the mailer: plain-text email over SMTP with libcurl, on the
 * loop (adapters/curl_uv.c).
 *
 * mail_url is smtp://HOST[:PORT] (STARTTLS when the server offers it) or
 * smtps://HOST[:PORT] (TLS from the first byte); mail_user / mail_password,
 * when set, log in (AUTH). Each message is a proper RFC 5322 one: Date,
 * Message-ID, From, To, Subject, MIME-Version, Content-Type text/plain
 * utf-8, 8bit, CRLF lines. The password is never logged, nor is a message's
 * body (it holds codes). Loop thread only. */
#ifndef DROP_MAIL_SMTP_H
#define DROP_MAIL_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adapters/curl_uv.h"
#include "engine/err.h"

struct mail_smtp;

/* Makes a mailer on cu (borrowed; it must outlive the mailer's sends).
 * from is "Name <addr@host>" or "addr@host". Copies the strings. DROP_OK and
 * *out, or DROP_EBADREQ with why naming the key (never its value). */
drop_err mail_smtp_new(struct curl_uv *cu, const char *url, const char *from, const char *user,
                       const char *password, int64_t timeout_ms, struct mail_smtp **out,
                       char *why, size_t whylen);

/* Sends text (UTF-8, lines ending in CRLF or LF) with subject to `to` (one
 * address, no display name). done(ud, ok) once on the loop: ok when the
 * server accepted the message. to and subject must hold no CR or LF (else
 * done(ud, false) at once). */
void mail_smtp_send(struct mail_smtp *m, const char *to, const char *subject, const char *text,
                    void (*done)(void *ud, bool ok), void *ud);

/* Frees the mailer (close its curl_uv first: that ends the running sends). */
void mail_smtp_free(struct mail_smtp *m);

#endif
