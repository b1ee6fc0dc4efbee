/* conn.c: the one framed, non-blocking TLS connection on the event loop (conn.h): its states,
 * loop registration, timers and public calls; the data path (buffers, reads, writes, frame
 * delivery) is conn_io.c, the socket helpers sock.c. A connection goes CONNECTING (client TCP
 * connect) -> HANDSHAKE -> OPEN and, when closed gracefully, FLUSHING (queued output) -> SHUTDOWN
 * (close_notify) -> DRAIN (wait for the peer's FIN) -> DEAD. Every entry point (loop callbacks and
 * the public calls) counts a nesting depth; on_close and the free happen only when the outermost
 * entry returns, so a connection may be closed from inside its own callbacks. A paused connection
 * delivers no frames but still reads (bounded) so a peer that hangs up is noticed at once. */
#include "conn_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "log.h"
#include "tls.h"

static void conn_progress_close(struct qkd_conn *c);
static void conn_hs_leave(struct qkd_conn *c);
static void conn_io_cb(struct qkd_loop *loop, int fd, int events, void *arg);
static void conn_idle_cb(struct qkd_loop *loop, uint64_t id, void *arg);
static void conn_close_cb(struct qkd_loop *loop, uint64_t id, void *arg);

/* ---- small helpers ---- */

static void conn_format_addr(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        if (inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host)) != NULL) {
            snprintf(out, outlen, "%s:%u", host, (unsigned)ntohs(a->sin_port));
            return;
        }
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        if (inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host)) != NULL) {
            snprintf(out, outlen, "[%s]:%u", host, (unsigned)ntohs(a->sin6_port));
            return;
        }
    }
    snprintf(out, outlen, "unknown");
}

static void conn_fill_peer(struct qkd_conn *c)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) == 0)
        conn_format_addr(&ss, c->peer, sizeof(c->peer));
    else
        snprintf(c->peer, sizeof(c->peer), "unknown");
}

static void conn_cancel_timer(struct qkd_conn *c, uint64_t *id)
{
    if (*id != 0) {
        qkd_loop_del_timer(c->loop, *id);
        *id = 0;
    }
}

static void conn_update_mask(struct qkd_conn *c)
{
    int m = 0;
    int out_pending = c->out_len > c->out_off;

    switch (c->state) {
    case ST_CONNECTING:
        m = QKD_EV_WRITE;
        break;
    case ST_HANDSHAKE:
        m = c->hs_want;
        break;
    case ST_OPEN:
        if (c->write_wants_read || (!c->throttled && (!c->paused || conn_paused_room(c) > 0)))
            m |= QKD_EV_READ;
        if (c->read_wants_write || (out_pending && !c->write_wants_read)) m |= QKD_EV_WRITE;
        break;
    case ST_FLUSHING:
        if (!c->peer_closed || c->write_wants_read)
            m = QKD_EV_READ; /* after close_notify the socket may sit at EOF: do not spin */
        if (c->read_wants_write || (out_pending && !c->write_wants_read)) m |= QKD_EV_WRITE;
        break;
    case ST_SHUTDOWN:
        m = c->shut_want;
        break;
    case ST_DRAIN:
        m = QKD_EV_READ;
        break;
    case ST_DEAD:
        return;
    }
    if (m == c->mask) return;
    if (m == 0) {
        qkd_loop_del_fd(c->loop, c->fd);
        c->mask = 0;
        return;
    }
    int rc = c->mask == 0 ? qkd_loop_add_fd(c->loop, c->fd, m, conn_io_cb, c)
                          : qkd_loop_set_mask(c->loop, c->fd, m);
    if (rc != 0) {
        log_error("connection %s: cannot register with the event loop", c->peer);
        conn_begin_close(c, "event loop registration failed", 0);
        return;
    }
    c->mask = m;
}

/* ---- lifetime ---- */

static void conn_free(struct qkd_conn *c)
{
    conn_cancel_timer(c, &c->hs_timer);
    conn_cancel_timer(c, &c->idle_timer);
    conn_cancel_timer(c, &c->kick_timer);
    conn_cancel_timer(c, &c->close_timer);
    if (c->fd >= 0) {
        if (c->mask != 0) qkd_loop_del_fd(c->loop, c->fd);
        close(c->fd);
    }
    SSL_free(c->ssl);
    OPENSSL_clear_free(c->in, c->in_cap);
    OPENSSL_clear_free(c->out, c->out_cap);
    free(c);
}

