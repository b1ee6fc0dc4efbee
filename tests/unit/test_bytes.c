/* test_bytes.c: unit tests of the bounded reader (bounds, poisoning, strings) and the bounded
 * growable writer (growth, max enforced at its edge, reset/free, patching). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bytes.h"

static void test_reader_ints(void **state)
{
    (void)state;
    const uint8_t in[] = {0xAB, 0x01, 0x02, 0x03, 0x04, 0x11, 0x22,
                          0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
    struct qkd_reader r;
    qkd_reader_init(&r, in, sizeof(in));
    uint8_t b;
    uint32_t u;
    uint64_t q;
    assert_int_equal(qkd_read_u8(&r, &b), 0);
    assert_int_equal(b, 0xAB);
    assert_int_equal(qkd_read_u32(&r, &u), 0);
    assert_int_equal(u, 0x01020304u);
    assert_int_equal(qkd_reader_left(&r), 8);
    assert_int_equal(qkd_read_u64(&r, &q), 0);
    assert_true(q == 0x1122334455667788ull);
    assert_int_equal(qkd_reader_left(&r), 0);
    assert_false(r.failed);
}

static void test_reader_exact_fit_and_one_past(void **state)
{
    (void)state;
    const uint8_t in[4] = {1, 2, 3, 4};
    struct qkd_reader r;
    uint32_t u;
    qkd_reader_init(&r, in, 4);
    assert_int_equal(qkd_read_u32(&r, &u), 0); /* exact fit */
    assert_int_equal(qkd_reader_left(&r), 0);

    qkd_reader_init(&r, in, 3);
    assert_int_equal(qkd_read_u32(&r, &u), -1); /* one past */
    assert_true(r.failed);

    uint8_t buf[5];
    qkd_reader_init(&r, in, 4);
    assert_int_equal(qkd_read_bytes(&r, buf, 5), -1);
    qkd_reader_init(&r, in, 4);
    assert_int_equal(qkd_read_bytes(&r, buf, 4), 0);
    assert_memory_equal(buf, in, 4);
    assert_int_equal(qkd_read_bytes(&r, buf, 0), 0); /* zero bytes at the end is fine */
    assert_non_null(qkd_read_ptr(&r, 0));
    assert_null(qkd_read_ptr(&r, 1));
}

static void test_reader_poisoned(void **state)
{
    (void)state;
    const uint8_t in[8] = {0};
    struct qkd_reader r;
    uint32_t u;
    uint8_t b;
    qkd_reader_init(&r, in, sizeof(in));
    assert_int_equal(qkd_read_skip(&r, 9), -1);
    /* Every later read fails although bytes remain. */
    assert_int_equal(qkd_read_u8(&r, &b), -1);
    assert_int_equal(qkd_read_u32(&r, &u), -1);
    assert_null(qkd_read_ptr(&r, 0));
    assert_null(qkd_read_cstr(&r, 8));
    assert_int_equal(qkd_reader_left(&r), 0);
}

static void test_reader_skip_huge(void **state)
{
    (void)state;
    const uint8_t in[8] = {0};
    struct qkd_reader r;
    qkd_reader_init(&r, in, sizeof(in));
    assert_int_equal(qkd_read_skip(&r, 4), 0);
    assert_int_equal(qkd_read_skip(&r, SIZE_MAX), -1); /* no wrap-around */
    assert_true(r.failed);
}

static void test_reader_cstr(void **state)
{
    (void)state;
    const uint8_t in[] = {'a', 'b', 0, 'c', 0, 'd', 'e', 'f'};
    struct qkd_reader r;
    qkd_reader_init(&r, in, sizeof(in));
    const char *s = qkd_read_cstr(&r, 3); /* "ab" + NUL fits max 3 exactly */
    assert_non_null(s);
    assert_string_equal(s, "ab");
    assert_ptr_equal(s, in);
    s = qkd_read_cstr(&r, 2);
    assert_string_equal(s, "c");
    assert_int_equal(qkd_reader_left(&r), 3);
    assert_null(qkd_read_cstr(&r, 100)); /* input ends without NUL */
    assert_true(r.failed);

    qkd_reader_init(&r, in, sizeof(in));
    assert_null(qkd_read_cstr(&r, 2)); /* NUL is the 3rd byte: max 2 is one short */

    qkd_reader_init(&r, NULL, 0);
    assert_null(qkd_read_cstr(&r, 10));
}

