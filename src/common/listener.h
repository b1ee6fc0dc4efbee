/* listener.h: the project's one TCP listener on the event loop (docs/architecture.md), used by
 * the ETSI 004 listener (etsi_server.c), the key server's peer-sync listener, the hybrid
 * daemon's JSON and peer listeners and the keygen receiver. It accepts until the backlog is
 * empty; caps the live connections (those still in their handshake included) and, through a
 * handshake group of conn.h, the connections still in their TLS handshake (the oldest is closed
 * to make room); tolerates ECONNABORTED; and after EMFILE/ENFILE (or another accept failure)
 * stops watching the listening socket for fd_backoff_ms instead of spinning the loop. */
#ifndef QKD_LISTENER_H
#define QKD_LISTENER_H

#include <stdint.h>

#include "conn.h"
#include "evloop.h"

#define QKD_LISTENER_DEFAULT_FD_BACKOFF_MS 100u /* no accept for this long after EMFILE */

struct qkd_listener;

struct qkd_listener_cfg {
    const char *addr;        /* "host:port" / "[v6]:port"; port 0 = any free port */
    const char *name;        /* for logs: "ETSI 004", "peer sync", ... */
    int backlog;             /* 0 = SOMAXCONN */
    uint32_t max_conns;      /* live connections, handshakes included; 0 = no cap */
    uint32_t *shared_count;  /* counter shared with another listener, so max_conns bounds the
                              * sum; NULL = this listener counts alone */
    uint32_t max_handshakes; /* TLS connections still in their handshake; 0 = no cap */
    uint32_t fd_backoff_ms;  /* after EMFILE/ENFILE; 0 = QKD_LISTENER_DEFAULT_FD_BACKOFF_MS */
};

/* A new connection: fd is non-blocking, close-on-exec, TCP_NODELAY. Return 0 when taken: it
 * then counts as live until qkd_listener_gone. Return -1 when not taken (the callee closed fd
 * or handed it to qkd_conn_new, which closes it on failure). A TLS user passes
 * qkd_listener_hs_group in its qkd_conn_limits. */
typedef int (*qkd_listener_accept_fn)(struct qkd_listener *l, int fd, void *arg);

/* Listens on cfg->addr and watches it on loop. NULL with the reason in err on failure. */
struct qkd_listener *qkd_listener_new(struct qkd_loop *loop, const struct qkd_listener_cfg *cfg,
                                      qkd_listener_accept_fn on_accept, void *arg, char *err,
                                      size_t errlen);
/* Closes the listening socket; connections already accepted are the caller's (close them
 * first, or they leave their handshake group uncapped). */
void qkd_listener_free(struct qkd_listener *l);
/* A connection taken by on_accept is gone. */
void qkd_listener_gone(struct qkd_listener *l);
/* The handshake group new TLS connections of this listener join (NULL without a cap). */
struct qkd_conn_hs_group *qkd_listener_hs_group(struct qkd_listener *l);
int qkd_listener_port(const struct qkd_listener *l);
uint32_t qkd_listener_count(const struct qkd_listener *l);
/* Times accepting paused after EMFILE/ENFILE or another accept failure (tests, statistics). */
uint64_t qkd_listener_backoffs(const struct qkd_listener *l);

#endif
