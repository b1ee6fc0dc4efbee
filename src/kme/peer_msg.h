/* peer_msg.h: the key-server peer-sync messages (docs/kme.md) and their codec. Frames use the
 * project's 8-byte header (wire.md) with the version bytes {'P','S',3}, distinct from ETSI
 * 004, and the message type in the service byte. All integers big-endian. Allocation messages
 * cover a run of consecutive indices (count), so one message allocates ahead. */
#ifndef KME_PEER_MSG_H
#define KME_PEER_MSG_H

#include <stdint.h>

#include "bytes.h"
#include "qkd/types.h"
#include "wire.h"

#define KME_PEER_V_MAJOR 'P'
#define KME_PEER_V_MINOR 'S'
#define KME_PEER_V_PATCH                                                                           \
    3 /* 2: runs (count) in ALLOC_REQ / ALLOC / ALLOC_ACK; 3: REST_KEYS, GONE */
#define KME_PEER_NAME_MAX    64 /* node names, including NUL */
#define KME_PEER_MAX_PAYLOAD 2048
#define KME_PEER_MAX_RUN     4096  /* most indices one allocation message covers */
#define KME_PEER_MAX_CHUNK   65536 /* largest chunk (Key_chunk_size) on the link */

enum kme_pmsg_type {
    KME_PM_HELLO = 0x51,     /* node name, node UUID, role */
    KME_PM_ANNOUNCE = 0x52,  /* ksid, QoS, opener attached */
    KME_PM_ATTACH = 0x53,    /* ksid: the sender's application attached */
    KME_PM_CLOSE = 0x54,     /* ksid: closed at the sender */
    KME_PM_ALLOC_REQ = 0x55, /* follower -> leader: ksid, index, count */
    KME_PM_ALLOC = 0x56,     /* leader -> follower: ksid, index, count, status, offset, len */
    KME_PM_ALLOC_ACK = 0x57, /* follower -> leader: ksid, index, count, status */
    KME_PM_HEARTBEAT = 0x58, /* wall clock ms, heartbeat mark */
    KME_PM_REST_KEYS = 0x59, /* ksid: an ETSI 014 key batch (struct kme_rest_msg) */
    KME_PM_GONE = 0x5a,      /* leader -> follower: ksid, index: every index below it is
                                delivered or withdrawn at the leader (u.alloc.index) */
};

/* REST_KEYS: the master's node tells the slave's node of an ETSI 014 enc_keys batch before
 * any of its key is allocated (docs/etsi014.md): keys are the indices 0 .. number - 1 of the
 * stream ksid, key_bytes each; the master SAE and the slave SAEs (the slave first, then the
 * additional slaves) that may fetch them. */
#define KME_REST_SAE_MAX    65 /* SAE id bytes including NUL (a CN is at most 64 bytes) */
#define KME_REST_MAX_SLAVES 17 /* the slave and at most 16 additional slaves */
#define KME_REST_MAX_KEYS   255
struct kme_rest_msg {
    struct qkd_ksid ksid;
    uint32_t key_bytes; /* 1 .. KME_PEER_MAX_CHUNK */
    uint32_t number;    /* 1 .. KME_REST_MAX_KEYS */
    char master[KME_REST_SAE_MAX];
    uint32_t nslaves; /* 1 .. KME_REST_MAX_SLAVES */
    char slaves[KME_REST_MAX_SLAVES][KME_REST_SAE_MAX];
};

/* ALLOC / ALLOC_ACK status. */
enum kme_alloc_status {
    KME_AS_OK = 0,
    KME_AS_LOST = 1,    /* the index can never be delivered consistently: refuse it for good */
    KME_AS_REFUSED = 2, /* not now (outside the sender's window) */
    KME_AS_CLOSED = 3,  /* the stream is closed or unknown at the sender */
};
#define KME_AS_MAX 3

enum kme_role { KME_ROLE_LEADER = 1, KME_ROLE_FOLLOWER = 2 };

/* ALLOC_REQ / ALLOC / ALLOC_ACK: the run index .. index + count - 1 (1 <= count <=
 * KME_PEER_MAX_RUN, no u32 wrap). ALLOC with status 0: index + k is the ring range
 * [offset + k * len, offset + (k + 1) * len); other statuses carry offset 0, len 0. ALLOC_REQ:
 * index is needed, the rest is asked for ahead. ALLOC_ACK: one status for the whole run. */
struct kme_pmsg_alloc {
    uint32_t index;
    uint32_t count;
    uint8_t status;
    uint64_t offset;
    uint32_t len; /* bytes per index, 1..KME_PEER_MAX_CHUNK */
};

struct kme_pmsg {
    uint8_t type;
    struct qkd_ksid ksid; /* ANNOUNCE ATTACH CLOSE ALLOC_REQ ALLOC ALLOC_ACK */
    union {
        struct {
            char node[KME_PEER_NAME_MAX];
            uint8_t uuid[16];
            uint8_t role;
        } hello;
        struct {
            struct qkd_qos qos;
            uint8_t attached;
        } announce;
        struct kme_pmsg_alloc alloc;
        struct {
            uint64_t wall_ms;
            /* follower -> leader: a counter of its heartbeats; leader -> follower: the last
             * counter it received (so the follower knows which of its ACKs the leader has
             * processed). */
            uint64_t mark;
        } hb;
        struct {
            const uint8_t *p; /* REST_KEYS: the payload (valid while the frame is), already
                                 checked by kme_pmsg_decode; kme_rest_msg_decode reads it */
            uint32_t len;
        } raw;
    } u;
};

const char *kme_pmsg_name(uint8_t type);
/* Appends one whole frame (header + payload) to w. Returns 0 or -1. */
int kme_pmsg_encode(const struct kme_pmsg *m, struct qkd_writer *w);
/* Decodes one frame whose header is h and payload exactly h->payload_len bytes. Returns 0, or
 * -1 on any malformed input (wrong version, unknown type, bad length or field value). */
int kme_pmsg_decode(const struct qkd_wire_hdr *h, const uint8_t *payload, struct kme_pmsg *out);
/* REST_KEYS: appends the payload (0 or -1; it goes out as kme_pmsg u.raw), and decodes one (0,
 * or -1 when malformed: empty, over-long or NUL-holding ids, counts out of range, trailing
 * bytes). */
int kme_rest_msg_encode(const struct kme_rest_msg *m, struct qkd_writer *w);
int kme_rest_msg_decode(const uint8_t *payload, size_t len, struct kme_rest_msg *out);

#endif
