/* config.h - dropind's configuration: defaults, conf file, command line.
 *
 * The file is redis.conf style: one `key value` per line, `#` starts a comment,
 * blank lines are ignored. Every key may also be given on the command line as
 * `--key value`, which wins over the file. The table in config.c is the single
 * list of keys, their types, defaults and limits; conf/dropind.conf documents
 * each one. Durations accept ms/s/m/h/d suffixes (no suffix = seconds) and are
 * stored in milliseconds; sizes accept k/m suffixes (KiB, MiB). */
#ifndef DROP_CONFIG_H
#define DROP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/err.h"

struct config {
    /* network */
    char listen_host[64];
    int listen_port;
    char *allowed_origins; /* space or comma separated; "*" allows any */
    char *tls_cert;
    char *tls_key;
    /* node and backends */
    char *store;
    char *bus;
    char *bus_prefix;
    char *node_id;
    bool single_node;
    char *admin_token;
    char *token_secret;
    int log_level;
    int workers;
    /* sessions */
    int64_t auth_timeout_ms;
    int64_t idle_timeout_ms;
    int64_t max_message_bytes;
    int64_t session_queue_bytes;
    int64_t max_sessions;
    double rate_limit;     /* requests per second per session */
    int64_t rate_burst;
    int64_t token_ttl_ms;
    int64_t token_max_age_ms;
    int64_t http_max_body;
    int64_t login_max_failures;   /* sign-in brake (engine/throttle.h) */
    int64_t login_lockout_max_ms;
    int64_t http_header_timeout_ms; /* headers complete within, from the first byte */
    int64_t http_body_timeout_ms;   /* request read and answered within */
    /* presence and dispatch */
    int64_t presence_ttl_ms;
    double grid_cell_m;
    int64_t wave_size;
    double dispatch_radius_m;
    int64_t offer_ttl_ms;
    int64_t pending_ttl_ms;
    int64_t confirm_ttl_ms;
    int64_t handshake_ttl_ms;
    int64_t max_stream_ms;
    int64_t sweep_interval_ms;
    double price_per_minute;
    double operator_share;
    char *video;
    char *video_media_mode;      /* routed | relayed */
    char *video_archive;         /* off | always */
    int64_t video_timeout_ms;
    char *opentok_api_key;
    char *opentok_api_secret;    /* secret: masked; also DROPIN_OPENTOK_API_SECRET */
    char *opentok_url;
    char *vonage_application_id;
    char *vonage_private_key;    /* path to the PEM file */
    char *vonage_url;
    int64_t store_timeout_ms;
    /* uploads (S3 presigned URLs) and push notifications */
    char *s3_bucket;
    char *s3_region;
    char *s3_endpoint;
    char *s3_access_key;
    char *s3_secret_key;
    int64_t s3_url_ttl_ms;
    char *push_url;
    char *push_key;
    int64_t push_timeout_ms;
    int64_t push_max_inflight;
    /* push to phones (adapters/pusher.c): FCM HTTP v1, APNs, the queue */
    char *fcm_credentials;       /* path to a Google service-account JSON */
    char *fcm_url;
    char *apns_key;              /* path to the .p8 key */
    char *apns_key_id;
    char *apns_team_id;
    char *apns_topic;
    char *apns_url;
    char *apns_sandbox_url;
    char *push_ca_file;          /* extra CA bundle (PEM) for the providers */
    int64_t push_queue;
    /* identity codes: email over SMTP, SMS through Twilio */
    int64_t code_ttl_ms;
    char *mail_url;
    char *mail_from;
    char *mail_user;
    char *mail_password;
    char *sms_provider;
    char *twilio_url;
    char *twilio_account_sid;
    char *twilio_auth_token;
    char *twilio_from;
};

/* Fills every field with its default. */
void config_init(struct config *c);

/* Releases the strings a config owns. */
void config_free(struct config *c);

/* Sets one key from its text value. Returns DROP_OK, or DROP_EBADREQ with a
 * message naming the key in why (unknown key, bad value, out of range). */
drop_err config_set(struct config *c, const char *key, const char *value, char *why, size_t whylen);

/* Applies a conf file. Returns DROP_OK, DROP_ENOTFOUND when the file cannot be
 * read, DROP_EBADREQ for a bad line (why names the file, line and key). */
drop_err config_load_file(struct config *c, const char *path, char *why, size_t whylen);

/* Parses argv: -c/--config FILE first, then every --key value over it.
 * Returns DROP_OK, or an error with why set; *help is set for -h/--help. */
drop_err config_parse_args(struct config *c, int argc, char **argv, bool *help, char *why, size_t whylen);

/* Prints every key with its current value (secrets masked) to f. */
void config_dump(const struct config *c, void *f);

#endif
