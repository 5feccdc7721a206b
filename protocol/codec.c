/* codec.c - JSON and MessagePack <-> json_t (see codec.h).
 *
 * JSON is jansson's job: json_loadb with duplicate keys rejected and the EOF
 * check on, then a depth check of the result (jansson's own cap is 2048).
 *
 * MessagePack is decoded in two steps. First mp_walk() reads the format with
 * bounds checks only: every length and element count is compared with the
 * bytes left (an element takes at least one byte, a map pair two), nesting is
 * compared with max_depth, and bin/ext/0xc1 are refused. Only bytes that passed
 * are given to msgpack_unpack_next, whose up-front allocation of declared sizes
 * is then bounded by 24 bytes of msgpack_object per input byte. Second,
 * mp_to_json() maps the msgpack_object tree to json_t with the value rules of
 * codec.h (int64 range, finite reals, UTF-8 strings without NUL, unique
 * string keys). Recursion in both steps is bounded by CODEC_MAX_DEPTH.
 *
 * Encoding appends to a buffer grown with xrealloc that starts with the
 * caller's headroom (struct jsonw): JSON text through jsonw_value (jansson's
 * bytes without jansson's cost per dump), MessagePack through a
 * msgpack_packer whose write function is that same append. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "engine/mem.h"
#include "protocol/codec.h"
#include "protocol/jsonw.h"

/* ---- JSON ---------------------------------------------------------------- */

/* True when v nests containers deeper than max (v itself at depth `depth`).
 * Stops descending past max, so recursion is bounded by max + 1. */
static int json_too_deep(const json_t *v, size_t depth, size_t max)
{
    const char *key;
    json_t *child;
    size_t i;

    if (!json_is_object(v) && !json_is_array(v)) return 0;
    if (depth + 1 > max) return 1;
    if (json_is_array(v)) {
        json_array_foreach(v, i, child)
            if (json_too_deep(child, depth + 1, max)) return 1;
    } else {
        json_object_foreach((json_t *)v, key, child)
            if (json_too_deep(child, depth + 1, max)) return 1;
    }
    return 0;
}

const char *codec_json_problem(const json_error_t *err)
{
    switch (json_error_code(err)) {
    case json_error_invalid_utf8: return "text that is not valid UTF-8";
    case json_error_premature_end_of_input: return "the JSON text ends too early";
    case json_error_end_of_input_expected: return "text after the JSON value";
    case json_error_null_character:
    case json_error_null_byte_in_key: return "a NUL character (\\u0000) is not allowed";
    case json_error_duplicate_key: return "a duplicate object key";
    case json_error_numeric_overflow: return "a number out of range";
    case json_error_stack_overflow: return "nesting too deep";
    default: return "invalid JSON syntax";
    }
}

/* err (when not NULL) gets jansson's account of a text it refused; its
 * code stays 0 otherwise. */
static drop_err json_decode(const void *buf, size_t len, size_t max_depth, json_t **out,
                            json_error_t *err, char *why, size_t whylen)
{
    json_error_t own;
    json_t *v;

    if (!err) err = &own;
    /* jansson sets the code byte only on a failure: a text parsed and then
     * refused for its depth must not read as an older failure's code */
    memset(err, 0, sizeof *err);
    v = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, err);
    if (!v)
        return err_why(DROP_EBADREQ, why, whylen,
                       "invalid JSON at offset %d: %s", err->position, codec_json_problem(err));
    if (json_too_deep(v, 0, max_depth)) {
        json_decref(v);
        return err_why(DROP_EBADREQ, why, whylen, "nesting deeper than %zu", max_depth);
    }
    *out = v;
    return DROP_OK;
}

/* The id of a JSON envelope that the strict parse refused only for a value
 * (see codec_decode_request), or NULL. */
static json_t *salvage_id(const void *buf, size_t len)
{
    json_error_t err;
    json_t *root, *op, *id, *data, *out = NULL;

    /* the same text, with NULs kept and every integer read as a real */
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL,
                      &err);
    if (!json_is_object(root)) goto done;
    op = json_object_get(root, "op");
    id = json_object_get(root, "id");
    data = json_object_get(root, "data");
    if (!json_is_string(op) || json_string_length(op) == 0 ||
        strlen(json_string_value(op)) != json_string_length(op) ||
        (data && !json_is_object(data) && !json_is_null(data)))
        goto done;
    if (!id || json_is_null(id)) {
        out = json_null();
    } else if (json_is_string(id)) {
        /* a string id holding a NUL is the bad value itself */
        if (strlen(json_string_value(id)) == json_string_length(id))
            out = json_stringn(json_string_value(id), json_string_length(id));
    } else if (json_is_real(id)) {
        /* read as a real: an integer id within 2^53 comes back exactly */
        double d = json_real_value(id);
        if (d == floor(d) && fabs(d) <= 9007199254740992.0) out = json_integer((json_int_t)d);
    }
