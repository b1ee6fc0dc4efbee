/* conn.h: a non-blocking TLS connection on the event loop that exchanges whole frames of the
 * 8-byte header layout (wire.md): version(3) service(1) payload_len(4). Used by every server
 * and client of the project (ETSI 004, key-server peer sync, keygen link, hybrid peers), so
 * there is one framer. Handles handshake, partial reads/writes, WANT_READ/WANT_WRITE, the
 * maximum payload, the idle timeout and orderly close. In byte-stream mode (ops.on_data) it
 * hands over the received plaintext as it comes instead (HTTP over TLS: https_server.c). */
#ifndef QKD_CONN_H
#define QKD_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "evloop.h"
#include "wire.h"

struct qkd_conn;

struct qkd_conn_ops {
    /* Handshake done; the peer certificate is verified. May be NULL. (TLS 1.3: a client
     * opens before the server has checked the client certificate; a refused client then
     * gets on_close with the server's alert as reason.) */
    void (*on_open)(struct qkd_conn *c, void *arg);
    /* One whole frame: header parsed, payload exactly h->payload_len bytes (valid only during
     * the call). Return 0 to go on, -1 to close the connection. */
    int (*on_frame)(struct qkd_conn *c, const struct qkd_wire_hdr *h, const uint8_t *payload,
                    void *arg);
    /* The connection is gone (peer closed, error, idle, protocol violation, or
     * qkd_conn_close). reason is a short text. The conn is freed right after this returns. */
    void (*on_close)(struct qkd_conn *c, const char *reason, void *arg);
    /* Byte-stream mode (set this, leave on_frame NULL): the received plaintext not consumed
     * yet, as it comes (valid only during the call; wiped after). Return how many leading
     * bytes were consumed: the rest stays buffered and is offered again, at once when some
     * were consumed and the conn is not paused, else with more data. At most max_payload +
     * QKD_WIRE_HDR_LEN bytes may stay unconsumed (the bound of a frame): more after a call
     * that did not pause is a protocol error that closes the conn. Return QKD_CONN_DATA_CLOSE
     * to close (gracefully: queued output is flushed). Consumed bytes count as activity for
     * idle_ms (as whole frames do in frame mode); so does qkd_conn_touch. Pause, resume,
     * back-pressure, the handshake cap and closing behave as in frame mode. */
    size_t (*on_data)(struct qkd_conn *c, const uint8_t *data, size_t len, void *arg);
};
#define QKD_CONN_DATA_CLOSE ((size_t)-1)

/* Server connections still in their TLS handshake, capped together (one per listener, see
 * listener.h). A new connection that finds the group full closes one of the group's
 * handshakes (on_close reason "handshake limit"), so connections that never finish their
 * handshake cannot keep out one that does (e.g. the awaited peer of a link); the oldest member that
 * has not sent a byte goes first. Members are conn.c's. */
struct qkd_conn_hs_group {
    uint32_t max; /* 0 = no cap */
    uint32_t n;   /* members now */
    struct qkd_conn *oldest, *newest;
    uint64_t evicted; /* handshakes closed to make room, since start */
    uint64_t failed;  /* handshakes that failed (not port probes), since start: metrics */
};
/* Forgets every member (their handshakes go on uncapped); call before freeing the group. */
void qkd_conn_hs_group_detach(struct qkd_conn_hs_group *g);

