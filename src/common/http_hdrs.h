/* http_hdrs.h: the header store of the project's two HTTP/1.1 parsers (http.c for requests,
 * http_resp.c for responses): NUL-terminated strings (name\0value\0 pairs, after whatever the
 * parser keeps first) in one buffer of a fixed bound, and the lookup by name. Pure. */
#ifndef QKD_HTTP_HDRS_H
#define QKD_HTTP_HDRS_H

#include <stddef.h>

struct qkd_http_hdrs {
    char *buf;  /* max + 1 bytes, so the stored text can always be terminated */
    size_t len; /* bytes used */
    size_t max;
};

/* 0, or -1 when out of memory. */
int qkd_http_hdrs_init(struct qkd_http_hdrs *h, size_t max);
void qkd_http_hdrs_free(struct qkd_http_hdrs *h);
/* Appends n bytes (n = 1 with "" ends a string). 0, or -1 when they would pass max. */
int qkd_http_hdrs_add(struct qkd_http_hdrs *h, const char *at, size_t n);
/* The value of the first header called name (any case) among the pairs stored from offset
 * from on, or NULL. A header whose value never came has an empty value. */
const char *qkd_http_hdrs_get(const struct qkd_http_hdrs *h, size_t from, const char *name);
/* Walks the pairs from *pos: 1 with *name and *value (and *pos moved on), 0 at the end. */
int qkd_http_hdrs_next(const struct qkd_http_hdrs *h, size_t *pos, const char **name,
                       const char **value);

#endif
