/* http_resp.c: the HTTP/1.1 response parser over llhttp (HTTP_RESPONSE mode) with named limits
 * (docs/client.md). Pure: the REST client (src/client/rest_client.c) carries the bytes. */
#include "http_resp.h"
#include "http_hdrs.h"

#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secbuf.h"

struct qkd_hresp_parser {
    llhttp_t ll;
    llhttp_settings_t set;
    struct qkd_hresp_limits lim;
    struct qkd_http_hdrs hdr; /* name\0value\0 pairs (http_hdrs.h) */
    size_t nhdr;
    size_t status_len;       /* reason phrase bytes seen */
    struct qkd_secbuf *body; /* body bytes + NUL */
    size_t body_len;
    const char *err; /* set by a callback that refused the response */
    int started;     /* a response has begun */
    int complete;    /* a final response is complete */
    struct qkd_hresp resp;
};

static struct qkd_hresp_parser *hresp_of(llhttp_t *ll)
{
    return (struct qkd_hresp_parser *)ll->data;
}

static int hresp_hdr_add(struct qkd_hresp_parser *p, const char *at, size_t n)
{
    if (qkd_http_hdrs_add(&p->hdr, at, n) == 0) return 0;
    p->err = "response headers over the limit";
    return HPE_USER;
}

static int hresp_on_begin(llhttp_t *ll)
{
    struct qkd_hresp_parser *p = hresp_of(ll);
    p->started = 1;
    p->hdr.len = 0;
    p->nhdr = 0;
    p->status_len = 0;
    p->body_len = 0;
    return 0;
}
static int hresp_on_status(llhttp_t *ll, const char *at, size_t n)
{
    (void)at;
    struct qkd_hresp_parser *p = hresp_of(ll);
    /* the reason phrase is not kept, but it counts against the header bytes */
    if (n > p->lim.max_header_bytes - p->status_len) {
        p->err = "response headers over the limit";
        return HPE_USER;
    }
    p->status_len += n;
    return 0;
}
static int hresp_on_data(llhttp_t *ll, const char *at, size_t n)
{
    return hresp_hdr_add(hresp_of(ll), at, n);
}
static int hresp_on_field_done(llhttp_t *ll)
{
    struct qkd_hresp_parser *p = hresp_of(ll);
    if (++p->nhdr > p->lim.max_headers) {
        p->err = "more response headers than the limit";
        return HPE_USER;
    }
    return hresp_hdr_add(p, "", 1);
}
static int hresp_on_value_done(llhttp_t *ll)
{
    return hresp_hdr_add(hresp_of(ll), "", 1);
}

/* Makes room for n more body bytes (and the NUL): a new buffer, copy, and the old one wiped. */
static int hresp_body_room(struct qkd_hresp_parser *p, size_t n)
{
    size_t cap = p->body ? p->body->len : 0;
    if (p->body_len + n + 1 <= cap) return 0;
    size_t want = cap ? cap : 4096;
    while (want < p->body_len + n + 1)
        want *= 2;
    if (want > (size_t)p->lim.max_body_bytes + 1) want = (size_t)p->lim.max_body_bytes + 1;
    struct qkd_secbuf *nb = qkd_secbuf_new(want);
    if (!nb) {
        p->err = "out of memory for the response body";
        return -1;
    }
    if (p->body_len) memcpy(nb->data, p->body->data, p->body_len);
    qkd_secbuf_free(p->body);
    p->body = nb;
    return 0;
}

static int hresp_on_headers_done(llhttp_t *ll)
{
    struct qkd_hresp_parser *p = hresp_of(ll);
    p->hdr.buf[p->hdr.len] = '\0';
    if (ll->flags & F_CONTENT_LENGTH) {
        if (ll->content_length > p->lim.max_body_bytes) {
            p->err = "response body over the limit";
            return HPE_USER;
        }
        /* one allocation for the announced body */
        if (ll->content_length && hresp_body_room(p, (size_t)ll->content_length) != 0)
            return HPE_USER;
    }
    return 0;
}
static int hresp_on_body(llhttp_t *ll, const char *at, size_t n)
{
    struct qkd_hresp_parser *p = hresp_of(ll);
    if (n > p->lim.max_body_bytes - p->body_len) {
        p->err = "response body over the limit";
        return HPE_USER;
    }
    if (hresp_body_room(p, n) != 0) return HPE_USER;
    memcpy(p->body->data + p->body_len, at, n);
    p->body_len += n;
    return 0;
}
static int hresp_on_complete(llhttp_t *ll)
{
    struct qkd_hresp_parser *p = hresp_of(ll);
    if (ll->status_code < 200) { /* informational: the final response follows */
        p->started = 0;
        return 0;
    }
    p->complete = 1;
    return HPE_PAUSED; /* one response per request */
}

