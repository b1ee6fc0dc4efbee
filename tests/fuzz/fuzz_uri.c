/* fuzz_uri.c: libFuzzer target for the URI parser and query lookup. The input (cut at its
 * first NUL) is parsed; a valid URI is rebuilt from its parts, which must parse to the same
 * parts again. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uri.h"

#define FUZZ_CHECK(c)                                                                              \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

#define FUZZ_URI_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_terminated(const struct qkd_uri *u)
{
    FUZZ_CHECK(memchr(u->scheme, 0, sizeof(u->scheme)) &&
               memchr(u->userinfo, 0, sizeof(u->userinfo)));
    FUZZ_CHECK(memchr(u->host, 0, sizeof(u->host)) && memchr(u->path, 0, sizeof(u->path)));
    FUZZ_CHECK(memchr(u->query, 0, sizeof(u->query)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_URI_MAX) return 0;
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct qkd_uri u, v;
    int rc = qkd_uri_parse(s, &u);
    FUZZ_CHECK(qkd_uri_is_valid(s) == (rc == 0));
    /* Query lookup on raw input must stay in bounds whatever it is. */
    char val[64];
    (void)qkd_uri_query_get(s, "a", val, sizeof(val));
    (void)qkd_uri_query_get(s, "key_sources", val, sizeof(val));
    if (rc == 0) {
        check_terminated(&u);
        FUZZ_CHECK(u.scheme[0] != '\0' && u.host[0] != '\0');
        FUZZ_CHECK(u.port <= 65535);
        bool v6 = strchr(u.host, ':') != NULL;
        char port[8] = "";
        if (u.port) snprintf(port, sizeof(port), ":%u", u.port);
        char rebuilt[1400];
        int n = snprintf(rebuilt, sizeof(rebuilt), "%s://%s%s%s%s%s%s%s%s", u.scheme, u.userinfo,
                         u.userinfo[0] ? "@" : "", v6 ? "[" : "", u.host, v6 ? "]" : "", port,
                         u.path, u.query[0] ? "?" : "");
        FUZZ_CHECK(n > 0 && (size_t)n < sizeof(rebuilt));
        FUZZ_CHECK(strlen(rebuilt) + strlen(u.query) < sizeof(rebuilt));
        strcat(rebuilt, u.query);
        FUZZ_CHECK(qkd_uri_parse(rebuilt, &v) == 0);
        FUZZ_CHECK(strcmp(u.scheme, v.scheme) == 0 && strcmp(u.userinfo, v.userinfo) == 0);
        FUZZ_CHECK(strcmp(u.host, v.host) == 0 && u.port == v.port);
        FUZZ_CHECK(strcmp(u.path, v.path) == 0 && strcmp(u.query, v.query) == 0);
        (void)qkd_uri_query_get(u.query, "hybridization", val, sizeof(val));
    }
    free(s);
    return 0;
}
