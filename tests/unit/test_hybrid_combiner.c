/* test_hybrid_combiner.c: known answers for the five combiners at L = 16, 32, 64, 100 (values
 * computed independently by tests/unit/hybrid_kat/kat.py with Python's hashlib/hmac), their
 * binding to KSID, index, nodes, source order and transcript, and every limit at its edge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "combiner.h"
#include "hybrid_kat/hyb_test.h"

struct kat_vec {
    enum hyb_comb_method m;
    size_t len;
    const char *hex;
};

static const struct kat_vec kats[] = {
    {HYB_COMB_XORING, 16, "59524f484d76637c710a0720252e1b14"},
    {HYB_COMB_XORING, 32, "59524f484d76637c710a0720252e1b140902fff8fde693ac160e067e7e766e66"},
    {HYB_COMB_XORING, 64,
     "59524f484d76637c710a0720252e1b140902fff8fde693ac160e067e7e766e668584878681808382"
     "8d8c8f8e89888b8a00000000000000000000000000000000"},
    {HYB_COMB_XORING, 100,
     "59524f484d76637c710a0720252e1b140902fff8fde693ac160e067e7e766e668584878681808382"
     "8d8c8f8e89888b8a0000000000000000000000000000000000000000000000000000000000000000"
     "0000000000000000000000000000000000000000"},
    {HYB_COMB_HMAC, 16, "443c7b6be0fa682bc39c900f949486bf"},
    {HYB_COMB_HMAC, 32, "443c7b6be0fa682bc39c900f949486bf414224fdcdca772a32f03d3a36f450c3"},
    {HYB_COMB_HMAC, 64,
     "740792355a50d686eccf7b6b01c436169d76e7dd6bc3162dac81910d67922562fa9f0d0e31ae1d48"
     "54c9f9f41938e41ef8edfdc51e1d9f17e6092afa253fd3d7"},
    {HYB_COMB_HMAC, 100,
     "740792355a50d686eccf7b6b01c436169d76e7dd6bc3162dac81910d67922562fa9f0d0e31ae1d48"
     "54c9f9f41938e41ef8edfdc51e1d9f17e6092afa253fd3d775e2a2d81ea1a39e998a5b71064ccfc7"
     "a72a92a602b7a76283bbcbdbb17b767d19a51a6a"},
    {HYB_COMB_XORHMAC, 16, "36b622e944cef1dbbb55596bca66bc76"},
    {HYB_COMB_XORHMAC, 32, "36b622e944cef1dbbb55596bca66bc767aa638f3111e9a1ba889d5acb8958c2a"},
    {HYB_COMB_XORHMAC, 64,
     "e9472242d13d55ca4f9b8cd8478da0293d1b07ff819fcebf740580fbed3be27b68524c646b0e8866"
     "49fdb8ce671832c6239f30171f4bf0fbe01624dadaad7cf9"},
    {HYB_COMB_XORHMAC, 100,
     "e9472242d13d55ca4f9b8cd8478da0293d1b07ff819fcebf740580fbed3be27b68524c646b0e8866"
     "49fdb8ce671832c6239f30171f4bf0fbe01624dadaad7cf980d4009388f3240397e2ee9babd7109b"
     "bb8d9aa95b704e38544e2120417ce5b18ef9b381"},
    {HYB_COMB_HKDF, 16, "29e714b8cb8065a4cceb56a0b98f4adc"},
    {HYB_COMB_HKDF, 32, "76d9a416e1a8a0d1010f3fa27bd66562880a3dd15adcd2a064e7213470b6619e"},
    {HYB_COMB_HKDF, 64,
     "3700428f7799c92d67236e2db96e97de40943bd8e12cc1afb62f9f307dc4d879a84a75e4784ac564"
     "4a42038da10372bfbd4ca91df6d20581c8460903de660a01"},
    {HYB_COMB_HKDF, 100,
     "2b32484dc0219e8a7bbb98f34aac88ea910d80b3da2f58f5d1643c21989a4fbd2ca751d37a2d499c"
     "1c8ea4ed5aa2440d2e6b1a129d080c608188cf05ecb2197624ce0b5af16747f36040375191cb7c87"
     "fd2ba51b60c35b722d38cf6a6c22683d8912d73a"},
    {HYB_COMB_CATKDF, 16, "0b4ce9c336ba21963975f62cce079bc2"},
    {HYB_COMB_CATKDF, 32, "a9d07eca04de0991f50d8b203a2c32e2e2ccf2c8086fa3c3407b725d4b5339ae"},
    {HYB_COMB_CATKDF, 64,
     "bfa1cfbd0a2b55f585c530e6e68f5c012d3c4a83de5842cf448b9cca16b4c9aa0b34f609c0738199"
     "c4419f38f977ae708503855113dd9af9b28e10ec5a6d430d"},
    {HYB_COMB_CATKDF, 100,
     "25a0c9cdc37f6a9243ae272513fdeb2687d4a235624446ce6b67285ec19522ed14b61414986c25fb"
     "304f666a80592aedac8427f6c5ac4852d4323612e16c128a1454cc884179ce96f1f107c9796585aa"
     "2f11b4ba8f6e15fadae2caa33ed8f43db56ac933"},
};

/* The fixed inputs of kat.py. */
static uint8_t KA[32], KB[48], KC[24], PUB768[1184], CT768[1088], PUBX[32], SHX[32], KX[32];
static const char *INI = "a1a1a1a1-0000-4000-8000-000000000001";
static const char *RES = "b2b2b2b2-0000-4000-8000-000000000002";