/* Closes the socket now; the struct lives on until on_close ran and the stack unwound. */
void conn_teardown(struct qkd_conn *c)
{
    conn_hs_leave(c);
    if (c->state == ST_DEAD) return;
    c->state = ST_DEAD;
    if (c->mask != 0) qkd_loop_del_fd(c->loop, c->fd);
    c->mask = 0;
    close(c->fd);
    c->fd = -1;
    conn_cancel_timer(c, &c->hs_timer);
    conn_cancel_timer(c, &c->idle_timer);
    conn_cancel_timer(c, &c->close_timer);
}

static void conn_enter(struct qkd_conn *c)
{
    c->depth++;
}

/* Leaves an entry point. The outermost one updates the loop registration, runs on_close when
 * owed (or, if may_notify is 0, schedules it on the loop) and frees a dead, notified conn. */
static void conn_leave(struct qkd_conn *c, int may_notify)
{
    if (c->depth > 1) {
        c->depth--;
        return;
    }
    if (c->state != ST_DEAD) conn_update_mask(c);
    if (c->notify_pending && !c->notified) {
        if (may_notify) {
            c->notified = 1;
            if (c->ops.on_close != NULL) c->ops.on_close(c, c->reason, c->arg);
            if (c->state != ST_DEAD) conn_update_mask(c);
        } else {
            conn_kick(c);
        }
    }
    c->depth--;
    if (c->state == ST_DEAD && c->notified) conn_free(c);
}

/* ---- handshake group ---- */

static void conn_hs_leave(struct qkd_conn *c)
{
    struct qkd_conn_hs_group *g = c->hsg;
    if (g == NULL) return;
    if (c->hs_prev)
        c->hs_prev->hs_next = c->hs_next;
    else
        g->oldest = c->hs_next;
    if (c->hs_next)
        c->hs_next->hs_prev = c->hs_prev;
    else
        g->newest = c->hs_prev;
    c->hs_prev = c->hs_next = NULL;
    c->hsg = NULL;
    g->n--;
}

/* The member to close for room: the oldest that has not sent a byte yet (a real client sends
 * its ClientHello at once; a host holding slots need not), else the oldest. */
static struct qkd_conn *conn_hs_victim(struct qkd_conn_hs_group *g)
{
    for (struct qkd_conn *m = g->oldest; m != NULL; m = m->hs_next)
        if (BIO_number_read(SSL_get_rbio(m->ssl)) == 0) return m;
    return g->oldest;
}

/* Joins c to g, first closing members (conn_hs_victim) while g is full. An evicted conn's
 * on_close runs from the loop (a kick), never from inside the caller's accept path. */
static void conn_hs_join(struct qkd_conn *c, struct qkd_conn_hs_group *g)
{
    while (g->max > 0 && g->n >= g->max && g->oldest != NULL) {
        struct qkd_conn *old = conn_hs_victim(g);
        conn_hs_leave(old);
        g->evicted++;
        log_warn("connection %s: %u connections in their TLS handshake (the limit); closing "
                 "the oldest to make room for %s",
                 old->peer, g->max, c->peer);
        conn_enter(old);
        conn_begin_close(old, "handshake limit", 0);
        conn_leave(old, 0);
    }
    c->hsg = g;
    c->hs_prev = g->newest;
    if (g->newest)
        g->newest->hs_next = c;
    else
        g->oldest = c;
    g->newest = c;
    g->n++;
}

void qkd_conn_hs_group_detach(struct qkd_conn_hs_group *g)
{
    if (g == NULL) return;
    while (g->oldest != NULL)
        conn_hs_leave(g->oldest);
}

static void conn_opened(struct qkd_conn *c)
{
    conn_hs_leave(c);
    conn_cancel_timer(c, &c->hs_timer);
    c->state = ST_OPEN;
    c->last_frame_ms = qkd_now_ms();
    if (c->lim.idle_ms > 0)
        c->idle_timer = qkd_loop_add_timer(c->loop, c->lim.idle_ms, conn_idle_cb, c);
    if (qkd_log_get_level() <= QKD_LOG_DEBUG) {
        char name[256];
        if (qkd_tls_peer_name(c->ssl, name, sizeof(name)) != 0) snprintf(name, sizeof(name), "?");
        const char *g = SSL_get0_group_name(c->ssl);
        log_debug("TLS connection %s open: peer %s, group %s", c->peer, name, g ? g : "?");
    }
    if (c->ops.on_open != NULL) c->ops.on_open(c, c->arg);
    if (c->state != ST_OPEN) return;
    conn_flush(c);
    if (c->state == ST_OPEN)
        conn_read(c); /* application data may have arrived with the handshake */
}

