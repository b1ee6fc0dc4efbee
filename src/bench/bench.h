/* bench.h: qkd-bench, the load generator and benchmark for the key servers and key rings.
 * Loads are bounded by both time and count; results are printed as numbers. */
#ifndef QKD_BENCH_H
#define QKD_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#include "qkd/qkd004.h"

#define BENCH_MAX_CONNECTIONS 256
#define BENCH_MAX_SECONDS     3600
#define BENCH_MAX_COUNT       100000000u
#define BENCH_MAX_ERRORS_ROW  100 /* a worker gives up after this many failures in a row */

/* Latency histogram: log2 buckets of microseconds, each split in BENCH_SUB linear parts
 * (error under 1/BENCH_SUB). */
#define BENCH_SUB     16
#define BENCH_BUCKETS (40 * BENCH_SUB)
struct bench_hist {
    uint64_t n;
    uint64_t max_us;
    uint64_t counts[BENCH_BUCKETS];
};
void bench_hist_add(struct bench_hist *h, uint64_t us);
void bench_hist_merge(struct bench_hist *into, const struct bench_hist *from);
/* Latency (us) at quantile q in [0,1]: the upper edge of the bucket holding it. */
uint64_t bench_hist_quantile(const struct bench_hist *h, double q);

#define BENCH_STATUS_SLOTS (QKD_STATUS_MAX + 2) /* 0..8, then "other" */
struct bench_result {
    struct bench_hist lat;
    uint64_t ops;
    uint64_t bytes;
    uint64_t status[BENCH_STATUS_SLOTS];
    uint64_t transport_errors;
};

struct bench_load_cfg {
    struct qkd004_config conn;
    uint32_t connections;
    uint32_t seconds;
    uint32_t count; /* keys (getkey) or pairs (open-close) in all */
    uint32_t chunk_size;
    bool per_call_connection;
    const char *source, *destination;
};

struct bench_idle_cfg {
    struct qkd004_config conn;
    uint32_t connections;  /* idle TLS connections to hold */
    uint32_t hold_seconds; /* how long to hold them after the last handshake */
    uint32_t probes;       /* new-client probes before and while they are held */
    int server_pid;        /* for the server's RSS (0 = not reported) */
    const char *source, *destination;
};
#define BENCH_MAX_IDLE 100000

/* Runs the GET_KEY load / the OPEN+CLOSE load; prints the numbers. Returns an exit status. */
int bench_getkey(const struct bench_load_cfg *cfg);
int bench_open_close(const struct bench_load_cfg *cfg);
/* Holds N idle TLS connections; prints the server's RSS and a new client's latency. */
int bench_idle(const struct bench_idle_cfg *cfg);
/* Watches a ring for seconds without consuming; prints delivered bits/s vs the SKR. */
int bench_ring(const char *name, uint32_t seconds);
/* qkd-bench rest (bench_rest.c): parses its own options, runs, prints. Returns an exit status. */
int bench_cmd_rest(int argc, char **argv);

#endif
