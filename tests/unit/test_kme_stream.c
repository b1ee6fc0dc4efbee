/* test_kme_stream.c: unit tests of the key server's stream table (stream.c): identity rules,
 * the table limit, the window in chunks (the window itself: test_window.c) and allocation
 * records; sequential-access detection and the fresh run that allocation ahead
 * may cover. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stream.h"

static struct qkd_qos qos_chunk(uint32_t chunk)
{
    struct qkd_qos q;
    memset(&q, 0, sizeof(q));
    q.key_chunk_size = chunk;
    q.timeout = 1000;
    q.ttl = 10;
    return q;
}

static struct qkd_ksid ksid_n(uint8_t n)
{
    struct qkd_ksid k;
    memset(&k, 0, sizeof(k));
    k.b[0] = n;
    k.b[15] = (uint8_t)(n * 7);
    return k;
}

static void test_table_limit_and_lookup(void **state)
{
    (void)state;
    struct kme_streams t;
    assert_int_equal(kme_streams_init(&t, 8, 3), 0);
    struct qkd_qos q = qos_chunk(32);
    struct kme_stream *s;
    for (uint8_t i = 1; i <= 3; i++) {
        struct qkd_ksid k = ksid_n(i);
        assert_int_equal(kme_stream_add(&t, &k, &q, 1024, &s), 0);
    }
    struct qkd_ksid k4 = ksid_n(4), k2 = ksid_n(2);
    assert_int_equal(kme_stream_add(&t, &k4, &q, 1024, &s), -1); /* full at max */
    assert_non_null(kme_stream_find(&t, &k2));
    assert_null(kme_stream_find(&t, &k4));
    s = kme_stream_find(&t, &k2);
    kme_stream_remove(&t, s);
    assert_null(kme_stream_find(&t, &k2));
    assert_int_equal(kme_stream_add(&t, &k4, &q, 1024, &s), 0);
    struct qkd_ksid k1 = ksid_n(1);
    assert_int_equal(kme_stream_add(&t, &k1, &q, 1024, &s), -1); /* duplicate */
    assert_int_equal(t.count, 3);
    kme_streams_free(&t);
}

static void test_identity(void **state)
{
    (void)state;
    struct kme_streams t;
    assert_int_equal(kme_streams_init(&t, 8, 10), 0);
    struct qkd_qos q = qos_chunk(32);
    struct qkd_ksid k = ksid_n(9);
    struct kme_stream *s;
    assert_int_equal(kme_stream_add(&t, &k, &q, 1024, &s), 0);
    /* peer-announced, not attached here: nobody owns it */
    assert_false(kme_stream_owned_by(s, "sha256:aaaa"));
    kme_stream_attach(s, "sha256:aaaa");
    assert_true(kme_stream_owned_by(s, "sha256:aaaa"));
    assert_false(kme_stream_owned_by(s, "sha256:aaab"));
    assert_false(kme_stream_owned_by(s, "sha256:aaa"));
    assert_false(kme_stream_owned_by(s, NULL));
    kme_streams_free(&t);
}

/* The window in chunks (window_bytes / chunk, at least one); its behaviour is window.c's
 * (test_window.c). */
static void test_window_edges(void **state)
{
    (void)state;
    struct kme_streams t;
    assert_int_equal(kme_streams_init(&t, 8, 10), 0);
    struct qkd_qos q = qos_chunk(32);
    struct qkd_ksid k = ksid_n(1);
    struct kme_stream *s;
    assert_int_equal(kme_stream_add(&t, &k, &q, 1024 * 1024, &s), 0);
    assert_int_equal(s->win.size, 32768);
    assert_int_equal(kme_stream_index_state(s, 32767), KME_IDX_OPEN);
    assert_int_equal(kme_stream_index_state(s, 32768), KME_IDX_OUTSIDE);
    assert_int_equal(kme_stream_mark_delivered(s, 0), 0);
    assert_int_equal(kme_stream_index_state(s, 0), KME_IDX_DELIVERED);
    assert_int_equal(kme_stream_mark_delivered(s, 0), -1);            /* twice */
    assert_int_equal(kme_stream_index_state(s, 32768), KME_IDX_OPEN); /* window moved */

    /* a window smaller than one chunk still holds one chunk */
    struct qkd_ksid k2 = ksid_n(2);
    struct qkd_qos big = qos_chunk(1024);
    assert_int_equal(kme_stream_add(&t, &k2, &big, 100, &s), 0);
    assert_int_equal(s->win.size, 1);
    assert_int_equal(kme_stream_index_state(s, 0), KME_IDX_OPEN);
    assert_int_equal(kme_stream_index_state(s, 1), KME_IDX_OUTSIDE);
    /* a new QoS before any delivery re-sizes it */
    assert_true(qkd_window_untouched(&s->win));
    s->qos.key_chunk_size = 1;
    kme_stream_set_window(s, 100, t.max_wchunks);
    assert_int_equal(s->win.size, 100);
    assert_int_equal(kme_stream_index_state(s, 99), KME_IDX_OPEN);
    kme_streams_free(&t);
}

