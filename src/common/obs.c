/* obs.c: the /metrics, /healthz and / endpoints of obs.h (docs/observability.md). */
#include "obs.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

void qkd_obs_unhealthy(struct qkd_obs_health *h, const char *fmt, ...)
{
    if (h->n >= QKD_OBS_MAX_REASONS) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->reasons[h->n], sizeof h->reasons[0], fmt, ap);
    va_end(ap);
    h->n++;
}

static void json_str(struct qkd_sbuf *b, const char *s)
{
    qkd_sbuf_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            qkd_sbuf_printf(b, "\\%c", *p);
        else if (*p < 0x20)
            qkd_sbuf_printf(b, "\\u%04x", *p);
        else
            qkd_sbuf_add(b, p, 1);
    }
    qkd_sbuf_puts(b, "\"");
}

static void common_metrics(struct qkd_sbuf *b, const struct qkd_obs *o)
{
    struct qkd_prom_label l[2] = {{"program", o->program}, {"node", o->node ? o->node : ""}};
    qkd_prom_family(b, "qkd_build_info", "gauge", "The daemon and its node name (always 1).");
    qkd_prom_sample(b, "qkd_build_info", l, 2, 1);
    qkd_prom_one(b, "qkd_process_start_time_seconds", "gauge",
                 "Start time of the process since the epoch in seconds.",
                 (double)(o->start_wall_ms / 1000));
    if (o->srv) {
        struct qkd_prom_label ml = {"listener", "metrics"};
        qkd_prom_family(b, "qkd_http_requests_total", "counter",
                        "HTTP requests answered by the metrics listener.");
        qkd_prom_sample(b, "qkd_http_requests_total", &ml, 1,
                        (double)qkd_http_server_requests(o->srv));
    }
}

void qkd_obs_handle(const struct qkd_http_req *req, struct qkd_http_resp *resp, void *arg)
{
    struct qkd_obs *o = arg;
    if (req->method != QKD_HTTP_GET && req->method != QKD_HTTP_HEAD) {
        resp->status = 405;
        qkd_sbuf_puts(&resp->body, "405 Method Not Allowed\n");
        return;
    }
    if (strcmp(req->path, "/metrics") == 0) {
        resp->content_type = QKD_PROM_CONTENT_TYPE;
        common_metrics(&resp->body, o);
        o->metrics(&resp->body, o->arg);
    } else if (strcmp(req->path, "/healthz") == 0) {
        struct qkd_obs_health h = {0};
        o->health(&h, o->arg);
        resp->content_type = "application/json";
        resp->status = h.n ? 503 : 200;
        qkd_sbuf_puts(&resp->body,
                      h.n ? "{\"status\":\"unavailable\",\"reasons\":[" : "{\"status\":\"ok\"");
        for (int i = 0; i < h.n; i++) {
            if (i) qkd_sbuf_puts(&resp->body, ",");
            json_str(&resp->body, h.reasons[i]);
        }
        qkd_sbuf_puts(&resp->body, h.n ? "]}\n" : "}\n");
    } else if (strcmp(req->path, "/") == 0) {
        resp->content_type = "text/html; charset=utf-8";
        qkd_sbuf_puts(&resp->body, qkd_status_page_html);
    } else {
        resp->status = 404;
        qkd_sbuf_puts(&resp->body, "404 Not Found: try /metrics, /healthz or /\n");
    }
}

struct qkd_http_server *qkd_obs_start(struct qkd_loop *loop, const char *addr, struct qkd_obs *obs,
                                      char *err, size_t errlen)
{
    struct qkd_http_server_cfg cfg = {.addr = addr, .name = "metrics"};
    obs->start_wall_ms = qkd_wall_ms();
    obs->srv = qkd_http_server_new(loop, &cfg, qkd_obs_handle, obs, err, errlen);
    if (obs->srv)
        log_info("metrics on http://%s (/metrics, /healthz, /) port %d", addr,
                 qkd_http_server_port(obs->srv));
    return obs->srv;
}
