/* node_config.c: loading and checking a node's JSON configuration (cJSON). */
#include "node_config.h"

#include "sock.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uuid/uuid.h>

struct cfg_ctx {
    const char *path;
    char dir[HYB_CFG_PATH_MAX]; /* "" or the config's directory with a trailing '/' */
    char *err;
    size_t errlen;
};

static int cfg_fail(struct cfg_ctx *x, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int cfg_fail(struct cfg_ctx *x, const char *field, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (x->err != NULL && x->errlen > 0) {
        if (field != NULL)
            snprintf(x->err, x->errlen, "%s: %s: %s", x->path, field, msg);
        else
            snprintf(x->err, x->errlen, "%s: %s", x->path, msg);
    }
    return -1;
}

int hyb_split_hostport(const char *s, char *host, size_t hostlen, unsigned *port, unsigned port_min)
{
    unsigned v;
    if (qkd_addr_split(s, host, hostlen, &v, NULL, 0) != 0 || host[0] == '\0' || v < port_min)
        return -1;
    for (const char *c = host; *c; c++)
        if (!(isalnum((unsigned char)*c) || strchr("-._:", *c) != NULL)) return -1;
    *port = v;
    return 0;
}

/* A string member; required or optional (absent → "" and 0). */
static int cfg_str(struct cfg_ctx *x, const cJSON *obj, const char *key, const char *field,
                   bool required, const char **out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

    *out = NULL;
    if (it == NULL || cJSON_IsNull(it)) {
        if (required) return cfg_fail(x, field, "missing");
        return 0;
    }
    if (!cJSON_IsString(it) || it->valuestring == NULL)
        return cfg_fail(x, field, "must be a string");
    if (it->valuestring[0] == '\0') return cfg_fail(x, field, "is empty");
    *out = it->valuestring;
    return 0;
}

static int cfg_name(struct cfg_ctx *x, const cJSON *obj, const char *field, char *dst)
{
    const char *v;
    size_t n;

    if (cfg_str(x, obj, "name", field, true, &v) != 0) return -1;
    n = strlen(v);
    if (n >= HYB_CFG_NAME_MAX)
        return cfg_fail(x, field, "longer than %d characters", HYB_CFG_NAME_MAX - 1);
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)v[i]) || v[i] == '-' || v[i] == '_' || v[i] == '.'))
            return cfg_fail(x, field, "'%s' has characters other than A-Z a-z 0-9 . _ -", v);
    /* Nodes are found by name or by UUID: a name that is a UUID could name another node. */
    uuid_t as_uuid;
    if (n == 36 && uuid_parse(v, as_uuid) == 0)
        return cfg_fail(x, field, "'%s' is a UUID; a node name must not be one", v);
    memcpy(dst, v, n + 1);
    return 0;
}

static int cfg_uuid(struct cfg_ctx *x, const cJSON *obj, const char *field, char *dst)
{
    const char *v;
    uuid_t u;

    if (cfg_str(x, obj, "uuid", field, true, &v) != 0) return -1;
    if (strlen(v) != 36 || uuid_parse(v, u) != 0) return cfg_fail(x, field, "not a UUID");
    uuid_unparse_lower(u, dst);
    return 0;
}

static int cfg_addr(struct cfg_ctx *x, const cJSON *obj, const char *key, const char *field,
                    bool required, unsigned port_min, char *dst)
{
    const char *v;
    char host[HYB_CFG_ADDR_MAX];
    unsigned port;

    dst[0] = '\0';
    if (cfg_str(x, obj, key, field, required, &v) != 0) return -1;
    if (v == NULL) return 0;
    if (strlen(v) >= HYB_CFG_ADDR_MAX ||
        hyb_split_hostport(v, host, sizeof host, &port, port_min) != 0)
        return cfg_fail(x, field, "'%.64s' is not host:port (port %u..65535)", v, port_min);
    strcpy(dst, v);
    return 0;
}

static int cfg_path(struct cfg_ctx *x, const cJSON *obj, const char *key, const char *field,
                    char *dst)
{
    const char *v;
    int n;

    if (cfg_str(x, obj, key, field, true, &v) != 0) return -1;
    if (v[0] == '/')
        n = snprintf(dst, HYB_CFG_PATH_MAX, "%s", v);
    else
        n = snprintf(dst, HYB_CFG_PATH_MAX, "%s%s", x->dir, v);
    if (n < 0 || n >= HYB_CFG_PATH_MAX)
        return cfg_fail(x, field, "path longer than %d bytes", HYB_CFG_PATH_MAX - 1);
    return 0;
}

