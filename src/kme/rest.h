/* rest.h: the key server's ETSI GS QKD 014 listener (rest.c, docs/etsi014.md): HTTPS on the
 * project's TLS setup, the SAE directory, status / enc_keys / dec_keys, and the calls that wait
 * for key or for the peer key server. */
#ifndef KME_REST_H
#define KME_REST_H

#include <stddef.h>
#include <stdint.h>

struct kme;
struct kme_link;

/* Checks the settings and the SAE directory (0, or -1 with err naming the option). */
int kme_rest_config_check(struct kme *k, char *err, size_t n);
/* Starts the listener when --etsi014-listen is set (0, or -1 with err). */
int kme_rest_start(struct kme *k, char *err, size_t n);
/* Answers nothing more: closes the listener and every connection, wipes held keys. */
void kme_rest_stop(struct kme *k);
int kme_rest_port(const struct kme *k);
/* Metrics (metrics.c): answers per call and status, connections, failed handshakes. */
struct qkd_sbuf;
void kme_rest_metrics(struct qkd_sbuf *b, const struct kme *k);
uint32_t kme_rest_conns(const struct kme *k);
uint64_t kme_rest_handshake_failures(const struct kme *k);
/* Re-evaluates the calls waiting on link l (key, allocation or peer state changed). */
void kme_rest_wake(struct kme_link *l);
/* Follower: the peer connection changed; waiting calls ask the leader again. */
void kme_rest_unsend(struct kme_link *l);

#endif