static int setup(void **state)
{
    (void)state;
    for (int i = 0; i < 32; i++)
        KA[i] = (uint8_t)(7 * i + 3);
    for (int i = 0; i < 48; i++)
        KB[i] = (uint8_t)(0xA5 ^ i);
    for (int i = 0; i < 24; i++)
        KC[i] = (uint8_t)(255 - 3 * i);
    for (int i = 0; i < 1184; i++)
        PUB768[i] = (uint8_t)i;
    for (int i = 0; i < 1088; i++)
        CT768[i] = (uint8_t)(i * 5);
    for (int i = 0; i < 32; i++) {
        PUBX[i] = (uint8_t)i;
        SHX[i] = (uint8_t)(32 + i);
    }
    memcpy(KX, KC, 24);
    memcpy(KX + 24, KA, 8);
    return 0;
}

static struct hyb_comb_input sec(const uint8_t *p, size_t n)
{
    return (struct hyb_comb_input){.source = HYB_SRC_QKD, .secret = p, .secret_len = n};
}

/* [KC, KA, KB], the order kat.py hands to the compatible combiners */
static void compat_inputs(struct hyb_comb_input in[3])
{
    in[0] = sec(KC, sizeof KC);
    in[1] = sec(KA, sizeof KA);
    in[2] = sec(KB, sizeof KB);
}

/* kat.py's SRCS: QKD, ML-KEM-768, X25519 */
static void ctx_inputs(struct hyb_comb_input in[3])
{
    in[0] = (struct hyb_comb_input){HYB_SRC_QKD, KA, 32, NULL, 0, NULL, 0};
    in[1] = (struct hyb_comb_input){HYB_SRC_MLKEM768, KB, 32, PUB768, 1184, CT768, 1088};
    in[2] = (struct hyb_comb_input){HYB_SRC_X25519, KX, 32, PUBX, 32, SHX, 32};
}

static struct hyb_comb_context kat_ctx(void)
{
    struct hyb_comb_context c = {.index = 7, .initiator = INI, .responder = RES};
    for (int i = 0; i < 16; i++)
        c.ksid.b[i] = (uint8_t)(i * 0x11);
    return c;
}

