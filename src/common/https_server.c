/* https_server.c: HTTP/1.1 over mutual TLS (https_server.h; docs/architecture.md): listener.c
 * accepts, conn.c in byte-stream mode carries the bytes, http.c parses them one request at a
 * time. A connection has at most one call waiting for its answer; while it waits the conn is
 * paused, so later (pipelined) requests stay unparsed in the conn's bounded input buffer and
 * run in order once the answer is queued. The request being read has a deadline (request_ms,
 * a loop timer); "Expect: 100-continue" is answered when its headers are parsed, which happens
 * only for the request being read (docs/architecture.md, "HTTPS"). */
#include "https_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "conn.h"
#include "listener.h"
#include "log.h"
#include "tls.h"

#define HTTPS_CALLER_LEN 256
#define HTTPS_ADDR_LEN   64

struct https_conn;

struct qkd_https_call {
    struct https_conn *hc;
    void *user;
    int keep_alive; /* answer with Connection: keep-alive (else close, then close the conn) */
    int head_only;
};

struct https_conn {
    struct qkd_https_server *s;
    struct qkd_conn *conn;
    struct qkd_http_parser *parser;
    struct qkd_https_call *call; /* the unanswered call, or NULL */
    uint32_t nreq;               /* requests dispatched on this connection */
    uint64_t req_timer;          /* request_ms timer of the request being read, or 0 */
    int have_caller;             /* the handshake verified a client certificate */
    int closing;                 /* closing: no more requests are parsed */
    char caller[HTTPS_CALLER_LEN];
    char addr[HTTPS_ADDR_LEN];
    struct https_conn *prev, *next;
};

struct qkd_https_server {
    struct qkd_loop *loop;
    struct qkd_https_cfg cfg;
    char name[48];
    struct qkd_https_ops ops;
    void *arg;
    struct qkd_listener *lst;
    struct https_conn *conns;
    uint32_t max_request_bytes; /* limits.max_request_bytes resolved: the conn's input bound */
    uint64_t requests, refused;
};

/* ---- answers ---- */

/* Wipes and frees a response body (it may hold key bytes, e.g. in base64). */
static void https_body_wipe(struct qkd_sbuf *b)
{
    if (b->p != NULL) OPENSSL_cleanse(b->p, b->cap);
    qkd_sbuf_free(b);
}

/* Queues the head and body of resp on hc's connection and wipes resp's body. Returns 0, or -1
 * when the answer could not be queued (conn.c then closes the conn on a full output; a head
 * that could not be built is the caller's to close). Never frees hc. */
static int https_send(struct https_conn *hc, struct qkd_http_resp *resp, int keep_alive,
                      int head_only)
{
    if (resp->body.failed) {
        log_error("%s: connection %s: response body lost (out of memory); answering 500",
                  hc->s->name, hc->addr);
        https_body_wipe(&resp->body);
        resp->status = 500;
        resp->content_type = NULL;
    }
    struct qkd_sbuf head = {0};
    qkd_http_resp_write(&head, resp, keep_alive, 1);
    int rc = -1;
    if (!head.failed)
        rc = qkd_conn_send_parts(hc->conn, (const uint8_t *)head.p, head.len,
                                 head_only ? NULL : (const uint8_t *)resp->body.p,
                                 head_only ? 0 : resp->body.len);
    qkd_sbuf_free(&head);
    https_body_wipe(&resp->body);
    return rc;
}

/* A request the parser refused (400, 413, 431): a JSON answer, then the conn closes. */
static void https_refuse(struct https_conn *hc, int status)
{
    struct qkd_https_server *s = hc->s;
    const char *why = status == 413   ? "request too large"
                      : status == 431 ? "request header fields too large"
                      : status == 408 ? "request timeout"
                      : status == 417 ? "expectation failed"
                      : status == 503 ? "out of memory"
                                      : "malformed request";
    char reason[96];
    snprintf(reason, sizeof(reason), "HTTP %d: %s", status, why);
    s->refused++;
    log_warn("%s: closing connection %s: %s", s->name, hc->addr, reason);
    struct qkd_http_resp resp = {.status = status, .content_type = "application/json"};
    qkd_sbuf_printf(&resp.body, "{\"message\":\"%s\"}", why);
    (void)https_send(hc, &resp, 0, 0); /* closing either way */
    hc->closing = 1;
    qkd_conn_close(hc->conn, reason);
}

