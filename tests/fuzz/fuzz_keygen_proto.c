/* fuzz_keygen_proto.c: libFuzzer target for the keygen link protocol decoders (proto.h). Byte 0
 * picks the message (HELLO, BLOCK, ACK, HEARTBEAT, DROPPED, STATE, RING, or the resync rule), the
 * rest is the payload. Every layout is fixed, so a payload that decodes must re-encode to the
 * very same bytes and decode again to the same fields. The resynchronisation case reads four
 * offsets and checks the documented guarantees for any consistent pair of ends. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define FUZZ_CHECK(c)                                                                              \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

enum fuzz_kg_case {
    FUZZ_KG_HELLO = 0,
    FUZZ_KG_BLOCK,
    FUZZ_KG_ACK,
    FUZZ_KG_HEARTBEAT,
    FUZZ_KG_DROPPED,
    FUZZ_KG_RESYNC,
    FUZZ_KG_STATE,
    FUZZ_KG_RING,
    FUZZ_KG_CASES,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The encoder's output must equal the decoded payload byte for byte. */
static void fuzz_kg_same(struct qkd_writer *w, const uint8_t *p, size_t len)
{
    FUZZ_CHECK(!w->failed && w->len == len && (len == 0 || memcmp(w->buf, p, len) == 0));
}

static void fuzz_kg_hello(const uint8_t *p, size_t len, struct qkd_writer *w)
{
    struct kg_hello a, b;
    const char *why = NULL;
    if (kg_hello_decode(p, len, &a, &why) != 0) {
        FUZZ_CHECK(why != NULL);
        return;
    }
    FUZZ_CHECK(a.proto == 1 && a.role <= KG_ROLE_RECEIVER);
    FUZZ_CHECK(a.consume_off <= a.write_off && a.write_off - a.consume_off <= a.capacity);
    FUZZ_CHECK(a.block_bytes >= 1 && a.block_bytes <= KG_MAX_BLOCK_BYTES);
    FUZZ_CHECK(kg_hello_encode(w, &a) == 0);
    fuzz_kg_same(w, p, len);
    FUZZ_CHECK(kg_hello_decode(w->buf, w->len, &b, &why) == 0);
    FUZZ_CHECK(a.proto == b.proto && a.role == b.role && a.write_off == b.write_off &&
               a.consume_off == b.consume_off && a.capacity == b.capacity &&
               a.block_bytes == b.block_bytes && a.skr_bps == b.skr_bps);
}

static void fuzz_kg_block(const uint8_t *p, size_t len, struct qkd_writer *w)
{
    struct kg_block a, b;
    const char *why = NULL;
    if (kg_block_decode(p, len, &a, &why) != 0) {
        FUZZ_CHECK(why != NULL);
        return;
    }
    FUZZ_CHECK(a.len >= 1 && a.len <= KG_MAX_BLOCK_BYTES);
    FUZZ_CHECK(a.data == p + KG_BLOCK_HDR_LEN && KG_BLOCK_HDR_LEN + (size_t)a.len == len);
    FUZZ_CHECK(UINT64_MAX - a.offset >= a.len);
    FUZZ_CHECK(kg_block_encode(w, &a) == 0);
    fuzz_kg_same(w, p, len);
    FUZZ_CHECK(kg_block_decode(w->buf, w->len, &b, &why) == 0);
    FUZZ_CHECK(a.offset == b.offset && a.distilled_ms == b.distilled_ms && a.len == b.len);
    FUZZ_CHECK(memcmp(a.data, b.data, a.len) == 0);
}

static void fuzz_kg_ack(const uint8_t *p, size_t len, struct qkd_writer *w)
{
    struct kg_ack a, b;
    const char *why = NULL;
    if (kg_ack_decode(p, len, &a, &why) != 0) {
        FUZZ_CHECK(why != NULL);
        return;
    }
    FUZZ_CHECK(a.status <= KG_ACK_SKIP);
    FUZZ_CHECK(kg_ack_encode(w, &a) == 0);
    fuzz_kg_same(w, p, len);
    FUZZ_CHECK(kg_ack_decode(w->buf, w->len, &b, &why) == 0);
    FUZZ_CHECK(a.offset == b.offset && a.len == b.len && a.status == b.status);
}

static void fuzz_kg_heartbeat(const uint8_t *p, size_t len, struct qkd_writer *w)
{
    uint64_t a = 0, b = 0;
    const char *why = NULL;
    if (kg_heartbeat_decode(p, len, &a, &why) != 0) {
        FUZZ_CHECK(why != NULL);
        return;
    }
    FUZZ_CHECK(kg_heartbeat_encode(w, a) == 0);
    fuzz_kg_same(w, p, len);
    FUZZ_CHECK(kg_heartbeat_decode(w->buf, w->len, &b, &why) == 0 && a == b);
}

