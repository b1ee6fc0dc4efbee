/* wire.h: the one ETSI GS QKD 004 codec (docs/wire.md), both framings: Q (QUBIP Python,
 * version 1.0.1) and E (ETSI gs004-app-int, version 2.1.1). Used by the key server, the client
 * library and the hybrid daemon. Decoders never allocate: strings and key/metadata pointers
 * point into the caller's payload buffer, which must outlive the decoded message. */
#ifndef QKD_WIRE_H
#define QKD_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "bytes.h"
#include "qkd/types.h"

#define QKD_WIRE_HDR_LEN             8
#define QKD_WIRE_QOS_Q_LEN           284  /* 7 x u32 + 256-byte mimetype */
#define QKD_WIRE_URI_MAX             1024 /* longest URI accepted, including NUL */
#define QKD_WIRE_DEFAULT_MAX_PAYLOAD (64u * 1024u)

enum qkd_framing { QKD_FRAMING_UNKNOWN = 0, QKD_FRAMING_Q, QKD_FRAMING_E };

enum qkd_service {
    QKD_SVC_OPEN_REQ = 0x02,
    QKD_SVC_OPEN_RSP = 0x03,
    QKD_SVC_GET_REQ = 0x04,
    QKD_SVC_GET_RSP = 0x05,
    QKD_SVC_CLOSE_REQ = 0x08,
    QKD_SVC_CLOSE_RSP = 0x09,
};

/* Decode results. */
enum qkd_wire_err {
    QKD_WIRE_OK = 0,
    QKD_WIRE_ERR_SERVICE = -1,   /* unknown or unexpected service type */
    QKD_WIRE_ERR_LENGTH = -2,    /* payload length does not match the layout */
    QKD_WIRE_ERR_TOO_LARGE = -3, /* payload over the configured maximum */
    QKD_WIRE_ERR_STRING = -4,    /* URI or mimetype without NUL / too long */
    QKD_WIRE_ERR_VALUE = -5,     /* a field value the layout forbids */
    QKD_WIRE_ERR_NOMEM = -6,
};
const char *qkd_wire_err_str(int err);

struct qkd_wire_hdr {
    uint8_t major, minor, patch;
    uint8_t service;
    uint32_t payload_len;
};

/* Parses the 8-byte header; never fails (any bytes form a header). */
void qkd_wire_hdr_parse(const uint8_t hdr[QKD_WIRE_HDR_LEN], struct qkd_wire_hdr *h);
/* Framing of a connection's first frame: major 2 -> E, anything else -> Q. */
enum qkd_framing qkd_wire_detect(const struct qkd_wire_hdr *h);

struct qkd_open_req {
    const char *source;      /* into payload */
    const char *destination; /* into payload */
    struct qkd_qos qos;
    struct qkd_ksid ksid;
};
struct qkd_get_req {
    struct qkd_ksid ksid;
    uint32_t index;
    uint32_t metadata_size;
    /* E only: the metadata_size bytes that follow (what they mean is the dialect's: key info
     * in E, see dialect.h). Decode: into payload (NULL in Q). Encode: NULL = zero bytes. */
    const uint8_t *metadata;
};
struct qkd_close_req {
    struct qkd_ksid ksid;
};
struct qkd_request {
    uint8_t service; /* QKD_SVC_*_REQ */
    union {
        struct qkd_open_req open;
        struct qkd_get_req get;
        struct qkd_close_req close;
    } u;
};

struct qkd_open_rsp {
    uint32_t status;
    struct qkd_qos qos;
    struct qkd_ksid ksid;
};
struct qkd_get_rsp {
    uint32_t status;
    uint32_t index;
    const uint8_t *key; /* into payload (decode) or caller's memory (encode) */
    uint32_t key_len;
    const uint8_t *metadata;
    uint32_t metadata_len;
    uint32_t required_metadata_size; /* status 8 only */
};
struct qkd_close_rsp {
    uint32_t status;
};
struct qkd_response {
    uint8_t service; /* QKD_SVC_*_RSP */
    union {
        struct qkd_open_rsp open;
        struct qkd_get_rsp get;
        struct qkd_close_rsp close;
    } u;
};

/* Decodes a request frame (header already parsed) in the given framing; payload is exactly
 * h->payload_len bytes. max_payload 0 = QKD_WIRE_DEFAULT_MAX_PAYLOAD. Returns QKD_WIRE_OK or a
 * negative qkd_wire_err. */
int qkd_wire_decode_request(enum qkd_framing f, const struct qkd_wire_hdr *h,
                            const uint8_t *payload, size_t max_payload, struct qkd_request *out);
int qkd_wire_decode_response(enum qkd_framing f, const struct qkd_wire_hdr *h,
                             const uint8_t *payload, size_t max_payload, struct qkd_response *out);

/* Encoders append one whole frame (header + payload) to w. Return 0 or a negative err. */
int qkd_wire_encode_request(enum qkd_framing f, const struct qkd_request *req,
                            struct qkd_writer *w);
int qkd_wire_encode_response(enum qkd_framing f, const struct qkd_response *rsp,
                             struct qkd_writer *w);

#endif
