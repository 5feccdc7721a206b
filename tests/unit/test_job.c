/* test_job.c - the job ledger's pure rules (engine/job.h): the workflow
 * table, actors, validation, the bounded status log, the store record and
 * the protocol shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "engine/job.h"

#include "job_test_util.h"

#define OTHER "cccccccccccccccccccccccc"

static void test_workflow_table(void **state)
{
    (void)state;
    const unsigned W = JOB_BY_WORKER, C = JOB_BY_CLIENT, A = JOB_BY_ADMIN;
    /* every allowed move */
    assert_int_equal(job_transition(JOB_REQUESTED, JOB_ACCEPTED, W), DROP_OK);
    assert_int_equal(job_transition(JOB_REQUESTED, JOB_DECLINED, W), DROP_OK);
    assert_int_equal(job_transition(JOB_ACCEPTED, JOB_STARTED, W), DROP_OK);
    assert_int_equal(job_transition(JOB_STARTED, JOB_COMPLETED, W), DROP_OK);
    assert_int_equal(job_transition(JOB_COMPLETED, JOB_PENDING_PAYMENT, C), DROP_OK);
    assert_int_equal(job_transition(JOB_PENDING_PAYMENT, JOB_PAID, C), DROP_OK);
    assert_int_equal(job_transition(JOB_PENDING_PAYMENT, JOB_PAID, A), DROP_OK);
    /* the wrong actor */
    assert_int_equal(job_transition(JOB_REQUESTED, JOB_ACCEPTED, C), DROP_EFORBIDDEN);
    assert_int_equal(job_transition(JOB_REQUESTED, JOB_ACCEPTED, A), DROP_EFORBIDDEN);
    assert_int_equal(job_transition(JOB_COMPLETED, JOB_PENDING_PAYMENT, W), DROP_EFORBIDDEN);
    assert_int_equal(job_transition(JOB_PENDING_PAYMENT, JOB_PAID, W), DROP_EFORBIDDEN);
    assert_int_equal(job_transition(JOB_STARTED, JOB_COMPLETED, 0), DROP_EFORBIDDEN);
    /* the wrong state: every pair not in the table is a conflict */
    int allowed = 0;
    for (int f = 0; f < JOB_STATUS__COUNT; f++)
        for (int t = 0; t < JOB_STATUS__COUNT; t++)
            if (job_transition((enum job_status)f, (enum job_status)t, W | C | A) == DROP_OK)
                allowed++;
            else
                assert_int_equal(job_transition((enum job_status)f, (enum job_status)t, W | C | A),
                                 DROP_ECONFLICT);
    assert_int_equal(allowed, 6);
    assert_int_equal(job_transition(JOB_DECLINED, JOB_ACCEPTED, W), DROP_ECONFLICT);
    assert_int_equal(job_transition(JOB_PAID, JOB_PAID, C), DROP_ECONFLICT);
    assert_int_equal(job_transition(JOB_ACCEPTED, JOB_ACCEPTED, W), DROP_ECONFLICT);
}

static void test_actors_and_names(void **state)
{
    (void)state;
    struct job j;
    enum job_status s;
    make_job(&j);
    assert_int_equal(job_actors(&j, CLIENT, false), JOB_BY_CLIENT);
    assert_int_equal(job_actors(&j, WORKER, true), JOB_BY_WORKER | JOB_BY_ADMIN);
    assert_int_equal(job_actors(&j, OTHER, false), 0);
    assert_int_equal(job_actors(&j, "", true), JOB_BY_ADMIN);
    for (int i = 0; i < JOB_STATUS__COUNT; i++) {
        assert_int_equal(job_status_parse(job_status_name((enum job_status)i), &s), DROP_OK);
        assert_int_equal(s, i);
    }
    assert_int_equal(job_status_parse("accepted", &s), DROP_EBADREQ);
    assert_int_equal(job_status_parse("", &s), DROP_EBADREQ);
    assert_int_equal(job_status_parse(NULL, &s), DROP_EBADREQ);
    job_free(&j);
}

