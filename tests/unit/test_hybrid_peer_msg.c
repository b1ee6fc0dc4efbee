/* test_hybrid_peer_msg.c: the peer protocol's signed envelope and verifier (anti-replay, gaps,
 * HELLO rules, bad signatures, wrong keys, binding to the connection nonces and node
 * identities) and the body codecs with their limits, BATCH included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "peer_msg.h"
#include "sign.h"

#define UA "a1a1a1a1-0000-4000-8000-000000000001"
#define UB "b2b2b2b2-0000-4000-8000-000000000002"

struct pair {
    EVP_PKEY *ka, *kb;
    struct hyb_pm_session a, b; /* a's and b's view of one connection */
};

/* One frame as the receiver sees it. */
struct frame {
    struct qkd_wire_hdr h;
    uint8_t *payload;
    size_t len;
};

static void frame_from(struct qkd_writer *w, struct frame *f)
{
    qkd_wire_hdr_parse(w->buf, &f->h);
    f->len = w->len - QKD_WIRE_HDR_LEN;
    f->payload = malloc(f->len);
    memcpy(f->payload, w->buf + QKD_WIRE_HDR_LEN, f->len);
}

static void seal(struct hyb_pm_session *s, uint8_t type, const char *body, struct frame *f)
{
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    assert_int_equal(hyb_pm_seal(s, type, (const uint8_t *)body, strlen(body), &w), 0);
    frame_from(&w, f);
    qkd_writer_free(&w);
}

static void send_hello(struct hyb_pm_session *s, const char *name, const char *uuid,
                       struct frame *f)
{
    struct hyb_pm_hello h;
    memset(&h, 0, sizeof(h));
    strcpy(h.name, name);
    strcpy(h.uuid, uuid);
    memcpy(h.nonce, s->my_nonce, HYB_PM_NONCE_LEN);
    struct qkd_writer body, w;
    qkd_writer_init(&body, 0);
    qkd_writer_init(&w, 0);
    assert_int_equal(hyb_pm_hello_encode(&h, &body), 0);
    assert_int_equal(hyb_pm_seal(s, HYB_PM_HELLO, body.buf, body.len, &w), 0);
    frame_from(&w, f);
    qkd_writer_free(&body);
    qkd_writer_free(&w);
}

static int open_f(struct hyb_pm_session *s, struct frame *f, struct hyb_pm_msg *m)
{
    char err[200];
    return hyb_pm_open(s, &f->h, f->payload, m, err, sizeof(err));
}

/* Both sessions with HELLOs exchanged. */
static void pair_up(struct pair *p)
{
    p->ka = hyb_sign_keygen();
    p->kb = hyb_sign_keygen();
    assert_non_null(p->ka);
    assert_non_null(p->kb);
    assert_int_equal(hyb_pm_session_init(&p->a, p->ka, p->kb, UA, UB), 0);
    assert_int_equal(hyb_pm_session_init(&p->b, p->kb, p->ka, UB, UA), 0);
    struct frame fa, fb;
    struct hyb_pm_msg m;
    send_hello(&p->a, "alice", UA, &fa);
    send_hello(&p->b, "bob", UB, &fb);
    assert_int_equal(open_f(&p->b, &fa, &m), HYB_PM_OK);
    assert_int_equal(m.type, HYB_PM_HELLO);
    assert_int_equal(open_f(&p->a, &fb, &m), HYB_PM_OK);
    free(fa.payload);
    free(fb.payload);
}

static void pair_free(struct pair *p)
{
    EVP_PKEY_free(p->ka);
    EVP_PKEY_free(p->kb);
}

static void test_roundtrip_and_replay(void **state)
{
    (void)state;
    struct pair p;
    pair_up(&p);
    struct frame f1, f2;
    struct hyb_pm_msg m;
    seal(&p.a, HYB_PM_INIT, "first", &f1);
    seal(&p.a, HYB_PM_INIT, "second", &f2);
    assert_int_equal(open_f(&p.b, &f1, &m), HYB_PM_OK);
    assert_int_equal(m.type, HYB_PM_INIT);
    assert_int_equal(m.seq, 2);
    assert_int_equal(m.body_len, 5);
    assert_memory_equal(m.body, "first", 5);
    /* the same frame again: replay */
    assert_int_equal(open_f(&p.b, &f1, &m), HYB_PM_ERR_REPLAY);
    assert_int_equal(open_f(&p.b, &f2, &m), HYB_PM_OK);
    assert_int_equal(open_f(&p.b, &f2, &m), HYB_PM_ERR_REPLAY);
    free(f1.payload);
    free(f2.payload);
    pair_free(&p);
}

