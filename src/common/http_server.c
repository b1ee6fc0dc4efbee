/* http_server.c: the plain-TCP HTTP/1.1 server of http.h on our event loop and listener
 * (docs/observability.md): keep-alive, pipelined requests answered in order, an idle timeout,
 * and reading paused while more than max_out_bytes of answers wait to be sent. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "listener.h"
#include "log.h"

#define HTTP_READ_CHUNK 4096u

struct qkd_http_server {
    struct qkd_loop *loop;
    struct qkd_listener *lst;
    struct qkd_http_server_cfg cfg;
    qkd_http_handler handler;
    void *arg;
    struct hconn *conns; /* all live connections (freed with the server) */
    uint32_t nconns;
    uint64_t requests;
};

struct hconn {
    struct qkd_http_server *s;
    struct hconn *prev, *next;
    int fd;
    struct qkd_http_parser *parser;
    uint8_t in[HTTP_READ_CHUNK];
    size_t in_off, in_len; /* unparsed bytes in[in_off..in_len) */
    struct qkd_sbuf out;
    size_t out_off;
    uint64_t idle_timer;
    int closing; /* answer queued with Connection: close; no more requests */
};

static void conn_close(struct hconn *c)
{
    struct qkd_http_server *s = c->s;
    qkd_loop_del_fd(s->loop, c->fd);
    qkd_loop_del_timer(s->loop, c->idle_timer);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->nconns--;
    qkd_http_parser_free(c->parser);
    qkd_sbuf_free(&c->out);
    free(c);
    qkd_listener_gone(s->lst);
}

static void on_idle(struct qkd_loop *loop, uint64_t id, void *arg)
{
    (void)loop;
    (void)id;
    struct hconn *c = arg;
    c->idle_timer = 0;
    conn_close(c);
}

static void touch(struct hconn *c)
{
    qkd_loop_del_timer(c->s->loop, c->idle_timer);
    c->idle_timer = qkd_loop_add_timer(c->s->loop, c->s->cfg.idle_ms, on_idle, c);
}

static size_t pending(const struct hconn *c)
{
    return c->out.len - c->out_off;
}

/* Answers the requests already buffered, in order, until the output is full or one closes. */
static void parse_buffered(struct hconn *c)
{
    while (!c->closing && c->in_off < c->in_len && pending(c) < c->s->cfg.max_out_bytes) {
        size_t used;
        const struct qkd_http_req *req;
        int status;
        int r = qkd_http_parse(c->parser, c->in + c->in_off, c->in_len - c->in_off, &used, &req,
                               &status);
        c->in_off += used;
        if (r == 0) break;
        struct qkd_http_resp resp = {0};
        if (r < 0) {
            resp.status = status;
            qkd_sbuf_printf(&resp.body, "%d %s\n", status, qkd_http_reason(status));
            qkd_http_resp_write(&c->out, &resp, 0, 0);
            c->closing = 1;
        } else {
            c->s->requests++;
            c->s->handler(req, &resp, c->s->arg);
            if (resp.body.failed) {
                qkd_sbuf_free(&resp.body);
                resp.status = 500;
            }
            qkd_http_resp_write(&c->out, &resp, req->keep_alive, req->method == QKD_HTTP_HEAD);
            if (!req->keep_alive) c->closing = 1;
        }
        qkd_sbuf_free(&resp.body);
    }
    if (c->in_off == c->in_len) c->in_off = c->in_len = 0;
}

static void update_mask(struct hconn *c)
{
    int mask = 0;
    if (!c->closing && pending(c) < c->s->cfg.max_out_bytes && c->in_len < sizeof c->in)
        mask |= QKD_EV_READ;
    if (pending(c)) mask |= QKD_EV_WRITE;
    qkd_loop_set_mask(c->s->loop, c->fd, mask);
}

/* Returns -1 when the connection was closed. */
static int flush(struct hconn *c)
{
    if (c->out.failed) {
        conn_close(c);
        return -1;
    }
    while (pending(c)) {
        ssize_t n = send(c->fd, c->out.p + c->out_off, pending(c), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (n <= 0) {
            conn_close(c);
            return -1;
        }
        c->out_off += (size_t)n;
    }
    if (!pending(c)) {
        c->out.len = c->out_off = 0;
        if (c->closing) {
            conn_close(c);
            return -1;
        }
    }
    return 0;
}

static void on_io(struct qkd_loop *loop, int fd, int events, void *arg)
{
    (void)loop;
    struct hconn *c = arg;
    if (events & QKD_EV_WRITE) {
        if (flush(c) < 0) return;
        parse_buffered(c); /* requests held back while the output was full */
    }
    if ((events & QKD_EV_READ) && !c->closing) {
        if (c->in_off > 0) {
            memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
            c->in_len -= c->in_off;
            c->in_off = 0;
        }
        ssize_t n = recv(fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            if (!pending(c)) {
                conn_close(c);
                return;
            }
            c->closing = 1; /* peer done sending: deliver what is queued, then close */
        } else if (n > 0) {
            c->in_len += (size_t)n;
            touch(c);
            parse_buffered(c);
        }
    }
    if (flush(c) < 0) return;
    update_mask(c);
}

static int on_accept(struct qkd_listener *l, int fd, void *arg)
{
    (void)l;
    struct qkd_http_server *s = arg;
    struct hconn *c = calloc(1, sizeof *c);
    if (c) c->parser = qkd_http_parser_new(&s->cfg.limits);
    if (!c || !c->parser || qkd_loop_add_fd(s->loop, fd, QKD_EV_READ, on_io, c) < 0) {
        if (c) qkd_http_parser_free(c->parser);
        free(c);
        close(fd);
        return -1;
    }
    c->s = s;
    c->fd = fd;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    touch(c);
    return 0;
}

struct qkd_http_server *qkd_http_server_new(struct qkd_loop *loop,
                                            const struct qkd_http_server_cfg *cfg,
                                            qkd_http_handler handler, void *arg, char *err,
                                            size_t errlen)
{
    struct qkd_http_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->cfg = *cfg;
    if (!s->cfg.max_conns) s->cfg.max_conns = QKD_HTTP_DEFAULT_MAX_CONNS;
    if (!s->cfg.idle_ms) s->cfg.idle_ms = QKD_HTTP_DEFAULT_IDLE_MS;
    if (!s->cfg.max_out_bytes) s->cfg.max_out_bytes = QKD_HTTP_DEFAULT_MAX_OUT_BYTES;
    s->handler = handler;
    s->arg = arg;
    struct qkd_listener_cfg lc = {
        .addr = cfg->addr, .name = cfg->name ? cfg->name : "HTTP", .max_conns = s->cfg.max_conns};
    s->lst = qkd_listener_new(loop, &lc, on_accept, s, err, errlen);
    if (!s->lst) {
        free(s);
        return NULL;
    }
    return s;
}

void qkd_http_server_free(struct qkd_http_server *s)
{
    if (!s) return;
    while (s->conns)
        conn_close(s->conns);
    qkd_listener_free(s->lst);
    free(s);
}

int qkd_http_server_port(const struct qkd_http_server *s)
{
    return qkd_listener_port(s->lst);
}
uint32_t qkd_http_server_conns(const struct qkd_http_server *s)
{
    return s->nconns;
}
uint64_t qkd_http_server_requests(const struct qkd_http_server *s)
{
    return s->requests;
}