static void test_check_text(void **state)
{
    (void)state;
    char why[128], big[JOB_DESCRIPTION_MAX + 2];
    assert_int_equal(job_check_text("t", NULL, why, sizeof why), DROP_OK);
    assert_int_equal(job_check_text("", "", why, sizeof why), DROP_EBADREQ);
    assert_non_null(strstr(why, "title"));
    assert_int_equal(job_check_text(NULL, "", why, sizeof why), DROP_EBADREQ);
    memset(big, 'x', sizeof big);
    big[JOB_TITLE_MAX] = '\0';
    assert_int_equal(job_check_text(big, "", why, sizeof why), DROP_OK);
    big[JOB_TITLE_MAX] = 'x';
    big[JOB_TITLE_MAX + 1] = '\0';
    assert_int_equal(job_check_text(big, "", why, sizeof why), DROP_ETOOLARGE);
    big[JOB_DESCRIPTION_MAX] = '\0';
    big[JOB_TITLE_MAX + 1] = 'x';
    assert_int_equal(job_check_text("t", big, why, sizeof why), DROP_OK);
    big[JOB_DESCRIPTION_MAX] = 'x';
    big[JOB_DESCRIPTION_MAX + 1] = '\0';
    assert_int_equal(job_check_text("t", big, why, sizeof why), DROP_ETOOLARGE);
    assert_non_null(strstr(why, "description"));
}

static void test_log_bounded(void **state)
{
    (void)state;
    struct job j;
    make_job(&j);
    for (int i = 1; i <= JOB_LOG_MAX + 10; i++)
        job_set_status(&j, JOB_STARTED, 1000 + i, WORKER);
    assert_int_equal(j.n_log, JOB_LOG_MAX);
    assert_true(j.log[0].at == 1000 + 11); /* the oldest entries went */
    assert_true(j.log[JOB_LOG_MAX - 1].at == 1000 + JOB_LOG_MAX + 10);
    assert_true(j.updated_at == 1000 + JOB_LOG_MAX + 10);
    assert_int_equal(j.status, JOB_STARTED);
    job_free(&j);
}

static void test_record_round_trip(void **state)
{
    (void)state;
    struct job j, back;
    char why[128];
    make_job(&j);
    free(j.description);
    j.description = strdup("caf\xc3\xa9 \"x\"");
    job_set_status(&j, JOB_ACCEPTED, 2000, WORKER);
    job_set_status(&j, JOB_PAID, 3000, ""); /* an admin without an account */
    j.version = 3;
    char *text = job_record_dump(&j);
    assert_non_null(text);
    assert_int_equal(job_record_parse(text, strlen(text), &back, why, sizeof why), DROP_OK);
    assert_string_equal(back.id, j.id);
    assert_string_equal(back.title, j.title);
    assert_string_equal(back.description, j.description);
    assert_int_equal(back.status, JOB_PAID);
    assert_int_equal(back.n_log, 3);
    assert_string_equal(back.log[1].by, WORKER);
    assert_string_equal(back.log[2].by, "");
    assert_true(back.log[2].at == 3000 && back.version == 3 && back.updated_at == 3000);
    free(text);
    job_free(&back);
    /* the record refuses what is not a job */
    assert_int_equal(job_record_parse("{", 1, &back, why, sizeof why), DROP_EINTERNAL);
    const char *bad = "{\"id\":\"x\",\"title\":\"t\",\"description\":\"\",\"client\":\"" CLIENT
                      "\",\"worker\":\"" WORKER "\",\"status\":\"REQUESTED\",\"statusLog\":[],"
                      "\"createdAt\":1,\"updatedAt\":1,\"version\":1}";
    assert_int_equal(job_record_parse(bad, strlen(bad), &back, why, sizeof why), DROP_EINTERNAL);
    strcpy(j.worker, "nope");
    assert_null(job_record_dump(&j));
    job_free(&j);
}

static void test_json_and_notice(void **state)
{
    (void)state;
    struct job j;
    char text[300];
    make_job(&j);
    json_t *o = job_to_json(&j);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "REQUESTED");
    assert_string_equal(json_string_value(json_object_get(o, "client")), CLIENT);
    assert_string_equal(json_string_value(json_object_get(o, "createdAt")),
                        "1970-01-01T00:00:01.000Z");
    json_t *log = json_object_get(o, "statusLog");
    assert_int_equal(json_array_size(log), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(log, 0), "by")), CLIENT);
    assert_int_equal(json_integer_value(json_object_get(o, "version")), 1);
    json_decref(o);
    job_notice_text(&j, text, sizeof text);
    assert_string_equal(text, "Job \"Paint\" was requested");
    job_set_status(&j, JOB_ACCEPTED, 2000, WORKER);
    job_notice_text(&j, text, sizeof text);
    assert_string_equal(text, "Job \"Paint\" was accepted");
    job_set_status(&j, JOB_DECLINED, 2000, WORKER);
    job_notice_text(&j, text, sizeof text);
    assert_string_equal(text, "Job \"Paint\" was declined");
    job_free(&j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workflow_table),   cmocka_unit_test(test_actors_and_names),
        cmocka_unit_test(test_check_text),       cmocka_unit_test(test_log_bounded),
        cmocka_unit_test(test_record_round_trip), cmocka_unit_test(test_json_and_notice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
