/* window.c: the delivered-index window shared by the key server's and the hybrid daemon's
 * streams (see window.h). */
#include "window.h"

#include <stdlib.h>

void qkd_window_init(struct qkd_window *w, uint32_t size)
{
    w->base = 0;
    w->size = size ? size : 1;
    w->bits = NULL;
}

int qkd_window_reserve(struct qkd_window *w)
{
    if (!w->bits) w->bits = calloc(((size_t)w->size + 7) / 8, 1);
    return w->bits ? 0 : -1;
}

void qkd_window_free(struct qkd_window *w)
{
    free(w->bits);
    qkd_window_init(w, w->size);
}

bool qkd_window_untouched(const struct qkd_window *w)
{
    return w->base == 0 && !w->bits;
}

void qkd_window_resize(struct qkd_window *w, uint32_t size)
{
    free(w->bits);
    w->bits = NULL;
    w->size = size ? size : 1;
}

static bool bit_get(const struct qkd_window *w, uint64_t idx)
{
    if (!w->bits) return false;
    uint64_t slot = idx % w->size;
    return (w->bits[slot / 8] >> (slot % 8)) & 1;
}

static void bit_put(struct qkd_window *w, uint64_t idx, bool v)
{
    uint64_t slot = idx % w->size;
    if (v)
        w->bits[slot / 8] |= (uint8_t)(1u << (slot % 8));
    else
        w->bits[slot / 8] &= (uint8_t) ~(1u << (slot % 8));
}

enum qkd_window_state qkd_window_state(const struct qkd_window *w, uint32_t index)
{
    uint64_t i = index;
    if (i < w->base) return QKD_WINDOW_DELIVERED;
    if (i - w->base >= w->size) return QKD_WINDOW_OUTSIDE;
    return bit_get(w, i) ? QKD_WINDOW_DELIVERED : QKD_WINDOW_OPEN;
}

int qkd_window_mark(struct qkd_window *w, uint32_t index)
{
    if (qkd_window_state(w, index) != QKD_WINDOW_OPEN) return -1;
    uint64_t i = index;
    if (i != w->base) {
        if (qkd_window_reserve(w) != 0) return -1;
        bit_put(w, i, true);
        return 0;
    }
    w->base++;
    while (bit_get(w, w->base)) {
        bit_put(w, w->base, false);
        w->base++;
    }
    return 0;
}

uint64_t qkd_window_next_delivered(const struct qkd_window *w, uint64_t from)
{
    if (!w->bits) return UINT64_MAX; /* nothing delivered above base */
    if (from < w->base) from = w->base;
    uint64_t end = w->base + w->size;
    for (uint64_t i = from; i < end;) {
        uint64_t slot = i % w->size;
        if (slot % 8 == 0 && slot + 8 <= w->size && w->bits[slot / 8] == 0) {
            i += 8; /* eight open indices at once */
            continue;
        }
        if (bit_get(w, i)) return i;
        i++;
    }
    return UINT64_MAX;
}
