/* evloop.h: the one event loop (epoll), with one-shot timers beside file events, in the manner
 * of Redis ae. Single-threaded; callbacks run on the loop's thread. */
#ifndef QKD_EVLOOP_H
#define QKD_EVLOOP_H

#include <stddef.h>
#include <stdint.h>

#define QKD_EV_READ  1
#define QKD_EV_WRITE 2

struct qkd_loop;
typedef void (*qkd_fd_cb)(struct qkd_loop *loop, int fd, int events, void *arg);
typedef void (*qkd_timer_cb)(struct qkd_loop *loop, uint64_t id, void *arg);

struct qkd_loop *qkd_loop_new(void);
void qkd_loop_free(struct qkd_loop *loop);
/* Registers fd for mask (QKD_EV_READ|QKD_EV_WRITE); replaces an existing registration. */
int qkd_loop_add_fd(struct qkd_loop *loop, int fd, int mask, qkd_fd_cb cb, void *arg);
int qkd_loop_set_mask(struct qkd_loop *loop, int fd, int mask);
void qkd_loop_del_fd(struct qkd_loop *loop, int fd);
/* One-shot timer after ms milliseconds; returns its id (never 0). */
uint64_t qkd_loop_add_timer(struct qkd_loop *loop, uint64_t ms, qkd_timer_cb cb, void *arg);
/* Cancels a pending timer; unknown or fired ids are ignored. */
void qkd_loop_del_timer(struct qkd_loop *loop, uint64_t id);
/* Number of timers not yet fired nor cancelled. */
size_t qkd_loop_pending_timers(const struct qkd_loop *loop);
/* Runs until qkd_loop_stop (from a callback or a signal handler via the self-pipe). */
int qkd_loop_run(struct qkd_loop *loop);
/* Async-signal-safe; the loop returns after the running callback. */
void qkd_loop_stop(struct qkd_loop *loop);
/* Stops the loop on SIGINT/SIGTERM (signalfd). */
int qkd_loop_stop_on_signals(struct qkd_loop *loop);

/* The project's one clock: monotonic time in nanoseconds, microseconds, milliseconds. */
uint64_t qkd_now_ns(void);
uint64_t qkd_now_us(void);
uint64_t qkd_now_ms(void);
/* Wall clock (CLOCK_REALTIME) in milliseconds since the epoch. */
uint64_t qkd_wall_ms(void);

#endif
