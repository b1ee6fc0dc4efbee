/* test_conn.c: unit tests of conn.c: TLS server and client connections on one event loop
 * over 127.0.0.1 (fixture in conn_env.c): handshake and peer names, 1000 frames of random
 * sizes, the maximum payload edge, refused peers (other CA, no certificate), the idle and
 * handshake timers, a plain-TCP garbage sender beside a good connection, port probes, closing
 * from inside callbacks, a refused connect and bad arguments. Pause/resume, large frames and
 * the output limit are in test_conn_pause.c; the socket helpers in test_sock.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <openssl/err.h>

#include "conn.h"
#include "sock.h"
#include "evloop.h"
#include "log.h"
#include "tls.h"

#include "conn_env.h"

static void test_handshake_names_group(void **state)
{
    struct env *e = *state;
    connect_client(e, e->cctx);
    /* queued before the TCP connect and the handshake finished: sent once open */
    assert_int_equal(send_pattern(e->cli.c, 0, 5000), 0);
    g_want_frames = 1;
    assert_true(run_until(e, srv_has_frames, 5000));
    assert_int_equal(e->srv[0].frames, 1);
    assert_int_equal(e->srv[0].bad, 0);
    assert_true(both_open(e));
    assert_string_equal(e->srv[0].peer, "bob");
    assert_string_equal(e->cli.peer, "alice");
    assert_string_equal(SSL_get0_group_name(qkd_conn_ssl(e->cli.c)), "X25519MLKEM768");
    assert_string_equal(qkd_tls_group_name(qkd_conn_ssl(e->srv[0].c)), "X25519MLKEM768");
    assert_int_equal(SSL_version(qkd_conn_ssl(e->cli.c)), TLS1_3_VERSION);
    assert_non_null(strstr(qkd_conn_peer_addr(e->srv[0].c), "127.0.0.1:"));
    char expect[32];
    snprintf(expect, sizeof(expect), "127.0.0.1:%d", e->port);
    assert_string_equal(qkd_conn_peer_addr(e->cli.c), expect);
    /* close from outside any callback: on_close runs before qkd_conn_close returns */
    qkd_conn_close(e->cli.c, "bye");
    assert_int_equal(e->cli.closed, 1);
    assert_string_equal(e->cli.reason, "bye");
    assert_true(run_until(e, srv_closed, 5000));
    assert_string_equal(e->srv[0].reason, "peer closed");
    assert_int_equal(e->srv[0].bad, 0);
}

static void test_1000_frames_random_sizes(void **state)
{
    struct env *e = *state;
    connect_client(e, e->cctx);
    assert_true(run_until(e, both_open, 5000));
    e->srv[0].echo = 1;
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    const uint32_t max = QKD_WIRE_DEFAULT_MAX_PAYLOAD;
    uint64_t total = 0;
    uint64_t t0 = qkd_now_ms();
    /* in batches of 100 (about 3 MiB), below the 16 MiB output limit */
    for (uint32_t i = 0; i < 1000; i++) {
        uint32_t len;
        switch (i % 10) {
        case 0:
            len = max; /* exactly the limit */
            break;
        case 1:
            len = (uint32_t)(i % 3); /* 0, 1, 2 */
            break;
        case 2:
            len = max - 1;
            break;
        default:
            len = (uint32_t)(rng_next(&rng) % (max + 1));
        }
        total += len;
        assert_int_equal(send_pattern(e->cli.c, i, len), 0);
        if (i % 100 == 99) {
            g_sent = i + 1;
            assert_true(run_until(e, echo_done, 30000));
        }
    }
    uint64_t dt = qkd_now_ms() - t0;
    fprintf(stderr, "1000 frames echoed: %.1f MiB each way in %lu ms\n",
            (double)total / (1024.0 * 1024.0), (unsigned long)dt);
    assert_int_equal(e->srv[0].frames, 1000);
    assert_int_equal(e->cli.frames, 1000);
    assert_int_equal(e->srv[0].bytes, total);
    assert_int_equal(e->cli.bytes, total);
    assert_int_equal(e->srv[0].bad, 0);
    assert_int_equal(e->cli.bad, 0);
    assert_int_equal(e->cli.closed, 0);
    assert_int_equal(e->srv[0].closed, 0);
    assert_int_equal(qkd_conn_pending_output(e->cli.c), 0);
}

