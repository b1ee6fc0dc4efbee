/* test_wire.c: unit tests of the ETSI 004 codec in both framings: round trip of every message
 * (including Q error forms and the status 8 forms), exact layouts and versions, every
 * truncation, wrong payload lengths, size limit at its edge, strings without NUL, unexpected
 * services, and encoder behaviour on failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <stdio.h>

#include <cmocka.h>

#include "wire.h"

static const enum qkd_framing framings[] = {QKD_FRAMING_Q, QKD_FRAMING_E};

static const uint8_t test_key[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                     12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                     23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const char test_meta[] = "{\"age\":12,\"hops\":0}";

static void fill_ksid(struct qkd_ksid *k, uint8_t seed)
{
    for (int i = 0; i < QKD_KSID_LEN; i++)
        k->b[i] = (uint8_t)(seed + i);
}

static void fill_qos(struct qkd_qos *q)
{
    memset(q, 0, sizeof(*q));
    q->key_chunk_size = 32;
    q->max_bps = 40000;
    q->min_bps = 5000;
    q->jitter = 10;
    q->priority = 0;
    q->timeout = 5000;
    q->ttl = 3600;
    strcpy(q->metadata_mimetype, QKD_MIMETYPE_JSON);
}

/* ---- sample messages ------------------------------------------------------------------- */

#define N_REQ 4
static void sample_request(int i, struct qkd_request *r)
{
    memset(r, 0, sizeof(*r));
    switch (i) {
    case 0:
        r->service = QKD_SVC_OPEN_REQ;
        r->u.open.source = "client://alice";
        r->u.open.destination = "client://bob:1234/x?y=z";
        fill_qos(&r->u.open.qos);
        break; /* zero KSID */
    case 1:
        r->service = QKD_SVC_OPEN_REQ;
        r->u.open.source = "a://b";
        r->u.open.destination = "c://d";
        fill_qos(&r->u.open.qos);
        r->u.open.qos.metadata_mimetype[0] = '\0';
        fill_ksid(&r->u.open.ksid, 0x40);
        break;
    case 2:
        r->service = QKD_SVC_GET_REQ;
        fill_ksid(&r->u.get.ksid, 0x90);
        r->u.get.index = 7;
        r->u.get.metadata_size = 100;
        break;
    default:
        r->service = QKD_SVC_CLOSE_REQ;
        fill_ksid(&r->u.close.ksid, 0xF0);
        break;
    }
}

#define N_RSP 8
static void sample_response(int i, struct qkd_response *r)
{
    memset(r, 0, sizeof(*r));
    switch (i) {
    case 0: /* OPEN success */
    case 1: /* OPEN counter-proposal */
        r->service = QKD_SVC_OPEN_RSP;
        r->u.open.status = i == 0 ? QKD_STATUS_SUCCESS : QKD_STATUS_QOS_NOT_MET;
        fill_qos(&r->u.open.qos);
        fill_ksid(&r->u.open.ksid, 0x33);
        break;
    case 2: /* OPEN error */
        r->service = QKD_SVC_OPEN_RSP;
        r->u.open.status = QKD_STATUS_NO_QKD_CONNECTION;
        fill_ksid(&r->u.open.ksid, 0x33); /* Q drops it; E keeps it */
        break;
    case 3: /* GET success with metadata */
        r->service = QKD_SVC_GET_RSP;
        r->u.get.index = 5;
        r->u.get.key = test_key;
        r->u.get.key_len = sizeof(test_key);
        r->u.get.metadata = (const uint8_t *)test_meta;
        r->u.get.metadata_len = (uint32_t)strlen(test_meta);
        break;
    case 4: /* GET success without metadata */
        r->service = QKD_SVC_GET_RSP;
        r->u.get.index = 0;
        r->u.get.key = test_key;
        r->u.get.key_len = 16;
        break;
    case 5: /* GET error */
        r->service = QKD_SVC_GET_RSP;
        r->u.get.status = QKD_STATUS_INSUFFICIENT_KEY;
        r->u.get.index = 9;
        break;
    case 6: /* GET metadata too small */
        r->service = QKD_SVC_GET_RSP;
        r->u.get.status = QKD_STATUS_METADATA_TOO_SMALL;
        r->u.get.index = 9;
        r->u.get.required_metadata_size = 300;
        break;
    default:
        r->service = QKD_SVC_CLOSE_RSP;
        r->u.close.status = QKD_STATUS_PEER_APP_NOT_CONNECTED;
        break;
    }
}

/* ---- helpers ----------------------------------------------------------------------------- */

