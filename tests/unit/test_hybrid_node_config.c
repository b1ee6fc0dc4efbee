/* test_hybrid_node_config.c: the node config schema: a good file, relative paths, peer lookup,
 * and a table of wrong or missing fields whose errors must name the file and the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hybrid_kat/hyb_test.h"
#include "node_config.h"

#define GOOD                                                                                       \
    "{\n"                                                                                          \
    "  \"name\": \"alice\",\n"                                                                     \
    "  \"uuid\": \"A1A1A1A1-0000-4000-8000-000000000001\",\n"                                      \
    "  \"hybrid_listen\": \"127.0.0.1:0\",\n"                                                      \
    "  \"peer_listen\": \"0.0.0.0:25590\",\n"                                                      \
    "  \"cert\": \"certs/alice/node.pem\", \"key\": \"certs/alice/node.key\",\n"                   \
    "  \"ca\": \"/etc/qkd/ca.pem\", \"identity_key\": \"id/alice.key\",\n"                         \
    "  \"kme\": {\"address\": \"127.0.0.1:25575\", \"cert\": \"c.pem\", \"key\": \"c.key\",\n"     \
    "          \"ca\": \"ca.pem\"},\n"                                                             \
    "  \"peers\": [\n"                                                                             \
    "    {\"name\": \"bob\", \"uuid\": \"b2b2b2b2-0000-4000-8000-000000000002\",\n"                \
    "     \"address\": \"[::1]:25591\", \"identity_pub\": \"id/bob.pub\"},\n"                      \
    "    {\"name\": \"charlie\", \"uuid\": \"c3c3c3c3-0000-4000-8000-000000000003\",\n"            \
    "     \"address\": \"charlie:25592\", \"identity_pub\": \"id/charlie.pub\"}\n"                 \
    "  ]\n"                                                                                        \
    "}\n"

static void test_good(void **state)
{
    (void)state;
    char dir[512], path[600], err[512] = "";
    struct hyb_config *c;
    const struct hyb_peer_cfg *p;

    assert_int_equal(hyb_tmpdir(dir, sizeof dir), 0);
    assert_int_equal(hyb_write_file(dir, "alice.json", GOOD, path, sizeof path), 0);
    c = hyb_config_load(path, err, sizeof err);
    if (c == NULL) fail_msg("%s", err);
    assert_string_equal(c->name, "alice");
    assert_string_equal(c->uuid, "a1a1a1a1-0000-4000-8000-000000000001"); /* canonical */
    assert_string_equal(c->hybrid_listen, "127.0.0.1:0");
    assert_string_equal(c->json_listen, ""); /* optional, off */
    assert_string_equal(c->ca, "/etc/qkd/ca.pem");
    snprintf(path, sizeof path, "%s/certs/alice/node.pem", dir); /* relative to the file */
    assert_string_equal(c->cert, path);
    snprintf(path, sizeof path, "%s/c.key", dir);
    assert_string_equal(c->kme.key, path);
    assert_int_equal(c->n_peers, 2);
    assert_string_equal(c->peers[1].address, "charlie:25592");
    p = hyb_config_find_peer(c, "bob");
    assert_non_null(p);
    assert_string_equal(p->address, "[::1]:25591");
    assert_ptr_equal(hyb_config_find_peer(c, "C3C3C3C3-0000-4000-8000-000000000003"), &c->peers[1]);
    assert_null(hyb_config_find_peer(c, "dave"));
    assert_null(hyb_config_find_peer(c, "alice"));
    assert_true(hyb_config_is_self(c, "alice"));
    assert_true(hyb_config_is_self(c, "a1a1a1a1-0000-4000-8000-000000000001"));
    assert_false(hyb_config_is_self(c, "bob"));
    hyb_config_free(c);

    assert_null(hyb_config_load("/nonexistent/x.json", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/x.json"));
    hyb_rmdir(dir);
}

struct bad_case {
    const char *from, *to; /* replace the first occurrence of from in GOOD by to */
    const char *expect;    /* the message after "alice.json: " */
};

static const struct bad_case bads[] = {
    {"\"uuid\": \"b2b2b2b2-0000-4000-8000-000000000002\"", "\"uuid\": \"b2b2\"",
     "peers[0].uuid: not a UUID"},
    {"\"uuid\": \"c3c3c3c3-0000-4000-8000-000000000003\"", "\"uuid\": 5",
     "peers[1].uuid: must be a string"},
    {"\"name\": \"charlie\", ", "", "peers[1].name: missing"},
    {"\"name\": \"charlie\"", "\"name\": \"bob\"", "peers[1].name: 'bob' repeats peers[0].name"},
    {"\"name\": \"charlie\"", "\"name\": \"alice\"",
     "peers[1].name: 'alice' is this node's own name"},
    {"c3c3c3c3-0000-4000-8000-000000000003", "B2B2B2B2-0000-4000-8000-000000000002",
     "peers[1].uuid: repeats peers[0].uuid"},
    {"c3c3c3c3-0000-4000-8000-000000000003", "a1a1a1a1-0000-4000-8000-000000000001",
     "peers[1].uuid: is this node's own UUID"},
    {"\"address\": \"charlie:25592\"", "\"address\": \"charlie\"",
     "peers[1].address: 'charlie' is not host:port"},
    {"\"address\": \"charlie:25592\"", "\"address\": \"charlie:0\"",
     "peers[1].address: 'charlie:0' is not host:port"},
    {"\"identity_pub\": \"id/charlie.pub\"", "\"identity_pub\": \"\"",
     "peers[1].identity_pub: is empty"},
    {"\"identity_pub\": \"id/bob.pub\"", "\"identity_pub\": \"id/bob.pub\", \"port\": 1",
     "peers[0].port: unknown field"},
    {"\"name\": \"alice\"", "\"name\": \"al ice\"", "name: 'al ice' has characters"},
    {"\"name\": \"charlie\"", "\"name\": \"b2b2b2b2-0000-4000-8000-000000000002\"",
     "peers[1].name: 'b2b2b2b2-0000-4000-8000-000000000002' is a UUID; a node name must not be "
     "one"},
    {"\"name\": \"bob\"", "\"name\": \"a1a1a1a1-0000-4000-8000-000000000001\"",
     "peers[0].name: 'a1a1a1a1-0000-4000-8000-000000000001' is a UUID; a node name must not be "
     "one"},
    {"\"name\": \"alice\",", "", "name: missing"},
    {"A1A1A1A1-0000-4000-8000-000000000001", "A1A1A1A1-0000-4000-8000-00000000000G",
     "uuid: not a UUID"},
    {"\"hybrid_listen\": \"127.0.0.1:0\"", "\"hybrid_listen\": \"127.0.0.1:65536\"",
     "hybrid_listen: '127.0.0.1:65536' is not host:port"},
    {"\"peer_listen\": \"0.0.0.0:25590\",", "", "peer_listen: missing"},
    {"\"peer_listen\"", "\"json_listen\": \"127.0.0.1:x\", \"peer_listen\"",
     "json_listen: '127.0.0.1:x' is not host:port"},
    {"\"identity_key\": \"id/alice.key\"", "\"identity_key\": [1]",
     "identity_key: must be a string"},
    {"\"ca\": \"/etc/qkd/ca.pem\", ", "", "ca: missing"},
    {"\"kme\": {", "\"kme\": {\"uuid\": 1, ", "kme.uuid: unknown field"},
    {"\"address\": \"127.0.0.1:25575\", ", "", "kme.address: missing"},
    {"\"cert\": \"c.pem\"", "\"cert\": null", "kme.cert: missing"},
    {"\"kme\": {", "\"kme\": 3, \"x\": {", "kme: must be an object"},
    {"\"peers\": [", "\"peers\": {\"a\": [", "not valid JSON"},
    {"\"peers\": [", "\"peers\": 1, \"y\": [", "peers: must be an array"},
    {"\"peers\": [", "\"peers\": [1, ", "peers[0]: must be an object"},
    {"\"name\": \"alice\"", "\"name\": \"alice\", \"mode\": \"x\"", "mode: unknown field"},
    {"  ]\n}", "  ]\n", "not valid JSON (line 16)"},
};

static char *replace(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    size_t n;
    char *out;
    assert_non_null(at);
    n = strlen(s) - strlen(from) + strlen(to) + 1;
    out = malloc(n);
    memcpy(out, s, (size_t)(at - s));
    strcpy(out + (at - s), to);
    strcat(out, at + strlen(from));
    return out;
}

static void test_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        char *text = replace(GOOD, bads[i].from, bads[i].to);
        char err[512] = "", want[512];
        struct hyb_config *c = hyb_config_parse("alice.json", text, strlen(text), err, sizeof err);
        snprintf(want, sizeof want, "alice.json: %s", bads[i].expect);
        if (c != NULL) fail_msg("case %zu accepted", i);
        if (strncmp(err, want, strlen(want)) != 0)
            fail_msg("case %zu: got '%s', want '%s...'", i, err, want);
        free(text);
    }
}

