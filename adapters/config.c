/* config.c - one table of keys drives defaults, parsing and dumping.
 *
 * Parsing order: defaults, then the conf file (-c), then --key value pairs, so
 * the command line always wins wherever -c appears in argv. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/config.h"
#include "engine/log.h"
#include "engine/mem.h"

enum ckind { K_STR, K_INT, K_DUR, K_SIZE, K_BOOL, K_REAL, K_LISTEN, K_LEVEL };

struct ckey {
    const char *name;
    enum ckind kind;
    size_t off;
    const char *def;
    double min, max; /* numeric limits, in the stored unit (ms, bytes) */
    bool secret;
};

#define OFF(f) offsetof(struct config, f)
#define DAY (86400.0 * 1000)

static const struct ckey keys[] = {
    {"listen", K_LISTEN, 0, "127.0.0.1:8080", 0, 0, false},
    {"allowed_origins", K_STR, OFF(allowed_origins), "", 0, 0, false},
    {"tls_cert", K_STR, OFF(tls_cert), "", 0, 0, false},
    {"tls_key", K_STR, OFF(tls_key), "", 0, 0, false},
    {"store", K_STR, OFF(store), "sqlite:var/dropin.db", 0, 0, false},
    {"bus", K_STR, OFF(bus), "local", 0, 0, false},
    {"bus_prefix", K_STR, OFF(bus_prefix), "dropin:", 0, 0, false},
    {"node_id", K_STR, OFF(node_id), "", 0, 0, false},
    {"single_node", K_BOOL, OFF(single_node), "no", 0, 0, false},
    {"admin_token", K_STR, OFF(admin_token), "", 0, 0, true},
    {"token_secret", K_STR, OFF(token_secret), "", 0, 0, true},
    {"log_level", K_LEVEL, OFF(log_level), "info", 0, 0, false},
    {"workers", K_INT, OFF(workers), "4", 1, 64, false},
    {"auth_timeout", K_DUR, OFF(auth_timeout_ms), "10s", 100, DAY, false},
    {"idle_timeout", K_DUR, OFF(idle_timeout_ms), "60s", 1000, DAY, false},
    {"max_message_bytes", K_SIZE, OFF(max_message_bytes), "64k", 256, 16 << 20, false},
    {"session_queue_bytes", K_SIZE, OFF(session_queue_bytes), "1m", 4096, 1 << 30, false},
    {"max_sessions", K_INT, OFF(max_sessions), "100000", 1, 10000000, false},
    {"rate_limit", K_REAL, OFF(rate_limit), "50", 0.1, 1e6, false},
    {"rate_burst", K_INT, OFF(rate_burst), "100", 1, 1e6, false},
    {"token_ttl", K_DUR, OFF(token_ttl_ms), "30d", 1000, 3650 * DAY, false},
    {"token_max_age", K_DUR, OFF(token_max_age_ms), "365d", 1000, 3650 * DAY, false},
    {"http_max_body", K_SIZE, OFF(http_max_body), "64k", 256, 16 << 20, false},
    {"login_max_failures", K_INT, OFF(login_max_failures), "5", 1, 1000, false},
    {"login_lockout_max", K_DUR, OFF(login_lockout_max_ms), "15m", 1000, DAY, false},
    {"http_header_timeout", K_DUR, OFF(http_header_timeout_ms), "10s", 100, DAY, false},
    {"http_body_timeout", K_DUR, OFF(http_body_timeout_ms), "30s", 100, DAY, false},
    {"presence_ttl", K_DUR, OFF(presence_ttl_ms), "30s", 100, DAY, false},
    {"grid_cell", K_REAL, OFF(grid_cell_m), "1000", 10, 1e6, false},
    {"wave_size", K_INT, OFF(wave_size), "5", 1, 50, false},
    {"dispatch_radius", K_REAL, OFF(dispatch_radius_m), "5000", 1, 2e7, false},
    {"offer_ttl", K_DUR, OFF(offer_ttl_ms), "15s", 100, DAY, false},
    {"pending_ttl", K_DUR, OFF(pending_ttl_ms), "120s", 100, DAY, false},
    {"confirm_ttl", K_DUR, OFF(confirm_ttl_ms), "60s", 100, DAY, false},
    {"handshake_ttl", K_DUR, OFF(handshake_ttl_ms), "30m", 100, DAY, false},
    {"max_stream", K_DUR, OFF(max_stream_ms), "60m", 100, DAY, false},
    {"sweep_interval", K_DUR, OFF(sweep_interval_ms), "5s", 100, DAY, false},
    {"price_per_minute", K_REAL, OFF(price_per_minute), "1.00", 0, 1e6, false},
    {"operator_share", K_REAL, OFF(operator_share), "0.5", 0, 1, false},
    {"video", K_STR, OFF(video), "dev", 0, 0, false},
    {"video_media_mode", K_STR, OFF(video_media_mode), "routed", 0, 0, false},
    {"video_archive", K_STR, OFF(video_archive), "off", 0, 0, false},
    {"video_timeout", K_DUR, OFF(video_timeout_ms), "5s", 100, 600000, false},
    {"opentok_api_key", K_STR, OFF(opentok_api_key), "", 0, 0, false},
    {"opentok_api_secret", K_STR, OFF(opentok_api_secret), "", 0, 0, true},
    {"opentok_url", K_STR, OFF(opentok_url), "https://api.opentok.com", 0, 0, false},
    {"vonage_application_id", K_STR, OFF(vonage_application_id), "", 0, 0, false},
    {"vonage_private_key", K_STR, OFF(vonage_private_key), "", 0, 0, false},
    {"vonage_url", K_STR, OFF(vonage_url), "https://video.api.vonage.com", 0, 0, false},
    {"store_timeout", K_DUR, OFF(store_timeout_ms), "2s", 50, 600000, false},
    {"s3_bucket", K_STR, OFF(s3_bucket), "", 0, 0, false},
    {"s3_region", K_STR, OFF(s3_region), "us-east-1", 0, 0, false},
    {"s3_endpoint", K_STR, OFF(s3_endpoint), "", 0, 0, false},
    {"s3_access_key", K_STR, OFF(s3_access_key), "", 0, 0, false},
    {"s3_secret_key", K_STR, OFF(s3_secret_key), "", 0, 0, true},
    {"s3_url_ttl", K_DUR, OFF(s3_url_ttl_ms), "15m", 1000, 7 * DAY, false},
    {"push_url", K_STR, OFF(push_url), "", 0, 0, false},
    {"push_key", K_STR, OFF(push_key), "", 0, 0, true},
    {"push_timeout", K_DUR, OFF(push_timeout_ms), "5s", 100, 600000, false},
    {"push_max_inflight", K_INT, OFF(push_max_inflight), "256", 1, 100000, false},
    /* push to phones (adapters/pusher.c) */
    {"fcm_credentials", K_STR, OFF(fcm_credentials), "", 0, 0, false},
    {"fcm_url", K_STR, OFF(fcm_url), "https://fcm.googleapis.com", 0, 0, false},
    {"apns_key", K_STR, OFF(apns_key), "", 0, 0, false},
    {"apns_key_id", K_STR, OFF(apns_key_id), "", 0, 0, false},
    {"apns_team_id", K_STR, OFF(apns_team_id), "", 0, 0, false},
    {"apns_topic", K_STR, OFF(apns_topic), "", 0, 0, false},
    {"apns_url", K_STR, OFF(apns_url), "https://api.push.apple.com", 0, 0, false},
    {"apns_sandbox_url", K_STR, OFF(apns_sandbox_url), "https://api.sandbox.push.apple.com", 0, 0,
     false},
    {"push_ca_file", K_STR, OFF(push_ca_file), "", 0, 0, false},
    {"push_queue", K_INT, OFF(push_queue), "10000", 1, 10000000, false},
    /* identity codes (PROTOCOL.md section 5) */
    {"code_ttl", K_DUR, OFF(code_ttl_ms), "10m", 30000, DAY, false},
    {"mail_url", K_STR, OFF(mail_url), "", 0, 0, false},
    {"mail_from", K_STR, OFF(mail_from), "Dropin <no-reply@example.com>", 0, 0, false},
    {"mail_user", K_STR, OFF(mail_user), "", 0, 0, false},
    {"mail_password", K_STR, OFF(mail_password), "", 0, 0, true},
    {"sms_provider", K_STR, OFF(sms_provider), "", 0, 0, false},
    {"twilio_url", K_STR, OFF(twilio_url), "https://api.twilio.com", 0, 0, false},
    {"twilio_account_sid", K_STR, OFF(twilio_account_sid), "", 0, 0, false},
    {"twilio_auth_token", K_STR, OFF(twilio_auth_token), "", 0, 0, true},
    {"twilio_from", K_STR, OFF(twilio_from), "", 0, 0, false},
};

