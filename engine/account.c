/* account.c - account structs and the pure validation of account requests
 * (see account.h). Every field is checked against its bound before anything
 * is copied, so a request either fills the account whole or changes nothing. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/account.h"
#include "engine/mem.h"

/* The reason-writing error return of this file. */
#define fail err_why

void account_init(struct account *a)
{
    memset(a, 0, sizeof *a);
    strcpy(a->status, "active");
    a->referral_rate = ACCOUNT_REFERRAL_RATE;
    a->operator_rating = ACCOUNT_RATING_START;
    a->customer_rating = ACCOUNT_RATING_START;
}

void account_free(struct account *a)
{
    if (!a) return;
    free(a->first_name);
    free(a->last_name);
    free(a->organization);
    free(a->picture);
    memset(a, 0, sizeof *a);
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void account_copy(struct account *dst, const struct account *src)
{
    *dst = *src;
    dst->first_name = dup_or_null(src->first_name);
    dst->last_name = dup_or_null(src->last_name);
    dst->organization = dup_or_null(src->organization);
    dst->picture = dup_or_null(src->picture);
}

void account_array_free(struct account *arr, size_t n)
{
    if (!arr) return;
    for (size_t i = 0; i < n; i++) account_free(&arr[i]);
    free(arr);
}

void account_stamp_new(struct account *a, int64_t now)
{
    a->created_at = a->updated_at = now;
    for (size_t i = 0; i < a->n_identities; i++) {
        a->identities[i].created_at = a->identities[i].updated_at = now;
        if (!a->identities[i].status[0]) strcpy(a->identities[i].status, "unverified");
    }
}

bool account_rating_valid(int rating)
{
    return rating >= 1 && rating <= 5;
}

/* Counts UTF-8 code points (jansson hands us valid UTF-8). */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) n++;
    return n;
}

/* Checks a JSON string field: present (when required), a string with no NUL
 * inside, non-empty after trimming (when nonempty), at most maxchars code
 * points (or maxbytes bytes). *out is borrowed from v, NULL when absent or
 * null (null allowed only when nullable). */
struct strspec {
    const char *name;
    bool required;
    bool nullable;
    bool nonempty;
    size_t maxchars; /* 0 = not checked */
    size_t maxbytes; /* 0 = not checked */
};

static drop_err get_string(json_t *data, const struct strspec *sp, const char **out,
                           bool *present, char *why, size_t whylen)
{
    json_t *v = json_object_get(data, sp->name);
    *out = NULL;
    if (present) *present = v != NULL;
    if (!v) {
        if (sp->required) return fail(DROP_EBADREQ, why, whylen, "%s is required", sp->name);
        return DROP_OK;
    }
    if (json_is_null(v)) {
        if (sp->nullable && !sp->required) return DROP_OK;
        return fail(DROP_EBADREQ, why, whylen, "%s must be a string", sp->name);
    }
    if (!json_is_string(v)) return fail(DROP_EBADREQ, why, whylen, "%s must be a string", sp->name);
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (strlen(s) != len)
        return fail(DROP_EBADREQ, why, whylen, "%s must not contain NUL characters", sp->name);
    if (sp->maxbytes && len > sp->maxbytes)
        return fail(DROP_ETOOLARGE, why, whylen, "%s is longer than %zu bytes", sp->name,
                    sp->maxbytes);
    if (sp->maxchars && utf8_chars(s) > sp->maxchars)
        return fail(DROP_ETOOLARGE, why, whylen, "%s is longer than %zu characters", sp->name,
                    sp->maxchars);
    if (sp->nonempty) {
        const char *p = s;
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p) return fail(DROP_EBADREQ, why, whylen, "%s must not be empty", sp->name);
    }
    *out = s;
    return DROP_OK;
}

/* A heap copy of s without leading and trailing ASCII blanks. */
static char *trimmed_dup(const char *s)
{
    while (*s && isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) n--;
    return xstrndup(s, n);
}

