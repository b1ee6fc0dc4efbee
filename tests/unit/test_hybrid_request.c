/* test_hybrid_request.c: the hybrid:// request grammar: tables of accepted source URIs with
 * their parse, rejected ones with the word the error must name, destinations, the source
 * limit at its edge and the canonical text round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "request.h"

struct accept_case {
    const char *uri;
    const char *app, *node;
    enum hyb_comb_method method;
    const char *sources; /* "name+" required, "name?" optional, comma-separated */
};

static const struct accept_case accepts[] = {
    {"hybrid://app1@alice?hybridization=xoring&key_sources=QKD,ML-KEM-768", "app1", "alice",
     HYB_COMB_XORING, "QKD+,ML-KEM-768+"},
    {"hybrid://app1@alice?key_sources=QKD", "app1", "alice", HYB_COMB_HKDF, "QKD+"},
    {"hybrid://app1@alice/?key_sources=X25519", "app1", "alice", HYB_COMB_HKDF, "X25519+"},
    {"hybrid://a@bob?hybridization=hmac&key_sources=QKD,QKD,X448", "a", "bob", HYB_COMB_HMAC,
     "QKD+,QKD+,X448+"},
    {"hybrid://a@bob?key_sources=qkd,ml-kem-512&hybridization=XORHMAC", "a", "bob",
     HYB_COMB_XORHMAC, "QKD+,ML-KEM-512+"},
    {"hybrid://a@bob?hybridization=catkdf&req_key_sources=QKD&opt_key_sources=ML-KEM-1024,X25519",
     "a", "bob", HYB_COMB_CATKDF, "QKD+,ML-KEM-1024?,X25519?"},
    {"hybrid://a@bob?opt_key_sources=X25519&key_sources=QKD&req_key_sources=ML-KEM-768", "a", "bob",
     HYB_COMB_HKDF, "QKD+,ML-KEM-768+,X25519?"},
    {"hybrid://a@bob?opt_key_sources=X25519,X448", "a", "bob", HYB_COMB_HKDF, "X25519?,X448?"},
    {"hybrid://a@6f1c2c1e-0000-4000-8000-00000000000a?key_sources=QKD%2CX25519", "a",
     "6f1c2c1e-0000-4000-8000-00000000000a", HYB_COMB_HKDF, "QKD+,X25519+"},
    {"HYBRID://a@bob?key_sources=QKD,QKD,QKD,QKD,QKD,QKD,QKD,QKD", "a", "bob", HYB_COMB_HKDF,
     "QKD+,QKD+,QKD+,QKD+,QKD+,QKD+,QKD+,QKD+"},
};

struct reject_case {
    const char *uri;
    const char *must_name; /* substring of the error */
};

static const struct reject_case rejects[] = {
    {"hybrid://app1@alice?hybridization=sha3&key_sources=QKD", "'sha3'"},
    {"hybrid://app1@alice?key_sources=QKD,RSA-2048", "'RSA-2048'"},
    {"hybrid://app1@alice?key_sources=ML-KEM", "'ML-KEM'"},
    {"hybrid://app1@alice?opt_key_sources=Kyber768", "'Kyber768'"},
    {"hybrid://app1@alice?key_sources=QKD,,X25519", "empty source"},
    {"hybrid://app1@alice?key_sources=QKD,", "empty source"},
    {"hybrid://app1@alice?key_sources=", "empty"},
    {"hybrid://app1@alice?key_sources", "no value"},
    {"hybrid://app1@alice?hybridization=hkdf", "no key sources"},
    {"hybrid://app1@alice", "no key sources"},
    {"hybrid://app1@alice?key_source=QKD", "'key_source'"},
    {"hybrid://app1@alice?key_sources=QKD&key_sources=X448", "twice"},
    {"hybrid://app1@alice?key_sources=QKD&&hybridization=hkdf", "empty query"},
    {"hybrid://app1@[::1]?key_sources=QKD", "not a node name or UUID"},
    {"hybrid://app1@alice?key_sources=QKD,QKD,QKD,QKD,QKD,QKD,QKD,QKD,QKD", "more than 8"},
    {"hybrid://app1@alice?key_sources=QKD%2", "malformed"},
    {"hybrid://app1@alice?key_sources=QKD%0A", "escape"},
    {"http://app1@alice?key_sources=QKD", "'http'"},
    {"hybrid://alice?key_sources=QKD", "no application"},
    {"hybrid://app1@alice:443?key_sources=QKD", "port"},
    {"hybrid://app1@alice/keys?key_sources=QKD", "path"},
    {"hybrid://app1@alice?hybridization=&key_sources=QKD", "method"},
    {"hybrid:/app1@alice", "malformed"},
    {"", "empty"},
};

