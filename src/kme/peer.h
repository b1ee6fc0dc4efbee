/* peer.h: peer-sync connections between the key servers of a link (peer.c, docs/kme.md). */
#ifndef KME_PEER_H
#define KME_PEER_H

#include <stddef.h>
#include <stdint.h>

#include "peer_msg.h"
#include "qkd/types.h"

struct kme;
struct kme_link;
struct kme_stream;

int kme_peer_listen(struct kme *k, char *err, size_t n);
void kme_peer_start(struct kme_link *l);
void kme_peer_stop_all(struct kme *k);
/* Queues a message to the link's peer; returns 0 if sent, -1 when the peer is down. */
int kme_peer_send(struct kme_link *l, const struct kme_pmsg *m);
void kme_peer_announce(struct kme_link *l, struct kme_stream *s);

void kme_peer_send_ksid(struct kme_link *l, uint8_t type, const struct qkd_ksid *ksid);

#endif
