/* test_http_hdrs.c: unit tests of the HTTP parsers' header store (src/common/http_hdrs.c): the
 * bound at its edge, pairs walked in order from an offset, lookup by name in any case, a name
 * whose value never came. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "http_hdrs.h"

static void add_str(struct qkd_http_hdrs *h, const char *s)
{
    assert_int_equal(qkd_http_hdrs_add(h, s, strlen(s)), 0);
    assert_int_equal(qkd_http_hdrs_add(h, "", 1), 0);
}

static void test_bound_edge(void **state)
{
    (void)state;
    struct qkd_http_hdrs h;
    assert_int_equal(qkd_http_hdrs_init(&h, 8), 0);
    assert_int_equal(qkd_http_hdrs_add(&h, "abcdefg", 7), 0);
    assert_int_equal(qkd_http_hdrs_add(&h, "", 1), 0);   /* exactly 8 */
    assert_int_equal(qkd_http_hdrs_add(&h, "x", 1), -1); /* one more */
    assert_int_equal(h.len, 8);
    qkd_http_hdrs_free(&h);
    assert_null(h.buf);
}

static void test_walk_and_get(void **state)
{
    (void)state;
    struct qkd_http_hdrs h;
    assert_int_equal(qkd_http_hdrs_init(&h, 256), 0);
    add_str(&h, "/target");
    size_t from = h.len;
    add_str(&h, "Host");
    add_str(&h, "a");
    add_str(&h, "Expect");
    add_str(&h, "100-continue");
    add_str(&h, "host"); /* a second one: the first wins */
    add_str(&h, "b");
    size_t pos = from;
    const char *n, *v;
    assert_int_equal(qkd_http_hdrs_next(&h, &pos, &n, &v), 1);
    assert_string_equal(n, "Host");
    assert_string_equal(v, "a");
    assert_int_equal(qkd_http_hdrs_next(&h, &pos, &n, &v), 1);
    assert_string_equal(n, "Expect");
    assert_int_equal(qkd_http_hdrs_next(&h, &pos, &n, &v), 1);
    assert_int_equal(qkd_http_hdrs_next(&h, &pos, &n, &v), 0);
    assert_string_equal(qkd_http_hdrs_get(&h, from, "HOST"), "a");
    assert_string_equal(qkd_http_hdrs_get(&h, from, "expect"), "100-continue");
    assert_null(qkd_http_hdrs_get(&h, from, "Content-Length"));
    add_str(&h, "Dangling"); /* a name whose value never came is not a pair */
    assert_null(qkd_http_hdrs_get(&h, from, "Dangling"));
    qkd_http_hdrs_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bound_edge),
        cmocka_unit_test(test_walk_and_get),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
