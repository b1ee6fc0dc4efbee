/* test_rest_client.c: unit tests of the blocking ETSI 014 client (src/client/rest_client.c;
 * docs/client.md) against a scripted HTTPS server in a thread (alice's node certificate, the
 * test CA): the request lines and bodies it writes, the decoded Status and Key container, the
 * server's error message with its status, keep-alive reuse, the one reconnect after an idle
 * close (and none on a fresh connection), a malformed 200 body, a silent server against the
 * timeout, the server name check, the URL and path rules. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <openssl/ssl.h>

#include "evloop.h"
#include "rest_client.h"
#include "tls.h"

enum fk_act { FK_REPLY = 0, FK_REPLY_CLOSE, FK_CLOSE, FK_SILENT };
struct fk_step {
    enum fk_act act;
    const char *resp; /* whole raw response */
};
#define FK_MAX 8
struct fk {
    int lfd, port;
    pthread_t th;
    SSL_CTX *ctx;
    struct fk_step steps[FK_MAX];
    int nsteps;
    volatile int stop;
    int accepted;
    char req[FK_MAX][2048]; /* each request as received */
    int nreq;
};

static const char *fk_certs(void)
{
    const char *c = getenv("QKD_TEST_CERTS");
    return c ? c : "test-certs";
}

/* Reads one request (headers + Content-Length body) into buf. 0, or -1 when closed. */
static int fk_read_req(SSL *ssl, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        int r = SSL_read(ssl, buf + n, (int)(cap - 1 - n));
        if (r <= 0) return -1;
        n += (size_t)r;
        buf[n] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (!end) continue;
        const char *cl = strstr(buf, "Content-Length: ");
        size_t body = cl ? (size_t)atoi(cl + 16) : 0;
        if (n >= (size_t)(end + 4 - buf) + body) return 0;
    }
}

static void *fk_run(void *arg)
{
    struct fk *s = arg;
    int step = 0;
    while (!s->stop && step < s->nsteps) {
        int cfd = accept(s->lfd, NULL, NULL);
        if (cfd < 0) break;
        if (s->stop) {
            close(cfd);
            break;
        }
        s->accepted++;
        SSL *ssl = SSL_new(s->ctx);
        SSL_set_fd(ssl, cfd);
        if (SSL_accept(ssl) != 1) {
            SSL_free(ssl);
            close(cfd);
            continue;
        }
        bool open = true;
        while (open && step < s->nsteps && !s->stop) {
            char req[2048];
            if (fk_read_req(ssl, req, sizeof req) != 0) break;
            if (s->nreq < FK_MAX) snprintf(s->req[s->nreq++], sizeof s->req[0], "%s", req);
            const struct fk_step *st = &s->steps[step++];
            if (st->act == FK_REPLY || st->act == FK_REPLY_CLOSE)
                SSL_write(ssl, st->resp, (int)strlen(st->resp));
            if (st->act == FK_SILENT) {
                while (!s->stop)
                    usleep(10000);
            }
            if (st->act != FK_REPLY) open = false;
        }
        if (open && step >= s->nsteps) { /* wait for the client to go */
            char b[64];
            while (!s->stop && SSL_read(ssl, b, sizeof b) > 0) {
            }
        }
        SSL_shutdown(ssl);
        SSL_free(ssl);
        close(cfd);
    }
    return NULL;
}

static void fk_start(struct fk *s, const struct fk_step *steps, int n)
{
    memset(s, 0, sizeof *s);
    char cert[512], key[512], ca[512], err[256];
    snprintf(cert, sizeof cert, "%s/alice/node.pem", fk_certs());
    snprintf(key, sizeof key, "%s/alice/node.key", fk_certs());
    snprintf(ca, sizeof ca, "%s/ca.pem", fk_certs());
    struct qkd_tls_files f = {.cert = cert, .key = key, .ca = ca};
    s->ctx = qkd_tls_ctx_new(true, &f, err, sizeof err);
    assert_non_null(s->ctx);
    memcpy(s->steps, steps, (size_t)n * sizeof *steps);
    s->nsteps = n;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->lfd, 8), 0);
    socklen_t al = sizeof a;
    getsockname(s->lfd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->th, NULL, fk_run, s), 0);
}