drop_err account_identity_normalize(const char *in, char out[ACCOUNT_IDENTITY_SIZE],
                                    const char **type)
{
    while (*in && isspace((unsigned char)*in)) in++;
    size_t n = strlen(in);
    while (n && isspace((unsigned char)in[n - 1])) n--;
    if (n == 0) return DROP_EBADREQ;
    if (n > ACCOUNT_IDENTITY_MAX) return DROP_ETOOLARGE;

    const char *at = memchr(in, '@', n);
    if (at) {
        size_t local = (size_t)(at - in);
        const char *dom = at + 1;
        size_t domlen = n - local - 1;
        if (local == 0 || domlen == 0) return DROP_EBADREQ;
        if (memchr(dom, '@', domlen)) return DROP_EBADREQ;
        const char *dot = memchr(dom, '.', domlen);
        /* a dot after the '@' with something on both sides of it */
        if (!dot || dot == dom || dom[domlen - 1] == '.') return DROP_EBADREQ;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)in[i];
            if (c <= ' ' || c == 0x7f) return DROP_EBADREQ;
            out[i] = (char)tolower(c);
        }
        out[n] = '\0';
        *type = "email";
        return DROP_OK;
    }

    /* E.164 digits: a leading '+' or '00' (the international prefix) is
     * dropped, so "+84 166 220 3830", "0084-166-220-3830" and "841662203830"
     * are one identity */
    size_t o = 0, digits = 0;
    if (in[0] == '+') {
        in++;
        n--;
    } else if (n > 2 && in[0] == '0' && in[1] == '0') {
        in += 2;
        n -= 2;
    }
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c >= '0' && c <= '9') {
            out[o++] = c;
            digits++;
        } else if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')') {
            continue;
        } else {
            return DROP_EBADREQ;
        }
    }
    out[o] = '\0';
    if (digits < 6 || digits > ACCOUNT_PHONE_DIGITS_MAX) return DROP_EBADREQ;
    *type = "phone";
    return DROP_OK;
}

static drop_err parse_identities(json_t *arr, struct account *out, char *why, size_t whylen)
{
    if (!arr) return fail(DROP_EBADREQ, why, whylen, "identities is required");
    if (!json_is_array(arr)) return fail(DROP_EBADREQ, why, whylen, "identities must be an array");
    size_t n = json_array_size(arr);
    if (n == 0) return fail(DROP_EBADREQ, why, whylen, "identities must hold at least one identity");
    if (n > ACCOUNT_MAX_IDENTITIES)
        return fail(DROP_ETOOLARGE, why, whylen, "identities holds more than %d identities",
                    ACCOUNT_MAX_IDENTITIES);
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(arr, i);
        if (!json_is_object(it))
            return fail(DROP_EBADREQ, why, whylen, "identities[%zu] must be an object", i);
        json_t *t = json_object_get(it, "type");
        json_t *v = json_object_get(it, "value");
        if (!json_is_string(t) || (strcmp(json_string_value(t), "email") != 0 &&
                                   strcmp(json_string_value(t), "phone") != 0))
            return fail(DROP_EBADREQ, why, whylen,
                        "identities[%zu].type must be \"email\" or \"phone\"", i);
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
            return fail(DROP_EBADREQ, why, whylen, "identities[%zu].value must be a string", i);
        struct identity *id = &out->identities[i];
        const char *kind = NULL;
        drop_err e = account_identity_normalize(json_string_value(v), id->value, &kind);
        if (e == DROP_ETOOLARGE)
            return fail(e, why, whylen, "identities[%zu].value is longer than %d bytes", i,
                        ACCOUNT_IDENTITY_MAX);
        if (e != DROP_OK || strcmp(kind, json_string_value(t)) != 0)
            return fail(DROP_EBADREQ, why, whylen, "identities[%zu].value is not a valid %s", i,
                        json_string_value(t));
        for (size_t j = 0; j < i; j++)
            if (strcmp(out->identities[j].value, id->value) == 0)
                return fail(DROP_EBADREQ, why, whylen, "identities[%zu].value is a duplicate", i);
        strcpy(id->type, kind);
        strcpy(id->status, "unverified");
        out->n_identities = i + 1;
    }
    return DROP_OK;
}

