/* request.c: parsing and canonical formatting of hybrid:// source and destination URIs. */
#include "request.h"

#include "uri.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define REQ_VALUE_MAX 512 /* a query parameter's value, with NUL (the URI query limit) */

static void req_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void req_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || errlen == 0) return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int req_hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes %XX in place; fails on a malformed escape or a decoded control byte. */
static int req_pct_decode(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (*r == '%') {
            int hi = req_hexval(r[1]), lo = hi < 0 ? -1 : req_hexval(r[2]);
            if (hi < 0 || lo < 0) return -1;
            *w = (char)(hi * 16 + lo);
            r += 2;
        } else {
            *w = *r;
        }
        if ((unsigned char)*w < 0x20 || (unsigned char)*w == 0x7f) return -1;
        w++;
    }
    *w = '\0';
    return 0;
}

/* Common part of source and destination: scheme hybrid, app in userinfo, node as host, no
 * port, empty path (or "/"). */
static int req_parse_uri(const char *what, const char *s, struct qkd_uri *u, char *app, char *node,
                         char *err, size_t errlen)
{
    if (s == NULL || *s == '\0') {
        req_err(err, errlen, "%s URI is empty", what);
        return -1;
    }
    if (qkd_uri_parse(s, u) != 0) {
        req_err(err, errlen, "%s URI is malformed (want hybrid://<app>@<node>)", what);
        return -1;
    }
    if (strcasecmp(u->scheme, "hybrid") != 0) {
        req_err(err, errlen, "%s URI: scheme must be 'hybrid', not '%s'", what, u->scheme);
        return -1;
    }
    if (u->userinfo[0] == '\0') {
        req_err(err, errlen, "%s URI: no application (want hybrid://<app>@<node>)", what);
        return -1;
    }
    if (u->port != 0) {
        req_err(err, errlen, "%s URI: a port is not allowed (hybrid://<app>@<node>)", what);
        return -1;
    }
    if (u->path[0] != '\0' && strcmp(u->path, "/") != 0) {
        req_err(err, errlen, "%s URI: unexpected path '%s'", what, u->path);
        return -1;
    }
    if (strlen(u->userinfo) >= HYB_APP_MAX || strlen(u->host) >= HYB_NODE_MAX) {
        req_err(err, errlen, "%s URI: application or node name too long", what);
        return -1;
    }
    if (strchr(u->host, ':') != NULL) { /* an IPv6 literal: not a node name or UUID */
        req_err(err, errlen, "%s URI: node '%s' is not a node name or UUID", what, u->host);
        return -1;
    }
    strcpy(app, u->userinfo);
    strcpy(node, u->host);
    return 0;
}

static const char *const req_params[] = {"hybridization", "key_sources", "req_key_sources",
                                         "opt_key_sources"};
#define REQ_NPARAMS (sizeof req_params / sizeof req_params[0])

/* Every parameter must be known and appear once. */
static int req_check_params(const char *q, char *err, size_t errlen)
{
    unsigned seen[REQ_NPARAMS] = {0};
    const char *p = q;

    while (*p) {
        size_t seg = strcspn(p, "&");
        const char *eq = memchr(p, '=', seg);
        size_t klen = eq ? (size_t)(eq - p) : seg;
        size_t k;
        if (seg == 0) {
            req_err(err, errlen, "source URI: empty query parameter");
            return -1;
        }
        for (k = 0; k < REQ_NPARAMS; k++)
            if (strlen(req_params[k]) == klen && memcmp(p, req_params[k], klen) == 0) break;
        if (k == REQ_NPARAMS) {
            req_err(err, errlen, "source URI: unknown parameter '%.*s'", (int)klen, p);
            return -1;
        }
        if (eq == NULL) {
            req_err(err, errlen, "source URI: parameter '%s' has no value", req_params[k]);
            return -1;
        }
        if (seen[k]++) {
            req_err(err, errlen, "source URI: parameter '%s' given twice", req_params[k]);
            return -1;
        }
        p += seg;
        if (*p == '&') p++;
    }
    return 0;
}

/* Families the Python module offers through liboqs that Debian does not package (docs/hybrid.md
 * "Key sources"): named as such rather than as unknown. */
static const char *const req_unprovided[] = {"BIKE", "HQC", "FrodoKEM", "Kyber"};

/* One source name: known and built in, or an error naming it and the supported list. */
static int req_check_source(const char *p, size_t len, const char *param, enum hyb_source *s,
                            char *err, size_t errlen)
{
    int shown = (int)(len > 64 ? 64 : len);

    if (hyb_source_parse(p, len, s) == 0) {
        if (hyb_source_built(*s)) return 0;
        req_err(err, errlen, "source %s not built in (supported: %s)", hyb_source_name(*s),
                hyb_source_supported());
        return -1;
    }
    for (size_t k = 0; k < sizeof req_unprovided / sizeof req_unprovided[0]; k++) {
        size_t fl = strlen(req_unprovided[k]);
        if (len >= fl && strncasecmp(p, req_unprovided[k], fl) == 0) {
            req_err(err, errlen,
                    "key source '%.*s' is not provided by this node (no Debian package; "
                    "supported: %s)",
                    shown, p, hyb_source_supported());
            return -1;
        }
    }
    req_err(err, errlen, "unknown key source '%.*s' in '%s' (supported: %s)", shown, p, param,
            hyb_source_supported());
    return -1;
}

