/* test_etsi014_json.c: unit tests of src/common/etsi014_json.c (docs/etsi014.md): the
 * encoders round-tripped through the client decoders (Status; Key container with 128 keys of
 * 8192 bits and 255 keys; Error with quotes, backslashes, control bytes and bytes that are not
 * UTF-8), the exact Key container text, the decoders refusing malformed responses (wrong types,
 * missing members, bad base64, key_ID not a UUID or repeated, too many keys), and base64 against
 * the RFC 4648 vectors and OpenSSL's EVP_EncodeBlock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "etsi014.h"

#define MSG 200

static void assert_msg(const char *msg)
{
    assert_true(msg[0] != '\0');
    assert_null(strchr(msg, '\n'));
}

static const char *const U1 = "3c4e5f60-1234-4abc-8def-001122334455";

static const char *const U2 = "7a0d3f1e-9b2c-4d5e-8f60-718293a4b5c6";

/* ---- encoders and client decoders ----------------------------------------------------------- */

static int parse_status(const struct qkd_sbuf *b, struct etsi014_status_view *v)
{
    char msg[MSG] = "";
    int r = etsi014_status_parse((const uint8_t *)b->p, b->len, v, msg, sizeof msg);
    if (r) assert_msg(msg);
    return r;
}

static void test_status_round_trip(void **state)
{
    (void)state;
    struct etsi014_status st = {.source_kme = "alice",
                                .target_kme = "bob",
                                .master = "alice-app",
                                .slave = "bob \"app\"\\",
                                .key_size = 256,
                                .stored_key_count = (uint64_t)1 << 40,
                                .max_key_count = 123456789012ull,
                                .max_key_per_request = 128,
                                .max_key_size = 8192,
                                .min_key_size = 64,
                                .max_sae_ids = 8};
    struct qkd_sbuf b = {0};
    etsi014_status_json(&b, &st);
    assert_false(b.failed);
    assert_non_null(strstr(b.p, "\"max_SAE_ID_count\":8"));
    assert_non_null(strstr(b.p, "\"source_KME_ID\":\"alice\""));
    struct etsi014_status_view v;
    assert_int_equal(parse_status(&b, &v), 0);
    assert_string_equal(v.source_kme, "alice");
    assert_string_equal(v.target_kme, "bob");
    assert_string_equal(v.master, "alice-app");
    assert_string_equal(v.slave, "bob \"app\"\\");
    assert_int_equal(v.key_size, 256);
    assert_true(v.stored_key_count == (uint64_t)1 << 40);
    assert_true(v.max_key_count == 123456789012ull);
    assert_int_equal(v.max_key_per_request, 128);
    assert_int_equal(v.max_key_size, 8192);
    assert_int_equal(v.min_key_size, 64);
    assert_int_equal(v.max_sae_ids, 8);
    qkd_sbuf_free(&b);
}

