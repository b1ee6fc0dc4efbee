/* test_conn_pause.c: unit tests of conn.c (fixture in conn_env.c): pause/resume (a paused
 * conn still notices a peer that hangs up and reads only up to one largest frame), large
 * frames and the output limit. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENV_TEST(test_pause_resume),      ENV_TEST(test_paused_peer_close),
        ENV_TEST(test_paused_peer_abort), ENV_TEST(test_paused_input_bounded),
        ENV_TEST(test_large_frames),      ENV_TEST(test_max_outbuf),
    };
    return cmocka_run_group_tests(tests, setup_certs, NULL);
}
