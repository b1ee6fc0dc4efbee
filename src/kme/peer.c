/* peer.c: peer-sync connections between key servers (mTLS with node certificates over the
 * framed connection of conn.h). The leader of a link listens (--peer-listen); the follower
 * dials the leader's address and redials with backoff. The peer certificate's CN must be the
 * link's configured peer name and the peer's HELLO must agree. On every (re)connect both ends
 * re-announce their live streams, the leader re-sends allocations without ACK and the follower
 * re-sends the requests of waiting calls. Messages produced during one pass of the event loop
 * are coalesced into one TLS write (flushed by a 0 ms timer, or at once past
 * KME_PEER_FLUSH_BYTES). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "api.h"
#include "getkey.h"
#include "kme.h"
#include "link.h"
#include "peer.h"
#include "rest_batch.h"
#include "listener.h"
#include "log.h"
#include "sock.h"
#include "tls.h"

#define KME_BACKOFF_MIN_MS   100
#define KME_BACKOFF_MAX_MS   2000
#define KME_PEER_FLUSH_BYTES (64u * 1024u) /* queued peer output written without waiting */

struct kme_pconn {
    struct kme *kme;
    struct qkd_conn *conn;
    struct kme_link *link;
    bool outbound;
    bool accepted; /* counted by the peer-sync listener */
    bool hello_rx;
    char addr[64];
    struct qkd_writer out; /* frames queued in this loop pass */
    uint64_t flush_timer;
    struct kme_pconn *prev, *next;
};

static void pc_unlink(struct kme_pconn *pc)
{
    struct kme *k = pc->kme;
    if (pc->prev)
        pc->prev->next = pc->next;
    else if (k->pconns == pc)
        k->pconns = pc->next;
    if (pc->next) pc->next->prev = pc->prev;
    pc->prev = pc->next = NULL;
}

/* Writes the queued frames to the connection. Returns 0 or -1. */
static int pc_flush(struct kme_pconn *pc)
{
    if (pc->flush_timer) qkd_loop_del_timer(pc->kme->loop, pc->flush_timer);
    pc->flush_timer = 0;
    if (pc->out.len == 0) return 0;
    int rc = qkd_conn_send(pc->conn, pc->out.buf, pc->out.len);
    qkd_writer_reset(&pc->out);
    return rc;
}

static void pc_flush_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct kme_pconn *pc = arg;
    pc->flush_timer = 0;
    pc_flush(pc);
}

static int pc_send(struct kme_pconn *pc, const struct kme_pmsg *m)
{
    size_t start = pc->out.len;
    if (kme_pmsg_encode(m, &pc->out) != 0) {
        log_error("peer sync %s: cannot encode %s", pc->addr, kme_pmsg_name(m->type));
        pc->out.len = start; /* drop the partial frame */
        pc->out.failed = false;
        return -1;
    }
    if (pc->out.len >= KME_PEER_FLUSH_BYTES) return pc_flush(pc);
    if (!pc->flush_timer) pc->flush_timer = qkd_loop_add_timer(pc->kme->loop, 0, pc_flush_cb, pc);
    return 0;
}

int kme_peer_send(struct kme_link *l, const struct kme_pmsg *m)
{
    if (!l->peer_up || !l->pc) return -1;
    return pc_send(l->pc, m);
}

void kme_peer_announce(struct kme_link *l, struct kme_stream *s)
{
    if (s->rest) {
        /* an ETSI 014 batch: the master's node (re-)announces it, the slave's node never */
        kme_rest_announce(l, s);
        return;
    }
    struct kme_pmsg m = {.type = KME_PM_ANNOUNCE, .ksid = s->ksid};
    m.u.announce.qos = s->qos;
    m.u.announce.attached = s->local_attached ? 1 : 0;
    kme_peer_send(l, &m);
}

void kme_peer_send_ksid(struct kme_link *l, uint8_t type, const struct qkd_ksid *ksid)
{
    struct kme_pmsg m = {.type = type, .ksid = *ksid};
    kme_peer_send(l, &m);
}

