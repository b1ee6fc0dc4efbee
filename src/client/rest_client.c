/* rest_client.c: the blocking ETSI GS QKD 014 HTTPS client (docs/client.md) on libqkd004's
 * blocking transport (qkd004_io.c: connect, TLS handshake, writes and reads each within a
 * deadline, SIGPIPE held off); one keep-alive connection, reconnected once when the server
 * closed it while it was idle (nothing of the request was answered, so resending cannot double
 * a call); requests written here, responses parsed by http_resp.c and decoded by the 014
 * codec. */
#include "rest_client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "evloop.h"
#include "http.h"
#include "http_resp.h"
#include "qkd004_int.h"
#include "secbuf.h"
#include "sock.h"
#include "tls.h"

#define REST_READ_CHUNK 16384

struct rest_client {
    struct qkd004_conn conn; /* the transport: ctx, ssl, fd, host, port, server name, err */
    char hostport[300];      /* Host header */
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
    struct qkd004_conn *t = &c->conn;
    t->fd = -1;
    unsigned port = 0;
    if (rest_url_split(cfg->url, t->host, sizeof t->host, &port, err, errlen) != 0) {
        free(c);
        return NULL;
    }
    snprintf(t->port, sizeof t->port, "%u", port);
    bool v6 = strchr(t->host, ':') != NULL;
    snprintf(c->hostport, sizeof c->hostport, v6 ? "[%s]:%u" : "%s:%u", t->host, port);
    const char *name = cfg->server_name ? cfg->server_name : t->host;
    if (strlen(name) >= sizeof t->server_name) {
        snprintf(err, errlen, "server name too long");
        free(c);
        return NULL;
    }
    snprintf(t->server_name, sizeof t->server_name, "%s", name);
    c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : REST_DEFAULT_TIMEOUT_MS;
    t->connect_timeout_ms = t->call_timeout_ms = c->timeout_ms;
    struct qkd_hresp_limits lim = {.max_body_bytes = cfg->max_body_bytes};
    c->rp = qkd_hresp_parser_new(&lim);
    struct qkd_tls_files f = {.cert = cfg->cert, .key = cfg->key, .ca = cfg->ca};
    if (c->rp) t->ctx = qkd_tls_ctx_new(false, &f, err, errlen);
    if (!c->rp || !t->ctx) {
        if (!c->rp) snprintf(err, errlen, "out of memory");
        rest_free(c);
        return NULL;
    }
    return c;
}

void rest_free(struct rest_client *c)
{
    if (!c) return;
    qkd004_io_drop(&c->conn);
    SSL_CTX_free(c->conn.ctx);
    qkd_hresp_parser_free(c->rp);
    free(c);
}

uint64_t rest_connects(const struct rest_client *c)
{
    return c->connects;
}

int rest_connect(struct rest_client *c, struct rest_result *res)
{
    qkd004_io_drop(&c->conn);
    if (qkd004_io_connect(&c->conn) != QKD004_OK) {
        rest_msg(res, "%s", c->conn.err);
        return REST_ERR_TRANSPORT;
    }
    c->connects++;
    return REST_OK;
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
        int r = qkd004_io_read_some(&c->conn, buf, sizeof buf, deadline, &n);
        if (r == QKD004_OK) {
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
        if (r == QKD004_ERR_TIMEOUT) {
            rest_msg(res, "timed out waiting for %s", c->hostport);
            break;
        }
        if (r == QKD004_ERR_CLOSED) { /* a body may run to the close */
            int er = qkd_hresp_eof(c->rp, resp, why, sizeof why);
            if (er == 1) {
                ret = 0;
                break;
            }
            rest_msg(res, "%s closed the connection%s%s", c->hostport, er < 0 ? ": " : "",
                     er < 0 ? why : "");
            break;
        }
        rest_msg(res, "reading from %s failed: %s", c->hostport, c->conn.err);
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
        bool reused = c->conn.ssl != NULL;
        if (reused && qkd004_io_stale(&c->conn)) {
            qkd004_io_drop(&c->conn);
            reused = false;
        }
        if (!c->conn.ssl && rest_connect(c, res) != REST_OK) return REST_ERR_TRANSPORT;
        qkd_hresp_reset(c->rp);
        uint64_t deadline = qkd_now_ms() + c->timeout_ms;
        bool got_any = false, surplus = false;
        int w = qkd004_io_write(&c->conn, (const uint8_t *)req->p, req->len, deadline);
        if (w == QKD004_ERR_TIMEOUT)
            rest_msg(res, "timed out sending to %s", c->hostport);
        else if (w != QKD004_OK)
            rest_msg(res, "sending to %s failed: %s", c->hostport, c->conn.err);
        if (w == QKD004_OK && rest_read_resp(c, deadline, resp, &got_any, &surplus, res) == 0) {
            if (!(*resp)->keep_alive || surplus) qkd004_io_drop(&c->conn);
            return REST_OK;
        }
        qkd004_io_drop(&c->conn);
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
