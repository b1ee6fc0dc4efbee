/* alloc.c: the leader/follower allocation protocol of a link (docs/kme.md). The link leader
 * maps (KSID, index) to ring bytes at allocation time (the bytes move from the ring into a
 * secbuf) and tells the follower, which takes the bytes at exactly the offset the leader names;
 * the leader delivers only after the follower has acknowledged the allocation. Sequential
 * access is allocated ahead: a miss at index i allocates (leader) or asks for (follower) a run
 * i .. i+n-1 in one message, n growing with the run of sequential calls up to --alloc-ahead
 * chunks / --alloc-ahead-bytes, within the window and only from key already in the ring. The
 * GET_KEY call that needs the key, and its waiting, is getkey.c's. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "getkey.h"
#include "kme.h"
#include "link.h"
#include "log.h"
#include "peer.h"
#include "rest_batch.h"

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

#define KME_SLAB_MAX (64u * 1024u) /* largest key buffer a follower makes for part of a run */

/* ---- messages ---- */

static void send_alloc(struct kme_link *l, const struct qkd_ksid *ksid, uint32_t index,
                       uint32_t count, uint8_t status, uint64_t offset, uint32_t len)
{
    struct kme_pmsg m = {.type = KME_PM_ALLOC, .ksid = *ksid};
    m.u.alloc.index = index;
    m.u.alloc.count = count;
    m.u.alloc.status = status;
    m.u.alloc.offset = status == KME_AS_OK ? offset : 0;
    m.u.alloc.len = status == KME_AS_OK ? len : 0;
    kme_peer_send(l, &m);
}

/* Follower: ACKs of consecutive indices with one status go out as one run. */
struct ack_run {
    struct qkd_ksid ksid;
    uint32_t index, count;
    uint8_t status;
};

static void ack_flush(struct kme_link *l, struct ack_run *r)
{
    if (r->count == 0) return;
    struct kme_pmsg m = {.type = KME_PM_ALLOC_ACK, .ksid = r->ksid};
    m.u.alloc.index = r->index;
    m.u.alloc.count = r->count;
    m.u.alloc.status = r->status;
    kme_peer_send(l, &m);
    r->count = 0;
}

static void ack_add(struct kme_link *l, struct ack_run *r, uint32_t index, uint8_t status)
{
    if (r->count && r->status == status && (uint64_t)r->index + r->count == index &&
        r->count < KME_PEER_MAX_RUN) {
        r->count++;
        return;
    }
    ack_flush(l, r);
    r->index = index;
    r->count = 1;
    r->status = status;
}

/* The most chunks one allocation may cover on stream s (the settings, at least 1). */
static uint32_t ahead_cap(const struct kme *k, const struct kme_stream *s)
{
    uint32_t chunk = s->qos.key_chunk_size ? s->qos.key_chunk_size : 1;
    uint32_t cap = k->cfg.alloc_ahead_bytes / chunk;
    if (cap > k->cfg.alloc_ahead) cap = k->cfg.alloc_ahead;
    return cap < 1 ? 1 : cap;
}

/* How many chunks a miss allocates (or asks for) now: grows with the run of sequential
 * GET_KEYs at this node, so a stream used for one key takes one chunk. */
uint32_t kme_alloc_ahead_max(const struct kme *k, const struct kme_stream *s)
{
    uint32_t cap = ahead_cap(k, s);
    uint64_t want = (uint64_t)s->seq_run + 1;
    return want < cap ? (uint32_t)want : cap;
}

/* Leader: moves the ring bytes for index, and for up to want - 1 following indices that are
 * open, unallocated, below the follower's refusal limit and already in the ring, into new
 * allocations, and tells the follower in one ALLOC run. Returns the allocation of index, or
 * NULL when the ring does not hold its chunk yet. */
/* Leader: moves the ring bytes [off0, off0 + n * len) into allocations of index .. index + n - 1
 * of s and tells the follower in one ALLOC run (c: the ring's consume offset). Returns the
 * allocation of index, or NULL when nothing was allocated. */
