/* listener.c: the one accept loop (listener.h; docs/architecture.md). Accepts until EAGAIN,
 * refuses connections beyond max_conns (accepted and closed at once, WARN), and backs off
 * after a failing accept: the listening socket is taken off the loop for fd_backoff_ms (a
 * level-triggered listener with a full descriptor table would otherwise wake the loop again at
 * once, forever). */
#include "listener.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sock.h"

struct qkd_listener {
    struct qkd_loop *loop;
    struct qkd_listener_cfg cfg;
    char name[48];
    qkd_listener_accept_fn on_accept;
    void *arg;
    int fd;
    bool watched;
    uint32_t own_count;
    uint32_t *count; /* &own_count or cfg.shared_count */
    struct qkd_conn_hs_group hsg;
    uint64_t backoff_timer;
    uint64_t backoffs;
};

static void listener_accept_cb(struct qkd_loop *loop, int fd, int events, void *arg);

static void listener_resume_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct qkd_listener *l = arg;
    l->backoff_timer = 0;
    if (qkd_loop_add_fd(loop, l->fd, QKD_EV_READ, listener_accept_cb, l) != 0) {
        log_error("%s listener: cannot watch the listening socket again", l->name);
        return;
    }
    l->watched = true;
    log_info("%s listener: accepting again", l->name);
}

/* Stops accepting for fd_backoff_ms: the pending connections wait in the backlog. */
static void listener_back_off(struct qkd_listener *l, int err)
{
    l->backoffs++;
    log_warn("%s listener: accept: %s; not accepting for %u ms", l->name, strerror(err),
             l->cfg.fd_backoff_ms);
    if (l->watched) qkd_loop_del_fd(l->loop, l->fd);
    l->watched = false;
    if (!l->backoff_timer)
        l->backoff_timer = qkd_loop_add_timer(l->loop, l->cfg.fd_backoff_ms, listener_resume_cb, l);
}

static void listener_accept_cb(struct qkd_loop *loop, int fd, int events, void *arg)
{
    struct qkd_listener *l = arg;
    while (l->watched) {
        int nfd = qkd_tcp_accept(fd);
        if (nfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) listener_back_off(l, errno);
            return;
        }
        if (l->cfg.max_conns > 0 && *l->count >= l->cfg.max_conns) {
            log_warn("%s listener: connection limit (%u) reached; refusing a new connection",
                     l->name, l->cfg.max_conns);
            close(nfd);
            continue;
        }
        if (l->on_accept(l, nfd, l->arg) == 0) (*l->count)++;
    }
}

struct qkd_listener *qkd_listener_new(struct qkd_loop *loop, const struct qkd_listener_cfg *cfg,
                                      qkd_listener_accept_fn on_accept, void *arg, char *err,
                                      size_t errlen)
{
    if (loop == NULL || cfg == NULL || cfg->addr == NULL || on_accept == NULL) {
        snprintf(err, errlen, "listener: missing address or handler");
        return NULL;
    }
    struct qkd_listener *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->loop = loop;
    l->cfg = *cfg;
    l->cfg.addr = NULL; /* not kept: the caller's string */
    snprintf(l->name, sizeof(l->name), "%s", cfg->name ? cfg->name : "TCP");
    l->cfg.name = NULL;
    if (l->cfg.fd_backoff_ms == 0) l->cfg.fd_backoff_ms = QKD_LISTENER_DEFAULT_FD_BACKOFF_MS;
    l->on_accept = on_accept;
    l->arg = arg;
    l->count = cfg->shared_count ? cfg->shared_count : &l->own_count;
    l->hsg.max = cfg->max_handshakes;
    l->fd = qkd_tcp_listen(cfg->addr, cfg->backlog, err, errlen);
    if (l->fd < 0) {
        free(l);
        return NULL;
    }
    if (qkd_loop_add_fd(loop, l->fd, QKD_EV_READ, listener_accept_cb, l) != 0) {
        snprintf(err, errlen, "cannot watch the %s listener", l->name);
        close(l->fd);
        free(l);
        return NULL;
    }
    l->watched = true;
    return l;
}

void qkd_listener_free(struct qkd_listener *l)
{
    if (l == NULL) return;
    if (l->backoff_timer) qkd_loop_del_timer(l->loop, l->backoff_timer);
    if (l->watched) qkd_loop_del_fd(l->loop, l->fd);
    close(l->fd);
    qkd_conn_hs_group_detach(&l->hsg);
    free(l);
}

void qkd_listener_gone(struct qkd_listener *l)
{
    if (l != NULL && *l->count > 0) (*l->count)--;
}

struct qkd_conn_hs_group *qkd_listener_hs_group(struct qkd_listener *l)
{
    return l != NULL && l->hsg.max > 0 ? &l->hsg : NULL;
}

int qkd_listener_port(const struct qkd_listener *l)
{
    return l != NULL ? qkd_tcp_local_port(l->fd) : -1;
}

uint32_t qkd_listener_count(const struct qkd_listener *l)
{
    return l != NULL ? *l->count : 0;
}

uint64_t qkd_listener_backoffs(const struct qkd_listener *l)
{
    return l != NULL ? l->backoffs : 0;
}
