/* peer_msg.h: the qkd-hybrid peer protocol's messages (docs/hybrid.md "Peer protocol"): the
 * signed envelope (per-connection sequence numbers, both connection nonces and both node
 * identities under an ML-DSA-65 signature), its verifier with anti-replay, and the bodies
 * (HELLO, ANNOUNCE, and the KSID/index-bound exchange messages). No I/O here: pure encoding,
 * decoding and checking, so the verifier is unit-tested on its own. */
#ifndef HYB_PEER_MSG_H
#define HYB_PEER_MSG_H

#include "bytes.h"
#include "request.h"
#include "wire.h"

#include <openssl/evp.h>
#include <qkd/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Header version bytes of peer frames ("HY" v1); the service byte is the message type. */
#define HYB_PM_V0 0x48
#define HYB_PM_V1 0x59
#define HYB_PM_V2 0x01

#define HYB_PM_NONCE_LEN 32
#define HYB_PM_TAG_LEN   32
/* Largest peer frame payload accepted (and built): sized for an INIT carrying a request's public
 * keys (HYB_REQ_MAX_PUB_BYTES) plus 64 KiB for the rest; docs/hybrid.md "Limits". */
#define HYB_PM_MAX_PAYLOAD (2u * 1024u * 1024u)
#define HYB_PM_MAX_ITEMS   HYB_MAX_SOURCES
/* Bytes per public key / ciphertext / share: the largest, Classic-McEliece-8192128's public key
 * (1357824 bytes; source.c). */
#define HYB_PM_MAX_ITEM 1357824u
#define HYB_PM_MAX_SIG  8192
#define HYB_PM_UUID_LEN 36

enum hyb_pm_type {
    HYB_PM_HELLO = 1,    /* name, uuid, nonce */
    HYB_PM_ANNOUNCE = 2, /* a hybrid stream: KSID, canonical request, QoS, QKD KSIDs */
    HYB_PM_CLOSE = 3,    /* KSID closed at the sender */
    HYB_PM_WANT = 4,     /* responder: my application asks for (KSID, index) */
    HYB_PM_INIT = 5,     /* initiator: public keys / shares for (KSID, index) */
    HYB_PM_REPLY = 6,    /* responder: per-source status, ciphertexts / shares */
    HYB_PM_RESULT = 7,   /* initiator: decision (status, source set) and its confirmation tag */
    HYB_PM_CONFIRM = 8,  /* responder: its confirmation tag (or failure) */
    HYB_PM_BATCH = 9,    /* 2..HYB_PM_BATCH_MAX messages of types 2..8 under one signature */
};
#define HYB_PM_TYPE_MAX  9
#define HYB_PM_BATCH_MAX 64 /* messages per BATCH frame (sent and accepted) */
/* Largest BATCH body a sender builds: the frame must hold it with seq, lengths and signature. */
#define HYB_PM_BATCH_BODY_MAX (HYB_PM_MAX_PAYLOAD - 8 - 4 - 4 - HYB_PM_MAX_SIG)
const char *hyb_pm_type_name(uint8_t type);

/* Verifier results. */
enum hyb_pm_err {
    HYB_PM_OK = 0,
    HYB_PM_ERR_MALFORMED = -1, /* does not parse, wrong version or type */
    HYB_PM_ERR_REPLAY = -2,    /* sequence number already seen on this connection */
    HYB_PM_ERR_SEQ = -3,       /* sequence number skips ahead, or HELLO out of place */
    HYB_PM_ERR_SIG = -4,       /* signature does not verify */
    HYB_PM_ERR_INTERNAL = -5,
};
const char *hyb_pm_err_str(int err);

/* One direction pair of one peer connection. */
struct hyb_pm_session {
    EVP_PKEY *my_key;   /* own ML-DSA-65 private key (not owned) */
    EVP_PKEY *peer_key; /* peer's ML-DSA-65 public key (not owned) */
    char my_uuid[HYB_PM_UUID_LEN + 1];
    char peer_uuid[HYB_PM_UUID_LEN + 1];
    uint8_t my_nonce[HYB_PM_NONCE_LEN];
    uint8_t peer_nonce[HYB_PM_NONCE_LEN];
    bool have_peer_nonce;
    uint64_t tx_seq; /* last sequence number sent */
    uint64_t rx_seq; /* last sequence number accepted */
};