static void announce_one(struct kme_stream *s, void *arg)
{
    struct kme_link *l = arg;
    if (s->link == l) kme_peer_announce(l, s);
}

static void peer_up(struct kme_link *l, struct kme_pconn *pc)
{
    if (l->pc && l->pc != pc) {
        struct kme_pconn *old = l->pc;
        l->pc = NULL;
        qkd_conn_abort(old->conn, "replaced by a new peer connection");
    }
    l->pc = pc;
    l->peer_up = true;
    l->backoff_ms = KME_BACKOFF_MIN_MS;
    log_info("peer sync with %s (%s) up", l->peer, pc->addr);
    kme_link_tomb_sweep_start(l);
    for (size_t i = 0; i < l->tomb_cap; i++)
        if (l->tombs[i].state == KME_TOMB_LIVE)
            kme_peer_send_ksid(l, KME_PM_CLOSE, &l->tombs[i].ksid);
    kme_streams_foreach(&l->kme->streams, announce_one, l);
    if (l->role == KME_ROLE_LEADER) {
        kme_alloc_resend(l);
        kme_alloc_sync(l);
    } else
        kme_alloc_rerequest(l);
    kme_wake(l);
}

static void send_hello(struct kme_pconn *pc)
{
    struct kme *k = pc->kme;
    struct kme_pmsg m = {.type = KME_PM_HELLO};
    snprintf(m.u.hello.node, sizeof(m.u.hello.node), "%s", k->cfg.node);
    memcpy(m.u.hello.uuid, k->node_uuid, 16);
    m.u.hello.role = pc->link->role;
    pc_send(pc, &m);
}

static void pc_on_open(struct qkd_conn *c, void *arg)
{
    struct kme_pconn *pc = arg;
    struct kme *k = pc->kme;
    char name[KME_PEER_NAME_MAX];
    int nrc = qkd_tls_peer_node_name(qkd_conn_ssl(c), name, sizeof(name));
    if (nrc != 0 && nrc != QKD_TLS_NOT_NODE) {
        log_warn("peer sync %s: no verified certificate name; closing", pc->addr);
        qkd_conn_close(c, "no peer certificate name");
        return;
    }
    if (pc->outbound) {
        if (strcmp(name, pc->link->peer) != 0) {
            log_warn("peer sync %s: certificate names '%s', expected '%s'; closing", pc->addr, name,
                     pc->link->peer);
            qkd_conn_close(c, "unexpected peer certificate");
            return;
        }
    } else {
        struct kme_link *l = NULL;
        for (int i = 0; i < k->nlinks; i++)
            if (k->links[i].role == KME_ROLE_LEADER && strcmp(k->links[i].peer, name) == 0)
                l = &k->links[i];
        if (!l) {
            log_warn("peer sync %s: certificate '%s' names no follower of this node; closing",
                     pc->addr, name);
            qkd_conn_close(c, "unexpected peer certificate");
            return;
        }
        if (nrc == 0) pc->link = l;
    }
    if (nrc == QKD_TLS_NOT_NODE) {
        /* the right name on an application certificate: never a peer */
        log_warn("peer sync %s: certificate '%s' is not a node certificate (needs extended key "
                 "usage serverAuth and clientAuth); closing",
                 pc->addr, name);
        qkd_conn_close(c, "not a node certificate");
        return;
    }
    send_hello(pc);
}

static void dispatch(struct kme_link *l, const struct kme_pmsg *m)
{
    switch (m->type) {
    case KME_PM_ANNOUNCE:
        kme_on_announce(l, m);
        break;
    case KME_PM_ATTACH:
        kme_on_attach(l, m);
        break;
    case KME_PM_CLOSE:
        kme_on_close(l, m);
        break;
    case KME_PM_ALLOC_REQ:
        kme_on_alloc_req(l, m);
        break;
    case KME_PM_ALLOC:
        kme_on_alloc(l, m);
        break;
    case KME_PM_ALLOC_ACK:
        kme_on_alloc_ack(l, m);
        break;
    case KME_PM_REST_KEYS:
        kme_rest_on_keys(l, m);
        break;
    case KME_PM_GONE:
        kme_on_gone(l, m);
        break;
    case KME_PM_HEARTBEAT:
        /* the peer announced every live stream before its first heartbeat */
        kme_link_tomb_sweep_end(l);
        kme_alloc_on_heartbeat(l, m->u.hb.mark);
        break;
    default:
        break;
    }
}

