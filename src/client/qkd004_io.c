/* qkd004_io.c: the blocking transport of libqkd004. A non-blocking socket driven by poll() so
 * that the TCP connect, the TLS handshake and every read and write respect a deadline; exact
 * reads and writes over TLS; detection of a connection the server closed while idle. SIGPIPE
 * is blocked in the calling thread while writing, so a closed peer is an error, not a
 * signal. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "evloop.h"
#include "sock.h"
#include "qkd004_int.h"

/* Waits until fd is ready for events or the deadline passes. Returns 1 ready, 0 timed out,
 * -1 on a poll error. Retries after signals with the remaining time. */
static int io_wait(int fd, short events, uint64_t deadline)
{
    for (;;) {
        int tmo = -1;
        if (deadline) {
            uint64_t now = qkd_now_ms();
            if (now >= deadline) return 0;
            uint64_t left = deadline - now;
            tmo = left > (uint64_t)INT32_MAX ? INT32_MAX : (int)left;
        }
        struct pollfd p = {.fd = fd, .events = events, .revents = 0};
        int r = poll(&p, 1, tmo);
        if (r > 0) return 1;
        if (r == 0) return 0;
        if (errno != EINTR) return -1;
    }
}

/* The reason of the newest OpenSSL error, or fallback; clears the queue. */
static const char *io_ssl_reason(const char *fallback)
{
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0)
        last = e;
    const char *r = last ? ERR_reason_error_string(last) : NULL;
    return r ? r : fallback;
}

struct io_sigpipe {
    sigset_t old;
    int was_pending;
};

static void io_sigpipe_block(struct io_sigpipe *s)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigemptyset(&pending);
    sigpending(&pending);
    s->was_pending = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &set, &s->old);
}

/* Discards a SIGPIPE raised by our own write (not one that was pending before), restores. */
static void io_sigpipe_restore(struct io_sigpipe *s)
{
    if (!s->was_pending) {
        sigset_t set, pending;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        sigemptyset(&pending);
        if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
            struct timespec zero = {0, 0};
            while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR) {
            }
        }
    }
    pthread_sigmask(SIG_SETMASK, &s->old, NULL);
}

/* Connects the TCP socket to the first address that answers. Returns the fd or a negative
 * QKD004_ERR_*. */
static int io_tcp_connect(struct qkd004_conn *c, uint64_t deadline)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gr = getaddrinfo(c->host, c->port, &hints, &res);
    if (gr != 0)
        return qkd004_fail(c, QKD004_ERR_CONNECT, "cannot resolve %s:%s: %s", c->host, c->port,
                           gai_strerror(gr));
    int last_errno = 0;
    int timed_out = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (r < 0 && errno == EINPROGRESS) {
            int w = io_wait(fd, POLLOUT, deadline);
            if (w == 0) {
                timed_out = 1;
                close(fd);
                break;
            }
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (w < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) soerr = errno;
            if (soerr != 0) {
                errno = soerr;
                r = -1;
            } else {
                r = 0;
            }
        }
        if (r < 0) {
            last_errno = errno;
            close(fd);
            continue;
        }
        qkd_tcp_nodelay(fd); /* latency only; the connection works without it */
        freeaddrinfo(res);
        return fd;
    }
    freeaddrinfo(res);
    if (timed_out)
        return qkd004_fail(c, QKD004_ERR_TIMEOUT, "connect to %s:%s timed out after %u ms", c->host,
                           c->port, c->connect_timeout_ms);
    return qkd004_fail(c, QKD004_ERR_CONNECT, "cannot connect to %s:%s: %s", c->host, c->port,
                       strerror(last_errno ? last_errno : ECONNREFUSED));
}

/* Sets SNI and the name the server certificate must carry. */
static int io_set_name(struct qkd004_conn *c, SSL *ssl)
{
    if (!c->server_name[0]) return 0;
    unsigned char ipbuf[16];
    int is_ip = inet_pton(AF_INET, c->server_name, ipbuf) == 1 ||
                inet_pton(AF_INET6, c->server_name, ipbuf) == 1;
    if (is_ip)
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), c->server_name) == 1 ? 0 : -1;
    if (SSL_set_tlsext_host_name(ssl, c->server_name) != 1) return -1;
    return SSL_set1_host(ssl, c->server_name) == 1 ? 0 : -1;
}

