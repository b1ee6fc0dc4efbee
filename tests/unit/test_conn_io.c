/* test_conn_io.c: unit tests of conn_io.c's back-pressure (conn.h out_high) over 127.0.0.1: a
 * client pipelines 2000 frames of 16 kB (more than the kernel buffers hold) without reading the
 * echoes; the echoing server's queued output never passes out_high by more than one answer (it
 * stops reading instead of growing to max_outbuf), the connection stays up, and once the client
 * reads again every frame is answered, in order. With out_high 0 (off) the same client makes the
 * output grow past it. Byte-stream mode (ops.on_data): bytes a handler leaves unconsumed are
 * kept and offered again with what follows; unconsumed input at its bound (max_payload + 8)
 * is kept, one byte more closes; QKD_CONN_DATA_CLOSE closes after flushing the answer; a
 * paused conn holds later bytes until resumed; qkd_conn_touch keeps an idle conn open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "conn.h"
#include "evloop.h"
#include "log.h"
#include "sock.h"
#include "tls.h"

#define NFRAMES 2000u
#define FLEN    16000u
#define HIGH    (64u * 1024u)

static const uint8_t VER[3] = {1, 0, 1};
static char g_certs[1024];

struct side {
    struct qkd_conn *c;
    uint32_t frames, bad;
    int opened, closed;
    size_t max_out; /* server: most output seen queued */
    int throttled;  /* server: back-pressure seen */
};

static struct side g_srv, g_cli;
static struct qkd_loop *g_loop;
static SSL_CTX *g_sctx, *g_cctx;
static size_t g_out_high;

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

static void on_open(struct qkd_conn *c, void *arg)
{
    ((struct side *)arg)->opened = 1;
}

static int on_frame(struct qkd_conn *c, const struct qkd_wire_hdr *h, const uint8_t *p, void *arg)
{
    struct side *s = arg;
    if (h->payload_len != FLEN || p[0] != (uint8_t)s->frames) s->bad++;
    s->frames++;
    if (s == &g_srv) {
        if (qkd_conn_send_msg(c, VER, h->service, p, h->payload_len) != 0) s->bad++;
        size_t out = qkd_conn_pending_output(c);
        if (out > s->max_out) s->max_out = out;
        if (qkd_conn_throttled(c)) s->throttled = 1;
    }
    return 0;
}

static void on_close(struct qkd_conn *c, const char *reason, void *arg)
{
    struct side *s = arg;
    s->closed = 1;
    s->c = NULL;
}

static const struct qkd_conn_ops ops = {on_open, on_frame, on_close, NULL};

static void on_accept(struct qkd_loop *loop, int fd, int events, void *arg)
{
    int cfd = qkd_tcp_accept(fd);
    if (cfd < 0) return;
    struct qkd_conn_limits lim = {.out_high = g_out_high};
    g_srv.c = qkd_conn_new(loop, g_sctx, cfd, 1, &lim, &ops, &g_srv);
}

static void stop_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    qkd_loop_stop(loop);
}

static void run_ms(uint64_t ms)
{
    qkd_loop_add_timer(g_loop, ms, stop_cb, NULL);
    qkd_loop_run(g_loop);
}

static int setup(void **state)
{
    const char *d = getenv("QKD_TEST_CERTS");
    if (d == NULL || d[0] == '\0') return -1;
    snprintf(g_certs, sizeof(g_certs), "%s", d);
    qkd_log_set_level(QKD_LOG_ERROR);
    return 0;
}

/* Connects, pipelines NFRAMES frames with the client paused (reading nothing more), runs the
 * loop a while, then resumes the client; returns the listening fd for the caller to close. */
