/* test_ring.c: unit tests of src/ring/ring.c: append/read/consume semantics and wiping, offset
 * arithmetic across the modulo wrap, the NOSPACE edge, a writer and a reader in two processes
 * (back-pressure, every byte in order), restarts of either side, layout/capacity refusal,
 * reset_to rules, distillation timestamps and link stats; one reader and one writer per ring
 * (role locks across processes, released by SIGKILL), the compare-and-swap consume, and
 * noticing a ring removed or re-created underneath. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdbool.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ring.h"
#include "ring_layout.h"

static char ring_name[64];

static int setup_name(void **state)
{
    static unsigned n;
    snprintf(ring_name, sizeof(ring_name), "/qkd-test-ring-%d-%u", (int)getpid(), ++n);
    shm_unlink(ring_name);
    return 0;
}

static int teardown_name(void **state)
{
    shm_unlink(ring_name);
    return 0;
}

/* Deterministic stream content: the byte at absolute offset o. */
static uint8_t gen_byte(uint64_t o)
{
    uint64_t x = o + 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return (uint8_t)(x ^ (x >> 31));
}

static void gen_fill(uint64_t off, uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = gen_byte(off + i);
}

static int gen_check(uint64_t off, const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != gen_byte(off + i)) return -1;
    return 0;
}

/* Maps the whole ring object raw (as another program would), for checks of wiped bytes and
 * for corrupting the header. */
static struct qkd_ring_shm *raw_map(size_t *len)
{
    int fd = shm_open(ring_name, O_RDWR, 0);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    assert_true(p != MAP_FAILED);
    *len = (size_t)st.st_size;
    return p;
}

static void test_append_read_consume(void **state)
{
    struct qkd_ring *w, *r;
    assert_int_equal(qkd_ring_open_writer(ring_name, 4096, &w), QKD_RING_OK);
    assert_int_equal(qkd_ring_open_reader(ring_name, 4096, &r), QKD_RING_OK);
    assert_int_equal(qkd_ring_capacity(r), 4096);
    assert_int_equal(qkd_ring_write_offset(r), 0);
    assert_int_equal(qkd_ring_free_space(w), 4096);

    uint8_t buf[1000], out[1000];
    gen_fill(0, buf, sizeof(buf));
    assert_int_equal(qkd_ring_append(w, buf, sizeof(buf), 1234), QKD_RING_OK);
    assert_int_equal(qkd_ring_write_offset(r), 1000);
    assert_int_equal(qkd_ring_free_space(w), 3096);

    uint64_t ts = 0;
    assert_int_equal(qkd_ring_read(r, 100, out, 500, &ts), QKD_RING_OK);
    assert_int_equal(gen_check(100, out, 500), 0);
    assert_int_equal(ts, 1234);
    /* Beyond the write offset. */
    assert_int_equal(qkd_ring_read(r, 900, out, 101, NULL), QKD_RING_ERR_RANGE);
    assert_int_equal(qkd_ring_read(r, 1001, out, 0, NULL), QKD_RING_ERR_RANGE);
    assert_int_equal(qkd_ring_read(r, UINT64_MAX, out, 2, NULL), QKD_RING_ERR_RANGE);

    assert_int_equal(qkd_ring_consume(r, 600), QKD_RING_OK);
    assert_int_equal(qkd_ring_consume_offset(w), 600);
    assert_int_equal(qkd_ring_free_space(w), 3696);
    /* Consumed bytes are gone for the reader ... */
    assert_int_equal(qkd_ring_read(r, 599, out, 1, NULL), QKD_RING_ERR_RANGE);
    assert_int_equal(qkd_ring_read(r, 600, out, 400, NULL), QKD_RING_OK);
    assert_int_equal(gen_check(600, out, 400), 0);
    /* ... consume cannot move backwards or past the write offset ... */
    assert_int_equal(qkd_ring_consume(r, 599), QKD_RING_ERR_RANGE);
    assert_int_equal(qkd_ring_consume(r, 1001), QKD_RING_ERR_RANGE);
    assert_int_equal(qkd_ring_consume(r, 600), QKD_RING_OK);

    /* ... and wiped in memory, while the unconsumed rest is intact. */
    size_t len;
    struct qkd_ring_shm *h = raw_map(&len);
    const uint8_t *data = (const uint8_t *)h + h->data_off;
    for (size_t i = 0; i < 600; i++)
        assert_int_equal(data[i], 0);
    assert_int_equal(gen_check(600, data + 600, 400), 0);
    munmap(h, len);

    qkd_ring_close(r);
    qkd_ring_close(w);
}

