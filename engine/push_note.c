/* push_note.c - the push a phone shows for a missed event (push_note.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/push_note.h"

static const char *const WANTED[] = {"gig.offer", "gig.updated", "inbox.message", "job.updated",
                                     "push"};

bool push_note_wanted(const char *ev)
{
    if (!ev) return false;
    for (size_t i = 0; i < sizeof WANTED / sizeof WANTED[0]; i++)
        if (strcmp(ev, WANTED[i]) == 0) return true;
    return false;
}

int64_t push_note_parse_time(const char *s)
{
    struct tm tm;
    int ms = 0, n = 0;
    memset(&tm, 0, sizeof tm);
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &n) != 7 ||
        n != (int)strlen(s))
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    return t < 0 ? 0 : (int64_t)t * 1000 + ms;
}

/* Copies at most max - 1 bytes of s into out without cutting a UTF-8
 * sequence; "..." marks a cut when there is room. */
static void copy_preview(char *out, size_t max, const char *s)
{
    size_t n = strlen(s);
    if (n < max) {
        memcpy(out, s, n + 1);
        return;
    }
    size_t k = max - 4; /* room for "..." and NUL */
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    memcpy(out, s, k);
    memcpy(out + k, "...", 4);
}

/* data[key] = v as a string: strings as they are, anything else as its
 * compact JSON; null and missing values are left out. */
static void set_str(json_t *data, const char *key, const json_t *v)
{
    if (!v || json_is_null(v)) return;
    if (json_is_string(v)) {
        json_object_set_new(data, key, json_string(json_string_value(v)));
        return;
    }
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text) json_object_set_new(data, key, json_string(text));
    free(text);
}

static const char *gig_title(const char *status)
{
    static const struct {
        const char *status, *title;
    } T[] = {
        {"operatorFound", "Operator found"},
        {"operatorEnroute", "Your gig is confirmed"},
        {"handshaking", "Handshake started"},
        {"streaming", "Streaming started"},
        {"purchased", "Gig finished: please rate it"},
        {"voted", "Gig rated"},
        {"expired", "Gig expired"},
        {"allOperatorsRejected", "No operator available"},
        {"customerRejected", "The customer declined"},
        {"cancelled", "Gig cancelled"},
        {"failed", "Gig failed"},
        {"terminated", "Gig terminated"},
    };
    for (size_t i = 0; status && i < sizeof T / sizeof T[0]; i++)
        if (strcmp(status, T[i].status) == 0) return T[i].title;
    return "Gig updated";
}

bool push_note_build(const json_t *envelope, int64_t now, struct push_note *out)
{
    const char *ev = json_string_value(json_object_get(envelope, "ev"));
    const json_t *d = json_object_get(envelope, "data");
    struct push_note n;

    if (!push_note_wanted(ev) || !json_is_object(d)) return false;
    memset(&n, 0, sizeof n);
    snprintf(n.event, sizeof n.event, "%s", ev);
    n.data = json_object();
    json_object_set_new(n.data, "event", json_string(ev));

    if (strcmp(ev, "gig.offer") == 0) {
        const json_t *id = json_object_get(d, "gigId");
        const json_t *dist = json_object_get(d, "distance");
        if (!json_is_string(id)) goto bad;
        set_str(n.data, "gigId", id);
        if (json_is_number(dist)) {
            double m = json_number_value(dist);
            if (m < 1000) snprintf(n.title, sizeof n.title, "New gig %.0f m away", m);
            else snprintf(n.title, sizeof n.title, "New gig %.1f km away", m / 1000.0);
        } else {
            snprintf(n.title, sizeof n.title, "New gig nearby");
        }
        const char *who = json_string_value(json_object_get(json_object_get(d, "customer"),
                                                            "firstName"));
        if (who && *who) snprintf(n.body, sizeof n.body, "%s needs an operator. Open to claim it.", who);
        else snprintf(n.body, sizeof n.body, "A customer needs an operator. Open to claim it.");
        n.high = true;
        n.expires_at = push_note_parse_time(json_string_value(json_object_get(d, "expiresAt")));
        if (n.expires_at && n.expires_at <= now) goto bad; /* the offer is over */
        snprintf(n.collapse, sizeof n.collapse, "gig-%s", json_string_value(id));
    } else if (strcmp(ev, "gig.updated") == 0) {
        const json_t *id = json_object_get(d, "id");
        const char *status = json_string_value(json_object_get(d, "status"));
        if (!json_is_string(id)) goto bad;
        set_str(n.data, "gigId", id);
        set_str(n.data, "status", json_object_get(d, "status"));
        set_str(n.data, "version", json_object_get(d, "version"));
        snprintf(n.title, sizeof n.title, "%s", gig_title(status));
        snprintf(n.body, sizeof n.body, "Open the app to see your gig.");
        snprintf(n.collapse, sizeof n.collapse, "gig-%s", json_string_value(id));
    } else if (strcmp(ev, "inbox.message") == 0) {
        const json_t *id = json_object_get(d, "id");
        const char *text = json_string_value(json_object_get(d, "text"));
        if (!json_is_string(id)) goto bad;
        set_str(n.data, "messageId", id);
        set_str(n.data, "from", json_object_get(d, "from"));
        snprintf(n.title, sizeof n.title, "New message");
        copy_preview(n.body, 101, text ? text : "");
    } else if (strcmp(ev, "job.updated") == 0) {
        const json_t *id = json_object_get(d, "id");
        const char *status = json_string_value(json_object_get(d, "status"));
        const char *title = json_string_value(json_object_get(d, "title"));
        if (!json_is_string(id)) goto bad;
        set_str(n.data, "jobId", id);
        set_str(n.data, "status", json_object_get(d, "status"));
        snprintf(n.title, sizeof n.title, "Job %s", status ? status : "updated");
        for (char *p = n.title + 4; *p; p++) /* "Job ACCEPTED" -> "Job accepted" */
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
        copy_preview(n.body, sizeof n.body, title ? title : "");
        snprintf(n.collapse, sizeof n.collapse, "job-%s", json_string_value(id));
    } else { /* push {from, data} */
        const json_t *pd = json_object_get(d, "data");
        const char *key;
        json_t *v;
        set_str(n.data, "from", json_object_get(d, "from"));
        const char *t = json_string_value(json_object_get(pd, "title"));
        const char *b = json_string_value(json_object_get(pd, "body"));
        if (!b) b = json_string_value(json_object_get(pd, "message"));
        copy_preview(n.title, sizeof n.title, t && *t ? t : "New notification");
        copy_preview(n.body, sizeof n.body, b ? b : "");
        json_object_foreach((json_t *)pd, key, v)
        {
            if (strcmp(key, "event") != 0 && strcmp(key, "from") != 0) set_str(n.data, key, v);
        }
    }
    *out = n;
    return true;
bad:
    json_decref(n.data);
    return false;
}

void push_note_free(struct push_note *n)
{
    if (!n) return;
    json_decref(n->data);
    n->data = NULL;
}