done:
    json_decref(root);
    return out;
}

/* ---- MessagePack: bounded structural walk ------------------------------- */

struct mp_walk {
    const unsigned char *p;
    size_t len;
    size_t off;
    size_t max_depth;
    char *why;
    size_t whylen;
};

static uint64_t be_uint(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    size_t i;

    for (i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

/* Reads an n-byte big-endian length/count after the type byte; 0 on overrun. */
static int mp_read_len(struct mp_walk *w, size_t n, uint64_t *v)
{
    if (w->len - w->off < n) {
        err_why(DROP_EBADREQ, w->why, w->whylen, "truncated MessagePack at offset %zu", w->off);
        return 0;
    }
    *v = be_uint(w->p + w->off, n);
    w->off += n;
    return 1;
}

static int mp_skip(struct mp_walk *w, uint64_t n)
{
    if (w->len - w->off < n) {
        err_why(DROP_EBADREQ, w->why, w->whylen, "truncated MessagePack at offset %zu", w->off);
        return 0;
    }
    w->off += (size_t)n;
    return 1;
}

/* Walks one value at w->off nested `depth` containers deep. Returns 1 and
 * advances past it, or 0 with w->why set. */
static int mp_walk_value(struct mp_walk *w, size_t depth)
{
    unsigned char b;
    uint64_t n = 0, i, per = 1;
    int is_map = 0;

    if (w->off >= w->len) {
        err_why(DROP_EBADREQ, w->why, w->whylen, "truncated MessagePack at offset %zu", w->off);
        return 0;
    }
    b = w->p[w->off++];

    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) return 1;
    if (b >= 0xa0 && b <= 0xbf) return mp_skip(w, b & 0x1f);
    switch (b) {
    case 0xca: return mp_skip(w, 4);
    case 0xcb: return mp_skip(w, 8);
    case 0xcc: case 0xd0: return mp_skip(w, 1);
    case 0xcd: case 0xd1: return mp_skip(w, 2);
    case 0xce: case 0xd2: return mp_skip(w, 4);
    case 0xcf: case 0xd3: return mp_skip(w, 8);
    case 0xd9: return mp_read_len(w, 1, &n) && mp_skip(w, n);
    case 0xda: return mp_read_len(w, 2, &n) && mp_skip(w, n);
    case 0xdb: return mp_read_len(w, 4, &n) && mp_skip(w, n);
    case 0xc4: case 0xc5: case 0xc6:
        err_why(DROP_EBADREQ, w->why, w->whylen,
                "MessagePack bin is not allowed (offset %zu)", w->off - 1);
        return 0;
    case 0xc7: case 0xc8: case 0xc9:
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
        err_why(DROP_EBADREQ, w->why, w->whylen,
                "MessagePack ext is not allowed (offset %zu)", w->off - 1);
        return 0;
    case 0xc1:
        err_why(DROP_EBADREQ, w->why, w->whylen,
                "invalid MessagePack type 0xc1 at offset %zu", w->off - 1);
        return 0;
    default:
        break;
    }

    /* Containers. */
    if (b >= 0x80 && b <= 0x8f) {
        n = b & 0x0f;
        is_map = 1;
    } else if (b >= 0x90 && b <= 0x9f) {
        n = b & 0x0f;
    } else if (b == 0xdc || b == 0xdd) {
        if (!mp_read_len(w, b == 0xdc ? 2 : 4, &n)) return 0;
    } else { /* 0xde, 0xdf */
        if (!mp_read_len(w, b == 0xde ? 2 : 4, &n)) return 0;
        is_map = 1;
    }
    if (depth + 1 > w->max_depth) {
        err_why(DROP_EBADREQ, w->why, w->whylen, "nesting deeper than %zu", w->max_depth);
        return 0;
    }
    if (is_map) per = 2;
    if (n > (w->len - w->off) / per) {
        err_why(DROP_EBADREQ, w->why, w->whylen,
                "MessagePack %s of %llu %s exceeds the %zu bytes left",
                is_map ? "map" : "array", (unsigned long long)n, is_map ? "pairs" : "items",
                w->len - w->off);
        return 0;
    }
    for (i = 0; i < n * per; i++)
        if (!mp_walk_value(w, depth + 1)) return 0;
    return 1;
}

/* ---- MessagePack: msgpack_object -> json_t ------------------------------ */

static json_t *mp_to_json(const msgpack_object *o, char *why, size_t whylen);

static json_t *mp_str_to_json(const msgpack_object_str *s, char *why, size_t whylen)
{
    json_t *v;

    if (s->size && memchr(s->ptr, '\0', s->size)) {
        err_why(DROP_EBADREQ, why, whylen, "string contains NUL");
        return NULL;
    }
    v = json_stringn(s->size ? s->ptr : "", s->size);
    if (!v) err_why(DROP_EBADREQ, why, whylen, "string is not valid UTF-8");
    return v;
}

static json_t *mp_map_to_json(const msgpack_object_map *m, char *why, size_t whylen)
{
    json_t *obj = json_object(), *val;
    const msgpack_object_str *k;
    uint32_t i;

    if (!obj) goto fail;
    for (i = 0; i < m->size; i++) {
        if (m->ptr[i].key.type != MSGPACK_OBJECT_STR) {
            err_why(DROP_EBADREQ, why, whylen, "map key is not a string");
            goto fail;
        }
        k = &m->ptr[i].key.via.str;
        if (k->size && memchr(k->ptr, '\0', k->size)) {
            err_why(DROP_EBADREQ, why, whylen, "map key contains NUL");
            goto fail;
        }
        if (json_object_getn(obj, k->size ? k->ptr : "", k->size)) {
            err_why(DROP_EBADREQ, why, whylen,
                    "duplicate key \"%.*s\"", (int)(k->size > 64 ? 64 : k->size),
                    k->ptr);
            goto fail;
        }
        val = mp_to_json(&m->ptr[i].val, why, whylen);
        if (!val) goto fail;
        /* The checked setter refuses a key that is not valid UTF-8. */
        if (json_object_setn_new(obj, k->size ? k->ptr : "", k->size, val) != 0) {
            err_why(DROP_EBADREQ, why, whylen, "map key is not valid UTF-8");
            goto fail;
        }
    }
    return obj;
fail:
    json_decref(obj);
    return NULL;
}

static json_t *mp_to_json(const msgpack_object *o, char *why, size_t whylen)
{
    json_t *arr, *item;
    uint32_t i;

    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_null();
    case MSGPACK_OBJECT_BOOLEAN:
        return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > (uint64_t)INT64_MAX) {
            err_why(DROP_EBADREQ, why, whylen, "integer %llu is out of range",
                    (unsigned long long)o->via.u64);
            return NULL;
        }
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64)) {
            err_why(DROP_EBADREQ, why, whylen, "real is not finite");
            return NULL;
        }
        return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR:
        return mp_str_to_json(&o->via.str, why, whylen);
    case MSGPACK_OBJECT_ARRAY:
        arr = json_array();
        for (i = 0; arr && i < o->via.array.size; i++) {
            item = mp_to_json(&o->via.array.ptr[i], why, whylen);
            if (!item || json_array_append_new(arr, item) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        }
        return arr;
    case MSGPACK_OBJECT_MAP:
        return mp_map_to_json(&o->via.map, why, whylen);
    default:
        err_why(DROP_EBADREQ, why, whylen, "MessagePack bin/ext is not allowed");
        return NULL;
    }
}