struct qkd_conn_limits {
    uint32_t max_payload;  /* frames announcing more are a protocol error; 0 = 64 KiB; byte
                            * mode: bounds the unconsumed input (on_data) */
    uint32_t idle_ms;      /* no complete frame (byte mode: no consumed byte) for this long
                            * closes; 0 = never */
    uint32_t handshake_ms; /* handshake must finish within; 0 = 10 s */
    size_t max_outbuf;     /* pending output above this closes the conn; 0 = 16 MiB */
    /* Back-pressure: while more than out_high bytes of output wait (the peer does not read
     * its answers), the conn neither reads nor delivers frames; it goes on once the output
     * drained to out_high / 2. 0 = off (peer links: both ends holding would deadlock). */
    size_t out_high;
    uint32_t close_ms; /* a graceful close (flush, close_notify) lingers at most; 0 = 5 s */
    struct qkd_conn_hs_group *hs_group; /* server: handshake cap shared with others; NULL = none */
};
#define QKD_CONN_DEFAULT_MAX_PAYLOAD  QKD_WIRE_DEFAULT_MAX_PAYLOAD
#define QKD_CONN_DEFAULT_HANDSHAKE_MS 10000u
#define QKD_CONN_DEFAULT_MAX_OUTBUF   (16u * 1024u * 1024u)
#define QKD_CONN_DEFAULT_CLOSE_MS     5000u

/* Takes ownership of the connected, non-blocking socket fd (from qkd_tcp_accept or
 * qkd_tcp_connect_nb of sock.h, which set TCP_NODELAY). server selects accept/connect. */
struct qkd_conn *qkd_conn_new(struct qkd_loop *loop, SSL_CTX *ctx, int fd, int server,
                              const struct qkd_conn_limits *lim, const struct qkd_conn_ops *ops,
                              void *arg);
/* Queues a whole frame (bytes already encoded, header included). Returns 0 or -1. */
int qkd_conn_send(struct qkd_conn *c, const uint8_t *frame, size_t len);
/* Queues a then b as one write (e.g. an HTTP head and its body: one TLS record when small).
 * Returns 0 or -1. The queued copy is wiped once written, like all output. */
int qkd_conn_send_parts(struct qkd_conn *c, const uint8_t *a, size_t alen, const uint8_t *b,
                        size_t blen);
/* Builds a frame from header fields and payload, then queues it. */
int qkd_conn_send_msg(struct qkd_conn *c, const uint8_t version[3], uint8_t service,
                      const uint8_t *payload, uint32_t len);
/* Closes after flushing queued output (graceful) or at once. on_close runs either way,
 * possibly from within this call. */
void qkd_conn_close(struct qkd_conn *c, const char *reason);
/* Closing, in detail: on_close runs exactly once. Called from inside one of the conn's own
 * callbacks, close only marks the conn and on_close runs once that callback returns; called
 * from outside, on_close runs before qkd_conn_close returns. Either way no callback runs after
 * on_close and the caller must not use c afterwards. A graceful close (an open connection)
 * then goes on by itself: queued output is flushed, close_notify sent, and the socket closed
 * (within close_ms). qkd_conn_abort drops queued output and closes the socket at once. */
void qkd_conn_abort(struct qkd_conn *c, const char *reason);
/* Bytes waiting in the input buffer (e.g. frames held while paused); for tests, statistics. */
size_t qkd_conn_pending_input(const struct qkd_conn *c);
/* Whether back-pressure holds the conn (more than out_high bytes of output waiting). */
int qkd_conn_throttled(const struct qkd_conn *c);
/* Bytes queued for output and not yet written. */
size_t qkd_conn_pending_output(const struct qkd_conn *c);
/* Stops delivering frames until resumed (back-pressure, e.g. while a request waits). A
 * paused connection still reads into its input buffer, at most max_payload + header bytes,
 * so a peer that closes or fails is noticed (on_close, reason "peer closed" or the error)
 * while paused; frames held are delivered in order after qkd_conn_resume. */
void qkd_conn_pause(struct qkd_conn *c);
void qkd_conn_resume(struct qkd_conn *c);
/* Counts as activity for the idle timer (idle_ms) now, as a delivered frame or consumed bytes
 * do (e.g. after answering a request that kept the conn paused). */
void qkd_conn_touch(struct qkd_conn *c);

SSL *qkd_conn_ssl(struct qkd_conn *c);
const char *qkd_conn_peer_addr(struct qkd_conn *c); /* "ip:port" */
void qkd_conn_set_arg(struct qkd_conn *c, void *arg);

#endif
