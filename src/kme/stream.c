/* stream.c: the KSID table (hash of streams), per-stream window and allocation records (pure,
 * driven directly by unit tests), and the streams of a running node: registration on a link,
 * TTL clean-up (docs/kme.md) and removal. See stream.h. */
#include "stream.h"
#include "rest_batch.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "getkey.h"
#include "kme.h"
#include "link.h"
#include "log.h"
#include "peer.h"

static size_t alloc_pos(const struct kme_stream *s, uint32_t index);

static size_t stream_hash(const struct qkd_ksid *k, size_t nbuckets)
{
    /* KSIDs are random UUIDs or caller-chosen; FNV-1a spreads predefined ones too. */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < QKD_KSID_LEN; i++) {
        h ^= k->b[i];
        h *= 1099511628211ull;
    }
    return (size_t)(h % nbuckets);
}

int kme_streams_init(struct kme_streams *t, size_t nbuckets, size_t max)
{
    memset(t, 0, sizeof(*t));
    if (nbuckets == 0) nbuckets = 1024;
    t->buckets = calloc(nbuckets, sizeof(*t->buckets));
    if (!t->buckets) return -1;
    t->nbuckets = nbuckets;
    t->max = max;
    t->max_wchunks = KME_DEF_MAX_WCHUNKS;
    return 0;
}

struct kme_keyslab *kme_keyslab_new(size_t len)
{
    struct kme_keyslab *sl = calloc(1, sizeof(*sl));
    if (!sl) return NULL;
    sl->buf = qkd_secbuf_new(len);
    if (!sl->buf) {
        free(sl);
        return NULL;
    }
    return sl;
}

void kme_keyslab_release_unused(struct kme_keyslab *sl)
{
    if (!sl || sl->refs) return;
    qkd_secbuf_free(sl->buf);
    free(sl);
}

void kme_alloc_set_key(struct kme_alloc *a, struct kme_keyslab *sl, size_t off, uint32_t len)
{
    a->slab = sl;
    a->key = sl->buf->data + off;
    a->len = len;
    sl->refs++;
}

/* a's key no longer counts as held for an unattached stream (link.h, held_unattached). */
static void alloc_unhold(struct kme_alloc *a)
{
    if (!a->unattached) return;
    a->unattached = false;
    struct kme_link *l = a->stream ? a->stream->link : NULL;
    if (l) l->held_unattached -= l->held_unattached < a->len ? l->held_unattached : a->len;
}

/* Wipes a's key and drops its slab reference (the slab goes with the last one). */
static void alloc_key_free(struct kme_alloc *a)
{
    alloc_unhold(a);
    struct kme_keyslab *sl = a->slab;
    if (!sl) return;
    qkd_wipe(a->key, a->len);
    a->key = NULL;
    a->slab = NULL;
    if (--sl->refs == 0) {
        qkd_secbuf_free(sl->buf);
        free(sl);
    }
}

static void stream_free(struct kme_stream *s)
{
    for (size_t i = 0; i < s->nallocs; i++) {
        alloc_key_free(s->allocs[i]);
        free(s->allocs[i]);
    }
    free(s->allocs);
    qkd_window_free(&s->win);
    free(s->rest);
    free(s);
}

void kme_streams_free(struct kme_streams *t)
{
    if (!t->buckets) return;
    for (size_t b = 0; b < t->nbuckets; b++) {
        struct kme_stream *s = t->buckets[b];
        while (s) {
            struct kme_stream *n = s->hnext;
            stream_free(s);
            s = n;
        }
    }
    free(t->buckets);
    memset(t, 0, sizeof(*t));
}

struct kme_stream *kme_stream_find(const struct kme_streams *t, const struct qkd_ksid *ksid)
{
    struct kme_stream *s = t->buckets[stream_hash(ksid, t->nbuckets)];
    for (; s; s = s->hnext)
        if (memcmp(s->ksid.b, ksid->b, QKD_KSID_LEN) == 0) return s;
    return NULL;
}

/* The window in chunks: window_bytes / chunk, at least 1, at most max (the bitmap bound). */
static uint32_t window_chunks(uint64_t window_bytes, uint32_t chunk, uint32_t max)
{
    uint64_t w = chunk ? window_bytes / chunk : window_bytes;
    if (w < 1) w = 1;
    if (w > max) w = max;
    return (uint32_t)w;
}