static void set_field(char **slot, const char *s, bool *changed);

static const struct strspec SP_FIRST = {"firstName", true, false, true, ACCOUNT_NAME_MAX, 0};
static const struct strspec SP_LAST = {"lastName", true, false, true, ACCOUNT_NAME_MAX, 0};
static const struct strspec SP_ORG = {"organization", false, true, false, ACCOUNT_ORG_MAX, 0};
static const struct strspec SP_PIC = {"picture", false, true, false, 0, ACCOUNT_PICTURE_MAX};

drop_err account_validate_register(json_t *data, struct account *out, const char **password,
                                   char *why, size_t whylen)
{
    const char *first, *last, *type, *pw, *org, *pic;
    drop_err e;
    account_init(out);
    *password = NULL;
    if (!json_is_object(data)) return fail(DROP_EBADREQ, why, whylen, "data must be an object");
    static const struct strspec sp_type = {"type", true, false, true, 0, 0};
    /* no password (absent or null): the account signs in by code */
    static const struct strspec sp_pw = {"password", false, true, false, 0, ACCOUNT_PASSWORD_MAX};
    if ((e = get_string(data, &SP_FIRST, &first, NULL, why, whylen)) ||
        (e = get_string(data, &SP_LAST, &last, NULL, why, whylen)) ||
        (e = get_string(data, &sp_type, &type, NULL, why, whylen)))
        return e;
    if (strcmp(type, "user") != 0 && strcmp(type, "operator") != 0)
        return fail(DROP_EBADREQ, why, whylen, "type must be \"user\" or \"operator\"");
    if ((e = get_string(data, &sp_pw, &pw, NULL, why, whylen))) return e;
    if (pw && utf8_chars(pw) < ACCOUNT_PASSWORD_MIN)
        return fail(DROP_EBADREQ, why, whylen, "password must be at least %d characters",
                    ACCOUNT_PASSWORD_MIN);
    if ((e = get_string(data, &SP_ORG, &org, NULL, why, whylen)) ||
        (e = get_string(data, &SP_PIC, &pic, NULL, why, whylen)) ||
        (e = parse_identities(json_object_get(data, "identities"), out, why, whylen)))
        return e;

    out->first_name = trimmed_dup(first);
    out->last_name = trimmed_dup(last);
    strcpy(out->type, type);
    bool unused = false;
    set_field(&out->organization, org, &unused); /* "" counts as none */
    set_field(&out->picture, pic, &unused);
    *password = pw;
    return DROP_OK;
}

/* Replaces *slot with a trimmed copy of s (NULL clears it); sets *changed
 * when the value differs. */
static void set_field(char **slot, const char *s, bool *changed)
{
    char *nv = s ? trimmed_dup(s) : NULL;
    if (nv && !nv[0]) {
        /* an empty optional string clears the field, like null */
        free(nv);
        nv = NULL;
    }
    bool same = (!nv && !*slot) || (nv && *slot && strcmp(nv, *slot) == 0);
    if (same) {
        free(nv);
        return;
    }
    free(*slot);
    *slot = nv;
    *changed = true;
}

drop_err account_validate_update(json_t *data, struct account *a, bool *changed,
                                 char *why, size_t whylen)
{
    static const struct strspec sp_first = {"firstName", false, false, true, ACCOUNT_NAME_MAX, 0};
    static const struct strspec sp_last = {"lastName", false, false, true, ACCOUNT_NAME_MAX, 0};
    const char *first, *last, *org, *pic;
    bool has_org, has_pic;
    drop_err e;
    static const char *const known[] = {"id", "firstName", "lastName", "picture", "organization"};
    const char *key;
    json_t *val;
    *changed = false;
    if (!json_is_object(data)) return fail(DROP_EBADREQ, why, whylen, "data must be an object");
    json_object_foreach(data, key, val) { /* a field we would drop is refused, never ignored */
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            if (strcmp(key, known[i]) == 0) ok = true;
        if (!ok)
            return fail(DROP_EBADREQ, why, whylen, "%.64s: not a field that can be updated here",
                        key);
    }
    if ((e = get_string(data, &sp_first, &first, NULL, why, whylen)) ||
        (e = get_string(data, &sp_last, &last, NULL, why, whylen)) ||
        (e = get_string(data, &SP_ORG, &org, &has_org, why, whylen)) ||
        (e = get_string(data, &SP_PIC, &pic, &has_pic, why, whylen)))
        return e;
    if (first) set_field(&a->first_name, first, changed);
    if (last) set_field(&a->last_name, last, changed);
    if (has_org) set_field(&a->organization, org, changed);
    if (has_pic) set_field(&a->picture, pic, changed);
    return DROP_OK;
}

