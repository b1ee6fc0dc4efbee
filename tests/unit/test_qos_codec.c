/* test_qos_codec.c: unit tests of the one QoS block codec in its four forms: exact layouts,
 * round trips, the longest mimetype, every truncation (LENGTH), malformed mimetypes (STRING),
 * a mimetype without NUL refused before anything is written, and a failed writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "qos_codec.h"

static const enum qkd_qos_form forms[] = {QKD_QOS_FIXED, QKD_QOS_CSTR, QKD_QOS_LV8, QKD_QOS_LV32};

static void fill_qos(struct qkd_qos *q, const char *mimetype)
{
    memset(q, 0, sizeof(*q));
    q->key_chunk_size = 32;
    q->max_bps = 40000;
    q->min_bps = 5000;
    q->jitter = 10;
    q->priority = 3;
    q->timeout = 5000;
    q->ttl = 3600;
    strcpy(q->metadata_mimetype, mimetype);
}

/* Bytes of the block for a mimetype of n bytes. */
static size_t block_len(enum qkd_qos_form f, size_t n)
{
    switch (f) {
    case QKD_QOS_FIXED:
        return 28 + QKD_MIMETYPE_MAX;
    case QKD_QOS_CSTR:
        return 28 + n + 1;
    case QKD_QOS_LV8:
        return 28 + 1 + n;
    case QKD_QOS_LV32:
        return 28 + 4 + n;
    }
    return 0;
}

static void assert_qos_equal(const struct qkd_qos *a, const struct qkd_qos *b)
{
    assert_int_equal(a->key_chunk_size, b->key_chunk_size);
    assert_int_equal(a->max_bps, b->max_bps);
    assert_int_equal(a->min_bps, b->min_bps);
    assert_int_equal(a->jitter, b->jitter);
    assert_int_equal(a->priority, b->priority);
    assert_int_equal(a->timeout, b->timeout);
    assert_int_equal(a->ttl, b->ttl);
    assert_string_equal(a->metadata_mimetype, b->metadata_mimetype);
}

static void test_layouts(void **state)
{
    (void)state;
    struct qkd_qos q;
    fill_qos(&q, "text/x");
    static const uint8_t u32s[28] = {0,  0, 0, 32, 0, 0, 0x9c, 0x40, 0,    0, 0x13, 0x88, 0,   0, 0,
                                     10, 0, 0, 0,  3, 0, 0,    0x13, 0x88, 0, 0,    0x0e, 0x10};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct qkd_writer w;
        qkd_writer_init(&w, 0);
        assert_int_equal(qkd_qos_encode(&w, forms[i], &q), QKD_WIRE_OK);
        assert_false(w.failed);
        assert_int_equal(w.len, block_len(forms[i], 6));
        assert_memory_equal(w.buf, u32s, sizeof(u32s));
        const uint8_t *m = w.buf + 28;
        switch (forms[i]) {
        case QKD_QOS_FIXED:
            assert_memory_equal(m, "text/x", 6);
            for (size_t k = 6; k < QKD_MIMETYPE_MAX; k++)
                assert_int_equal(m[k], 0);
            break;
        case QKD_QOS_CSTR:
            assert_memory_equal(m, "text/x", 7);
            break;
        case QKD_QOS_LV8:
            assert_int_equal(m[0], 6);
            assert_memory_equal(m + 1, "text/x", 6);
            break;
        case QKD_QOS_LV32:
            assert_int_equal(qkd_get_u32(m), 6);
            assert_memory_equal(m + 4, "text/x", 6);
            break;
        }
        qkd_writer_free(&w);
    }
}

static void test_round_trip_and_truncation(void **state)
{
    (void)state;
    char longest[QKD_MIMETYPE_MAX];
    memset(longest, 'm', sizeof(longest) - 1);
    longest[sizeof(longest) - 1] = '\0';
    const char *mimetypes[] = {"", QKD_MIMETYPE_JSON, longest};
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        for (size_t t = 0; t < sizeof(mimetypes) / sizeof(mimetypes[0]); t++) {
            struct qkd_qos in, out;
            fill_qos(&in, mimetypes[t]);
            struct qkd_writer w;
            qkd_writer_init(&w, 0);
            assert_int_equal(qkd_qos_encode(&w, forms[i], &in), QKD_WIRE_OK);
            assert_int_equal(w.len, block_len(forms[i], strlen(mimetypes[t])));
            struct qkd_reader r;
            qkd_reader_init(&r, w.buf, w.len);
            assert_int_equal(qkd_qos_decode(&r, forms[i], &out), QKD_WIRE_OK);
            assert_int_equal(qkd_reader_left(&r), 0);
            assert_qos_equal(&in, &out);
            for (size_t cut = 0; cut < w.len; cut++) {
                qkd_reader_init(&r, w.buf, cut);
                int rc = qkd_qos_decode(&r, forms[i], &out);
                /* CSTR: no NUL before the end is a string error, as in the ETSI codec */
                int want = forms[i] == QKD_QOS_CSTR && cut >= 28 ? QKD_WIRE_ERR_STRING
                                                                 : QKD_WIRE_ERR_LENGTH;
                assert_int_equal(rc, want);
                assert_true(r.failed);
            }
            qkd_writer_free(&w);
        }
    }
}

