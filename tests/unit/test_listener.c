/* test_listener.c: unit tests of listener.c and conn.c's handshake group on one event loop over
 * 127.0.0.1: the connection cap at its edge (max_conns taken, one more refused, room again after
 * qkd_listener_gone), the handshake cap (connections that never start their handshake: the
 * oldest is closed for a new one, so a real client still gets through; one that has sent a
 * byte is spared while a silent one is left), accept going on after
 * ECONNABORTED-like resets, and EMFILE: the listener stops watching its socket for
 * fd_backoff_ms instead of spinning the loop, then serves the waiting clients once descriptors
 * are free again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "conn.h"
#include "evloop.h"
#include "listener.h"
#include "log.h"
#include "sock.h"
#include "tls.h"

#define MAXC 64

struct env {
    struct qkd_loop *loop;
    SSL_CTX *sctx, *cctx;
    struct qkd_listener *lst;
    int tls;       /* on_accept makes a server qkd_conn (else keeps the fd) */
    int fds[MAXC]; /* plain: accepted fds */
    struct qkd_conn *conns[MAXC];
    char reasons[MAXC][128];
    int nacc, nopen, nclosed;
    struct qkd_conn *cli;
    int cli_open, cli_closed;
    uint64_t stop_at;
};

static struct env g;
static char g_certs[1024];

static SSL_CTX *ctx_from(int server, const char *who)
{
    char c[1200], k[1200], a[1200], err[512];
    snprintf(c, sizeof(c), "%s/%s/node.pem", g_certs, who);
    snprintf(k, sizeof(k), "%s/%s/node.key", g_certs, who);
    snprintf(a, sizeof(a), "%s/ca.pem", g_certs);
    struct qkd_tls_files f = {c, k, a};
    SSL_CTX *ctx = qkd_tls_ctx_new(server != 0, &f, err, sizeof(err));
    assert_non_null(ctx);
    return ctx;
}

static void srv_open(struct qkd_conn *c, void *arg)
{
    g.nopen++;
}

static int srv_frame(struct qkd_conn *c, const struct qkd_wire_hdr *h, const uint8_t *p, void *arg)
{
    return 0;
}

static void srv_close(struct qkd_conn *c, const char *reason, void *arg)
{
    int i = (int)(intptr_t)arg;
    snprintf(g.reasons[i], sizeof(g.reasons[i]), "%s", reason);
    g.conns[i] = NULL;
    g.nclosed++;
    qkd_listener_gone(g.lst);
}

static const struct qkd_conn_ops srv_ops = {srv_open, srv_frame, srv_close, NULL};

static void cli_open(struct qkd_conn *c, void *arg)
{
    g.cli_open++;
}

static void cli_close(struct qkd_conn *c, const char *reason, void *arg)
{
    g.cli_closed++;
    g.cli = NULL;
}

static const struct qkd_conn_ops cli_ops = {cli_open, srv_frame, cli_close, NULL};

static int on_accept(struct qkd_listener *l, int fd, void *arg)
{
    if (g.nacc >= MAXC) {
        close(fd);
        return -1;
    }
    int i = g.nacc++;
    if (!g.tls) {
        g.fds[i] = fd;
        return 0;
    }
    struct qkd_conn_limits lim = {.hs_group = qkd_listener_hs_group(l)};
    g.conns[i] = qkd_conn_new(g.loop, g.sctx, fd, 1, &lim, &srv_ops, (void *)(intptr_t)i);
    return g.conns[i] ? 0 : -1;
}

static void stop_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    qkd_loop_stop(loop);
}

static void run_ms(uint64_t ms)
{
    qkd_loop_add_timer(g.loop, ms, stop_cb, NULL);
    qkd_loop_run(g.loop);
}

static int setup_certs(void **state)
{
    const char *d = getenv("QKD_TEST_CERTS");
    if (d == NULL || d[0] == '\0') return -1;
    snprintf(g_certs, sizeof(g_certs), "%s", d);
    qkd_log_set_level(QKD_LOG_ERROR);
    return 0;
}

static void start(const struct qkd_listener_cfg *cfg, int tls)
{
    memset(&g, 0, sizeof(g));
    g.loop = qkd_loop_new();
    assert_non_null(g.loop);
    g.tls = tls;
    if (tls) {
        g.sctx = ctx_from(1, "alice");
        g.cctx = ctx_from(0, "bob");
    }
    char err[256];
    g.lst = qkd_listener_new(g.loop, cfg, on_accept, NULL, err, sizeof(err));
    assert_non_null(g.lst);
}

static int teardown(void **state)
{
    if (g.cli) qkd_conn_abort(g.cli, "done");
    for (int i = 0; i < g.nacc; i++) {
        if (g.conns[i]) qkd_conn_abort(g.conns[i], "done");
        if (!g.tls && g.fds[i] > 0) close(g.fds[i]);
    }
    qkd_listener_free(g.lst);
    qkd_loop_free(g.loop);
    SSL_CTX_free(g.sctx);
    SSL_CTX_free(g.cctx);
    memset(&g, 0, sizeof(g)); /* a test that returns before start() leaves nothing to free */
    return 0;
}

/* A blocking TCP connection to the listener (the kernel completes it into the backlog). */
static int raw_connect(void)
{
    char addr[64], err[256];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", qkd_listener_port(g.lst));
    int fd = qkd_tcp_connect_nb(addr, err, sizeof(err));
    assert_true(fd >= 0);
    return fd;
}

/* Whether the server closed fd (EOF or reset), waiting up to 1 s. */
static int peer_closed(int fd)
{
    char b;
    for (int i = 0; i < 100; i++) {
        ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return 1;
        run_ms(10);
    }
    return 0;
}

