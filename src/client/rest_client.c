/* rest_client.c: the blocking ETSI GS QKD 014 HTTPS client (docs/client.md): a non-blocking
 * socket driven by poll() so the TCP connect, the TLS handshake and every write and read keep
 * a deadline; one keep-alive connection, reconnected once when the server closed it while it
 * was idle (nothing of the request was answered, so resending cannot double a call); requests
 * written here, responses parsed by http_resp.c and decoded by the 014 codec. */
#include "rest_client.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "evloop.h"
#include "http.h"
#include "http_resp.h"
#include "secbuf.h"
#include "sock.h"
#include "tls.h"

#define REST_READ_CHUNK 16384

struct rest_client {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
    char host[256];
    char port[8];
    char hostport[300]; /* Host header */
    char name[256];     /* expected server name, "" = none */
    uint32_t timeout_ms;
    struct qkd_hresp_parser *rp;
    uint64_t connects;
};

static void rest_msg(struct rest_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void rest_msg(struct rest_result *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof res->message, fmt, ap);
    va_end(ap);
}

int rest_url_split(const char *url, char *host, size_t hostlen, unsigned *port, char *err,
                   size_t errlen)
{
    static const char scheme[] = "https://";
    if (!url || strncmp(url, scheme, sizeof scheme - 1) != 0) {
        snprintf(err, errlen, "URL '%s' does not start with https://", url ? url : "");
        return -1;
    }
    const char *a = url + sizeof scheme - 1;
    size_t n = strcspn(a, "/?#");
    if (a[n] && strcmp(a + n, "/") != 0) {
        snprintf(err, errlen, "URL '%s': only https://HOST[:PORT] is taken (no path)", url);
        return -1;
    }
    char hp[300];
    if (n == 0 || n >= sizeof hp) {
        snprintf(err, errlen, "URL '%s': missing or too long host", url);
        return -1;
    }
    memcpy(hp, a, n);
    hp[n] = '\0';
    const char *rb = strrchr(hp, ']'), *colon = strrchr(hp, ':');
    bool has_port = colon && (!rb || colon > rb) && (hp[0] == '[' || strchr(hp, ':') == colon);
    char tmp[310];
    snprintf(tmp, sizeof tmp, has_port ? "%s" : "%s:%u", hp, REST_DEFAULT_PORT);
    char why[200];
    if (qkd_addr_split(tmp, host, hostlen, port, why, sizeof why) != 0) {
        snprintf(err, errlen, "URL '%s': %s", url, why);
        return -1;
    }
    if (!host[0] || *port == 0) {
        snprintf(err, errlen, "URL '%s': needs a host and a port 1..65535", url);
        return -1;
    }
    return 0;
}

int rest_path_escape(const char *in, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *s = (const unsigned char *)in; *s; s++) {
        bool keep = (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
                    (*s >= '0' && *s <= '9') || *s == '-' || *s == '.' || *s == '_' || *s == '~';
        if (o + (keep ? 1 : 3) >= outlen) return -1;
        if (keep) {
            out[o++] = (char)*s;
        } else {
            out[o++] = '%';
            out[o++] = hex[*s >> 4];
            out[o++] = hex[*s & 15];
        }
    }
    if (o >= outlen) return -1;
    out[o] = '\0';
    return 0;
}

struct rest_client *rest_new(const struct rest_cfg *cfg, char *err, size_t errlen)
{
    struct rest_client *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->fd = -1;
    unsigned port = 0;
    if (rest_url_split(cfg->url, c->host, sizeof c->host, &port, err, errlen) != 0) {
        free(c);
        return NULL;
    }
    snprintf(c->port, sizeof c->port, "%u", port);
    bool v6 = strchr(c->host, ':') != NULL;
    snprintf(c->hostport, sizeof c->hostport, v6 ? "[%s]:%u" : "%s:%u", c->host, port);
    const char *name = cfg->server_name ? cfg->server_name : c->host;
    if (strlen(name) >= sizeof c->name) {
        snprintf(err, errlen, "server name too long");
        free(c);
        return NULL;
    }
    snprintf(c->name, sizeof c->name, "%s", name);
    c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : REST_DEFAULT_TIMEOUT_MS;
    struct qkd_hresp_limits lim = {.max_body_bytes = cfg->max_body_bytes};
    c->rp = qkd_hresp_parser_new(&lim);
    struct qkd_tls_files f = {.cert = cfg->cert, .key = cfg->key, .ca = cfg->ca};
    if (c->rp) c->ctx = qkd_tls_ctx_new(false, &f, err, errlen);
    if (!c->rp || !c->ctx) {
        if (!c->rp) snprintf(err, errlen, "out of memory");
        rest_free(c);
        return NULL;
    }
    return c;
}

