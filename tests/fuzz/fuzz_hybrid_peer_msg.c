/* fuzz_hybrid_peer_msg.c: libFuzzer target for the qkd-hybrid peer protocol parsers (peer_msg.h).
 * Byte 0 picks what is parsed:
 *   0 HELLO body, 1 ANNOUNCE body, 2 the shared exchange body (CLOSE .. CONFIRM): a body that
 *     decodes must re-encode to the same bytes (the layouts are canonical) and decode again to
 *     the same fields;
 *   3 the signed envelope through hyb_pm_open: bytes 1..8 are the session's last accepted
 *     sequence number, bytes 9..16 the frame header (its length replaced by the real remaining
 *     size), the rest the payload. The session has no peer key, so the real verifier refuses
 *     every signature: the envelope parser, sequence and HELLO rules run on arbitrary bytes and
 *     the session must be left exactly as it was;
 *   4 the BATCH body: one that decodes has 2..HYB_PM_BATCH_MAX messages of types ANNOUNCE ..
 *     CONFIRM inside the input, re-encodes to the same bytes and decodes again the same; each
 *     inner body then goes through its own decoder as the daemon does. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "peer_msg.h"

#define FUZZ_CHECK(c)                                                                              \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

#define FUZZ_PM_MY_UUID   "a1a1a1a1-0000-4000-8000-000000000001"
#define FUZZ_PM_PEER_UUID "b2b2b2b2-0000-4000-8000-000000000002"

enum fuzz_pm_case {
    FUZZ_PM_HELLO = 0,
    FUZZ_PM_ANNOUNCE,
    FUZZ_PM_KEX,
    FUZZ_PM_OPEN,
    FUZZ_PM_BATCH,
    FUZZ_PM_CASES
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_pm_same(const struct qkd_writer *w, const uint8_t *p, size_t len)
{
    FUZZ_CHECK(!w->failed && w->len == len && (len == 0 || memcmp(w->buf, p, len) == 0));
}

static void fuzz_pm_hello(const uint8_t *p, size_t len, struct qkd_writer *w)
{
    struct hyb_pm_hello a, b;
    if (hyb_pm_hello_decode(p, len, &a) != 0) return;
    FUZZ_CHECK(memchr(a.name, 0, sizeof(a.name)) && memchr(a.uuid, 0, sizeof(a.uuid)));
    FUZZ_CHECK(hyb_pm_hello_encode(&a, w) == 0);
    fuzz_pm_same(w, p, len);
    FUZZ_CHECK(hyb_pm_hello_decode(w->buf, w->len, &b) == 0);
    FUZZ_CHECK(strcmp(a.name, b.name) == 0 && strcmp(a.uuid, b.uuid) == 0);
    FUZZ_CHECK(memcmp(a.nonce, b.nonce, HYB_PM_NONCE_LEN) == 0);
}

static void fuzz_pm_announce(const uint8_t *p, size_t len, struct qkd_writer *w)
{
    struct hyb_pm_announce a, b;
    if (hyb_pm_announce_decode(p, len, &a) != 0) return;
    FUZZ_CHECK(memchr(a.request, 0, sizeof(a.request)) &&
               memchr(a.dest_app, 0, sizeof(a.dest_app)));
    FUZZ_CHECK(memchr(a.qos.metadata_mimetype, 0, sizeof(a.qos.metadata_mimetype)));
    FUZZ_CHECK(a.nqkd <= HYB_MAX_SOURCES);
    FUZZ_CHECK(hyb_pm_announce_encode(&a, w) == 0);
    fuzz_pm_same(w, p, len);
    FUZZ_CHECK(hyb_pm_announce_decode(w->buf, w->len, &b) == 0);
    FUZZ_CHECK(memcmp(a.ksid.b, b.ksid.b, QKD_KSID_LEN) == 0);
    FUZZ_CHECK(strcmp(a.request, b.request) == 0 && strcmp(a.dest_app, b.dest_app) == 0);
    FUZZ_CHECK(a.qos.key_chunk_size == b.qos.key_chunk_size && a.qos.max_bps == b.qos.max_bps &&
               a.qos.min_bps == b.qos.min_bps && a.qos.jitter == b.qos.jitter &&
               a.qos.priority == b.qos.priority && a.qos.timeout == b.qos.timeout &&
               a.qos.ttl == b.qos.ttl);
    FUZZ_CHECK(strcmp(a.qos.metadata_mimetype, b.qos.metadata_mimetype) == 0);
    FUZZ_CHECK(a.nqkd == b.nqkd && memcmp(a.qkd, b.qkd, sizeof(a.qkd)) == 0);
    /* The receiving daemon parses the announced request next. */
    struct hyb_request req;
    char err[256];
    (void)hyb_request_parse(a.request, &req, err, sizeof(err));
}