struct frame {
    struct qkd_wire_hdr h;
    uint8_t *payload; /* heap copy of exactly payload_len bytes (ASan sees any over-read) */
    size_t len;
    uint8_t hdr[QKD_WIRE_HDR_LEN];
};

static void frame_from_writer(const struct qkd_writer *w, struct frame *fr)
{
    assert_true(w->len >= QKD_WIRE_HDR_LEN);
    memcpy(fr->hdr, w->buf, QKD_WIRE_HDR_LEN);
    qkd_wire_hdr_parse(w->buf, &fr->h);
    fr->len = w->len - QKD_WIRE_HDR_LEN;
    assert_int_equal(fr->h.payload_len, fr->len);
    fr->payload = malloc(fr->len ? fr->len : 1);
    assert_non_null(fr->payload);
    memcpy(fr->payload, w->buf + QKD_WIRE_HDR_LEN, fr->len);
}

static void encode_req(enum qkd_framing f, const struct qkd_request *r, struct frame *fr)
{
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    assert_int_equal(qkd_wire_encode_request(f, r, &w), QKD_WIRE_OK);
    frame_from_writer(&w, fr);
    qkd_writer_free(&w);
}

static void encode_rsp(enum qkd_framing f, const struct qkd_response *r, struct frame *fr)
{
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    assert_int_equal(qkd_wire_encode_response(f, r, &w), QKD_WIRE_OK);
    frame_from_writer(&w, fr);
    qkd_writer_free(&w);
}

/* Decodes the first n payload bytes of fr with header length n, from an exact-size copy. */
static int decode_prefix(bool is_req, enum qkd_framing f, const struct frame *fr,
                         const uint8_t *bytes, size_t n, size_t max)
{
    struct qkd_wire_hdr h = fr->h;
    h.payload_len = (uint32_t)n;
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    if (n) memcpy(p, bytes, n);
    int rc;
    if (is_req) {
        struct qkd_request out;
        rc = qkd_wire_decode_request(f, &h, p, max, &out);
    } else {
        struct qkd_response out;
        rc = qkd_wire_decode_response(f, &h, p, max, &out);
    }
    free(p);
    return rc;
}

static void assert_qos_equal(const struct qkd_qos *a, const struct qkd_qos *b)
{
    assert_int_equal(a->key_chunk_size, b->key_chunk_size);
    assert_int_equal(a->max_bps, b->max_bps);
    assert_int_equal(a->min_bps, b->min_bps);
    assert_int_equal(a->jitter, b->jitter);
    assert_int_equal(a->priority, b->priority);
    assert_int_equal(a->timeout, b->timeout);
    assert_int_equal(a->ttl, b->ttl);
    assert_string_equal(a->metadata_mimetype, b->metadata_mimetype);
}

/* ---- round trips ------------------------------------------------------------------------- */

static void test_header_and_detect(void **state)
{
    (void)state;
    struct qkd_wire_hdr h;
    const uint8_t raw[8] = {2, 1, 1, 0x04, 0x00, 0x01, 0x02, 0x03};
    qkd_wire_hdr_parse(raw, &h);
    assert_int_equal(h.major, 2);
    assert_int_equal(h.minor, 1);
    assert_int_equal(h.patch, 1);
    assert_int_equal(h.service, 0x04);
    assert_int_equal(h.payload_len, 0x00010203);
    assert_int_equal(qkd_wire_detect(&h), QKD_FRAMING_E);
    for (unsigned m = 0; m < 256; m++) {
        h.major = (uint8_t)m;
        assert_int_equal(qkd_wire_detect(&h), m == 2 ? QKD_FRAMING_E : QKD_FRAMING_Q);
    }
}

