/* conn_io.c: the data path of a framed TLS connection (conn.h, conn_int.h): the input and
 * output buffers (both wiped, both dropped when empty), SSL_write of queued output, SSL_read
 * and delivery of whole frames or, in byte-stream mode, of the bytes as they come (bounded
 * while paused), reading and dropping input during a graceful close, and the text of an SSL
 * failure. */
#include "conn_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "log.h"

/* Describes why an SSL call failed (ret and SSL_get_error's code); clears the error queue. */
void conn_ssl_error(struct qkd_conn *c, int ret, int e, char *out, size_t outlen)
{
    int saved = errno;
    unsigned long err = ERR_peek_last_error();
    long vr = SSL_get_verify_result(c->ssl);

    if (vr != X509_V_OK && c->state == ST_HANDSHAKE) {
        snprintf(out, outlen, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
    } else if (err != 0) {
        const char *r = ERR_reason_error_string(err);
        if (r != NULL)
            snprintf(out, outlen, "%s", r);
        else
            ERR_error_string_n(err, out, outlen);
    } else if (e == SSL_ERROR_ZERO_RETURN) {
        snprintf(out, outlen, "peer closed");
    } else if (e == SSL_ERROR_SYSCALL) {
        if (ret == 0 || saved == 0)
            snprintf(out, outlen, "connection closed by peer");
        else
            snprintf(out, outlen, "%s", strerror(saved));
    } else {
        snprintf(out, outlen, "TLS error %d", e);
    }
    ERR_clear_error();
}

/* ---- buffers ---- */

/* Most input held undelivered: one whole largest frame (max_payload + header); in byte mode
 * the most a handler may leave unconsumed. */
static size_t conn_in_bound(const struct qkd_conn *c)
{
    return QKD_WIRE_HDR_LEN + (size_t)c->lim.max_payload;
}

/* Bytes a paused connection may still read into its input buffer: it keeps reading so a peer
 * that hangs up (EOF, error) is noticed while a call waits, but holds at most one whole
 * largest frame (max_payload + header), so pausing never makes the input unbounded. */
size_t conn_paused_room(const struct qkd_conn *c)
{
    size_t bound = conn_in_bound(c);
    size_t held = c->in_len - c->in_off;
    return held < bound ? bound - held : 0;
}

/* Makes room for at least one SSL_read. Returns 0, 1 when the buffer is full (paused with
 * frames held), -1 when out of memory. */
static int conn_in_reserve(struct qkd_conn *c)
{
    size_t limit = QKD_WIRE_HDR_LEN + (size_t)c->lim.max_payload + CONN_READ_CHUNK;

    if (c->in_off > 0 && (c->in_off == c->in_len || c->in_cap - c->in_len < CONN_READ_CHUNK)) {
        size_t keep = c->in_len - c->in_off;
        memmove(c->in, c->in + c->in_off, keep);
        OPENSSL_cleanse(c->in + keep, c->in_len - keep);
        c->in_off = 0;
        c->in_len = keep;
    }
    size_t want = c->in_len + CONN_READ_CHUNK;
    if (want > limit) want = limit;
    if (c->in_cap >= want) return c->in_cap > c->in_len ? 0 : 1;
    size_t ncap = c->in_cap * 2;
    if (ncap < want) ncap = want;
    if (ncap > limit) ncap = limit;
    uint8_t *n = OPENSSL_clear_realloc(c->in, c->in_cap, ncap);
    if (n == NULL) return -1;
    c->in = n;
    c->in_cap = ncap;
    return 0;
}

static void conn_in_settle(struct qkd_conn *c)
{
    if (c->in_off != c->in_len) return;
    c->in_off = c->in_len = 0;
    /* Everything read was handled: an idle connection keeps no input buffer. */
    if (c->in_cap > 0) {
        OPENSSL_clear_free(c->in, c->in_cap);
        c->in = NULL;
        c->in_cap = 0;
    }
}

/* Appends a then b to the output queue. Returns 0 or -1 (out of memory). */
int conn_out_append(struct qkd_conn *c, const uint8_t *a, size_t alen, const uint8_t *b,
                    size_t blen)
{
    size_t need = alen + blen;
    if (c->out_cap - c->out_len < need && c->out_off > 0) {
        /* Moving the pending bytes is fine even with an SSL_write to retry
         * (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER): the retried bytes stay the same. */
        size_t keep = c->out_len - c->out_off;
        memmove(c->out, c->out + c->out_off, keep);
        OPENSSL_cleanse(c->out + keep, c->out_len - keep);
        c->out_off = 0;
        c->out_len = keep;
    }
    if (c->out_cap - c->out_len < need) {
        size_t ncap = c->out_cap ? c->out_cap * 2 : 4096;
        while (ncap - c->out_len < need)
            ncap *= 2;
        uint8_t *n = OPENSSL_clear_realloc(c->out, c->out_cap, ncap);
        if (n == NULL) return -1;
        c->out = n;
        c->out_cap = ncap;
    }
    if (alen > 0) memcpy(c->out + c->out_len, a, alen);
    if (blen > 0) memcpy(c->out + c->out_len + alen, b, blen);
    c->out_len += need;
    return 0;
}

/* ---- I/O ---- */

/* Writes queued output until done or the socket blocks. */
void conn_flush(struct qkd_conn *c)
{
    while (c->out_len > c->out_off) {
        size_t pend = c->out_len - c->out_off;
        size_t n = c->wretry ? c->wretry : (pend < CONN_WRITE_MAX ? pend : CONN_WRITE_MAX);
        ERR_clear_error();
        int r = SSL_write(c->ssl, c->out + c->out_off, (int)n);
        if (r > 0) {
            OPENSSL_cleanse(c->out + c->out_off, (size_t)r);
            c->out_off += (size_t)r;
            c->wretry = 0;
            c->write_wants_read = 0;
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
            c->wretry = n;
            c->write_wants_read = e == SSL_ERROR_WANT_READ;
            conn_throttle_check(c);
            return;
        }
        char why[160], reason[CONN_REASON_LEN];
        conn_ssl_error(c, r, e, why, sizeof(why));
        snprintf(reason, sizeof(reason), "write failed: %s", why);
        log_debug("connection %s: %s", c->peer, reason);
        conn_begin_close(c, reason, 0);
        return;
    }
    c->out_off = c->out_len = 0;
    if (c->out_cap > 0) { /* all written: an idle connection keeps no output buffer */
        OPENSSL_clear_free(c->out, c->out_cap);
        c->out = NULL;
        c->out_cap = 0;
    }
    conn_throttle_check(c);
}

/* Back-pressure (conn.h, out_high): a peer that sends requests without reading the answers
 * stops being read once its answers pile up, instead of making the output grow to max_outbuf;
 * reading and delivery go on once the output drained to half. */
void conn_throttle_check(struct qkd_conn *c)
{
    size_t pend = c->out_len - c->out_off;
    if (c->lim.out_high == 0) return;
    if (!c->throttled && pend > c->lim.out_high) {
        c->throttled = 1;
        log_debug("connection %s: %zu bytes of output wait; not reading until they drain", c->peer,
                  pend);
    } else if (c->throttled && pend <= c->lim.out_high / 2) {
        c->throttled = 0;
        if (c->state == ST_OPEN) conn_kick(c); /* deliver held frames, read again */
    }
}

/* Byte-stream mode (conn.h on_data): offers the unconsumed input until the handler consumes
 * nothing more, pauses, or closes. Consumed bytes are wiped (they may carry key material). */
static void conn_deliver_data(struct qkd_conn *c)
{
    while (c->state == ST_OPEN && !c->paused && !c->throttled && c->in_len > c->in_off) {
        size_t avail = c->in_len - c->in_off;
        uint8_t *data = c->in + c->in_off;
        size_t used = c->ops.on_data(c, data, avail, c->arg);
        if (used == QKD_CONN_DATA_CLOSE || used > avail) {
            if (used != QKD_CONN_DATA_CLOSE)
                log_error("connection %s: handler consumed %zu of %zu bytes", c->peer, used, avail);
            OPENSSL_cleanse(data, avail);
            c->in_off = c->in_len;
            if (c->state == ST_OPEN) conn_begin_close(c, "closed by handler", 1);
            return;
        }
        if (used == 0) break; /* the handler needs more bytes */
        OPENSSL_cleanse(data, used);
        c->in_off += used;
        c->last_frame_ms = qkd_now_ms();
    }
    size_t held = c->in_len - c->in_off;
    if (c->state == ST_OPEN && !c->paused && !c->throttled && held > conn_in_bound(c)) {
        char reason[CONN_REASON_LEN];
        snprintf(reason, sizeof(reason), "input too large (%zu bytes unconsumed > %zu)", held,
                 conn_in_bound(c));
        log_warn("closing connection %s: %s", c->peer, reason);
        conn_begin_close(c, reason, 1);
    }
}

/* Delivers the whole frames in the input buffer (or, in byte mode, the bytes). Returns 0 to go
 * on reading, -1 to stop. */
static int conn_deliver(struct qkd_conn *c)
{
    if (c->ops.on_data != NULL) {
        conn_deliver_data(c);
        conn_in_settle(c);
        return c->state == ST_OPEN && !c->paused && !c->throttled ? 0 : -1;
    }
    while (c->state == ST_OPEN && !c->paused && !c->throttled) {
        size_t avail = c->in_len - c->in_off;
        if (avail < QKD_WIRE_HDR_LEN) break;
        struct qkd_wire_hdr h;
        qkd_wire_hdr_parse(c->in + c->in_off, &h);
        if (h.payload_len > c->lim.max_payload) {
            char reason[CONN_REASON_LEN];
            snprintf(reason, sizeof(reason), "frame too large (%lu > %lu)",
                     (unsigned long)h.payload_len, (unsigned long)c->lim.max_payload);
            log_warn("closing connection %s: %s", c->peer, reason);
            conn_begin_close(c, reason, 1);
            return -1;
        }
        size_t flen = QKD_WIRE_HDR_LEN + (size_t)h.payload_len;
        if (avail < flen) break;
        uint8_t *frame = c->in + c->in_off;
        c->in_off += flen;
        c->last_frame_ms = qkd_now_ms();
        int rc = 0;
        if (c->ops.on_frame != NULL) rc = c->ops.on_frame(c, &h, frame + QKD_WIRE_HDR_LEN, c->arg);
        OPENSSL_cleanse(frame, flen); /* frames may carry key material */
        if (rc != 0 && c->state == ST_OPEN) conn_begin_close(c, "closed by handler", 1);
    }
    conn_in_settle(c);
    return c->state == ST_OPEN && !c->paused && !c->throttled ? 0 : -1;
}

/* Reads and delivers frames until the socket and OpenSSL's buffers are drained. While paused
 * it reads without delivering, up to conn_paused_room, so EOF and errors still close. */
void conn_read(struct qkd_conn *c)
{
    int budget = CONN_READ_BUDGET;
    for (;;) {
        if (conn_deliver(c) != 0) {
            if (c->state != ST_OPEN) return;
            if (c->throttled && !c->write_wants_read) return; /* back-pressure: no reading */
            /* paused: go on reading while there is room (or a write waits for a read) */
            if (conn_paused_room(c) == 0 && !c->write_wants_read) return;
        }
        if (budget-- == 0) {
            conn_kick(c); /* OpenSSL may hold decrypted data the loop cannot see */
            return;
        }
        int room = conn_in_reserve(c);
        if (room < 0) {
            log_error("connection %s: out of memory", c->peer);
            conn_begin_close(c, "out of memory", 0);
            return;
        }
        if (room > 0) return; /* paused and full */
        size_t space = c->in_cap - c->in_len;
        if (c->paused && !c->write_wants_read && space > conn_paused_room(c))
            space = conn_paused_room(c);
        ERR_clear_error();
        int n = SSL_read(c->ssl, c->in + c->in_len, space > INT_MAX ? INT_MAX : (int)space);
        c->read_wants_write = 0;
        if (n > 0) {
            c->in_len += (size_t)n;
            if (c->write_wants_read) {
                c->write_wants_read = 0;
                conn_flush(c);
                if (c->state != ST_OPEN) return;
            }
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ) {
            conn_in_settle(c); /* drained: an idle connection holds no input buffer */
            return;
        }
        if (e == SSL_ERROR_WANT_WRITE) {
            c->read_wants_write = 1;
            return;
        }
        if (e == SSL_ERROR_ZERO_RETURN) {
            c->peer_closed = 1;
            if (c->in_len > c->in_off && !c->paused && c->ops.on_data != NULL)
                log_warn("connection %s: peer closed with %zu bytes of input unconsumed", c->peer,
                         c->in_len - c->in_off);
            else if (c->in_len > c->in_off && !c->paused)
                log_warn("connection %s: peer closed in the middle of a frame", c->peer);
            else if (c->in_len > c->in_off)
                log_debug("connection %s: peer closed while paused; %zu bytes of input dropped",
                          c->peer, c->in_len - c->in_off);
            conn_begin_close(c, "peer closed", 1);
            return;
        }
        unsigned long last = ERR_peek_last_error();
        if (e == SSL_ERROR_SSL && ERR_GET_LIB(last) == ERR_LIB_SSL &&
            ERR_GET_REASON(last) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            /* The peer went away without close_notify: common, not a protocol error. */
            ERR_clear_error();
            log_debug("connection %s: closed by peer without close_notify", c->peer);
            conn_begin_close(c, "peer closed without close_notify", 0);
            return;
        }
        char why[160], reason[CONN_REASON_LEN];
        conn_ssl_error(c, n, e, why, sizeof(why));
        snprintf(reason, sizeof(reason), "%s: %s",
                 e == SSL_ERROR_SYSCALL ? "connection lost" : "read failed", why);
        if (e == SSL_ERROR_SSL)
            log_warn("closing connection %s: %s", c->peer, reason);
        else
            log_debug("connection %s: %s", c->peer, reason);
        conn_begin_close(c, reason, 0);
        return;
    }
}

/* Graceful close: reads (and drops) input so the peer is not blocked writing to us. */
void conn_discard_input(struct qkd_conn *c)
{
    uint8_t scratch[CONN_READ_CHUNK];
    for (int i = 0; i < CONN_READ_BUDGET && !c->peer_closed; i++) {
        ERR_clear_error();
        int n = SSL_read(c->ssl, scratch, sizeof(scratch));
        if (n > 0) {
            OPENSSL_cleanse(scratch, (size_t)n);
            c->write_wants_read = 0;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        c->read_wants_write = e == SSL_ERROR_WANT_WRITE;
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
        if (e == SSL_ERROR_ZERO_RETURN) {
            c->peer_closed = 1;
            return;
        }
        ERR_clear_error();
        conn_teardown(c);
        return;
    }
    if (!c->peer_closed) conn_kick(c);
}
