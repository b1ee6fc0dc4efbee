/* qkd004_int.h: internals of libqkd004 shared by the call layer (qkd004.c) and the blocking
 * transport (qkd004_io.c): the connection object, deadlines and the error-text setter. Not
 * installed. */
#ifndef QKD_QKD004_INT_H
#define QKD_QKD004_INT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "bytes.h"
#include "qkd/qkd004.h"

/* Internal functions share the public prefix but are never exported from the shared library. */
#define QKD004_HIDDEN __attribute__((visibility("hidden")))

#define QKD004_HOST_MAX 256
#define QKD004_ERR_MAX  256

struct qkd004_conn {
    SSL_CTX *ctx;
    SSL *ssl; /* NULL while disconnected */
    int fd;   /* -1 while disconnected */
    char host[QKD004_HOST_MAX];
    char port[16];
    char server_name[QKD004_HOST_MAX]; /* "" = no name check */
    enum qkd004_framing framing;
    uint32_t connect_timeout_ms;
    uint32_t call_timeout_ms; /* 0 = none */
    uint32_t max_response;
    uint8_t *rbuf; /* response payload; wiped after every call */
    size_t rcap;
    size_t rlen;         /* bytes of rbuf used by the last response */
    struct qkd_writer w; /* request frame */
    char err[QKD004_ERR_MAX];
};

/* Monotonic clock in milliseconds. */
/* Deadline ms from now (0 = none when ms is 0). */
QKD004_HIDDEN uint64_t qkd004_deadline(uint32_t ms);

/* Records the text of the last error; returns code so callers can "return qkd004_fail(...)". */
QKD004_HIDDEN int qkd004_fail(struct qkd004_conn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Splits "host:port" or "[v6]:port". Returns 0 or -1. */
QKD004_HIDDEN int qkd004_split_addr(const char *addr, char *host, size_t hostlen, char *port,
                                    size_t portlen);

/* Transport (qkd004_io.c). Each returns QKD004_OK or a QKD004_ERR_* with c->err set. */
QKD004_HIDDEN int qkd004_io_connect(struct qkd004_conn *c);
QKD004_HIDDEN void qkd004_io_drop(struct qkd004_conn *c);
/* True when the idle connection was closed by the server (or has stray input). */
QKD004_HIDDEN int qkd004_io_stale(struct qkd004_conn *c);
QKD004_HIDDEN int qkd004_io_write(struct qkd004_conn *c, const uint8_t *buf, size_t len,
                                  uint64_t deadline);
/* Reads exactly len bytes. On QKD004_ERR_CLOSED *got tells how many arrived first. */
QKD004_HIDDEN int qkd004_io_read(struct qkd004_conn *c, uint8_t *buf, size_t len, uint64_t deadline,
                                 size_t *got);
/* The same, but returns once some bytes arrived (at most len): for a stream whose lengths the
 * caller's parser knows (the ETSI 014 client, rest_client.c). */
QKD004_HIDDEN int qkd004_io_read_some(struct qkd004_conn *c, uint8_t *buf, size_t len,
                                      uint64_t deadline, size_t *got);

#endif
