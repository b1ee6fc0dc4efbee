/* app_json.c: qkd-hybrid's optional drop-in JSON listener for applications written against the
 * Python KDFix module (off unless json_listen is configured): plain TCP as in that module, one
 * JSON object per message, replies byte-for-byte as its json.dumps. A malformed message always
 * gets an error reply. Callers have no certificate here: every JSON connection shares the
 * identity "json" (bind the listener to loopback). */
#include "hyb.h"

#include "json_msg.h"
#include "listener.h"
#include "log.h"
#include "sock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define JSON_PARTIAL_MS 2000 /* an incomplete message left this long is answered as malformed */

struct json_client {
    struct hyb *h;
    int fd;
    char *rbuf;
    size_t rlen;
    struct qkd_writer out;
    size_t out_off;
    struct hyb_call call;
    uint64_t partial_timer, idle_timer;
    bool processing, dead, close_after_flush;
    char addr[64];
    struct json_client *prev, *next;
};

static struct json_client *g_json;

static void jc_process(struct json_client *cl);

static void jc_free_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct json_client *cl = arg;
    qkd_writer_free(&cl->out);
    if (cl->rbuf) qkd_wipe(cl->rbuf, cl->h->set.json_max);
    free(cl->rbuf);
    free(cl);
}

static void jc_kill(struct json_client *cl, const char *why)
{
    if (cl->dead) return;
    cl->dead = true;
    struct hyb *h = cl->h;
    if (cl->call.kind != HYB_CALL_NONE) hyb_call_cancel(&cl->call);
    if (h->json_lst) hyb_app_gone(h, cl); /* (not at shutdown) */
    if (cl->partial_timer) qkd_loop_del_timer(h->loop, cl->partial_timer);
    if (cl->idle_timer) qkd_loop_del_timer(h->loop, cl->idle_timer);
    qkd_loop_del_fd(h->loop, cl->fd);
    close(cl->fd);
    if (cl->prev)
        cl->prev->next = cl->next;
    else if (g_json == cl)
        g_json = cl->next;
    if (cl->next) cl->next->prev = cl->prev;
    qkd_listener_gone(h->json_lst);
    log_debug("JSON connection %s closed: %s", cl->addr, why);
    qkd_loop_add_timer(h->loop, 0, jc_free_cb, cl);
}

static void jc_flush(struct json_client *cl)
{
    while (!cl->dead && cl->out_off < cl->out.len) {
        ssize_t n =
            send(cl->fd, cl->out.buf + cl->out_off, cl->out.len - cl->out_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                qkd_loop_set_mask(cl->h->loop, cl->fd, QKD_EV_READ | QKD_EV_WRITE);
                return;
            }
            jc_kill(cl, "write failed");
            return;
        }
        cl->out_off += (size_t)n;
    }
    if (cl->dead) return;
    qkd_writer_reset(&cl->out); /* wipes key bytes already sent */
    cl->out_off = 0;
    qkd_loop_set_mask(cl->h->loop, cl->fd, QKD_EV_READ);
    if (cl->close_after_flush) jc_kill(cl, "closed after an error reply");
}

static void jc_reply_status(struct json_client *cl, uint32_t status, const char *msg)
{
    if (hyb_json_reply_status(&cl->out, status, msg) != 0) return jc_kill(cl, "output too large");
    jc_flush(cl);
}

static void json_open_done(struct hyb_call *c, uint32_t status, const struct qkd_qos *qos,
                           const struct qkd_ksid *ksid, const char *msg)
{
    struct json_client *cl = c->fe;
    c->kind = HYB_CALL_NONE;
    if ((status == QKD_STATUS_SUCCESS || status == QKD_STATUS_PEER_NOT_CONNECTED) && ksid) {
        if (hyb_json_reply_open(&cl->out, ksid) != 0) return jc_kill(cl, "output too large");
        jc_flush(cl);
    } else {
        jc_reply_status(cl, status, msg ? msg : qkd_status_str(status));
    }
    jc_process(cl);
}