static int pc_on_frame(struct qkd_conn *c, const struct qkd_wire_hdr *h, const uint8_t *payload,
                       void *arg)
{
    struct kme_pconn *pc = arg;
    struct kme_pmsg m;
    if (kme_pmsg_decode(h, payload, &m) != 0) {
        log_warn("peer sync %s: malformed message (type 0x%02x, %u bytes); closing", pc->addr,
                 h->service, h->payload_len);
        return -1;
    }
    struct kme_link *l = pc->link;
    if (!l) return -1;
    if (!pc->hello_rx) {
        enum kme_role want = l->role == KME_ROLE_LEADER ? KME_ROLE_FOLLOWER : KME_ROLE_LEADER;
        if (m.type != KME_PM_HELLO || strcmp(m.u.hello.node, l->peer) != 0 ||
            m.u.hello.role != want) {
            log_warn("peer sync %s: bad HELLO (expected node %s as %s); closing", pc->addr, l->peer,
                     want == KME_ROLE_LEADER ? "leader" : "follower");
            return -1;
        }
        pc->hello_rx = true;
        if (pc->outbound && l->dialing == pc) l->dialing = NULL;
        peer_up(l, pc);
        return 0;
    }
    if (m.type == KME_PM_HELLO) {
        log_warn("peer sync %s: second HELLO; closing", pc->addr);
        return -1;
    }
    if (l->pc != pc) return -1;
    log_debug("peer sync %s: %s", l->peer, kme_pmsg_name(m.type));
    dispatch(l, &m);
    return 0;
}

static void dial(struct kme_link *l);

static void dial_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct kme_link *l = arg;
    l->dial_timer = 0;
    dial(l);
}

static void schedule_dial(struct kme_link *l)
{
    if (l->kme->stopping || l->dial_timer) return;
    if (l->backoff_ms < KME_BACKOFF_MIN_MS) l->backoff_ms = KME_BACKOFF_MIN_MS;
    l->dial_timer = qkd_loop_add_timer(l->kme->loop, l->backoff_ms, dial_cb, l);
    l->backoff_ms *= 2;
    if (l->backoff_ms > KME_BACKOFF_MAX_MS) l->backoff_ms = KME_BACKOFF_MAX_MS;
}

static void pc_on_close(struct qkd_conn *c, const char *reason, void *arg)
{
    struct kme_pconn *pc = arg;
    struct kme_link *l = pc->link;
    pc_unlink(pc);
    if (pc->accepted) qkd_listener_gone(pc->kme->peer_lst);
    if (pc->flush_timer) qkd_loop_del_timer(pc->kme->loop, pc->flush_timer);
    pc->flush_timer = 0;
    qkd_writer_free(&pc->out);
    if (l) {
        if (l->pc == pc) {
            l->pc = NULL;
            l->peer_up = false;
            kme_alloc_peer_down(l);
            if (!l->kme->stopping)
                log_warn("peer sync with %s down: %s", l->peer, reason ? reason : "closed");
        }
        if (l->dialing == pc) l->dialing = NULL;
        if (pc->outbound && !l->pc && !l->dialing) schedule_dial(l);
    }
    free(pc);
}

static const struct qkd_conn_ops pc_ops = {
    .on_open = pc_on_open,
    .on_frame = pc_on_frame,
    .on_close = pc_on_close,
};