static struct kme_alloc *alloc_run(struct kme_link *l, struct kme_stream *s, uint32_t index,
                                   uint32_t n, uint64_t c)
{
    uint32_t len = s->qos.key_chunk_size;
    uint64_t off0 = l->alloc_next;
    struct kme_keyslab *slab = kme_keyslab_new((size_t)n * len);
    if (!slab) return NULL;
    struct kme_alloc *first = NULL;
    uint32_t done = 0;
    for (; done < n; done++) {
        struct kme_alloc *a = kme_stream_alloc_new(s, index + done);
        if (!a) break;
        kme_alloc_set_key(a, slab, (size_t)done * len, len);
        uint64_t off = off0 + (uint64_t)done * len;
        int rc = qkd_ring_read(l->ring, off, a->key, len, &a->distilled_ms);
        if (rc != QKD_RING_OK) {
            log_error("link %s: ring read at %" PRIu64 " failed: %s", l->peer, off,
                      qkd_ring_last_error());
            kme_stream_alloc_free(s, a);
            break;
        }
        a->offset = off;
        a->acked = false;
        if (!s->local_attached) { /* asked for by the follower (serve_req) */
            a->unattached = true;
            l->held_unattached += len;
        }
        if (!first) first = a;
    }
    kme_keyslab_release_unused(slab);
    if (done == 0) return NULL;
    int crc = qkd_ring_consume_from(l->ring, c, off0 + (uint64_t)done * len);
    if (crc != QKD_RING_OK) {
        log_error("link %s: ring consume to %" PRIu64 " failed: %s", l->peer,
                  off0 + (uint64_t)done * len, qkd_ring_last_error());
        for (uint32_t i = 0; i < done; i++)
            kme_stream_alloc_free(s, kme_stream_alloc_find(s, index + i));
        return NULL;
    }
    l->alloc_next = off0 + (uint64_t)done * len;
    for (uint32_t i = 0; i < done; i++)
        aq_append(l, kme_stream_alloc_find(s, index + i));
    if (l->peer_up) send_alloc(l, &s->ksid, index, done, KME_AS_OK, off0, len);
    return first;
}

/* Leader: how many chunks of len bytes the ring holds beyond what is allocated (0 when the ring
 * is not usable); *c: its consume offset. */
static uint64_t ring_chunks(struct kme_link *l, uint32_t len, uint64_t *c)
{
    if (!l->ring || len == 0) return 0;
    *c = qkd_ring_consume_offset(l->ring);
    uint64_t w = qkd_ring_write_offset(l->ring);
    if (l->alloc_next < *c) l->alloc_next = *c;
    if (w < l->alloc_next || w - l->alloc_next < len) return 0;
    if (!kme_link_ring_current(l)) return 0; /* never allocate from a replaced ring */
    return (w - l->alloc_next) / len;
}

/* Leader: moves the ring bytes for index, and for up to want - 1 following indices that are
 * open, unallocated, below the follower's refusal limit and already in the ring, into new
 * allocations, and tells the follower in one ALLOC run. Returns the allocation of index, or
 * NULL when the ring does not hold its chunk yet. */
struct kme_alloc *kme_alloc_leader(struct kme_link *l, struct kme_stream *s, uint32_t index,
                                   uint32_t want)
{
    uint64_t c = 0;
    uint64_t avail = ring_chunks(l, s->qos.key_chunk_size, &c);
    if (avail == 0) return NULL;
    uint32_t n = 1;
    if (want > 1 && l->peer_up && l->npreqs == 0) {
        /* ahead: never past the follower's window, never key that waiting requests need */
        uint64_t lim = want;
        if (lim > avail) lim = avail;
        if (s->ahead_limit > index && s->ahead_limit - index < lim) lim = s->ahead_limit - index;
        if (s->ahead_limit <= index) lim = 1;
        n = kme_stream_fresh_run(s, index, (uint32_t)lim);
        if (n < 1) n = 1;
    }
    return alloc_run(l, s, index, n, c);
}