#define NKEYS (sizeof keys / sizeof keys[0])

/* String keys with a closed set of values. A choice ending in a star is a
 * prefix: any Redis URL matches the redis choice. */
static const struct {
    const char *key;
    const char *choices[4];
    const char *says; /* for the error */
} enums[] = {
    {"video", {"dev", "opentok", "vonage", NULL}, "dev, opentok or vonage"},
    {"video_media_mode", {"routed", "relayed", NULL, NULL}, "routed or relayed"},
    {"video_archive", {"off", "always", NULL, NULL}, "off or always"},
    {"bus", {"local", "redis://*", NULL, NULL}, "local or redis://HOST:PORT"},
    {"store", {"sqlite:*", "mongodb://*", "mongodb+srv://*", NULL}, "sqlite:PATH or mongodb://..."},
    {"sms_provider", {"", "twilio", NULL, NULL}, "twilio, or empty for none"},
};

/* True when value is one of key's choices, or key has none. */
static bool enum_ok(const char *key, const char *value, const char **says)
{
    for (size_t i = 0; i < sizeof enums / sizeof enums[0]; i++) {
        if (strcmp(enums[i].key, key) != 0) continue;
        *says = enums[i].says;
        for (int j = 0; j < 4 && enums[i].choices[j]; j++) {
            const char *c = enums[i].choices[j];
            size_t l = strlen(c);
            if (l && c[l - 1] == '*' ? strncmp(value, c, l - 1) == 0 && value[l - 1] != '\0'
                                : strcmp(value, c) == 0)
                return true;
        }
        return false;
    }
    return true;
}

