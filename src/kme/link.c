/* link.c: the links of a node: parsing --link specs, attaching each link's shared-memory ring
 * (retried until the keygen has created it), the link's SKR, selecting a link by a peer's
 * name or UUID, node UUIDs, recently-closed KSIDs and the ring poll timer. A ring that another
 * key server reads is fatal (one reader per ring); a ring removed or re-created underneath is
 * detached and re-attached only once its offsets lie past everything read from the old one. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <uuid/uuid.h>

#include "alloc.h"
#include "getkey.h"
#include "kme.h"
#include "link.h"
#include "peer.h"
#include "log.h"

#define KME_RING_RETRY_MS 500
#define KME_RING_CHECK_MS 1000 /* idle links check this often that their ring was not replaced */

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

static void ring_retry_later(struct kme_link *l)
{
    if (!l->ring_timer)
        l->ring_timer = qkd_loop_add_timer(l->kme->loop, KME_RING_RETRY_MS, ring_retry_cb, l);
}

static void ring_try_attach(struct kme_link *l)
{
    struct qkd_ring *r = NULL;
    int rc = qkd_ring_open_reader(l->ring_name, 0, &r);
    if (rc == QKD_RING_ERR_BUSY) /* another key server reads this ring: never serve it twice */
        fatalx("qkd-kme: link %s: %s", l->peer, qkd_ring_last_error());
    if (rc == QKD_RING_OK && l->ring_floor > qkd_ring_consume_offset(r)) {
        /* A ring re-created underneath: offsets below the floor were already handed out from
         * the old one; attach only once the keygen has moved the new ring past them. */
        if (!l->floor_warned)
            log_warn("link %s: new ring %s (id %016" PRIx64 ") starts at offset %" PRIu64
                     ", below offset %" PRIu64 " this key server used on the old ring; not "
                     "attached until it moves past it (or restart both key servers)",
                     l->peer, l->ring_name, qkd_ring_id(r), qkd_ring_consume_offset(r),
                     l->ring_floor);
        l->floor_warned = true;
        qkd_ring_close(r);
        ring_retry_later(l);
        return;
    }
    if (rc == QKD_RING_OK) {
        l->ring = r;
        l->alloc_next = qkd_ring_consume_offset(r);
        if (l->alloc_next < l->ring_floor) l->alloc_next = l->ring_floor;
        l->floor_warned = false;
        log_info("link %s: ring %s attached (id %016" PRIx64 ", capacity %zu, consume offset "
                 "%llu)",
                 l->peer, l->ring_name, qkd_ring_id(r), qkd_ring_capacity(r),
                 (unsigned long long)l->alloc_next);
        kme_wake(l);
        return;
    }
    static bool warned[KME_MAX_LINKS];
    if (!warned[l->idx])
        log_warn("link %s: cannot attach ring %s yet (%s); retrying", l->peer, l->ring_name,
                 qkd_ring_last_error());
    warned[l->idx] = true;
    ring_retry_later(l);
}

static void ring_retry_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct kme_link *l = arg;
    l->ring_timer = 0;
    ring_try_attach(l);
}

bool kme_link_ring_current(struct kme_link *l)
{
    if (!l->ring) return false;
    int rc = qkd_ring_check_current(l->ring);
    if (rc == QKD_RING_OK) return true;
    if (rc != QKD_RING_ERR_STALE) { /* cannot tell (e.g. out of descriptors): keep serving */
        log_debug("link %s: %s", l->peer, qkd_ring_last_error());
        return true;
    }
    kme_link_ring_lost(l, qkd_ring_last_error());
    return false;
}

void kme_link_ring_lost(struct kme_link *l, const char *why)
{
    if (!l->ring) return;
    uint64_t c = qkd_ring_consume_offset(l->ring);
    uint64_t floor = c > l->alloc_next ? c : l->alloc_next;
    if (floor > l->ring_floor) l->ring_floor = floor;
    log_error("link %s: %s; stopped serving from it (offsets below %" PRIu64 " are never read "
              "again)",
              l->peer, why, l->ring_floor);
    qkd_ring_close(l->ring);
    l->ring = NULL;
    ring_retry_later(l);
}

static void ring_check_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct kme_link *l = arg;
    l->ring_check_timer = 0;
    if (l->ring) kme_link_ring_current(l);
    if (!l->kme->stopping)
        l->ring_check_timer = qkd_loop_add_timer(loop, KME_RING_CHECK_MS, ring_check_cb, l);
}

void kme_link_start(struct kme_link *l)
{
    ring_try_attach(l);
    l->ring_check_timer = qkd_loop_add_timer(l->kme->loop, KME_RING_CHECK_MS, ring_check_cb, l);
    kme_peer_start(l);
}

void kme_link_stop(struct kme_link *l)
{
    struct qkd_loop *loop = l->kme->loop;
    if (l->ring_timer) qkd_loop_del_timer(loop, l->ring_timer);
    if (l->poll_timer) qkd_loop_del_timer(loop, l->poll_timer);
    if (l->ring_check_timer) qkd_loop_del_timer(loop, l->ring_check_timer);
    l->ring_timer = l->poll_timer = l->ring_check_timer = 0;
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
    free(l->tombs);
    l->tombs = NULL;
    l->ntomb = l->tomb_cap = l->tomb_used = 0;
    free(l->memo);
    l->memo = NULL;
    l->nmemo = l->memo_cap = 0;
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

static size_t tomb_hash(const struct qkd_ksid *ksid, size_t cap)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a: predefined KSIDs need not be random */
    for (size_t i = 0; i < QKD_KSID_LEN; i++) {
        h ^= ksid->b[i];
        h *= 1099511628211ull;
    }
    return (size_t)h & (cap - 1);
}

