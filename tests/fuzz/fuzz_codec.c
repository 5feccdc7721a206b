/* fuzz_codec.c - libFuzzer target for protocol/codec and protocol/envelope.
 *
 * Each input is decoded as JSON and as MessagePack. Whatever decodes is run
 * through envelope_parse and re-encoded in both encodings; each re-encoding
 * must decode again to an equal value (json_equal), so the two codecs accept
 * exactly the same value space. A mismatch aborts. What does not decode goes
 * through codec_decode_request, which must hand out an id or nothing. Built with clang
 * -fsanitize=fuzzer by tests/fuzz/CMakeLists.txt; tests/unit/test_fuzz_corpus.c
 * includes this file and replays tests/fuzz/corpus/ through the same entry
 * point under gcc + ASan in every `make test`. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "protocol/codec.h"
#include "protocol/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Encodes v with c and checks it decodes back to an equal value. */
static void fuzz_codec_check(enum codec c, const json_t *v)
{
    size_t len = 0;
    unsigned char *buf = codec_encode(c, v, 16, &len);
    json_t *back = NULL;
    char why[256];

    if (!buf) {
        fprintf(stderr, "fuzz_codec: codec %d cannot encode a decoded value\n", (int)c);
        abort();
    }
    if (codec_decode(c, buf + 16, len, CODEC_MAX_DEPTH, &back, why, sizeof why) != DROP_OK) {
        fprintf(stderr, "fuzz_codec: codec %d rejects its own output: %s\n", (int)c, why);
        abort();
    }
    if (!json_equal(v, back)) {
        fprintf(stderr, "fuzz_codec: codec %d round trip changed the value\n", (int)c);
        abort();
    }
    json_decref(back);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum codec codecs[] = {CODEC_JSON, CODEC_MSGPACK};
    struct envelope env;
    char why[256];
    json_t *v;
    size_t i;

    for (i = 0; i < 2; i++) {
        v = NULL;
        json_t *id = NULL;
        if (codec_decode_request(codecs[i], data, size, CODEC_MAX_DEPTH, &v, &id, why,
                                 sizeof why) != DROP_OK) {
            if (v) abort(); /* a failed decode must not hand out a value */
            /* what the session salvages of it: an id that can be answered */
            if (id && !json_is_null(id) && !json_is_integer(id) && !json_is_string(id)) abort();
            if (id) json_decref(envelope_error(json_is_null(id) ? NULL : id, DROP_EBADREQ, why));
            json_decref(id);
            continue;
        }
        fuzz_codec_check(CODEC_JSON, v);
        fuzz_codec_check(CODEC_MSGPACK, v);
        if (envelope_parse(v, &env, why, sizeof why) == DROP_OK) {
            json_decref(envelope_reply(env.id, json_incref(env.data)));
            json_decref(envelope_error(env.id, DROP_EBADREQ, env.op));
        }
        json_decref(v);
    }
    return 0;
}