static int pipeline(size_t out_high)
{
    memset(&g_srv, 0, sizeof(g_srv));
    memset(&g_cli, 0, sizeof(g_cli));
    g_out_high = out_high;
    g_loop = qkd_loop_new();
    g_sctx = ctx_from(1, "alice");
    g_cctx = ctx_from(0, "bob");
    char err[256], addr[64];
    int lfd = qkd_tcp_listen("127.0.0.1:0", 4, err, sizeof(err));
    assert_true(lfd >= 0);
    assert_int_equal(qkd_loop_add_fd(g_loop, lfd, QKD_EV_READ, on_accept, NULL), 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", qkd_tcp_local_port(lfd));
    int fd = qkd_tcp_connect_nb(addr, err, sizeof(err));
    assert_true(fd >= 0);
    struct qkd_conn_limits clim = {.max_outbuf = 64u * 1024 * 1024};
    g_cli.c = qkd_conn_new(g_loop, g_cctx, fd, 0, &clim, &ops, &g_cli);
    assert_non_null(g_cli.c);
    for (int i = 0; i < 200 && !(g_cli.opened && g_srv.opened); i++)
        run_ms(10);
    assert_true(g_cli.opened && g_srv.opened);
    qkd_conn_pause(g_cli.c); /* the client stops reading its answers */
    uint8_t buf[FLEN];
    for (uint32_t i = 0; i < NFRAMES; i++) {
        memset(buf, (int)(uint8_t)i, sizeof(buf));
        assert_int_equal(qkd_conn_send_msg(g_cli.c, VER, 1, buf, FLEN), 0);
    }
    /* until the outcome shows (also under valgrind, where TLS runs far slower): throttled, or
     * the answers piled up past 4 x HIGH, or everything answered; at most 20 s */
    for (int i = 0; i < 2000; i++) {
        run_ms(10);
        if (g_srv.throttled || g_srv.max_out > 4 * HIGH || g_srv.frames == NFRAMES) break;
    }
    run_ms(100);
    return lfd;
}

static void finish(int lfd)
{
    if (g_cli.c) qkd_conn_abort(g_cli.c, "done");
    if (g_srv.c) qkd_conn_abort(g_srv.c, "done");
    qkd_loop_del_fd(g_loop, lfd);
    close(lfd);
    qkd_loop_free(g_loop);
    SSL_CTX_free(g_sctx);
    SSL_CTX_free(g_cctx);
}

static void test_pipelining_client_is_throttled(void **state)
{
    int lfd = pipeline(HIGH);
    assert_false(g_srv.closed);
    assert_true(g_srv.throttled);
    assert_true(g_srv.frames < NFRAMES); /* it stopped reading */
    /* the edge: above out_high by at most the one answer that crossed it */
    assert_true(g_srv.max_out > HIGH);
    assert_true(g_srv.max_out <= HIGH + QKD_WIRE_HDR_LEN + FLEN);
    qkd_conn_resume(g_cli.c); /* the client reads again: everything is answered */
    for (int i = 0; i < 500 && g_cli.frames < NFRAMES; i++)
        run_ms(10);
    assert_int_equal(g_srv.frames, NFRAMES);
    assert_int_equal(g_cli.frames, NFRAMES);
    assert_int_equal(g_srv.bad, 0);
    assert_int_equal(g_cli.bad, 0);
    assert_false(qkd_conn_throttled(g_srv.c));
    finish(lfd);
}

static void test_off_grows_output(void **state)
{
    int lfd = pipeline(0);
    assert_false(g_srv.throttled);
    assert_true(g_srv.max_out > 4 * HIGH); /* without back-pressure the answers pile up */
    finish(lfd);
}

/* ---- byte-stream mode ---- */

struct bside {
    struct qkd_conn *c;
    int opened, closed;
    char reason[160];
    char lines[8][32]; /* server: the lines consumed */
    int nlines;
    char offers[8][32]; /* server: what each on_data call was offered (short ones) */
    int calls;
    char seen[256]; /* client: the bytes received */
    size_t seen_len;
};

static struct bside g_bs, g_bc;
static struct qkd_conn_limits g_blim;

static void b_open(struct qkd_conn *c, void *arg)
{
    ((struct bside *)arg)->opened = 1;
}

static void b_close(struct qkd_conn *c, const char *reason, void *arg)
{
    struct bside *s = arg;
    s->closed = 1;
    snprintf(s->reason, sizeof(s->reason), "%s", reason);
    s->c = NULL;
}

/* Server: consumes whole lines only. "quit" answers "bye" and closes; "wait" pauses. */
static size_t bsrv_data(struct qkd_conn *c, const uint8_t *data, size_t len, void *arg)
{
    struct bside *s = arg;
    if (s->calls < 8) snprintf(s->offers[s->calls], 32, "%.*s", (int)(len < 31 ? len : 31), data);
    s->calls++;
    size_t used = 0;
    const uint8_t *nl;
    while ((nl = memchr(data + used, '\n', len - used)) != NULL) {
        size_t n = (size_t)(nl - (data + used));
        char line[32];
        snprintf(line, sizeof(line), "%.*s", (int)(n < 31 ? n : 31), data + used);
        used += n + 1;
        if (strcmp(line, "quit") == 0) {
            assert_int_equal(qkd_conn_send(c, (const uint8_t *)"bye\n", 4), 0);
            return QKD_CONN_DATA_CLOSE;
        }
        if (s->nlines < 8) snprintf(s->lines[s->nlines++], 32, "%s", line);
        if (strcmp(line, "wait") == 0) {
            qkd_conn_pause(c);
            return used;
        }
    }
    return used;
}

static size_t bcli_data(struct qkd_conn *c, const uint8_t *data, size_t len, void *arg)
{
    struct bside *s = arg;
    size_t n = len < sizeof(s->seen) - 1 - s->seen_len ? len : sizeof(s->seen) - 1 - s->seen_len;
    memcpy(s->seen + s->seen_len, data, n);
    s->seen_len += n;
    return len;
}

static const struct qkd_conn_ops bsrv_ops = {
    .on_open = b_open, .on_close = b_close, .on_data = bsrv_data};
static const struct qkd_conn_ops bcli_ops = {
    .on_open = b_open, .on_close = b_close, .on_data = bcli_data};

static void b_accept(struct qkd_loop *loop, int fd, int events, void *arg)
{
    int cfd = qkd_tcp_accept(fd);
    if (cfd < 0) return;
    g_bs.c = qkd_conn_new(loop, g_sctx, cfd, 1, &g_blim, &bsrv_ops, &g_bs);
}

/* A byte-mode server (limits g_blim) and client, both open; returns the listening fd. */
static int b_start(void)
{
    memset(&g_bs, 0, sizeof(g_bs));
    memset(&g_bc, 0, sizeof(g_bc));
    g_loop = qkd_loop_new();
    g_sctx = ctx_from(1, "alice");
    g_cctx = ctx_from(0, "bob");
    char err[256], addr[64];
    int lfd = qkd_tcp_listen("127.0.0.1:0", 4, err, sizeof(err));
    assert_true(lfd >= 0);
    assert_int_equal(qkd_loop_add_fd(g_loop, lfd, QKD_EV_READ, b_accept, NULL), 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", qkd_tcp_local_port(lfd));
    int fd = qkd_tcp_connect_nb(addr, err, sizeof(err));
    assert_true(fd >= 0);
    g_bc.c = qkd_conn_new(g_loop, g_cctx, fd, 0, NULL, &bcli_ops, &g_bc);
    assert_non_null(g_bc.c);
    for (int i = 0; i < 200 && !(g_bc.opened && g_bs.opened); i++)
        run_ms(10);
    assert_true(g_bc.opened && g_bs.opened);
    return lfd;
}

static void b_finish(int lfd)
{
    if (g_bc.c) qkd_conn_abort(g_bc.c, "done");
    if (g_bs.c) qkd_conn_abort(g_bs.c, "done");
    for (int i = 0; i < 100 && !(g_bc.closed && g_bs.closed); i++)
        run_ms(10);
    run_ms(50); /* let graceful closes (close_notify, the peer's FIN) finish: no conn leaks */
    qkd_loop_del_fd(g_loop, lfd);
    close(lfd);
    qkd_loop_free(g_loop);
    SSL_CTX_free(g_sctx);
    SSL_CTX_free(g_cctx);
}

static void b_send(const char *s)
{
    assert_int_equal(qkd_conn_send(g_bc.c, (const uint8_t *)s, strlen(s)), 0);
}

static void b_wait_lines(int n)
{
    for (int i = 0; i < 300 && g_bs.nlines < n && !g_bs.closed; i++)
        run_ms(10);
}

static void test_bytes_partial_consume_keeps_rest(void **state)
{
    memset(&g_blim, 0, sizeof(g_blim));
    int lfd = b_start();
    b_send("hello\nwor");
    b_wait_lines(1);
    run_ms(30);
    assert_int_equal(g_bs.nlines, 1);
    assert_string_equal(g_bs.lines[0], "hello");
    assert_int_equal(qkd_conn_pending_input(g_bs.c), 3); /* "wor" kept */
    b_send("ld\n");
    b_wait_lines(2);
    assert_int_equal(g_bs.nlines, 2);
    assert_string_equal(g_bs.lines[1], "world");
    /* the kept bytes were offered again, followed by the new ones */
    assert_string_equal(g_bs.offers[g_bs.calls - 1], "world\n");
    assert_int_equal(qkd_conn_pending_input(g_bs.c), 0);
    assert_false(g_bs.closed);
    b_finish(lfd);
}

static void test_bytes_unconsumed_bound_edge(void **state)
{
    memset(&g_blim, 0, sizeof(g_blim));
    g_blim.max_payload = 100; /* bound: 100 + QKD_WIRE_HDR_LEN unconsumed bytes */
    int lfd = b_start();
    char buf[200];
    memset(buf, 'x', sizeof(buf));
    buf[100 + QKD_WIRE_HDR_LEN] = '\0';
    b_send(buf);
    for (int i = 0; i < 100 && qkd_conn_pending_input(g_bs.c) < 100 + QKD_WIRE_HDR_LEN; i++)
        run_ms(10);
    run_ms(30);
    assert_false(g_bs.closed); /* at the bound: kept */
    assert_int_equal(qkd_conn_pending_input(g_bs.c), 100 + QKD_WIRE_HDR_LEN);
    b_send("x");
    for (int i = 0; i < 300 && !g_bs.closed; i++)
        run_ms(10);
    assert_true(g_bs.closed);
    assert_non_null(strstr(g_bs.reason, "input too large"));
    b_finish(lfd);
}

static void test_bytes_close_flushes_answer(void **state)
{
    memset(&g_blim, 0, sizeof(g_blim));
    int lfd = b_start();
    b_send("a\nquit\nb\n");
    for (int i = 0; i < 300 && !g_bc.closed; i++)
        run_ms(10);
    assert_true(g_bs.closed);
    assert_string_equal(g_bs.reason, "closed by handler");
    assert_int_equal(g_bs.nlines, 1); /* "b" after "quit" is not delivered */
    assert_true(g_bc.closed);
    assert_int_equal(g_bc.seen_len, 4);
    assert_memory_equal(g_bc.seen, "bye\n", 4);
    b_finish(lfd);
}

static void test_bytes_pause_holds_rest(void **state)
{
    memset(&g_blim, 0, sizeof(g_blim));
    int lfd = b_start();
    b_send("wait\nafter\n");
    b_wait_lines(1);
    run_ms(50);
    assert_int_equal(g_bs.nlines, 1);
    assert_int_equal(qkd_conn_pending_input(g_bs.c), 6); /* "after\n" held */
    qkd_conn_resume(g_bs.c);
    b_wait_lines(2);
    assert_int_equal(g_bs.nlines, 2);
    assert_string_equal(g_bs.lines[1], "after");
    b_finish(lfd);
}

static int g_touches;
static void touch_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    if (g_bs.c == NULL || g_touches-- <= 0) return;
    qkd_conn_touch(g_bs.c);
    qkd_loop_add_timer(loop, 40, touch_cb, NULL);
}

static void test_bytes_idle_and_touch(void **state)
{
    memset(&g_blim, 0, sizeof(g_blim));
    g_blim.idle_ms = 150;
    int lfd = b_start();
    g_touches = 10; /* 400 ms of touches: well past idle_ms */
    qkd_loop_add_timer(g_loop, 40, touch_cb, NULL);
    run_ms(400);
    assert_false(g_bs.closed);
    for (int i = 0; i < 100 && !g_bs.closed; i++)
        run_ms(10);
    assert_true(g_bs.closed);
    assert_string_equal(g_bs.reason, "idle timeout");
    b_finish(lfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipelining_client_is_throttled),
        cmocka_unit_test(test_off_grows_output),
        cmocka_unit_test(test_bytes_partial_consume_keeps_rest),
        cmocka_unit_test(test_bytes_unconsumed_bound_edge),
        cmocka_unit_test(test_bytes_close_flushes_answer),
        cmocka_unit_test(test_bytes_pause_holds_rest),
        cmocka_unit_test(test_bytes_idle_and_touch),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
