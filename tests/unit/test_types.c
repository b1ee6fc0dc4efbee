/* test_types.c: unit tests of status code texts (both columns), status_ok and KSID helpers (zero
 * test, text round trip, malformed strings). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "qkd/types.h"
#include "status.h"

static void test_status_str(void **state)
{
    (void)state;
    assert_string_equal(qkd_status_str(0), "successful");
    assert_non_null(strstr(qkd_status_str(2), "insufficient key"));
    assert_string_equal(qkd_status_str(6), "TIMEOUT_ERROR");
    assert_non_null(strstr(qkd_status_str(8), "metadata buffer too small"));
    for (uint32_t s = 0; s <= QKD_STATUS_MAX; s++)
        assert_string_not_equal(qkd_status_str(s), "unknown status");
    assert_string_equal(qkd_status_str(QKD_STATUS_MAX + 1), "unknown status");
    assert_string_equal(qkd_status_str(UINT32_MAX), "unknown status");
}

/* The short meanings qkd-client prints (docs/client.md), from the same table. */
static void test_status_meaning(void **state)
{
    (void)state;
    assert_string_equal(qkd_status_meaning(2), "insufficient key available");
    assert_string_equal(qkd_status_meaning(6), "timeout");
    assert_string_equal(qkd_status_meaning(8), "metadata buffer too small");
    for (uint32_t s = 0; s <= QKD_STATUS_MAX; s++)
        assert_string_not_equal(qkd_status_meaning(s), "unknown status");
    assert_string_equal(qkd_status_meaning(QKD_STATUS_MAX + 1), "unknown status");
    assert_string_equal(qkd_status_meaning(UINT32_MAX), "unknown status");
}

static void test_status_ok(void **state)
{
    (void)state;
    for (uint32_t s = 0; s <= QKD_STATUS_MAX + 1; s++) {
        bool want = (s == 0 || s == 1 || s == 7);
        assert_int_equal(qkd_status_ok(s), want);
    }
    assert_false(qkd_status_ok(UINT32_MAX));
}

static void test_ksid_zero(void **state)
{
    (void)state;
    struct qkd_ksid k;
    memset(&k, 0, sizeof(k));
    assert_true(qkd_ksid_is_zero(&k));
    k.b[15] = 1;
    assert_false(qkd_ksid_is_zero(&k));
    k.b[15] = 0;
    k.b[0] = 0x80;
    assert_false(qkd_ksid_is_zero(&k));
}

static void test_ksid_text_round_trip(void **state)
{
    (void)state;
    struct qkd_ksid k, k2;
    for (int i = 0; i < QKD_KSID_LEN; i++)
        k.b[i] = (uint8_t)(0x10 * i + 0x0A);
    char s[QKD_KSID_STRLEN];
    qkd_ksid_to_str(&k, s);
    assert_int_equal(strlen(s), 36);
    assert_string_equal(s, "0a1a2a3a-4a5a-6a7a-8a9a-aabacadaeafa");
    assert_int_equal(qkd_ksid_from_str(s, &k2), 0);
    assert_memory_equal(k.b, k2.b, QKD_KSID_LEN);
    /* Upper case is accepted and yields the same bytes. */
    assert_int_equal(qkd_ksid_from_str("0A1A2A3A-4A5A-6A7A-8A9A-AABACADAEAFA", &k2), 0);
    assert_memory_equal(k.b, k2.b, QKD_KSID_LEN);
    memset(&k, 0, sizeof(k));
    qkd_ksid_to_str(&k, s);
    assert_string_equal(s, "00000000-0000-0000-0000-000000000000");
}

static void test_ksid_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "0a1a2a3a-4a5a-6a7a-8a9a-aabacadaeaf",   /* one short */
        "0a1a2a3a-4a5a-6a7a-8a9a-aabacadaeafa0", /* one long */
        "0a1a2a3a4a5a-6a7a-8a9a-aabacadaeafa-",  /* dash misplaced */
        "0a1a2a3a-4a5a-6a7a-8a9a-aabacadaeafg",  /* non-hex */
        "0a1a2a3a-4a5a-6a7a-8a9a+aabacadaeafa",  /* wrong separator */
        " a1a2a3a-4a5a-6a7a-8a9a-aabacadaeafa",  /* space */
        "{0a1a2a3a-4a5a-6a7a-8a9a-aabacadaeaf}", /* braces */
        "0a1a2a3a04a5a06a7a08a9a0aabacadaeafa",  /* no dashes */
    };
    struct qkd_ksid k;
    memset(&k, 0x55, sizeof(k));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(qkd_ksid_from_str(bad[i], &k), -1);
        assert_int_equal(k.b[0], 0x55); /* untouched on failure */
    }
    assert_int_equal(qkd_ksid_from_str(NULL, &k), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_str),
        cmocka_unit_test(test_status_meaning),
        cmocka_unit_test(test_status_ok),
        cmocka_unit_test(test_ksid_zero),
        cmocka_unit_test(test_ksid_text_round_trip),
        cmocka_unit_test(test_ksid_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
