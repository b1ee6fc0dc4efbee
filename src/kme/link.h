/* link.h: one link of the key server to a peer node (docs/kme.md): its ring, its peer-sync
 * state, the leader's unacknowledged allocations and waiting requests, the follower's queued
 * ALLOCs and delivery memo, the waiting GET_KEY calls, and the tombstones of KSIDs closed here.
 * link.c parses --link, attaches and checks the ring, polls it and keeps the tombstones. */
#ifndef KME_LINK_H
#define KME_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "peer_msg.h"
#include "qkd/types.h"
#include "ring.h"

struct kme;
struct kme_alloc;
struct kme_pconn;
struct kme_waiter;

/* A KSID closed at this node. It is kept while the peer end of the stream may live: dropped
 * when the peer closes its end too, or when a peer-sync connection came up and the peer did
 * not announce the stream before its first heartbeat (it announces every live stream first). */
struct kme_tomb {
    struct qkd_ksid ksid;
    uint64_t seq;  /* order of closing (the oldest goes first when the table is full) */
    uint8_t state; /* KME_TOMB_EMPTY / _LIVE / _GONE (an open-addressing hash table) */
    bool seen;     /* the peer announced it on the current connection */
};
enum { KME_TOMB_EMPTY = 0, KME_TOMB_LIVE = 1, KME_TOMB_GONE = 2 };

/* Follower: an allocation delivered to the application whose ACK the leader may not have
 * processed (the peer connection may drop with it). A re-sent ALLOC of the same mapping is
 * answered OK ("delivered here"), so the leader delivers it too. Dropped once the leader
 * echoes a heartbeat mark at or past ack_mark. */
struct kme_dmemo {
    struct qkd_ksid ksid;
    uint32_t index, len;
    uint64_t offset;
    uint64_t ack_mark;
};

/* A follower's ALLOC_REQ a leader could not serve yet (ring empty). */
struct kme_preq {
    struct qkd_ksid ksid;
    uint32_t index;
    uint32_t count; /* index and count - 1 indices ahead */
};

struct kme_link {
    struct kme *kme;
    int idx;
    char peer[KME_PEER_NAME_MAX];
    uint8_t peer_uuid[16];
    enum kme_role role; /* this node's role on the link */
    char ring_name[128];
    char addr[128]; /* follower: the leader's peer-sync address */
    uint64_t skr_cfg;
    struct qkd_ring *ring;
    uint64_t ring_timer;
    uint64_t ring_check_timer;
    uint64_t ring_floor; /* a re-created ring is attached only from this offset on */
    bool floor_warned;
    uint64_t alloc_next; /* leader: next ring offset to allocate */
    /* key bytes held for streams no application here attached (at most
     * --max-unattached-bytes; beyond it the follower refuses an ALLOC, the leader an ALLOC_REQ,
     * for now), and how many indices the follower refused so (logged once per ALLOC run) */
    uint64_t held_unattached;
    uint64_t unattached_refused;
    /* peer sync */
    struct kme_pconn *pc; /* the connection that said HELLO, or NULL */
    bool peer_up;
    struct kme_pconn *dialing;
    uint64_t dial_timer;
    uint32_t backoff_ms;
    uint64_t hb_timer;
    /* leader: allocations the follower has not confirmed, in allocation order */
    struct kme_alloc *aq_head, *aq_tail;
    struct kme_preq *preqs;
    size_t npreqs, preq_cap;
    /* heartbeat marks: follower: the last mark sent and the last echo received; leader: the
     * last mark received (echoed in its heartbeats) */
    uint64_t hb_mark, hb_echo;
    /* follower: delivered allocations the leader may not have the ACK of, oldest first */
    struct kme_dmemo *memo;
    size_t nmemo, memo_cap;
    /* follower: ALLOC runs waiting for ring bytes, in order (a partly taken run is trimmed) */
    struct kme_pmsg *pend;
    size_t npend, pend_cap;
    uint64_t poll_timer;
    /* waiting GET_KEY calls on this link */
    struct kme_waiter *waiters;
    size_t nwaiters;
    uint32_t nrest_waiting; /* ETSI 014 calls waiting on this link (rest.c) */
    /* KSIDs closed here whose peer end may live (never attached again): a hash table of
     * tomb_cap slots (a power of two), ntomb live, tomb_used live or gone */
    struct kme_tomb *tombs;
    size_t ntomb, tomb_cap, tomb_used;
    uint64_t tomb_seq;
    uint64_t m_keys_delivered; /* metrics: keys delivered by GET_KEY (getkey.c) */
    uint64_t m_bits_delivered; /* ... and their bits */
    uint64_t m_keys_014;       /* metrics: ETSI 014 keys delivered at this node (rest.c) */
    uint64_t m_bits_014;       /* ... and their bits */
    bool tomb_sweep; /* peer up: tombs the peer does not announce before its first heartbeat go */
};

int kme_link_parse(struct kme *k, struct kme_link *l, const char *spec, char *err, size_t n);
void kme_link_start(struct kme_link *l);
void kme_link_stop(struct kme_link *l);
uint64_t kme_link_skr(const struct kme_link *l);
struct kme_link *kme_link_by_name(struct kme *k, const char *host);
/* Derives a node UUID from its name (SHA-256 based, version 8 bits). */
void kme_node_uuid(const char *name, uint8_t out[16]);
void kme_link_tomb_add(struct kme_link *l, const struct qkd_ksid *ksid);
bool kme_link_tomb_has(const struct kme_link *l, const struct qkd_ksid *ksid);
void kme_link_tomb_del(struct kme_link *l, const struct qkd_ksid *ksid);
/* The tombstone of ksid on any link of the node, or NULL. */
struct kme_link *kme_tomb_link(struct kme *k, const struct qkd_ksid *ksid);
/* Peer sync up: from now on tombs count as unseen until the peer announces them. */
void kme_link_tomb_sweep_start(struct kme_link *l);
/* The peer's first heartbeat on a connection: tombs it did not announce are dropped. */
void kme_link_tomb_sweep_end(struct kme_link *l);
/* The peer announced ksid (its end lives). */
void kme_link_tomb_seen(struct kme_link *l, const struct qkd_ksid *ksid);
/* Whether the link's ring is still the one its name names (checked before every allocation);
 * a ring removed or re-created underneath is detached (kme_link_ring_lost) and false returned. */
bool kme_link_ring_current(struct kme_link *l);
/* Stops serving from the link's ring (logged with why); a new ring of the name is attached
 * only once its consume offset reaches every offset read from this one. */
void kme_link_ring_lost(struct kme_link *l, const char *why);
/* Starts the ring poll timer when something waits for ring bytes. */
void kme_link_want_poll(struct kme_link *l);

#endif
