/* test_evloop.c: unit tests of evloop.c: timers fire in (deadline, creation) order and not
 * early, cancellation (before run, from another callback, of itself, unknown ids), fd
 * readiness on socketpairs, set_mask, fd removal during an iteration, stop from a callback,
 * no starvation by self-rearming timers, a high fd number, 10000 timers with random
 * cancellations, and SIGTERM through the signalfd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "evloop.h"

/* Bound every run: a watchdog timer stops the loop and marks the test as timed out. */
static int g_watchdog_fired;
static void watchdog_cb(struct qkd_loop *l, uint64_t id, void *arg)
{
    g_watchdog_fired = 1;
    qkd_loop_stop(l);
}

static uint64_t watchdog(struct qkd_loop *l, uint64_t ms)
{
    g_watchdog_fired = 0;
    uint64_t id = qkd_loop_add_timer(l, ms, watchdog_cb, NULL);
    assert_int_not_equal(id, 0);
    return id;
}

static uint32_t g_rng = 12345;
static uint32_t rnd(void)
{
    g_rng = g_rng * 1103515245u + 12345u;
    return g_rng >> 8;
}

/* ---- ordering ---- */

struct order_rec {
    uint64_t due_lo, due_hi; /* clock before and after the add, plus ms */
    uint64_t id;
    uint64_t fired_at;
    int fired;
    int cancelled;
};
struct order_ctx {
    struct order_rec *recs;
    int n, remaining;
    int *seq; /* indexes in firing order */
    int nseq;
};
static struct order_ctx g_oc;

static void order_cb(struct qkd_loop *l, uint64_t id, void *arg)
{
    int i = (int)(intptr_t)arg;
    struct order_rec *r = &g_oc.recs[i];
    assert_int_equal(r->id, id);
    assert_false(r->fired);
    assert_false(r->cancelled);
    r->fired = 1;
    r->fired_at = qkd_now_ms();
    g_oc.seq[g_oc.nseq++] = i;
    if (--g_oc.remaining == 0) qkd_loop_stop(l);
}

static void run_order(int n, uint32_t max_ms, int cancel_every)
{
    struct qkd_loop *l = qkd_loop_new();
    assert_non_null(l);
    g_oc.recs = calloc((size_t)n, sizeof(*g_oc.recs));
    g_oc.seq = calloc((size_t)n, sizeof(int));
    assert_non_null(g_oc.recs);
    assert_non_null(g_oc.seq);
    g_oc.n = n;
    g_oc.nseq = 0;
    for (int i = 0; i < n; i++) {
        uint64_t ms = rnd() % (max_ms + 1);
        g_oc.recs[i].due_lo = qkd_now_ms() + ms;
        g_oc.recs[i].id = qkd_loop_add_timer(l, ms, order_cb, (void *)(intptr_t)i);
        g_oc.recs[i].due_hi = qkd_now_ms() + ms;
        assert_int_not_equal(g_oc.recs[i].id, 0);
        if (i > 0) assert_true(g_oc.recs[i].id > g_oc.recs[i - 1].id);
    }
    assert_int_equal(qkd_loop_pending_timers(l), n);
    int cancelled = 0;
    if (cancel_every > 0) {
        /* cancel in a scattered order to exercise heap removal at every position */
        for (int k = 0; k < n; k++) {
            int i = (int)((uint64_t)k * 7919 % (uint64_t)n);
            if (i % cancel_every == 0) {
                qkd_loop_del_timer(l, g_oc.recs[i].id);
                qkd_loop_del_timer(l, g_oc.recs[i].id); /* twice: ignored */
                g_oc.recs[i].cancelled = 1;
                cancelled++;
            }
        }
    }
    assert_int_equal(qkd_loop_pending_timers(l), n - cancelled);
    g_oc.remaining = n - cancelled;
    watchdog(l, max_ms + 5000);
    assert_int_equal(qkd_loop_run(l), 0);
    assert_false(g_watchdog_fired);
    assert_int_equal(g_oc.nseq, n - cancelled);
    assert_int_equal(qkd_loop_pending_timers(l), 1); /* the watchdog */
    for (int k = 0; k < g_oc.nseq; k++) {
        struct order_rec *r = &g_oc.recs[g_oc.seq[k]];
        assert_true(r->fired_at >= r->due_lo); /* never early */
        if (k > 0) {
            struct order_rec *p = &g_oc.recs[g_oc.seq[k - 1]];
            /* fired in (deadline, id) order; deadlines are known within [lo, hi] */
            assert_true(p->due_lo <= r->due_hi);
            if (p->due_lo == p->due_hi && r->due_lo == r->due_hi && p->due_lo == r->due_lo)
                assert_true(p->id < r->id);
        }
    }
    for (int i = 0; i < n; i++)
        assert_int_equal(g_oc.recs[i].fired, !g_oc.recs[i].cancelled);
    free(g_oc.recs);
    free(g_oc.seq);
    qkd_loop_free(l);
}