drop_err account_validate_login(json_t *data, char identity[ACCOUNT_IDENTITY_SIZE],
                                const char **password, char *why, size_t whylen)
{
    static const struct strspec sp_id = {"identity", true, false, true, 0, 1024};
    static const struct strspec sp_pw = {"password", true, false, false, 0, ACCOUNT_PASSWORD_MAX};
    const char *id, *pw, *kind;
    drop_err e;
    *password = NULL;
    identity[0] = '\0';
    if (!json_is_object(data)) return fail(DROP_EBADREQ, why, whylen, "data must be an object");
    if ((e = get_string(data, &sp_id, &id, NULL, why, whylen)) ||
        (e = get_string(data, &sp_pw, &pw, NULL, why, whylen)))
        return e;
    if (!pw[0]) return fail(DROP_EBADREQ, why, whylen, "password must not be empty");
    e = account_identity_normalize(id, identity, &kind);
    if (e == DROP_ETOOLARGE)
        return fail(e, why, whylen, "identity is longer than %d bytes", ACCOUNT_IDENTITY_MAX);
    if (e != DROP_OK)
        return fail(DROP_EBADREQ, why, whylen, "identity must be an email or a phone number");
    *password = pw;
    return DROP_OK;
}

static drop_err get_int(json_t *data, const char *name, int def, int min, int max, int *out,
                        char *why, size_t whylen)
{
    json_t *v = json_object_get(data, name);
    *out = def;
    if (!v || json_is_null(v)) return DROP_OK;
    if (!json_is_integer(v))
        return fail(DROP_EBADREQ, why, whylen, "%s must be an integer", name);
    json_int_t x = json_integer_value(v);
    if (x < min || x > max)
        return fail(DROP_EBADREQ, why, whylen, "%s must be between %d and %d", name, min, max);
    *out = (int)x;
    return DROP_OK;
}

drop_err account_validate_list(json_t *data, struct account_filter *f, char *why, size_t whylen)
{
    static const struct strspec sp_type = {"type", false, true, false, 0, 0};
    static const struct strspec sp_status = {"status", false, true, false, 0, 0};
    static const struct strspec sp_q = {"q", false, true, false, 0, ACCOUNT_IDENTITY_MAX};
    drop_err e;
    memset(f, 0, sizeof *f);
    f->limit = ACCOUNT_LIST_DEFAULT;
    if (!json_is_object(data)) return fail(DROP_EBADREQ, why, whylen, "data must be an object");
    if ((e = get_string(data, &sp_type, &f->type, NULL, why, whylen)) ||
        (e = get_string(data, &sp_status, &f->status, NULL, why, whylen)) ||
        (e = get_string(data, &sp_q, &f->q, NULL, why, whylen)) ||
        (e = get_int(data, "limit", ACCOUNT_LIST_DEFAULT, 1, ACCOUNT_LIST_MAX, &f->limit, why,
                     whylen)) ||
        (e = get_int(data, "skip", 0, 0, ACCOUNT_SKIP_MAX, &f->skip, why, whylen)))
        return e;
    if (f->type && strcmp(f->type, "user") != 0 && strcmp(f->type, "operator") != 0 &&
        strcmp(f->type, "admin") != 0)
        return fail(DROP_EBADREQ, why, whylen, "type must be \"user\", \"operator\" or \"admin\"");
    if (f->status && strcmp(f->status, "active") != 0 && strcmp(f->status, "archived") != 0)
        return fail(DROP_EBADREQ, why, whylen, "status must be \"active\" or \"archived\"");
    if (f->q && !f->q[0]) f->q = NULL;
    return DROP_OK;
}

