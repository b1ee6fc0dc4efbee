/* test_tls.c: unit tests of tls.c: context creation errors name the file at fault, mutual
 * authentication and TLS 1.3 with X25519MLKEM768 over an in-memory BIO pair, refused peers
 * (other CA, no client certificate, wrong expected host), peer name and peer id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tls.h"

static char g_certs[1024];
static char g_other[1100];

static const char *path(char *buf, size_t len, const char *base, const char *rel)
{
    snprintf(buf, len, "%s/%s", base, rel);
    return buf;
}

static int setup_certs(void **state)
{
    const char *d = getenv("QKD_TEST_CERTS");
    if (d == NULL || d[0] == '\0') {
        fprintf(stderr, "QKD_TEST_CERTS is not set (run through ctest)\n");
        return -1;
    }
    snprintf(g_certs, sizeof(g_certs), "%s", d);
    snprintf(g_other, sizeof(g_other), "%s-other", d);
    return 0;
}

/* A context for node (node.pem/key) or for a client identity file pair under base. */
static SSL_CTX *make_ctx(int server, const char *base, const char *cert, const char *key,
                         const char *ca_base)
{
    char c[1200], k[1200], a[1200], err[512];
    struct qkd_tls_files f = {path(c, sizeof(c), base, cert), path(k, sizeof(k), base, key),
                              path(a, sizeof(a), ca_base, "ca.pem")};
    SSL_CTX *ctx = qkd_tls_ctx_new(server != 0, &f, err, sizeof(err));
    if (ctx == NULL) fprintf(stderr, "ctx: %s\n", err);
    return ctx;
}

static void test_missing_file_named(void **state)
{
    char c[1200], k[1200], a[1200], err[512];
    struct qkd_tls_files f = {path(c, sizeof(c), g_certs, "alice/node.pem"),
                              path(k, sizeof(k), g_certs, "alice/no-such.key"),
                              path(a, sizeof(a), g_certs, "ca.pem")};
    assert_null(qkd_tls_ctx_new(true, &f, err, sizeof(err)));
    assert_non_null(strstr(err, "alice/no-such.key"));

    f.key = path(k, sizeof(k), g_certs, "alice/node.key");
    f.ca = "/nonexistent/ca.pem";
    assert_null(qkd_tls_ctx_new(false, &f, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/ca.pem"));

    f.ca = path(a, sizeof(a), g_certs, "ca.pem");
    f.cert = NULL;
    assert_null(qkd_tls_ctx_new(false, &f, err, sizeof(err)));
    assert_non_null(strstr(err, "certificate"));
}

static void test_mismatched_key_named(void **state)
{
    char c[1200], k[1200], a[1200], err[512];
    struct qkd_tls_files f = {path(c, sizeof(c), g_certs, "alice/node.pem"),
                              path(k, sizeof(k), g_certs, "bob/node.key"),
                              path(a, sizeof(a), g_certs, "ca.pem")};
    assert_null(qkd_tls_ctx_new(true, &f, err, sizeof(err)));
    assert_non_null(strstr(err, "bob/node.key"));
    assert_non_null(strstr(err, "does not match"));
}

static void test_garbage_files_named(void **state)
{
    char tmpl[] = "/tmp/qkd-test-tls-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not a pem file\n", 15), 15);
    close(fd);

    char c[1200], k[1200], a[1200], err[512];
    struct qkd_tls_files f = {tmpl, path(k, sizeof(k), g_certs, "alice/node.key"),
                              path(a, sizeof(a), g_certs, "ca.pem")};
    assert_null(qkd_tls_ctx_new(true, &f, err, sizeof(err)));
    assert_non_null(strstr(err, tmpl));
    assert_non_null(strstr(err, "certificate"));

    f.cert = path(c, sizeof(c), g_certs, "alice/node.pem");
    f.key = tmpl;
    assert_null(qkd_tls_ctx_new(true, &f, err, sizeof(err)));
    assert_non_null(strstr(err, tmpl));
    assert_non_null(strstr(err, "key"));

    f.key = path(k, sizeof(k), g_certs, "alice/node.key");
    f.ca = tmpl;
    assert_null(qkd_tls_ctx_new(true, &f, err, sizeof(err)));
    assert_non_null(strstr(err, tmpl));
    assert_non_null(strstr(err, "CA"));
    unlink(tmpl);
}

