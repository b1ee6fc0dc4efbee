/* metrics.h: the hybridization daemon's --metrics-listen endpoint (docs/observability.md). */
#ifndef HYB_METRICS_H
#define HYB_METRICS_H

#include <stdbool.h>
#include <stddef.h>

struct hyb;
struct hyb_xchg;
/* Serves /metrics, /healthz and / on addr (nothing when NULL); -1 on failure. */
int hyb_metrics_start(struct hyb *h, const char *addr, const char *port_file, char *err, size_t n);
void hyb_metrics_stop(struct hyb *h);
/* An exchange ended (xchg.c): counts its key or failure and its duration. */
void hyb_metrics_exchange(struct hyb_xchg *x, bool ok, double seconds);

#endif