static void rest_disconnect(struct rest_client *c)
{
    if (c->ssl) SSL_free(c->ssl);
    c->ssl = NULL;
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}

void rest_free(struct rest_client *c)
{
    if (!c) return;
    rest_disconnect(c);
    SSL_CTX_free(c->ctx);
    qkd_hresp_parser_free(c->rp);
    free(c);
}

uint64_t rest_connects(const struct rest_client *c)
{
    return c->connects;
}

/* Waits until fd is ready for events or the deadline passes: 1 ready, 0 timed out, -1 error. */
static int rest_wait(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = qkd_now_ms();
        if (now >= deadline) return 0;
        uint64_t left = deadline - now;
        struct pollfd p = {.fd = fd, .events = events, .revents = 0};
        int r = poll(&p, 1, left > 60000000u ? 60000000 : (int)left);
        if (r > 0) return 1;
        if (r == 0) return 0;
        if (errno != EINTR) return -1;
    }
}

/* The newest OpenSSL error reason (or fallback); clears the queue. */
static const char *rest_ssl_reason(const char *fallback)
{
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0)
        last = e;
    const char *r = last ? ERR_reason_error_string(last) : NULL;
    return r ? r : fallback;
}

/* Waits for what SSL wants after a call returned r. 1 = try again, 0 = timeout, -1 = failed
 * (*ssl_err is SSL_get_error's value). */
static int rest_ssl_again(struct rest_client *c, int r, uint64_t deadline, int *ssl_err)
{
    int e = SSL_get_error(c->ssl, r);
    *ssl_err = e;
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return -1;
    int w = rest_wait(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
    return w > 0 ? 1 : w;
}

static int rest_tcp_connect(struct rest_client *c, uint64_t deadline, struct rest_result *res)
{
    struct addrinfo hints, *ai0 = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gr = getaddrinfo(c->host, c->port, &hints, &ai0);
    if (gr != 0) {
        rest_msg(res, "cannot resolve %s: %s", c->hostport, gai_strerror(gr));
        return -1;
    }
    int err = 0;
    for (struct addrinfo *ai = ai0; ai; ai = ai->ai_next) {
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            c->fd = fd;
            break;
        }
        if (errno == EINPROGRESS) {
            int w = rest_wait(fd, POLLOUT, deadline);
            int soerr = ETIMEDOUT;
            socklen_t sl = sizeof soerr;
            if (w > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) soerr = errno;
            if (w > 0 && soerr == 0) {
                c->fd = fd;
                break;
            }
            err = w == 0 ? ETIMEDOUT : soerr;
        } else {
            err = errno;
        }
        close(fd);
        if (err == ETIMEDOUT) break;
    }
    freeaddrinfo(ai0);
    if (c->fd < 0) {
        rest_msg(res, "cannot connect to %s: %s", c->hostport, strerror(err ? err : ECONNREFUSED));
        return -1;
    }
    qkd_tcp_nodelay(c->fd);
    return 0;
}

