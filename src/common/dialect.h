/* dialect.h: the one place that decides what the clients of each ETSI 004 framing send and
 * expect (docs/wire.md, "Dialects"). The framing of a connection selects its dialect: Q for
 * the QUBIP Python client, E for ETSI's C library (client_api, as wg-Qrotator ships it). The
 * key server and the hybrid daemon's ETSI listener ask these functions instead of testing the
 * framing themselves. Pure functions, no I/O: a refusal comes back as a status and a reason
 * the caller logs. */
#ifndef QKD_DIALECT_H
#define QKD_DIALECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qkd/types.h"
#include "uri.h"
#include "wire.h"

struct qkd_dialect {
    enum qkd_framing framing;
    const char *name;           /* "Q" or "E" */
    bool bare_ids;              /* source / destination may be a bare identifier */
    bool timeout0_default;      /* QoS Timeout 0 = the server's default (else status 6) */
    bool ttl0_default;          /* QoS TTL 0 = the server's default */
    bool get_meta_is_key_info;  /* GET_KEY request metadata = key info, not a buffer size */
    bool full_error_responses;  /* error responses carry every field of the success form */
    uint8_t get_key_info[2];    /* what this dialect's clients send as GET_KEY metadata */
    uint32_t get_key_info_size; /* its length (E: 2 = type, role; Q: none) */
};

/* The dialect of a framing (an unknown framing gets Q's, the stricter one). */
const struct qkd_dialect *qkd_dialect_of(enum qkd_framing f);

/* A bare identifier: 1..255 bytes of [A-Za-z0-9._:@-] (an SAE id, a UUID, app@node). */
#define QKD_BARE_ID_MAX 255
bool qkd_bare_id_is_valid(const char *s);

/* Reads a source or destination as the dialect allows: an absolute URI (both dialects), or in
 * E also a bare identifier, returned with *bare = true and out->host = the name it gives (the
 * part after its last '@', else the whole identifier; userinfo = the part before it). Returns
 * 0, or -1 when the dialect does not accept s (the caller answers 4). */
int qkd_dialect_endpoint(const struct qkd_dialect *d, const char *s, struct qkd_uri *out,
                         bool *bare);

/* OPEN_CONNECT QoS fields of 0 that mean "not specified": fills them with the server's
 * defaults where the dialect says so. Returns QKD_STATUS_SUCCESS, or QKD_STATUS_TIMEOUT for a
 * Timeout of 0 in a dialect where 0 is a deadline (Q: a 0 ms deadline cannot be met). */
uint32_t qkd_dialect_open_qos(const struct qkd_dialect *d, struct qkd_qos *q,
                              uint32_t def_timeout_ms, uint32_t def_ttl_s);

/* Key types of ETSI's key info (GET_KEY request metadata in E). */
#define QKD_KEY_TYPE_SYMMETRIC 0x00
#define QKD_KEY_TYPE_OBLIVIOUS 0x01

/* GET_KEY request metadata as the dialect reads it. *buf_size gets the metadata buffer size
 * to honour: Q, the request's Metadata_size (too small -> 8 at delivery); E, UINT32_MAX (the
 * bytes are key info, the response carries the whole metadata, never 8). Returns
 * QKD_STATUS_SUCCESS, or QKD_STATUS_INSUFFICIENT_KEY for a key type this server does not
 * serve (anything but symmetric), with a reason naming the type in why. */
uint32_t qkd_dialect_get_meta(const struct qkd_dialect *d, const struct qkd_get_req *g,
                              uint32_t *buf_size, char *why, size_t whylen);

#endif
