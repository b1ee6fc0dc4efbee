/* getkey.h: the ETSI 004 call GET_KEY and the calls waiting for key (getkey.c, docs/kme.md). */
#ifndef KME_GETKEY_H
#define KME_GETKEY_H

#include <stdbool.h>
#include <stdint.h>

#include "qkd/types.h"

struct kme;
struct kme_client;
struct kme_link;

/* A waiting GET_KEY call. */
struct kme_waiter {
    struct kme_client *cl;
    struct kme_link *link;
    struct qkd_ksid ksid;
    uint32_t index;
    uint32_t metadata_size;
    uint64_t timer;
    bool req_sent; /* follower: ALLOC_REQ sent on the current peer connection */
    struct kme_waiter *prev, *next;
};

/* Runs a GET_KEY for cl: answers at once or queues a waiter (and pauses the connection). */
void kme_get_key(struct kme *k, struct kme_client *cl, const struct qkd_get_req *g);
/* Re-evaluates the waiting calls of a link (key, allocation or peer state changed). */
void kme_wake(struct kme_link *l);
/* Drops a waiter whose connection is going away (no answer). */
void kme_waiter_cancel(struct kme_waiter *w);
/* Answers every waiter on stream ksid with status (the stream went away). */
void kme_waiters_fail_stream(struct kme_link *l, const struct qkd_ksid *ksid, uint32_t status);
/* Answers the waiters on (ksid, index .. index + count - 1) with status. */
void kme_waiters_answer_run(struct kme_link *l, const struct qkd_ksid *ksid, uint32_t index,
                            uint32_t count, uint32_t status);
/* Follower: no waiter's ALLOC_REQ went out on the current peer connection (it changed). */
void kme_waiters_unsend(struct kme_link *l);

#endif
