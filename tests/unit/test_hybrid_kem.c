/* test_hybrid_kem.c: round trips for ML-KEM-512/768/1024, X25519 and X448 (both ends get the
 * same secret), tampered and malformed messages, and the QKD source being refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "kem.h"

#include <openssl/err.h>

static const enum hyb_source kem_sources[] = {HYB_SRC_MLKEM512, HYB_SRC_MLKEM768, HYB_SRC_MLKEM1024,
                                              HYB_SRC_X25519, HYB_SRC_X448};
#define NSRC (sizeof kem_sources / sizeof kem_sources[0])

static void test_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < NSRC; i++) {
        enum hyb_source s = kem_sources[i];
        struct hyb_kem_initiator *st = NULL;
        uint8_t *pub = NULL, *msg = NULL;
        size_t pub_len = 0, msg_len = 0;
        struct qkd_secbuf *sa = NULL, *sb = NULL;

        assert_int_equal(hyb_kem_initiate(s, &st, &pub, &pub_len), 0);
        assert_int_equal(pub_len, hyb_source_pub_len(s));
        assert_int_equal(hyb_kem_initiator_source(st), s);
        assert_int_equal(hyb_kem_respond(s, pub, pub_len, &msg, &msg_len, &sb), 0);
        assert_int_equal(msg_len, hyb_source_msg_len(s));
        assert_int_equal(sb->len, hyb_source_secret_len(s));
        assert_int_equal(hyb_kem_finish(st, msg, msg_len, &sa), 0);
        assert_int_equal(sa->len, sb->len);
        assert_memory_equal(sa->data, sb->data, sa->len);
        qkd_secbuf_free(sa);
        qkd_secbuf_free(sb);
        free(pub);
        free(msg);
        hyb_kem_initiator_free(st);
    }
}

/* Two exchanges of the same source give unrelated secrets (fresh ephemeral keys). */
static void test_fresh(void **state)
{
    (void)state;
    for (size_t i = 0; i < NSRC; i++) {
        struct qkd_secbuf *s[2];
        uint8_t *pub[2], *msg[2];
        for (int k = 0; k < 2; k++) {
            struct hyb_kem_initiator *st;
            size_t pl, ml;
            assert_int_equal(hyb_kem_initiate(kem_sources[i], &st, &pub[k], &pl), 0);
            assert_int_equal(hyb_kem_respond(kem_sources[i], pub[k], pl, &msg[k], &ml, &s[k]), 0);
            hyb_kem_initiator_free(st);
        }
        assert_memory_not_equal(pub[0], pub[1], hyb_source_pub_len(kem_sources[i]));
        assert_memory_not_equal(s[0]->data, s[1]->data, s[0]->len);
        for (int k = 0; k < 2; k++) {
            qkd_secbuf_free(s[k]);
            free(pub[k]);
            free(msg[k]);
        }
    }
}

/* A changed ciphertext or share gives a different secret or an error, never the same one. */
static void test_tampered(void **state)
{
    (void)state;
    for (size_t i = 0; i < NSRC; i++) {
        enum hyb_source s = kem_sources[i];
        struct hyb_kem_initiator *st;
        uint8_t *pub, *msg;
        size_t pl, ml;
        struct qkd_secbuf *sa = NULL, *sb = NULL;
        int rc;

        assert_int_equal(hyb_kem_initiate(s, &st, &pub, &pl), 0);
        assert_int_equal(hyb_kem_respond(s, pub, pl, &msg, &ml, &sb), 0);
        msg[ml / 2] ^= 0x01;
        rc = hyb_kem_finish(st, msg, ml, &sa);
        if (hyb_source_is_kem(s)) assert_int_equal(rc, 0); /* FIPS 203 implicit rejection */
        if (rc == 0) {
            assert_memory_not_equal(sa->data, sb->data, sb->len);
            qkd_secbuf_free(sa);
        }
        /* wrong lengths */
        sa = NULL;
        assert_int_equal(hyb_kem_finish(st, msg, ml - 1, &sa), -1);
        assert_null(sa);
        assert_int_equal(hyb_kem_respond(s, pub, pl - 1, &msg, &ml, &sb), -1);
        qkd_secbuf_free(sb);
        free(pub);
        free(msg);
        hyb_kem_initiator_free(st);
    }
}

/* Invalid public keys: an ML-KEM key with coefficients >= q (all 0xff) fails the FIPS 203
 * modulus check; an X25519/X448 zero point gives an all-zero secret, which is refused. */
static void test_bad_public_keys(void **state)
{
    (void)state;
    uint8_t bad[1568];
    uint8_t *msg = NULL;
    size_t ml = 0;
    struct qkd_secbuf *s = NULL;

    memset(bad, 0xff, sizeof bad);
    assert_int_equal(hyb_kem_respond(HYB_SRC_MLKEM768, bad, 1184, &msg, &ml, &s), -1);
    memset(bad, 0, sizeof bad);
    assert_int_equal(hyb_kem_respond(HYB_SRC_X25519, bad, 32, &msg, &ml, &s), -1);
    assert_int_equal(hyb_kem_respond(HYB_SRC_X448, bad, 56, &msg, &ml, &s), -1);
    assert_null(s);
    assert_null(msg);
    assert_int_equal(ERR_peek_error(), 0); /* failures leave no stale OpenSSL errors */
}

static void test_qkd_refused(void **state)
{
    (void)state;
    struct hyb_kem_initiator *st = NULL;
    uint8_t *pub = NULL, *msg = NULL;
    size_t pl = 0, ml = 0;
    struct qkd_secbuf *s = NULL;
    uint8_t x[32] = {1};

    assert_int_equal(hyb_kem_initiate(HYB_SRC_QKD, &st, &pub, &pl), -1);
    assert_null(st);
    assert_int_equal(hyb_kem_respond(HYB_SRC_QKD, x, 0, &msg, &ml, &s), -1);
    assert_int_equal(hyb_kem_finish(NULL, x, 32, &s), -1);
    hyb_kem_initiator_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),  cmocka_unit_test(test_fresh),
        cmocka_unit_test(test_tampered),    cmocka_unit_test(test_bad_public_keys),
        cmocka_unit_test(test_qkd_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