static void test_status_parse_malformed(void **state)
{
    (void)state;
    const char *base = "\"source_KME_ID\":\"a\",\"target_KME_ID\":\"b\",\"master_SAE_ID\":\"m\","
                       "\"slave_SAE_ID\":\"s\",\"key_size\":256,\"stored_key_count\":5,"
                       "\"max_key_count\":10,\"max_key_per_request\":128,\"max_key_size\":8192,"
                       "\"min_key_size\":64";
    char b[1024];
    struct etsi014_status_view v;
    char msg[MSG];
    snprintf(b, sizeof b, "{%s}", base); /* max_SAE_ID_count optional */
    assert_int_equal(etsi014_status_parse((const uint8_t *)b, strlen(b), &v, msg, sizeof msg), 0);
    assert_int_equal(v.max_sae_ids, 0);
    assert_int_equal(v.stored_key_count, 5);
    static const char *const bad[] = {
        "",
        "[]",
        "{",
        "{}",
        "{\"source_KME_ID\":1}",
        /* each: a whole Status with one member broken */
        "{\"source_KME_ID\":\"a\",\"target_KME_ID\":\"b\",\"master_SAE_ID\":\"m\","
        "\"slave_SAE_ID\":\"s\",\"key_size\":\"256\",\"stored_key_count\":5,\"max_key_count\":10,"
        "\"max_key_per_request\":128,\"max_key_size\":8192,\"min_key_size\":64}",
        "{\"source_KME_ID\":\"a\",\"target_KME_ID\":\"b\",\"master_SAE_ID\":\"m\","
        "\"slave_SAE_ID\":\"s\",\"key_size\":256,\"stored_key_count\":-5,\"max_key_count\":10,"
        "\"max_key_per_request\":128,\"max_key_size\":8192,\"min_key_size\":64}",
        "{\"source_KME_ID\":\"a\",\"target_KME_ID\":\"b\",\"master_SAE_ID\":\"m\","
        "\"slave_SAE_ID\":\"s\",\"key_size\":256,\"stored_key_count\":5,\"max_key_count\":10.5,"
        "\"max_key_per_request\":128,\"max_key_size\":8192,\"min_key_size\":64}",
        "{\"source_KME_ID\":\"a\",\"target_KME_ID\":\"b\",\"master_SAE_ID\":\"m\","
        "\"slave_SAE_ID\":\"s\",\"key_size\":4294967296,\"stored_key_count\":5,"
        "\"max_key_count\":10,\"max_key_per_request\":128,\"max_key_size\":8192,"
        "\"min_key_size\":64}",
        "{\"source_KME_ID\":\"a\",\"target_KME_ID\":\"b\",\"master_SAE_ID\":null,"
        "\"slave_SAE_ID\":\"s\",\"key_size\":256,\"stored_key_count\":5,\"max_key_count\":10,"
        "\"max_key_per_request\":128,\"max_key_size\":8192,\"min_key_size\":64}",
        "{\"source_KME_ID\":\"a\",\"target_KME_ID\":\"b\",\"master_SAE_ID\":\"m\","
        "\"slave_SAE_ID\":\"s\\n\",\"key_size\":256,\"stored_key_count\":5,\"max_key_count\":10,"
        "\"max_key_per_request\":128,\"max_key_size\":8192,\"min_key_size\":64}",
        "{\"source_KME_ID\":\"a\",\"target_KME_ID\":\"b\",\"master_SAE_ID\":\"m\","
        "\"slave_SAE_ID\":\"s\",\"key_size\":256,\"stored_key_count\":5,\"max_key_count\":10,"
        "\"max_key_per_request\":128,\"max_key_size\":8192}",
        "{\"source_KME_ID\":\"a\",\"target_KME_ID\":\"b\",\"master_SAE_ID\":\"m\","
        "\"slave_SAE_ID\":\"s\",\"key_size\":256,\"stored_key_count\":5,\"max_key_count\":10,"
        "\"max_key_per_request\":128,\"max_key_size\":8192,\"min_key_size\":64,"
        "\"max_SAE_ID_count\":true}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = '\0';
        if (etsi014_status_parse((const uint8_t *)bad[i], strlen(bad[i]), &v, msg, sizeof msg) !=
            -1)
            fail_msg("want -1: '%s'", bad[i]);
        assert_msg(msg);
        assert_string_equal(v.master, "");
    }
    /* string length edge: 64 bytes fine, 65 refused */
    char id[70];
    memset(id, 's', 65);
    id[64] = '\0';
    char b2[1024];
    snprintf(b2, sizeof b2,
             "{\"source_KME_ID\":\"%s\",\"target_KME_ID\":\"b\",\"master_SAE_ID\":\"m\","
             "\"slave_SAE_ID\":\"s\",\"key_size\":256,\"stored_key_count\":5,\"max_key_count\":10,"
             "\"max_key_per_request\":128,\"max_key_size\":8192,\"min_key_size\":64}",
             id);
    assert_int_equal(etsi014_status_parse((const uint8_t *)b2, strlen(b2), &v, msg, sizeof msg), 0);
    assert_string_equal(v.source_kme, id);
    id[64] = 's';
    id[65] = '\0';
    snprintf(b2, sizeof b2,
             "{\"source_KME_ID\":\"%s\",\"target_KME_ID\":\"b\",\"master_SAE_ID\":\"m\","
             "\"slave_SAE_ID\":\"s\",\"key_size\":256,\"stored_key_count\":5,\"max_key_count\":10,"
             "\"max_key_per_request\":128,\"max_key_size\":8192,\"min_key_size\":64}",
             id);
    assert_int_equal(etsi014_status_parse((const uint8_t *)b2, strlen(b2), &v, msg, sizeof msg),
                     -1);
}

/* Encodes n keys of kb bytes (random) and decodes them again. */

