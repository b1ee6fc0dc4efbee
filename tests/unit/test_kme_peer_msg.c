/* test_kme_peer_msg.c: unit tests of the peer-sync codec (peer_msg.c): round trips of every
 * message, every truncation and one extra byte rejected, wrong version, unknown type and bad
 * field values rejected, allocation runs (count) at their edges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "peer_msg.h"

static struct kme_pmsg samples[9];

static int setup_samples(void)
{
    memset(samples, 0, sizeof(samples));
    struct qkd_ksid k;
    for (int i = 0; i < 16; i++)
        k.b[i] = (uint8_t)(0xa0 + i);
    struct kme_pmsg *m = samples;
    m->type = KME_PM_HELLO;
    strcpy(m->u.hello.node, "alice");
    memset(m->u.hello.uuid, 0x5a, 16);
    m->u.hello.role = KME_ROLE_LEADER;
    m++;
    m->type = KME_PM_ANNOUNCE;
    m->ksid = k;
    m->u.announce.qos.key_chunk_size = 32;
    m->u.announce.qos.max_bps = 40000;
    m->u.announce.qos.min_bps = 5000;
    m->u.announce.qos.jitter = 10;
    m->u.announce.qos.priority = 3;
    m->u.announce.qos.timeout = 5000;
    m->u.announce.qos.ttl = 3600;
    strcpy(m->u.announce.qos.metadata_mimetype, "application/json");
    m->u.announce.attached = 1;
    m++;
    m->type = KME_PM_ATTACH;
    m->ksid = k;
    m++;
    m->type = KME_PM_CLOSE;
    m->ksid = k;
    m++;
    m->type = KME_PM_ALLOC_REQ;
    m->ksid = k;
    m->u.alloc.index = 0xfffffffeu;
    m->u.alloc.count = 2; /* up to the last index */
    m++;
    m->type = KME_PM_ALLOC;
    m->ksid = k;
    m->u.alloc.index = 7;
    m->u.alloc.count = 64;
    m->u.alloc.offset = 0x0102030405060708ull;
    m->u.alloc.len = 32;
    m++;
    m->type = KME_PM_ALLOC_ACK;
    m->ksid = k;
    m->u.alloc.index = 7;
    m->u.alloc.count = 3;
    m->u.alloc.status = KME_AS_LOST;
    m++;
    m->type = KME_PM_HEARTBEAT;
    m->u.hb.wall_ms = 1234567890123ull;
    m++;
    m->type = KME_PM_GONE;
    m->ksid = k;
    m->u.alloc.index = 9194;
    return 0;
}

static void encode(const struct kme_pmsg *m, struct qkd_writer *w)
{
    qkd_writer_init(w, 0);
    assert_int_equal(kme_pmsg_encode(m, w), 0);
    assert_true(w->len >= QKD_WIRE_HDR_LEN);
}

static int decode_buf(const uint8_t *buf, size_t len, struct kme_pmsg *out)
{
    struct qkd_wire_hdr h;
    qkd_wire_hdr_parse(buf, &h);
    if (h.payload_len != len - QKD_WIRE_HDR_LEN) h.payload_len = (uint32_t)(len - QKD_WIRE_HDR_LEN);
    return kme_pmsg_decode(&h, buf + QKD_WIRE_HDR_LEN, out);
}

static void test_round_trips(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        struct qkd_writer w;
        encode(&samples[i], &w);
        assert_int_equal(w.buf[0], 'P');
        assert_int_equal(w.buf[1], 'S');
        assert_int_equal(w.buf[2], KME_PEER_V_PATCH);
        assert_int_equal(w.buf[2], 3);
        assert_int_equal(w.buf[3], samples[i].type);
        assert_int_equal(qkd_get_u32(w.buf + 4), w.len - QKD_WIRE_HDR_LEN);
        struct kme_pmsg out;
        assert_int_equal(decode_buf(w.buf, w.len, &out), 0);
        assert_memory_equal(&out, &samples[i], sizeof(out));
        qkd_writer_free(&w);
    }
}

