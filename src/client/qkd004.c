/* qkd004.c: libqkd004's calls. One TLS connection reused for many calls and re-established on
 * the next call after a loss; each call encodes one request with the shared codec (wire.c),
 * reads exactly one response frame through a bounded reader (header, then a payload no larger
 * than max_response), checks it is the matching response, decodes it and copies the results
 * out. Key bytes are copied into the caller's buffer and the receive buffer is wiped. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "conn.h"
#include "sock.h"
#include "dialect.h"
#include "evloop.h"
#include "qkd004_int.h"
#include "tls.h"
#include "wire.h"

#define QKD004_REQ_MAX (64u * 1024u + QKD_WIRE_HDR_LEN) /* largest request frame we build */

uint64_t qkd004_deadline(uint32_t ms)
{
    return ms ? qkd_now_ms() + ms : 0;
}

int qkd004_fail(struct qkd004_conn *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return code;
}

int qkd004_split_addr(const char *addr, char *host, size_t hostlen, char *port, size_t portlen)
{
    unsigned p;
    if (qkd_addr_split(addr, host, hostlen, &p, NULL, 0) != 0 || host[0] == '\0' || p == 0)
        return -1;
    int n = snprintf(port, portlen, "%u", p);
    return n > 0 && (size_t)n < portlen ? 0 : -1;
}

const char *qkd004_strerror(int err)
{
    switch (err) {
    case QKD004_OK:
        return "ok";
    case QKD004_ERR_ARG:
        return "bad argument";
    case QKD004_ERR_CONNECT:
        return "cannot connect";
    case QKD004_ERR_TLS:
        return "TLS failure";
    case QKD004_ERR_CLOSED:
        return "connection closed by the server";
    case QKD004_ERR_PROTOCOL:
        return "protocol error";
    case QKD004_ERR_TIMEOUT:
        return "timeout";
    case QKD004_ERR_NOMEM:
        return "out of memory";
    case QKD004_ERR_IO:
        return "I/O error";
    default:
        return "unknown error";
    }
}

static void seterr(char *err, size_t errlen, const char *msg)
{
    if (err && errlen) snprintf(err, errlen, "%s", msg);
}

struct qkd004_conn *qkd004_new(const struct qkd004_config *cfg, char *err, size_t errlen)
{
    if (!cfg || !cfg->server || !cfg->cert || !cfg->key || !cfg->ca) {
        seterr(err, errlen, "server, cert, key and ca are required");
        return NULL;
    }
    if (cfg->framing != QKD004_FRAMING_Q && cfg->framing != QKD004_FRAMING_E) {
        seterr(err, errlen, "unknown framing");
        return NULL;
    }
    struct qkd004_conn *c = calloc(1, sizeof *c);
    if (!c) {
        seterr(err, errlen, "out of memory");
        return NULL;
    }
    c->fd = -1;
    if (qkd004_split_addr(cfg->server, c->host, sizeof c->host, c->port, sizeof c->port) != 0) {
        if (err && errlen)
            snprintf(err, errlen, "bad server address '%s' (want HOST:PORT)", cfg->server);
        free(c);
        return NULL;
    }
    const char *name = cfg->server_name ? cfg->server_name : c->host;
    if (strlen(name) >= sizeof c->server_name) {
        seterr(err, errlen, "server name too long");
        free(c);
        return NULL;
    }
    snprintf(c->server_name, sizeof c->server_name, "%s", name);
    c->framing = cfg->framing;
    c->connect_timeout_ms =
        cfg->connect_timeout_ms ? cfg->connect_timeout_ms : QKD004_DEFAULT_CONNECT_TIMEOUT_MS;
    c->call_timeout_ms = cfg->call_timeout_ms;
    c->max_response = cfg->max_response ? cfg->max_response : QKD004_DEFAULT_MAX_RESPONSE;
    struct qkd_tls_files files = {.cert = cfg->cert, .key = cfg->key, .ca = cfg->ca};
    char why[256] = "";
    c->ctx = qkd_tls_ctx_new(false, &files, why, sizeof why);
    if (!c->ctx) {
        if (err && errlen)
            snprintf(err, errlen, "%s", why[0] ? why : "cannot create the TLS context");
        free(c);
        return NULL;
    }
    qkd_writer_init(&c->w, QKD004_REQ_MAX);
    return c;
}