static void test_gap_and_bad_signature(void **state)
{
    (void)state;
    struct pair p;
    pair_up(&p);
    struct frame f1, f2;
    struct hyb_pm_msg m;
    seal(&p.a, HYB_PM_REPLY, "one", &f1);
    seal(&p.a, HYB_PM_REPLY, "two", &f2);
    assert_int_equal(open_f(&p.b, &f2, &m), HYB_PM_ERR_SEQ); /* skips f1 */
    f1.payload[f1.len - 1] ^= 1;                             /* signature byte */
    assert_int_equal(open_f(&p.b, &f1, &m), HYB_PM_ERR_SIG);
    f1.payload[f1.len - 1] ^= 1;
    f1.payload[8 + 4] ^= 1; /* body byte */
    assert_int_equal(open_f(&p.b, &f1, &m), HYB_PM_ERR_SIG);
    f1.payload[8 + 4] ^= 1;
    /* a refused message does not advance the sequence: the intact one is still accepted */
    assert_int_equal(open_f(&p.b, &f1, &m), HYB_PM_OK);
    assert_int_equal(open_f(&p.b, &f2, &m), HYB_PM_OK);
    free(f1.payload);
    free(f2.payload);
    pair_free(&p);
}

static void test_bound_to_connection(void **state)
{
    (void)state;
    struct pair p, q;
    pair_up(&p);
    pair_up(&q);
    /* q uses the same keys as p, but a new connection (new nonces) */
    q.a.my_key = p.a.my_key;
    q.b.peer_key = p.a.my_key;
    struct frame f;
    struct hyb_pm_msg m;
    seal(&p.a, HYB_PM_RESULT, "decision", &f);
    /* a frame from connection p replayed into connection q: same seq, other nonces */
    assert_int_equal(open_f(&q.b, &f, &m), HYB_PM_ERR_SIG);
    /* a session that swaps the identities does not verify either */
    struct hyb_pm_session x = p.b;
    memcpy(x.my_uuid, UA, sizeof(UA));
    assert_int_equal(open_f(&x, &f, &m), HYB_PM_ERR_SIG);
    assert_int_equal(open_f(&p.b, &f, &m), HYB_PM_OK);
    free(f.payload);
    pair_free(&p);
    pair_free(&q);
}

static void test_hello_rules(void **state)
{
    (void)state;
    EVP_PKEY *ka = hyb_sign_keygen(), *kb = hyb_sign_keygen(), *kc = hyb_sign_keygen();
    struct hyb_pm_session a, b;
    assert_int_equal(hyb_pm_session_init(&a, ka, kb, UA, UB), 0);
    assert_int_equal(hyb_pm_session_init(&b, kb, ka, UB, UA), 0);
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    /* nothing but HELLO before the peer's nonce is known */
    assert_int_equal(hyb_pm_seal(&a, HYB_PM_INIT, (const uint8_t *)"x", 1, &w), -1);
    struct frame f;
    struct hyb_pm_msg m;
    /* a HELLO signed by another key */
    struct hyb_pm_session evil;
    assert_int_equal(hyb_pm_session_init(&evil, kc, kb, UA, UB), 0);
    send_hello(&evil, "alice", UA, &f);
    assert_int_equal(open_f(&b, &f, &m), HYB_PM_ERR_SIG);
    assert_false(b.have_peer_nonce);
    free(f.payload);
    /* a HELLO naming another node */
    send_hello(&a, "alice", UB, &f);
    assert_int_equal(open_f(&b, &f, &m), HYB_PM_ERR_MALFORMED);
    free(f.payload);
    /* the real one, then a second HELLO */
    a.tx_seq = 0;
    send_hello(&a, "alice", UA, &f);
    assert_int_equal(open_f(&b, &f, &m), HYB_PM_OK);
    free(f.payload);
    send_hello(&a, "alice", UA, &f);
    assert_int_equal(open_f(&b, &f, &m), HYB_PM_ERR_SEQ);
    free(f.payload);
    qkd_writer_free(&w);
    EVP_PKEY_free(ka);
    EVP_PKEY_free(kb);
    EVP_PKEY_free(kc);
}

