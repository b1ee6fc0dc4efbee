/* kg.h: state of one qkd-keygen process (one end of one emulated QKD link) shared by its
 * parts: main.c (options, start-up), link.c (TLS link, HELLO/resync, heartbeat, stats),
 * sender.c (paced block generation, ACKs, QBER rate and outage profile) and receiver.c
 * (listener, BLOCK handling). */
#ifndef KG_KG_H
#define KG_KG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "bytes.h"
#include "conn.h"
#include "emul.h"
#include "evloop.h"
#include "obs.h"
#include "pacing.h"
#include "proto.h"
#include "ring.h"
#include "secbuf.h"

/* Defaults and limits of the settings (docs/keygen.md). */
#define KG_DEFAULT_PORT            25580u
#define KG_DEFAULT_SKR_BPS         1000000u
#define KG_DEFAULT_BLOCK_BYTES     1024u
#define KG_DEFAULT_RING_BYTES      1048576u
#define KG_DEFAULT_MAX_INFLIGHT    256u /* unacknowledged blocks on the link */
#define KG_MAX_MAX_INFLIGHT        4096u
#define KG_DEFAULT_STATS_MS        10000u
#define KG_DEFAULT_HEARTBEAT_MS    1000u
#define KG_DEFAULT_LINK_TIMEOUT_MS 5000u /* no frame for this long: link down */
#define KG_BACKOFF_MIN_MS          200u
#define KG_BACKOFF_MAX_MS          2000u
/* Receiver: connections still in their TLS handshake; a new one closes the oldest, so hosts
 * that connect and never finish cannot keep the sender out (docs/keygen.md). */
#define KG_DEFAULT_MAX_HANDSHAKES 8u
#define KG_RECV_HANDSHAKE_MS      2000u /* receiver: a handshake not done by then is closed */
#define KG_FD_RESERVE             32u   /* descriptors beside the link's: ring, logs, epoll */
#define KG_MAX_SKR_BPS            (8ull * 1000 * 1000 * 1000) /* 1 GB/s */

struct kg_cfg {
    const char *mode;
    bool sender;
    const char *host;
    uint32_t port;
    uint64_t skr_bps; /* resolved: --skr-bps, else --skr * 8, else the default */
    uint32_t block_bytes;
    const char *ring_name;
    uint64_t ring_bytes;
    const char *cert, *key, *ca;
    const char *peer_name;
    const char *port_file;
    uint32_t max_inflight;
    uint32_t stats_ms;
    uint32_t heartbeat_ms;
    uint32_t link_timeout_ms;
    double qber_pct;               /* emulated QBER (sender decides); 0 = none */
    struct kg_outage outage;       /* emulated outage profile (sender decides); every_ms 0 = off */
    const char *ready_file;        /* exists (written atomically) exactly while the link is up */
    uint32_t max_handshakes;       /* receiver: connections still in their TLS handshake */
    const char *metrics_listen;    /* --metrics-listen (metrics.c); NULL = off */
    const char *metrics_port_file; /* --metrics-port-file */
};

struct kg_inflight {
    uint64_t offset;
    uint64_t distilled_ms;
    uint32_t len;
    bool doomed; /* follows a block the receiver refused: it will be skipped */
    struct qkd_secbuf *key;
};

/* Per-connection bookkeeping (the conn's callback argument). */
struct kg_connstate {
    struct kg *kg;
    bool opened;   /* handshake done */
    bool accepted; /* receiver: counted by the listener */
};

struct kg {
    struct kg_cfg cfg;
    struct qkd_loop *loop;
    SSL_CTX *ctx;
    struct qkd_ring *ring;
    struct qkd_writer out; /* payload scratch (wiped on reset) */
    bool stopping;

    /* The link: one authenticated connection at a time. */
    struct qkd_conn *conn;
    struct kg_hello my_hello; /* what this end sent on conn */
    bool hello_rcvd;
    struct kg_ring_ids peer_ids; /* the peer's RING (ring generations), when peer_ids_known */
    bool peer_ids_known;
    struct kg_hello stashed_hello; /* sender: the peer's HELLO, waiting for its RING */
    bool hello_stashed;
    bool synced; /* resynchronised: blocks may flow */
    uint64_t link_up_ms;
    /* Emulated link state: sender: inside an outage window; receiver: the sender said so.
     * The connection stays up (heartbeats) but the rings show the link down. */
    bool outage;
    uint64_t link_skr_bps;    /* the link's configured SKR (the sender's) */
    uint64_t skr_current_bps; /* what is distilled: SKR after the QBER */
    bool ready_known;         /* the ready file has been brought in line with the link */

    /* Sender. */
    struct kg_pacer pacer;
    uint64_t tick_timer;
    uint64_t reconnect_timer;
    uint32_t backoff_ms;
    bool connecting;
    struct kg_inflight *q; /* ring buffer of cfg.max_inflight entries */
    size_t q_head, q_len;
    uint64_t next_off;                            /* stream offset of the next block sent */
    uint64_t unreported_blocks, unreported_bytes; /* local discards not yet told the peer */
    uint64_t last_report_ms;
    uint64_t start_ns;     /* the outage schedule counts from here */
    uint64_t outage_timer; /* next change of the outage state */

    /* Receiver. */
    struct qkd_listener *lst;

    /* Counters since start (this end). */
    uint64_t bytes_delivered, blocks_delivered;
    uint64_t bytes_dropped, blocks_dropped;
    uint64_t stats_last_bytes, stats_last_ms;
    uint64_t hb_timer, stats_timer;
    /* The metrics endpoint (metrics.c) and its measured SKR. */
    struct qkd_obs obs;
    uint64_t m_rate_ms, m_rate_bytes;
    double m_rate_bps;
};

/* link.c */
int kg_link_start(struct kg *kg);
void kg_link_stop(struct kg *kg);
const struct qkd_conn_ops *kg_link_ops(void);
struct qkd_conn_limits kg_link_limits(const struct kg *kg);
int kg_link_send(struct kg *kg, uint8_t type); /* sends kg->out as a message */
void kg_count_dropped(struct kg *kg, uint64_t bytes);
/* Link up/down in the ring's stats (with the link's SKR) and in the --ready-file. */
void kg_set_link(struct kg *kg, bool up);
#define KG_DROPPED_REPORT_MS 100u /* sender: at most this often a DROPPED message */

/* sender.c */
int kg_sender_start(struct kg *kg);
void kg_sender_stop(struct kg *kg);
void kg_sender_link_up(struct kg *kg, uint64_t offset);
void kg_sender_link_down(struct kg *kg, bool was_up);
int kg_sender_on_ack(struct kg *kg, const uint8_t *p, size_t len);
/* Tells the receiver the emulated link state and current SKR (only when a knob is set, so a
 * receiver that predates STATE still works with a plain link). Returns 0 or -1. */
int kg_sender_send_state(struct kg *kg);
/* Whether the sender uses a knob the receiver must follow (QBER or outage profile). */
bool kg_sender_has_knobs(const struct kg *kg);

/* receiver.c */
int kg_receiver_start(struct kg *kg);
void kg_receiver_stop(struct kg *kg);
int kg_receiver_on_block(struct kg *kg, const uint8_t *p, size_t len);
int kg_receiver_on_state(struct kg *kg, const uint8_t *p, size_t len);

#endif
