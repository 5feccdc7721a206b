/* fuzz_bson.c - libFuzzer target for the MongoDB store's document readers
 * (adapters/store_mongo_records.c, store_mongo_accounts.c): a stored gig
 * document (doc_record of GIG_KIND, through bson_to_json and the gig codec)
 * and a stored account document (doc_account), as a corrupt or hostile
 * database could hand them back.
 *
 * The readers are static, so those files are compiled into this one; no
 * MongoDB is contacted. The input is one BSON document. Checked, else abort:
 *   - a gig that reads writes back (record_doc) and reads again to a gig with
 *     the same record text;
 *   - an account always reads (missing fields keep defaults) and its client
 *     shape (account_to_json, both views) encodes as JSON with every key of
 *     the shape (account_json.h);
 *   - nothing leaks (LeakSanitizer). */
#include "adapters/store_mongo_records.c"
#include "adapters/store_mongo_accounts.c"

#include "engine/account_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fb_fail(const char *what)
{
    fprintf(stderr, "fuzz_bson: %s\n", what);
    abort();
}

static void fb_gig(const bson_t *b)
{
    struct gig g, back;
    char *dump, *again;
    bson_t d;

    gig_init(&g);
    if (doc_record(&GIG_KIND, b, &g) != DROP_OK) return;
    dump = gig_record_dump(&g);
    if (!dump) fb_fail("a gig document that reads has no record");
    bson_init(&d);
    if (!record_doc(&GIG_KIND, &g, &d)) fb_fail("a gig that reads does not write");
    gig_init(&back);
    if (doc_record(&GIG_KIND, &d, &back) != DROP_OK) fb_fail("a written gig document does not read back");
    again = gig_record_dump(&back);
    if (!again || strcmp(dump, again) != 0) fb_fail("the gig changed on a round trip");
    free(again);
    free(dump);
    bson_destroy(&d);
    gig_free(&back);
    gig_free(&g);
}

static void fb_account_json(const struct account *a, bool public_view)
{
    static const char *const keys[] = {"firstName", "lastName", "archive", "status",
                                       "type", "picture", "referralRate", "createdAt",
                                       "updatedAt", "referralCode", "id", "operatorRating",
                                       "customerRating"};
    json_t *v = account_to_json(a, public_view);
    char *text;
    if (!json_is_object(v)) fb_fail("account_to_json gave no object");
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!json_object_get(v, keys[i])) {
            fprintf(stderr, "fuzz_bson: key %s\n", keys[i]);
            fb_fail("an account's client shape lacks a key");
        }
    if (!public_view && json_array_size(json_object_get(v, "identities")) != a->n_identities)
        fb_fail("an account's client shape lost an identity");
    text = json_dumps(v, JSON_COMPACT);
    if (!text) fb_fail("an account's client shape does not encode");
    free(text);
    json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct account a;
    char *pw = NULL;
    bson_t b;

    log_min_level = LOG_ERROR + 1; /* corrupt documents are logged: not here */
    if (!bson_init_static(&b, data, size)) return 0;
    fb_gig(&b);
    doc_account(&b, &a, &pw);
    if (!pw || !a.first_name || !a.last_name) fb_fail("an account read without its strings");
    fb_account_json(&a, false);
    fb_account_json(&a, true);
    account_free(&a);
    free(pw);
    return 0;
}
