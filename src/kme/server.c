/* server.c: the ETSI 004 listener. Accepts TLS connections (mutual authentication; the
 * caller's identity is its certificate), bounds their number, detects each connection's
 * framing from its first frame (qkd_wire_detect) and keeps it, decodes requests with the one
 * codec, dispatches them and encodes the responses. A frame that does not parse closes only
 * that connection, with a WARN naming the peer address and the reason. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kme.h"
#include "log.h"
#include "tls.h"

int kme_respond(struct kme_client *cl, const struct qkd_response *rsp)
{
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    int rc = qkd_wire_encode_response(cl->framing, rsp, &w);
    if (rc == QKD_WIRE_OK)
        rc = qkd_conn_send(cl->conn, w.buf, w.len);
    else
        log_error("connection %s: cannot encode response: %s", cl->addr, qkd_wire_err_str(rc));
    qkd_writer_free(&w); /* wipes the key bytes */
    return rc == 0 ? 0 : -1;
}

void kme_respond_status(struct kme_client *cl, uint8_t service, uint32_t status)
{
    struct qkd_response rsp;
    memset(&rsp, 0, sizeof(rsp));
    rsp.service = service;
    switch (service) {
    case QKD_SVC_OPEN_RSP:
        rsp.u.open.status = status;
        break;
    case QKD_SVC_GET_RSP:
        rsp.u.get.status = status;
        break;
    default:
        rsp.u.close.status = status;
        break;
    }
    kme_respond(cl, &rsp);
}

static void cl_on_open(struct qkd_conn *c, void *arg)
{
    struct kme_client *cl = arg;
    if (qkd_tls_peer_id(qkd_conn_ssl(c), cl->id, sizeof(cl->id)) != 0) {
        log_warn("connection %s: no verified client certificate; closing", cl->addr);
        qkd_conn_close(c, "no client certificate");
        return;
    }
    cl->have_id = true;
    if (qkd_log_get_level() <= QKD_LOG_DEBUG) {
        char name[128];
        if (qkd_tls_peer_name(qkd_conn_ssl(c), name, sizeof(name)) != 0)
            snprintf(name, sizeof(name), "?");
        log_debug("connection %s: client '%s' connected", cl->addr, name);
    }
}

static int cl_on_frame(struct qkd_conn *c, const struct qkd_wire_hdr *h, const uint8_t *payload,
                       void *arg)
{
    struct kme_client *cl = arg;
    struct kme *k = cl->kme;
    if (!cl->have_id) return -1;
    if (cl->framing == QKD_FRAMING_UNKNOWN) cl->framing = qkd_wire_detect(h);
    struct qkd_request req;
    int rc = qkd_wire_decode_request(cl->framing, h, payload, k->cfg.max_payload, &req);
    if (rc != QKD_WIRE_OK) {
        log_warn("protocol error from %s: %s (service 0x%02x, %u bytes); closing connection",
                 cl->addr, qkd_wire_err_str(rc), h->service, h->payload_len);
        return -1;
    }
    switch (req.service) {
    case QKD_SVC_OPEN_REQ:
        kme_open_connect(k, cl, &req.u.open);
        break;
    case QKD_SVC_GET_REQ:
        kme_get_key(k, cl, &req.u.get);
        break;
    case QKD_SVC_CLOSE_REQ:
        kme_close(k, cl, &req.u.close);
        break;
    default:
        log_warn("protocol error from %s: unexpected service 0x%02x; closing connection", cl->addr,
                 req.service);
        return -1;
    }
    return 0;
}

static void cl_on_close(struct qkd_conn *c, const char *reason, void *arg)
{
    struct kme_client *cl = arg;
    struct kme *k = cl->kme;
    if (cl->waiter) kme_waiter_cancel(cl->waiter);
    if (cl->prev)
        cl->prev->next = cl->next;
    else if (k->clients == cl)
        k->clients = cl->next;
    if (cl->next) cl->next->prev = cl->prev;
    k->nconns--;
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
    struct kme *k = arg;
    for (;;) {
        int nfd = qkd_tcp_accept(fd);
        if (nfd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warn("accept: %s", strerror(errno));
            return;
        }
        if (k->nconns >= k->cfg.max_conns) {
            log_warn("connection limit (%u) reached; refusing a new connection", k->cfg.max_conns);
            close(nfd);
            continue;
        }
        struct kme_client *cl = calloc(1, sizeof(*cl));
        if (!cl) {
            close(nfd);
            continue;
        }
        cl->kme = k;
        struct qkd_conn_limits lim = {
            .max_payload = k->cfg.max_payload,
            .idle_ms = k->cfg.idle_ms,
        };
        cl->conn = qkd_conn_new(loop, k->srv_ctx, nfd, 1, &lim, &cl_ops, cl);
        if (!cl->conn) {
            free(cl);
            continue;
        }
        snprintf(cl->addr, sizeof(cl->addr), "%s", qkd_conn_peer_addr(cl->conn));
        cl->next = k->clients;
        if (k->clients) k->clients->prev = cl;
        k->clients = cl;
        k->nconns++;
    }
}

int kme_server_listen(struct kme *k, char *err, size_t n)
{
    char addr[300];
    if (strchr(k->cfg.address, ':') && k->cfg.address[0] != '[')
        snprintf(addr, sizeof(addr), "[%s]:%u", k->cfg.address, k->cfg.port);
    else
        snprintf(addr, sizeof(addr), "%s:%u", k->cfg.address, k->cfg.port);
    k->etsi_fd = qkd_tcp_listen(addr, 512, err, n);
    if (k->etsi_fd < 0) return -1;
    if (qkd_loop_add_fd(k->loop, k->etsi_fd, QKD_EV_READ, accept_cb, k) != 0) {
        snprintf(err, n, "cannot watch the ETSI 004 listener");
        return -1;
    }
    log_info("ETSI 004 key server %s listening on %s (port %d)", k->cfg.node, addr,
             qkd_tcp_local_port(k->etsi_fd));
    return 0;
}

void kme_server_stop(struct kme *k)
{
    if (k->etsi_fd >= 0) {
        qkd_loop_del_fd(k->loop, k->etsi_fd);
        close(k->etsi_fd);
        k->etsi_fd = -1;
    }
    while (k->clients)
        qkd_conn_abort(k->clients->conn, "shutting down");
}
