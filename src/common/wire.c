/* wire.c: the ETSI GS QKD 004 codec (docs/wire.md) for both framings. Q = QUBIP Python layout
 * (version 1.0.1), E = ETSI gs004-app-int layout (version 2.1.1). Decoders parse the whole
 * payload with the bounded reader and require it to be consumed exactly; encoders append one
 * whole frame (header + payload) and leave the writer unchanged on failure. The QoS block is
 * the common QoS codec's (qos_codec.h). */
#include "wire.h"

#include "dialect.h"
#include "qos_codec.h"

#include <string.h>

#include <openssl/crypto.h>

#define QKD_WIRE_Q_MAJOR 1
#define QKD_WIRE_Q_MINOR 0
#define QKD_WIRE_Q_PATCH 1
#define QKD_WIRE_E_MAJOR 2
#define QKD_WIRE_E_MINOR 1
#define QKD_WIRE_E_PATCH 1

const char *qkd_wire_err_str(int err)
{
    switch (err) {
    case QKD_WIRE_OK:
        return "ok";
    case QKD_WIRE_ERR_SERVICE:
        return "unknown or unexpected service type";
    case QKD_WIRE_ERR_LENGTH:
        return "payload length does not match the layout";
    case QKD_WIRE_ERR_TOO_LARGE:
        return "payload over the configured maximum";
    case QKD_WIRE_ERR_STRING:
        return "string without NUL or too long";
    case QKD_WIRE_ERR_VALUE:
        return "field value not allowed by the layout";
    case QKD_WIRE_ERR_NOMEM:
        return "out of memory or output limit reached";
    default:
        return "unknown wire error";
    }
}

void qkd_wire_hdr_parse(const uint8_t hdr[QKD_WIRE_HDR_LEN], struct qkd_wire_hdr *h)
{
    h->major = hdr[0];
    h->minor = hdr[1];
    h->patch = hdr[2];
    h->service = hdr[3];
    h->payload_len = qkd_get_u32(hdr + 4);
}

enum qkd_framing qkd_wire_detect(const struct qkd_wire_hdr *h)
{
    return h->major == QKD_WIRE_E_MAJOR ? QKD_FRAMING_E : QKD_FRAMING_Q;
}

/* ---- decoding ---------------------------------------------------------------------------- */

/* A reader plus the first specific error seen (reader exhaustion is reported as LENGTH). */
struct wire_dec {
    struct qkd_reader r;
    int err;
};

static void dec_fail(struct wire_dec *d, int err)
{
    if (d->err == QKD_WIRE_OK) d->err = err;
    d->r.failed = true;
}

static void dec_u32(struct wire_dec *d, uint32_t *v)
{
    if (qkd_read_u32(&d->r, v) < 0) {
        *v = 0;
        dec_fail(d, QKD_WIRE_ERR_LENGTH);
    }
}

static void dec_ksid(struct wire_dec *d, struct qkd_ksid *k)
{
    if (qkd_read_bytes(&d->r, k->b, QKD_KSID_LEN) < 0) {
        memset(k->b, 0, QKD_KSID_LEN);
        dec_fail(d, QKD_WIRE_ERR_LENGTH);
    }
}

/* A NUL-terminated string of at most max bytes including the NUL. No NUL within max bytes or
 * before the payload ends is a STRING error. */
static const char *dec_cstr(struct wire_dec *d, size_t max)
{
    if (d->r.failed) return NULL;
    const char *s = qkd_read_cstr(&d->r, max);
    if (!s) dec_fail(d, QKD_WIRE_ERR_STRING);
    return s;
}

static enum qkd_qos_form wire_qos_form(enum qkd_framing f)
{
    return f == QKD_FRAMING_Q ? QKD_QOS_FIXED : QKD_QOS_CSTR;
}

static void dec_qos(struct wire_dec *d, enum qkd_framing f, struct qkd_qos *q)
{
    int rc = qkd_qos_decode(&d->r, wire_qos_form(f), q);
    if (rc != QKD_WIRE_OK) dec_fail(d, rc);
}

/* Common entry checks; returns OK or an error. Resolves an unknown framing from the header. */
static int dec_begin(enum qkd_framing *f, const struct qkd_wire_hdr *h, const uint8_t *payload,
                     size_t max_payload, struct wire_dec *d)
{
    if (max_payload == 0) max_payload = QKD_WIRE_DEFAULT_MAX_PAYLOAD;
    if (h->payload_len > max_payload) return QKD_WIRE_ERR_TOO_LARGE;
    if (*f != QKD_FRAMING_Q && *f != QKD_FRAMING_E) *f = qkd_wire_detect(h);
    if (h->payload_len > 0 && !payload) return QKD_WIRE_ERR_LENGTH;
    qkd_reader_init(&d->r, payload, h->payload_len);
    d->err = QKD_WIRE_OK;
    return QKD_WIRE_OK;
}

