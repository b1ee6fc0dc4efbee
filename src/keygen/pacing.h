/* pacing.h: the keygen sender's token bucket. Key is "distilled" at the secret key rate
 * (bytes/s = SKR bits/s / 8) continuously; the sender's timer takes blocks from the bucket
 * several dozen times per second, so delivery is smooth (no one-second bursts). Blocks are
 * smaller than the configured block size when the rate is too low to send at least
 * KG_PACE_MIN_SENDS_PER_S blocks a second. Pure arithmetic on a caller-supplied clock. */
#ifndef KG_PACING_H
#define KG_PACING_H

#include <stddef.h>
#include <stdint.h>

#define KG_PACE_MIN_SENDS_PER_S 20u  /* when the rate allows (1 byte per send at least) */
#define KG_PACE_TICK_MS         10u  /* timer period of the sender */
#define KG_PACE_BURST_MS        100u /* tokens beyond this much accumulation are lost */

struct kg_pacer {
    double rate;   /* bytes per second */
    double tokens; /* bytes that may be sent now */
    double burst;  /* bucket size */
    size_t chunk;  /* size of one block */
    uint64_t last_ns;
    uint64_t lost; /* whole bytes lost to the bucket cap (sender stalled) */
};

/* skr_bps > 0, block_bytes > 0. The bucket starts empty at now_ns. */
void kg_pacer_init(struct kg_pacer *p, uint64_t skr_bps, size_t block_bytes, uint64_t now_ns);
/* Empties the bucket and restarts the clock (e.g. when the link comes up). */
void kg_pacer_restart(struct kg_pacer *p, uint64_t now_ns);
/* Adds the tokens earned since the last call. */
void kg_pacer_refill(struct kg_pacer *p, uint64_t now_ns);
/* Takes one block's worth if available: returns its size, or 0 when the bucket holds less. */
size_t kg_pacer_take(struct kg_pacer *p);

#endif