/* Appends the comma-separated sources of parameter name to r; *pub_total sums their public
 * keys (bounded by HYB_REQ_MAX_PUB_BYTES). */
static int req_add_sources(const char *query, const char *name, bool required,
                           struct hyb_request *r, size_t *pub_total, char *err, size_t errlen)
{
    char v[REQ_VALUE_MAX];
    const char *p;

    if (qkd_uri_query_get(query, name, v, sizeof v) != 0)
        return 0; /* absent (presence and length were checked before) */
    if (req_pct_decode(v) != 0) {
        req_err(err, errlen, "source URI: bad escape in '%s'", name);
        return -1;
    }
    if (v[0] == '\0') {
        req_err(err, errlen, "source URI: '%s' is empty", name);
        return -1;
    }
    p = v;
    for (;;) {
        size_t len = strcspn(p, ",");
        enum hyb_source s;
        if (len == 0) {
            req_err(err, errlen, "source URI: empty source in '%s'", name);
            return -1;
        }
        if (req_check_source(p, len, name, &s, err, errlen) != 0) return -1;
        if (*pub_total + hyb_source_pub_len(s) > HYB_REQ_MAX_PUB_BYTES) {
            req_err(err, errlen,
                    "source URI: the public keys of these key sources exceed %u bytes in all (one "
                    "peer frame); use fewer or smaller Classic McEliece sets",
                    (unsigned)HYB_REQ_MAX_PUB_BYTES);
            return -1;
        }
        *pub_total += hyb_source_pub_len(s);
        if (r->n_sources >= HYB_MAX_SOURCES) {
            req_err(err, errlen, "source URI: more than %d key sources", HYB_MAX_SOURCES);
            return -1;
        }
        r->sources[r->n_sources].source = s;
        r->sources[r->n_sources].required = required;
        r->n_sources++;
        p += len;
        if (*p == '\0') break;
        p++; /* the comma; a trailing comma gives an empty source above */
    }
    return 0;
}

int hyb_request_parse(const char *uri, struct hyb_request *out, char *err, size_t errlen)
{
    struct qkd_uri u;
    struct hyb_request r;
    char v[REQ_VALUE_MAX];
    size_t pub_total = 0;

    memset(&r, 0, sizeof r);
    r.method = HYB_COMB_DEFAULT;
    if (req_parse_uri("source", uri, &u, r.app, r.node, err, errlen) != 0) return -1;
    if (req_check_params(u.query, err, errlen) != 0) return -1;
    if (qkd_uri_query_get(u.query, "hybridization", v, sizeof v) == 0) {
        if (req_pct_decode(v) != 0 || hyb_comb_method_parse(v, &r.method) != 0) {
            req_err(err, errlen,
                    "unknown hybridization method '%.64s' (known: xoring, hmac, xorhmac, hkdf, "
                    "catkdf)",
                    v);
            return -1;
        }
    }
    if (req_add_sources(u.query, "key_sources", true, &r, &pub_total, err, errlen) != 0 ||
        req_add_sources(u.query, "req_key_sources", true, &r, &pub_total, err, errlen) != 0 ||
        req_add_sources(u.query, "opt_key_sources", false, &r, &pub_total, err, errlen) != 0)
        return -1;
    if (r.n_sources == 0) {
        req_err(err, errlen,
                "source URI: no key sources (add key_sources=, req_key_sources= or "
                "opt_key_sources=)");
        return -1;
    }
    if (out) *out = r;
    return 0;
}

int hyb_dest_parse(const char *uri, struct hyb_dest *out, char *err, size_t errlen)
{
    struct qkd_uri u;
    struct hyb_dest d;

    memset(&d, 0, sizeof d);
    if (req_parse_uri("destination", uri, &u, d.app, d.node, err, errlen) != 0) return -1;
    if (out) *out = d;
    return 0;
}

static int req_append(char *out, size_t outlen, size_t *off, const char *s)
{
    size_t l = strlen(s);
    if (*off + l >= outlen) return -1;
    memcpy(out + *off, s, l + 1);
    *off += l;
    return 0;
}

int hyb_request_format(const struct hyb_request *r, char *out, size_t outlen)
{
    size_t off = 0;
    int rc = 0;

    if (outlen == 0) return -1;
    out[0] = '\0';
    rc |= req_append(out, outlen, &off, "hybrid://");
    rc |= req_append(out, outlen, &off, r->app);
    rc |= req_append(out, outlen, &off, "@");
    rc |= req_append(out, outlen, &off, r->node);
    rc |= req_append(out, outlen, &off, "?hybridization=");
    rc |= req_append(out, outlen, &off, hyb_comb_method_name(r->method));
    for (int pass = 0; pass < 2; pass++) {
        bool want = pass == 0, first = true;
        for (size_t i = 0; i < r->n_sources; i++) {
            if (r->sources[i].required != want) continue;
            if (first)
                rc |=
                    req_append(out, outlen, &off, want ? "&req_key_sources=" : "&opt_key_sources=");
            else
                rc |= req_append(out, outlen, &off, ",");
            rc |= req_append(out, outlen, &off, hyb_source_name(r->sources[i].source));
            first = false;
        }
    }
    return rc ? -1 : 0;
}