struct qkd_hresp_parser *qkd_hresp_parser_new(const struct qkd_hresp_limits *lim)
{
    struct qkd_hresp_parser *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->lim.max_header_bytes =
        lim && lim->max_header_bytes ? lim->max_header_bytes : QKD_HRESP_DEFAULT_MAX_HEADER_BYTES;
    p->lim.max_headers = lim && lim->max_headers ? lim->max_headers : QKD_HRESP_DEFAULT_MAX_HEADERS;
    p->lim.max_body_bytes =
        lim && lim->max_body_bytes ? lim->max_body_bytes : QKD_HRESP_DEFAULT_MAX_BODY_BYTES;
    if (qkd_http_hdrs_init(&p->hdr, p->lim.max_header_bytes) != 0) {
        free(p);
        return NULL;
    }
    llhttp_settings_init(&p->set);
    p->set.on_message_begin = hresp_on_begin;
    p->set.on_status = hresp_on_status;
    p->set.on_header_field = hresp_on_data;
    p->set.on_header_field_complete = hresp_on_field_done;
    p->set.on_header_value = hresp_on_data;
    p->set.on_header_value_complete = hresp_on_value_done;
    p->set.on_headers_complete = hresp_on_headers_done;
    p->set.on_body = hresp_on_body;
    p->set.on_message_complete = hresp_on_complete;
    llhttp_init(&p->ll, HTTP_RESPONSE, &p->set);
    p->ll.data = p;
    return p;
}

void qkd_hresp_reset(struct qkd_hresp_parser *p)
{
    if (p->body && p->body_len) qkd_wipe(p->body->data, p->body_len + 1);
    p->body_len = 0;
    p->hdr.len = 0;
    p->nhdr = 0;
    p->hdr.buf[0] = '\0';
    p->err = NULL;
    p->started = 0;
    p->complete = 0;
    memset(&p->resp, 0, sizeof p->resp);
    llhttp_reset(&p->ll);
}

void qkd_hresp_parser_free(struct qkd_hresp_parser *p)
{
    if (!p) return;
    qkd_secbuf_free(p->body);
    qkd_http_hdrs_free(&p->hdr);
    free(p);
}

static void hresp_err(char *err, size_t errlen, const char *what)
{
    if (err && errlen) snprintf(err, errlen, "%s", what);
}

static const struct qkd_hresp *hresp_build(struct qkd_hresp_parser *p, int keep_alive)
{
    struct qkd_hresp *r = &p->resp;
    r->status = p->ll.status_code;
    if (p->body && p->body_len) {
        p->body->data[p->body_len] = '\0';
        r->body = p->body->data;
    } else {
        r->body = (const uint8_t *)"";
    }
    r->body_len = p->body_len;
    r->keep_alive = keep_alive;
    return r;
}

int qkd_hresp_parse(struct qkd_hresp_parser *p, const uint8_t *data, size_t len, size_t *used,
                    const struct qkd_hresp **resp, char *err, size_t errlen)
{
    *used = 0;
    *resp = NULL;
    if (p->complete) {
        hresp_err(err, errlen, "response already complete (reset first)");
        return -1;
    }
    if (len == 0) return 0;
    llhttp_errno_t e = llhttp_execute(&p->ll, (const char *)data, len);
    if (e == HPE_OK) {
        *used = len;
        return 0;
    }
    if (e == HPE_PAUSED && p->complete) {
        *used = (size_t)((const uint8_t *)llhttp_get_error_pos(&p->ll) - data);
        *resp = hresp_build(p, llhttp_should_keep_alive(&p->ll));
        return 1;
    }
    if (p->err) {
        hresp_err(err, errlen, p->err);
    } else {
        char m[160];
        snprintf(m, sizeof m, "malformed HTTP response: %s", llhttp_get_error_reason(&p->ll));
        hresp_err(err, errlen, m);
    }
    return -1;
}

int qkd_hresp_eof(struct qkd_hresp_parser *p, const struct qkd_hresp **resp, char *err,
                  size_t errlen)
{
    *resp = NULL;
    if (p->complete) {
        *resp = &p->resp;
        return 1;
    }
    if (!p->started) return 0;
    llhttp_errno_t e = llhttp_finish(&p->ll);
    if (p->complete) {
        *resp = hresp_build(p, 0);
        return 1;
    }
    (void)e;
    hresp_err(err, errlen, p->err ? p->err : "connection closed in the middle of a response");
    return -1;
}

const char *qkd_hresp_header(const struct qkd_hresp_parser *p, const char *name)
{
    if (!p->complete) return NULL;
    return qkd_http_hdrs_get(&p->hdr, 0, name);
}
