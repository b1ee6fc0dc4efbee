/* link.c: the links of a node: parsing --link specs, attaching each link's shared-memory ring
 * (retried until the keygen has created it), the link's SKR, selecting a link by a peer's
 * name or UUID, node UUIDs, recently-closed KSIDs and the ring poll timer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <uuid/uuid.h>

#include "kme.h"
#include "log.h"

#define KME_RING_RETRY_MS 500

void kme_node_uuid(const char *name, uint8_t out[16])
{
    char buf[KME_PEER_NAME_MAX + 16];
    int len = snprintf(buf, sizeof(buf), "qkd-node:%s", name);
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    memset(out, 0, 16);
    if (len > 0 && (size_t)len < sizeof(buf) &&
        EVP_Digest(buf, (size_t)len, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen >= 16)
        memcpy(out, md, 16);
    out[6] = (uint8_t)((out[6] & 0x0f) | 0x80); /* version 8: custom */
    out[8] = (uint8_t)((out[8] & 0x3f) | 0x80); /* RFC 4122 variant */
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-') return -1;
    *v = x;
    return 0;
}

int kme_link_parse(struct kme *k, struct kme_link *l, const char *spec, char *err, size_t n)
{
    char buf[512];
    if (strlen(spec) >= sizeof(buf)) {
        snprintf(err, n, "link spec too long");
        return -1;
    }
    strcpy(buf, spec);
    memset(l, 0, sizeof(*l));
    l->kme = k;
    bool have_uuid = false, have_role = false;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) {
            snprintf(err, n, "'%s' is not key=value", tok);
            return -1;
        }
        *eq = 0;
        const char *key = tok, *val = eq + 1;
        if (strcmp(key, "peer") == 0) {
            if (!*val || strlen(val) >= sizeof(l->peer)) {
                snprintf(err, n, "bad peer '%s'", val);
                return -1;
            }
            strcpy(l->peer, val);
        } else if (strcmp(key, "role") == 0) {
            if (strcmp(val, "leader") == 0)
                l->role = KME_ROLE_LEADER;
            else if (strcmp(val, "follower") == 0)
                l->role = KME_ROLE_FOLLOWER;
            else {
                snprintf(err, n, "role must be leader or follower, not '%s'", val);
                return -1;
            }
            have_role = true;
        } else if (strcmp(key, "ring") == 0) {
            if (val[0] != '/' || strlen(val) >= sizeof(l->ring_name)) {
                snprintf(err, n, "bad ring name '%s' (must start with /)", val);
                return -1;
            }
            strcpy(l->ring_name, val);
        } else if (strcmp(key, "addr") == 0) {
            if (!*val || strlen(val) >= sizeof(l->addr) || !strchr(val, ':')) {
                snprintf(err, n, "bad addr '%s' (host:port)", val);
                return -1;
            }
            strcpy(l->addr, val);
        } else if (strcmp(key, "uuid") == 0) {
            uuid_t u;
            if (uuid_parse(val, u) != 0) {
                snprintf(err, n, "bad uuid '%s'", val);
                return -1;
            }
            memcpy(l->peer_uuid, u, 16);
            have_uuid = true;
        } else if (strcmp(key, "skr") == 0) {
            if (parse_u64(val, &l->skr_cfg) != 0 || l->skr_cfg == 0) {
                snprintf(err, n, "bad skr '%s'", val);
                return -1;
            }
        } else {
            snprintf(err, n, "unknown key '%s'", key);
            return -1;
        }
    }
    if (!l->peer[0] || !have_role || !l->ring_name[0]) {
        snprintf(err, n, "peer=, role= and ring= are required");
        return -1;
    }
    if (l->role == KME_ROLE_FOLLOWER && !l->addr[0]) {
        snprintf(err, n, "a follower link needs addr= (the leader's peer-sync address)");
        return -1;
    }
    if (!have_uuid) kme_node_uuid(l->peer, l->peer_uuid);
    return 0;
}

static void ring_retry_cb(struct qkd_loop *loop, uint64_t id, void *arg);