struct kme_alloc *kme_alloc_leader_exact(struct kme_link *l, struct kme_stream *s, uint32_t index,
                                         uint32_t n)
{
    uint64_t c = 0;
    if (n == 0 || ring_chunks(l, s->qos.key_chunk_size, &c) < n) return NULL;
    if (kme_stream_fresh_run(s, index, n) != n) return NULL;
    return alloc_run(l, s, index, n, c);
}

/* ---- follower: delivered allocations whose ACK the leader may lack ---- */

static void memo_add(struct kme_link *l, const struct kme_stream *s, const struct kme_alloc *a)
{
    if (a->ack_mark <= l->hb_echo) return; /* the leader has the ACK */
    if (l->nmemo == KME_MAX_DELIVERED_MEMO) {
        memmove(l->memo, l->memo + 1, (l->nmemo - 1) * sizeof(*l->memo));
        l->nmemo--;
    }
    if (l->nmemo == l->memo_cap) {
        size_t ncap = l->memo_cap ? l->memo_cap * 2 : 64;
        if (ncap > KME_MAX_DELIVERED_MEMO) ncap = KME_MAX_DELIVERED_MEMO;
        struct kme_dmemo *n = realloc(l->memo, ncap * sizeof(*n));
        if (!n) return;
        l->memo = n;
        l->memo_cap = ncap;
    }
    struct kme_dmemo *d = &l->memo[l->nmemo++];
    d->ksid = s->ksid;
    d->index = a->index;
    d->len = a->len;
    d->offset = a->offset;
    d->ack_mark = a->ack_mark;
}

/* Whether (ksid, index) was delivered here with exactly this mapping. */
static bool memo_has(const struct kme_link *l, const struct qkd_ksid *ksid, uint32_t index,
                     uint64_t offset, uint32_t len)
{
    for (size_t i = 0; i < l->nmemo; i++) {
        const struct kme_dmemo *d = &l->memo[i];
        if (d->index == index && memcmp(d->ksid.b, ksid->b, QKD_KSID_LEN) == 0)
            return d->offset == offset && d->len == len;
    }
    return false;
}

void kme_alloc_delivered(struct kme_link *l, const struct kme_stream *s, struct kme_alloc *a)
{
    if (l->role == KME_ROLE_FOLLOWER) memo_add(l, s, a);
    kme_aq_remove(l, a);
}

int kme_alloc_request_run(struct kme_link *l, const struct kme_stream *s, uint32_t index,
                          uint32_t count)
{
    struct kme_pmsg m = {.type = KME_PM_ALLOC_REQ, .ksid = s->ksid};
    m.u.alloc.index = index;
    m.u.alloc.count = count ? count : 1;
    return kme_peer_send(l, &m);
}

int kme_alloc_request(struct kme_link *l, const struct kme_stream *s, uint32_t index)
{
    struct kme_pmsg m = {.type = KME_PM_ALLOC_REQ, .ksid = s->ksid};
    m.u.alloc.index = index;
    m.u.alloc.count = kme_stream_fresh_run(s, index, kme_alloc_ahead_max(l->kme, s));
    if (m.u.alloc.count < 1) m.u.alloc.count = 1;
    return kme_peer_send(l, &m);
}

uint64_t kme_alloc_hb_mark(struct kme_link *l)
{
    if (l->role == KME_ROLE_LEADER) return l->hb_echo; /* echo the follower's last mark */
    return ++l->hb_mark;
}

void kme_alloc_on_heartbeat(struct kme_link *l, uint64_t mark)
{
    if (l->role == KME_ROLE_LEADER) {
        if (mark > l->hb_echo) l->hb_echo = mark;
        return;
    }
    if (mark <= l->hb_echo) return;
    l->hb_echo = mark;
    /* ALLOCs still queued were sent before this heartbeat (a resend among them may need the
     * memo): prune only when none waits. */
    if (l->npend) return;
    size_t out = 0;
    for (size_t i = 0; i < l->nmemo; i++)
        if (l->memo[i].ack_mark > l->hb_echo) l->memo[out++] = l->memo[i];
    l->nmemo = out;
}
/* ---- peer events ---- */

