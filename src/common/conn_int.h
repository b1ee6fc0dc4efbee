/* conn_int.h: what conn.c (states, timers, public calls) and conn_io.c (buffers, reads,
 * writes, frame delivery) share about one framed TLS connection (conn.h); not for other
 * files. The states and the nesting rule are described atop conn.c. */
#ifndef QKD_CONN_INT_H
#define QKD_CONN_INT_H

#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <openssl/ssl.h>

#include "conn.h"

#define CONN_READ_CHUNK  (16u * 1024u)  /* free space kept for one SSL_read (a TLS record) */
#define CONN_WRITE_MAX   (256u * 1024u) /* most bytes handed to one SSL_write */
#define CONN_READ_BUDGET 64             /* SSL_reads per wake-up before yielding to the loop */
#define CONN_ADDR_LEN    (INET6_ADDRSTRLEN + 8)
#define CONN_REASON_LEN  200

enum conn_state {
    ST_CONNECTING, /* client: TCP connect in progress */
    ST_HANDSHAKE,
    ST_OPEN,
    ST_FLUSHING, /* graceful close: writing queued output */
    ST_SHUTDOWN, /* sending close_notify */
    ST_DRAIN,    /* close_notify sent and write side shut; waiting for the peer's FIN */
    ST_DEAD,     /* socket closed */
};

struct qkd_conn {
    struct qkd_loop *loop;
    SSL *ssl;
    int fd;
    int server;
    enum conn_state state;
    struct qkd_conn_limits lim;
    struct qkd_conn_ops ops;
    void *arg;
    char peer[CONN_ADDR_LEN];
    char reason[CONN_REASON_LEN];

    uint8_t *in; /* received bytes: [in_off, in_len) not yet delivered */
    size_t in_off, in_len, in_cap;
    uint8_t *out; /* queued output: [out_off, out_len) not yet written */
    size_t out_off, out_len, out_cap;
    size_t wretry; /* length of an SSL_write that must be retried unchanged; 0 = none */

    int hs_want;          /* QKD_EV_READ or QKD_EV_WRITE the handshake waits for */
    int shut_want;        /* same for SSL_shutdown */
    int read_wants_write; /* SSL_read returned WANT_WRITE */
    int write_wants_read; /* SSL_write returned WANT_READ */
    int peer_closed;      /* close_notify received */
    int paused;
    int throttled; /* back-pressure: output above lim.out_high, not yet drained to half */
    int mask;      /* mask registered with the loop; 0 = not registered */

    int depth;          /* nesting of entry points currently running */
    int notify_pending; /* closing: on_close still owed */
    int notified;       /* on_close ran: no more callbacks */

    struct qkd_conn_hs_group *hsg;      /* in this group while in its handshake; NULL = not */
    struct qkd_conn *hs_prev, *hs_next; /* hs_prev: older, hs_next: newer member */

    uint64_t hs_timer, idle_timer, kick_timer, close_timer;
    uint64_t last_frame_ms;
};

/* conn.c */
/* Starts closing; see conn.c. graceful: an open conn flushes, sends close_notify. */
void conn_begin_close(struct qkd_conn *c, const char *reason, int graceful);
void conn_teardown(struct qkd_conn *c); /* closes the socket now */
void conn_kick(struct qkd_conn *c);     /* reads/flushes again from a 0 ms timer */

/* conn_io.c */
void conn_ssl_error(struct qkd_conn *c, int ret, int e, char *out, size_t outlen);
size_t conn_paused_room(const struct qkd_conn *c);
int conn_out_append(struct qkd_conn *c, const uint8_t *a, size_t alen, const uint8_t *b,
                    size_t blen);
void conn_flush(struct qkd_conn *c);
void conn_throttle_check(struct qkd_conn *c); /* sets or clears throttled from the output */
void conn_read(struct qkd_conn *c);
void conn_discard_input(struct qkd_conn *c);

#endif
