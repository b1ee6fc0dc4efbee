/* api.h: the ETSI 004 calls OPEN_CONNECT and CLOSE and the peer's stream messages
 * (api.c, docs/kme.md). GET_KEY is getkey.h's. */
#ifndef KME_API_H
#define KME_API_H

#include "peer_msg.h"
#include "qkd/types.h"

struct kme;
struct kme_client;
struct kme_link;

void kme_open_connect(struct kme *k, struct kme_client *cl, const struct qkd_open_req *o);
void kme_close(struct kme *k, struct kme_client *cl, const struct qkd_close_req *c);
void kme_on_announce(struct kme_link *l, const struct kme_pmsg *m);
void kme_on_attach(struct kme_link *l, const struct kme_pmsg *m);
void kme_on_close(struct kme_link *l, const struct kme_pmsg *m);

#endif