static void test_max_conns_edge(void **state)
{
    struct qkd_listener_cfg cfg = {.addr = "127.0.0.1:0", .name = "test", .max_conns = 2};
    start(&cfg, 0);
    int c[4];
    for (int i = 0; i < 3; i++)
        c[i] = raw_connect();
    run_ms(100);
    assert_int_equal(g.nacc, 2); /* exactly max_conns taken */
    assert_int_equal(qkd_listener_count(g.lst), 2);
    assert_true(peer_closed(c[2])); /* the one beyond is accepted and closed */
    close(g.fds[0]);
    g.fds[0] = -1;
    qkd_listener_gone(g.lst);
    c[3] = raw_connect();
    run_ms(100);
    assert_int_equal(g.nacc, 3); /* room again */
    assert_false(peer_closed(c[3]));
    for (int i = 0; i < 4; i++)
        close(c[i]);
}

static void test_handshake_cap_evicts_oldest(void **state)
{
    struct qkd_listener_cfg cfg = {.addr = "127.0.0.1:0", .name = "test", .max_handshakes = 2};
    start(&cfg, 1);
    int raw[3];
    for (int i = 0; i < 3; i++) {
        raw[i] = raw_connect(); /* connects, never sends a ClientHello */
        run_ms(30);
    }
    assert_int_equal(g.nacc, 3);
    assert_int_equal(g.nclosed, 1);
    assert_string_equal(g.reasons[0], "handshake limit"); /* the oldest made room */
    assert_int_equal(qkd_listener_hs_group(g.lst)->n, 2);
    assert_true(peer_closed(raw[0]));
    /* A real client still gets through: its handshake closes the oldest idle one. */
    char addr[64], err[256];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", qkd_listener_port(g.lst));
    int fd = qkd_tcp_connect_nb(addr, err, sizeof(err));
    assert_true(fd >= 0);
    g.cli = qkd_conn_new(g.loop, g.cctx, fd, 0, NULL, &cli_ops, NULL);
    assert_non_null(g.cli);
    for (int i = 0; i < 200 && !(g.cli_open && g.nopen); i++)
        run_ms(10);
    assert_int_equal(g.cli_open, 1);
    assert_int_equal(g.nopen, 1);
    assert_int_equal(qkd_listener_hs_group(g.lst)->n, 1); /* raw[2] still waits */
    assert_string_equal(g.reasons[1], "handshake limit");
    assert_true(qkd_listener_hs_group(g.lst)->evicted >= 2);
    for (int i = 0; i < 3; i++)
        close(raw[i]);
}

static void test_handshake_cap_spares_talkers(void **state)
{
    struct qkd_listener_cfg cfg = {.addr = "127.0.0.1:0", .name = "test", .max_handshakes = 2};
    start(&cfg, 1);
    int talker = raw_connect(); /* the oldest, but it has started a handshake */
    run_ms(30);
    const uint8_t rec = 0x16; /* the first byte of a TLS record: the server waits for more */
    assert_int_equal(send(talker, &rec, 1, 0), 1);
    run_ms(30);
    int idle = raw_connect();
    run_ms(30);
    int third = raw_connect();
    run_ms(30);
    assert_int_equal(g.nclosed, 1);
    assert_string_equal(g.reasons[1], "handshake limit"); /* the silent one, not the oldest */
    assert_true(g.conns[0] != NULL);
    assert_true(peer_closed(idle));
    close(talker);
    close(idle);
    close(third);
}

static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}

static void test_emfile_backs_off(void **state)
{
    /* valgrind keeps its own view of RLIMIT_NOFILE (its descriptors sit at the top of the
     * range) and does not give the lowered limit back: the test needs the real one */
    const char *pre = getenv("LD_PRELOAD");
    if (pre && strstr(pre, "vgpreload")) {
        print_message("skipped under valgrind (it virtualises RLIMIT_NOFILE)\n");
        return;
    }
    struct qkd_listener_cfg cfg = {.addr = "127.0.0.1:0", .name = "test", .fd_backoff_ms = 100};
    start(&cfg, 0);
    int c[6];
    for (int i = 0; i < 6; i++)
        c[i] = raw_connect(); /* all wait in the backlog */
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    int probe = open("/dev/null", O_RDONLY);
    assert_true(probe >= 0);
    close(probe);
    low = old;
    low.rlim_cur = (rlim_t)probe + 2; /* two more descriptors, then EMFILE */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    double t0 = cpu_ms();
    run_ms(500);
    double used = cpu_ms() - t0;
    assert_int_equal(g.nacc, 2);
    assert_true(qkd_listener_backoffs(g.lst) >= 2); /* retried every 100 ms ... */
    assert_true(qkd_listener_backoffs(g.lst) <= 8); /* ... not in a tight loop */
    assert_true(used < 150.0);                      /* a spinning loop burns ~500 ms */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    for (int i = 0; i < 100 && g.nacc < 6; i++) /* up to 5 s (valgrind is slow) */
        run_ms(50);
    assert_int_equal(g.nacc, 6); /* it recovers and serves the waiting clients */
    for (int i = 0; i < 6; i++)
        close(c[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_max_conns_edge, teardown),
        cmocka_unit_test_teardown(test_handshake_cap_evicts_oldest, teardown),
        cmocka_unit_test_teardown(test_handshake_cap_spares_talkers, teardown),
        cmocka_unit_test_teardown(test_emfile_backs_off, teardown),
    };
    return cmocka_run_group_tests(tests, setup_certs, NULL);
}
