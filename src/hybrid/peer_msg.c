/* peer_msg.c: the signed envelope of the qkd-hybrid peer protocol and its bodies. The signed
 * bytes are
 *   "QKD-HYBRID-v1 peer" || lv(sender uuid) || lv(receiver uuid) || sender nonce ||
 *   receiver nonce (zeros in HELLO) || u8 type || u64 seq || lv(body)
 * under ML-DSA-65 with the context "qkd-hybrid-peer-v1" (sign.c). The frame payload is
 *   u64 seq || lv(body) || lv(signature). */
#include "peer_msg.h"

#include "qos_codec.h"
#include "sign.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PM_LABEL "QKD-HYBRID-v1 peer"

const char *hyb_pm_type_name(uint8_t type)
{
    static const char *const n[] = {"?",    "HELLO", "ANNOUNCE", "CLOSE",   "WANT",
                                    "INIT", "REPLY", "RESULT",   "CONFIRM", "BATCH"};
    return type <= HYB_PM_TYPE_MAX ? n[type] : "?";
}

const char *hyb_pm_err_str(int err)
{
    switch (err) {
    case HYB_PM_OK:
        return "ok";
    case HYB_PM_ERR_MALFORMED:
        return "malformed message";
    case HYB_PM_ERR_REPLAY:
        return "replayed message";
    case HYB_PM_ERR_SEQ:
        return "out-of-sequence message";
    case HYB_PM_ERR_SIG:
        return "bad signature";
    default:
        return "internal error";
    }
}

int hyb_pm_session_init(struct hyb_pm_session *s, EVP_PKEY *my_key, EVP_PKEY *peer_key,
                        const char *my_uuid, const char *peer_uuid)
{
    memset(s, 0, sizeof(*s));
    s->my_key = my_key;
    s->peer_key = peer_key;
    if (strlen(my_uuid) != HYB_PM_UUID_LEN || strlen(peer_uuid) != HYB_PM_UUID_LEN) return -1;
    memcpy(s->my_uuid, my_uuid, HYB_PM_UUID_LEN + 1);
    memcpy(s->peer_uuid, peer_uuid, HYB_PM_UUID_LEN + 1);
    return RAND_bytes(s->my_nonce, sizeof(s->my_nonce)) == 1 ? 0 : -1;
}

/* lv(p): u32 length, then the bytes. Like every write, a failure stays in w->failed, which
 * each encoder checks once at its end. */
static void pm_lv(struct qkd_writer *w, const void *p, size_t n)
{
    if (n > UINT32_MAX) {
        w->failed = true;
        return;
    }
    qkd_write_u32(w, (uint32_t)n);
    qkd_write_bytes(w, p, n);
}

/* The bytes a signature covers. from_me selects the direction. */
static int pm_tbs(const struct hyb_pm_session *s, bool from_me, uint8_t type, uint64_t seq,
                  const uint8_t *body, size_t body_len, struct qkd_writer *w)
{
    static const uint8_t zero[HYB_PM_NONCE_LEN];
    const char *su = from_me ? s->my_uuid : s->peer_uuid;
    const char *ru = from_me ? s->peer_uuid : s->my_uuid;
    const uint8_t *sn = from_me ? s->my_nonce : s->peer_nonce;
    const uint8_t *rn = from_me ? (s->have_peer_nonce ? s->peer_nonce : zero) : s->my_nonce;
    if (type == HYB_PM_HELLO) rn = zero;
    qkd_write_bytes(w, PM_LABEL, sizeof(PM_LABEL) - 1);
    pm_lv(w, su, strlen(su));
    pm_lv(w, ru, strlen(ru));
    qkd_write_bytes(w, sn, HYB_PM_NONCE_LEN);
    qkd_write_bytes(w, rn, HYB_PM_NONCE_LEN);
    qkd_write_u8(w, type);
    qkd_write_u64(w, seq);
    pm_lv(w, body, body_len);
    return w->failed ? -1 : 0;
}

