/* fuzz_http_response.c: libFuzzer target for the HTTP response parser (src/common/http_resp.c
 * over llhttp; docs/client.md). The input is fed in two pieces split at a position taken from
 * its first byte, with small limits, then the end of the connection; every complete response is
 * checked: a final status, a NUL-terminated body within the body limit, and consumed bytes
 * within what was fed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_resp.h"

#define FUZZ_CHECK(c)                                                                              \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_resp(const struct qkd_hresp *r)
{
    FUZZ_CHECK(r && r->status >= 200 && r->status <= 999);
    FUZZ_CHECK(r->body_len <= 1024);
    FUZZ_CHECK(r->body && r->body[r->body_len] == '\0');
}

/* 1 complete, 0 more needed, -1 error. */
static int fuzz_feed(struct qkd_hresp_parser *p, const uint8_t *d, size_t n)
{
    size_t used;
    const struct qkd_hresp *r;
    char err[128];
    int rc = qkd_hresp_parse(p, d, n, &used, &r, err, sizeof err);
    FUZZ_CHECK(used <= n);
    if (rc == 1) {
        fuzz_check_resp(r);
        (void)qkd_hresp_header(p, "content-type");
    }
    if (rc < 0) FUZZ_CHECK(err[0] != '\0');
    if (rc == 0) FUZZ_CHECK(used == n);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    struct qkd_hresp_limits lim = {
        .max_header_bytes = 512, .max_headers = 8, .max_body_bytes = 1024};
    struct qkd_hresp_parser *p = qkd_hresp_parser_new(&lim);
    FUZZ_CHECK(p);
    size_t cut = 1 + (size > 1 ? data[0] % size : 0);
    if (cut > size) cut = size;
    int rc = fuzz_feed(p, data + 1, cut - 1);
    if (rc == 0) rc = fuzz_feed(p, data + cut, size - cut);
    if (rc == 0) {
        const struct qkd_hresp *r;
        char err[128];
        if (qkd_hresp_eof(p, &r, err, sizeof err) == 1) fuzz_check_resp(r);
    }
    /* the parser is reusable after a reset whatever happened */
    qkd_hresp_reset(p);
    static const char ok[] = "HTTP/1.1 204 No Content\r\n\r\n";
    FUZZ_CHECK(fuzz_feed(p, (const uint8_t *)ok, sizeof ok - 1) == 1);
    qkd_hresp_parser_free(p);
    return 0;
}
