/* main.c: qkd-kme, a node's ETSI GS QKD 004 key server: options (flags and environment,
 * docs/architecture.md), TLS contexts, the ETSI listener, the peer-sync listener, the links,
 * port files, the event loop and a clean shutdown on SIGTERM/SIGINT. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uuid/uuid.h>

#include "kme.h"
#include "link.h"
#include "etsi014.h"
#include "https_server.h"
#include "peer.h"
#include "rest.h"
#include "server.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "sock.h"
#include "tls.h"

static const struct qkd_prog prog = {
    .name = "qkd-kme",
    .usage = "[options]",
    .description =
        "A node's ETSI GS QKD 004 key server: serves OPEN_CONNECT / GET_KEY / CLOSE over mTLS in\n"
        "both framings (QUBIP 1.0.1 and ETSI gs004 2.1.1) on one port, takes key from each\n"
        "link's shared-memory ring and keeps (KSID, index) -> key identical with the peer key\n"
        "server of the link (the link leader allocates, the follower follows).",
    .examples = "  qkd-kme --node alice --cert alice/node.pem --key alice/node.key --ca ca.pem \\\n"
                "          --port 25575 --peer-listen 127.0.0.1:25590 \\\n"
                "          --link peer=bob,role=leader,ring=/qkd-alice-bob\n"
                "  qkd-kme --node bob ... --link peer=bob...,role=follower,ring=/qkd-bob-alice,"
                "addr=127.0.0.1:25590",
};

static void config_defaults(struct kme_config *c)
{
    memset(c, 0, sizeof(*c));
    c->address = "0.0.0.0";
    c->port = KME_DEF_PORT;
    c->window_bytes = KME_DEF_WINDOW;
    c->max_payload = QKD_WIRE_DEFAULT_MAX_PAYLOAD;
    c->max_conns = KME_DEF_MAX_CONNS;
    c->max_handshakes = KME_DEF_MAX_HANDSHAKES;
    c->out_high = QKD_ETSI_DEFAULT_OUT_HIGH;
    c->peer_max_handshakes = KME_DEF_PEER_MAX_HS;
    c->idle_ms = KME_DEF_IDLE_MS;
    c->max_streams = KME_DEF_MAX_STREAMS;
    c->max_streams_per_id = KME_DEF_MAX_STREAMS_ID;
    c->max_unattached = KME_DEF_MAX_UNATTACHED;
    c->max_window_chunks = KME_DEF_MAX_WCHUNKS;
    kme_qos_limits_default(&c->qos);
    c->log_level = "INFO";
    c->heartbeat_ms = KME_DEF_HEARTBEAT_MS;
    c->peer_timeout_ms = KME_DEF_PEER_TIMEOUT_MS;
    c->poll_ms = KME_DEF_POLL_MS;
    c->alloc_ahead = KME_DEF_ALLOC_AHEAD;
    c->alloc_ahead_bytes = KME_DEF_ALLOC_AHEAD_B;
    c->e14.wait_ms = KME_E14_DEF_WAIT_MS;
    c->e14.key_ttl_s = KME_E14_DEF_KEY_TTL_S;
    c->e14.key_size = ETSI014_DEF_KEY_SIZE;
    c->e14.min_key_size = ETSI014_DEF_MIN_KEY_SIZE;
    c->e14.max_key_size = ETSI014_DEF_MAX_KEY_SIZE;
    c->e14.max_per_request = ETSI014_DEF_MAX_PER_REQUEST;
    c->e14.max_sae_ids = ETSI014_DEF_MAX_SAE_IDS;
    c->e14.max_conns = KME_E14_DEF_MAX_CONNS;
    c->e14.idle_ms = KME_E14_DEF_IDLE_MS;
    c->e14.request_ms = QKD_HTTPS_DEFAULT_REQUEST_MS;
    c->e14.max_local_bytes = KME_E14_DEF_LOCAL_BYTES;
    c->e14.max_header_bytes = QKD_HTTP_DEFAULT_MAX_HEADER_BYTES;
    c->e14.max_body_bytes = 65536;
    c->e14.max_requests_per_conn = QKD_HTTPS_DEFAULT_MAX_REQUESTS;
}

int main(int argc, char **argv)
{
    static struct kme k;
    struct kme_config *c = &k.cfg;
    config_defaults(c);
    const struct qkd_opt opts[] = {
        {"address", "SERVER_ADDRESS", QKD_OPT_STR, &c->address, "ETSI 004 listen address", 0, 0},
        {"port", "SERVER_PORT", QKD_OPT_U32, &c->port, "ETSI 004 port (0 = any free port)", 0,
         65535},
        {"cert", "SERVER_CERT_PEM", QKD_OPT_STR, &c->cert, "node certificate (PEM), required", 0,
         0},
        {"key", "SERVER_CERT_KEY", QKD_OPT_STR, &c->key, "node private key (PEM), required", 0, 0},
        {"ca", "CLIENT_CERT_PEM", QKD_OPT_STR, &c->ca,
         "CA that client and peer certificates chain to, required", 0, 0},
        {"node", "NODE_NAME", QKD_OPT_STR, &c->node, "this node's name (its certificate CN)", 0, 0},
        {"node-uuid", "NODE_UUID", QKD_OPT_STR, &c->node_uuid,
         "this node's UUID (default: derived from the name)", 0, 0},
        {"peer-listen", "PEER_LISTEN", QKD_OPT_STR, &c->peer_listen,
         "peer-sync listen address H:P (needed when leader of a link)", 0, 0},
        {"link", "KME_LINKS", QKD_OPT_LIST, &c->links,
         "peer=NAME,role=leader|follower,ring=/NAME[,addr=H:P][,uuid=U][,skr=BPS] (repeat)", 0, 0},
        {"default-link", "DEFAULT_LINK", QKD_OPT_STR, &c->default_link,
         "peer whose link serves destinations naming no peer (default: the first)", 0, 0},
        {"port-file", "PORT_FILE", QKD_OPT_STR, &c->port_file,
         "write the bound ETSI port here once listening", 0, 0},
        {"peer-port-file", "PEER_PORT_FILE", QKD_OPT_STR, &c->peer_port_file,
         "write the bound peer-sync port here once listening", 0, 0},
        {"window-bytes", "WINDOW_BYTES", QKD_OPT_U64, &c->window_bytes,
         "GET_KEY index window beyond the lowest undelivered position", 1, KME_MAX_WINDOW},
        {"max-payload", "MAX_PAYLOAD", QKD_OPT_U32, &c->max_payload, "largest request frame", 1024,
         16u * 1024 * 1024},
        {"max-conns", "MAX_CONNS", QKD_OPT_U32, &c->max_conns, "concurrent ETSI connections", 1,
         1000000},
        {"max-handshakes", "MAX_HANDSHAKES", QKD_OPT_U32, &c->max_handshakes,
         "ETSI connections still in their TLS handshake (the oldest is closed for a new one)", 1,
         1000000},
        {"peer-max-handshakes", "PEER_MAX_HANDSHAKES", QKD_OPT_U32, &c->peer_max_handshakes,
         "peer-sync connections still in their TLS handshake (the oldest is closed)", 1, 1000},
        {"out-high-bytes", "OUT_HIGH_BYTES", QKD_OPT_U32, &c->out_high,
         "a client with more unread answers than this is not read until they drain to half", 4096,
         16u * 1024 * 1024},
        {"idle-ms", "IDLE_MS", QKD_OPT_U32, &c->idle_ms,
         "idle connections are dropped after this (0 = never)", 0, 0},
        {"max-streams", "MAX_STREAMS", QKD_OPT_U32, &c->max_streams, "open KSIDs per node", 1,
         10000000},
        {"max-streams-per-identity", "MAX_STREAMS_PER_IDENTITY", QKD_OPT_U32,
         &c->max_streams_per_id, "streams one client identity may have open at this node", 1,
         10000000},
        {"max-unattached-bytes", "MAX_UNATTACHED_BYTES", QKD_OPT_U32, &c->max_unattached,
         "key held per link for streams no application here attached", 0, 1024u * 1024 * 1024},
        {"max-window-chunks", "MAX_WINDOW_CHUNKS", QKD_OPT_U32, &c->max_window_chunks,
         "largest GET_KEY window in chunks (smaller chunks are raised, status 7)", 1,
         KME_MAX_WCHUNKS},
        {"qos-key-chunk-size", "QOS_KEY_CHUNK_SIZE", QKD_OPT_U32, &c->qos.key_chunk_size,
         "largest Key_chunk_size granted (and the default)", 1, KME_MAX_CHUNK},
        {"qos-max-bps", "QOS_MAX_BPS", QKD_OPT_U32, &c->qos.max_bps,
         "largest Max_bps granted (0 = the link's SKR)", 0, 0},
        {"qos-min-bps", "QOS_MIN_BPS", QKD_OPT_U32, &c->qos.min_bps,
         "largest Min_bps granted (0 = the link's SKR)", 0, 0},
        {"qos-jitter", "QOS_JITTER", QKD_OPT_U32, &c->qos.jitter, "largest Jitter granted", 0, 0},
        {"qos-priority", "QOS_PRIORITY", QKD_OPT_U32, &c->qos.priority,
         "best (lowest) Priority granted", 0, 0},
        {"qos-timeout", "QOS_TIMEOUT", QKD_OPT_U32, &c->qos.timeout, "largest Timeout granted (ms)",
         1, 0xffffffffu},
        {"qos-ttl", "QOS_TTL", QKD_OPT_U32, &c->qos.ttl, "largest TTL granted (s)", 1, 0xffffffffu},
        {"admission", "ADMISSION_CONTROL", QKD_OPT_BOOL, &c->admission,
         "admission control: the sum of Min_bps per link stays within its SKR", 0, 0},
        {"core-dumps", "CORE_DUMPS", QKD_OPT_BOOL, &c->core_dumps,
         "leave core dumps (and /proc/PID/fd for its user) on, for debugging; key pages are "
         "excluded from dumps either way",
         0, 0},
        {"heartbeat-ms", "PEER_HEARTBEAT_MS", QKD_OPT_U32, &c->heartbeat_ms,
         "peer-sync heartbeat interval", 10, 600000},
        {"peer-timeout-ms", "PEER_TIMEOUT_MS", QKD_OPT_U32, &c->peer_timeout_ms,
         "peer-sync connection declared dead after this silence", 50, 3600000},
        {"poll-ms", "RING_POLL_MS", QKD_OPT_U32, &c->poll_ms,
         "ring poll interval while calls wait for key", 1, 1000},
        {"alloc-ahead", "ALLOC_AHEAD", QKD_OPT_U32, &c->alloc_ahead,
         "most chunks one allocation covers for sequential GET_KEYs (1 = none ahead)", 1,
         KME_MAX_ALLOC_AHEAD},
        {"alloc-ahead-bytes", "ALLOC_AHEAD_BYTES", QKD_OPT_U32, &c->alloc_ahead_bytes,
         "most key bytes one allocation covers (at least one chunk)", 1, 64u * 1024 * 1024},
        {"metrics-listen", "METRICS_LISTEN", QKD_OPT_STR, &c->metrics_listen,
         "host:port of the HTTP metrics endpoint (/metrics, /healthz, /); off unless set", 0, 0},
        {"metrics-port-file", "METRICS_PORT_FILE", QKD_OPT_STR, &c->metrics_port_file,
         "write the metrics port here once listening", 0, 0},
        {"etsi014-listen", "ETSI014_LISTEN", QKD_OPT_STR, &c->e14.listen,
         "host:port of the ETSI GS QKD 014 HTTPS listener (docs/etsi014.md); off unless set", 0, 0},
        {"etsi014-port-file", "ETSI014_PORT_FILE", QKD_OPT_STR, &c->e14.port_file,
         "write the ETSI 014 port here once listening", 0, 0},
        {"sae", "ETSI014_SAES", QKD_OPT_LIST, &c->e14.saes,
         "SAE directory entry ID=NODE, or a comma-separated list of them (repeat)", 0, 0},
        {"etsi014-wait-ms", "ETSI014_WAIT_MS", QKD_OPT_U32, &c->e14.wait_ms,
         "enc_keys / dec_keys wait this long for key or the peer before 503", 1, 600000},
        {"etsi014-key-ttl", "ETSI014_KEY_TTL", QKD_OPT_U32, &c->e14.key_ttl_s,
         "ETSI 014 keys not fetched by every slave are wiped after this (s)", 1, 86400 * 7},
        {"etsi014-key-size", "ETSI014_KEY_SIZE", QKD_OPT_U32, &c->e14.key_size,
         "default key size (bits)", 8, KME_MAX_CHUNK * 8},
        {"etsi014-min-key-size", "ETSI014_MIN_KEY_SIZE", QKD_OPT_U32, &c->e14.min_key_size,
         "smallest key size (bits)", 8, KME_MAX_CHUNK * 8},
        {"etsi014-max-key-size", "ETSI014_MAX_KEY_SIZE", QKD_OPT_U32, &c->e14.max_key_size,
         "largest key size (bits)", 8, KME_MAX_CHUNK * 8},
        {"etsi014-max-keys-per-request", "ETSI014_MAX_KEYS_PER_REQUEST", QKD_OPT_U32,
         &c->e14.max_per_request, "most keys per enc_keys / dec_keys", 1, ETSI014_MAX_KEYS},
        {"etsi014-max-sae-ids", "ETSI014_MAX_SAE_IDS", QKD_OPT_U32, &c->e14.max_sae_ids,
         "most additional slaves per enc_keys", 0, ETSI014_MAX_SAE_IDS},
        {"etsi014-max-conns", "ETSI014_MAX_CONNS", QKD_OPT_U32, &c->e14.max_conns,
         "concurrent ETSI 014 connections", 1, 100000},
        {"etsi014-idle-ms", "ETSI014_IDLE_MS", QKD_OPT_U32, &c->e14.idle_ms,
         "ETSI 014 connections without a request for this long are closed", 100, 3600000},
        {"etsi014-request-ms", "ETSI014_REQUEST_MS", QKD_OPT_U32, &c->e14.request_ms,
         "one ETSI 014 request (headers and body) must arrive within this from its first byte, "
         "else 408 and close",
         100, 3600000},
        {"etsi014-max-header-bytes", "ETSI014_MAX_HEADER_BYTES", QKD_OPT_U32,
         &c->e14.max_header_bytes, "request line and headers of one request (over: 431)", 256,
         1024u * 1024},
        {"etsi014-max-body-bytes", "ETSI014_MAX_BODY_BYTES", QKD_OPT_U32, &c->e14.max_body_bytes,
         "body of one request (over: 413)", 1024, 16u * 1024 * 1024},
        {"etsi014-max-requests-per-conn", "ETSI014_MAX_REQUESTS_PER_CONN", QKD_OPT_U32,
         &c->e14.max_requests_per_conn,
         "requests one connection may make (the last is answered with Connection: close)", 1,
         0xffffffffu},
        {"etsi014-max-local-bytes", "ETSI014_MAX_LOCAL_BYTES", QKD_OPT_U32, &c->e14.max_local_bytes,
         "key held for slaves at this node (CSPRNG batches)", 0, 1024u * 1024 * 1024},
        {"log-level", "LOG_LEVEL", QKD_OPT_STR, &c->log_level, "DEBUG, INFO, WARN or ERROR", 0, 0},
        {NULL, NULL, 0, NULL, NULL, 0, 0},
    };
    int pos = 0;
    qkd_opts_parse(&prog, opts, argc, argv, &pos);
    if (pos < argc) fatalx("qkd-kme: unexpected argument '%s'", argv[pos]);
    int lvl = qkd_log_level_parse(c->log_level);
    if (lvl < 0) fatalx("qkd-kme: bad value '%s' for --log-level (LOG_LEVEL)", c->log_level);
    qkd_log_set_level((enum qkd_log_level)lvl);
    if (!c->cert || !c->key || !c->ca)
        fatalx("qkd-kme: --cert, --key and --ca (SERVER_CERT_PEM, SERVER_CERT_KEY, "
               "CLIENT_CERT_PEM) are required");
    if (!c->node || !*c->node || strlen(c->node) >= KME_PEER_NAME_MAX)
        fatalx("qkd-kme: --node (NODE_NAME) is required (at most %d characters)",
               KME_PEER_NAME_MAX - 1);
    qkd_log_set_prefix(c->node);
    if (c->links.n == 0) fatalx("qkd-kme: at least one --link (KME_LINKS) is required");
    if (c->links.n > KME_MAX_LINKS) fatalx("qkd-kme: at most %d links", KME_MAX_LINKS);
    if (c->window_bytes < c->qos.key_chunk_size)
        fatalx("qkd-kme: --window-bytes %llu is smaller than QOS_KEY_CHUNK_SIZE %u",
               (unsigned long long)c->window_bytes, c->qos.key_chunk_size);
    if (c->node_uuid) {
        uuid_t u;
        if (uuid_parse(c->node_uuid, u) != 0)
            fatalx("qkd-kme: bad value '%s' for --node-uuid (NODE_UUID)", c->node_uuid);
        memcpy(k.node_uuid, u, 16);
    } else {
        kme_node_uuid(c->node, k.node_uuid);
    }

    /* every ETSI and peer connection, and the rest of the process (docs/kme.md) */
    qkd_raise_nofile((unsigned long)c->max_conns + 2u * KME_MAX_LINKS + c->peer_max_handshakes +
                     KME_FD_RESERVE);
    if (!k.cfg.core_dumps && qkd_secbuf_no_core_dumps() != 0)
        log_warn("qkd-kme: cannot turn core dumps off");
    k.loop = qkd_loop_new();
    if (!k.loop) fatalx("qkd-kme: cannot create the event loop");
    bool need_listen = false;
    for (int i = 0; i < c->links.n; i++) {
        char err[256];
        struct kme_link *l = &k.links[i];
        if (kme_link_parse(&k, l, c->links.items[i], err, sizeof(err)) != 0)
            fatalx("qkd-kme: bad value '%s' for --link (KME_LINKS): %s", c->links.items[i], err);
        l->idx = i;
        if (strcmp(l->peer, c->node) == 0)
            fatalx("qkd-kme: link '%s' names this node itself", c->links.items[i]);
        for (int j = 0; j < i; j++)
            if (strcmp(k.links[j].peer, l->peer) == 0)
                fatalx("qkd-kme: two links to peer '%s'", l->peer);
        if (l->role == KME_ROLE_LEADER) need_listen = true;
    }
    k.nlinks = c->links.n;
    if (need_listen && !c->peer_listen)
        fatalx("qkd-kme: --peer-listen (PEER_LISTEN) is required when leader of a link");
    k.default_link = 0;
    if (c->default_link) {
        struct kme_link *l = kme_link_by_name(&k, c->default_link);
        if (!l)
            fatalx("qkd-kme: bad value '%s' for --default-link (DEFAULT_LINK): no such link",
                   c->default_link);
        k.default_link = l->idx;
    }
    {
        char e14err[512];
        if (kme_rest_config_check(&k, e14err, sizeof(e14err)) != 0) fatalx("qkd-kme: %s", e14err);
    }
    if (kme_streams_init(&k.streams, 4096, c->max_streams) != 0) fatalx("qkd-kme: out of memory");
    k.streams.max_wchunks = c->max_window_chunks;

    char err[512];
    struct qkd_tls_files files = {.cert = c->cert, .key = c->key, .ca = c->ca};
    k.srv_ctx = qkd_tls_ctx_new(true, &files, err, sizeof(err));
    if (!k.srv_ctx) fatalx("qkd-kme: %s", err);
    k.cli_ctx = qkd_tls_ctx_new(false, &files, err, sizeof(err));
    if (!k.cli_ctx) fatalx("qkd-kme: %s", err);
    if (kme_server_listen(&k, err, sizeof(err)) != 0)
        fatalx("qkd-kme: cannot listen on %s:%u: %s", c->address, c->port, err);
    if (kme_peer_listen(&k, err, sizeof(err)) != 0)
        fatalx("qkd-kme: cannot listen on --peer-listen %s: %s", c->peer_listen, err);
    if (kme_metrics_start(&k, err, sizeof(err)) != 0)
        fatalx("qkd-kme: cannot listen on --metrics-listen %s: %s", c->metrics_listen, err);
    if (c->metrics_port_file && k.obs.srv &&
        qkd_write_port_file(c->metrics_port_file, qkd_http_server_port(k.obs.srv)) != 0)
        fatalx("qkd-kme: cannot write --metrics-port-file %s", c->metrics_port_file);
    if (kme_rest_start(&k, err, sizeof(err)) != 0)
        fatalx("qkd-kme: cannot listen on --etsi014-listen %s: %s", c->e14.listen, err);
    if (c->e14.port_file && k.rest && qkd_write_port_file(c->e14.port_file, kme_rest_port(&k)) != 0)
        fatalx("qkd-kme: cannot write --etsi014-port-file %s", c->e14.port_file);
    if (qkd_loop_stop_on_signals(k.loop) != 0) fatalx("qkd-kme: cannot install signal handling");
    for (int i = 0; i < k.nlinks; i++) {
        struct kme_link *l = &k.links[i];
        log_info("link %s: %s, ring %s%s%s", l->peer,
                 l->role == KME_ROLE_LEADER ? "leader" : "follower", l->ring_name,
                 l->addr[0] ? ", leader at " : "", l->addr);
        kme_link_start(l);
    }
    if (c->peer_port_file && k.peer_lst &&
        qkd_write_port_file(c->peer_port_file, qkd_listener_port(k.peer_lst)) != 0)
        fatalx("qkd-kme: cannot write --peer-port-file %s", c->peer_port_file);
    if (c->port_file && qkd_write_port_file(c->port_file, qkd_etsi_srv_port(k.etsi)) != 0)
        fatalx("qkd-kme: cannot write --port-file %s", c->port_file);

    qkd_loop_run(k.loop);

    log_info("shutting down (%llu keys delivered)", (unsigned long long)k.stats_get_ok);
    k.stopping = true;
    kme_metrics_stop(&k);
    kme_rest_stop(&k);
    kme_server_stop(&k);
    kme_peer_stop_all(&k);
    for (int i = 0; i < k.nlinks; i++)
        kme_link_stop(&k.links[i]);
    kme_streams_free(&k.streams); /* wipes every undelivered key */
    SSL_CTX_free(k.srv_ctx);
    SSL_CTX_free(k.cli_ctx);
    qkd_loop_free(k.loop);
    return 0;
}
