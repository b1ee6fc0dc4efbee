/* test_sock.c: unit tests of sock.c: listening on IPv4, names and IPv6, address errors, a port
 * in use, connect errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "sock.h"

static void test_socket_helpers(void **state)
{
    char err[256];
    int fd = qkd_tcp_listen("127.0.0.1:0", 4, err, sizeof(err));
    assert_true(fd >= 0);
    assert_true(qkd_tcp_local_port(fd) > 0);
    close(fd);
    fd = qkd_tcp_listen("localhost:0", 4, err, sizeof(err));
    assert_true(fd >= 0);
    close(fd);
    fd = qkd_tcp_listen("[::1]:0", 4, err, sizeof(err));
    if (fd >= 0) { /* IPv6 may be unavailable in a container */
        assert_true(qkd_tcp_local_port(fd) > 0);
        close(fd);
    }
    assert_int_equal(qkd_tcp_listen("127.0.0.1", 4, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "127.0.0.1"));
    assert_int_equal(qkd_tcp_listen("127.0.0.1:65536", 4, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "port"));
    assert_int_equal(qkd_tcp_listen("127.0.0.1:http", 4, err, sizeof(err)), -1);
    assert_int_equal(qkd_tcp_listen("::1:80", 4, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "[addr]:port"));
    assert_int_equal(qkd_tcp_listen("[::1:80", 4, err, sizeof(err)), -1);
    assert_int_equal(qkd_tcp_connect_nb("", err, sizeof(err)), -1);
    assert_int_equal(qkd_tcp_connect_nb("no-such-host.invalid:80", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no-such-host.invalid"));
    assert_int_equal(qkd_tcp_local_port(-1), -1);
    /* a port in use */
    int a = qkd_tcp_listen("127.0.0.1:0", 4, err, sizeof(err));
    assert_true(a >= 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", qkd_tcp_local_port(a));
    assert_int_equal(qkd_tcp_listen(addr, 4, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot listen"));
    close(a);
    assert_int_equal(qkd_tcp_accept(-1), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_socket_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
