/* test_window.c: unit tests of the delivered-index window (common/window.c) that the key
 * server's and the hybrid daemon's streams share: its edges, the bitmap in and out of order
 * (wrap of its slots), the end of the u32 index space, size 0, reserve, resize. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "window.h"

static void test_edges(void **state)
{
    (void)state;
    struct qkd_window w;
    qkd_window_init(&w, 32768);
    assert_true(qkd_window_untouched(&w));
    assert_int_equal(qkd_window_state(&w, 0), QKD_WINDOW_OPEN);
    assert_int_equal(qkd_window_state(&w, 32767), QKD_WINDOW_OPEN);
    assert_int_equal(qkd_window_state(&w, 32768), QKD_WINDOW_OUTSIDE);
    assert_int_equal(qkd_window_state(&w, 1000000), QKD_WINDOW_OUTSIDE);
    assert_int_equal(qkd_window_state(&w, UINT32_MAX), QKD_WINDOW_OUTSIDE);
    assert_int_equal(qkd_window_mark(&w, 0), 0);
    assert_null(w.bits); /* in order: no bitmap needed */
    assert_false(qkd_window_untouched(&w));
    assert_int_equal(qkd_window_state(&w, 0), QKD_WINDOW_DELIVERED);
    assert_int_equal(qkd_window_mark(&w, 0), -1);                   /* twice */
    assert_int_equal(qkd_window_state(&w, 32768), QKD_WINDOW_OPEN); /* window moved */
    assert_int_equal(qkd_window_state(&w, 32769), QKD_WINDOW_OUTSIDE);
    assert_int_equal(qkd_window_mark(&w, 40000), -1); /* outside */
    qkd_window_free(&w);
    assert_true(qkd_window_untouched(&w));

    /* size 0 holds one index */
    qkd_window_init(&w, 0);
    assert_int_equal(w.size, 1);
    assert_int_equal(qkd_window_state(&w, 0), QKD_WINDOW_OPEN);
    assert_int_equal(qkd_window_state(&w, 1), QKD_WINDOW_OUTSIDE);
    qkd_window_free(&w);
}

static void test_bitmap_out_of_order(void **state)
{
    (void)state;
    struct qkd_window w;
    qkd_window_init(&w, 8);                      /* window of 8 indices */
    assert_int_equal(qkd_window_mark(&w, 7), 0); /* last slot */
    assert_int_equal(qkd_window_mark(&w, 3), 0);
    assert_int_equal(w.base, 0);
    assert_int_equal(qkd_window_state(&w, 7), QKD_WINDOW_DELIVERED);
    assert_int_equal(qkd_window_state(&w, 8), QKD_WINDOW_OUTSIDE);
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(qkd_window_mark(&w, i), 0);
    assert_int_equal(w.base, 4); /* 0,1,2 then the held 3 */
    /* slots wrap: index 11 shares the slot of 3, which must be clear now */
    assert_int_equal(qkd_window_state(&w, 11), QKD_WINDOW_OPEN);
    assert_int_equal(qkd_window_state(&w, 12), QKD_WINDOW_OUTSIDE);
    for (uint32_t i = 4; i < 7; i++)
        assert_int_equal(qkd_window_mark(&w, i), 0);
    assert_int_equal(w.base, 8); /* 4,5,6 then the held 7 */
    assert_int_equal(qkd_window_state(&w, 15), QKD_WINDOW_OPEN);
    assert_int_equal(qkd_window_state(&w, 7), QKD_WINDOW_DELIVERED);
    /* every index delivered exactly once over many windows, in a shuffled order */
    for (uint32_t blk = 1; blk < 50; blk++) {
        static const uint32_t perm[8] = {5, 2, 7, 0, 6, 1, 4, 3};
        for (int i = 0; i < 8; i++) {
            uint32_t idx = blk * 8 + perm[i];
            assert_int_equal(qkd_window_state(&w, idx), QKD_WINDOW_OPEN);
            assert_int_equal(qkd_window_mark(&w, idx), 0);
            assert_int_equal(qkd_window_state(&w, idx), QKD_WINDOW_DELIVERED);
        }
        assert_int_equal(w.base, (blk + 1) * 8);
    }
    qkd_window_free(&w);
}