int rest_connect(struct rest_client *c, struct rest_result *res)
{
    rest_disconnect(c);
    uint64_t deadline = qkd_now_ms() + c->timeout_ms;
    if (rest_tcp_connect(c, deadline, res) != 0) return REST_ERR_TRANSPORT;
    c->connects++;
    c->ssl = SSL_new(c->ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 ||
        (c->name[0] && qkd_tls_set_expected_host(c->ssl, c->name) != 0)) {
        rest_msg(res, "TLS setup failed: %s", rest_ssl_reason("out of memory"));
        rest_disconnect(c);
        return REST_ERR_TRANSPORT;
    }
    struct in6_addr tmp;
    if (c->name[0] && inet_pton(AF_INET, c->name, &tmp) != 1 &&
        inet_pton(AF_INET6, c->name, &tmp) != 1)
        SSL_set_tlsext_host_name(c->ssl, c->name);
    for (;;) {
        int r = SSL_connect(c->ssl), e;
        if (r == 1) return REST_OK;
        int a = rest_ssl_again(c, r, deadline, &e);
        if (a > 0) continue;
        long v = SSL_get_verify_result(c->ssl);
        if (a == 0)
            rest_msg(res, "TLS handshake with %s timed out", c->hostport);
        else if (v != X509_V_OK)
            rest_msg(res, "TLS handshake with %s failed: server certificate: %s", c->hostport,
                     X509_verify_cert_error_string(v));
        else
            rest_msg(res, "TLS handshake with %s failed: %s", c->hostport,
                     rest_ssl_reason("connection closed"));
        rest_disconnect(c);
        return REST_ERR_TRANSPORT;
    }
}

/* An idle keep-alive connection the server closed (close_notify, FIN or reset) or that holds
 * bytes nobody asked for: not reusable. */
static bool rest_idle_dead(struct rest_client *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN, .revents = 0};
    if (poll(&p, 1, 0) <= 0) return false;
    char b;
    int r = SSL_peek(c->ssl, &b, 1);
    if (r > 0) return true;
    int e = SSL_get_error(c->ssl, r);
    ERR_clear_error();
    return e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE;
}

static int rest_write_all(struct rest_client *c, const char *p, size_t len, uint64_t deadline,
                          struct rest_result *res)
{
    while (len > 0) {
        size_t w = 0;
        int r = SSL_write_ex(c->ssl, p, len, &w), e;
        if (r == 1) {
            p += w;
            len -= w;
            continue;
        }
        int a = rest_ssl_again(c, r, deadline, &e);
        if (a > 0) continue;
        rest_msg(res, a == 0 ? "timed out sending to %s" : "sending to %s failed: %s", c->hostport,
                 rest_ssl_reason("connection closed"));
        return -1;
    }
    return 0;
}

/* Reads one response. 0 with *resp, or -1 with res->message; *got_any says whether any byte
 * of a response arrived, *surplus whether more than the response did. */
static int rest_read_resp(struct rest_client *c, uint64_t deadline, const struct qkd_hresp **resp,
                          bool *got_any, bool *surplus, struct rest_result *res)
{
    uint8_t buf[REST_READ_CHUNK];
    int ret = -1;
    char why[200];
    *got_any = false;
    for (;;) {
        size_t n = 0;
        int r = SSL_read_ex(c->ssl, buf, sizeof buf, &n), e;
        if (r == 1) {
            *got_any = true;
            size_t used;
            int pr = qkd_hresp_parse(c->rp, buf, n, &used, resp, why, sizeof why);
            if (pr < 0) {
                rest_msg(res, "from %s: %s", c->hostport, why);
                break;
            }
            if (pr == 1) {
                /* bytes after the response nobody asked for: this connection is not reused */
                if (used < n) *surplus = true;
                ret = 0;
                break;
            }
            continue;
        }
        int a = rest_ssl_again(c, r, deadline, &e);
        if (a > 0) continue;
        if (a == 0) {
            rest_msg(res, "timed out waiting for %s", c->hostport);
            break;
        }
        ERR_clear_error();
        if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL) {
            int er = qkd_hresp_eof(c->rp, resp, why, sizeof why);
            if (er == 1) {
                ret = 0;
                break;
            }
            rest_msg(res, "%s closed the connection%s%s", c->hostport, er < 0 ? ": " : "",
                     er < 0 ? why : "");
            break;
        }
        rest_msg(res, "reading from %s failed: %s", c->hostport, rest_ssl_reason("TLS error"));
        break;
    }
    qkd_wipe(buf, sizeof buf);
    return ret;
}

/* Sends one request and reads its response, over the kept connection or a new one; a request
 * on a reused connection that got no byte of answer is sent once more on a new connection. */
