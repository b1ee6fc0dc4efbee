/* qos_codec.c: the one encoder and decoder of the QoS block (qos_codec.h): seven u32 fields,
 * then the Metadata_mimetype in the layout of the protocol at hand. Input goes through the
 * bounded reader, output through the sticky writer (bytes.h). */
#include "qos_codec.h"

#include <string.h>

int qkd_qos_encode(struct qkd_writer *w, enum qkd_qos_form form, const struct qkd_qos *q)
{
    if (form > QKD_QOS_LV32) return QKD_WIRE_ERR_VALUE;
    size_t n = strnlen(q->metadata_mimetype, QKD_MIMETYPE_MAX);
    if (n >= QKD_MIMETYPE_MAX) return QKD_WIRE_ERR_STRING;
    qkd_write_u32(w, q->key_chunk_size);
    qkd_write_u32(w, q->max_bps);
    qkd_write_u32(w, q->min_bps);
    qkd_write_u32(w, q->jitter);
    qkd_write_u32(w, q->priority);
    qkd_write_u32(w, q->timeout);
    qkd_write_u32(w, q->ttl);
    switch (form) {
    case QKD_QOS_FIXED:
        qkd_write_bytes(w, q->metadata_mimetype, n);
        qkd_write_zeros(w, QKD_MIMETYPE_MAX - n);
        break;
    case QKD_QOS_CSTR:
        qkd_write_bytes(w, q->metadata_mimetype, n + 1);
        break;
    case QKD_QOS_LV8:
        qkd_write_u8(w, (uint8_t)n);
        qkd_write_bytes(w, q->metadata_mimetype, n);
        break;
    case QKD_QOS_LV32:
        qkd_write_u32(w, (uint32_t)n);
        qkd_write_bytes(w, q->metadata_mimetype, n);
        break;
    }
    return QKD_WIRE_OK;
}

static int qos_fail(struct qkd_reader *r, int err)
{
    r->failed = true;
    return err;
}

/* The mimetype text of the length forms: n bytes without a NUL. */
static int qos_read_text(struct qkd_reader *r, uint32_t n, struct qkd_qos *q)
{
    if (r->failed) return qos_fail(r, QKD_WIRE_ERR_LENGTH);
    if (n >= QKD_MIMETYPE_MAX) return qos_fail(r, QKD_WIRE_ERR_STRING);
    if (qkd_read_bytes(r, q->metadata_mimetype, n) < 0) return QKD_WIRE_ERR_LENGTH;
    if (memchr(q->metadata_mimetype, 0, n)) return qos_fail(r, QKD_WIRE_ERR_STRING);
    return QKD_WIRE_OK;
}

int qkd_qos_decode(struct qkd_reader *r, enum qkd_qos_form form, struct qkd_qos *q)
{
    memset(q, 0, sizeof(*q));
    qkd_read_u32(r, &q->key_chunk_size);
    qkd_read_u32(r, &q->max_bps);
    qkd_read_u32(r, &q->min_bps);
    qkd_read_u32(r, &q->jitter);
    qkd_read_u32(r, &q->priority);
    qkd_read_u32(r, &q->timeout);
    qkd_read_u32(r, &q->ttl);
    if (r->failed) return QKD_WIRE_ERR_LENGTH;
    switch (form) {
    case QKD_QOS_FIXED: {
        const uint8_t *field = qkd_read_ptr(r, QKD_MIMETYPE_MAX);
        if (!field) return QKD_WIRE_ERR_LENGTH;
        const uint8_t *nul = memchr(field, 0, QKD_MIMETYPE_MAX);
        if (!nul) return qos_fail(r, QKD_WIRE_ERR_STRING);
        memcpy(q->metadata_mimetype, field, (size_t)(nul - field));
        return QKD_WIRE_OK;
    }
    case QKD_QOS_CSTR: {
        const char *s = qkd_read_cstr(r, QKD_MIMETYPE_MAX);
        if (!s) return QKD_WIRE_ERR_STRING;
        memcpy(q->metadata_mimetype, s, strlen(s));
        return QKD_WIRE_OK;
    }
    case QKD_QOS_LV8: {
        uint8_t n = 0;
        qkd_read_u8(r, &n);
        return qos_read_text(r, n, q);
    }
    case QKD_QOS_LV32: {
        uint32_t n = 0;
        qkd_read_u32(r, &n);
        return qos_read_text(r, n, q);
    }
    }
    return qos_fail(r, QKD_WIRE_ERR_VALUE);
}
