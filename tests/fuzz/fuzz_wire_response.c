/* fuzz_wire_response.c: libFuzzer target for the ETSI 004 response decoder. Input: byte 0
 * picks the framing (0 Q, 1 E, 2 detect from header), bytes 1..8 the header (its length field
 * is replaced by the real remaining size), the rest the payload. A frame that decodes must
 * re-encode, re-decode to the same message, and re-encode to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define FUZZ_CHECK(c)                                                                              \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_qos(const struct qkd_qos *a, const struct qkd_qos *b)
{
    FUZZ_CHECK(memchr(a->metadata_mimetype, 0, sizeof(a->metadata_mimetype)) != NULL);
    FUZZ_CHECK(a->key_chunk_size == b->key_chunk_size && a->max_bps == b->max_bps &&
               a->min_bps == b->min_bps && a->jitter == b->jitter && a->priority == b->priority &&
               a->timeout == b->timeout && a->ttl == b->ttl);
    FUZZ_CHECK(strcmp(a->metadata_mimetype, b->metadata_mimetype) == 0);
}

static bool bytes_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    return n == 0 || (a && b && memcmp(a, b, n) == 0);
}

static void check_equal(const struct qkd_response *a, const struct qkd_response *b)
{
    FUZZ_CHECK(a->service == b->service);
    switch (a->service) {
    case QKD_SVC_OPEN_RSP:
        FUZZ_CHECK(a->u.open.status == b->u.open.status);
        check_qos(&a->u.open.qos, &b->u.open.qos);
        FUZZ_CHECK(memcmp(a->u.open.ksid.b, b->u.open.ksid.b, QKD_KSID_LEN) == 0);
        break;
    case QKD_SVC_GET_RSP: {
        const struct qkd_get_rsp *x = &a->u.get, *y = &b->u.get;
        FUZZ_CHECK(x->status == y->status && x->index == y->index);
        FUZZ_CHECK(x->key_len == y->key_len && bytes_equal(x->key, y->key, x->key_len));
        FUZZ_CHECK(x->status == QKD_STATUS_SUCCESS || x->key_len == 0);
        FUZZ_CHECK(x->metadata_len == y->metadata_len &&
                   bytes_equal(x->metadata, y->metadata, x->metadata_len));
        FUZZ_CHECK(x->required_metadata_size == y->required_metadata_size);
        break;
    }
    case QKD_SVC_CLOSE_RSP:
        FUZZ_CHECK(a->u.close.status == b->u.close.status);
        break;
    default:
        FUZZ_CHECK(0);
    }
}

/* Encodes r into w and decodes it back into out (pointing into w's buffer). */
static void round_trip(enum qkd_framing f, const struct qkd_response *r, struct qkd_writer *w,
                       struct qkd_response *out)
{
    FUZZ_CHECK(qkd_wire_encode_response(f, r, w) == QKD_WIRE_OK);
    FUZZ_CHECK(w->len >= QKD_WIRE_HDR_LEN);
    struct qkd_wire_hdr h;
    qkd_wire_hdr_parse(w->buf, &h);
    FUZZ_CHECK(qkd_wire_detect(&h) == f);
    FUZZ_CHECK(h.service == r->service);
    FUZZ_CHECK(h.payload_len == w->len - QKD_WIRE_HDR_LEN);
    FUZZ_CHECK(qkd_wire_decode_response(f, &h, w->buf + QKD_WIRE_HDR_LEN, 0, out) == QKD_WIRE_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 + QKD_WIRE_HDR_LEN) return 0;
    enum qkd_framing f = data[0] % 3 == 0   ? QKD_FRAMING_Q
                         : data[0] % 3 == 1 ? QKD_FRAMING_E
                                            : QKD_FRAMING_UNKNOWN;
    struct qkd_wire_hdr h;
    qkd_wire_hdr_parse(data + 1, &h);
    h.payload_len = (uint32_t)(size - 1 - QKD_WIRE_HDR_LEN);
    const uint8_t *payload = data + 1 + QKD_WIRE_HDR_LEN;
    struct qkd_response a, b, c;
    if (qkd_wire_decode_response(f, &h, payload, 0, &a) != QKD_WIRE_OK) return 0;
    /* Decoded key and metadata point inside the payload. */
    if (a.service == QKD_SVC_GET_RSP) {
        const struct qkd_get_rsp *g = &a.u.get;
        FUZZ_CHECK(g->key_len == 0 ||
                   (g->key >= payload && g->key + g->key_len <= payload + h.payload_len));
        FUZZ_CHECK(
            g->metadata_len == 0 ||
            (g->metadata >= payload && g->metadata + g->metadata_len <= payload + h.payload_len));
    }
    if (f == QKD_FRAMING_UNKNOWN) f = qkd_wire_detect(&h);
    struct qkd_writer w1, w2;
    qkd_writer_init(&w1, 0);
    qkd_writer_init(&w2, 0);
    round_trip(f, &a, &w1, &b);
    check_equal(&a, &b);
    round_trip(f, &b, &w2, &c);
    check_equal(&b, &c);
    FUZZ_CHECK(w1.len == w2.len && memcmp(w1.buf, w2.buf, w1.len) == 0);
    qkd_writer_free(&w1);
    qkd_writer_free(&w2);
    return 0;
}