static void fuzz_kg_dropped(const uint8_t *p, size_t len, struct qkd_writer *w)
{
    uint64_t blocks = 0, bytes = 0, blocks2 = 0, bytes2 = 0;
    const char *why = NULL;
    if (kg_dropped_decode(p, len, &blocks, &bytes, &why) != 0) {
        FUZZ_CHECK(why != NULL);
        return;
    }
    FUZZ_CHECK(blocks <= bytes);
    FUZZ_CHECK(kg_dropped_encode(w, blocks, bytes) == 0);
    fuzz_kg_same(w, p, len);
    FUZZ_CHECK(kg_dropped_decode(w->buf, w->len, &blocks2, &bytes2, &why) == 0);
    FUZZ_CHECK(blocks == blocks2 && bytes == bytes2);
}

static void fuzz_kg_state(const uint8_t *p, size_t len, struct qkd_writer *w)
{
    bool up = false, up2 = false;
    uint64_t skr = 0, skr2 = 0;
    const char *why = NULL;
    if (kg_state_decode(p, len, &up, &skr, &why) != 0) {
        FUZZ_CHECK(why != NULL);
        return;
    }
    FUZZ_CHECK(kg_state_encode(w, up, skr) == 0);
    fuzz_kg_same(w, p, len);
    FUZZ_CHECK(kg_state_decode(w->buf, w->len, &up2, &skr2, &why) == 0);
    FUZZ_CHECK(up == up2 && skr == skr2);
}

static uint64_t fuzz_kg_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* proto.h: the target is never below either end's consume offset nor below the sender's write
 * offset, so neither end is ever told to do the impossible; each action leaves the end at the
 * target. Only consistent ends (consume <= write) are meaningful. */
static void fuzz_kg_resync(const uint8_t *p, size_t len)
{
    if (len < 32) return;
    uint64_t sw = fuzz_kg_u64(p), sc = fuzz_kg_u64(p + 8);
    uint64_t rw = fuzz_kg_u64(p + 16), rc = fuzz_kg_u64(p + 24);
    uint64_t t = kg_resync_target(sw, sc, rw, rc);
    if (sc > sw || rc > rw) return;
    FUZZ_CHECK(t >= sw && t >= sc && t >= rc);
    FUZZ_CHECK(t == sw || t == rc);
    const uint64_t ends[2][2] = {{sw, sc}, {rw, rc}};
    for (int e = 0; e < 2; e++) {
        uint64_t w = ends[e][0], c = ends[e][1];
        enum kg_resync_action act = kg_resync_action(w, c, t);
        FUZZ_CHECK(act != KG_RESYNC_IMPOSSIBLE);
        FUZZ_CHECK((act == KG_RESYNC_NONE) == (t == w));
        FUZZ_CHECK(act != KG_RESYNC_ROLLBACK || (t < w && t >= c));
        FUZZ_CHECK(act != KG_RESYNC_MOVE || (t > w && w == c));
        FUZZ_CHECK(act != KG_RESYNC_DROP_AND_MOVE || (t > w && w > c));
    }
}

static void fuzz_kg_ring(const uint8_t *p, size_t len, struct qkd_writer *w)
{
    struct kg_ring_ids a, b;
    const char *why = NULL;
    if (kg_ring_decode(p, len, &a, &why) != 0) {
        FUZZ_CHECK(why != NULL);
        return;
    }
    FUZZ_CHECK(kg_ring_encode(w, &a) == 0);
    fuzz_kg_same(w, p, len);
    FUZZ_CHECK(kg_ring_decode(w->buf, w->len, &b, &why) == 0);
    FUZZ_CHECK(a.ring_id == b.ring_id && a.peer_ring_id == b.peer_ring_id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size - 1 > KG_MAX_PAYLOAD + 64) return 0;
    const uint8_t *p = data + 1;
    size_t len = size - 1;
    struct qkd_writer w;
    qkd_writer_init(&w, KG_MAX_PAYLOAD);
    switch ((enum fuzz_kg_case)(data[0] % FUZZ_KG_CASES)) {
    case FUZZ_KG_HELLO:
        fuzz_kg_hello(p, len, &w);
        break;
    case FUZZ_KG_BLOCK:
        fuzz_kg_block(p, len, &w);
        break;
    case FUZZ_KG_ACK:
        fuzz_kg_ack(p, len, &w);
        break;
    case FUZZ_KG_HEARTBEAT:
        fuzz_kg_heartbeat(p, len, &w);
        break;
    case FUZZ_KG_DROPPED:
        fuzz_kg_dropped(p, len, &w);
        break;
    case FUZZ_KG_STATE:
        fuzz_kg_state(p, len, &w);
        break;
    case FUZZ_KG_RING:
        fuzz_kg_ring(p, len, &w);
        break;
    default:
        fuzz_kg_resync(p, len);
        break;
    }
    qkd_writer_free(&w);
    return 0;
}
