/* fuzz_hybrid_node_config.c: libFuzzer target for the node configuration parser
 * (node_config.h), through its parse-from-buffer entry hyb_config_parse (no file needed).
 * A config that is accepted is written back as JSON (a test-side encoder: the module has none)
 * and must be accepted again with every field unchanged; its peers must be found by their
 * names and UUIDs. Each listener address also goes through hyb_split_hostport. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "node_config.h"

#define FUZZ_CHECK(c)                                                                              \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

#define FUZZ_CFG_MAX 65536 /* real configs are a few KiB */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_cfg_str(cJSON *o, const char *name, const char *v)
{
    FUZZ_CHECK(cJSON_AddStringToObject(o, name, v) != NULL);
}

/* The config as its JSON file (paths already joined, so re-read without a directory). */
static char *fuzz_cfg_encode(const struct hyb_config *c)
{
    cJSON *root = cJSON_CreateObject();
    FUZZ_CHECK(root != NULL);
    fuzz_cfg_str(root, "name", c->name);
    fuzz_cfg_str(root, "uuid", c->uuid);
    fuzz_cfg_str(root, "hybrid_listen", c->hybrid_listen);
    if (c->json_listen[0]) fuzz_cfg_str(root, "json_listen", c->json_listen);
    fuzz_cfg_str(root, "peer_listen", c->peer_listen);
    fuzz_cfg_str(root, "cert", c->cert);
    fuzz_cfg_str(root, "key", c->key);
    fuzz_cfg_str(root, "ca", c->ca);
    fuzz_cfg_str(root, "identity_key", c->identity_key);
    cJSON *k = cJSON_AddObjectToObject(root, "kme");
    FUZZ_CHECK(k != NULL);
    fuzz_cfg_str(k, "address", c->kme.address);
    fuzz_cfg_str(k, "cert", c->kme.cert);
    fuzz_cfg_str(k, "key", c->kme.key);
    fuzz_cfg_str(k, "ca", c->kme.ca);
    cJSON *peers = cJSON_AddArrayToObject(root, "peers");
    FUZZ_CHECK(peers != NULL);
    for (size_t i = 0; i < c->n_peers; i++) {
        cJSON *p = cJSON_CreateObject();
        FUZZ_CHECK(p != NULL && cJSON_AddItemToArray(peers, p));
        fuzz_cfg_str(p, "name", c->peers[i].name);
        fuzz_cfg_str(p, "uuid", c->peers[i].uuid);
        fuzz_cfg_str(p, "address", c->peers[i].address);
        fuzz_cfg_str(p, "identity_pub", c->peers[i].identity_pub);
    }
    char *text = cJSON_PrintUnformatted(root);
    FUZZ_CHECK(text != NULL);
    cJSON_Delete(root);
    return text;
}

static void fuzz_cfg_same(const struct hyb_config *a, const struct hyb_config *b)
{
    FUZZ_CHECK(strcmp(a->name, b->name) == 0 && strcmp(a->uuid, b->uuid) == 0);
    FUZZ_CHECK(strcmp(a->hybrid_listen, b->hybrid_listen) == 0 &&
               strcmp(a->json_listen, b->json_listen) == 0 &&
               strcmp(a->peer_listen, b->peer_listen) == 0);
    FUZZ_CHECK(strcmp(a->cert, b->cert) == 0 && strcmp(a->key, b->key) == 0 &&
               strcmp(a->ca, b->ca) == 0 && strcmp(a->identity_key, b->identity_key) == 0);
    FUZZ_CHECK(strcmp(a->kme.address, b->kme.address) == 0 &&
               strcmp(a->kme.cert, b->kme.cert) == 0 && strcmp(a->kme.key, b->kme.key) == 0 &&
               strcmp(a->kme.ca, b->kme.ca) == 0);
    FUZZ_CHECK(a->n_peers == b->n_peers);
    for (size_t i = 0; i < a->n_peers; i++) {
        const struct hyb_peer_cfg *p = &a->peers[i], *q = &b->peers[i];
        FUZZ_CHECK(strcmp(p->name, q->name) == 0 && strcmp(p->uuid, q->uuid) == 0 &&
                   strcmp(p->address, q->address) == 0 &&
                   strcmp(p->identity_pub, q->identity_pub) == 0);
    }
}

static void fuzz_cfg_addr(const char *addr, unsigned port_min)
{
    char host[HYB_CFG_ADDR_MAX];
    unsigned port = 0;
    FUZZ_CHECK(hyb_split_hostport(addr, host, sizeof(host), &port, port_min) == 0);
    FUZZ_CHECK(port >= port_min && port <= 65535 && host[0] != '\0');
    FUZZ_CHECK(strlen(host) < strlen(addr));
}

/* Lookups: each peer by its name and by its UUID (any case), never this node. */
static void fuzz_cfg_lookup(const struct hyb_config *c)
{
    FUZZ_CHECK(hyb_config_is_self(c, c->name) && hyb_config_is_self(c, c->uuid));
    for (size_t i = 0; i < c->n_peers; i++) {
        const struct hyb_peer_cfg *p = &c->peers[i];
        char upper[HYB_CFG_UUID_MAX];
        for (size_t k = 0; k < sizeof(upper); k++)
            upper[k] =
                (char)(p->uuid[k] >= 'a' && p->uuid[k] <= 'f' ? p->uuid[k] - 32 : p->uuid[k]);
        FUZZ_CHECK(hyb_config_find_peer(c, p->uuid) == p);
        FUZZ_CHECK(hyb_config_find_peer(c, upper) == p);
        FUZZ_CHECK(!hyb_config_is_self(c, p->uuid));
        FUZZ_CHECK(hyb_config_find_peer(c, p->name) == p);
        FUZZ_CHECK(!hyb_config_is_self(c, p->name));
        fuzz_cfg_addr(p->address, 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_CFG_MAX) return 0;
    char err[512];
    err[0] = '\0';
    /* A relative directory: relative paths get "fuzz/" in front. */
    struct hyb_config *c =
        hyb_config_parse("fuzz/node.json", (const char *)data, size, err, sizeof(err));
    if (c == NULL) {
        FUZZ_CHECK(strncmp(err, "fuzz/node.json: ", 16) == 0 && memchr(err, 0, sizeof(err)));
        return 0;
    }
    FUZZ_CHECK(strcmp(c->path, "fuzz/node.json") == 0);
    FUZZ_CHECK(c->n_peers >= 1 && c->n_peers <= HYB_CFG_MAX_PEERS);
    FUZZ_CHECK(strlen(c->uuid) == 36);
    fuzz_cfg_addr(c->hybrid_listen, 0);
    fuzz_cfg_addr(c->peer_listen, 0);
    if (c->json_listen[0]) fuzz_cfg_addr(c->json_listen, 0);
    fuzz_cfg_addr(c->kme.address, 1);
    fuzz_cfg_lookup(c);
    char *text = fuzz_cfg_encode(c);
    struct hyb_config *again = hyb_config_parse("node.json", text, strlen(text), err, sizeof(err));
    FUZZ_CHECK(again != NULL);
    fuzz_cfg_same(c, again);
    hyb_config_free(again);
    cJSON_free(text);
    hyb_config_free(c);
    return 0;
}
