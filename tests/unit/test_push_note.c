/* test_push_note.c - what a phone shows for a missed event (engine/push_note.c):
 * titles and bodies, string-only data with the ids, priority, expiry and
 * collapse keys; events that are not pushed give no note. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "engine/device.h"
#include "engine/push_note.h"
#include "engine/timefmt.h"

#define GID "57076378674ea5da598a6a67"
#define NOW 1764460000000LL

static void all_strings(const struct push_note *n)
{
    const char *k;
    json_t *v;
    json_object_foreach(n->data, k, v) assert_true(json_is_string(v));
}

static void test_offer(void **state)
{
    char exp[TIMEFMT_SIZE];
    struct push_note n;
    (void)state;
    timefmt_iso(NOW + 12500, exp);
    json_t *ev = json_pack("{s:s,s:{s:s,s:i,s:{s:s},s:s}}", "ev", "gig.offer", "data", "gigId",
                           GID, "distance", 1234, "customer", "firstName", "Ninh", "expiresAt",
                           exp);
    assert_true(push_note_build(ev, NOW, &n));
    assert_string_equal(n.title, "New gig 1.2 km away");
    assert_non_null(strstr(n.body, "Ninh"));
    assert_true(n.high);
    assert_int_equal(n.expires_at, NOW + 12500);
    assert_string_equal(n.collapse, "gig-" GID);
    assert_string_equal(json_string_value(json_object_get(n.data, "event")), "gig.offer");
    assert_string_equal(json_string_value(json_object_get(n.data, "gigId")), GID);
    all_strings(&n);
    push_note_free(&n);
    /* an offer already over is not pushed */
    assert_false(push_note_build(ev, NOW + 20000, &n));
    json_decref(ev);
}

static void test_gig_updated(void **state)
{
    struct push_note n;
    (void)state;
    json_t *ev = json_pack("{s:s,s:{s:s,s:s,s:i}}", "ev", "gig.updated", "data", "id", GID,
                           "status", "operatorFound", "version", 4);
    assert_true(push_note_build(ev, NOW, &n));
    assert_string_equal(n.title, "Operator found");
    assert_false(n.high);
    assert_int_equal(n.expires_at, 0);
    assert_string_equal(json_string_value(json_object_get(n.data, "version")), "4");
    assert_string_equal(json_string_value(json_object_get(n.data, "status")), "operatorFound");
    all_strings(&n);
    push_note_free(&n);
    json_decref(ev);
}

static void test_message_preview_utf8(void **state)
{
    struct push_note n;
    char text[400] = "";
    (void)state;
    for (int i = 0; i < 60; i++) strcat(text, "\xc3\xa9"); /* 120 bytes of é */
    json_t *ev = json_pack("{s:s,s:{s:s,s:s,s:s}}", "ev", "inbox.message", "data", "id", GID,
                           "from", GID, "text", text);
    assert_true(push_note_build(ev, NOW, &n));
    assert_string_equal(n.title, "New message");
    size_t len = strlen(n.body);
    assert_true(len <= 100);
    assert_string_equal(n.body + len - 3, "...");
    /* the cut is on a character boundary: an even number of é bytes */
    assert_int_equal((len - 3) % 2, 0);
    assert_string_equal(json_string_value(json_object_get(n.data, "messageId")), GID);
    push_note_free(&n);
    json_decref(ev);
}

static void test_push_and_others(void **state)
{
    struct push_note n;
    (void)state;
    json_t *ev = json_pack("{s:s,s:{s:n,s:{s:s,s:i,s:{}}}}", "ev", "push", "data", "from",
                           "data", "title", "Hi", "n", 7, "obj");
    assert_true(push_note_build(ev, NOW, &n));
    assert_string_equal(n.title, "Hi");
    assert_string_equal(json_string_value(json_object_get(n.data, "n")), "7");
    assert_string_equal(json_string_value(json_object_get(n.data, "obj")), "{}");
    assert_null(json_object_get(n.data, "from")); /* null: left out */
    all_strings(&n);
    push_note_free(&n);
    json_decref(ev);

    ev = json_pack("{s:s,s:{s:s,s:s,s:s}}", "ev", "job.updated", "data", "id", GID, "status",
                   "ACCEPTED", "title", "Fix the sink");
    assert_true(push_note_build(ev, NOW, &n));
    assert_string_equal(n.title, "Job accepted");
    assert_string_equal(n.body, "Fix the sink");
    assert_string_equal(json_string_value(json_object_get(n.data, "jobId")), GID);
    push_note_free(&n);
    json_decref(ev);

    ev = json_pack("{s:s,s:{}}", "ev", "gig.offer_revoked", "data");
    assert_false(push_note_build(ev, NOW, &n));
    json_decref(ev);
    ev = json_pack("{s:s,s:{}}", "ev", "gig.offer", "data"); /* no gigId */
    assert_false(push_note_build(ev, NOW, &n));
    json_decref(ev);
}

static void test_time_and_tokens(void **state)
{
    (void)state;
    assert_int_equal(push_note_parse_time("2016-04-12T03:10:12.542Z"), 1460430612542LL);
    assert_int_equal(push_note_parse_time("2016-04-12T03:10:12Z"), 0);
    assert_int_equal(push_note_parse_time("2016-04-12T03:10:12.542Zx"), 0);
    assert_true(device_token_valid("abc-DEF_123:xyz"));
    assert_false(device_token_valid(""));
    assert_false(device_token_valid("a b"));
    assert_false(device_token_valid("a/b"));
    char big[DEVICE_TOKEN_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_false(device_token_valid(big));
    big[DEVICE_TOKEN_MAX] = '\0';
    assert_true(device_token_valid(big));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offer),
        cmocka_unit_test(test_gig_updated),
        cmocka_unit_test(test_message_preview_utf8),
        cmocka_unit_test(test_push_and_others),
        cmocka_unit_test(test_time_and_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