static const struct ckey *key_find(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0) return &keys[i];
    return NULL;
}

/* Parses a number with an optional unit suffix; scale maps the suffix. */
static bool parse_scaled(const char *v, enum ckind kind, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || errno || !isfinite(x)) return false;
    double mul = 1;
    if (kind == K_DUR) {
        mul = 1000; /* plain number = seconds */
        if (strcmp(end, "ms") == 0) mul = 1;
        else if (strcmp(end, "s") == 0) mul = 1000;
        else if (strcmp(end, "m") == 0) mul = 60000;
        else if (strcmp(end, "h") == 0) mul = 3600000;
        else if (strcmp(end, "d") == 0) mul = DAY;
        else if (*end) return false;
    } else if (kind == K_SIZE) {
        if (strcmp(end, "k") == 0 || strcmp(end, "kb") == 0) mul = 1024;
        else if (strcmp(end, "m") == 0 || strcmp(end, "mb") == 0) mul = 1024 * 1024;
        else if (*end) return false;
    } else if (*end) {
        return false;
    }
    *out = x * mul;
    return true;
}

drop_err config_set(struct config *c, const char *key, const char *value, char *why, size_t whylen)
{
    const struct ckey *k = key_find(key);
    char *base = (char *)c;
    double x;

    if (!k) {
        snprintf(why, whylen, "unknown config key '%s'", key);
        return DROP_EBADREQ;
    }
    switch (k->kind) {
    case K_STR: {
        char **slot = (char **)(base + k->off);
        const char *says;
        if (!enum_ok(key, value, &says)) {
            /* a URL is not echoed: a mistyped one may hold a password */
            if (strstr(says, "://"))
                snprintf(why, whylen, "config key '%s': expected %s", key, says);
            else
                snprintf(why, whylen, "config key '%s': expected %s, got '%.64s'", key, says, value);
            return DROP_EBADREQ;
        }
        if (strcmp(key, "node_id") == 0 &&
            (strlen(value) > 24 || strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                 "0123456789-_.") != strlen(value))) {
            snprintf(why, whylen, "config key '%s': at most 24 of [A-Za-z0-9-_.]", key);
            return DROP_EBADREQ;
        }
        free(*slot);
        *slot = xstrdup(value);
        return DROP_OK;
    }
    case K_BOOL:
        if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0) {
            *(bool *)(base + k->off) = true;
        } else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0) {
            *(bool *)(base + k->off) = false;
        } else {
            snprintf(why, whylen, "config key '%s': expected yes or no, got '%s'", key, value);
            return DROP_EBADREQ;
        }
        return DROP_OK;
    case K_LEVEL: {
        int lv = log_level_parse(value);
        if (lv < 0) {
            snprintf(why, whylen, "config key '%s': expected debug, info, warn or error, got '%s'",
                     key, value);
            return DROP_EBADREQ;
        }
        *(int *)(base + k->off) = lv;
        return DROP_OK;
    }
    case K_LISTEN: {
        const char *colon = strrchr(value, ':');
        char *end;
        long port;
        size_t hl = colon ? (size_t)(colon - value) : 0;
        if (!colon || hl == 0 || hl >= sizeof c->listen_host) goto bad_listen;
        for (size_t i = 0; i < hl; i++) /* no host has blanks; a conf file could not hold them */
            if (isspace((unsigned char)value[i]) || iscntrl((unsigned char)value[i])) goto bad_listen;
        errno = 0;
        port = strtol(colon + 1, &end, 10);
        if (errno || *end || end == colon + 1 || port < 0 || port > 65535) goto bad_listen;
        memcpy(c->listen_host, value, hl);
        c->listen_host[hl] = '\0';
        c->listen_port = (int)port;
        return DROP_OK;
    bad_listen:
        snprintf(why, whylen, "config key '%s': expected HOST:PORT, got '%s'", key, value);
        return DROP_EBADREQ;
    }
    case K_INT:
    case K_DUR:
    case K_SIZE:
    case K_REAL:
        if (!parse_scaled(value, k->kind, &x) || (k->kind == K_INT && x != floor(x))) {
            snprintf(why, whylen, "config key '%s': bad value '%s'", key, value);
            return DROP_EBADREQ;
        }
        if (x < k->min || x > k->max) {
            snprintf(why, whylen, "config key '%s': '%s' is out of range", key, value);
            return DROP_EBADREQ;
        }
        if (k->kind == K_REAL) *(double *)(base + k->off) = x;
        else if (strcmp(k->name, "workers") == 0) *(int *)(base + k->off) = (int)x;
        else *(int64_t *)(base + k->off) = (int64_t)x;
        return DROP_OK;
    }
    snprintf(why, whylen, "config key '%s': internal error", key);
    return DROP_EINTERNAL;
}

