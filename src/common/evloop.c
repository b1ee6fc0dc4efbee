/* evloop.c: the event loop: epoll (level-triggered) for file descriptors, one-shot timers in
 * a binary min-heap ordered by (deadline, id) with an id -> heap-position hash map for
 * O(log n) cancellation, an eventfd to wake the loop on stop (also from signal handlers), and
 * a signalfd for SIGINT/SIGTERM. Callbacks may add and remove fds and timers and stop the
 * loop at any time. */
#include "evloop.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

/* Initial sizes; all tables grow on demand. */
#define QKD_LOOP_INIT_FDS    64
#define QKD_LOOP_INIT_EVENTS 64
#define QKD_LOOP_MAX_EVENTS  4096
#define QKD_LOOP_INIT_TIMERS 64

struct loop_fd {
    bool registered; /* known to the loop */
    bool in_epoll;   /* added to the epoll set (not while mask is 0) */
    int mask;
    uint32_t gen; /* bumped on every removal; events of an older registration are dropped */
    qkd_fd_cb cb;
    void *arg;
};

struct loop_timer {
    uint64_t deadline;
    uint64_t id;
    qkd_timer_cb cb;
    void *arg;
};

/* id -> heap index, open addressing with linear probing; id 0 marks an empty slot. */
struct loop_idmap {
    uint64_t *keys;
    uint32_t *vals;
    size_t cap; /* power of two */
    size_t n;
};

struct qkd_loop {
    int epfd;
    int wakefd; /* eventfd written by qkd_loop_stop */
    int sigfd;  /* signalfd or -1 */
    volatile sig_atomic_t stop;
    struct loop_fd *fds;
    int nfds;
    struct epoll_event *events;
    int nevents;
    struct loop_timer *heap;
    size_t nheap, capheap;
    struct loop_idmap ids;
    uint64_t next_id;
};

uint64_t qkd_now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t qkd_now_us(void)
{
    return qkd_now_ns() / 1000u;
}

uint64_t qkd_now_ms(void)
{
    return qkd_now_ns() / 1000000u;
}

uint64_t qkd_wall_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- id map ---- */

static size_t idmap_slot(const struct loop_idmap *m, uint64_t id)
{
    /* Fibonacci hashing; ids are sequential so this spreads them well */
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 17) & (m->cap - 1);
}

static int idmap_grow(struct loop_idmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 128;
    uint64_t *nk = calloc(ncap, sizeof(*nk));
    uint32_t *nv = calloc(ncap, sizeof(*nv));
    if (nk == NULL || nv == NULL) {
        free(nk);
        free(nv);
        return -1;
    }
    struct loop_idmap o = *m;
    m->keys = nk;
    m->vals = nv;
    m->cap = ncap;
    for (size_t i = 0; i < o.cap; i++) {
        if (o.keys[i] == 0) continue;
        size_t s = idmap_slot(m, o.keys[i]);
        while (m->keys[s] != 0)
            s = (s + 1) & (m->cap - 1);
        m->keys[s] = o.keys[i];
        m->vals[s] = o.vals[i];
    }
    free(o.keys);
    free(o.vals);
    return 0;
}

/* Returns the slot of id or SIZE_MAX. */
static size_t idmap_find(const struct loop_idmap *m, uint64_t id)
{
    if (m->cap == 0 || id == 0) return SIZE_MAX;
    size_t s = idmap_slot(m, id);
    while (m->keys[s] != 0) {
        if (m->keys[s] == id) return s;
        s = (s + 1) & (m->cap - 1);
    }
    return SIZE_MAX;
}

/* Inserts or updates; the caller has ensured capacity. */
static void idmap_put(struct loop_idmap *m, uint64_t id, uint32_t val)
{
    size_t s = idmap_slot(m, id);
    while (m->keys[s] != 0 && m->keys[s] != id)
        s = (s + 1) & (m->cap - 1);
    if (m->keys[s] == 0) m->n++;
    m->keys[s] = id;
    m->vals[s] = val;
}

