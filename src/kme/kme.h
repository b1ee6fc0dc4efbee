/* kme.h: the key server's shared internal state (configuration, links, stream table, client
 * connections, waiting GET_KEY calls) and the functions its source files offer each other.
 * main.c options/startup, server.c ETSI transport, api.c the three ETSI calls, alloc.c key
 * allocation and waiting, peer.c peer-sync connections, link.c rings. */
#ifndef KME_KME_H
#define KME_KME_H

#include <stdbool.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "conn.h"
#include "etsi_server.h"
#include "evloop.h"
#include "opts.h"
#include "peer_msg.h"
#include "qos.h"
#include "ring.h"
#include "stream.h"
#include "wire.h"

#define KME_MAX_LINKS           16
#define KME_DEF_PORT            25575
#define KME_DEF_WINDOW          (1024u * 1024u)
#define KME_MAX_WINDOW          (64ull * 1024 * 1024)
#define KME_DEF_MAX_CONNS       4096
#define KME_DEF_IDLE_MS         60000
#define KME_DEF_MAX_STREAMS     10000
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
    uint32_t idle_ms;
    uint32_t max_streams;
    struct kme_qos_limits qos;
    bool admission;
    const char *log_level;
    uint32_t heartbeat_ms;
    uint32_t peer_timeout_ms;
    uint32_t poll_ms;
    uint32_t alloc_ahead;       /* chunks */
    uint32_t alloc_ahead_bytes; /* bytes */
};

struct kme;
struct kme_pconn;

/* A waiting GET_KEY call. */
struct kme_waiter {
    struct kme_client *cl;
    struct kme_link *link;
    struct qkd_ksid ksid;
    uint32_t index;
    uint32_t metadata_size;
    uint64_t timer;
    bool req_sent; /* follower: ALLOC_REQ sent on the current peer connection */
    struct kme_waiter *prev, *next;
};

/* A KSID closed at this node. It is kept while the peer end of the stream may live: dropped
 * when the peer closes its end too, or when a peer-sync connection came up and the peer did
 * not announce the stream before its first heartbeat (it announces every live stream first). */
struct kme_tomb {
    struct qkd_ksid ksid;
    uint64_t seq;  /* order of closing (the oldest goes first when the table is full) */
    uint8_t state; /* KME_TOMB_EMPTY / _LIVE / _GONE (an open-addressing hash table) */
    bool seen;     /* the peer announced it on the current connection */
};
enum { KME_TOMB_EMPTY = 0, KME_TOMB_LIVE = 1, KME_TOMB_GONE = 2 };

/* Follower: an allocation delivered to the application whose ACK the leader may not have
 * processed (the peer connection may drop with it). A re-sent ALLOC of the same mapping is
 * answered OK ("delivered here"), so the leader delivers it too. Dropped once the leader
 * echoes a heartbeat mark at or past ack_mark. */
struct kme_dmemo {
    struct qkd_ksid ksid;
    uint32_t index, len;
    uint64_t offset;
    uint64_t ack_mark;
};

/* A follower's ALLOC_REQ a leader could not serve yet (ring empty). */
struct kme_preq {
    struct qkd_ksid ksid;
    uint32_t index;
    uint32_t count; /* index and count - 1 indices ahead */
};

struct kme_link {
    struct kme *kme;
    int idx;
    char peer[KME_PEER_NAME_MAX];
    uint8_t peer_uuid[16];
    enum kme_role role; /* this node's role on the link */
    char ring_name[128];
    char addr[128]; /* follower: the leader's peer-sync address */
    uint64_t skr_cfg;
    struct qkd_ring *ring;
    uint64_t ring_timer;
    uint64_t ring_check_timer;
    uint64_t ring_floor; /* a re-created ring is attached only from this offset on */
    bool floor_warned;
    uint64_t alloc_next; /* leader: next ring offset to allocate */
    /* peer sync */
    struct kme_pconn *pc; /* the connection that said HELLO, or NULL */
    bool peer_up;
    struct kme_pconn *dialing;
    uint64_t dial_timer;
    uint32_t backoff_ms;
    uint64_t hb_timer;
    /* leader: allocations the follower has not confirmed, in allocation order */
    struct kme_alloc *aq_head, *aq_tail;
    struct kme_preq *preqs;
    size_t npreqs, preq_cap;
    /* heartbeat marks: follower: the last mark sent and the last echo received; leader: the
     * last mark received (echoed in its heartbeats) */
    uint64_t hb_mark, hb_echo;
    /* follower: delivered allocations the leader may not have the ACK of, oldest first */
    struct kme_dmemo *memo;
    size_t nmemo, memo_cap;
    /* follower: ALLOC runs waiting for ring bytes, in order (a partly taken run is trimmed) */
    struct kme_pmsg *pend;
    size_t npend, pend_cap;
    uint64_t poll_timer;
    /* waiting GET_KEY calls on this link */
    struct kme_waiter *waiters;
    size_t nwaiters;
    /* KSIDs closed here whose peer end may live (never attached again): a hash table of
     * tomb_cap slots (a power of two), ntomb live, tomb_used live or gone */
    struct kme_tomb *tombs;
    size_t ntomb, tomb_cap, tomb_used;
    uint64_t tomb_seq;
    bool tomb_sweep; /* peer up: tombs the peer does not announce before its first heartbeat go */
};

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
    struct qkd_etsi_srv *etsi; /* the ETSI 004 listener and its connections */
    int peer_fd;
    struct kme_pconn *pconns; /* every peer-sync connection */
    uint64_t stats_get_ok;
    bool stopping;
};

