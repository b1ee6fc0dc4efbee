/* node_config.h: a hybrid daemon's node configuration, one JSON file per node (schema in
 * docs/hybrid.md): its name and UUID, listen addresses, TLS files, ML-DSA-65 identity key, its
 * key server, and its peers. Errors name the file and the field ("alice.json: peers[1].uuid:
 * not a UUID"). Relative paths are taken relative to the directory of the config file. */
#ifndef HYB_NODE_CONFIG_H
#define HYB_NODE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define HYB_CFG_MAX_PEERS 64
#define HYB_CFG_NAME_MAX  64            /* node name with NUL: 1..63 of [A-Za-z0-9._-] */
#define HYB_CFG_UUID_MAX  37            /* canonical lower-case text with NUL */
#define HYB_CFG_ADDR_MAX  262           /* "host:port" with NUL */
#define HYB_CFG_PATH_MAX  1024          /* a file path (after joining with the config dir) */
#define HYB_CFG_FILE_MAX  (1024 * 1024) /* largest config file read */

struct hyb_peer_cfg {
    char name[HYB_CFG_NAME_MAX];
    char uuid[HYB_CFG_UUID_MAX];
    char address[HYB_CFG_ADDR_MAX];      /* the peer daemon's peer_listen */
    char identity_pub[HYB_CFG_PATH_MAX]; /* its ML-DSA-65 public key or certificate PEM */
};

struct hyb_kme_cfg {
    char address[HYB_CFG_ADDR_MAX]; /* the node's ETSI 004 key server */
    char cert[HYB_CFG_PATH_MAX];    /* client certificate towards it */
    char key[HYB_CFG_PATH_MAX];
    char ca[HYB_CFG_PATH_MAX]; /* CA that the key server's certificate chains to */
};

struct hyb_config {
    char path[HYB_CFG_PATH_MAX]; /* the file it was read from */
    char name[HYB_CFG_NAME_MAX];
    char uuid[HYB_CFG_UUID_MAX];
    char hybrid_listen[HYB_CFG_ADDR_MAX]; /* ETSI 004 listener for applications */
    char json_listen[HYB_CFG_ADDR_MAX];   /* KDFix-style JSON listener; "" = off */
    char peer_listen[HYB_CFG_ADDR_MAX];   /* mTLS listener for peer daemons */
    char cert[HYB_CFG_PATH_MAX];          /* node certificate (listeners, peer link) */
    char key[HYB_CFG_PATH_MAX];
    char ca[HYB_CFG_PATH_MAX];
    char identity_key[HYB_CFG_PATH_MAX]; /* ML-DSA-65 private key PEM */
    struct hyb_kme_cfg kme;
    size_t n_peers;
    struct hyb_peer_cfg peers[HYB_CFG_MAX_PEERS];
};

/* Reads and checks the file. Returns a config (free with hyb_config_free), or NULL with
 * "<path>: <field>: <problem>" in err. */
struct hyb_config *hyb_config_load(const char *path, char *err, size_t errlen);
/* The same from text; path names the file in messages and anchors relative paths. */
struct hyb_config *hyb_config_parse(const char *path, const char *text, size_t len, char *err,
                                    size_t errlen);
void hyb_config_free(struct hyb_config *c);

/* The peer named by name or UUID (case-insensitive UUID), or NULL. */
const struct hyb_peer_cfg *hyb_config_find_peer(const struct hyb_config *c,
                                                const char *name_or_uuid);
/* True when name_or_uuid names this node. */
bool hyb_config_is_self(const struct hyb_config *c, const char *name_or_uuid);

/* Splits "host:port" or "[v6]:port"; host gets no brackets. port_min is 0 for listeners, 1
 * otherwise. Returns 0 or -1. */
int hyb_split_hostport(const char *s, char *host, size_t hostlen, unsigned *port,
                       unsigned port_min);

#endif