static void test_malformed_envelope(void **state)
{
    (void)state;
    struct pair p;
    pair_up(&p);
    struct frame f;
    struct hyb_pm_msg m;
    seal(&p.a, HYB_PM_CONFIRM, "tag", &f);
    f.h.major = 1; /* not a peer frame */
    assert_int_equal(open_f(&p.b, &f, &m), HYB_PM_ERR_MALFORMED);
    f.h.major = HYB_PM_V0;
    f.h.service = HYB_PM_TYPE_MAX + 1;
    assert_int_equal(open_f(&p.b, &f, &m), HYB_PM_ERR_MALFORMED);
    f.h.service = HYB_PM_CONFIRM;
    f.h.payload_len = (uint32_t)f.len - 1; /* truncated */
    assert_int_equal(open_f(&p.b, &f, &m), HYB_PM_ERR_MALFORMED);
    f.h.payload_len = HYB_PM_MAX_PAYLOAD + 1;
    assert_int_equal(open_f(&p.b, &f, &m), HYB_PM_ERR_MALFORMED);
    f.h.payload_len = (uint32_t)f.len;
    assert_int_equal(open_f(&p.b, &f, &m), HYB_PM_OK);
    free(f.payload);
    pair_free(&p);
}

static void test_kex_codec(void **state)
{
    (void)state;
    static uint8_t pub[HYB_PM_MAX_ITEM + 1];
    struct hyb_pm_kex k, d;
    memset(&k, 0, sizeof(k));
    memset(k.ksid.b, 0x5a, QKD_KSID_LEN);
    k.index = 199;
    k.status = 6;
    k.mask = 5;
    k.n = 3;
    k.item[0].status = 0;
    k.item[0].data = pub;
    k.item[0].len = HYB_PM_MAX_ITEM; /* at the limit */
    k.item[1].status = 2;
    k.has_tag = true;
    memset(k.tag, 7, sizeof(k.tag));
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    assert_int_equal(hyb_pm_kex_encode(&k, &w), 0);
    assert_int_equal(hyb_pm_kex_decode(w.buf, w.len, &d), 0);
    assert_int_equal(d.index, 199);
    assert_int_equal(d.status, 6);
    assert_int_equal(d.mask, 5);
    assert_int_equal(d.n, 3);
    assert_int_equal(d.item[0].len, HYB_PM_MAX_ITEM);
    assert_int_equal(d.item[1].status, 2);
    assert_true(d.has_tag);
    assert_memory_equal(d.tag, k.tag, 32);
    /* truncated, trailing bytes */
    assert_int_equal(hyb_pm_kex_decode(w.buf, w.len - 1, &d), -1);
    qkd_write_u8(&w, 0);
    assert_int_equal(hyb_pm_kex_decode(w.buf, w.len, &d), -1);
    /* over the limits */
    k.item[0].len = HYB_PM_MAX_ITEM + 1;
    qkd_writer_reset(&w);
    assert_int_equal(hyb_pm_kex_encode(&k, &w), -1);
    k.item[0].len = 1;
    k.n = HYB_PM_MAX_ITEMS + 1;
    qkd_writer_reset(&w);
    assert_int_equal(hyb_pm_kex_encode(&k, &w), -1);
    qkd_writer_free(&w);
}

/* The frame limit at its edge: a body that makes a payload of exactly HYB_PM_MAX_PAYLOAD is
 * sealed and accepted; one byte more is refused by the sender. And the largest INIT a request
 * may make (public keys summing to HYB_REQ_MAX_PUB_BYTES, e.g. Classic McEliece 8192128 with
 * 348864s) fits in one frame. */
static void test_frame_limit_edge(void **state)
{
    (void)state;
    struct pair p;
    pair_up(&p);
    size_t sig_len = 3309; /* ML-DSA-65 */
    size_t body_max = HYB_PM_MAX_PAYLOAD - 8 - 4 - 4 - sig_len;
    uint8_t *body = calloc(1, body_max + 1);
    struct qkd_writer w;
    struct frame f;
    struct hyb_pm_msg m;

    assert_non_null(body);
    qkd_writer_init(&w, 0);
    assert_int_equal(hyb_pm_seal(&p.a, HYB_PM_INIT, body, body_max, &w), 0);
    frame_from(&w, &f);
    assert_int_equal(f.h.payload_len, HYB_PM_MAX_PAYLOAD);
    assert_int_equal(open_f(&p.b, &f, &m), HYB_PM_OK);
    assert_int_equal(m.body_len, body_max);
    free(f.payload);
    qkd_writer_reset(&w);
    assert_int_equal(hyb_pm_seal(&p.a, HYB_PM_INIT, body, body_max + 1, &w), -1);

    /* the largest INIT: 8192128's key plus 348864-sized keys up to the request bound */
    struct hyb_pm_kex k;
    size_t left = HYB_REQ_MAX_PUB_BYTES;
    memset(&k, 0, sizeof(k));
    for (k.n = 0; left > 0 && k.n < HYB_PM_MAX_ITEMS; k.n++) {
        size_t len = k.n == 0 ? HYB_PM_MAX_ITEM : (left < 261120 ? left : 261120);
        k.item[k.n].data = body;
        k.item[k.n].len = (uint32_t)len;
        left -= len;
    }
    assert_int_equal(left, 0);
    struct qkd_writer kb;
    qkd_writer_init(&kb, 0);
    assert_int_equal(hyb_pm_kex_encode(&k, &kb), 0);
    qkd_writer_reset(&w);
    assert_int_equal(hyb_pm_seal(&p.a, HYB_PM_INIT, kb.buf, kb.len, &w), 0);
    frame_from(&w, &f);
    assert_true(f.h.payload_len <= HYB_PM_MAX_PAYLOAD);
    assert_int_equal(open_f(&p.b, &f, &m), HYB_PM_OK);
    free(f.payload);
    qkd_writer_free(&kb);
    qkd_writer_free(&w);
    free(body);
    pair_free(&p);
}