static void conn_wipe_rbuf(struct qkd004_conn *c)
{
    if (c->rbuf && c->rlen) OPENSSL_cleanse(c->rbuf, c->rlen);
    c->rlen = 0;
}

void qkd004_free(struct qkd004_conn *c)
{
    if (!c) return;
    qkd004_io_drop(c);
    conn_wipe_rbuf(c);
    free(c->rbuf);
    qkd_writer_free(&c->w);
    SSL_CTX_free(c->ctx);
    free(c);
}

const char *qkd004_last_error(const struct qkd004_conn *c)
{
    return c ? c->err : "";
}

int qkd004_is_connected(const struct qkd004_conn *c)
{
    return c && c->ssl != NULL;
}

void qkd004_disconnect(struct qkd004_conn *c)
{
    if (c) qkd004_io_drop(c);
}

int qkd004_connect(struct qkd004_conn *c)
{
    if (!c) return QKD004_ERR_ARG;
    if (c->ssl && qkd004_io_stale(c))
        qkd004_io_drop(c); /* the server closed it while idle: a new one, silently */
    if (c->ssl) return QKD004_OK;
    return qkd004_io_connect(c);
}

void qkd004_qos_default(struct qkd_qos *qos)
{
    if (!qos) return;
    memset(qos, 0, sizeof *qos);
    qos->key_chunk_size = 32;
    qos->max_bps = 40000;
    qos->min_bps = 5000;
    qos->jitter = 10;
    qos->priority = 0;
    qos->timeout = 5000;
    qos->ttl = 3600;
    snprintf(qos->metadata_mimetype, sizeof qos->metadata_mimetype, "%s", QKD_MIMETYPE_JSON);
}

static const char *svc_name(uint8_t svc)
{
    switch (svc) {
    case QKD_SVC_OPEN_REQ:
    case QKD_SVC_OPEN_RSP:
        return "OPEN_CONNECT";
    case QKD_SVC_GET_REQ:
    case QKD_SVC_GET_RSP:
        return "GET_KEY";
    case QKD_SVC_CLOSE_REQ:
    case QKD_SVC_CLOSE_RSP:
        return "CLOSE";
    default:
        return "unknown";
    }
}

/* Fails the call and drops the connection: after any transport or protocol error the byte
 * stream can no longer be trusted to be in step. */
static int call_fail(struct qkd004_conn *c, int rc)
{
    qkd004_io_drop(c);
    conn_wipe_rbuf(c);
    qkd_writer_reset(&c->w);
    return rc;
}

/* Reads one response frame: the 8-byte header, then a payload of at most max_response bytes,
 * which must be the response to the request just sent and in this connection's framing. */
static int call_read_frame(struct qkd004_conn *c, uint8_t want_svc, uint64_t deadline,
                           struct qkd_wire_hdr *h)
{
    uint8_t hdr[QKD_WIRE_HDR_LEN];
    size_t got = 0;
    int rc = qkd004_io_read(c, hdr, sizeof hdr, deadline, &got);
    if (rc == QKD004_ERR_CLOSED) {
        if (got == 0)
            return qkd004_fail(c, rc, "server closed the connection before answering %s",
                               svc_name(want_svc));
        return qkd004_fail(c, rc,
                           "server closed the connection mid-frame (got %zu of %d header bytes)",
                           got, QKD_WIRE_HDR_LEN);
    }
    if (rc != QKD004_OK) return rc;
    qkd_wire_hdr_parse(hdr, h);
    enum qkd_framing want_f = c->framing == QKD004_FRAMING_E ? QKD_FRAMING_E : QKD_FRAMING_Q;
    if (qkd_wire_detect(h) != want_f)
        return qkd004_fail(c, QKD004_ERR_PROTOCOL,
                           "response version %u.%u.%u is not in the %s framing", h->major, h->minor,
                           h->patch, want_f == QKD_FRAMING_E ? "E" : "Q");
    if (h->service != want_svc)
        return qkd004_fail(c, QKD004_ERR_PROTOCOL,
                           "unexpected response service 0x%02x to %s (want 0x%02x)", h->service,
                           svc_name(want_svc), want_svc);
    if (h->payload_len > c->max_response)
        return qkd004_fail(c, QKD004_ERR_PROTOCOL,
                           "%s response payload of %u bytes exceeds the limit of %u",
                           svc_name(want_svc), h->payload_len, c->max_response);
    if (h->payload_len > c->rcap) {
        size_t ncap = h->payload_len < 4096 ? 4096 : h->payload_len;
        uint8_t *nb = malloc(ncap);
        if (!nb)
            return qkd004_fail(c, QKD004_ERR_NOMEM, "out of memory for a %u-byte response",
                               h->payload_len);
        conn_wipe_rbuf(c);
        free(c->rbuf);
        c->rbuf = nb;
        c->rcap = ncap;
    }
    c->rlen = h->payload_len;
    rc = qkd004_io_read(c, c->rbuf, h->payload_len, deadline, &got);
    if (rc == QKD004_ERR_CLOSED)
        return qkd004_fail(c, rc, "server closed the connection mid-frame (got %zu of %zu bytes)",
                           QKD_WIRE_HDR_LEN + got, (size_t)QKD_WIRE_HDR_LEN + h->payload_len);
    return rc;
}

