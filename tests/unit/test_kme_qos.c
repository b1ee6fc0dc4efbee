/* test_kme_qos.c: unit tests of the key server's QoS negotiation (qos.c): the reference
 * client's QoS passes the default limits, each field at and beyond its limit, the zero
 * fields, mimetype rules and admission control. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "qos.h"

static void ref_qos(struct qkd_qos *q)
{
    memset(q, 0, sizeof(*q));
    q->key_chunk_size = 32;
    q->max_bps = 40000;
    q->min_bps = 5000;
    q->jitter = 10;
    q->priority = 0;
    q->timeout = 5000;
    q->ttl = 3600;
    strcpy(q->metadata_mimetype, QKD_MIMETYPE_JSON);
}

static const struct kme_qos_ctx ctx_1mbps = {.skr_bps = 1000000};

static void test_reference_qos_accepted(void **state)
{
    (void)state;
    struct kme_qos_limits lim;
    kme_qos_limits_default(&lim);
    struct qkd_qos req, out;
    ref_qos(&req);
    assert_int_equal(kme_qos_negotiate(&req, &lim, &ctx_1mbps, &out), QKD_STATUS_SUCCESS);
    assert_memory_equal(&req, &out, sizeof(req));
}

static void test_each_field_at_and_over_limit(void **state)
{
    (void)state;
    struct kme_qos_limits lim;
    kme_qos_limits_default(&lim);
    struct qkd_qos req, out;

    ref_qos(&req);
    req.key_chunk_size = lim.key_chunk_size; /* at the edge: met */
    assert_int_equal(kme_qos_negotiate(&req, &lim, &ctx_1mbps, &out), 0);
    req.key_chunk_size = lim.key_chunk_size + 1;
    assert_int_equal(kme_qos_negotiate(&req, &lim, &ctx_1mbps, &out), 7);
    assert_int_equal(out.key_chunk_size, lim.key_chunk_size);

    ref_qos(&req);
    req.max_bps = 1000000;
    assert_int_equal(kme_qos_negotiate(&req, &lim, &ctx_1mbps, &out), 0);
    req.max_bps = 1000001;
    assert_int_equal(kme_qos_negotiate(&req, &lim, &ctx_1mbps, &out), 7);
    assert_int_equal(out.max_bps, 1000000);
    assert_int_equal(out.key_chunk_size, 32); /* other fields untouched */

    ref_qos(&req);
    req.jitter = lim.jitter + 1;
    assert_int_equal(kme_qos_negotiate(&req, &lim, &ctx_1mbps, &out), 7);
    assert_int_equal(out.jitter, lim.jitter);

    ref_qos(&req);
    req.timeout = lim.timeout;
    assert_int_equal(kme_qos_negotiate(&req, &lim, &ctx_1mbps, &out), 0);
    req.timeout = lim.timeout + 1;
    assert_int_equal(kme_qos_negotiate(&req, &lim, &ctx_1mbps, &out), 7);
    assert_int_equal(out.timeout, lim.timeout);

    ref_qos(&req);
    req.ttl = lim.ttl + 1;
    assert_int_equal(kme_qos_negotiate(&req, &lim, &ctx_1mbps, &out), 7);
    assert_int_equal(out.ttl, lim.ttl);

    lim.priority = 2;
    ref_qos(&req);
    req.priority = 1;
    assert_int_equal(kme_qos_negotiate(&req, &lim, &ctx_1mbps, &out), 7);
    assert_int_equal(out.priority, 2);
    req.priority = 2;
    assert_int_equal(kme_qos_negotiate(&req, &lim, &ctx_1mbps, &out), 0);
}

static void test_min_bps_rules(void **state)
{
    (void)state;
    struct kme_qos_limits lim;
    kme_qos_limits_default(&lim);
    struct qkd_qos req, out;
    ref_qos(&req);
    req.min_bps = 50000; /* above the requested max */
    assert_int_equal(kme_qos_negotiate(&req, &lim, &ctx_1mbps, &out), 7);
    assert_int_equal(out.min_bps, 40000);

    struct kme_qos_ctx adm = {.skr_bps = 10000, .admission = true, .min_bps_inuse = 8000};
    ref_qos(&req);
    req.max_bps = 10000;
    req.min_bps = 2000; /* exactly the room left */
    assert_int_equal(kme_qos_negotiate(&req, &lim, &adm, &out), 0);
    req.min_bps = 2001;
    assert_int_equal(kme_qos_negotiate(&req, &lim, &adm, &out), 7);
    assert_int_equal(out.min_bps, 2000);
    adm.admission = false;
    assert_int_equal(kme_qos_negotiate(&req, &lim, &adm, &out), 0);
}

