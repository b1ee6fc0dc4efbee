/* peer_msg.c: encoder and decoder of the peer-sync messages (docs/kme.md); all input goes
 * through the one bounded reader, all output through the sticky writer (bytes.h), checked once
 * per message; the QoS block through the common codec (qos_codec.h). */
#include "peer_msg.h"

#include "qos_codec.h"

#include <string.h>

const char *kme_pmsg_name(uint8_t type)
{
    switch (type) {
    case KME_PM_HELLO:
        return "HELLO";
    case KME_PM_ANNOUNCE:
        return "STREAM_ANNOUNCE";
    case KME_PM_ATTACH:
        return "STREAM_ATTACH";
    case KME_PM_CLOSE:
        return "STREAM_CLOSE";
    case KME_PM_ALLOC_REQ:
        return "ALLOC_REQ";
    case KME_PM_ALLOC:
        return "ALLOC";
    case KME_PM_ALLOC_ACK:
        return "ALLOC_ACK";
    case KME_PM_HEARTBEAT:
        return "HEARTBEAT";
    case KME_PM_REST_KEYS:
        return "REST_KEYS";
    case KME_PM_GONE:
        return "GONE";
    default:
        return "unknown";
    }
}

static bool has_ksid(uint8_t t)
{
    return (t >= KME_PM_ANNOUNCE && t <= KME_PM_ALLOC_ACK) || t == KME_PM_GONE;
}

/* A run: 1..KME_PEER_MAX_RUN indices without u32 wrap; for a successful ALLOC, chunks of
 * 1..65536 bytes whose ring range does not wrap u64. */
static bool run_ok(const struct kme_pmsg_alloc *a)
{
    if (a->count == 0 || a->count > KME_PEER_MAX_RUN) return false;
    if ((uint64_t)a->index + a->count - 1 > UINT32_MAX) return false;
    return true;
}

static bool alloc_ok(const struct kme_pmsg *m)
{
    const struct kme_pmsg_alloc *a = &m->u.alloc;
    if (a->status > KME_AS_MAX || !run_ok(a)) return false;
    if (a->status != KME_AS_OK) return a->len == 0 && a->offset == 0;
    if (a->len == 0 || a->len > KME_PEER_MAX_CHUNK) return false;
    return a->offset <= UINT64_MAX - (uint64_t)a->count * a->len;
}

/* Appends the payload; the writer is checked once, by the caller. Returns -1 when a field is
 * out of its range. */
static int encode_payload(const struct kme_pmsg *m, struct qkd_writer *w)
{
    if (has_ksid(m->type)) qkd_write_bytes(w, m->ksid.b, QKD_KSID_LEN);
    switch (m->type) {
    case KME_PM_HELLO: {
        size_t n = strnlen(m->u.hello.node, KME_PEER_NAME_MAX);
        if (n == 0 || n >= KME_PEER_NAME_MAX) return -1;
        qkd_write_u8(w, (uint8_t)n);
        qkd_write_bytes(w, m->u.hello.node, n);
        qkd_write_bytes(w, m->u.hello.uuid, 16);
        qkd_write_u8(w, m->u.hello.role);
        break;
    }
    case KME_PM_ANNOUNCE:
        if (qkd_qos_encode(w, QKD_QOS_LV8, &m->u.announce.qos) != QKD_WIRE_OK) return -1;
        qkd_write_u8(w, m->u.announce.attached ? 1 : 0);
        break;
    case KME_PM_ATTACH:
    case KME_PM_CLOSE:
        break;
    case KME_PM_ALLOC_REQ:
        if (!run_ok(&m->u.alloc)) return -1;
        qkd_write_u32(w, m->u.alloc.index);
        qkd_write_u32(w, m->u.alloc.count);
        break;
    case KME_PM_ALLOC:
        if (!alloc_ok(m)) return -1;
        qkd_write_u32(w, m->u.alloc.index);
        qkd_write_u32(w, m->u.alloc.count);
        qkd_write_u8(w, m->u.alloc.status);
        qkd_write_u64(w, m->u.alloc.offset);
        qkd_write_u32(w, m->u.alloc.len);
        break;
    case KME_PM_ALLOC_ACK:
        if (m->u.alloc.status > KME_AS_MAX || !run_ok(&m->u.alloc)) return -1;
        qkd_write_u32(w, m->u.alloc.index);
        qkd_write_u32(w, m->u.alloc.count);
        qkd_write_u8(w, m->u.alloc.status);
        break;
    case KME_PM_HEARTBEAT:
        qkd_write_u64(w, m->u.hb.wall_ms);
        qkd_write_u64(w, m->u.hb.mark);
        break;
    case KME_PM_GONE:
        qkd_write_u32(w, m->u.alloc.index);
        break;
    case KME_PM_REST_KEYS: /* the payload kme_rest_msg_encode made */
        if (!m->u.raw.p || m->u.raw.len < QKD_KSID_LEN) return -1;
        qkd_write_bytes(w, m->u.raw.p, m->u.raw.len);
        break;
    default:
        return -1;
    }
    return 0;
}