static void check_sources(const struct hyb_request *r, const char *spec)
{
    char buf[256] = "";
    for (size_t i = 0; i < r->n_sources; i++) {
        if (i > 0) strcat(buf, ",");
        strcat(buf, hyb_source_name(r->sources[i].source));
        strcat(buf, r->sources[i].required ? "+" : "?");
    }
    assert_string_equal(buf, spec);
}

static void test_accept(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof accepts / sizeof accepts[0]; i++) {
        struct hyb_request r;
        char err[256] = "";
        if (hyb_request_parse(accepts[i].uri, &r, err, sizeof err) != 0)
            fail_msg("rejected %s: %s", accepts[i].uri, err);
        assert_string_equal(r.app, accepts[i].app);
        assert_string_equal(r.node, accepts[i].node);
        assert_int_equal(r.method, accepts[i].method);
        check_sources(&r, accepts[i].sources);
    }
}

static void test_reject(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rejects / sizeof rejects[0]; i++) {
        struct hyb_request r;
        char err[256] = "";
        if (hyb_request_parse(rejects[i].uri, &r, err, sizeof err) == 0)
            fail_msg("accepted %s", rejects[i].uri);
        if (strstr(err, rejects[i].must_name) == NULL)
            fail_msg("%s: error '%s' does not name %s", rejects[i].uri, err, rejects[i].must_name);
    }
    assert_int_equal(hyb_request_parse(NULL, NULL, NULL, 0), -1);
}

/* The library KEMs (docs/hybrid.md "Key sources"): accepted when built in, else refused with
 * "not built in" and the supported list; families Debian does not package are named as such;
 * the sum of public keys is bounded by HYB_REQ_MAX_PUB_BYTES (tested on both sides). */
