/* http.h: the project's one HTTP/1.1 layer (docs/observability.md): a request parser over llhttp
 * with every limit a named setting (pure: no I/O, fuzzed by tests/fuzz/fuzz_http_request.c), a
 * response writer, and a plain-TCP server on our event loop and listener (listener.c) with
 * keep-alive and pipelining answered in order. The parser and response writer take bytes in
 * and give bytes out, so a TLS transport (conn.c) can carry them as well. */
#ifndef QKD_HTTP_H
#define QKD_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "evloop.h"

#define QKD_HTTP_DEFAULT_MAX_HEADER_BYTES  8192u  /* request line + headers */
#define QKD_HTTP_DEFAULT_MAX_REQUEST_BYTES 65536u /* headers + body */
#define QKD_HTTP_DEFAULT_MAX_HEADERS       64u
#define QKD_HTTP_DEFAULT_MAX_CONNS         64u
#define QKD_HTTP_DEFAULT_IDLE_MS           30000u
#define QKD_HTTP_DEFAULT_MAX_OUT_BYTES     (4u << 20) /* stop reading while more is queued */

struct qkd_http_limits {
    uint32_t max_header_bytes;  /* 0 = default */
    uint32_t max_request_bytes; /* 0 = default */
    uint32_t max_headers;       /* 0 = default */
    uint32_t max_body_bytes;    /* the body alone, within max_request_bytes; 0 = no own limit */
};

enum qkd_http_method { QKD_HTTP_OTHER = 0, QKD_HTTP_GET, QKD_HTTP_HEAD, QKD_HTTP_POST };

struct qkd_http_req {
    enum qkd_http_method method;
    const char *path;  /* request target up to '?', NUL-terminated */
    const char *query; /* after '?', or "" */
    const uint8_t *body;
    size_t body_len;
    int keep_alive;
};

struct qkd_http_parser;

struct qkd_http_parser *qkd_http_parser_new(const struct qkd_http_limits *lim);
void qkd_http_parser_free(struct qkd_http_parser *p);
/* Feeds len bytes. Returns 1 when a request is complete (*used bytes were consumed; the rest
 * belongs to the next, pipelined request: call again after handling *req, which stays valid
 * until then), 0 when all bytes were consumed and more are needed, or -1 on an error, with the
 * HTTP status to answer in *status (400 malformed, 413 body too large, 417 an Expect header
 * other than 100-continue, 431 headers too large). */
int qkd_http_parse(struct qkd_http_parser *p, const uint8_t *data, size_t len, size_t *used,
                   const struct qkd_http_req **req, int *status);
/* After qkd_http_parse returned 0: 1 when the request being parsed has complete headers with
 * "Expect: 100-continue" (any case) and a body still to come (Content-Length > 0 or chunked),
 * and qkd_http_parser_continue_sent was not called for it yet. The transport then answers
 * "HTTP/1.1 100 Continue" if it is about to read that body (docs/architecture.md, "HTTPS").
 * A Content-Length over the limits is refused (413) before, so it never asks for a 100. */
int qkd_http_parser_expects_continue(const struct qkd_http_parser *p);
/* The 100 Continue of the request being parsed was sent (or is not wanted): clears the flag. */
void qkd_http_parser_continue_sent(struct qkd_http_parser *p);
/* 1 from a request's first parsed byte until that request is complete (or refused), else 0. */
int qkd_http_parser_in_request(const struct qkd_http_parser *p);
/* The value of a request header (case-insensitive name) of the last complete request, or NULL. */
const char *qkd_http_header(const struct qkd_http_parser *p, const char *name);

/* A growing byte buffer (responses, exposition text). A failed allocation makes it sticky-failed:
 * later appends are ignored and qkd_sbuf_failed says so. */
struct qkd_sbuf {
    char *p;
    size_t len, cap;
    int failed;
};
void qkd_sbuf_free(struct qkd_sbuf *b);
void qkd_sbuf_add(struct qkd_sbuf *b, const void *data, size_t n);
void qkd_sbuf_puts(struct qkd_sbuf *b, const char *s);
void qkd_sbuf_printf(struct qkd_sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

struct qkd_http_resp {
    int status;
    const char *content_type; /* NULL = text/plain; charset=utf-8 */
    struct qkd_sbuf body;
};
const char *qkd_http_reason(int status);
/* Appends the status line, headers (Content-Length, Connection) and, unless head_only, body. */
void qkd_http_resp_write(struct qkd_sbuf *out, const struct qkd_http_resp *r, int keep_alive,
                         int head_only);

/* A handler answers one request synchronously: fills resp (status defaults to 200). */
typedef void (*qkd_http_handler)(const struct qkd_http_req *req, struct qkd_http_resp *resp,
                                 void *arg);

struct qkd_http_server_cfg {
    const char *addr;       /* host:port */
    const char *name;       /* for logs */
    uint32_t max_conns;     /* 0 = QKD_HTTP_DEFAULT_MAX_CONNS */
    uint32_t idle_ms;       /* 0 = QKD_HTTP_DEFAULT_IDLE_MS */
    uint32_t max_out_bytes; /* 0 = QKD_HTTP_DEFAULT_MAX_OUT_BYTES */
    struct qkd_http_limits limits;
};
struct qkd_http_server;
struct qkd_http_server *qkd_http_server_new(struct qkd_loop *loop,
                                            const struct qkd_http_server_cfg *cfg,
                                            qkd_http_handler handler, void *arg, char *err,
                                            size_t errlen);
void qkd_http_server_free(struct qkd_http_server *s);
int qkd_http_server_port(const struct qkd_http_server *s);
uint32_t qkd_http_server_conns(const struct qkd_http_server *s);
uint64_t qkd_http_server_requests(const struct qkd_http_server *s);

#endif