static void test_request_round_trip(void **state)
{
    (void)state;
    for (size_t fi = 0; fi < 2; fi++) {
        enum qkd_framing f = framings[fi];
        for (int i = 0; i < N_REQ; i++) {
            struct qkd_request in, out;
            struct frame fr;
            sample_request(i, &in);
            encode_req(f, &in, &fr);
            /* Versions: Q 1.0.1, E 2.1.1; detection agrees. */
            assert_int_equal(fr.hdr[0], f == QKD_FRAMING_E ? 2 : 1);
            assert_int_equal(fr.hdr[1], f == QKD_FRAMING_E ? 1 : 0);
            assert_int_equal(fr.hdr[2], 1);
            assert_int_equal(fr.hdr[3], in.service);
            assert_int_equal(qkd_wire_detect(&fr.h), f);
            assert_int_equal(qkd_wire_decode_request(f, &fr.h, fr.payload, 0, &out), QKD_WIRE_OK);
            assert_int_equal(out.service, in.service);
            size_t want_len = 0;
            switch (in.service) {
            case QKD_SVC_OPEN_REQ:
                assert_string_equal(out.u.open.source, in.u.open.source);
                assert_string_equal(out.u.open.destination, in.u.open.destination);
                assert_qos_equal(&out.u.open.qos, &in.u.open.qos);
                assert_memory_equal(out.u.open.ksid.b, in.u.open.ksid.b, QKD_KSID_LEN);
                /* URIs point into the payload. */
                assert_ptr_equal(out.u.open.source, (const char *)fr.payload);
                want_len =
                    strlen(in.u.open.source) + 1 + strlen(in.u.open.destination) + 1 + 28 +
                    (f == QKD_FRAMING_Q ? 256 : strlen(in.u.open.qos.metadata_mimetype) + 1) + 16;
                break;
            case QKD_SVC_GET_REQ:
                assert_memory_equal(out.u.get.ksid.b, in.u.get.ksid.b, QKD_KSID_LEN);
                assert_int_equal(out.u.get.index, in.u.get.index);
                assert_int_equal(out.u.get.metadata_size, in.u.get.metadata_size);
                want_len = 24 + (f == QKD_FRAMING_E ? in.u.get.metadata_size : 0);
                break;
            default:
                assert_memory_equal(out.u.close.ksid.b, in.u.close.ksid.b, QKD_KSID_LEN);
                want_len = 16;
                break;
            }
            assert_int_equal(fr.len, want_len);
            /* An unknown framing argument falls back to detection from the header. */
            assert_int_equal(
                qkd_wire_decode_request(QKD_FRAMING_UNKNOWN, &fr.h, fr.payload, 0, &out),
                QKD_WIRE_OK);
            free(fr.payload);
        }
    }
}

static void test_q_open_request_layout(void **state)
{
    (void)state;
    struct qkd_request in;
    struct frame fr;
    sample_request(1, &in);
    in.u.open.qos.max_bps = 0x01020304;
    strcpy(in.u.open.qos.metadata_mimetype, "text/x");
    encode_req(QKD_FRAMING_Q, &in, &fr);
    /* "a://b\0c://d\0" then 7 u32 then a 256-byte NUL-padded mimetype, then KSID. */
    assert_memory_equal(fr.payload, "a://b\0c://d\0", 12);
    assert_int_equal(qkd_get_u32(fr.payload + 12 + 4), 0x01020304);
    assert_memory_equal(fr.payload + 12 + 28, "text/x", 6);
    for (size_t i = 6; i < 256; i++)
        assert_int_equal(fr.payload[12 + 28 + i], 0);
    assert_memory_equal(fr.payload + 12 + 28 + 256, in.u.open.ksid.b, 16);
    free(fr.payload);
}

static void test_response_round_trip(void **state)
{
    (void)state;
    for (size_t fi = 0; fi < 2; fi++) {
        enum qkd_framing f = framings[fi];
        bool q = f == QKD_FRAMING_Q;
        for (int i = 0; i < N_RSP; i++) {
            struct qkd_response in, out;
            struct frame fr;
            sample_response(i, &in);
            encode_rsp(f, &in, &fr);
            assert_int_equal(fr.hdr[0], q ? 1 : 2);
            assert_int_equal(fr.hdr[3], in.service);
            assert_int_equal(qkd_wire_decode_response(f, &fr.h, fr.payload, 0, &out), QKD_WIRE_OK);
            assert_int_equal(out.service, in.service);
            if (in.service == QKD_SVC_OPEN_RSP) {
                const struct qkd_open_rsp *a = &in.u.open, *b = &out.u.open;
                assert_int_equal(b->status, a->status);
                if (q && !qkd_status_ok(a->status)) {
                    assert_int_equal(fr.len, 4); /* Q error form: status only */
                    assert_true(qkd_ksid_is_zero(&b->ksid));
                } else {
                    if (q)
                        assert_int_equal(fr.len, 304);
                    else
                        assert_int_equal(fr.len,
                                         4 + 28 + strlen(a->qos.metadata_mimetype) + 1 + 16);
                    assert_qos_equal(&b->qos, &a->qos);
                    assert_memory_equal(b->ksid.b, a->ksid.b, QKD_KSID_LEN);
                }
            } else if (in.service == QKD_SVC_GET_RSP) {
                const struct qkd_get_rsp *a = &in.u.get, *b = &out.u.get;
                assert_int_equal(b->status, a->status);
                if (a->status == QKD_STATUS_SUCCESS) {
                    assert_int_equal(fr.len, 16 + a->key_len + a->metadata_len);
                    assert_int_equal(b->index, a->index);
                    assert_int_equal(b->key_len, a->key_len);
                    assert_memory_equal(b->key, a->key, a->key_len);
                    /* The key points into the payload. */
                    assert_true(b->key >= fr.payload && b->key + b->key_len <= fr.payload + fr.len);
                    assert_int_equal(b->metadata_len, a->metadata_len);
                    if (a->metadata_len)
                        assert_memory_equal(b->metadata, a->metadata, a->metadata_len);
                } else if (a->status == QKD_STATUS_METADATA_TOO_SMALL) {
                    assert_int_equal(b->required_metadata_size, a->required_metadata_size);
                    assert_int_equal(b->key_len, 0);
                    if (q) {
                        assert_int_equal(fr.len, 8);
                        assert_int_equal(qkd_get_u32(fr.payload + 4), a->required_metadata_size);
                    } else {
                        /* status, index, key_len 0, metadata_len = size, size zero bytes */
                        assert_int_equal(fr.len, 16 + a->required_metadata_size);
                        assert_int_equal(b->index, a->index);
                        assert_int_equal(qkd_get_u32(fr.payload + 8), 0);
                        assert_int_equal(qkd_get_u32(fr.payload + 12), a->required_metadata_size);
                        for (size_t k = 16; k < fr.len; k++)
                            assert_int_equal(fr.payload[k], 0);
                    }
                } else {
                    assert_int_equal(b->key_len, 0);
                    if (q) {
                        assert_int_equal(fr.len, 4);
                    } else {
                        assert_int_equal(fr.len, 16);
                        assert_int_equal(b->index, a->index);
                    }
                }
            } else {
                assert_int_equal(fr.len, 4);
                assert_int_equal(out.u.close.status, in.u.close.status);
            }
            free(fr.payload);
        }
    }
}