int kme_pmsg_encode(const struct kme_pmsg *m, struct qkd_writer *w)
{
    size_t start = w->len;
    qkd_write_u8(w, KME_PEER_V_MAJOR);
    qkd_write_u8(w, KME_PEER_V_MINOR);
    qkd_write_u8(w, KME_PEER_V_PATCH);
    qkd_write_u8(w, m->type);
    qkd_write_u32(w, 0);
    if (encode_payload(m, w) != 0 || w->failed) return -1;
    size_t plen = w->len - start - QKD_WIRE_HDR_LEN;
    if (plen > KME_PEER_MAX_PAYLOAD) return -1;
    return qkd_write_u32_at(w, start + 4, (uint32_t)plen);
}

int kme_pmsg_decode(const struct qkd_wire_hdr *h, const uint8_t *payload, struct kme_pmsg *out)
{
    if (h->major != KME_PEER_V_MAJOR || h->minor != KME_PEER_V_MINOR ||
        h->patch != KME_PEER_V_PATCH || h->payload_len > KME_PEER_MAX_PAYLOAD)
        return -1;
    memset(out, 0, sizeof(*out));
    out->type = h->service;
    struct qkd_reader r;
    qkd_reader_init(&r, payload, h->payload_len);
    if (has_ksid(out->type)) qkd_read_bytes(&r, out->ksid.b, QKD_KSID_LEN);
    switch (out->type) {
    case KME_PM_HELLO: {
        uint8_t n = 0;
        qkd_read_u8(&r, &n);
        if (n == 0 || n >= KME_PEER_NAME_MAX) return -1;
        qkd_read_bytes(&r, out->u.hello.node, n);
        if (r.failed || memchr(out->u.hello.node, 0, n)) return -1;
        qkd_read_bytes(&r, out->u.hello.uuid, 16);
        qkd_read_u8(&r, &out->u.hello.role);
        if (out->u.hello.role != KME_ROLE_LEADER && out->u.hello.role != KME_ROLE_FOLLOWER)
            return -1;
        break;
    }
    case KME_PM_ANNOUNCE:
        if (qkd_qos_decode(&r, QKD_QOS_LV8, &out->u.announce.qos) != QKD_WIRE_OK) return -1;
        qkd_read_u8(&r, &out->u.announce.attached);
        if (out->u.announce.attached > 1 || out->u.announce.qos.key_chunk_size == 0) return -1;
        break;
    case KME_PM_ATTACH:
    case KME_PM_CLOSE:
        break;
    case KME_PM_ALLOC_REQ:
        qkd_read_u32(&r, &out->u.alloc.index);
        qkd_read_u32(&r, &out->u.alloc.count);
        if (!run_ok(&out->u.alloc)) return -1;
        break;
    case KME_PM_ALLOC:
        qkd_read_u32(&r, &out->u.alloc.index);
        qkd_read_u32(&r, &out->u.alloc.count);
        qkd_read_u8(&r, &out->u.alloc.status);
        qkd_read_u64(&r, &out->u.alloc.offset);
        qkd_read_u32(&r, &out->u.alloc.len);
        if (!alloc_ok(out)) return -1;
        break;
    case KME_PM_ALLOC_ACK:
        qkd_read_u32(&r, &out->u.alloc.index);
        qkd_read_u32(&r, &out->u.alloc.count);
        qkd_read_u8(&r, &out->u.alloc.status);
        if (out->u.alloc.status > KME_AS_MAX || !run_ok(&out->u.alloc)) return -1;
        break;
    case KME_PM_HEARTBEAT:
        qkd_read_u64(&r, &out->u.hb.wall_ms);
        qkd_read_u64(&r, &out->u.hb.mark);
        break;
    case KME_PM_GONE:
        qkd_read_u32(&r, &out->u.alloc.index);
        break;
    case KME_PM_REST_KEYS: {
        /* checked whole here, so a malformed one closes the connection like any other */
        struct kme_rest_msg rm;
        if (kme_rest_msg_decode(payload, h->payload_len, &rm) != 0) return -1;
        out->ksid = rm.ksid;
        out->u.raw.p = payload;
        out->u.raw.len = h->payload_len;
        return 0;
    }
    default:
        return -1;
    }
    if (r.failed || qkd_reader_left(&r) != 0) return -1;
    return 0;
}

