/* kdf.c: HMAC-SHA256 and HKDF-SHA256 (extract-only / expand-only modes of OpenSSL's HKDF),
 * plus CatKDF (ETSI TS 103 744) on top of them. */
#include "kdf.h"

#include "secbuf.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <string.h>

int hyb_kdf_hmac(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len,
                 uint8_t out[HYB_KDF_HASH_LEN])
{
    struct hyb_kdf_bytes part = {msg, msg_len};
    return hyb_kdf_hmac_parts(key, key_len, &part, 1, out);
}

int hyb_kdf_hmac_parts(const uint8_t *key, size_t key_len, const struct hyb_kdf_bytes *parts,
                       size_t n, uint8_t out[HYB_KDF_HASH_LEN])
{
    int rc = -1;
    size_t outl = 0;
    EVP_MAC *mac = NULL;
    EVP_MAC_CTX *ctx = NULL;
    OSSL_PARAM params[2];

    if (key == NULL || key_len == 0 || (parts == NULL && n > 0)) return -1;
    for (size_t i = 0; i < n; i++)
        if (parts[i].p == NULL && parts[i].len > 0) return -1;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL) goto out;
    if ((ctx = EVP_MAC_CTX_new(mac)) == NULL) goto out;
    if (EVP_MAC_init(ctx, key, key_len, params) != 1) goto out;
    for (size_t i = 0; i < n; i++)
        if (parts[i].len > 0 && EVP_MAC_update(ctx, parts[i].p, parts[i].len) != 1) goto out;
    if (EVP_MAC_final(ctx, out, &outl, HYB_KDF_HASH_LEN) != 1 || outl != HYB_KDF_HASH_LEN) goto out;
    rc = 0;
out:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    if (rc != 0) ERR_clear_error();
    return rc;
}

/* Runs OpenSSL's HKDF in one mode with key, optional salt and optional info. */
static int kdf_hkdf_run(int mode, const uint8_t *key, size_t key_len, const uint8_t *salt,
                        size_t salt_len, const uint8_t *info, size_t info_len, uint8_t *out,
                        size_t out_len)
{
    int rc = -1;
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *ctx = NULL;
    OSSL_PARAM params[6], *p = params;

    *p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, key_len);
    if (salt_len > 0)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
    if (info_len > 0)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
    *p = OSSL_PARAM_construct_end();
    if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) == NULL) goto out;
    if ((ctx = EVP_KDF_CTX_new(kdf)) == NULL) goto out;
    if (EVP_KDF_derive(ctx, out, out_len, params) != 1) goto out;
    rc = 0;
out:
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    if (rc != 0) ERR_clear_error();
    return rc;
}

int hyb_kdf_extract(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                    uint8_t prk[HYB_KDF_HASH_LEN])
{
    if (ikm == NULL || ikm_len == 0 || (salt == NULL && salt_len > 0)) return -1;
    return kdf_hkdf_run(EVP_KDF_HKDF_MODE_EXTRACT_ONLY, ikm, ikm_len, salt, salt_len, NULL, 0, prk,
                        HYB_KDF_HASH_LEN);
}

int hyb_kdf_expand(const uint8_t *prk, size_t prk_len, const uint8_t *info, size_t info_len,
                   uint8_t *out, size_t out_len)
{
    if (prk == NULL || prk_len < HYB_KDF_HASH_LEN || out == NULL || out_len == 0 ||
        out_len > HYB_KDF_MAX_OUT || info_len > HYB_KDF_MAX_INFO || (info == NULL && info_len > 0))
        return -1;
    return kdf_hkdf_run(EVP_KDF_HKDF_MODE_EXPAND_ONLY, prk, prk_len, NULL, 0, info, info_len, out,
                        out_len);
}

static size_t kdf_total(const struct hyb_kdf_bytes *v, size_t n)
{
    size_t t = 0;
    for (size_t i = 0; i < n; i++)
        t += v[i].len;
    return t;
}

static int kdf_digest_lv(EVP_MD_CTX *md, const struct hyb_kdf_bytes *v, size_t n)
{
    size_t total = kdf_total(v, n);
    uint8_t l[4];

    if (total > UINT32_MAX) return -1;
    l[0] = (uint8_t)(total >> 24);
    l[1] = (uint8_t)(total >> 16);
    l[2] = (uint8_t)(total >> 8);
    l[3] = (uint8_t)total;
    if (EVP_DigestUpdate(md, l, 4) != 1) return -1;
    for (size_t i = 0; i < n; i++)
        if (v[i].len > 0 && EVP_DigestUpdate(md, v[i].p, v[i].len) != 1) return -1;
    return 0;
}

int hyb_kdf_catkdf(struct hyb_kdf_bytes psk, const struct hyb_kdf_bytes *k, size_t nk,
                   const struct hyb_kdf_bytes *ma, size_t nma, const struct hyb_kdf_bytes *mb,
                   size_t nmb, struct hyb_kdf_bytes context, struct hyb_kdf_bytes label,
                   uint8_t *out, size_t out_len)
{
    int rc = -1;
    uint8_t f_context[HYB_KDF_HASH_LEN];
    uint8_t prk[HYB_KDF_HASH_LEN];
    unsigned int fl = 0;
    struct qkd_secbuf *secret = NULL;
    EVP_MD_CTX *md = NULL;
    size_t slen = psk.len + kdf_total(k, nk), off = 0;

    if (slen == 0 || out == NULL || out_len == 0 || out_len > HYB_KDF_MAX_OUT) return -1;
    /* 1) secret = psk || k_1 || ... || k_n */
    if ((secret = qkd_secbuf_new(slen)) == NULL) return -1;
    if (psk.len > 0) {
        memcpy(secret->data, psk.p, psk.len);
        off = psk.len;
    }
    for (size_t i = 0; i < nk; i++) {
        if (k[i].len > 0) memcpy(secret->data + off, k[i].p, k[i].len);
        off += k[i].len;
    }
    /* 2) f_context = f(context, MA, MB) */
    if ((md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) goto out;
    if (kdf_digest_lv(md, &context, 1) != 0 || kdf_digest_lv(md, ma, nma) != 0 ||
        kdf_digest_lv(md, mb, nmb) != 0)
        goto out;
    if (EVP_DigestFinal_ex(md, f_context, &fl) != 1 || fl != HYB_KDF_HASH_LEN) goto out;
    /* 3) key_material = HKDF(secret, label, f_context, length) */
    if (hyb_kdf_extract(label.p, label.len, secret->data, secret->len, prk) != 0) goto out;
    if (hyb_kdf_expand(prk, sizeof prk, f_context, sizeof f_context, out, out_len) != 0) goto out;
    rc = 0;
out:
    qkd_wipe(prk, sizeof prk);
    EVP_MD_CTX_free(md);
    qkd_secbuf_free(secret);
    return rc;
}
