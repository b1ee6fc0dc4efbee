/* metrics.h: the key server's --metrics-listen endpoint (docs/observability.md). */
#ifndef KME_METRICS_H
#define KME_METRICS_H

#include <stddef.h>

/* A ring whose writer has not written a heartbeat for this long counts as link down. */
#define KME_WRITER_STALE_MS 5000u

struct kme;
/* Serves /metrics, /healthz and / on cfg.metrics_listen (nothing when unset); -1 on failure. */
int kme_metrics_start(struct kme *k, char *err, size_t n);
void kme_metrics_stop(struct kme *k);

#endif