/* Sends req and decodes the matching response into rsp (pointers into c->rbuf). */
static int call_do(struct qkd004_conn *c, const struct qkd_request *req, uint8_t want_svc,
                   struct qkd_response *rsp)
{
    int rc = qkd004_connect(c);
    if (rc != QKD004_OK) return rc;
    c->err[0] = '\0';
    enum qkd_framing f = c->framing == QKD004_FRAMING_E ? QKD_FRAMING_E : QKD_FRAMING_Q;
    qkd_writer_reset(&c->w);
    int er = qkd_wire_encode_request(f, req, &c->w);
    if (er != QKD_WIRE_OK) {
        qkd_writer_reset(&c->w);
        return qkd004_fail(c, QKD004_ERR_ARG, "cannot encode the %s request: %s",
                           svc_name(req->service), qkd_wire_err_str(er));
    }
    uint64_t deadline = qkd004_deadline(c->call_timeout_ms);
    rc = qkd004_io_write(c, c->w.buf, c->w.len, deadline);
    qkd_writer_reset(&c->w);
    if (rc != QKD004_OK) return call_fail(c, rc);
    struct qkd_wire_hdr h;
    rc = call_read_frame(c, want_svc, deadline, &h);
    if (rc != QKD004_OK) return call_fail(c, rc);
    int dr = qkd_wire_decode_response(f, &h, c->rbuf, c->max_response, rsp);
    if (dr != QKD_WIRE_OK)
        return call_fail(c, qkd004_fail(c, QKD004_ERR_PROTOCOL,
                                        "malformed %s response (%u-byte payload): %s",
                                        svc_name(want_svc), h.payload_len, qkd_wire_err_str(dr)));
    if (rsp->service != want_svc)
        return call_fail(c, qkd004_fail(c, QKD004_ERR_PROTOCOL,
                                        "decoded service 0x%02x is not the %s response",
                                        rsp->service, svc_name(want_svc)));
    return QKD004_OK;
}

int qkd004_open_connect(struct qkd004_conn *c, const char *source, const char *destination,
                        struct qkd_qos *qos, struct qkd_ksid *ksid, uint32_t *status)
{
    if (!c || !source || !destination || !qos || !ksid || !status)
        return c ? qkd004_fail(c, QKD004_ERR_ARG, "OPEN_CONNECT: NULL argument") : QKD004_ERR_ARG;
    struct qkd_request req;
    memset(&req, 0, sizeof req);
    req.service = QKD_SVC_OPEN_REQ;
    req.u.open.source = source;
    req.u.open.destination = destination;
    req.u.open.qos = *qos;
    req.u.open.qos.metadata_mimetype[QKD_MIMETYPE_MAX - 1] = '\0';
    req.u.open.ksid = *ksid;
    struct qkd_response rsp;
    memset(&rsp, 0, sizeof rsp);
    int rc = call_do(c, &req, QKD_SVC_OPEN_RSP, &rsp);
    if (rc != QKD004_OK) return rc;
    *status = rsp.u.open.status;
    if (qkd_status_ok(rsp.u.open.status)) {
        *qos = rsp.u.open.qos;
        *ksid = rsp.u.open.ksid;
    }
    conn_wipe_rbuf(c);
    return QKD004_OK;
}

