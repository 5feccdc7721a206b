/* job_test_util.h - what the job tests share: the ids they use and
 * make_job, a fresh job (requested by CLIENT of WORKER at 1000, version 1)
 * that owns its strings (job_free). Header-only. */
#ifndef JOB_TEST_UTIL_H
#define JOB_TEST_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "engine/job.h"

#define ID "0123456789abcdef01234567"
#define CLIENT "aaaaaaaaaaaaaaaaaaaaaaaa"
#define WORKER "bbbbbbbbbbbbbbbbbbbbbbbb"

static inline void make_job(struct job *j)
{
    job_init(j);
    strcpy(j->id, ID);
    j->title = strdup("Paint");
    j->description = strdup("");
    strcpy(j->client, CLIENT);
    strcpy(j->worker, WORKER);
    j->created_at = 1000;
    j->version = 1;
    job_set_status(j, JOB_REQUESTED, 1000, CLIENT);
}

#endif
