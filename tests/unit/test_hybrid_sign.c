/* test_hybrid_sign.c: ML-DSA-65 identity signatures: sign/verify, tampering, the context
 * string, loading keys from PEM (private, public, certificate) and refusing other key types. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "hybrid_kat/hyb_test.h"
#include "sign.h"

static const uint8_t MSG[] = "announce ksid=00112233-4455-6677-8899-aabbccddeeff index=7";

static void test_sign_verify(void **state)
{
    (void)state;
    EVP_PKEY *k = hyb_sign_keygen(), *other = hyb_sign_keygen();
    uint8_t *sig = NULL;
    size_t sl = 0;
    uint8_t msg[sizeof MSG];

    assert_non_null(k);
    assert_int_equal(hyb_sign(k, MSG, sizeof MSG, &sig, &sl), 0);
    assert_int_equal(sl, HYB_SIGN_SIG_LEN);
    assert_int_equal(hyb_sign_verify(k, MSG, sizeof MSG, sig, sl), 0);
    /* tampered message, signature, wrong key, truncated signature */
    memcpy(msg, MSG, sizeof msg);
    msg[3] ^= 1;
    assert_int_equal(hyb_sign_verify(k, msg, sizeof msg, sig, sl), -1);
    sig[100] ^= 0x40;
    assert_int_equal(hyb_sign_verify(k, MSG, sizeof MSG, sig, sl), -1);
    sig[100] ^= 0x40;
    assert_int_equal(hyb_sign_verify(other, MSG, sizeof MSG, sig, sl), -1);
    assert_int_equal(hyb_sign_verify(k, MSG, sizeof MSG, sig, sl - 1), -1);
    assert_int_equal(hyb_sign_verify(k, MSG, sizeof MSG, sig, sl), 0);
    free(sig);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
}

/* The signature is bound to the context string: a plain ML-DSA verify (empty context) fails. */
static void test_context_string(void **state)
{
    (void)state;
    EVP_PKEY *k = hyb_sign_keygen();
    uint8_t *sig = NULL;
    size_t sl = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    assert_int_equal(hyb_sign(k, MSG, sizeof MSG, &sig, &sl), 0);
    assert_int_equal(EVP_DigestVerifyInit_ex(md, NULL, NULL, NULL, NULL, k, NULL), 1);
    assert_int_not_equal(EVP_DigestVerify(md, sig, sl, MSG, sizeof MSG), 1);
    free(sig);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
}

static void write_pem(const char *path, EVP_PKEY *k, int which, EVP_PKEY *signer)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    if (which == 0) {
        assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    } else if (which == 1) {
        assert_int_equal(PEM_write_PUBKEY(f, k), 1);
    } else {
        X509 *x = X509_new();
        X509_NAME *n = X509_NAME_new();
        assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                                                    (const unsigned char *)"alice", -1, -1, 0),
                         1);
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), 0);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600);
        X509_set_subject_name(x, n);
        X509_set_issuer_name(x, n);
        assert_int_equal(X509_set_pubkey(x, k), 1);
        assert_true(X509_sign(x, signer, NULL) > 0);
        assert_int_equal(PEM_write_X509(f, x), 1);
        X509_NAME_free(n);
        X509_free(x);
    }
    fclose(f);
}

static void test_pem(void **state)
{
    (void)state;
    char dir[512], priv[600], pub[600], cert[600], junk[600], ec[600], err[256];
    EVP_PKEY *k = hyb_sign_keygen(), *lp, *lpub, *lcert, *eck;
    uint8_t *sig = NULL;
    size_t sl = 0;

    assert_int_equal(hyb_tmpdir(dir, sizeof dir), 0);
    snprintf(priv, sizeof priv, "%s/id.key", dir);
    snprintf(pub, sizeof pub, "%s/id.pub", dir);
    snprintf(cert, sizeof cert, "%s/id.pem", dir);
    write_pem(priv, k, 0, NULL);
    write_pem(pub, k, 1, NULL);
    write_pem(cert, k, 2, k);

    lp = hyb_sign_load_private(priv, err, sizeof err);
    lpub = hyb_sign_load_public(pub, err, sizeof err);
    lcert = hyb_sign_load_public(cert, err, sizeof err);
    assert_non_null(lp);
    assert_non_null(lpub);
    assert_non_null(lcert);
    assert_int_equal(hyb_sign(lp, MSG, sizeof MSG, &sig, &sl), 0);
    assert_int_equal(hyb_sign_verify(lpub, MSG, sizeof MSG, sig, sl), 0);
    assert_int_equal(hyb_sign_verify(lcert, MSG, sizeof MSG, sig, sl), 0);
    assert_int_equal(hyb_sign_verify(k, MSG, sizeof MSG, sig, sl), 0);

    /* a public key file is not a private key; missing and junk files; another key type */
    assert_null(hyb_sign_load_private(pub, err, sizeof err));
    assert_non_null(strstr(err, pub));
    assert_null(hyb_sign_load_private("/nonexistent/id.key", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/id.key"));
    assert_int_equal(hyb_write_file(dir, "junk.pem", "hello\n", junk, sizeof junk), 0);
    assert_null(hyb_sign_load_public(junk, err, sizeof err));
    assert_non_null(strstr(err, "junk.pem"));
    eck = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(eck);
    snprintf(ec, sizeof ec, "%s/ec.key", dir);
    write_pem(ec, eck, 0, NULL);
    assert_null(hyb_sign_load_private(ec, err, sizeof err));
    assert_non_null(strstr(err, "ML-DSA-65"));
    snprintf(ec, sizeof ec, "%s/ec.pub", dir);
    write_pem(ec, eck, 1, NULL);
    assert_null(hyb_sign_load_public(ec, err, sizeof err));
    assert_non_null(strstr(err, "ML-DSA-65"));
    assert_int_equal(hyb_sign(eck, MSG, sizeof MSG, &sig, &sl), -1);
    assert_int_equal(ERR_peek_error(), 0); /* failures leave no stale OpenSSL errors */

    free(sig);
    EVP_PKEY_free(k);
    EVP_PKEY_free(lp);
    EVP_PKEY_free(lpub);
    EVP_PKEY_free(lcert);
    EVP_PKEY_free(eck);
    hyb_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_verify),
        cmocka_unit_test(test_context_string),
        cmocka_unit_test(test_pem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
