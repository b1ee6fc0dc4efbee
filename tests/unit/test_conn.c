/* test_conn.c: unit tests of conn.c and sock.c: TLS server and client connections on one event
 * loop over 127.0.0.1: handshake and peer names, 1000 frames of random sizes, the maximum
 * payload edge, refused peers (other CA, no certificate), the idle and handshake timers, a
 * plain-TCP garbage sender beside a good connection, closing from inside callbacks,
 * pause/resume (a paused conn still notices a peer that hangs up and reads only up to one
 * largest frame), large frames, the output limit and the socket helpers. */
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

#define MAX_SRV 4
static const uint8_t VER[3] = {1, 0, 1};

static char g_certs[1024];
static char g_other[1100];

struct side {
    struct qkd_conn *c;
    int opened, closed;
    char reason[256];
    char peer[128];
    uint32_t frames;      /* frames received */
    uint64_t bytes;       /* payload bytes received */
    int bad;              /* a frame did not match what was expected */
    int echo;             /* server: send every frame back */
    int close_at;         /* close from inside on_frame at this frame number (1-based); 0 = no */
    int abort_at;         /* same, immediate close */
    int reply_then_close; /* send a reply frame, then close, at close_at */
    int send_after_close; /* result of qkd_conn_send after closing inside on_frame */
    int pause_at;         /* pause inside on_frame at this frame number */
    int close_in_open;    /* close from inside on_open */
    uint32_t max_seen_service;
};

struct env {
    struct qkd_loop *loop;
    SSL_CTX *sctx, *cctx;
    int lfd, port;
    struct qkd_conn_limits slim, clim;
    struct side srv[MAX_SRV];
    int nsrv;
    struct side cli;
    uint64_t stop_at;
    int timed_out;
};

static struct env g_env;

/* ---- helpers ---- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/* Payload byte j of frame number i (0-based): both ends can check without state. */
static uint8_t pattern(uint32_t i, uint32_t j)
{
    return (uint8_t)(i * 131u + j * 7u + (j >> 8));
}

static int check_payload(const struct qkd_wire_hdr *h, const uint8_t *p, uint32_t i)
{
    if (h->major != 1 || h->minor != 0 || h->patch != 1 || h->service != (uint8_t)i) return -1;
    for (uint32_t j = 0; j < h->payload_len; j++)
        if (p[j] != pattern(i, j)) return -1;
    return 0;
}

static int send_pattern(struct qkd_conn *c, uint32_t i, uint32_t len)
{
    uint8_t *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    for (uint32_t j = 0; j < len; j++)
        buf[j] = pattern(i, j);
    int rc = qkd_conn_send_msg(c, VER, (uint8_t)i, buf, len);
    free(buf);
    return rc;
}

static const char *cpath(char *buf, size_t len, const char *base, const char *rel)
{
    snprintf(buf, len, "%s/%s", base, rel);
    return buf;
}

static SSL_CTX *ctx_from(int server, const char *base, const char *cert, const char *key,
                         const char *ca_base)
{
    char c[1200], k[1200], a[1200], err[512];
    struct qkd_tls_files f = {cpath(c, sizeof(c), base, cert), cpath(k, sizeof(k), base, key),
                              cpath(a, sizeof(a), ca_base, "ca.pem")};
    SSL_CTX *ctx = qkd_tls_ctx_new(server != 0, &f, err, sizeof(err));
    if (ctx == NULL) fprintf(stderr, "ctx: %s\n", err);
    assert_non_null(ctx);
    return ctx;
}

/* ---- callbacks ---- */

static void on_open(struct qkd_conn *c, void *arg)
{
    struct side *s = arg;
    s->opened++;
    if (qkd_tls_peer_name(qkd_conn_ssl(c), s->peer, sizeof(s->peer)) != 0)
        snprintf(s->peer, sizeof(s->peer), "?");
    if (s->close_in_open) qkd_conn_close(c, "closed in on_open");
}

static int on_frame(struct qkd_conn *c, const struct qkd_wire_hdr *h, const uint8_t *payload,
                    void *arg)
{
    struct side *s = arg;
    uint32_t i = s->frames++;
    s->bytes += h->payload_len;
    if (s->closed) s->bad++; /* no frame after on_close */
    if (check_payload(h, payload, i) != 0) s->bad++;
    if (s->echo && qkd_conn_send_msg(c, VER, h->service, payload, h->payload_len) != 0) s->bad++;
    if (s->close_at && (int)s->frames == s->close_at) {
        if (s->reply_then_close) assert_int_equal(send_pattern(c, 0, 1000), 0);
        qkd_conn_close(c, "closed in on_frame");
        qkd_conn_close(c, "closed twice");
        s->send_after_close = qkd_conn_send_msg(c, VER, 1, NULL, 0);
        return -1;
    }
    if (s->abort_at && (int)s->frames == s->abort_at) {
        qkd_conn_abort(c, "aborted in on_frame");
        return 0;
    }
    if (s->pause_at && (int)s->frames == s->pause_at) qkd_conn_pause(c);
    return 0;
}