void kme_alloc_resend(struct kme_link *l)
{
    /* in allocation order; consecutive indices of one stream with adjacent bytes as one run */
    struct kme_alloc *a = l->aq_head;
    while (a) {
        struct kme_alloc *last = a;
        uint32_t n = 1;
        while (last->aq_next && n < KME_PEER_MAX_RUN) {
            struct kme_alloc *b = last->aq_next;
            if (b->stream != a->stream || (uint64_t)last->index + 1 != b->index ||
                last->offset + last->len != b->offset || b->len != a->len)
                break;
            last = b;
            n++;
        }
        send_alloc(l, &a->stream->ksid, a->index, n, KME_AS_OK, a->offset, a->len);
        a = last->aq_next;
    }
}

/* Leader, on every (re)connect: what this end holds or has delivered, for a follower that may
 * have restarted and lost it (it would otherwise ask a later leader, one restarted too, for
 * those indices and get other key): GONE(base) per stream, a LOST run per stretch of indices
 * delivered above base, and each allocation the follower acknowledged (a new follower process
 * answers lost for bytes below its ring's consume offset and marks the index delivered; the
 * same process answers OK, or lost for one it delivered, which the leader ignores). */
static void sync_stream(struct kme_stream *s, void *arg)
{
    struct kme_link *l = arg;
    if (s->link != l || s->peer_ended) return;
    uint64_t base = s->win.base;
    if (base > 0) {
        struct kme_pmsg m = {.type = KME_PM_GONE, .ksid = s->ksid};
        m.u.alloc.index = base > UINT32_MAX ? UINT32_MAX : (uint32_t)base;
        kme_peer_send(l, &m);
    }
    /* runs of delivered indices above base: only streams delivered out of order have any, and
     * the window skips the open ones (this runs for every stream on every reconnect) */
    uint64_t i = qkd_window_next_delivered(&s->win, base);
    while (i <= UINT32_MAX) {
        uint32_t run0 = (uint32_t)i, run = 0;
        while (i <= UINT32_MAX && run < KME_PEER_MAX_RUN &&
               kme_stream_index_state(s, (uint32_t)i) == KME_IDX_DELIVERED &&
               !kme_stream_alloc_find(s, (uint32_t)i)) {
            run++;
            i++;
        }
        if (run) send_alloc(l, &s->ksid, run0, run, KME_AS_LOST, 0, 0);
        i = qkd_window_next_delivered(&s->win, run ? i : i + 1);
    }
    for (size_t k = 0; k < s->nallocs; k++) {
        const struct kme_alloc *a = s->allocs[k];
        if (a->acked && !a->in_ackq)
            send_alloc(l, &s->ksid, a->index, 1, KME_AS_OK, a->offset, a->len);
    }
}

void kme_alloc_sync(struct kme_link *l)
{
    if (l->role != KME_ROLE_LEADER) return;
    kme_streams_foreach(&l->kme->streams, sync_stream, l);
}

void kme_on_gone(struct kme_link *l, const struct kme_pmsg *m)
{
    if (l->role != KME_ROLE_FOLLOWER) return;
    struct kme_stream *s = kme_stream_find(&l->kme->streams, &m->ksid);
    if (!s || s->link != l) return;
    if (m->u.alloc.index > s->gone_below) s->gone_below = m->u.alloc.index;
    kme_wake(l);
}

void kme_alloc_rerequest(struct kme_link *l)
{
    kme_waiters_unsend(l);
    kme_wake(l);
}

void kme_alloc_peer_down(struct kme_link *l)
{
    /* A leader forgets requests of the old connection (the follower asks again); a follower
     * drops queued ALLOCs (the leader re-sends what it has no ACK for). */
    l->npreqs = 0;
    if (l->pend) qkd_wipe(l->pend, l->npend * sizeof(*l->pend));
    l->npend = 0;
    kme_waiters_unsend(l);
}

/* Leader: answers an ALLOC_REQ for index (and count - 1 indices ahead) if possible. Returns
 * true when answered. */
