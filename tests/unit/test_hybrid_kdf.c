/* test_hybrid_kdf.c: the HMAC/HKDF core against RFC 5869 test cases 1-3, its limits, and
 * CatKDF against ETSI TS 103 744 V1.1.1 test vector C.2.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hybrid_kat/hyb_test.h"
#include "kdf.h"

struct rfc_case {
    const char *ikm, *salt, *info, *prk, *okm;
};

static const struct rfc_case rfc5869[] = {
    {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c",
     "f0f1f2f3f4f5f6f7f8f9", "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
    {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c"
     "2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f",
     "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c"
     "8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
     "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdc"
     "dddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
     "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
     "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e59"
     "0e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"},
    {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "",
     "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
};

static void test_rfc5869(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof rfc5869 / sizeof rfc5869[0]; c++) {
        size_t il, sl, nl, pl, ol;
        uint8_t *ikm = hyb_hex(rfc5869[c].ikm, &il), *salt = hyb_hex(rfc5869[c].salt, &sl);
        uint8_t *info = hyb_hex(rfc5869[c].info, &nl), *prk_exp = hyb_hex(rfc5869[c].prk, &pl);
        uint8_t *okm_exp = hyb_hex(rfc5869[c].okm, &ol);
        uint8_t prk[32], okm[128];

        assert_int_equal(hyb_kdf_extract(salt, sl, ikm, il, prk), 0);
        assert_memory_equal(prk, prk_exp, 32);
        assert_int_equal(hyb_kdf_expand(prk, 32, info, nl, okm, ol), 0);
        assert_memory_equal(okm, okm_exp, ol);
        free(ikm), free(salt), free(info), free(prk_exp), free(okm_exp);
    }
}

/* RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?"). */
static void test_hmac(void **state)
{
    (void)state;
    uint8_t out[32], out2[32];
    size_t el;
    uint8_t *exp = hyb_hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", &el);
    const char *msg = "what do ya want for nothing?";
    struct hyb_kdf_bytes parts[2] = {{(const uint8_t *)msg, 10},
                                     {(const uint8_t *)msg + 10, strlen(msg) - 10}};

    assert_int_equal(
        hyb_kdf_hmac((const uint8_t *)"Jefe", 4, (const uint8_t *)msg, strlen(msg), out), 0);
    assert_memory_equal(out, exp, 32);
    assert_int_equal(hyb_kdf_hmac_parts((const uint8_t *)"Jefe", 4, parts, 2, out2), 0);
    assert_memory_equal(out2, exp, 32);
    assert_int_equal(hyb_kdf_hmac(NULL, 0, (const uint8_t *)msg, 1, out), -1);
    free(exp);
}

static void test_expand_limits(void **state)
{
    (void)state;
    uint8_t prk[32] = {1, 2, 3};
    uint8_t *out = malloc(HYB_KDF_MAX_OUT + 1);
    uint8_t info[HYB_KDF_MAX_INFO + 1] = {0};

    assert_int_equal(hyb_kdf_expand(prk, 32, NULL, 0, out, HYB_KDF_MAX_OUT), 0);
    assert_int_equal(hyb_kdf_expand(prk, 32, NULL, 0, out, HYB_KDF_MAX_OUT + 1), -1);
    assert_int_equal(hyb_kdf_expand(prk, 32, NULL, 0, out, 0), -1);
    assert_int_equal(hyb_kdf_expand(prk, 31, NULL, 0, out, 16), -1);
    assert_int_equal(hyb_kdf_expand(prk, 32, info, HYB_KDF_MAX_INFO, out, 16), 0);
    assert_int_equal(hyb_kdf_expand(prk, 32, info, HYB_KDF_MAX_INFO + 1, out, 16), -1);
    assert_int_equal(hyb_kdf_extract(NULL, 0, NULL, 0, prk), -1);
    free(out);
}