static void test_zero_fields(void **state)
{
    (void)state;
    struct kme_qos_limits lim;
    kme_qos_limits_default(&lim);
    struct qkd_qos req, out;
    ref_qos(&req);
    req.key_chunk_size = 0;
    assert_int_equal(kme_qos_negotiate(&req, &lim, &ctx_1mbps, &out), 7);
    assert_int_equal(out.key_chunk_size, KME_QOS_DEF_CHUNK);

    ref_qos(&req);
    req.ttl = 0;
    req.max_bps = 0;
    assert_int_equal(kme_qos_negotiate(&req, &lim, &ctx_1mbps, &out), 0);
    assert_int_equal(out.ttl, KME_QOS_DEF_TTL);
    assert_int_equal(out.max_bps, 1000000);
}

static void test_configured_bps_limit_and_unknown_skr(void **state)
{
    (void)state;
    struct kme_qos_limits lim;
    kme_qos_limits_default(&lim);
    struct qkd_qos req, out;
    struct kme_qos_ctx unknown = {.skr_bps = 0};
    ref_qos(&req);
    req.max_bps = 0xffffffffu;
    assert_int_equal(kme_qos_negotiate(&req, &lim, &unknown, &out), 0);
    lim.max_bps = 30000;
    assert_int_equal(kme_qos_negotiate(&req, &lim, &ctx_1mbps, &out), 7);
    assert_int_equal(out.max_bps, 30000);
}

/* A chunk so small that the window would exceed --max-window-chunks is raised to the smallest
 * chunk that fits, status 7 (ctx.min_chunk); at the bound it is granted as asked. */
static void test_min_chunk(void **state)
{
    (void)state;
    struct kme_qos_limits lim;
    kme_qos_limits_default(&lim);
    struct kme_qos_ctx ctx = {.skr_bps = 1000000, .min_chunk = 16};
    struct qkd_qos req, out;
    ref_qos(&req);
    req.key_chunk_size = 16;
    assert_int_equal(kme_qos_negotiate(&req, &lim, &ctx, &out), QKD_STATUS_SUCCESS);
    assert_int_equal(out.key_chunk_size, 16);
    req.key_chunk_size = 15;
    assert_int_equal(kme_qos_negotiate(&req, &lim, &ctx, &out), QKD_STATUS_QOS_NOT_MET);
    assert_int_equal(out.key_chunk_size, 16);
    req.key_chunk_size = 1;
    assert_int_equal(kme_qos_negotiate(&req, &lim, &ctx, &out), QKD_STATUS_QOS_NOT_MET);
    assert_int_equal(out.key_chunk_size, 16);
    /* never above the chunk limit */
    ctx.min_chunk = lim.key_chunk_size * 2;
    assert_int_equal(kme_qos_negotiate(&req, &lim, &ctx, &out), QKD_STATUS_QOS_NOT_MET);
    assert_int_equal(out.key_chunk_size, lim.key_chunk_size);
    req.key_chunk_size = lim.key_chunk_size;
    assert_int_equal(kme_qos_negotiate(&req, &lim, &ctx, &out), QKD_STATUS_SUCCESS);
}

static void test_mimetype(void **state)
{
    (void)state;
    struct kme_qos_limits lim;
    kme_qos_limits_default(&lim);
    struct qkd_qos req, out;
    ref_qos(&req);
    strcpy(req.metadata_mimetype, "text/plain");
    assert_int_equal(kme_qos_negotiate(&req, &lim, &ctx_1mbps, &out), 7);
    assert_string_equal(out.metadata_mimetype, QKD_MIMETYPE_JSON);
    /* empty = no metadata, accepted */
    memset(req.metadata_mimetype, 0, sizeof(req.metadata_mimetype));
    assert_int_equal(kme_qos_negotiate(&req, &lim, &ctx_1mbps, &out), 0);
    assert_int_equal(out.metadata_mimetype[0], 0);
    strcpy(req.metadata_mimetype, "Application/JSON");
    assert_int_equal(kme_qos_negotiate(&req, &lim, &ctx_1mbps, &out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_qos_accepted),
        cmocka_unit_test(test_each_field_at_and_over_limit),
        cmocka_unit_test(test_min_bps_rules),
        cmocka_unit_test(test_zero_fields),
        cmocka_unit_test(test_configured_bps_limit_and_unknown_skr),
        cmocka_unit_test(test_mimetype),
        cmocka_unit_test(test_min_chunk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