static bool serve_req(struct kme_link *l, const struct qkd_ksid *ksid, uint32_t index,
                      uint32_t count)
{
    struct kme_stream *s = kme_stream_find(&l->kme->streams, ksid);
    if (!s || s->link != l || s->peer_ended) {
        send_alloc(l, ksid, index, 1, KME_AS_CLOSED, 0, 0);
        return true;
    }
    struct kme_alloc *a = kme_stream_alloc_find(s, index);
    if (a) {
        send_alloc(l, ksid, index, 1, KME_AS_OK, a->offset, a->len);
        return true;
    }
    enum kme_idx_state st = kme_stream_index_state(s, index);
    if (st == KME_IDX_DELIVERED) {
        send_alloc(l, ksid, index, 1, KME_AS_LOST, 0, 0);
        return true;
    }
    if (st == KME_IDX_OUTSIDE) {
        send_alloc(l, ksid, index, 1, KME_AS_REFUSED, 0, 0);
        return true;
    }
    uint32_t cap = ahead_cap(l->kme, s); /* count comes from the follower's sequence detection */
    if (s->rest) cap = s->rest->number;  /* an ETSI 014 batch: all of it at once, or nothing */
    if (count > cap) count = cap;
    if (!s->local_attached) {
        /* no application here has the stream: hold at most --max-unattached-bytes of key per
         * link for it (docs/kme.md, "Key held for unattached streams") */
        uint64_t held = l->held_unattached;
        uint32_t max = l->kme->cfg.max_unattached;
        uint64_t room = held < max ? (max - held) / s->qos.key_chunk_size : 0;
        if (room == 0) {
            char ks[QKD_KSID_STRLEN];
            qkd_ksid_to_str(ksid, ks);
            log_info("link %s: Key_stream_ID %s not attached here and %" PRIu64
                     " bytes already held for unattached streams (--max-unattached-bytes %" PRIu32
                     "); request for index %" PRIu32 " refused for now",
                     l->peer, ks, held, max, index);
            send_alloc(l, ksid, index, 1, KME_AS_REFUSED, 0, 0);
            return true;
        }
        if (count > room && s->rest) {
            send_alloc(l, ksid, index, 1, KME_AS_REFUSED, 0, 0);
            return true;
        }
        if (count > room) count = (uint32_t)room;
    }
    if (s->rest) return kme_alloc_leader_exact(l, s, index, count) != NULL;
    return kme_alloc_leader(l, s, index, count) != NULL; /* it sent the ALLOC */
}

void kme_on_alloc_req(struct kme_link *l, const struct kme_pmsg *m)
{
    if (l->role != KME_ROLE_LEADER) return;
    if (serve_req(l, &m->ksid, m->u.alloc.index, m->u.alloc.count)) return;
    if (l->npreqs >= KME_MAX_PEER_REQS) {
        send_alloc(l, &m->ksid, m->u.alloc.index, 1, KME_AS_REFUSED, 0, 0);
        return;
    }
    if (l->npreqs == l->preq_cap) {
        size_t ncap = l->preq_cap ? l->preq_cap * 2 : 64;
        struct kme_preq *n = realloc(l->preqs, ncap * sizeof(*n));
        if (!n) {
            send_alloc(l, &m->ksid, m->u.alloc.index, 1, KME_AS_REFUSED, 0, 0);
            return;
        }
        l->preqs = n;
        l->preq_cap = ncap;
    }
    l->preqs[l->npreqs].ksid = m->ksid;
    l->preqs[l->npreqs].index = m->u.alloc.index;
    l->preqs[l->npreqs].count = m->u.alloc.count;
    l->npreqs++;
    kme_link_want_poll(l);
}