static void test_wrap(void **state)
{
    const size_t cap = 1000; /* not a multiple of the granule on purpose */
    struct qkd_ring *w, *r;
    assert_int_equal(qkd_ring_open_writer(ring_name, cap, &w), QKD_RING_OK);
    assert_int_equal(qkd_ring_open_reader(ring_name, cap, &r), QKD_RING_OK);
    uint8_t buf[777], out[777];
    uint64_t off = 0;
    /* 40 laps of appends that straddle the end of the data area in varying places. */
    for (int i = 0; i < 52; i++) {
        size_t n = 300 + (size_t)(i * 37) % 477;
        gen_fill(off, buf, n);
        assert_int_equal(qkd_ring_append(w, buf, n, 1000 + (uint64_t)i), QKD_RING_OK);
        uint64_t ts = 0;
        assert_int_equal(qkd_ring_read(r, off, out, n, &ts), QKD_RING_OK);
        assert_int_equal(gen_check(off, out, n), 0);
        assert_true(ts <= 1000 + (uint64_t)i);
        assert_true(ts >= 1000 + (uint64_t)(i > 0 ? i - 1 : 0));
        /* Consume all but the last few bytes, so the next append starts mid-granule after
         * older bytes. */
        off += n;
        assert_int_equal(qkd_ring_consume(r, off - 5), QKD_RING_OK);
        assert_int_equal(qkd_ring_free_space(w), cap - 5);
        assert_int_equal(qkd_ring_read(r, off - 5, out, 5, NULL), QKD_RING_OK);
        assert_int_equal(gen_check(off - 5, out, 5), 0);
    }
    assert_true(off > 20 * cap);
    assert_int_equal(qkd_ring_write_offset(r), off);
    /* The data area holds the 5 unconsumed bytes and zeros elsewhere. */
    size_t len;
    struct qkd_ring_shm *h = raw_map(&len);
    const uint8_t *data = (const uint8_t *)h + h->data_off;
    size_t nonzero_outside = 0;
    for (uint64_t o = off; o < off + cap - 5; o++)
        nonzero_outside += data[o % cap] != 0;
    assert_int_equal(nonzero_outside, 0);
    munmap(h, len);
    qkd_ring_close(r);
    qkd_ring_close(w);
}

static void test_nospace_edge(void **state)
{
    const size_t cap = 4096;
    struct qkd_ring *w, *r;
    assert_int_equal(qkd_ring_open_writer(ring_name, cap, &w), QKD_RING_OK);
    assert_int_equal(qkd_ring_open_reader(ring_name, cap, &r), QKD_RING_OK);
    uint8_t *buf = malloc(cap + 1);
    assert_non_null(buf);
    gen_fill(0, buf, cap + 1);
    assert_int_equal(qkd_ring_append(w, buf, cap + 1, 1), QKD_RING_ERR_NOSPACE);
    assert_int_equal(qkd_ring_write_offset(w), 0);
    assert_int_equal(qkd_ring_append(w, buf, cap, 1), QKD_RING_OK);
    assert_int_equal(qkd_ring_free_space(w), 0);
    assert_int_equal(qkd_ring_append(w, buf, 1, 1), QKD_RING_ERR_NOSPACE);
    /* Free exactly 10 bytes: 10 fit, 11 do not, and nothing unconsumed was overwritten. */
    assert_int_equal(qkd_ring_consume(r, 10), QKD_RING_OK);
    assert_int_equal(qkd_ring_append(w, buf, 11, 2), QKD_RING_ERR_NOSPACE);
    gen_fill(cap, buf, 10);
    assert_int_equal(qkd_ring_append(w, buf, 10, 2), QKD_RING_OK);
    uint8_t *out = malloc(cap);
    assert_non_null(out);
    assert_int_equal(qkd_ring_read(r, 10, out, cap, NULL), QKD_RING_OK);
    assert_int_equal(gen_check(10, out, cap), 0);
    free(out);
    free(buf);
    qkd_ring_close(r);
    qkd_ring_close(w);
}