/* ---- malformed frames -------------------------------------------------------------------- */

static void test_every_truncation(void **state)
{
    (void)state;
    for (size_t fi = 0; fi < 2; fi++) {
        enum qkd_framing f = framings[fi];
        for (int i = 0; i < N_REQ + N_RSP; i++) {
            struct frame fr;
            bool is_req = i < N_REQ;
            if (is_req) {
                struct qkd_request r;
                sample_request(i, &r);
                encode_req(f, &r, &fr);
            } else {
                struct qkd_response r;
                sample_response(i - N_REQ, &r);
                encode_rsp(f, &r, &fr);
            }
            assert_int_equal(decode_prefix(is_req, f, &fr, fr.payload, fr.len, 0), QKD_WIRE_OK);
            for (size_t n = 0; n < fr.len; n++) {
                int rc = decode_prefix(is_req, f, &fr, fr.payload, n, 0);
                if (rc != QKD_WIRE_ERR_LENGTH && rc != QKD_WIRE_ERR_STRING)
                    fail_msg("framing %d msg %d truncated to %zu: rc %d", (int)f, i, n, rc);
            }
            free(fr.payload);
        }
    }
}

static void test_wrong_payload_length(void **state)
{
    (void)state;
    static const size_t shorter[] = {1, 2, 3, 4, 8, 16};
    static const size_t longer[] = {1, 2, 3, 4, 16, 100, 1000};
    uint8_t big[4096];
    for (size_t fi = 0; fi < 2; fi++) {
        enum qkd_framing f = framings[fi];
        for (int i = 0; i < N_REQ + N_RSP; i++) {
            struct frame fr;
            bool is_req = i < N_REQ;
            if (is_req) {
                struct qkd_request r;
                sample_request(i, &r);
                encode_req(f, &r, &fr);
            } else {
                struct qkd_response r;
                sample_response(i - N_REQ, &r);
                encode_rsp(f, &r, &fr);
            }
            for (size_t k = 0; k < sizeof(shorter) / sizeof(shorter[0]); k++) {
                if (shorter[k] > fr.len) continue;
                int rc = decode_prefix(is_req, f, &fr, fr.payload, fr.len - shorter[k], 0);
                if (rc != QKD_WIRE_ERR_LENGTH)
                    fail_msg("framing %d msg %d len -%zu: rc %d", (int)f, i, shorter[k], rc);
            }
            for (size_t k = 0; k < sizeof(longer) / sizeof(longer[0]); k++) {
                for (uint8_t fillb = 0; fillb < 2; fillb++) {
                    assert_true(fr.len + longer[k] <= sizeof(big));
                    memset(big, fillb ? 0xFF : 0, sizeof(big));
                    memcpy(big, fr.payload, fr.len);
                    int rc = decode_prefix(is_req, f, &fr, big, fr.len + longer[k], 0);
                    if (rc != QKD_WIRE_ERR_LENGTH)
                        fail_msg("framing %d msg %d len +%zu: rc %d", (int)f, i, longer[k], rc);
                }
            }
            free(fr.payload);
        }
    }
}

