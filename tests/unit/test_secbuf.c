/* test_secbuf.c: unit tests of secbuf.c: zeroed allocation, dup copies into a distinct
 * buffer, qkd_wipe zeroes exactly the given range, free of NULL and of empty buffers, and
 * many allocations beyond the mlock limit still succeed (mlock is best effort). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "secbuf.h"

static void test_new_zeroed(void **state)
{
    (void)state;
    struct qkd_secbuf *b = qkd_secbuf_new(64);
    assert_non_null(b);
    assert_non_null(b->data);
    assert_int_equal(b->len, 64);
    for (size_t i = 0; i < 64; i++)
        assert_int_equal(b->data[i], 0);
    qkd_secbuf_free(b);
}

static void test_dup(void **state)
{
    (void)state;
    uint8_t src[32];
    for (size_t i = 0; i < sizeof(src); i++)
        src[i] = (uint8_t)(i * 7 + 1);
    struct qkd_secbuf *b = qkd_secbuf_dup(src, sizeof(src));
    assert_non_null(b);
    assert_int_equal(b->len, sizeof(src));
    assert_ptr_not_equal(b->data, src);
    assert_memory_equal(b->data, src, sizeof(src));
    src[0] ^= 0xff; /* the copy is independent */
    assert_int_not_equal(b->data[0], src[0]);
    qkd_secbuf_free(b);
}

static void test_wipe(void **state)
{
    (void)state;
    uint8_t buf[48];
    memset(buf, 0xa5, sizeof(buf));
    qkd_wipe(buf + 8, 32);
    for (size_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], (i >= 8 && i < 40) ? 0 : 0xa5);
    qkd_wipe(NULL, 10); /* ignored */
    qkd_wipe(buf, 0);
    assert_int_equal(buf[0], 0xa5);
}

static void test_edge_sizes(void **state)
{
    (void)state;
    qkd_secbuf_free(NULL);
    struct qkd_secbuf *b = qkd_secbuf_new(0);
    assert_non_null(b);
    assert_int_equal(b->len, 0);
    qkd_secbuf_free(b);
    b = qkd_secbuf_dup(NULL, 0);
    assert_non_null(b);
    qkd_secbuf_free(b);
}

/* With a tiny RLIMIT_MEMLOCK, mlock fails and allocation still works; failures are counted. */
static void test_mlock_best_effort(void **state)
{
    (void)state;
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_MEMLOCK, &old), 0);
    lim = old;
    lim.rlim_cur = 0;
    assert_int_equal(setrlimit(RLIMIT_MEMLOCK, &lim), 0);
    unsigned long before = qkd_secbuf_mlock_failures();
    struct qkd_secbuf *bufs[16];
    for (int i = 0; i < 16; i++) {
        bufs[i] = qkd_secbuf_new(8192);
        assert_non_null(bufs[i]);
        memset(bufs[i]->data, 0x5a, 8192);
    }
    for (int i = 0; i < 16; i++)
        qkd_secbuf_free(bufs[i]);
    assert_int_equal(setrlimit(RLIMIT_MEMLOCK, &old), 0);
    /* root (CAP_IPC_LOCK) may lock past the limit: then nothing failed */
    unsigned long fails = qkd_secbuf_mlock_failures() - before;
    assert_true(fails == 0 || fails == 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_zeroed),
        cmocka_unit_test(test_dup),
        cmocka_unit_test(test_wipe),
        cmocka_unit_test(test_edge_sizes),
        cmocka_unit_test(test_mlock_best_effort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
