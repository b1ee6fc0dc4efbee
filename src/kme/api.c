/* api.c: the ETSI 004 calls OPEN_CONNECT and CLOSE (docs/kme.md, steps 1-6) and the stream
 * messages from the peer key server (STREAM_ANNOUNCE / STREAM_ATTACH / STREAM_CLOSE). GET_KEY
 * is getkey.c's; stream registration and TTL clean-up stream.c's. A join must name
 * the stream's link (or no peer node); a KSID closed at either end is never paired again while
 * the other end lives (tombstones here, peer_ended there). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uuid/uuid.h>

#include "api.h"
#include "rest_batch.h"
#include "dialect.h"
#include "getkey.h"
#include "kme.h"
#include "link.h"
#include "log.h"
#include "peer.h"
#include "uri.h"

static void respond_open(struct kme_client *cl, uint32_t status, const struct qkd_qos *qos,
                         const struct qkd_ksid *ksid)
{
    struct qkd_response rsp;
    memset(&rsp, 0, sizeof(rsp));
    rsp.service = QKD_SVC_OPEN_RSP;
    rsp.u.open.status = status;
    if (qos) rsp.u.open.qos = *qos;
    if (ksid) rsp.u.open.ksid = *ksid;
    qkd_etsi_respond(cl->ec, &rsp);
}

struct minbps_sum {
    struct kme_link *l;
    uint64_t sum;
};

static void sum_min_bps(struct kme_stream *s, void *arg)
{
    struct minbps_sum *m = arg;
    if (s->link == m->l) m->sum += s->qos.min_bps;
}

/* Whether cl's identity already has --max-streams-per-identity streams attached here; if so
 * the call is answered 4 (docs/kme.md, "Limits"). */
static bool over_quota(struct kme *k, struct kme_client *cl, const char *what)
{
    size_t n = kme_streams_owned_count(&k->streams, cl->ec->id);
    if (n < k->cfg.max_streams_per_id) return false;
    log_warn("OPEN_CONNECT from %s (%s) refused: the identity has %zu streams open at this node "
             "(--max-streams-per-identity %" PRIu32 ")",
             cl->ec->addr, what, n, k->cfg.max_streams_per_id);
    respond_open(cl, QKD_STATUS_NO_QKD_CONNECTION, NULL, NULL);
    return true;
}