static void test_library_kems(void **state)
{
    (void)state;
    struct hyb_request r;
    char err[1024] = "";
    const char *mce = "hybrid://a@bob?key_sources=Classic-McEliece-348864,X25519";
    const char *ntru = "hybrid://a@bob?key_sources=sntrup761,X25519";

#ifdef QKD_HAVE_MCELIECE
    assert_int_equal(hyb_request_parse(mce, &r, err, sizeof err), 0);
    assert_int_equal(r.sources[0].source, HYB_SRC_MCE348864);
    assert_non_null(strstr(hyb_source_supported(), "Classic-McEliece-8192128f"));
    /* 8192128 + 348864 + 348864 fits (1880064 bytes); a third 348864 does not (2141184) */
    assert_int_equal(
        hyb_request_parse("hybrid://a@bob?key_sources=Classic-McEliece-8192128,"
                          "Classic-McEliece-348864,Classic-McEliece-348864f,ML-KEM-1024,X448",
                          &r, err, sizeof err),
        0);
    assert_true(1357824 + 2 * 261120 + 1568 + 56 <= HYB_REQ_MAX_PUB_BYTES);
    assert_int_equal(
        hyb_request_parse("hybrid://a@bob?key_sources=Classic-McEliece-8192128,"
                          "Classic-McEliece-348864,Classic-McEliece-348864f&opt_key_sources="
                          "Classic-McEliece-348864",
                          &r, err, sizeof err),
        -1);
    assert_true(1357824 + 3 * 261120 > HYB_REQ_MAX_PUB_BYTES);
    assert_non_null(strstr(err, "exceed"));
#else
    assert_int_equal(hyb_request_parse(mce, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "source Classic-McEliece-348864 not built in (supported: QKD,"));
    assert_null(strstr(hyb_source_supported(), "McEliece"));
#endif
#ifdef QKD_HAVE_NTRUPRIME
    assert_int_equal(hyb_request_parse(ntru, &r, err, sizeof err), 0);
    assert_int_equal(r.sources[0].source, HYB_SRC_SNTRUP761);
#else
    assert_int_equal(hyb_request_parse(ntru, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "source sntrup761 not built in (supported: QKD,"));
#endif
    static const char *const unprovided[] = {"BIKE-L1", "HQC-128", "FrodoKEM-640-AES", "Kyber768"};
    for (size_t i = 0; i < 4; i++) {
        char uri[128];
        snprintf(uri, sizeof uri, "hybrid://a@bob?key_sources=QKD,%s", unprovided[i]);
        assert_int_equal(hyb_request_parse(uri, &r, err, sizeof err), -1);
        assert_non_null(strstr(err, unprovided[i]));
        assert_non_null(strstr(err, "not provided"));
        assert_non_null(strstr(err, hyb_source_supported()));
    }
    assert_int_equal(hyb_request_parse("hybrid://a@bob?key_sources=RSA", &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown key source 'RSA'"));
    assert_non_null(strstr(err, hyb_source_supported()));
}

static void test_destination(void **state)
{
    (void)state;
    struct hyb_dest d;
    char err[256];

    assert_int_equal(hyb_dest_parse("hybrid://app2@bob", &d, err, sizeof err), 0);
    assert_string_equal(d.app, "app2");
    assert_string_equal(d.node, "bob");
    /* parameters belong to the source; a destination's query is ignored */
    assert_int_equal(hyb_dest_parse("hybrid://app2@bob?hybridization=xoring", &d, err, sizeof err),
                     0);
    assert_string_equal(d.node, "bob");
    assert_int_equal(hyb_dest_parse("hybrid://bob", &d, err, sizeof err), -1);
    assert_non_null(strstr(err, "destination"));
    assert_int_equal(hyb_dest_parse("qkd://app2@bob", &d, err, sizeof err), -1);
    assert_non_null(strstr(err, "'qkd'"));
}

static void test_format_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof accepts / sizeof accepts[0]; i++) {
        struct hyb_request a, b;
        char text[HYB_REQ_TEXT_MAX], err[256];
        assert_int_equal(hyb_request_parse(accepts[i].uri, &a, err, sizeof err), 0);
        assert_int_equal(hyb_request_format(&a, text, sizeof text), 0);
        if (hyb_request_parse(text, &b, err, sizeof err) != 0)
            fail_msg("canonical text %s rejected: %s", text, err);
        assert_memory_equal(&a, &b, sizeof a);
    }
    {
        struct hyb_request a;
        char small[20], text[HYB_REQ_TEXT_MAX];
        assert_int_equal(hyb_request_parse(accepts[5].uri, &a, NULL, 0), 0);
        assert_int_equal(hyb_request_format(&a, small, sizeof small), -1);
        assert_int_equal(hyb_request_format(&a, text, sizeof text), 0);
        assert_string_equal(text, "hybrid://a@bob?hybridization=catkdf&req_key_sources=QKD&"
                                  "opt_key_sources=ML-KEM-1024,X25519");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept),
        cmocka_unit_test(test_reject),
        cmocka_unit_test(test_destination),
        cmocka_unit_test(test_library_kems),
        cmocka_unit_test(test_format_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
