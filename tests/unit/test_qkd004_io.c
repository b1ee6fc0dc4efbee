/* test_qkd004_io.c: unit tests of libqkd004's blocking transport (src/client/qkd004_io.c):
 * address parsing, connection refused, unresolvable host, connect/handshake timeout against a
 * listener that never speaks TLS, and explicit connect/disconnect. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "qkd004_int.h"
#include "test_qkd004_fake.h"

static char g_cert[512], g_key[512], g_ca[512];
static const char *g_dir;

static int group_setup(void **state)
{
    g_dir = getenv("QKD_TEST_CERTS");
    if (!g_dir || !*g_dir) return -1;
    snprintf(g_cert, sizeof g_cert, "%s/alice/client.pem", g_dir);
    snprintf(g_key, sizeof g_key, "%s/alice/client.key", g_dir);
    snprintf(g_ca, sizeof g_ca, "%s/ca.pem", g_dir);
    return 0;
}

static struct qkd004_conn *new_conn(const char *addr, uint32_t connect_ms)
{
    struct qkd004_config cfg = {
        .server = addr, .cert = g_cert, .key = g_key, .ca = g_ca, .connect_timeout_ms = connect_ms};
    char err[256];
    struct qkd004_conn *c = qkd004_new(&cfg, err, sizeof err);
    if (!c) fail_msg("qkd004_new: %s", err);
    return c;
}

/* A TCP listener on 127.0.0.1 that accepts (via the backlog) but never answers. */
static int mute_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void test_split_addr(void **state)
{
    char h[64], p[16];
    assert_int_equal(qkd004_split_addr("127.0.0.1:25575", h, sizeof h, p, sizeof p), 0);
    assert_string_equal(h, "127.0.0.1");
    assert_string_equal(p, "25575");
    assert_int_equal(qkd004_split_addr("[::1]:1", h, sizeof h, p, sizeof p), 0);
    assert_string_equal(h, "::1");
    assert_string_equal(p, "1");
    assert_int_equal(qkd004_split_addr("kme_alice:65535", h, sizeof h, p, sizeof p), 0);
    assert_int_equal(qkd004_split_addr("host:65536", h, sizeof h, p, sizeof p), -1);
    assert_int_equal(qkd004_split_addr("host:0", h, sizeof h, p, sizeof p), -1);
    assert_int_equal(qkd004_split_addr("host", h, sizeof h, p, sizeof p), -1);
    assert_int_equal(qkd004_split_addr(":80", h, sizeof h, p, sizeof p), -1);
    assert_int_equal(qkd004_split_addr("host:", h, sizeof h, p, sizeof p), -1);
    assert_int_equal(qkd004_split_addr("host:8x", h, sizeof h, p, sizeof p), -1);
    assert_int_equal(qkd004_split_addr("::1:80", h, sizeof h, p, sizeof p), -1);
    assert_int_equal(qkd004_split_addr("[::1]80", h, sizeof h, p, sizeof p), -1);
    assert_int_equal(qkd004_split_addr(NULL, h, sizeof h, p, sizeof p), -1);
    /* host buffer limit: 3 chars + NUL fit in 4, 4 chars do not */
    assert_int_equal(qkd004_split_addr("abc:1", h, 4, p, sizeof p), 0);
    assert_int_equal(qkd004_split_addr("abcd:1", h, 4, p, sizeof p), -1);
}

static void test_connect_refused(void **state)
{
    int port;
    int fd = mute_listener(&port);
    close(fd); /* nothing listens there now */
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    struct qkd004_conn *c = new_conn(addr, 2000);
    assert_int_equal(qkd004_connect(c), QKD004_ERR_CONNECT);
    assert_non_null(strstr(qkd004_last_error(c), "cannot connect to 127.0.0.1"));
    uint32_t st = 99;
    struct qkd_ksid k;
    memset(&k, 0, sizeof k);
    assert_int_equal(qkd004_close(c, &k, &st), QKD004_ERR_CONNECT);
    assert_int_equal(st, 99); /* no status without an answer */
    qkd004_free(c);
}

static void test_unresolvable(void **state)
{
    struct qkd004_conn *c = new_conn("no-such-host.invalid:25575", 2000);
    assert_int_equal(qkd004_connect(c), QKD004_ERR_CONNECT);
    assert_non_null(strstr(qkd004_last_error(c), "cannot resolve"));
    qkd004_free(c);
}

static void test_handshake_timeout(void **state)
{
    int port;
    int lfd = mute_listener(&port);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    struct qkd004_conn *c = new_conn(addr, 300);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(qkd004_connect(c), QKD004_ERR_TIMEOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms >= 250 && ms < 3000);
    assert_non_null(strstr(qkd004_last_error(c), "timed out after 300 ms"));
    assert_false(qkd004_is_connected(c));
    qkd004_free(c);
    close(lfd);
}

static void test_connect_disconnect(void **state)
{
    struct fake_server s;
    assert_int_equal(fake_start(&s, g_dir, NULL, 0), 0);
    /* 10 s: the handshakes run under valgrind on a loaded machine too */
    struct qkd004_conn *c = new_conn(s.addr, 10000);
    assert_int_equal(qkd004_connect(c), QKD004_OK);
    assert_true(qkd004_is_connected(c));
    assert_int_equal(qkd004_connect(c), QKD004_OK); /* already connected: no new one */
    qkd004_disconnect(c);
    assert_false(qkd004_is_connected(c));
    assert_int_equal(qkd004_connect(c), QKD004_OK);
    qkd004_free(c);
    fake_stop(&s);
    assert_int_equal(s.accepted, 2);
}

static void test_strerror(void **state)
{
    assert_string_equal(qkd004_strerror(QKD004_ERR_TIMEOUT), "timeout");
    assert_string_equal(qkd004_strerror(QKD004_OK), "ok");
    assert_string_equal(qkd004_strerror(-99), "unknown error");
    assert_string_equal(qkd004_last_error(NULL), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_addr),         cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_unresolvable),       cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_connect_disconnect), cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