/* The window in chunks (and its delivered bitmap) is bounded by max_wchunks: a tiny chunk
 * gets a window of max_wchunks chunks, not window_bytes bits (docs/kme.md, "Limits"). */
static void test_window_bounded_in_chunks(void **state)
{
    (void)state;
    struct kme_streams t;
    assert_int_equal(kme_streams_init(&t, 8, 10), 0);
    assert_int_equal(t.max_wchunks, KME_DEF_MAX_WCHUNKS);
    t.max_wchunks = 1000;
    struct kme_stream *s;
    struct qkd_ksid k1 = ksid_n(1), k2 = ksid_n(2), k3 = ksid_n(3);
    struct qkd_qos at = qos_chunk(1024); /* 1000 chunks exactly: at the bound */
    assert_int_equal(kme_stream_add(&t, &k1, &at, 1024 * 1000, &s), 0);
    assert_int_equal(s->win.size, 1000);
    struct qkd_qos one = qos_chunk(1); /* 1024000 chunks wanted */
    assert_int_equal(kme_stream_add(&t, &k2, &one, 1024 * 1000, &s), 0);
    assert_int_equal(s->win.size, 1000);
    assert_int_equal(kme_stream_index_state(s, 999), KME_IDX_OPEN);
    assert_int_equal(kme_stream_index_state(s, 1000), KME_IDX_OUTSIDE);
    assert_int_equal(kme_stream_mark_delivered(s, 999), 0); /* bitmap of 1000 bits */
    /* re-sized windows are bounded too */
    assert_int_equal(kme_stream_add(&t, &k3, &at, 1024 * 1000, &s), 0);
    s->qos.key_chunk_size = 1;
    kme_stream_set_window(s, 1024 * 1000, t.max_wchunks);
    assert_int_equal(s->win.size, 1000);
    kme_streams_free(&t);
}

static void test_alloc_records(void **state)
{
    (void)state;
    struct kme_streams t;
    assert_int_equal(kme_streams_init(&t, 8, 10), 0);
    struct qkd_qos q = qos_chunk(16);
    struct qkd_ksid k = ksid_n(4);
    struct kme_stream *s;
    assert_int_equal(kme_stream_add(&t, &k, &q, 4096, &s), 0);
    static const uint32_t order[] = {5, 1, 9, 3, 7, 0, 2};
    struct kme_keyslab *slab = kme_keyslab_new(7 * 16);
    assert_non_null(slab);
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        struct kme_alloc *a = kme_stream_alloc_new(s, order[i]);
        assert_non_null(a);
        kme_alloc_set_key(a, slab, i * 16, 16);
        a->offset = order[i] * 16u;
    }
    assert_int_equal(slab->refs, 7);
    assert_null(kme_stream_alloc_new(s, 9)); /* exists */
    for (size_t i = 1; i < s->nallocs; i++)
        assert_true(s->allocs[i - 1]->index < s->allocs[i]->index);
    struct kme_alloc *a = kme_stream_alloc_find(s, 7);
    assert_non_null(a);
    assert_int_equal(a->offset, 112);
    assert_null(kme_stream_alloc_find(s, 4));
    kme_stream_alloc_free(s, a);
    assert_null(kme_stream_alloc_find(s, 7));
    assert_int_equal(s->nallocs, 6);
    assert_int_equal(slab->refs, 6);
    kme_streams_free(&t); /* frees (wipes) the rest, and the slab with the last one */
}

/* A run's slab: each chunk is wiped when its allocation goes; the slab lives until the last
 * one goes (ASan: no leak, no use after free); an unused slab is released. */