/* Every member of obj must be one of the allowed keys. */
static int cfg_known(struct cfg_ctx *x, const cJSON *obj, const char *prefix,
                     const char *const *keys)
{
    char field[128];
    for (const cJSON *it = obj->child; it != NULL; it = it->next) {
        size_t k;
        for (k = 0; keys[k] != NULL; k++)
            if (it->string != NULL && strcmp(it->string, keys[k]) == 0) break;
        if (keys[k] == NULL) {
            snprintf(field, sizeof field, "%s%.64s", prefix, it->string ? it->string : "?");
            return cfg_fail(x, field, "unknown field");
        }
    }
    return 0;
}

static int cfg_kme(struct cfg_ctx *x, const cJSON *root, struct hyb_kme_cfg *k)
{
    static const char *const keys[] = {"address", "cert", "key", "ca", NULL};
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "kme");

    if (o == NULL) return cfg_fail(x, "kme", "missing");
    if (!cJSON_IsObject(o)) return cfg_fail(x, "kme", "must be an object");
    if (cfg_known(x, o, "kme.", keys) != 0) return -1;
    if (cfg_addr(x, o, "address", "kme.address", true, 1, k->address) != 0 ||
        cfg_path(x, o, "cert", "kme.cert", k->cert) != 0 ||
        cfg_path(x, o, "key", "kme.key", k->key) != 0 || cfg_path(x, o, "ca", "kme.ca", k->ca) != 0)
        return -1;
    return 0;
}

static int cfg_peer(struct cfg_ctx *x, const cJSON *o, size_t i, struct hyb_config *c)
{
    static const char *const keys[] = {"name", "uuid", "address", "identity_pub", NULL};
    struct hyb_peer_cfg *p = &c->peers[i];
    char pre[32], f[64];

    snprintf(pre, sizeof pre, "peers[%zu]", i);
    if (!cJSON_IsObject(o)) return cfg_fail(x, pre, "must be an object");
    snprintf(pre, sizeof pre, "peers[%zu].", i);
    if (cfg_known(x, o, pre, keys) != 0) return -1;
    snprintf(f, sizeof f, "%sname", pre);
    if (cfg_name(x, o, f, p->name) != 0) return -1;
    snprintf(f, sizeof f, "%suuid", pre);
    if (cfg_uuid(x, o, f, p->uuid) != 0) return -1;
    snprintf(f, sizeof f, "%saddress", pre);
    if (cfg_addr(x, o, "address", f, true, 1, p->address) != 0) return -1;
    snprintf(f, sizeof f, "%sidentity_pub", pre);
    if (cfg_path(x, o, "identity_pub", f, p->identity_pub) != 0) return -1;
    /* distinct from this node and from the peers before it */
    snprintf(f, sizeof f, "%sname", pre);
    if (strcmp(p->name, c->name) == 0)
        return cfg_fail(x, f, "'%s' is this node's own name", p->name);
    for (size_t j = 0; j < i; j++)
        if (strcmp(p->name, c->peers[j].name) == 0)
            return cfg_fail(x, f, "'%s' repeats peers[%zu].name", p->name, j);
    snprintf(f, sizeof f, "%suuid", pre);
    if (strcmp(p->uuid, c->uuid) == 0) return cfg_fail(x, f, "is this node's own UUID");
    for (size_t j = 0; j < i; j++)
        if (strcmp(p->uuid, c->peers[j].uuid) == 0)
            return cfg_fail(x, f, "repeats peers[%zu].uuid", j);
    return 0;
}