static void sleep_us(long us)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = us * 1000};
    nanosleep(&ts, NULL);
}

/* Two processes: a child writer much faster than the parent reader. The writer must see
 * back-pressure (NOSPACE) and the reader must get every byte in order. */
static void test_two_processes(void **state)
{
    const size_t cap = 8192;
    const uint64_t total = 2u * 1024 * 1024;
    struct qkd_ring *r;
    assert_int_equal(qkd_ring_open_reader(ring_name, cap, &r), QKD_RING_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(60);
        struct qkd_ring *w;
        if (qkd_ring_open_writer(ring_name, cap, &w) != QKD_RING_OK) _exit(2);
        uint8_t buf[1500];
        uint64_t off = qkd_ring_write_offset(w), full = 0;
        unsigned step = 0;
        while (off < total) {
            size_t n = 1 + (step++ * 131u) % sizeof(buf);
            if (n > total - off) n = (size_t)(total - off);
            gen_fill(off, buf, n);
            int rc;
            while ((rc = qkd_ring_append(w, buf, n, off + 1)) == QKD_RING_ERR_NOSPACE) {
                full++;
                sleep_us(50);
            }
            if (rc != QKD_RING_OK) _exit(3);
            off += n;
        }
        qkd_ring_close(w);
        _exit(full > 0 ? 0 : 4); /* back-pressure must have been seen */
    }
    uint8_t out[3000];
    uint64_t off = 0, reads = 0;
    time_t deadline = time(NULL) + 60;
    while (off < total && time(NULL) < deadline) {
        uint64_t wo = qkd_ring_write_offset(r);
        if (wo == off) {
            sleep_us(20);
            continue;
        }
        size_t n = (size_t)(wo - off);
        size_t want = 1 + (size_t)(reads++ * 97u) % sizeof(out); /* reader chunks differ */
        if (n > want) n = want;
        assert_int_equal(qkd_ring_read(r, off, out, n, NULL), QKD_RING_OK);
        assert_int_equal(gen_check(off, out, n), 0);
        off += n;
        assert_int_equal(qkd_ring_consume(r, off), QKD_RING_OK);
        if (reads % 64 == 0) sleep_us(100); /* a slow reader */
    }
    assert_int_equal(off, total);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(qkd_ring_write_offset(r), total);
    qkd_ring_close(r);
}