static void test_q_form_mismatch(void **state)
{
    (void)state;
    struct qkd_wire_hdr h = {1, 0, 1, QKD_SVC_OPEN_RSP, 4};
    uint8_t p[8] = {0};
    struct qkd_response out;
    /* Q OPEN: a success status with only 4 bytes, an error status with 304. */
    assert_int_equal(qkd_wire_decode_response(QKD_FRAMING_Q, &h, p, 0, &out), QKD_WIRE_ERR_LENGTH);
    p[3] = 4;
    assert_int_equal(qkd_wire_decode_response(QKD_FRAMING_Q, &h, p, 0, &out), QKD_WIRE_OK);
    assert_int_equal(out.u.open.status, 4);
    uint8_t full[304] = {0};
    full[3] = 4;
    h.payload_len = sizeof(full);
    assert_int_equal(qkd_wire_decode_response(QKD_FRAMING_Q, &h, full, 0, &out),
                     QKD_WIRE_ERR_LENGTH);
    full[3] = 1;
    assert_int_equal(qkd_wire_decode_response(QKD_FRAMING_Q, &h, full, 0, &out), QKD_WIRE_OK);
    /* Q GET: 4-byte status 0 is not a response; 4-byte status 8 lacks the size. */
    h.service = QKD_SVC_GET_RSP;
    h.payload_len = 4;
    memset(p, 0, sizeof(p));
    assert_int_equal(qkd_wire_decode_response(QKD_FRAMING_Q, &h, p, 0, &out), QKD_WIRE_ERR_LENGTH);
    p[3] = 8;
    assert_int_equal(qkd_wire_decode_response(QKD_FRAMING_Q, &h, p, 0, &out), QKD_WIRE_ERR_LENGTH);
    h.payload_len = 8;
    p[7] = 42;
    assert_int_equal(qkd_wire_decode_response(QKD_FRAMING_Q, &h, p, 0, &out), QKD_WIRE_OK);
    assert_int_equal(out.u.get.required_metadata_size, 42);
}

static void test_e_get_error_with_key(void **state)
{
    (void)state;
    /* E GET with status 2 but key_len 1: a key on an error is forbidden. */
    uint8_t p[17] = {0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0xAA, 0, 0, 0, 0};
    struct qkd_wire_hdr h = {2, 1, 1, QKD_SVC_GET_RSP, sizeof(p)};
    struct qkd_response out;
    assert_int_equal(qkd_wire_decode_response(QKD_FRAMING_E, &h, p, 0, &out), QKD_WIRE_ERR_VALUE);
    p[3] = 0;
    assert_int_equal(qkd_wire_decode_response(QKD_FRAMING_E, &h, p, 0, &out), QKD_WIRE_OK);
    assert_int_equal(out.u.get.key_len, 1);
    assert_ptr_equal(out.u.get.key, p + 12);
}

static void test_too_large(void **state)
{
    (void)state;
    /* E GET request whose metadata buffer makes the payload exactly 64 KiB, then one more. */
    size_t max = QKD_WIRE_DEFAULT_MAX_PAYLOAD;
    uint8_t *p = calloc(1, max + 1);
    assert_non_null(p);
    qkd_put_u32(p + 20, (uint32_t)(max - 24));
    struct qkd_wire_hdr h = {2, 1, 1, QKD_SVC_GET_REQ, (uint32_t)max};
    struct qkd_request out;
    assert_int_equal(qkd_wire_decode_request(QKD_FRAMING_E, &h, p, 0, &out), QKD_WIRE_OK);
    assert_int_equal(out.u.get.metadata_size, max - 24);
    h.payload_len = (uint32_t)max + 1;
    qkd_put_u32(p + 20, (uint32_t)(max - 23));
    assert_int_equal(qkd_wire_decode_request(QKD_FRAMING_E, &h, p, 0, &out),
                     QKD_WIRE_ERR_TOO_LARGE);
    /* A configured maximum is enforced at its edge, for responses too. */
    h.payload_len = 16;
    assert_int_equal(qkd_wire_decode_request(QKD_FRAMING_Q, &h, p, 15, &out),
                     QKD_WIRE_ERR_TOO_LARGE);
    h.service = QKD_SVC_CLOSE_REQ;
    assert_int_equal(qkd_wire_decode_request(QKD_FRAMING_Q, &h, p, 16, &out), QKD_WIRE_OK);
    struct qkd_response rsp;
    h.service = QKD_SVC_CLOSE_RSP;
    h.payload_len = UINT32_MAX;
    assert_int_equal(qkd_wire_decode_response(QKD_FRAMING_Q, &h, p, 0, &rsp),
                     QKD_WIRE_ERR_TOO_LARGE);
    free(p);
}

