/* alloc.h: the leader/follower allocation protocol of a link (alloc.c, docs/kme.md): the
 * leader allocates ring bytes to (KSID, index) and tells the follower, the follower takes the
 * same bytes and acknowledges; allocations ahead for sequential calls. */
#ifndef KME_ALLOC_H
#define KME_ALLOC_H

#include <stdbool.h>
#include <stdint.h>

#include "peer_msg.h"

struct kme;
struct kme_alloc;
struct kme_link;
struct kme_stream;

/* How many chunks a miss at this node allocates (or asks for) now, at least 1. */
uint32_t kme_alloc_ahead_max(const struct kme *k, const struct kme_stream *s);
/* Leader: allocates index (and up to want - 1 indices ahead) from the ring and sends the ALLOC.
 * Returns the allocation of index, or NULL when the ring does not hold its chunk yet. */
struct kme_alloc *kme_alloc_leader(struct kme_link *l, struct kme_stream *s, uint32_t index,
                                   uint32_t want);
/* Leader: allocates exactly index .. index + n - 1 (an ETSI 014 batch) when the ring holds all
 * of it and every index is open and unallocated; else nothing (NULL). */
struct kme_alloc *kme_alloc_leader_exact(struct kme_link *l, struct kme_stream *s, uint32_t index,
                                         uint32_t n);
/* Follower: asks the leader for exactly index .. index + count - 1 (an ETSI 014 batch). */
int kme_alloc_request_run(struct kme_link *l, const struct kme_stream *s, uint32_t index,
                          uint32_t count);
/* Follower: asks the leader for index (and indices ahead). Returns 0 if sent, -1 if not. */
int kme_alloc_request(struct kme_link *l, const struct kme_stream *s, uint32_t index);
/* a was delivered to the application (before it is freed): leaves the leader's unacked queue;
 * a follower remembers the mapping until the leader has its ACK. */
void kme_alloc_delivered(struct kme_link *l, const struct kme_stream *s, struct kme_alloc *a);
/* Takes an allocation off the leader's unacked queue. */
void kme_aq_remove(struct kme_link *l, struct kme_alloc *a);
/* Leader: the peer came up: re-send unacked allocations in order. */
void kme_alloc_resend(struct kme_link *l);
/* Leader: the peer came up: tell it what this end holds or delivered (GONE, LOST runs, the
 * acknowledged allocations), for a follower that restarted. */
void kme_alloc_sync(struct kme_link *l);
/* Follower: a GONE from the leader. */
void kme_on_gone(struct kme_link *l, const struct kme_pmsg *m);
/* Follower: the peer came up: re-send the ALLOC_REQs of waiting calls. */
void kme_alloc_rerequest(struct kme_link *l);
void kme_alloc_peer_down(struct kme_link *l);
void kme_on_alloc_req(struct kme_link *l, const struct kme_pmsg *m);
void kme_on_alloc(struct kme_link *l, const struct kme_pmsg *m);
void kme_on_alloc_ack(struct kme_link *l, const struct kme_pmsg *m);
/* A heartbeat from the peer carrying mark (see kme_pmsg.hb). */
void kme_alloc_on_heartbeat(struct kme_link *l, uint64_t mark);
/* The mark this node's next heartbeat carries. */
uint64_t kme_alloc_hb_mark(struct kme_link *l);
/* Ring poll: serve pending work that needed ring bytes. Returns whether some still waits. */
bool kme_alloc_poll(struct kme_link *l);

#endif