static void on_close(struct qkd_conn *c, const char *reason, void *arg)
{
    struct side *s = arg;
    s->closed++;
    snprintf(s->reason, sizeof(s->reason), "%s", reason);
    s->c = NULL;
}

static const struct qkd_conn_ops g_ops = {on_open, on_frame, on_close};

static void on_accept(struct qkd_loop *loop, int fd, int events, void *arg)
{
    struct env *e = arg;
    for (;;) {
        int cfd = qkd_tcp_accept(fd);
        if (cfd < 0) return;
        if (e->nsrv >= MAX_SRV) {
            close(cfd);
            continue;
        }
        struct side *s = &e->srv[e->nsrv++];
        s->c = qkd_conn_new(loop, e->sctx, cfd, 1, &e->slim, &g_ops, s);
        assert_non_null(s->c);
    }
}

/* ---- environment ---- */

static int setup_certs(void **state)
{
    const char *d = getenv("QKD_TEST_CERTS");
    if (d == NULL || d[0] == '\0') {
        fprintf(stderr, "QKD_TEST_CERTS is not set (run through ctest)\n");
        return -1;
    }
    snprintf(g_certs, sizeof(g_certs), "%s", d);
    snprintf(g_other, sizeof(g_other), "%s-other", d);
    qkd_log_set_level(QKD_LOG_WARN);
    return 0;
}

/* A loop, a server context (alice) listening on 127.0.0.1:0, a client context (bob). */
static int env_setup(void **state)
{
    struct env *e = &g_env;
    memset(e, 0, sizeof(*e));
    e->loop = qkd_loop_new();
    assert_non_null(e->loop);
    e->sctx = ctx_from(1, g_certs, "alice/node.pem", "alice/node.key", g_certs);
    e->cctx = ctx_from(0, g_certs, "bob/node.pem", "bob/node.key", g_certs);
    char err[256];
    e->lfd = qkd_tcp_listen("127.0.0.1:0", 16, err, sizeof(err));
    assert_true(e->lfd >= 0);
    e->port = qkd_tcp_local_port(e->lfd);
    assert_true(e->port > 0);
    assert_int_equal(qkd_loop_add_fd(e->loop, e->lfd, QKD_EV_READ, on_accept, e), 0);
    *state = e;
    return 0;
}

static void run_loop_once(struct qkd_loop *loop, uint64_t ms);

static int env_teardown(void **state)
{
    struct env *e = &g_env;
    if (e->cli.c != NULL) qkd_conn_abort(e->cli.c, "test done");
    for (int i = 0; i < e->nsrv; i++)
        if (e->srv[i].c != NULL) qkd_conn_abort(e->srv[i].c, "test done");
    run_loop_once(e->loop, 20); /* let lingering closes finish */
    qkd_loop_del_fd(e->loop, e->lfd);
    close(e->lfd);
    qkd_loop_free(e->loop);
    SSL_CTX_free(e->sctx);
    SSL_CTX_free(e->cctx);
    return 0;
}

typedef int (*pred_fn)(struct env *e);
static pred_fn g_pred;

static void check_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct env *e = arg;
    if ((g_pred != NULL && g_pred(e)) || qkd_now_ms() >= e->stop_at) {
        if (qkd_now_ms() >= e->stop_at && !(g_pred != NULL && g_pred(e))) e->timed_out = 1;
        qkd_loop_stop(loop);
        return;
    }
    qkd_loop_add_timer(loop, 2, check_cb, e);
}

/* Runs the loop until pred holds or ms pass; returns whether pred holds. */
static int run_until(struct env *e, pred_fn pred, uint64_t ms)
{
    g_pred = pred;
    e->timed_out = 0;
    e->stop_at = qkd_now_ms() + ms;
    qkd_loop_add_timer(e->loop, 0, check_cb, e);
    qkd_loop_run(e->loop);
    g_pred = NULL;
    return pred(e);
}

static int never(struct env *e)
{
    return 0;
}

static void run_loop_once(struct qkd_loop *loop, uint64_t ms)
{
    struct env *e = &g_env;
    run_until(e, never, ms);
}

