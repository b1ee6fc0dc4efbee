/* bench_ring.c: qkd-bench ring: attaches to a node's key ring as an observer (never reads or
 * consumes key bytes) and prints, every second and as a summary, the bits/s written into the
 * ring by the keygen and consumed from it by the key server, against the configured SKR. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "evloop.h"
#include "ring.h"

static void ring_sleep_until(uint64_t t_us)
{
    uint64_t now = qkd_now_us();
    if (t_us <= now) return;
    uint64_t d = t_us - now;
    struct timespec ts = {(time_t)(d / 1000000u), (long)(d % 1000000u) * 1000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

int bench_ring(const char *name, uint32_t seconds)
{
    struct qkd_ring *r = NULL;
    /* capacity 0: attach only, never create */
    int rc = qkd_ring_open_observer(name, &r);
    if (rc != QKD_RING_OK) {
        fprintf(stderr, "qkd-bench: cannot attach to ring %s: %s (%s)\n", name,
                qkd_ring_err_str(rc), qkd_ring_last_error());
        return 1;
    }
    struct qkd_ring_stats s0, s;
    qkd_ring_get_stats(r, &s0);
    uint64_t w0 = qkd_ring_write_offset(r), c0 = qkd_ring_consume_offset(r);
    uint64_t start = qkd_now_us(), wprev = w0, cprev = c0, dprev = s0.bytes_dropped;
    printf("qkd-bench ring %s: capacity %zu bytes, SKR %llu bits/s, link %s\n", name,
           qkd_ring_capacity(r), (unsigned long long)s0.skr_bps, s0.link_up ? "up" : "down");
    printf("%6s %14s %14s %14s %12s %8s %6s\n", "t(s)", "written b/s", "consumed b/s",
           "dropped b/s", "SKR b/s", "ratio", "link");
    for (uint32_t t = 1; t <= seconds; t++) {
        ring_sleep_until(start + (uint64_t)t * 1000000u);
        qkd_ring_get_stats(r, &s);
        uint64_t w = qkd_ring_write_offset(r), c = qkd_ring_consume_offset(r);
        double wb = 8.0 * (double)(w - wprev), cb = 8.0 * (double)(c - cprev);
        double db = 8.0 * (double)(s.bytes_dropped - dprev);
        printf("%6u %14.0f %14.0f %14.0f %12llu %8.3f %6s\n", t, wb, cb, db,
               (unsigned long long)s.skr_bps, s.skr_bps ? (wb + db) / (double)s.skr_bps : 0.0,
               s.link_up ? "up" : "down");
        fflush(stdout);
        wprev = w;
        cprev = c;
        dprev = s.bytes_dropped;
    }
    double secs = (double)(qkd_now_us() - start) / 1e6;
    qkd_ring_get_stats(r, &s);
    double wbps = 8.0 * (double)(wprev - w0) / secs;
    double cbps = 8.0 * (double)(cprev - c0) / secs;
    double dbps = 8.0 * (double)(s.bytes_dropped - s0.bytes_dropped) / secs;
    printf("summary: %.2f s, written %.0f bits/s, consumed %.0f bits/s, dropped %.0f bits/s, "
           "SKR %llu bits/s, delivered/SKR %.3f, blocks distilled %llu, dropped %llu\n",
           secs, wbps, cbps, dbps, (unsigned long long)s.skr_bps,
           s.skr_bps ? (wbps + dbps) / (double)s.skr_bps : 0.0,
           (unsigned long long)(s.blocks_distilled - s0.blocks_distilled),
           (unsigned long long)(s.blocks_dropped - s0.blocks_dropped));
    qkd_ring_close(r);
    return 0;
}
