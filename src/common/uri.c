/* uri.c: validation and splitting of the absolute URIs ETSI 004 callers send as source and
 * destination: scheme "://" [userinfo "@"] host [":" port] [path] ["?" query] (RFC 3986
 * character classes, ASCII only, no fragment). */
#include "uri.h"

#include <arpa/inet.h>
#include <string.h>

static bool uri_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool uri_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool uri_hex(char c)
{
    return uri_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool uri_unreserved(char c)
{
    return uri_alpha(c) || uri_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static bool uri_sub_delim(char c)
{
    return c != '\0' && strchr("!$&'()*+,;=", c) != NULL;
}

/* Checks s[0..n) against unreserved / pct-encoded / sub-delims / the extra characters. */
static bool uri_chars_ok(const char *s, size_t n, const char *extra)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (n - i < 3) return false;
            if (!uri_hex(s[i + 1]) || !uri_hex(s[i + 2])) return false;
            i += 2;
            continue;
        }
        if (uri_unreserved(c) || uri_sub_delim(c)) continue;
        if (c != '\0' && extra && strchr(extra, c)) continue;
        return false;
    }
    return true;
}

/* Copies s[0..n) into dst (size cap) with a NUL; false when it does not fit. */
static bool uri_copy(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap) return false;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return true;
}

static bool uri_parse_port(const char *s, size_t n, unsigned *port)
{
    if (n == 0 || n > 5) return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!uri_digit(s[i])) return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v < 1 || v > 65535) return false;
    *port = v;
    return true;
}

/* host [":" port] in s[0..n); an IPv6 literal is stored without its brackets. */
static bool uri_parse_hostport(const char *s, size_t n, struct qkd_uri *out)
{
    size_t host_end;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close) return false;
        size_t hlen = (size_t)(close - s) - 1;
        char tmp[INET6_ADDRSTRLEN + 1];
        struct in6_addr a6;
        if (hlen == 0 || hlen >= sizeof(tmp)) return false;
        memcpy(tmp, s + 1, hlen);
        tmp[hlen] = '\0';
        if (inet_pton(AF_INET6, tmp, &a6) != 1) return false;
        if (!uri_copy(out->host, sizeof(out->host), tmp, hlen)) return false;
        host_end = (size_t)(close - s) + 1;
    } else {
        const char *colon = memchr(s, ':', n);
        host_end = colon ? (size_t)(colon - s) : n;
        if (host_end == 0 || !uri_chars_ok(s, host_end, NULL)) return false;
        if (!uri_copy(out->host, sizeof(out->host), s, host_end)) return false;
    }
    if (host_end == n) return true;
    if (s[host_end] != ':') return false;
    return uri_parse_port(s + host_end + 1, n - host_end - 1, &out->port);
}

int qkd_uri_parse(const char *s, struct qkd_uri *out)
{
    struct qkd_uri tmp;
    memset(&tmp, 0, sizeof(tmp));
    if (!s || !uri_alpha(s[0])) return -1;
    size_t i = 1;
    while (uri_alpha(s[i]) || uri_digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    if (strncmp(s + i, "://", 3) != 0 || !uri_copy(tmp.scheme, sizeof(tmp.scheme), s, i)) return -1;
    const char *auth = s + i + 3;
    size_t alen = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', alen);
    const char *hp = auth;
    if (at) {
        size_t ulen = (size_t)(at - auth);
        if (!uri_chars_ok(auth, ulen, ":") ||
            !uri_copy(tmp.userinfo, sizeof(tmp.userinfo), auth, ulen))
            return -1;
        hp = at + 1;
    }
    if (!uri_parse_hostport(hp, alen - (size_t)(hp - auth), &tmp)) return -1;
    const char *rest = auth + alen;
    size_t plen = strcspn(rest, "?#");
    if (plen > 0 &&
        (!uri_chars_ok(rest, plen, ":@/") || !uri_copy(tmp.path, sizeof(tmp.path), rest, plen)))
        return -1;
    rest += plen;
    if (*rest == '?') {
        rest++;
        size_t qlen = strcspn(rest, "#");
        if (!uri_chars_ok(rest, qlen, ":@/?") ||
            !uri_copy(tmp.query, sizeof(tmp.query), rest, qlen))
            return -1;
        rest += qlen;
    }
    if (*rest != '\0') /* a fragment or stray bytes */
        return -1;
    if (out) *out = tmp;
    return 0;
}

bool qkd_uri_is_valid(const char *s)
{
    return qkd_uri_parse(s, NULL) == 0;
}

int qkd_uri_query_get(const char *query, const char *name, char *out, size_t outlen)
{
    if (!query || !name || !*name) return -1;
    size_t nlen = strlen(name);
    const char *p = query;
    while (*p) {
        size_t seg = strcspn(p, "&");
        const char *eq = memchr(p, '=', seg);
        size_t klen = eq ? (size_t)(eq - p) : seg;
        if (klen == nlen && memcmp(p, name, nlen) == 0) {
            const char *v = eq ? eq + 1 : p + seg;
            size_t vlen = (size_t)(p + seg - v);
            if (!out || vlen >= outlen) return -1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return 0;
        }
        p += seg;
        if (*p == '&') p++;
    }
    return -1;
}
