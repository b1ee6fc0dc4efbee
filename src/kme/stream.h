/* stream.h: the KSID table of one key server and the state of each stream (docs/kme.md):
 * owner identity, QoS, link, attach flags, the delivered window (lowest undelivered index plus
 * a bitmap over the window) and the allocated-but-undelivered keys (struct qkd_secbuf).
 * Pure data structure without I/O, so unit tests drive it directly. */
#ifndef KME_STREAM_H
#define KME_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qkd/types.h"
#include "secbuf.h"
#include "window.h"

#define KME_OWNER_LEN 80 /* >= QKD_TLS_ID_LEN */
/* The window of a stream is at most this many chunks (its delivered bitmap that many bits):
 * default and most (--max-window-chunks, docs/kme.md "Limits"). */
#define KME_DEF_MAX_WCHUNKS 65536u
#define KME_MAX_WCHUNKS     (64u * 1024u * 1024u)

struct kme;
struct kme_link;
struct kme_stream;
struct kme_rest_batch;

/* The key bytes of one allocation run in one locked secret buffer shared by its chunks (one
 * mlock per run instead of one per chunk): each chunk is wiped when its allocation goes, the
 * whole buffer (wiped again) when the last one goes. */
struct kme_keyslab {
    struct qkd_secbuf *buf;
    uint32_t refs; /* allocations pointing into buf */
};

/* Key allocated to (KSID, index): its stream offset in the link's ring and the bytes. */
struct kme_alloc {
    uint32_t index;
    uint32_t len;
    uint64_t offset;
    uint64_t distilled_ms; /* wall clock of the ring block the bytes came from */
    uint8_t *key;          /* len bytes inside slab->buf; wiped on free */
    struct kme_keyslab *slab;
    bool acked;        /* leader: the follower confirmed; follower: always true */
    uint64_t ack_mark; /* follower: heartbeat mark whose echo proves the leader
                          processed this allocation's ACK */
    bool in_ackq;      /* leader: on the link's unacked queue */
    bool unattached;   /* taken while no application here had the stream (counted in the
                          link's held_unattached until it attaches) */
    struct kme_alloc *aq_prev, *aq_next; /* leader's unacked queue (alloc.c) */
    struct kme_stream *stream;
};

struct kme_stream {
    struct qkd_ksid ksid;
    struct kme_link *link; /* the link it runs on (link.h) */
    struct qkd_qos qos;
    bool local_attached;       /* an application at this node opened it */
    char owner[KME_OWNER_LEN]; /* its identity (client certificate id) */
    bool peer_attached;        /* the peer node's application has it open now */
    bool peer_opened;          /* the peer node's application opened it (sticky, survives its
                                  CLOSE): joining it answers 0, not 1 */
    bool peer_closed;          /* the peer closed it: no new allocations */
    bool peer_ended;           /* the peer's end was closed (STREAM_CLOSE): it never attaches
                                  again, no allocation is served or taken for it */
    struct qkd_window win;     /* delivered indices; its size is the window in chunks */
    struct kme_alloc **allocs; /* sorted by index */
    size_t nallocs, acap;
    uint64_t last_call_ms;
    uint64_t ttl_timer;
    /* allocation ahead (alloc.c): sequential GET_KEYs at this node, and the first index the
     * follower refused as outside its window (allocations ahead stay below it) */
    uint32_t next_seq;           /* last GET_KEY index + 1 */
    uint32_t seq_run;            /* GET_KEYs in a row that asked for next_seq */
    bool seq_seen;               /* next_seq is set */
    uint64_t ahead_limit;        /* UINT64_MAX = none */
    uint32_t nwaiters;           /* pending GET_KEY calls on it */
    uint64_t gone_below;         /* follower: the leader said every index below this is delivered or
                                    withdrawn there (GONE): one without an allocation here is never
                                    delivered here (alloc.c) */
    struct kme_rest_batch *rest; /* an ETSI 014 key batch (rest_batch.h), not an ETSI 004
                                    stream: no ETSI 004 call reaches it; freed with it */
    struct kme_stream *hnext;
};

struct kme_streams {
    struct kme_stream **buckets;
    size_t nbuckets;
    size_t count;
    size_t max;
    uint32_t max_wchunks; /* windows are at most this many chunks (KME_DEF_MAX_WCHUNKS) */
};