/* Backward-shift deletion keeps probe chains intact without tombstones. */
static void idmap_del_slot(struct loop_idmap *m, size_t s)
{
    size_t mask = m->cap - 1;
    m->keys[s] = 0;
    m->n--;
    size_t j = s;
    for (;;) {
        j = (j + 1) & mask;
        if (m->keys[j] == 0) return;
        size_t home = idmap_slot(m, m->keys[j]);
        /* move j back to s if its home is not cyclically within (s, j] */
        bool in_range = s <= j ? (home > s && home <= j) : (home > s || home <= j);
        if (!in_range) {
            m->keys[s] = m->keys[j];
            m->vals[s] = m->vals[j];
            m->keys[j] = 0;
            s = j;
        }
    }
}

/* ---- timer heap ---- */

static bool timer_before(const struct loop_timer *a, const struct loop_timer *b)
{
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->id < b->id);
}

static void heap_place(struct qkd_loop *l, size_t i, const struct loop_timer *t)
{
    l->heap[i] = *t;
    size_t s = idmap_find(&l->ids, t->id);
    if (s != SIZE_MAX) l->ids.vals[s] = (uint32_t)i;
}

static void heap_up(struct qkd_loop *l, size_t i)
{
    struct loop_timer t = l->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!timer_before(&t, &l->heap[p])) break;
        heap_place(l, i, &l->heap[p]);
        i = p;
    }
    heap_place(l, i, &t);
}

static void heap_down(struct qkd_loop *l, size_t i)
{
    struct loop_timer t = l->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->nheap) break;
        if (c + 1 < l->nheap && timer_before(&l->heap[c + 1], &l->heap[c])) c++;
        if (!timer_before(&l->heap[c], &t)) break;
        heap_place(l, i, &l->heap[c]);
        i = c;
    }
    heap_place(l, i, &t);
}

/* Removes the heap entry at i (its id must already be out of the map or is removed here). */
static void heap_remove_at(struct qkd_loop *l, size_t i)
{
    size_t s = idmap_find(&l->ids, l->heap[i].id);
    if (s != SIZE_MAX) idmap_del_slot(&l->ids, s);
    l->nheap--;
    if (i == l->nheap) return;
    struct loop_timer last = l->heap[l->nheap];
    heap_place(l, i, &last);
    if (i > 0 && timer_before(&l->heap[i], &l->heap[(i - 1) / 2]))
        heap_up(l, i);
    else
        heap_down(l, i);
}

uint64_t qkd_loop_add_timer(struct qkd_loop *l, uint64_t ms, qkd_timer_cb cb, void *arg)
{
    if (cb == NULL || l->nheap >= UINT32_MAX - 1) return 0;
    if (l->nheap == l->capheap) {
        size_t ncap = l->capheap ? l->capheap * 2 : QKD_LOOP_INIT_TIMERS;
        struct loop_timer *n = realloc(l->heap, ncap * sizeof(*n));
        if (n == NULL) return 0;
        l->heap = n;
        l->capheap = ncap;
    }
    if ((l->ids.n + 1) * 2 > l->ids.cap && idmap_grow(&l->ids) != 0) return 0;
    uint64_t now = qkd_now_ms();
    struct loop_timer t = {
        .deadline = ms > UINT64_MAX - now ? UINT64_MAX : now + ms,
        .id = l->next_id++,
        .cb = cb,
        .arg = arg,
    };
    idmap_put(&l->ids, t.id, (uint32_t)l->nheap);
    l->heap[l->nheap++] = t;
    heap_up(l, l->nheap - 1);
    return t.id;
}

void qkd_loop_del_timer(struct qkd_loop *l, uint64_t id)
{
    size_t s = idmap_find(&l->ids, id);
    if (s == SIZE_MAX) return;
    heap_remove_at(l, l->ids.vals[s]);
}

size_t qkd_loop_pending_timers(const struct qkd_loop *l)
{
    return l->nheap;
}

