/* qos.c: QoS negotiation against the server's limits; see qos.h. */
#include "qos.h"

#include <string.h>
#include <strings.h>

void kme_qos_limits_default(struct kme_qos_limits *lim)
{
    lim->key_chunk_size = KME_QOS_DEF_CHUNK;
    lim->max_bps = 0;
    lim->min_bps = 0;
    lim->jitter = KME_QOS_DEF_JITTER;
    lim->priority = KME_QOS_DEF_PRIORITY;
    lim->timeout = KME_QOS_DEF_TIMEOUT;
    lim->ttl = KME_QOS_DEF_TTL;
}

static uint32_t cap32(uint64_t v)
{
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* The effective bps limit: the configured one, else the link SKR, else none. */
static uint32_t bps_limit(uint32_t configured, uint64_t skr)
{
    if (configured) return configured;
    if (skr) return cap32(skr);
    return UINT32_MAX;
}

static bool clamp_max(uint32_t *v, uint32_t lim)
{
    if (*v > lim) {
        *v = lim;
        return true;
    }
    return false;
}

uint32_t kme_qos_negotiate(const struct qkd_qos *req, const struct kme_qos_limits *lim,
                           const struct kme_qos_ctx *ctx, struct qkd_qos *out)
{
    bool unmet = false;
    *out = *req;
    out->metadata_mimetype[QKD_MIMETYPE_MAX - 1] = 0;

    if (out->key_chunk_size == 0) {
        out->key_chunk_size = lim->key_chunk_size;
        unmet = true;
    }
    unmet |= clamp_max(&out->key_chunk_size, lim->key_chunk_size);
    uint32_t min_chunk =
        ctx->min_chunk < lim->key_chunk_size ? ctx->min_chunk : lim->key_chunk_size;
    if (out->key_chunk_size < min_chunk) {
        out->key_chunk_size = min_chunk; /* the window's bitmap stays bounded */
        unmet = true;
    }

    uint32_t max_lim = bps_limit(lim->max_bps, ctx->skr_bps);
    uint32_t min_lim = bps_limit(lim->min_bps, ctx->skr_bps);
    if (out->max_bps == 0) out->max_bps = max_lim == UINT32_MAX ? 0 : max_lim;
    unmet |= clamp_max(&out->max_bps, max_lim);
    unmet |= clamp_max(&out->min_bps, min_lim);
    if (out->max_bps && out->min_bps > out->max_bps) {
        out->min_bps = out->max_bps;
        unmet = true;
    }
    if (ctx->admission && ctx->skr_bps) {
        uint64_t room = ctx->skr_bps > ctx->min_bps_inuse ? ctx->skr_bps - ctx->min_bps_inuse : 0;
        if (out->min_bps > room) {
            out->min_bps = cap32(room);
            unmet = true;
        }
    }
    unmet |= clamp_max(&out->jitter, lim->jitter);
    if (out->priority < lim->priority) {
        out->priority = lim->priority;
        unmet = true;
    }
    unmet |= clamp_max(&out->timeout, lim->timeout);
    if (out->ttl == 0) out->ttl = lim->ttl;
    unmet |= clamp_max(&out->ttl, lim->ttl);

    /* application/json is mandatory and never rejected; an empty mimetype means "no metadata". */
    if (out->metadata_mimetype[0] != 0 &&
        strcasecmp(out->metadata_mimetype, QKD_MIMETYPE_JSON) != 0) {
        memset(out->metadata_mimetype, 0, sizeof(out->metadata_mimetype));
        memcpy(out->metadata_mimetype, QKD_MIMETYPE_JSON, sizeof(QKD_MIMETYPE_JSON));
        unmet = true;
    }
    return unmet ? QKD_STATUS_QOS_NOT_MET : QKD_STATUS_SUCCESS;
}
