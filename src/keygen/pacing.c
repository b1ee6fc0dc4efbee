/* pacing.c: token bucket of the keygen sender (pacing.h). */
#include "pacing.h"

void kg_pacer_init(struct kg_pacer *p, uint64_t skr_bps, size_t block_bytes, uint64_t now_ns)
{
    p->rate = (double)skr_bps / 8.0;
    double per_send = p->rate / KG_PACE_MIN_SENDS_PER_S;
    size_t chunk = per_send < 1.0 ? 1 : (size_t)per_send;
    p->chunk = chunk < block_bytes ? chunk : block_bytes;
    p->burst = (double)p->chunk + p->rate * KG_PACE_BURST_MS / 1000.0;
    p->lost = 0;
    kg_pacer_restart(p, now_ns);
}

void kg_pacer_restart(struct kg_pacer *p, uint64_t now_ns)
{
    p->tokens = 0;
    p->last_ns = now_ns;
}

void kg_pacer_refill(struct kg_pacer *p, uint64_t now_ns)
{
    if (now_ns <= p->last_ns) return;
    p->tokens += p->rate * (double)(now_ns - p->last_ns) / 1e9;
    p->last_ns = now_ns;
    if (p->tokens > p->burst) {
        p->lost += (uint64_t)(p->tokens - p->burst);
        p->tokens = p->burst;
    }
}

size_t kg_pacer_take(struct kg_pacer *p)
{
    if (p->tokens < (double)p->chunk) return 0;
    p->tokens -= (double)p->chunk;
    return p->chunk;
}
