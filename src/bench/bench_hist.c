/* bench_hist.c: qkd-bench's latency histogram (log2 buckets with linear sub-buckets, so the
 * memory is fixed whatever the run length) and its quantiles. */
#include "bench.h"

static unsigned hist_bucket(uint64_t us)
{
    if (us < BENCH_SUB) return (unsigned)us;
    unsigned e = 63u - (unsigned)__builtin_clzll(us); /* >= 4 */
    unsigned sub = (unsigned)((us >> (e - 4)) & (BENCH_SUB - 1));
    unsigned b = (e - 3) * BENCH_SUB + sub;
    return b < BENCH_BUCKETS ? b : BENCH_BUCKETS - 1;
}

static uint64_t hist_upper(unsigned b)
{
    if (b < BENCH_SUB) return b;
    unsigned e = b / BENCH_SUB + 3, sub = b % BENCH_SUB;
    return (((uint64_t)BENCH_SUB + sub + 1) << (e - 4)) - 1;
}

void bench_hist_add(struct bench_hist *h, uint64_t us)
{
    h->counts[hist_bucket(us)]++;
    h->n++;
    if (us > h->max_us) h->max_us = us;
}

void bench_hist_merge(struct bench_hist *into, const struct bench_hist *from)
{
    for (unsigned i = 0; i < BENCH_BUCKETS; i++)
        into->counts[i] += from->counts[i];
    into->n += from->n;
    if (from->max_us > into->max_us) into->max_us = from->max_us;
}

uint64_t bench_hist_quantile(const struct bench_hist *h, double q)
{
    if (h->n == 0) return 0;
    uint64_t rank = (uint64_t)(q * (double)h->n);
    if (rank >= h->n) rank = h->n - 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < BENCH_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen > rank) {
            uint64_t up = hist_upper(i);
            return up < h->max_us ? up : h->max_us;
        }
    }
    return h->max_us;
}
