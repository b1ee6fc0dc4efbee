/* qkd004.h: libqkd004, the ETSI GS QKD 004 client library. A connection object, then the
 * three calls of the standard. Every call returns a transport result (QKD004_OK or a negative
 * QKD004_ERR_*) and, when the server answered, its ETSI status in *status; the two are never
 * mixed. A lost connection is re-established on the next call.
 *
 * Thread safety: a struct qkd004_conn is not thread-safe; use one per thread (or lock around
 * it). Distinct connections may be used from distinct threads concurrently. */
#ifndef QKD_QKD004_H
#define QKD_QKD004_H

#include <stddef.h>
#include <stdint.h>

#include "qkd/types.h"

#ifdef __cplusplus
extern "C" {
#endif

enum qkd004_framing {
    QKD004_FRAMING_Q = 0, /* QUBIP layout, version 1.0.1 (default) */
    QKD004_FRAMING_E = 1, /* ETSI gs004-app-int layout, version 2.1.1 */
};

enum qkd004_err {
    QKD004_OK = 0,
    QKD004_ERR_ARG = -1,      /* bad argument (NULL, buffer too small for the key, ...) */
    QKD004_ERR_CONNECT = -2,  /* TCP connect failed or address unresolvable */
    QKD004_ERR_TLS = -3,      /* TLS handshake or certificate failure */
    QKD004_ERR_CLOSED = -4,   /* server closed the connection (possibly mid-frame) */
    QKD004_ERR_PROTOCOL = -5, /* malformed, unexpected or oversized response */
    QKD004_ERR_TIMEOUT = -6,  /* connect or call exceeded its timeout */
    QKD004_ERR_NOMEM = -7,
    QKD004_ERR_IO = -8, /* other socket error */
};

struct qkd004_config {
    const char *server; /* "host:port" */
    const char *cert;   /* client certificate (PEM) */
    const char *key;    /* client private key (PEM) */
    const char *ca;     /* CA the server certificate must chain to (PEM) */
    enum qkd004_framing framing;
    uint32_t connect_timeout_ms; /* 0 = 10000 */
    uint32_t call_timeout_ms;    /* 0 = no limit beyond the server's own QoS Timeout */
    uint32_t max_response;       /* largest response payload accepted; 0 = 1 MiB */
    /* Name the server certificate must carry: NULL = the host part of server (a DNS name or
     * an IP address); "" = no name check (the chain to ca is still verified). */
    const char *server_name;
};

#define QKD004_DEFAULT_CONNECT_TIMEOUT_MS 10000u
#define QKD004_DEFAULT_MAX_RESPONSE       (1024u * 1024u)

struct qkd004_conn;

/* Creates the connection object (TLS context loaded, not yet connected). On error returns
 * NULL and writes a reason into err. */
struct qkd004_conn *qkd004_new(const struct qkd004_config *cfg, char *err, size_t errlen);
void qkd004_free(struct qkd004_conn *c);
/* Text of the last transport error on this connection ("" if none). */
const char *qkd004_last_error(const struct qkd004_conn *c);
const char *qkd004_strerror(int err);

/* Connects now (TCP + TLS handshake) unless already connected; calls do this by themselves.
 * Returns QKD004_OK or a QKD004_ERR_*. */
int qkd004_connect(struct qkd004_conn *c);
/* Drops the current TLS connection (if any); the next call connects again. */
void qkd004_disconnect(struct qkd004_conn *c);
/* True while a TLS connection is established. */
int qkd004_is_connected(const struct qkd004_conn *c);

/* OPEN_CONNECT. qos is in/out (the server's counter-proposal on status 7); ksid is in/out
 * (all zero asks the server for a new one). */
int qkd004_open_connect(struct qkd004_conn *c, const char *source, const char *destination,
                        struct qkd_qos *qos, struct qkd_ksid *ksid, uint32_t *status);

/* GET_KEY. index is in/out. key receives key_chunk_size bytes (key_cap must be large enough;
 * *key_len gets the length). metadata/metadata_size: in, the buffer and its size (0 = no
 * metadata wanted); out, the metadata length, or on status 8 the size the server requires.
 * The metadata is NUL-terminated when the buffer has room for the NUL. In the E framing the
 * request carries ETSI's key info (symmetric key, default role) as ETSI's C library does, not
 * the buffer size: the server answers with the whole metadata, of which the buffer receives
 * what fits, and *metadata_size gets the whole length (which may exceed the buffer's size,
 * so compare before reading it). The library's own
 * copy of the key is wiped before the call returns. */
int qkd004_get_key(struct qkd004_conn *c, const struct qkd_ksid *ksid, uint32_t *index,
                   uint8_t *key, size_t key_cap, size_t *key_len, char *metadata,
                   uint32_t *metadata_size, uint32_t *status);

/* CLOSE. */
int qkd004_close(struct qkd004_conn *c, const struct qkd_ksid *ksid, uint32_t *status);

/* Fills qos with the reference client's request values (chunk 32, Max_bps 40000, Min_bps
 * 5000, Jitter 10, Priority 0, Timeout 5000, TTL 3600, application/json). */
void qkd004_qos_default(struct qkd_qos *qos);

#ifdef __cplusplus
}
#endif
#endif
