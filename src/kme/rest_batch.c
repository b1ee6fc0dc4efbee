/* rest_batch.c: ETSI 014 key batches and the batches that cross a link as streams
 * (rest_batch.h, docs/etsi014.md): key_IDs, who may fetch what, REST_KEYS, and the master's
 * node's side of the allocation (the leader allocates the whole batch at once, a follower asks
 * the leader for it). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uuid/uuid.h>

#include "alloc.h"
#include "getkey.h"
#include "kme.h"
#include "link.h"
#include "log.h"
#include "peer.h"
#include "rest_batch.h"

void kme_rest_batch_id_new(struct qkd_ksid *id)
{
    uuid_t u;
    uuid_generate_random(u);
    memcpy(id->b, u, QKD_KSID_LEN);
    id->b[QKD_KSID_LEN - 1] = 0;
}

void kme_rest_key_id(const struct qkd_ksid *batch, uint32_t index, uint8_t out[16])
{
    memcpy(out, batch->b, 16);
    out[15] = (uint8_t)index;
}

void kme_rest_key_batch(const uint8_t key_id[16], struct qkd_ksid *batch, uint32_t *index)
{
    memcpy(batch->b, key_id, 16);
    *index = key_id[15];
    batch->b[15] = 0;
}

int kme_rest_batch_check(const struct kme_rest_batch *b, const char *master, const char *caller,
                         uint32_t index, uint32_t *slave, const char **why)
{
    if (index >= b->number) {
        *why = "unknown key_ID";
        return 400;
    }
    uint32_t j = 0;
    while (j < b->nslaves && strcmp(b->slaves[j], caller) != 0)
        j++;
    if (j == b->nslaves || strcmp(b->master, master) != 0) {
        *why = "key_ID of another master/slave pair";
        return 401;
    }
    if (b->got[index] & (1u << j)) {
        *why = "key_ID already delivered to this SAE";
        return 400;
    }
    *slave = j;
    return 0;
}

bool kme_rest_batch_fetched(struct kme_rest_batch *b, uint32_t index, uint32_t slave)
{
    b->got[index] |= 1u << slave;
    uint32_t all = b->nslaves >= 32 ? UINT32_MAX : (1u << b->nslaves) - 1;
    if ((b->got[index] & all) != all) return false;
    b->complete++;
    return true;
}

/* ---- batches crossing a link ---- */

static struct kme_stream *register_batch(struct kme *k, struct kme_link *l,
                                         const struct qkd_ksid *id, const struct kme_rest_batch *b,
                                         uint32_t wait_ms)
{
    struct qkd_qos q;
    memset(&q, 0, sizeof(q));
    q.key_chunk_size = b->key_bytes;
    q.timeout = wait_ms ? wait_ms : 1;
    /* the slaves' node keeps the keys for the key TTL; the master's node holds its end only
     * while the enc_keys call waits, which its TTL must outlast */
    q.ttl = k->cfg.e14.key_ttl_s + (b->master_side ? wait_ms / 1000 + 2 : 0);
    struct kme_rest_batch *copy = malloc(sizeof(*copy));
    if (!copy) return NULL;
    struct kme_stream *s = kme_stream_register(k, l, id, &q);
    if (!s) {
        free(copy);
        return NULL;
    }
    *copy = *b;
    s->rest = copy;
    /* the window is the batch: indices 0 .. number - 1 */
    kme_stream_set_window(s, (uint64_t)b->number * b->key_bytes, k->streams.max_wchunks);
    return s;
}

struct kme_stream *kme_rest_stream_open(struct kme *k, struct kme_link *l,
                                        const struct qkd_ksid *id, const struct kme_rest_batch *b,
                                        uint32_t wait_ms)
{
    struct kme_rest_batch mb = *b;
    mb.master_side = true;
    struct kme_stream *s = register_batch(k, l, id, &mb, wait_ms);
    if (!s) return NULL;
    /* attached to no ETSI 004 identity (those are "sha256:..."): 004 calls never match it */
    char owner[KME_OWNER_LEN];
    snprintf(owner, sizeof(owner), "etsi014 %s", b->master);
    kme_stream_attach(s, owner);
    kme_rest_announce(l, s);
    return s;
}