/* Builds a Q/E OPEN request payload with the given source bytes (not NUL-terminated by us). */
static size_t build_open(enum qkd_framing f, uint8_t *p, const char *src, size_t srclen,
                         const char *mime, size_t mimelen)
{
    size_t o = 0;
    memcpy(p + o, src, srclen);
    o += srclen;
    memcpy(p + o, "d://e", 6);
    o += 6;
    memset(p + o, 0, 28);
    o += 28;
    if (f == QKD_FRAMING_Q) {
        memset(p + o, 0, 256);
        memcpy(p + o, mime, mimelen);
        o += 256;
    } else {
        memcpy(p + o, mime, mimelen);
        o += mimelen;
    }
    memset(p + o, 0, 16);
    return o + 16;
}

static void test_strings(void **state)
{
    (void)state;
    static uint8_t p[4096];
    char src[QKD_WIRE_URI_MAX + 2];
    struct qkd_request out;
    for (size_t fi = 0; fi < 2; fi++) {
        enum qkd_framing f = framings[fi];
        struct qkd_wire_hdr h = {f == QKD_FRAMING_E ? 2 : 1, 0, 1, QKD_SVC_OPEN_REQ, 0};
        /* URI of QKD_WIRE_URI_MAX bytes including NUL: accepted; one more: rejected. */
        memset(src, 'a', sizeof(src));
        src[QKD_WIRE_URI_MAX - 1] = '\0';
        h.payload_len = (uint32_t)build_open(f, p, src, QKD_WIRE_URI_MAX, "application/json", 17);
        assert_int_equal(qkd_wire_decode_request(f, &h, p, 0, &out), QKD_WIRE_OK);
        assert_int_equal(strlen(out.u.open.source), QKD_WIRE_URI_MAX - 1);
        src[QKD_WIRE_URI_MAX - 1] = 'a';
        src[QKD_WIRE_URI_MAX] = '\0';
        h.payload_len =
            (uint32_t)build_open(f, p, src, QKD_WIRE_URI_MAX + 1, "application/json", 17);
        assert_int_equal(qkd_wire_decode_request(f, &h, p, 0, &out), QKD_WIRE_ERR_STRING);
        /* A payload with no NUL anywhere. */
        memset(p, 'x', 200);
        h.payload_len = 200;
        assert_int_equal(qkd_wire_decode_request(f, &h, p, 0, &out), QKD_WIRE_ERR_STRING);
        /* Mimetype of 256 bytes without NUL: rejected; 255 + NUL: accepted, NUL-terminated. */
        char mime[QKD_MIMETYPE_MAX];
        memset(mime, 'm', sizeof(mime));
        h.payload_len = (uint32_t)build_open(f, p, "s://h", 6, mime, sizeof(mime));
        if (f == QKD_FRAMING_E) /* the E string runs into the KSID's zero bytes */
            p[h.payload_len - 16] = 1;
        int rc = qkd_wire_decode_request(f, &h, p, 0, &out);
        assert_int_equal(rc, QKD_WIRE_ERR_STRING);
        mime[QKD_MIMETYPE_MAX - 1] = '\0';
        h.payload_len = (uint32_t)build_open(f, p, "s://h", 6, mime, sizeof(mime));
        assert_int_equal(qkd_wire_decode_request(f, &h, p, 0, &out), QKD_WIRE_OK);
        assert_int_equal(strlen(out.u.open.qos.metadata_mimetype), QKD_MIMETYPE_MAX - 1);
    }
    /* Q: the padding after the NUL may hold anything; the decoded string stops at the NUL. */
    struct qkd_wire_hdr hq = {1, 0, 1, QKD_SVC_OPEN_REQ, 0};
    hq.payload_len = (uint32_t)build_open(QKD_FRAMING_Q, p, "s://h", 6, "a\0zzz", 5);
    assert_int_equal(qkd_wire_decode_request(QKD_FRAMING_Q, &hq, p, 0, &out), QKD_WIRE_OK);
    assert_string_equal(out.u.open.qos.metadata_mimetype, "a");
}