static void test_limits(void **state)
{
    (void)state;
    char err[512];
    char *text, *peers, *p;
    size_t cap = 64 * 1024;
    struct hyb_config *c;

    /* HYB_CFG_MAX_PEERS peers are fine, one more is not */
    for (int n = HYB_CFG_MAX_PEERS; n <= HYB_CFG_MAX_PEERS + 1; n++) {
        peers = malloc(cap);
        p = peers;
        p += sprintf(p, "\"peers\": [");
        for (int i = 0; i < n; i++)
            p += sprintf(p,
                         "%s{\"name\": \"p%d\", \"uuid\": \"00000000-0000-4000-8000-%012d\", "
                         "\"address\": \"127.0.0.1:%d\", \"identity_pub\": \"p%d.pub\"}",
                         i ? "," : "", i, i + 100, 20000 + i, i);
        p += sprintf(p, "], \"x\": [");
        {
            char *t1 = replace(GOOD, "\"peers\": [", peers);
            text = replace(t1, "], \"x\": [", "], \"z\": [");
            free(t1);
        }
        {
            /* drop the original peers: cut from ", \"z\"" to the closing "]\n}" */
            char *z = strstr(text, ", \"z\": [");
            strcpy(z, "\n}\n");
        }
        c = hyb_config_parse("big.json", text, strlen(text), err, sizeof err);
        if (n == HYB_CFG_MAX_PEERS) {
            if (c == NULL) fail_msg("%s", err);
            assert_int_equal(c->n_peers, HYB_CFG_MAX_PEERS);
        } else {
            assert_null(c);
            assert_non_null(strstr(err, "big.json: peers: more than"));
        }
        hyb_config_free(c);
        free(text);
        free(peers);
    }
    /* no peers; a file larger than HYB_CFG_FILE_MAX; a path too long */
    text = replace(GOOD, "\"peers\": [", "\"peers\": [], \"q\": [");
    assert_null(hyb_config_parse("a.json", text, strlen(text), err, sizeof err));
    free(text);
    text = malloc(HYB_CFG_FILE_MAX + 2);
    memset(text, ' ', HYB_CFG_FILE_MAX + 1);
    text[HYB_CFG_FILE_MAX + 1] = '\0';
    memcpy(text, GOOD, strlen(GOOD));
    assert_null(hyb_config_parse("a.json", text, HYB_CFG_FILE_MAX + 1, err, sizeof err));
    assert_non_null(strstr(err, "larger than"));
    c = hyb_config_parse("a.json", text, HYB_CFG_FILE_MAX, err, sizeof err);
    assert_non_null(c);
    hyb_config_free(c);
    free(text);
    {
        char longp[HYB_CFG_PATH_MAX + 40], *t2;
        snprintf(longp, sizeof longp, "\"ca\": \"/%0*d\"", HYB_CFG_PATH_MAX, 0);
        t2 = replace(GOOD, "\"ca\": \"/etc/qkd/ca.pem\"", longp);
        assert_null(hyb_config_parse("a.json", t2, strlen(t2), err, sizeof err));
        assert_non_null(strstr(err, "a.json: ca: path longer"));
        free(t2);
    }
}