void kme_rest_announce(struct kme_link *l, struct kme_stream *s)
{
    const struct kme_rest_batch *b = s->rest;
    if (!b->master_side) return;
    struct kme_rest_msg msg, *m = &msg;
    memset(m, 0, sizeof(*m));
    m->ksid = s->ksid;
    m->key_bytes = b->key_bytes;
    m->number = b->number;
    memcpy(m->master, b->master, sizeof(m->master));
    m->nslaves = b->nslaves;
    memcpy(m->slaves, b->slaves, sizeof(m->slaves));
    struct qkd_writer w;
    qkd_writer_init(&w, KME_PEER_MAX_PAYLOAD);
    if (kme_rest_msg_encode(m, &w) == 0) {
        struct kme_pmsg pm = {.type = KME_PM_REST_KEYS, .ksid = s->ksid};
        pm.u.raw.p = w.buf;
        pm.u.raw.len = (uint32_t)w.len;
        kme_peer_send(l, &pm);
    } else {
        log_error("link %s: cannot encode REST_KEYS", l->peer);
    }
    qkd_writer_free(&w);
}

void kme_rest_on_keys(struct kme_link *l, const struct kme_pmsg *m)
{
    struct kme *k = l->kme;
    struct kme_rest_msg msg, *rm = &msg;
    if (kme_rest_msg_decode(m->u.raw.p, m->u.raw.len, rm) != 0) return;
    char ks[QKD_KSID_STRLEN];
    qkd_ksid_to_str(&rm->ksid, ks);
    struct kme_stream *s = kme_stream_find(&k->streams, &rm->ksid);
    if (s) {
        /* announced again (the peer connection came back): nothing changes */
        if (!s->rest || s->link != l)
            log_warn("peer %s announced ETSI 014 batch %s, a stream of another kind; ignored",
                     l->peer, ks);
        return;
    }
    if (kme_link_tomb_has(l, &rm->ksid)) {
        kme_peer_send_ksid(l, KME_PM_CLOSE, &rm->ksid);
        return;
    }
    struct kme_rest_batch batch, *b = &batch;
    memset(b, 0, sizeof(*b));
    memcpy(b->master, rm->master, sizeof(b->master));
    b->nslaves = rm->nslaves;
    memcpy(b->slaves, rm->slaves, sizeof(b->slaves));
    b->number = rm->number;
    b->key_bytes = rm->key_bytes;
    s = register_batch(k, l, &rm->ksid, b, k->cfg.e14.wait_ms);
    if (!s) {
        log_warn("peer %s announced ETSI 014 batch %s: stream table full; refused", l->peer, ks);
        kme_peer_send_ksid(l, KME_PM_CLOSE, &rm->ksid);
    } else {
        s->peer_attached = true;
        s->peer_opened = true;
        log_debug("peer %s announced ETSI 014 batch %s: %" PRIu32 " keys of %" PRIu32
                  " bits for master %s, slave %s (+%" PRIu32 ")",
                  l->peer, ks, rm->number, rm->key_bytes * 8, rm->master, rm->slaves[0],
                  rm->nslaves - 1);
    }
}

/* The first index of the batch that has no allocation here, or number. */
static uint32_t first_missing(const struct kme_stream *s)
{
    for (uint32_t i = 0; i < s->rest->number; i++)
        if (!kme_stream_alloc_find(s, i)) return i;
    return s->rest->number;
}

enum kme_rest_state kme_rest_stream_eval(struct kme_link *l, struct kme_stream *s, bool *req_sent)
{
    const struct kme_rest_batch *b = s->rest;
    if (b->failed || s->peer_closed) return KME_REST_FAIL;
    uint32_t miss = first_missing(s);
    if (miss == b->number) {
        for (uint32_t i = 0; i < b->number; i++)
            if (!kme_stream_alloc_find(s, i)->acked) return KME_REST_WAIT;
        return KME_REST_READY;
    }
    if (!l->peer_up || !l->ring) return KME_REST_WAIT;
    if (l->role == KME_ROLE_LEADER) {
        if (miss != 0) return KME_REST_FAIL; /* a part was withdrawn */
        if (!kme_alloc_leader_exact(l, s, 0, b->number)) kme_link_want_poll(l);
        return KME_REST_WAIT;
    }
    if (!*req_sent && kme_alloc_request_run(l, s, miss, b->number - miss) == 0) *req_sent = true;
    return KME_REST_WAIT;
}

void kme_rest_stream_drop(struct kme *k, struct kme_stream *s, bool tell_peer)
{
    if (tell_peer) kme_peer_send_ksid(s->link, KME_PM_CLOSE, &s->ksid);
    kme_stream_drop(k, s, QKD_STATUS_PEER_APP_NOT_CONNECTED);
}

void kme_rest_stream_delivered(struct kme *k, struct kme_stream *s, uint32_t index)
{
    struct kme_alloc *a = kme_stream_alloc_find(s, index);
    if (a) {
        kme_alloc_delivered(s->link, s, a);
        kme_stream_alloc_free(s, a);
    }
    kme_stream_mark_delivered(s, index);
    s->link->m_keys_014++; /* docs/observability.md */
    s->link->m_bits_014 += (uint64_t)s->rest->key_bytes * 8;
    (void)k;
}