static void test_unknown_service(void **state)
{
    (void)state;
    uint8_t p[16] = {0};
    struct qkd_request req;
    struct qkd_response rsp;
    for (unsigned s = 0; s < 256; s++) {
        struct qkd_wire_hdr h = {1, 0, 1, (uint8_t)s, 16};
        bool is_req = s == 0x02 || s == 0x04 || s == 0x08;
        bool is_rsp = s == 0x03 || s == 0x05 || s == 0x09;
        int rc = qkd_wire_decode_request(QKD_FRAMING_Q, &h, p, 0, &req);
        if (!is_req) assert_int_equal(rc, QKD_WIRE_ERR_SERVICE);
        rc = qkd_wire_decode_response(QKD_FRAMING_E, &h, p, 0, &rsp);
        if (!is_rsp) assert_int_equal(rc, QKD_WIRE_ERR_SERVICE);
    }
    /* Encoders refuse a service of the wrong direction. */
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    memset(&req, 0, sizeof(req));
    req.service = QKD_SVC_GET_RSP;
    assert_int_equal(qkd_wire_encode_request(QKD_FRAMING_Q, &req, &w), QKD_WIRE_ERR_SERVICE);
    memset(&rsp, 0, sizeof(rsp));
    rsp.service = QKD_SVC_OPEN_REQ;
    assert_int_equal(qkd_wire_encode_response(QKD_FRAMING_E, &rsp, &w), QKD_WIRE_ERR_SERVICE);
    assert_int_equal(w.len, 0);
    qkd_writer_free(&w);
}

static void test_encoder_failures(void **state)
{
    (void)state;
    struct qkd_writer w;
    struct qkd_request req;
    sample_request(0, &req);
    /* Output limit: the writer keeps its earlier content and is usable again. */
    qkd_writer_init(&w, 40);
    assert_int_equal(qkd_write_bytes(&w, "prefix", 6), 0);
    assert_int_equal(qkd_wire_encode_request(QKD_FRAMING_Q, &req, &w), QKD_WIRE_ERR_NOMEM);
    assert_int_equal(w.len, 6);
    assert_false(w.failed);
    sample_request(3, &req); /* CLOSE: 8 + 16 bytes fits in 40 - 6 */
    assert_int_equal(qkd_wire_encode_request(QKD_FRAMING_Q, &req, &w), QKD_WIRE_OK);
    assert_int_equal(w.len, 6 + 24);
    qkd_writer_free(&w);
    /* Too-long URI and mimetype are refused. */
    static char longuri[QKD_WIRE_URI_MAX + 1];
    memset(longuri, 'a', QKD_WIRE_URI_MAX);
    longuri[QKD_WIRE_URI_MAX] = '\0';
    qkd_writer_init(&w, 0);
    sample_request(0, &req);
    req.u.open.source = longuri;
    assert_int_equal(qkd_wire_encode_request(QKD_FRAMING_E, &req, &w), QKD_WIRE_ERR_STRING);
    longuri[QKD_WIRE_URI_MAX - 1] = '\0'; /* longest allowed */
    assert_int_equal(qkd_wire_encode_request(QKD_FRAMING_E, &req, &w), QKD_WIRE_OK);
    qkd_writer_reset(&w);
    sample_request(0, &req);
    req.u.open.destination = NULL;
    assert_int_equal(qkd_wire_encode_request(QKD_FRAMING_Q, &req, &w), QKD_WIRE_ERR_STRING);
    sample_request(0, &req);
    memset(req.u.open.qos.metadata_mimetype, 'm', QKD_MIMETYPE_MAX);
    assert_int_equal(qkd_wire_encode_request(QKD_FRAMING_Q, &req, &w), QKD_WIRE_ERR_STRING);
    assert_int_equal(w.len, 0);
    /* Bad framing argument. */
    sample_request(3, &req);
    assert_int_equal(qkd_wire_encode_request(QKD_FRAMING_UNKNOWN, &req, &w), QKD_WIRE_ERR_VALUE);
    /* Payloads whose length would not fit the u32 field are refused before any allocation. */
    sample_request(2, &req);
    req.u.get.metadata_size = UINT32_MAX - 23;
    assert_int_equal(qkd_wire_encode_request(QKD_FRAMING_E, &req, &w), QKD_WIRE_ERR_TOO_LARGE);
    assert_int_equal(qkd_wire_encode_request(QKD_FRAMING_Q, &req, &w), QKD_WIRE_OK); /* Q: none */
    qkd_writer_reset(&w);
    struct qkd_response big;
    sample_response(6, &big);
    big.u.get.required_metadata_size = UINT32_MAX - 15;
    assert_int_equal(qkd_wire_encode_response(QKD_FRAMING_E, &big, &w), QKD_WIRE_ERR_TOO_LARGE);
    assert_int_equal(w.len, 0);
    /* Success GET with key_len but no key pointer. */
    struct qkd_response rsp;
    sample_response(3, &rsp);
    rsp.u.get.key = NULL;
    assert_int_equal(qkd_wire_encode_response(QKD_FRAMING_Q, &rsp, &w), QKD_WIRE_ERR_VALUE);
    assert_int_equal(w.len, 0);
    qkd_writer_free(&w);
}