static int decode_bytes(enum qkd_qos_form f, const uint8_t *mime, size_t n)
{
    uint8_t buf[28 + 4 + 2 * QKD_MIMETYPE_MAX] = {0};
    memcpy(buf + 28, mime, n);
    struct qkd_reader r;
    qkd_reader_init(&r, buf, 28 + n);
    struct qkd_qos q;
    int rc = qkd_qos_decode(&r, f, &q);
    assert_true(memchr(q.metadata_mimetype, 0, sizeof(q.metadata_mimetype)) != NULL);
    return rc;
}

static void test_malformed_mimetype(void **state)
{
    (void)state;
    uint8_t m[4 + QKD_MIMETYPE_MAX + 1];
    memset(m, 'a', sizeof(m));
    /* FIXED and CSTR: no NUL within QKD_MIMETYPE_MAX bytes */
    assert_int_equal(decode_bytes(QKD_QOS_FIXED, m, QKD_MIMETYPE_MAX), QKD_WIRE_ERR_STRING);
    assert_int_equal(decode_bytes(QKD_QOS_CSTR, m, QKD_MIMETYPE_MAX + 1), QKD_WIRE_ERR_STRING);
    /* LV8: a NUL inside the text */
    uint8_t lv8[] = {3, 'a', 0, 'b'};
    assert_int_equal(decode_bytes(QKD_QOS_LV8, lv8, sizeof(lv8)), QKD_WIRE_ERR_STRING);
    /* LV32: a NUL inside, and a length of QKD_MIMETYPE_MAX (one over) */
    uint8_t lv32[] = {0, 0, 0, 2, 0, 'b'};
    assert_int_equal(decode_bytes(QKD_QOS_LV32, lv32, sizeof(lv32)), QKD_WIRE_ERR_STRING);
    qkd_put_u32(m, QKD_MIMETYPE_MAX);
    assert_int_equal(decode_bytes(QKD_QOS_LV32, m, 4 + QKD_MIMETYPE_MAX), QKD_WIRE_ERR_STRING);
    qkd_put_u32(m, QKD_MIMETYPE_MAX - 1);
    assert_int_equal(decode_bytes(QKD_QOS_LV32, m, 4 + QKD_MIMETYPE_MAX - 1), QKD_WIRE_OK);
}

static void test_encoder_refusals(void **state)
{
    (void)state;
    struct qkd_qos q;
    fill_qos(&q, "");
    memset(q.metadata_mimetype, 'm', QKD_MIMETYPE_MAX); /* no NUL */
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct qkd_writer w;
        qkd_writer_init(&w, 0);
        assert_int_equal(qkd_qos_encode(&w, forms[i], &q), QKD_WIRE_ERR_STRING);
        assert_int_equal(w.len, 0);
        assert_false(w.failed);
        qkd_writer_free(&w);
    }
    /* A writer too small for the block: the failure stays in the writer. */
    fill_qos(&q, QKD_MIMETYPE_JSON);
    struct qkd_writer w;
    qkd_writer_init(&w, 30);
    assert_int_equal(qkd_qos_encode(&w, QKD_QOS_LV8, &q), QKD_WIRE_OK);
    assert_true(w.failed);
    qkd_writer_free(&w);
}

static void test_failed_reader(void **state)
{
    (void)state;
    uint8_t buf[64] = {0};
    struct qkd_reader r;
    qkd_reader_init(&r, buf, sizeof(buf));
    r.failed = true;
    struct qkd_qos q;
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
        assert_int_equal(qkd_qos_decode(&r, forms[i], &q), QKD_WIRE_ERR_LENGTH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layouts),
        cmocka_unit_test(test_round_trip_and_truncation),
        cmocka_unit_test(test_malformed_mimetype),
        cmocka_unit_test(test_encoder_refusals),
        cmocka_unit_test(test_failed_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
