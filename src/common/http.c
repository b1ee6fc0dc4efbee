/* http.c: HTTP/1.1 request parsing over llhttp with named limits, a growing byte buffer and the
 * response writer (docs/observability.md). No I/O here: http_server.c carries the bytes. */
#include "http.h"
#include "http_hdrs.h"

#include <llhttp.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct qkd_http_parser {
    llhttp_t ll;
    llhttp_settings_t set;
    struct qkd_http_limits lim;
    struct qkd_http_hdrs hdr; /* target\0 then name\0value\0 pairs (http_hdrs.h) */
    size_t nhdr;              /* headers stored */
    size_t names_off;         /* where the headers start in hdr */
    uint8_t *body;
    size_t body_len, body_cap;
    int err_status; /* set by a callback that refused the request */
    int paused;     /* a complete request was returned; resume before the next */
    int in_request; /* a request's first byte was parsed, the request is not complete yet */
    int expect_100; /* headers said Expect: 100-continue, a body is to come, no 100 sent yet */
    struct qkd_http_req req;
};

static struct qkd_http_parser *P(llhttp_t *ll)
{
    return (struct qkd_http_parser *)ll->data;
}

static int hdr_add(struct qkd_http_parser *p, const char *at, size_t n)
{
    if (qkd_http_hdrs_add(&p->hdr, at, n) == 0) return 0;
    p->err_status = 431;
    return HPE_USER;
}
static int hdr_end(struct qkd_http_parser *p)
{
    return hdr_add(p, "", 1);
}

static int on_begin(llhttp_t *ll)
{
    struct qkd_http_parser *p = P(ll);
    p->hdr.len = 0;
    p->nhdr = 0;
    p->names_off = 0;
    p->body_len = 0;
    p->in_request = 1;
    p->expect_100 = 0;
    return 0;
}
static int on_url(llhttp_t *ll, const char *at, size_t n)
{
    return hdr_add(P(ll), at, n);
}
static int on_url_done(llhttp_t *ll)
{
    struct qkd_http_parser *p = P(ll);
    int r = hdr_end(p);
    p->names_off = p->hdr.len;
    return r;
}
static int on_field(llhttp_t *ll, const char *at, size_t n)
{
    return hdr_add(P(ll), at, n);
}
static int on_field_done(llhttp_t *ll)
{
    struct qkd_http_parser *p = P(ll);
    if (++p->nhdr > p->lim.max_headers) {
        p->err_status = 431;
        return HPE_USER;
    }
    return hdr_end(p);
}
static int on_value(llhttp_t *ll, const char *at, size_t n)
{
    return hdr_add(P(ll), at, n);
}
static int on_value_done(llhttp_t *ll)
{
    return hdr_end(P(ll));
}
/* Body bytes the request may still carry in all: what the request limit leaves after the
 * headers, and at most the body limit. */
static size_t body_room(const struct qkd_http_parser *p)
{
    size_t room = p->lim.max_request_bytes - p->hdr.len;
    if (p->lim.max_body_bytes && room > p->lim.max_body_bytes) room = p->lim.max_body_bytes;
    return room;
}
/* Whether the header value v (leading blanks already gone) is "100-continue", any case,
 * trailing blanks allowed. */
static int is_100_continue(const char *v)
{
    static const char want[] = "100-continue";
    if (strncasecmp(v, want, sizeof(want) - 1) != 0) return 0;
    for (v += sizeof(want) - 1; *v == ' ' || *v == '\t'; v++)
        ;
    return *v == '\0';
}
/* Expect headers (docs/architecture.md, "HTTPS"): 100-continue is the only expectation known;
 * any other value is refused with 417. Returns 1 when 100-continue was asked for, 0 when no
 * Expect header came, -1 (417 set) otherwise. */
