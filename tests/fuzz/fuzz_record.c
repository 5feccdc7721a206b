/* fuzz_record.c - libFuzzer target for the stored-record parsers: a gig's
 * record (engine/gig_record.c) and a job's record (engine/job.c), which the
 * stores read back from SQLite text or MongoDB documents.
 *
 * Each input is read as a gig record and as a job record. What reads must
 * (else abort):
 *   - dump again (a record that reads is a valid record) and read back to a
 *     record of the same text: parse(dump(parse(x))) == parse(x);
 *   - give every client shape (gig_json.c: gig, list item, detail, each
 *     offer; job_to_json) as a value that encodes as JSON;
 *   - leave nothing behind (LeakSanitizer).
 * A refusal must say which field (why is not empty). ASan/UBSan catch the
 * rest. tests/unit/test_fuzz_corpus.c replays the corpus through this entry. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gig.h"
#include "engine/gig_json.h"
#include "engine/gig_record.h"
#include "engine/job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void frec_fail(const char *what)
{
    fprintf(stderr, "fuzz_record: %s\n", what);
    abort();
}

/* v must be a value that encodes; consumes v. */
static void frec_encodes(json_t *v, const char *what)
{
    char *s;
    if (!v) frec_fail(what);
    s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    if (!s) frec_fail(what);
    free(s);
    json_decref(v);
}

static void frec_gig(const char *text, size_t len)
{
    struct gig g, back;
    char why[256] = "", *dump, *again;

    gig_init(&g);
    if (gig_record_parse(text, len, &g, why, sizeof why) != DROP_OK) {
        if (!why[0]) frec_fail("gig: a refusal without a reason");
        return;
    }
    dump = gig_record_dump(&g);
    if (!dump) frec_fail("gig: a record that reads does not dump");
    gig_init(&back);
    if (gig_record_parse(dump, strlen(dump), &back, why, sizeof why) != DROP_OK)
        frec_fail("gig: a dumped record does not read back");
    again = gig_record_dump(&back);
    if (!again || strcmp(dump, again) != 0) frec_fail("gig: the record changed on a round trip");
    frec_encodes(gig_to_json(&g), "gig_to_json");
    frec_encodes(gig_list_item_json(&g), "gig_list_item_json");
    frec_encodes(gig_detail_json(&g, "Ann", "Lee", g.operator[0] ? "Bob" : NULL, NULL),
                 "gig_detail_json");
    for (int i = 0; i < g.n_offers; i++)
        frec_encodes(gig_offer_json(&g, &g.offers[i], "Ann", i % 2 ? 4.5 : -1), "gig_offer_json");
    free(again);
    free(dump);
    gig_free(&back);
    gig_free(&g);
}

static void frec_job(const char *text, size_t len)
{
    struct job j, back;
    char why[256] = "", *dump, *again, notice[256];

    if (job_record_parse(text, len, &j, why, sizeof why) != DROP_OK) {
        if (!why[0]) frec_fail("job: a refusal without a reason");
        return;
    }
    dump = job_record_dump(&j);
    if (!dump) frec_fail("job: a record that reads does not dump");
    if (job_record_parse(dump, strlen(dump), &back, why, sizeof why) != DROP_OK)
        frec_fail("job: a dumped record does not read back");
    again = job_record_dump(&back);
    if (!again || strcmp(dump, again) != 0) frec_fail("job: the record changed on a round trip");
    frec_encodes(job_to_json(&j), "job_to_json");
    job_notice_text(&j, notice, sizeof notice);
    free(again);
    free(dump);
    job_free(&back);
    job_free(&j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    frec_gig((const char *)data, size);
    frec_job((const char *)data, size);
    return 0;
}
