/* alloc.c: GET_KEY and key allocation. The link leader maps (KSID, index) to ring bytes at
 * allocation time (the bytes move from the ring into a secbuf) and tells the follower, which
 * takes the bytes at exactly the offset the leader names; the leader delivers only after the
 * follower has acknowledged the allocation. Calls that cannot be answered yet wait (the
 * connection is paused) until key arrives or the stream's Timeout passes (status 6). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kme.h"
#include "log.h"

/* ---- leader's unacknowledged-allocation queue ---- */

static void aq_append(struct kme_link *l, struct kme_alloc *a)
{
    a->aq_next = NULL;
    a->aq_prev = l->aq_tail;
    if (l->aq_tail)
        l->aq_tail->aq_next = a;
    else
        l->aq_head = a;
    l->aq_tail = a;
    a->in_ackq = true;
}

void kme_aq_remove(struct kme_link *l, struct kme_alloc *a)
{
    if (!a->in_ackq) return;
    if (a->aq_prev)
        a->aq_prev->aq_next = a->aq_next;
    else
        l->aq_head = a->aq_next;
    if (a->aq_next)
        a->aq_next->aq_prev = a->aq_prev;
    else
        l->aq_tail = a->aq_prev;
    a->aq_prev = a->aq_next = NULL;
    a->in_ackq = false;
}

static void send_alloc(struct kme_link *l, const struct qkd_ksid *ksid, uint32_t index,
                       uint8_t status, uint64_t offset, uint32_t len)
{
    struct kme_pmsg m = {.type = KME_PM_ALLOC, .ksid = *ksid};
    m.u.alloc.index = index;
    m.u.alloc.status = status;
    m.u.alloc.offset = status == KME_AS_OK ? offset : 0;
    m.u.alloc.len = status == KME_AS_OK ? len : 0;
    kme_peer_send(l, &m);
}

static void send_ack(struct kme_link *l, const struct qkd_ksid *ksid, uint32_t index,
                     uint8_t status)
{
    struct kme_pmsg m = {.type = KME_PM_ALLOC_ACK, .ksid = *ksid};
    m.u.alloc.index = index;
    m.u.alloc.status = status;
    kme_peer_send(l, &m);
}

/* Leader: moves the next chunk of ring bytes into a new allocation for (s, index) and tells
 * the follower. NULL when the ring does not hold enough key yet. */
static struct kme_alloc *leader_alloc(struct kme_link *l, struct kme_stream *s, uint32_t index)
{
    if (!l->ring) return NULL;
    uint32_t len = s->qos.key_chunk_size;
    uint64_t c = qkd_ring_consume_offset(l->ring);
    uint64_t w = qkd_ring_write_offset(l->ring);
    if (l->alloc_next < c) l->alloc_next = c;
    if (w < l->alloc_next || w - l->alloc_next < len) return NULL;
    struct kme_alloc *a = kme_stream_alloc_new(s, index);
    if (!a) return NULL;
    a->key = qkd_secbuf_new(len);
    int rc = a->key ? qkd_ring_read(l->ring, l->alloc_next, a->key->data, len, &a->distilled_ms)
                    : QKD_RING_ERR_SYS;
    if (rc == QKD_RING_OK) rc = qkd_ring_consume(l->ring, l->alloc_next + len);
    if (rc != QKD_RING_OK) {
        log_error("link %s: ring read at %" PRIu64 " failed: %s", l->peer, l->alloc_next,
                  qkd_ring_last_error());
        kme_stream_alloc_free(s, a);
        return NULL;
    }
    a->offset = l->alloc_next;
    a->len = len;
    a->acked = false;
    l->alloc_next += len;
    aq_append(l, a);
    if (l->peer_up) send_alloc(l, &s->ksid, index, KME_AS_OK, a->offset, a->len);
    return a;
}