void config_init(struct config *c)
{
    char why[256];
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NKEYS; i++)
        if (config_set(c, keys[i].name, keys[i].def, why, sizeof why) != DROP_OK) {
            fprintf(stderr, "fatal: bad default: %s\n", why);
            abort();
        }
}

void config_free(struct config *c)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].kind == K_STR) {
            char **slot = (char **)((char *)c + keys[i].off);
            free(*slot);
            *slot = NULL;
        }
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

drop_err config_load_file(struct config *c, const char *path, char *why, size_t whylen)
{
    FILE *f = fopen(path, "r");
    char line[4096], msg[256];
    int lineno = 0;
    drop_err rc = DROP_OK;

    if (!f) {
        snprintf(why, whylen, "cannot read config file '%s': %s", path, strerror(errno));
        return DROP_ENOTFOUND;
    }
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(why, whylen, "%s:%d: line too long", path, lineno);
            rc = DROP_EBADREQ;
            goto done;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#') continue;
        char *key = s;
        while (*s && !isspace((unsigned char)*s)) s++;
        if (*s) *s++ = '\0';
        char *value = trim(s);
        /* a value may be quoted to hold an empty string: key "" */
        size_t vl = strlen(value);
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
            value[vl - 1] = '\0';
            value++;
        }
        if (config_set(c, key, value, msg, sizeof msg) != DROP_OK) {
            snprintf(why, whylen, "%s:%d: %s", path, lineno, msg);
            rc = DROP_EBADREQ;
            goto done;
        }
    }