static void json_get_done(struct hyb_call *c, uint32_t status, uint32_t index, const uint8_t *key,
                          size_t key_len, const char *msg)
{
    struct json_client *cl = c->fe;
    c->kind = HYB_CALL_NONE;
    if (status == QKD_STATUS_SUCCESS) {
        if (hyb_json_reply_key(&cl->out, key, key_len) != 0) return jc_kill(cl, "output too large");
        jc_flush(cl);
    } else {
        jc_reply_status(cl, status, msg ? msg : qkd_status_str(status));
    }
    jc_process(cl);
}

static const struct hyb_call_ops json_ops = {.open_done = json_open_done,
                                             .get_done = json_get_done};

static void jc_consume(struct json_client *cl, size_t n)
{
    if (n > cl->rlen) n = cl->rlen;
    memmove(cl->rbuf, cl->rbuf + n, cl->rlen - n);
    qkd_wipe(cl->rbuf + cl->rlen - n, n);
    cl->rlen -= n;
}

static void partial_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct json_client *cl = arg;
    cl->partial_timer = 0;
    if (cl->call.kind != HYB_CALL_NONE || cl->rlen == 0) return;
    log_info("JSON connection %s: incomplete message (%zu bytes) discarded", cl->addr, cl->rlen);
    jc_consume(cl, cl->rlen);
    jc_reply_status(cl, QKD_STATUS_NO_QKD_CONNECTION, "malformed message: incomplete JSON");
}

static void jc_dispatch(struct json_client *cl, const char *text, size_t len)
{
    struct hyb_json_req req;
    char err[256];
    if (hyb_json_parse(text, len, &req, err, sizeof(err)) != 0) {
        log_info("JSON connection %s: malformed message: %s", cl->addr, err);
        char msg[300];
        snprintf(msg, sizeof(msg), "malformed message: %s", err);
        return jc_reply_status(cl, QKD_STATUS_NO_QKD_CONNECTION, msg);
    }
    struct hyb *h = cl->h;
    switch (req.cmd) {
    case HYB_JSON_OPEN:
        hyb_app_open(h, &cl->call, req.source, req.destination, &req.qos, &req.ksid);
        break;
    case HYB_JSON_GET:
        hyb_app_get(h, &cl->call, &req.ksid, req.index);
        break;
    case HYB_JSON_CLOSE: {
        uint32_t st = hyb_app_close(h, cl->call.identity, &req.ksid);
        jc_reply_status(cl, st, st ? "unknown Key_stream_ID" : NULL);
        break;
    }
    }
}

static void jc_process(struct json_client *cl)
{
    if (cl->processing) return;
    cl->processing = true;
    while (!cl->dead && cl->call.kind == HYB_CALL_NONE && cl->rlen > 0) {
        size_t start = 0, len = 0;
        int r = hyb_json_frame(cl->rbuf, cl->rlen, &start, &len);
        if (r < 0) {
            log_info("JSON connection %s: %zu bytes that are not a JSON object", cl->addr, len);
            jc_consume(cl, len);
            jc_reply_status(cl, QKD_STATUS_NO_QKD_CONNECTION,
                            "malformed message: not a JSON object");
            continue;
        }
        if (r == 0) {
            if (start == cl->rlen) {
                jc_consume(cl, start);
                break;
            }
            if (cl->rlen >= cl->h->set.json_max) {
                cl->close_after_flush = true;
                jc_consume(cl, cl->rlen);
                jc_reply_status(cl, QKD_STATUS_NO_QKD_CONNECTION,
                                "malformed message: larger than the JSON message limit");
                break;
            }
            if (!cl->partial_timer)
                cl->partial_timer =
                    qkd_loop_add_timer(cl->h->loop, JSON_PARTIAL_MS, partial_cb, cl);
            break;
        }
        if (cl->partial_timer) qkd_loop_del_timer(cl->h->loop, cl->partial_timer);
        cl->partial_timer = 0;
        char *msg = malloc(len + 1);
        if (!msg) {
            jc_kill(cl, "out of memory");
            break;
        }
        memcpy(msg, cl->rbuf + start, len);
        msg[len] = '\0';
        jc_consume(cl, start + len);
        jc_dispatch(cl, msg, len);
        qkd_wipe(msg, len);
        free(msg);
    }
    cl->processing = false;
}

