/* test_hybrid_source.c: source names (canonical, case-insensitive parse, unknown names) and
 * the FIPS 203 / RFC 7748 message sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "source.h"

static void test_names(void **state)
{
    (void)state;
    enum hyb_source s;
    for (unsigned i = 0; i < HYB_SRC_COUNT; i++) {
        const char *n = hyb_source_name((enum hyb_source)i);
        assert_int_equal(hyb_source_parse(n, strlen(n), &s), 0);
        assert_int_equal(s, i);
    }
    assert_int_equal(hyb_source_parse("ml-kem-768", 10, &s), 0);
    assert_int_equal(s, HYB_SRC_MLKEM768);
    assert_int_equal(hyb_source_parse("x25519,QKD", 6, &s), 0);
    assert_int_equal(s, HYB_SRC_X25519);
    assert_int_equal(hyb_source_parse("ML-KEM", 6, &s), -1);
    assert_int_equal(hyb_source_parse("ML-KEM-7680", 11, &s), -1);
    assert_int_equal(hyb_source_parse("RSA", 3, &s), -1);
    assert_int_equal(hyb_source_parse("", 0, &s), -1);
    assert_string_equal(hyb_source_name((enum hyb_source)99), "?");
}

static void test_sizes(void **state)
{
    (void)state;
    assert_int_equal(hyb_source_pub_len(HYB_SRC_MLKEM512), 800);
    assert_int_equal(hyb_source_msg_len(HYB_SRC_MLKEM768), 1088);
    assert_int_equal(hyb_source_pub_len(HYB_SRC_MLKEM1024), 1568);
    assert_int_equal(hyb_source_secret_len(HYB_SRC_X448), 56);
    assert_int_equal(hyb_source_secret_len(HYB_SRC_QKD), 0);
    assert_true(hyb_source_is_kem(HYB_SRC_MLKEM1024));
    assert_false(hyb_source_is_kem(HYB_SRC_X25519));
    assert_true(hyb_source_is_ecdh(HYB_SRC_X448));
    assert_false(hyb_source_is_ecdh(HYB_SRC_QKD));
    assert_false(hyb_source_is_kem(HYB_SRC_QKD));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
