/* sign.c: ML-DSA-65 identity keys through OpenSSL 3.5 (PEM loading, EVP_DigestSign with no
 * digest and a context string). */
#include "sign.h"

#include "kem.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>

static EVP_PKEY *sign_check_type(EVP_PKEY *key, const char *path, char *err, size_t errlen)
{
    if (key != NULL && !EVP_PKEY_is_a(key, HYB_SIGN_ALG)) {
        snprintf(err, errlen, "%s: key is %s, not %s", path, EVP_PKEY_get0_type_name(key),
                 HYB_SIGN_ALG);
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

EVP_PKEY *hyb_sign_load_private(const char *path, char *err, size_t errlen)
{
    EVP_PKEY *key;
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open identity key", path);
        return NULL;
    }
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (key == NULL) {
        ERR_clear_error();
        snprintf(err, errlen, "%s: not a PEM private key", path);
        return NULL;
    }
    return sign_check_type(key, path, err, errlen);
}

EVP_PKEY *hyb_sign_load_public(const char *path, char *err, size_t errlen)
{
    EVP_PKEY *key = NULL;
    X509 *cert;
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open public key", path);
        return NULL;
    }
    key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    if (key == NULL) {
        rewind(f);
        cert = PEM_read_X509(f, NULL, NULL, NULL);
        if (cert != NULL) {
            key = X509_get_pubkey(cert);
            X509_free(cert);
        }
    }
    fclose(f);
    ERR_clear_error(); /* the PUBKEY attempt fails on a certificate */
    if (key == NULL) {
        snprintf(err, errlen, "%s: neither a PEM public key nor a certificate", path);
        return NULL;
    }
    return sign_check_type(key, path, err, errlen);
}

static void sign_params(OSSL_PARAM params[2])
{
    params[0] =
        OSSL_PARAM_construct_octet_string(OSSL_SIGNATURE_PARAM_CONTEXT_STRING,
                                          (void *)HYB_SIGN_CONTEXT, sizeof(HYB_SIGN_CONTEXT) - 1);
    params[1] = OSSL_PARAM_construct_end();
}

int hyb_sign(EVP_PKEY *key, const uint8_t *msg, size_t msg_len, uint8_t **sig, size_t *sig_len)
{
    int rc = -1;
    size_t len = 0;
    uint8_t *buf = NULL;
    OSSL_PARAM params[2];
    EVP_MD_CTX *md;

    if (key == NULL || (msg == NULL && msg_len > 0) || sig == NULL || sig_len == NULL ||
        !EVP_PKEY_is_a(key, HYB_SIGN_ALG))
        return -1;
    if ((md = EVP_MD_CTX_new()) == NULL) return -1;
    sign_params(params);
    if (EVP_DigestSignInit_ex(md, NULL, NULL, NULL, NULL, key, params) != 1) goto out;
    if (EVP_DigestSign(md, NULL, &len, msg, msg_len) != 1 || len == 0) goto out;
    if ((buf = malloc(len)) == NULL) goto out;
    if (EVP_DigestSign(md, buf, &len, msg, msg_len) != 1) goto out;
    *sig = buf;
    *sig_len = len;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    EVP_MD_CTX_free(md);
    if (rc != 0) ERR_clear_error();
    return rc;
}

int hyb_sign_verify(EVP_PKEY *key, const uint8_t *msg, size_t msg_len, const uint8_t *sig,
                    size_t sig_len)
{
    int rc = -1;
    OSSL_PARAM params[2];
    EVP_MD_CTX *md;

    if (key == NULL || (msg == NULL && msg_len > 0) || sig == NULL || sig_len == 0 ||
        !EVP_PKEY_is_a(key, HYB_SIGN_ALG))
        return -1;
    if ((md = EVP_MD_CTX_new()) == NULL) return -1;
    sign_params(params);
    if (EVP_DigestVerifyInit_ex(md, NULL, NULL, NULL, NULL, key, params) == 1 &&
        EVP_DigestVerify(md, sig, sig_len, msg, msg_len) == 1)
        rc = 0;
    EVP_MD_CTX_free(md);
    if (rc != 0) ERR_clear_error();
    return rc;
}

EVP_PKEY *hyb_sign_keygen(void)
{
    return hyb_keygen(HYB_SIGN_ALG);
}
