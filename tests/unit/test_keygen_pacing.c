/* test_keygen_pacing.c: unit tests of src/keygen/pacing.c: the token bucket delivers the SKR
 * exactly over time, in blocks of --block-bytes when the rate allows, in smaller blocks so at
 * least 20 are sent per second at low rates, and loses (rather than bursts) tokens when the
 * sender stalls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pacing.h"

#define MS 1000000ull

/* Runs the bucket with a tick every tick_ms for secs seconds; returns bytes taken and the
 * number of ticks in which anything was taken. */
static uint64_t run(struct kg_pacer *p, uint64_t tick_ms, uint64_t secs, uint64_t *busy_ticks,
                    size_t *max_block)
{
    uint64_t taken = 0, now = p->last_ns;
    *busy_ticks = 0;
    *max_block = 0;
    for (uint64_t t = 0; t < secs * 1000 / tick_ms; t++) {
        now += tick_ms * MS;
        kg_pacer_refill(p, now);
        size_t n, in_tick = 0;
        while ((n = kg_pacer_take(p)) > 0) {
            taken += n;
            in_tick += n;
            if (n > *max_block) *max_block = n;
        }
        *busy_ticks += in_tick > 0;
    }
    return taken;
}

static void test_rate_exact(void **state)
{
    struct kg_pacer p;
    uint64_t busy;
    size_t maxb;
    kg_pacer_init(&p, 1000000, 1024, 1000 * MS); /* 125000 B/s */
    assert_int_equal(p.chunk, 1024);
    uint64_t got = run(&p, KG_PACE_TICK_MS, 10, &busy, &maxb);
    /* Within one block of 1.25 MB. */
    assert_true(got <= 1250000 && got > 1250000 - 1024);
    assert_int_equal(maxb, 1024);
    assert_true(busy >= 900); /* smooth: nearly every 10 ms tick sends */
    assert_int_equal(p.lost, 0);
}

static void test_low_rate_small_blocks(void **state)
{
    struct kg_pacer p;
    uint64_t busy;
    size_t maxb;
    kg_pacer_init(&p, 8000, 1024, 0); /* 1000 B/s -> 50-byte blocks, 20 per second */
    assert_int_equal(p.chunk, 50);
    uint64_t got = run(&p, KG_PACE_TICK_MS, 10, &busy, &maxb);
    assert_true(got <= 10000 && got >= 9950);
    assert_true(busy >= 10 * KG_PACE_MIN_SENDS_PER_S - 1);
    /* 1 bit/s still makes progress in 1-byte blocks. */
    kg_pacer_init(&p, 8, 1024, 0);
    assert_int_equal(p.chunk, 1);
    got = run(&p, KG_PACE_TICK_MS, 10, &busy, &maxb);
    assert_true(got >= 9 && got <= 10);
}

static void test_stall_loses_tokens(void **state)
{
    struct kg_pacer p;
    kg_pacer_init(&p, 1000000, 1024, 0);
    /* A 2 s stall yields at most the bucket (100 ms of key plus a block), not 2 s of key. */
    kg_pacer_refill(&p, 2000 * MS);
    uint64_t burst = 0;
    size_t n;
    while ((n = kg_pacer_take(&p)) > 0)
        burst += n;
    assert_true(burst <= 1024 + 12500);
    assert_true(p.lost > 200000);
    /* restart empties the bucket. */
    kg_pacer_refill(&p, 2100 * MS);
    kg_pacer_restart(&p, 2100 * MS);
    assert_int_equal(kg_pacer_take(&p), 0);
    /* The clock going backwards adds nothing. */
    kg_pacer_refill(&p, 1000 * MS);
    assert_int_equal(kg_pacer_take(&p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_exact),
        cmocka_unit_test(test_low_rate_small_blocks),
        cmocka_unit_test(test_stall_loses_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