/* link.c */
int kme_link_parse(struct kme *k, struct kme_link *l, const char *spec, char *err, size_t n);
void kme_link_start(struct kme_link *l);
void kme_link_stop(struct kme_link *l);
uint64_t kme_link_skr(const struct kme_link *l);
struct kme_link *kme_link_by_name(struct kme *k, const char *host);
/* Derives a node UUID from its name (SHA-256 based, version 8 bits). */
void kme_node_uuid(const char *name, uint8_t out[16]);
void kme_link_tomb_add(struct kme_link *l, const struct qkd_ksid *ksid);
bool kme_link_tomb_has(const struct kme_link *l, const struct qkd_ksid *ksid);
void kme_link_tomb_del(struct kme_link *l, const struct qkd_ksid *ksid);
/* The tombstone of ksid on any link of the node, or NULL. */
struct kme_link *kme_tomb_link(struct kme *k, const struct qkd_ksid *ksid);
/* Peer sync up: from now on tombs count as unseen until the peer announces them. */
void kme_link_tomb_sweep_start(struct kme_link *l);
/* The peer's first heartbeat on a connection: tombs it did not announce are dropped. */
void kme_link_tomb_sweep_end(struct kme_link *l);
/* The peer announced ksid (its end lives). */
void kme_link_tomb_seen(struct kme_link *l, const struct qkd_ksid *ksid);
/* Whether the link's ring is still the one its name names (checked before every allocation);
 * a ring removed or re-created underneath is detached (kme_link_ring_lost) and false returned. */
bool kme_link_ring_current(struct kme_link *l);
/* Stops serving from the link's ring (logged with why); a new ring of the name is attached
 * only once its consume offset reaches every offset read from this one. */
void kme_link_ring_lost(struct kme_link *l, const char *why);
/* Starts the ring poll timer when something waits for ring bytes. */
void kme_link_want_poll(struct kme_link *l);

/* peer.c */
int kme_peer_listen(struct kme *k, char *err, size_t n);
void kme_peer_start(struct kme_link *l);
void kme_peer_stop_all(struct kme *k);
/* Queues a message to the link's peer; returns 0 if sent, -1 when the peer is down. */
int kme_peer_send(struct kme_link *l, const struct kme_pmsg *m);
void kme_peer_announce(struct kme_link *l, struct kme_stream *s);
void kme_peer_send_ksid(struct kme_link *l, uint8_t type, const struct qkd_ksid *ksid);

/* alloc.c */
/* Runs a GET_KEY for cl: answers at once or queues a waiter (and pauses the connection). */
void kme_get_key(struct kme *k, struct kme_client *cl, const struct qkd_get_req *g);
/* Re-evaluates the waiting calls of a link (key, allocation or peer state changed). */
void kme_wake(struct kme_link *l);
void kme_waiter_cancel(struct kme_waiter *w);
/* Answers every waiter on stream ksid with status (the stream went away). */
void kme_waiters_fail_stream(struct kme_link *l, const struct qkd_ksid *ksid, uint32_t status);
/* Takes an allocation off the leader's unacked queue. */
void kme_aq_remove(struct kme_link *l, struct kme_alloc *a);
/* Leader: the peer came up: re-send unacked allocations in order. */
void kme_alloc_resend(struct kme_link *l);
/* Follower: the peer came up: re-send the ALLOC_REQs of waiting calls. */
void kme_alloc_rerequest(struct kme_link *l);
void kme_alloc_peer_down(struct kme_link *l);
void kme_on_alloc_req(struct kme_link *l, const struct kme_pmsg *m);
void kme_on_alloc(struct kme_link *l, const struct kme_pmsg *m);
void kme_on_alloc_ack(struct kme_link *l, const struct kme_pmsg *m);
/* A heartbeat from the peer carrying mark (see kme_pmsg.hb). */
void kme_alloc_on_heartbeat(struct kme_link *l, uint64_t mark);
/* The mark this node's next heartbeat carries. */
uint64_t kme_alloc_hb_mark(struct kme_link *l);
/* Ring poll: serve pending work that needed ring bytes. */
bool kme_alloc_poll(struct kme_link *l);

/* api.c */
void kme_open_connect(struct kme *k, struct kme_client *cl, const struct qkd_open_req *o);
void kme_close(struct kme *k, struct kme_client *cl, const struct qkd_close_req *c);
/* Removes a stream at this node (wipes keys, cancels timers, fails waiters). */
void kme_stream_drop(struct kme *k, struct kme_stream *s, uint32_t waiter_status);
/* Registers a stream (TTL timer armed). Returns NULL when the table is full. */
struct kme_stream *kme_stream_register(struct kme *k, struct kme_link *l,
                                       const struct qkd_ksid *ksid, const struct qkd_qos *qos);
void kme_stream_touch(struct kme *k, struct kme_stream *s);
void kme_on_announce(struct kme_link *l, const struct kme_pmsg *m);
void kme_on_attach(struct kme_link *l, const struct kme_pmsg *m);
void kme_on_close(struct kme_link *l, const struct kme_pmsg *m);

/* server.c */
int kme_server_listen(struct kme *k, char *err, size_t n);
void kme_server_stop(struct kme *k);
/* Sends a response in the client's framing; returns 0 or -1 (connection closed). */

#endif