/* Fresh nonce, sequence numbers reset. Returns 0 or -1. */
int hyb_pm_session_init(struct hyb_pm_session *s, EVP_PKEY *my_key, EVP_PKEY *peer_key,
                        const char *my_uuid, const char *peer_uuid);

/* A verified message: body points into the caller's payload. */
struct hyb_pm_msg {
    uint8_t type;
    uint64_t seq;
    const uint8_t *body;
    size_t body_len;
};

/* Appends one whole signed frame (header included) carrying body to w; advances tx_seq.
 * Returns 0 or -1. */
int hyb_pm_seal(struct hyb_pm_session *s, uint8_t type, const uint8_t *body, size_t body_len,
                struct qkd_writer *w);
/* Checks one received frame: version, sequence (exactly rx_seq + 1; HELLO first and only
 * first), then the signature; only then advances rx_seq (and, for HELLO, learns the peer's
 * nonce). Returns HYB_PM_OK or a negative hyb_pm_err with a reason in err. */
int hyb_pm_open(struct hyb_pm_session *s, const struct qkd_wire_hdr *h, const uint8_t *payload,
                struct hyb_pm_msg *out, char *err, size_t errlen);

/* Bodies. */
struct hyb_pm_hello {
    char name[64];
    char uuid[HYB_PM_UUID_LEN + 1];
    uint8_t nonce[HYB_PM_NONCE_LEN];
};
int hyb_pm_hello_encode(const struct hyb_pm_hello *m, struct qkd_writer *w);
int hyb_pm_hello_decode(const uint8_t *p, size_t len, struct hyb_pm_hello *m);

struct hyb_pm_announce {
    struct qkd_ksid ksid;
    char request[HYB_REQ_TEXT_MAX]; /* canonical source request */
    char dest_app[HYB_APP_MAX];
    struct qkd_qos qos;
    uint8_t nqkd;
    struct qkd_ksid qkd[HYB_MAX_SOURCES]; /* one per QKD occurrence (zero = none) */
};
int hyb_pm_announce_encode(const struct hyb_pm_announce *m, struct qkd_writer *w);
int hyb_pm_announce_decode(const uint8_t *p, size_t len, struct hyb_pm_announce *m);

/* CLOSE, WANT, INIT, REPLY, RESULT and CONFIRM share one body layout. */
struct hyb_pm_item {
    uint8_t status; /* per source: 0 ok, else an ETSI status (2 failed, 6 timed out) */
    const uint8_t *data;
    uint32_t len;
};
struct hyb_pm_kex {
    struct qkd_ksid ksid;
    uint32_t index;
    uint32_t status;
    uint32_t mask; /* RESULT: the agreed source set (bit j = source j of the list) */
    uint8_t n;
    struct hyb_pm_item item[HYB_PM_MAX_ITEMS];
    bool has_tag;
    uint8_t tag[HYB_PM_TAG_LEN];
};
int hyb_pm_kex_encode(const struct hyb_pm_kex *m, struct qkd_writer *w);
int hyb_pm_kex_decode(const uint8_t *p, size_t len, struct hyb_pm_kex *m);

/* BATCH body: u8 n || n x (u8 type || lv(body)), 2 <= n <= HYB_PM_BATCH_MAX, each type one of
 * ANNOUNCE .. CONFIRM (never HELLO or BATCH); the messages are used in order, as if each had
 * come in its own frame. One message travels as itself, never as a batch of one. */
struct hyb_pm_batch_msg {
    uint8_t type;
    const uint8_t *body;
    uint32_t len;
};
struct hyb_pm_batch {
    uint8_t n;
    struct hyb_pm_batch_msg m[HYB_PM_BATCH_MAX];
};
/* Bytes one message adds to a BATCH body. */
size_t hyb_pm_batch_entry_len(size_t body_len);
int hyb_pm_batch_encode(const struct hyb_pm_batch *b, struct qkd_writer *w);
/* Decodes and checks the whole batch (nothing is used unless all of it parses); bodies point
 * into p. */
int hyb_pm_batch_decode(const uint8_t *p, size_t len, struct hyb_pm_batch *b);

#endif
