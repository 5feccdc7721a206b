/* test_token.c - tokens: format and randomness, SHA-256, AES-GCM sealing
 * (round trip, tamper detection, binding to the account and the key), and
 * the server key from a secret or a 0600 key file. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapters/token.h"

static const char ACC[] = "570c6714c0a4eea545970637";
static const char ACC2[] = "570c6714c0a4eea545970638";

static int setup_key(void **state)
{
    (void)state;
    unsigned char key[TOKEN_KEY_LEN];
    for (int i = 0; i < TOKEN_KEY_LEN; i++) key[i] = (unsigned char)(i * 7 + 1);
    token_init(key);
    return 0;
}

static void test_generate_format(void **state)
{
    (void)state;
    char a[TOKEN_SIZE], b[TOKEN_SIZE];
    assert_int_equal(token_generate(a), DROP_OK);
    assert_int_equal(token_generate(b), DROP_OK);
    assert_int_equal(strlen(a), 43);
    assert_true(token_well_formed(a));
    assert_string_not_equal(a, b);
    for (const char *p = a; *p; p++) assert_null(strchr("+/=", *p));
    /* 200 tokens: every char of the alphabet shows up, no repeats */
    char seen[128] = {0};
    char prev[TOKEN_SIZE] = "";
    for (int i = 0; i < 200; i++) {
        assert_int_equal(token_generate(a), DROP_OK);
        assert_string_not_equal(a, prev);
        strcpy(prev, a);
        for (const char *p = a; *p; p++) seen[(int)*p] = 1;
    }
    assert_true(seen['-'] && seen['_'] && seen['A'] && seen['z'] && seen['0']);
}

static void test_well_formed(void **state)
{
    (void)state;
    assert_false(token_well_formed(NULL));
    assert_false(token_well_formed(""));
    assert_false(token_well_formed("abc"));
    char t[64];
    memset(t, 'A', 43);
    t[43] = '\0';
    assert_true(token_well_formed(t));
    t[10] = '+';
    assert_false(token_well_formed(t));
    t[10] = 'A';
    t[43] = 'A';
    t[44] = '\0';
    assert_false(token_well_formed(t));
}

static void test_hash(void **state)
{
    (void)state;
    static const unsigned char abc[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    unsigned char h[TOKEN_HASH_LEN];
    token_hash("abc", h);
    assert_memory_equal(h, abc, 32);
}

static void test_seal_round_trip(void **state)
{
    (void)state;
    char tok[TOKEN_SIZE], back[TOKEN_SIZE];
    unsigned char s1[TOKEN_SEALED_LEN], s2[TOKEN_SEALED_LEN];
    assert_int_equal(token_generate(tok), DROP_OK);
    assert_int_equal(token_seal(tok, ACC, s1), DROP_OK);
    assert_int_equal(token_seal(tok, ACC, s2), DROP_OK);
    assert_memory_not_equal(s1, s2, TOKEN_SEALED_LEN); /* fresh nonce each time */
    assert_null(memmem(s1, sizeof s1, tok, TOKEN_LEN));
    assert_int_equal(token_unseal(s1, sizeof s1, ACC, back), DROP_OK);
    assert_string_equal(back, tok);
    assert_int_equal(token_unseal(s2, sizeof s2, ACC, back), DROP_OK);
    assert_string_equal(back, tok);
    assert_int_equal(token_seal("not a token", ACC, s1), DROP_EBADREQ);
}

static void test_seal_tamper(void **state)
{
    (void)state;
    char tok[TOKEN_SIZE], back[TOKEN_SIZE];
    unsigned char s[TOKEN_SEALED_LEN], t[TOKEN_SEALED_LEN];
    assert_int_equal(token_generate(tok), DROP_OK);
    assert_int_equal(token_seal(tok, ACC, s), DROP_OK);
    /* every single bit flip anywhere (nonce, ciphertext, tag) is caught */
    for (size_t i = 0; i < TOKEN_SEALED_LEN; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            memcpy(t, s, sizeof s);
            t[i] ^= (unsigned char)(1u << bit);
            assert_int_equal(token_unseal(t, sizeof t, ACC, back), DROP_EUNAUTH);
        }
    }
    assert_int_equal(token_unseal(s, sizeof s - 1, ACC, back), DROP_EUNAUTH);
    assert_int_equal(token_unseal(NULL, 0, ACC, back), DROP_EUNAUTH);
    /* bound to its account */
    assert_int_equal(token_unseal(s, sizeof s, ACC2, back), DROP_EUNAUTH);
    /* and to the key */
    unsigned char other[TOKEN_KEY_LEN];
    memset(other, 0x42, sizeof other);
    token_init(other);
    assert_int_equal(token_unseal(s, sizeof s, ACC, back), DROP_EUNAUTH);
    setup_key(NULL);
    assert_int_equal(token_unseal(s, sizeof s, ACC, back), DROP_OK);
    assert_string_equal(back, tok);
}

static void test_key_from_secret(void **state)
{
    (void)state;
    unsigned char k1[TOKEN_KEY_LEN], k2[TOKEN_KEY_LEN];
    char why[256];
    const char *hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    assert_int_equal(token_key_from_secret(hex, k1, why, sizeof why), DROP_OK);
    for (int i = 0; i < 32; i++) assert_int_equal(k1[i], i);
    assert_int_equal(token_key_from_secret("a long passphrase of more than 32 bytes", k1, why,
                                           sizeof why), DROP_OK);
    assert_int_equal(token_key_from_secret("a long passphrase of more than 32 bytez", k2, why,
                                           sizeof why), DROP_OK);
    assert_memory_not_equal(k1, k2, 32);
    assert_int_equal(token_key_from_secret("short", k1, why, sizeof why), DROP_EBADREQ);
    assert_non_null(strstr(why, "32"));
    assert_int_equal(token_key_from_secret("", k1, why, sizeof why), DROP_EBADREQ);
}

static void test_key_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/dropin-token-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], why[512];
    snprintf(path, sizeof path, "%s/sub/token.key", dir);
    unsigned char k1[TOKEN_KEY_LEN], k2[TOKEN_KEY_LEN];
    assert_int_equal(token_key_load_or_create(path, k1, why, sizeof why), DROP_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(sb.st_size, 65);
    assert_int_equal(token_key_load_or_create(path, k2, why, sizeof why), DROP_OK);
    assert_memory_equal(k1, k2, TOKEN_KEY_LEN);

    /* a malformed key file is refused with its path named */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not a key\n", f);
    fclose(f);
    assert_int_not_equal(token_key_load_or_create(path, k2, why, sizeof why), DROP_OK);
    assert_non_null(strstr(why, path));

    /* a parent that is a file */
    char bad[300];
    snprintf(bad, sizeof bad, "%s/token.key", path);
    assert_int_equal(token_key_load_or_create(bad, k2, why, sizeof why), DROP_EUNAVAIL);
    assert_non_null(strstr(why, "directory"));

    unlink(path);
    snprintf(path, sizeof path, "%s/sub", dir);
    rmdir(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_format),
        cmocka_unit_test(test_well_formed),
        cmocka_unit_test(test_hash),
        cmocka_unit_test_setup(test_seal_round_trip, setup_key),
        cmocka_unit_test_setup(test_seal_tamper, setup_key),
        cmocka_unit_test(test_key_from_secret),
        cmocka_unit_test(test_key_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