/* An SAE id: 1 .. KME_REST_SAE_MAX - 1 bytes, no NUL. */
static void write_sae(struct qkd_writer *w, const char *id, int *bad)
{
    size_t n = strnlen(id, KME_REST_SAE_MAX);
    if (n == 0 || n >= KME_REST_SAE_MAX) {
        *bad = 1;
        return;
    }
    qkd_write_u8(w, (uint8_t)n);
    qkd_write_bytes(w, id, n);
}

static int read_sae(struct qkd_reader *r, char out[KME_REST_SAE_MAX])
{
    uint8_t n = 0;
    if (qkd_read_u8(r, &n) != 0 || n == 0 || n >= KME_REST_SAE_MAX) return -1;
    memset(out, 0, KME_REST_SAE_MAX);
    if (qkd_read_bytes(r, out, n) != 0 || memchr(out, 0, n)) return -1;
    return 0;
}

int kme_rest_msg_encode(const struct kme_rest_msg *m, struct qkd_writer *w)
{
    if (m->key_bytes == 0 || m->key_bytes > KME_PEER_MAX_CHUNK || m->number == 0 ||
        m->number > KME_REST_MAX_KEYS || m->nslaves == 0 || m->nslaves > KME_REST_MAX_SLAVES)
        return -1;
    size_t start = w->len;
    int bad = 0;
    qkd_write_bytes(w, m->ksid.b, QKD_KSID_LEN);
    qkd_write_u32(w, m->key_bytes);
    qkd_write_u8(w, (uint8_t)m->number);
    write_sae(w, m->master, &bad);
    qkd_write_u8(w, (uint8_t)m->nslaves);
    for (uint32_t i = 0; i < m->nslaves; i++)
        write_sae(w, m->slaves[i], &bad);
    if (bad || w->failed || w->len - start > KME_PEER_MAX_PAYLOAD) return -1;
    return 0;
}

int kme_rest_msg_decode(const uint8_t *payload, size_t len, struct kme_rest_msg *out)
{
    memset(out, 0, sizeof(*out));
    struct qkd_reader r;
    qkd_reader_init(&r, payload, len);
    uint8_t number = 0, nslaves = 0;
    qkd_read_bytes(&r, out->ksid.b, QKD_KSID_LEN);
    qkd_read_u32(&r, &out->key_bytes);
    qkd_read_u8(&r, &number);
    if (r.failed || out->key_bytes == 0 || out->key_bytes > KME_PEER_MAX_CHUNK || number == 0)
        return -1;
    out->number = number;
    if (read_sae(&r, out->master) != 0) return -1;
    if (qkd_read_u8(&r, &nslaves) != 0 || nslaves == 0 || nslaves > KME_REST_MAX_SLAVES) return -1;
    out->nslaves = nslaves;
    for (uint32_t i = 0; i < nslaves; i++)
        if (read_sae(&r, out->slaves[i]) != 0) return -1;
    if (r.failed || qkd_reader_left(&r) != 0) return -1;
    return 0;
}