void kme_open_connect(struct kme *k, struct kme_client *cl, const struct qkd_open_req *o)
{
    const struct qkd_dialect *d = qkd_dialect_of(cl->ec->framing);
    struct qkd_uri src, dst;
    bool src_bare, dst_bare;
    /* 1. absolute URIs with scheme and authority (E: or bare identifiers) */
    if (qkd_dialect_endpoint(d, o->source, &src, &src_bare) != 0 ||
        qkd_dialect_endpoint(d, o->destination, &dst, &dst_bare) != 0) {
        log_info("OPEN_CONNECT from %s refused: source or destination is not an absolute URI%s",
                 cl->ec->addr, d->bare_ids ? " nor a bare identifier" : "");
        respond_open(cl, QKD_STATUS_NO_QKD_CONNECTION, NULL, NULL);
        return;
    }
    /* 2. link selection */
    struct kme_link *l = kme_link_by_name(k, dst.host);
    if (!l) l = &k->links[k->default_link];
    if (!l->ring) {
        log_warn("OPEN_CONNECT from %s: link %s has no key ring attached", cl->ec->addr, l->peer);
        respond_open(cl, QKD_STATUS_NO_QKD_CONNECTION, NULL, NULL);
        return;
    }
    /* 3. Timeout 0: a 0 ms deadline that cannot be met (Q), the server default (E) */
    struct qkd_qos req_qos = o->qos;
    if (qkd_dialect_open_qos(d, &req_qos, k->cfg.qos.timeout, k->cfg.qos.ttl) != 0) {
        respond_open(cl, QKD_STATUS_TIMEOUT, NULL, NULL);
        return;
    }
    /* 4. QoS negotiation */
    struct kme_qos_ctx qctx = {.skr_bps = kme_link_skr(l), .admission = k->cfg.admission};
    /* chunks so small that the window would exceed --max-window-chunks are raised (7) */
    qctx.min_chunk =
        (uint32_t)((k->cfg.window_bytes + k->streams.max_wchunks - 1) / k->streams.max_wchunks);
    if (k->cfg.admission) {
        struct minbps_sum m = {.l = l};
        kme_streams_foreach(&k->streams, sum_min_bps, &m);
        qctx.min_bps_inuse = m.sum;
    }
    struct qkd_qos granted;
    uint32_t status = kme_qos_negotiate(&req_qos, &k->cfg.qos, &qctx, &granted);
    struct qkd_ksid ksid = o->ksid;
    char ks[QKD_KSID_STRLEN];

    if (qkd_ksid_is_zero(&ksid)) {
        /* 5. a fresh KSID */
        if (over_quota(k, cl, "new stream")) return;
        struct kme_stream *s = NULL;
        for (int tries = 0; tries < 4 && !s; tries++) {
            uuid_t u;
            uuid_generate_random(u);
            memcpy(ksid.b, u, QKD_KSID_LEN);
            if (!kme_stream_find(&k->streams, &ksid))
                s = kme_stream_register(k, l, &ksid, &granted);
            if (!s && k->streams.count >= k->streams.max) break;
        }
        if (!s) {
            log_warn("OPEN_CONNECT from %s: stream table full (%zu streams)", cl->ec->addr,
                     k->streams.count);
            respond_open(cl, QKD_STATUS_NO_QKD_CONNECTION, NULL, NULL);
            return;
        }
        kme_stream_attach(s, cl->ec->id);
        kme_peer_announce(l, s);
        qkd_ksid_to_str(&ksid, ks);
        log_info("OPEN_CONNECT successful, new Key_stream_ID: %s (link %s, chunk %" PRIu32
                 ", status %" PRIu32 ")",
                 ks, l->peer, granted.key_chunk_size, status);
        respond_open(cl, status, &s->qos, &ksid);
        return;
    }
    /* 6. a given KSID */
    qkd_ksid_to_str(&ksid, ks);
    struct kme_stream *s = kme_stream_find(&k->streams, &ksid);
    if (s && (s->local_attached || s->rest)) { /* an ETSI 014 batch is never an ETSI 004 stream */
        log_info("OPEN_CONNECT from %s: Key_stream_ID %s already in use", cl->ec->addr, ks);
        respond_open(cl, QKD_STATUS_KSID_IN_USE, NULL, NULL);
        return;
    }
    if (!s && kme_tomb_link(k, &ksid)) {
        /* closed at this node while its peer end may live: never attached again */
        log_info("OPEN_CONNECT from %s: Key_stream_ID %s was closed at this node; refused",
                 cl->ec->addr, ks);
        respond_open(cl, QKD_STATUS_KSID_IN_USE, NULL, NULL);
        return;
    }
    struct kme_link *named = kme_link_by_name(k, dst.host);
    if (s && named && named != s->link) {
        /* the destination names another peer node than the stream's link */
        log_info("OPEN_CONNECT from %s: Key_stream_ID %s belongs to link %s, not %s; refused",
                 cl->ec->addr, ks, s->link->peer, named->peer);
        respond_open(cl, QKD_STATUS_PEER_APP_NOT_CONNECTED, NULL, NULL);
        return;
    }
    if (s) {
        /* The stream keeps the QoS it was opened with. 0 when the peer's application opened
         * it (even if it has closed it since: its key is kept for us); 1 when the peer node only
         * relayed it and no application there ever opened it (e.g. after a restart). */
        if (over_quota(k, cl, "join")) return;
        uint32_t jst =
            s->peer_attached || s->peer_opened ? QKD_STATUS_SUCCESS : QKD_STATUS_PEER_NOT_CONNECTED;
        kme_stream_attach(s, cl->ec->id);
        kme_stream_touch(k, s);
        kme_peer_send_ksid(s->link, KME_PM_ATTACH, &ksid);
        log_info("OPEN_CONNECT successful, joined Key_stream_ID: %s (link %s, status %" PRIu32 ")",
                 ks, s->link->peer, jst);
        respond_open(cl, jst, &s->qos, &ksid);
        return;
    }
    if (over_quota(k, cl, "predefined stream")) return;
    s = kme_stream_register(k, l, &ksid, &granted);
    if (!s) {
        log_warn("OPEN_CONNECT from %s: stream table full (%zu streams)", cl->ec->addr,
                 k->streams.count);
        respond_open(cl, QKD_STATUS_NO_QKD_CONNECTION, NULL, NULL);
        return;
    }
    kme_stream_attach(s, cl->ec->id);
    kme_peer_announce(l, s);
    if (status == QKD_STATUS_SUCCESS) status = QKD_STATUS_PEER_NOT_CONNECTED;
    log_info("OPEN_CONNECT successful, predefined Key_stream_ID: %s (link %s, status %" PRIu32 ")",
             ks, l->peer, status);
    respond_open(cl, status, &s->qos, &ksid);
}

void kme_close(struct kme *k, struct kme_client *cl, const struct qkd_close_req *c)
{
    struct qkd_response rsp;
    memset(&rsp, 0, sizeof(rsp));
    rsp.service = QKD_SVC_CLOSE_RSP;
    struct kme_stream *s = kme_stream_find(&k->streams, &c->ksid);
    if (!s || !kme_stream_owned_by(s, cl->ec->id)) {
        rsp.u.close.status = QKD_STATUS_PEER_APP_NOT_CONNECTED;
        qkd_etsi_respond(cl->ec, &rsp);
        return;
    }
    struct kme_link *l = s->link;
    char ks[QKD_KSID_STRLEN];
    qkd_ksid_to_str(&c->ksid, ks);
    kme_peer_send_ksid(l, KME_PM_CLOSE, &c->ksid);
    kme_link_tomb_add(l, &c->ksid);
    kme_stream_drop(k, s, QKD_STATUS_PEER_APP_NOT_CONNECTED);
    log_info("CLOSE successful for Key_stream_ID: %s", ks);
    rsp.u.close.status = QKD_STATUS_SUCCESS;
    qkd_etsi_respond(cl->ec, &rsp);
}

