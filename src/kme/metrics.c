/* metrics.c: the key server's metrics and health (docs/observability.md): ring gauges and
 * distillation totals read from each link's ring header, keys and bits delivered counted in
 * getkey.c where GET_KEY succeeds, waiting calls, open streams, peer sync, and the connections
 * and TLS handshake failures of the ETSI 004 and peer-sync listeners. No key bytes, no KSIDs. */
#include "metrics.h"

#include <stdio.h>
#include <string.h>

#include "kme.h"
#include "listener.h"
#include "log.h"
#include "obs.h"
#include "rest.h"
#include "ring.h"

static void count_stream(struct kme_stream *s, void *arg)
{
    uint64_t *per_link = arg;
    if (s->link) per_link[s->link->idx]++;
}

/* The ring's link is up when its writer says so and its heartbeat is recent. */
static bool ring_link_up(const struct kme_link *l, const struct qkd_ring_stats *st)
{
    uint64_t now = qkd_wall_ms();
    return l->ring && st->link_up && st->heartbeat_ms + KME_WRITER_STALE_MS > now;
}

#define FAM(n, t, h) qkd_prom_family(b, n, t, h)

static void kme_metrics(struct qkd_sbuf *b, void *arg)
{
    struct kme *k = arg;
    struct qkd_ring_stats st[KME_MAX_LINKS];
    struct qkd_prom_label ll[KME_MAX_LINKS][2], l14[KME_MAX_LINKS][2];
    uint64_t streams[KME_MAX_LINKS] = {0};
    kme_streams_foreach(&k->streams, count_stream, streams);
    for (int i = 0; i < k->nlinks; i++) {
        memset(&st[i], 0, sizeof st[i]);
        if (k->links[i].ring) qkd_ring_get_stats(k->links[i].ring, &st[i]);
        ll[i][0] = (struct qkd_prom_label){"link", k->links[i].peer};
        ll[i][1] = (struct qkd_prom_label){"api", "004"};
        l14[i][0] = ll[i][0];
        l14[i][1] = (struct qkd_prom_label){"api", "014"};
    }
#define PER_LINK(name, type, help, expr)                                                           \
    do {                                                                                           \
        FAM(name, type, help);                                                                     \
        for (int i = 0; i < k->nlinks; i++) {                                                      \
            const struct kme_link *l = &k->links[i];                                               \
            (void)l;                                                                               \
            qkd_prom_sample(b, name, ll[i], 1, (double)(expr));                                    \
        }                                                                                          \
    } while (0)
    PER_LINK("qkd_ring_attached", "gauge", "1 when the link's ring is attached.", l->ring != NULL);
    PER_LINK("qkd_ring_capacity_bytes", "gauge", "Capacity of the link's key ring.",
             l->ring ? qkd_ring_capacity(l->ring) : 0);
    PER_LINK("qkd_ring_available_bytes", "gauge", "Key buffered in the ring, not yet consumed.",
             l->ring ? qkd_ring_write_offset(l->ring) - qkd_ring_consume_offset(l->ring) : 0);
    PER_LINK("qkd_ring_consumed_bytes_total", "counter", "Ring bytes consumed (the ring's offset).",
             l->ring ? qkd_ring_consume_offset(l->ring) : 0);
    PER_LINK("qkd_distilled_bits_total", "counter", "Key bits distilled into the ring.",
             l->ring ? qkd_ring_write_offset(l->ring) * 8 : 0);
    PER_LINK("qkd_dropped_bits_total", "counter", "Key bits dropped by the keygen (ring full).",
             st[i].bytes_dropped * 8);
    PER_LINK("qkd_delivered_bits_total", "counter", "Key bits delivered to applications.",
             l->m_bits_delivered + l->m_bits_014);
    PER_LINK("qkd_skr_configured_bits_per_second", "gauge", "Configured secret key rate.",
             kme_link_skr(l));
    PER_LINK("qkd_skr_measured_bits_per_second", "gauge",
             "Secret key rate being distilled (after the QBER), as the keygen reports it.",
             ring_link_up(l, &st[i]) ? st[i].skr_current_bps : 0);
    PER_LINK("qkd_link_up", "gauge",
             "1 when the QKD link is up (keygen says so, heartbeat recent).",
             ring_link_up(l, &st[i]));
    FAM("qkd_keys_delivered_total", "counter", "Keys delivered per link and API.");
    for (int i = 0; i < k->nlinks; i++) {
        qkd_prom_sample(b, "qkd_keys_delivered_total", ll[i], 2,
                        (double)k->links[i].m_keys_delivered);
        if (k->rest)
            qkd_prom_sample(b, "qkd_keys_delivered_total", l14[i], 2,
                            (double)k->links[i].m_keys_014);
    }
    PER_LINK("qkd_streams_open", "gauge", "Key streams open on the link.", streams[i]);
    PER_LINK("qkd_waiting_calls", "gauge", "GET_KEY calls waiting for key.", l->nwaiters);
    FAM("qkd_peer_sync_up", "gauge", "1 when peer sync with the link's peer key server is up.");
    for (int i = 0; i < k->nlinks; i++) {
        struct qkd_prom_label pl[2] = {{"peer", k->links[i].peer}, {"link", k->links[i].peer}};
        qkd_prom_sample(b, "qkd_peer_sync_up", pl, 2, k->links[i].peer_up);
    }
#undef PER_LINK
    struct {
        const char *name;
        struct qkd_listener *l;
    } ls[2] = {{"etsi004", k->etsi ? qkd_etsi_srv_listener(k->etsi) : NULL}, {"peer", k->peer_lst}};
    FAM("qkd_connections", "gauge", "Open connections per listener.");
    for (int i = 0; i < 2; i++)
        if (ls[i].l) {
            struct qkd_prom_label lb = {"listener", ls[i].name};
            qkd_prom_sample(b, "qkd_connections", &lb, 1, qkd_listener_count(ls[i].l));
        }
    if (k->rest) {
        struct qkd_prom_label lb = {"listener", "etsi014"};
        qkd_prom_sample(b, "qkd_connections", &lb, 1, kme_rest_conns(k));
    }
    FAM("qkd_tls_handshake_failures_total", "counter", "Failed TLS handshakes per listener.");
    for (int i = 0; i < 2; i++)
        if (ls[i].l) {
            struct qkd_prom_label lb = {"listener", ls[i].name};
            struct qkd_conn_hs_group *g = qkd_listener_hs_group(ls[i].l);
            qkd_prom_sample(b, "qkd_tls_handshake_failures_total", &lb, 1, g ? g->failed : 0);
        }
    if (k->rest) {
        struct qkd_prom_label lb = {"listener", "etsi014"};
        qkd_prom_sample(b, "qkd_tls_handshake_failures_total", &lb, 1,
                        (double)kme_rest_handshake_failures(k));
    }
    kme_rest_metrics(b, k);
}

static void kme_health(struct qkd_obs_health *h, void *arg)
{
    struct kme *k = arg;
    for (int i = 0; i < k->nlinks; i++) {
        const struct kme_link *l = &k->links[i];
        if (!l->ring) qkd_obs_unhealthy(h, "link %s: ring %s not attached", l->peer, l->ring_name);
        if (!l->peer_up) qkd_obs_unhealthy(h, "link %s: peer sync down", l->peer);
    }
}

int kme_metrics_start(struct kme *k, char *err, size_t n)
{
    if (!k->cfg.metrics_listen) return 0;
    k->obs = (struct qkd_obs){.program = "qkd-kme",
                              .node = k->cfg.node,
                              .metrics = kme_metrics,
                              .health = kme_health,
                              .arg = k};
    return qkd_obs_start(k->loop, k->cfg.metrics_listen, &k->obs, err, n) ? 0 : -1;
}

void kme_metrics_stop(struct kme *k)
{
    qkd_http_server_free(k->obs.srv);
    k->obs.srv = NULL;
}