static struct kme_pconn *pc_new(struct kme *k, int fd, bool outbound, struct kme_link *l,
                                struct qkd_conn_hs_group *hsg)
{
    struct kme_pconn *pc = calloc(1, sizeof(*pc));
    if (!pc) {
        close(fd);
        return NULL;
    }
    pc->kme = k;
    pc->outbound = outbound;
    pc->link = l;
    qkd_writer_init(&pc->out, 0);
    struct qkd_conn_limits lim = {
        .max_payload = KME_PEER_MAX_PAYLOAD,
        .idle_ms = k->cfg.peer_timeout_ms,
        .handshake_ms = 5000,
        .hs_group = hsg,
    };
    pc->conn = qkd_conn_new(k->loop, outbound ? k->cli_ctx : k->srv_ctx, fd, outbound ? 0 : 1, &lim,
                            &pc_ops, pc);
    if (!pc->conn) {
        free(pc);
        return NULL;
    }
    snprintf(pc->addr, sizeof(pc->addr), "%s", qkd_conn_peer_addr(pc->conn));
    pc->next = k->pconns;
    if (k->pconns) k->pconns->prev = pc;
    k->pconns = pc;
    return pc;
}

static void dial(struct kme_link *l)
{
    char err[256];
    if (l->pc || l->dialing || l->kme->stopping) return;
    int fd = qkd_tcp_connect_nb(l->addr, err, sizeof(err));
    if (fd < 0) {
        log_debug("peer sync: cannot dial %s at %s: %s", l->peer, l->addr, err);
        schedule_dial(l);
        return;
    }
    l->dialing = pc_new(l->kme, fd, true, l, NULL);
    if (!l->dialing) schedule_dial(l);
}

static void hb_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct kme_link *l = arg;
    l->hb_timer = 0;
    if (l->peer_up) {
        struct kme_pmsg m = {.type = KME_PM_HEARTBEAT};
        m.u.hb.wall_ms = qkd_wall_ms();
        m.u.hb.mark = kme_alloc_hb_mark(l);
        kme_peer_send(l, &m);
    }
    if (!l->kme->stopping)
        l->hb_timer = qkd_loop_add_timer(loop, l->kme->cfg.heartbeat_ms, hb_cb, l);
}

void kme_peer_start(struct kme_link *l)
{
    l->backoff_ms = KME_BACKOFF_MIN_MS;
    l->hb_timer = qkd_loop_add_timer(l->kme->loop, l->kme->cfg.heartbeat_ms, hb_cb, l);
    if (l->role == KME_ROLE_FOLLOWER) dial(l);
}

static int peer_accept(struct qkd_listener *lst, int nfd, void *arg)
{
    struct kme_pconn *pc = pc_new(arg, nfd, false, NULL, qkd_listener_hs_group(lst));
    if (!pc) return -1;
    pc->accepted = true;
    return 0;
}

int kme_peer_listen(struct kme *k, char *err, size_t n)
{
    k->peer_lst = NULL;
    if (!k->cfg.peer_listen) return 0;
    /* Each follower keeps one connection (a replaced one lingers until closed); the rest of
     * the cap is room for handshakes (docs/kme.md). */
    struct qkd_listener_cfg lc = {
        .addr = k->cfg.peer_listen,
        .name = "peer sync",
        .backlog = 64,
        .max_conns = 2 * (uint32_t)k->nlinks + k->cfg.peer_max_handshakes,
        .max_handshakes = k->cfg.peer_max_handshakes,
    };
    k->peer_lst = qkd_listener_new(k->loop, &lc, peer_accept, k, err, n);
    if (!k->peer_lst) return -1;
    log_info("peer sync listening on %s (port %d)", k->cfg.peer_listen,
             qkd_listener_port(k->peer_lst));
    return 0;
}

void kme_peer_stop_all(struct kme *k)
{
    for (int i = 0; i < k->nlinks; i++) {
        struct kme_link *l = &k->links[i];
        if (l->dial_timer) qkd_loop_del_timer(k->loop, l->dial_timer);
        if (l->hb_timer) qkd_loop_del_timer(k->loop, l->hb_timer);
        l->dial_timer = l->hb_timer = 0;
    }
    while (k->pconns)
        qkd_conn_abort(k->pconns->conn, "shutting down");
    qkd_listener_free(k->peer_lst);
    k->peer_lst = NULL;
}
