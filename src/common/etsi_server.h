/* etsi_server.h: the server side of ETSI GS QKD 004, shared by the key server and the hybrid
 * daemon: the listener, the connection limit, the caller's identity (its client certificate),
 * per-connection framing detection (the first frame's major version: 2 -> E, else Q; kept for
 * the connection's life), request decoding with the one codec and response encoding. A frame
 * that does not parse closes only that connection, with a WARN naming the peer and the reason.
 * The program supplies what a request does (on_request) and answers with qkd_etsi_respond. */
#ifndef QKD_ETSI_SERVER_H
#define QKD_ETSI_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "conn.h"
#include "evloop.h"
#include "tls.h"
#include "wire.h"

struct qkd_etsi_srv;
struct qkd_listener;

struct qkd_etsi_client {
    struct qkd_etsi_srv *srv;
    struct qkd_conn *conn;
    enum qkd_framing framing; /* QKD_FRAMING_UNKNOWN until the first frame */
    bool have_id;             /* the handshake verified a client certificate */
    char id[QKD_TLS_ID_LEN];  /* the caller's identity: qkd_tls_peer_id of its certificate */
    char addr[64];            /* "ip:port" of the caller, for logs */
    void *user;               /* the program's per-connection state (user_size bytes, zeroed) */
    struct qkd_etsi_client *prev, *next;
};

struct qkd_etsi_srv_ops {
    /* A decoded request on a connection with a verified identity. Return 0 to go on, -1 to
     * close the connection. */
    int (*on_request)(struct qkd_etsi_client *cl, const struct qkd_request *req, void *arg);
    /* The connection is going away (after the peer closed, an error, the idle timer, or
     * shutdown): cancel whatever it waits for. cl->user is freed right after. May be NULL. */
    void (*on_disconnect)(struct qkd_etsi_client *cl, void *arg);
};

/* Back-pressure default: a client with more than this many bytes of answers unread is not read
 * until they drain to half (conn.h out_high; docs/kme.md). */
#define QKD_ETSI_DEFAULT_OUT_HIGH (256u * 1024u)

struct qkd_etsi_srv_cfg {
    const char *listen;      /* "host:port" ("[v6]:port"); port 0 = any free port */
    SSL_CTX *ctx;            /* server context from qkd_tls_ctx_new (mutual TLS) */
    uint32_t max_conns;      /* connections beyond it are accepted and closed at once (WARN) */
    uint32_t max_handshakes; /* connections still in their TLS handshake; the oldest is closed
                              * to make room (listener.h); 0 = no cap of its own */
    uint32_t max_payload;    /* largest request payload; larger frames close the connection */
    uint32_t idle_ms;        /* no complete frame for this long closes the connection; 0 = never */
    size_t out_high;         /* back-pressure threshold; 0 = QKD_ETSI_DEFAULT_OUT_HIGH */
    size_t user_size;        /* bytes of per-connection program state (cl->user) */
    /* Optional counter shared with another listener of the program, so max_conns bounds
     * their sum; NULL = this server counts alone. */
    uint32_t *shared_count;
};

/* Listens and serves on loop. On failure returns NULL and writes the reason into err. */
struct qkd_etsi_srv *qkd_etsi_srv_new(struct qkd_loop *loop, const struct qkd_etsi_srv_cfg *cfg,
                                      const struct qkd_etsi_srv_ops *ops, void *arg, char *err,
                                      size_t errlen);
/* Closes the listener and every connection (on_disconnect runs for each), then frees. */
void qkd_etsi_srv_free(struct qkd_etsi_srv *srv);
int qkd_etsi_srv_port(const struct qkd_etsi_srv *srv);
uint32_t qkd_etsi_srv_count(const struct qkd_etsi_srv *srv);
/* The listener (metrics: connections, handshake failures of its handshake group). */
struct qkd_listener *qkd_etsi_srv_listener(const struct qkd_etsi_srv *srv);

/* Encodes rsp in the connection's framing and queues it; the encoded copy (which may hold key
 * bytes) is wiped. Returns 0 or -1. */
int qkd_etsi_respond(struct qkd_etsi_client *cl, const struct qkd_response *rsp);
/* A response that carries only a status (the other fields zero, as the codec requires). */
int qkd_etsi_respond_status(struct qkd_etsi_client *cl, uint8_t service, uint32_t status);

#endif