static void test_reader_restart(void **state)
{
    struct qkd_ring *w, *r;
    assert_int_equal(qkd_ring_open_writer(ring_name, 2048, &w), QKD_RING_OK);
    assert_int_equal(qkd_ring_open_reader(ring_name, 2048, &r), QKD_RING_OK);
    uint8_t buf[1500], out[1500];
    gen_fill(0, buf, 1500);
    assert_int_equal(qkd_ring_append(w, buf, 1500, 7), QKD_RING_OK);
    assert_int_equal(qkd_ring_consume(r, 700), QKD_RING_OK);
    qkd_ring_close(r);
    /* The writer keeps going while the reader is away; back-pressure stays in force. */
    gen_fill(1500, buf, 1248);
    assert_int_equal(qkd_ring_append(w, buf, 1249, 8), QKD_RING_ERR_NOSPACE);
    assert_int_equal(qkd_ring_append(w, buf, 1248, 8), QKD_RING_OK);
    assert_int_equal(qkd_ring_open_reader(ring_name, 2048, &r), QKD_RING_OK);
    assert_int_equal(qkd_ring_consume_offset(r), 700);
    assert_int_equal(qkd_ring_read(r, 699, out, 1, NULL), QKD_RING_ERR_RANGE);
    assert_int_equal(qkd_ring_read(r, 700, out, 1500, NULL), QKD_RING_OK);
    assert_int_equal(gen_check(700, out, 1500), 0);
    qkd_ring_close(r);
    qkd_ring_close(w);
}

static void test_writer_restart(void **state)
{
    struct qkd_ring *w, *r;
    assert_int_equal(qkd_ring_open_writer(ring_name, 2048, &w), QKD_RING_OK);
    uint8_t buf[500], out[1000];
    gen_fill(0, buf, 500);
    assert_int_equal(qkd_ring_append(w, buf, 500, 11), QKD_RING_OK);
    struct qkd_ring_stats s;
    qkd_ring_get_stats(w, &s);
    assert_int_equal(s.writer_pid, (uint64_t)getpid());
    qkd_ring_close(w);
    assert_int_equal(qkd_ring_open_reader(ring_name, 2048, &r), QKD_RING_OK);
    qkd_ring_get_stats(r, &s);
    assert_int_equal(s.writer_pid, 0);
    assert_int_equal(qkd_ring_open_writer(ring_name, 2048, &w), QKD_RING_OK);
    assert_int_equal(qkd_ring_write_offset(w), 500);
    gen_fill(500, buf, 500);
    assert_int_equal(qkd_ring_append(w, buf, 500, 12), QKD_RING_OK);
    uint64_t ts = 0;
    assert_int_equal(qkd_ring_read(r, 0, out, 1000, &ts), QKD_RING_OK);
    assert_int_equal(gen_check(0, out, 1000), 0);
    assert_int_equal(ts, 11);
    assert_int_equal(qkd_ring_read(r, 600, out, 10, &ts), QKD_RING_OK);
    assert_int_equal(ts, 12);
    qkd_ring_close(r);
    qkd_ring_close(w);
}

static void test_layout_refused(void **state)
{
    struct qkd_ring *w, *r;
    assert_int_equal(qkd_ring_open_writer(ring_name, 4096, &w), QKD_RING_OK);
    qkd_ring_close(w);
    size_t len;
    struct qkd_ring_shm *h = raw_map(&len);
    h->layout_version = QKD_RING_LAYOUT_VERSION + 1;
    assert_int_equal(qkd_ring_open_reader(ring_name, 4096, &r), QKD_RING_ERR_LAYOUT);
    assert_non_null(strstr(qkd_ring_last_error(), "layout version 2"));
    assert_int_equal(qkd_ring_open_writer(ring_name, 4096, &w), QKD_RING_ERR_LAYOUT);
    h->layout_version = QKD_RING_LAYOUT_VERSION;
    atomic_store(&h->magic, 0x1234);
    assert_int_equal(qkd_ring_open_reader(ring_name, 0, &r), QKD_RING_ERR_LAYOUT);
    assert_non_null(strstr(qkd_ring_last_error(), "not a key ring"));
    atomic_store(&h->magic, QKD_RING_MAGIC);
    assert_int_equal(qkd_ring_open_reader(ring_name, 4096, &r), QKD_RING_OK);
    qkd_ring_close(r);
    munmap(h, len);
}

