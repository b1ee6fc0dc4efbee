/* app_etsi.c: qkd-hybrid's ETSI 004 listener for applications (mTLS; the caller's identity is
 * its certificate). Each connection's framing is detected from its first frame as at the key
 * server (major 2 -> E, else Q), so qkd-client and other ETSI 004 clients work unchanged. One
 * call at a time per connection: the connection is paused while its call waits. */
#include "hyb.h"

#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct etsi_client {
    struct hyb *h;
    struct qkd_conn *conn;
    enum qkd_framing framing;
    bool have_id;
    char addr[64];
    struct hyb_call call;
    struct etsi_client *prev, *next;
};

static struct etsi_client *g_clients; /* for shutdown */

static void respond(struct etsi_client *cl, const struct qkd_response *rsp)
{
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    int rc = qkd_wire_encode_response(cl->framing, rsp, &w);
    if (rc == QKD_WIRE_OK)
        qkd_conn_send(cl->conn, w.buf, w.len);
    else
        log_error("connection %s: cannot encode a response: %s", cl->addr, qkd_wire_err_str(rc));
    qkd_writer_free(&w); /* wipes the key bytes */
    cl->call.kind = HYB_CALL_NONE;
    qkd_conn_resume(cl->conn);
}

static void etsi_open_done(struct hyb_call *c, uint32_t status, const struct qkd_qos *qos,
                           const struct qkd_ksid *ksid, const char *msg)
{
    struct etsi_client *cl = c->fe;
    struct qkd_response rsp;
    memset(&rsp, 0, sizeof(rsp));
    rsp.service = QKD_SVC_OPEN_RSP;
    rsp.u.open.status = status;
    if (qos) rsp.u.open.qos = *qos;
    if (ksid) rsp.u.open.ksid = *ksid;
    if (msg && status != 0) log_debug("connection %s: OPEN_CONNECT %u: %s", cl->addr, status, msg);
    respond(cl, &rsp);
}

static void etsi_get_done(struct hyb_call *c, uint32_t status, uint32_t index, const uint8_t *key,
                          size_t key_len, const char *msg)
{
    struct etsi_client *cl = c->fe;
    struct qkd_response rsp;
    memset(&rsp, 0, sizeof(rsp));
    rsp.service = QKD_SVC_GET_RSP;
    rsp.u.get.status = status;
    rsp.u.get.index = index;
    if (status == QKD_STATUS_SUCCESS) {
        rsp.u.get.key = key;
        rsp.u.get.key_len = (uint32_t)key_len;
    } else if (msg) {
        log_debug("connection %s: GET_KEY index %u: status %u: %s", cl->addr, index, status, msg);
    }
    respond(cl, &rsp);
}

static const struct hyb_call_ops etsi_ops = {.open_done = etsi_open_done,
                                             .get_done = etsi_get_done};

static void cl_on_open(struct qkd_conn *c, void *arg)
{
    struct etsi_client *cl = arg;
    if (qkd_tls_peer_id(qkd_conn_ssl(c), cl->call.identity, sizeof(cl->call.identity)) != 0) {
        log_warn("connection %s: no verified client certificate; closing", cl->addr);
        qkd_conn_close(c, "no client certificate");
        return;
    }
    cl->have_id = true;
}