static int expect_check(struct qkd_http_parser *p)
{
    size_t pos = p->names_off;
    const char *n, *v;
    int cont = 0;
    while (qkd_http_hdrs_next(&p->hdr, &pos, &n, &v)) {
        if (strcasecmp(n, "expect") != 0) continue;
        if (!is_100_continue(v)) {
            p->err_status = 417;
            return -1;
        }
        cont = 1;
    }
    return cont;
}
static int on_headers_done(llhttp_t *ll)
{
    struct qkd_http_parser *p = P(ll);
    uint64_t cl = ll->content_length;
    if ((ll->flags & F_CONTENT_LENGTH) && cl > body_room(p)) {
        p->err_status = 413; /* before any 100 Continue: the client need not send the body */
        return HPE_USER;
    }
    int ex = expect_check(p);
    if (ex < 0) return HPE_USER;
    int body_to_come = ((ll->flags & F_CONTENT_LENGTH) && cl > 0) || (ll->flags & F_CHUNKED);
    p->expect_100 = ex && body_to_come;
    return 0;
}
static int on_body(llhttp_t *ll, const char *at, size_t n)
{
    struct qkd_http_parser *p = P(ll);
    size_t room = body_room(p);
    if (n > room - p->body_len) {
        p->err_status = 413;
        return HPE_USER;
    }
    if (p->body_len + n > p->body_cap) {
        size_t cap = p->body_cap ? p->body_cap : 1024;
        while (cap < p->body_len + n)
            cap *= 2;
        if (cap > room) cap = room;
        uint8_t *nb = realloc(p->body, cap);
        if (!nb) {
            p->err_status = 503;
            return HPE_USER;
        }
        p->body = nb;
        p->body_cap = cap;
    }
    memcpy(p->body + p->body_len, at, n);
    p->body_len += n;
    return 0;
}
static int on_complete(llhttp_t *ll)
{
    struct qkd_http_parser *p = P(ll);
    p->in_request = 0;
    p->expect_100 = 0;
    return HPE_PAUSED; /* one request at a time: the caller answers it before the next */
}

struct qkd_http_parser *qkd_http_parser_new(const struct qkd_http_limits *lim)
{
    struct qkd_http_parser *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->lim.max_header_bytes =
        lim && lim->max_header_bytes ? lim->max_header_bytes : QKD_HTTP_DEFAULT_MAX_HEADER_BYTES;
    p->lim.max_request_bytes =
        lim && lim->max_request_bytes ? lim->max_request_bytes : QKD_HTTP_DEFAULT_MAX_REQUEST_BYTES;
    p->lim.max_headers = lim && lim->max_headers ? lim->max_headers : QKD_HTTP_DEFAULT_MAX_HEADERS;
    p->lim.max_body_bytes = lim ? lim->max_body_bytes : 0;
    if (p->lim.max_request_bytes < p->lim.max_header_bytes)
        p->lim.max_request_bytes = p->lim.max_header_bytes;
    if (qkd_http_hdrs_init(&p->hdr, p->lim.max_header_bytes) != 0) {
        free(p);
        return NULL;
    }
    llhttp_settings_init(&p->set);
    p->set.on_message_begin = on_begin;
    p->set.on_url = on_url;
    p->set.on_url_complete = on_url_done;
    p->set.on_header_field = on_field;
    p->set.on_header_field_complete = on_field_done;
    p->set.on_header_value = on_value;
    p->set.on_header_value_complete = on_value_done;
    p->set.on_headers_complete = on_headers_done;
    p->set.on_body = on_body;
    p->set.on_message_complete = on_complete;
    llhttp_init(&p->ll, HTTP_REQUEST, &p->set);
    p->ll.data = p;
    return p;
}

void qkd_http_parser_free(struct qkd_http_parser *p)
{
    if (!p) return;
    qkd_http_hdrs_free(&p->hdr);
    free(p->body);
    free(p);
}

static void build_req(struct qkd_http_parser *p)
{
    struct qkd_http_req *r = &p->req;
    switch (llhttp_get_method(&p->ll)) {
    case HTTP_GET:
        r->method = QKD_HTTP_GET;
        break;
    case HTTP_HEAD:
        r->method = QKD_HTTP_HEAD;
        break;
    case HTTP_POST:
        r->method = QKD_HTTP_POST;
        break;
    default:
        r->method = QKD_HTTP_OTHER;
        break;
    }
    p->hdr.buf[p->hdr.len] = '\0';
    r->body = p->body_len ? p->body : (const uint8_t *)"";
    r->body_len = p->body_len;
    r->keep_alive = llhttp_should_keep_alive(&p->ll) && !llhttp_get_upgrade(&p->ll);
}