int kme_stream_add(struct kme_streams *t, const struct qkd_ksid *ksid, const struct qkd_qos *qos,
                   uint64_t window_bytes, struct kme_stream **out)
{
    if (t->count >= t->max || kme_stream_find(t, ksid)) return -1;
    struct kme_stream *s = calloc(1, sizeof(*s));
    if (!s) return -2;
    s->ksid = *ksid;
    s->qos = *qos;
    s->qos.metadata_mimetype[QKD_MIMETYPE_MAX - 1] = 0;
    qkd_window_init(&s->win, window_chunks(window_bytes, qos->key_chunk_size, t->max_wchunks));
    s->ahead_limit = UINT64_MAX;
    size_t b = stream_hash(ksid, t->nbuckets);
    s->hnext = t->buckets[b];
    t->buckets[b] = s;
    t->count++;
    *out = s;
    return 0;
}

void kme_stream_remove(struct kme_streams *t, struct kme_stream *s)
{
    struct kme_stream **pp = &t->buckets[stream_hash(&s->ksid, t->nbuckets)];
    for (; *pp; pp = &(*pp)->hnext) {
        if (*pp == s) {
            *pp = s->hnext;
            t->count--;
            break;
        }
    }
    stream_free(s);
}

void kme_streams_foreach(const struct kme_streams *t, void (*fn)(struct kme_stream *, void *),
                         void *arg)
{
    for (size_t b = 0; b < t->nbuckets; b++)
        for (struct kme_stream *s = t->buckets[b]; s; s = s->hnext)
            fn(s, arg);
}

size_t kme_streams_list(const struct kme_streams *t, struct kme_stream **out, size_t max)
{
    size_t n = 0;
    for (size_t b = 0; b < t->nbuckets; b++)
        for (struct kme_stream *s = t->buckets[b]; s && n < max; s = s->hnext)
            out[n++] = s;
    return n;
}

bool kme_stream_owned_by(const struct kme_stream *s, const char *id)
{
    return !s->rest && s->local_attached && id && strncmp(s->owner, id, sizeof(s->owner)) == 0;
}

size_t kme_streams_owned_count(const struct kme_streams *t, const char *id)
{
    size_t n = 0;
    for (size_t b = 0; b < t->nbuckets; b++)
        for (const struct kme_stream *s = t->buckets[b]; s; s = s->hnext)
            n += kme_stream_owned_by(s, id);
    return n;
}

void kme_stream_attach(struct kme_stream *s, const char *id)
{
    for (size_t i = 0; i < s->nallocs; i++)
        alloc_unhold(s->allocs[i]);
    s->local_attached = true;
    memset(s->owner, 0, sizeof(s->owner));
    if (id) {
        strncpy(s->owner, id, sizeof(s->owner) - 1);
    }
}

void kme_stream_note_get(struct kme_stream *s, uint32_t index)
{
    if (s->seq_seen && index == s->next_seq) {
        if (s->seq_run < UINT32_MAX) s->seq_run++;
    } else {
        s->seq_run = 0;
    }
    s->seq_seen = index != UINT32_MAX; /* nothing follows the last index */
    s->next_seq = index + 1;
}

uint32_t kme_stream_fresh_run(const struct kme_stream *s, uint32_t index, uint32_t max)
{
    uint32_t n = 0;
    size_t p = alloc_pos(s, index); /* first allocation at or after index */
    while (n < max && (uint64_t)index + n <= UINT32_MAX) {
        uint32_t j = index + n;
        if (kme_stream_index_state(s, j) != KME_IDX_OPEN) break;
        if (p < s->nallocs && s->allocs[p]->index == j) break;
        n++;
    }
    return n;
}

void kme_stream_set_window(struct kme_stream *s, uint64_t window_bytes, uint32_t max_wchunks)
{
    qkd_window_resize(&s->win, window_chunks(window_bytes, s->qos.key_chunk_size, max_wchunks));
}

enum kme_idx_state kme_stream_index_state(const struct kme_stream *s, uint32_t index)
{
    return (enum kme_idx_state)qkd_window_state(&s->win, index);
}

int kme_stream_mark_delivered(struct kme_stream *s, uint32_t index)
{
    return qkd_window_mark(&s->win, index);
}

