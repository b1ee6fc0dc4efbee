/* proto.c: encoding and bounded decoding of the keygen link messages (proto.h) and the
 * resynchronisation rule. Pure functions, no I/O. */
#include "proto.h"

const uint8_t kg_proto_version[3] = {'K', 'G', 1};

int kg_hello_encode(struct qkd_writer *w, const struct kg_hello *h)
{
    qkd_write_u32(w, h->proto);
    qkd_write_u8(w, h->role);
    qkd_write_u64(w, h->write_off);
    qkd_write_u64(w, h->consume_off);
    qkd_write_u64(w, h->capacity);
    qkd_write_u32(w, h->block_bytes);
    qkd_write_u64(w, h->skr_bps);
    return w->failed ? -1 : 0;
}

int kg_ring_encode(struct qkd_writer *w, const struct kg_ring_ids *ids)
{
    qkd_write_u64(w, ids->ring_id);
    qkd_write_u64(w, ids->peer_ring_id);
    return w->failed ? -1 : 0;
}

int kg_block_encode(struct qkd_writer *w, const struct kg_block *b)
{
    if (b->len == 0 || b->len > KG_MAX_BLOCK_BYTES) return -1;
    qkd_write_u64(w, b->offset);
    qkd_write_u64(w, b->distilled_ms);
    qkd_write_u32(w, b->len);
    qkd_write_bytes(w, b->data, b->len);
    return w->failed ? -1 : 0;
}

int kg_ack_encode(struct qkd_writer *w, const struct kg_ack *a)
{
    qkd_write_u64(w, a->offset);
    qkd_write_u32(w, a->len);
    qkd_write_u8(w, a->status);
    return w->failed ? -1 : 0;
}

int kg_heartbeat_encode(struct qkd_writer *w, uint64_t wall_ms)
{
    qkd_write_u64(w, wall_ms);
    return w->failed ? -1 : 0;
}

static int kg_fail(const char **why, const char *reason)
{
    if (why != NULL) *why = reason;
    return -1;
}

int kg_hello_decode(const uint8_t *p, size_t len, struct kg_hello *h, const char **why)
{
    if (len != KG_HELLO_LEN) return kg_fail(why, "HELLO length");
    struct qkd_reader r;
    qkd_reader_init(&r, p, len);
    qkd_read_u32(&r, &h->proto);
    qkd_read_u8(&r, &h->role);
    qkd_read_u64(&r, &h->write_off);
    qkd_read_u64(&r, &h->consume_off);
    qkd_read_u64(&r, &h->capacity);
    qkd_read_u32(&r, &h->block_bytes);
    qkd_read_u64(&r, &h->skr_bps);
    if (r.failed) return kg_fail(why, "HELLO truncated");
    if (h->proto != 1) return kg_fail(why, "HELLO protocol version");
    if (h->role != KG_ROLE_SENDER && h->role != KG_ROLE_RECEIVER) return kg_fail(why, "HELLO role");
    if (h->consume_off > h->write_off || h->write_off - h->consume_off > h->capacity)
        return kg_fail(why, "HELLO offsets");
    if (h->block_bytes == 0 || h->block_bytes > KG_MAX_BLOCK_BYTES)
        return kg_fail(why, "HELLO block size");
    return 0;
}

int kg_block_decode(const uint8_t *p, size_t len, struct kg_block *b, const char **why)
{
    struct qkd_reader r;
    qkd_reader_init(&r, p, len);
    qkd_read_u64(&r, &b->offset);
    qkd_read_u64(&r, &b->distilled_ms);
    qkd_read_u32(&r, &b->len);
    if (r.failed) return kg_fail(why, "BLOCK truncated");
    if (b->len == 0 || b->len > KG_MAX_BLOCK_BYTES)
        return kg_fail(why, "BLOCK length out of range");
    if (qkd_reader_left(&r) != b->len)
        return kg_fail(why, "BLOCK length does not match the payload");
    if (UINT64_MAX - b->offset < b->len) return kg_fail(why, "BLOCK offset overflows");
    b->data = qkd_read_ptr(&r, b->len);
    return b->data == NULL ? kg_fail(why, "BLOCK truncated") : 0;
}

int kg_ack_decode(const uint8_t *p, size_t len, struct kg_ack *a, const char **why)
{
    if (len != KG_ACK_LEN) return kg_fail(why, "ACK length");
    struct qkd_reader r;
    qkd_reader_init(&r, p, len);
    qkd_read_u64(&r, &a->offset);
    qkd_read_u32(&r, &a->len);
    qkd_read_u8(&r, &a->status);
    if (r.failed) return kg_fail(why, "ACK truncated");
    if (a->status > KG_ACK_SKIP) return kg_fail(why, "ACK status");
    return 0;
}

