/* test_keygen_proto.c: unit tests of src/keygen/proto.c: round trips of every link message,
 * rejection of truncated, oversized and inconsistent payloads, and the resynchronisation rule
 * for every restart case (receiver ahead, receiver recreated, sender recreated). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

static void test_hello_roundtrip(void **state)
{
    struct kg_hello h = {1, KG_ROLE_RECEIVER, 5000, 1000, 8192, 1024, 1000000}, d;
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    assert_int_equal(kg_hello_encode(&w, &h), 0);
    assert_int_equal(w.len, KG_HELLO_LEN);
    const char *why = NULL;
    assert_int_equal(kg_hello_decode(w.buf, w.len, &d, &why), 0);
    assert_int_equal(d.proto, 1);
    assert_int_equal(d.role, KG_ROLE_RECEIVER);
    assert_int_equal(d.write_off, 5000);
    assert_int_equal(d.consume_off, 1000);
    assert_int_equal(d.capacity, 8192);
    assert_int_equal(d.block_bytes, 1024);
    assert_int_equal(d.skr_bps, 1000000);
    assert_int_equal(kg_hello_decode(w.buf, w.len - 1, &d, &why), -1);
    assert_string_equal(why, "HELLO length");
    /* consume > write, more unconsumed than capacity, bad role, bad block size: refused. */
    struct kg_hello bad[] = {
        {1, 0, 10, 11, 8192, 1024, 1},
        {1, 0, 9000, 0, 8192, 1024, 1},
        {1, 2, 0, 0, 8192, 1024, 1},
        {1, 0, 0, 0, 8192, 0, 1},
        {1, 0, 0, 0, 8192, KG_MAX_BLOCK_BYTES + 1, 1},
        {2, 0, 0, 0, 8192, 1024, 1},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        qkd_writer_reset(&w);
        kg_hello_encode(&w, &bad[i]);
        assert_int_equal(kg_hello_decode(w.buf, w.len, &d, &why), -1);
    }
    qkd_writer_free(&w);
}

static void test_block_roundtrip(void **state)
{
    uint8_t key[KG_MAX_BLOCK_BYTES + 1];
    memset(key, 0x5a, sizeof(key));
    struct kg_block b = {.offset = 123456789, .distilled_ms = 42, .len = 100, .data = key}, d;
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    assert_int_equal(kg_block_encode(&w, &b), 0);
    assert_int_equal(w.len, KG_BLOCK_HDR_LEN + 100);
    const char *why = NULL;
    assert_int_equal(kg_block_decode(w.buf, w.len, &d, &why), 0);
    assert_int_equal(d.offset, 123456789);
    assert_int_equal(d.distilled_ms, 42);
    assert_int_equal(d.len, 100);
    assert_memory_equal(d.data, key, 100);
    /* Length field and payload disagree, either way. */
    assert_int_equal(kg_block_decode(w.buf, w.len - 1, &d, &why), -1);
    uint8_t longer[KG_BLOCK_HDR_LEN + 101];
    memcpy(longer, w.buf, w.len);
    longer[w.len] = 0;
    assert_int_equal(kg_block_decode(longer, sizeof(longer), &d, &why), -1);
    assert_string_equal(why, "BLOCK length does not match the payload");
    assert_int_equal(kg_block_decode(w.buf, 10, &d, &why), -1);
    /* The size limit, at its edge. */
    qkd_writer_reset(&w);
    b.len = KG_MAX_BLOCK_BYTES;
    assert_int_equal(kg_block_encode(&w, &b), 0);
    assert_int_equal(kg_block_decode(w.buf, w.len, &d, &why), 0);
    qkd_writer_reset(&w);
    b.len = KG_MAX_BLOCK_BYTES + 1;
    assert_int_equal(kg_block_encode(&w, &b), -1);
    b.len = 0;
    assert_int_equal(kg_block_encode(&w, &b), -1);
    uint8_t hdr[KG_BLOCK_HDR_LEN] = {0};
    qkd_put_u32(hdr + 16, KG_MAX_BLOCK_BYTES + 1);
    assert_int_equal(kg_block_decode(hdr, sizeof(hdr), &d, &why), -1);
    assert_string_equal(why, "BLOCK length out of range");
    /* An offset that would wrap. */
    uint8_t wrap[KG_BLOCK_HDR_LEN + 2];
    memset(wrap, 0xff, 8);
    memset(wrap + 8, 0, 8);
    qkd_put_u32(wrap + 16, 2);
    assert_int_equal(kg_block_decode(wrap, sizeof(wrap), &d, &why), -1);
    qkd_writer_free(&w);
}

