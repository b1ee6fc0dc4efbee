/* server.c: the key server's side of the shared ETSI 004 listener (src/common/etsi_server.c,
 * which owns connections, identity, framing detection and decoding): dispatches each request
 * to OPEN_CONNECT / GET_KEY / CLOSE and cancels a waiting call when its connection goes. */
#include <stdio.h>
#include <string.h>

#include "dialect.h"
#include "api.h"
#include "getkey.h"
#include "kme.h"
#include "server.h"
#include "log.h"

static int on_request(struct qkd_etsi_client *ec, const struct qkd_request *req, void *arg)
{
    struct kme *k = arg;
    struct kme_client *cl = ec->user;
    if (!cl->ec) {
        cl->ec = ec;
        cl->kme = k;
    }
    switch (req->service) {
    case QKD_SVC_OPEN_REQ:
        kme_open_connect(k, cl, &req->u.open);
        break;
    case QKD_SVC_GET_REQ: {
        /* The dialect says what the request's metadata is: a buffer size (Q) or key info (E,
         * whose responses always carry the whole metadata). */
        struct qkd_get_req g = req->u.get;
        char why[160];
        uint32_t st = qkd_dialect_get_meta(qkd_dialect_of(ec->framing), &req->u.get,
                                           &g.metadata_size, why, sizeof(why));
        if (st != QKD_STATUS_SUCCESS) {
            log_info("GET_KEY from %s refused with %u: %s", ec->addr, st, why);
            struct qkd_response rsp;
            memset(&rsp, 0, sizeof(rsp));
            rsp.service = QKD_SVC_GET_RSP;
            rsp.u.get.status = st;
            rsp.u.get.index = g.index;
            qkd_etsi_respond(ec, &rsp);
            break;
        }
        kme_get_key(k, cl, &g);
        break;
    }
    default:
        kme_close(k, cl, &req->u.close);
        break;
    }
    return 0;
}

static void on_disconnect(struct qkd_etsi_client *ec, void *arg)
{
    struct kme_client *cl = ec->user;
    if (cl->waiter) kme_waiter_cancel(cl->waiter);
}

static const struct qkd_etsi_srv_ops kme_etsi_ops = {
    .on_request = on_request,
    .on_disconnect = on_disconnect,
};

int kme_server_listen(struct kme *k, char *err, size_t n)
{
    char addr[300];
    if (strchr(k->cfg.address, ':') && k->cfg.address[0] != '[')
        snprintf(addr, sizeof(addr), "[%s]:%u", k->cfg.address, k->cfg.port);
    else
        snprintf(addr, sizeof(addr), "%s:%u", k->cfg.address, k->cfg.port);
    struct qkd_etsi_srv_cfg cfg = {
        .listen = addr,
        .ctx = k->srv_ctx,
        .max_conns = k->cfg.max_conns,
        .max_handshakes = k->cfg.max_handshakes,
        .out_high = k->cfg.out_high,
        .max_payload = k->cfg.max_payload,
        .idle_ms = k->cfg.idle_ms,
        .user_size = sizeof(struct kme_client),
    };
    k->etsi = qkd_etsi_srv_new(k->loop, &cfg, &kme_etsi_ops, k, err, n);
    if (!k->etsi) return -1;
    log_info("ETSI 004 key server %s listening on %s (port %d)", k->cfg.node, addr,
             qkd_etsi_srv_port(k->etsi));
    return 0;
}

void kme_server_stop(struct kme *k)
{
    qkd_etsi_srv_free(k->etsi);
    k->etsi = NULL;
}
