/* test_etsi014.c: unit tests of src/common/etsi014.c (docs/etsi014.md "Validation rules"):
 * routing of request paths (404, 405, 400 and their order; percent-decoding of the SAE id and its
 * length at the edge), the limits check, the SAE directory (ETSI014_SAES form, every refusal,
 * all or nothing, full) and the enc_keys identity rules, UUIDs. */
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

/* A Key request naming the additional slaves of a NULL-terminated list. */
static struct etsi014_key_req req_with(const char *const *slaves)
{
    struct etsi014_key_req r = {.number = 1, .size = 256};
    for (; slaves && *slaves; slaves++)
        strcpy(r.slaves[r.nslaves++], *slaves);
    return r;
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
    struct etsi014_key_req r = req_with(NULL);
    assert_int_equal(etsi014_check_pair(&d, "alice-app", "bob-app", &r, msg, sizeof msg), 0);
    assert_int_equal(etsi014_check_pair(&d, "alice-app", "bob-app", NULL, msg, sizeof msg), 0);
    assert_int_equal(etsi014_check_pair(&d, "alice-app", "alice-sae2", &r, msg, sizeof msg), 0);
    r = req_with((const char *const[]){"bob-sae2", "bob-sae3", NULL});
    assert_int_equal(etsi014_check_pair(&d, "alice-app", "bob-app", &r, msg, sizeof msg), 0);
    /* the master need not be in the directory here: the listener answers 401 for it */
    assert_int_equal(etsi014_check_pair(&d, "mallory", "bob-app", &r, msg, sizeof msg), 0);
    const struct {
        const char *master, *slave, *extra[3];
    } bad[] = {
        {"alice-app", "dave-app", {NULL}},
        {"alice-app", "alice-app", {NULL}},
        {"bob-app", "bob-app", {NULL}},
        {"alice-app", "bob-app", {"dave-app", NULL}},
        {"alice-app", "bob-app", {"bob-sae2", "dave-app", NULL}},
        {"alice-app", "bob-app", {"alice-app", NULL}},
        {"alice-app", "bob-app", {"bob-app", NULL}},
        {"alice-app", "bob-app", {"bob-sae2", "charlie-app", NULL}},
        {"alice-app", "bob-app", {"alice-sae2", NULL}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = req_with(bad[i].extra);
        msg[0] = '\0';
        if (etsi014_check_pair(&d, bad[i].master, bad[i].slave, &r, msg, sizeof msg) != 400)
            fail_msg("case %zu: want 400: %s -> %s", i, bad[i].master, bad[i].slave);
        assert_msg(msg);
    }
}

static const char *const U1 = "3c4e5f60-1234-4abc-8def-001122334455";

/* ---- UUIDs --------------------------------------------------------------------------------- */

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
        cmocka_unit_test(test_route_ok),    cmocka_unit_test(test_route_404),
        cmocka_unit_test(test_route_405),   cmocka_unit_test(test_route_sae_id),
        cmocka_unit_test(test_limits),      cmocka_unit_test(test_saedir_add),
        cmocka_unit_test(test_saedir_full), cmocka_unit_test(test_check_pair),
        cmocka_unit_test(test_uuid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
