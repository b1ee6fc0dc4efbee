/* main.c: qkd-keygen, one end of an emulated QKD link (docs/keygen.md). Reads the
 * options (docs/architecture.md), opens this node's ring as its writer, sets up TLS with the
 * node certificate and runs the sender or receiver on the event loop until SIGTERM/SIGINT. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kg.h"
#include "log.h"
#include "metrics.h"
#include "sock.h"
#include "opts.h"
#include "tls.h"

static const struct qkd_prog kg_prog = {
    .name = "qkd-keygen",
    .usage = "--mode sender|receiver --ring NAME --cert F --key F --ca F --peer-name CN [options]",
    .description = "one end of an emulated QKD link: distils key at a fixed secret key rate and "
                   "fills this node's shared-memory key ring with the same bytes at the same "
                   "offsets as the other end's",
    .examples =
        "  qkd-keygen --mode receiver --ring /qkd-bob-alice --port 0 --port-file bob.port \\\n"
        "      --cert bob/node.pem --key bob/node.key --ca ca.pem --peer-name alice\n"
        "  qkd-keygen --mode sender --ring /qkd-alice-bob --port $(cat bob.port) \\\n"
        "      --cert alice/node.pem --key alice/node.key --ca ca.pem --peer-name bob\n",
};

int main(int argc, char **argv)
{
    struct kg kg;
    memset(&kg, 0, sizeof(kg));
    struct kg_cfg *cfg = &kg.cfg;
    const char *log_level = "INFO";
    uint64_t skr_bps = 0, skr_bytes = 0;
    const char *qber = NULL, *outage_every = NULL, *outage_for = NULL;
    cfg->host = "127.0.0.1";
    cfg->port = KG_DEFAULT_PORT;
    cfg->block_bytes = KG_DEFAULT_BLOCK_BYTES;
    cfg->ring_bytes = KG_DEFAULT_RING_BYTES;
    cfg->max_inflight = KG_DEFAULT_MAX_INFLIGHT;
    cfg->stats_ms = KG_DEFAULT_STATS_MS;
    cfg->heartbeat_ms = KG_DEFAULT_HEARTBEAT_MS;
    cfg->link_timeout_ms = KG_DEFAULT_LINK_TIMEOUT_MS;
    cfg->max_handshakes = KG_DEFAULT_MAX_HANDSHAKES;

    const struct qkd_opt opts[] = {
        {"mode", "MODE", QKD_OPT_STR, &cfg->mode, "sender (primary end) or receiver (required)", 0,
         0},
        {"host", "HOST", QKD_OPT_STR, &cfg->host,
         "receiver: address to bind; sender: the receiver's address", 0, 0},
        {"port", "PORT", QKD_OPT_U32, &cfg->port, "the receiver's port (0 = any free port)", 0,
         65535},
        {"skr-bps", "SKR_BPS", QKD_OPT_U64, &skr_bps,
         "secret key rate in bits/s (default 1000000; the sender decides)", 1, KG_MAX_SKR_BPS},
        {"skr", "SKR", QKD_OPT_U64, &skr_bytes,
         "secret key rate in bytes/s (the reference's), used when SKR_BPS is not set", 1,
         KG_MAX_SKR_BPS / 8},
        {"block-bytes", "BLOCK_BYTES", QKD_OPT_U32, &cfg->block_bytes,
         "distillation block size (smaller blocks when the rate is low)", 1, KG_MAX_BLOCK_BYTES},
        {"qber", "QBER", QKD_OPT_STR, &qber,
         "emulated quantum bit error rate in percent, 0 to 50 (default 0; the sender decides): "
         "distils SKR x max(0, 1 - 2 h(QBER)); from about 11 % no key at all",
         0, 0},
        {"outage-every", "OUTAGE_EVERY", QKD_OPT_STR, &outage_every,
         "emulated outage profile: an outage starts every this many seconds (decimals allowed; "
         "default off; the sender decides)",
         0, 0},
        {"outage-for", "OUTAGE_FOR", QKD_OPT_STR, &outage_for,
         "emulated outage profile: each outage lasts this many seconds (< --outage-every)", 0, 0},
        {"ring", "RING_NAME", QKD_OPT_STR, &cfg->ring_name,
         "shared-memory ring name, e.g. /qkd-alice-bob (required)", 0, 0},
        {"ring-bytes", "BUFFER_SIZE", QKD_OPT_U64, &cfg->ring_bytes,
         "ring capacity when it is created", QKD_RING_MIN_CAPACITY, QKD_RING_MAX_CAPACITY},
        {"cert", "KEYGEN_CERT_PEM", QKD_OPT_STR, &cfg->cert, "node certificate (required)", 0, 0},
        {"key", "KEYGEN_CERT_KEY", QKD_OPT_STR, &cfg->key, "node private key (required)", 0, 0},
        {"ca", "KEYGEN_CA_PEM", QKD_OPT_STR, &cfg->ca,
         "CA the peer's certificate must chain to (required)", 0, 0},
        {"peer-name", "PEER_NAME", QKD_OPT_STR, &cfg->peer_name,
         "CN the other end's certificate must carry (required)", 0, 0},
        {"port-file", "PORT_FILE", QKD_OPT_STR, &cfg->port_file,
         "receiver: write the bound port here once listening", 0, 0},
        {"ready-file", "READY_FILE", QKD_OPT_STR, &cfg->ready_file,
         "exists exactly while the link is up (written atomically when it comes up, removed "
         "when it goes down): readiness at any log level",
         0, 0},
        {"max-inflight", "MAX_INFLIGHT", QKD_OPT_U32, &cfg->max_inflight,
         "sender: unacknowledged blocks on the link", 1, KG_MAX_MAX_INFLIGHT},
        {"stats-ms", "STATS_MS", QKD_OPT_U32, &cfg->stats_ms, "period of the statistics log line",
         100, 86400000},
        {"heartbeat-ms", "HEARTBEAT_MS", QKD_OPT_U32, &cfg->heartbeat_ms,
         "period of link heartbeats", 50, 60000},
        {"link-timeout-ms", "LINK_TIMEOUT_MS", QKD_OPT_U32, &cfg->link_timeout_ms,
         "the link is down after this long without a frame", 200, 600000},
        {"max-handshakes", "MAX_HANDSHAKES", QKD_OPT_U32, &cfg->max_handshakes,
         "receiver: connections still in their TLS handshake (a new one closes the oldest)", 1,
         1024},
        {"metrics-listen", "METRICS_LISTEN", QKD_OPT_STR, &cfg->metrics_listen,
         "host:port of the HTTP metrics endpoint (/metrics, /healthz, /); off unless set", 0, 0},
        {"metrics-port-file", "METRICS_PORT_FILE", QKD_OPT_STR, &cfg->metrics_port_file,
         "write the metrics port here once listening", 0, 0},
        {"log-level", "LOG_LEVEL", QKD_OPT_STR, &log_level, "DEBUG, INFO, WARN or ERROR", 0, 0},
        {NULL, NULL, 0, NULL, NULL, 0, 0},
    };
    int pos;
    qkd_opts_parse(&kg_prog, opts, argc, argv, &pos);
    if (pos < argc) fatalx("qkd-keygen: unexpected argument '%s'", argv[pos]);
    int lvl = qkd_log_level_parse(log_level);
    if (lvl < 0)
        fatalx("qkd-keygen: invalid value '%s' for --log-level (LOG_LEVEL): expected DEBUG, "
               "INFO, WARN or ERROR",
               log_level);
    qkd_log_set_level((enum qkd_log_level)lvl);

    if (cfg->mode == NULL) fatalx("qkd-keygen: --mode (MODE) is required: sender or receiver");
    if (strcasecmp(cfg->mode, "sender") == 0)
        cfg->sender = true;
    else if (strcasecmp(cfg->mode, "receiver") != 0)
        fatalx("qkd-keygen: invalid value '%s' for --mode (MODE): expected sender or receiver",
               cfg->mode);
    const struct {
        const char *v, *what;
    } required[] = {
        {cfg->ring_name, "--ring (RING_NAME)"},      {cfg->cert, "--cert (KEYGEN_CERT_PEM)"},
        {cfg->key, "--key (KEYGEN_CERT_KEY)"},       {cfg->ca, "--ca (KEYGEN_CA_PEM)"},
        {cfg->peer_name, "--peer-name (PEER_NAME)"},
    };
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (required[i].v == NULL || required[i].v[0] == '\0')
            fatalx("qkd-keygen: %s is required", required[i].what);
    if (cfg->sender && cfg->port == 0)
        fatalx("qkd-keygen: invalid value '0' for --port (PORT): the sender needs the "
               "receiver's port");
    cfg->skr_bps = skr_bps ? skr_bps : skr_bytes ? skr_bytes * 8 : KG_DEFAULT_SKR_BPS;
    if (qber != NULL && kg_parse_qber(qber, &cfg->qber_pct) != 0)
        fatalx("qkd-keygen: invalid value '%s' for --qber (QBER): expected a percentage from 0 "
               "to %.0f (e.g. 5 or 2.5)",
               qber, KG_QBER_MAX_PCT);
    if (outage_every != NULL && kg_parse_seconds_ms(outage_every, &cfg->outage.every_ms) != 0)
        fatalx("qkd-keygen: invalid value '%s' for --outage-every (OUTAGE_EVERY): expected "
               "seconds from %.2f to %u (at most 3 decimals), or 0 for off",
               outage_every, KG_OUTAGE_MIN_MS / 1000.0, KG_OUTAGE_MAX_MS / 1000u);
    if (outage_for != NULL && kg_parse_seconds_ms(outage_for, &cfg->outage.for_ms) != 0)
        fatalx("qkd-keygen: invalid value '%s' for --outage-for (OUTAGE_FOR): expected "
               "seconds from %.2f to %u (at most 3 decimals), or 0 for off",
               outage_for, KG_OUTAGE_MIN_MS / 1000.0, KG_OUTAGE_MAX_MS / 1000u);
    const char *why = kg_outage_check(&cfg->outage);
    if (why != NULL) fatalx("qkd-keygen: invalid outage profile: %s", why);
    qkd_log_set_prefix(cfg->sender ? "keygen-sender" : "keygen-receiver");

    char err[512];
    struct qkd_tls_files files = {.cert = cfg->cert, .key = cfg->key, .ca = cfg->ca};
    kg.ctx = qkd_tls_ctx_new(!cfg->sender, &files, err, sizeof(err));
    if (kg.ctx == NULL) fatalx("TLS setup: %s", err);
    int rc = qkd_ring_open_writer(cfg->ring_name, cfg->ring_bytes, &kg.ring);
    if (rc != QKD_RING_OK) fatalx("cannot open ring %s: %s", cfg->ring_name, qkd_ring_last_error());
    log_info("ring %s: capacity %zu, write offset %" PRIu64 ", consume offset %" PRIu64,
             cfg->ring_name, qkd_ring_capacity(kg.ring), qkd_ring_write_offset(kg.ring),
             qkd_ring_consume_offset(kg.ring));

    qkd_raise_nofile(cfg->max_handshakes + 2u + KG_FD_RESERVE); /* docs/keygen.md */
    if (qkd_secbuf_no_core_dumps() != 0) log_warn("qkd-keygen: cannot turn core dumps off");
    kg.loop = qkd_loop_new();
    if (kg.loop == NULL || qkd_loop_stop_on_signals(kg.loop) != 0)
        fatalx("cannot create the event loop");
    qkd_writer_init(&kg.out, KG_MAX_PAYLOAD);

    int status = 0;
    if (kg_link_start(&kg) != 0) {
        status = 1;
    } else if (kg_metrics_start(&kg, err, sizeof(err)) != 0) {
        log_error("qkd-keygen: cannot serve --metrics-listen %s: %s", cfg->metrics_listen, err);
        status = 1;
    } else {
        qkd_loop_run(kg.loop);
        log_info("stopping: distilled %" PRIu64 " bytes, dropped %" PRIu64 " bytes",
                 kg.bytes_delivered, kg.bytes_dropped);
    }
    kg_metrics_stop(&kg);
    kg_link_stop(&kg);
    qkd_writer_free(&kg.out);
    qkd_loop_free(kg.loop);
    SSL_CTX_free(kg.ctx);
    qkd_ring_close(kg.ring);
    return status;
}
