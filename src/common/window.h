/* window.h: the delivered-index window of a key stream, one type for the key server (kme
 * stream.c) and the hybrid daemon (hybrid stream.c): every index below the lowest undelivered
 * one is delivered (or lost), and a bitmap marks the delivered indices among the next `size`
 * (docs/kme.md "Behaviour", docs/hybrid.md "One index"). Pure data, no I/O. */
#ifndef QKD_WINDOW_H
#define QKD_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

struct qkd_window {
    uint64_t base; /* lowest undelivered index (2^32 once the last u32 index is delivered) */
    uint32_t size; /* indices tracked from base (>= 1) */
    uint8_t *bits; /* delivered flags for [base, base + size), slot i % size; NULL until needed */
};

enum qkd_window_state {
    QKD_WINDOW_OPEN = 0,      /* inside the window, not delivered */
    QKD_WINDOW_DELIVERED = 1, /* already delivered (or lost) */
    QKD_WINDOW_OUTSIDE = 2,   /* beyond the window */
};

/* An empty window over [0, size) (size 0 counts as 1); the bitmap comes with the first index
 * delivered out of order, or with qkd_window_reserve. */
void qkd_window_init(struct qkd_window *w, uint32_t size);
/* Allocates the bitmap now, so marking never fails for want of memory. 0, or -1. */
int qkd_window_reserve(struct qkd_window *w);
/* Frees the bitmap; the window is empty again over [0, size). */
void qkd_window_free(struct qkd_window *w);
/* True while nothing was delivered (base 0, no bitmap). */
bool qkd_window_untouched(const struct qkd_window *w);
/* A new size (before any delivery); the bitmap is dropped. */
void qkd_window_resize(struct qkd_window *w, uint32_t size);
enum qkd_window_state qkd_window_state(const struct qkd_window *w, uint32_t index);
/* Marks an open index delivered (or lost) and advances base past every delivered index.
 * Returns 0, or -1 when index is not open or the bitmap cannot be allocated. */
int qkd_window_mark(struct qkd_window *w, uint32_t index);
/* The first index at or after from (at least base) marked delivered inside the window, or
 * UINT64_MAX; cheap when none is (no bitmap) and over runs of open indices. */
uint64_t qkd_window_next_delivered(const struct qkd_window *w, uint64_t from);

#endif