int kg_heartbeat_decode(const uint8_t *p, size_t len, uint64_t *wall_ms, const char **why)
{
    if (len != KG_HEARTBEAT_LEN) return kg_fail(why, "HEARTBEAT length");
    struct qkd_reader r;
    qkd_reader_init(&r, p, len);
    qkd_read_u64(&r, wall_ms);
    return r.failed ? kg_fail(why, "HEARTBEAT truncated") : 0;
}

int kg_dropped_encode(struct qkd_writer *w, uint64_t blocks, uint64_t bytes)
{
    qkd_write_u64(w, blocks);
    qkd_write_u64(w, bytes);
    return w->failed ? -1 : 0;
}

int kg_dropped_decode(const uint8_t *p, size_t len, uint64_t *blocks, uint64_t *bytes,
                      const char **why)
{
    if (len != KG_DROPPED_LEN) return kg_fail(why, "DROPPED length");
    struct qkd_reader r;
    qkd_reader_init(&r, p, len);
    qkd_read_u64(&r, blocks);
    qkd_read_u64(&r, bytes);
    if (r.failed) return kg_fail(why, "DROPPED truncated");
    if (*blocks > *bytes) return kg_fail(why, "DROPPED counts");
    return 0;
}

int kg_state_encode(struct qkd_writer *w, bool up, uint64_t skr_current_bps)
{
    qkd_write_u8(w, up ? 1 : 0);
    qkd_write_u64(w, skr_current_bps);
    return w->failed ? -1 : 0;
}

int kg_state_decode(const uint8_t *p, size_t len, bool *up, uint64_t *skr_current_bps,
                    const char **why)
{
    if (len != KG_STATE_LEN) return kg_fail(why, "STATE length");
    struct qkd_reader r;
    qkd_reader_init(&r, p, len);
    uint8_t u = 0;
    qkd_read_u8(&r, &u);
    qkd_read_u64(&r, skr_current_bps);
    if (r.failed) return kg_fail(why, "STATE truncated");
    if (u > 1) return kg_fail(why, "STATE link flag");
    *up = u == 1;
    return 0;
}

int kg_ring_decode(const uint8_t *p, size_t len, struct kg_ring_ids *ids, const char **why)
{
    if (len != KG_RING_LEN) return kg_fail(why, "RING length");
    struct qkd_reader r;
    qkd_reader_init(&r, p, len);
    qkd_read_u64(&r, &ids->ring_id);
    qkd_read_u64(&r, &ids->peer_ring_id);
    if (r.failed) return kg_fail(why, "RING truncated");
    return 0;
}

static uint64_t kg_max(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

uint64_t kg_resync_target(uint64_t sender_write, uint64_t sender_consume, uint64_t receiver_write,
                          uint64_t receiver_consume)
{
    (void)sender_consume;
    if (receiver_write > sender_write) {
        /* The receiver's tail beyond the sender was never confirmed: roll it back, unless its
         * reader consumed past the sender (the sender's ring was recreated): then both
         * continue at the receiver's consume offset. */
        return kg_max(sender_write, receiver_consume);
    }
    /* Equal, or the receiver is behind (its ring was recreated): the sender's confirmed bytes
     * are never rewritten, the receiver moves forward. */
    return sender_write;
}

uint64_t kg_resync_target_gen(uint64_t sender_write, uint64_t sender_consume,
                              uint64_t receiver_write, uint64_t receiver_consume,
                              bool sender_recreated)
{
    if (sender_recreated) return kg_max(sender_write, receiver_write);
    return kg_resync_target(sender_write, sender_consume, receiver_write, receiver_consume);
}

enum kg_resync_action kg_resync_action(uint64_t write_off, uint64_t consume_off, uint64_t target)
{
    if (target == write_off) return KG_RESYNC_NONE;
    if (target < consume_off) return KG_RESYNC_IMPOSSIBLE;
    if (target < write_off) return KG_RESYNC_ROLLBACK;
    return write_off == consume_off ? KG_RESYNC_MOVE : KG_RESYNC_DROP_AND_MOVE;
}

enum kg_resync_action kg_resync_action_gen(uint64_t write_off, uint64_t consume_off,
                                           uint64_t target, bool drop)
{
    if (drop && consume_off < write_off && target >= write_off) return KG_RESYNC_DROP_AND_MOVE;
    return kg_resync_action(write_off, consume_off, target);
}