static void test_capacity_rules(void **state)
{
    struct qkd_ring *w, *r;
    /* A reader with capacity 0 never creates. */
    errno = 0;
    assert_int_equal(qkd_ring_open_reader(ring_name, 0, &r), QKD_RING_ERR_SYS);
    assert_int_equal(errno, ENOENT);
    /* Capacity bounds. */
    assert_int_equal(qkd_ring_open_writer(ring_name, QKD_RING_MIN_CAPACITY - 1, &w),
                     QKD_RING_ERR_SIZE);
    assert_int_equal(qkd_ring_open_writer(ring_name, QKD_RING_MIN_CAPACITY, &w), QKD_RING_OK);
    qkd_ring_close(w);
    assert_int_equal(qkd_ring_unlink(ring_name), QKD_RING_OK);
    assert_int_equal(qkd_ring_open_writer(ring_name, 0, &w), QKD_RING_ERR_SIZE);
    /* A reader first creates the ring; the writer then finds it. */
    assert_int_equal(qkd_ring_open_reader(ring_name, 8192, &r), QKD_RING_OK);
    assert_int_equal(qkd_ring_open_writer(ring_name, 4096, &w), QKD_RING_ERR_SIZE);
    assert_non_null(strstr(qkd_ring_last_error(), "capacity 8192"));
    assert_int_equal(qkd_ring_open_writer(ring_name, 8192, &w), QKD_RING_OK);
    struct qkd_ring *any;
    assert_int_equal(qkd_ring_open_reader(ring_name, 0, &any), QKD_RING_OK);
    assert_int_equal(qkd_ring_capacity(any), 8192);
    qkd_ring_close(any);
    qkd_ring_close(w);
    qkd_ring_close(r);
    /* Bad names. */
    assert_int_equal(qkd_ring_open_writer("noslash", 4096, &w), QKD_RING_ERR_SYS);
    assert_int_equal(qkd_ring_open_writer("/a/b", 4096, &w), QKD_RING_ERR_SYS);
}

static void test_reset_to(void **state)
{
    struct qkd_ring *w, *r;
    assert_int_equal(qkd_ring_open_writer(ring_name, 4096, &w), QKD_RING_OK);
    assert_int_equal(qkd_ring_open_reader(ring_name, 4096, &r), QKD_RING_OK);
    /* An empty ring moves forward anywhere. */
    assert_int_equal(qkd_ring_reset_to(w, 100000), QKD_RING_OK);
    assert_int_equal(qkd_ring_write_offset(r), 100000);
    assert_int_equal(qkd_ring_consume_offset(r), 100000);
    uint8_t buf[1000], out[1000];
    gen_fill(100000, buf, 1000);
    assert_int_equal(qkd_ring_append(w, buf, 1000, 5), QKD_RING_OK);
    assert_int_equal(qkd_ring_consume(r, 100200), QKD_RING_OK);
    /* Below the consume offset: never (offsets are not reused). */
    assert_int_equal(qkd_ring_reset_to(w, 100199), QKD_RING_ERR_RANGE);
    assert_int_equal(qkd_ring_reset_to(w, 0), QKD_RING_ERR_RANGE);
    /* Forward with unconsumed bytes: never. */
    assert_int_equal(qkd_ring_reset_to(w, 101001), QKD_RING_ERR_RANGE);
    /* Same offset: no-op. */
    assert_int_equal(qkd_ring_reset_to(w, 101000), QKD_RING_OK);
    assert_int_equal(qkd_ring_write_offset(r), 101000);
    /* Roll back an unconsumed tail: it is wiped and the offsets are written again. */
    assert_int_equal(qkd_ring_reset_to(w, 100600), QKD_RING_OK);
    assert_int_equal(qkd_ring_write_offset(r), 100600);
    assert_int_equal(qkd_ring_read(r, 100500, out, 101, NULL), QKD_RING_ERR_RANGE);
    size_t len;
    struct qkd_ring_shm *h = raw_map(&len);
    const uint8_t *data = (const uint8_t *)h + h->data_off;
    for (uint64_t o = 100600; o < 101000; o++)
        assert_int_equal(data[o % 4096], 0);
    munmap(h, len);
    memset(buf, 0xab, 400);
    assert_int_equal(qkd_ring_append(w, buf, 400, 9), QKD_RING_OK);
    assert_int_equal(qkd_ring_read(r, 100200, out, 800, NULL), QKD_RING_OK);
    assert_int_equal(gen_check(100200, out, 400), 0);
    assert_int_equal(out[400], 0xab);
    assert_int_equal(out[799], 0xab);
    /* Roll back all the way to consume, then the empty ring may move forward. */
    assert_int_equal(qkd_ring_reset_to(w, 100200), QKD_RING_OK);
    assert_int_equal(qkd_ring_reset_to(w, 200000), QKD_RING_OK);
    assert_int_equal(qkd_ring_free_space(w), 4096);
    qkd_ring_close(r);
    qkd_ring_close(w);
}