static void test_kats(void **state)
{
    (void)state;
    struct hyb_comb_input in[3];
    struct hyb_comb_context ctx = kat_ctx();
    char err[256];

    for (size_t k = 0; k < sizeof kats / sizeof kats[0]; k++) {
        uint8_t out[128];
        size_t el;
        uint8_t *exp = hyb_hex(kats[k].hex, &el);
        bool compat = kats[k].m <= HYB_COMB_XORHMAC;

        assert_int_equal(el, kats[k].len);
        if (compat)
            compat_inputs(in);
        else
            ctx_inputs(in);
        err[0] = '\0';
        assert_int_equal(hyb_comb_derive(kats[k].m, in, 3, compat ? NULL : &ctx, out, kats[k].len,
                                         err, sizeof err),
                         0);
        if (memcmp(out, exp, el) != 0)
            fail_msg("%s L=%zu: got %s", hyb_comb_method_name(kats[k].m), kats[k].len,
                     hyb_tohex(out, el));
        free(exp);
    }
}

/* The compatible combiners sort: input order does not matter. Single and two-secret KATs. */
static void test_compat_order_and_small(void **state)
{
    (void)state;
    struct hyb_comb_input a[3], b[3];
    uint8_t x[64], y[64];
    size_t el;
    uint8_t *exp;

    compat_inputs(a);
    b[0] = a[2], b[1] = a[0], b[2] = a[1];
    for (int m = HYB_COMB_XORING; m <= HYB_COMB_XORHMAC; m++) {
        assert_int_equal(hyb_comb_derive(m, a, 3, NULL, x, 64, NULL, 0), 0);
        assert_int_equal(hyb_comb_derive(m, b, 3, NULL, y, 64, NULL, 0), 0);
        assert_memory_equal(x, y, 64);
    }
    /* one secret: hmac = HMAC(k, ""), xorhmac the same (not zero) */
    exp = hyb_hex("feffb2318c2191c4f11e1fc0ee3d808697d6073ae8a1c30be5f1a169ceff13e6", &el);
    a[0] = sec(KA, 32);
    assert_int_equal(hyb_comb_derive(HYB_COMB_HMAC, a, 1, NULL, x, 32, NULL, 0), 0);
    assert_memory_equal(x, exp, 32);
    assert_int_equal(hyb_comb_derive(HYB_COMB_XORHMAC, a, 1, NULL, x, 32, NULL, 0), 0);
    assert_memory_equal(x, exp, 32);
    free(exp);
    /* two secrets, [KB, KA] */
    exp = hyb_hex("a6aeb6bebe868e9696eee6fefef6cec6c6ce363e3e262e16160e067e7e766e66", &el);
    a[0] = sec(KB, 48);
    a[1] = sec(KA, 32);
    assert_int_equal(hyb_comb_derive(HYB_COMB_XORING, a, 2, NULL, x, 32, NULL, 0), 0);
    assert_memory_equal(x, exp, 32);
    free(exp);
}

/* Python sorted() puts a proper prefix first. */
static void test_sort_prefix(void **state)
{
    (void)state;
    static const uint8_t p1[] = {1, 2, 3}, p2[] = {1, 2, 3, 0};
    struct hyb_comb_input a[2] = {sec(p2, 4), sec(p1, 3)}, b[2] = {sec(p1, 3), sec(p2, 4)};
    uint8_t x[32], y[32], h[32];

    assert_int_equal(hyb_comb_derive(HYB_COMB_HMAC, a, 2, NULL, x, 32, NULL, 0), 0);
    assert_int_equal(hyb_comb_derive(HYB_COMB_HMAC, b, 2, NULL, y, 32, NULL, 0), 0);
    assert_memory_equal(x, y, 32);
    assert_int_equal(hyb_kdf_hmac(p1, 3, p2, 4, h), 0); /* key = the shorter (first) one */
    assert_memory_equal(x, h, 32);
}