int qkd_http_parse(struct qkd_http_parser *p, const uint8_t *data, size_t len, size_t *used,
                   const struct qkd_http_req **req, int *status)
{
    *used = 0;
    *req = NULL;
    *status = 0;
    if (p->paused) {
        p->paused = 0;
        if (llhttp_get_upgrade(&p->ll) || llhttp_get_errno(&p->ll) != HPE_PAUSED) {
            *status = 400; /* nothing may follow an upgrade request */
            return -1;
        }
        llhttp_resume(&p->ll);
    }
    if (len == 0) return 0;
    llhttp_errno_t e = llhttp_execute(&p->ll, (const char *)data, len);
    if (e == HPE_OK) {
        *used = len;
        return 0;
    }
    if (e == HPE_PAUSED) {
        *used = (size_t)((const uint8_t *)llhttp_get_error_pos(&p->ll) - data);
        p->paused = 1;
        build_req(p);
        /* split the target in place at '?': path\0query\0 */
        char *q = memchr(p->hdr.buf, '?', strlen(p->hdr.buf));
        p->req.path = p->hdr.buf;
        p->req.query = "";
        if (q) {
            *q = '\0';
            p->req.query = q + 1;
        }
        *req = &p->req;
        return 1;
    }
    p->in_request = 0;
    p->expect_100 = 0;
    *status = p->err_status ? p->err_status : 400;
    return -1;
}

int qkd_http_parser_expects_continue(const struct qkd_http_parser *p)
{
    return p->expect_100;
}

void qkd_http_parser_continue_sent(struct qkd_http_parser *p)
{
    p->expect_100 = 0;
}

int qkd_http_parser_in_request(const struct qkd_http_parser *p)
{
    return p->in_request;
}

const char *qkd_http_header(const struct qkd_http_parser *p, const char *name)
{
    if (!p->req.path) return NULL;
    return qkd_http_hdrs_get(&p->hdr, p->names_off, name);
}

/* Responses carry base64 key bytes (docs/etsi014.md): a buffer is wiped over its whole capacity
 * when freed, and the old buffer is wiped when growth moves the contents. */
void qkd_sbuf_free(struct qkd_sbuf *b)
{
    if (b->p) OPENSSL_cleanse(b->p, b->cap);
    free(b->p);
    memset(b, 0, sizeof *b);
}

void qkd_sbuf_add(struct qkd_sbuf *b, const void *data, size_t n)
{
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = malloc(cap);
        if (!np) {
            b->failed = 1;
            return;
        }
        if (b->p) {
            memcpy(np, b->p, b->len + 1);
            OPENSSL_cleanse(b->p, b->cap);
            free(b->p);
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void qkd_sbuf_puts(struct qkd_sbuf *b, const char *s)
{
    qkd_sbuf_add(b, s, strlen(s));
}

void qkd_sbuf_printf(struct qkd_sbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n < sizeof tmp) {
        qkd_sbuf_add(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    qkd_sbuf_add(b, big, (size_t)n);
    free(big);
}

const char *qkd_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 417:
        return "Expectation Failed";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

void qkd_http_resp_write(struct qkd_sbuf *out, const struct qkd_http_resp *r, int keep_alive,
                         int head_only)
{
    int st = r->status ? r->status : 200;
    qkd_sbuf_printf(out,
                    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                    "Cache-Control: no-store\r\nConnection: %s\r\n\r\n",
                    st, qkd_http_reason(st),
                    r->content_type ? r->content_type : "text/plain; charset=utf-8", r->body.len,
                    keep_alive ? "keep-alive" : "close");
    if (!head_only && r->body.len) qkd_sbuf_add(out, r->body.p, r->body.len);
}
