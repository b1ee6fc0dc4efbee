/* kem_lib.c: Classic McEliece through libmceliece and sntrup761 through libntruprime (Debian 13
 * packages; randomness from librandombytes, the kernel's getrandom). Each source maps to the
 * library's keypair/enc/dec; sizes are checked against the library's headers at compile time.
 * docs/hybrid.md "Key sources". */
#include "kem_lib.h"

#include <assert.h>

#ifdef QKD_HAVE_MCELIECE
#include <mceliece.h>
#endif
#ifdef QKD_HAVE_NTRUPRIME
#include <ntruprime.h>
#endif

struct kl_ops {
    size_t sk_len;
    void (*keypair)(unsigned char *pk, unsigned char *sk);
    int (*enc)(unsigned char *ct, unsigned char *ss, const unsigned char *pk);
    int (*dec)(unsigned char *ss, const unsigned char *ct, const unsigned char *sk);
};

#ifdef QKD_HAVE_MCELIECE
/* One table row per set; the sizes of source.c must be the library's. */
#define KL_MCE(src, p)                                                                             \
    static_assert(mceliece##p##_PUBLICKEYBYTES == 0 + (src##_PUB), #p " public key size");         \
    static_assert(mceliece##p##_CIPHERTEXTBYTES == 0 + (src##_CT), #p " ciphertext size");         \
    static_assert(mceliece##p##_BYTES == 32, #p " secret size");
#define HYB_SRC_MCE348864_PUB  261120
#define HYB_SRC_MCE348864_CT   96
#define HYB_SRC_MCE460896_PUB  524160
#define HYB_SRC_MCE460896_CT   156
#define HYB_SRC_MCE6688128_PUB 1044992
#define HYB_SRC_MCE6688128_CT  208
#define HYB_SRC_MCE6960119_PUB 1047319
#define HYB_SRC_MCE6960119_CT  194
#define HYB_SRC_MCE8192128_PUB 1357824
#define HYB_SRC_MCE8192128_CT  208
KL_MCE(HYB_SRC_MCE348864, 348864)
KL_MCE(HYB_SRC_MCE348864, 348864f)
KL_MCE(HYB_SRC_MCE460896, 460896)
KL_MCE(HYB_SRC_MCE460896, 460896f)
KL_MCE(HYB_SRC_MCE6688128, 6688128)
KL_MCE(HYB_SRC_MCE6688128, 6688128f)
KL_MCE(HYB_SRC_MCE6960119, 6960119)
KL_MCE(HYB_SRC_MCE6960119, 6960119f)
KL_MCE(HYB_SRC_MCE8192128, 8192128)
KL_MCE(HYB_SRC_MCE8192128, 8192128f)
#define KL_MCE_OPS(p)                                                                              \
    {                                                                                              \
        mceliece##p##_SECRETKEYBYTES, mceliece##p##_keypair, mceliece##p##_enc, mceliece##p##_dec  \
    }
#endif

#ifdef QKD_HAVE_NTRUPRIME
static_assert(sntrup761_PUBLICKEYBYTES == 1158 && sntrup761_CIPHERTEXTBYTES == 1039 &&
                  sntrup761_BYTES == 32,
              "sntrup761 sizes");
/* libntruprime's enc/dec return nothing (they cannot fail); adapt them to the int form. */
static int kl_sntrup761_enc(unsigned char *ct, unsigned char *ss, const unsigned char *pk)
{
    sntrup761_enc(ct, ss, pk);
    return 0;
}
static int kl_sntrup761_dec(unsigned char *ss, const unsigned char *ct, const unsigned char *sk)
{
    sntrup761_dec(ss, ct, sk);
    return 0;
}
#endif

static const struct kl_ops *kl_get(enum hyb_source src)
{
    static const struct kl_ops ops[HYB_SRC_COUNT] = {
#ifdef QKD_HAVE_MCELIECE
        [HYB_SRC_MCE348864] = KL_MCE_OPS(348864),
        [HYB_SRC_MCE348864F] = KL_MCE_OPS(348864f),
        [HYB_SRC_MCE460896] = KL_MCE_OPS(460896),
        [HYB_SRC_MCE460896F] = KL_MCE_OPS(460896f),
        [HYB_SRC_MCE6688128] = KL_MCE_OPS(6688128),
        [HYB_SRC_MCE6688128F] = KL_MCE_OPS(6688128f),
        [HYB_SRC_MCE6960119] = KL_MCE_OPS(6960119),
        [HYB_SRC_MCE6960119F] = KL_MCE_OPS(6960119f),
        [HYB_SRC_MCE8192128] = KL_MCE_OPS(8192128),
        [HYB_SRC_MCE8192128F] = KL_MCE_OPS(8192128f),
#endif
#ifdef QKD_HAVE_NTRUPRIME
        [HYB_SRC_SNTRUP761] = {sntrup761_SECRETKEYBYTES, sntrup761_keypair, kl_sntrup761_enc,
                               kl_sntrup761_dec},
#endif
    };
    if ((unsigned)src >= HYB_SRC_COUNT || !hyb_source_is_libkem(src) || ops[src].keypair == NULL)
        return NULL;
    return &ops[src];
}

size_t hyb_kemlib_sk_len(enum hyb_source src)
{
    const struct kl_ops *o = kl_get(src);
    return o ? o->sk_len : 0;
}

int hyb_kemlib_keypair(enum hyb_source src, uint8_t *pk, struct qkd_secbuf **sk)
{
    const struct kl_ops *o = kl_get(src);
    struct qkd_secbuf *s;

    if (o == NULL || pk == NULL || sk == NULL) return -1;
    if ((s = qkd_secbuf_new(o->sk_len)) == NULL) return -1;
    o->keypair(pk, s->data);
    *sk = s;
    return 0;
}

int hyb_kemlib_enc(enum hyb_source src, const uint8_t *pk, uint8_t *ct, struct qkd_secbuf **ss)
{
    const struct kl_ops *o = kl_get(src);
    struct qkd_secbuf *s;

    if (o == NULL || pk == NULL || ct == NULL || ss == NULL) return -1;
    if ((s = qkd_secbuf_new(hyb_source_secret_len(src))) == NULL) return -1;
    if (o->enc(ct, s->data, pk) != 0) {
        qkd_secbuf_free(s);
        return -1;
    }
    *ss = s;
    return 0;
}

int hyb_kemlib_dec(enum hyb_source src, const struct qkd_secbuf *sk, const uint8_t *ct,
                   struct qkd_secbuf **ss)
{
    const struct kl_ops *o = kl_get(src);
    struct qkd_secbuf *s;

    if (o == NULL || sk == NULL || sk->len != o->sk_len || ct == NULL || ss == NULL) return -1;
    if ((s = qkd_secbuf_new(hyb_source_secret_len(src))) == NULL) return -1;
    if (o->dec(s->data, ct, sk->data) != 0) {
        qkd_secbuf_free(s);
        return -1;
    }
    *ss = s;
    return 0;
}