void kme_on_alloc_ack(struct kme_link *l, const struct kme_pmsg *m)
{
    if (l->role != KME_ROLE_LEADER) return;
    struct kme_stream *s = kme_stream_find(&l->kme->streams, &m->ksid);
    if (!s || s->link != l) return;
    uint8_t st = m->u.alloc.status;
    uint32_t withdrawn = 0;
    for (uint32_t i = 0; i < m->u.alloc.count; i++) {
        uint32_t index = m->u.alloc.index + i;
        struct kme_alloc *a = kme_stream_alloc_find(s, index);
        if (!a) continue;
        kme_aq_remove(l, a);
        if (st == KME_AS_OK) {
            a->acked = true;
            if (index >= s->ahead_limit) s->ahead_limit = UINT64_MAX;
            continue;
        }
        if (a->acked) continue;
        if (st == KME_AS_REFUSED) {
            /* Outside the follower's window for now: the index stays open here, a call on it
             * gets 2 (insufficient key), and allocations ahead stop below it. */
            if (index < s->ahead_limit) s->ahead_limit = index;
            kme_waiters_answer_run(l, &s->ksid, index, 1, QKD_STATUS_INSUFFICIENT_KEY);
            kme_stream_alloc_free(s, a);
            continue;
        }
        /* The follower cannot hold this mapping: the index is refused at both ends. */
        kme_stream_alloc_free(s, a);
        kme_stream_mark_delivered(s, index);
        withdrawn++;
    }
    if (st == KME_AS_CLOSED) s->peer_closed = true;
    if (st != KME_AS_OK && s->rest) s->rest->failed = true; /* the enc_keys call fails */
    if (withdrawn) {
        char ks[QKD_KSID_STRLEN];
        qkd_ksid_to_str(&s->ksid, ks);
        log_warn("link %s: follower refused allocation of Key_stream_ID: %s, Index: %" PRIu32
                 " (%" PRIu32 " of %" PRIu32 " indices, %s); withdrawn",
                 l->peer, ks, m->u.alloc.index, withdrawn, m->u.alloc.count,
                 st == KME_AS_CLOSED ? "stream closed there" : "lost");
    }
    kme_wake(l);
}

/* Follower: takes the ring bytes of one index of an ALLOC. Returns the ACK status, or -1 when
 * the ring does not hold the bytes yet (the caller queues the rest of the run). */
static int take_one(struct kme_link *l, const struct qkd_ksid *ksid, struct kme_stream *s,
                    uint32_t index, uint64_t off, uint32_t len, struct kme_keyslab *slab,
                    size_t slab_off)
{
    if (!l->ring) return -1; /* detached during this run: the rest waits */
    uint64_t c = qkd_ring_consume_offset(l->ring);
    uint64_t w = qkd_ring_write_offset(l->ring);
    bool bytes_here = off >= c && off + len <= w && off + len >= off;
    if ((!s || kme_stream_index_state(s, index) == KME_IDX_DELIVERED) &&
        memo_has(l, ksid, index, off, len))
        return KME_AS_OK; /* delivered here with this mapping; the leader lost our ACK */
    if (!s) {
        if (bytes_here) qkd_ring_consume_from(l->ring, c, off + len); /* wipe them */
        return KME_AS_CLOSED;
    }
    struct kme_alloc *a = kme_stream_alloc_find(s, index);
    if (a) return a->offset == off && a->len == len ? KME_AS_OK : KME_AS_LOST;
    if (index < s->gone_below) {
        /* delivered or withdrawn at the leader before (GONE), and not held here: a mapping of
         * it now can only come from a leader that lost its state */
        kme_stream_mark_delivered(s, index);
        return KME_AS_LOST;
    }
    enum kme_idx_state st = kme_stream_index_state(s, index);
    if (st == KME_IDX_OUTSIDE) return KME_AS_REFUSED; /* not now; the index stays open */
    if (st != KME_IDX_OPEN || len != s->qos.key_chunk_size) return KME_AS_LOST;
    if (off < c) {
        /* This node consumed those bytes before (its state was lost): never deliverable. */
        kme_stream_mark_delivered(s, index);
        return KME_AS_LOST;
    }
    if (!s->local_attached && l->held_unattached + len > l->kme->cfg.max_unattached) {
        /* no application here has the stream: hold no more of its key for now (docs/kme.md,
         * "Key held for unattached streams"); the index stays open at both ends */
        l->unattached_refused++;
        return KME_AS_REFUSED;
    }
    if (!bytes_here) return -1;
    int rc = QKD_RING_OK;
    if (off > c) rc = qkd_ring_consume_from(l->ring, c, off);
    a = rc == QKD_RING_OK && slab ? kme_stream_alloc_new(s, index) : NULL;
    if (a) {
        kme_alloc_set_key(a, slab, slab_off, len);
        rc = qkd_ring_read(l->ring, off, a->key, len, &a->distilled_ms);
        if (rc == QKD_RING_OK) rc = qkd_ring_consume_from(l->ring, off, off + len);
    }
    if (rc != QKD_RING_OK || !a) {
        log_error("link %s: cannot take ring bytes at %" PRIu64 ": %s", l->peer, off,
                  qkd_ring_last_error());
        if (a) kme_stream_alloc_free(s, a);
        return KME_AS_LOST;
    }
    a->offset = off;
    a->acked = true;
    a->ack_mark = l->hb_mark + 1; /* the next heartbeat follows the ACK */
    if (!s->local_attached) {
        a->unattached = true;
        l->held_unattached += len;
    }
    return KME_AS_OK;
}