static int io_handshake(struct qkd004_conn *c, uint64_t deadline)
{
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(c->ssl);
        if (r == 1) return QKD004_OK;
        int e = SSL_get_error(c->ssl, r);
        short ev;
        if (e == SSL_ERROR_WANT_READ) {
            ev = POLLIN;
        } else if (e == SSL_ERROR_WANT_WRITE) {
            ev = POLLOUT;
        } else {
            long vr = SSL_get_verify_result(c->ssl);
            const char *why = io_ssl_reason(NULL);
            if (vr != X509_V_OK)
                return qkd004_fail(c, QKD004_ERR_TLS,
                                   "TLS handshake with %s:%s failed: server certificate: %s",
                                   c->host, c->port, X509_verify_cert_error_string(vr));
            if (!why)
                why = (e == SSL_ERROR_SYSCALL && errno) ? strerror(errno)
                                                        : "server closed the connection";
            return qkd004_fail(c, QKD004_ERR_TLS, "TLS handshake with %s:%s failed: %s", c->host,
                               c->port, why);
        }
        int w = io_wait(c->fd, ev, deadline);
        if (w == 0)
            return qkd004_fail(c, QKD004_ERR_TIMEOUT,
                               "TLS handshake with %s:%s timed out after %u ms", c->host, c->port,
                               c->connect_timeout_ms);
        if (w < 0) return qkd004_fail(c, QKD004_ERR_IO, "poll: %s", strerror(errno));
    }
}