static void test_timestamps_and_stats(void **state)
{
    struct qkd_ring *w, *r;
    assert_int_equal(qkd_ring_open_writer(ring_name, 4096, &w), QKD_RING_OK);
    assert_int_equal(qkd_ring_open_reader(ring_name, 4096, &r), QKD_RING_OK);
    uint8_t buf[300], out[700];
    memset(buf, 1, sizeof(buf));
    /* [0,100) at 1000, [100,400) at 2000, [400,700) at 3000. */
    assert_int_equal(qkd_ring_append(w, buf, 100, 1000), QKD_RING_OK);
    assert_int_equal(qkd_ring_append(w, buf, 300, 2000), QKD_RING_OK);
    assert_int_equal(qkd_ring_append(w, buf, 300, 3000), QKD_RING_OK);
    uint64_t ts;
    assert_int_equal(qkd_ring_read(r, 50, out, 600, &ts), QKD_RING_OK);
    assert_int_equal(ts, 1000);
    assert_int_equal(qkd_ring_read(r, 256, out, 10, &ts), QKD_RING_OK);
    assert_int_equal(ts, 2000); /* granule [256,512) starts with bytes of the 2nd append */
    assert_int_equal(qkd_ring_read(r, 512, out, 10, &ts), QKD_RING_OK);
    assert_int_equal(ts, 3000);
    struct qkd_ring_stats s;
    qkd_ring_set_link(w, true, 1000000);
    qkd_ring_count_dropped(w, 1024);
    qkd_ring_count_dropped(w, 512);
    qkd_ring_count_dropped_n(w, 3, 300);
    qkd_ring_get_stats(r, &s);
    assert_true(s.link_up);
    assert_int_equal(s.skr_bps, 1000000);
    assert_int_equal(s.skr_current_bps, 0); /* not reported yet */
    qkd_ring_set_current_skr(w, 427206);
    qkd_ring_get_stats(r, &s);
    assert_int_equal(s.skr_current_bps, 427206);
    assert_int_equal(s.skr_bps, 1000000); /* the configured rate stays apart */
    assert_int_equal(s.blocks_distilled, 3);
    assert_int_equal(s.blocks_dropped, 5);
    assert_int_equal(s.bytes_dropped, 1836);
    assert_int_equal(s.last_distilled_ms, 3000);
    assert_int_equal(s.reader_pid, (uint64_t)getpid());
    assert_true(s.heartbeat_ms > 0);
    assert_true(s.link_changed_ms > 0);
    /* An observer leaves the reader pid alone. */
    struct qkd_ring *obs;
    assert_int_equal(qkd_ring_open_observer(ring_name, &obs), QKD_RING_OK);
    assert_int_equal(qkd_ring_write_offset(obs), 700);
    qkd_ring_close(obs);
    qkd_ring_get_stats(r, &s);
    assert_int_equal(s.reader_pid, (uint64_t)getpid());
    qkd_ring_set_link(w, false, 1000000);
    qkd_ring_get_stats(r, &s);
    assert_false(s.link_up);
    assert_true(qkd_ring_created_ms(r) > 0);
    assert_string_equal(qkd_ring_err_str(QKD_RING_ERR_NOSPACE),
                        "not enough free space in the ring");
    qkd_ring_close(r);
    qkd_ring_close(w);
}