/* Every byte must have been parsed and nothing may have failed. */
static int dec_end(struct wire_dec *d)
{
    if (d->err != QKD_WIRE_OK) return d->err;
    if (d->r.failed || qkd_reader_left(&d->r) != 0) return QKD_WIRE_ERR_LENGTH;
    return QKD_WIRE_OK;
}

int qkd_wire_decode_request(enum qkd_framing f, const struct qkd_wire_hdr *h,
                            const uint8_t *payload, size_t max_payload, struct qkd_request *out)
{
    struct wire_dec d;
    memset(out, 0, sizeof(*out));
    int rc = dec_begin(&f, h, payload, max_payload, &d);
    if (rc != QKD_WIRE_OK) return rc;
    out->service = h->service;
    switch (h->service) {
    case QKD_SVC_OPEN_REQ: {
        struct qkd_open_req *o = &out->u.open;
        o->source = dec_cstr(&d, QKD_WIRE_URI_MAX);
        o->destination = dec_cstr(&d, QKD_WIRE_URI_MAX);
        dec_qos(&d, f, &o->qos);
        dec_ksid(&d, &o->ksid);
        break;
    }
    case QKD_SVC_GET_REQ: {
        struct qkd_get_req *g = &out->u.get;
        dec_ksid(&d, &g->ksid);
        dec_u32(&d, &g->index);
        dec_u32(&d, &g->metadata_size);
        /* E: the client's metadata bytes follow (key info, read by the dialect). */
        if (f == QKD_FRAMING_E && !d.r.failed) {
            g->metadata = qkd_read_ptr(&d.r, g->metadata_size);
            if (!g->metadata) dec_fail(&d, QKD_WIRE_ERR_LENGTH);
        }
        break;
    }
    case QKD_SVC_CLOSE_REQ:
        dec_ksid(&d, &out->u.close.ksid);
        break;
    default:
        memset(out, 0, sizeof(*out));
        return QKD_WIRE_ERR_SERVICE;
    }
    rc = dec_end(&d);
    if (rc != QKD_WIRE_OK) memset(out, 0, sizeof(*out));
    return rc;
}

/* Q responses are parsed by status: a success status carries the full form, any other status
 * only itself (plus the required size on GET status 8); dec_end then checks the length. */
static void dec_open_rsp(struct wire_dec *d, enum qkd_framing f, struct qkd_open_rsp *o)
{
    dec_u32(d, &o->status);
    if (d->r.failed || (!qkd_dialect_of(f)->full_error_responses && !qkd_status_ok(o->status)))
        return;
    dec_qos(d, f, &o->qos);
    dec_ksid(d, &o->ksid);
}

static void dec_get_rsp(struct wire_dec *d, enum qkd_framing f, struct qkd_get_rsp *g)
{
    dec_u32(d, &g->status);
    if (d->r.failed) return;
    if (!qkd_dialect_of(f)->full_error_responses && g->status != QKD_STATUS_SUCCESS) {
        if (g->status == QKD_STATUS_METADATA_TOO_SMALL) dec_u32(d, &g->required_metadata_size);
        return;
    }
    dec_u32(d, &g->index);
    dec_u32(d, &g->key_len);
    if (d->r.failed) return;
    g->key = qkd_read_ptr(&d->r, g->key_len);
    if (!g->key) {
        g->key_len = 0;
        dec_fail(d, QKD_WIRE_ERR_LENGTH);
        return;
    }
    uint32_t mlen;
    dec_u32(d, &mlen);
    if (d->r.failed) return;
    const uint8_t *m = qkd_read_ptr(&d->r, mlen);
    if (!m) {
        dec_fail(d, QKD_WIRE_ERR_LENGTH);
        return;
    }
    if (g->status == QKD_STATUS_METADATA_TOO_SMALL) {
        /* E: the metadata field is the required size followed by that many zero bytes. */
        g->required_metadata_size = mlen;
    } else {
        g->metadata = m;
        g->metadata_len = mlen;
    }
    if (g->status != QKD_STATUS_SUCCESS && g->key_len != 0)
        dec_fail(d, QKD_WIRE_ERR_VALUE); /* E: no key on an error */
}