static void fuzz_pm_kex(const uint8_t *p, size_t len, struct qkd_writer *w)
{
    /* Static: two of these are ~1 KiB each, keep them off the fuzzer's stack. */
    static struct hyb_pm_kex a, b;
    if (hyb_pm_kex_decode(p, len, &a) != 0) return;
    FUZZ_CHECK(a.n <= HYB_PM_MAX_ITEMS);
    for (uint8_t i = 0; i < a.n; i++) {
        FUZZ_CHECK(a.item[i].len <= HYB_PM_MAX_ITEM);
        FUZZ_CHECK((a.item[i].len == 0) == (a.item[i].data == NULL));
        FUZZ_CHECK(a.item[i].len == 0 ||
                   (a.item[i].data >= p && a.item[i].data + a.item[i].len <= p + len));
    }
    FUZZ_CHECK(hyb_pm_kex_encode(&a, w) == 0);
    fuzz_pm_same(w, p, len);
    FUZZ_CHECK(hyb_pm_kex_decode(w->buf, w->len, &b) == 0);
    FUZZ_CHECK(memcmp(a.ksid.b, b.ksid.b, QKD_KSID_LEN) == 0 && a.index == b.index &&
               a.status == b.status && a.mask == b.mask && a.n == b.n);
    for (uint8_t i = 0; i < a.n; i++) {
        FUZZ_CHECK(a.item[i].status == b.item[i].status && a.item[i].len == b.item[i].len);
        FUZZ_CHECK(a.item[i].len == 0 ||
                   memcmp(a.item[i].data, b.item[i].data, a.item[i].len) == 0);
    }
    FUZZ_CHECK(a.has_tag == b.has_tag);
    FUZZ_CHECK(!a.has_tag || memcmp(a.tag, b.tag, HYB_PM_TAG_LEN) == 0);
}

static void fuzz_pm_open(const uint8_t *p, size_t len)
{
    if (len < 8 + QKD_WIRE_HDR_LEN) return;
    struct hyb_pm_session s;
    memset(&s, 0, sizeof(s));
    memcpy(s.my_uuid, FUZZ_PM_MY_UUID, HYB_PM_UUID_LEN + 1);
    memcpy(s.peer_uuid, FUZZ_PM_PEER_UUID, HYB_PM_UUID_LEN + 1);
    memset(s.my_nonce, 0xA5, sizeof(s.my_nonce));
    for (int i = 0; i < 8; i++)
        s.rx_seq = s.rx_seq << 8 | p[i];
    /* Past HELLO the peer's nonce is known; at rx_seq 0 it is not yet. */
    if (s.rx_seq > 0) {
        memset(s.peer_nonce, 0x5A, sizeof(s.peer_nonce));
        s.have_peer_nonce = true;
    }
    struct hyb_pm_session before = s;
    struct qkd_wire_hdr h;
    qkd_wire_hdr_parse(p + 8, &h);
    h.payload_len = (uint32_t)(len - 8 - QKD_WIRE_HDR_LEN);
    struct hyb_pm_msg out;
    char err[128];
    err[0] = '\0';
    int rc = hyb_pm_open(&s, &h, p + 8 + QKD_WIRE_HDR_LEN, &out, err, sizeof(err));
    FUZZ_CHECK(rc == HYB_PM_ERR_MALFORMED || rc == HYB_PM_ERR_REPLAY || rc == HYB_PM_ERR_SEQ ||
               rc == HYB_PM_ERR_SIG);
    FUZZ_CHECK(err[0] != '\0' && memchr(err, 0, sizeof(err)) != NULL);
    FUZZ_CHECK(hyb_pm_err_str(rc) != NULL && hyb_pm_type_name(h.service) != NULL);
    /* A refused frame changes nothing the session relies on (a refused HELLO may leave bytes
     * in peer_nonce, but have_peer_nonce stays false). */
    FUZZ_CHECK(s.rx_seq == before.rx_seq && s.tx_seq == before.tx_seq);
    FUZZ_CHECK(s.have_peer_nonce == before.have_peer_nonce);
    FUZZ_CHECK(!s.have_peer_nonce ||
               memcmp(s.peer_nonce, before.peer_nonce, HYB_PM_NONCE_LEN) == 0);
    FUZZ_CHECK(memcmp(s.my_nonce, before.my_nonce, HYB_PM_NONCE_LEN) == 0);
    FUZZ_CHECK(strcmp(s.peer_uuid, FUZZ_PM_PEER_UUID) == 0 &&
               strcmp(s.my_uuid, FUZZ_PM_MY_UUID) == 0);
}