/* A child process holds the reader and the writer role of the ring until it is killed. */
static pid_t hold_roles_in_child(void)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        alarm(60);
        struct qkd_ring *w, *r;
        if (qkd_ring_open_writer(ring_name, 4096, &w) != QKD_RING_OK) _exit(2);
        if (qkd_ring_open_reader(ring_name, 4096, &r) != QKD_RING_OK) _exit(3);
        if (write(p[1], "x", 1) != 1) _exit(4);
        for (;;)
            pause();
    }
    close(p[1]);
    char c;
    assert_int_equal(read(p[0], &c, 1), 1);
    close(p[0]);
    return pid;
}

/* Whether another open of the ring sees the role lock at byte (0 writer, 1 reader) taken. */
static bool role_locked(int byte)
{
    int fd = shm_open(ring_name, O_RDWR, 0);
    assert_true(fd >= 0);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1};
    assert_int_equal(fcntl(fd, F_OFD_GETLK, &fl), 0);
    close(fd);
    return fl.l_type != F_UNLCK;
}

static void test_one_reader_one_writer(void **state)
{
    pid_t pid = hold_roles_in_child();
    struct qkd_ring *r = NULL, *w = NULL, *obs = NULL;
    /* A second reader or writer in another process is refused, naming ring, role and pid. */
    assert_int_equal(qkd_ring_open_reader(ring_name, 0, &r), QKD_RING_ERR_BUSY);
    assert_null(r);
    assert_non_null(strstr(qkd_ring_last_error(), ring_name));
    assert_non_null(strstr(qkd_ring_last_error(), "already has a live reader"));
    char pidstr[32];
    snprintf(pidstr, sizeof(pidstr), "pid %d", (int)pid);
    assert_non_null(strstr(qkd_ring_last_error(), pidstr));
    assert_int_equal(qkd_ring_open_writer(ring_name, 4096, &w), QKD_RING_ERR_BUSY);
    assert_non_null(strstr(qkd_ring_last_error(), "already has a live writer"));
    /* Observers are not readers. */
    assert_int_equal(qkd_ring_open_observer(ring_name, &obs), QKD_RING_OK);
    qkd_ring_close(obs);
    /* SIGKILL releases both roles: a restart works. */
    kill(pid, SIGKILL);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_int_equal(qkd_ring_open_reader(ring_name, 0, &r), QKD_RING_OK);
    assert_int_equal(qkd_ring_open_writer(ring_name, 4096, &w), QKD_RING_OK);
    /* One process may open a role twice (it shares the lock) ... */
    struct qkd_ring *r2;
    assert_int_equal(qkd_ring_open_reader(ring_name, 0, &r2), QKD_RING_OK);
    qkd_ring_close(r2);
    /* ... and closing one handle keeps the role held for the other. */
    assert_true(role_locked(1));
    assert_true(role_locked(0));
    qkd_ring_close(r);
    qkd_ring_close(w);
    /* After the last close the roles are free. */
    assert_false(role_locked(1));
    assert_false(role_locked(0));
}