int hyb_pm_seal(struct hyb_pm_session *s, uint8_t type, const uint8_t *body, size_t body_len,
                struct qkd_writer *w)
{
    if (type == 0 || type > HYB_PM_TYPE_MAX || body_len > HYB_PM_MAX_PAYLOAD) return -1;
    if (type != HYB_PM_HELLO && !s->have_peer_nonce) return -1;
    uint64_t seq = s->tx_seq + 1;
    struct qkd_writer tbs;
    qkd_writer_init(&tbs, 2 * HYB_PM_MAX_PAYLOAD);
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    int rc = pm_tbs(s, true, type, seq, body, body_len, &tbs);
    if (rc == 0) rc = hyb_sign(s->my_key, tbs.buf, tbs.len, &sig, &sig_len);
    qkd_writer_free(&tbs);
    if (rc != 0) return -1;
    size_t plen = 8 + 4 + body_len + 4 + sig_len;
    if (plen > HYB_PM_MAX_PAYLOAD) {
        free(sig);
        return -1;
    }
    qkd_write_u8(w, HYB_PM_V0);
    qkd_write_u8(w, HYB_PM_V1);
    qkd_write_u8(w, HYB_PM_V2);
    qkd_write_u8(w, type);
    qkd_write_u32(w, (uint32_t)plen);
    qkd_write_u64(w, seq);
    pm_lv(w, body, body_len);
    pm_lv(w, sig, sig_len);
    free(sig);
    if (w->failed) return -1;
    s->tx_seq = seq;
    return 0;
}

static int pm_fail(char *err, size_t errlen, int code, const char *what)
{
    if (err && errlen) snprintf(err, errlen, "%s", what);
    return code;
}

int hyb_pm_open(struct hyb_pm_session *s, const struct qkd_wire_hdr *h, const uint8_t *payload,
                struct hyb_pm_msg *out, char *err, size_t errlen)
{
    char why[160];
    if (h->major != HYB_PM_V0 || h->minor != HYB_PM_V1 || h->patch != HYB_PM_V2)
        return pm_fail(err, errlen, HYB_PM_ERR_MALFORMED, "not a qkd-hybrid peer frame");
    if (h->service == 0 || h->service > HYB_PM_TYPE_MAX)
        return pm_fail(err, errlen, HYB_PM_ERR_MALFORMED, "unknown message type");
    if (h->payload_len > HYB_PM_MAX_PAYLOAD)
        return pm_fail(err, errlen, HYB_PM_ERR_MALFORMED, "frame too large");
    struct qkd_reader r;
    qkd_reader_init(&r, payload, h->payload_len);
    uint64_t seq = 0;
    uint32_t blen = 0, slen = 0;
    qkd_read_u64(&r, &seq);
    qkd_read_u32(&r, &blen);
    const uint8_t *body = qkd_read_ptr(&r, blen);
    qkd_read_u32(&r, &slen);
    const uint8_t *sig = (slen > 0 && slen <= HYB_PM_MAX_SIG) ? qkd_read_ptr(&r, slen) : NULL;
    if (r.failed || sig == NULL || qkd_reader_left(&r) != 0)
        return pm_fail(err, errlen, HYB_PM_ERR_MALFORMED, "envelope does not parse");
    if (seq <= s->rx_seq) {
        snprintf(why, sizeof(why), "%s seq %llu already seen (last %llu)",
                 hyb_pm_type_name(h->service), (unsigned long long)seq,
                 (unsigned long long)s->rx_seq);
        return pm_fail(err, errlen, HYB_PM_ERR_REPLAY, why);
    }
    if (seq != s->rx_seq + 1) {
        snprintf(why, sizeof(why), "%s seq %llu, expected %llu", hyb_pm_type_name(h->service),
                 (unsigned long long)seq, (unsigned long long)s->rx_seq + 1);
        return pm_fail(err, errlen, HYB_PM_ERR_SEQ, why);
    }
    if ((h->service == HYB_PM_HELLO) != (seq == 1))
        return pm_fail(err, errlen, HYB_PM_ERR_SEQ, "HELLO must be the first message, once");
    struct hyb_pm_hello hello;
    if (h->service == HYB_PM_HELLO) {
        if (hyb_pm_hello_decode(body, blen, &hello) != 0)
            return pm_fail(err, errlen, HYB_PM_ERR_MALFORMED, "HELLO body does not parse");
        if (strcmp(hello.uuid, s->peer_uuid) != 0)
            return pm_fail(err, errlen, HYB_PM_ERR_MALFORMED, "HELLO names another node");
        memcpy(s->peer_nonce, hello.nonce, HYB_PM_NONCE_LEN);
        s->have_peer_nonce = true; /* provisional: undone below if the signature fails */
    }
    struct qkd_writer tbs;
    qkd_writer_init(&tbs, 2 * HYB_PM_MAX_PAYLOAD);
    int rc = pm_tbs(s, false, h->service, seq, body, blen, &tbs);
    if (rc == 0) rc = hyb_sign_verify(s->peer_key, tbs.buf, tbs.len, sig, slen);
    qkd_writer_free(&tbs);
    if (rc != 0) {
        if (h->service == HYB_PM_HELLO) s->have_peer_nonce = false;
        snprintf(why, sizeof(why), "%s seq %llu: signature does not verify",
                 hyb_pm_type_name(h->service), (unsigned long long)seq);
        return pm_fail(err, errlen, HYB_PM_ERR_SIG, why);
    }
    s->rx_seq = seq;
    out->type = h->service;
    out->seq = seq;
    out->body = body;
    out->body_len = blen;
    return HYB_PM_OK;
}

