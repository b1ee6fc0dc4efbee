/* https_server.h: HTTP/1.1 over the project's mutual-TLS connections (docs/architecture.md,
 * "HTTPS"): the transport of the key server's ETSI 014 listener. listener.c accepts (connection
 * cap, handshake cap), conn.c carries the bytes (byte-stream mode), http.c parses them. Every
 * request of a connection whose client certificate verified goes to on_request; the handler
 * answers it once with qkd_https_reply, at once or later (asynchronously). Keep-alive,
 * pipelined requests answered in order (a later request is not parsed while an earlier one
 * waits), named limits (header bytes and count -> 431, body -> 413, malformed -> 400, an
 * Expect other than 100-continue -> 417, a request not complete within request_ms -> 408, each
 * answered with a JSON {"message"} and Connection: close), "Expect: 100-continue" answered with
 * an interim 100 Continue when the server is about to read that body, requests per connection,
 * idle time, back-pressure. */
#ifndef QKD_HTTPS_SERVER_H
#define QKD_HTTPS_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "evloop.h"
#include "http.h"

/* Defaults of struct qkd_https_cfg (a 0 field takes them). The last request a connection may
 * make is answered with Connection: close. */
#define QKD_HTTPS_DEFAULT_MAX_CONNS      256u
#define QKD_HTTPS_DEFAULT_MAX_HANDSHAKES 64u            /* connections in their TLS handshake */
#define QKD_HTTPS_DEFAULT_IDLE_MS        30000u         /* no byte from the client this long */
#define QKD_HTTPS_DEFAULT_REQUEST_MS     10000u         /* one whole request, headers and body */
#define QKD_HTTPS_DEFAULT_MAX_REQUESTS   10000u         /* per connection */
#define QKD_HTTPS_DEFAULT_MAX_OUT_BYTES  (256u * 1024u) /* back-pressure threshold */

struct qkd_https_cfg {
    const char *listen;             /* "host:port" ("[v6]:port"); port 0 = any free port */
    SSL_CTX *ctx;                   /* qkd_tls_ctx_new(true, ...): client certificate mandatory */
    const char *name;               /* for logs ("ETSI 014"); NULL = "HTTPS" */
    uint32_t max_conns;             /* live connections, handshakes included; beyond: accepted and
                                     * closed at once (WARN); 0 = QKD_HTTPS_DEFAULT_MAX_CONNS */
    uint32_t max_handshakes;        /* the oldest handshake is closed for a new one (listener.h);
                                     * 0 = QKD_HTTPS_DEFAULT_MAX_HANDSHAKES */
    uint32_t idle_ms;               /* no byte received for this long closes, except while a call of
                                     * the connection waits for its answer; 0 = default */
    uint32_t request_ms;            /* from the first byte of a request that the server reads,
                                     * the whole request (headers and body) must arrive within
                                     * this, else 408 and close (slow clients); a pipelined
                                     * request's time starts once the call before it is answered;
                                     * 0 = QKD_HTTPS_DEFAULT_REQUEST_MS */
    uint32_t max_requests_per_conn; /* 0 = QKD_HTTPS_DEFAULT_MAX_REQUESTS */
    size_t max_out_bytes;          /* more answers than this unread by the client: the connection is
                                    * not read until they drain to half; 0 = default */
    struct qkd_http_limits limits; /* header bytes, header count, request bytes (headers +
                                    * body); 0 fields = http.h defaults (8 KiB, 64, 64 KiB) */
};

struct qkd_https_server;
/* One request waiting for its answer. Valid from on_request until qkd_https_reply, or until
 * on_cancel returns; never after. */
struct qkd_https_call;

struct qkd_https_ops {
    /* A complete request (client certificate verified). req, its path, query, body and the
     * headers (qkd_https_call_header) stay valid until the call is answered or cancelled, or
     * until on_request returns if it answered inside: copy what a later answer needs. Answer
     * exactly once with qkd_https_reply, here or later. */
    void (*on_request)(struct qkd_https_call *call, const struct qkd_http_req *req, void *arg);
    /* The connection went away (peer closed, error, server freed) while call was unanswered:
     * drop it. After on_cancel returns the call pointer is invalid; qkd_https_reply on it (or
     * from inside on_cancel) is a bug. May be NULL only if every call is answered inside
     * on_request. */
    void (*on_cancel)(struct qkd_https_call *call, void *arg);
};

/* Listens on cfg->listen and serves on loop. NULL with the reason in err on failure. */
struct qkd_https_server *qkd_https_server_new(struct qkd_loop *loop,
                                              const struct qkd_https_cfg *cfg,
                                              const struct qkd_https_ops *ops, void *arg, char *err,
                                              size_t errlen);
/* Closes every connection (on_cancel runs for each unanswered call) and the listener. Not from
 * inside one of the server's callbacks. NULL is fine. */
void qkd_https_server_free(struct qkd_https_server *s);
int qkd_https_server_port(const struct qkd_https_server *s);

/* Metrics: live connections (handshakes included), requests handed to on_request, requests
 * refused (400/408/413/417/431), TLS handshakes that failed (e.g. no client
 * certificate), since start. */
uint32_t qkd_https_server_conns(const struct qkd_https_server *s);
uint64_t qkd_https_server_requests(const struct qkd_https_server *s);
uint64_t qkd_https_server_refused(const struct qkd_https_server *s);
uint64_t qkd_https_server_handshake_failures(const struct qkd_https_server *s);

/* Answers call (exactly once): status (0 = 200), resp->content_type (NULL = text/plain), the
 * body moved into the connection's output, then resp->body wiped and freed (it may hold key
 * bytes). Headers: Content-Type, Content-Length, Cache-Control: no-store, Connection:
 * keep-alive, or close (the client asked for it, or this was the connection's last allowed
 * request: the connection closes once the answer is written). A body that failed to grow
 * (resp->body.failed) is answered 500. The next pipelined request runs after this, from the
 * loop. call is invalid afterwards. */
void qkd_https_reply(struct qkd_https_call *call, struct qkd_http_resp *resp);

/* The caller: subject CN of the verified client certificate (qkd_tls_peer_name). */
const char *qkd_https_call_caller(const struct qkd_https_call *call);
/* The caller's "ip:port", for logs. */
const char *qkd_https_call_addr(const struct qkd_https_call *call);
/* A request header (case-insensitive name), or NULL. */
const char *qkd_https_call_header(const struct qkd_https_call *call, const char *name);
void qkd_https_call_set_user(struct qkd_https_call *call, void *user);
void *qkd_https_call_get_user(const struct qkd_https_call *call);

#endif