static void test_keyslab(void **state)
{
    (void)state;
    struct kme_streams t;
    assert_int_equal(kme_streams_init(&t, 8, 10), 0);
    struct qkd_qos q = qos_chunk(8);
    struct qkd_ksid k = ksid_n(9);
    struct kme_stream *s;
    assert_int_equal(kme_stream_add(&t, &k, &q, 4096, &s), 0);
    struct kme_keyslab *slab = kme_keyslab_new(3 * 8);
    assert_non_null(slab);
    uint8_t *base = slab->buf->data;
    for (uint32_t i = 0; i < 3; i++) {
        struct kme_alloc *a = kme_stream_alloc_new(s, i);
        assert_non_null(a);
        kme_alloc_set_key(a, slab, i * 8, 8);
        memset(a->key, 0xa5, 8);
        assert_ptr_equal(a->key, base + i * 8);
    }
    kme_keyslab_release_unused(slab); /* in use: kept */
    assert_int_equal(slab->refs, 3);
    kme_stream_alloc_free(s, kme_stream_alloc_find(s, 1));
    static const uint8_t zero[8];
    assert_memory_equal(base + 8, zero, 8); /* the delivered chunk is wiped */
    assert_memory_not_equal(base, zero, 8); /* the others are intact */
    assert_memory_not_equal(base + 16, zero, 8);
    assert_int_equal(slab->refs, 2);
    kme_stream_alloc_free(s, kme_stream_alloc_find(s, 0));
    kme_stream_alloc_free(s, kme_stream_alloc_find(s, 2)); /* the slab goes here */
    assert_int_equal(s->nallocs, 0);
    kme_keyslab_release_unused(kme_keyslab_new(16)); /* never used: freed */
    kme_keyslab_release_unused(NULL);
    kme_streams_free(&t);
}

static void test_sequential_detection(void **state)
{
    (void)state;
    struct kme_streams t;
    assert_int_equal(kme_streams_init(&t, 8, 10), 0);
    struct qkd_qos q = qos_chunk(32);
    struct qkd_ksid k = ksid_n(5);
    struct kme_stream *s;
    assert_int_equal(kme_stream_add(&t, &k, &q, 32 * 100, &s), 0);
    assert_int_equal(s->ahead_limit, UINT64_MAX);
    kme_stream_note_get(s, 0); /* the first call is no run yet */
    assert_int_equal(s->seq_run, 0);
    kme_stream_note_get(s, 1);
    kme_stream_note_get(s, 2);
    assert_int_equal(s->seq_run, 2);
    kme_stream_note_get(s, 2); /* the same index again breaks the run */
    assert_int_equal(s->seq_run, 0);
    kme_stream_note_get(s, 3);
    assert_int_equal(s->seq_run, 1);
    kme_stream_note_get(s, 10); /* a jump */
    assert_int_equal(s->seq_run, 0);
    kme_stream_note_get(s, UINT32_MAX);
    kme_stream_note_get(s, 0); /* no wrap into a run */
    assert_int_equal(s->seq_run, 0);
    kme_streams_free(&t);
}

static void test_fresh_run(void **state)
{
    (void)state;
    struct kme_streams t;
    assert_int_equal(kme_streams_init(&t, 8, 10), 0);
    struct qkd_qos q = qos_chunk(32);
    struct qkd_ksid k = ksid_n(6);
    struct kme_stream *s;
    assert_int_equal(kme_stream_add(&t, &k, &q, 32 * 16, &s), 0); /* window 16 chunks */
    assert_int_equal(kme_stream_fresh_run(s, 0, 64), 16);         /* stops at the window */
    assert_int_equal(kme_stream_fresh_run(s, 15, 64), 1);
    assert_int_equal(kme_stream_fresh_run(s, 16, 64), 0); /* outside */
    assert_int_equal(kme_stream_fresh_run(s, 0, 5), 5);   /* stops at max */
    assert_int_equal(kme_stream_fresh_run(s, 0, 0), 0);
    assert_non_null(kme_stream_alloc_new(s, 6)); /* an allocation stops the run */
    assert_non_null(kme_stream_alloc_new(s, 2));
    assert_int_equal(kme_stream_fresh_run(s, 3, 64), 3);
    assert_int_equal(kme_stream_fresh_run(s, 2, 64), 0);
    assert_int_equal(kme_stream_fresh_run(s, 0, 64), 2);
    assert_int_equal(kme_stream_mark_delivered(s, 4), 0); /* so does a delivered index */
    assert_int_equal(kme_stream_fresh_run(s, 3, 64), 1);
    assert_int_equal(kme_stream_fresh_run(s, 7, 64), 9);
    /* the last index of the u32 space: the run ends there */
    struct qkd_ksid k2 = ksid_n(7);
    struct kme_stream *s2;
    assert_int_equal(kme_stream_add(&t, &k2, &q, 32ull * 1024 * 1024, &s2), 0);
    s2->win.base = UINT32_MAX - 2;
    assert_int_equal(kme_stream_fresh_run(s2, UINT32_MAX - 1, 64), 2);
    kme_streams_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_limit_and_lookup),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_window_bounded_in_chunks),
        cmocka_unit_test(test_window_edges),
        cmocka_unit_test(test_alloc_records),
        cmocka_unit_test(test_sequential_detection),
        cmocka_unit_test(test_fresh_run),
        cmocka_unit_test(test_keyslab),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