/* hmac for L > 32 is HKDF-Expand(H, "QKD-HYBRID-v1 hmac", L) and its first 32 bytes differ
 * from H; hkdf and catkdf bind L, so a shorter key is not a prefix of a longer one. */
static void test_lengths(void **state)
{
    (void)state;
    struct hyb_comb_input in[3];
    struct hyb_comb_context ctx = kat_ctx();
    uint8_t a[200], b[200];
    static const size_t lens[] = {1, 16, 31, 32, 33, 64, 100, 200};

    for (int m = 0; m < HYB_COMB_METHOD_COUNT; m++) {
        if (m <= HYB_COMB_XORHMAC)
            compat_inputs(in);
        else
            ctx_inputs(in);
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
            assert_int_equal(hyb_comb_derive(m, in, 3, &ctx, a, lens[i], NULL, 0), 0);
    }
    ctx_inputs(in);
    for (int m = HYB_COMB_HKDF; m <= HYB_COMB_CATKDF; m++) {
        assert_int_equal(hyb_comb_derive(m, in, 3, &ctx, a, 16, NULL, 0), 0);
        assert_int_equal(hyb_comb_derive(m, in, 3, &ctx, b, 32, NULL, 0), 0);
        assert_memory_not_equal(a, b, 16);
    }
    compat_inputs(in);
    assert_int_equal(hyb_comb_derive(HYB_COMB_HMAC, in, 3, NULL, a, 32, NULL, 0), 0);
    assert_int_equal(hyb_comb_derive(HYB_COMB_HMAC, in, 3, NULL, b, 33, NULL, 0), 0);
    assert_memory_not_equal(a, b, 32);
}

/* hkdf and catkdf: a change of KSID, index, either node, source order, a public key or a
 * ciphertext changes the key; the same inputs give the same key. */
static void test_binding(void **state)
{
    (void)state;
    for (int m = HYB_COMB_HKDF; m <= HYB_COMB_CATKDF; m++) {
        struct hyb_comb_input in[3], sw[3];
        struct hyb_comb_context ctx = kat_ctx(), c2;
        uint8_t base[32], again[32], o[32];
        uint8_t pub2[1184];

        ctx_inputs(in);
        assert_int_equal(hyb_comb_derive(m, in, 3, &ctx, base, 32, NULL, 0), 0);
        assert_int_equal(hyb_comb_derive(m, in, 3, &ctx, again, 32, NULL, 0), 0);
        assert_memory_equal(base, again, 32);

        c2 = ctx;
        c2.ksid.b[15] ^= 1;
        assert_int_equal(hyb_comb_derive(m, in, 3, &c2, o, 32, NULL, 0), 0);
        assert_memory_not_equal(base, o, 32);
        c2 = ctx;
        c2.index = 8;
        assert_int_equal(hyb_comb_derive(m, in, 3, &c2, o, 32, NULL, 0), 0);
        assert_memory_not_equal(base, o, 32);
        c2 = ctx;
        c2.initiator = RES;
        c2.responder = INI;
        assert_int_equal(hyb_comb_derive(m, in, 3, &c2, o, 32, NULL, 0), 0);
        assert_memory_not_equal(base, o, 32);

        sw[0] = in[1], sw[1] = in[0], sw[2] = in[2];
        assert_int_equal(hyb_comb_derive(m, sw, 3, &ctx, o, 32, NULL, 0), 0);
        assert_memory_not_equal(base, o, 32);

        memcpy(pub2, PUB768, sizeof pub2);
        pub2[100] ^= 0x80;
        sw[0] = in[0], sw[1] = in[1], sw[2] = in[2];
        sw[1].pub = pub2;
        assert_int_equal(hyb_comb_derive(m, sw, 3, &ctx, o, 32, NULL, 0), 0);
        assert_memory_not_equal(base, o, 32);
        sw[1] = in[1];
        sw[2].msg = PUBX; /* the share replaced by another value */
        assert_int_equal(hyb_comb_derive(m, sw, 3, &ctx, o, 32, NULL, 0), 0);
        assert_memory_not_equal(base, o, 32);
        /* same secrets, different source label */
        sw[2] = in[2];
        sw[2].source = HYB_SRC_X448;
        assert_int_equal(hyb_comb_derive(m, sw, 3, &ctx, o, 32, NULL, 0), 0);
        assert_memory_not_equal(base, o, 32);
    }
    /* hkdf and catkdf differ from each other */
    {
        struct hyb_comb_input in[3];
        struct hyb_comb_context ctx = kat_ctx();
        uint8_t a[32], b[32];
        ctx_inputs(in);
        assert_int_equal(hyb_comb_derive(HYB_COMB_HKDF, in, 3, &ctx, a, 32, NULL, 0), 0);
        assert_int_equal(hyb_comb_derive(HYB_COMB_CATKDF, in, 3, &ctx, b, 32, NULL, 0), 0);
        assert_memory_not_equal(a, b, 32);
    }
}

