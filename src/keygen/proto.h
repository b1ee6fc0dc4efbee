/* proto.h: the keygen link protocol between the sender (primary) and the receiver (secondary)
 * qkd-keygen. Frames use the project's 8-byte header (conn.h) with version bytes 'K','G',1 and
 * the message type in the service byte. Payloads are big-endian and parsed with the bounded
 * reader (bytes.h). Also the resynchronisation rule applied when a link comes up. */
#ifndef KG_PROTO_H
#define KG_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bytes.h"

extern const uint8_t kg_proto_version[3]; /* 'K', 'G', 1 */

enum kg_msg {
    KG_MSG_HELLO = 1,     /* both ways, first frame */
    KG_MSG_BLOCK = 2,     /* sender -> receiver */
    KG_MSG_ACK = 3,       /* receiver -> sender, one per BLOCK, in order */
    KG_MSG_HEARTBEAT = 4, /* both ways */
    KG_MSG_DROPPED = 5,   /* sender -> receiver: blocks the sender discarded unsent */
    KG_MSG_STATE = 6,     /* sender -> receiver: emulated link state (outage) and current SKR */
    KG_MSG_RING = 7,      /* sender first (before HELLO), receiver answers: ring generations */
};

enum kg_role { KG_ROLE_SENDER = 0, KG_ROLE_RECEIVER = 1 };

enum kg_ack_status {
    KG_ACK_OK = 0,   /* appended at the receiver */
    KG_ACK_FULL = 1, /* the receiver's ring had no room: discarded at both ends */
    KG_ACK_SKIP = 2, /* follows a discarded block (offset ahead of the receiver): discarded */
};

/* Largest key block on the link (a limit: --block-bytes is checked against it). */
#define KG_MAX_BLOCK_BYTES 32768u
#define KG_BLOCK_HDR_LEN   20u /* offset u64, distilled ms u64, length u32 */
#define KG_HELLO_LEN       41u
#define KG_RING_LEN        16u /* u64 ring id, u64 id of the partner ring it was paired with */
#define KG_ACK_LEN         13u
#define KG_HEARTBEAT_LEN   8u
#define KG_DROPPED_LEN     16u
#define KG_STATE_LEN       9u /* u8 up (0/1), u64 current SKR bit/s */
#define KG_MAX_PAYLOAD     (KG_BLOCK_HDR_LEN + KG_MAX_BLOCK_BYTES)

struct kg_hello {
    uint32_t proto; /* 1 */
    uint8_t role;   /* enum kg_role of the speaker */
    uint64_t write_off;
    uint64_t consume_off;
    uint64_t capacity;
    uint32_t block_bytes;
    uint64_t skr_bps;
};

/* RING: the ring generation of the speaker. The sender sends it before its HELLO; a receiver
 * answers it (only then, so a sender that predates it is served as before); the sender then
 * waits for the answer before it resynchronises, so both ends decide with the same ids. */
struct kg_ring_ids {
    uint64_t ring_id;      /* the speaker's ring (qkd_ring_id; 0 = unknown) */
    uint64_t peer_ring_id; /* the partner ring the speaker's ring was last synchronised with */
};

struct kg_block {
    uint64_t offset;
    uint64_t distilled_ms;
    uint32_t len;
    const uint8_t *data; /* into the payload */
};

struct kg_ack {
    uint64_t offset;
    uint32_t len;
    uint8_t status; /* enum kg_ack_status */
};

/* Encoders write the payload (no frame header) into w; return 0 or -1. */
int kg_hello_encode(struct qkd_writer *w, const struct kg_hello *h);
int kg_block_encode(struct qkd_writer *w, const struct kg_block *b);
int kg_ack_encode(struct qkd_writer *w, const struct kg_ack *a);
int kg_heartbeat_encode(struct qkd_writer *w, uint64_t wall_ms);
int kg_dropped_encode(struct qkd_writer *w, uint64_t blocks, uint64_t bytes);
int kg_state_encode(struct qkd_writer *w, bool up, uint64_t skr_current_bps);
int kg_ring_encode(struct qkd_writer *w, const struct kg_ring_ids *ids);

/* Decoders: 0, or -1 with a short reason in *why when the payload does not match the layout
 * or carries a forbidden value. */
int kg_hello_decode(const uint8_t *p, size_t len, struct kg_hello *h, const char **why);
int kg_block_decode(const uint8_t *p, size_t len, struct kg_block *b, const char **why);
int kg_ack_decode(const uint8_t *p, size_t len, struct kg_ack *a, const char **why);
int kg_heartbeat_decode(const uint8_t *p, size_t len, uint64_t *wall_ms, const char **why);
int kg_dropped_decode(const uint8_t *p, size_t len, uint64_t *blocks, uint64_t *bytes,
                      const char **why);
int kg_state_decode(const uint8_t *p, size_t len, bool *up, uint64_t *skr_current_bps,
                    const char **why);
int kg_ring_decode(const uint8_t *p, size_t len, struct kg_ring_ids *ids, const char **why);

/* Resynchronisation from the two HELLOs: the offset both ends continue from. Never below
 * either end's consume offset and never below the sender's write offset (offsets are never
 * reused; bytes visible at the primary never change). The receiver's unconfirmed tail (beyond
 * the sender's write offset) is rolled back. A receiver behind the sender (its ring was
 * recreated) moves forward to the sender's write offset: the primary's unconsumed bytes below
 * it then have no copy at the secondary (logged). A sender behind the receiver's consume
 * offset (its ring was recreated) moves forward to that offset. */
uint64_t kg_resync_target(uint64_t sender_write, uint64_t sender_consume, uint64_t receiver_write,
                          uint64_t receiver_consume);

/* The same, knowing whether the sender's ring was re-created since the two rings were last
 * synchronised (the receiver's ring remembers the id of the sender's ring it paired with and
 * the sender's RING names another). Then the sender's old bytes, which its key server may
 * have handed out, are gone: no offset below the receiver's write offset is filled again, so
 * both continue at max(sender write, receiver write), and the receiver drops its unconsumed
 * bytes (kg_resync_action_gen): allocations its key server has not taken yet are refused at
 * both ends, never matched with new bytes, and a full receiver ring cannot stall the link. */
uint64_t kg_resync_target_gen(uint64_t sender_write, uint64_t sender_consume,
                              uint64_t receiver_write, uint64_t receiver_consume,
                              bool sender_recreated);

/* What one end must do to its own ring to stand at target. */
enum kg_resync_action {
    KG_RESYNC_NONE = 0,
    KG_RESYNC_ROLLBACK,      /* reset_to(target): wipe the unconsumed tail above it */
    KG_RESYNC_DROP_AND_MOVE, /* reset_to(consume) then reset_to(target) */
    KG_RESYNC_MOVE,          /* empty ring: reset_to(target) */
    KG_RESYNC_IMPOSSIBLE,    /* target below this end's consume offset */
};
enum kg_resync_action kg_resync_action(uint64_t write_off, uint64_t consume_off, uint64_t target);
/* The same; drop: wipe the unconsumed bytes too (the receiver when the sender's ring is new). */
enum kg_resync_action kg_resync_action_gen(uint64_t write_off, uint64_t consume_off,
                                           uint64_t target, bool drop);

#endif