static void keys_round_trip(uint32_t n, uint32_t kb)
{
    uint8_t(*ids)[16] = calloc(n, 16);
    uint8_t *data = malloc((size_t)n * kb);
    const uint8_t **keys = calloc(n, sizeof *keys);
    assert_non_null(ids);
    assert_non_null(data);
    assert_non_null(keys);
    assert_int_equal(RAND_bytes(data, (int)(n * kb)), 1);
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(RAND_bytes(ids[i], 16), 1);
        ids[i][6] = (ids[i][6] & 0x0f) | 0x40;
        ids[i][8] = (ids[i][8] & 0x3f) | 0x80;
        keys[i] = data + (size_t)i * kb;
    }
    struct qkd_sbuf b = {0};
    etsi014_keys_json(&b, n, (const uint8_t(*)[16])ids, keys, kb);
    assert_false(b.failed);
    static struct etsi014_keys k;
    char msg[MSG] = "";
    if (etsi014_keys_parse((const uint8_t *)b.p, b.len, &k, msg, sizeof msg) != 0)
        fail_msg("keys_parse(%u keys of %u bytes): %s", n, kb, msg);
    assert_int_equal(k.n, n);
    assert_non_null(k.buf);
    for (uint32_t i = 0; i < n; i++) {
        assert_memory_equal(k.ids[i], ids[i], 16);
        assert_int_equal(k.key_bytes[i], kb);
        assert_true(k.off[i] + kb <= k.buf->len);
        assert_memory_equal(k.buf->data + k.off[i], keys[i], kb);
    }
    etsi014_keys_free(&k);
    assert_null(k.buf);
    assert_int_equal(k.n, 0);
    qkd_sbuf_free(&b);
    free(ids);
    free(data);
    free(keys);
}

static void test_keys_round_trip(void **state)
{
    (void)state;
    keys_round_trip(1, 1);
    keys_round_trip(1, 2);
    keys_round_trip(3, 3);
    keys_round_trip(2, 47);
    keys_round_trip(2, 48);
    keys_round_trip(2, 49);
    keys_round_trip(1, 8192 / 8);
    keys_round_trip(128, 8192 / 8);
    keys_round_trip(ETSI014_MAX_KEYS, 32);
}

static void test_keys_json_exact(void **state)
{
    (void)state;
    uint8_t ids[2][16];
    assert_int_equal(etsi014_uuid_parse(U1, ids[0]), 0);
    assert_int_equal(etsi014_uuid_parse(U2, ids[1]), 0);
    const uint8_t *keys[2] = {(const uint8_t *)"foo", (const uint8_t *)"bar"};
    struct qkd_sbuf b = {0};
    etsi014_keys_json(&b, 2, (const uint8_t(*)[16])ids, keys, 3);
    assert_string_equal(b.p, "{\"keys\":[{\"key_ID\":\"3c4e5f60-1234-4abc-8def-001122334455\","
                             "\"key\":\"Zm9v\"},{\"key_ID\":\"7a0d3f1e-9b2c-4d5e-8f60-"
                             "718293a4b5c6\",\"key\":\"YmFy\"}]}");
    qkd_sbuf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.cap, 0);
}

/* A length per key (a dec_keys answer over enc_keys calls of different sizes). */
static void test_keys_json_each_length(void **state)
{
    (void)state;
    uint8_t ids[2][16];
    assert_int_equal(etsi014_uuid_parse(U1, ids[0]), 0);
    assert_int_equal(etsi014_uuid_parse(U2, ids[1]), 0);
    const uint8_t *keys[2] = {(const uint8_t *)"foo", (const uint8_t *)"barbaz"};
    const uint32_t lens[2] = {3, 6};
    struct qkd_sbuf b = {0};
    etsi014_keys_json_each(&b, 2, (const uint8_t(*)[16])ids, keys, lens, 0);
    assert_string_equal(b.p, "{\"keys\":[{\"key_ID\":\"3c4e5f60-1234-4abc-8def-001122334455\","
                             "\"key\":\"Zm9v\"},{\"key_ID\":\"7a0d3f1e-9b2c-4d5e-8f60-"
                             "718293a4b5c6\",\"key\":\"YmFyYmF6\"}]}");
    struct etsi014_keys k;
    char msg[200];
    assert_int_equal(etsi014_keys_parse((const uint8_t *)b.p, b.len, &k, msg, sizeof(msg)), 0);
    assert_int_equal(k.n, 2);
    assert_int_equal(k.key_bytes[0], 3);
    assert_int_equal(k.key_bytes[1], 6);
    assert_memory_equal(k.buf->data + k.off[1], "barbaz", 6);
    etsi014_keys_free(&k);
    qkd_sbuf_free(&b);
}