static void test_every_truncation_and_extra_byte(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        struct qkd_writer w;
        encode(&samples[i], &w);
        struct kme_pmsg out;
        for (size_t len = QKD_WIRE_HDR_LEN; len < w.len; len++) {
            uint8_t *copy = malloc(len); /* exact size: ASan catches over-reads */
            assert_non_null(copy);
            memcpy(copy, w.buf, len);
            assert_int_equal(decode_buf(copy, len, &out), -1);
            free(copy);
        }
        uint8_t *longer = malloc(w.len + 1);
        assert_non_null(longer);
        memcpy(longer, w.buf, w.len);
        longer[w.len] = 0;
        assert_int_equal(decode_buf(longer, w.len + 1, &out), -1);
        free(longer);
        qkd_writer_free(&w);
    }
}

static void test_bad_header_and_values(void **state)
{
    (void)state;
    struct qkd_writer w;
    struct kme_pmsg out;
    encode(&samples[5], &w); /* ALLOC */
    w.buf[0] = 1;            /* an ETSI version */
    assert_int_equal(decode_buf(w.buf, w.len, &out), -1);
    w.buf[0] = 'P';
    w.buf[2] = 1; /* the previous peer-sync version (no runs) */
    assert_int_equal(decode_buf(w.buf, w.len, &out), -1);
    w.buf[2] = 2;
    w.buf[3] = 0x02; /* an ETSI service */
    assert_int_equal(decode_buf(w.buf, w.len, &out), -1);
    w.buf[3] = KME_PM_ALLOC;
    /* status OK with length 0 is contradictory */
    size_t len_off = QKD_WIRE_HDR_LEN + 16 + 4 + 4 + 1 + 8;
    qkd_put_u32(w.buf + len_off, 0);
    assert_int_equal(decode_buf(w.buf, w.len, &out), -1);
    qkd_put_u32(w.buf + len_off, 32);
    w.buf[QKD_WIRE_HDR_LEN + 16 + 4 + 4] = KME_AS_MAX + 1; /* status out of range */
    assert_int_equal(decode_buf(w.buf, w.len, &out), -1);
    qkd_writer_free(&w);

    encode(&samples[0], &w); /* HELLO */
    w.buf[w.len - 1] = 9;    /* bad role */
    assert_int_equal(decode_buf(w.buf, w.len, &out), -1);
    w.buf[w.len - 1] = KME_ROLE_FOLLOWER;
    w.buf[QKD_WIRE_HDR_LEN + 1] = 0; /* NUL inside the name */
    assert_int_equal(decode_buf(w.buf, w.len, &out), -1);
    qkd_writer_free(&w);

    encode(&samples[1], &w); /* ANNOUNCE */
    w.buf[w.len - 1] = 2;    /* attached flag not 0/1 */
    assert_int_equal(decode_buf(w.buf, w.len, &out), -1);
    w.buf[w.len - 1] = 0;
    qkd_put_u32(w.buf + QKD_WIRE_HDR_LEN + 16, 0); /* chunk 0 */
    assert_int_equal(decode_buf(w.buf, w.len, &out), -1);
    qkd_writer_free(&w);

    /* an oversized announced length is refused before reading */
    uint8_t hdr[QKD_WIRE_HDR_LEN] = {'P',  'S', KME_PEER_V_PATCH, KME_PM_HEARTBEAT, 0x7f, 0xff,
                                     0xff, 0xff};
    struct qkd_wire_hdr h;
    qkd_wire_hdr_parse(hdr, &h);
    assert_int_equal(kme_pmsg_decode(&h, hdr, &out), -1);

    /* the encoder refuses what the decoder would refuse */
    struct kme_pmsg bad = samples[0];
    bad.u.hello.node[0] = 0;
    qkd_writer_init(&w, 0);
    assert_int_equal(kme_pmsg_encode(&bad, &w), -1);
    qkd_writer_free(&w);
    bad = samples[5];
    bad.u.alloc.status = 9;
    qkd_writer_init(&w, 0);
    assert_int_equal(kme_pmsg_encode(&bad, &w), -1);
    qkd_writer_free(&w);
}

