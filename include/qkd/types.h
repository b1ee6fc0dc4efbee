/* types.h: ETSI GS QKD 004 value types shared by servers, client library and hybrid daemon:
 * status codes (Table 2 of the standard), the QoS structure and the Key_stream_ID. */
#ifndef QKD_TYPES_H
#define QKD_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ETSI 004 status codes. */
enum qkd_status {
    QKD_STATUS_SUCCESS = 0,
    QKD_STATUS_PEER_NOT_CONNECTED = 1,
    QKD_STATUS_INSUFFICIENT_KEY = 2,
    QKD_STATUS_PEER_APP_NOT_CONNECTED = 3,
    QKD_STATUS_NO_QKD_CONNECTION = 4,
    QKD_STATUS_KSID_IN_USE = 5,
    QKD_STATUS_TIMEOUT = 6,
    QKD_STATUS_QOS_NOT_MET = 7,
    QKD_STATUS_METADATA_TOO_SMALL = 8,
};
#define QKD_STATUS_MAX 8

/* Human-readable meaning of a status code ("unknown status" for others). */
const char *qkd_status_str(uint32_t status);
/* Statuses 0, 1 and 7 are successes. */
bool qkd_status_ok(uint32_t status);

#define QKD_MIMETYPE_MAX  256 /* including the terminating NUL */
#define QKD_MIMETYPE_JSON "application/json"

struct qkd_qos {
    uint32_t key_chunk_size; /* bytes */
    uint32_t max_bps;
    uint32_t min_bps;
    uint32_t jitter;
    uint32_t priority;                        /* 0 = highest */
    uint32_t timeout;                         /* ms */
    uint32_t ttl;                             /* s */
    char metadata_mimetype[QKD_MIMETYPE_MAX]; /* always NUL-terminated */
};

#define QKD_KSID_LEN 16
/* Key_stream_ID: 16 raw bytes in RFC 4122 (uuid_t) order; all zero = "no KSID". */
struct qkd_ksid {
    uint8_t b[QKD_KSID_LEN];
};

bool qkd_ksid_is_zero(const struct qkd_ksid *k);
/* Canonical lower-case text form, 36 chars + NUL. */
#define QKD_KSID_STRLEN 37
void qkd_ksid_to_str(const struct qkd_ksid *k, char out[QKD_KSID_STRLEN]);
/* Parses the canonical text form; returns 0 on success, -1 on a malformed string. */
int qkd_ksid_from_str(const char *s, struct qkd_ksid *k);

#ifdef __cplusplus
}
#endif
#endif