static size_t alloc_pos(const struct kme_stream *s, uint32_t index)
{
    size_t lo = 0, hi = s->nallocs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->allocs[mid]->index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct kme_alloc *kme_stream_alloc_find(const struct kme_stream *s, uint32_t index)
{
    size_t p = alloc_pos(s, index);
    if (p < s->nallocs && s->allocs[p]->index == index) return s->allocs[p];
    return NULL;
}

struct kme_alloc *kme_stream_alloc_new(struct kme_stream *s, uint32_t index)
{
    size_t p = alloc_pos(s, index);
    if (p < s->nallocs && s->allocs[p]->index == index) return NULL;
    if (s->nallocs == s->acap) {
        size_t ncap = s->acap ? s->acap * 2 : 8;
        struct kme_alloc **n = realloc(s->allocs, ncap * sizeof(*n));
        if (!n) return NULL;
        s->allocs = n;
        s->acap = ncap;
    }
    struct kme_alloc *a = calloc(1, sizeof(*a));
    if (!a) return NULL;
    a->index = index;
    a->stream = s;
    memmove(&s->allocs[p + 1], &s->allocs[p], (s->nallocs - p) * sizeof(*s->allocs));
    s->allocs[p] = a;
    s->nallocs++;
    return a;
}

void kme_stream_alloc_free(struct kme_stream *s, struct kme_alloc *a)
{
    size_t p = alloc_pos(s, a->index);
    if (p < s->nallocs && s->allocs[p] == a) {
        memmove(&s->allocs[p], &s->allocs[p + 1], (s->nallocs - p - 1) * sizeof(*s->allocs));
        s->nallocs--;
    }
    alloc_key_free(a);
    free(a);
}

/* ---- streams of a running node ---- */

static void ttl_cb(struct qkd_loop *loop, uint64_t id, void *arg);

static uint64_t ttl_ms(const struct kme_stream *s)
{
    return (uint64_t)(s->qos.ttl ? s->qos.ttl : KME_QOS_DEF_TTL) * 1000u;
}

static void ttl_arm(struct kme *k, struct kme_stream *s, uint64_t ms)
{
    if (s->ttl_timer) qkd_loop_del_timer(k->loop, s->ttl_timer);
    s->ttl_timer = qkd_loop_add_timer(k->loop, ms ? ms : 1, ttl_cb, s);
}

void kme_stream_touch(struct kme *k, struct kme_stream *s)
{
    s->last_call_ms = qkd_now_ms();
}

struct kme_stream *kme_stream_register(struct kme *k, struct kme_link *l,
                                       const struct qkd_ksid *ksid, const struct qkd_qos *qos)
{
    struct kme_stream *s = NULL;
    if (kme_stream_add(&k->streams, ksid, qos, k->cfg.window_bytes, &s) != 0) return NULL;
    s->link = l;
    s->last_call_ms = qkd_now_ms();
    ttl_arm(k, s, ttl_ms(s));
    kme_link_tomb_del(l, ksid);
    return s;
}

void kme_stream_drop(struct kme *k, struct kme_stream *s, uint32_t waiter_status)
{
    struct kme_link *l = s->link;
    struct qkd_ksid ksid = s->ksid;
    if (s->ttl_timer) qkd_loop_del_timer(k->loop, s->ttl_timer);
    s->ttl_timer = 0;
    for (size_t i = 0; i < s->nallocs; i++)
        kme_aq_remove(l, s->allocs[i]);
    kme_stream_remove(&k->streams, s); /* wipes its keys */
    kme_waiters_fail_stream(l, &ksid, waiter_status);
}

static void ttl_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct kme_stream *s = arg;
    struct kme_link *l = s->link;
    struct kme *k = l->kme;
    s->ttl_timer = 0;
    uint64_t now = qkd_now_ms(), ttl = ttl_ms(s);
    uint64_t idle = now - s->last_call_ms;
    if (s->nwaiters > 0 || idle < ttl) {
        ttl_arm(k, s, s->nwaiters > 0 ? ttl : ttl - idle);
        return;
    }
    char ks[QKD_KSID_STRLEN];
    qkd_ksid_to_str(&s->ksid, ks);
    if (s->rest) {
        /* keys of an ETSI 014 batch no slave fetched in time; the peer's end is its own */
        log_info("ETSI 014 batch %s: %" PRIu32 " of %" PRIu32
                 " keys not fetched by every slave within %" PRIu32 " s (TTL); wiped",
                 ks, s->rest->number - s->rest->complete, s->rest->number, s->qos.ttl);
        kme_stream_drop(k, s, QKD_STATUS_PEER_APP_NOT_CONNECTED);
        return;
    }
    log_info("Key_stream_ID %s: no call for %" PRIu32 " s (TTL); closed and its key wiped", ks,
             s->qos.ttl);
    kme_peer_send_ksid(l, KME_PM_CLOSE, &s->ksid);
    kme_link_tomb_add(l, &s->ksid);
    kme_stream_drop(k, s, QKD_STATUS_PEER_APP_NOT_CONNECTED);
}
