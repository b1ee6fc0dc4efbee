/* http_resp.h: the HTTP/1.1 response parser of the REST clients (docs/client.md), over llhttp
 * in response mode, pure (bytes in, one parsed response out; no I/O), with every limit a named
 * setting: header bytes, header count, body bytes. Bodies come with Content-Length, chunked, or
 * up to the end of the connection; the body is held in a qkd_secbuf (it may carry keys) and
 * wiped when the parser is reset or freed. Fuzzed by tests/fuzz/fuzz_http_response.c. */
#ifndef QKD_HTTP_RESP_H
#define QKD_HTTP_RESP_H

#include <stddef.h>
#include <stdint.h>

#define QKD_HRESP_DEFAULT_MAX_HEADER_BYTES 8192u /* status line + headers */
#define QKD_HRESP_DEFAULT_MAX_HEADERS      64u
#define QKD_HRESP_DEFAULT_MAX_BODY_BYTES   (4u << 20) /* 128 keys of 8192 bits in base64 fit */

struct qkd_hresp_limits {
    uint32_t max_header_bytes; /* 0 = default */
    uint32_t max_headers;      /* 0 = default */
    uint32_t max_body_bytes;   /* 0 = default */
};

struct qkd_hresp {
    int status;          /* 100..999 */
    const uint8_t *body; /* NUL-terminated (not counted in body_len); "" when empty */
    size_t body_len;
    int keep_alive; /* the server keeps the connection open after this response */
};

struct qkd_hresp_parser;

struct qkd_hresp_parser *qkd_hresp_parser_new(const struct qkd_hresp_limits *lim);
/* Wipes the body and frees; NULL is fine. */
void qkd_hresp_parser_free(struct qkd_hresp_parser *p);
/* Before reading the response to a new request: wipes the last body, forgets the state (also
 * after an error). */
void qkd_hresp_reset(struct qkd_hresp_parser *p);
/* Feeds len bytes. Returns 1 when a final response is complete (*resp valid until the next
 * call; *used bytes were consumed, the rest is surplus the server should not have sent), 0
 * when all bytes were consumed and more are needed, or -1 on an error with a one-line reason
 * in err (malformed, headers over the limit, body over the limit). Informational (1xx)
 * responses are skipped. */
int qkd_hresp_parse(struct qkd_hresp_parser *p, const uint8_t *data, size_t len, size_t *used,
                    const struct qkd_hresp **resp, char *err, size_t errlen);
/* The server closed the connection: a response delimited by the close completes (1, with
 * keep_alive 0); one cut short is an error (-1 with err); nothing read yet returns 0. */
int qkd_hresp_eof(struct qkd_hresp_parser *p, const struct qkd_hresp **resp, char *err,
                  size_t errlen);
/* The value of a header of the last complete response (case-insensitive name), or NULL. */
const char *qkd_hresp_header(const struct qkd_hresp_parser *p, const char *name);

#endif
