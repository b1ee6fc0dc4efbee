/* app_etsi.c: qkd-hybrid's ETSI 004 listener for applications (mTLS; the caller's identity is
 * its certificate). Each connection's framing is detected from its first frame as at the key
 * server (major 2 -> E, else Q), so qkd-client and other ETSI 004 clients work unchanged. One
 * call at a time per connection: the connection is paused while its call waits. */
#include "hyb.h"

#include "dialect.h"
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

/* E dialect: bare identifiers (ETSI's C library sends SAE ids) become hybrid requests. An
 * "app@node" identifier names its node; a plain "app" is at this node when it is the source
 * of a new stream (no KSID: this node initiates) or the destination of a joined one (KSID
 * given), and at the peer otherwise, the peer being this node's only one. The request takes
 * HYB_BARE_PARAMS (docs/hybrid.md). */
#define HYB_BARE_PARAMS "hybridization=hkdf&key_sources=QKD,ML-KEM-768,X25519"

/* Writes the hybrid URI of one endpoint into out; the URI itself when it is not bare. Returns
 * 0, or -1 (with the reason logged) when a bare identifier names no node. */
static int bare_endpoint(struct etsi_client *cl, const char *s, bool at_self, const char *params,
                         char *out, size_t outlen)
{
    struct hyb *h = cl->call.h;
    struct qkd_uri u;
    bool bare = false;
    if (qkd_dialect_endpoint(qkd_dialect_of(cl->ec->framing), s, &u, &bare) != 0 || !bare) {
        snprintf(out, outlen, "%s", s); /* the request parser names what is wrong, if anything */
        return 0;
    }
    const char *app = u.userinfo[0] ? u.userinfo : u.host;
    const char *node = u.userinfo[0] ? u.host : NULL;
    if (!node && at_self) node = h->cfg->name;
    if (!node && h->cfg->n_peers == 1) node = h->cfg->peers[0].name;
    if (!node) {
        log_info("OPEN_CONNECT from %s refused: bare identifier '%s' names no node and this node "
                 "has %zu peers (write app@node)",
                 cl->ec->addr, s, h->cfg->n_peers);
        return -1;
    }
    int n = snprintf(out, outlen, "hybrid://%s@%s%s%s", app, node, params ? "?" : "",
                     params ? params : "");
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

static void etsi_open(struct hyb *h, struct etsi_client *cl, const struct qkd_open_req *o)
{
    const struct qkd_dialect *d = qkd_dialect_of(cl->ec->framing);
    struct qkd_qos q = o->qos;
    cl->call.kind = HYB_CALL_OPEN;
    if (qkd_dialect_open_qos(d, &q, h->set.def_timeout_ms, h->set.def_ttl_s) != 0)
        return etsi_open_done(&cl->call, QKD_STATUS_TIMEOUT, NULL, NULL, "Timeout 0");
    char src[QKD_WIRE_URI_MAX + 128], dst[QKD_WIRE_URI_MAX + 128];
    bool joining = !qkd_ksid_is_zero(&o->ksid);
    if (bare_endpoint(cl, o->source, !joining, HYB_BARE_PARAMS, src, sizeof(src)) != 0 ||
        bare_endpoint(cl, o->destination, joining, NULL, dst, sizeof(dst)) != 0)
        return etsi_open_done(&cl->call, QKD_STATUS_NO_QKD_CONNECTION, NULL, NULL,
                              "bare identifier names no node");
    hyb_app_open(h, &cl->call, src, dst, &q, &o->ksid);
}

/* GET_KEY: the dialect reads the request metadata (E: key info; only symmetric keys). */
static void etsi_get(struct hyb *h, struct etsi_client *cl, const struct qkd_get_req *g)
{
    uint32_t bufsize;
    char why[160];
    cl->call.kind = HYB_CALL_GET;
    uint32_t st =
        qkd_dialect_get_meta(qkd_dialect_of(cl->ec->framing), g, &bufsize, why, sizeof(why));
    if (st != QKD_STATUS_SUCCESS) {
        log_info("GET_KEY from %s refused with %u: %s", cl->ec->addr, st, why);
        return etsi_get_done(&cl->call, st, g->index, NULL, 0, why);
    }
    hyb_app_get(h, &cl->call, &g->ksid, g->index);
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
        etsi_open(h, cl, &req->u.open);
        break;
    case QKD_SVC_GET_REQ:
        etsi_get(h, cl, &req->u.get);
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
        .max_handshakes = h->set.max_handshakes,
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