static void test_keys_parse_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "[]",
        "{}",
        "{\"keys\":{}}",
        "{\"keys\":[]}",
        "{\"keys\":[1]}",
        "{\"keys\":[{\"key\":\"Zm9v\"}]}",
        "{\"keys\":[{\"key_ID\":\"3c4e5f60-1234-4abc-8def-001122334455\"}]}",
        "{\"keys\":[{\"key_ID\":\"nope\",\"key\":\"Zm9v\"}]}",
        "{\"keys\":[{\"key_ID\":7,\"key\":\"Zm9v\"}]}",
        "{\"keys\":[{\"key_ID\":\"3c4e5f60-1234-4abc-8def-001122334455\",\"key\":7}]}",
        "{\"keys\":[{\"key_ID\":\"3c4e5f60-1234-4abc-8def-001122334455\",\"key\":\"\"}]}",
        "{\"keys\":[{\"key_ID\":\"3c4e5f60-1234-4abc-8def-001122334455\",\"key\":\"Zm9v!A==\"}]}",
        "{\"keys\":[{\"key_ID\":\"3c4e5f60-1234-4abc-8def-001122334455\",\"key\":\"Zg=\"}]}",
        "{\"keys\":[{\"key_ID\":\"3c4e5f60-1234-4abc-8def-001122334455\",\"key\":\"Zh==\"}]}",
        "{\"keys\":[{\"key_ID\":\"3c4e5f60-1234-4abc-8def-001122334455\",\"key\":\"====\"}]}",
        "{\"keys\":[{\"key_ID\":\"3c4e5f60-1234-4abc-8def-001122334455\",\"key\":\"Zm9v\\n\"}]}",
        "{\"keys\":[{\"key_ID\":\"3c4e5f60-1234-4abc-8def-001122334455\",\"key\":\"Zm 9\"}]}",
        "{\"keys\":[{\"key_ID\":\"3c4e5f60-1234-4abc-8def-001122334455\",\"key\":\"Zm9v\"},"
        "{\"key_ID\":\"3c4e5f60-1234-4abc-8def-001122334455\",\"key\":\"YmFy\"}]}",
        "{\"keys\":[{\"key_ID\":\"3c4e5f60-1234-4abc-8def-001122334455\",\"key\":\"Zm9v\"},"
        "{\"key_ID\":\"7a0d3f1e-9b2c-4d5e-8f60-718293a4b5c6\",\"key\":\"Y=Fy\"}]}",
    };
    static struct etsi014_keys k;
    char msg[MSG];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = '\0';
        if (etsi014_keys_parse((const uint8_t *)bad[i], strlen(bad[i]), &k, msg, sizeof msg) != -1)
            fail_msg("want -1: '%s'", bad[i]);
        assert_msg(msg);
        assert_null(k.buf);
        assert_int_equal(k.n, 0);
    }
    /* too many keys: ETSI014_MAX_KEYS + 1 */
    size_t cap = 80 * (ETSI014_MAX_KEYS + 2);
    char *b = malloc(cap);
    assert_non_null(b);
    strcpy(b, "{\"keys\":[");
    for (int i = 0; i <= ETSI014_MAX_KEYS; i++)
        snprintf(b + strlen(b), cap - strlen(b),
                 "%s{\"key_ID\":\"00000000-0000-4000-8000-%012x\",\"key\":\"Zm9v\"}", i ? "," : "",
                 i);
    strcat(b, "]}");
    assert_int_equal(etsi014_keys_parse((const uint8_t *)b, strlen(b), &k, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "more than"));
    free(b);
}

