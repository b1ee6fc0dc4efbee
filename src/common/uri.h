/* uri.h: checks of the URIs ETSI 004 callers send (absolute, with scheme and authority) and
 * extraction of their parts. */
#ifndef QKD_URI_H
#define QKD_URI_H

#include <stdbool.h>
#include <stddef.h>

struct qkd_uri {
    char scheme[32];
    char userinfo[128]; /* "" when absent; hybrid URIs carry the application here */
    char host[256];     /* "" when absent */
    unsigned port;      /* 0 when absent */
    char path[256];
    char query[512]; /* without '?' */
};

/* Parses scheme "://" [userinfo "@"] host [":" port] [path] ["?" query]. Returns 0 when the URI
 * is absolute with a scheme and a non-empty authority host, -1 otherwise (parts too long count
 * as malformed). */
int qkd_uri_parse(const char *s, struct qkd_uri *out);
bool qkd_uri_is_valid(const char *s);
/* Finds parameter name in a query string "a=b&c=d"; copies its value. Returns 0 if found. */
int qkd_uri_query_get(const char *query, const char *name, char *out, size_t outlen);

#endif
