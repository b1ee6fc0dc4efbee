/* conn_env.c: the fixture of the conn.c unit tests (see conn_env.h). */
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

const uint8_t VER[3] = {1, 0, 1};

char g_certs[1024];
char g_other[1100];

struct env g_env;

/* ---- helpers ---- */

uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

/* Payload byte j of frame number i (0-based): both ends can check without state. */
uint8_t pattern(uint32_t i, uint32_t j)
{
    return (uint8_t)(i * 131u + j * 7u + (j >> 8));
}

int check_payload(const struct qkd_wire_hdr *h, const uint8_t *p, uint32_t i)
{
    if (h->major != 1 || h->minor != 0 || h->patch != 1 || h->service != (uint8_t)i) return -1;
    for (uint32_t j = 0; j < h->payload_len; j++)
        if (p[j] != pattern(i, j)) return -1;
    return 0;
}

int send_pattern(struct qkd_conn *c, uint32_t i, uint32_t len)
{
    uint8_t *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    for (uint32_t j = 0; j < len; j++)
        buf[j] = pattern(i, j);
    int rc = qkd_conn_send_msg(c, VER, (uint8_t)i, buf, len);
    free(buf);
    return rc;
}

const char *cpath(char *buf, size_t len, const char *base, const char *rel)
{
    snprintf(buf, len, "%s/%s", base, rel);
    return buf;
}

SSL_CTX *ctx_from(int server, const char *base, const char *cert, const char *key,
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

void on_open(struct qkd_conn *c, void *arg)
{
    struct side *s = arg;
    s->opened++;
    if (qkd_tls_peer_name(qkd_conn_ssl(c), s->peer, sizeof(s->peer)) != 0)
        snprintf(s->peer, sizeof(s->peer), "?");
    if (s->close_in_open) qkd_conn_close(c, "closed in on_open");
}

int on_frame(struct qkd_conn *c, const struct qkd_wire_hdr *h, const uint8_t *payload, void *arg)
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

void on_close(struct qkd_conn *c, const char *reason, void *arg)
{
    struct side *s = arg;
    s->closed++;
    snprintf(s->reason, sizeof(s->reason), "%s", reason);
    s->c = NULL;
}

const struct qkd_conn_ops g_ops = {on_open, on_frame, on_close, NULL};

void on_accept(struct qkd_loop *loop, int fd, int events, void *arg)
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

int setup_certs(void **state)
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
int env_setup(void **state)
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

int env_teardown(void **state)
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

pred_fn g_pred;

void check_cb(struct qkd_loop *loop, uint64_t id, void *arg)
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
int run_until(struct env *e, pred_fn pred, uint64_t ms)
{
    g_pred = pred;
    e->timed_out = 0;
    e->stop_at = qkd_now_ms() + ms;
    qkd_loop_add_timer(e->loop, 0, check_cb, e);
    qkd_loop_run(e->loop);
    g_pred = NULL;
    return pred(e);
}

int never(struct env *e)
{
    return 0;
}

void run_loop_once(struct qkd_loop *loop, uint64_t ms)
{
    struct env *e = &g_env;
    run_until(e, never, ms);
}

void connect_client(struct env *e, SSL_CTX *cctx)
{
    char addr[64], err[256];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", e->port);
    int fd = qkd_tcp_connect_nb(addr, err, sizeof(err));
    assert_true(fd >= 0);
    e->cli.c = qkd_conn_new(e->loop, cctx, fd, 0, &e->clim, &g_ops, &e->cli);
    assert_non_null(e->cli.c);
}

int both_open(struct env *e)
{
    return e->cli.opened && e->nsrv > 0 && e->srv[0].opened;
}

int srv_closed(struct env *e)
{
    return e->nsrv > 0 && e->srv[0].closed;
}

int both_closed(struct env *e)
{
    return e->cli.closed && e->nsrv > 0 && e->srv[0].closed;
}

/* ---- tests ---- */

uint32_t g_want_frames;
int srv_has_frames(struct env *e)
{
    return e->nsrv > 0 && (e->srv[0].frames >= g_want_frames || e->srv[0].closed);
}

/* the client has all g_sent echoes back (or a side closed) */
uint32_t g_sent;
int echo_done(struct env *e)
{
    return e->cli.frames >= g_sent || e->cli.closed || (e->nsrv && e->srv[0].closed);
}