/* Encodes m and returns what the decoder says about it (the encoder must agree). */
static int run_verdict(const struct kme_pmsg *m)
{
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    int enc = kme_pmsg_encode(m, &w);
    qkd_writer_free(&w);
    /* build the frame by hand so the decoder sees values the encoder refused */
    uint8_t buf[QKD_WIRE_HDR_LEN + 16 + 4 + 4 + 1 + 8 + 4];
    size_t plen = 16 + 4 + 4;
    if (m->type == KME_PM_ALLOC) plen += 1 + 8 + 4;
    if (m->type == KME_PM_ALLOC_ACK) plen += 1;
    buf[0] = 'P';
    buf[1] = 'S';
    buf[2] = KME_PEER_V_PATCH;
    buf[3] = m->type;
    qkd_put_u32(buf + 4, (uint32_t)plen);
    uint8_t *p = buf + QKD_WIRE_HDR_LEN;
    memcpy(p, m->ksid.b, 16);
    qkd_put_u32(p + 16, m->u.alloc.index);
    qkd_put_u32(p + 20, m->u.alloc.count);
    if (m->type != KME_PM_ALLOC_REQ) p[24] = m->u.alloc.status;
    if (m->type == KME_PM_ALLOC) {
        qkd_put_u32(p + 25, (uint32_t)(m->u.alloc.offset >> 32));
        qkd_put_u32(p + 29, (uint32_t)m->u.alloc.offset);
        qkd_put_u32(p + 33, m->u.alloc.len);
    }
    struct kme_pmsg out;
    int dec = decode_buf(buf, QKD_WIRE_HDR_LEN + plen, &out);
    assert_int_equal(enc, dec);
    return dec;
}

static void test_run_edges(void **state)
{
    (void)state;
    for (int t = 4; t <= 6; t++) { /* ALLOC_REQ, ALLOC, ALLOC_ACK */
        struct kme_pmsg m = samples[t];
        m.u.alloc.index = 0;
        m.u.alloc.count = 0;
        assert_int_equal(run_verdict(&m), -1); /* an empty run */
        m.u.alloc.count = 1;
        assert_int_equal(run_verdict(&m), 0);
        m.u.alloc.count = KME_PEER_MAX_RUN;
        assert_int_equal(run_verdict(&m), 0);
        m.u.alloc.count = KME_PEER_MAX_RUN + 1;
        assert_int_equal(run_verdict(&m), -1);
        m.u.alloc.index = UINT32_MAX - 1;
        m.u.alloc.count = 2; /* ends at the last index */
        assert_int_equal(run_verdict(&m), 0);
        m.u.alloc.count = 3; /* would wrap */
        assert_int_equal(run_verdict(&m), -1);
    }
    struct kme_pmsg m = samples[5]; /* ALLOC */
    m.u.alloc.len = KME_PEER_MAX_CHUNK;
    assert_int_equal(run_verdict(&m), 0);
    m.u.alloc.len = KME_PEER_MAX_CHUNK + 1;
    assert_int_equal(run_verdict(&m), -1);
    m.u.alloc.len = 32;
    m.u.alloc.count = 2;
    m.u.alloc.offset = UINT64_MAX - 64; /* the run's bytes end exactly at 2^64 - 1 */
    assert_int_equal(run_verdict(&m), 0);
    m.u.alloc.offset = UINT64_MAX - 63; /* ... or wrap */
    assert_int_equal(run_verdict(&m), -1);
    m = samples[5];
    m.u.alloc.status = KME_AS_LOST; /* a refusal carries no bytes */
    assert_int_equal(run_verdict(&m), -1);
    m.u.alloc.offset = 0;
    m.u.alloc.len = 0;
    assert_int_equal(run_verdict(&m), 0);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(kme_pmsg_name(KME_PM_ALLOC_ACK), "ALLOC_ACK");
    assert_string_equal(kme_pmsg_name(0), "unknown");
}

/* ETSI 014 REST_KEYS: its own payload codec, carried as u.raw through the frame codec. */
static void rest_sample(struct kme_rest_msg *rm, uint32_t nslaves)
{
    memset(rm, 0, sizeof(*rm));
    for (int i = 0; i < 16; i++)
        rm->ksid.b[i] = (uint8_t)(0x30 + i);
    rm->key_bytes = 1024;
    rm->number = 255;
    memset(rm->master, 'm', KME_REST_SAE_MAX - 1); /* the longest id */
    rm->nslaves = nslaves;
    for (uint32_t i = 0; i < nslaves && i < KME_REST_MAX_SLAVES; i++) /* the count may be over */
        snprintf(rm->slaves[i], KME_REST_SAE_MAX, "slave-%u", i);
}