void qkd_https_reply(struct qkd_https_call *call, struct qkd_http_resp *resp)
{
    if (call == NULL) return;
    struct https_conn *hc = call->hc;
    struct qkd_conn *conn = hc->conn;
    struct qkd_http_resp none = {.status = 500};
    if (resp == NULL) resp = &none;
    int keep = call->keep_alive, head_only = call->head_only;
    hc->call = NULL;
    free(call);
    int rc = https_send(hc, resp, keep, head_only);
    if (hc->closing) return;
    if (rc != 0 || !keep) {
        hc->closing = 1;
        /* Outside the conn's callbacks on_close runs (and frees hc) inside this call. */
        qkd_conn_close(conn, rc != 0 ? "answer not queued" : "Connection: close");
        return;
    }
    qkd_conn_touch(conn);  /* the idle time starts with the answer */
    qkd_conn_resume(conn); /* the next pipelined request, from the loop */
}

/* ---- connection callbacks ---- */

static void https_on_open(struct qkd_conn *c, void *arg)
{
    struct https_conn *hc = arg;
    if (qkd_tls_peer_name(qkd_conn_ssl(c), hc->caller, sizeof(hc->caller)) != 0) {
        log_warn("%s: closing connection %s: no verified client certificate", hc->s->name,
                 hc->addr);
        hc->closing = 1;
        qkd_conn_close(c, "no client certificate");
        return;
    }
    hc->have_caller = 1;
    log_debug("%s: connection %s: client '%s'", hc->s->name, hc->addr, hc->caller);
}

/* request_ms ran out for the request being read: 408, then the conn closes. From the loop
 * (outside the conn's callbacks): on_close, and so the free of hc, may run inside. */
static void https_request_timeout(struct qkd_loop *loop, uint64_t id, void *arg)
{
    (void)loop;
    (void)id;
    struct https_conn *hc = arg;
    hc->req_timer = 0;
    if (hc->closing || hc->call != NULL) return; /* not reading (cannot happen: disarmed) */
    https_refuse(hc, 408);
}

static void https_timer_stop(struct https_conn *hc)
{
    if (hc->req_timer != 0) qkd_loop_del_timer(hc->s->loop, hc->req_timer);
    hc->req_timer = 0;
}

/* After parsing: the request being read (some bytes parsed, not complete) runs against
 * request_ms from the moment its first byte was parsed; none (or a call waits) stops it. Then
 * an "Expect: 100-continue" whose headers are complete gets its interim answer. Returns -1 if
 * the conn is closing. */
static int https_after_parse(struct https_conn *hc)
{
    struct qkd_https_server *s = hc->s;
    if (hc->closing || hc->call != NULL || !qkd_http_parser_in_request(hc->parser)) {
        https_timer_stop(hc);
        return hc->closing ? -1 : 0;
    }
    if (hc->req_timer == 0) {
        hc->req_timer = qkd_loop_add_timer(s->loop, s->cfg.request_ms, https_request_timeout, hc);
        if (hc->req_timer == 0) {
            https_refuse(hc, 503);
            return -1;
        }
    }
    if (qkd_http_parser_expects_continue(hc->parser)) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        qkd_http_parser_continue_sent(hc->parser);
        if (qkd_conn_send_parts(hc->conn, (const uint8_t *)cont, sizeof(cont) - 1, NULL, 0) != 0) {
            hc->closing = 1;
            qkd_conn_close(hc->conn, "answer not queued");
            return -1;
        }
    }
    return 0;
}

