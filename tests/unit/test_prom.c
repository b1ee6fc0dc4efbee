/* test_prom.c: unit tests of the Prometheus exposition writer (src/common/prom.c) and the
 * metrics endpoint's handler (src/common/obs.c; docs/observability.md): family headers, label
 * escaping, number formatting, cumulative histograms, /healthz 200 and 503 with reasons, 404
 * and 405, and the self-contained status page. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>
#include <cmocka.h>

#include "obs.h"
#include "prom.h"

static void test_family_and_escaping(void **state)
{
    (void)state;
    struct qkd_sbuf b = {0};
    qkd_prom_family(&b, "qkd_x_total", "counter", "A \\ help\nline.");
    struct qkd_prom_label l[2] = {{"link", "a\"b\\c\nd"}, {"api", "004"}};
    qkd_prom_sample(&b, "qkd_x_total", l, 2, 42);
    qkd_prom_sample(&b, "qkd_x_total", NULL, 0, 0.5);
    qkd_prom_sample(&b, "qkd_x_total", NULL, 0, 1e20);
    qkd_prom_sample(&b, "qkd_x_total", NULL, 0, NAN);
    qkd_prom_sample(&b, "qkd_x_total", NULL, 0, -INFINITY);
    assert_string_equal(b.p, "# HELP qkd_x_total A \\\\ help\\nline.\n"
                             "# TYPE qkd_x_total counter\n"
                             "qkd_x_total{link=\"a\\\"b\\\\c\\nd\",api=\"004\"} 42\n"
                             "qkd_x_total 0.5\n"
                             "qkd_x_total 1e+20\n"
                             "qkd_x_total NaN\n"
                             "qkd_x_total -Inf\n");
    qkd_sbuf_free(&b);
}

static void test_histogram(void **state)
{
    (void)state;
    const double bounds[] = {0.1, 1};
    struct qkd_prom_hist h;
    qkd_prom_hist_init(&h, bounds, 2);
    qkd_prom_hist_observe(&h, 0.05);
    qkd_prom_hist_observe(&h, 0.1); /* le is inclusive */
    qkd_prom_hist_observe(&h, 0.5);
    qkd_prom_hist_observe(&h, 7);
    struct qkd_sbuf b = {0};
    struct qkd_prom_label l = {"peer", "bob"};
    qkd_prom_hist_write(&b, "qkd_d_seconds", &l, 1, &h);
    assert_string_equal(b.p, "qkd_d_seconds_bucket{peer=\"bob\",le=\"0.1\"} 2\n"
                             "qkd_d_seconds_bucket{peer=\"bob\",le=\"1\"} 3\n"
                             "qkd_d_seconds_bucket{peer=\"bob\",le=\"+Inf\"} 4\n"
                             "qkd_d_seconds_sum{peer=\"bob\"} 7.65\n"
                             "qkd_d_seconds_count{peer=\"bob\"} 4\n");
    b.len = 0;
    qkd_prom_hist_write(&b, "qkd_e_seconds", NULL, 0, &h);
    assert_non_null(strstr(b.p, "qkd_e_seconds_bucket{le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(b.p, "qkd_e_seconds_count 4\n"));
    qkd_sbuf_free(&b);
}

static int sick;
static void metrics(struct qkd_sbuf *out, void *arg)
{
    (void)arg;
    qkd_prom_one(out, "qkd_test", "gauge", "Test.", 7);
}
static void health(struct qkd_obs_health *h, void *arg)
{
    (void)arg;
    for (int i = 0; i < sick; i++)
        qkd_obs_unhealthy(h, "link \"%d\" down", i);
}

static void get(struct qkd_obs *o, enum qkd_http_method m, const char *path,
                struct qkd_http_resp *r)
{
    struct qkd_http_req req = {.method = m, .path = path, .query = ""};
    memset(r, 0, sizeof *r);
    qkd_obs_handle(&req, r, o);
}

static void test_endpoints(void **state)
{
    (void)state;
    struct qkd_obs o = {
        .program = "qkd-test", .node = "alice", .metrics = metrics, .health = health};
    struct qkd_http_resp r;
    get(&o, QKD_HTTP_GET, "/metrics", &r);
    assert_int_equal(r.status, 0); /* 200 */
    assert_string_equal(r.content_type, QKD_PROM_CONTENT_TYPE);
    assert_non_null(strstr(r.body.p, "qkd_build_info{program=\"qkd-test\",node=\"alice\"} 1\n"));
    assert_non_null(strstr(r.body.p, "\nqkd_test 7\n"));
    qkd_sbuf_free(&r.body);
    sick = 0;
    get(&o, QKD_HTTP_GET, "/healthz", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.p, "{\"status\":\"ok\"}\n");
    qkd_sbuf_free(&r.body);
    sick = QKD_OBS_MAX_REASONS + 3; /* capped at QKD_OBS_MAX_REASONS */
    get(&o, QKD_HTTP_GET, "/healthz", &r);
    assert_int_equal(r.status, 503);
    assert_non_null(
        strstr(r.body.p, "{\"status\":\"unavailable\",\"reasons\":[\"link \\\"0\\\" down\""));
    assert_non_null(strstr(r.body.p, "link \\\"15\\\" down"));
    assert_null(strstr(r.body.p, "link \\\"16\\\" down"));
    qkd_sbuf_free(&r.body);
    get(&o, QKD_HTTP_GET, "/", &r);
    assert_string_equal(r.content_type, "text/html; charset=utf-8");
    assert_non_null(strstr(r.body.p, "<svg") ? r.body.p : strstr(r.body.p, "svg"));
    assert_null(strstr(r.body.p, "http://")); /* self-contained: no external resources */
    assert_null(strstr(r.body.p, "https://"));
    assert_null(strstr(r.body.p, "src="));
    qkd_sbuf_free(&r.body);
    get(&o, QKD_HTTP_GET, "/nope", &r);
    assert_int_equal(r.status, 404);
    qkd_sbuf_free(&r.body);
    get(&o, QKD_HTTP_POST, "/metrics", &r);
    assert_int_equal(r.status, 405);
    qkd_sbuf_free(&r.body);
}

static int collect(const struct qkd_prom_sample_view *s, void *arg)
{
    struct qkd_sbuf *b = arg;
    qkd_sbuf_printf(b, "%s|%d|%s|%g;", s->name, s->nlabels, s->nlabels ? s->lv[s->nlabels - 1] : "",
                    s->value);
    return 0;
}

static void test_parse_roundtrip_and_limits(void **state)
{
    (void)state;
    struct qkd_sbuf b = {0}, got = {0};
    qkd_prom_family(&b, "qkd_a", "gauge", "A.");
    struct qkd_prom_label l[2] = {{"link", "b\"o\\b\n"}, {"api", "004"}};
    qkd_prom_sample(&b, "qkd_a", l, 2, 3);
    qkd_prom_sample(&b, "qkd_b", NULL, 0, 0.25);
    qkd_prom_sample(&b, "qkd_c", NULL, 0, INFINITY);
    assert_int_equal(qkd_prom_parse(b.p, b.len, collect, &got), 3);
    assert_string_equal(got.p, "qkd_a|2|004|3;qkd_b|0||0.25;qkd_c|0||inf;");
    struct qkd_prom_sample_view v;
    (void)v;
    const char *bad[] = {"qkd_a{x=\"1} 2\n",   "qkd_a 1x\n",           "{a=\"1\"} 2\n",
                         "qkd_a{1=\"1\"} 2\n", "qkd_a{x=\"\\q\"} 1\n", "qkd_a\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(qkd_prom_parse(bad[i], strlen(bad[i]), NULL, NULL), -1);
    /* a line of QKD_PROM_PARSE_MAX_LINE - 1 bytes parses, one byte more does not */
    char line[QKD_PROM_PARSE_MAX_LINE + 2];
    for (int over = 0; over <= 1; over++) {
        size_t n = QKD_PROM_PARSE_MAX_LINE - 1 + (size_t)over;
        memset(line, ' ', n);
        memcpy(line, "qkd_z 1", 7);
        line[n] = '\n';
        assert_int_equal(qkd_prom_parse(line, n + 1, NULL, NULL), over ? -1 : 1);
    }
    /* at most QKD_PROM_PARSE_MAX_LABELS labels */
    struct qkd_sbuf many = {0};
    for (int n = QKD_PROM_PARSE_MAX_LABELS; n <= QKD_PROM_PARSE_MAX_LABELS + 1; n++) {
        many.len = 0;
        qkd_sbuf_puts(&many, "qkd_m{");
        for (int i = 0; i < n; i++)
            qkd_sbuf_printf(&many, "%sl%d=\"v\"", i ? "," : "", i);
        qkd_sbuf_puts(&many, "} 1\n");
        assert_int_equal(qkd_prom_parse(many.p, many.len, NULL, NULL),
                         n > QKD_PROM_PARSE_MAX_LABELS ? -1 : 1);
    }
    qkd_sbuf_free(&many);
    qkd_sbuf_free(&b);
    qkd_sbuf_free(&got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_family_and_escaping),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_parse_roundtrip_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