/* Follower: takes an ALLOC run (status OK) in order and ACKs it. Returns how many indices were
 * handled: fewer than count when the ring does not hold the rest yet. */
static uint32_t take_run(struct kme_link *l, const struct kme_pmsg *m)
{
    if (!kme_link_ring_current(l)) return 0;
    struct kme_stream *s = kme_stream_find(&l->kme->streams, &m->ksid);
    if (s && s->link != l) s = NULL;
    uint32_t len = m->u.alloc.len, count = m->u.alloc.count;
    /* key buffers of at most KME_SLAB_MAX bytes (a run from the peer may be large) */
    uint32_t per_slab = len < KME_SLAB_MAX ? KME_SLAB_MAX / len : 1;
    struct kme_keyslab *slab = NULL;
    struct ack_run r = {.ksid = m->ksid};
    uint64_t refused0 = l->unattached_refused;
    uint32_t first_refused = UINT32_MAX;
    uint32_t done = 0;
    for (; done < count; done++) {
        uint32_t k = done % per_slab;
        if (s && k == 0) {
            kme_keyslab_release_unused(slab);
            uint32_t n = count - done < per_slab ? count - done : per_slab;
            slab = kme_keyslab_new((size_t)n * len);
        }
        uint64_t off = m->u.alloc.offset + (uint64_t)done * len;
        uint64_t before = l->unattached_refused;
        int st = take_one(l, &m->ksid, s, m->u.alloc.index + done, off, len, slab, (size_t)k * len);
        if (l->unattached_refused != before && first_refused == UINT32_MAX)
            first_refused = m->u.alloc.index + done;
        if (st < 0) break;
        ack_add(l, &r, m->u.alloc.index + done, (uint8_t)st);
    }
    kme_keyslab_release_unused(slab);
    ack_flush(l, &r);
    if (l->unattached_refused != refused0) {
        char ks[QKD_KSID_STRLEN];
        qkd_ksid_to_str(&m->ksid, ks);
        log_warn("link %s: Key_stream_ID %s not attached here and %" PRIu64
                 " bytes already held for unattached streams (--max-unattached-bytes %" PRIu32
                 "); refused %" PRIu64 " indices from %" PRIu32 " for now",
                 l->peer, ks, l->held_unattached, l->kme->cfg.max_unattached,
                 l->unattached_refused - refused0, first_refused);
    }
    return done;
}

/* Drops the first done indices of a queued run. */
static void run_trim(struct kme_pmsg *m, uint32_t done)
{
    m->u.alloc.index += done;
    m->u.alloc.offset += (uint64_t)done * m->u.alloc.len;
    m->u.alloc.count -= done;
}

