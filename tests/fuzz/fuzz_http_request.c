/* fuzz_http_request.c: libFuzzer target for the HTTP request parser (src/common/http.c over
 * llhttp; docs/observability.md). The input is fed in two pieces split at a position taken from
 * its first byte, with small limits, and every complete request is checked: its path and query
 * are terminated inside the parser's header buffer and its body fits the request limit. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define FUZZ_CHECK(c)                                                                              \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int feed(struct qkd_http_parser *p, const uint8_t *d, size_t n)
{
    while (n > 0) {
        size_t used;
        const struct qkd_http_req *req;
        int status;
        int r = qkd_http_parse(p, d, n, &used, &req, &status);
        FUZZ_CHECK(used <= n);
        if (r < 0) {
            FUZZ_CHECK(status >= 400 && status < 600);
            return -1;
        }
        if (r == 0) {
            FUZZ_CHECK(used == n);
            return 0;
        }
        FUZZ_CHECK(req && req->path && req->query);
        FUZZ_CHECK(strlen(req->path) + strlen(req->query) < 512);
        FUZZ_CHECK(req->body_len <= 1024);
        (void)qkd_http_header(p, "content-type");
        d += used;
        n -= used;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    struct qkd_http_limits lim = {
        .max_header_bytes = 512, .max_request_bytes = 1024, .max_headers = 8};
    struct qkd_http_parser *p = qkd_http_parser_new(&lim);
    FUZZ_CHECK(p);
    size_t cut = size > 1 ? data[0] % size : 0;
    if (feed(p, data + 1, cut > 0 ? cut - 1 : 0) == 0 && cut > 0)
        feed(p, data + cut, size - cut);
    else if (cut == 0)
        feed(p, data + 1, size - 1);
    qkd_http_parser_free(p);
    return 0;
}
