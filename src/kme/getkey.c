/* getkey.c: the ETSI 004 call GET_KEY and its waiters (docs/kme.md). A call is answered at
 * once when its index holds acknowledged key; otherwise the allocation protocol (alloc.c) is
 * asked for it (the leader allocates, the follower requests) and the call waits, its connection
 * paused, until key arrives, the stream goes or its Timeout passes (status 6). Every change of
 * key, allocation or peer state re-evaluates a link's waiting calls (kme_wake). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "getkey.h"
#include "kme.h"
#include "link.h"
#include "log.h"

enum get_outcome { GET_WAIT = 0, GET_DONE = 1 };

static void respond_get_status(struct kme_client *cl, uint32_t status, uint32_t index,
                               uint32_t required)
{
    struct qkd_response rsp;
    memset(&rsp, 0, sizeof(rsp));
    rsp.service = QKD_SVC_GET_RSP;
    rsp.u.get.status = status;
    rsp.u.get.index = index;
    rsp.u.get.required_metadata_size = required;
    qkd_etsi_respond(cl->ec, &rsp);
}

/* Delivers a's key to cl, or answers 8 (nothing consumed) when the client's metadata buffer
 * cannot hold this delivery's metadata. */
static void deliver(struct kme *k, struct kme_client *cl, struct kme_stream *s, struct kme_alloc *a,
                    uint32_t metadata_size)
{
    char meta[KME_METADATA_MAX + 8];
    uint32_t mlen = 0;
    if (s->qos.metadata_mimetype[0] && metadata_size) {
        uint64_t now = qkd_wall_ms();
        uint64_t age = now > a->distilled_ms ? now - a->distilled_ms : 0;
        if (age > UINT32_MAX) age = UINT32_MAX;
        int n = snprintf(meta, sizeof(meta), "{\"age\":%" PRIu64 ",\"hops\":0}", age);
        mlen = n > 0 ? (uint32_t)n : 0;
        if (mlen > metadata_size) {
            respond_get_status(cl, QKD_STATUS_METADATA_TOO_SMALL, a->index, KME_METADATA_MAX);
            return;
        }
    }
    struct qkd_response rsp;
    memset(&rsp, 0, sizeof(rsp));
    rsp.service = QKD_SVC_GET_RSP;
    rsp.u.get.status = QKD_STATUS_SUCCESS;
    rsp.u.get.index = a->index;
    rsp.u.get.key = a->key;
    rsp.u.get.key_len = a->len;
    rsp.u.get.metadata = mlen ? (const uint8_t *)meta : NULL;
    rsp.u.get.metadata_len = mlen;
    uint32_t index = a->index;
    /* At most once: the index counts as delivered whether or not the bytes reach the client. */
    qkd_etsi_respond(cl->ec, &rsp);
    struct kme_link *l = s->link;
    kme_alloc_delivered(l, s, a);
    kme_stream_alloc_free(s, a);
    kme_stream_mark_delivered(s, index);
    k->stats_get_ok++;
    l->m_keys_delivered++; /* docs/observability.md */
    l->m_bits_delivered += (uint64_t)rsp.u.get.key_len * 8;
    char ks[QKD_KSID_STRLEN];
    qkd_ksid_to_str(&s->ksid, ks);
    log_info("GET_KEY successful for Key_stream_ID: %s, Index: %" PRIu32, ks, index);
}

/* Evaluates one GET_KEY (fresh: it just arrived, else a waiter re-checked). */
static enum get_outcome get_eval(struct kme *k, struct kme_client *cl, const struct qkd_ksid *ksid,
                                 uint32_t index, uint32_t metadata_size, bool *req_sent, bool fresh)
{
    struct kme_stream *s = kme_stream_find(&k->streams, ksid);
    if (!s || !kme_stream_owned_by(s, cl->ec->id)) {
        respond_get_status(cl, QKD_STATUS_PEER_APP_NOT_CONNECTED, index, 0);
        return GET_DONE;
    }
    kme_stream_touch(k, s);
    if (kme_stream_index_state(s, index) != KME_IDX_OPEN) {
        respond_get_status(cl, QKD_STATUS_INSUFFICIENT_KEY, index, 0);
        return GET_DONE;
    }
    if (s->qos.metadata_mimetype[0] && metadata_size && metadata_size < KME_METADATA_MIN) {
        /* too small for any metadata: at once (larger ones are checked at delivery) */
        respond_get_status(cl, QKD_STATUS_METADATA_TOO_SMALL, index, KME_METADATA_MAX);
        return GET_DONE;
    }
    if (fresh) kme_stream_note_get(s, index);
    struct kme_link *l = s->link;
    struct kme_alloc *a = kme_stream_alloc_find(s, index);
    if (!a && index < s->gone_below) {
        /* the leader delivered or withdrew it and this end does not hold it (GONE, alloc.c) */
        kme_stream_mark_delivered(s, index);
        respond_get_status(cl, QKD_STATUS_INSUFFICIENT_KEY, index, 0);
        return GET_DONE;
    }
    if (!a) {
        if (s->peer_closed) {
            respond_get_status(cl, QKD_STATUS_PEER_APP_NOT_CONNECTED, index, 0);
            return GET_DONE;
        }
        if (l->role == KME_ROLE_LEADER) {
            a = kme_alloc_leader(l, s, index, kme_alloc_ahead_max(k, s));
            if (!a) {
                kme_link_want_poll(l);
                return GET_WAIT;
            }
        } else {
            if (l->peer_up && !*req_sent && kme_alloc_request(l, s, index) == 0) *req_sent = true;
            return GET_WAIT;
        }
    }
    if (!a->acked) return GET_WAIT;
    deliver(k, cl, s, a, metadata_size);
    return GET_DONE;
}

