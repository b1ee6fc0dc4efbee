/* qos.h: QoS negotiation of OPEN_CONNECT against the server's limits (docs/kme.md, "QoS limits"):
 * each unmet field is replaced by the closest value the server can give and the status
 * becomes 7. Pure functions. */
#ifndef KME_QOS_H
#define KME_QOS_H

#include <stdbool.h>
#include <stdint.h>

#include "qkd/types.h"

/* The most the server grants per field. max_bps / min_bps 0 = "the link's SKR". */
struct kme_qos_limits {
    uint32_t key_chunk_size; /* also the default for a requested chunk of 0 */
    uint32_t max_bps;
    uint32_t min_bps;
    uint32_t jitter;
    uint32_t priority; /* best (lowest) priority offered */
    uint32_t timeout;  /* ms */
    uint32_t ttl;      /* s */
};

#define KME_QOS_DEF_CHUNK    1024u
#define KME_QOS_DEF_JITTER   1000000u
#define KME_QOS_DEF_PRIORITY 0u
#define KME_QOS_DEF_TIMEOUT  600000u
#define KME_QOS_DEF_TTL      86400u

void kme_qos_limits_default(struct kme_qos_limits *lim);

struct kme_qos_ctx {
    uint64_t skr_bps;       /* the link's secret key rate, 0 = unknown (no bps cap) */
    bool admission;         /* admission control on */
    uint64_t min_bps_inuse; /* sum of Min_bps of the link's open streams */
    uint32_t min_chunk;     /* smallest Key_chunk_size granted (0 = none): the window in
                               chunks stays within --max-window-chunks */
};

/* Writes the granted QoS into out. Returns QKD_STATUS_SUCCESS when every field was met, else
 * QKD_STATUS_QOS_NOT_MET. Fields of 0 that mean "server's choice" (Max_bps, TTL) are filled
 * without counting as unmet; Key_chunk_size 0 counts as unmet (the standard requires a
 * size). A Key_chunk_size below ctx->min_chunk is raised to it (unmet, at most the limit).
 * The Timeout 0 case (status 6) is decided by the caller before. */
uint32_t kme_qos_negotiate(const struct qkd_qos *req, const struct kme_qos_limits *lim,
                           const struct kme_qos_ctx *ctx, struct qkd_qos *out);

#endif