/* The last index of the u32 space: delivered out of order and then in order, after which every
 * index is delivered (base passes UINT32_MAX). */
static void test_end_of_index_space(void **state)
{
    (void)state;
    struct qkd_window w;
    qkd_window_init(&w, 4);
    w.base = UINT32_MAX - 2;
    assert_int_equal(qkd_window_state(&w, UINT32_MAX), QKD_WINDOW_OPEN);
    assert_int_equal(qkd_window_mark(&w, UINT32_MAX), 0);
    assert_int_equal(qkd_window_state(&w, UINT32_MAX), QKD_WINDOW_DELIVERED);
    assert_int_equal(qkd_window_mark(&w, UINT32_MAX - 2), 0);
    assert_int_equal(qkd_window_mark(&w, UINT32_MAX - 1), 0);
    assert_true(w.base == (uint64_t)UINT32_MAX + 1);
    assert_int_equal(qkd_window_state(&w, UINT32_MAX), QKD_WINDOW_DELIVERED);
    assert_int_equal(qkd_window_state(&w, 0), QKD_WINDOW_DELIVERED);
    assert_int_equal(qkd_window_mark(&w, UINT32_MAX), -1);
    qkd_window_free(&w);
}

/* reserve: the bitmap exists before any out-of-order delivery; resize drops it. */
static void test_reserve_and_resize(void **state)
{
    (void)state;
    struct qkd_window w;
    qkd_window_init(&w, 16);
    assert_int_equal(qkd_window_reserve(&w), 0);
    assert_non_null(w.bits);
    assert_false(qkd_window_untouched(&w)); /* a bitmap may hold deliveries */
    uint8_t *bits = w.bits;
    assert_int_equal(qkd_window_reserve(&w), 0); /* kept */
    assert_ptr_equal(w.bits, bits);
    qkd_window_resize(&w, 2);
    assert_null(w.bits);
    assert_int_equal(qkd_window_state(&w, 1), QKD_WINDOW_OPEN);
    assert_int_equal(qkd_window_state(&w, 2), QKD_WINDOW_OUTSIDE);
    assert_int_equal(qkd_window_mark(&w, 1), 0);
    assert_non_null(w.bits);
    assert_int_equal(qkd_window_state(&w, 1), QKD_WINDOW_DELIVERED);
    assert_int_equal(qkd_window_state(&w, 0), QKD_WINDOW_OPEN);
    qkd_window_free(&w);
}

/* The delivered indices above base, found over runs of open ones and across the wrap of the
 * bitmap's slots (size not a multiple of 8). */
static void test_next_delivered(void **state)
{
    (void)state;
    struct qkd_window w;
    qkd_window_init(&w, 21);
    assert_int_equal(qkd_window_next_delivered(&w, 0), UINT64_MAX); /* no bitmap */
    assert_int_equal(qkd_window_mark(&w, 0), 0);
    assert_int_equal(qkd_window_next_delivered(&w, 0), UINT64_MAX); /* base moved, none above */
    for (uint32_t i = 1; i < 18; i++)                               /* base 18 after this run, */
        if (i != 2) assert_int_equal(qkd_window_mark(&w, i), 0);
    assert_int_equal(qkd_window_mark(&w, 2), 0);
    assert_int_equal(w.base, 18);
    assert_int_equal(qkd_window_mark(&w, 20), 0);           /* slot 20, */
    assert_int_equal(qkd_window_mark(&w, 22), 0);           /* slot 1 after the wrap */
    assert_int_equal(qkd_window_mark(&w, 37), 0);           /* the window's last index */
    assert_int_equal(qkd_window_next_delivered(&w, 0), 20); /* from below base: from base */
    assert_int_equal(qkd_window_next_delivered(&w, 21), 22);
    assert_int_equal(qkd_window_next_delivered(&w, 23), 37);
    assert_int_equal(qkd_window_next_delivered(&w, 38), UINT64_MAX); /* beyond the window */
    qkd_window_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_bitmap_out_of_order),
        cmocka_unit_test(test_end_of_index_space),
        cmocka_unit_test(test_reserve_and_resize),
        cmocka_unit_test(test_next_delivered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