static void idle_cb(struct qkd_loop *loop, uint64_t id, void *arg);

static void jc_touch(struct json_client *cl)
{
    struct hyb *h = cl->h;
    if (cl->idle_timer) qkd_loop_del_timer(h->loop, cl->idle_timer);
    cl->idle_timer = h->set.idle_ms ? qkd_loop_add_timer(h->loop, h->set.idle_ms, idle_cb, cl) : 0;
}

static void idle_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct json_client *cl = arg;
    cl->idle_timer = 0;
    if (cl->call.kind != HYB_CALL_NONE) return jc_touch(cl);
    jc_kill(cl, "idle");
}

static void jc_io(struct qkd_loop *loop, int fd, int events, void *arg)
{
    struct json_client *cl = arg;
    if (events & QKD_EV_WRITE) jc_flush(cl);
    if (cl->dead || !(events & QKD_EV_READ)) return;
    size_t room = cl->h->set.json_max - cl->rlen;
    if (room == 0) { /* waiting for the current call; input stays queued */
        qkd_loop_set_mask(loop, fd, cl->out_off < cl->out.len ? QKD_EV_WRITE : 0);
        return;
    }
    ssize_t n = recv(fd, cl->rbuf + cl->rlen, room, 0);
    if (n == 0) return jc_kill(cl, "closed by peer");
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        return jc_kill(cl, "read failed");
    }
    cl->rlen += (size_t)n;
    jc_touch(cl);
    jc_process(cl);
}

static int json_accept(struct qkd_listener *lst, int nfd, void *arg)
{
    struct hyb *h = arg;
    struct json_client *cl = calloc(1, sizeof(*cl));
    char *rbuf = malloc(h->set.json_max);
    if (!cl || !rbuf) {
        free(cl);
        free(rbuf);
        close(nfd);
        return -1;
    }
    cl->h = h;
    cl->fd = nfd;
    cl->rbuf = rbuf;
    qkd_writer_init(&cl->out, 16u * 1024 * 1024);
    cl->call.h = h;
    cl->call.ops = &json_ops;
    cl->call.fe = cl;
    cl->call.json = true;
    snprintf(cl->call.identity, sizeof(cl->call.identity), "json");
    snprintf(cl->addr, sizeof(cl->addr), "fd %d", nfd);
    if (qkd_loop_add_fd(h->loop, nfd, QKD_EV_READ, jc_io, cl) != 0) {
        close(nfd);
        qkd_writer_free(&cl->out);
        free(rbuf);
        free(cl);
        return -1;
    }
    cl->next = g_json;
    if (g_json) g_json->prev = cl;
    g_json = cl;
    jc_touch(cl);
    return 0;
}

int hyb_json_listen(struct hyb *h, char *err, size_t errlen)
{
    if (h->cfg->json_listen[0] == '\0') return 0;
    /* plain TCP: no handshake to cap; max_conns bounds the ETSI and JSON listeners together */
    struct qkd_listener_cfg lc = {
        .addr = h->cfg->json_listen,
        .name = "JSON",
        .backlog = 128,
        .max_conns = h->set.max_conns,
        .shared_count = &h->nconns,
    };
    h->json_lst = qkd_listener_new(h->loop, &lc, json_accept, h, err, errlen);
    if (!h->json_lst) return -1;
    log_info("JSON listener (KDFix-compatible, plain TCP, no client authentication) on %s "
             "(port %d)",
             h->cfg->json_listen, qkd_listener_port(h->json_lst));
    return 0;
}

void hyb_json_stop(struct hyb *h)
{
    struct qkd_listener *lst = h->json_lst;
    h->json_lst = NULL; /* shutting down: jc_kill tells the streams nothing */
    while (g_json)
        jc_kill(g_json, "shutting down");
    qkd_listener_free(lst);
}