static void test_small_messages(void **state)
{
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    struct kg_ack a = {.offset = 77, .len = 5, .status = KG_ACK_SKIP}, ad;
    const char *why;
    assert_int_equal(kg_ack_encode(&w, &a), 0);
    assert_int_equal(kg_ack_decode(w.buf, w.len, &ad, &why), 0);
    assert_int_equal(ad.offset, 77);
    assert_int_equal(ad.len, 5);
    assert_int_equal(ad.status, KG_ACK_SKIP);
    w.buf[KG_ACK_LEN - 1] = 3;
    assert_int_equal(kg_ack_decode(w.buf, w.len, &ad, &why), -1);
    assert_int_equal(kg_ack_decode(w.buf, w.len - 1, &ad, &why), -1);

    qkd_writer_reset(&w);
    uint64_t ms = 0, blocks = 0, bytes = 0;
    assert_int_equal(kg_heartbeat_encode(&w, 99), 0);
    assert_int_equal(kg_heartbeat_decode(w.buf, w.len, &ms, &why), 0);
    assert_int_equal(ms, 99);
    assert_int_equal(kg_heartbeat_decode(w.buf, 7, &ms, &why), -1);

    qkd_writer_reset(&w);
    assert_int_equal(kg_dropped_encode(&w, 3, 3000), 0);
    assert_int_equal(kg_dropped_decode(w.buf, w.len, &blocks, &bytes, &why), 0);
    assert_int_equal(blocks, 3);
    assert_int_equal(bytes, 3000);
    qkd_writer_reset(&w);
    kg_dropped_encode(&w, 4, 3); /* more blocks than bytes */
    assert_int_equal(kg_dropped_decode(w.buf, w.len, &blocks, &bytes, &why), -1);

    qkd_writer_reset(&w);
    bool up = true;
    uint64_t skr = 0;
    assert_int_equal(kg_state_encode(&w, false, 854412), 0);
    assert_int_equal(w.len, KG_STATE_LEN);
    assert_int_equal(kg_state_decode(w.buf, w.len, &up, &skr, &why), 0);
    assert_false(up);
    assert_int_equal(skr, 854412);
    qkd_writer_reset(&w);
    assert_int_equal(kg_state_encode(&w, true, 0), 0);
    assert_int_equal(kg_state_decode(w.buf, w.len, &up, &skr, &why), 0);
    assert_true(up);
    assert_int_equal(skr, 0);
    assert_int_equal(kg_state_decode(w.buf, w.len - 1, &up, &skr, &why), -1);
    w.buf[0] = 2; /* the link flag is 0 or 1 */
    assert_int_equal(kg_state_decode(w.buf, w.len, &up, &skr, &why), -1);
    assert_string_equal(why, "STATE link flag");
    qkd_writer_free(&w);
}

