/* kme.h: the key server's node state (docs/kme.md): its configuration (main.c's option table),
 * its links, stream table, listeners and peer-sync connections, and the state of one ETSI 004
 * client connection. What each source file offers is in its own header: api.h (OPEN_CONNECT,
 * CLOSE), getkey.h (GET_KEY and waiters), alloc.h (allocation protocol), stream.h (streams),
 * link.h (links, rings, tombstones), peer.h (peer sync), server.h (ETSI listener). */
#ifndef KME_KME_H
#define KME_KME_H

#include <stdbool.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "etsi_server.h"
#include "evloop.h"
#include "link.h"
#include "obs.h"
#include "opts.h"
#include "peer_msg.h"
#include "qos.h"
#include "stream.h"

#define KME_MAX_LINKS          16
#define KME_DEF_PORT           25575
#define KME_DEF_WINDOW         (1024u * 1024u)
#define KME_MAX_WINDOW         (64ull * 1024 * 1024)
#define KME_DEF_MAX_CONNS      4096
#define KME_DEF_MAX_HANDSHAKES 256 /* ETSI connections still in their TLS handshake */
#define KME_DEF_PEER_MAX_HS    8   /* peer-sync connections still in their TLS handshake */
#define KME_FD_RESERVE         64  /* descriptors beside connections: rings, logs, epoll, ... */
#define KME_DEF_IDLE_MS        60000
#define KME_DEF_MAX_STREAMS    10000
#define KME_DEF_MAX_STREAMS_ID 1000 /* streams one identity may have attached at a node */
/* key held per link for streams no application at this node attached (bytes) */
#define KME_DEF_MAX_UNATTACHED  (16u * 1024u * 1024u)
#define KME_DEF_HEARTBEAT_MS    1000
#define KME_DEF_PEER_TIMEOUT_MS 5000
#define KME_DEF_POLL_MS         5
#define KME_DEF_ALLOC_AHEAD     64    /* most chunks one allocation covers (1 = none ahead) */
#define KME_DEF_ALLOC_AHEAD_B   16384 /* ... and most bytes */
#define KME_MAX_ALLOC_AHEAD     KME_PEER_MAX_RUN
#define KME_MAX_PEER_REQS       65536 /* follower requests a leader keeps waiting for ring bytes */
#define KME_MAX_PEND_ALLOCS     65536 /* ALLOCs a follower keeps waiting for ring bytes */
#define KME_MAX_TOMBSTONES      65536 /* closed KSIDs remembered per link (see kme_tomb) */
#define KME_MAX_DELIVERED_MEMO                                                                     \
    65536 /* follower: delivered allocations remembered per link                                   \
             until the leader has their ACK (see kme_dmemo) */
/* The metadata is {"age":N,"hops":0}: 18 bytes (N < 10) to 27 (N = 2^32-1). A smaller
 * Metadata_size than the metadata of the delivery gets 8 with 27, the size that always fits. */
#define KME_METADATA_MIN 18
#define KME_METADATA_MAX 27
#define KME_MAX_CHUNK    KME_PEER_MAX_CHUNK /* largest Key_chunk_size a node accepts */

/* ETSI 014 settings (rest.c, docs/etsi014.md). */
struct kme_e14_config {
    const char *listen;      /* --etsi014-listen H:P (NULL = off) */
    const char *port_file;   /* --etsi014-port-file */
    struct qkd_strlist saes; /* --sae ID=NODE (or comma-separated lists) */
    uint32_t wait_ms;        /* how long enc_keys / dec_keys wait for key or the peer */
    uint32_t key_ttl_s;      /* keys not fetched by every slave are wiped after this */
    uint32_t key_size, min_key_size, max_key_size; /* bits */
    uint32_t max_per_request, max_sae_ids;
    uint32_t max_conns, idle_ms;
    uint32_t request_ms; /* one whole request must arrive within this from its first byte (408) */
    uint32_t max_header_bytes, max_body_bytes, max_requests_per_conn;
    uint32_t max_local_bytes; /* CSPRNG key held for slaves at this node */
};
#define KME_E14_DEF_WAIT_MS     2000
#define KME_E14_DEF_KEY_TTL_S   300
#define KME_E14_DEF_MAX_CONNS   256
#define KME_E14_DEF_IDLE_MS     30000
#define KME_E14_DEF_LOCAL_BYTES (16u * 1024u * 1024u)

struct kme_config {
    const char *address;
    uint32_t port;
    const char *cert, *key, *ca;
    const char *node;
    const char *node_uuid;
    const char *peer_listen;
    struct qkd_strlist links;
    const char *default_link;
    const char *port_file, *peer_port_file;
    uint64_t window_bytes;
    uint32_t max_payload;
    uint32_t max_conns;
    uint32_t max_handshakes;      /* ETSI connections in their TLS handshake (oldest closed) */
    uint32_t peer_max_handshakes; /* same for the peer-sync listener */
    uint32_t idle_ms;
    uint32_t out_high; /* back-pressure: unread answers above this stop reading a client */
    uint32_t max_streams;
    uint32_t max_streams_per_id; /* streams attached by one identity at this node */
    uint32_t max_unattached;     /* bytes held per link for unattached streams */
    uint32_t max_window_chunks;  /* largest window in chunks (its bitmap: that many bits) */
    struct kme_qos_limits qos;
    bool admission;
    bool core_dumps; /* leave the process dumpable (debugging; key pages stay excluded) */
    const char *log_level;
    uint32_t heartbeat_ms;
    uint32_t peer_timeout_ms;
    uint32_t poll_ms;
    uint32_t alloc_ahead;       /* chunks */
    uint32_t alloc_ahead_bytes; /* bytes */
    const char *metrics_listen; /* --metrics-listen: HTTP /metrics, /healthz, / (NULL = off) */
    const char *metrics_port_file;
    struct kme_e14_config e14;
};

struct kme_waiter;
struct kme_rest;

/* The key server's state of one ETSI 004 connection (the etsi_server client's user area). */
struct kme_client {
    struct kme *kme;
    struct qkd_etsi_client *ec; /* connection, identity, framing, address */
    struct kme_waiter *waiter;
};

struct kme {
    struct kme_config cfg;
    struct qkd_loop *loop;
    SSL_CTX *srv_ctx, *cli_ctx;
    struct kme_streams streams;
    struct kme_link links[KME_MAX_LINKS];
    int nlinks;
    int default_link;
    uint8_t node_uuid[16];
    struct qkd_etsi_srv *etsi;     /* the ETSI 004 listener and its connections */
    struct qkd_listener *peer_lst; /* peer-sync listener; NULL = none */
    struct kme_pconn *pconns;      /* every peer-sync connection */
    uint64_t stats_get_ok;
    struct qkd_obs obs;    /* the metrics endpoint (metrics.c) */
    struct kme_rest *rest; /* the ETSI 014 listener (rest.c); NULL = off */
    /* calls of another API waiting on a link (set by rest.c, so getkey.c need not know it):
     * re-evaluate them (kme_wake), and forget their requests to the leader (new connection) */
    void (*wake_hook)(struct kme_link *l);
    void (*unsend_hook)(struct kme_link *l);
    bool stopping;
};

#endif