static void conn_handshake(struct qkd_conn *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        conn_opened(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        c->hs_want = e == SSL_ERROR_WANT_READ ? QKD_EV_READ : QKD_EV_WRITE;
        return;
    }
    char why[160], reason[CONN_REASON_LEN];
    if (c->server && BIO_number_read(SSL_get_rbio(c->ssl)) == 0) {
        /* Connected and went away without sending a byte: a port probe or TCP health check,
         * not a TLS failure worth a warning. */
        snprintf(reason, sizeof(reason), "closed before the TLS handshake (port probe)");
        log_debug("connection %s: %s", c->peer, reason);
        conn_begin_close(c, reason, 0);
        return;
    }
    conn_ssl_error(c, r, e, why, sizeof(why));
    if (c->hsg != NULL) c->hsg->failed++; /* qkd_tls_handshake_failures_total */
    snprintf(reason, sizeof(reason), "TLS handshake failed: %s", why);
    log_warn("connection %s: %s", c->peer, reason);
    conn_begin_close(c, reason, 0);
}

static void conn_connected(struct qkd_conn *c)
{
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) soerr = errno;
    if (soerr == EINPROGRESS || soerr == EALREADY) return;
    if (soerr != 0) {
        char reason[CONN_REASON_LEN];
        snprintf(reason, sizeof(reason), "connect failed: %s", strerror(soerr));
        log_debug("connection: %s", reason);
        conn_begin_close(c, reason, 0);
        return;
    }
    conn_fill_peer(c);
    c->state = ST_HANDSHAKE;
    c->hs_want = QKD_EV_WRITE;
    conn_handshake(c);
}

static void conn_progress_close(struct qkd_conn *c)
{
    for (;;) {
        switch (c->state) {
        case ST_FLUSHING:
            conn_discard_input(c);
            if (c->state != ST_FLUSHING) return;
            conn_flush(c);
            if (c->state != ST_FLUSHING || c->out_len > c->out_off) return;
            c->state = ST_SHUTDOWN;
            c->shut_want = QKD_EV_WRITE;
            break;
        case ST_SHUTDOWN: {
            ERR_clear_error();
            int r = SSL_shutdown(c->ssl);
            if (r == 1) {
                conn_teardown(c);
                return;
            }
            if (r == 0) {
                (void)shutdown(c->fd, SHUT_WR);
                c->state = ST_DRAIN;
                break;
            }
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                c->shut_want = e == SSL_ERROR_WANT_READ ? QKD_EV_READ : QKD_EV_WRITE;
                return;
            }
            ERR_clear_error();
            conn_teardown(c);
            return;
        }
        case ST_DRAIN: {
            uint8_t scratch[4096];
            for (int i = 0; i < CONN_READ_BUDGET; i++) {
                ssize_t n = recv(c->fd, scratch, sizeof(scratch), 0);
                if (n > 0) continue; /* still encrypted: nothing to wipe */
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
                conn_teardown(c);
                return;
            }
            return; /* more later; the close timer bounds this */
        }
        default:
            return;
        }
    }
}

/* Starts closing. graceful: an open conn flushes its output and sends close_notify; otherwise
 * (or when not open) the socket is closed at once. on_close is owed from here on. */
void conn_begin_close(struct qkd_conn *c, const char *reason, int graceful)
{
    if (c->state >= ST_FLUSHING) {
        if (!graceful) conn_teardown(c);
        return;
    }
    snprintf(c->reason, sizeof(c->reason), "%s", reason != NULL ? reason : "closed");
    c->notify_pending = 1;
    conn_cancel_timer(c, &c->hs_timer);
    conn_cancel_timer(c, &c->idle_timer);
    if (graceful && c->state == ST_OPEN) {
        c->state = ST_FLUSHING;
        c->close_timer = qkd_loop_add_timer(c->loop, c->lim.close_ms, conn_close_cb, c);
        conn_progress_close(c);
    } else {
        conn_teardown(c);
    }
}

/* ---- loop callbacks ---- */

static void conn_io_cb(struct qkd_loop *loop, int fd, int events, void *arg)
{
    struct qkd_conn *c = arg;
    conn_enter(c);
    switch (c->state) {
    case ST_CONNECTING:
        conn_connected(c);
        break;
    case ST_HANDSHAKE:
        conn_handshake(c);
        break;
    case ST_OPEN:
        conn_read(c);
        if (c->state == ST_OPEN) conn_flush(c);
        break;
    case ST_FLUSHING:
    case ST_SHUTDOWN:
    case ST_DRAIN:
        conn_progress_close(c);
        break;
    case ST_DEAD:
        break;
    }
    conn_leave(c, 1);
}