static void fuzz_pm_batch(const uint8_t *p, size_t len, struct qkd_writer *w)
{
    static struct hyb_pm_batch a, b; /* ~1.5 KiB each */
    if (hyb_pm_batch_decode(p, len, &a) != 0) return;
    FUZZ_CHECK(a.n >= 2 && a.n <= HYB_PM_BATCH_MAX);
    for (uint8_t i = 0; i < a.n; i++) {
        FUZZ_CHECK(a.m[i].type >= HYB_PM_ANNOUNCE && a.m[i].type <= HYB_PM_CONFIRM);
        FUZZ_CHECK((a.m[i].len == 0) == (a.m[i].body == NULL));
        FUZZ_CHECK(a.m[i].len == 0 || (a.m[i].body >= p && a.m[i].body + a.m[i].len <= p + len));
    }
    FUZZ_CHECK(hyb_pm_batch_encode(&a, w) == 0);
    fuzz_pm_same(w, p, len);
    FUZZ_CHECK(hyb_pm_batch_decode(w->buf, w->len, &b) == 0 && b.n == a.n);
    for (uint8_t i = 0; i < a.n; i++)
        FUZZ_CHECK(b.m[i].type == a.m[i].type && b.m[i].len == a.m[i].len &&
                   (a.m[i].len == 0 || memcmp(b.m[i].body, a.m[i].body, a.m[i].len) == 0));
    for (uint8_t i = 0; i < a.n; i++) {
        struct qkd_writer iw;
        qkd_writer_init(&iw, 2 * HYB_PM_MAX_PAYLOAD);
        if (a.m[i].type == HYB_PM_ANNOUNCE)
            fuzz_pm_announce(a.m[i].body, a.m[i].len, &iw);
        else
            fuzz_pm_kex(a.m[i].body, a.m[i].len, &iw);
        qkd_writer_free(&iw);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size - 1 > 8 + QKD_WIRE_HDR_LEN + HYB_PM_MAX_PAYLOAD + 64) return 0;
    const uint8_t *p = data + 1;
    size_t len = size - 1;
    struct qkd_writer w;
    qkd_writer_init(&w, 2 * HYB_PM_MAX_PAYLOAD);
    switch ((enum fuzz_pm_case)(data[0] % FUZZ_PM_CASES)) {
    case FUZZ_PM_HELLO:
        fuzz_pm_hello(p, len, &w);
        break;
    case FUZZ_PM_ANNOUNCE:
        fuzz_pm_announce(p, len, &w);
        break;
    case FUZZ_PM_KEX:
        fuzz_pm_kex(p, len, &w);
        break;
    case FUZZ_PM_BATCH:
        fuzz_pm_batch(p, len, &w);
        break;
    default:
        fuzz_pm_open(p, len);
        break;
    }
    qkd_writer_free(&w);
    return 0;
}
