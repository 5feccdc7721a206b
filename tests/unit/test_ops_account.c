/* test_ops_account.c - the account, presence and inbox ops under the op
 * harness (op_harness.h): who may call what, what others see, and the
 * effects an admin's delete and an inbox message have. */
#include "op_harness.h"

static char user[DROP_ID_SIZE], other[DROP_ID_SIZE], op[DROP_ID_SIZE];

static struct caller U(void) { return as(ROLE_USER, user); }
static struct caller X(void) { return as(ROLE_USER, other); }
static struct caller O(void) { return as(ROLE_OPERATOR, op); }
static struct caller A(void) { return as(ROLE_ADMIN, ""); }

static int setup(void **state)
{
    if (harness_setup(state)) return -1;
    new_account("user", "Una", user);
    new_account("user", "Xav", other);
    new_account("operator", "Opa", op);
    return 0;
}

static void test_matrix(void **state)
{
    (void)state;
    struct caller anon = as(ROLE_ANON, "");
    assert_int_equal(call(anon, "account.get", NULL), DROP_EUNAUTH);
    assert_int_equal(call(anon, "map.nearby", "{\"latitude\": 1, \"longitude\": 1}"), DROP_EUNAUTH);
    assert_int_equal(call(anon, "inbox.list", NULL), DROP_EUNAUTH);
    /* issue 15: every signed-in account lists public profiles; the admin
     * whole accounts */
    assert_int_equal(call(U(), "account.list", NULL), DROP_OK);
    assert_int_equal(json_array_size(H->data), 3);
    assert_null(json_object_get(json_array_get(H->data, 0), "identities"));
    assert_int_equal(call(O(), "account.list", NULL), DROP_OK);
    assert_int_equal(call(A(), "account.list", NULL), DROP_OK);
    assert_int_equal(json_array_size(H->data), 3);
    assert_non_null(json_object_get(json_array_get(H->data, 0), "identities"));
    /* only an admin changes a type, or registers while signed in */
    assert_int_equal(call(U(), "account.update", "{\"type\": \"admin\"}"), DROP_EFORBIDDEN);
    assert_int_equal(call(U(), "account.register", "{}"), DROP_EFORBIDDEN);
    assert_int_equal(call(U(), "account.update", "{\"nickname\": \"x\"}"), DROP_EBADREQ);
    assert_int_equal(call(U(), "presence.update", "{\"latitude\": 1, \"longitude\": 1}"),
                     DROP_EFORBIDDEN);
    assert_int_equal(call(U(), "presence.offline", NULL), DROP_EFORBIDDEN);
    assert_int_equal(callf(U(), "account.update", "{\"id\": \"%s\", \"firstName\": \"Z\"}", other),
                     DROP_EFORBIDDEN);
    assert_int_equal(callf(U(), "account.delete", "{\"id\": \"%s\"}", other), DROP_EFORBIDDEN);
    assert_int_equal(call(U(), "account.get", "{\"id\": \"nope\"}"), DROP_EBADREQ);
    assert_int_equal(call(U(), "account.get", "{\"id\": \"000000000000000000000000\"}"),
                     DROP_ENOTFOUND);
}

static void test_views(void **state)
{
    (void)state;
    /* self and admin: the identities; others: a public profile */
    assert_int_equal(call(U(), "account.get", NULL), DROP_OK);
    assert_string_equal(got_s("id"), user);
    assert_non_null(json_object_get(H->data, "identities"));
    assert_int_equal(callf(X(), "account.get", "{\"id\": \"%s\"}", user), DROP_OK);
    assert_string_equal(got_s("firstName"), "Una");
    assert_null(json_object_get(H->data, "identities"));
    assert_int_equal(callf(A(), "account.get", "{\"id\": \"%s\"}", user), DROP_OK);
    assert_non_null(json_object_get(H->data, "identities"));
    /* self and admin may update */
    assert_int_equal(call(U(), "account.update", "{\"lastName\": \"Self\"}"), DROP_OK);
    assert_string_equal(got_s("lastName"), "Self");
    assert_int_equal(callf(A(), "account.update", "{\"id\": \"%s\", \"lastName\": \"Adm\"}", user),
                     DROP_OK);
    assert_string_equal(got_s("lastName"), "Adm");
    /* passwords and their hashes never leave */
    char *text = json_dumps(H->data, 0);
    assert_null(strstr(text, "argon2"));
    assert_null(strstr(text, "assword"));
    free(text);
}

static void test_inbox(void **state)
{
    (void)state;
    json_decref(take_events());
    assert_int_equal(callf(U(), "inbox.send", "{\"to\": \"%s\", \"text\": \"hi\"}", other), DROP_OK);
    const char *mid = got_s("id");
    assert_non_null(mid);
    char id[DROP_ID_SIZE];
    snprintf(id, sizeof id, "%s", mid);
    json_t *ev = take_events();
    assert_int_equal(count_ev(ev, other, "inbox.message", NULL), 1);
    assert_int_equal(count_ev(ev, user, "inbox.message", NULL), 0);
    json_decref(ev);
    /* the recipient lists it; a third party does not see it */
    assert_int_equal(call(X(), "inbox.list", NULL), DROP_OK);
    assert_int_equal(json_array_size(H->data), 1);
    assert_int_equal(call(O(), "inbox.list", NULL), DROP_OK);
    assert_int_equal(json_array_size(H->data), 0);
    assert_int_equal(callf(U(), "inbox.send", "{\"to\": \"%s\", \"text\": \"\"}", other),
                     DROP_EBADREQ);
}

static void test_admin_delete(void **state)
{
    (void)state;
    json_decref(H->closed);
    H->closed = json_array();
    assert_int_equal(callf(A(), "account.delete", "{\"id\": \"%s\"}", other), DROP_OK);
    /* its sessions close (port), it is archived: others do not find it */
    assert_int_equal(json_array_size(H->closed), 1);
    assert_string_equal(json_string_value(json_array_get(H->closed, 0)), other);
    assert_int_equal(callf(U(), "account.get", "{\"id\": \"%s\"}", other), DROP_ENOTFOUND);
    assert_int_equal(callf(A(), "account.get", "{\"id\": \"%s\"}", other), DROP_OK);
    assert_string_equal(got_s("status"), "archived");
    assert_int_equal(call(as(ROLE_ANON, ""), "auth.login",
                          "{\"identity\": \"h2@example.com\", \"password\": \"correct horse\"}"),
                     DROP_EUNAUTH);
    /* the others are untouched */
    assert_int_equal(call(as(ROLE_ANON, ""), "auth.login",
                          "{\"identity\": \"h1@example.com\", \"password\": \"correct horse\"}"),
                     DROP_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matrix),
        cmocka_unit_test(test_views),
        cmocka_unit_test(test_inbox),
        cmocka_unit_test(test_admin_delete),
    };
    return cmocka_run_group_tests(tests, setup, harness_teardown);
}