int kme_streams_init(struct kme_streams *t, size_t nbuckets, size_t max);
/* Removes (and wipes) every stream. */
void kme_streams_free(struct kme_streams *t);
struct kme_stream *kme_stream_find(const struct kme_streams *t, const struct qkd_ksid *ksid);
/* Registers a new stream. Returns 0, -1 when the table is full (max streams) or the KSID
 * exists, -2 on allocation failure. Window: max(1, window_bytes / qos->key_chunk_size) chunks,
 * at most t->max_wchunks. */
int kme_stream_add(struct kme_streams *t, const struct qkd_ksid *ksid, const struct qkd_qos *qos,
                   uint64_t window_bytes, struct kme_stream **out);
/* Unlinks and frees a stream, wiping every key it holds. Allocations on a leader's unacked
 * queue must have been taken off it by the caller. */
void kme_stream_remove(struct kme_streams *t, struct kme_stream *s);
/* Calls fn for each stream; fn must not add or remove streams. */
void kme_streams_foreach(const struct kme_streams *t, void (*fn)(struct kme_stream *, void *),
                         void *arg);
/* Collects up to max stream pointers (for iterations that remove). Returns how many. */
size_t kme_streams_list(const struct kme_streams *t, struct kme_stream **out, size_t max);

/* ---- streams of a running node (TTL timer, waiters, peer; the functions above are pure) ---- */

/* Registers a stream on link l (TTL timer armed). Returns NULL when the table is full. */
struct kme_stream *kme_stream_register(struct kme *k, struct kme_link *l,
                                       const struct qkd_ksid *ksid, const struct qkd_qos *qos);
/* A call on the stream: its TTL counts from now. */
void kme_stream_touch(struct kme *k, struct kme_stream *s);
/* Removes a stream at this node (wipes keys, cancels timers, fails waiters with
 * waiter_status). */
void kme_stream_drop(struct kme *k, struct kme_stream *s, uint32_t waiter_status);

/* Identity: the stream is attached at this node and owned by id. */
bool kme_stream_owned_by(const struct kme_stream *s, const char *id);
/* Attaches the stream to identity id here; its key taken while unattached stops counting in
 * the link's held_unattached. */
void kme_stream_attach(struct kme_stream *s, const char *id);
/* How many streams identity id has attached at this node. */
size_t kme_streams_owned_count(const struct kme_streams *t, const char *id);

/* Notes a GET_KEY for index (sequential access detection). */
void kme_stream_note_get(struct kme_stream *s, uint32_t index);
/* Indices index, index + 1, ... that are open at this node and have no allocation, at most max
 * of them (index itself counts; 0 when index is not open or allocated). */
uint32_t kme_stream_fresh_run(const struct kme_stream *s, uint32_t index, uint32_t max);

/* Re-sizes the window (QoS chunk changed before any delivery), at most max_wchunks chunks. */
void kme_stream_set_window(struct kme_stream *s, uint64_t window_bytes, uint32_t max_wchunks);

/* The states of an index in the stream's window (window.h). */
enum kme_idx_state {
    KME_IDX_OPEN = QKD_WINDOW_OPEN,           /* inside the window, not delivered */
    KME_IDX_DELIVERED = QKD_WINDOW_DELIVERED, /* already delivered (or lost) at this node */
    KME_IDX_OUTSIDE = QKD_WINDOW_OUTSIDE,     /* beyond the window */
};
enum kme_idx_state kme_stream_index_state(const struct kme_stream *s, uint32_t index);
/* Marks an open index delivered (or lost) and advances base. Returns 0, -1 if not open. */
int kme_stream_mark_delivered(struct kme_stream *s, uint32_t index);

struct kme_alloc *kme_stream_alloc_find(const struct kme_stream *s, uint32_t index);
/* Creates the allocation record for index (key NULL, caller fills). NULL if it exists or on
 * allocation failure. */
struct kme_alloc *kme_stream_alloc_new(struct kme_stream *s, uint32_t index);
/* Removes the record, wiping its key. */
void kme_stream_alloc_free(struct kme_stream *s, struct kme_alloc *a);

/* A slab of len bytes (no allocation uses it yet). NULL on allocation failure. */
struct kme_keyslab *kme_keyslab_new(size_t len);
/* Points a's key at [off, off + len) of the slab (which must hold it) and takes a reference. */
void kme_alloc_set_key(struct kme_alloc *a, struct kme_keyslab *sl, size_t off, uint32_t len);
/* Frees a slab if no allocation took a reference (after a failed or partial run). */
void kme_keyslab_release_unused(struct kme_keyslab *sl);

#endif