drop_err account_validate_password(json_t *data, const char *field, const char **password,
                                   char *why, size_t whylen)
{
    const struct strspec sp = {field, true, false, false, 0, ACCOUNT_PASSWORD_MAX};
    drop_err e = get_string(data, &sp, password, NULL, why, whylen);
    if (e) return e;
    if (utf8_chars(*password) < ACCOUNT_PASSWORD_MIN)
        return fail(DROP_EBADREQ, why, whylen, "%s must be at least %d characters", field,
                    ACCOUNT_PASSWORD_MIN);
    return DROP_OK;
}

drop_err account_validate_identity(json_t *data, char identity[ACCOUNT_IDENTITY_SIZE],
                                   const char **type, char *why, size_t whylen)
{
    static const struct strspec sp_id = {"identity", true, false, true, 0, 1024};
    const char *id;
    drop_err e;
    identity[0] = '\0';
    if (!json_is_object(data)) return fail(DROP_EBADREQ, why, whylen, "data must be an object");
    if ((e = get_string(data, &sp_id, &id, NULL, why, whylen))) return e;
    e = account_identity_normalize(id, identity, type);
    if (e == DROP_ETOOLARGE)
        return fail(e, why, whylen, "identity is longer than %d bytes", ACCOUNT_IDENTITY_MAX);
    if (e != DROP_OK)
        return fail(DROP_EBADREQ, why, whylen, "identity must be an email or a phone number");
    return DROP_OK;
}

bool account_is_freelancer_shape(json_t *data)
{
    return json_object_get(data, "first_name") || json_object_get(data, "last_name") ||
           json_object_get(data, "roles");
}

drop_err account_from_freelancer(json_t *data, json_t **out, char *why, size_t whylen)
{
    static const char *const strs[][2] = {
        {"first_name", "firstName"}, {"last_name", "lastName"}, {"email", NULL}};
    const char *type = "user";
    json_t *roles = json_object_get(data, "roles");
    *out = NULL;
    for (size_t i = 0; i < 3; i++)
        if (!json_is_string(json_object_get(data, strs[i][0])))
            return fail(DROP_EBADREQ, why, whylen, "%s is required (a string)", strs[i][0]);
    if (roles && !json_is_null(roles)) {
        bool client = false, worker = false;
        size_t k;
        json_t *v;
        if (!json_is_array(roles) || json_array_size(roles) == 0)
            return fail(DROP_EBADREQ, why, whylen, "roles must be [\"CLIENT\"] or [\"WORKER\"]");
        json_array_foreach(roles, k, v) {
            const char *r = json_is_string(v) ? json_string_value(v) : "";
            if (strcmp(r, "CLIENT") == 0) client = true;
            else if (strcmp(r, "WORKER") == 0) worker = true;
            else return fail(DROP_EBADREQ, why, whylen, "roles[%zu] must be \"CLIENT\" or \"WORKER\"", k);
        }
        if (client && worker)
            return fail(DROP_EBADREQ, why, whylen,
                        "roles: an account is a CLIENT or a WORKER, not both");
        if (worker) type = "operator";
    }
    json_t *d = json_pack("{s:O,s:O,s:s,s:[{s:s,s:O}]}", "firstName",
                          json_object_get(data, "first_name"), "lastName",
                          json_object_get(data, "last_name"), "type", type, "identities", "type",
                          "email", "value", json_object_get(data, "email"));
    static const char *const keep[] = {"password", "picture", "organization"};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        json_t *v = json_object_get(data, keep[i]);
        if (v) json_object_set(d, keep[i], v);
    }
    *out = d;
    return DROP_OK;
}