/* ---- GET_KEY evaluation ---- */

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
    kme_respond(cl, &rsp);
}

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
    }
    struct qkd_response rsp;
    memset(&rsp, 0, sizeof(rsp));
    rsp.service = QKD_SVC_GET_RSP;
    rsp.u.get.status = QKD_STATUS_SUCCESS;
    rsp.u.get.index = a->index;
    rsp.u.get.key = a->key->data;
    rsp.u.get.key_len = a->len;
    rsp.u.get.metadata = mlen ? (const uint8_t *)meta : NULL;
    rsp.u.get.metadata_len = mlen;
    uint32_t index = a->index;
    /* At most once: the index counts as delivered whether or not the bytes reach the client. */
    kme_respond(cl, &rsp);
    struct kme_link *l = s->link;
    kme_aq_remove(l, a);
    kme_stream_alloc_free(s, a);
    kme_stream_mark_delivered(s, index);
    k->stats_get_ok++;
    char ks[QKD_KSID_STRLEN];
    qkd_ksid_to_str(&s->ksid, ks);
    log_info("GET_KEY successful for Key_stream_ID: %s, Index: %" PRIu32, ks, index);
}

static enum get_outcome get_eval(struct kme *k, struct kme_client *cl, const struct qkd_ksid *ksid,
                                 uint32_t index, uint32_t metadata_size, bool *req_sent)
{
    struct kme_stream *s = kme_stream_find(&k->streams, ksid);
    if (!s || !kme_stream_owned_by(s, cl->id)) {
        respond_get_status(cl, QKD_STATUS_PEER_APP_NOT_CONNECTED, index, 0);
        return GET_DONE;
    }
    kme_stream_touch(k, s);
    if (kme_stream_index_state(s, index) != KME_IDX_OPEN) {
        respond_get_status(cl, QKD_STATUS_INSUFFICIENT_KEY, index, 0);
        return GET_DONE;
    }
    if (s->qos.metadata_mimetype[0] && metadata_size && metadata_size < KME_METADATA_MAX) {
        respond_get_status(cl, QKD_STATUS_METADATA_TOO_SMALL, index, KME_METADATA_MAX);
        return GET_DONE;
    }
    struct kme_link *l = s->link;
    struct kme_alloc *a = kme_stream_alloc_find(s, index);
    if (!a) {
        if (s->peer_closed) {
            respond_get_status(cl, QKD_STATUS_PEER_APP_NOT_CONNECTED, index, 0);
            return GET_DONE;
        }
        if (l->role == KME_ROLE_LEADER) {
            a = leader_alloc(l, s, index);
            if (!a) {
                kme_link_want_poll(l);
                return GET_WAIT;
            }
        } else {
            if (l->peer_up && !*req_sent) {
                struct kme_pmsg m = {.type = KME_PM_ALLOC_REQ, .ksid = *ksid};
                m.u.alloc.index = index;
                if (kme_peer_send(l, &m) == 0) *req_sent = true;
            }
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
    if (cl) qkd_conn_resume(cl->conn);
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
    if (get_eval(k, cl, &g->ksid, g->index, g->metadata_size, &req_sent) == GET_DONE) return;
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
    qkd_conn_pause(cl->conn);
    kme_link_want_poll(l);
}

void kme_wake(struct kme_link *l)
{
    struct kme *k = l->kme;
    struct kme_waiter *w = l->waiters, *next;
    for (; w; w = next) {
        next = w->next;
        if (get_eval(k, w->cl, &w->ksid, w->index, w->metadata_size, &w->req_sent) == GET_DONE)
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

static void waiters_answer_index(struct kme_link *l, const struct qkd_ksid *ksid, uint32_t index,
                                 uint32_t status)
{
    struct kme_waiter *w = l->waiters, *next;
    for (; w; w = next) {
        next = w->next;
        if (w->index != index || memcmp(w->ksid.b, ksid->b, QKD_KSID_LEN) != 0) continue;
        respond_get_status(w->cl, status, w->index, 0);
        waiter_finish(w);
    }
}

/* ---- peer events ---- */

void kme_alloc_resend(struct kme_link *l)
{
    for (struct kme_alloc *a = l->aq_head; a; a = a->aq_next)
        send_alloc(l, &a->stream->ksid, a->index, KME_AS_OK, a->offset, a->len);
}

void kme_alloc_rerequest(struct kme_link *l)
{
    for (struct kme_waiter *w = l->waiters; w; w = w->next)
        w->req_sent = false;
    kme_wake(l);
}

void kme_alloc_peer_down(struct kme_link *l)
{
    /* A leader forgets requests of the old connection (the follower asks again); a follower
     * drops queued ALLOCs (the leader re-sends what it has no ACK for). */
    l->npreqs = 0;
    if (l->pend) qkd_wipe(l->pend, l->npend * sizeof(*l->pend));
    l->npend = 0;
    for (struct kme_waiter *w = l->waiters; w; w = w->next)
        w->req_sent = false;
}

/* Leader: answers an ALLOC_REQ if possible. Returns true when answered. */
static bool serve_req(struct kme_link *l, const struct qkd_ksid *ksid, uint32_t index)
{
    struct kme_stream *s = kme_stream_find(&l->kme->streams, ksid);
    if (!s || s->link != l) {
        send_alloc(l, ksid, index, KME_AS_CLOSED, 0, 0);
        return true;
    }
    struct kme_alloc *a = kme_stream_alloc_find(s, index);
    if (a) {
        send_alloc(l, ksid, index, KME_AS_OK, a->offset, a->len);
        return true;
    }
    enum kme_idx_state st = kme_stream_index_state(s, index);
    if (st == KME_IDX_DELIVERED) {
        send_alloc(l, ksid, index, KME_AS_LOST, 0, 0);
        return true;
    }
    if (st == KME_IDX_OUTSIDE) {
        send_alloc(l, ksid, index, KME_AS_REFUSED, 0, 0);
        return true;
    }
    return leader_alloc(l, s, index) != NULL; /* leader_alloc sent the ALLOC */
}

void kme_on_alloc_req(struct kme_link *l, const struct kme_pmsg *m)
{
    if (l->role != KME_ROLE_LEADER) return;
    if (serve_req(l, &m->ksid, m->u.alloc.index)) return;
    if (l->npreqs >= KME_MAX_PEER_REQS) {
        send_alloc(l, &m->ksid, m->u.alloc.index, KME_AS_REFUSED, 0, 0);
        return;
    }
    if (l->npreqs == l->preq_cap) {
        size_t ncap = l->preq_cap ? l->preq_cap * 2 : 64;
        struct kme_preq *n = realloc(l->preqs, ncap * sizeof(*n));
        if (!n) {
            send_alloc(l, &m->ksid, m->u.alloc.index, KME_AS_REFUSED, 0, 0);
            return;
        }
        l->preqs = n;
        l->preq_cap = ncap;
    }
    l->preqs[l->npreqs].ksid = m->ksid;
    l->preqs[l->npreqs].index = m->u.alloc.index;
    l->npreqs++;
    kme_link_want_poll(l);
}

void kme_on_alloc_ack(struct kme_link *l, const struct kme_pmsg *m)
{
    if (l->role != KME_ROLE_LEADER) return;
    struct kme_stream *s = kme_stream_find(&l->kme->streams, &m->ksid);
    if (!s) return;
    struct kme_alloc *a = kme_stream_alloc_find(s, m->u.alloc.index);
    if (!a) return;
    kme_aq_remove(l, a);
    if (m->u.alloc.status == KME_AS_OK) {
        a->acked = true;
    } else if (!a->acked) {
        /* The follower cannot hold this mapping: the index is refused at both ends. */
        char ks[QKD_KSID_STRLEN];
        qkd_ksid_to_str(&s->ksid, ks);
        log_warn("link %s: follower refused allocation of Key_stream_ID: %s, Index: %" PRIu32
                 "; index withdrawn",
                 l->peer, ks, m->u.alloc.index);
        uint32_t index = a->index;
        kme_stream_alloc_free(s, a);
        kme_stream_mark_delivered(s, index);
    }
    kme_wake(l);
}

/* Follower: takes the ring bytes of one ALLOC. Returns 1 when handled, 0 when the ring does
 * not hold the bytes yet (the caller queues it). */
static int take_alloc(struct kme_link *l, const struct kme_pmsg *m)
{
    if (!l->ring) return 0;
    const struct qkd_ksid *ksid = &m->ksid;
    uint32_t index = m->u.alloc.index, len = m->u.alloc.len;
    uint64_t off = m->u.alloc.offset;
    uint64_t c = qkd_ring_consume_offset(l->ring);
    uint64_t w = qkd_ring_write_offset(l->ring);
    bool bytes_here = off >= c && off + len <= w && off + len >= off;
    struct kme_stream *s = kme_stream_find(&l->kme->streams, ksid);
    if (!s || s->link != l) {
        if (bytes_here) qkd_ring_consume(l->ring, off + len); /* wipe them */
        send_ack(l, ksid, index, KME_AS_CLOSED);
        return 1;
    }
    struct kme_alloc *a = kme_stream_alloc_find(s, index);
    if (a) {
        send_ack(l, ksid, index, a->offset == off && a->len == len ? KME_AS_OK : KME_AS_LOST);
        return 1;
    }
    enum kme_idx_state st = kme_stream_index_state(s, index);
    if (st != KME_IDX_OPEN || len != s->qos.key_chunk_size) {
        send_ack(l, ksid, index, KME_AS_LOST);
        return 1;
    }
    if (off < c) {
        /* This node consumed those bytes before (its state was lost): never deliverable. */
        kme_stream_mark_delivered(s, index);
        send_ack(l, ksid, index, KME_AS_LOST);
        return 1;
    }
    if (!bytes_here) return 0;
    int rc = QKD_RING_OK;
    if (off > c) rc = qkd_ring_consume(l->ring, off);
    a = rc == QKD_RING_OK ? kme_stream_alloc_new(s, index) : NULL;
    if (a) a->key = qkd_secbuf_new(len);
    if (a && a->key) rc = qkd_ring_read(l->ring, off, a->key->data, len, &a->distilled_ms);
    if (rc == QKD_RING_OK && a && a->key) rc = qkd_ring_consume(l->ring, off + len);
    if (rc != QKD_RING_OK || !a || !a->key) {
        log_error("link %s: cannot take ring bytes at %" PRIu64 ": %s", l->peer, off,
                  qkd_ring_last_error());
        if (a) kme_stream_alloc_free(s, a);
        send_ack(l, ksid, index, KME_AS_LOST);
        return 1;
    }
    a->offset = off;
    a->len = len;
    a->acked = true;
    send_ack(l, ksid, index, KME_AS_OK);
    return 1;
}

void kme_on_alloc(struct kme_link *l, const struct kme_pmsg *m)
{
    if (l->role != KME_ROLE_FOLLOWER) return;
    if (m->u.alloc.status != KME_AS_OK) {
        struct kme_stream *s = kme_stream_find(&l->kme->streams, &m->ksid);
        uint32_t index = m->u.alloc.index;
        if (s && s->link == l) {
            if (m->u.alloc.status == KME_AS_LOST) {
                if (!kme_stream_alloc_find(s, index)) kme_stream_mark_delivered(s, index);
            } else if (m->u.alloc.status == KME_AS_CLOSED) {
                s->peer_closed = true;
            } else {
                waiters_answer_index(l, &m->ksid, index, QKD_STATUS_INSUFFICIENT_KEY);
            }
        }
        kme_wake(l);
        return;
    }
    if (l->npend == 0 && take_alloc(l, m)) {
        kme_wake(l);
        return;
    }
    if (l->npend >= KME_MAX_PEND_ALLOCS) {
        log_warn("link %s: too many allocations waiting for ring bytes; refusing", l->peer);
        send_ack(l, &m->ksid, m->u.alloc.index, KME_AS_LOST);
        return;
    }
    if (l->npend == l->pend_cap) {
        size_t ncap = l->pend_cap ? l->pend_cap * 2 : 64;
        struct kme_pmsg *n = realloc(l->pend, ncap * sizeof(*n));
        if (!n) {
            send_ack(l, &m->ksid, m->u.alloc.index, KME_AS_LOST);
            return;
        }
        l->pend = n;
        l->pend_cap = ncap;
    }
    l->pend[l->npend++] = *m;
    kme_link_want_poll(l);
}

bool kme_alloc_poll(struct kme_link *l)
{
    if (l->role == KME_ROLE_LEADER) {
        size_t out = 0;
        for (size_t i = 0; i < l->npreqs; i++) {
            struct kme_preq r = l->preqs[i];
            if (!l->peer_up || !serve_req(l, &r.ksid, r.index)) l->preqs[out++] = r;
        }
        l->npreqs = out;
        return l->npreqs > 0;
    }
    size_t done = 0;
    while (done < l->npend && take_alloc(l, &l->pend[done]))
        done++;
    if (done) {
        memmove(l->pend, l->pend + done, (l->npend - done) * sizeof(*l->pend));
        l->npend -= done;
    }
    return l->npend > 0;
}