static int rest_frame(const struct kme_rest_msg *rm, struct qkd_writer *w)
{
    struct qkd_writer p;
    qkd_writer_init(&p, 1u << 16);
    int rc = kme_rest_msg_encode(rm, &p);
    if (rc == 0) {
        struct kme_pmsg m = {.type = KME_PM_REST_KEYS, .ksid = rm->ksid};
        m.u.raw.p = p.buf;
        m.u.raw.len = (uint32_t)p.len;
        qkd_writer_init(w, 1u << 16);
        rc = kme_pmsg_encode(&m, w);
        if (rc != 0) qkd_writer_free(w);
    }
    qkd_writer_free(&p);
    return rc;
}

static void test_rest_keys(void **state)
{
    (void)state;
    struct kme_rest_msg rm, back;
    rest_sample(&rm, KME_REST_MAX_SLAVES); /* the largest message fits the payload limit */
    struct qkd_writer w;
    assert_int_equal(rest_frame(&rm, &w), 0);
    assert_true(w.len - QKD_WIRE_HDR_LEN <= KME_PEER_MAX_PAYLOAD);
    struct kme_pmsg out;
    assert_int_equal(decode_buf(w.buf, w.len, &out), 0);
    assert_int_equal(out.type, KME_PM_REST_KEYS);
    assert_memory_equal(out.ksid.b, rm.ksid.b, 16);
    assert_int_equal(kme_rest_msg_decode(out.u.raw.p, out.u.raw.len, &back), 0);
    assert_memory_equal(&back, &rm, sizeof(rm));
    for (size_t len = QKD_WIRE_HDR_LEN; len < w.len; len++) { /* every truncation */
        uint8_t *copy = malloc(len);
        assert_non_null(copy);
        memcpy(copy, w.buf, len);
        qkd_put_u32(copy + 4, (uint32_t)(len - QKD_WIRE_HDR_LEN));
        assert_int_equal(decode_buf(copy, len, &out), -1);
        free(copy);
    }
    qkd_writer_free(&w);
    /* values out of range are refused by the encoder */
    struct qkd_writer p;
    qkd_writer_init(&p, 1u << 16);
    rest_sample(&rm, 0);
    assert_int_equal(kme_rest_msg_encode(&rm, &p), -1);
    rest_sample(&rm, KME_REST_MAX_SLAVES + 1);
    assert_int_equal(kme_rest_msg_encode(&rm, &p), -1);
    rest_sample(&rm, 1);
    rm.number = 0;
    assert_int_equal(kme_rest_msg_encode(&rm, &p), -1);
    rest_sample(&rm, 1);
    rm.key_bytes = KME_PEER_MAX_CHUNK + 1;
    assert_int_equal(kme_rest_msg_encode(&rm, &p), -1);
    rest_sample(&rm, 1);
    rm.slaves[0][0] = 0; /* empty id */
    assert_int_equal(kme_rest_msg_encode(&rm, &p), -1);
    rest_sample(&rm, 1);
    memset(rm.master, 'm', KME_REST_SAE_MAX); /* no room for the NUL: too long */
    assert_int_equal(kme_rest_msg_encode(&rm, &p), -1);
    /* and by the decoder: an id holding NUL, a zero count, a trailing byte */
    qkd_writer_reset(&p);
    rest_sample(&rm, 1);
    assert_int_equal(kme_rest_msg_encode(&rm, &p), 0);
    uint8_t buf[512];
    size_t n = p.len;
    memcpy(buf, p.buf, n);
    assert_int_equal(kme_rest_msg_decode(buf, n, &back), 0);
    buf[16 + 4 + 1 + 1 + 3] = 0; /* inside the master id */
    assert_int_equal(kme_rest_msg_decode(buf, n, &back), -1);
    memcpy(buf, p.buf, n);
    buf[16 + 4] = 0; /* number 0 */
    assert_int_equal(kme_rest_msg_decode(buf, n, &back), -1);
    memcpy(buf, p.buf, n);
    buf[n] = 0;
    assert_int_equal(kme_rest_msg_decode(buf, n + 1, &back), -1);
    qkd_writer_free(&p);
}

int main(void)
{
    setup_samples();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_every_truncation_and_extra_byte),
        cmocka_unit_test(test_bad_header_and_values),
        cmocka_unit_test(test_run_edges),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_rest_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