static int rest_exchange(struct rest_client *c, const struct qkd_sbuf *req,
                         const struct qkd_hresp **resp, struct rest_result *res)
{
    for (int attempt = 0;; attempt++) {
        bool reused = c->ssl != NULL;
        if (reused && rest_idle_dead(c)) {
            rest_disconnect(c);
            reused = false;
        }
        if (!c->ssl && rest_connect(c, res) != REST_OK) return REST_ERR_TRANSPORT;
        qkd_hresp_reset(c->rp);
        uint64_t deadline = qkd_now_ms() + c->timeout_ms;
        bool got_any = false, surplus = false;
        if (rest_write_all(c, req->p, req->len, deadline, res) == 0 &&
            rest_read_resp(c, deadline, resp, &got_any, &surplus, res) == 0) {
            if (!(*resp)->keep_alive || surplus) rest_disconnect(c);
            return REST_OK;
        }
        rest_disconnect(c);
        if (!reused || got_any || attempt > 0) return REST_ERR_TRANSPORT;
    }
}

static void rest_request_head(struct rest_client *c, struct qkd_sbuf *b, const char *method,
                              const char *sae, const char *op)
{
    char esc[3 * ETSI014_SAE_MAX + 1];
    if (rest_path_escape(sae, esc, sizeof esc) != 0) esc[0] = '\0';
    qkd_sbuf_printf(b, "%s " ETSI014_PATH_PREFIX "%s/%s", method, esc, op);
    (void)c;
}

static void rest_request_end(struct rest_client *c, struct qkd_sbuf *b, const char *body)
{
    qkd_sbuf_printf(b, " HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n", c->hostport);
    if (body)
        qkd_sbuf_printf(b, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
                        strlen(body));
    qkd_sbuf_puts(b, "\r\n");
    if (body) qkd_sbuf_puts(b, body);
}

static bool rest_sae_ok(const char *sae, struct rest_result *res, const char *what)
{
    if (!sae || !*sae || strlen(sae) > ETSI014_SAE_MAX) {
        rest_msg(res, "%s SAE id empty or longer than %d bytes", what, ETSI014_SAE_MAX);
        return false;
    }
    return true;
}

/* One call: sends req; an answer other than 200 puts the server's message in res; a 200 body
 * goes to decode (which returns 0 or fills msg). */
typedef int (*rest_decode_fn)(const uint8_t *body, size_t len, void *out, char *msg, size_t n);

static int rest_call(struct rest_client *c, struct qkd_sbuf *req, const char *call,
                     rest_decode_fn decode, void *out, struct rest_result *res)
{
    if (req->failed) {
        qkd_sbuf_free(req);
        rest_msg(res, "out of memory");
        return REST_ERR_LOCAL;
    }
    const struct qkd_hresp *r = NULL;
    int rc = rest_exchange(c, req, &r, res);
    qkd_sbuf_free(req);
    if (rc != REST_OK) return rc;
    res->http_status = r->status;
    char msg[sizeof res->message - 64];
    if (r->status == 200) {
        rc = decode(r->body, r->body_len, out, msg, sizeof msg);
        qkd_hresp_reset(c->rp); /* wipes the body */
        if (rc != 0) {
            rest_msg(res, "malformed %s response: %s", call, msg);
            return REST_ERR_TRANSPORT;
        }
        res->message[0] = '\0';
        return REST_OK;
    }
    if (etsi014_error_parse(r->body, r->body_len, msg, sizeof msg) != 0 || !msg[0])
        snprintf(msg, sizeof msg, "%s", qkd_http_reason(r->status));
    qkd_hresp_reset(c->rp);
    rest_msg(res, "%s", msg);
    return REST_OK;
}

static int rest_decode_status(const uint8_t *b, size_t n, void *out, char *msg, size_t mn)
{
    return etsi014_status_parse(b, n, out, msg, mn);
}
static int rest_decode_keys(const uint8_t *b, size_t n, void *out, char *msg, size_t mn)
{
    return etsi014_keys_parse(b, n, out, msg, mn);
}

