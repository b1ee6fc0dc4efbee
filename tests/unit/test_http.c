/* test_http.c: unit tests of the HTTP layer (src/common/http.c, http_server.c;
 * docs/observability.md): requests whole, byte by byte and pipelined; every limit at its edge
 * (header bytes, header count, request bytes); errors with their status; Expect: 100-continue
 * (flag only with a body to come, 413 first, other values 417); the in-request flag (the
 * request timeout's start); the response writer;
 * and the server over loopback: keep-alive, pipelined answers in order, Connection: close, the
 * connection cap and the idle timeout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "evloop.h"
#include "http.h"

/* Feeds s (in pieces of step bytes); returns the number of complete requests, or -status. */
static int feed(struct qkd_http_parser *p, const char *s, size_t step, char paths[][64], int max)
{
    size_t n = strlen(s), off = 0;
    int got = 0;
    while (off < n) {
        size_t len = n - off < step ? n - off : step, used;
        const uint8_t *d = (const uint8_t *)s + off;
        while (len > 0) {
            const struct qkd_http_req *req;
            int st;
            int r = qkd_http_parse(p, d, len, &used, &req, &st);
            if (r < 0) return -st;
            d += used;
            len -= used;
            off += used;
            if (r == 1 && got < max)
                snprintf(paths[got++], 64, "%s|%s|%zu", req->path, req->query, req->body_len);
        }
    }
    return got;
}

static void test_get_whole_and_bytewise(void **state)
{
    (void)state;
    const char *rq = "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: text/plain\r\n\r\n";
    for (size_t step = 1; step <= strlen(rq); step += 7) {
        struct qkd_http_parser *p = qkd_http_parser_new(NULL);
        char paths[4][64];
        assert_int_equal(feed(p, rq, step, paths, 4), 1);
        assert_string_equal(paths[0], "/metrics|x=1|0");
        assert_string_equal(qkd_http_header(p, "ACCEPT"), "text/plain");
        assert_string_equal(qkd_http_header(p, "host"), "a");
        assert_null(qkd_http_header(p, "cookie"));
        qkd_http_parser_free(p);
    }
}

static void test_pipelined_and_body(void **state)
{
    (void)state;
    struct qkd_http_parser *p = qkd_http_parser_new(NULL);
    char paths[4][64];
    assert_int_equal(feed(p,
                          "GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\n"
                          "helloGET /c?q HTTP/1.1\r\n\r\n",
                          1000, paths, 4),
                     3);
    assert_string_equal(paths[0], "/a||0");
    assert_string_equal(paths[1], "/b||5");
    assert_string_equal(paths[2], "/c|q|0");
    qkd_http_parser_free(p);
}