static void test_ctx_settings(void **state)
{
    SSL_CTX *s = make_ctx(1, g_certs, "alice/node.pem", "alice/node.key", g_certs);
    SSL_CTX *c = make_ctx(0, g_certs, "bob/client.pem", "bob/client.key", g_certs);
    assert_non_null(s);
    assert_non_null(c);
    assert_int_equal(SSL_CTX_get_min_proto_version(s), TLS1_3_VERSION);
    assert_int_equal(SSL_CTX_get_max_proto_version(s), TLS1_3_VERSION);
    assert_int_equal(SSL_CTX_get_min_proto_version(c), TLS1_3_VERSION);
    assert_int_equal(SSL_CTX_get_verify_mode(s), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
    assert_int_equal(SSL_CTX_get_verify_mode(c), SSL_VERIFY_PEER);
    assert_true(SSL_CTX_get_options(s) & SSL_OP_NO_TICKET);
    assert_true(SSL_CTX_get_options(s) & SSL_OP_NO_RENEGOTIATION);
    assert_true(SSL_CTX_get_mode(c) & SSL_MODE_ENABLE_PARTIAL_WRITE);
    assert_true(SSL_CTX_get_mode(c) & SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_free(s);
    SSL_CTX_free(c);
}

/* Runs a handshake between two SSL objects over a BIO pair. Returns 1 when both finished, 0
 * when either failed. */
static int pair_handshake(SSL *srv, SSL *cli)
{
    BIO *bs = NULL, *bc = NULL;
    if (BIO_new_bio_pair(&bs, 0, &bc, 0) != 1) return 0;
    SSL_set_bio(srv, bs, bs);
    SSL_set_bio(cli, bc, bc);
    SSL_set_accept_state(srv);
    SSL_set_connect_state(cli);
    int sdone = 0, cdone = 0;
    for (int i = 0; i < 100 && !(sdone && cdone); i++) {
        if (!cdone) {
            int r = SSL_do_handshake(cli);
            if (r == 1)
                cdone = 1;
            else if (SSL_get_error(cli, r) != SSL_ERROR_WANT_READ)
                return 0;
        }
        if (!sdone) {
            int r = SSL_do_handshake(srv);
            if (r == 1)
                sdone = 1;
            else if (SSL_get_error(srv, r) != SSL_ERROR_WANT_READ)
                return 0;
        }
    }
    if (!(sdone && cdone)) return 0;
    /* In TLS 1.3 the client finishes first; a refused client certificate shows up as an
     * alert on the client's first read. */
    char b;
    int r = SSL_read(cli, &b, 1);
    if (r <= 0 && SSL_get_error(cli, r) != SSL_ERROR_WANT_READ) return 0;
    return 1;
}

struct pair {
    SSL_CTX *sctx, *cctx;
    SSL *s, *c;
};

static int run_pair(struct pair *p, SSL_CTX *sctx, SSL_CTX *cctx, const char *expect_host)
{
    memset(p, 0, sizeof(*p));
    p->sctx = sctx;
    p->cctx = cctx;
    assert_non_null(sctx);
    assert_non_null(cctx);
    p->s = SSL_new(sctx);
    p->c = SSL_new(cctx);
    assert_non_null(p->s);
    assert_non_null(p->c);
    if (expect_host != NULL) assert_int_equal(qkd_tls_set_expected_host(p->c, expect_host), 0);
    int ok = pair_handshake(p->s, p->c);
    ERR_clear_error();
    return ok;
}

static void free_pair(struct pair *p)
{
    SSL_free(p->s);
    SSL_free(p->c);
    SSL_CTX_free(p->sctx);
    SSL_CTX_free(p->cctx);
}

static void test_mutual_auth_and_group(void **state)
{
    struct pair p;
    int ok = run_pair(&p, make_ctx(1, g_certs, "alice/node.pem", "alice/node.key", g_certs),
                      make_ctx(0, g_certs, "bob/node.pem", "bob/node.key", g_certs), NULL);
    assert_true(ok);
    char name[256];
    assert_int_equal(qkd_tls_peer_name(p.s, name, sizeof(name)), 0);
    assert_string_equal(name, "bob");
    assert_int_equal(qkd_tls_peer_name(p.c, name, sizeof(name)), 0);
    assert_string_equal(name, "alice");
    assert_int_equal(SSL_version(p.s), TLS1_3_VERSION);
    assert_non_null(qkd_tls_group_name(p.s));
    assert_string_equal(qkd_tls_group_name(p.s), "X25519MLKEM768");
    assert_string_equal(qkd_tls_group_name(p.c), "X25519MLKEM768");
    assert_int_equal(SSL_session_reused(p.c), 0);

    /* peer id: "sha256:" + hex of the DER digest of bob's certificate. */
    char id[QKD_TLS_ID_LEN];
    assert_int_equal(qkd_tls_peer_id(p.s, id, sizeof(id)), 0);
    assert_int_equal(strlen(id), 71);
    assert_memory_equal(id, "sha256:", 7);
    char f[1200];
    FILE *fp = fopen(path(f, sizeof(f), g_certs, "bob/node.pem"), "r");
    assert_non_null(fp);
    X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(x);
    unsigned char md[32];
    unsigned int mdlen = 0;
    assert_int_equal(X509_digest(x, EVP_sha256(), md, &mdlen), 1);
    char hex[72] = "sha256:";
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(hex + 7 + 2 * i, 3, "%02x", md[i]);
    assert_string_equal(id, hex);
    X509_free(x);
    /* too small a buffer */
    assert_int_equal(qkd_tls_peer_id(p.s, id, 20), -1);
    free_pair(&p);
}

static void test_client_identities(void **state)
{
    struct pair p;
    int ok = run_pair(&p, make_ctx(1, g_certs, "alice/node.pem", "alice/node.key", g_certs),
                      make_ctx(0, g_certs, "alice/client.pem", "alice/client.key", g_certs), NULL);
    assert_true(ok);
    char name[256];
    assert_int_equal(qkd_tls_peer_name(p.s, name, sizeof(name)), 0);
    assert_string_equal(name, "alice-app");
    free_pair(&p);

    ok = run_pair(&p, make_ctx(1, g_certs, "bob/node.pem", "bob/node.key", g_certs),
                  make_ctx(0, g_certs, "clients/app2.pem", "clients/app2.key", g_certs), NULL);
    assert_true(ok);
    assert_int_equal(qkd_tls_peer_name(p.s, name, sizeof(name)), 0);
    assert_string_equal(name, "app2");
    /* too small a buffer for the name */
    assert_int_equal(qkd_tls_peer_name(p.s, name, 3), -1);
    free_pair(&p);
}

/* Peer links between nodes accept node certificates only (serverAuth + clientAuth): an
 * application certificate is refused even when it chains to the CA. */
static void test_node_role(void **state)
{
    struct pair p;
    char name[256];
    int ok = run_pair(&p, make_ctx(1, g_certs, "alice/node.pem", "alice/node.key", g_certs),
                      make_ctx(0, g_certs, "bob/node.pem", "bob/node.key", g_certs), NULL);
    assert_true(ok);
    assert_int_equal(qkd_tls_peer_node_name(p.s, name, sizeof(name)), 0);
    assert_string_equal(name, "bob");
    assert_int_equal(qkd_tls_peer_node_name(p.c, name, sizeof(name)), 0);
    assert_string_equal(name, "alice");
    free_pair(&p);
    const char *apps[][2] = {{"bob/client.pem", "bob/client.key"},
                             {"clients/mallory.pem", "clients/mallory.key"}};
    for (size_t i = 0; i < 2; i++) {
        ok = run_pair(&p, make_ctx(1, g_certs, "alice/node.pem", "alice/node.key", g_certs),
                      make_ctx(0, g_certs, apps[i][0], apps[i][1], g_certs), NULL);
        assert_true(ok);
        assert_int_equal(qkd_tls_peer_name(p.s, name, sizeof(name)), 0);
        assert_int_equal(qkd_tls_peer_node_name(p.s, name, sizeof(name)), QKD_TLS_NOT_NODE);
        free_pair(&p);
    }
    assert_int_equal(qkd_tls_peer_node_name(NULL, name, sizeof(name)), -1);
}

static void test_other_ca_refused(void **state)
{
    struct pair p;
    /* A client from another CA is refused by the server. */
    int ok = run_pair(&p, make_ctx(1, g_certs, "alice/node.pem", "alice/node.key", g_certs),
                      make_ctx(0, g_other, "clients/stranger.pem", "clients/stranger.key", g_certs),
                      NULL);
    assert_false(ok);
    char name[64];
    assert_int_equal(qkd_tls_peer_name(p.s, name, sizeof(name)), -1);
    free_pair(&p);

    /* A server from another CA is refused by the client. */
    ok = run_pair(&p,
                  make_ctx(1, g_other, "stranger-node/node.pem", "stranger-node/node.key", g_other),
                  make_ctx(0, g_certs, "bob/node.pem", "bob/node.key", g_certs), NULL);
    assert_false(ok);
    assert_int_equal(qkd_tls_peer_name(p.c, name, sizeof(name)), -1);
    free_pair(&p);
}

static void test_no_client_cert_refused(void **state)
{
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(cctx);
    SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
    char a[1200];
    assert_int_equal(
        SSL_CTX_load_verify_locations(cctx, path(a, sizeof(a), g_certs, "ca.pem"), NULL), 1);
    SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
    struct pair p;
    int ok =
        run_pair(&p, make_ctx(1, g_certs, "alice/node.pem", "alice/node.key", g_certs), cctx, NULL);
    assert_false(ok);
    free_pair(&p);
}

static void test_expected_host(void **state)
{
    struct pair p;
    int ok = run_pair(&p, make_ctx(1, g_certs, "alice/node.pem", "alice/node.key", g_certs),
                      make_ctx(0, g_certs, "bob/node.pem", "bob/node.key", g_certs), "kme_alice");
    assert_true(ok);
    free_pair(&p);
    ok = run_pair(&p, make_ctx(1, g_certs, "alice/node.pem", "alice/node.key", g_certs),
                  make_ctx(0, g_certs, "bob/node.pem", "bob/node.key", g_certs), "127.0.0.1");
    assert_true(ok);
    free_pair(&p);
    ok = run_pair(&p, make_ctx(1, g_certs, "alice/node.pem", "alice/node.key", g_certs),
                  make_ctx(0, g_certs, "bob/node.pem", "bob/node.key", g_certs), "charlie");
    assert_false(ok);
    free_pair(&p);
    assert_int_equal(qkd_tls_set_expected_host(NULL, "x"), -1);
}

static void test_no_peer(void **state)
{
    SSL_CTX *s = make_ctx(1, g_certs, "alice/node.pem", "alice/node.key", g_certs);
    assert_non_null(s);
    SSL *ssl = SSL_new(s);
    char buf[80];
    assert_int_equal(qkd_tls_peer_name(ssl, buf, sizeof(buf)), -1);
    assert_int_equal(qkd_tls_peer_id(ssl, buf, sizeof(buf)), -1);
    assert_int_equal(qkd_tls_peer_name(NULL, buf, sizeof(buf)), -1);
    SSL_free(ssl);
    SSL_CTX_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_file_named),
        cmocka_unit_test(test_mismatched_key_named),
        cmocka_unit_test(test_garbage_files_named),
        cmocka_unit_test(test_ctx_settings),
        cmocka_unit_test(test_mutual_auth_and_group),
        cmocka_unit_test(test_client_identities),
        cmocka_unit_test(test_node_role),
        cmocka_unit_test(test_other_ca_refused),
        cmocka_unit_test(test_no_client_cert_refused),
        cmocka_unit_test(test_expected_host),
        cmocka_unit_test(test_no_peer),
    };
    return cmocka_run_group_tests(tests, setup_certs, NULL);
}
