/* test_etsi014.c: unit tests of the ETSI 014 codec (src/common/etsi014*.c; docs/etsi014.md
 * "Validation rules"): routing (404/405/400, percent-decoding), every Key request and Key IDs
 * rule at its edge (query and body), the SAE directory and the identity rules, the encoders
 * round-tripped through the client decoders (Status, Key container with 128 keys of 8192 bits,
 * Error with quotes, backslashes and control bytes), base64 against RFC 4648 vectors and
 * OpenSSL, and the decoders refusing malformed responses. */
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

/* ---- routing -------------------------------------------------------------------------------- */

static int route(enum qkd_http_method m, const char *path, struct etsi014_route *r)
{
    char msg[MSG] = "";
    int st = etsi014_route(m, path, r, msg, sizeof msg);
    if (st) assert_msg(msg);
    return st;
}

static void test_route_ok(void **state)
{
    (void)state;
    struct etsi014_route r;
    assert_int_equal(route(QKD_HTTP_GET, "/api/v1/keys/bob-app/status", &r), 0);
    assert_int_equal(r.op, ETSI014_OP_STATUS);
    assert_string_equal(r.sae, "bob-app");
    assert_int_equal(route(QKD_HTTP_GET, "/api/v1/keys/bob-app/enc_keys", &r), 0);
    assert_int_equal(r.op, ETSI014_OP_ENC_KEYS);
    assert_int_equal(route(QKD_HTTP_POST, "/api/v1/keys/bob-app/enc_keys", &r), 0);
    assert_int_equal(r.op, ETSI014_OP_ENC_KEYS);
    assert_int_equal(route(QKD_HTTP_GET, "/api/v1/keys/alice-app/dec_keys", &r), 0);
    assert_int_equal(r.op, ETSI014_OP_DEC_KEYS);
    assert_string_equal(r.sae, "alice-app");
    assert_int_equal(route(QKD_HTTP_POST, "/api/v1/keys/alice-app/dec_keys", &r), 0);
    assert_int_equal(r.op, ETSI014_OP_DEC_KEYS);
}

static void test_route_404(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "/",
        "/api/v1/keys",
        "/api/v1/keys/",
        "/api/v1/keys/bob-app",
        "/api/v1/keys/bob-app/",
        "/api/v1/keys/bob-app/foo",
        "/api/v1/keys/bob-app/status/",
        "/api/v1/keys/bob-app/Status",
        "/api/v1/keys/a/b/status",
        "/api/v1/key/bob-app/status",
        "/api/v2/keys/bob-app/status",
        "api/v1/keys/bob-app/status",
        "//api/v1/keys/bob-app/status",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct etsi014_route r;
        if (route(QKD_HTTP_GET, bad[i], &r) != 404) fail_msg("want 404: '%s'", bad[i]);
    }
    struct etsi014_route r;
    assert_int_equal(route(QKD_HTTP_GET, NULL, &r), 404);
}

static void test_route_405(void **state)
{
    (void)state;
    struct etsi014_route r;
    const enum qkd_http_method not_get[] = {QKD_HTTP_POST, QKD_HTTP_HEAD, QKD_HTTP_OTHER};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(route(not_get[i], "/api/v1/keys/bob-app/status", &r), 405);
    const enum qkd_http_method neither[] = {QKD_HTTP_HEAD, QKD_HTTP_OTHER};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(route(neither[i], "/api/v1/keys/bob-app/enc_keys", &r), 405);
        assert_int_equal(route(neither[i], "/api/v1/keys/alice-app/dec_keys", &r), 405);
    }
    /* order: 404 before 405 before 400 */
    assert_int_equal(route(QKD_HTTP_POST, "/api/v1/keys/bob-app/nope", &r), 404);
    assert_int_equal(route(QKD_HTTP_POST, "/api/v1/keys//status", &r), 405);
    assert_int_equal(route(QKD_HTTP_GET, "/api/v1/keys//status", &r), 400);
}