static void test_resync(void **state)
{
    /* In step. */
    assert_int_equal(kg_resync_target(5000, 100, 5000, 200), 5000);
    /* The sender died after the receiver appended: roll the receiver back. */
    assert_int_equal(kg_resync_target(5000, 100, 7048, 200), 5000);
    assert_int_equal(kg_resync_action(7048, 200, 5000), KG_RESYNC_ROLLBACK);
    assert_int_equal(kg_resync_action(5000, 100, 5000), KG_RESYNC_NONE);
    /* The receiver's ring was recreated: it moves forward, the sender never rewrites. */
    assert_int_equal(kg_resync_target(5000, 100, 0, 0), 5000);
    assert_int_equal(kg_resync_action(0, 0, 5000), KG_RESYNC_MOVE);
    assert_int_equal(kg_resync_action(5000, 100, 5000), KG_RESYNC_NONE);
    /* A recreated receiver ring that is somehow non-empty drops its bytes first. */
    assert_int_equal(kg_resync_action(300, 0, 5000), KG_RESYNC_DROP_AND_MOVE);
    /* The sender's ring was recreated (behind what the receiver consumed): both continue at
     * the receiver's consume offset; the receiver's unconfirmed rest is rolled back. */
    assert_int_equal(kg_resync_target(0, 0, 9000, 6000), 6000);
    assert_int_equal(kg_resync_action(0, 0, 6000), KG_RESYNC_MOVE);
    assert_int_equal(kg_resync_action(9000, 6000, 6000), KG_RESYNC_ROLLBACK);
    /* The target is never below either end's consume offset for valid HELLOs. */
    for (uint64_t sw = 0; sw <= 4; sw++)
        for (uint64_t sc = 0; sc <= sw; sc++)
            for (uint64_t rw = 0; rw <= 4; rw++)
                for (uint64_t rc = 0; rc <= rw; rc++) {
                    uint64_t t = kg_resync_target(sw * 100, sc * 100, rw * 100, rc * 100);
                    assert_true(t >= sc * 100 && t >= rc * 100 && t >= sw * 100);
                    assert_int_not_equal(kg_resync_action(sw * 100, sc * 100, t),
                                         KG_RESYNC_IMPOSSIBLE);
                    assert_int_not_equal(kg_resync_action(rw * 100, rc * 100, t),
                                         KG_RESYNC_IMPOSSIBLE);
                }
    assert_int_equal(kg_resync_action(500, 400, 300), KG_RESYNC_IMPOSSIBLE);
}

/* The sender's ring was re-created since the rings were paired (the receiver's ring names
 * another sender ring): its old bytes may have been handed out by its key server, so nothing
 * below the receiver's write offset is filled again; the receiver keeps every byte. */
static void test_resync_generation(void **state)
{
    assert_int_equal(kg_resync_target_gen(0, 0, 9000, 6000, true), 9000);
    assert_int_equal(kg_resync_action_gen(0, 0, 9000, false), KG_RESYNC_MOVE);
    /* the receiver drops its unconsumed bytes (they may be owed to old allocations) */
    assert_int_equal(kg_resync_action_gen(9000, 6000, 9000, true), KG_RESYNC_DROP_AND_MOVE);
    assert_int_equal(kg_resync_action_gen(9000, 9000, 9000, true), KG_RESYNC_NONE);
    /* without the generation the same offsets roll the receiver back to 6000 */
    assert_int_equal(kg_resync_target_gen(0, 0, 9000, 6000, false), 6000);
    /* a re-created sender ring already ahead stays where it is */
    assert_int_equal(kg_resync_target_gen(9500, 9500, 9000, 6000, true), 9500);
    for (uint64_t sw = 0; sw <= 4; sw++)
        for (uint64_t sc = 0; sc <= sw; sc++)
            for (uint64_t rw = 0; rw <= 4; rw++)
                for (uint64_t rc = 0; rc <= rw; rc++) {
                    uint64_t t = kg_resync_target_gen(sw * 100, sc * 100, rw * 100, rc * 100, true);
                    assert_true(t >= rw * 100 && t >= sw * 100);
                    assert_int_not_equal(kg_resync_action(sw * 100, sc * 100, t),
                                         KG_RESYNC_IMPOSSIBLE);
                    enum kg_resync_action a = kg_resync_action_gen(rw * 100, rc * 100, t, true);
                    assert_true(a == KG_RESYNC_NONE || a == KG_RESYNC_MOVE ||
                                a == KG_RESYNC_DROP_AND_MOVE);
                }
    /* RING carries the two ids, exactly 16 bytes. */
    struct kg_ring_ids ids = {0x1122334455667788ull, 42}, d;
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    assert_int_equal(kg_ring_encode(&w, &ids), 0);
    assert_int_equal(w.len, KG_RING_LEN);
    const char *why = NULL;
    assert_int_equal(kg_ring_decode(w.buf, w.len, &d, &why), 0);
    assert_true(d.ring_id == 0x1122334455667788ull);
    assert_int_equal(d.peer_ring_id, 42);
    assert_int_equal(kg_ring_decode(w.buf, w.len - 1, &d, &why), -1);
    assert_string_equal(why, "RING length");
    qkd_writer_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_roundtrip), cmocka_unit_test(test_resync_generation),
        cmocka_unit_test(test_block_roundtrip), cmocka_unit_test(test_small_messages),
        cmocka_unit_test(test_resync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