/* ---- peer messages about streams ---- */

static bool qos_same(const struct qkd_qos *a, const struct qkd_qos *b)
{
    return a->key_chunk_size == b->key_chunk_size && a->max_bps == b->max_bps &&
           a->min_bps == b->min_bps && a->jitter == b->jitter && a->priority == b->priority &&
           a->timeout == b->timeout && a->ttl == b->ttl &&
           strcmp(a->metadata_mimetype, b->metadata_mimetype) == 0;
}

void kme_on_announce(struct kme_link *l, const struct kme_pmsg *m)
{
    struct kme *k = l->kme;
    char ks[QKD_KSID_STRLEN];
    qkd_ksid_to_str(&m->ksid, ks);
    if (kme_link_tomb_has(l, &m->ksid)) {
        kme_link_tomb_seen(l, &m->ksid); /* the peer end lives: keep the tombstone */
        kme_peer_send_ksid(l, KME_PM_CLOSE, &m->ksid);
        return;
    }
    const struct qkd_qos *q = &m->u.announce.qos;
    if (q->key_chunk_size == 0 || q->key_chunk_size > KME_MAX_CHUNK || q->timeout == 0) {
        log_warn("peer %s announced Key_stream_ID %s with an unusable QoS; refused", l->peer, ks);
        kme_peer_send_ksid(l, KME_PM_CLOSE, &m->ksid);
        return;
    }
    struct kme_stream *s = kme_stream_find(&k->streams, &m->ksid);
    if (!s) {
        s = kme_stream_register(k, l, &m->ksid, q);
        if (!s) {
            log_warn("peer %s announced Key_stream_ID %s: stream table full; refused", l->peer, ks);
            kme_peer_send_ksid(l, KME_PM_CLOSE, &m->ksid);
            return;
        }
        log_info("peer %s announced Key_stream_ID: %s", l->peer, ks);
    } else if (s->link != l) {
        log_warn("peer %s announced Key_stream_ID %s, which belongs to link %s; ignored", l->peer,
                 ks, s->link->peer);
        return;
    } else if (s->peer_ended) {
        /* the peer closed its end before (then restarted?): never paired again */
        log_warn("peer %s announced Key_stream_ID %s, which it closed before; refused", l->peer,
                 ks);
        kme_peer_send_ksid(l, KME_PM_CLOSE, &m->ksid);
        return;
    } else if (l->role == KME_ROLE_FOLLOWER && !qos_same(&s->qos, q) && s->nallocs == 0 &&
               qkd_window_untouched(&s->win)) {
        /* Both ends opened the same predefined KSID: the leader's QoS decides. */
        s->qos = *q;
        kme_stream_set_window(s, k->cfg.window_bytes, k->streams.max_wchunks);
    }
    s->peer_attached = m->u.announce.attached != 0;
    if (s->peer_attached) s->peer_opened = true;
    s->peer_closed = false;
    kme_wake(l);
}

void kme_on_attach(struct kme_link *l, const struct kme_pmsg *m)
{
    struct kme_stream *s = kme_stream_find(&l->kme->streams, &m->ksid);
    if (!s || s->link != l) return;
    if (s->peer_ended) {
        char ks[QKD_KSID_STRLEN];
        qkd_ksid_to_str(&m->ksid, ks);
        log_warn("peer %s attached Key_stream_ID %s, which it closed before; refused", l->peer, ks);
        kme_peer_send_ksid(l, KME_PM_CLOSE, &m->ksid);
        return;
    }
    s->peer_attached = true;
    s->peer_opened = true;
    s->peer_closed = false;
}

void kme_on_close(struct kme_link *l, const struct kme_pmsg *m)
{
    struct kme *k = l->kme;
    struct kme_stream *s = kme_stream_find(&k->streams, &m->ksid);
    if (!s) {
        /* both ends are closed now: the tombstone is no longer needed */
        kme_link_tomb_del(l, &m->ksid);
        return;
    }
    if (s->link != l) return;
    char ks[QKD_KSID_STRLEN];
    qkd_ksid_to_str(&m->ksid, ks);
    s->peer_attached = false;
    s->peer_closed = true;
    s->peer_ended = true;
    if (s->rest && !s->rest->master_side) {
        /* the master's node gave up on this ETSI 014 batch (its enc_keys failed): wipe it */
        log_info("peer %s withdrew ETSI 014 batch %s; its key is wiped", l->peer, ks);
        kme_stream_drop(k, s, QKD_STATUS_PEER_APP_NOT_CONNECTED);
    } else if (!s->local_attached && s->nallocs == 0) {
        log_info("peer %s closed Key_stream_ID: %s (removed here)", l->peer, ks);
        kme_stream_drop(k, s, QKD_STATUS_PEER_APP_NOT_CONNECTED);
    } else {
        log_info("peer %s closed Key_stream_ID: %s (%zu undelivered chunks kept until CLOSE or "
                 "TTL)",
                 l->peer, ks, s->nallocs);
    }
    kme_wake(l);
}
