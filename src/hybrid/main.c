/* main.c: qkd-hybrid, a node's hybridization daemon: options (flags and environment), the node
 * config (a bad one stops the start with a message naming file and field), identity keys, TLS
 * contexts, the ETSI 004 / JSON / peer listeners, the QKD worker pool, the event loop, and a
 * clean shutdown on SIGTERM/SIGINT with a summary of where the time went. */
#include "hyb.h"

#include "etsi_server.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "sock.h"
#include "opts.h"
#include "secbuf.h"
#include "sign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct qkd_prog prog = {
    .name = "qkd-hybrid",
    .usage = "--config FILE [options]",
    .description =
        "A node's hybridization daemon: serves OPEN_CONNECT / GET_KEY / CLOSE over mTLS in both\n"
        "ETSI 004 framings (and, when json_listen is set, KDFix-style JSON), and derives each\n"
        "key with the peer node's daemon from several sources (QKD from the node's key server,\n"
        "ML-KEM, X25519/X448) over one signed, post-quantum TLS peer link per node pair, so a\n"
        "key stays secret while any one source is unbroken. Config schema: docs/hybrid.md.",
    .examples = "  qkd-hybrid --config /etc/qkd/alice-hybrid.json\n"
                "  HYBRID_CONFIG=alice.json LOG_LEVEL=DEBUG qkd-hybrid --json-listen "
                "127.0.0.1:25578",
};

static void override(char *dst, size_t cap, const char *val, const char *what)
{
    if (!val) return;
    if (strlen(val) >= cap) fatalx("--%s: value too long", what);
    snprintf(dst, cap, "%s", val);
}

static void on_qjob(struct hyb_qjob *j, void *arg)
{
    hyb_stream_on_qkd(arg, j);
    hyb_qjob_free(j);
}

static SSL_CTX *tls_ctx(struct hyb *h, bool server, bool peer)
{
    struct qkd_tls_files f = {.cert = h->cfg->cert, .key = h->cfg->key, .ca = h->cfg->ca};
    char err[512];
    SSL_CTX *ctx = qkd_tls_ctx_new(server, &f, err, sizeof(err));
    if (!ctx) fatalx("%s: %s", h->cfg->path, err);
    if (peer && SSL_CTX_set1_groups_list(ctx, "X25519MLKEM768") != 1)
        fatalx("OpenSSL cannot restrict the peer link to X25519MLKEM768");
    return ctx;
}

static void log_stats(const struct hyb *h)
{
    const struct hyb_stats *s = &h->stats;
    uint64_t n = s->keys_ok ? s->keys_ok : 1;
    log_info("stats: keys %llu ok, %llu failed; per key (ms): exchange %.3f (wall), sign %.3f "
             "(%llu sigs, %.3f each), verify %.3f (%llu, %.3f each), KEM/ECDH %.3f, combine+"
             "confirm %.3f, QKD worker %.3f (%llu calls, %.3f each)",
             (unsigned long long)s->keys_ok, (unsigned long long)s->keys_failed,
             s->ms_total / (double)n, s->ms_sign / (double)n, (unsigned long long)s->n_sign,
             s->n_sign ? s->ms_sign / (double)s->n_sign : 0.0, s->ms_verify / (double)n,
             (unsigned long long)s->n_verify,
             s->n_verify ? s->ms_verify / (double)s->n_verify : 0.0, s->ms_kem / (double)n,
             s->ms_combine / (double)n, s->ms_qkd / (double)n, (unsigned long long)s->n_qkd,
             s->n_qkd ? s->ms_qkd / (double)s->n_qkd : 0.0);
}

