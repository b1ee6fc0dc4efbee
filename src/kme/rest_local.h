/* rest_local.h: ETSI 014 batches whose slaves are SAEs of this node (docs/etsi014.md): no link
 * is crossed, so their keys come from the CSPRNG (RAND_priv_bytes), held in locked secret
 * buffers until every slave fetched them or the key TTL passes, within a byte budget. */
#ifndef KME_REST_LOCAL_H
#define KME_REST_LOCAL_H

#include <stddef.h>
#include <stdint.h>

#include "evloop.h"
#include "qkd/types.h"
#include "rest_batch.h"
#include "secbuf.h"

#define KME_REST_LOCAL_BUCKETS 256

struct kme_rest_local_batch {
    struct qkd_ksid id;
    struct kme_rest_batch b;
    struct qkd_secbuf *keys; /* number * key_bytes */
    uint64_t timer;          /* TTL */
    struct kme_rest_local *t;
    struct kme_rest_local_batch *next;
};

struct kme_rest_local {
    struct qkd_loop *loop;
    struct kme_rest_local_batch *buckets[KME_REST_LOCAL_BUCKETS];
    size_t held, max_held; /* key bytes held, and the budget */
    uint32_t ttl_s;
    size_t nbatches;
};

void kme_rest_local_init(struct kme_rest_local *t, struct qkd_loop *loop, size_t max_held,
                         uint32_t ttl_s);
/* Wipes and frees every batch. */
void kme_rest_local_free(struct kme_rest_local *t);
/* A new batch of b->number CSPRNG keys of b->key_bytes. Returns it, or NULL when the byte
 * budget is spent (*why says so) or the CSPRNG or memory failed. */
struct kme_rest_local_batch *kme_rest_local_make(struct kme_rest_local *t,
                                                 const struct kme_rest_batch *b, const char **why);
struct kme_rest_local_batch *kme_rest_local_find(const struct kme_rest_local *t,
                                                 const struct qkd_ksid *id);
const uint8_t *kme_rest_local_key(const struct kme_rest_local_batch *lb, uint32_t index);
/* Wipes key index now (every slave fetched it); the caller drops the batch once complete. */
void kme_rest_local_key_done(struct kme_rest_local_batch *lb, uint32_t index);
/* Drops the batch (wiping its keys), e.g. when nobody can fetch them any more. */
void kme_rest_local_drop(struct kme_rest_local_batch *lb);

#endif