static void test_keep_alive_flags(void **state)
{
    (void)state;
    const char *cases[][2] = {{"GET / HTTP/1.1\r\n\r\n", "1"},
                              {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", "0"},
                              {"GET / HTTP/1.0\r\n\r\n", "0"},
                              {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "1"}};
    for (size_t i = 0; i < 4; i++) {
        struct qkd_http_parser *p = qkd_http_parser_new(NULL);
        size_t used;
        const struct qkd_http_req *req;
        int st;
        assert_int_equal(
            qkd_http_parse(p, (const uint8_t *)cases[i][0], strlen(cases[i][0]), &used, &req, &st),
            1);
        assert_int_equal(req->keep_alive, cases[i][1][0] - '0');
        qkd_http_parser_free(p);
    }
}

/* A request whose stored header bytes (path + NUL + name + NUL + value + NUL) are exactly n. */
static char *sized_request(size_t n)
{
    /* "/\0" (2) + "X\0" (2) + value + "\0": value = n - 5 */
    char *s = malloc(n + 64);
    size_t v = n - 5;
    int k = sprintf(s, "GET / HTTP/1.1\r\nX: ");
    memset(s + k, 'a', v);
    strcpy(s + k + v, "\r\n\r\n");
    return s;
}

static void test_header_limit_edge(void **state)
{
    (void)state;
    struct qkd_http_limits lim = {.max_header_bytes = 200};
    char paths[2][64];
    char *ok = sized_request(200), *over = sized_request(201);
    struct qkd_http_parser *p = qkd_http_parser_new(&lim);
    assert_int_equal(feed(p, ok, 13, paths, 2), 1);
    qkd_http_parser_free(p);
    p = qkd_http_parser_new(&lim);
    assert_int_equal(feed(p, over, 13, paths, 2), -431);
    qkd_http_parser_free(p);
    free(ok);
    free(over);
}

static void test_header_count_edge(void **state)
{
    (void)state;
    struct qkd_http_limits lim = {.max_headers = 3};
    char paths[2][64];
    struct qkd_http_parser *p = qkd_http_parser_new(&lim);
    assert_int_equal(feed(p, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 100, paths, 2), 1);
    qkd_http_parser_free(p);
    p = qkd_http_parser_new(&lim);
    assert_int_equal(
        feed(p, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 100, paths, 2), -431);
    qkd_http_parser_free(p);
}

static void test_body_limit_edge(void **state)
{
    (void)state;
    /* headers stored: "/\0" (2) + "Content-Length\0" (15) + "10N\0" (4) = 21: room 100 */
    struct qkd_http_limits lim = {.max_header_bytes = 100, .max_request_bytes = 121};
    char rq[512], paths[2][64];
    for (int over = 0; over <= 1; over++) {
        size_t n = 100 + (size_t)over;
        int k = sprintf(rq, "POST / HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", n);
        memset(rq + k, 'b', n);
        rq[k + (int)n] = '\0';
        struct qkd_http_parser *p = qkd_http_parser_new(&lim);
        assert_int_equal(feed(p, rq, 9, paths, 2), over ? -413 : 1);
        if (!over) assert_string_equal(paths[0], "/||100");
        qkd_http_parser_free(p);
    }
    /* chunked bodies are counted as they arrive */
    struct qkd_http_parser *p = qkd_http_parser_new(&lim);
    char big[400];
    int k = sprintf(big, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n80\r\n");
    memset(big + k, 'c', 128);
    strcpy(big + k + 128, "\r\n0\r\n\r\n");
    assert_int_equal(feed(p, big, 50, paths, 2), -413);
    qkd_http_parser_free(p);
}

/* The body's own limit: exactly max_body_bytes passes however small the headers, one more is
 * 413, announced (Content-Length) or counted (chunked). */
static void test_body_own_limit_edge(void **state)
{
    (void)state;
    struct qkd_http_limits lim = {
        .max_header_bytes = 1000, .max_request_bytes = 1000 + 64, .max_body_bytes = 64};
    char rq[512], paths[2][64];
    for (int over = 0; over <= 1; over++) {
        size_t n = 64 + (size_t)over;
        int k = sprintf(rq, "POST / HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", n);
        memset(rq + k, 'b', n);
        rq[k + (int)n] = '\0';
        struct qkd_http_parser *p = qkd_http_parser_new(&lim);
        assert_int_equal(feed(p, rq, 9, paths, 2), over ? -413 : 1);
        qkd_http_parser_free(p);
    }
    for (int over = 0; over <= 1; over++) {
        char big[400];
        int k =
            sprintf(big, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n", 64 + over);
        memset(big + k, 'c', (size_t)(64 + over));
        strcpy(big + k + 64 + over, "\r\n0\r\n\r\n");
        struct qkd_http_parser *p = qkd_http_parser_new(&lim);
        assert_int_equal(feed(p, big, 50, paths, 2), over ? -413 : 1);
        qkd_http_parser_free(p);
    }
}

static void test_errors(void **state)
{
    (void)state;
    char paths[2][64];
    const char *bad[][2] = {{"GARBAGE\r\n\r\n", "400"},
                            {"GET / HTTP/1.1\r\nBad Header\r\n\r\n", "400"},
                            {"GET / HTTP/9.9\r\n\r\n", "400"}};
    for (size_t i = 0; i < 3; i++) {
        struct qkd_http_parser *p = qkd_http_parser_new(NULL);
        int r = feed(p, bad[i][0], 100, paths, 2);
        assert_int_equal(r, -400);
        qkd_http_parser_free(p);
    }
}

/* Parses s whole; returns qkd_http_parse's result (status in *st). */
static int parse_all(struct qkd_http_parser *p, const char *s, int *st)
{
    size_t used;
    const struct qkd_http_req *req;
    return qkd_http_parse(p, (const uint8_t *)s, strlen(s), &used, &req, st);
}

static void test_expect_continue(void **state)
{
    (void)state;
    struct qkd_http_limits lim = {.max_body_bytes = 2000};
    struct qkd_http_parser *p = qkd_http_parser_new(&lim);
    int st;
    assert_int_equal(qkd_http_parser_in_request(p), 0);
    assert_int_equal(parse_all(p, "P", &st), 0);
    assert_int_equal(qkd_http_parser_in_request(p), 1); /* from the first byte */
    assert_int_equal(parse_all(p, "OST /e HTTP/1.1\r\nExpect: 100-continue\r\n", &st), 0);
    assert_int_equal(qkd_http_parser_expects_continue(p), 0); /* headers not complete yet */
    assert_int_equal(parse_all(p, "Content-Length: 2000\r\n\r\n", &st), 0);
    assert_int_equal(qkd_http_parser_expects_continue(p), 1);
    qkd_http_parser_continue_sent(p);
    assert_int_equal(qkd_http_parser_expects_continue(p), 0);
    char body[2001];
    memset(body, 'x', 2000);
    body[2000] = '\0';
    assert_int_equal(parse_all(p, body, &st), 1);
    assert_int_equal(qkd_http_parser_in_request(p), 0);
    /* the next request: any case, chunked, trailing blanks; the 100 not acknowledged is
     * dropped once the body came anyway */
    assert_int_equal(parse_all(p,
                               "POST /c HTTP/1.1\r\nExpect: 100-CONTINUE \r\n"
                               "Transfer-Encoding: chunked\r\n\r\n",
                               &st),
                     0);
    assert_int_equal(qkd_http_parser_expects_continue(p), 1);
    assert_int_equal(parse_all(p, "3\r\nabc\r\n0\r\n\r\n", &st), 1);
    assert_int_equal(qkd_http_parser_expects_continue(p), 0);
    /* no body to come: nothing to continue */
    assert_int_equal(parse_all(p,
                               "POST /z HTTP/1.1\r\nExpect: 100-continue\r\n"
                               "Content-Length: 0\r\n\r\n",
                               &st),
                     1);
    assert_int_equal(qkd_http_parser_expects_continue(p), 0);
    assert_int_equal(parse_all(p, "GET /g HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", &st), 1);
    assert_int_equal(qkd_http_parser_expects_continue(p), 0);
    qkd_http_parser_free(p);
    /* the body limit + 1 announced: 413 at once, no 100 asked for; the limit itself passes */
    for (int over = 0; over <= 1; over++) {
        p = qkd_http_parser_new(&lim);
        char rq[128];
        snprintf(rq, sizeof(rq),
                 "POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n",
                 2000 + over);
        assert_int_equal(parse_all(p, rq, &st), over ? -1 : 0);
        assert_int_equal(qkd_http_parser_expects_continue(p), !over);
        if (over) assert_int_equal(st, 413);
        qkd_http_parser_free(p);
    }
    /* any other expectation: 417 */
    const char *bad[] = {"POST /e HTTP/1.1\r\nExpect: 100-continued\r\nContent-Length: 3\r\n\r\n",
                         "GET /e HTTP/1.1\r\nExpect: something\r\n\r\n",
                         ("POST /e HTTP/1.1\r\nExpect: 100-continue\r\nExpect: x\r\n"
                          "Content-Length: 3\r\n\r\n")};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p = qkd_http_parser_new(NULL);
        assert_int_equal(parse_all(p, bad[i], &st), -1);
        assert_int_equal(st, 417);
        assert_int_equal(qkd_http_parser_expects_continue(p), 0);
        qkd_http_parser_free(p);
    }
    assert_string_equal(qkd_http_reason(417), "Expectation Failed");
    assert_string_equal(qkd_http_reason(408), "Request Timeout");
}

static void test_resp_write(void **state)
{
    (void)state;
    struct qkd_sbuf out = {0};
    struct qkd_http_resp r = {.status = 503, .content_type = "application/json"};
    qkd_sbuf_puts(&r.body, "{}");
    qkd_http_resp_write(&out, &r, 0, 0);
    assert_string_equal(out.p, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json"
                               "\r\nContent-Length: 2\r\nCache-Control: no-store\r\nConnection: "
                               "close\r\n\r\n{}");
    out.len = 0;
    qkd_http_resp_write(&out, &r, 1, 1); /* HEAD: length, no body */
    assert_non_null(strstr(out.p, "Content-Length: 2\r\n"));
    assert_non_null(strstr(out.p, "keep-alive\r\n\r\n"));
    assert_int_equal(out.p[out.len - 1], '\n');
    qkd_sbuf_free(&r.body);
    qkd_sbuf_free(&out);
}

/* --- the server over loopback ----------------------------------------------------------- */

static void handler(const struct qkd_http_req *req, struct qkd_http_resp *resp, void *arg)
{
    (void)arg;
    qkd_sbuf_printf(&resp->body, "path=%s", req->path);
}

struct srv_env {
    struct qkd_loop *loop;
    struct qkd_http_server *srv;
};

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void stop_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    (void)id;
    (void)arg;
    qkd_loop_stop(loop);
}

static size_t pump(struct srv_env *e, int fd, char *buf, size_t cap, int ms, int *eof)
{
    size_t got = 0;
    *eof = 0;
    uint64_t end = qkd_now_ms() + (uint64_t)ms;
    while (qkd_now_ms() < end && !*eof) {
        qkd_loop_add_timer(e->loop, 5, stop_cb, NULL);
        qkd_loop_run(e->loop);
        for (;;) {
            ssize_t n = recv(fd, buf + got, cap - 1 - got, MSG_DONTWAIT);
            if (n == 0) *eof = 1;
            if (n <= 0) break;
            got += (size_t)n;
        }
    }
    buf[got] = '\0';
    return got;
}

static struct srv_env start(uint32_t max_conns, uint32_t idle_ms)
{
    struct srv_env e = {.loop = qkd_loop_new()};
    char err[200];
    struct qkd_http_server_cfg cfg = {
        .addr = "127.0.0.1:0", .name = "test", .max_conns = max_conns, .idle_ms = idle_ms};
    e.srv = qkd_http_server_new(e.loop, &cfg, handler, NULL, err, sizeof err);
    assert_non_null(e.srv);
    return e;
}

static void stop(struct srv_env *e)
{
    qkd_http_server_free(e->srv);
    qkd_loop_free(e->loop);
}

static void test_server_pipelined_in_order(void **state)
{
    (void)state;
    struct srv_env e = start(0, 0);
    int fd = connect_port(qkd_http_server_port(e.srv));
    const char *rq = "GET /one HTTP/1.1\r\n\r\nGET /two HTTP/1.1\r\n\r\nGET /three HTTP/1.1\r\n"
                     "Connection: close\r\n\r\n";
    assert_int_equal(send(fd, rq, strlen(rq), 0), (ssize_t)strlen(rq));
    char buf[4096];
    int eof;
    pump(&e, fd, buf, sizeof buf, 2000, &eof);
    assert_true(eof); /* closed after the third answer */
    char *a = strstr(buf, "path=/one"), *b = strstr(buf, "path=/two"),
         *c = strstr(buf, "path=/three");
    assert_true(a && b && c && a < b && b < c);
    assert_int_equal(qkd_http_server_requests(e.srv), 3);
    close(fd);
    stop(&e);
}

static void test_server_keep_alive_and_errors(void **state)
{
    (void)state;
    struct srv_env e = start(0, 0);
    int fd = connect_port(qkd_http_server_port(e.srv));
    char buf[4096];
    int eof;
    for (int i = 0; i < 3; i++) { /* one connection, requests one after the other */
        const char *rq = "GET /again HTTP/1.1\r\n\r\n";
        assert_int_equal(send(fd, rq, strlen(rq), 0), (ssize_t)strlen(rq));
        pump(&e, fd, buf, sizeof buf, 100, &eof);
        assert_false(eof);
        assert_non_null(strstr(buf, "HTTP/1.1 200 OK"));
        assert_non_null(strstr(buf, "path=/again"));
    }
    assert_int_equal(qkd_http_server_conns(e.srv), 1);
    const char *bad = "NOT HTTP\r\n\r\n";
    assert_int_equal(send(fd, bad, strlen(bad), 0), (ssize_t)strlen(bad));
    pump(&e, fd, buf, sizeof buf, 2000, &eof);
    assert_true(eof);
    assert_non_null(strstr(buf, "HTTP/1.1 400 Bad Request"));
    close(fd);
    pump(&e, -1, buf, sizeof buf, 20, &eof);
    assert_int_equal(qkd_http_server_conns(e.srv), 0);
    stop(&e);
}

static void test_server_conn_cap_and_idle(void **state)
{
    (void)state;
    struct srv_env e = start(2, 150);
    int port = qkd_http_server_port(e.srv);
    int f1 = connect_port(port), f2 = connect_port(port), f3 = connect_port(port);
    char buf[256];
    int eof;
    pump(&e, f3, buf, sizeof buf, 100, &eof);
    assert_true(eof); /* the third is over the cap of 2: closed at once */
    assert_int_equal(qkd_http_server_conns(e.srv), 2);
    pump(&e, f1, buf, sizeof buf, 1000, &eof);
    assert_true(eof); /* idle for 150 ms: closed */
    pump(&e, f2, buf, sizeof buf, 500, &eof);
    assert_true(eof);
    assert_int_equal(qkd_http_server_conns(e.srv), 0);
    close(f1);
    close(f2);
    close(f3);
    stop(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_whole_and_bytewise),
        cmocka_unit_test(test_pipelined_and_body),
        cmocka_unit_test(test_keep_alive_flags),
        cmocka_unit_test(test_header_limit_edge),
        cmocka_unit_test(test_header_count_edge),
        cmocka_unit_test(test_body_limit_edge),
        cmocka_unit_test(test_body_own_limit_edge),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_resp_write),
        cmocka_unit_test(test_server_pipelined_in_order),
        cmocka_unit_test(test_server_keep_alive_and_errors),
        cmocka_unit_test(test_server_conn_cap_and_idle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