static int cl_on_frame(struct qkd_conn *c, const struct qkd_wire_hdr *hdr, const uint8_t *payload,
                       void *arg)
{
    struct etsi_client *cl = arg;
    struct hyb *h = cl->h;
    if (!cl->have_id) return -1;
    if (cl->framing == QKD_FRAMING_UNKNOWN) cl->framing = qkd_wire_detect(hdr);
    struct qkd_request req;
    int rc = qkd_wire_decode_request(cl->framing, hdr, payload, h->set.max_payload, &req);
    if (rc != QKD_WIRE_OK) {
        log_warn("protocol error from %s: %s (service 0x%02x, %u bytes); closing connection",
                 cl->addr, qkd_wire_err_str(rc), hdr->service, hdr->payload_len);
        return -1;
    }
    if (cl->call.kind != HYB_CALL_NONE) return -1; /* cannot happen: paused */
    qkd_conn_pause(c);
    switch (req.service) {
    case QKD_SVC_OPEN_REQ:
        hyb_app_open(h, &cl->call, req.u.open.source, req.u.open.destination, &req.u.open.qos,
                     &req.u.open.ksid);
        break;
    case QKD_SVC_GET_REQ:
        hyb_app_get(h, &cl->call, &req.u.get.ksid, req.u.get.index);
        break;
    case QKD_SVC_CLOSE_REQ: {
        cl->call.kind = HYB_CALL_CLOSE;
        struct qkd_response rsp;
        memset(&rsp, 0, sizeof(rsp));
        rsp.service = QKD_SVC_CLOSE_RSP;
        rsp.u.close.status = hyb_app_close(h, cl->call.identity, &req.u.close.ksid);
        respond(cl, &rsp);
        break;
    }
    default:
        log_warn("protocol error from %s: unexpected service 0x%02x; closing connection", cl->addr,
                 req.service);
        return -1;
    }
    return 0;
}

static void cl_on_close(struct qkd_conn *c, const char *reason, void *arg)
{
    struct etsi_client *cl = arg;
    if (cl->call.kind != HYB_CALL_NONE) hyb_call_cancel(&cl->call);
    if (cl->prev)
        cl->prev->next = cl->next;
    else if (g_clients == cl)
        g_clients = cl->next;
    if (cl->next) cl->next->prev = cl->prev;
    cl->h->nconns--;
    log_debug("connection %s closed: %s", cl->addr, reason ? reason : "");
    free(cl);
}

static const struct qkd_conn_ops cl_ops = {
    .on_open = cl_on_open,
    .on_frame = cl_on_frame,
    .on_close = cl_on_close,
};

static void accept_cb(struct qkd_loop *loop, int fd, int events, void *arg)
{
    struct hyb *h = arg;
    for (;;) {
        int nfd = qkd_tcp_accept(fd);
        if (nfd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warn("accept: %s", strerror(errno));
            return;
        }
        if (h->nconns >= h->set.max_conns) {
            log_warn("connection limit (%u) reached; refusing a new connection", h->set.max_conns);
            close(nfd);
            continue;
        }
        struct etsi_client *cl = calloc(1, sizeof(*cl));
        if (!cl) {
            close(nfd);
            continue;
        }
        cl->h = h;
        cl->call.h = h;
        cl->call.ops = &etsi_ops;
        cl->call.fe = cl;
        struct qkd_conn_limits lim = {.max_payload = h->set.max_payload, .idle_ms = h->set.idle_ms};
        cl->conn = qkd_conn_new(loop, h->app_ctx, nfd, 1, &lim, &cl_ops, cl);
        if (!cl->conn) {
            free(cl);
            continue;
        }
        snprintf(cl->addr, sizeof(cl->addr), "%s", qkd_conn_peer_addr(cl->conn));
        cl->next = g_clients;
        if (g_clients) g_clients->prev = cl;
        g_clients = cl;
        h->nconns++;
    }
}

int hyb_etsi_listen(struct hyb *h, char *err, size_t errlen)
{
    h->app_fd = qkd_tcp_listen(h->cfg->hybrid_listen, 512, err, errlen);
    if (h->app_fd < 0) return -1;
    if (qkd_loop_add_fd(h->loop, h->app_fd, QKD_EV_READ, accept_cb, h) != 0) {
        snprintf(err, errlen, "cannot watch the ETSI 004 listener");
        return -1;
    }
    log_info("ETSI 004 listener on %s (port %d)", h->cfg->hybrid_listen,
             qkd_tcp_local_port(h->app_fd));
    return 0;
}

void hyb_etsi_stop(struct hyb *h)
{
    if (h->app_fd >= 0) {
        qkd_loop_del_fd(h->loop, h->app_fd);
        close(h->app_fd);
        h->app_fd = -1;
    }
    while (g_clients)
        qkd_conn_abort(g_clients->conn, "shutting down");
}