static void test_route_sae_id(void **state)
{
    (void)state;
    struct etsi014_route r;
    char path[512];
    const struct {
        const char *id, *want; /* want NULL: 400 */
    } cases[] = {
        {"alice%2Dapp", "alice-app"},
        {"%41%62", "Ab"},
        {"%4a%4A", "JJ"},
        {"a%20b", "a b"},
        {"a+b", "a+b"},
        {"a%2Fb", "a/b"},
        {"caf%C3%A9", "caf\xc3\xa9"},
        {"", NULL},
        {"%20", NULL},
        {"%20%20%20", NULL},
        {"%", NULL},
        {"%4", NULL},
        {"ab%", NULL},
        {"%zz", NULL},
        {"%G1", NULL},
        {"%00", NULL},
        {"a%0Ab", NULL},
        {"a%09b", NULL},
        {"a%7Fb", NULL},
        {"a\x7f", NULL},
        {"a\x01", NULL},
        {"%FF", NULL},
        {"%C3", NULL},
        {"%C0%AF", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(path, sizeof path, "/api/v1/keys/%s/enc_keys", cases[i].id);
        int st = route(QKD_HTTP_GET, path, &r);
        if (cases[i].want) {
            if (st != 0) fail_msg("want 0: '%s'", cases[i].id);
            assert_string_equal(r.sae, cases[i].want);
        } else {
            if (st != 400) fail_msg("want 400: '%s' got %d", cases[i].id, st);
            assert_string_equal(r.sae, "");
        }
    }
    /* length edge: ETSI014_SAE_MAX bytes after decoding */
    char id[ETSI014_SAE_MAX + 8];
    memset(id, 'a', ETSI014_SAE_MAX);
    id[ETSI014_SAE_MAX] = '\0';
    snprintf(path, sizeof path, "/api/v1/keys/%s/status", id);
    assert_int_equal(route(QKD_HTTP_GET, path, &r), 0);
    assert_int_equal(strlen(r.sae), ETSI014_SAE_MAX);
    snprintf(path, sizeof path, "/api/v1/keys/%sa/status", id);
    assert_int_equal(route(QKD_HTTP_GET, path, &r), 400);
    /* 63 bytes + one escape = 64 decoded bytes: fine; + two: too long */
    id[ETSI014_SAE_MAX - 1] = '\0';
    snprintf(path, sizeof path, "/api/v1/keys/%s%%41/status", id);
    assert_int_equal(route(QKD_HTTP_GET, path, &r), 0);
    assert_int_equal(strlen(r.sae), ETSI014_SAE_MAX);
    snprintf(path, sizeof path, "/api/v1/keys/%s%%41%%41/status", id);
    assert_int_equal(route(QKD_HTTP_GET, path, &r), 400);
}

/* ---- limits --------------------------------------------------------------------------------- */

static void test_limits(void **state)
{
    (void)state;
    char err[MSG];
    struct etsi014_limits l;
    etsi014_limits_default(&l);
    assert_int_equal(l.key_size, 256);
    assert_int_equal(l.min_key_size, 64);
    assert_int_equal(l.max_key_size, 8192);
    assert_int_equal(l.max_per_request, 128);
    assert_int_equal(l.max_sae_ids, 8);
    assert_int_equal(etsi014_limits_check(&l, err, sizeof err), 0);
    struct etsi014_limits b = l;
    b.key_size = 12;
    assert_int_equal(etsi014_limits_check(&b, err, sizeof err), -1);
    assert_non_null(strstr(err, "key_size"));
    b = l;
    b.min_key_size = 0;
    assert_int_equal(etsi014_limits_check(&b, err, sizeof err), -1);
    b = l;
    b.key_size = 8200;
    assert_int_equal(etsi014_limits_check(&b, err, sizeof err), -1);
    b = l;
    b.min_key_size = 512;
    b.max_key_size = 256;
    assert_int_equal(etsi014_limits_check(&b, err, sizeof err), -1);
    b = l;
    b.max_per_request = ETSI014_MAX_KEYS;
    assert_int_equal(etsi014_limits_check(&b, err, sizeof err), 0);
    b.max_per_request = ETSI014_MAX_KEYS + 1;
    assert_int_equal(etsi014_limits_check(&b, err, sizeof err), -1);
    b.max_per_request = 0;
    assert_int_equal(etsi014_limits_check(&b, err, sizeof err), -1);
    b = l;
    b.max_sae_ids = ETSI014_MAX_SAE_IDS;
    assert_int_equal(etsi014_limits_check(&b, err, sizeof err), 0);
    b.max_sae_ids = ETSI014_MAX_SAE_IDS + 1;
    assert_int_equal(etsi014_limits_check(&b, err, sizeof err), -1);
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

/* ---- SAE directory and identity rules ------------------------------------------------------- */

static void test_saedir_add(void **state)
{
    (void)state;
    static struct etsi014_saedir d;
    memset(&d, 0, sizeof d);
    char err[MSG];
    assert_int_equal(
        etsi014_saedir_add(&d, "alice-app=alice, bob-app = bob ,bob-sae2=bob", err, sizeof err), 0);
    assert_int_equal(d.n, 3);
    assert_string_equal(etsi014_saedir_node(&d, "alice-app"), "alice");
    assert_string_equal(etsi014_saedir_node(&d, "bob-app"), "bob");
    assert_string_equal(etsi014_saedir_node(&d, "bob-sae2"), "bob");
    assert_null(etsi014_saedir_node(&d, "carol-app"));
    assert_null(etsi014_saedir_node(&d, "bob"));
    assert_null(etsi014_saedir_node(&d, NULL));
    assert_int_equal(etsi014_saedir_add(&d, "bob-app=bob", err, sizeof err), 0); /* same: fine */
    assert_int_equal(d.n, 3);
    const struct {
        const char *spec, *names;
    } bad[] = {
        {"=alice", "=alice"},
        {"x=", "x="},
        {"novalue", "novalue"},
        {"", ""},
        {"c=carol,,d=dave", "''"},
        {"c=carol,", "''"},
        {"bob-app=alice", "bob-app=alice"},
        {"c=carol,c=dave", "c=dave"},
        {"c=ca rol", "c=ca rol"},
        {"c=a=b", "c=a=b"},
        {"c\x01=carol", "c?=carol"},
        {" =carol", "=carol"},
        {"\xff=carol", "=carol"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (etsi014_saedir_add(&d, bad[i].spec, err, sizeof err) != -1)
            fail_msg("want -1: '%s'", bad[i].spec);
        assert_msg(err);
        if (bad[i].names[0] && bad[i].names[0] != '\'' && !strstr(err, bad[i].names))
            fail_msg("'%s': err '%s' does not name the entry", bad[i].spec, err);
        assert_int_equal(d.n, 3); /* all or nothing */
        assert_null(etsi014_saedir_node(&d, "c"));
    }
    assert_int_equal(etsi014_saedir_add(&d, NULL, err, sizeof err), -1);
    /* length edges: id ETSI014_SAE_MAX bytes, node 63 bytes */
    char spec[256], id[ETSI014_SAE_MAX + 2], node[ETSI014_NODE_MAX + 2];
    memset(id, 'i', sizeof id);
    memset(node, 'n', sizeof node);
    id[ETSI014_SAE_MAX] = node[ETSI014_NODE_MAX] = '\0';
    snprintf(spec, sizeof spec, "%s=%s", id, node);
    assert_int_equal(etsi014_saedir_add(&d, spec, err, sizeof err), 0);
    assert_string_equal(etsi014_saedir_node(&d, id), node);
    id[ETSI014_SAE_MAX] = 'i';
    id[ETSI014_SAE_MAX + 1] = '\0';
    snprintf(spec, sizeof spec, "%s=x", id);
    assert_int_equal(etsi014_saedir_add(&d, spec, err, sizeof err), -1);
    node[ETSI014_NODE_MAX] = 'n';
    node[ETSI014_NODE_MAX + 1] = '\0';
    snprintf(spec, sizeof spec, "y=%s", node);
    assert_int_equal(etsi014_saedir_add(&d, spec, err, sizeof err), -1);
    assert_int_equal(d.n, 4);
}

static void test_saedir_full(void **state)
{
    (void)state;
    static struct etsi014_saedir d;
    memset(&d, 0, sizeof d);
    char err[MSG], spec[64];
    for (int i = 0; i < ETSI014_SAEDIR_MAX; i++) {
        snprintf(spec, sizeof spec, "sae%d=node%d", i, i % 3);
        assert_int_equal(etsi014_saedir_add(&d, spec, err, sizeof err), 0);
    }
    assert_int_equal(d.n, ETSI014_SAEDIR_MAX);
    assert_int_equal(etsi014_saedir_add(&d, "sae0=node0", err, sizeof err), 0); /* known */
    assert_int_equal(etsi014_saedir_add(&d, "one-more=node0", err, sizeof err), -1);
    assert_non_null(strstr(err, "full"));
    assert_string_equal(etsi014_saedir_node(&d, "sae255"), "node0");
}

static void test_check_pair(void **state)
{
    (void)state;
    static struct etsi014_saedir d;
    memset(&d, 0, sizeof d);
    char err[MSG], msg[MSG];
    assert_int_equal(etsi014_saedir_add(&d,
                                        "alice-app=alice,alice-sae2=alice,bob-app=bob,"
                                        "bob-sae2=bob,bob-sae3=bob,charlie-app=charlie",
                                        err, sizeof err),
                     0);
    struct etsi014_key_req r;
    assert_int_equal(encb("{\"additional_slave_SAE_IDs\":[]}", &r), 0);
    assert_int_equal(etsi014_check_pair(&d, "alice-app", "bob-app", &r, msg, sizeof msg), 0);
    assert_int_equal(etsi014_check_pair(&d, "alice-app", "bob-app", NULL, msg, sizeof msg), 0);
    assert_int_equal(etsi014_check_pair(&d, "alice-app", "alice-sae2", &r, msg, sizeof msg), 0);
    assert_int_equal(encb("{\"additional_slave_SAE_IDs\":[\"bob-sae2\",\"bob-sae3\"]}", &r), 0);
    assert_int_equal(etsi014_check_pair(&d, "alice-app", "bob-app", &r, msg, sizeof msg), 0);
    const struct {
        const char *master, *slave, *body;
    } bad[] = {
        {"alice-app", "dave-app", "{}"},
        {"alice-app", "alice-app", "{}"},
        {"alice-app", "bob-app", "{\"additional_slave_SAE_IDs\":[\"dave-app\"]}"},
        {"alice-app", "bob-app", "{\"additional_slave_SAE_IDs\":[\"alice-app\"]}"},
        {"alice-app", "bob-app", "{\"additional_slave_SAE_IDs\":[\"bob-app\"]}"},
        {"alice-app", "bob-app", "{\"additional_slave_SAE_IDs\":[\"bob-sae2\",\"charlie-app\"]}"},
        {"alice-app", "bob-app", "{\"additional_slave_SAE_IDs\":[\"alice-sae2\"]}"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(encb(bad[i].body, &r), 0);
        msg[0] = '\0';
        if (etsi014_check_pair(&d, bad[i].master, bad[i].slave, &r, msg, sizeof msg) != 400)
            fail_msg("want 400: %s -> %s %s", bad[i].master, bad[i].slave, bad[i].body);
        assert_msg(msg);
    }
}

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

static void test_uuid(void **state)
{
    (void)state;
    uint8_t id[16];
    char s[37];
    assert_int_equal(etsi014_uuid_parse(U1, id), 0);
    etsi014_uuid_str(id, s);
    assert_string_equal(s, U1);
    assert_int_equal(etsi014_uuid_parse("3C4E5F60-1234-4ABC-8DEF-001122334455", id), 0);
    etsi014_uuid_str(id, s);
    assert_string_equal(s, U1); /* lower case out */
    static const char *const bad[] = {"",
                                      "3c4e5f60-1234-4abc-8def-00112233445",
                                      "3c4e5f60-1234-4abc-8def-0011223344550",
                                      "3c4e5f6001234-4abc-8def-001122334455",
                                      "3c4e5f60-1234-4abc-8def-00112233445x",
                                      "{c4e5f60-1234-4abc-8def-001122334455}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (etsi014_uuid_parse(bad[i], id) != -1) fail_msg("want -1: '%s'", bad[i]);
    assert_int_equal(etsi014_uuid_parse(NULL, id), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_ok),
        cmocka_unit_test(test_route_404),
        cmocka_unit_test(test_route_405),
        cmocka_unit_test(test_route_sae_id),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_enc_query),
        cmocka_unit_test(test_enc_limits_clamped),
        cmocka_unit_test(test_enc_body_defaults),
        cmocka_unit_test(test_enc_body_number_size),
        cmocka_unit_test(test_enc_body_not_object),
        cmocka_unit_test(test_enc_body_slaves),
        cmocka_unit_test(test_enc_body_extension_mandatory),
        cmocka_unit_test(test_dec_query),
        cmocka_unit_test(test_dec_body),
        cmocka_unit_test(test_saedir_add),
        cmocka_unit_test(test_saedir_full),
        cmocka_unit_test(test_check_pair),
        cmocka_unit_test(test_status_round_trip),
        cmocka_unit_test(test_status_parse_malformed),
        cmocka_unit_test(test_keys_round_trip),
        cmocka_unit_test(test_keys_json_exact),
        cmocka_unit_test(test_keys_parse_malformed),
        cmocka_unit_test(test_error_round_trip),
        cmocka_unit_test(test_b64_vectors),
        cmocka_unit_test(test_b64_decode_refuses),
        cmocka_unit_test(test_uuid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