static void conn_kick_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct qkd_conn *c = arg;
    c->kick_timer = 0;
    conn_enter(c);
    if (c->state == ST_OPEN) {
        conn_read(c);
        if (c->state == ST_OPEN) conn_flush(c);
    } else if (c->state >= ST_FLUSHING && c->state < ST_DEAD) {
        conn_progress_close(c);
    }
    conn_leave(c, 1);
}

void conn_kick(struct qkd_conn *c)
{
    if (c->kick_timer == 0) c->kick_timer = qkd_loop_add_timer(c->loop, 0, conn_kick_cb, c);
}

static void conn_idle_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct qkd_conn *c = arg;
    c->idle_timer = 0;
    if (c->state != ST_OPEN) return;
    conn_enter(c);
    uint64_t now = qkd_now_ms();
    uint64_t deadline = c->last_frame_ms + c->lim.idle_ms;
    if (c->paused) {
        /* Waiting on us is not idleness. */
        c->last_frame_ms = now;
        c->idle_timer = qkd_loop_add_timer(loop, c->lim.idle_ms, conn_idle_cb, c);
    } else if (now >= deadline) {
        log_info("closing idle connection %s (no %s for %lu ms)", c->peer,
                 c->ops.on_data != NULL ? "data" : "frame", (unsigned long)c->lim.idle_ms);
        conn_begin_close(c, "idle timeout", 1);
    } else {
        c->idle_timer = qkd_loop_add_timer(loop, deadline - now, conn_idle_cb, c);
    }
    conn_leave(c, 1);
}

static void conn_hs_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct qkd_conn *c = arg;
    c->hs_timer = 0;
    if (c->state != ST_CONNECTING && c->state != ST_HANDSHAKE) return;
    conn_enter(c);
    log_warn("connection %s: TLS handshake timeout", c->peer);
    conn_begin_close(c, "TLS handshake timeout", 0);
    conn_leave(c, 1);
}

static void conn_close_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct qkd_conn *c = arg;
    c->close_timer = 0;
    conn_enter(c);
    if (c->state != ST_DEAD) log_debug("connection %s: graceful close timed out", c->peer);
    conn_teardown(c);
    conn_leave(c, 1);
}

/* ---- public API ---- */

struct qkd_conn *qkd_conn_new(struct qkd_loop *loop, SSL_CTX *ctx, int fd, int server,
                              const struct qkd_conn_limits *lim, const struct qkd_conn_ops *ops,
                              void *arg)
{
    if (loop == NULL || ctx == NULL || fd < 0 || ops == NULL ||
        (ops->on_frame != NULL && ops->on_data != NULL)) { /* one mode or the other */
        if (fd >= 0) close(fd);
        return NULL;
    }
    struct qkd_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return NULL;
    }
    c->loop = loop;
    c->fd = fd;
    c->server = server != 0;
    c->ops = *ops;
    c->arg = arg;
    if (lim != NULL) c->lim = *lim;
    if (c->lim.max_payload == 0) c->lim.max_payload = QKD_CONN_DEFAULT_MAX_PAYLOAD;
    if (c->lim.handshake_ms == 0) c->lim.handshake_ms = QKD_CONN_DEFAULT_HANDSHAKE_MS;
    if (c->lim.max_outbuf == 0) c->lim.max_outbuf = QKD_CONN_DEFAULT_MAX_OUTBUF;
    if (c->lim.close_ms == 0) c->lim.close_ms = QKD_CONN_DEFAULT_CLOSE_MS;

    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
        log_error("connection: cannot make socket non-blocking: %s", strerror(errno));
        goto fail;
    }
    ERR_clear_error();
    c->ssl = SSL_new(ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, fd) != 1) {
        qkd_log_openssl("SSL_new");
        goto fail;
    }
    if (c->server) {
        SSL_set_accept_state(c->ssl);
        conn_fill_peer(c);
        c->state = ST_HANDSHAKE;
        c->hs_want = QKD_EV_READ;
    } else {
        SSL_set_connect_state(c->ssl);
        conn_fill_peer(c);
        c->state = ST_CONNECTING;
    }
    int mask = c->state == ST_CONNECTING ? QKD_EV_WRITE : c->hs_want;
    if (qkd_loop_add_fd(loop, fd, mask, conn_io_cb, c) != 0) {
        log_error("connection %s: cannot register with the event loop", c->peer);
        goto fail;
    }
    c->mask = mask;
    c->hs_timer = qkd_loop_add_timer(loop, c->lim.handshake_ms, conn_hs_cb, c);
    if (c->server && c->lim.hs_group != NULL) conn_hs_join(c, c->lim.hs_group);
    return c;

