/* obs.h: the metrics endpoint every daemon serves with --metrics-listen (docs/observability.md):
 * GET /metrics (Prometheus text 0.0.4), GET /healthz (200 or 503 with reasons in JSON) and GET /
 * (the self-contained status page of status_page.c), on the HTTP layer of http.h. */
#ifndef QKD_OBS_H
#define QKD_OBS_H

#include "http.h"
#include "prom.h"

#define QKD_OBS_MAX_REASONS 16

struct qkd_obs_health {
    int n;
    char reasons[QKD_OBS_MAX_REASONS][160];
};
/* Adds one reason the daemon does not serve (no key bytes or KSIDs, ever). */
void qkd_obs_unhealthy(struct qkd_obs_health *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

struct qkd_obs {
    const char *program; /* "qkd-kme", ... (page title, qkd_build_info) */
    const char *node;    /* node name or "" */
    void (*metrics)(struct qkd_sbuf *out, void *arg);
    void (*health)(struct qkd_obs_health *h, void *arg);
    void *arg;
    uint64_t start_wall_ms;
    struct qkd_http_server *srv;
};

/* Starts serving on addr; NULL with the reason in err. obs must outlive the server. */
struct qkd_http_server *qkd_obs_start(struct qkd_loop *loop, const char *addr, struct qkd_obs *obs,
                                      char *err, size_t errlen);
/* The handler (tests drive it directly). */
void qkd_obs_handle(const struct qkd_http_req *req, struct qkd_http_resp *resp, void *arg);
/* The status page's HTML. */
extern const char qkd_status_page_html[];

#endif
