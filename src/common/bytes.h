/* bytes.h: the one bounded cursor for all untrusted input (reader) and a bounded growable
 * buffer for output (writer). Every read checks bounds; after the first failure the reader is
 * poisoned and every further read fails, so a parser may check once at the end. Big-endian. */
#ifndef QKD_BYTES_H
#define QKD_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qkd_reader {
    const uint8_t *p;
    size_t len;
    size_t off;
    bool failed;
};

void qkd_reader_init(struct qkd_reader *r, const uint8_t *p, size_t len);
size_t qkd_reader_left(const struct qkd_reader *r);
/* Each returns 0 on success, -1 (and poisons the reader) when not enough bytes remain. */
int qkd_read_u8(struct qkd_reader *r, uint8_t *v);
int qkd_read_u32(struct qkd_reader *r, uint32_t *v);
int qkd_read_u64(struct qkd_reader *r, uint64_t *v);
int qkd_read_bytes(struct qkd_reader *r, void *dst, size_t n);
/* Returns a pointer to the next n bytes inside the input without copying (NULL on failure). */
const uint8_t *qkd_read_ptr(struct qkd_reader *r, size_t n);
/* A NUL-terminated string of at most max bytes including the NUL, inside the input; returns a
 * pointer into the input (no copy) or NULL when no NUL occurs within max bytes. */
const char *qkd_read_cstr(struct qkd_reader *r, size_t max);
int qkd_read_skip(struct qkd_reader *r, size_t n);

struct qkd_writer {
    uint8_t *buf;
    size_t len;
    size_t cap;
    size_t max; /* hard limit; writes past it fail */
    bool failed;
};

/* max 0 means SIZE_MAX / 2. The buffer is heap memory; call qkd_writer_free (which wipes). */
void qkd_writer_init(struct qkd_writer *w, size_t max);
void qkd_writer_free(struct qkd_writer *w);
void qkd_writer_reset(struct qkd_writer *w); /* wipes contents, keeps capacity */
int qkd_write_u8(struct qkd_writer *w, uint8_t v);
int qkd_write_u32(struct qkd_writer *w, uint32_t v);
int qkd_write_u64(struct qkd_writer *w, uint64_t v);
int qkd_write_bytes(struct qkd_writer *w, const void *src, size_t n);
int qkd_write_zeros(struct qkd_writer *w, size_t n);
/* Overwrites 4 bytes at offset off (already written) with v. */
int qkd_write_u32_at(struct qkd_writer *w, size_t off, uint32_t v);

/* Lower-case hex of len bytes into out (2 * len + 1 bytes, NUL-terminated). */
void qkd_hex(const uint8_t *p, size_t len, char *out);

uint32_t qkd_get_u32(const uint8_t *p);
void qkd_put_u32(uint8_t *p, uint32_t v);

#endif
