/* metrics.h: the keygen's --metrics-listen endpoint (docs/observability.md). */
#ifndef KG_METRICS_H
#define KG_METRICS_H

#include <stddef.h>

#define KG_METRICS_RATE_MS 1000u /* measured SKR: over at least this long between scrapes */

struct kg;
int kg_metrics_start(struct kg *kg, char *err, size_t n);
void kg_metrics_stop(struct kg *kg);

#endif
