/* metrics.c: the hybridization daemon's metrics and health (docs/observability.md,
 * docs/hybrid.md): keys per peer and combination method and the exchange duration histogram,
 * counted where an exchange ends (xchg.c), peer link state, streams, and the connections and
 * TLS handshake failures of its listeners. No key bytes, no KSIDs. */
#include "metrics.h"

#include <stdio.h>

#include "combiner.h"
#include "etsi_server.h"
#include "hyb.h"
#include "listener.h"
#include "sock.h"

static const double dur_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                    0.25,  0.5,    1,     2.5,  5,     10};

void hyb_metrics_exchange(struct hyb_xchg *x, bool ok, double seconds)
{
    struct hyb_peer *p = x->s->peer;
    if (!p) return;
    if (!ok) {
        p->m_failed++;
        return;
    }
    unsigned m = (unsigned)x->s->req.method;
    if (m < HYB_COMB_METHOD_COUNT) p->m_keys[m]++;
    if (p->m_dur.nb == 0)
        qkd_prom_hist_init(&p->m_dur, dur_bounds, (int)(sizeof dur_bounds / sizeof *dur_bounds));
    qkd_prom_hist_observe(&p->m_dur, seconds);
}

static void hyb_metrics(struct qkd_sbuf *b, void *arg)
{
    struct hyb *h = arg;
    qkd_prom_family(b, "qkd_hybrid_peer_up", "gauge", "1 when the peer link to the node is up.");
    for (size_t i = 0; i < h->npeers; i++) {
        struct qkd_prom_label l = {"peer", h->peers[i].cfg->name};
        qkd_prom_sample(b, "qkd_hybrid_peer_up", &l, 1, hyb_peer_up(&h->peers[i]));
    }
    qkd_prom_family(b, "qkd_hybrid_keys_total", "counter",
                    "Hybrid keys derived per peer and combination method.");
    for (size_t i = 0; i < h->npeers; i++)
        for (int m = 0; m < HYB_COMB_METHOD_COUNT; m++) {
            struct qkd_prom_label l[2] = {{"peer", h->peers[i].cfg->name},
                                          {"method", hyb_comb_method_name(m)}};
            qkd_prom_sample(b, "qkd_hybrid_keys_total", l, 2, (double)h->peers[i].m_keys[m]);
        }
    qkd_prom_family(b, "qkd_hybrid_key_failures_total", "counter",
                    "Hybrid exchanges that failed, per peer.");
    for (size_t i = 0; i < h->npeers; i++) {
        struct qkd_prom_label l = {"peer", h->peers[i].cfg->name};
        qkd_prom_sample(b, "qkd_hybrid_key_failures_total", &l, 1, (double)h->peers[i].m_failed);
    }
    qkd_prom_family(b, "qkd_hybrid_exchange_duration_seconds", "histogram",
                    "Duration of a hybrid key exchange, GET_KEY to derived key.");
    for (size_t i = 0; i < h->npeers; i++) {
        struct qkd_prom_label l = {"peer", h->peers[i].cfg->name};
        struct qkd_prom_hist empty;
        const struct qkd_prom_hist *hi = &h->peers[i].m_dur;
        if (hi->nb == 0) {
            qkd_prom_hist_init(&empty, dur_bounds, (int)(sizeof dur_bounds / sizeof *dur_bounds));
            hi = &empty;
        }
        qkd_prom_hist_write(b, "qkd_hybrid_exchange_duration_seconds", &l, 1, hi);
    }
    qkd_prom_one(b, "qkd_streams_open", "gauge", "Hybrid key streams open.", h->nstreams);
    qkd_prom_one(b, "qkd_waiting_calls", "gauge", "OPEN_CONNECT calls waiting for their peer.",
                 h->nopen_waiters);
    struct {
        const char *name;
        struct qkd_listener *l;
    } ls[3] = {{"etsi004", h->etsi ? qkd_etsi_srv_listener(h->etsi) : NULL},
               {"json", h->json_lst},
               {"peer", h->peer_lst}};
    qkd_prom_family(b, "qkd_connections", "gauge", "Open connections per listener.");
    for (int i = 0; i < 3; i++)
        if (ls[i].l) {
            struct qkd_prom_label l = {"listener", ls[i].name};
            qkd_prom_sample(b, "qkd_connections", &l, 1, qkd_listener_count(ls[i].l));
        }
    qkd_prom_family(b, "qkd_tls_handshake_failures_total", "counter",
                    "Failed TLS handshakes per listener.");
    for (int i = 0; i < 3; i++)
        if (ls[i].l) {
            struct qkd_prom_label l = {"listener", ls[i].name};
            struct qkd_conn_hs_group *g = qkd_listener_hs_group(ls[i].l);
            qkd_prom_sample(b, "qkd_tls_handshake_failures_total", &l, 1,
                            g ? (double)g->failed : 0);
        }
}

static void hyb_health(struct qkd_obs_health *hl, void *arg)
{
    struct hyb *h = arg;
    for (size_t i = 0; i < h->npeers; i++)
        if (!hyb_peer_up(&h->peers[i]))
            qkd_obs_unhealthy(hl, "peer %s: link down", h->peers[i].cfg->name);
}

int hyb_metrics_start(struct hyb *h, const char *addr, const char *port_file, char *err, size_t n)
{
    if (!addr) return 0;
    h->obs = (struct qkd_obs){.program = "qkd-hybrid",
                              .node = h->cfg->name,
                              .metrics = hyb_metrics,
                              .health = hyb_health,
                              .arg = h};
    if (!qkd_obs_start(h->loop, addr, &h->obs, err, n)) return -1;
    if (port_file && qkd_write_port_file(port_file, qkd_http_server_port(h->obs.srv)) != 0) {
        snprintf(err, n, "cannot write --metrics-port-file %s", port_file);
        return -1;
    }
    return 0;
}

void hyb_metrics_stop(struct hyb *h)
{
    qkd_http_server_free(h->obs.srv);
    h->obs.srv = NULL;
}