int qkd_wire_decode_response(enum qkd_framing f, const struct qkd_wire_hdr *h,
                             const uint8_t *payload, size_t max_payload, struct qkd_response *out)
{
    struct wire_dec d;
    memset(out, 0, sizeof(*out));
    int rc = dec_begin(&f, h, payload, max_payload, &d);
    if (rc != QKD_WIRE_OK) return rc;
    out->service = h->service;
    switch (h->service) {
    case QKD_SVC_OPEN_RSP:
        dec_open_rsp(&d, f, &out->u.open);
        break;
    case QKD_SVC_GET_RSP:
        dec_get_rsp(&d, f, &out->u.get);
        break;
    case QKD_SVC_CLOSE_RSP:
        dec_u32(&d, &out->u.close.status);
        break;
    default:
        memset(out, 0, sizeof(*out));
        return QKD_WIRE_ERR_SERVICE;
    }
    rc = dec_end(&d);
    if (rc != QKD_WIRE_OK) memset(out, 0, sizeof(*out));
    return rc;
}

/* ---- encoding ---------------------------------------------------------------------------- */

static int enc_string_len(const char *s, size_t max, size_t *len)
{
    if (!s) return QKD_WIRE_ERR_STRING;
    size_t n = strnlen(s, max);
    if (n >= max) return QKD_WIRE_ERR_STRING;
    *len = n;
    return QKD_WIRE_OK;
}

static int enc_cstr(struct qkd_writer *w, const char *s, size_t max)
{
    size_t n;
    int rc = enc_string_len(s, max, &n);
    if (rc != QKD_WIRE_OK) return rc;
    qkd_write_bytes(w, s, n + 1);
    return QKD_WIRE_OK;
}

static void enc_ksid(struct qkd_writer *w, const struct qkd_ksid *k)
{
    qkd_write_bytes(w, k->b, QKD_KSID_LEN);
}

static int enc_qos(struct qkd_writer *w, enum qkd_framing f, const struct qkd_qos *q)
{
    return qkd_qos_encode(w, wire_qos_form(f), q);
}

/* Writes the header with a zero payload length; returns the frame's start offset. */
static size_t enc_begin(struct qkd_writer *w, enum qkd_framing f, uint8_t service)
{
    size_t start = w->len;
    if (f == QKD_FRAMING_E) {
        qkd_write_u8(w, QKD_WIRE_E_MAJOR);
        qkd_write_u8(w, QKD_WIRE_E_MINOR);
        qkd_write_u8(w, QKD_WIRE_E_PATCH);
    } else {
        qkd_write_u8(w, QKD_WIRE_Q_MAJOR);
        qkd_write_u8(w, QKD_WIRE_Q_MINOR);
        qkd_write_u8(w, QKD_WIRE_Q_PATCH);
    }
    qkd_write_u8(w, service);
    qkd_write_u32(w, 0);
    return start;
}

/* Patches the payload length, or on any failure removes the partial frame (wiping it) and
 * restores the writer to its state before the call. */
static int enc_end(struct qkd_writer *w, size_t start, int rc)
{
    if (rc == QKD_WIRE_OK && w->failed) rc = QKD_WIRE_ERR_NOMEM;
    if (rc == QKD_WIRE_OK) {
        size_t plen = w->len - start - QKD_WIRE_HDR_LEN;
        if (plen > UINT32_MAX)
            rc = QKD_WIRE_ERR_TOO_LARGE;
        else if (qkd_write_u32_at(w, start + 4, (uint32_t)plen) < 0)
            rc = QKD_WIRE_ERR_NOMEM;
    }
    if (rc != QKD_WIRE_OK) {
        if (w->buf && w->len > start) OPENSSL_cleanse(w->buf + start, w->len - start);
        w->len = start;
        w->failed = false;
    }
    return rc;
}

static bool enc_framing_ok(enum qkd_framing f)
{
    return f == QKD_FRAMING_Q || f == QKD_FRAMING_E;
}