static void test_limits(void **state)
{
    (void)state;
    struct hyb_comb_input in[HYB_COMB_MAX_INPUTS + 1];
    struct hyb_comb_context ctx = kat_ctx();
    uint8_t *big =
        calloc(1, (HYB_COMB_MAX_MSG_LEN > HYB_COMB_MAX_SECRET_LEN ? HYB_COMB_MAX_MSG_LEN
                                                                  : HYB_COMB_MAX_SECRET_LEN) +
                      1);
    uint8_t *out = malloc(HYB_COMB_MAX_OUT_LEN + 1);
    char id[HYB_COMB_MAX_ID_LEN + 2];
    char err[256];
    static uint8_t pool[HYB_COMB_MAX_INPUTS + 1][32];

    for (int i = 0; i <= HYB_COMB_MAX_INPUTS; i++) {
        for (int j = 0; j < 32; j++)
            pool[i][j] = (uint8_t)(i * 31 + j * 7 + 1); /* distinct secrets */
        in[i] = sec(pool[i], 32);
    }
    for (int m = 0; m < HYB_COMB_METHOD_COUNT; m++) {
        assert_int_equal(
            hyb_comb_derive(m, in, HYB_COMB_MAX_INPUTS, &ctx, out, 32, err, sizeof err), 0);
        assert_int_equal(
            hyb_comb_derive(m, in, HYB_COMB_MAX_INPUTS + 1, &ctx, out, 32, err, sizeof err), -1);
        assert_non_null(strstr(err, "secrets"));
        assert_int_equal(hyb_comb_derive(m, in, 0, &ctx, out, 32, err, sizeof err), -1);
        assert_int_equal(
            hyb_comb_derive(m, in, 2, &ctx, out, HYB_COMB_MAX_OUT_LEN, err, sizeof err), 0);
        assert_int_equal(
            hyb_comb_derive(m, in, 2, &ctx, out, HYB_COMB_MAX_OUT_LEN + 1, err, sizeof err), -1);
        assert_non_null(strstr(err, "key length"));
        assert_int_equal(hyb_comb_derive(m, in, 2, &ctx, out, 0, err, sizeof err), -1);
    }
    /* secret length 1..HYB_COMB_MAX_SECRET_LEN */
    big[0] = 1;
    in[1] = sec(big, HYB_COMB_MAX_SECRET_LEN);
    assert_int_equal(hyb_comb_derive(HYB_COMB_HKDF, in, 2, &ctx, out, 32, err, sizeof err), 0);
    in[1] = sec(big, HYB_COMB_MAX_SECRET_LEN + 1);
    assert_int_equal(hyb_comb_derive(HYB_COMB_HKDF, in, 2, &ctx, out, 32, err, sizeof err), -1);
    assert_non_null(strstr(err, "input 2"));
    in[1] = sec(big, 0);
    assert_int_equal(hyb_comb_derive(HYB_COMB_XORING, in, 2, &ctx, out, 32, err, sizeof err), -1);
    in[1] = sec(KB, 48);
    /* public key / ciphertext up to HYB_COMB_MAX_MSG_LEN */
    in[1].pub = big;
    in[1].pub_len = HYB_COMB_MAX_MSG_LEN;
    assert_int_equal(hyb_comb_derive(HYB_COMB_CATKDF, in, 2, &ctx, out, 32, err, sizeof err), 0);
    in[1].pub_len = HYB_COMB_MAX_MSG_LEN + 1;
    assert_int_equal(hyb_comb_derive(HYB_COMB_CATKDF, in, 2, &ctx, out, 32, err, sizeof err), -1);
    in[1] = sec(KB, 48);
    /* node identities up to HYB_COMB_MAX_ID_LEN bytes; a context is required */
    memset(id, 'n', sizeof id);
    id[HYB_COMB_MAX_ID_LEN] = '\0';
    ctx.initiator = id;
    assert_int_equal(hyb_comb_derive(HYB_COMB_HKDF, in, 2, &ctx, out, 32, err, sizeof err), 0);
    id[HYB_COMB_MAX_ID_LEN] = 'n';
    id[HYB_COMB_MAX_ID_LEN + 1] = '\0';
    assert_int_equal(hyb_comb_derive(HYB_COMB_HKDF, in, 2, &ctx, out, 32, err, sizeof err), -1);
    assert_int_equal(hyb_comb_derive(HYB_COMB_HKDF, in, 2, NULL, out, 32, err, sizeof err), -1);
    assert_non_null(strstr(err, "context"));
    assert_int_equal(hyb_comb_derive(HYB_COMB_XORING, in, 2, NULL, out, 32, err, sizeof err), 0);
    /* unknown method / source */
    assert_int_equal(
        hyb_comb_derive((enum hyb_comb_method)9, in, 2, NULL, out, 32, err, sizeof err), -1);
    in[0].source = (enum hyb_source)42;
    assert_int_equal(hyb_comb_derive(HYB_COMB_XORING, in, 2, NULL, out, 32, err, sizeof err), -1);
    free(big);
    free(out);
}