fail:
    close(fd);
    SSL_free(c->ssl);
    free(c);
    return NULL;
}

static int conn_queue(struct qkd_conn *c, const uint8_t *a, size_t alen, const uint8_t *b,
                      size_t blen)
{
    if (c == NULL) return -1;
    conn_enter(c);
    int rc = -1;
    if (c->state <= ST_OPEN) {
        size_t pend = c->out_len - c->out_off;
        if (pend + alen + blen > c->lim.max_outbuf) {
            char reason[CONN_REASON_LEN];
            snprintf(reason, sizeof(reason), "output buffer full (%zu > %zu bytes)",
                     pend + alen + blen, c->lim.max_outbuf);
            log_warn("closing connection %s: %s", c->peer, reason);
            conn_begin_close(c, reason, 0);
        } else if (conn_out_append(c, a, alen, b, blen) != 0) {
            log_error("connection %s: out of memory", c->peer);
            conn_begin_close(c, "out of memory", 0);
        } else {
            rc = 0;
            if (c->state == ST_OPEN && !c->write_wants_read) conn_flush(c);
            conn_throttle_check(c);
        }
    }
    conn_leave(c, 0);
    return rc;
}

int qkd_conn_send(struct qkd_conn *c, const uint8_t *frame, size_t len)
{
    if (frame == NULL && len > 0) return -1;
    return conn_queue(c, frame, len, NULL, 0);
}

int qkd_conn_send_parts(struct qkd_conn *c, const uint8_t *a, size_t alen, const uint8_t *b,
                        size_t blen)
{
    if ((a == NULL && alen > 0) || (b == NULL && blen > 0)) return -1;
    return conn_queue(c, a, alen, b, blen);
}

int qkd_conn_send_msg(struct qkd_conn *c, const uint8_t version[3], uint8_t service,
                      const uint8_t *payload, uint32_t len)
{
    uint8_t hdr[QKD_WIRE_HDR_LEN];
    if (version == NULL || (payload == NULL && len > 0)) return -1;
    hdr[0] = version[0];
    hdr[1] = version[1];
    hdr[2] = version[2];
    hdr[3] = service;
    hdr[4] = (uint8_t)(len >> 24);
    hdr[5] = (uint8_t)(len >> 16);
    hdr[6] = (uint8_t)(len >> 8);
    hdr[7] = (uint8_t)len;
    return conn_queue(c, hdr, sizeof(hdr), payload, len);
}

void qkd_conn_close(struct qkd_conn *c, const char *reason)
{
    if (c == NULL) return;
    conn_enter(c);
    conn_begin_close(c, reason, 1);
    conn_leave(c, 1);
}

void qkd_conn_abort(struct qkd_conn *c, const char *reason)
{
    if (c == NULL) return;
    conn_enter(c);
    conn_begin_close(c, reason, 0);
    conn_leave(c, 1);
}

void qkd_conn_pause(struct qkd_conn *c)
{
    if (c == NULL) return;
    conn_enter(c);
    c->paused = 1;
    conn_leave(c, 0);
}

void qkd_conn_resume(struct qkd_conn *c)
{
    if (c == NULL) return;
    conn_enter(c);
    if (c->paused) {
        c->paused = 0;
        if (c->state == ST_OPEN)
            conn_kick(c); /* deliver held frames from the loop, not from inside this call */
    }
    conn_leave(c, 0);
}

void qkd_conn_touch(struct qkd_conn *c)
{
    if (c != NULL) c->last_frame_ms = qkd_now_ms();
}

SSL *qkd_conn_ssl(struct qkd_conn *c)
{
    return c != NULL ? c->ssl : NULL;
}

const char *qkd_conn_peer_addr(struct qkd_conn *c)
{
    return c != NULL ? c->peer : "unknown";
}

void qkd_conn_set_arg(struct qkd_conn *c, void *arg)
{
    if (c != NULL) c->arg = arg;
}

size_t qkd_conn_pending_input(const struct qkd_conn *c)
{
    return c != NULL ? c->in_len - c->in_off : 0;
}

size_t qkd_conn_pending_output(const struct qkd_conn *c)
{
    return c != NULL ? c->out_len - c->out_off : 0;
}

int qkd_conn_throttled(const struct qkd_conn *c)
{
    return c != NULL && c->throttled;
}