static drop_err msgpack_decode(const void *buf, size_t len, size_t max_depth, json_t **out,
                               char *why, size_t whylen)
{
    struct mp_walk w = {buf, len, 0, max_depth, why, whylen};
    msgpack_unpacked up;
    size_t off = 0;
    drop_err rc = DROP_EBADREQ;
    json_t *v;

    if (!mp_walk_value(&w, 0)) return DROP_EBADREQ;
    if (w.off != len)
        return err_why(DROP_EBADREQ, why, whylen,
                       "%zu trailing bytes after the MessagePack value", len - w.off);

    msgpack_unpacked_init(&up);
    if (msgpack_unpack_next(&up, buf, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len) {
        err_why(DROP_EBADREQ, why, whylen, "invalid MessagePack");
        goto done;
    }
    v = mp_to_json(&up.data, why, whylen);
    if (!v) goto done;
    *out = v;
    rc = DROP_OK;
done:
    msgpack_unpacked_destroy(&up);
    return rc;
}

static drop_err decode(enum codec c, const void *buf, size_t len, size_t max_depth,
                       json_t **out, json_error_t *err, char *why, size_t whylen)
{
    *out = NULL;
    if (why && whylen) why[0] = '\0';
    if (max_depth > CODEC_MAX_DEPTH) max_depth = CODEC_MAX_DEPTH;
    if (!buf || len == 0)
        return err_why(DROP_EBADREQ, why, whylen, "empty message");
    if (c == CODEC_MSGPACK) return msgpack_decode(buf, len, max_depth, out, why, whylen);
    return json_decode(buf, len, max_depth, out, err, why, whylen);
}

drop_err codec_decode(enum codec c, const void *buf, size_t len, size_t max_depth,
                      json_t **out, char *why, size_t whylen)
{
    return decode(c, buf, len, max_depth, out, NULL, why, whylen);
}

drop_err codec_decode_request(enum codec c, const void *buf, size_t len, size_t max_depth,
                              json_t **out, json_t **bad_id, char *why, size_t whylen)
{
    json_error_t err;
    drop_err rc = decode(c, buf, len, max_depth, out, &err, why, whylen);
    *bad_id = NULL;
    if (rc == DROP_OK || c != CODEC_JSON || !buf || len == 0) return rc;
    if (json_error_code(&err) != json_error_null_character &&
        json_error_code(&err) != json_error_numeric_overflow)
        return rc;
    *bad_id = salvage_id(buf, len);
    if (*bad_id)
        err_why(rc, why, whylen, "%s (at offset %d)", codec_json_problem(&err), err.position);
    return rc;
}

/* ---- Encoding ------------------------------------------------------------ */

static int mp_write_cb(void *data, const char *buf, size_t len)
{
    jsonw_append(data, buf, len);
    return 0;
}

static void mp_pack(msgpack_packer *pk, const json_t *v)
{
    const char *key;
    size_t i, klen;
    json_t *child;

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        msgpack_pack_map(pk, json_object_size(v));
        json_object_keylen_foreach((json_t *)v, key, klen, child) {
            msgpack_pack_str(pk, klen);
            msgpack_pack_str_body(pk, key, klen);
            mp_pack(pk, child);
        }
        break;
    case JSON_ARRAY:
        msgpack_pack_array(pk, json_array_size(v));
        json_array_foreach(v, i, child) mp_pack(pk, child);
        break;
    case JSON_STRING:
        msgpack_pack_str(pk, json_string_length(v));
        msgpack_pack_str_body(pk, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        msgpack_pack_int64(pk, json_integer_value(v));
        break;
    case JSON_REAL:
        msgpack_pack_double(pk, json_real_value(v));
        break;
    case JSON_TRUE:
        msgpack_pack_true(pk);
        break;
    case JSON_FALSE:
        msgpack_pack_false(pk);
        break;
    case JSON_NULL:
    default:
        msgpack_pack_nil(pk);
        break;
    }
}

/* Starts a buffer with `headroom` unused bytes and room for a small message. */
static void out_init(struct jsonw *o, size_t headroom)
{
    o->cap = headroom + 256;
    o->p = xmalloc(o->cap);
    o->len = headroom;
}

unsigned char *codec_encode(enum codec c, const json_t *v, size_t headroom, size_t *len)
{
    struct jsonw o;
    msgpack_packer pk;

    out_init(&o, headroom);
    if (c == CODEC_MSGPACK) {
        msgpack_packer_init(&pk, &o, mp_write_cb);
        mp_pack(&pk, v);
    } else if (jsonw_value(&o, v) != 0) {
        goto fail;
    }
    *len = o.len - headroom;
    return o.p;
fail:
    free(o.p);
    *len = 0;
    return NULL;
}

unsigned char *codec_encode_reply(enum codec c, const json_t *id, const json_t *data,
                                  size_t headroom, size_t *len)
{
    const json_t *re = id ? id : json_null();
    struct jsonw o;
    msgpack_packer pk;

    out_init(&o, headroom);
    if (c == CODEC_MSGPACK) { /* what mp_pack writes for envelope_reply's object */
        msgpack_packer_init(&pk, &o, mp_write_cb);
        msgpack_pack_map(&pk, 3);
        msgpack_pack_str(&pk, 2);
        msgpack_pack_str_body(&pk, "re", 2);
        mp_pack(&pk, re);
        msgpack_pack_str(&pk, 2);
        msgpack_pack_str_body(&pk, "ok", 2);
        msgpack_pack_true(&pk);
        msgpack_pack_str(&pk, 4);
        msgpack_pack_str_body(&pk, "data", 4);
        if (data) mp_pack(&pk, data);
        else msgpack_pack_map(&pk, 0);
    } else {
        jsonw_append(&o, "{\"re\":", 6);
        if (jsonw_value(&o, re) != 0) goto fail;
        jsonw_append(&o, ",\"ok\":true,\"data\":", 18);
        if (!data) jsonw_append(&o, "{}", 2);
        else if (jsonw_value(&o, data) != 0) goto fail;
        jsonw_append(&o, "}", 1);
    }
    *len = o.len - headroom;
    return o.p;
fail:
    free(o.p);
    *len = 0;
    return NULL;
}
