/* kem.c: ML-KEM and X25519/X448 through OpenSSL 3.5 EVP_PKEY (keygen, encapsulate /
 * decapsulate, derive), with raw public key encodings on the wire; Classic McEliece and
 * sntrup761 are handed to kem_lib.c (docs/hybrid.md "Key sources"). */
#include "kem.h"

#include "kem_lib.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdlib.h>
#include <string.h>

struct hyb_kem_initiator {
    enum hyb_source src;
    EVP_PKEY *key;         /* OpenSSL sources */
    struct qkd_secbuf *sk; /* library KEMs (kem_lib.c) */
};

static const char *kem_alg(enum hyb_source src)
{
    switch (src) {
    case HYB_SRC_MLKEM512:
        return "ML-KEM-512";
    case HYB_SRC_MLKEM768:
        return "ML-KEM-768";
    case HYB_SRC_MLKEM1024:
        return "ML-KEM-1024";
    case HYB_SRC_X25519:
        return "X25519";
    case HYB_SRC_X448:
        return "X448";
    case HYB_SRC_QKD:
    default:
        return NULL;
    }
}

EVP_PKEY *hyb_keygen(const char *alg)
{
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);

    if (ctx == NULL) return NULL;
    if (EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_generate(ctx, &key) != 1) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return key;
}

/* Raw public key bytes of key into a malloc'ed buffer of exactly want bytes. */
static int kem_export_pub(EVP_PKEY *key, size_t want, uint8_t **pub, size_t *pub_len)
{
    size_t len = 0;
    uint8_t *buf;

    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0, &len) !=
            1 ||
        len != want)
        return -1;
    if ((buf = malloc(len)) == NULL) return -1;
    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, buf, len, &len) !=
            1 ||
        len != want) {
        free(buf);
        return -1;
    }
    *pub = buf;
    *pub_len = len;
    return 0;
}

/* A public-only key of algorithm alg from its raw encoding. */
static EVP_PKEY *kem_import_pub(const char *alg, const uint8_t *pub, size_t pub_len)
{
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
    OSSL_PARAM params[2];

    if (ctx == NULL) return NULL;
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pub, pub_len);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        EVP_PKEY_free(key);
        key = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return key;
}

/* ECDH: secret = X25519/X448(own, peer); OpenSSL refuses an all-zero result. */
static int kem_derive(EVP_PKEY *own, EVP_PKEY *peer, size_t want, struct qkd_secbuf **secret)
{
    int rc = -1;
    size_t len = 0;
    struct qkd_secbuf *s = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, own, NULL);

    if (ctx == NULL) return -1;
    if (EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer_ex(ctx, peer, 1) != 1) goto out;
    if (EVP_PKEY_derive(ctx, NULL, &len) != 1 || len != want) goto out;
    if ((s = qkd_secbuf_new(len)) == NULL) goto out;
    if (EVP_PKEY_derive(ctx, s->data, &len) != 1 || len != want) goto out;
    *secret = s;
    s = NULL;
    rc = 0;
out:
    qkd_secbuf_free(s);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

/* Initiator of a library KEM: key pair from kem_lib.c, the secret key kept wiped-on-free. */
static int kem_lib_initiate(enum hyb_source src, struct hyb_kem_initiator **st, uint8_t **pub,
                            size_t *pub_len)
{
    struct hyb_kem_initiator *s = calloc(1, sizeof *s);
    uint8_t *pk = malloc(hyb_source_pub_len(src));

    if (s == NULL || pk == NULL || hyb_kemlib_keypair(src, pk, &s->sk) != 0) {
        free(s);
        free(pk);
        return -1;
    }
    s->src = src;
    *st = s;
    *pub = pk;
    *pub_len = hyb_source_pub_len(src);
    return 0;
}

int hyb_kem_initiate(enum hyb_source src, struct hyb_kem_initiator **st, uint8_t **pub,
                     size_t *pub_len)
{
    const char *alg = kem_alg(src);
    struct hyb_kem_initiator *s;

    if (st == NULL || pub == NULL || pub_len == NULL) return -1;
    if (hyb_source_is_libkem(src)) return kem_lib_initiate(src, st, pub, pub_len);
    if (alg == NULL) return -1;
    if ((s = calloc(1, sizeof *s)) == NULL) return -1;
    s->src = src;
    if ((s->key = hyb_keygen(alg)) == NULL ||
        kem_export_pub(s->key, hyb_source_pub_len(src), pub, pub_len) != 0) {
        hyb_kem_initiator_free(s);
        ERR_clear_error(); /* leave no stale errors for SSL_get_error() elsewhere */
        return -1;
    }
    *st = s;
    return 0;
}