int qkd004_get_key(struct qkd004_conn *c, const struct qkd_ksid *ksid, uint32_t *index,
                   uint8_t *key, size_t key_cap, size_t *key_len, char *metadata,
                   uint32_t *metadata_size, uint32_t *status)
{
    if (!c) return QKD004_ERR_ARG;
    if (!ksid || !index || !key || !key_len || !metadata_size || !status ||
        (*metadata_size > 0 && !metadata))
        return qkd004_fail(c, QKD004_ERR_ARG, "GET_KEY: NULL argument");
    uint32_t md_cap = *metadata_size;
    struct qkd_request req;
    memset(&req, 0, sizeof req);
    req.service = QKD_SVC_GET_REQ;
    req.u.get.ksid = *ksid;
    req.u.get.index = *index;
    req.u.get.metadata_size = md_cap;
    const struct qkd_dialect *d =
        qkd_dialect_of(c->framing == QKD004_FRAMING_E ? QKD_FRAMING_E : QKD_FRAMING_Q);
    if (d->get_meta_is_key_info) {
        /* E: send what ETSI's client_api sends, the key info (symmetric, default role); the
         * server answers with the whole metadata, copied below as far as the buffer holds. */
        req.u.get.metadata = d->get_key_info;
        req.u.get.metadata_size = d->get_key_info_size;
    }
    struct qkd_response rsp;
    memset(&rsp, 0, sizeof rsp);
    int rc = call_do(c, &req, QKD_SVC_GET_RSP, &rsp);
    if (rc != QKD004_OK) return rc;
    const struct qkd_get_rsp *g = &rsp.u.get;
    *status = g->status;
    *key_len = 0;
    if (g->status == QKD_STATUS_METADATA_TOO_SMALL) {
        *metadata_size = g->required_metadata_size;
    } else if (qkd_status_ok(g->status)) {
        if (g->key_len > key_cap) {
            rc = qkd004_fail(c, QKD004_ERR_ARG,
                             "GET_KEY: key of %u bytes does not fit the %zu-byte buffer",
                             g->key_len, key_cap);
        } else if (g->metadata_len > md_cap && !d->get_meta_is_key_info) {
            rc = qkd004_fail(c, QKD004_ERR_PROTOCOL,
                             "GET_KEY: %u bytes of metadata for a %u-byte buffer", g->metadata_len,
                             md_cap);
        } else {
            if (g->key_len) memcpy(key, g->key, g->key_len);
            *key_len = g->key_len;
            *index = g->index;
            uint32_t mcopy = g->metadata_len < md_cap ? g->metadata_len : md_cap;
            if (mcopy) memcpy(metadata, g->metadata, mcopy);
            if (mcopy < md_cap) metadata[mcopy] = '\0';
            *metadata_size = g->metadata_len; /* E: may exceed md_cap (truncated copy) */
        }
    } else {
        *metadata_size = 0;
    }
    conn_wipe_rbuf(c);
    return rc;
}

int qkd004_close(struct qkd004_conn *c, const struct qkd_ksid *ksid, uint32_t *status)
{
    if (!c) return QKD004_ERR_ARG;
    if (!ksid || !status) return qkd004_fail(c, QKD004_ERR_ARG, "CLOSE: NULL argument");
    struct qkd_request req;
    memset(&req, 0, sizeof req);
    req.service = QKD_SVC_CLOSE_REQ;
    req.u.close.ksid = *ksid;
    struct qkd_response rsp;
    memset(&rsp, 0, sizeof rsp);
    int rc = call_do(c, &req, QKD_SVC_CLOSE_RSP, &rsp);
    if (rc != QKD004_OK) return rc;
    *status = rsp.u.close.status;
    conn_wipe_rbuf(c);
    return QKD004_OK;
}
