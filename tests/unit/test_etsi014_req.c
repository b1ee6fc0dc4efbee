/* test_etsi014_req.c: unit tests of src/common/etsi014_req.c (docs/etsi014.md "Validation
 * rules"): every Key request rule at its edge in the enc_keys query and JSON body (number, size,
 * additional_slave_SAE_IDs, extension_mandatory, unknown members, bodies that are not a JSON
 * object) and every Key IDs rule in the dec_keys query and body (missing, not a UUID, repeated,
 * too many), with the hard caps ruling over larger settings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "etsi014.h"

#define MSG 200

static const struct etsi014_limits *lim_def(void)
{
    static struct etsi014_limits l;
    etsi014_limits_default(&l);
    return &l;
}

/* A message is one non-empty line. */

static void assert_msg(const char *msg)
{
    assert_true(msg[0] != '\0');
    assert_null(strchr(msg, '\n'));
}

/* ---- enc_keys: query ------------------------------------------------------------------------ */

static int encq(const char *q, struct etsi014_key_req *r)
{
    char msg[MSG] = "";
    int st = etsi014_parse_enc_query(q, lim_def(), r, msg, sizeof msg);
    if (st) assert_msg(msg);
    return st;
}

static void test_enc_query(void **state)
{
    (void)state;
    struct etsi014_key_req r;
    assert_int_equal(encq("", &r), 0);
    assert_int_equal(r.number, 1);
    assert_int_equal(r.size, ETSI014_DEF_KEY_SIZE);
    assert_int_equal(r.nslaves, 0);
    assert_int_equal(encq(NULL, &r), 0);
    assert_int_equal(r.number, 1);
    assert_int_equal(encq("number=3&size=512", &r), 0);
    assert_int_equal(r.number, 3);
    assert_int_equal(r.size, 512);
    assert_int_equal(encq("foo=bar&&size=72&x&number=007", &r), 0);
    assert_int_equal(r.number, 7);
    assert_int_equal(r.size, 72);
    assert_int_equal(encq("Number=0&sizes=12", &r), 0); /* other names: ignored */
    assert_int_equal(r.number, 1);
    const struct {
        const char *q;
        int want;
        uint32_t number, size;
    } cases[] = {
        {"number=1", 0, 1, 256},
        {"number=128", 0, 128, 256},
        {"number=129", 400, 0, 0},
        {"number=0", 400, 0, 0},
        {"number=", 400, 0, 0},
        {"number", 400, 0, 0},
        {"number=abc", 400, 0, 0},
        {"number=-1", 400, 0, 0},
        {"number=+1", 400, 0, 0},
        {"number=1.5", 400, 0, 0},
        {"number=%31", 400, 0, 0},
        {"number=4294967297", 400, 0, 0},
        {"number=99999999999999999999999", 400, 0, 0},
        {"number=1&number=1", 400, 0, 0},
        {"size=64", 0, 1, 64},
        {"size=8192", 0, 1, 8192},
        {"size=56", 400, 0, 0},
        {"size=8200", 400, 0, 0},
        {"size=12", 400, 0, 0},
        {"size=0", 400, 0, 0},
        {"size=-8", 400, 0, 0},
        {"size=abc", 400, 0, 0},
        {"size=3.5", 400, 0, 0},
        {"size=", 400, 0, 0},
        {"size=4294967296", 400, 0, 0},
        {"size=64&size=64", 400, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = encq(cases[i].q, &r);
        if (st != cases[i].want) fail_msg("'%s': got %d want %d", cases[i].q, st, cases[i].want);
        if (st == 0) {
            assert_int_equal(r.number, cases[i].number);
            assert_int_equal(r.size, cases[i].size);
        }
    }
}

static void test_enc_limits_clamped(void **state)
{
    (void)state;
    struct etsi014_limits l = *lim_def();
    l.max_per_request = 1000; /* above the hard cap: ETSI014_MAX_KEYS rules */
    struct etsi014_key_req r;
    char msg[MSG];
    assert_int_equal(etsi014_parse_enc_query("number=255", &l, &r, msg, sizeof msg), 0);
    assert_int_equal(etsi014_parse_enc_query("number=256", &l, &r, msg, sizeof msg), 400);
    assert_int_equal(
        etsi014_parse_enc_body((const uint8_t *)"{\"number\":256}", 14, &l, &r, msg, sizeof msg),
        400);
    l.max_per_request = 5;
    assert_int_equal(etsi014_parse_enc_query("number=5", &l, &r, msg, sizeof msg), 0);
    assert_int_equal(etsi014_parse_enc_query("number=6", &l, &r, msg, sizeof msg), 400);
    assert_non_null(strstr(msg, "5"));
}

/* ---- enc_keys: body ------------------------------------------------------------------------- */

static int encb_lim(const char *b, const struct etsi014_limits *l, struct etsi014_key_req *r)
{
    char msg[MSG] = "";
    int st = etsi014_parse_enc_body((const uint8_t *)b, strlen(b), l, r, msg, sizeof msg);
    if (st) assert_msg(msg);
    return st;
}

static int encb(const char *b, struct etsi014_key_req *r)
{
    return encb_lim(b, lim_def(), r);
}

static void test_enc_body_defaults(void **state)
{
    (void)state;
    struct etsi014_key_req r;
    char msg[MSG];
    assert_int_equal(etsi014_parse_enc_body(NULL, 0, lim_def(), &r, msg, sizeof msg), 0);
    assert_int_equal(r.number, 1);
    assert_int_equal(r.size, 256);
    assert_int_equal(encb(" \r\n\t ", &r), 0);
    assert_int_equal(r.number, 1);
    assert_int_equal(encb("{}", &r), 0);
    assert_int_equal(r.size, 256);
    /* unknown fields and extension_optional ignored */
    assert_int_equal(encb("{\"foo\":[1,{\"a\":2}],\"number\":2,\"extension_optional\":{\"x\":1},"
                          "\"Size\":3}",
                          &r),
                     0);
    assert_int_equal(r.number, 2);
    assert_int_equal(r.size, 256);
    assert_int_equal(encb(" {\"number\":4,\"size\":1024} \n", &r), 0);
    assert_int_equal(r.number, 4);
    assert_int_equal(r.size, 1024);
}

static void test_enc_body_number_size(void **state)
{
    (void)state;
    struct etsi014_key_req r;
    const struct {
        const char *b;
        int want;
        uint32_t number, size;
    } cases[] = {
        {"{\"number\":1}", 0, 1, 256},     {"{\"number\":128}", 0, 128, 256},
        {"{\"number\":129}", 400, 0, 0},   {"{\"number\":0}", 400, 0, 0},
        {"{\"number\":-1}", 400, 0, 0},    {"{\"number\":3.5}", 400, 0, 0},
        {"{\"number\":1e2}", 0, 100, 256}, {"{\"number\":2.0}", 0, 2, 256},
        {"{\"number\":1e300}", 400, 0, 0}, {"{\"number\":\"2\"}", 400, 0, 0},
        {"{\"number\":true}", 400, 0, 0},  {"{\"number\":null}", 400, 0, 0},
        {"{\"number\":[1]}", 400, 0, 0},   {"{\"number\":1,\"number\":1}", 400, 0, 0},
        {"{\"size\":64}", 0, 1, 64},       {"{\"size\":8192}", 0, 1, 8192},
        {"{\"size\":56}", 400, 0, 0},      {"{\"size\":8200}", 400, 0, 0},
        {"{\"size\":12}", 400, 0, 0},      {"{\"size\":0}", 400, 0, 0},
        {"{\"size\":-8}", 400, 0, 0},      {"{\"size\":\"abc\"}", 400, 0, 0},
        {"{\"size\":\"256\"}", 400, 0, 0}, {"{\"size\":3.5}", 400, 0, 0},
        {"{\"size\":256.5}", 400, 0, 0},   {"{\"size\":4294967296}", 400, 0, 0},
        {"{\"size\":1e300}", 400, 0, 0},   {"{\"size\":64,\"size\":64}", 400, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = encb(cases[i].b, &r);
        if (st != cases[i].want) fail_msg("'%s': got %d want %d", cases[i].b, st, cases[i].want);
        if (st == 0) {
            assert_int_equal(r.number, cases[i].number);
            assert_int_equal(r.size, cases[i].size);
        } else { /* reset to defaults on error */
            assert_int_equal(r.number, 1);
            assert_int_equal(r.nslaves, 0);
        }
    }
}

static void test_enc_body_not_object(void **state)
{
    (void)state;
    struct etsi014_key_req r;
    static const char *const bad[] = {
        "{",
        "nope",
        "[1]",
        "[]",
        "\"str\"",
        "1",
        "null",
        "{} x",
        "{\"number\":1}{}",
        "{}}",
        "{\"number\":1,}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (encb(bad[i], &r) != 400) fail_msg("want 400: '%s'", bad[i]);
    char msg[MSG];
    assert_int_equal(encb("\xef\xbb\xbf{}", &r), 0); /* a UTF-8 byte order mark: cJSON skips it */
    const uint8_t nul[] = "{}\0{}";
    assert_int_equal(etsi014_parse_enc_body(nul, 5, lim_def(), &r, msg, sizeof msg), 400);
}

static void test_enc_body_slaves(void **state)
{
    (void)state;
    struct etsi014_key_req r;
    assert_int_equal(encb("{\"additional_slave_SAE_IDs\":[]}", &r), 0);
    assert_int_equal(r.nslaves, 0);
    assert_int_equal(encb("{\"additional_slave_SAE_IDs\":null}", &r), 0);
    assert_int_equal(r.nslaves, 0);
    assert_int_equal(encb("{\"additional_slave_SAE_IDs\":[\"bob-sae2\",\"bob-sae3\"]}", &r), 0);
    assert_int_equal(r.nslaves, 2);
    assert_string_equal(r.slaves[0], "bob-sae2");
    assert_string_equal(r.slaves[1], "bob-sae3");
    static const char *const bad[] = {
        "{\"additional_slave_SAE_IDs\":[\"\"]}",
        "{\"additional_slave_SAE_IDs\":[\"   \"]}",
        "{\"additional_slave_SAE_IDs\":[\"a\",\"a\"]}",
        "{\"additional_slave_SAE_IDs\":[\"a\",\"b\",\"a\"]}",
        "{\"additional_slave_SAE_IDs\":[1]}",
        "{\"additional_slave_SAE_IDs\":[null]}",
        "{\"additional_slave_SAE_IDs\":[[\"a\"]]}",
        "{\"additional_slave_SAE_IDs\":\"a\"}",
        "{\"additional_slave_SAE_IDs\":{}}",
        "{\"additional_slave_SAE_IDs\":[\"a\\nb\"]}",
        "{\"additional_slave_SAE_IDs\":[\"a\\u0001\"]}",
        "{\"additional_slave_SAE_IDs\":[\"a\"],\"additional_slave_SAE_IDs\":[\"b\"]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (encb(bad[i], &r) != 400) fail_msg("want 400: '%s'", bad[i]);
    /* count edge: max_sae_ids (8) fine, 9 refused */
    char b[1024];
    strcpy(b, "{\"additional_slave_SAE_IDs\":[\"s0\"");
    for (int i = 1; i < 8; i++)
        snprintf(b + strlen(b), sizeof b - strlen(b), ",\"s%d\"", i);
    strcat(b, "]}");
    assert_int_equal(encb(b, &r), 0);
    assert_int_equal(r.nslaves, 8);
    assert_string_equal(r.slaves[7], "s7");
    b[strlen(b) - 2] = '\0';
    strcat(b, ",\"s8\"]}");
    assert_int_equal(encb(b, &r), 400);
    /* the hard cap rules over a larger setting */
    struct etsi014_limits l = *lim_def();
    l.max_sae_ids = 100;
    strcpy(b, "{\"additional_slave_SAE_IDs\":[\"s0\"");
    for (int i = 1; i < ETSI014_MAX_SAE_IDS; i++)
        snprintf(b + strlen(b), sizeof b - strlen(b), ",\"s%d\"", i);
    strcat(b, "]}");
    assert_int_equal(encb_lim(b, &l, &r), 0);
    assert_int_equal(r.nslaves, ETSI014_MAX_SAE_IDS);
    b[strlen(b) - 2] = '\0';
    strcat(b, ",\"sx\"]}");
    assert_int_equal(encb_lim(b, &l, &r), 400);
    /* length edge */
    char id[ETSI014_SAE_MAX + 2];
    memset(id, 'x', sizeof id - 1);
    id[ETSI014_SAE_MAX] = '\0';
    snprintf(b, sizeof b, "{\"additional_slave_SAE_IDs\":[\"%s\"]}", id);
    assert_int_equal(encb(b, &r), 0);
    assert_string_equal(r.slaves[0], id);
    id[ETSI014_SAE_MAX] = 'x';
    id[ETSI014_SAE_MAX + 1] = '\0';
    snprintf(b, sizeof b, "{\"additional_slave_SAE_IDs\":[\"%s\"]}", id);
    assert_int_equal(encb(b, &r), 400);
}

static void test_enc_body_extension_mandatory(void **state)
{
    (void)state;
    struct etsi014_key_req r;
    assert_int_equal(encb("{\"extension_mandatory\":{}}", &r), 0);
    assert_int_equal(encb("{\"extension_mandatory\":[]}", &r), 0);
    assert_int_equal(encb("{\"extension_mandatory\":null}", &r), 0);
    assert_int_equal(encb("{\"extension_mandatory\":{\"x\":1}}", &r), 400);
    assert_int_equal(encb("{\"extension_mandatory\":[{\"x\":1}]}", &r), 400);
    assert_int_equal(encb("{\"extension_mandatory\":[1]}", &r), 400);
    assert_int_equal(encb("{\"extension_mandatory\":\"x\"}", &r), 400);
    assert_int_equal(encb("{\"extension_mandatory\":0}", &r), 400);
    assert_int_equal(encb("{\"extension_mandatory\":{},\"extension_mandatory\":{}}", &r), 400);
    assert_int_equal(encb("{\"extension_optional\":[{\"x\":1}]}", &r), 0);
}

/* ---- dec_keys ------------------------------------------------------------------------------- */

static const char *const U1 = "3c4e5f60-1234-4abc-8def-001122334455";

static const char *const U2 = "7a0d3f1e-9b2c-4d5e-8f60-718293a4b5c6";

static int decq(const char *q, uint32_t max, struct etsi014_key_ids *k)
{
    char msg[MSG] = "";
    int st = etsi014_parse_dec_query(q, max, k, msg, sizeof msg);
    if (st) assert_msg(msg);
    return st;
}

static int decb(const char *b, uint32_t max, struct etsi014_key_ids *k)
{
    char msg[MSG] = "";
    int st = etsi014_parse_dec_body((const uint8_t *)b, strlen(b), max, k, msg, sizeof msg);
    if (st) assert_msg(msg);
    return st;
}

/* "key_ID=<uuid i>&..." for i < n (distinct UUIDs) */

static void many_ids_query(char *q, size_t cap, uint32_t n)
{
    q[0] = '\0';
    for (uint32_t i = 0; i < n; i++)
        snprintf(q + strlen(q), cap - strlen(q), "%skey_ID=00000000-0000-4000-8000-%012x",
                 i ? "&" : "", i);
}

static void many_ids_body(char *b, size_t cap, uint32_t n)
{
    strcpy(b, "{\"key_IDs\":[");
    for (uint32_t i = 0; i < n; i++)
        snprintf(b + strlen(b), cap - strlen(b), "%s{\"key_ID\":\"00000000-0000-4000-8000-%012x\"}",
                 i ? "," : "", i);
    strcat(b, "]}");
}

static void test_dec_query(void **state)
{
    (void)state;
    struct etsi014_key_ids k;
    char q[16384];
    uint8_t id1[16], id2[16];
    assert_int_equal(etsi014_uuid_parse(U1, id1), 0);
    assert_int_equal(etsi014_uuid_parse(U2, id2), 0);
    snprintf(q, sizeof q, "key_ID=%s", U1);
    assert_int_equal(decq(q, 128, &k), 0);
    assert_int_equal(k.n, 1);
    assert_memory_equal(k.ids[0], id1, 16);
    snprintf(q, sizeof q, "x=1&key_ID=%s&&key_ID=%s&y", U1, U2);
    assert_int_equal(decq(q, 128, &k), 0);
    assert_int_equal(k.n, 2);
    assert_memory_equal(k.ids[1], id2, 16);
    assert_int_equal(decq("key_ID=3C4E5F60-1234-4ABC-8DEF-001122334455", 128, &k), 0);
    assert_memory_equal(k.ids[0], id1, 16);
    static const char *const bad[] = {
        "",
        "x=1",
        "key_ID",
        "key_ID=",
        "key_ID=nope",
        "key_ID=3c4e5f60-1234-4abc-8def-00112233445",
        "key_ID=3c4e5f60-1234-4abc-8def-0011223344556",
        "key_ID=3c4e5f60-1234-4abc-8def-00112233445g",
        "key_ID=3c4e5f60+1234-4abc-8def-001122334455",
        "key_ID=3c4e5f60-1234-4abc-8def-001122334455&key_ID=3C4E5F60-1234-4ABC-8DEF-001122334455",
        "key_ID=3c4e5f60%2D1234-4abc-8def-001122334455",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (decq(bad[i], 128, &k) != 400) fail_msg("want 400: '%s'", bad[i]);
        assert_int_equal(k.n, 0);
    }
    assert_int_equal(decq(NULL, 128, &k), 400);
    many_ids_query(q, sizeof q, 128);
    assert_int_equal(decq(q, 128, &k), 0);
    assert_int_equal(k.n, 128);
    many_ids_query(q, sizeof q, 129);
    assert_int_equal(decq(q, 128, &k), 400);
    assert_int_equal(decq(q, 129, &k), 0);
    many_ids_query(q, sizeof q, 256);
    assert_int_equal(decq(q, 1000, &k), 400); /* hard cap ETSI014_MAX_KEYS */
    many_ids_query(q, sizeof q, 255);
    assert_int_equal(decq(q, 1000, &k), 0);
    assert_int_equal(k.n, 255);
}

static void test_dec_body(void **state)
{
    (void)state;
    struct etsi014_key_ids k;
    char b[32768];
    uint8_t id2[16];
    assert_int_equal(etsi014_uuid_parse(U2, id2), 0);
    snprintf(
        b, sizeof b,
        "{\"key_IDs\":[{\"key_ID\":\"%s\",\"key_ID_extension\":{\"x\":1}},{\"key_ID\":\"%s\"}],"
        "\"key_IDs_extension\":[1]}",
        U1, U2);
    assert_int_equal(decb(b, 128, &k), 0);
    assert_int_equal(k.n, 2);
    assert_memory_equal(k.ids[1], id2, 16);
    static const char *const bad[] = {
        "",
        "  ",
        "{}",
        "[]",
        "{\"key_IDs\":[]}",
        "{\"key_IDs\":null}",
        "{\"key_IDs\":{}}",
        "{\"key_IDs\":\"3c4e5f60-1234-4abc-8def-001122334455\"}",
        "{\"key_IDs\":[\"3c4e5f60-1234-4abc-8def-001122334455\"]}",
        "{\"key_IDs\":[{}]}",
        "{\"key_IDs\":[{\"key_ID\":1}]}",
        "{\"key_IDs\":[{\"key_ID\":null}]}",
        "{\"key_IDs\":[{\"key_ID\":\"nope\"}]}",
        "{\"key_IDs\":[{\"key_id\":\"3c4e5f60-1234-4abc-8def-001122334455\"}]}",
        "{\"key_IDs\":[{\"key_ID\":\"3c4e5f60-1234-4abc-8def-001122334455\"},"
        "{\"key_ID\":\"3c4e5f60-1234-4abc-8def-001122334455\"}]}",
        "{\"key_IDs\":[{\"key_ID\":\"3c4e5f60-1234-4abc-8def-001122334455\","
        "\"key_ID\":\"7a0d3f1e-9b2c-4d5e-8f60-718293a4b5c6\"}]}",
        "{\"key_IDs\":[{\"key_ID\":\"3c4e5f60-1234-4abc-8def-001122334455\"}],\"key_IDs\":[]}",
        "{\"key_IDs\":[{\"key_ID\":\"3c4e5f60-1234-4abc-8def-001122334455\"}]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (decb(bad[i], 128, &k) != 400) fail_msg("want 400: '%s'", bad[i]);
        assert_int_equal(k.n, 0);
    }
    many_ids_body(b, sizeof b, 128);
    assert_int_equal(decb(b, 128, &k), 0);
    assert_int_equal(k.n, 128);
    many_ids_body(b, sizeof b, 129);
    assert_int_equal(decb(b, 128, &k), 400);
    many_ids_body(b, sizeof b, 256);
    assert_int_equal(decb(b, 1000, &k), 400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enc_query),
        cmocka_unit_test(test_enc_limits_clamped),
        cmocka_unit_test(test_enc_body_defaults),
        cmocka_unit_test(test_enc_body_number_size),
        cmocka_unit_test(test_enc_body_not_object),
        cmocka_unit_test(test_enc_body_slaves),
        cmocka_unit_test(test_enc_body_extension_mandatory),
        cmocka_unit_test(test_dec_query),
        cmocka_unit_test(test_dec_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