int main(int argc, char **argv)
{
    static struct hyb h;
    struct hyb_settings *st = &h.set;
    const char *config = NULL, *hybrid_listen = NULL, *json_listen = NULL, *peer_listen = NULL,
               *kme = NULL, *port_file = NULL, *json_port_file = NULL, *peer_port_file = NULL,
               *metrics_listen = NULL, *metrics_port_file = NULL, *log_level = "INFO";
    *st = (struct hyb_settings){
        .max_conns = HYB_DEF_MAX_CONNS,
        .max_handshakes = HYB_DEF_MAX_HS,
        .peer_max_handshakes = HYB_DEF_PEER_MAX_HS,
        .idle_ms = HYB_DEF_IDLE_MS,
        .max_payload = QKD_WIRE_DEFAULT_MAX_PAYLOAD,
        .max_streams = HYB_DEF_MAX_STREAMS,
        .max_pending = HYB_DEF_MAX_PENDING,
        .window = HYB_DEF_WINDOW,
        .def_chunk = HYB_DEF_CHUNK,
        .max_chunk = HYB_DEF_MAX_CHUNK,
        .def_timeout_ms = HYB_DEF_TIMEOUT_MS,
        .def_ttl_s = HYB_DEF_TTL_S,
        .max_ttl_s = HYB_DEF_MAX_TTL_S,
        .qkd_workers = HYB_DEF_QKD_WORKERS,
        .json_max = HYB_DEF_JSON_MAX,
        .backoff_ms = HYB_DEF_BACKOFF_MS,
        .peer_batch = HYB_DEF_PEER_BATCH,
    };
    const struct qkd_opt opts[] = {
        {"config", "HYBRID_CONFIG", QKD_OPT_STR, &config, "node config file (JSON), required", 0,
         0},
        {"hybrid-listen", "HYBRID_LISTEN", QKD_OPT_STR, &hybrid_listen,
         "override hybrid_listen (ETSI 004 listener, H:P)", 0, 0},
        {"json-listen", "HYBRID_JSON_LISTEN", QKD_OPT_STR, &json_listen,
         "override json_listen (KDFix JSON listener, H:P; off by default)", 0, 0},
        {"peer-listen", "HYBRID_PEER_LISTEN", QKD_OPT_STR, &peer_listen,
         "override peer_listen (peer daemons, H:P)", 0, 0},
        {"kme", "HYBRID_KME_ADDRESS", QKD_OPT_STR, &kme, "override kme.address (H:P)", 0, 0},
        {"port-file", "HYBRID_PORT_FILE", QKD_OPT_STR, &port_file,
         "write the bound ETSI 004 port here once listening", 0, 0},
        {"json-port-file", "HYBRID_JSON_PORT_FILE", QKD_OPT_STR, &json_port_file,
         "write the bound JSON port here once listening", 0, 0},
        {"peer-port-file", "HYBRID_PEER_PORT_FILE", QKD_OPT_STR, &peer_port_file,
         "write the bound peer port here once listening", 0, 0},
        {"max-conns", "HYBRID_MAX_CONNS", QKD_OPT_U32, &st->max_conns,
         "concurrent application connections", 1, 1000000},
        {"max-handshakes", "HYBRID_MAX_HANDSHAKES", QKD_OPT_U32, &st->max_handshakes,
         "ETSI 004 connections still in their TLS handshake (the oldest is closed)", 1, 1000000},
        {"peer-max-handshakes", "HYBRID_PEER_MAX_HANDSHAKES", QKD_OPT_U32, &st->peer_max_handshakes,
         "peer connections still in their TLS handshake (the oldest is closed)", 1, 1000},
        {"idle-ms", "HYBRID_IDLE_MS", QKD_OPT_U32, &st->idle_ms,
         "idle application connections are dropped after this (0 = never)", 0, 0},
        {"max-payload", "HYBRID_MAX_PAYLOAD", QKD_OPT_U32, &st->max_payload,
         "largest ETSI 004 request frame", 1024, 16u * 1024 * 1024},
        {"max-streams", "HYBRID_MAX_STREAMS", QKD_OPT_U32, &st->max_streams,
         "open hybrid KSIDs per node", 1, 10000000},
        {"max-pending", "HYBRID_MAX_PENDING", QKD_OPT_U32, &st->max_pending,
         "running or undelivered indices per KSID", 1, 1000000},
        {"window", "HYBRID_WINDOW", QKD_OPT_U32, &st->window,
         "GET_KEY index window beyond the lowest undelivered index", 1, 64u * 1024 * 1024},
        {"default-chunk", "HYBRID_DEFAULT_CHUNK", QKD_OPT_U32, &st->def_chunk,
         "Key_chunk_size for a request of 0", 1, HYB_COMB_MAX_OUT_LEN},
        {"max-chunk", "HYBRID_MAX_CHUNK", QKD_OPT_U32, &st->max_chunk,
         "largest Key_chunk_size granted", 1, HYB_COMB_MAX_OUT_LEN},
        {"default-timeout-ms", "HYBRID_DEFAULT_TIMEOUT_MS", QKD_OPT_U32, &st->def_timeout_ms,
         "Timeout for a JSON request of 0", 1, 3600000},
        {"default-ttl", "HYBRID_DEFAULT_TTL", QKD_OPT_U32, &st->def_ttl_s,
         "TTL (s) for a request of 0", 1, 0xffffffffu},
        {"max-ttl", "HYBRID_MAX_TTL", QKD_OPT_U32, &st->max_ttl_s, "largest TTL (s) granted", 1,
         0xffffffffu},
        {"qkd-workers", "HYBRID_QKD_WORKERS", QKD_OPT_U32, &st->qkd_workers,
         "threads calling the node's key server", 1, HYB_QKDW_MAX_WORKERS},
        {"json-max", "HYBRID_JSON_MAX", QKD_OPT_U32, &st->json_max, "largest JSON message", 256,
         16u * 1024 * 1024},
        {"peer-backoff-ms", "HYBRID_PEER_BACKOFF_MS", QKD_OPT_U32, &st->backoff_ms,
         "longest pause between peer redials", 100, 600000},
        {"peer-batch", "HYBRID_PEER_BATCH", QKD_OPT_U32, &st->peer_batch,
         "peer messages sent under one signature (1 = each signed alone)", 1, HYB_PM_BATCH_MAX},
        {"test-fault", "HYBRID_TEST_FAULT", QKD_OPT_STR, &st->test_fault,
         "TESTS ONLY: 'badsig' or 'replay' corrupts / repeats the first INIT sent; "
         "'drop-optional' makes an initiator drop one optional source once",
         0, 0},
        {"metrics-listen", "METRICS_LISTEN", QKD_OPT_STR, &metrics_listen,
         "host:port of the HTTP metrics endpoint (/metrics, /healthz, /); off unless set", 0, 0},
        {"metrics-port-file", "METRICS_PORT_FILE", QKD_OPT_STR, &metrics_port_file,
         "write the metrics port here once listening", 0, 0},
        {"log-level", "LOG_LEVEL", QKD_OPT_STR, &log_level, "DEBUG, INFO, WARN or ERROR", 0, 0},
        {NULL, NULL, 0, NULL, NULL, 0, 0},
    };
    int pos = 0;
    qkd_opts_parse(&prog, opts, argc, argv, &pos);
    if (pos < argc) fatalx("unexpected argument '%s' (see --help)", argv[pos]);
    int lvl = qkd_log_level_parse(log_level);
    if (lvl < 0) fatalx("--log-level: unknown level '%s'", log_level);
    qkd_log_set_level((enum qkd_log_level)lvl);
    if (qkd_secbuf_no_core_dumps() != 0) log_warn("qkd-hybrid: cannot turn core dumps off");
    if (!config) fatalx("--config (HYBRID_CONFIG) is required");
    if (st->def_chunk > st->max_chunk)
        fatalx("--default-chunk %u is above --max-chunk %u", st->def_chunk, st->max_chunk);
    if (st->test_fault && strcmp(st->test_fault, "badsig") != 0 &&
        strcmp(st->test_fault, "replay") != 0 && strcmp(st->test_fault, "drop-optional") != 0)
        fatalx("--test-fault: unknown fault '%s' (badsig, replay, drop-optional)", st->test_fault);

    char err[1024];
    h.cfg = hyb_config_load(config, err, sizeof(err));
    if (!h.cfg) fatalx("%s", err);
    override(h.cfg->hybrid_listen, sizeof(h.cfg->hybrid_listen), hybrid_listen, "hybrid-listen");
    override(h.cfg->json_listen, sizeof(h.cfg->json_listen), json_listen, "json-listen");
    override(h.cfg->peer_listen, sizeof(h.cfg->peer_listen), peer_listen, "peer-listen");
    override(h.cfg->kme.address, sizeof(h.cfg->kme.address), kme, "kme");
    qkd_log_set_prefix(h.cfg->name);
    if (st->test_fault) log_warn("TEST FAULT INJECTION ENABLED: %s", st->test_fault);

    h.id_key = hyb_sign_load_private(h.cfg->identity_key, err, sizeof(err));
    if (!h.id_key) fatalx("%s: identity_key: %s", h.cfg->path, err);
    h.npeers = h.cfg->n_peers;
    for (size_t i = 0; i < h.npeers; i++) {
        struct hyb_peer *p = &h.peers[i];
        p->h = &h;
        p->cfg = &h.cfg->peers[i];
        p->pub = hyb_sign_load_public(p->cfg->identity_pub, err, sizeof(err));
        if (!p->pub) fatalx("%s: peers[%zu].identity_pub: %s", h.cfg->path, i, err);
        p->dialer = strcmp(h.cfg->name, p->cfg->name) < 0;
    }
    h.app_ctx = tls_ctx(&h, true, false);
    h.peer_srv_ctx = tls_ctx(&h, true, true);
    h.peer_cli_ctx = tls_ctx(&h, false, true);

    /* the application connections, the peers' and the rest (docs/hybrid.md) */
    qkd_raise_nofile((unsigned long)st->max_conns + 2u * h.npeers + st->peer_max_handshakes +
                     HYB_FD_RESERVE);
    h.loop = qkd_loop_new();
    if (!h.loop) fatalx("cannot create the event loop");
    if (qkd_loop_stop_on_signals(h.loop) != 0) fatalx("cannot watch SIGINT/SIGTERM");

    struct qkd004_config qc = {.server = h.cfg->kme.address,
                               .cert = h.cfg->kme.cert,
                               .key = h.cfg->kme.key,
                               .ca = h.cfg->kme.ca,
                               .framing = QKD004_FRAMING_Q,
                               .connect_timeout_ms = 3000,
                               .call_timeout_ms = HYB_QKD_CALL_MS};
    h.qw = hyb_qkdw_new(h.loop, &qc, st->qkd_workers, on_qjob, &h, err, sizeof(err));
    if (!h.qw) fatalx("%s: kme: %s", h.cfg->path, err);

    if (hyb_etsi_listen(&h, err, sizeof(err)) != 0)
        fatalx("%s: hybrid_listen %s: %s", h.cfg->path, h.cfg->hybrid_listen, err);
    if (hyb_json_listen(&h, err, sizeof(err)) != 0)
        fatalx("%s: json_listen %s: %s", h.cfg->path, h.cfg->json_listen, err);
    if (hyb_peer_start(&h, err, sizeof(err)) != 0)
        fatalx("%s: peer_listen %s: %s", h.cfg->path, h.cfg->peer_listen, err);
    if (port_file && qkd_write_port_file(port_file, qkd_etsi_srv_port(h.etsi)) != 0)
        fatalx("--port-file %s: cannot write", port_file);
    if (json_port_file && h.json_lst &&
        qkd_write_port_file(json_port_file, qkd_listener_port(h.json_lst)) != 0)
        fatalx("--json-port-file %s: cannot write", json_port_file);
    if (peer_port_file && qkd_write_port_file(peer_port_file, qkd_listener_port(h.peer_lst)) != 0)
        fatalx("--peer-port-file %s: cannot write", peer_port_file);
    if (hyb_metrics_start(&h, metrics_listen, metrics_port_file, err, sizeof(err)) != 0)
        fatalx("--metrics-listen %s: %s", metrics_listen, err);
    hyb_stream_sweep_start(&h);
    log_info("qkd-hybrid %s node %s (%s) ready; key server %s; %zu peer(s)", QKD_VERSION,
             h.cfg->name, h.cfg->uuid, h.cfg->kme.address, h.npeers);

    qkd_loop_run(h.loop);

    log_info("shutting down");
    log_stats(&h);
    hyb_metrics_stop(&h);
    hyb_etsi_stop(&h);
    hyb_json_stop(&h);
    hyb_peer_stop(&h);
    while (h.streams)
        hyb_stream_free(h.streams);
    bool freed = hyb_qkdw_stop(h.qw, 2000);
    if (freed) {
        qkd_loop_free(h.loop);
        SSL_CTX_free(h.app_ctx);
        SSL_CTX_free(h.peer_srv_ctx);
        SSL_CTX_free(h.peer_cli_ctx);
        EVP_PKEY_free(h.id_key);
        for (size_t i = 0; i < h.npeers; i++)
            EVP_PKEY_free(h.peers[i].pub);
        hyb_config_free(h.cfg);
    }
    return 0;
}