static void test_max_plus_one_closes(void **state)
{
    struct env *e = *state;
    connect_client(e, e->cctx);
    assert_true(run_until(e, both_open, 5000));
    /* exactly the maximum is delivered */
    assert_int_equal(send_pattern(e->cli.c, 0, QKD_WIRE_DEFAULT_MAX_PAYLOAD), 0);
    /* one more byte announced: the server closes without delivering it */
    uint8_t hdr[8] = {1, 0, 1, 1, 0, 0x01, 0x00, 0x01};
    assert_int_equal(qkd_conn_send(e->cli.c, hdr, sizeof(hdr)), 0);
    assert_true(run_until(e, both_closed, 5000));
    assert_int_equal(e->srv[0].frames, 1);
    assert_int_equal(e->srv[0].bad, 0);
    assert_string_equal(e->srv[0].reason, "frame too large (65537 > 65536)");
    assert_int_equal(e->srv[0].closed, 1);
    assert_int_equal(e->cli.closed, 1);
}

static void test_custom_max_payload(void **state)
{
    struct env *e = *state;
    e->slim.max_payload = 100;
    connect_client(e, e->cctx);
    assert_true(run_until(e, both_open, 5000));
    assert_int_equal(send_pattern(e->cli.c, 0, 100), 0);
    assert_int_equal(send_pattern(e->cli.c, 1, 101), 0);
    assert_true(run_until(e, srv_closed, 5000));
    assert_int_equal(e->srv[0].frames, 1);
    assert_string_equal(e->srv[0].reason, "frame too large (101 > 100)");
}

static void test_other_ca_client_refused(void **state)
{
    struct env *e = *state;
    SSL_CTX *stranger =
        ctx_from(0, g_other, "clients/stranger.pem", "clients/stranger.key", g_certs);
    connect_client(e, stranger);
    assert_true(run_until(e, both_closed, 5000));
    assert_int_equal(e->srv[0].opened, 0);
    assert_non_null(strstr(e->srv[0].reason, "TLS handshake failed"));
    assert_non_null(strstr(e->srv[0].reason, "certificate"));
    assert_int_equal(e->srv[0].frames, 0);
    SSL_CTX_free(stranger);
}

static void test_server_of_other_ca_refused(void **state)
{
    struct env *e = *state;
    SSL_CTX_free(e->sctx);
    e->sctx = ctx_from(1, g_other, "stranger-node/node.pem", "stranger-node/node.key", g_certs);
    connect_client(e, e->cctx);
    assert_true(run_until(e, both_closed, 5000));
    assert_int_equal(e->cli.opened, 0);
    assert_non_null(strstr(e->cli.reason, "certificate verify failed"));
}