static void test_error_round_trip(void **state)
{
    (void)state;
    const char *m = "a \"q\" \\ b\n\x01\x7f c\t/ caf\xc3\xa9";
    struct qkd_sbuf b = {0};
    etsi014_error_json(&b, m);
    assert_string_equal(b.p,
                        "{\"message\":\"a \\\"q\\\" \\\\ b\\n\\u0001\\u007f c\\t/ caf\xc3\xa9\"}");
    /* a generic JSON parser reads the exact message back */
    cJSON *j = cJSON_ParseWithLength(b.p, b.len);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "message")->valuestring, m);
    cJSON_Delete(j);
    char msg[MSG];
    assert_int_equal(etsi014_error_parse((const uint8_t *)b.p, b.len, msg, sizeof msg), 0);
    assert_string_equal(msg, "a \"q\" \\ b??? c?/ caf\xc3\xa9");
    qkd_sbuf_free(&b);
    /* bytes that are not UTF-8 become U+FFFD, so the output stays JSON */
    etsi014_error_json(&b, "x\xff\xc3(y");
    assert_string_equal(b.p, "{\"message\":\"x\\ufffd\\ufffd(y\"}");
    qkd_sbuf_free(&b);
    etsi014_error_json(&b, NULL);
    assert_string_equal(b.p, "{\"message\":\"\"}");
    qkd_sbuf_free(&b);
    /* truncation to the caller's buffer */
    char small[5];
    const char *e = "{\"message\":\"abcdefgh\",\"details\":[{\"x\":1}]}";
    assert_int_equal(etsi014_error_parse((const uint8_t *)e, strlen(e), small, sizeof small), 0);
    assert_string_equal(small, "abcd");
    static const char *const bad[] = {"",
                                      "{}",
                                      "[]",
                                      "{\"message\":1}",
                                      "{\"message\":null}",
                                      "{\"Message\":\"x\"}",
                                      "{\"message\":\"x\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = '\0';
        if (etsi014_error_parse((const uint8_t *)bad[i], strlen(bad[i]), msg, sizeof msg) != -1)
            fail_msg("want -1: '%s'", bad[i]);
        assert_msg(msg);
    }
}

/* ---- base64 and UUIDs ----------------------------------------------------------------------- */

static void test_b64_vectors(void **state)
{
    (void)state;
    static const char *const v[][2] = {{"", ""},
                                       {"f", "Zg=="},
                                       {"fo", "Zm8="},
                                       {"foo", "Zm9v"},
                                       {"foob", "Zm9vYg=="},
                                       {"fooba", "Zm9vYmE="},
                                       {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char out[32];
        size_t n = strlen(v[i][0]);
        assert_int_equal(etsi014_b64_encode((const uint8_t *)v[i][0], n, out), ETSI014_B64_LEN(n));
        assert_string_equal(out, v[i][1]);
        uint8_t dec[32];
        assert_int_equal(etsi014_b64_decode(v[i][1], strlen(v[i][1]), dec, sizeof dec), (long)n);
        assert_memory_equal(dec, v[i][0], n);
    }
    /* all 256 byte values and every alphabet character, against OpenSSL */
    uint8_t all[256 + 99];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    assert_int_equal(RAND_bytes(all + 256, 99), 1);
    for (size_t n = 0; n <= sizeof all; n += (n < 200 ? 1 : 17)) {
        char mine[ETSI014_B64_LEN(sizeof all) + 1], ossl[ETSI014_B64_LEN(sizeof all) + 1];
        size_t len = etsi014_b64_encode(all, n, mine);
        assert_int_equal(EVP_EncodeBlock((unsigned char *)ossl, all, (int)n), (int)len);
        assert_string_equal(mine, ossl);
        uint8_t back[sizeof all];
        assert_int_equal(etsi014_b64_decode(mine, len, back, sizeof back), (long)n);
        assert_memory_equal(back, all, n);
    }
}

static void test_b64_decode_refuses(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Z",
        "Zg",
        "Zg=",
        "Zg=a",
        "Z===",
        "====",
        "=Zg=",
        "Zh==",
        "Zm9=",
        "Zm9v=",
        "Zm 9",
        "Zm9\n",
        "Zm-_",
        "Zm9v\x80\x80\x80\x80",
        "Zm9vZg==Zg==",
        "Zg==Zm9v",
    };
    uint8_t out[32];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(out, 0xaa, sizeof out);
        if (etsi014_b64_decode(bad[i], strlen(bad[i]), out, sizeof out) != -1)
            fail_msg("want -1: '%s'", bad[i]);
    }
    /* a bad character after good quanta: what was written is wiped */
    memset(out, 0xaa, sizeof out);
    assert_int_equal(etsi014_b64_decode("Zm9vYmFy!m9v", 12, out, sizeof out), -1);
    for (size_t i = 0; i < 9; i++)
        assert_int_equal(out[i], 0);
    /* capacity edge */
    assert_int_equal(etsi014_b64_decode("Zm9vYg==", 8, out, 4), 4);
    assert_int_equal(etsi014_b64_decode("Zm9vYg==", 8, out, 3), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_round_trip),     cmocka_unit_test(test_status_parse_malformed),
        cmocka_unit_test(test_keys_round_trip),       cmocka_unit_test(test_keys_json_exact),
        cmocka_unit_test(test_keys_json_each_length), cmocka_unit_test(test_keys_parse_malformed),
        cmocka_unit_test(test_error_round_trip),      cmocka_unit_test(test_b64_vectors),
        cmocka_unit_test(test_b64_decode_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