static int kem_encapsulate(EVP_PKEY *peer, enum hyb_source src, uint8_t **msg, size_t *msg_len,
                           struct qkd_secbuf **secret)
{
    int rc = -1;
    size_t ctlen = 0, slen = 0;
    uint8_t *ct = NULL;
    struct qkd_secbuf *s = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, peer, NULL);

    if (ctx == NULL) return -1;
    if (EVP_PKEY_encapsulate_init(ctx, NULL) != 1 ||
        EVP_PKEY_encapsulate(ctx, NULL, &ctlen, NULL, &slen) != 1)
        goto out;
    if (ctlen != hyb_source_msg_len(src) || slen != hyb_source_secret_len(src)) goto out;
    if ((ct = malloc(ctlen)) == NULL || (s = qkd_secbuf_new(slen)) == NULL) goto out;
    if (EVP_PKEY_encapsulate(ctx, ct, &ctlen, s->data, &slen) != 1 ||
        ctlen != hyb_source_msg_len(src) || slen != s->len)
        goto out;
    *msg = ct;
    *msg_len = ctlen;
    *secret = s;
    ct = NULL;
    s = NULL;
    rc = 0;
out:
    free(ct);
    qkd_secbuf_free(s);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

int hyb_kem_respond(enum hyb_source src, const uint8_t *pub, size_t pub_len, uint8_t **msg,
                    size_t *msg_len, struct qkd_secbuf **secret)
{
    const char *alg = kem_alg(src);
    EVP_PKEY *peer = NULL, *own = NULL;
    uint8_t *share = NULL;
    size_t share_len = 0;
    int rc = -1;

    if (pub == NULL || msg == NULL || msg_len == NULL || secret == NULL ||
        pub_len != hyb_source_pub_len(src) || pub_len == 0)
        return -1;
    if (hyb_source_is_libkem(src)) {
        uint8_t *ct = malloc(hyb_source_msg_len(src));
        if (ct == NULL || hyb_kemlib_enc(src, pub, ct, secret) != 0) {
            free(ct);
            return -1;
        }
        *msg = ct;
        *msg_len = hyb_source_msg_len(src);
        return 0;
    }
    if (alg == NULL) return -1;
    if ((peer = kem_import_pub(alg, pub, pub_len)) == NULL) {
        ERR_clear_error();
        return -1;
    }
    if (hyb_source_is_kem(src)) {
        rc = kem_encapsulate(peer, src, msg, msg_len, secret);
    } else {
        if ((own = hyb_keygen(alg)) == NULL ||
            kem_export_pub(own, hyb_source_msg_len(src), &share, &share_len) != 0)
            goto out;
        if (kem_derive(own, peer, hyb_source_secret_len(src), secret) != 0) goto out;
        *msg = share;
        *msg_len = share_len;
        share = NULL;
        rc = 0;
    }
out:
    free(share);
    EVP_PKEY_free(own);
    EVP_PKEY_free(peer);
    if (rc != 0) ERR_clear_error();
    return rc;
}

static int kem_decapsulate(struct hyb_kem_initiator *st, const uint8_t *msg, size_t msg_len,
                           struct qkd_secbuf **secret)
{
    int rc = -1;
    size_t slen = 0;
    struct qkd_secbuf *s = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, st->key, NULL);

    if (ctx == NULL) return -1;
    if (EVP_PKEY_decapsulate_init(ctx, NULL) != 1 ||
        EVP_PKEY_decapsulate(ctx, NULL, &slen, msg, msg_len) != 1 ||
        slen != hyb_source_secret_len(st->src))
        goto out;
    if ((s = qkd_secbuf_new(slen)) == NULL) goto out;
    if (EVP_PKEY_decapsulate(ctx, s->data, &slen, msg, msg_len) != 1 || slen != s->len) goto out;
    *secret = s;
    s = NULL;
    rc = 0;
out:
    qkd_secbuf_free(s);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

int hyb_kem_finish(struct hyb_kem_initiator *st, const uint8_t *msg, size_t msg_len,
                   struct qkd_secbuf **secret)
{
    EVP_PKEY *peer;
    int rc;

    if (st == NULL || msg == NULL || secret == NULL || msg_len != hyb_source_msg_len(st->src))
        return -1;
    if (st->sk != NULL) return hyb_kemlib_dec(st->src, st->sk, msg, secret);
    if (st->key == NULL) return -1;
    if (hyb_source_is_kem(st->src)) {
        rc = kem_decapsulate(st, msg, msg_len, secret);
    } else if ((peer = kem_import_pub(kem_alg(st->src), msg, msg_len)) == NULL) {
        rc = -1;
    } else {
        rc = kem_derive(st->key, peer, hyb_source_secret_len(st->src), secret);
        EVP_PKEY_free(peer);
    }
    if (rc != 0) ERR_clear_error();
    return rc;
}

enum hyb_source hyb_kem_initiator_source(const struct hyb_kem_initiator *st)
{
    return st->src;
}

void hyb_kem_initiator_free(struct hyb_kem_initiator *st)
{
    if (st == NULL) return;
    EVP_PKEY_free(st->key);
    qkd_secbuf_free(st->sk);
    free(st);
}