/* Fires the timers due at the start of the pass; timers added by callbacks wait for the next
 * pass (their (deadline, id) sorts after every timer due now, so stopping at the first of
 * them is exact). */
static void loop_run_timers(struct qkd_loop *l)
{
    uint64_t now = qkd_now_ms();
    uint64_t last_id = l->next_id - 1;
    while (l->nheap > 0 && !l->stop) {
        struct loop_timer t = l->heap[0];
        if (t.deadline > now || t.id > last_id) break;
        heap_remove_at(l, 0);
        t.cb(l, t.id, t.arg);
    }
}

/* ---- file descriptors ---- */

static int loop_fd_grow(struct qkd_loop *l, int fd)
{
    if (fd < l->nfds) return 0;
    int n = l->nfds ? l->nfds : QKD_LOOP_INIT_FDS;
    while (n <= fd) {
        if (n > INT_MAX / 2) return -1;
        n *= 2;
    }
    struct loop_fd *t = realloc(l->fds, (size_t)n * sizeof(*t));
    if (t == NULL) return -1;
    memset(t + l->nfds, 0, (size_t)(n - l->nfds) * sizeof(*t));
    l->fds = t;
    l->nfds = n;
    return 0;
}

static uint32_t loop_epoll_events(int mask)
{
    uint32_t e = 0;
    if (mask & QKD_EV_READ) e |= EPOLLIN | EPOLLRDHUP;
    if (mask & QKD_EV_WRITE) e |= EPOLLOUT;
    return e;
}

/* Brings the epoll set in line with f->mask. */
static int loop_fd_sync(struct qkd_loop *l, int fd)
{
    struct loop_fd *f = &l->fds[fd];
    if (f->mask == 0) {
        if (f->in_epoll) {
            (void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL); /* EBADF if already closed */
            f->in_epoll = false;
        }
        return 0;
    }
    struct epoll_event ev = {.events = loop_epoll_events(f->mask)};
    ev.data.u64 = ((uint64_t)f->gen << 32) | (uint32_t)fd;
    if (epoll_ctl(l->epfd, f->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0) return -1;
    f->in_epoll = true;
    return 0;
}

int qkd_loop_add_fd(struct qkd_loop *l, int fd, int mask, qkd_fd_cb cb, void *arg)
{
    if (fd < 0 || cb == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (loop_fd_grow(l, fd) != 0) {
        errno = ENOMEM;
        return -1;
    }
    struct loop_fd *f = &l->fds[fd];
    int old_mask = f->mask;
    bool was = f->registered;
    f->mask = mask & (QKD_EV_READ | QKD_EV_WRITE);
    if (loop_fd_sync(l, fd) != 0) {
        int e = errno;
        f->mask = old_mask;
        if (!was) f->registered = false;
        errno = e;
        return -1;
    }
    f->registered = true;
    f->cb = cb;
    f->arg = arg;
    return 0;
}

int qkd_loop_set_mask(struct qkd_loop *l, int fd, int mask)
{
    if (fd < 0 || fd >= l->nfds || !l->fds[fd].registered) {
        errno = ENOENT;
        return -1;
    }
    struct loop_fd *f = &l->fds[fd];
    int old = f->mask;
    f->mask = mask & (QKD_EV_READ | QKD_EV_WRITE);
    if (loop_fd_sync(l, fd) != 0) {
        int e = errno;
        f->mask = old;
        errno = e;
        return -1;
    }
    return 0;
}

void qkd_loop_del_fd(struct qkd_loop *l, int fd)
{
    if (fd < 0 || fd >= l->nfds || !l->fds[fd].registered) return;
    struct loop_fd *f = &l->fds[fd];
    f->mask = 0;
    (void)loop_fd_sync(l, fd);
    f->registered = false;
    f->cb = NULL;
    f->arg = NULL;
    f->gen++; /* pending events of this registration are now stale */
}

static void loop_process_events(struct qkd_loop *l, int n)
{
    for (int i = 0; i < n && !l->stop; i++) {
        uint64_t d = l->events[i].data.u64;
        int fd = (int)(uint32_t)d;
        uint32_t gen = (uint32_t)(d >> 32);
        if (fd < 0 || fd >= l->nfds) continue;
        struct loop_fd *f = &l->fds[fd];
        if (!f->registered || f->gen != gen) continue; /* removed during this iteration */
        uint32_t e = l->events[i].events;
        int ev = 0;
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ev |= QKD_EV_READ;
        if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) ev |= QKD_EV_WRITE;
        ev &= f->mask;
        if (ev == 0) continue;
        f->cb(l, fd, ev, f->arg); /* may realloc l->fds: f is not used afterwards */
    }
}

/* ---- wake-up and signals ---- */

static void loop_wake_cb(struct qkd_loop *l, int fd, int events, void *arg)
{
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof(v)); /* drain; EAGAIN is fine */
    (void)r;
}

