/* test_keygen_emul.c: unit tests of src/keygen/emul.c: the binary entropy, the QBER rate
 * fraction at 0, 5, 11 and 20 % (and the bits/s it gives), the option parsers at their edges,
 * and the outage schedule (windows, next change, profile checks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "emul.h"

static void assert_near(double got, double want, double eps)
{
    if (got < want - eps || got > want + eps) fail_msg("%.9f is not %.9f +- %g", got, want, eps);
}

static void test_binary_entropy(void **state)
{
    assert_near(kg_binary_entropy(0.0), 0.0, 1e-12);
    assert_near(kg_binary_entropy(1.0), 0.0, 1e-12);
    assert_near(kg_binary_entropy(0.5), 1.0, 1e-12);
    assert_near(kg_binary_entropy(0.05), 0.286396957, 1e-8);
    assert_near(kg_binary_entropy(0.2), 0.721928095, 1e-8);
    assert_near(kg_binary_entropy(0.3), kg_binary_entropy(0.7), 1e-12); /* symmetric */
    assert_near(kg_binary_entropy(-0.1), 0.0, 1e-12);
}

static void test_qber_fraction(void **state)
{
    /* 0 %: the full SKR */
    assert_near(kg_qber_fraction(0.0), 1.0, 1e-12);
    assert_int_equal(kg_qber_skr(1000000, 0.0), 1000000);
    /* 5 %: 1 - 2 h(0.05) = 0.427206 */
    assert_near(kg_qber_fraction(5.0), 0.427206086, 1e-8);
    assert_int_equal(kg_qber_skr(2000000, 5.0), 854412);
    /* 11 %: practically nothing (1 - 2 h(0.11) = 0.00016) */
    double f11 = kg_qber_fraction(11.0);
    assert_true(f11 >= 0.0 && f11 < 0.001);
    assert_true(kg_qber_skr(1000000, 11.0) < 1000);
    /* a little above: nothing at all */
    assert_near(kg_qber_fraction(11.1), 0.0, 1e-12);
    /* 20 %: no key */
    assert_near(kg_qber_fraction(20.0), 0.0, 1e-12);
    assert_int_equal(kg_qber_skr(1000000, 20.0), 0);
    assert_int_equal(kg_qber_skr(1000000, 50.0), 0);
    /* monotonic on [0, 11] */
    for (int i = 1; i <= 110; i++)
        assert_true(kg_qber_fraction(i / 10.0) < kg_qber_fraction((i - 1) / 10.0));
}

static void test_parse_qber(void **state)
{
    double p = -1;
    assert_int_equal(kg_parse_qber("0", &p), 0);
    assert_near(p, 0.0, 0);
    assert_int_equal(kg_parse_qber("5", &p), 0);
    assert_near(p, 5.0, 1e-12);
    assert_int_equal(kg_parse_qber("2.5", &p), 0);
    assert_near(p, 2.5, 1e-12);
    assert_int_equal(kg_parse_qber("50", &p), 0); /* the edge */
    assert_near(p, 50.0, 1e-12);
    const char *bad[] = {"50.0001",
                         "51",
                         "-1",
                         "",
                         "abc",
                         "5%",
                         "1e1",
                         ".5",
                         "5.",
                         "1.23456",
                         "99999999999999999999",
                         " 5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p = -1;
        assert_int_equal(kg_parse_qber(bad[i], &p), -1);
        assert_near(p, -1, 0);
    }
    assert_int_equal(kg_parse_qber(NULL, &p), -1);
}

static void test_parse_seconds(void **state)
{
    uint32_t ms = 7;
    assert_int_equal(kg_parse_seconds_ms("2", &ms), 0);
    assert_int_equal(ms, 2000);
    assert_int_equal(kg_parse_seconds_ms("0.5", &ms), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(kg_parse_seconds_ms("1.25", &ms), 0);
    assert_int_equal(ms, 1250);
    assert_int_equal(kg_parse_seconds_ms("0.01", &ms), 0); /* KG_OUTAGE_MIN_MS */
    assert_int_equal(ms, KG_OUTAGE_MIN_MS);
    assert_int_equal(kg_parse_seconds_ms("86400", &ms), 0); /* KG_OUTAGE_MAX_MS */
    assert_int_equal(ms, KG_OUTAGE_MAX_MS);
    assert_int_equal(kg_parse_seconds_ms("0", &ms), 0); /* off */
    assert_int_equal(ms, 0);
    const char *bad[] = {"0.009", "86400.001", "-1", "", "x", "1.0001", "1s", "1e3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(kg_parse_seconds_ms(bad[i], &ms), -1);
}

static void test_outage_schedule(void **state)
{
    struct kg_outage off = {0, 0}, o = {3000, 1000};
    assert_null(kg_outage_check(&off));
    assert_false(kg_outage_active(&off, 5000));
    assert_int_equal(kg_outage_next_change(&off, 5000), 0);
    assert_null(kg_outage_check(&o));
    /* no outage before the first period ends */
    assert_false(kg_outage_active(&o, 0));
    assert_false(kg_outage_active(&o, 2999));
    assert_int_equal(kg_outage_next_change(&o, 0), 3000);
    assert_int_equal(kg_outage_next_change(&o, 2999), 1);
    /* [3000, 4000) down, [4000, 6000) up, [6000, 7000) down */
    assert_true(kg_outage_active(&o, 3000));
    assert_true(kg_outage_active(&o, 3999));
    assert_int_equal(kg_outage_next_change(&o, 3000), 1000);
    assert_int_equal(kg_outage_next_change(&o, 3500), 500);
    assert_false(kg_outage_active(&o, 4000));
    assert_int_equal(kg_outage_next_change(&o, 4000), 2000);
    assert_false(kg_outage_active(&o, 5999));
    assert_true(kg_outage_active(&o, 6000));
    assert_true(kg_outage_active(&o, 300000 + 999));
    assert_false(kg_outage_active(&o, 300000 + 1000));
    /* the next change is always ahead and lands on a change */
    for (uint64_t t = 0; t < 20000; t += 7) {
        uint64_t n = kg_outage_next_change(&o, t);
        assert_true(n >= 1);
        assert_int_not_equal(kg_outage_active(&o, t + n), kg_outage_active(&o, t + n - 1));
    }
}

static void test_outage_check(void **state)
{
    struct kg_outage o = {3000, 0};
    assert_non_null(strstr(kg_outage_check(&o), "--outage-for"));
    o = (struct kg_outage){0, 1000};
    assert_non_null(strstr(kg_outage_check(&o), "--outage-every"));
    o = (struct kg_outage){1000, 1000}; /* never up again */
    assert_non_null(strstr(kg_outage_check(&o), "shorter"));
    o = (struct kg_outage){1000, 1000 - KG_OUTAGE_MIN_MS + 1};
    assert_non_null(kg_outage_check(&o));
    o = (struct kg_outage){1000, 1000 - KG_OUTAGE_MIN_MS}; /* the edge */
    assert_null(kg_outage_check(&o));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_entropy),  cmocka_unit_test(test_qber_fraction),
        cmocka_unit_test(test_parse_qber),      cmocka_unit_test(test_parse_seconds),
        cmocka_unit_test(test_outage_schedule), cmocka_unit_test(test_outage_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