int rest_status(struct rest_client *c, const char *slave, struct etsi014_status_view *out,
                struct rest_result *res)
{
    memset(res, 0, sizeof *res);
    if (!rest_sae_ok(slave, res, "slave")) return REST_ERR_LOCAL;
    struct qkd_sbuf b = {0};
    rest_request_head(c, &b, "GET", slave, "status");
    rest_request_end(c, &b, NULL);
    return rest_call(c, &b, "status", rest_decode_status, out, res);
}

/* The POST body of enc_keys (cJSON writes it, escaping the SAE ids), or NULL. */
static char *rest_enc_body(uint32_t number, uint32_t size, const char *const *add, uint32_t nadd)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    if (number) cJSON_AddNumberToObject(o, "number", number);
    if (size) cJSON_AddNumberToObject(o, "size", size);
    if (nadd) {
        cJSON *arr = cJSON_AddArrayToObject(o, "additional_slave_SAE_IDs");
        for (uint32_t i = 0; arr && i < nadd; i++)
            cJSON_AddItemToArray(arr, cJSON_CreateString(add[i]));
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

int rest_enc_keys(struct rest_client *c, const char *slave, uint32_t number, uint32_t size,
                  const char *const *additional, uint32_t nadditional, bool use_post,
                  struct etsi014_keys *out, struct rest_result *res)
{
    memset(res, 0, sizeof *res);
    if (!rest_sae_ok(slave, res, "slave")) return REST_ERR_LOCAL;
    if (nadditional && !use_post) {
        rest_msg(res, "additional slaves need POST");
        return REST_ERR_LOCAL;
    }
    for (uint32_t i = 0; i < nadditional; i++)
        if (!rest_sae_ok(additional[i], res, "additional slave")) return REST_ERR_LOCAL;
    struct qkd_sbuf b = {0};
    rest_request_head(c, &b, use_post ? "POST" : "GET", slave, "enc_keys");
    char *body = NULL;
    if (use_post) {
        body = rest_enc_body(number, size, additional, nadditional);
        if (!body) b.failed = 1;
    } else {
        const char *sep = "?";
        if (number) qkd_sbuf_printf(&b, "%snumber=%u", sep, number), sep = "&";
        if (size) qkd_sbuf_printf(&b, "%ssize=%u", sep, size);
    }
    rest_request_end(c, &b, use_post ? (body ? body : "") : NULL);
    free(body);
    return rest_call(c, &b, "enc_keys", rest_decode_keys, out, res);
}

static char *rest_dec_body(const uint8_t (*ids)[16], uint32_t n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = o ? cJSON_AddArrayToObject(o, "key_IDs") : NULL;
    for (uint32_t i = 0; arr && i < n; i++) {
        char s[37];
        etsi014_uuid_str(ids[i], s);
        cJSON *k = cJSON_CreateObject();
        if (k) cJSON_AddStringToObject(k, "key_ID", s);
        cJSON_AddItemToArray(arr, k);
    }
    char *s = arr ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

int rest_dec_keys(struct rest_client *c, const char *master, const uint8_t (*ids)[16], uint32_t n,
                  bool use_post, struct etsi014_keys *out, struct rest_result *res)
{
    memset(res, 0, sizeof *res);
    if (!rest_sae_ok(master, res, "master")) return REST_ERR_LOCAL;
    if (n == 0 || n > ETSI014_MAX_KEYS) {
        rest_msg(res, "between 1 and %d key IDs per call", ETSI014_MAX_KEYS);
        return REST_ERR_LOCAL;
    }
    struct qkd_sbuf b = {0};
    rest_request_head(c, &b, use_post ? "POST" : "GET", master, "dec_keys");
    char *body = NULL;
    if (use_post) {
        body = rest_dec_body(ids, n);
        if (!body) b.failed = 1;
    } else {
        for (uint32_t i = 0; i < n; i++) {
            char s[37];
            etsi014_uuid_str(ids[i], s);
            qkd_sbuf_printf(&b, "%skey_ID=%s", i ? "&" : "?", s);
        }
    }
    rest_request_end(c, &b, use_post ? (body ? body : "") : NULL);
    free(body);
    return rest_call(c, &b, "dec_keys", rest_decode_keys, out, res);
}