static void test_hostport(void **state)
{
    (void)state;
    char h[64];
    unsigned port;
    assert_int_equal(hyb_split_hostport("127.0.0.1:25575", h, sizeof h, &port, 1), 0);
    assert_string_equal(h, "127.0.0.1");
    assert_int_equal(port, 25575);
    assert_int_equal(hyb_split_hostport("[::1]:0", h, sizeof h, &port, 0), 0);
    assert_string_equal(h, "::1");
    assert_int_equal(hyb_split_hostport("[::1]:0", h, sizeof h, &port, 1), -1);
    assert_int_equal(hyb_split_hostport("host:65535", h, sizeof h, &port, 1), 0);
    assert_int_equal(hyb_split_hostport("host:65536", h, sizeof h, &port, 1), -1);
    assert_int_equal(hyb_split_hostport(":80", h, sizeof h, &port, 1), -1);
    assert_int_equal(hyb_split_hostport("a:b:80", h, sizeof h, &port, 1), -1);
    assert_int_equal(hyb_split_hostport("host:-1", h, sizeof h, &port, 0), -1);
    assert_int_equal(hyb_split_hostport("host:80x", h, sizeof h, &port, 0), -1);
    assert_int_equal(hyb_split_hostport("ho st:80", h, sizeof h, &port, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_hostport),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
