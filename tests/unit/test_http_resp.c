/* test_http_resp.c: unit tests of the HTTP/1.1 response parser (src/common/http_resp.c;
 * docs/client.md): Content-Length, chunked and close-delimited bodies, whole and byte by byte;
 * keep-alive flags; 1xx skipped; every limit at its edge (header bytes, header count, body
 * bytes, announced and chunked); malformed responses; reset between responses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "http_resp.h"

/* Feeds s in pieces of step bytes. Returns 1 complete (*out set), 0 more needed, -1 error. */
static int feed(struct qkd_hresp_parser *p, const char *s, size_t n, size_t step,
                const struct qkd_hresp **out, char *err)
{
    size_t off = 0;
    while (off < n) {
        size_t len = n - off < step ? n - off : step, used;
        int r = qkd_hresp_parse(p, (const uint8_t *)s + off, len, &used, out, err, 200);
        if (r != 0) return r;
        assert_int_equal(used, len);
        off += used;
    }
    return 0;
}

static int feed_str(struct qkd_hresp_parser *p, const char *s, size_t step,
                    const struct qkd_hresp **out)
{
    char err[200];
    return feed(p, s, strlen(s), step, out, err);
}

static void test_content_length_whole_and_bytewise(void **state)
{
    (void)state;
    static const char r[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                            "Content-Length: 11\r\n\r\n{\"keys\":[]}";
    size_t steps[] = {sizeof r, 1, 7};
    for (size_t i = 0; i < 3; i++) {
        struct qkd_hresp_parser *p = qkd_hresp_parser_new(NULL);
        const struct qkd_hresp *resp = NULL;
        assert_int_equal(feed_str(p, r, steps[i], &resp), 1);
        assert_int_equal(resp->status, 200);
        assert_int_equal(resp->body_len, 11);
        assert_string_equal((const char *)resp->body, "{\"keys\":[]}");
        assert_int_equal(resp->keep_alive, 1);
        assert_string_equal(qkd_hresp_header(p, "content-type"), "application/json");
        assert_null(qkd_hresp_header(p, "x-none"));
        qkd_hresp_parser_free(p);
    }
}

static void test_chunked(void **state)
{
    (void)state;
    static const char r[] = "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "5\r\n{\"mes\r\n10\r\nsage\":\"bad size\"\r\n1\r\n}\r\n0\r\n\r\n";
    struct qkd_hresp_parser *p = qkd_hresp_parser_new(NULL);
    const struct qkd_hresp *resp = NULL;
    assert_int_equal(feed_str(p, r, 3, &resp), 1);
    assert_int_equal(resp->status, 400);
    assert_string_equal((const char *)resp->body, "{\"message\":\"bad size\"}");
    qkd_hresp_parser_free(p);
}

static void test_keep_alive_flags(void **state)
{
    (void)state;
    struct {
        const char *r;
        int ka;
    } c[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 1},
        {"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 0},
        {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0},
        {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 1},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        struct qkd_hresp_parser *p = qkd_hresp_parser_new(NULL);
        const struct qkd_hresp *resp = NULL;
        assert_int_equal(feed_str(p, c[i].r, 100, &resp), 1);
        assert_int_equal(resp->keep_alive, c[i].ka);
        assert_int_equal(resp->body_len, 0);
        assert_string_equal((const char *)resp->body, "");
        qkd_hresp_parser_free(p);
    }
}

static void test_close_delimited_and_eof(void **state)
{
    (void)state;
    struct qkd_hresp_parser *p = qkd_hresp_parser_new(NULL);
    const struct qkd_hresp *resp = NULL;
    char err[200];
    assert_int_equal(feed_str(p, "HTTP/1.1 503 Service Unavailable\r\n\r\n{\"message\":", 4, &resp),
                     0);
    assert_int_equal(feed_str(p, "\"x\"}", 1, &resp), 0);
    assert_int_equal(qkd_hresp_eof(p, &resp, err, sizeof err), 1);
    assert_int_equal(resp->status, 503);
    assert_int_equal(resp->keep_alive, 0);
    assert_string_equal((const char *)resp->body, "{\"message\":\"x\"}");
    /* nothing read: 0; cut in the middle of a Content-Length body: -1 */
    qkd_hresp_reset(p);
    assert_int_equal(qkd_hresp_eof(p, &resp, err, sizeof err), 0);
    qkd_hresp_reset(p);
    assert_int_equal(feed_str(p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345", 100, &resp),
                     0);
    assert_int_equal(qkd_hresp_eof(p, &resp, err, sizeof err), -1);
    assert_non_null(strstr(err, "closed"));
    qkd_hresp_parser_free(p);
}

static void test_informational_skipped_and_surplus(void **state)
{
    (void)state;
    static const char r[] = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                            "\r\nokHTTP/1.1 200 OK\r\n";
    struct qkd_hresp_parser *p = qkd_hresp_parser_new(NULL);
    const struct qkd_hresp *resp = NULL;
    size_t used = 0;
    char err[200];
    assert_int_equal(qkd_hresp_parse(p, (const uint8_t *)r, strlen(r), &used, &resp, err, 200), 1);
    assert_int_equal(resp->status, 200);
    assert_string_equal((const char *)resp->body, "ok");
    assert_int_equal(used, strlen(r) - strlen("HTTP/1.1 200 OK\r\n"));
    /* a complete response must be reset before more is fed */
    assert_int_equal(qkd_hresp_parse(p, (const uint8_t *)"x", 1, &used, &resp, err, 200), -1);
    /* reset: the next response on the same connection */
    qkd_hresp_reset(p);
    assert_int_equal(feed_str(p, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 5, &resp),
                     1);
    assert_int_equal(resp->status, 404);
    qkd_hresp_parser_free(p);
}

/* A response with headers of exactly total bytes of names+values+NULs stored. */
static char *resp_with_header(size_t value_len, size_t *n)
{
    char *v = malloc(value_len + 1);
    memset(v, 'a', value_len);
    v[value_len] = '\0';
    char *r = malloc(value_len + 128);
    *n = (size_t)sprintf(r, "HTTP/1.1 200 OK\r\nX: %s\r\nContent-Length: 0\r\n\r\n", v);
    free(v);
    return r;
}

static void test_header_bytes_edge(void **state)
{
    (void)state;
    /* stored: "X\0" + value + "\0" + "Content-Length\0" + "0\0" = value + 20 */
    struct qkd_hresp_limits lim = {.max_header_bytes = 120};
    for (int over = 0; over <= 1; over++) {
        size_t n;
        char *r = resp_with_header(100 + (size_t)over, &n);
        struct qkd_hresp_parser *p = qkd_hresp_parser_new(&lim);
        const struct qkd_hresp *resp = NULL;
        char err[200] = "";
        int got = feed(p, r, n, 9, &resp, err);
        assert_int_equal(got, over ? -1 : 1);
        if (over) assert_non_null(strstr(err, "headers over the limit"));
        qkd_hresp_parser_free(p);
        free(r);
    }
}

static void test_header_count_edge(void **state)
{
    (void)state;
    struct qkd_hresp_limits lim = {.max_headers = 3};
    const char *ok = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nContent-Length: 0\r\n\r\n";
    const char *bad = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nContent-Length: 0\r\n\r\n";
    struct qkd_hresp_parser *p = qkd_hresp_parser_new(&lim);
    const struct qkd_hresp *resp = NULL;
    assert_int_equal(feed_str(p, ok, 100, &resp), 1);
    qkd_hresp_reset(p);
    assert_int_equal(feed_str(p, bad, 100, &resp), -1);
    qkd_hresp_parser_free(p);
}

static void test_body_limit_edge(void **state)
{
    (void)state;
    struct qkd_hresp_limits lim = {.max_body_bytes = 1000};
    char *body = malloc(1002);
    memset(body, 'k', 1001);
    body[1001] = '\0';
    char *r = malloc(2200);
    for (int over = 0; over <= 1; over++) {
        size_t len = 1000 + (size_t)over;
        /* announced by Content-Length (refused at the headers) */
        int n =
            sprintf(r, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%.*s", len, (int)len, body);
        struct qkd_hresp_parser *p = qkd_hresp_parser_new(&lim);
        const struct qkd_hresp *resp = NULL;
        char err[200] = "";
        assert_int_equal(feed(p, r, (size_t)n, 64, &resp, err), over ? -1 : 1);
        if (!over)
            assert_int_equal(resp->body_len, 1000);
        else
            assert_non_null(strstr(err, "body over the limit"));
        /* chunked (counted as it comes) */
        qkd_hresp_reset(p);
        n = sprintf(r,
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n%.*s\r\n0\r\n\r\n",
                    len, (int)len, body);
        assert_int_equal(feed(p, r, (size_t)n, 64, &resp, err), over ? -1 : 1);
        /* close-delimited */
        qkd_hresp_reset(p);
        n = sprintf(r, "HTTP/1.1 200 OK\r\n\r\n%.*s", (int)len, body);
        int got = feed(p, r, (size_t)n, 64, &resp, err);
        if (got == 0) got = qkd_hresp_eof(p, &resp, err, sizeof err);
        assert_int_equal(got, over ? -1 : 1);
        qkd_hresp_parser_free(p);
    }
    free(r);
    free(body);
}

static void test_default_body_limit_fits_128_keys_of_8192_bits(void **state)
{
    (void)state;
    /* 128 keys: 1024 bytes -> 1368 base64 chars + key_ID and JSON around each */
    size_t need = 128 * (1368 + 36 + 32) + 16;
    assert_true(need < QKD_HRESP_DEFAULT_MAX_BODY_BYTES);
    struct qkd_hresp_parser *p = qkd_hresp_parser_new(NULL);
    char hdr[128];
    int n = sprintf(hdr, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n",
                    QKD_HRESP_DEFAULT_MAX_BODY_BYTES);
    const struct qkd_hresp *resp = NULL;
    char err[200];
    assert_int_equal(feed(p, hdr, (size_t)n, 1000, &resp, err), 0);
    qkd_hresp_reset(p);
    n = sprintf(hdr, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n",
                QKD_HRESP_DEFAULT_MAX_BODY_BYTES + 1);
    assert_int_equal(feed(p, hdr, (size_t)n, 1000, &resp, err), -1);
    qkd_hresp_parser_free(p);
}

static void test_malformed(void **state)
{
    (void)state;
    const char *bad[] = {
        "HTTP/1.1 abc OK\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct qkd_hresp_parser *p = qkd_hresp_parser_new(NULL);
        const struct qkd_hresp *resp = NULL;
        char err[200] = "";
        assert_int_equal(feed(p, bad[i], strlen(bad[i]), 100, &resp, err), -1);
        assert_true(err[0] != '\0');
        qkd_hresp_parser_free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length_whole_and_bytewise),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_keep_alive_flags),
        cmocka_unit_test(test_close_delimited_and_eof),
        cmocka_unit_test(test_informational_skipped_and_surplus),
        cmocka_unit_test(test_header_bytes_edge),
        cmocka_unit_test(test_header_count_edge),
        cmocka_unit_test(test_body_limit_edge),
        cmocka_unit_test(test_default_body_limit_fits_128_keys_of_8192_bits),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