static void test_no_client_cert_refused(void **state)
{
    struct env *e = *state;
    SSL_CTX *bare = SSL_CTX_new(TLS_client_method());
    assert_non_null(bare);
    char a[1200];
    assert_int_equal(
        SSL_CTX_load_verify_locations(bare, cpath(a, sizeof(a), g_certs, "ca.pem"), NULL), 1);
    SSL_CTX_set_verify(bare, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_min_proto_version(bare, TLS1_3_VERSION);
    connect_client(e, bare);
    assert_true(run_until(e, both_closed, 5000));
    assert_int_equal(e->srv[0].opened, 0);
    assert_non_null(strstr(e->srv[0].reason, "TLS handshake failed"));
    SSL_CTX_free(bare);
}

static void test_idle_half_frame(void **state)
{
    struct env *e = *state;
    e->slim.idle_ms = 200;
    connect_client(e, e->cctx);
    assert_true(run_until(e, both_open, 5000));
    /* one whole frame, then half a frame, then silence */
    assert_int_equal(send_pattern(e->cli.c, 0, 10), 0);
    uint8_t half[12] = {1, 0, 1, 1, 0, 0, 0, 100, 1, 2, 3, 4};
    assert_int_equal(qkd_conn_send(e->cli.c, half, sizeof(half)), 0);
    uint64_t t0 = qkd_now_ms();
    assert_true(run_until(e, srv_closed, 5000));
    uint64_t dt = qkd_now_ms() - t0;
    assert_string_equal(e->srv[0].reason, "idle timeout");
    assert_int_equal(e->srv[0].frames, 1);
    assert_true(dt >= 150);
    assert_true(dt < 2000);
    assert_true(run_until(e, both_closed, 5000));
}

static void test_handshake_timeout(void **state)
{
    struct env *e = *state;
    e->slim.handshake_ms = 150;
    char addr[64], err[256];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", e->port);
    int fd = qkd_tcp_connect_nb(addr, err, sizeof(err)); /* plain TCP that says nothing */
    assert_true(fd >= 0);
    uint64_t t0 = qkd_now_ms();
    assert_true(run_until(e, srv_closed, 5000));
    assert_string_equal(e->srv[0].reason, "TLS handshake timeout");
    assert_true(qkd_now_ms() - t0 >= 100);
    close(fd);
}

static int garbage_done(struct env *e)
{
    return e->nsrv >= 2 && e->srv[1].closed && e->cli.frames >= g_sent;
}

static void test_garbage_beside_good(void **state)
{
    struct env *e = *state;
    connect_client(e, e->cctx);
    assert_true(run_until(e, both_open, 5000));
    e->srv[0].echo = 1;

    char addr[64], err[256];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", e->port);
    int fd = qkd_tcp_connect_nb(addr, err, sizeof(err));
    assert_true(fd >= 0);
    run_loop_once(e->loop, 20); /* connected and accepted */
    assert_int_equal(e->nsrv, 2);
    static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03\x01\xff\xff garbage";
    assert_true(write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk));

    for (uint32_t i = 0; i < 50; i++)
        assert_int_equal(send_pattern(e->cli.c, i, 1000 + i), 0);
    g_sent = 50;
    assert_true(run_until(e, garbage_done, 10000));
    assert_non_null(strstr(e->srv[1].reason, "TLS handshake failed"));
    assert_int_equal(e->srv[1].opened, 0);
    assert_int_equal(e->cli.frames, 50);
    assert_int_equal(e->cli.bad, 0);
    assert_int_equal(e->srv[0].closed, 0);
    assert_int_equal(e->cli.closed, 0);
    /* the garbage sender sees its connection closed */
    char b[64];
    ssize_t n;
    do {
        n = read(fd, b, sizeof(b));
    } while (n > 0);
    assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
    close(fd);
}

static int probe_done(struct env *e)
{
    return e->nsrv >= 1 && e->srv[0].closed;
}

/* A TCP connect-and-close without a byte (a port probe, a TCP health check) is told apart
 * from a failed handshake: a reason of its own (logged at DEBUG, not WARN). */
static void test_port_probe(void **state)
{
    struct env *e = *state;
    char addr[64], err[256];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", e->port);
    int fd = qkd_tcp_connect_nb(addr, err, sizeof(err));
    assert_true(fd >= 0);
    run_loop_once(e->loop, 20); /* connected and accepted */
    close(fd);
    assert_true(run_until(e, probe_done, 5000));
    assert_int_equal(e->srv[0].opened, 0);
    assert_non_null(strstr(e->srv[0].reason, "closed before the TLS handshake"));
    assert_null(strstr(e->srv[0].reason, "TLS handshake failed"));
}

static void test_close_inside_on_frame(void **state)
{
    struct env *e = *state;
    connect_client(e, e->cctx);
    assert_true(run_until(e, both_open, 5000));
    e->srv[0].close_at = 3;
    e->srv[0].reply_then_close = 1;
    for (uint32_t i = 0; i < 20; i++)
        assert_int_equal(send_pattern(e->cli.c, i, 100), 0);
    assert_true(run_until(e, both_closed, 5000));
    assert_int_equal(e->srv[0].frames, 3); /* nothing delivered after the close */
    assert_int_equal(e->srv[0].closed, 1);
    assert_string_equal(e->srv[0].reason, "closed in on_frame");
    assert_int_equal(e->srv[0].send_after_close, -1);
    assert_int_equal(e->srv[0].bad, 0);
    /* the reply queued before the close was flushed before close_notify */
    assert_int_equal(e->cli.frames, 1);
    assert_int_equal(e->cli.bytes, 1000);
    assert_int_equal(e->cli.bad, 0);
    assert_string_equal(e->cli.reason, "peer closed");
    assert_int_equal(e->cli.closed, 1);
}

