/* fuzz_kme_peer_msg.c: libFuzzer target for the key servers' peer-sync codec (src/kme
 * peer_msg.h). The input is one frame: 8 header bytes (their length field replaced by the real
 * remaining size) and the payload. The layouts are canonical, so a frame that decodes must
 * re-encode to the very same bytes and decode again to the same message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "peer_msg.h"

#define FUZZ_CHECK(c)                                                                              \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_kpm_same(const struct kme_pmsg *a, const struct kme_pmsg *b)
{
    FUZZ_CHECK(a->type == b->type && memcmp(a->ksid.b, b->ksid.b, QKD_KSID_LEN) == 0);
    switch (a->type) {
    case KME_PM_HELLO:
        FUZZ_CHECK(strcmp(a->u.hello.node, b->u.hello.node) == 0);
        FUZZ_CHECK(memcmp(a->u.hello.uuid, b->u.hello.uuid, 16) == 0);
        FUZZ_CHECK(a->u.hello.role == b->u.hello.role);
        break;
    case KME_PM_ANNOUNCE: {
        const struct qkd_qos *p = &a->u.announce.qos, *q = &b->u.announce.qos;
        FUZZ_CHECK(p->key_chunk_size == q->key_chunk_size && p->max_bps == q->max_bps &&
                   p->min_bps == q->min_bps && p->jitter == q->jitter &&
                   p->priority == q->priority && p->timeout == q->timeout && p->ttl == q->ttl);
        FUZZ_CHECK(strcmp(p->metadata_mimetype, q->metadata_mimetype) == 0);
        FUZZ_CHECK(a->u.announce.attached == b->u.announce.attached);
        break;
    }
    case KME_PM_ALLOC_REQ:
    case KME_PM_ALLOC:
    case KME_PM_ALLOC_ACK:
        FUZZ_CHECK(a->u.alloc.index == b->u.alloc.index && a->u.alloc.count == b->u.alloc.count &&
                   a->u.alloc.status == b->u.alloc.status &&
                   a->u.alloc.offset == b->u.alloc.offset && a->u.alloc.len == b->u.alloc.len);
        break;
    case KME_PM_HEARTBEAT:
        FUZZ_CHECK(a->u.hb.wall_ms == b->u.hb.wall_ms && a->u.hb.mark == b->u.hb.mark);
        break;
    case KME_PM_GONE:
        FUZZ_CHECK(a->u.alloc.index == b->u.alloc.index);
        break;
    case KME_PM_REST_KEYS:
        FUZZ_CHECK(a->u.raw.len == b->u.raw.len &&
                   memcmp(a->u.raw.p, b->u.raw.p, a->u.raw.len) == 0);
        break;
    default:
        break;
    }
}

/* The documented field limits of a decoded message. */
static void fuzz_kpm_limits(const struct kme_pmsg *m)
{
    FUZZ_CHECK(strcmp(kme_pmsg_name(m->type), "unknown") != 0);
    if (m->type == KME_PM_HELLO) {
        size_t n = strnlen(m->u.hello.node, KME_PEER_NAME_MAX);
        FUZZ_CHECK(n >= 1 && n < KME_PEER_NAME_MAX);
        FUZZ_CHECK(m->u.hello.role == KME_ROLE_LEADER || m->u.hello.role == KME_ROLE_FOLLOWER);
    }
    if (m->type == KME_PM_ANNOUNCE) {
        FUZZ_CHECK(memchr(m->u.announce.qos.metadata_mimetype, 0, QKD_MIMETYPE_MAX) != NULL);
        FUZZ_CHECK(m->u.announce.attached <= 1);
    }
    if (m->type == KME_PM_ALLOC_REQ || m->type == KME_PM_ALLOC || m->type == KME_PM_ALLOC_ACK) {
        const struct kme_pmsg_alloc *a = &m->u.alloc;
        FUZZ_CHECK(a->count >= 1 && a->count <= KME_PEER_MAX_RUN);
        FUZZ_CHECK((uint64_t)a->index + a->count - 1 <= UINT32_MAX);
        FUZZ_CHECK(a->status <= KME_AS_MAX);
        if (m->type == KME_PM_ALLOC && a->status == KME_AS_OK) {
            FUZZ_CHECK(a->len >= 1 && a->len <= KME_PEER_MAX_CHUNK);
            FUZZ_CHECK(a->offset <= UINT64_MAX - (uint64_t)a->count * a->len);
        } else if (m->type == KME_PM_ALLOC) {
            FUZZ_CHECK(a->len == 0 && a->offset == 0);
        }
    }
    if (m->type == KME_PM_REST_KEYS) {
        static struct kme_rest_msg r;
        FUZZ_CHECK(kme_rest_msg_decode(m->u.raw.p, m->u.raw.len, &r) == 0);
        FUZZ_CHECK(memcmp(r.ksid.b, m->ksid.b, QKD_KSID_LEN) == 0);
        FUZZ_CHECK(r.number >= 1 && r.number <= KME_REST_MAX_KEYS);
        FUZZ_CHECK(r.key_bytes >= 1 && r.key_bytes <= KME_PEER_MAX_CHUNK);
        FUZZ_CHECK(r.nslaves >= 1 && r.nslaves <= KME_REST_MAX_SLAVES);
        FUZZ_CHECK(strnlen(r.master, KME_REST_SAE_MAX) < KME_REST_SAE_MAX && r.master[0]);
        for (uint32_t i = 0; i < r.nslaves; i++)
            FUZZ_CHECK(strnlen(r.slaves[i], KME_REST_SAE_MAX) < KME_REST_SAE_MAX && r.slaves[i][0]);
        struct qkd_writer w;
        qkd_writer_init(&w, 0);
        FUZZ_CHECK(kme_rest_msg_encode(&r, &w) == 0);
        FUZZ_CHECK(w.len == m->u.raw.len && memcmp(w.buf, m->u.raw.p, w.len) == 0);
        qkd_writer_free(&w);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < QKD_WIRE_HDR_LEN || size - QKD_WIRE_HDR_LEN > 4 * KME_PEER_MAX_PAYLOAD) return 0;
    struct qkd_wire_hdr h;
    qkd_wire_hdr_parse(data, &h);
    h.payload_len = (uint32_t)(size - QKD_WIRE_HDR_LEN);
    const uint8_t *payload = data + QKD_WIRE_HDR_LEN;
    struct kme_pmsg a, b;
    if (kme_pmsg_decode(&h, payload, &a) != 0) return 0;
    FUZZ_CHECK(h.payload_len <= KME_PEER_MAX_PAYLOAD);
    fuzz_kpm_limits(&a);
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    FUZZ_CHECK(kme_pmsg_encode(&a, &w) == 0);
    /* Same bytes: the input header with the real length, then the payload. */
    uint8_t hdr[QKD_WIRE_HDR_LEN];
    memcpy(hdr, data, 4);
    qkd_put_u32(hdr + 4, h.payload_len);
    FUZZ_CHECK(w.len == size && memcmp(w.buf, hdr, QKD_WIRE_HDR_LEN) == 0);
    FUZZ_CHECK(memcmp(w.buf + QKD_WIRE_HDR_LEN, payload, h.payload_len) == 0);
    struct qkd_wire_hdr h2;
    qkd_wire_hdr_parse(w.buf, &h2);
    FUZZ_CHECK(kme_pmsg_decode(&h2, w.buf + QKD_WIRE_HDR_LEN, &b) == 0);
    fuzz_kpm_same(&a, &b);
    qkd_writer_free(&w);
    return 0;
}