static void https_dispatch(struct https_conn *hc, const struct qkd_http_req *req)
{
    struct qkd_https_server *s = hc->s;
    struct qkd_https_call *call = calloc(1, sizeof(*call));
    if (call == NULL) {
        https_refuse(hc, 503);
        return;
    }
    hc->nreq++;
    s->requests++;
    call->hc = hc;
    call->keep_alive = req->keep_alive && hc->nreq < s->cfg.max_requests_per_conn;
    call->head_only = req->method == QKD_HTTP_HEAD;
    hc->call = call;
    s->ops.on_request(call, req, s->arg);
}

/* Parses and dispatches the requests in data, one at a time, until one waits for its answer
 * (the conn is paused; the rest stays in its buffer), the client's unread answers pass
 * max_out_bytes (back-pressure: the rest is offered again once they drained) or the conn
 * closes. */
static size_t https_on_data(struct qkd_conn *c, const uint8_t *data, size_t len, void *arg)
{
    struct https_conn *hc = arg;
    if (!hc->have_caller) return QKD_CONN_DATA_CLOSE;
    size_t off = 0;
    while (off < len && hc->call == NULL && !hc->closing && !qkd_conn_throttled(c)) {
        size_t used;
        const struct qkd_http_req *req;
        int status;
        int r = qkd_http_parse(hc->parser, data + off, len - off, &used, &req, &status);
        off += used;
        if (r < 0) {
            https_refuse(hc, status);
        } else if (r > 0) {
            https_timer_stop(hc); /* the request is read: a waiting call does not count */
            https_dispatch(hc, req);
        }
    }
    if (https_after_parse(hc) != 0 || hc->closing) return len; /* what follows is dropped (wiped) */
    if (hc->call != NULL) qkd_conn_pause(c);
    return off;
}

static void https_on_close(struct qkd_conn *c, const char *reason, void *arg)
{
    struct https_conn *hc = arg;
    struct qkd_https_server *s = hc->s;
    https_timer_stop(hc);
    if (hc->call != NULL) {
        struct qkd_https_call *call = hc->call;
        hc->call = NULL;
        log_debug("%s: connection %s closed with a call unanswered: %s", s->name, hc->addr, reason);
        if (s->ops.on_cancel != NULL) s->ops.on_cancel(call, s->arg);
        free(call);
    }
    if (hc->prev != NULL)
        hc->prev->next = hc->next;
    else if (s->conns == hc)
        s->conns = hc->next;
    if (hc->next != NULL) hc->next->prev = hc->prev;
    qkd_listener_gone(s->lst);
    log_debug("%s: connection %s closed: %s", s->name, hc->addr, reason ? reason : "");
    qkd_http_parser_free(hc->parser);
    free(hc);
}

static const struct qkd_conn_ops https_conn_ops = {
    .on_open = https_on_open,
    .on_close = https_on_close,
    .on_data = https_on_data,
};

static int https_accept(struct qkd_listener *l, int fd, void *arg)
{
    struct qkd_https_server *s = arg;
    struct https_conn *hc = calloc(1, sizeof(*hc));
    if (hc != NULL) hc->parser = qkd_http_parser_new(&s->cfg.limits);
    if (hc == NULL || hc->parser == NULL) {
        log_error("%s: out of memory for a new connection", s->name);
        free(hc);
        close(fd);
        return -1;
    }
    hc->s = s;
    struct qkd_conn_limits lim = {
        .max_payload = s->max_request_bytes,
        .idle_ms = s->cfg.idle_ms,
        .out_high = s->cfg.max_out_bytes,
        .hs_group = qkd_listener_hs_group(l),
    };
    hc->conn = qkd_conn_new(s->loop, s->cfg.ctx, fd, 1, &lim, &https_conn_ops, hc);
    if (hc->conn == NULL) {
        qkd_http_parser_free(hc->parser);
        free(hc);
        return -1;
    }
    snprintf(hc->addr, sizeof(hc->addr), "%s", qkd_conn_peer_addr(hc->conn));
    hc->next = s->conns;
    if (s->conns != NULL) s->conns->prev = hc;
    s->conns = hc;
    return 0;
}

/* ---- server ---- */