static void test_abort_inside_on_frame(void **state)
{
    struct env *e = *state;
    connect_client(e, e->cctx);
    assert_true(run_until(e, both_open, 5000));
    e->srv[0].abort_at = 2;
    for (uint32_t i = 0; i < 10; i++)
        assert_int_equal(send_pattern(e->cli.c, i, 10), 0);
    assert_true(run_until(e, both_closed, 5000));
    assert_int_equal(e->srv[0].frames, 2);
    assert_int_equal(e->srv[0].closed, 1);
    assert_string_equal(e->srv[0].reason, "aborted in on_frame");
}

static void test_peer_abort_without_close_notify(void **state)
{
    struct env *e = *state;
    connect_client(e, e->cctx);
    assert_true(run_until(e, both_open, 5000));
    qkd_conn_abort(e->cli.c, "gone");
    assert_int_equal(e->cli.closed, 1);
    assert_string_equal(e->cli.reason, "gone");
    assert_true(run_until(e, srv_closed, 5000));
    assert_string_equal(e->srv[0].reason, "peer closed without close_notify");
}

static void test_close_inside_on_open(void **state)
{
    struct env *e = *state;
    e->srv[0].close_in_open = 1; /* srv[0] is the first accepted conn */
    connect_client(e, e->cctx);
    assert_true(run_until(e, both_closed, 5000));
    assert_int_equal(e->srv[0].opened, 1);
    assert_int_equal(e->srv[0].closed, 1);
    assert_string_equal(e->srv[0].reason, "closed in on_open");
}

static int cli_closed(struct env *e)
{
    return e->cli.closed;
}

static void test_connect_refused(void **state)
{
    struct env *e = *state;
    char err[256];
    int lfd = qkd_tcp_listen("127.0.0.1:0", 1, err, sizeof(err));
    assert_true(lfd >= 0);
    int port = qkd_tcp_local_port(lfd);
    close(lfd); /* nobody listens there now */
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    int fd = qkd_tcp_connect_nb(addr, err, sizeof(err));
    assert_true(fd >= 0);
    e->cli.c = qkd_conn_new(e->loop, e->cctx, fd, 0, &e->clim, &g_ops, &e->cli);
    assert_non_null(e->cli.c);
    assert_true(run_until(e, cli_closed, 5000));
    assert_non_null(strstr(e->cli.reason, "connect failed"));
    assert_int_equal(e->cli.opened, 0);
}

static void test_bad_args(void **state)
{
    struct env *e = *state;
    assert_null(qkd_conn_new(e->loop, e->sctx, -1, 1, NULL, &g_ops, NULL));
    assert_null(qkd_conn_new(e->loop, NULL, -1, 1, NULL, &g_ops, NULL));
    assert_int_equal(qkd_conn_send(NULL, (const uint8_t *)"x", 1), -1);
    qkd_conn_close(NULL, "x");
    qkd_conn_pause(NULL);
    qkd_conn_resume(NULL);
    assert_null(qkd_conn_ssl(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENV_TEST(test_handshake_names_group),
        ENV_TEST(test_1000_frames_random_sizes),
        ENV_TEST(test_max_plus_one_closes),
        ENV_TEST(test_custom_max_payload),
        ENV_TEST(test_other_ca_client_refused),
        ENV_TEST(test_server_of_other_ca_refused),
        ENV_TEST(test_no_client_cert_refused),
        ENV_TEST(test_idle_half_frame),
        ENV_TEST(test_handshake_timeout),
        ENV_TEST(test_garbage_beside_good),
        ENV_TEST(test_port_probe),
        ENV_TEST(test_close_inside_on_frame),
        ENV_TEST(test_abort_inside_on_frame),
        ENV_TEST(test_close_inside_on_open),
        ENV_TEST(test_peer_abort_without_close_notify),
        ENV_TEST(test_connect_refused),
        ENV_TEST(test_bad_args),
    };
    return cmocka_run_group_tests(tests, setup_certs, NULL);
}