static void test_writer_basic(void **state)
{
    (void)state;
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    assert_int_equal(qkd_write_u8(&w, 0x7F), 0);
    assert_int_equal(qkd_write_u32(&w, 0xDEADBEEF), 0);
    assert_int_equal(qkd_write_u64(&w, 0x0102030405060708ull), 0);
    assert_int_equal(qkd_write_bytes(&w, "xy", 2), 0);
    assert_int_equal(qkd_write_zeros(&w, 3), 0);
    assert_int_equal(qkd_write_bytes(&w, NULL, 0), 0);
    const uint8_t want[] = {0x7F, 0xDE, 0xAD, 0xBE, 0xEF, 1,   2, 3, 4,
                            5,    6,    7,    8,    'x',  'y', 0, 0, 0};
    assert_int_equal(w.len, sizeof(want));
    assert_memory_equal(w.buf, want, sizeof(want));
    assert_int_equal(qkd_write_u32_at(&w, 1, 0x01020304), 0);
    assert_int_equal(qkd_get_u32(w.buf + 1), 0x01020304);
    assert_int_equal(qkd_write_u32_at(&w, w.len - 3, 1), -1); /* would run past the end */
    assert_int_equal(qkd_write_u32_at(&w, w.len - 4, 1), 0);  /* exact fit */
    qkd_writer_free(&w);
    assert_null(w.buf);
    assert_int_equal(w.len, 0);
}

static void test_writer_growth(void **state)
{
    (void)state;
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    for (uint32_t i = 0; i < 10000; i++)
        assert_int_equal(qkd_write_u32(&w, i), 0);
    assert_int_equal(w.len, 40000);
    for (uint32_t i = 0; i < 10000; i++)
        assert_int_equal(qkd_get_u32(w.buf + 4 * i), i);
    qkd_writer_free(&w);
}

static void test_writer_max(void **state)
{
    (void)state;
    struct qkd_writer w;
    qkd_writer_init(&w, 10);
    assert_int_equal(qkd_write_zeros(&w, 6), 0);
    assert_int_equal(qkd_write_u32(&w, 1), 0); /* exactly max */
    assert_int_equal(w.len, 10);
    assert_int_equal(qkd_write_u8(&w, 1), -1); /* one past */
    assert_true(w.failed);
    assert_int_equal(w.len, 10);
    assert_int_equal(qkd_write_bytes(&w, "", 0), -1); /* failed writer stays failed */
    qkd_writer_reset(&w);
    assert_false(w.failed);
    assert_int_equal(w.len, 0);
    assert_int_equal(qkd_write_zeros(&w, 11), -1);
    qkd_writer_reset(&w);
    assert_int_equal(qkd_write_zeros(&w, SIZE_MAX), -1); /* no wrap-around */
    qkd_writer_free(&w);
}

static void test_writer_reset_wipes(void **state)
{
    (void)state;
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    assert_int_equal(qkd_write_bytes(&w, "secretkey", 9), 0);
    uint8_t *buf = w.buf;
    qkd_writer_reset(&w);
    assert_ptr_equal(w.buf, buf); /* capacity kept */
    for (size_t i = 0; i < 9; i++)
        assert_int_equal(buf[i], 0);
    assert_int_equal(qkd_write_u8(&w, 5), 0);
    assert_int_equal(w.len, 1);
    qkd_writer_free(&w);
}

static void test_hex(void **state)
{
    (void)state;
    static const uint8_t b[] = {0x00, 0x0f, 0xa5, 0xff};
    char out[9];
    memset(out, 'x', sizeof(out));
    qkd_hex(b, sizeof(b), out);
    assert_string_equal(out, "000fa5ff");
    char empty[1] = {'x'};
    qkd_hex(b, 0, empty);
    assert_int_equal(empty[0], '\0');
}

static void test_put_get(void **state)
{
    (void)state;
    uint8_t b[4];
    qkd_put_u32(b, 0x80000001u);
    assert_int_equal(b[0], 0x80);
    assert_int_equal(b[3], 0x01);
    assert_int_equal(qkd_get_u32(b), 0x80000001u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader_ints),
        cmocka_unit_test(test_reader_exact_fit_and_one_past),
        cmocka_unit_test(test_reader_poisoned),
        cmocka_unit_test(test_reader_skip_huge),
        cmocka_unit_test(test_reader_cstr),
        cmocka_unit_test(test_writer_basic),
        cmocka_unit_test(test_writer_growth),
        cmocka_unit_test(test_writer_max),
        cmocka_unit_test(test_writer_reset_wipes),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_put_get),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