static void test_timer_order(void **state)
{
    (void)state;
    run_order(500, 60, 0);
}

static void test_many_timers(void **state)
{
    (void)state;
    uint64_t t0 = qkd_now_ms();
    run_order(10000, 100, 3);
    /* correctness is asserted above; timing only as a loose sanity bound */
    assert_true(qkd_now_ms() - t0 < 10000);
}

/* Same-deadline timers fire in creation order. */
static int g_tie_seq[8], g_tie_n;
static void tie_cb(struct qkd_loop *l, uint64_t id, void *arg)
{
    g_tie_seq[g_tie_n++] = (int)(intptr_t)arg;
    if (g_tie_n == 8) qkd_loop_stop(l);
}

static void test_timer_ties(void **state)
{
    (void)state;
    struct qkd_loop *l = qkd_loop_new();
    assert_non_null(l);
    g_tie_n = 0;
    for (int i = 0; i < 8; i++)
        qkd_loop_add_timer(l, 0, tie_cb, (void *)(intptr_t)i);
    watchdog(l, 5000);
    assert_int_equal(qkd_loop_run(l), 0);
    assert_int_equal(g_tie_n, 8);
    for (int i = 0; i < 8; i++)
        assert_int_equal(g_tie_seq[i], i);
    qkd_loop_free(l);
}

/* ---- cancellation ---- */

struct cancel_ctx {
    uint64_t a, b, c, d, e, self;
    int fired_a, fired_b, fired_c, fired_d, fired_e, fired_self;
};
static struct cancel_ctx g_cc;

static void cancel_cb(struct qkd_loop *l, uint64_t id, void *arg)
{
    char which = (char)(intptr_t)arg;
    switch (which) {
    case 'a':
        g_cc.fired_a++;
        qkd_loop_del_timer(l, id); /* itself, already fired: ignored */
        break;
    case 'b':
        g_cc.fired_b++;
        break;
    case 'c':
        g_cc.fired_c++;
        break;
    case 'd':
        g_cc.fired_d++;
        qkd_loop_del_timer(l, g_cc.b); /* another pending timer */
        break;
    case 'e':
        g_cc.fired_e++;
        qkd_loop_stop(l);
        break;
    }
}

static void test_cancel(void **state)
{
    (void)state;
    struct qkd_loop *l = qkd_loop_new();
    assert_non_null(l);
    memset(&g_cc, 0, sizeof(g_cc));
    g_cc.a = qkd_loop_add_timer(l, 10, cancel_cb, (void *)(intptr_t)'a');
    g_cc.b = qkd_loop_add_timer(l, 30, cancel_cb, (void *)(intptr_t)'b');
    g_cc.c = qkd_loop_add_timer(l, 20, cancel_cb, (void *)(intptr_t)'c');
    g_cc.d = qkd_loop_add_timer(l, 5, cancel_cb, (void *)(intptr_t)'d');
    g_cc.e = qkd_loop_add_timer(l, 60, cancel_cb, (void *)(intptr_t)'e');
    qkd_loop_del_timer(l, g_cc.c);
    qkd_loop_del_timer(l, 0);      /* never an id */
    qkd_loop_del_timer(l, 999999); /* unknown */
    assert_int_equal(qkd_loop_pending_timers(l), 4);
    watchdog(l, 5000);
    assert_int_equal(qkd_loop_run(l), 0);
    assert_int_equal(g_cc.fired_a, 1);
    assert_int_equal(g_cc.fired_b, 0);
    assert_int_equal(g_cc.fired_c, 0);
    assert_int_equal(g_cc.fired_d, 1);
    assert_int_equal(g_cc.fired_e, 1);
    qkd_loop_del_timer(l, g_cc.a); /* fired: ignored */
    assert_int_equal(qkd_loop_pending_timers(l), 1);
    qkd_loop_free(l);
}

/* Cancelling a timer due in the same pass from an earlier callback of that pass. */
static uint64_t g_victim;
static int g_victim_fired;
static void killer_cb(struct qkd_loop *l, uint64_t id, void *arg)
{
    qkd_loop_del_timer(l, g_victim);
}
static void victim_cb(struct qkd_loop *l, uint64_t id, void *arg)
{
    g_victim_fired = 1;
}
static void stopper_cb(struct qkd_loop *l, uint64_t id, void *arg)
{
    qkd_loop_stop(l);
}