struct qkd_https_server *qkd_https_server_new(struct qkd_loop *loop,
                                              const struct qkd_https_cfg *cfg,
                                              const struct qkd_https_ops *ops, void *arg, char *err,
                                              size_t errlen)
{
    if (loop == NULL || cfg == NULL || cfg->listen == NULL || cfg->ctx == NULL || ops == NULL ||
        ops->on_request == NULL) {
        snprintf(err, errlen, "HTTPS server: missing listen address, TLS context or handler");
        return NULL;
    }
    struct qkd_https_server *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->cfg = *cfg;
    snprintf(s->name, sizeof(s->name), "%s", cfg->name ? cfg->name : "HTTPS");
    s->cfg.listen = s->cfg.name = NULL; /* the caller's strings: not kept */
    if (s->cfg.max_conns == 0) s->cfg.max_conns = QKD_HTTPS_DEFAULT_MAX_CONNS;
    if (s->cfg.max_handshakes == 0) s->cfg.max_handshakes = QKD_HTTPS_DEFAULT_MAX_HANDSHAKES;
    if (s->cfg.idle_ms == 0) s->cfg.idle_ms = QKD_HTTPS_DEFAULT_IDLE_MS;
    if (s->cfg.request_ms == 0) s->cfg.request_ms = QKD_HTTPS_DEFAULT_REQUEST_MS;
    if (s->cfg.max_requests_per_conn == 0)
        s->cfg.max_requests_per_conn = QKD_HTTPS_DEFAULT_MAX_REQUESTS;
    if (s->cfg.max_out_bytes == 0) s->cfg.max_out_bytes = QKD_HTTPS_DEFAULT_MAX_OUT_BYTES;
    s->max_request_bytes = cfg->limits.max_request_bytes ? cfg->limits.max_request_bytes
                                                         : QKD_HTTP_DEFAULT_MAX_REQUEST_BYTES;
    s->ops = *ops;
    s->arg = arg;
    struct qkd_listener_cfg lc = {
        .addr = cfg->listen,
        .name = s->name,
        .max_conns = s->cfg.max_conns,
        .max_handshakes = s->cfg.max_handshakes,
    };
    s->lst = qkd_listener_new(loop, &lc, https_accept, s, err, errlen);
    if (s->lst == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

void qkd_https_server_free(struct qkd_https_server *s)
{
    if (s == NULL) return;
    while (s->conns != NULL) /* outside the conns' callbacks: on_close runs inside abort */
        qkd_conn_abort(s->conns->conn, "server shutting down");
    qkd_listener_free(s->lst);
    free(s);
}

int qkd_https_server_port(const struct qkd_https_server *s)
{
    return s != NULL ? qkd_listener_port(s->lst) : -1;
}

uint32_t qkd_https_server_conns(const struct qkd_https_server *s)
{
    return s != NULL ? qkd_listener_count(s->lst) : 0;
}

uint64_t qkd_https_server_requests(const struct qkd_https_server *s)
{
    return s != NULL ? s->requests : 0;
}

uint64_t qkd_https_server_refused(const struct qkd_https_server *s)
{
    return s != NULL ? s->refused : 0;
}

uint64_t qkd_https_server_handshake_failures(const struct qkd_https_server *s)
{
    const struct qkd_conn_hs_group *g = s != NULL ? qkd_listener_hs_group(s->lst) : NULL;
    return g != NULL ? g->failed : 0;
}

/* ---- calls ---- */

const char *qkd_https_call_caller(const struct qkd_https_call *call)
{
    return call->hc->caller;
}

const char *qkd_https_call_addr(const struct qkd_https_call *call)
{
    return call->hc->addr;
}

const char *qkd_https_call_header(const struct qkd_https_call *call, const char *name)
{
    return qkd_http_header(call->hc->parser, name);
}

void qkd_https_call_set_user(struct qkd_https_call *call, void *user)
{
    call->user = user;
}

void *qkd_https_call_get_user(const struct qkd_https_call *call)
{
    return call->user;
}