/* The live tomb of ksid, or NULL. */
static struct kme_tomb *tomb_find(const struct kme_link *l, const struct qkd_ksid *ksid)
{
    if (l->tomb_cap == 0) return NULL;
    for (size_t j = tomb_hash(ksid, l->tomb_cap);; j = (j + 1) & (l->tomb_cap - 1)) {
        struct kme_tomb *t = &l->tombs[j];
        if (t->state == KME_TOMB_EMPTY) return NULL;
        if (t->state == KME_TOMB_LIVE && memcmp(t->ksid.b, ksid->b, QKD_KSID_LEN) == 0) return t;
    }
}

static void tomb_remove(struct kme_link *l, struct kme_tomb *t)
{
    t->state = KME_TOMB_GONE;
    l->ntomb--;
}

/* Room for one more tomb: rehashes into a table twice the live count (at least 64 slots)
 * when live and gone slots would pass half the table. Returns false without memory. */
static bool tomb_room(struct kme_link *l)
{
    if ((l->tomb_used + 1) * 2 <= l->tomb_cap) return true;
    size_t ncap = 64;
    while (ncap < (l->ntomb + 1) * 4)
        ncap *= 2;
    struct kme_tomb *n = calloc(ncap, sizeof(*n));
    if (!n) return false;
    for (size_t i = 0; i < l->tomb_cap; i++) {
        if (l->tombs[i].state != KME_TOMB_LIVE) continue;
        size_t j = tomb_hash(&l->tombs[i].ksid, ncap);
        while (n[j].state != KME_TOMB_EMPTY)
            j = (j + 1) & (ncap - 1);
        n[j] = l->tombs[i];
    }
    free(l->tombs);
    l->tombs = n;
    l->tomb_cap = ncap;
    l->tomb_used = l->ntomb;
    return true;
}

void kme_link_tomb_add(struct kme_link *l, const struct qkd_ksid *ksid)
{
    struct kme_tomb *t = tomb_find(l, ksid);
    if (t) {
        t->seen = true;
        return;
    }
    if (l->ntomb >= KME_MAX_TOMBSTONES) {
        /* Every tomb here may still be needed (the peer holds at most its stream limit, so
         * this needs more streams at the peer than KME_MAX_TOMBSTONES): forget the oldest. */
        struct kme_tomb *old = NULL;
        for (size_t i = 0; i < l->tomb_cap; i++)
            if (l->tombs[i].state == KME_TOMB_LIVE && (!old || l->tombs[i].seq < old->seq))
                old = &l->tombs[i];
        char ks[QKD_KSID_STRLEN];
        qkd_ksid_to_str(&old->ksid, ks);
        log_warn("link %s: %d closed KSIDs whose peer end may live; forgetting the oldest, "
                 "Key_stream_ID %s",
                 l->peer, KME_MAX_TOMBSTONES, ks);
        tomb_remove(l, old);
    }
    if (!tomb_room(l)) {
        log_error("link %s: out of memory for a closed KSID", l->peer);
        return;
    }
    size_t j = tomb_hash(ksid, l->tomb_cap);
    while (l->tombs[j].state == KME_TOMB_LIVE)
        j = (j + 1) & (l->tomb_cap - 1);
    t = &l->tombs[j];
    if (t->state == KME_TOMB_EMPTY) l->tomb_used++;
    t->ksid = *ksid;
    t->seq = l->tomb_seq++;
    t->state = KME_TOMB_LIVE;
    t->seen = true; /* the peer end is alive until shown otherwise */
    l->ntomb++;
}

bool kme_link_tomb_has(const struct kme_link *l, const struct qkd_ksid *ksid)
{
    return tomb_find(l, ksid) != NULL;
}

void kme_link_tomb_del(struct kme_link *l, const struct qkd_ksid *ksid)
{
    struct kme_tomb *t = tomb_find(l, ksid);
    if (t) tomb_remove(l, t);
}

struct kme_link *kme_tomb_link(struct kme *k, const struct qkd_ksid *ksid)
{
    for (int i = 0; i < k->nlinks; i++)
        if (kme_link_tomb_has(&k->links[i], ksid)) return &k->links[i];
    return NULL;
}

void kme_link_tomb_sweep_start(struct kme_link *l)
{
    for (size_t i = 0; i < l->tomb_cap; i++)
        l->tombs[i].seen = false;
    l->tomb_sweep = true;
}

void kme_link_tomb_seen(struct kme_link *l, const struct qkd_ksid *ksid)
{
    struct kme_tomb *t = tomb_find(l, ksid);
    if (t) t->seen = true;
}

void kme_link_tomb_sweep_end(struct kme_link *l)
{
    if (!l->tomb_sweep) return;
    l->tomb_sweep = false;
    size_t before = l->ntomb;
    for (size_t i = 0; i < l->tomb_cap; i++)
        if (l->tombs[i].state == KME_TOMB_LIVE && !l->tombs[i].seen) tomb_remove(l, &l->tombs[i]);
    if (before != l->ntomb)
        log_debug("link %s: %zu closed KSIDs have no peer end any more; forgotten", l->peer,
                  before - l->ntomb);
}

static void poll_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct kme_link *l = arg;
    l->poll_timer = 0;
    bool more = kme_alloc_poll(l);
    kme_wake(l);
    if (more || l->nwaiters || l->nrest_waiting) kme_link_want_poll(l);
}

void kme_link_want_poll(struct kme_link *l)
{
    if (!l->poll_timer)
        l->poll_timer = qkd_loop_add_timer(l->kme->loop, l->kme->cfg.poll_ms, poll_cb, l);
}
