/* rest_batch.h: ETSI 014 key batches (docs/etsi014.md). One enc_keys call makes one batch: its
 * keys, who may fetch each of them (the master, the slave and the additional slaves) and which
 * slave fetched which key. A batch for a slave at another node is a stream of that link (struct
 * kme_stream with rest set) whose indices 0 .. number - 1 are the keys, allocated by the link
 * leader like ETSI 004 chunks, so ETSI 004 and ETSI 014 never share a ring byte; the master's
 * node announces it to the slave's node (REST_KEYS) before any of its key is allocated. A batch
 * for a slave at this node holds CSPRNG key (rest_local.c). A key_ID is the batch id with its
 * last byte replaced by the key's index. */
#ifndef KME_REST_BATCH_H
#define KME_REST_BATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "peer_msg.h"
#include "qkd/types.h"

struct kme;
struct kme_link;
struct kme_stream;

struct kme_rest_batch {
    bool master_side; /* this node is the master's node (else the slaves') */
    bool failed;      /* master's node: an allocation was refused or lost */
    char master[KME_REST_SAE_MAX];
    uint32_t nslaves; /* the slave first, then the additional slaves */
    char slaves[KME_REST_MAX_SLAVES][KME_REST_SAE_MAX];
    uint32_t number;                 /* keys */
    uint32_t key_bytes;              /* bytes per key */
    uint32_t complete;               /* keys every slave has fetched */
    uint32_t got[KME_REST_MAX_KEYS]; /* bit j: slave j fetched the key */
};

/* A fresh random batch id (UUIDv4 whose last byte is 0). */
void kme_rest_batch_id_new(struct qkd_ksid *id);
/* The key_ID of key index of batch id, and back. */
void kme_rest_key_id(const struct qkd_ksid *batch, uint32_t index, uint8_t out[16]);
void kme_rest_key_batch(const uint8_t key_id[16], struct qkd_ksid *batch, uint32_t *index);

/* Whether caller may fetch key index of b as a slave of master: 0 with the caller's slave
 * number in *slave, or the HTTP status (400: no such key, or already fetched by the caller;
 * 401: another pair's key) with why. */
int kme_rest_batch_check(const struct kme_rest_batch *b, const char *master, const char *caller,
                         uint32_t index, uint32_t *slave, const char **why);
/* Notes that slave fetched key index; returns whether every slave has it now. */
bool kme_rest_batch_fetched(struct kme_rest_batch *b, uint32_t index, uint32_t slave);

/* ---- batches crossing a link (streams) ---- */

/* The master's node: registers batch stream id on l and announces it. NULL when the stream
 * table is full. */
struct kme_stream *kme_rest_stream_open(struct kme *k, struct kme_link *l,
                                        const struct qkd_ksid *id, const struct kme_rest_batch *b,
                                        uint32_t wait_ms);
/* Sends REST_KEYS for a master-side batch stream (peer came up, or just opened). */
void kme_rest_announce(struct kme_link *l, struct kme_stream *s);
/* The slave's node: a REST_KEYS from the peer. */
void kme_rest_on_keys(struct kme_link *l, const struct kme_pmsg *m);

enum kme_rest_state { KME_REST_WAIT = 0, KME_REST_READY, KME_REST_FAIL };
/* The master's node: allocates (leader) or asks for (follower) the batch's key; READY when
 * every key is allocated and the follower has it, FAIL when that can no longer happen. */
enum kme_rest_state kme_rest_stream_eval(struct kme_link *l, struct kme_stream *s, bool *req_sent);
/* Drops a batch stream here; tell_peer: also at the peer (a failed enc_keys). */
void kme_rest_stream_drop(struct kme *k, struct kme_stream *s, bool tell_peer);
/* Takes key index out of a batch stream after its delivery (the key is wiped). */
void kme_rest_stream_delivered(struct kme *k, struct kme_stream *s, uint32_t index);

#endif