/* ---- waiters ---- */

static void waiter_unlink(struct kme_waiter *w)
{
    struct kme_link *l = w->link;
    if (w->prev)
        w->prev->next = w->next;
    else
        l->waiters = w->next;
    if (w->next) w->next->prev = w->prev;
    l->nwaiters--;
    struct kme_stream *s = kme_stream_find(&l->kme->streams, &w->ksid);
    if (s && s->nwaiters) s->nwaiters--;
    if (w->timer) qkd_loop_del_timer(l->kme->loop, w->timer);
    if (w->cl) w->cl->waiter = NULL;
}

/* Ends a waiter whose call has been answered: the connection reads its next request. */
static void waiter_finish(struct kme_waiter *w)
{
    struct kme_client *cl = w->cl;
    waiter_unlink(w);
    free(w);
    if (cl) qkd_conn_resume(cl->ec->conn);
}

void kme_waiter_cancel(struct kme_waiter *w)
{
    w->cl = NULL; /* the connection is going away */
    waiter_unlink(w);
    free(w);
}

static void waiter_timeout_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct kme_waiter *w = arg;
    w->timer = 0;
    char ks[QKD_KSID_STRLEN];
    qkd_ksid_to_str(&w->ksid, ks);
    log_info("GET_KEY timed out for Key_stream_ID: %s, Index: %" PRIu32 " (link %s, peer %s)", ks,
             w->index, w->link->peer, w->link->peer_up ? "up" : "down");
    respond_get_status(w->cl, QKD_STATUS_TIMEOUT, w->index, 0);
    waiter_finish(w);
}

void kme_get_key(struct kme *k, struct kme_client *cl, const struct qkd_get_req *g)
{
    bool req_sent = false;
    if (get_eval(k, cl, &g->ksid, g->index, g->metadata_size, &req_sent, true) == GET_DONE) return;
    struct kme_stream *s = kme_stream_find(&k->streams, &g->ksid);
    struct kme_link *l = s->link;
    struct kme_waiter *w = calloc(1, sizeof(*w));
    if (!w) {
        respond_get_status(cl, QKD_STATUS_TIMEOUT, g->index, 0);
        return;
    }
    w->cl = cl;
    w->link = l;
    w->ksid = g->ksid;
    w->index = g->index;
    w->metadata_size = g->metadata_size;
    w->req_sent = req_sent;
    w->next = l->waiters;
    if (l->waiters) l->waiters->prev = w;
    l->waiters = w;
    l->nwaiters++;
    s->nwaiters++;
    cl->waiter = w;
    w->timer = qkd_loop_add_timer(k->loop, s->qos.timeout, waiter_timeout_cb, w);
    qkd_conn_pause(cl->ec->conn);
    kme_link_want_poll(l);
}

void kme_wake(struct kme_link *l)
{
    struct kme *k = l->kme;
    if (k->wake_hook) k->wake_hook(l); /* ETSI 014 calls waiting on the link (rest.c) */
    struct kme_waiter *w = l->waiters, *next;
    for (; w; w = next) {
        next = w->next;
        if (get_eval(k, w->cl, &w->ksid, w->index, w->metadata_size, &w->req_sent, false) ==
            GET_DONE)
            waiter_finish(w);
    }
}

void kme_waiters_fail_stream(struct kme_link *l, const struct qkd_ksid *ksid, uint32_t status)
{
    struct kme_waiter *w = l->waiters, *next;
    for (; w; w = next) {
        next = w->next;
        if (memcmp(w->ksid.b, ksid->b, QKD_KSID_LEN) != 0) continue;
        respond_get_status(w->cl, status, w->index, 0);
        waiter_finish(w);
    }
}

void kme_waiters_answer_run(struct kme_link *l, const struct qkd_ksid *ksid, uint32_t index,
                            uint32_t count, uint32_t status)
{
    struct kme_waiter *w = l->waiters, *next;
    for (; w; w = next) {
        next = w->next;
        if (w->index < index || (uint64_t)w->index - index >= count ||
            memcmp(w->ksid.b, ksid->b, QKD_KSID_LEN) != 0)
            continue;
        respond_get_status(w->cl, status, w->index, 0);
        waiter_finish(w);
    }
}

void kme_waiters_unsend(struct kme_link *l)
{
    if (l->kme->unsend_hook) l->kme->unsend_hook(l);
    for (struct kme_waiter *w = l->waiters; w; w = w->next)
        w->req_sent = false;
}