done:
    fclose(f);
    return rc;
}

drop_err config_parse_args(struct config *c, int argc, char **argv, bool *help, char *why, size_t whylen)
{
    drop_err rc;
    *help = false;
    /* pass 1: the conf file */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            *help = true;
            return DROP_OK;
        }
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                snprintf(why, whylen, "option '%s' needs a file name", argv[i]);
                return DROP_EBADREQ;
            }
            rc = config_load_file(c, argv[++i], why, whylen);
            if (rc != DROP_OK) return rc;
        }
    }
    /* pass 2: --key value overrides */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            snprintf(why, whylen, "unexpected argument '%s' (expected --key value)", a);
            return DROP_EBADREQ;
        }
        if (!key_find(a + 2)) {
            snprintf(why, whylen, "unknown config key '%s'", a + 2);
            return DROP_EBADREQ;
        }
        if (i + 1 >= argc) {
            snprintf(why, whylen, "config key '%s' needs a value", a + 2);
            return DROP_EBADREQ;
        }
        rc = config_set(c, a + 2, argv[++i], why, whylen);
        if (rc != DROP_OK) return rc;
    }
    return DROP_OK;
}

void config_dump(const struct config *c, void *fp)
{
    FILE *f = fp;
    const char *base = (const char *)c;
    for (size_t i = 0; i < NKEYS; i++) {
        const struct ckey *k = &keys[i];
        fprintf(f, "%s ", k->name);
        switch (k->kind) {
        case K_STR: {
            const char *v = *(char *const *)(base + k->off);
            fprintf(f, "\"%s\"\n", k->secret && v && *v ? "********" : (v ? v : ""));
            break;
        }
        case K_BOOL: fprintf(f, "%s\n", *(const bool *)(base + k->off) ? "yes" : "no"); break;
        case K_LEVEL: {
            static const char *n[] = {"debug", "info", "warn", "error"};
            fprintf(f, "%s\n", n[*(const int *)(base + k->off)]);
            break;
        }
        case K_LISTEN: fprintf(f, "%s:%d\n", c->listen_host, c->listen_port); break;
        case K_REAL: fprintf(f, "%g\n", *(const double *)(base + k->off)); break;
        case K_DUR: fprintf(f, "%lldms\n", (long long)*(const int64_t *)(base + k->off)); break;
        case K_INT:
            if (strcmp(k->name, "workers") == 0) fprintf(f, "%d\n", *(const int *)(base + k->off));
            else fprintf(f, "%lld\n", (long long)*(const int64_t *)(base + k->off));
            break;
        case K_SIZE: fprintf(f, "%lld\n", (long long)*(const int64_t *)(base + k->off)); break;
        }
    }
}
