/* etsi014.c: ETSI 014 routing of request paths, the server's limits, the SAE directory and the
 * enc_keys identity rules, UUIDs, and the helpers the codec's other files share (UTF-8 and SAE
 * id checks, messages). Pure: no I/O. Validation rules: docs/etsi014.md. */
#include "etsi014.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <uuid/uuid.h>

#include "etsi014_int.h"

int etsi014_fail(char *msg, size_t n, int status, const char *fmt, ...)
{
    if (msg && n > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, n, fmt, ap);
        va_end(ap);
    }
    return status;
}

size_t etsi014_utf8_seq(const uint8_t *s, size_t len)
{
    if (len == 0) return 0;
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    size_t need;
    uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf)
        need = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0) lo = 0xa0; /* no overlongs */
        if (c == 0xed) hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0) lo = 0x90; /* no overlongs */
        if (c == 0xf4) hi = 0x8f; /* nothing above U+10FFFF */
    } else
        return 0;
    if (len < need) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < need; i++)
        if (s[i] < 0x80 || s[i] > 0xbf) return 0;
    return need;
}

int etsi014_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t k = etsi014_utf8_seq(s + i, len - i);
        if (k == 0) return 0;
        i += k;
    }
    return 1;
}

int etsi014_id_check(const char *s, size_t len, const char *what, char *msg, size_t n)
{
    if (len == 0) return etsi014_fail(msg, n, 400, "%s is empty", what);
    if (len > ETSI014_SAE_MAX)
        return etsi014_fail(msg, n, 400, "%s is longer than %d bytes", what, ETSI014_SAE_MAX);
    int blank = 1;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c < 0x20 || c == 0x7f)
            return etsi014_fail(msg, n, 400, "%s holds a control byte", what);
        if (c != ' ') blank = 0;
    }
    if (blank) return etsi014_fail(msg, n, 400, "%s is blank", what);
    if (!etsi014_utf8_valid((const uint8_t *)s, len))
        return etsi014_fail(msg, n, 400, "%s is not UTF-8", what);
    return 0;
}

