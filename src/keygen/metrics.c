/* metrics.c: the keygen's metrics and health (docs/observability.md, docs/keygen.md): link up
 * and SKR from the ring header this end writes, distilled and dropped totals counted where
 * blocks are appended or discarded (link.c, sender.c, receiver.c), the emulated QBER, and the
 * receiver listener's connections and TLS handshake failures. */
#include "metrics.h"

#include <stdio.h>

#include "kg.h"
#include "listener.h"
#include "obs.h"
#include "sock.h"

static void kg_metrics(struct qkd_sbuf *b, void *arg)
{
    struct kg *kg = arg;
    struct qkd_ring_stats st;
    qkd_ring_get_stats(kg->ring, &st);
    struct qkd_prom_label l = {"link", kg->cfg.peer_name ? kg->cfg.peer_name : "peer"};
    uint64_t now = qkd_now_ms();
    if (kg->m_rate_ms == 0) {
        kg->m_rate_ms = now;
        kg->m_rate_bytes = kg->bytes_delivered + kg->bytes_dropped;
    } else if (now - kg->m_rate_ms >= KG_METRICS_RATE_MS) { /* measured over >= 1 s */
        kg->m_rate_bps = (double)(kg->bytes_delivered + kg->bytes_dropped - kg->m_rate_bytes) *
                         8000.0 / (double)(now - kg->m_rate_ms);
        kg->m_rate_ms = now;
        kg->m_rate_bytes = kg->bytes_delivered + kg->bytes_dropped;
    }
#define ONE(name, type, help, v)                                                                   \
    do {                                                                                           \
        qkd_prom_family(b, name, type, help);                                                      \
        qkd_prom_sample(b, name, &l, 1, (double)(v));                                              \
    } while (0)
    ONE("qkd_link_up", "gauge", "1 when the emulated QKD link is up.", st.link_up);
    ONE("qkd_link_outage", "gauge", "1 inside an emulated outage window.", kg->outage);
    ONE("qkd_ring_capacity_bytes", "gauge", "Capacity of the key ring this end fills.",
        qkd_ring_capacity(kg->ring));
    ONE("qkd_ring_available_bytes", "gauge", "Key buffered in the ring, not yet consumed.",
        qkd_ring_write_offset(kg->ring) - qkd_ring_consume_offset(kg->ring));
    ONE("qkd_distilled_bits_total", "counter", "Key bits distilled into the ring since start.",
        kg->bytes_delivered * 8);
    ONE("qkd_distilled_blocks_total", "counter", "Key blocks distilled since start.",
        kg->blocks_delivered);
    ONE("qkd_dropped_bits_total", "counter", "Key bits dropped (ring full) since start.",
        kg->bytes_dropped * 8);
    ONE("qkd_skr_configured_bits_per_second", "gauge", "The link's configured secret key rate.",
        kg->link_skr_bps ? kg->link_skr_bps : kg->cfg.skr_bps);
    ONE("qkd_skr_target_bits_per_second", "gauge", "Secret key rate after the emulated QBER.",
        kg->skr_current_bps);
    ONE("qkd_skr_measured_bits_per_second", "gauge",
        "Secret key rate distilled (kept or dropped), measured between scrapes >= 1 s apart.",
        st.link_up ? kg->m_rate_bps : 0);
    ONE("qkd_qber_ratio", "gauge", "Emulated quantum bit error rate (0..1).",
        kg->cfg.qber_pct / 100.0);
    if (kg->lst) {
        struct qkd_prom_label ll = {"listener", "keygen"};
        qkd_prom_family(b, "qkd_connections", "gauge", "Open connections per listener.");
        qkd_prom_sample(b, "qkd_connections", &ll, 1, qkd_listener_count(kg->lst));
        struct qkd_conn_hs_group *g = qkd_listener_hs_group(kg->lst);
        qkd_prom_family(b, "qkd_tls_handshake_failures_total", "counter",
                        "Failed TLS handshakes per listener.");
        qkd_prom_sample(b, "qkd_tls_handshake_failures_total", &ll, 1, g ? (double)g->failed : 0);
    }
#undef ONE
}

static void kg_health(struct qkd_obs_health *h, void *arg)
{
    struct kg *kg = arg;
    struct qkd_ring_stats st;
    qkd_ring_get_stats(kg->ring, &st);
    if (!st.link_up)
        qkd_obs_unhealthy(h, "link to %s down%s", kg->cfg.peer_name ? kg->cfg.peer_name : "peer",
                          kg->outage ? " (emulated outage)" : "");
}

int kg_metrics_start(struct kg *kg, char *err, size_t n)
{
    if (!kg->cfg.metrics_listen) return 0;
    kg->m_rate_ms = qkd_now_ms(); /* the measured SKR counts from here */
    kg->m_rate_bytes = kg->bytes_delivered + kg->bytes_dropped;
    kg->obs = (struct qkd_obs){.program = "qkd-keygen",
                               .node = kg->cfg.sender ? "sender" : "receiver",
                               .metrics = kg_metrics,
                               .health = kg_health,
                               .arg = kg};
    if (!qkd_obs_start(kg->loop, kg->cfg.metrics_listen, &kg->obs, err, n)) return -1;
    if (kg->cfg.metrics_port_file &&
        qkd_write_port_file(kg->cfg.metrics_port_file, qkd_http_server_port(kg->obs.srv)) != 0) {
        snprintf(err, n, "cannot write --metrics-port-file %s", kg->cfg.metrics_port_file);
        return -1;
    }
    return 0;
}

void kg_metrics_stop(struct kg *kg)
{
    qkd_http_server_free(kg->obs.srv);
    kg->obs.srv = NULL;
}