static void on_alloc_status(struct kme_link *l, const struct kme_pmsg *m)
{
    struct kme_stream *s = kme_stream_find(&l->kme->streams, &m->ksid);
    if (!s || s->link != l) return;
    if (s->rest) s->rest->failed = true; /* the enc_keys call fails */
    uint32_t index = m->u.alloc.index, count = m->u.alloc.count;
    if (m->u.alloc.status == KME_AS_LOST) {
        for (uint32_t i = 0; i < count; i++)
            if (!kme_stream_alloc_find(s, index + i)) kme_stream_mark_delivered(s, index + i);
    } else if (m->u.alloc.status == KME_AS_CLOSED) {
        s->peer_closed = true;
    } else {
        kme_waiters_answer_run(l, &m->ksid, index, count, QKD_STATUS_INSUFFICIENT_KEY);
    }
}

void kme_on_alloc(struct kme_link *l, const struct kme_pmsg *m)
{
    if (l->role != KME_ROLE_FOLLOWER) return;
    if (m->u.alloc.status != KME_AS_OK) {
        on_alloc_status(l, m);
        kme_wake(l);
        return;
    }
    struct kme_stream *s = kme_stream_find(&l->kme->streams, &m->ksid);
    if (s && s->link == l && s->peer_ended) {
        /* allocated after the peer closed its end (re-opened there?): never taken */
        struct kme_pmsg ack = {.type = KME_PM_ALLOC_ACK, .ksid = m->ksid};
        ack.u.alloc.index = m->u.alloc.index;
        ack.u.alloc.count = m->u.alloc.count;
        ack.u.alloc.status = KME_AS_CLOSED;
        kme_peer_send(l, &ack);
        return;
    }
    uint32_t done = l->npend == 0 ? take_run(l, m) : 0;
    if (done) kme_wake(l);
    if (done == m->u.alloc.count) return;
    if (l->npend >= KME_MAX_PEND_ALLOCS) {
        log_warn("link %s: too many allocations waiting for ring bytes; refusing", l->peer);
        struct kme_pmsg rest = *m;
        run_trim(&rest, done);
        struct kme_pmsg ack = {.type = KME_PM_ALLOC_ACK, .ksid = m->ksid};
        ack.u.alloc.index = rest.u.alloc.index;
        ack.u.alloc.count = rest.u.alloc.count;
        ack.u.alloc.status = KME_AS_LOST;
        kme_peer_send(l, &ack);
        return;
    }
    if (l->npend == l->pend_cap) {
        size_t ncap = l->pend_cap ? l->pend_cap * 2 : 64;
        struct kme_pmsg *n = realloc(l->pend, ncap * sizeof(*n));
        if (!n) {
            struct kme_pmsg ack = {.type = KME_PM_ALLOC_ACK, .ksid = m->ksid};
            ack.u.alloc.index = m->u.alloc.index + done;
            ack.u.alloc.count = m->u.alloc.count - done;
            ack.u.alloc.status = KME_AS_LOST;
            kme_peer_send(l, &ack);
            return;
        }
        l->pend = n;
        l->pend_cap = ncap;
    }
    l->pend[l->npend] = *m;
    run_trim(&l->pend[l->npend], done);
    l->npend++;
    kme_link_want_poll(l);
}

bool kme_alloc_poll(struct kme_link *l)
{
    if (l->role == KME_ROLE_LEADER) {
        size_t out = 0;
        for (size_t i = 0; i < l->npreqs; i++) {
            struct kme_preq r = l->preqs[i];
            if (!l->peer_up || !serve_req(l, &r.ksid, r.index, r.count)) l->preqs[out++] = r;
        }
        l->npreqs = out;
        return l->npreqs > 0;
    }
    size_t done = 0;
    while (done < l->npend) {
        struct kme_pmsg *m = &l->pend[done];
        uint32_t n = take_run(l, m);
        if (n < m->u.alloc.count) {
            run_trim(m, n);
            break;
        }
        done++;
    }
    if (done) {
        memmove(l->pend, l->pend + done, (l->npend - done) * sizeof(*l->pend));
        l->npend -= done;
    }
    return l->npend > 0;
}
