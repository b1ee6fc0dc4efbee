/* rest_local.c: ETSI 014 batches for slaves at this node (rest_local.h, docs/etsi014.md): CSPRNG
 * keys in secret buffers, a hash table by batch id, the key TTL and the byte budget. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "log.h"
#include "rest_local.h"

static size_t bucket_of(const struct qkd_ksid *id)
{
    return (size_t)(id->b[0] ^ id->b[5] ^ id->b[11]) % KME_REST_LOCAL_BUCKETS;
}

void kme_rest_local_init(struct kme_rest_local *t, struct qkd_loop *loop, size_t max_held,
                         uint32_t ttl_s)
{
    memset(t, 0, sizeof(*t));
    t->loop = loop;
    t->max_held = max_held;
    t->ttl_s = ttl_s;
}

static void unlink_batch(struct kme_rest_local_batch *lb)
{
    struct kme_rest_local *t = lb->t;
    struct kme_rest_local_batch **pp = &t->buckets[bucket_of(&lb->id)];
    while (*pp && *pp != lb)
        pp = &(*pp)->next;
    if (*pp) *pp = lb->next;
    t->nbatches--;
}

static void batch_free(struct kme_rest_local_batch *lb)
{
    struct kme_rest_local *t = lb->t;
    size_t bytes = (size_t)lb->b.number * lb->b.key_bytes;
    t->held -= t->held < bytes ? t->held : bytes;
    if (lb->timer) qkd_loop_del_timer(t->loop, lb->timer);
    qkd_secbuf_free(lb->keys); /* wipes */
    free(lb);
}

void kme_rest_local_drop(struct kme_rest_local_batch *lb)
{
    unlink_batch(lb);
    batch_free(lb);
}

void kme_rest_local_free(struct kme_rest_local *t)
{
    for (size_t i = 0; i < KME_REST_LOCAL_BUCKETS; i++) {
        struct kme_rest_local_batch *lb = t->buckets[i], *n;
        for (; lb; lb = n) {
            n = lb->next;
            batch_free(lb);
        }
        t->buckets[i] = NULL;
    }
    t->nbatches = 0;
}

static void ttl_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    (void)loop;
    (void)id;
    struct kme_rest_local_batch *lb = arg;
    lb->timer = 0;
    log_info("ETSI 014 batch for slaves at this node: %" PRIu32 " of %" PRIu32
             " keys not fetched by every slave within %" PRIu32 " s (TTL); wiped",
             lb->b.number - lb->b.complete, lb->b.number, lb->t->ttl_s);
    kme_rest_local_drop(lb);
}

struct kme_rest_local_batch *kme_rest_local_make(struct kme_rest_local *t,
                                                 const struct kme_rest_batch *b, const char **why)
{
    size_t bytes = (size_t)b->number * b->key_bytes;
    if (t->held + bytes > t->max_held) {
        *why = "too much key held for slaves at this node; try again once they fetched theirs";
        return NULL;
    }
    *why = "out of memory or CSPRNG failure";
    struct kme_rest_local_batch *lb = calloc(1, sizeof(*lb));
    if (!lb) return NULL;
    lb->keys = qkd_secbuf_new(bytes);
    if (!lb->keys || RAND_priv_bytes(lb->keys->data, (int)bytes) != 1) {
        qkd_secbuf_free(lb->keys);
        free(lb);
        return NULL;
    }
    lb->b = *b;
    lb->t = t;
    for (int tries = 0; tries < 4; tries++) {
        kme_rest_batch_id_new(&lb->id);
        if (!kme_rest_local_find(t, &lb->id)) break;
    }
    size_t bk = bucket_of(&lb->id);
    lb->next = t->buckets[bk];
    t->buckets[bk] = lb;
    t->nbatches++;
    t->held += bytes;
    lb->timer = qkd_loop_add_timer(t->loop, (uint64_t)t->ttl_s * 1000u, ttl_cb, lb);
    return lb;
}

struct kme_rest_local_batch *kme_rest_local_find(const struct kme_rest_local *t,
                                                 const struct qkd_ksid *id)
{
    struct kme_rest_local_batch *lb = t->buckets[bucket_of(id)];
    for (; lb; lb = lb->next)
        if (memcmp(lb->id.b, id->b, QKD_KSID_LEN) == 0) return lb;
    return NULL;
}

const uint8_t *kme_rest_local_key(const struct kme_rest_local_batch *lb, uint32_t index)
{
    return lb->keys->data + (size_t)index * lb->b.key_bytes;
}

void kme_rest_local_key_done(struct kme_rest_local_batch *lb, uint32_t index)
{
    qkd_wipe(lb->keys->data + (size_t)index * lb->b.key_bytes, lb->b.key_bytes);
}
