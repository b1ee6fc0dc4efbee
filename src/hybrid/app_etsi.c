/* app_etsi.c: qkd-hybrid's ETSI 004 listener for applications (mTLS; the caller's identity is
 * its certificate). Each connection's framing is detected from its first frame as at the key
 * server (major 2 -> E, else Q), so qkd-client and other ETSI 004 clients work unchanged. One
 * call at a time per connection: the connection is paused while its call waits. */
#include "hyb.h"

#include "etsi_server.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

/* The daemon's state of one ETSI 004 connection (the etsi_server client's user area). */
struct etsi_client {
    struct qkd_etsi_client *ec; /* connection, identity, framing, address */
    struct hyb_call call;
};

static void respond(struct etsi_client *cl, const struct qkd_response *rsp)
{
    qkd_etsi_respond(cl->ec, rsp); /* wipes the encoded key bytes */
    cl->call.kind = HYB_CALL_NONE;
    qkd_conn_resume(cl->ec->conn);
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
    if (msg && status != 0)
        log_debug("connection %s: OPEN_CONNECT %u: %s", cl->ec->addr, status, msg);
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
        log_debug("connection %s: GET_KEY index %u: status %u: %s", cl->ec->addr, index, status,
                  msg);
    }
    respond(cl, &rsp);
}

static const struct hyb_call_ops etsi_ops = {.open_done = etsi_open_done,
                                             .get_done = etsi_get_done};

static int on_request(struct qkd_etsi_client *ec, const struct qkd_request *req, void *arg)
{
    struct hyb *h = arg;
    struct etsi_client *cl = ec->user;
    if (!cl->ec) {
        cl->ec = ec;
        cl->call.h = h;
        cl->call.ops = &etsi_ops;
        cl->call.fe = cl;
        snprintf(cl->call.identity, sizeof(cl->call.identity), "%s", ec->id);
    }
    if (cl->call.kind != HYB_CALL_NONE) return -1; /* cannot happen: paused */
    qkd_conn_pause(ec->conn);
    switch (req->service) {
    case QKD_SVC_OPEN_REQ:
        hyb_app_open(h, &cl->call, req->u.open.source, req->u.open.destination, &req->u.open.qos,
                     &req->u.open.ksid);
        break;
    case QKD_SVC_GET_REQ:
        hyb_app_get(h, &cl->call, &req->u.get.ksid, req->u.get.index);
        break;
    default: {
        cl->call.kind = HYB_CALL_CLOSE;
        struct qkd_response rsp;
        memset(&rsp, 0, sizeof(rsp));
        rsp.service = QKD_SVC_CLOSE_RSP;
        rsp.u.close.status = hyb_app_close(h, cl->call.identity, &req->u.close.ksid);
        respond(cl, &rsp);
        break;
    }
    }
    return 0;
}

static void on_disconnect(struct qkd_etsi_client *ec, void *arg)
{
    struct etsi_client *cl = ec->user;
    if (cl->ec && cl->call.kind != HYB_CALL_NONE) hyb_call_cancel(&cl->call);
}

static const struct qkd_etsi_srv_ops hyb_etsi_ops = {
    .on_request = on_request,
    .on_disconnect = on_disconnect,
};

int hyb_etsi_listen(struct hyb *h, char *err, size_t errlen)
{
    struct qkd_etsi_srv_cfg cfg = {
        .listen = h->cfg->hybrid_listen,
        .ctx = h->app_ctx,
        .max_conns = h->set.max_conns,
        .max_payload = h->set.max_payload,
        .idle_ms = h->set.idle_ms,
        .user_size = sizeof(struct etsi_client),
        .shared_count = &h->nconns, /* max_conns bounds the ETSI and JSON listeners together */
    };
    h->etsi = qkd_etsi_srv_new(h->loop, &cfg, &hyb_etsi_ops, h, err, errlen);
    if (!h->etsi) return -1;
    log_info("ETSI 004 listener on %s (port %d)", h->cfg->hybrid_listen,
             qkd_etsi_srv_port(h->etsi));
    return 0;
}

void hyb_etsi_stop(struct hyb *h)
{
    qkd_etsi_srv_free(h->etsi);
    h->etsi = NULL;
}
