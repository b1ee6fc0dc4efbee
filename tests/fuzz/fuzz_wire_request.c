/* fuzz_wire_request.c: libFuzzer target for the ETSI 004 request decoder. Input: byte 0 picks
 * the framing (0 Q, 1 E, 2 detect from header), bytes 1..8 the header (its length field is
 * replaced by the real remaining size), the rest the payload. A frame that decodes must
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

static void check_equal(const struct qkd_request *a, const struct qkd_request *b)
{
    FUZZ_CHECK(a->service == b->service);
    switch (a->service) {
    case QKD_SVC_OPEN_REQ:
        FUZZ_CHECK(strcmp(a->u.open.source, b->u.open.source) == 0);
        FUZZ_CHECK(strcmp(a->u.open.destination, b->u.open.destination) == 0);
        FUZZ_CHECK(strlen(a->u.open.source) < QKD_WIRE_URI_MAX);
        check_qos(&a->u.open.qos, &b->u.open.qos);
        FUZZ_CHECK(memcmp(a->u.open.ksid.b, b->u.open.ksid.b, QKD_KSID_LEN) == 0);
        break;
    case QKD_SVC_GET_REQ:
        FUZZ_CHECK(memcmp(a->u.get.ksid.b, b->u.get.ksid.b, QKD_KSID_LEN) == 0);
        FUZZ_CHECK(a->u.get.index == b->u.get.index);
        FUZZ_CHECK(a->u.get.metadata_size == b->u.get.metadata_size);
        /* E carries the metadata bytes (key info) both ways; Q has none */
        FUZZ_CHECK((a->u.get.metadata == NULL) == (b->u.get.metadata == NULL));
        if (a->u.get.metadata)
            FUZZ_CHECK(memcmp(a->u.get.metadata, b->u.get.metadata, a->u.get.metadata_size) == 0);
        break;
    case QKD_SVC_CLOSE_REQ:
        FUZZ_CHECK(memcmp(a->u.close.ksid.b, b->u.close.ksid.b, QKD_KSID_LEN) == 0);
        break;
    default:
        FUZZ_CHECK(0);
    }
}

/* Encodes r into w and decodes it back into out (pointing into w's buffer). */
static void round_trip(enum qkd_framing f, const struct qkd_request *r, struct qkd_writer *w,
                       struct qkd_request *out)
{
    FUZZ_CHECK(qkd_wire_encode_request(f, r, w) == QKD_WIRE_OK);
    FUZZ_CHECK(w->len >= QKD_WIRE_HDR_LEN);
    struct qkd_wire_hdr h;
    qkd_wire_hdr_parse(w->buf, &h);
    FUZZ_CHECK(qkd_wire_detect(&h) == f);
    FUZZ_CHECK(h.service == r->service);
    FUZZ_CHECK(h.payload_len == w->len - QKD_WIRE_HDR_LEN);
    FUZZ_CHECK(qkd_wire_decode_request(f, &h, w->buf + QKD_WIRE_HDR_LEN, 0, out) == QKD_WIRE_OK);
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
    struct qkd_request a, b, c;
    if (qkd_wire_decode_request(f, &h, data + 1 + QKD_WIRE_HDR_LEN, 0, &a) != QKD_WIRE_OK) return 0;
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