/* Two equal secrets XOR to zero: refused, not returned. */
static void test_zero_refused(void **state)
{
    (void)state;
    struct hyb_comb_input in[2] = {sec(KA, 32), sec(KA, 32)};
    uint8_t out[32];
    char err[256];

    assert_int_equal(hyb_comb_derive(HYB_COMB_XORING, in, 2, NULL, out, 32, err, sizeof err), -1);
    assert_non_null(strstr(err, "zero"));
    assert_int_equal(hyb_comb_derive(HYB_COMB_XORHMAC, in, 2, NULL, out, 32, err, sizeof err), -1);
    assert_int_equal(hyb_comb_derive(HYB_COMB_HMAC, in, 2, NULL, out, 32, err, sizeof err), 0);
}

static void test_method_names(void **state)
{
    (void)state;
    enum hyb_comb_method m;
    for (int i = 0; i < HYB_COMB_METHOD_COUNT; i++) {
        assert_int_equal(hyb_comb_method_parse(hyb_comb_method_name(i), &m), 0);
        assert_int_equal(m, i);
    }
    assert_int_equal(hyb_comb_method_parse("HKDF", &m), 0);
    assert_int_equal(m, HYB_COMB_HKDF);
    assert_int_equal(hyb_comb_method_parse("sha3", &m), -1);
    assert_int_equal(hyb_comb_method_parse("", &m), -1);
    assert_int_equal(HYB_COMB_DEFAULT, HYB_COMB_HKDF);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kats),         cmocka_unit_test(test_compat_order_and_small),
        cmocka_unit_test(test_sort_prefix),  cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_binding),      cmocka_unit_test(test_limits),
        cmocka_unit_test(test_zero_refused), cmocka_unit_test(test_method_names),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