static void test_announce_codec(void **state)
{
    (void)state;
    struct hyb_pm_announce a, d;
    memset(&a, 0, sizeof(a));
    memset(a.ksid.b, 1, QKD_KSID_LEN);
    strcpy(a.request, "hybrid://app@alice?hybridization=hkdf&req_key_sources=QKD,QKD");
    strcpy(a.dest_app, "app");
    a.qos.key_chunk_size = 32;
    a.qos.timeout = 5000;
    strcpy(a.qos.metadata_mimetype, "application/json");
    a.nqkd = 2;
    memset(a.qkd[1].b, 9, QKD_KSID_LEN);
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    assert_int_equal(hyb_pm_announce_encode(&a, &w), 0);
    assert_int_equal(hyb_pm_announce_decode(w.buf, w.len, &d), 0);
    assert_string_equal(d.request, a.request);
    assert_string_equal(d.dest_app, "app");
    assert_int_equal(d.qos.timeout, 5000);
    assert_string_equal(d.qos.metadata_mimetype, "application/json");
    assert_int_equal(d.nqkd, 2);
    assert_memory_equal(d.qkd[1].b, a.qkd[1].b, QKD_KSID_LEN);
    assert_int_equal(hyb_pm_announce_decode(w.buf, w.len - 1, &d), -1);
    a.nqkd = HYB_MAX_SOURCES + 1;
    qkd_writer_reset(&w);
    assert_int_equal(hyb_pm_announce_encode(&a, &w), -1);
    qkd_writer_free(&w);
}

/* BATCH: several messages under one signature; 2..HYB_PM_BATCH_MAX, inner types 2..8 only. */
static void test_batch_codec(void **state)
{
    (void)state;
    static struct hyb_pm_batch b, d;
    static const char *const bodies[] = {"result-7", "init-8", ""};
    memset(&b, 0, sizeof(b));
    b.n = 3;
    b.m[0] = (struct hyb_pm_batch_msg){HYB_PM_RESULT, (const uint8_t *)bodies[0], 8};
    b.m[1] = (struct hyb_pm_batch_msg){HYB_PM_INIT, (const uint8_t *)bodies[1], 6};
    b.m[2] = (struct hyb_pm_batch_msg){HYB_PM_CLOSE, NULL, 0};
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    assert_int_equal(hyb_pm_batch_encode(&b, &w), 0);
    assert_int_equal(w.len, 1 + hyb_pm_batch_entry_len(8) + hyb_pm_batch_entry_len(6) +
                                hyb_pm_batch_entry_len(0));
    assert_int_equal(hyb_pm_batch_decode(w.buf, w.len, &d), 0);
    assert_int_equal(d.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(d.m[i].type, b.m[i].type);
        assert_int_equal(d.m[i].len, b.m[i].len);
        if (d.m[i].len) assert_memory_equal(d.m[i].body, bodies[i], d.m[i].len);
    }
    /* truncated, trailing byte */
    assert_int_equal(hyb_pm_batch_decode(w.buf, w.len - 1, &d), -1);
    assert_int_equal(qkd_write_u8(&w, 0), 0);
    assert_int_equal(hyb_pm_batch_decode(w.buf, w.len, &d), -1);
    /* inner HELLO, BATCH or unknown types refused both ways */
    static const uint8_t bad_types[] = {0, HYB_PM_HELLO, HYB_PM_BATCH, HYB_PM_TYPE_MAX + 1};
    for (size_t t = 0; t < sizeof(bad_types); t++) {
        b.m[1].type = bad_types[t];
        qkd_writer_reset(&w);
        assert_int_equal(hyb_pm_batch_encode(&b, &w), -1);
        uint8_t raw[] = {2, HYB_PM_WANT, 0, 0, 0, 1, 'x', bad_types[t], 0, 0, 0, 0};
        assert_int_equal(hyb_pm_batch_decode(raw, sizeof(raw), &d), -1);
        raw[7] = HYB_PM_CONFIRM;
        assert_int_equal(hyb_pm_batch_decode(raw, sizeof(raw), &d), 0);
    }
    b.m[1].type = HYB_PM_INIT;
    /* count at its edges: 1 and HYB_PM_BATCH_MAX + 1 refused, 2 and HYB_PM_BATCH_MAX pass */
    for (int i = 0; i < HYB_PM_BATCH_MAX; i++)
        b.m[i] = (struct hyb_pm_batch_msg){HYB_PM_WANT, (const uint8_t *)"w", 1};
    const unsigned counts[] = {1, 2, HYB_PM_BATCH_MAX, HYB_PM_BATCH_MAX + 1};
    const int want[] = {-1, 0, 0, -1};
    for (int k = 0; k < 4; k++) {
        b.n = (uint8_t)counts[k];
        qkd_writer_reset(&w);
        assert_int_equal(hyb_pm_batch_encode(&b, &w), want[k]);
        /* the same count written by hand */
        qkd_writer_reset(&w);
        qkd_write_u8(&w, (uint8_t)counts[k]);
        for (unsigned i = 0; i < counts[k]; i++) {
            qkd_write_u8(&w, HYB_PM_WANT);
            qkd_write_u32(&w, 1);
            qkd_write_u8(&w, 'w');
        }
        assert_int_equal(hyb_pm_batch_decode(w.buf, w.len, &d), want[k]);
    }
    qkd_writer_free(&w);
}

