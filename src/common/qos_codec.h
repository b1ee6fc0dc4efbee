/* qos_codec.h: the one codec of the ETSI GS QKD 004 QoS block (struct qkd_qos), used by the
 * ETSI codec (wire.c, both framings, docs/wire.md "Layouts") and the peer protocols of qkd-kme
 * (STREAM_ANNOUNCE, docs/kme.md) and qkd-hybrid (ANNOUNCE, docs/hybrid.md). Every form is the seven
 * u32 fields in struct order (Key_chunk_size, Max_bps, Min_bps, Jitter, Priority, Timeout, TTL),
 * big-endian, then the Metadata_mimetype in one of four layouts. */
#ifndef QKD_QOS_CODEC_H
#define QKD_QOS_CODEC_H

#include "bytes.h"
#include "qkd/types.h"
#include "wire.h" /* the QKD_WIRE_* results */

/* How the mimetype (at most QKD_MIMETYPE_MAX - 1 bytes of text, no NUL inside) travels. */
enum qkd_qos_form {
    QKD_QOS_FIXED, /* ETSI Q framing: a QKD_MIMETYPE_MAX-byte field, NUL-padded */
    QKD_QOS_CSTR,  /* ETSI E framing: the text and its NUL */
    QKD_QOS_LV8,   /* qkd-kme peer protocol: u8 length, then the text */
    QKD_QOS_LV32,  /* qkd-hybrid peer protocol: u32 length, then the text */
};

/* Appends the block to w. Returns QKD_WIRE_OK, or QKD_WIRE_ERR_STRING without writing anything
 * when the mimetype has no NUL within QKD_MIMETYPE_MAX bytes. A write failure is left in
 * w->failed, for the caller to check once when its message is complete. */
int qkd_qos_encode(struct qkd_writer *w, enum qkd_qos_form form, const struct qkd_qos *q);

/* Reads the block into q (zeroed first; the mimetype always NUL-terminated). Returns
 * QKD_WIRE_OK, QKD_WIRE_ERR_LENGTH when the input ends first (or r had already failed), or
 * QKD_WIRE_ERR_STRING when the mimetype is too long, holds a NUL (length forms) or has none
 * (FIXED, CSTR). On an error r is failed. */
int qkd_qos_decode(struct qkd_reader *r, enum qkd_qos_form form, struct qkd_qos *q);

#endif