static void ring_try_attach(struct kme_link *l)
{
    struct qkd_ring *r = NULL;
    int rc = qkd_ring_open_reader(l->ring_name, 0, &r);
    if (rc == QKD_RING_OK) {
        l->ring = r;
        l->alloc_next = qkd_ring_consume_offset(r);
        log_info("link %s: ring %s attached (capacity %zu, consume offset %llu)", l->peer,
                 l->ring_name, qkd_ring_capacity(r), (unsigned long long)l->alloc_next);
        kme_wake(l);
        return;
    }
    static bool warned[KME_MAX_LINKS];
    if (!warned[l->idx])
        log_warn("link %s: cannot attach ring %s yet (%s); retrying", l->peer, l->ring_name,
                 qkd_ring_last_error());
    warned[l->idx] = true;
    l->ring_timer = qkd_loop_add_timer(l->kme->loop, KME_RING_RETRY_MS, ring_retry_cb, l);
}

static void ring_retry_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct kme_link *l = arg;
    l->ring_timer = 0;
    ring_try_attach(l);
}

void kme_link_start(struct kme_link *l)
{
    ring_try_attach(l);
    kme_peer_start(l);
}

void kme_link_stop(struct kme_link *l)
{
    struct qkd_loop *loop = l->kme->loop;
    if (l->ring_timer) qkd_loop_del_timer(loop, l->ring_timer);
    if (l->poll_timer) qkd_loop_del_timer(loop, l->poll_timer);
    l->ring_timer = l->poll_timer = 0;
    while (l->aq_head)
        kme_aq_remove(l, l->aq_head);
    free(l->preqs);
    l->preqs = NULL;
    l->npreqs = l->preq_cap = 0;
    if (l->pend) qkd_wipe(l->pend, l->pend_cap * sizeof(*l->pend));
    free(l->pend);
    l->pend = NULL;
    l->npend = l->pend_cap = 0;
    if (l->ring) qkd_ring_close(l->ring);
    l->ring = NULL;
}

uint64_t kme_link_skr(const struct kme_link *l)
{
    if (l->skr_cfg) return l->skr_cfg;
    if (!l->ring) return 0;
    struct qkd_ring_stats st;
    qkd_ring_get_stats(l->ring, &st);
    return st.skr_bps;
}

struct kme_link *kme_link_by_name(struct kme *k, const char *host)
{
    if (!host || !*host) return NULL;
    uuid_t u;
    bool is_uuid = uuid_parse(host, u) == 0;
    for (int i = 0; i < k->nlinks; i++) {
        struct kme_link *l = &k->links[i];
        if (strcasecmp(l->peer, host) == 0) return l;
        if (is_uuid && memcmp(u, l->peer_uuid, 16) == 0) return l;
    }
    return NULL;
}

void kme_link_tomb_add(struct kme_link *l, const struct qkd_ksid *ksid)
{
    if (kme_link_tomb_has(l, ksid)) return;
    l->tomb[l->tomb_next] = *ksid;
    l->tomb_next = (l->tomb_next + 1) % KME_TOMBSTONES;
    if (l->ntomb < KME_TOMBSTONES) l->ntomb++;
}

bool kme_link_tomb_has(const struct kme_link *l, const struct qkd_ksid *ksid)
{
    for (size_t i = 0; i < l->ntomb; i++)
        if (memcmp(l->tomb[i].b, ksid->b, QKD_KSID_LEN) == 0) return true;
    return false;
}

void kme_link_tomb_del(struct kme_link *l, const struct qkd_ksid *ksid)
{
    for (size_t i = 0; i < l->ntomb; i++)
        if (memcmp(l->tomb[i].b, ksid->b, QKD_KSID_LEN) == 0) memset(l->tomb[i].b, 0, QKD_KSID_LEN);
}

static void poll_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct kme_link *l = arg;
    l->poll_timer = 0;
    bool more = kme_alloc_poll(l);
    kme_wake(l);
    if (more || l->nwaiters) kme_link_want_poll(l);
}

void kme_link_want_poll(struct kme_link *l)
{
    if (!l->poll_timer)
        l->poll_timer = qkd_loop_add_timer(l->kme->loop, l->kme->cfg.poll_ms, poll_cb, l);
}