/* ETSI TS 103 744 V1.1.1 Annex C.2.1 (CatKDF, HKDF-SHA256, no PSK). */
static void test_catkdf_etsi(void **state)
{
    (void)state;
    size_t lal, lbl, pa1l, pa2l, pb1l, pb2l, k1l, k2l, el;
    uint8_t *la = hyb_hex("0102030405060708090A0B0C0D0E0F10", &lal);
    uint8_t *lb = hyb_hex("0202030405060708090A0B0C0D0E0F10", &lbl);
    uint8_t *pa1 = hyb_hex(
        "119F2F047902782AB0C9E27A54AFF5EB9B964829CA99C06B02DDBA95B0A3F6D08F52B726664CAC366FC"
        "98AC7A012B2682CBD962E5ACB544671D41B9445704D1D",
        &pa1l);
    uint8_t *pa2 = hyb_hex(
        "4484D7AADB44B40CC180DC568B2C142A60E6E2863F5988614A6215254B2F5F6F79B48F329AD1A2DED2"
        "0B7ABAB10F7DBF59C3E20B59A700093060D2A44ACDC0083A53CF0808E0B3A827C45176BEE0DC6EC7CC1"
        "6461E38461C12451BB95191407C1E942BB50D4C7B25A49C644B630159E6C403653838E689FBF4A7ADEA"
        "693ED0657BA4A724786AF7953F7BA6E15F9BBF9F5007FB711569E72ACAB05D3463A458536CAB647F00C"
        "205D27D5311B2A5113D4B26548000DB237515931A040804E769361F94FF0167C78353D2630A1E6F595A"
        "1F80E87F6A5BCD679D7A64C5006F6191D4ADEFA1EA67F6388B7017D453F4FE2DFE80CCC709000B52175"
        "BFC3ADE52ECCB0CEBE1654F89D39131C357EACB61E5F13C80AB0165B7714D6BE6DF65F8DE73FF47B7F3"
        "304639F0903653ECCFA252F6E2104C4ABAD3C33AF24FD0E56F58DB92CC66859766035419AB2DF600",
        &pa2l);
    uint8_t *pb1 = hyb_hex(
        "809F04289C64348C01515EB03D5CE7AC1A8CB9498F5CAA50197E58D43A86A7AEB29D84E811197F25EBA"
        "8F5194092CB6FF440E26D4421011372461F579271CDA3",
        &pb1l);
    uint8_t *pb2 = hyb_hex(
        "0FDEB26DBD96E0CD272283CA5BDD1435BC9A7F9AB7FC24F83CA926DEED038AE4E47F39F9886E0BD7EEB"
        "EAACD12AB435CC92AA3383B2C01E6B9E02BC3BEF9C6C2719014562A96A0F3E784E3FA44E5C62ED8CEA7"
        "9E1108B6FECD5BF8836BF2DAE9FEB1863C4C8B3429220E2797F601FB4B8EBAFDD4F17355508D259CA60"
        "721D167F6E5480B5133E824F76D3240E97F31325DBB9A53E9A3EEE2E0712734825615A027857E2000D4"
        "D00E11988499A738452C93DA895BFA0E10294895CCF25E3C261CBE38F5D7E19ABE4E322094CB8DEC5BF"
        "7484902BABDE33CC69595F6013B20AABA9698C1DEA2BC6F65D57519294E6FEEA3B549599D480948374D"
        "2D21B643573C276E1A5B0745301F648D7982AB46A3065639960182BF365819EFC0D4E61E87D2820DBC0"
        "E849E99E875B21501D1CA7588A1D458CD70C7DF793D4993B9B1679886CAE8013A8DD854F010A100C993"
        "3FA642DC0AEA9985786ED36B98D3",
        &pb2l);
    uint8_t *k1 = hyb_hex("057D636096CB80B67A8C038C890E887D1ADFA4195E9B3CE241C8A778C59CDA67", &k1l);
    uint8_t *k2 = hyb_hex("35F7F8FF388714DEDC41F139078CEDC9", &k2l);
    uint8_t *exp = hyb_hex("5C366F23281D33EB85CAB026D3D9A35A", &el);
    uint8_t label[32], out[16];
    const char *context = "CONCATENATION TEST VECTOR 1";
    struct hyb_kdf_bytes ks[2] = {{k1, k1l}, {k2, k2l}};
    struct hyb_kdf_bytes ma[3] = {{la, lal}, {pa1, pa1l}, {pa2, pa2l}};
    struct hyb_kdf_bytes mb[3] = {{lb, lbl}, {pb1, pb1l}, {pb2, pb2l}};
    struct hyb_kdf_bytes none = {NULL, 0};

    memcpy(label, la, 16);
    memcpy(label + 16, lb, 16);
    assert_int_equal(
        hyb_kdf_catkdf(none, ks, 2, ma, 3, mb, 3,
                       (struct hyb_kdf_bytes){(const uint8_t *)context, strlen(context)},
                       (struct hyb_kdf_bytes){label, 32}, out, sizeof out),
        0);
    assert_memory_equal(out, exp, 16);
    /* the same secrets moved into the PSK slot give the same secret string, so the same key */
    assert_int_equal(
        hyb_kdf_catkdf(ks[0], &ks[1], 1, ma, 3, mb, 3,
                       (struct hyb_kdf_bytes){(const uint8_t *)context, strlen(context)},
                       (struct hyb_kdf_bytes){label, 32}, out, sizeof out),
        0);
    assert_memory_equal(out, exp, 16);
    /* a different context gives a different key */
    assert_int_equal(hyb_kdf_catkdf(none, ks, 2, ma, 3, mb, 3,
                                    (struct hyb_kdf_bytes){(const uint8_t *)context, 5},
                                    (struct hyb_kdf_bytes){label, 32}, out, sizeof out),
                     0);
    assert_memory_not_equal(out, exp, 16);
    free(la), free(lb), free(pa1), free(pa2), free(pb1), free(pb2), free(k1), free(k2), free(exp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc5869),
        cmocka_unit_test(test_hmac),
        cmocka_unit_test(test_expand_limits),
        cmocka_unit_test(test_catkdf_etsi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
