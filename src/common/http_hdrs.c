/* http_hdrs.c: the header store of the HTTP parsers (http_hdrs.h). */
#include "http_hdrs.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int qkd_http_hdrs_init(struct qkd_http_hdrs *h, size_t max)
{
    h->buf = malloc(max + 1);
    h->len = 0;
    h->max = max;
    if (!h->buf) return -1;
    h->buf[0] = '\0';
    return 0;
}

void qkd_http_hdrs_free(struct qkd_http_hdrs *h)
{
    free(h->buf);
    h->buf = NULL;
    h->len = 0;
}

int qkd_http_hdrs_add(struct qkd_http_hdrs *h, const char *at, size_t n)
{
    if (n > h->max - h->len) return -1;
    memcpy(h->buf + h->len, at, n);
    h->len += n;
    return 0;
}

int qkd_http_hdrs_next(const struct qkd_http_hdrs *h, size_t *pos, const char **name,
                       const char **value)
{
    size_t p = *pos;
    if (p >= h->len) return 0;
    *name = h->buf + p;
    p += strnlen(h->buf + p, h->len - p) + 1;
    if (p >= h->len) return 0; /* a name without its value's terminator: not a pair */
    *value = h->buf + p;
    p += strnlen(h->buf + p, h->len - p) + 1;
    *pos = p;
    return 1;
}

const char *qkd_http_hdrs_get(const struct qkd_http_hdrs *h, size_t from, const char *name)
{
    const char *n, *v;
    while (qkd_http_hdrs_next(h, &from, &n, &v))
        if (strcasecmp(n, name) == 0) return v;
    return NULL;
}