/* Bodies. Strings travel as lv(text) without NUL. */
static int pm_read_str(struct qkd_reader *r, char *out, size_t cap)
{
    uint32_t n = 0;
    if (qkd_read_u32(r, &n) != 0 || n >= cap) return -1;
    if (qkd_read_bytes(r, out, n) != 0) return -1;
    out[n] = '\0';
    if (memchr(out, '\0', n) != NULL) return -1;
    return 0;
}

int hyb_pm_hello_encode(const struct hyb_pm_hello *m, struct qkd_writer *w)
{
    pm_lv(w, m->name, strlen(m->name));
    pm_lv(w, m->uuid, strlen(m->uuid));
    qkd_write_bytes(w, m->nonce, HYB_PM_NONCE_LEN);
    return w->failed ? -1 : 0;
}

int hyb_pm_hello_decode(const uint8_t *p, size_t len, struct hyb_pm_hello *m)
{
    struct qkd_reader r;
    memset(m, 0, sizeof(*m));
    qkd_reader_init(&r, p, len);
    if (pm_read_str(&r, m->name, sizeof(m->name)) != 0) return -1;
    if (pm_read_str(&r, m->uuid, sizeof(m->uuid)) != 0) return -1;
    qkd_read_bytes(&r, m->nonce, HYB_PM_NONCE_LEN);
    return r.failed || qkd_reader_left(&r) != 0 ? -1 : 0;
}

int hyb_pm_announce_encode(const struct hyb_pm_announce *m, struct qkd_writer *w)
{
    if (m->nqkd > HYB_MAX_SOURCES) return -1;
    qkd_write_bytes(w, m->ksid.b, QKD_KSID_LEN);
    pm_lv(w, m->request, strlen(m->request));
    pm_lv(w, m->dest_app, strlen(m->dest_app));
    if (qkd_qos_encode(w, QKD_QOS_LV32, &m->qos) != QKD_WIRE_OK) return -1;
    qkd_write_u8(w, m->nqkd);
    for (uint8_t i = 0; i < m->nqkd; i++)
        qkd_write_bytes(w, m->qkd[i].b, QKD_KSID_LEN);
    return w->failed ? -1 : 0;
}

int hyb_pm_announce_decode(const uint8_t *p, size_t len, struct hyb_pm_announce *m)
{
    struct qkd_reader r;
    memset(m, 0, sizeof(*m));
    qkd_reader_init(&r, p, len);
    qkd_read_bytes(&r, m->ksid.b, QKD_KSID_LEN);
    if (pm_read_str(&r, m->request, sizeof(m->request)) != 0) return -1;
    if (pm_read_str(&r, m->dest_app, sizeof(m->dest_app)) != 0) return -1;
    if (qkd_qos_decode(&r, QKD_QOS_LV32, &m->qos) != QKD_WIRE_OK) return -1;
    qkd_read_u8(&r, &m->nqkd);
    if (r.failed || m->nqkd > HYB_MAX_SOURCES) return -1;
    for (uint8_t i = 0; i < m->nqkd; i++)
        qkd_read_bytes(&r, m->qkd[i].b, QKD_KSID_LEN);
    return r.failed || qkd_reader_left(&r) != 0 ? -1 : 0;
}