/* A BATCH travels in the ordinary envelope: one sequence number, one signature; replay and
 * a bad signature are refused as for any message. */
static void test_batch_envelope(void **state)
{
    (void)state;
    struct pair p;
    pair_up(&p);
    static struct hyb_pm_batch b, d;
    memset(&b, 0, sizeof(b));
    b.n = 2;
    b.m[0] = (struct hyb_pm_batch_msg){HYB_PM_RESULT, (const uint8_t *)"r", 1};
    b.m[1] = (struct hyb_pm_batch_msg){HYB_PM_INIT, (const uint8_t *)"i", 1};
    struct qkd_writer body, w;
    qkd_writer_init(&body, 0);
    qkd_writer_init(&w, 0);
    assert_int_equal(hyb_pm_batch_encode(&b, &body), 0);
    assert_int_equal(hyb_pm_seal(&p.a, HYB_PM_BATCH, body.buf, body.len, &w), 0);
    struct frame f;
    frame_from(&w, &f);
    struct hyb_pm_msg m;
    assert_int_equal(open_f(&p.b, &f, &m), HYB_PM_OK);
    assert_int_equal(m.type, HYB_PM_BATCH);
    assert_string_equal(hyb_pm_type_name(m.type), "BATCH");
    assert_int_equal(hyb_pm_batch_decode(m.body, m.body_len, &d), 0);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.m[1].type, HYB_PM_INIT);
    assert_int_equal(open_f(&p.b, &f, &m), HYB_PM_ERR_REPLAY);
    free(f.payload);
    qkd_writer_reset(&w);
    assert_int_equal(hyb_pm_seal(&p.a, HYB_PM_BATCH, body.buf, body.len, &w), 0);
    w.buf[w.len - 1] ^= 1;
    frame_from(&w, &f);
    assert_int_equal(open_f(&p.b, &f, &m), HYB_PM_ERR_SIG);
    free(f.payload);
    /* a batch body fits one frame with the largest signature */
    assert_true(HYB_PM_BATCH_BODY_MAX + 8 + 4 + 4 + HYB_PM_MAX_SIG <= HYB_PM_MAX_PAYLOAD);
    qkd_writer_free(&body);
    qkd_writer_free(&w);
    pair_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_replay), cmocka_unit_test(test_gap_and_bad_signature),
        cmocka_unit_test(test_bound_to_connection),  cmocka_unit_test(test_hello_rules),
        cmocka_unit_test(test_malformed_envelope),   cmocka_unit_test(test_kex_codec),
        cmocka_unit_test(test_announce_codec),       cmocka_unit_test(test_batch_codec),
        cmocka_unit_test(test_batch_envelope),       cmocka_unit_test(test_frame_limit_edge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
