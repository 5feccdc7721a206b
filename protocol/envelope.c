/* envelope.c - request shape checks and reply builders (see envelope.h).
 *
 * Pure json_t work: no I/O, no allocation outside jansson. The builders add
 * keys in wire order (re/ev, ok, data/error) because jansson keeps insertion
 * order and clients reading raw frames find them in the documented order. */
#include "protocol/envelope.h"

#include "engine/utf8.h"

drop_err envelope_parse(json_t *root, struct envelope *env, char *why, size_t whylen)
{
    json_t *op, *id, *data;
    size_t n;

    if (why && whylen) why[0] = '\0';
    if (!json_is_object(root))
        return err_why(DROP_EBADREQ, why, whylen, "envelope is not an object");
    op = json_object_get(root, "op");
    if (!json_is_string(op))
        return err_why(DROP_EBADREQ, why, whylen, "\"op\" is missing or not a string");
    n = json_string_length(op);
    if (n == 0 || n > ENVELOPE_OP_MAX)
        return err_why(DROP_EBADREQ, why, whylen, "\"op\" must be 1..%d bytes", ENVELOPE_OP_MAX);
    id = json_object_get(root, "id");
    if (id && !json_is_integer(id) && !json_is_string(id))
        return err_why(DROP_EBADREQ, why, whylen, "\"id\" must be an integer or a string");
    if (json_is_string(id) && json_string_length(id) > ENVELOPE_ID_MAX)
        return err_why(DROP_EBADREQ, why, whylen,
                       "\"id\" is longer than %d bytes", ENVELOPE_ID_MAX);
    data = json_object_get(root, "data");
    if (data && !json_is_null(data) && !json_is_object(data))
        return err_why(DROP_EBADREQ, why, whylen, "\"data\" must be an object");
    if (!json_is_object(data)) {
        data = json_object();
        json_object_set_new(root, "data", data);
    }
    env->op = json_string_value(op);
    env->id = id;
    env->data = data;
    return DROP_OK;
}

json_t *envelope_reply(json_t *id, json_t *data)
{
    json_t *r = json_object();

    json_object_set_new(r, "re", id ? json_incref(id) : json_null());
    json_object_set_new(r, "ok", json_true());
    json_object_set_new(r, "data", data ? data : json_object());
    return r;
}

json_t *envelope_error(json_t *id, drop_err e, const char *message)
{
    json_t *r = json_object(), *err = json_object(), *msg = NULL;

    msg = utf8_json_string(message ? message : err_code(e), 0);
    json_object_set_new(err, "code", json_string(err_code(e)));
    json_object_set_new(err, "message", msg);
    json_object_set_new(r, "re", id ? json_incref(id) : json_null());
    json_object_set_new(r, "ok", json_false());
    json_object_set_new(r, "error", err);
    return r;
}

json_t *envelope_event(const char *ev, json_t *data)
{
    json_t *r = json_object();

    json_object_set_new(r, "ev", json_string(ev));
    json_object_set_new(r, "data", data ? data : json_object());
    return r;
}