static void test_consume_from(void **state)
{
    struct qkd_ring *w, *r;
    assert_int_equal(qkd_ring_open_writer(ring_name, 4096, &w), QKD_RING_OK);
    assert_int_equal(qkd_ring_open_reader(ring_name, 4096, &r), QKD_RING_OK);
    uint8_t buf[1000];
    gen_fill(0, buf, sizeof(buf));
    assert_int_equal(qkd_ring_append(w, buf, sizeof(buf), 1), QKD_RING_OK);
    assert_int_equal(qkd_ring_consume_from(r, 0, 100), QKD_RING_OK);
    /* Someone who read at 0 too cannot consume again: the offset is not where it read. */
    assert_int_equal(qkd_ring_consume_from(r, 0, 100), QKD_RING_ERR_STALE);
    assert_int_equal(qkd_ring_consume_from(r, 0, 200), QKD_RING_ERR_STALE);
    assert_int_equal(qkd_ring_consume_offset(r), 100);
    /* Already at the target: an error, not a silent success. */
    assert_int_equal(qkd_ring_consume_from(r, 100, 100), QKD_RING_ERR_RANGE);
    assert_int_equal(qkd_ring_consume_from(r, 100, 1001), QKD_RING_ERR_RANGE);
    assert_int_equal(qkd_ring_consume_from(r, 100, 1000), QKD_RING_OK);
    assert_int_equal(qkd_ring_consume_offset(w), 1000);
    qkd_ring_close(r);
    qkd_ring_close(w);
}

static void test_replaced_underneath(void **state)
{
    struct qkd_ring *w, *r, *w2;
    assert_int_equal(qkd_ring_open_writer(ring_name, 4096, &w), QKD_RING_OK);
    assert_int_equal(qkd_ring_open_reader(ring_name, 0, &r), QKD_RING_OK);
    uint64_t id = qkd_ring_id(r);
    assert_true(id != 0);
    assert_int_equal(qkd_ring_id(w), id);
    assert_int_equal(qkd_ring_check_current(r), QKD_RING_OK);
    /* Removed and re-created: both old handles notice; the new ring has another id. */
    assert_int_equal(qkd_ring_unlink(ring_name), QKD_RING_OK);
    assert_int_equal(qkd_ring_check_current(r), QKD_RING_ERR_STALE);
    assert_non_null(strstr(qkd_ring_last_error(), "was removed"));
    assert_int_equal(qkd_ring_open_writer(ring_name, 4096, &w2), QKD_RING_OK);
    assert_true(qkd_ring_id(w2) != id && qkd_ring_id(w2) != 0);
    assert_int_equal(qkd_ring_check_current(r), QKD_RING_ERR_STALE);
    assert_non_null(strstr(qkd_ring_last_error(), "re-created"));
    assert_int_equal(qkd_ring_check_current(w), QKD_RING_ERR_STALE);
    assert_int_equal(qkd_ring_check_current(w2), QKD_RING_OK);
    /* The new ring has its own roles: a reader may attach although the old one is held. */
    struct qkd_ring *r2;
    assert_int_equal(qkd_ring_open_reader(ring_name, 0, &r2), QKD_RING_OK);
    qkd_ring_close(r2);
    qkd_ring_close(w2);
    qkd_ring_close(r);
    qkd_ring_close(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_read_consume, setup_name, teardown_name),
        cmocka_unit_test_setup_teardown(test_wrap, setup_name, teardown_name),
        cmocka_unit_test_setup_teardown(test_nospace_edge, setup_name, teardown_name),
        cmocka_unit_test_setup_teardown(test_two_processes, setup_name, teardown_name),
        cmocka_unit_test_setup_teardown(test_reader_restart, setup_name, teardown_name),
        cmocka_unit_test_setup_teardown(test_writer_restart, setup_name, teardown_name),
        cmocka_unit_test_setup_teardown(test_layout_refused, setup_name, teardown_name),
        cmocka_unit_test_setup_teardown(test_capacity_rules, setup_name, teardown_name),
        cmocka_unit_test_setup_teardown(test_reset_to, setup_name, teardown_name),
        cmocka_unit_test_setup_teardown(test_timestamps_and_stats, setup_name, teardown_name),
        cmocka_unit_test_setup_teardown(test_one_reader_one_writer, setup_name, teardown_name),
        cmocka_unit_test_setup_teardown(test_consume_from, setup_name, teardown_name),
        cmocka_unit_test_setup_teardown(test_replaced_underneath, setup_name, teardown_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