static int route_hex(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int etsi014_route(enum qkd_http_method m, const char *path, struct etsi014_route *r, char *msg,
                  size_t n)
{
    memset(r, 0, sizeof *r);
    const size_t pl = sizeof ETSI014_PATH_PREFIX - 1;
    if (!path || strncmp(path, ETSI014_PATH_PREFIX, pl) != 0)
        return etsi014_fail(msg, n, 404, "not an ETSI 014 path (%s{SAE_ID}/...)",
                            ETSI014_PATH_PREFIX);
    const char *id = path + pl;
    const char *slash = strchr(id, '/');
    if (!slash)
        return etsi014_fail(msg, n, 404, "no operation (status, enc_keys or dec_keys) in the path");
    const char *opname = slash + 1;
    if (strcmp(opname, "status") == 0)
        r->op = ETSI014_OP_STATUS;
    else if (strcmp(opname, "enc_keys") == 0)
        r->op = ETSI014_OP_ENC_KEYS;
    else if (strcmp(opname, "dec_keys") == 0)
        r->op = ETSI014_OP_DEC_KEYS;
    else
        return etsi014_fail(msg, n, 404, "unknown operation (status, enc_keys or dec_keys)");
    if (r->op == ETSI014_OP_STATUS && m != QKD_HTTP_GET)
        return etsi014_fail(msg, n, 405, "status takes GET only");
    if (r->op != ETSI014_OP_STATUS && m != QKD_HTTP_GET && m != QKD_HTTP_POST)
        return etsi014_fail(msg, n, 405, "%s takes GET or POST only",
                            r->op == ETSI014_OP_ENC_KEYS ? "enc_keys" : "dec_keys");
    /* the id segment, percent-decoded into r->sae, bounded by ETSI014_SAE_MAX */
    size_t raw = (size_t)(slash - id), k = 0;
    for (size_t i = 0; i < raw; i++) {
        int v = (uint8_t)id[i];
        if (id[i] == '%') {
            int h = i + 2 < raw ? route_hex(id[i + 1]) : -1;
            int l = h >= 0 ? route_hex(id[i + 2]) : -1;
            if (l < 0) {
                r->sae[0] = '\0';
                return etsi014_fail(msg, n, 400, "SAE id in the path has a bad %%-escape");
            }
            v = h * 16 + l;
            i += 2;
        }
        if (k == ETSI014_SAE_MAX) {
            memset(r->sae, 0, sizeof r->sae);
            return etsi014_fail(msg, n, 400, "SAE id in the path is longer than %d bytes",
                                ETSI014_SAE_MAX);
        }
        r->sae[k++] = (char)v;
    }
    r->sae[k] = '\0';
    int st = etsi014_id_check(r->sae, k, "SAE id in the path", msg, n);
    if (st) memset(r->sae, 0, sizeof r->sae);
    return st;
}

void etsi014_limits_default(struct etsi014_limits *l)
{
    l->key_size = ETSI014_DEF_KEY_SIZE;
    l->min_key_size = ETSI014_DEF_MIN_KEY_SIZE;
    l->max_key_size = ETSI014_DEF_MAX_KEY_SIZE;
    l->max_per_request = ETSI014_DEF_MAX_PER_REQUEST;
    l->max_sae_ids = ETSI014_DEF_MAX_SAE_IDS;
}

int etsi014_limits_check(const struct etsi014_limits *l, char *err, size_t n)
{
    const struct {
        const char *name;
        uint32_t v;
    } sz[] = {{"min_key_size", l->min_key_size},
              {"max_key_size", l->max_key_size},
              {"key_size", l->key_size}};
    for (size_t i = 0; i < sizeof sz / sizeof sz[0]; i++)
        if (sz[i].v == 0 || sz[i].v % 8 != 0)
            return etsi014_fail(err, n, -1, "%s %u is not a positive multiple of 8", sz[i].name,
                                sz[i].v);
    if (l->min_key_size > l->max_key_size)
        return etsi014_fail(err, n, -1, "min_key_size %u is above max_key_size %u", l->min_key_size,
                            l->max_key_size);
    if (l->key_size < l->min_key_size || l->key_size > l->max_key_size)
        return etsi014_fail(err, n, -1, "key_size %u is outside [%u, %u]", l->key_size,
                            l->min_key_size, l->max_key_size);
    if (l->max_per_request < 1 || l->max_per_request > ETSI014_MAX_KEYS)
        return etsi014_fail(err, n, -1, "max_per_request %u is outside [1, %d]", l->max_per_request,
                            ETSI014_MAX_KEYS);
    if (l->max_sae_ids > ETSI014_MAX_SAE_IDS)
        return etsi014_fail(err, n, -1, "max_sae_ids %u is above %d", l->max_sae_ids,
                            ETSI014_MAX_SAE_IDS);
    return 0;
}

/* A printable copy of an untrusted entry for an error message (control bytes → '?'). */
static void saedir_show(const char *s, size_t len, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < len && k + 4 < cap; i++) {
        uint8_t c = (uint8_t)s[i];
        out[k++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (k + 4 >= cap && len > k) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
}

static void saedir_trim(const char **s, size_t *len)
{
    while (*len > 0 && **s == ' ') {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && (*s)[*len - 1] == ' ')
        (*len)--;
}

static int saedir_entry(struct etsi014_saedir *d, const char *ent, size_t len, char *err, size_t n)
{
    char show[96], why[96];
    saedir_show(ent, len, show, sizeof show);
    const char *eq = memchr(ent, '=', len);
    if (len == 0 || !eq) return etsi014_fail(err, n, -1, "SAE entry '%s': not ID=NODE", show);
    const char *id = ent, *node = eq + 1;
    size_t idlen = (size_t)(eq - ent), nodelen = len - idlen - 1;
    saedir_trim(&id, &idlen);
    saedir_trim(&node, &nodelen);
    if (etsi014_id_check(id, idlen, "its id", why, sizeof why) != 0)
        return etsi014_fail(err, n, -1, "SAE entry '%s': %s", show, why);
    if (nodelen == 0) return etsi014_fail(err, n, -1, "SAE entry '%s': node is empty", show);
    if (nodelen > ETSI014_NODE_MAX)
        return etsi014_fail(err, n, -1, "SAE entry '%s': node is longer than %d bytes", show,
                            ETSI014_NODE_MAX);
    for (size_t i = 0; i < nodelen; i++) {
        uint8_t c = (uint8_t)node[i];
        if (c <= 0x20 || c >= 0x7f || c == '=')
            return etsi014_fail(err, n, -1,
                                "SAE entry '%s': node may hold only printable ASCII, no '=' "
                                "or space",
                                show);
    }
    for (uint32_t i = 0; i < d->n; i++) {
        if (strlen(d->e[i].sae) != idlen || memcmp(d->e[i].sae, id, idlen) != 0) continue;
        if (strlen(d->e[i].node) == nodelen && memcmp(d->e[i].node, node, nodelen) == 0) return 0;
        return etsi014_fail(err, n, -1, "SAE entry '%s': id already at node '%s'", show,
                            d->e[i].node);
    }
    if (d->n >= ETSI014_SAEDIR_MAX)
        return etsi014_fail(err, n, -1, "SAE entry '%s': directory full (%d entries)", show,
                            ETSI014_SAEDIR_MAX);
    memcpy(d->e[d->n].sae, id, idlen);
    d->e[d->n].sae[idlen] = '\0';
    memcpy(d->e[d->n].node, node, nodelen);
    d->e[d->n].node[nodelen] = '\0';
    d->n++;
    return 0;
}

int etsi014_saedir_add(struct etsi014_saedir *d, const char *spec, char *err, size_t n)
{
    if (!spec) return etsi014_fail(err, n, -1, "no SAE entry");
    uint32_t before = d->n;
    const char *s = spec;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        const char *ent = s;
        saedir_trim(&ent, &len);
        if (saedir_entry(d, ent, len, err, n) != 0) {
            for (uint32_t i = before; i < d->n; i++)
                memset(&d->e[i], 0, sizeof d->e[i]);
            d->n = before;
            return -1;
        }
        if (!comma) return 0;
        s = comma + 1;
    }
}

const char *etsi014_saedir_node(const struct etsi014_saedir *d, const char *sae)
{
    if (!sae) return NULL;
    for (uint32_t i = 0; i < d->n && i < ETSI014_SAEDIR_MAX; i++)
        if (strcmp(d->e[i].sae, sae) == 0) return d->e[i].node;
    return NULL;
}

int etsi014_check_pair(const struct etsi014_saedir *d, const char *master, const char *slave,
                       const struct etsi014_key_req *req, char *msg, size_t n)
{
    const char *snode = etsi014_saedir_node(d, slave);
    if (!snode) return etsi014_fail(msg, n, 400, "slave SAE '%s' is unknown", slave);
    if (strcmp(master, slave) == 0)
        return etsi014_fail(msg, n, 400, "master and slave are the same SAE");
    uint32_t ns = req ? req->nslaves : 0;
    for (uint32_t i = 0; i < ns && i < ETSI014_MAX_SAE_IDS; i++) {
        const char *a = req->slaves[i];
        const char *anode = etsi014_saedir_node(d, a);
        if (!anode) return etsi014_fail(msg, n, 400, "additional slave SAE '%s' is unknown", a);
        if (strcmp(a, master) == 0)
            return etsi014_fail(msg, n, 400, "additional slave SAE '%s' is the master", a);
        if (strcmp(a, slave) == 0)
            return etsi014_fail(msg, n, 400, "additional slave SAE '%s' is the slave", a);
        if (strcmp(anode, snode) != 0)
            return etsi014_fail(msg, n, 400,
                                "additional slave SAE '%s' is at node '%s', not at the slave's "
                                "node '%s'",
                                a, anode, snode);
    }
    return 0;
}

void etsi014_uuid_str(const uint8_t id[16], char out[37])
{
    uuid_unparse_lower(id, out);
}

int etsi014_uuid_parse(const char *s, uint8_t id[16])
{
    if (!s || strnlen(s, 37) != 36) return -1;
    uuid_t u;
    if (uuid_parse(s, u) != 0) return -1;
    memcpy(id, u, 16);
    return 0;
}