static void fk_stop(struct fk *s)
{
    s->stop = 1;
    shutdown(s->lfd, SHUT_RDWR);
    /* wake an accept() that is still waiting */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    (void)connect(fd, (struct sockaddr *)&a, sizeof a);
    close(fd);
    pthread_join(s->th, NULL);
    close(s->lfd);
    SSL_CTX_free(s->ctx);
}

static struct rest_client *cl_new(const struct fk *s, const char *server_name, uint32_t tmo)
{
    char url[64], cert[512], key[512], ca[512], err[256];
    snprintf(url, sizeof url, "https://127.0.0.1:%d", s->port);
    snprintf(cert, sizeof cert, "%s/alice/client.pem", fk_certs());
    snprintf(key, sizeof key, "%s/alice/client.key", fk_certs());
    snprintf(ca, sizeof ca, "%s/ca.pem", fk_certs());
    struct rest_cfg cfg = {.url = url,
                           .cert = cert,
                           .key = key,
                           .ca = ca,
                           .server_name = server_name,
                           .timeout_ms = tmo};
    struct rest_client *c = rest_new(&cfg, err, sizeof err);
    assert_non_null(c);
    return c;
}

#define OK_HDR "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
/* two 32-byte keys: bytes 0..31 and 32 bytes of 0xff */
#define KEYS_BODY                                                                                  \
    "{\"keys\":[{\"key_ID\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\",\"key\":"                     \
    "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"},{\"key_ID\":"                               \
    "\"5f0c0c4e-8a3b-4f5e-9d2a-3b1c2d3e4f50\",\"key\":"                                            \
    "\"//////////////////////////////////////////8=\"}]}"

static char keys_resp[1024];
static const char *keys_response(void)
{
    snprintf(keys_resp, sizeof keys_resp, OK_HDR "Content-Length: %zu\r\n\r\n%s", strlen(KEYS_BODY),
             KEYS_BODY);
    return keys_resp;
}

static void check_keys(const struct etsi014_keys *k)
{
    assert_int_equal(k->n, 2);
    char id[37];
    etsi014_uuid_str(k->ids[0], id);
    assert_string_equal(id, "1b4e28ba-2fa1-11d2-883f-0016d3cca427");
    assert_int_equal(k->key_bytes[0], 32);
    for (int i = 0; i < 32; i++) {
        assert_int_equal(k->buf->data[k->off[0] + (size_t)i], i);
        assert_int_equal(k->buf->data[k->off[1] + (size_t)i], 0xff);
    }
}

static void test_status_get(void **state)
{
    (void)state;
    static const char body[] =
        "{\"source_KME_ID\":\"alice\",\"target_KME_ID\":\"bob\",\"master_SAE_ID\":\"alice-app\","
        "\"slave_SAE_ID\":\"bob app\",\"key_size\":256,\"stored_key_count\":1000,"
        "\"max_key_count\":5000,\"max_key_per_request\":128,\"max_key_size\":8192,"
        "\"min_key_size\":64,\"max_SAE_ID_count\":8}";
    char resp[1024];
    snprintf(resp, sizeof resp, OK_HDR "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    struct fk_step steps[] = {{FK_REPLY, resp}};
    struct fk s;
    fk_start(&s, steps, 1);
    struct rest_client *c = cl_new(&s, NULL, 5000);
    struct etsi014_status_view v;
    struct rest_result res;
    assert_int_equal(rest_status(c, "bob app", &v, &res), REST_OK);
    assert_int_equal(res.http_status, 200);
    assert_string_equal(v.source_kme, "alice");
    assert_string_equal(v.slave, "bob app");
    assert_int_equal(v.stored_key_count, 1000);
    assert_non_null(strstr(s.req[0], "GET /api/v1/keys/bob%20app/status HTTP/1.1\r\n"));
    assert_non_null(strstr(s.req[0], "\r\nHost: 127.0.0.1:"));
    rest_free(c);
    fk_stop(&s);
}

static void test_enc_get_keep_alive_and_dec_get(void **state)
{
    (void)state;
    struct fk_step steps[] = {{FK_REPLY, keys_response()}, {FK_REPLY, keys_response()}};
    struct fk s;
    fk_start(&s, steps, 2);
    struct rest_client *c = cl_new(&s, NULL, 5000);
    struct etsi014_keys k;
    struct rest_result res;
    assert_int_equal(rest_enc_keys(c, "bob-app", 2, 256, NULL, 0, false, &k, &res), REST_OK);
    assert_int_equal(res.http_status, 200);
    check_keys(&k);
    uint8_t ids[2][16];
    memcpy(ids, k.ids, sizeof ids);
    etsi014_keys_free(&k);
    assert_int_equal(rest_dec_keys(c, "alice-app", (const uint8_t(*)[16])ids, 2, false, &k, &res),
                     REST_OK);
    check_keys(&k);
    etsi014_keys_free(&k);
    assert_int_equal(rest_connects(c), 1); /* one keep-alive connection */
    assert_int_equal(s.accepted, 1);
    assert_non_null(strstr(s.req[0], "GET /api/v1/keys/bob-app/enc_keys?number=2&size=256 "));
    assert_non_null(strstr(s.req[1], "GET /api/v1/keys/alice-app/dec_keys?key_ID=1b4e28ba-2fa1-"
                                     "11d2-883f-0016d3cca427&key_ID=5f0c0c4e-8a3b-4f5e-9d2a-"
                                     "3b1c2d3e4f50 "));
    rest_free(c);
    fk_stop(&s);
}

static void test_post_bodies(void **state)
{
    (void)state;
    struct fk_step steps[] = {{FK_REPLY, keys_response()}, {FK_REPLY, keys_response()}};
    struct fk s;
    fk_start(&s, steps, 2);
    struct rest_client *c = cl_new(&s, NULL, 5000);
    struct etsi014_keys k;
    struct rest_result res;
    const char *add[] = {"carol\"app", "dave-app"};
    assert_int_equal(rest_enc_keys(c, "bob-app", 2, 0, add, 2, true, &k, &res), REST_OK);
    etsi014_keys_free(&k);
    uint8_t id[1][16];
    assert_int_equal(etsi014_uuid_parse("1b4e28ba-2fa1-11d2-883f-0016d3cca427", id[0]), 0);
    assert_int_equal(rest_dec_keys(c, "alice-app", (const uint8_t(*)[16])id, 1, true, &k, &res),
                     REST_OK);
    etsi014_keys_free(&k);
    assert_non_null(strstr(s.req[0], "POST /api/v1/keys/bob-app/enc_keys HTTP/1.1\r\n"));
    assert_non_null(strstr(s.req[0], "Content-Type: application/json\r\n"));
    assert_non_null(strstr(s.req[0], "\r\n\r\n{\"number\":2,\"additional_slave_SAE_IDs\":"
                                     "[\"carol\\\"app\",\"dave-app\"]}"));
    assert_non_null(strstr(s.req[1], "POST /api/v1/keys/alice-app/dec_keys HTTP/1.1\r\n"));
    assert_non_null(strstr(s.req[1], "\r\n\r\n{\"key_IDs\":[{\"key_ID\":\"1b4e28ba-2fa1-11d2-"
                                     "883f-0016d3cca427\"}]}"));
    /* additional slaves need POST: refused locally, nothing sent */
    assert_int_equal(rest_enc_keys(c, "bob-app", 1, 0, add, 1, false, &k, &res), REST_ERR_LOCAL);
    assert_int_equal(s.nreq, 2);
    rest_free(c);
    fk_stop(&s);
}

static void test_error_status_and_message(void **state)
{
    (void)state;
    static const char body[] = "{\"message\":\"key_ID unknown: 1b4e28ba\"}";
    char resp[512];
    snprintf(resp, sizeof resp,
             "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    struct fk_step steps[] = {
        {FK_REPLY, resp},
        {FK_REPLY, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nbusy!"},
    };
    struct fk s;
    fk_start(&s, steps, 2);
    struct rest_client *c = cl_new(&s, NULL, 5000);
    struct etsi014_keys k;
    struct rest_result res;
    assert_int_equal(rest_enc_keys(c, "bob-app", 1, 0, NULL, 0, false, &k, &res), REST_OK);
    assert_int_equal(res.http_status, 400);
    assert_string_equal(res.message, "key_ID unknown: 1b4e28ba");
    /* not a JSON Error: the reason phrase stands in */
    assert_int_equal(rest_enc_keys(c, "bob-app", 1, 0, NULL, 0, false, &k, &res), REST_OK);
    assert_int_equal(res.http_status, 503);
    assert_string_equal(res.message, "Service Unavailable");
    rest_free(c);
    fk_stop(&s);
}

static void test_reconnect_after_idle_close(void **state)
{
    (void)state;
    /* the server answers then closes the connection (as on its idle timeout); the next call
     * notices before sending and uses a new connection */
    struct fk_step steps[] = {{FK_REPLY_CLOSE, keys_response()}, {FK_REPLY, keys_response()}};
    struct fk s;
    fk_start(&s, steps, 2);
    struct rest_client *c = cl_new(&s, NULL, 5000);
    struct etsi014_keys k;
    struct rest_result res;
    assert_int_equal(rest_enc_keys(c, "bob-app", 2, 0, NULL, 0, false, &k, &res), REST_OK);
    etsi014_keys_free(&k);
    usleep(100000);
    assert_int_equal(rest_enc_keys(c, "bob-app", 2, 0, NULL, 0, false, &k, &res), REST_OK);
    check_keys(&k);
    etsi014_keys_free(&k);
    assert_int_equal(rest_connects(c), 2);
    rest_free(c);
    fk_stop(&s);
}

static void test_retry_once_on_reused_connection_only(void **state)
{
    (void)state;
    /* reused connection closed without an answer: sent once more on a new one */
    struct fk_step steps[] = {
        {FK_REPLY, keys_response()}, {FK_CLOSE, NULL}, {FK_REPLY, keys_response()}};
    struct fk s;
    fk_start(&s, steps, 3);
    struct rest_client *c = cl_new(&s, NULL, 5000);
    struct etsi014_keys k;
    struct rest_result res;
    assert_int_equal(rest_enc_keys(c, "bob-app", 2, 0, NULL, 0, false, &k, &res), REST_OK);
    etsi014_keys_free(&k);
    assert_int_equal(rest_enc_keys(c, "bob-app", 2, 0, NULL, 0, false, &k, &res), REST_OK);
    etsi014_keys_free(&k);
    assert_int_equal(rest_connects(c), 2);
    assert_int_equal(s.nreq, 3);
    rest_free(c);
    fk_stop(&s);
    /* a fresh connection closed without an answer: an error, no second try */
    struct fk_step steps2[] = {{FK_CLOSE, NULL}, {FK_REPLY, keys_response()}};
    fk_start(&s, steps2, 2);
    c = cl_new(&s, NULL, 5000);
    assert_int_equal(rest_enc_keys(c, "bob-app", 2, 0, NULL, 0, false, &k, &res),
                     REST_ERR_TRANSPORT);
    assert_non_null(strstr(res.message, "closed"));
    assert_int_equal(s.nreq, 1);
    rest_free(c);
    fk_stop(&s);
}

static void test_surplus_bytes_drop_the_connection(void **state)
{
    (void)state;
    /* a response followed by bytes nobody asked for: answered, then a new connection */
    static char resp[1200];
    snprintf(resp, sizeof resp, "%sHTTP/1.1 200 OK\r\n", keys_response());
    struct fk_step steps[] = {{FK_REPLY, resp}, {FK_REPLY, keys_response()}};
    struct fk s;
    fk_start(&s, steps, 2);
    struct rest_client *c = cl_new(&s, NULL, 5000);
    struct etsi014_keys k;
    struct rest_result res;
    assert_int_equal(rest_enc_keys(c, "bob-app", 2, 0, NULL, 0, false, &k, &res), REST_OK);
    check_keys(&k);
    etsi014_keys_free(&k);
    assert_int_equal(rest_enc_keys(c, "bob-app", 2, 0, NULL, 0, false, &k, &res), REST_OK);
    check_keys(&k);
    etsi014_keys_free(&k);
    assert_int_equal(rest_connects(c), 2);
    rest_free(c);
    fk_stop(&s);
}

static void test_malformed_body_and_response(void **state)
{
    (void)state;
    struct fk_step steps[] = {
        {FK_REPLY, OK_HDR "Content-Length: 9\r\n\r\n{\"keys\":1"},
        {FK_REPLY_CLOSE, "HTTP/1.1 2x0 OK\r\n\r\n"},
    };
    struct fk s;
    fk_start(&s, steps, 2);
    struct rest_client *c = cl_new(&s, NULL, 5000);
    struct etsi014_keys k;
    struct rest_result res;
    assert_int_equal(rest_enc_keys(c, "bob-app", 1, 0, NULL, 0, false, &k, &res),
                     REST_ERR_TRANSPORT);
    assert_int_equal(res.http_status, 200);
    assert_non_null(strstr(res.message, "malformed enc_keys response"));
    assert_int_equal(rest_enc_keys(c, "bob-app", 1, 0, NULL, 0, false, &k, &res),
                     REST_ERR_TRANSPORT);
    assert_non_null(strstr(res.message, "malformed HTTP response"));
    rest_free(c);
    fk_stop(&s);
}

static void test_silent_server_times_out(void **state)
{
    (void)state;
    struct fk_step steps[] = {{FK_SILENT, NULL}};
    struct fk s;
    fk_start(&s, steps, 1);
    struct rest_client *c = cl_new(&s, NULL, 300);
    struct etsi014_status_view v;
    struct rest_result res;
    uint64_t t0 = qkd_now_ms();
    assert_int_equal(rest_status(c, "bob-app", &v, &res), REST_ERR_TRANSPORT);
    uint64_t took = qkd_now_ms() - t0;
    assert_true(took >= 250 && took < 3000);
    assert_non_null(strstr(res.message, "timed out"));
    rest_free(c);
    fk_stop(&s);
}

static void test_server_name_checked(void **state)
{
    (void)state;
    struct fk_step steps[] = {{FK_REPLY, keys_response()}};
    struct fk s;
    fk_start(&s, steps, 1);
    struct rest_client *c = cl_new(&s, "mallory.example", 5000);
    struct rest_result res;
    assert_int_equal(rest_connect(c, &res), REST_ERR_TRANSPORT);
    assert_non_null(strstr(res.message, "TLS handshake"));
    rest_free(c);
    /* the node certificate names "alice" and 127.0.0.1 */
    c = cl_new(&s, "alice", 5000);
    assert_int_equal(rest_connect(c, &res), REST_OK);
    rest_free(c);
    fk_stop(&s);
}

static void test_url_split(void **state)
{
    (void)state;
    char host[256], err[256];
    unsigned port = 0;
    assert_int_equal(rest_url_split("https://127.0.0.1:8443", host, sizeof host, &port, err, 256),
                     0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8443);
    assert_int_equal(rest_url_split("https://kme_alice/", host, sizeof host, &port, err, 256), 0);
    assert_string_equal(host, "kme_alice");
    assert_int_equal(port, 443);
    assert_int_equal(rest_url_split("https://[::1]:9", host, sizeof host, &port, err, 256), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 9);
    const char *bad[] = {"http://a:1",  "https://",        "https://a:1/api",
                         "https://a:0", "https://a:65536", "https://:5",
                         "a:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(rest_url_split(bad[i], host, sizeof host, &port, err, 256), -1);
}

static void test_path_escape(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(rest_path_escape("a b/c%", out, sizeof out), 0);
    assert_string_equal(out, "a%20b%2Fc%25");
    assert_int_equal(rest_path_escape("abcdefghijklmno", out, sizeof out), 0); /* 15 + NUL */
    assert_int_equal(rest_path_escape("abcdefghijklmnop", out, sizeof out), -1);
    assert_int_equal(rest_path_escape("abcdefghijkl%", out, sizeof out), 0); /* 12 + 3 + NUL */
    assert_int_equal(rest_path_escape("abcdefghijklm%", out, sizeof out), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_get),
        cmocka_unit_test(test_enc_get_keep_alive_and_dec_get),
        cmocka_unit_test(test_post_bodies),
        cmocka_unit_test(test_error_status_and_message),
        cmocka_unit_test(test_reconnect_after_idle_close),
        cmocka_unit_test(test_retry_once_on_reused_connection_only),
        cmocka_unit_test(test_surplus_bytes_drop_the_connection),
        cmocka_unit_test(test_malformed_body_and_response),
        cmocka_unit_test(test_silent_server_times_out),
        cmocka_unit_test(test_server_name_checked),
        cmocka_unit_test(test_url_split),
        cmocka_unit_test(test_path_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