static void test_cancel_same_pass(void **state)
{
    (void)state;
    struct qkd_loop *l = qkd_loop_new();
    assert_non_null(l);
    g_victim_fired = 0;
    qkd_loop_add_timer(l, 0, killer_cb, NULL);
    g_victim = qkd_loop_add_timer(l, 0, victim_cb, NULL);
    qkd_loop_add_timer(l, 20, stopper_cb, NULL);
    assert_int_equal(qkd_loop_run(l), 0);
    assert_int_equal(g_victim_fired, 0);
    qkd_loop_free(l);
}

/* ---- file descriptors ---- */

struct fd_ctx {
    int reads, writes;
    char got[16];
};

static void fd_read_cb(struct qkd_loop *l, int fd, int events, void *arg)
{
    struct fd_ctx *c = arg;
    assert_int_equal(events, QKD_EV_READ);
    ssize_t n = read(fd, c->got, sizeof(c->got) - 1);
    assert_true(n > 0);
    c->got[n] = '\0';
    c->reads++;
    qkd_loop_stop(l);
}

static void fd_write_cb(struct qkd_loop *l, int fd, int events, void *arg)
{
    struct fd_ctx *c = arg;
    assert_true(events & QKD_EV_WRITE);
    c->writes++;
    assert_int_equal(write(fd, "ping", 4), 4);
    assert_int_equal(qkd_loop_set_mask(l, fd, 0), 0); /* once */
}

static void test_fd_readiness(void **state)
{
    (void)state;
    struct qkd_loop *l = qkd_loop_new();
    assert_non_null(l);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct fd_ctx rc = {0}, wc = {0};
    assert_int_equal(qkd_loop_add_fd(l, sv[0], QKD_EV_READ, fd_read_cb, &rc), 0);
    assert_int_equal(qkd_loop_add_fd(l, sv[1], QKD_EV_WRITE, fd_write_cb, &wc), 0);
    watchdog(l, 5000);
    assert_int_equal(qkd_loop_run(l), 0);
    assert_false(g_watchdog_fired);
    assert_int_equal(wc.writes, 1);
    assert_int_equal(rc.reads, 1);
    assert_string_equal(rc.got, "ping");

    /* nothing more to read: the next run ends only by the watchdog */
    watchdog(l, 30);
    assert_int_equal(qkd_loop_run(l), 0);
    assert_true(g_watchdog_fired);
    assert_int_equal(rc.reads, 1);
    assert_int_equal(wc.writes, 1);

    /* errors */
    assert_int_equal(qkd_loop_set_mask(l, 1000, QKD_EV_READ), -1);
    assert_int_equal(qkd_loop_add_fd(l, -1, QKD_EV_READ, fd_read_cb, &rc), -1);
    qkd_loop_del_fd(l, 999); /* unknown: ignored */
    qkd_loop_del_fd(l, sv[0]);
    qkd_loop_del_fd(l, sv[1]);
    close(sv[0]);
    close(sv[1]);
    qkd_loop_free(l);
}

/* Two readable sockets; whichever callback runs first removes the other one. */
static int g_pair_a[2], g_pair_b[2];
static int g_calls_a, g_calls_b;
static void rm_a_cb(struct qkd_loop *l, int fd, int events, void *arg)
{
    g_calls_a++;
    qkd_loop_del_fd(l, g_pair_b[0]);
    qkd_loop_del_fd(l, fd);
}
static void rm_b_cb(struct qkd_loop *l, int fd, int events, void *arg)
{
    g_calls_b++;
    qkd_loop_del_fd(l, g_pair_a[0]);
    qkd_loop_del_fd(l, fd);
}
static void never_cb(struct qkd_loop *l, int fd, int events, void *arg)
{
    fail_msg("callback of a removed fd was called");
}

static void test_fd_removal_during_iteration(void **state)
{
    (void)state;
    struct qkd_loop *l = qkd_loop_new();
    assert_non_null(l);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, g_pair_a), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, g_pair_b), 0);
    assert_int_equal(write(g_pair_a[1], "x", 1), 1);
    assert_int_equal(write(g_pair_b[1], "y", 1), 1);
    g_calls_a = g_calls_b = 0;
    assert_int_equal(qkd_loop_add_fd(l, g_pair_a[0], QKD_EV_READ, rm_a_cb, NULL), 0);
    assert_int_equal(qkd_loop_add_fd(l, g_pair_b[0], QKD_EV_READ, rm_b_cb, NULL), 0);
    watchdog(l, 50);
    assert_int_equal(qkd_loop_run(l), 0);
    assert_int_equal(g_calls_a + g_calls_b, 1);

    /* removal and re-registration of the same fd number, then data: new callback only */
    assert_int_equal(qkd_loop_add_fd(l, g_pair_a[0], QKD_EV_READ, never_cb, NULL), 0);
    qkd_loop_del_fd(l, g_pair_a[0]);
    watchdog(l, 30);
    assert_int_equal(qkd_loop_run(l), 0);
    for (int i = 0; i < 2; i++) {
        close(g_pair_a[i]);
        close(g_pair_b[i]);
    }
    qkd_loop_free(l);
}