int qkd004_io_connect(struct qkd004_conn *c)
{
    uint64_t deadline = qkd004_deadline(c->connect_timeout_ms);
    int fd = io_tcp_connect(c, deadline);
    if (fd < 0) return fd;
    c->fd = fd;
    c->ssl = SSL_new(c->ctx);
    if (!c->ssl) {
        qkd004_io_drop(c);
        return qkd004_fail(c, QKD004_ERR_NOMEM, "SSL_new: %s", io_ssl_reason("out of memory"));
    }
    /* Frames are length-delimited, so a missing close_notify cannot truncate silently: treat
     * a bare EOF as a close and report the frame position. */
    SSL_set_options(c->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (SSL_set_fd(c->ssl, fd) != 1 || io_set_name(c, c->ssl) != 0) {
        qkd004_io_drop(c);
        return qkd004_fail(c, QKD004_ERR_TLS, "TLS setup for %s failed: %s", c->server_name,
                           io_ssl_reason("bad server name"));
    }
    struct io_sigpipe sp;
    io_sigpipe_block(&sp);
    int r = io_handshake(c, deadline);
    io_sigpipe_restore(&sp);
    if (r != QKD004_OK) {
        char keep[QKD004_ERR_MAX];
        memcpy(keep, c->err, sizeof keep);
        qkd004_io_drop(c);
        memcpy(c->err, keep, sizeof keep);
        return r;
    }
    return QKD004_OK;
}

void qkd004_io_drop(struct qkd004_conn *c)
{
    if (c->ssl) {
        struct io_sigpipe sp;
        io_sigpipe_block(&sp);
        (void)SSL_shutdown(c->ssl); /* one non-blocking attempt at close_notify */
        io_sigpipe_restore(&sp);
        SSL_free(c->ssl);
        c->ssl = NULL;
        ERR_clear_error();
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

int qkd004_io_stale(struct qkd004_conn *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN, .revents = 0};
    int r = poll(&p, 1, 0);
    if (r == 0) return 0;
    if (r < 0) return errno == EINTR ? 0 : 1;
    /* Readable while idle: session tickets (fine), a close, or stray bytes (both stale). */
    uint8_t b;
    size_t n = 0;
    ERR_clear_error();
    int ok = SSL_peek_ex(c->ssl, &b, 1, &n);
    if (ok == 1) return 1;
    int e = SSL_get_error(c->ssl, ok);
    ERR_clear_error();
    return !(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE);
}

/* Maps a failed SSL_read/SSL_write to a QKD004_ERR_* (or 0 when it asks to wait, with *ev
 * set). */
static int io_ssl_fail(struct qkd004_conn *c, int r, short *ev, const char *what)
{
    int e = SSL_get_error(c->ssl, r);
    int sys = errno;
    switch (e) {
    case SSL_ERROR_WANT_READ:
        *ev = POLLIN;
        return 0;
    case SSL_ERROR_WANT_WRITE:
        *ev = POLLOUT;
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        return qkd004_fail(c, QKD004_ERR_CLOSED, "server closed the connection");
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        if (sys == 0 || sys == ECONNRESET || sys == EPIPE)
            return qkd004_fail(c, QKD004_ERR_CLOSED, "server closed the connection%s",
                               sys == ECONNRESET ? " (reset)" : "");
        return qkd004_fail(c, QKD004_ERR_IO, "%s: %s", what, strerror(sys));
    default:
        return qkd004_fail(c, QKD004_ERR_TLS, "TLS error while %s: %s", what,
                           io_ssl_reason("unknown TLS failure"));
    }
}

int qkd004_io_write(struct qkd004_conn *c, const uint8_t *buf, size_t len, uint64_t deadline)
{
    struct io_sigpipe sp;
    io_sigpipe_block(&sp);
    int rc = QKD004_OK;
    while (len > 0) {
        size_t n = 0;
        ERR_clear_error();
        errno = 0;
        int r = SSL_write_ex(c->ssl, buf, len, &n);
        if (r == 1) {
            buf += n;
            len -= n;
            continue;
        }
        short ev = 0;
        rc = io_ssl_fail(c, r, &ev, "sending");
        if (rc != 0) break;
        int w = io_wait(c->fd, ev, deadline);
        if (w == 0) {
            rc = qkd004_fail(c, QKD004_ERR_TIMEOUT, "sending the request timed out after %u ms",
                             c->call_timeout_ms);
            break;
        }
        if (w < 0) {
            rc = qkd004_fail(c, QKD004_ERR_IO, "poll: %s", strerror(errno));
            break;
        }
    }
    io_sigpipe_restore(&sp);
    return rc;
}

/* Reads len bytes, or (some) at least one and whatever one TLS read gives, by deadline. */
static int io_read(struct qkd004_conn *c, uint8_t *buf, size_t len, uint64_t deadline, size_t *got,
                   int some)
{
    size_t off = 0;
    int rc = QKD004_OK;
    struct io_sigpipe sp;
    io_sigpipe_block(&sp); /* a read may answer a key update */
    while (off < len) {
        size_t n = 0;
        ERR_clear_error();
        errno = 0;
        int r = SSL_read_ex(c->ssl, buf + off, len - off, &n);
        if (r == 1) {
            off += n;
            if (some) break;
            continue;
        }
        short ev = 0;
        rc = io_ssl_fail(c, r, &ev, "receiving");
        if (rc != 0) break;
        int w = io_wait(c->fd, ev, deadline);
        if (w == 0) {
            rc = qkd004_fail(c, QKD004_ERR_TIMEOUT, "no response within %u ms", c->call_timeout_ms);
            break;
        }
        if (w < 0) {
            rc = qkd004_fail(c, QKD004_ERR_IO, "poll: %s", strerror(errno));
            break;
        }
    }
    io_sigpipe_restore(&sp);
    if (got) *got = off;
    return rc;
}

int qkd004_io_read(struct qkd004_conn *c, uint8_t *buf, size_t len, uint64_t deadline, size_t *got)
{
    return io_read(c, buf, len, deadline, got, 0);
}

int qkd004_io_read_some(struct qkd004_conn *c, uint8_t *buf, size_t len, uint64_t deadline,
                        size_t *got)
{
    return io_read(c, buf, len, deadline, got, 1);
}
