/* etsi_server.c: the ETSI 004 listener shared by qkd-kme and qkd-hybrid (see etsi_server.h). */
#include "etsi_server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"

struct qkd_etsi_srv {
    struct qkd_loop *loop;
    struct qkd_etsi_srv_cfg cfg;
    struct qkd_etsi_srv_ops ops;
    void *arg;
    struct qkd_listener *lst;
    struct qkd_etsi_client *clients;
};

int qkd_etsi_respond(struct qkd_etsi_client *cl, const struct qkd_response *rsp)
{
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    int rc = qkd_wire_encode_response(cl->framing, rsp, &w);
    if (rc == QKD_WIRE_OK)
        rc = qkd_conn_send(cl->conn, w.buf, w.len);
    else
        log_error("connection %s: cannot encode a response: %s", cl->addr, qkd_wire_err_str(rc));
    qkd_writer_free(&w); /* wipes the key bytes */
    return rc == 0 ? 0 : -1;
}

int qkd_etsi_respond_status(struct qkd_etsi_client *cl, uint8_t service, uint32_t status)
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
    return qkd_etsi_respond(cl, &rsp);
}

static void cl_on_open(struct qkd_conn *c, void *arg)
{
    struct qkd_etsi_client *cl = arg;
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
    struct qkd_etsi_client *cl = arg;
    struct qkd_etsi_srv *srv = cl->srv;
    if (!cl->have_id) return -1;
    if (cl->framing == QKD_FRAMING_UNKNOWN) cl->framing = qkd_wire_detect(h);
    struct qkd_request req;
    int rc = qkd_wire_decode_request(cl->framing, h, payload, srv->cfg.max_payload, &req);
    if (rc != QKD_WIRE_OK) {
        log_warn("protocol error from %s: %s (service 0x%02x, %u bytes); closing connection",
                 cl->addr, qkd_wire_err_str(rc), h->service, h->payload_len);
        return -1;
    }
    if (req.service != QKD_SVC_OPEN_REQ && req.service != QKD_SVC_GET_REQ &&
        req.service != QKD_SVC_CLOSE_REQ) {
        log_warn("protocol error from %s: unexpected service 0x%02x; closing connection", cl->addr,
                 req.service);
        return -1;
    }
    return srv->ops.on_request(cl, &req, srv->arg);
}

static void cl_on_close(struct qkd_conn *c, const char *reason, void *arg)
{
    struct qkd_etsi_client *cl = arg;
    struct qkd_etsi_srv *srv = cl->srv;
    if (srv->ops.on_disconnect) srv->ops.on_disconnect(cl, srv->arg);
    if (cl->prev)
        cl->prev->next = cl->next;
    else if (srv->clients == cl)
        srv->clients = cl->next;
    if (cl->next) cl->next->prev = cl->prev;
    qkd_listener_gone(srv->lst);
    log_debug("connection %s closed: %s", cl->addr, reason ? reason : "");
    free(cl);
}

static const struct qkd_conn_ops cl_ops = {
    .on_open = cl_on_open,
    .on_frame = cl_on_frame,
    .on_close = cl_on_close,
};

static int etsi_accept(struct qkd_listener *lst, int nfd, void *arg)
{
    struct qkd_etsi_srv *srv = arg;
    /* One allocation: the client, then the program's state, aligned. */
    size_t head = (sizeof(struct qkd_etsi_client) + 15) & ~(size_t)15;
    struct qkd_etsi_client *cl = calloc(1, head + srv->cfg.user_size);
    if (!cl) {
        close(nfd);
        return -1;
    }
    cl->srv = srv;
    cl->user = srv->cfg.user_size ? (uint8_t *)cl + head : NULL;
    struct qkd_conn_limits lim = {
        .max_payload = srv->cfg.max_payload,
        .idle_ms = srv->cfg.idle_ms,
        .out_high = srv->cfg.out_high ? srv->cfg.out_high : QKD_ETSI_DEFAULT_OUT_HIGH,
        .hs_group = qkd_listener_hs_group(lst),
    };
    cl->conn = qkd_conn_new(srv->loop, srv->cfg.ctx, nfd, 1, &lim, &cl_ops, cl);
    if (!cl->conn) {
        free(cl);
        return -1;
    }
    snprintf(cl->addr, sizeof(cl->addr), "%s", qkd_conn_peer_addr(cl->conn));
    cl->next = srv->clients;
    if (srv->clients) srv->clients->prev = cl;
    srv->clients = cl;
    return 0;
}

struct qkd_etsi_srv *qkd_etsi_srv_new(struct qkd_loop *loop, const struct qkd_etsi_srv_cfg *cfg,
                                      const struct qkd_etsi_srv_ops *ops, void *arg, char *err,
                                      size_t errlen)
{
    if (!loop || !cfg || !cfg->listen || !cfg->ctx || !ops || !ops->on_request) {
        snprintf(err, errlen, "ETSI 004 server: missing listener, TLS context or handler");
        return NULL;
    }
    struct qkd_etsi_srv *srv = calloc(1, sizeof(*srv));
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    srv->loop = loop;
    srv->cfg = *cfg;
    srv->ops = *ops;
    srv->arg = arg;
    struct qkd_listener_cfg lc = {
        .addr = cfg->listen,
        .name = "ETSI 004",
        .backlog = 512,
        .max_conns = cfg->max_conns,
        .shared_count = cfg->shared_count,
        .max_handshakes = cfg->max_handshakes,
    };
    srv->lst = qkd_listener_new(loop, &lc, etsi_accept, srv, err, errlen);
    if (!srv->lst) {
        free(srv);
        return NULL;
    }
    return srv;
}

void qkd_etsi_srv_free(struct qkd_etsi_srv *srv)
{
    if (!srv) return;
    while (srv->clients) /* (synchronous: nothing is accepted meanwhile) */
        qkd_conn_abort(srv->clients->conn, "shutting down");
    qkd_listener_free(srv->lst);
    free(srv);
}

int qkd_etsi_srv_port(const struct qkd_etsi_srv *srv)
{
    return qkd_listener_port(srv->lst);
}

struct qkd_listener *qkd_etsi_srv_listener(const struct qkd_etsi_srv *srv)
{
    return srv->lst;
}

uint32_t qkd_etsi_srv_count(const struct qkd_etsi_srv *srv)
{
    return qkd_listener_count(srv->lst);
}
