/* test_secbuf.c: unit tests of secbuf.c: zeroed allocation, dup copies into a distinct
 * buffer, qkd_wipe zeroes exactly the given range, free of NULL and of empty buffers, and
 * many allocations beyond the mlock limit still succeed (mlock is best effort); lock counts
 * per page (freeing one buffer keeps a page another live buffer shares locked), key pages
 * excluded from core dumps, and core dumps off for the process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

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

/* The flags of the mapping that holds p (/proc/self/smaps VmFlags), or "" when not found. */
static void vm_flags(const void *p, char *out, size_t n)
{
    out[0] = '\0';
    FILE *f = fopen("/proc/self/smaps", "r");
    assert_non_null(f);
    char line[512];
    int in = 0;
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
            continue;
        }
        if (in && strncmp(line, "VmFlags:", 8) == 0) {
            strncpy(out, line + 8, n - 1);
            out[n - 1] = 0;
            break;
        }
    }
    fclose(f);
}

/* Two live buffers on one page: freeing one leaves the page held (locked) for the other. */
static void test_shared_page_stays_locked(void **state)
{
    (void)state;
    long ps = sysconf(_SC_PAGESIZE);
    struct qkd_secbuf *a = NULL, *b = NULL, *all[64], *spare[64];
    size_t nspare = 0;
    /* small buffers share pages: among 64 of them (about 6 KiB), find two wholly on one page
     * (where the heap puts the first one depends on the C library and what ran before) */
    for (int i = 0; i < 64; i++) {
        all[i] = qkd_secbuf_new(32);
        assert_non_null(all[i]);
    }
    for (int i = 0; i < 64 && !b; i++) {
        uintptr_t pi = (uintptr_t)all[i]->data & ~(uintptr_t)(ps - 1);
        if (((uintptr_t)(all[i]->data + 31) & ~(uintptr_t)(ps - 1)) != pi) continue;
        for (int j = i + 1; j < 64 && !b; j++) {
            if (((uintptr_t)all[j]->data & ~(uintptr_t)(ps - 1)) == pi &&
                ((uintptr_t)(all[j]->data + 31) & ~(uintptr_t)(ps - 1)) == pi) {
                a = all[i];
                b = all[j];
            }
        }
    }
    assert_non_null(b);
    for (int i = 0; i < 64; i++)
        if (all[i] != a && all[i] != b) spare[nspare++] = all[i];
    unsigned held = qkd_secbuf_page_locks(a->data);
    assert_true(held >= 2);
    char flags[512];
    vm_flags(b->data, flags, sizeof(flags));
    assert_non_null(strstr(flags, " dd"));      /* not in core dumps */
    bool locked = strstr(flags, " lo") != NULL; /* mlock worked (RLIMIT_MEMLOCK allows) */
    qkd_secbuf_free(a);
    assert_int_equal(qkd_secbuf_page_locks(b->data), held - 1); /* still held for b */
    vm_flags(b->data, flags, sizeof(flags));
    if (locked) assert_non_null(strstr(flags, " lo")); /* the kernel still has it locked */
    for (size_t i = 0; i < nspare; i++)
        qkd_secbuf_free(spare[i]);
    uintptr_t page = (uintptr_t)b->data & ~(uintptr_t)(ps - 1);
    assert_true(qkd_secbuf_page_locks(b->data) >= 1);
    qkd_secbuf_free(b);
    assert_int_equal(qkd_secbuf_page_locks((const void *)page), 0);
    /* a buffer over several pages holds each of them */
    struct qkd_secbuf *big = qkd_secbuf_new((size_t)ps * 3);
    assert_non_null(big);
    for (long off = 0; off < ps * 3; off += ps)
        assert_true(qkd_secbuf_page_locks(big->data + off) >= 1);
    qkd_secbuf_free(big);
}

static void test_no_core_dumps(void **state)
{
    (void)state;
    assert_int_equal(qkd_secbuf_no_core_dumps(), 0);
    assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
    struct rlimit r;
    assert_int_equal(getrlimit(RLIMIT_CORE, &r), 0);
    assert_int_equal(r.rlim_cur, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_zeroed),
        cmocka_unit_test(test_dup),
        cmocka_unit_test(test_wipe),
        cmocka_unit_test(test_edge_sizes),
        cmocka_unit_test(test_mlock_best_effort),
        cmocka_unit_test(test_shared_page_stays_locked),
        cmocka_unit_test(test_no_core_dumps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
