/* test_uri.c: unit tests of URI validation (valid/invalid tables, length limits at their edge),
 * part extraction and query parameter lookup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "uri.h"

static void test_valid_table(void **state)
{
    (void)state;
    static const char *const good[] = {
        "client://localhost",
        "server://qkd_server_alice",
        "hybrid://app1@alice?hybridization=xor&key_sources=qkd,mlkem",
        "hybrid://app1@bob",
        "a://b",
        "x-y+z.1://h:1",
        "https://user:pw@example.com:65535/a/b%20c?x=1&y=2",
        "qkd://[::1]:8080/p",
        "qkd://[2001:db8::7]",
        "qkd://127.0.0.1:443",
        "qkd://h/",
        "qkd://h?",
        "qkd://h/p:@!$&'()*+,;=-._~",
        "qkd://3c4e5f60-1234-4abc-8def-001122334455",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct qkd_uri u;
        if (qkd_uri_parse(good[i], &u) != 0) fail_msg("should be valid: %s", good[i]);
        assert_true(qkd_uri_is_valid(good[i]));
        assert_true(u.host[0] != '\0');
    }
}

static void test_invalid_table(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "client",
        "client:",
        "client:/",
        "client:/x",
        "://x",
        "client://",
        "client://:80",
        "client://@",
        "client://u@",
        "client://host:",
        "client://host:0",
        "client://host:65536",
        "client://host:123456",
        "client://host:8a",
        "1abc://host",
        "a_b://host",
        "client://ho st",
        "client://host/pa th",
        "client://host#frag",
        "client://host?q#frag",
        "client://[::1",
        "client://[zz::1]",
        "client://[]",
        "client://[::1]x",
        "client://host%2",
        "client://host%zz",
        "client://u@v@host",
        "client://h\xc3\xa9",
        "client://host/\x01",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct qkd_uri u;
        if (qkd_uri_parse(bad[i], &u) != -1) fail_msg("should be invalid: %s", bad[i]);
        assert_false(qkd_uri_is_valid(bad[i]));
    }
    assert_false(qkd_uri_is_valid(NULL));
}

static void test_parts(void **state)
{
    (void)state;
    struct qkd_uri u;
    assert_int_equal(qkd_uri_parse("https://user:pw@example.com:8443/a/b?x=1&y=2", &u), 0);
    assert_string_equal(u.scheme, "https");
    assert_string_equal(u.userinfo, "user:pw");
    assert_string_equal(u.host, "example.com");
    assert_int_equal(u.port, 8443);
    assert_string_equal(u.path, "/a/b");
    assert_string_equal(u.query, "x=1&y=2");

    assert_int_equal(qkd_uri_parse("client://localhost", &u), 0);
    assert_string_equal(u.scheme, "client");
    assert_string_equal(u.userinfo, "");
    assert_string_equal(u.host, "localhost");
    assert_int_equal(u.port, 0);
    assert_string_equal(u.path, "");
    assert_string_equal(u.query, "");

    assert_int_equal(qkd_uri_parse("qkd://[::1]:1", &u), 0);
    assert_string_equal(u.host, "::1"); /* without brackets */
    assert_int_equal(u.port, 1);

    assert_int_equal(qkd_uri_parse("hybrid://app@alice?hybridization=xor", &u), 0);
    assert_string_equal(u.userinfo, "app");
    assert_string_equal(u.host, "alice");
    assert_string_equal(u.query, "hybridization=xor");
}

/* Fills a URI whose part (scheme, userinfo, host, path or query) has exactly n characters. */
static void make_uri(char *out, size_t cap, const char *part, size_t n)
{
    char fill[600];
    assert_true(n < sizeof(fill));
    memset(fill, 'a', n);
    fill[n] = '\0';
    if (strcmp(part, "scheme") == 0)
        snprintf(out, cap, "%s://h", fill);
    else if (strcmp(part, "userinfo") == 0)
        snprintf(out, cap, "s://%s@h", fill);
    else if (strcmp(part, "host") == 0)
        snprintf(out, cap, "s://%s", fill);
    else if (strcmp(part, "path") == 0) {
        fill[0] = '/';
        snprintf(out, cap, "s://h%s", fill);
    } else
        snprintf(out, cap, "s://h?%s", fill);
}

static void test_length_limits(void **state)
{
    (void)state;
    struct qkd_uri u;
    static const struct {
        const char *part;
        size_t cap;
    } lim[] = {
        {"scheme", sizeof(u.scheme)}, {"userinfo", sizeof(u.userinfo)}, {"host", sizeof(u.host)},
        {"path", sizeof(u.path)},     {"query", sizeof(u.query)},
    };
    char buf[1200];
    for (size_t i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
        make_uri(buf, sizeof(buf), lim[i].part, lim[i].cap - 1); /* longest that fits */
        if (qkd_uri_parse(buf, &u) != 0)
            fail_msg("%s of %zu chars should fit", lim[i].part, lim[i].cap - 1);
        make_uri(buf, sizeof(buf), lim[i].part, lim[i].cap); /* one too long */
        if (qkd_uri_parse(buf, &u) != -1)
            fail_msg("%s of %zu chars should be rejected", lim[i].part, lim[i].cap);
    }
}

static void test_query_get(void **state)
{
    (void)state;
    char v[16];
    assert_int_equal(qkd_uri_query_get("a=b&c=d", "a", v, sizeof(v)), 0);
    assert_string_equal(v, "b");
    assert_int_equal(qkd_uri_query_get("a=b&c=d", "c", v, sizeof(v)), 0);
    assert_string_equal(v, "d");
    assert_int_equal(qkd_uri_query_get("a=b&c=d", "b", v, sizeof(v)), -1);
    assert_int_equal(qkd_uri_query_get("a=b&c=d", "", v, sizeof(v)), -1);
    assert_int_equal(qkd_uri_query_get("aa=1&a=2", "a", v, sizeof(v)), 0);
    assert_string_equal(v, "2"); /* no prefix match */
    assert_int_equal(qkd_uri_query_get("x&y=", "x", v, sizeof(v)), 0);
    assert_string_equal(v, "");
    assert_int_equal(qkd_uri_query_get("x&y=", "y", v, sizeof(v)), 0);
    assert_string_equal(v, "");
    assert_int_equal(qkd_uri_query_get("k=qkd,mlkem", "k", v, sizeof(v)), 0);
    assert_string_equal(v, "qkd,mlkem");
    assert_int_equal(qkd_uri_query_get("", "a", v, sizeof(v)), -1);
    /* Value exactly filling the buffer (15 chars + NUL), then one too long. */
    assert_int_equal(qkd_uri_query_get("k=123456789012345", "k", v, sizeof(v)), 0);
    assert_string_equal(v, "123456789012345");
    assert_int_equal(qkd_uri_query_get("k=1234567890123456", "k", v, sizeof(v)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_table), cmocka_unit_test(test_invalid_table),
        cmocka_unit_test(test_parts),       cmocka_unit_test(test_length_limits),
        cmocka_unit_test(test_query_get),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