int hyb_pm_kex_encode(const struct hyb_pm_kex *m, struct qkd_writer *w)
{
    if (m->n > HYB_PM_MAX_ITEMS) return -1;
    qkd_write_bytes(w, m->ksid.b, QKD_KSID_LEN);
    qkd_write_u32(w, m->index);
    qkd_write_u32(w, m->status);
    qkd_write_u32(w, m->mask);
    qkd_write_u8(w, m->n);
    for (uint8_t i = 0; i < m->n; i++) {
        if (m->item[i].len > HYB_PM_MAX_ITEM) return -1;
        qkd_write_u8(w, m->item[i].status);
        pm_lv(w, m->item[i].data, m->item[i].len);
    }
    qkd_write_u8(w, m->has_tag ? 1 : 0);
    if (m->has_tag) qkd_write_bytes(w, m->tag, HYB_PM_TAG_LEN);
    return w->failed ? -1 : 0;
}

int hyb_pm_kex_decode(const uint8_t *p, size_t len, struct hyb_pm_kex *m)
{
    struct qkd_reader r;
    memset(m, 0, sizeof(*m));
    qkd_reader_init(&r, p, len);
    qkd_read_bytes(&r, m->ksid.b, QKD_KSID_LEN);
    qkd_read_u32(&r, &m->index);
    qkd_read_u32(&r, &m->status);
    qkd_read_u32(&r, &m->mask);
    qkd_read_u8(&r, &m->n);
    if (r.failed || m->n > HYB_PM_MAX_ITEMS) return -1;
    for (uint8_t i = 0; i < m->n; i++) {
        qkd_read_u8(&r, &m->item[i].status);
        qkd_read_u32(&r, &m->item[i].len);
        if (r.failed || m->item[i].len > HYB_PM_MAX_ITEM) return -1;
        m->item[i].data = m->item[i].len ? qkd_read_ptr(&r, m->item[i].len) : NULL;
    }
    uint8_t has_tag = 0;
    qkd_read_u8(&r, &has_tag);
    if (has_tag > 1) return -1;
    m->has_tag = has_tag == 1;
    if (m->has_tag) qkd_read_bytes(&r, m->tag, HYB_PM_TAG_LEN);
    return r.failed || qkd_reader_left(&r) != 0 ? -1 : 0;
}

static bool pm_batch_type_ok(uint8_t type)
{
    return type >= HYB_PM_ANNOUNCE && type <= HYB_PM_CONFIRM;
}

size_t hyb_pm_batch_entry_len(size_t body_len)
{
    return 1 + 4 + body_len;
}

int hyb_pm_batch_encode(const struct hyb_pm_batch *b, struct qkd_writer *w)
{
    if (b->n < 2 || b->n > HYB_PM_BATCH_MAX) return -1;
    qkd_write_u8(w, b->n);
    for (uint8_t i = 0; i < b->n; i++) {
        if (!pm_batch_type_ok(b->m[i].type)) return -1;
        qkd_write_u8(w, b->m[i].type);
        pm_lv(w, b->m[i].body, b->m[i].len);
    }
    return w->failed ? -1 : 0;
}

int hyb_pm_batch_decode(const uint8_t *p, size_t len, struct hyb_pm_batch *b)
{
    struct qkd_reader r;
    memset(b, 0, sizeof(*b));
    qkd_reader_init(&r, p, len);
    qkd_read_u8(&r, &b->n);
    if (r.failed || b->n < 2 || b->n > HYB_PM_BATCH_MAX) return -1;
    for (uint8_t i = 0; i < b->n; i++) {
        struct hyb_pm_batch_msg *m = &b->m[i];
        qkd_read_u8(&r, &m->type);
        qkd_read_u32(&r, &m->len);
        if (r.failed || !pm_batch_type_ok(m->type)) return -1;
        m->body = m->len ? qkd_read_ptr(&r, m->len) : NULL;
        if (r.failed) return -1;
    }
    return qkd_reader_left(&r) != 0 ? -1 : 0;
}