/* ---- stop ---- */

static int g_stop_calls;
static void stop_first_cb(struct qkd_loop *l, uint64_t id, void *arg)
{
    g_stop_calls++;
    qkd_loop_stop(l);
}

static void test_stop_from_callback(void **state)
{
    (void)state;
    struct qkd_loop *l = qkd_loop_new();
    assert_non_null(l);
    g_stop_calls = 0;
    qkd_loop_add_timer(l, 0, stop_first_cb, NULL);
    qkd_loop_add_timer(l, 0, stop_first_cb, NULL);
    assert_int_equal(qkd_loop_run(l), 0);
    assert_int_equal(g_stop_calls, 1); /* the second did not run in the same pass */
    assert_int_equal(qkd_loop_pending_timers(l), 1);
    assert_int_equal(qkd_loop_run(l), 0);
    assert_int_equal(g_stop_calls, 2);
    qkd_loop_free(l);
}

/* A 0 ms timer re-arming itself must not starve file events. */
static int g_rearms, g_fd_seen_during_rearm;
static void rearm_cb(struct qkd_loop *l, uint64_t id, void *arg)
{
    if (++g_rearms >= 2000 || g_fd_seen_during_rearm)
        qkd_loop_stop(l);
    else
        assert_int_not_equal(qkd_loop_add_timer(l, 0, rearm_cb, NULL), 0);
}
static void seen_cb(struct qkd_loop *l, int fd, int events, void *arg)
{
    char c;
    assert_int_equal(read(fd, &c, 1), 1);
    g_fd_seen_during_rearm = 1;
}

static void test_no_starvation(void **state)
{
    (void)state;
    struct qkd_loop *l = qkd_loop_new();
    assert_non_null(l);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    g_rearms = g_fd_seen_during_rearm = 0;
    qkd_loop_add_timer(l, 0, rearm_cb, NULL);
    assert_int_equal(qkd_loop_add_fd(l, sv[0], QKD_EV_READ, seen_cb, NULL), 0);
    assert_int_equal(write(sv[1], "z", 1), 1);
    watchdog(l, 5000);
    assert_int_equal(qkd_loop_run(l), 0);
    assert_true(g_fd_seen_during_rearm);
    assert_true(g_rearms < 2000);
    close(sv[0]);
    close(sv[1]);
    qkd_loop_free(l);
}

/* The fd table grows for high fd numbers. */
static void test_high_fd(void **state)
{
    (void)state;
    struct qkd_loop *l = qkd_loop_new();
    assert_non_null(l);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    int hi = dup2(sv[0], 900);
    assert_int_equal(hi, 900);
    struct fd_ctx rc = {0};
    assert_int_equal(qkd_loop_add_fd(l, hi, QKD_EV_READ, fd_read_cb, &rc), 0);
    assert_int_equal(write(sv[1], "hi", 2), 2);
    watchdog(l, 5000);
    assert_int_equal(qkd_loop_run(l), 0);
    assert_int_equal(rc.reads, 1);
    assert_string_equal(rc.got, "hi");
    qkd_loop_del_fd(l, hi);
    close(hi);
    close(sv[0]);
    close(sv[1]);
    qkd_loop_free(l);
}

static void test_clocks(void **state)
{
    (void)state;
    uint64_t a = qkd_now_ms();
    usleep(20000);
    uint64_t b = qkd_now_ms();
    assert_true(b >= a + 19);
    assert_true(b < a + 5000);
    assert_true(qkd_wall_ms() > 1600000000000ull); /* after 2020 */
}

/* SIGTERM stops the loop through the signalfd (run last: it blocks SIGINT/SIGTERM). */
static void test_signals(void **state)
{
    (void)state;
    struct qkd_loop *l = qkd_loop_new();
    assert_non_null(l);
    assert_int_equal(qkd_loop_stop_on_signals(l), 0);
    assert_int_equal(qkd_loop_stop_on_signals(l), 0); /* idempotent */
    assert_int_equal(kill(getpid(), SIGTERM), 0);
    watchdog(l, 5000);
    assert_int_equal(qkd_loop_run(l), 0);
    assert_false(g_watchdog_fired);
    qkd_loop_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_order),
        cmocka_unit_test(test_many_timers),
        cmocka_unit_test(test_timer_ties),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_cancel_same_pass),
        cmocka_unit_test(test_fd_readiness),
        cmocka_unit_test(test_fd_removal_during_iteration),
        cmocka_unit_test(test_stop_from_callback),
        cmocka_unit_test(test_no_starvation),
        cmocka_unit_test(test_high_fd),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_signals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