static void loop_signal_cb(struct qkd_loop *l, int fd, int events, void *arg)
{
    struct signalfd_siginfo si;
    for (;;) {
        ssize_t r = read(fd, &si, sizeof(si));
        if (r != (ssize_t)sizeof(si)) break;
        log_info("received signal %s, stopping", strsignal((int)si.ssi_signo));
        qkd_loop_stop(l);
    }
}

int qkd_loop_stop_on_signals(struct qkd_loop *l)
{
    if (l->sigfd >= 0) return 0;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) return -1;
    int rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) return -1;
    if (qkd_loop_add_fd(l, fd, QKD_EV_READ, loop_signal_cb, NULL) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    l->sigfd = fd;
    return 0;
}

void qkd_loop_stop(struct qkd_loop *l)
{
    /* async-signal-safe: a flag and a write to the eventfd */
    l->stop = 1;
    uint64_t one = 1;
    int saved = errno;
    ssize_t r = write(l->wakefd, &one, sizeof(one));
    (void)r;
    errno = saved;
}

/* ---- lifecycle ---- */

struct qkd_loop *qkd_loop_new(void)
{
    struct qkd_loop *l = calloc(1, sizeof(*l));
    if (l == NULL) return NULL;
    l->epfd = -1;
    l->wakefd = -1;
    l->sigfd = -1;
    l->next_id = 1;
    l->nevents = QKD_LOOP_INIT_EVENTS;
    l->events = calloc((size_t)l->nevents, sizeof(*l->events));
    if (l->events == NULL) goto fail;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) goto fail;
    l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->wakefd < 0) goto fail;
    if (qkd_loop_add_fd(l, l->wakefd, QKD_EV_READ, loop_wake_cb, NULL) != 0) goto fail;
    return l;
fail:
    qkd_loop_free(l);
    return NULL;
}

void qkd_loop_free(struct qkd_loop *l)
{
    if (l == NULL) return;
    if (l->sigfd >= 0) close(l->sigfd);
    if (l->wakefd >= 0) close(l->wakefd);
    if (l->epfd >= 0) close(l->epfd);
    free(l->fds);
    free(l->events);
    free(l->heap);
    free(l->ids.keys);
    free(l->ids.vals);
    free(l);
}

int qkd_loop_run(struct qkd_loop *l)
{
    l->stop = 0;
    while (!l->stop) {
        int timeout = -1;
        if (l->nheap > 0) {
            uint64_t now = qkd_now_ms();
            uint64_t dl = l->heap[0].deadline;
            timeout = dl <= now ? 0 : (dl - now > INT_MAX ? INT_MAX : (int)(dl - now));
        }
        int n = epoll_wait(l->epfd, l->events, l->nevents, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            log_error("epoll_wait: %s", strerror(errno));
            return -1;
        }
        loop_process_events(l, n);
        if (n == l->nevents && l->nevents < QKD_LOOP_MAX_EVENTS) {
            struct epoll_event *e = realloc(l->events, (size_t)l->nevents * 2 * sizeof(*l->events));
            if (e != NULL) {
                l->events = e;
                l->nevents *= 2;
            }
        }
        if (!l->stop) loop_run_timers(l);
    }
    return 0;
}