static void test_two_frames_in_one_writer(void **state)
{
    (void)state;
    struct qkd_writer w;
    struct qkd_response a, b, out;
    struct qkd_wire_hdr h;
    sample_response(3, &a);
    sample_response(7, &b);
    qkd_writer_init(&w, 0);
    assert_int_equal(qkd_wire_encode_response(QKD_FRAMING_E, &a, &w), QKD_WIRE_OK);
    size_t first = w.len;
    assert_int_equal(qkd_wire_encode_response(QKD_FRAMING_E, &b, &w), QKD_WIRE_OK);
    qkd_wire_hdr_parse(w.buf + first, &h);
    assert_int_equal(h.payload_len, 4);
    assert_int_equal(
        qkd_wire_decode_response(QKD_FRAMING_E, &h, w.buf + first + QKD_WIRE_HDR_LEN, 0, &out),
        QKD_WIRE_OK);
    assert_int_equal(out.u.close.status, b.u.close.status);
    qkd_writer_free(&w);
}

/* The committed fuzz seeds were written from docs/wire.md independently of the encoder: each
 * must decode, and re-encoding the decoded message must give back exactly the same bytes. */
static void check_seed_dir(const char *src, const char *target, bool is_req)
{
    char dir[1024], path[1400];
    snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", src, target);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *fp = fopen(path, "rb");
        assert_non_null(fp);
        static uint8_t buf[8192];
        size_t len = fread(buf, 1, sizeof(buf), fp);
        fclose(fp);
        assert_true(len >= 1 + QKD_WIRE_HDR_LEN);
        struct qkd_wire_hdr h;
        qkd_wire_hdr_parse(buf + 1, &h);
        assert_int_equal(h.payload_len, len - 1 - QKD_WIRE_HDR_LEN);
        enum qkd_framing f = qkd_wire_detect(&h);
        assert_int_equal(buf[0] == 2 ? f : (buf[0] == 1 ? QKD_FRAMING_E : QKD_FRAMING_Q), f);
        struct qkd_writer w;
        qkd_writer_init(&w, 0);
        int rc;
        if (is_req) {
            struct qkd_request r;
            rc = qkd_wire_decode_request(f, &h, buf + 1 + QKD_WIRE_HDR_LEN, 0, &r);
            if (rc == QKD_WIRE_OK) rc = qkd_wire_encode_request(f, &r, &w);
        } else {
            struct qkd_response r;
            rc = qkd_wire_decode_response(f, &h, buf + 1 + QKD_WIRE_HDR_LEN, 0, &r);
            if (rc == QKD_WIRE_OK) rc = qkd_wire_encode_response(f, &r, &w);
        }
        if (rc != QKD_WIRE_OK) fail_msg("seed %s: %s", path, qkd_wire_err_str(rc));
        if (w.len != len - 1 || memcmp(w.buf, buf + 1, w.len) != 0)
            fail_msg("seed %s: re-encoding differs", path);
        qkd_writer_free(&w);
        n++;
    }
    closedir(d);
    assert_true(n >= 6);
}

static void test_corpus_seeds(void **state)
{
    (void)state;
    const char *src = getenv("QKD_SRC");
#ifdef QKD_TEST_SRC_DIR
    if (!src) src = QKD_TEST_SRC_DIR;
#endif
    if (!src) skip();
    check_seed_dir(src, "fuzz_wire_request", true);
    check_seed_dir(src, "fuzz_wire_response", false);
}

static void test_err_str(void **state)
{
    (void)state;
    for (int e = QKD_WIRE_ERR_NOMEM; e <= QKD_WIRE_OK; e++)
        assert_string_not_equal(qkd_wire_err_str(e), "unknown wire error");
    assert_string_equal(qkd_wire_err_str(-100), "unknown wire error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_and_detect),
        cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_q_open_request_layout),
        cmocka_unit_test(test_response_round_trip),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_wrong_payload_length),
        cmocka_unit_test(test_q_form_mismatch),
        cmocka_unit_test(test_e_get_error_with_key),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_unknown_service),
        cmocka_unit_test(test_encoder_failures),
        cmocka_unit_test(test_two_frames_in_one_writer),
        cmocka_unit_test(test_corpus_seeds),
        cmocka_unit_test(test_err_str),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
