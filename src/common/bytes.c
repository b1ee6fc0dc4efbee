/* bytes.c: bounded big-endian reader for untrusted input (poisoned after the first failure)
 * and bounded growable writer for output frames (wiped on reset/free: it may carry keys). */
#include "bytes.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define QKD_WRITER_MIN_CAP 256

void qkd_reader_init(struct qkd_reader *r, const uint8_t *p, size_t len)
{
    r->p = p;
    r->len = p ? len : 0;
    r->off = 0;
    r->failed = false;
}

size_t qkd_reader_left(const struct qkd_reader *r)
{
    if (r->failed || r->off > r->len) return 0;
    return r->len - r->off;
}

/* Reserves n bytes; returns a pointer to them or NULL (and poisons the reader). */
static const uint8_t *reader_take(struct qkd_reader *r, size_t n)
{
    static const uint8_t empty[1];
    if (r->failed) return NULL;
    if (n > qkd_reader_left(r)) {
        r->failed = true;
        return NULL;
    }
    if (!r->p) return empty; /* only reachable with n == 0 */
    const uint8_t *q = r->p + r->off;
    r->off += n;
    return q;
}

uint32_t qkd_get_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

void qkd_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int qkd_read_u8(struct qkd_reader *r, uint8_t *v)
{
    const uint8_t *q = reader_take(r, 1);
    if (!q) return -1;
    *v = q[0];
    return 0;
}

int qkd_read_u32(struct qkd_reader *r, uint32_t *v)
{
    const uint8_t *q = reader_take(r, 4);
    if (!q) return -1;
    *v = qkd_get_u32(q);
    return 0;
}

int qkd_read_u64(struct qkd_reader *r, uint64_t *v)
{
    const uint8_t *q = reader_take(r, 8);
    if (!q) return -1;
    *v = ((uint64_t)qkd_get_u32(q) << 32) | qkd_get_u32(q + 4);
    return 0;
}

int qkd_read_bytes(struct qkd_reader *r, void *dst, size_t n)
{
    const uint8_t *q = reader_take(r, n);
    if (!q) return -1;
    if (n) memcpy(dst, q, n);
    return 0;
}

const uint8_t *qkd_read_ptr(struct qkd_reader *r, size_t n)
{
    return reader_take(r, n);
}

const char *qkd_read_cstr(struct qkd_reader *r, size_t max)
{
    if (r->failed) return NULL;
    size_t left = qkd_reader_left(r);
    size_t lim = left < max ? left : max;
    const uint8_t *start = r->p ? r->p + r->off : NULL;
    const uint8_t *nul = (start && lim) ? memchr(start, 0, lim) : NULL;
    if (!nul) {
        r->failed = true;
        return NULL;
    }
    r->off += (size_t)(nul - start) + 1;
    return (const char *)start;
}

int qkd_read_skip(struct qkd_reader *r, size_t n)
{
    return reader_take(r, n) ? 0 : -1;
}

void qkd_writer_init(struct qkd_writer *w, size_t max)
{
    w->buf = NULL;
    w->len = 0;
    w->cap = 0;
    w->max = max ? max : SIZE_MAX / 2;
    w->failed = false;
}

void qkd_writer_free(struct qkd_writer *w)
{
    if (w->buf) {
        OPENSSL_cleanse(w->buf, w->cap);
        free(w->buf);
    }
    w->buf = NULL;
    w->len = 0;
    w->cap = 0;
    w->failed = false;
}

void qkd_writer_reset(struct qkd_writer *w)
{
    if (w->buf) OPENSSL_cleanse(w->buf, w->cap);
    w->len = 0;
    w->failed = false;
}

/* Makes room for n more bytes at *out (NULL when n is 0); returns 0 or -1 (and marks failure).
 * Growth copies into a fresh buffer and wipes the old one, so no key bytes stay in freed memory. */
static int writer_room(struct qkd_writer *w, size_t n, uint8_t **out)
{
    *out = NULL;
    if (w->failed) return -1;
    if (n > w->max || w->len > w->max - n) {
        w->failed = true;
        return -1;
    }
    if (n == 0) return 0;
    size_t need = w->len + n;
    if (need > w->cap) {
        size_t ncap = w->cap ? w->cap : QKD_WRITER_MIN_CAP;
        while (ncap < need)
            ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
        if (ncap > w->max) ncap = w->max;
        uint8_t *nb = malloc(ncap);
        if (!nb) {
            w->failed = true;
            return -1;
        }
        if (w->buf) {
            if (w->len) memcpy(nb, w->buf, w->len);
            OPENSSL_cleanse(w->buf, w->cap);
            free(w->buf);
        }
        w->buf = nb;
        w->cap = ncap;
    }
    *out = w->buf + w->len;
    w->len += n;
    return 0;
}

int qkd_write_u8(struct qkd_writer *w, uint8_t v)
{
    uint8_t *q;
    if (writer_room(w, 1, &q) < 0) return -1;
    q[0] = v;
    return 0;
}

int qkd_write_u32(struct qkd_writer *w, uint32_t v)
{
    uint8_t *q;
    if (writer_room(w, 4, &q) < 0) return -1;
    qkd_put_u32(q, v);
    return 0;
}

int qkd_write_u64(struct qkd_writer *w, uint64_t v)
{
    uint8_t *q;
    if (writer_room(w, 8, &q) < 0) return -1;
    qkd_put_u32(q, (uint32_t)(v >> 32));
    qkd_put_u32(q + 4, (uint32_t)v);
    return 0;
}

int qkd_write_bytes(struct qkd_writer *w, const void *src, size_t n)
{
    if (n && !src) {
        w->failed = true;
        return -1;
    }
    uint8_t *q;
    if (writer_room(w, n, &q) < 0) return -1;
    if (n) memcpy(q, src, n);
    return 0;
}

int qkd_write_zeros(struct qkd_writer *w, size_t n)
{
    uint8_t *q;
    if (writer_room(w, n, &q) < 0) return -1;
    if (n) memset(q, 0, n);
    return 0;
}

int qkd_write_u32_at(struct qkd_writer *w, size_t off, uint32_t v)
{
    if (w->failed || off > w->len || w->len - off < 4) return -1;
    qkd_put_u32(w->buf + off, v);
    return 0;
}

void qkd_hex(const uint8_t *p, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 0x0f];
    }
    out[2 * len] = '\0';
}