static int cfg_root(struct cfg_ctx *x, const cJSON *root, struct hyb_config *c)
{
    static const char *const keys[] = {"name",         "uuid", "hybrid_listen", "json_listen",
                                       "peer_listen",  "cert", "key",           "ca",
                                       "identity_key", "kme",  "peers",         NULL};
    const cJSON *peers, *it;
    size_t i = 0;

    if (!cJSON_IsObject(root)) return cfg_fail(x, NULL, "top level must be a JSON object");
    if (cfg_name(x, root, "name", c->name) != 0 || cfg_uuid(x, root, "uuid", c->uuid) != 0 ||
        cfg_addr(x, root, "hybrid_listen", "hybrid_listen", true, 0, c->hybrid_listen) != 0 ||
        cfg_addr(x, root, "json_listen", "json_listen", false, 0, c->json_listen) != 0 ||
        cfg_addr(x, root, "peer_listen", "peer_listen", true, 0, c->peer_listen) != 0 ||
        cfg_path(x, root, "cert", "cert", c->cert) != 0 ||
        cfg_path(x, root, "key", "key", c->key) != 0 || cfg_path(x, root, "ca", "ca", c->ca) != 0 ||
        cfg_path(x, root, "identity_key", "identity_key", c->identity_key) != 0 ||
        cfg_kme(x, root, &c->kme) != 0)
        return -1;
    peers = cJSON_GetObjectItemCaseSensitive(root, "peers");
    if (peers == NULL) return cfg_fail(x, "peers", "missing");
    if (!cJSON_IsArray(peers)) return cfg_fail(x, "peers", "must be an array");
    if (cJSON_GetArraySize(peers) < 1)
        return cfg_fail(x, "peers", "is empty (a node needs at least one peer)");
    if (cJSON_GetArraySize(peers) > HYB_CFG_MAX_PEERS)
        return cfg_fail(x, "peers", "more than %d peers", HYB_CFG_MAX_PEERS);
    cJSON_ArrayForEach(it, peers)
    {
        if (cfg_peer(x, it, i, c) != 0) return -1;
        i++;
    }
    c->n_peers = i;
    return cfg_known(x, root, "", keys);
}

/* Line number of offset off in text (1-based). */
static unsigned cfg_line(const char *text, size_t off)
{
    unsigned line = 1;
    for (size_t i = 0; i < off; i++)
        if (text[i] == '\n') line++;
    return line;
}

struct hyb_config *hyb_config_parse(const char *path, const char *text, size_t len, char *err,
                                    size_t errlen)
{
    struct cfg_ctx x = {.path = path, .err = err, .errlen = errlen};
    struct hyb_config *c;
    const char *slash = strrchr(path, '/');
    const char *end = NULL;
    cJSON *root;

    if (slash != NULL) {
        size_t dl = (size_t)(slash - path) + 1;
        if (dl >= sizeof x.dir) {
            cfg_fail(&x, NULL, "path too long");
            return NULL;
        }
        memcpy(x.dir, path, dl);
        x.dir[dl] = '\0';
    }
    if (len > HYB_CFG_FILE_MAX) {
        cfg_fail(&x, NULL, "larger than %d bytes", HYB_CFG_FILE_MAX);
        return NULL;
    }
    root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (root == NULL) {
        size_t off = end != NULL && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        const char *e = cJSON_GetErrorPtr();
        if (e != NULL && e >= text && e <= text + len) off = (size_t)(e - text);
        cfg_fail(&x, NULL, "not valid JSON (line %u)", cfg_line(text, off));
        return NULL;
    }
    if ((c = calloc(1, sizeof *c)) == NULL) {
        cJSON_Delete(root);
        cfg_fail(&x, NULL, "out of memory");
        return NULL;
    }
    snprintf(c->path, sizeof c->path, "%s", path);
    if (cfg_root(&x, root, c) != 0) {
        cJSON_Delete(root);
        free(c);
        return NULL;
    }
    cJSON_Delete(root);
    return c;
}

struct hyb_config *hyb_config_load(const char *path, char *err, size_t errlen)
{
    struct hyb_config *c;
    char *buf;
    size_t n;
    FILE *f = fopen(path, "rb");

    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if ((buf = malloc(HYB_CFG_FILE_MAX + 1)) == NULL) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    n = fread(buf, 1, HYB_CFG_FILE_MAX + 1, f);
    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    c = hyb_config_parse(path, buf, n, err, errlen);
    free(buf);
    return c;
}

void hyb_config_free(struct hyb_config *c)
{
    free(c);
}

const struct hyb_peer_cfg *hyb_config_find_peer(const struct hyb_config *c,
                                                const char *name_or_uuid)
{
    for (size_t i = 0; i < c->n_peers; i++)
        if (strcmp(c->peers[i].name, name_or_uuid) == 0 ||
            strcasecmp(c->peers[i].uuid, name_or_uuid) == 0)
            return &c->peers[i];
    return NULL;
}

bool hyb_config_is_self(const struct hyb_config *c, const char *name_or_uuid)
{
    return strcmp(c->name, name_or_uuid) == 0 || strcasecmp(c->uuid, name_or_uuid) == 0;
}
