/* tls.c: the one TLS setup of the project. Builds TLS 1.3-only client and server contexts with
 * mandatory mutual authentication, the hybrid post-quantum key exchange group first, no
 * session resumption or renegotiation, and reports the verified peer's identity. */
#include "tls.h"

#include "bytes.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* The last OpenSSL error as text (or "unknown error"); clears the queue. */
static void tls_last_error(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    if (e == 0) {
        snprintf(buf, len, "unknown error");
    } else {
        const char *r = ERR_reason_error_string(e);
        if (r != NULL)
            snprintf(buf, len, "%s", r);
        else
            ERR_error_string_n(e, buf, len);
    }
    ERR_clear_error();
}

/* Checks that path names a readable file, so errors name the file and the system reason. */
static int tls_check_file(const char *what, const char *path, char *err, size_t errlen)
{
    if (path == NULL || path[0] == '\0') {
        snprintf(err, errlen, "no %s file given", what);
        return -1;
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s file %s: %s", what, path, strerror(errno));
        return -1;
    }
    fclose(f);
    return 0;
}

/* Writes to a peer that closed raise SIGPIPE with OpenSSL's socket BIO; every program of the
 * project wants EPIPE instead. Only changes the default disposition. */
static void tls_ignore_sigpipe(void)
{
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_IGN;
        sigemptyset(&sa.sa_mask);
        (void)sigaction(SIGPIPE, &sa, NULL);
    }
}

/* Loads the private key and checks it belongs to the certificate already loaded. */
static int tls_use_key(SSL_CTX *ctx, const struct qkd_tls_files *files, char *err, size_t errlen)
{
    char why[256];
    BIO *bio = BIO_new_file(files->key, "r");
    EVP_PKEY *pkey = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (pkey == NULL) {
        tls_last_error(why, sizeof(why));
        snprintf(err, errlen, "cannot load private key file %s: %s", files->key, why);
        return -1;
    }
    X509 *cert = SSL_CTX_get0_certificate(ctx);
    int rc = -1;
    if (cert == NULL || X509_check_private_key(cert, pkey) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, "private key file %s does not match certificate file %s", files->key,
                 files->cert);
    } else if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        tls_last_error(why, sizeof(why));
        snprintf(err, errlen, "cannot use private key file %s: %s", files->key, why);
    } else {
        rc = 0;
    }
    EVP_PKEY_free(pkey);
    return rc;
}

SSL_CTX *qkd_tls_ctx_new(bool server, const struct qkd_tls_files *files, char *err, size_t errlen)
{
    char why[256];
    SSL_CTX *ctx = NULL;

    if (files == NULL) {
        snprintf(err, errlen, "no TLS files given");
        return NULL;
    }
    if (tls_check_file("certificate", files->cert, err, errlen) != 0 ||
        tls_check_file("private key", files->key, err, errlen) != 0 ||
        tls_check_file("CA", files->ca, err, errlen) != 0)
        return NULL;

    ERR_clear_error();
    ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (ctx == NULL) {
        tls_last_error(why, sizeof(why));
        snprintf(err, errlen, "cannot create TLS context: %s", why);
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
        tls_last_error(why, sizeof(why));
        snprintf(err, errlen, "cannot restrict TLS to 1.3: %s", why);
        goto fail;
    }
    if (SSL_CTX_set1_groups_list(ctx, QKD_TLS_GROUPS) != 1) {
        tls_last_error(why, sizeof(why));
        snprintf(err, errlen, "cannot set key exchange groups %s: %s", QKD_TLS_GROUPS, why);
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, files->cert) != 1) {
        tls_last_error(why, sizeof(why));
        snprintf(err, errlen, "cannot load certificate file %s: %s", files->cert, why);
        goto fail;
    }
    if (tls_use_key(ctx, files, err, errlen) != 0) goto fail;
    if (SSL_CTX_load_verify_locations(ctx, files->ca, NULL) != 1) {
        tls_last_error(why, sizeof(why));
        snprintf(err, errlen, "cannot load CA file %s: %s", files->ca, why);
        goto fail;
    }
    /* The "CA" may also be a single pinned certificate that is not self-signed. */
    X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(ctx);
    if (vp == NULL || X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_PARTIAL_CHAIN) != 1) {
        tls_last_error(why, sizeof(why));
        snprintf(err, errlen, "cannot set verification flags: %s", why);
        goto fail;
    }
    if (server) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        /* Tell clients which CA we accept (helps clients holding several identities). */
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(files->ca);
        if (names != NULL) SSL_CTX_set_client_CA_list(ctx, names);
        ERR_clear_error();
        if (SSL_CTX_set_num_tickets(ctx, 0) != 1) {
            tls_last_error(why, sizeof(why));
            snprintf(err, errlen, "cannot disable session tickets: %s", why);
            goto fail;
        }
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    /* RELEASE_BUFFERS: an idle connection keeps no 16 KiB record buffers (10 000 idle
     * connections cost tens of MB instead of hundreds; qkd-bench idle measures it). */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    tls_ignore_sigpipe();
    return ctx;

fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* The peer certificate, only when it was verified. */
static X509 *tls_verified_peer(SSL *ssl)
{
    if (ssl == NULL) return NULL;
    X509 *cert = SSL_get0_peer_certificate(ssl);
    if (cert == NULL || SSL_get_verify_result(ssl) != X509_V_OK) return NULL;
    return cert;
}

/* Copies an ASN.1 string as UTF-8 into out; refuses embedded NULs and empty strings. */
static int tls_copy_asn1(const ASN1_STRING *s, char *out, size_t outlen)
{
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, s);
    if (n <= 0) {
        ERR_clear_error();
        return -1;
    }
    int rc = -1;
    if (memchr(utf8, '\0', (size_t)n) == NULL && (size_t)n < outlen) {
        memcpy(out, utf8, (size_t)n);
        out[n] = '\0';
        rc = 0;
    }
    OPENSSL_free(utf8);
    return rc;
}

int qkd_tls_peer_name(SSL *ssl, char *out, size_t outlen)
{
    if (out == NULL || outlen == 0) return -1;
    out[0] = '\0';
    X509 *cert = tls_verified_peer(ssl);
    if (cert == NULL) return -1;

    const X509_NAME *subj = X509_get_subject_name(cert);
    int idx = subj != NULL ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
    if (idx >= 0) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(subj, idx);
        if (e != NULL && tls_copy_asn1(X509_NAME_ENTRY_get_data(e), out, outlen) == 0) return 0;
    }

    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    int rc = -1;
    if (sans != NULL) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans) && rc != 0; i++) {
            const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
            if (gn->type == GEN_DNS) rc = tls_copy_asn1(gn->d.dNSName, out, outlen);
        }
        GENERAL_NAMES_free(sans);
    }
    ERR_clear_error();
    if (rc != 0) out[0] = '\0';
    return rc;
}

int qkd_tls_peer_node_name(SSL *ssl, char *out, size_t outlen)
{
    if (qkd_tls_peer_name(ssl, out, outlen) != 0) return -1;
    X509 *cert = tls_verified_peer(ssl);
    const uint32_t node = XKU_SSL_SERVER | XKU_SSL_CLIENT;
    /* without the extension OpenSSL reports every usage: require it to be present */
    bool has_eku = (X509_get_extension_flags(cert) & EXFLAG_XKUSAGE) != 0;
    bool is_node = has_eku && (X509_get_extended_key_usage(cert) & node) == node;
    ERR_clear_error();
    return is_node ? 0 : QKD_TLS_NOT_NODE;
}

int qkd_tls_peer_id(SSL *ssl, char *out, size_t outlen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (out == NULL || outlen == 0) return -1;
    out[0] = '\0';
    X509 *cert = tls_verified_peer(ssl);
    if (cert == NULL) return -1;
    if (X509_digest(cert, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32) {
        ERR_clear_error();
        return -1;
    }
    if (outlen < 7 + 2 * (size_t)mdlen + 1) return -1;
    memcpy(out, "sha256:", 7);
    qkd_hex(md, mdlen, out + 7);
    return 0;
}

int qkd_tls_set_expected_host(SSL *ssl, const char *host)
{
    if (ssl == NULL || host == NULL || host[0] == '\0') return -1;
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl, host) != 1) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

const char *qkd_tls_group_name(SSL *ssl)
{
    if (ssl == NULL) return NULL;
    return SSL_get0_group_name(ssl);
}