int qkd_wire_encode_request(enum qkd_framing f, const struct qkd_request *req, struct qkd_writer *w)
{
    if (!enc_framing_ok(f)) return QKD_WIRE_ERR_VALUE;
    if (w->failed) return QKD_WIRE_ERR_NOMEM;
    if (req->service != QKD_SVC_OPEN_REQ && req->service != QKD_SVC_GET_REQ &&
        req->service != QKD_SVC_CLOSE_REQ)
        return QKD_WIRE_ERR_SERVICE;
    size_t start = enc_begin(w, f, req->service);
    int rc = QKD_WIRE_OK;
    switch (req->service) {
    case QKD_SVC_OPEN_REQ: {
        const struct qkd_open_req *o = &req->u.open;
        rc = enc_cstr(w, o->source, QKD_WIRE_URI_MAX);
        if (rc == QKD_WIRE_OK) rc = enc_cstr(w, o->destination, QKD_WIRE_URI_MAX);
        if (rc == QKD_WIRE_OK) rc = enc_qos(w, f, &o->qos);
        enc_ksid(w, &o->ksid);
        break;
    }
    case QKD_SVC_GET_REQ: {
        const struct qkd_get_req *g = &req->u.get;
        enc_ksid(w, &g->ksid);
        qkd_write_u32(w, g->index);
        qkd_write_u32(w, g->metadata_size);
        if (f == QKD_FRAMING_E && g->metadata_size > UINT32_MAX - 24u)
            rc = QKD_WIRE_ERR_TOO_LARGE; /* the payload length would not fit its u32 */
        else if (f == QKD_FRAMING_E && g->metadata)
            qkd_write_bytes(w, g->metadata, g->metadata_size);
        else if (f == QKD_FRAMING_E)
            qkd_write_zeros(w, g->metadata_size);
        break;
    }
    default: /* CLOSE */
        enc_ksid(w, &req->u.close.ksid);
        break;
    }
    return enc_end(w, start, rc);
}

static void enc_open_rsp(struct qkd_writer *w, enum qkd_framing f, const struct qkd_open_rsp *o,
                         int *rc)
{
    qkd_write_u32(w, o->status);
    if (!qkd_dialect_of(f)->full_error_responses && !qkd_status_ok(o->status))
        return; /* Q error form */
    *rc = enc_qos(w, f, &o->qos);
    enc_ksid(w, &o->ksid);
}

static void enc_get_rsp(struct qkd_writer *w, enum qkd_framing f, const struct qkd_get_rsp *g,
                        int *rc)
{
    qkd_write_u32(w, g->status);
    if (!qkd_dialect_of(f)->full_error_responses) {
        if (g->status == QKD_STATUS_METADATA_TOO_SMALL) {
            qkd_write_u32(w, g->required_metadata_size);
            return;
        }
        if (g->status != QKD_STATUS_SUCCESS) return;
    }
    /* The payload length (status, index, key_len, metadata_len + both fields) must fit a u32. */
    uint64_t tail = g->status == QKD_STATUS_METADATA_TOO_SMALL ? g->required_metadata_size
                    : g->status == QKD_STATUS_SUCCESS ? (uint64_t)g->key_len + g->metadata_len
                                                      : g->metadata_len;
    if (16u + tail > UINT32_MAX) {
        *rc = QKD_WIRE_ERR_TOO_LARGE;
        return;
    }
    qkd_write_u32(w, g->index);
    if (g->status == QKD_STATUS_SUCCESS) {
        if (g->key_len && !g->key) {
            *rc = QKD_WIRE_ERR_VALUE;
            return;
        }
        qkd_write_u32(w, g->key_len);
        qkd_write_bytes(w, g->key, g->key_len);
    } else {
        qkd_write_u32(w, 0); /* E error: no key */
    }
    if (g->status == QKD_STATUS_METADATA_TOO_SMALL) {
        qkd_write_u32(w, g->required_metadata_size);
        qkd_write_zeros(w, g->required_metadata_size);
        return;
    }
    if (g->metadata_len && !g->metadata) {
        *rc = QKD_WIRE_ERR_VALUE;
        return;
    }
    qkd_write_u32(w, g->metadata_len);
    qkd_write_bytes(w, g->metadata, g->metadata_len);
}

int qkd_wire_encode_response(enum qkd_framing f, const struct qkd_response *rsp,
                             struct qkd_writer *w)
{
    if (!enc_framing_ok(f)) return QKD_WIRE_ERR_VALUE;
    if (w->failed) return QKD_WIRE_ERR_NOMEM;
    if (rsp->service != QKD_SVC_OPEN_RSP && rsp->service != QKD_SVC_GET_RSP &&
        rsp->service != QKD_SVC_CLOSE_RSP)
        return QKD_WIRE_ERR_SERVICE;
    size_t start = enc_begin(w, f, rsp->service);
    int rc = QKD_WIRE_OK;
    switch (rsp->service) {
    case QKD_SVC_OPEN_RSP:
        enc_open_rsp(w, f, &rsp->u.open, &rc);
        break;
    case QKD_SVC_GET_RSP:
        enc_get_rsp(w, f, &rsp->u.get, &rc);
        break;
    default: /* CLOSE */
        qkd_write_u32(w, rsp->u.close.status);
        break;
    }
    return enc_end(w, start, rc);
}