static void connect_client(struct env *e, SSL_CTX *cctx)
{
    char addr[64], err[256];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", e->port);
    int fd = qkd_tcp_connect_nb(addr, err, sizeof(err));
    assert_true(fd >= 0);
    e->cli.c = qkd_conn_new(e->loop, cctx, fd, 0, &e->clim, &g_ops, &e->cli);
    assert_non_null(e->cli.c);
}

static int both_open(struct env *e)
{
    return e->cli.opened && e->nsrv > 0 && e->srv[0].opened;
}

static int srv_closed(struct env *e)
{
    return e->nsrv > 0 && e->srv[0].closed;
}

static int both_closed(struct env *e)
{
    return e->cli.closed && e->nsrv > 0 && e->srv[0].closed;
}

/* ---- tests ---- */

static uint32_t g_want_frames;
static int srv_has_frames(struct env *e)
{
    return e->nsrv > 0 && (e->srv[0].frames >= g_want_frames || e->srv[0].closed);
}

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

static uint32_t g_sent;
static int echo_done(struct env *e)
{
    return e->cli.frames >= g_sent || e->cli.closed || (e->nsrv && e->srv[0].closed);
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

static void test_pause_resume(void **state)
{
    struct env *e = *state;
    connect_client(e, e->cctx);
    assert_true(run_until(e, both_open, 5000));
    e->srv[0].pause_at = 1;
    /* 20 frames in one write, so they arrive in one TLS record and wait in the input buffer */
    uint8_t all[20 * (8 + 220)];
    size_t off = 0;
    for (uint32_t i = 0; i < 20; i++) {
        uint32_t len = 200 + i;
        uint8_t hdr[8] = {VER[0],      VER[1], VER[2], (uint8_t)i, 0, 0, (uint8_t)(len >> 8),
                          (uint8_t)len};
        memcpy(all + off, hdr, 8);
        for (uint32_t j = 0; j < len; j++)
            all[off + 8 + j] = pattern(i, j);
        off += 8 + len;
    }
    assert_int_equal(qkd_conn_send(e->cli.c, all, off), 0);
    g_want_frames = 20;
    assert_false(run_until(e, srv_has_frames, 200));
    assert_int_equal(e->srv[0].frames, 1); /* paused inside the first frame */
    assert_int_equal(qkd_conn_pending_input(e->srv[0].c), off - (8 + 200));
    e->srv[0].pause_at = 0;
    qkd_conn_resume(e->srv[0].c);
    assert_int_equal(e->srv[0].frames, 1); /* delivered from the loop, not from resume */
    assert_true(run_until(e, srv_has_frames, 5000));
    assert_int_equal(e->srv[0].frames, 20);
    assert_int_equal(e->srv[0].bad, 0); /* in order */
    /* paused from outside: nothing delivered until resumed */
    qkd_conn_pause(e->srv[0].c);
    for (uint32_t i = 20; i < 30; i++)
        assert_int_equal(send_pattern(e->cli.c, i, 50), 0);
    g_want_frames = 30;
    assert_false(run_until(e, srv_has_frames, 100));
    assert_int_equal(e->srv[0].frames, 20);
    qkd_conn_resume(e->srv[0].c);
    assert_true(run_until(e, srv_has_frames, 5000));
    assert_int_equal(e->srv[0].frames, 30);
    assert_int_equal(e->srv[0].bad, 0);
}

/* A paused connection (a call waits) still notices a client that hangs up: on_close comes at
 * once, not at the call's timeout, and no held frame is delivered. */
static void test_paused_peer_close(void **state)
{
    struct env *e = *state;
    connect_client(e, e->cctx);
    assert_true(run_until(e, both_open, 5000));
    e->srv[0].pause_at = 1;
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(send_pattern(e->cli.c, i, 100), 0);
    g_want_frames = 3;
    assert_false(run_until(e, srv_has_frames, 100));
    assert_int_equal(e->srv[0].frames, 1); /* paused inside the first */
    assert_int_equal(e->srv[0].closed, 0);
    uint64_t t0 = qkd_now_ms();
    qkd_conn_close(e->cli.c, "client done"); /* close_notify, then FIN */
    assert_true(run_until(e, srv_closed, 2000));
    assert_true(qkd_now_ms() - t0 < 1000);
    assert_string_equal(e->srv[0].reason, "peer closed");
    assert_int_equal(e->srv[0].frames, 1); /* held frames were not delivered */
    assert_int_equal(e->srv[0].bad, 0);
}

/* Same for a client that vanishes without close_notify, paused from outside with nothing held. */
static void test_paused_peer_abort(void **state)
{
    struct env *e = *state;
    connect_client(e, e->cctx);
    assert_true(run_until(e, both_open, 5000));
    qkd_conn_pause(e->srv[0].c);
    run_loop_once(e->loop, 20);
    qkd_conn_abort(e->cli.c, "gone");
    assert_true(run_until(e, srv_closed, 2000));
    assert_string_equal(e->srv[0].reason, "peer closed without close_notify");
    assert_int_equal(e->srv[0].frames, 0);
}

/* A paused connection reads a client that keeps sending only up to max_payload + header bytes
 * (it cannot make the server buffer without bound); after resume every frame arrives, in
 * order. */
static void test_paused_input_bounded(void **state)
{
    struct env *e = *state;
    const uint32_t maxp = 4096, n = 200, len = 1000;
    e->slim.max_payload = maxp;
    connect_client(e, e->cctx);
    assert_true(run_until(e, both_open, 5000));
    e->srv[0].pause_at = 1;
    for (uint32_t i = 0; i < n + 1; i++)
        assert_int_equal(send_pattern(e->cli.c, i, i == 0 ? 10 : len), 0);
    g_want_frames = n + 1;
    assert_false(run_until(e, srv_has_frames, 300));
    assert_int_equal(e->srv[0].frames, 1);
    /* it read while paused, exactly up to the bound */
    assert_int_equal(qkd_conn_pending_input(e->srv[0].c), (size_t)maxp + 8);
    run_loop_once(e->loop, 100);
    assert_int_equal(qkd_conn_pending_input(e->srv[0].c), (size_t)maxp + 8);
    assert_int_equal(e->srv[0].closed, 0);
    e->srv[0].pause_at = 0;
    qkd_conn_resume(e->srv[0].c);
    assert_true(run_until(e, srv_has_frames, 5000));
    assert_int_equal(e->srv[0].frames, n + 1);
    assert_int_equal(e->srv[0].bytes, 10 + (uint64_t)n * len);
    assert_int_equal(e->srv[0].bad, 0); /* in order, intact */
    assert_int_equal(e->srv[0].closed, 0);
    /* paused again and the client closes with frames held (below the bound): noticed,
     * nothing more delivered */
    qkd_conn_pause(e->srv[0].c);
    for (uint32_t i = n + 1; i < n + 4; i++)
        assert_int_equal(send_pattern(e->cli.c, i, len), 0);
    run_loop_once(e->loop, 50);
    assert_true(qkd_conn_pending_input(e->srv[0].c) > 0);
    qkd_conn_close(e->cli.c, "client done");
    assert_true(run_until(e, srv_closed, 2000));
    assert_string_equal(e->srv[0].reason, "peer closed");
    assert_int_equal(e->srv[0].frames, n + 1);
}

static void test_large_frames(void **state)
{
    struct env *e = *state;
    const uint32_t big = 1024 * 1024;
    e->slim.max_payload = big;
    e->clim.max_payload = big;
    connect_client(e, e->cctx);
    assert_true(run_until(e, both_open, 5000));
    e->srv[0].echo = 1;
    for (uint32_t i = 0; i < 8; i++)
        assert_int_equal(send_pattern(e->cli.c, i, big - i * 12345), 0);
    g_sent = 8;
    assert_true(run_until(e, echo_done, 30000));
    assert_int_equal(e->cli.frames, 8);
    assert_int_equal(e->cli.bad, 0);
    assert_int_equal(e->srv[0].bad, 0);
}

static void test_max_outbuf(void **state)
{
    struct env *e = *state;
    e->slim.max_outbuf = 256 * 1024;
    connect_client(e, e->cctx);
    assert_true(run_until(e, both_open, 5000));
    qkd_conn_pause(e->cli.c); /* the client stops reading */
    run_loop_once(e->loop, 10);
    int rc = 0, n = 0;
    while (rc == 0 && n < 2000) {
        rc = send_pattern(e->srv[0].c, (uint32_t)n, 60000);
        n++;
    }
    assert_int_equal(rc, -1);
    assert_true(n < 2000);
    assert_true(run_until(e, srv_closed, 1000));
    assert_non_null(strstr(e->srv[0].reason, "output buffer full"));
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

#define ENV_TEST(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)

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
        ENV_TEST(test_pause_resume),
        ENV_TEST(test_paused_peer_close),
        ENV_TEST(test_paused_peer_abort),
        ENV_TEST(test_paused_input_bounded),
        ENV_TEST(test_large_frames),
        ENV_TEST(test_max_outbuf),
        ENV_TEST(test_connect_refused),
        ENV_TEST(test_bad_args),
        cmocka_unit_test(test_socket_helpers),
    };
    return cmocka_run_group_tests(tests, setup_certs, NULL);
}
