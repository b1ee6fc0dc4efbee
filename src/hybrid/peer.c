/* peer.c: qkd-hybrid's peer links: one persistent mTLS connection per node pair (the node
 * whose name sorts first dials and redials with backoff; the other listens). The link must
 * negotiate X25519MLKEM768 and the peer certificate's CN must be the configured peer name,
 * else the connection is refused and logged. Every message is signed and checked by
 * peer_msg.c; a bad signature, a replayed or out-of-sequence message is refused, logged and
 * the connection dropped (it is re-established). Messages queued in one event-loop pass leave
 * together at its end: one as itself, several (up to --peer-batch) as one signed BATCH. */
#include "hyb.h"

#include "listener.h"
#include "log.h"
#include "sock.h"

#include <openssl/crypto.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PEER_GROUP          "X25519MLKEM768"
#define PEER_BACKOFF_MIN_MS 100

/* One message waiting for the end of the event-loop pass. */
struct hyb_pout {
    uint8_t type;
    uint8_t *body;
    size_t len;
};

struct hyb_pconn {
    struct hyb *h;
    struct qkd_conn *conn;
    struct hyb_peer *peer; /* known once the certificate is checked */
    bool outbound, hello_rx;
    bool accepted; /* counted by the peer listener */
    struct hyb_pm_session sess;
    char addr[HYB_CFG_ADDR_MAX];
    struct hyb_pout *out; /* messages queued in this event-loop pass, sent by pc_flush */
    size_t nout, out_cap;
    uint64_t flush_timer; /* 0-ms timer: runs after this pass's events */
    struct hyb_pconn *prev, *next;
};

static void peer_dial(struct hyb_peer *p);

bool hyb_peer_up(const struct hyb_peer *p)
{
    return p && p->pc && p->pc->hello_rx;
}

struct hyb_peer *hyb_peer_by_name(struct hyb *h, const char *name_or_uuid)
{
    const struct hyb_peer_cfg *pc = hyb_config_find_peer(h->cfg, name_or_uuid);
    for (size_t i = 0; pc && i < h->npeers; i++)
        if (h->peers[i].cfg == pc) return &h->peers[i];
    return NULL;
}

static int pc_send_frame(struct hyb_pconn *pc, uint8_t type, const uint8_t *body, size_t len,
                         bool has_init)
{
    struct hyb *h = pc->h;
    struct qkd_writer w;
    qkd_writer_init(&w, HYB_PM_MAX_PAYLOAD + QKD_WIRE_HDR_LEN);
    uint64_t t0 = qkd_now_us();
    int rc = hyb_pm_seal(&pc->sess, type, body, len, &w);
    h->stats.ms_sign += (double)(qkd_now_us() - t0) / 1000.0;
    h->stats.n_sign++;
    if (rc != 0) {
        log_error("peer %s: cannot sign a %s message", pc->addr, hyb_pm_type_name(type));
        qkd_writer_free(&w);
        return -1;
    }
    const char *fault = h->set.test_fault;
    bool sent = false;
    if (fault && !h->fault_done && has_init) {
        if (strcmp(fault, "badsig") == 0) {
            w.buf[w.len - 1] ^= 0x01; /* last signature byte */
            h->fault_done = true;
            log_warn("test fault: sending %s seq %llu with a corrupted signature",
                     hyb_pm_type_name(type), (unsigned long long)pc->sess.tx_seq);
        } else if (strcmp(fault, "replay") == 0) {
            /* the copy right behind the original, in the same write: the receiver sees both
             * in one pass, so nothing it answers to the original leaves before it drops */
            uint8_t *two = malloc(2 * w.len);
            if (two) {
                memcpy(two, w.buf, w.len);
                memcpy(two + w.len, w.buf, w.len);
                rc = qkd_conn_send(pc->conn, two, 2 * w.len);
                sent = true;
                free(two);
            }
            h->fault_done = true;
            log_warn("test fault: sending %s seq %llu twice", hyb_pm_type_name(type),
                     (unsigned long long)pc->sess.tx_seq);
        }
    }
    if (rc == 0 && !sent) rc = qkd_conn_send(pc->conn, w.buf, w.len);
    qkd_writer_free(&w);
    return rc;
}

static void pc_out_clear(struct hyb_pconn *pc)
{
    for (size_t i = 0; i < pc->nout; i++)
        OPENSSL_clear_free(pc->out[i].body, pc->out[i].len);
    free(pc->out);
    pc->out = NULL;
    pc->nout = pc->out_cap = 0;
}

/* Sends out[first .. first + n): one message as itself, several as one BATCH. */
static int pc_send_group(struct hyb_pconn *pc, size_t first, size_t n)
{
    const struct hyb_pout *o = &pc->out[first];
    if (n == 1) return pc_send_frame(pc, o->type, o->body, o->len, o->type == HYB_PM_INIT);
    static struct hyb_pm_batch b; /* ~1.5 KiB; one event loop thread */
    bool has_init = false;
    b.n = (uint8_t)n;
    for (size_t i = 0; i < n; i++) {
        b.m[i].type = o[i].type;
        b.m[i].body = o[i].body;
        b.m[i].len = (uint32_t)o[i].len;
        has_init |= o[i].type == HYB_PM_INIT;
    }
    struct qkd_writer w;
    qkd_writer_init(&w, HYB_PM_MAX_PAYLOAD);
    int rc = hyb_pm_batch_encode(&b, &w);
    if (rc == 0) rc = pc_send_frame(pc, HYB_PM_BATCH, w.buf, w.len, has_init);
    qkd_writer_free(&w);
    if (rc == 0) log_debug("peer %s: sent a BATCH of %zu messages", pc->addr, n);
    return rc;
}

/* Sends everything queued in this pass, in order, at most --peer-batch messages (and
 * HYB_PM_BATCH_BODY_MAX bytes) under one signature. */
static int pc_flush(struct hyb_pconn *pc)
{
    int rc = 0;
    size_t first = 0;
    while (rc == 0 && first < pc->nout) {
        size_t n = 1, bytes = 1 + hyb_pm_batch_entry_len(pc->out[first].len);
        while (first + n < pc->nout && n < pc->h->set.peer_batch) {
            size_t more = hyb_pm_batch_entry_len(pc->out[first + n].len);
            if (bytes + more > HYB_PM_BATCH_BODY_MAX) break;
            bytes += more;
            n++;
        }
        rc = pc_send_group(pc, first, n);
        first += n;
    }
    pc_out_clear(pc);
    return rc;
}

static void flush_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct hyb_pconn *pc = arg;
    pc->flush_timer = 0;
    if (pc_flush(pc) != 0) {
        log_warn("peer %s: cannot send queued messages; dropping the link", pc->addr);
        qkd_conn_abort(pc->conn, "cannot send");
    }
}

/* Queues one message; the pass's messages leave together at its end (flush_cb), so a message
 * refused on this link in the same pass drops them with the link. */
int hyb_peer_send(struct hyb_peer *p, uint8_t type, const uint8_t *body, size_t len)
{
    if (!hyb_peer_up(p)) return -1;
    struct hyb_pconn *pc = p->pc;
    if (type == HYB_PM_HELLO || type == HYB_PM_BATCH || len > HYB_PM_BATCH_BODY_MAX) return -1;
    if (pc->nout == pc->out_cap) {
        size_t cap = pc->out_cap ? 2 * pc->out_cap : 16;
        struct hyb_pout *o = realloc(pc->out, cap * sizeof(*o));
        if (!o) return -1;
        pc->out = o;
        pc->out_cap = cap;
    }
    uint8_t *copy = OPENSSL_malloc(len ? len : 1);
    if (!copy) return -1;
    if (len) memcpy(copy, body, len);
    if (!pc->flush_timer) pc->flush_timer = qkd_loop_add_timer(p->h->loop, 0, flush_cb, pc);
    if (!pc->flush_timer) {
        OPENSSL_free(copy);
        return -1;
    }
    pc->out[pc->nout++] = (struct hyb_pout){.type = type, .body = copy, .len = len};
    return 0;
}

int hyb_peer_send_kex(struct hyb_peer *p, uint8_t type, const struct hyb_pm_kex *m)
{
    if (!hyb_peer_up(p)) return -1;
    struct qkd_writer w;
    qkd_writer_init(&w, HYB_PM_MAX_PAYLOAD);
    int rc = hyb_pm_kex_encode(m, &w);
    if (rc == 0) rc = hyb_peer_send(p, type, w.buf, w.len);
    qkd_writer_free(&w);
    return rc;
}

static void pc_unlink(struct hyb_pconn *pc)
{
    struct hyb *h = pc->h;
    if (pc->prev)
        pc->prev->next = pc->next;
    else if (h->pconns == pc)
        h->pconns = pc->next;
    if (pc->next) pc->next->prev = pc->prev;
    pc->prev = pc->next = NULL;
}

static void pc_on_open(struct qkd_conn *c, void *arg)
{
    struct hyb_pconn *pc = arg;
    struct hyb *h = pc->h;
    char name[128];
    const char *g = qkd_tls_group_name(qkd_conn_ssl(c));
    if (!g || strcmp(g, PEER_GROUP) != 0) {
        log_warn("peer link %s refused: key exchange group %s, %s required", pc->addr, g ? g : "?",
                 PEER_GROUP);
        qkd_conn_close(c, "wrong key exchange group");
        return;
    }
    int nrc = qkd_tls_peer_node_name(qkd_conn_ssl(c), name, sizeof(name));
    if (nrc == QKD_TLS_NOT_NODE) {
        log_warn("peer link %s refused: certificate '%s' is not a node certificate", pc->addr,
                 name);
        qkd_conn_close(c, "not a node certificate");
        return;
    }
    if (nrc != 0) {
        log_warn("peer link %s refused: no verified certificate name", pc->addr);
        qkd_conn_close(c, "no peer certificate");
        return;
    }
    if (pc->outbound) {
        if (strcmp(name, pc->peer->cfg->name) != 0) {
            log_warn("peer link %s refused: certificate names '%s', expected '%s'", pc->addr, name,
                     pc->peer->cfg->name);
            qkd_conn_close(c, "peer certificate names another node");
            return;
        }
    } else {
        struct hyb_peer *p = NULL;
        for (size_t i = 0; i < h->npeers; i++)
            if (strcmp(h->peers[i].cfg->name, name) == 0) p = &h->peers[i];
        if (!p) {
            log_warn("peer link %s refused: certificate names '%s', not a configured peer",
                     pc->addr, name);
            qkd_conn_close(c, "peer certificate names an unknown node");
            return;
        }
        pc->peer = p;
    }
    if (hyb_pm_session_init(&pc->sess, h->id_key, pc->peer->pub, h->cfg->uuid,
                            pc->peer->cfg->uuid) != 0) {
        qkd_conn_close(c, "cannot start a peer session");
        return;
    }
    struct hyb_pm_hello hello;
    memset(&hello, 0, sizeof(hello));
    snprintf(hello.name, sizeof(hello.name), "%s", h->cfg->name);
    snprintf(hello.uuid, sizeof(hello.uuid), "%s", h->cfg->uuid);
    memcpy(hello.nonce, pc->sess.my_nonce, HYB_PM_NONCE_LEN);
    struct qkd_writer w;
    qkd_writer_init(&w, 1024);
    int rc = hyb_pm_hello_encode(&hello, &w);
    if (rc == 0) rc = pc_send_frame(pc, HYB_PM_HELLO, w.buf, w.len, false);
    qkd_writer_free(&w);
    if (rc != 0) qkd_conn_close(c, "cannot send HELLO");
}

static void peer_became_up(struct hyb_peer *p, struct hyb_pconn *pc)
{
    if (p->pc && p->pc != pc) {
        struct hyb_pconn *old = p->pc;
        p->pc = NULL;
        hyb_stream_peer_down(p);
        qkd_conn_abort(old->conn, "replaced by a new peer connection");
    }
    p->pc = pc;
    p->backoff_ms = PEER_BACKOFF_MIN_MS;
    log_info("peer link with %s (%s) up, group %s", p->cfg->name, pc->addr, PEER_GROUP);
    hyb_stream_peer_up(p);
}

/* One verified message (on its own or from a BATCH); -1 when it does not parse. */
static int pc_dispatch(struct hyb_peer *p, uint8_t type, const uint8_t *body, size_t len)
{
    if (type == HYB_PM_ANNOUNCE) {
        struct hyb_pm_announce a;
        if (hyb_pm_announce_decode(body, len, &a) != 0) {
            log_warn("peer %s: malformed ANNOUNCE; dropping the link", p->cfg->name);
            return -1;
        }
        hyb_stream_on_announce(p, &a);
        return 0;
    }
    struct hyb_pm_kex k;
    if (type < HYB_PM_CLOSE || type > HYB_PM_CONFIRM || hyb_pm_kex_decode(body, len, &k) != 0) {
        log_warn("peer %s: malformed %s; dropping the link", p->cfg->name, hyb_pm_type_name(type));
        return -1;
    }
    if (type == HYB_PM_CLOSE)
        hyb_stream_on_close(p, &k.ksid);
    else
        hyb_xchg_on_msg(p, type, &k);
    return 0;
}

static int pc_on_frame(struct qkd_conn *c, const struct qkd_wire_hdr *hdr, const uint8_t *payload,
                       void *arg)
{
    struct hyb_pconn *pc = arg;
    struct hyb *h = pc->h;
    if (!pc->peer) return -1;
    struct hyb_pm_msg m;
    char err[200] = "";
    uint64_t t0 = qkd_now_us();
    int rc = hyb_pm_open(&pc->sess, hdr, payload, &m, err, sizeof(err));
    h->stats.ms_verify += (double)(qkd_now_us() - t0) / 1000.0;
    h->stats.n_verify++;
    if (rc != HYB_PM_OK) {
        log_warn("peer %s (%s): %s refused: %s; dropping the link", pc->peer->cfg->name, pc->addr,
                 hyb_pm_err_str(rc), err);
        return -1;
    }
    struct hyb_peer *p = pc->peer;
    if (m.type == HYB_PM_HELLO) {
        struct hyb_pm_hello hello;
        if (hyb_pm_hello_decode(m.body, m.body_len, &hello) != 0 ||
            strcmp(hello.name, p->cfg->name) != 0) {
            log_warn("peer %s (%s): HELLO names another node; dropping the link", p->cfg->name,
                     pc->addr);
            return -1;
        }
        pc->hello_rx = true;
        peer_became_up(p, pc);
        return 0;
    }
    if (p->pc != pc) return -1; /* a stale connection */
    if (m.type != HYB_PM_BATCH) return pc_dispatch(p, m.type, m.body, m.body_len);
    static struct hyb_pm_batch b; /* ~1.5 KiB; one event loop thread */
    if (hyb_pm_batch_decode(m.body, m.body_len, &b) != 0) {
        log_warn("peer %s: malformed BATCH; dropping the link", p->cfg->name);
        return -1;
    }
    for (uint8_t i = 0; i < b.n; i++) {
        if (p->pc != pc) return -1;
        if (pc_dispatch(p, b.m[i].type, b.m[i].body, b.m[i].len) != 0) return -1;
    }
    return 0;
}

static void redial_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct hyb_peer *p = arg;
    p->redial_timer = 0;
    peer_dial(p);
}

static void schedule_redial(struct hyb_peer *p)
{
    if (!p->dialer || p->redial_timer) return;
    p->redial_timer = qkd_loop_add_timer(p->h->loop, p->backoff_ms, redial_cb, p);
    p->backoff_ms *= 2;
    if (p->backoff_ms > p->h->set.backoff_ms) p->backoff_ms = p->h->set.backoff_ms;
}

static void pc_on_close(struct qkd_conn *c, const char *reason, void *arg)
{
    struct hyb_pconn *pc = arg;
    struct hyb_peer *p = pc->peer;
    pc_unlink(pc);
    if (pc->accepted) qkd_listener_gone(pc->h->peer_lst);
    if (pc->flush_timer) qkd_loop_del_timer(pc->h->loop, pc->flush_timer);
    pc->flush_timer = 0;
    pc_out_clear(pc);
    if (p && pc->outbound) p->dialing = false;
    if (p && p->pc == pc) {
        p->pc = NULL;
        log_warn("peer link with %s (%s) down: %s", p->cfg->name, pc->addr, reason ? reason : "");
        hyb_stream_peer_down(p);
    } else {
        log_debug("peer connection %s closed: %s", pc->addr, reason ? reason : "");
    }
    if (p && pc->outbound && !p->pc) schedule_redial(p);
    free(pc);
}

static const struct qkd_conn_ops pc_ops = {
    .on_open = pc_on_open,
    .on_frame = pc_on_frame,
    .on_close = pc_on_close,
};

static struct hyb_pconn *pc_new(struct hyb *h, int fd, bool outbound, struct hyb_peer *p,
                                struct qkd_conn_hs_group *hsg)
{
    struct hyb_pconn *pc = calloc(1, sizeof(*pc));
    if (!pc) {
        close(fd);
        return NULL;
    }
    pc->h = h;
    pc->outbound = outbound;
    pc->peer = p;
    struct qkd_conn_limits lim = {.max_payload = HYB_PM_MAX_PAYLOAD, .idle_ms = 0, .hs_group = hsg};
    pc->conn = qkd_conn_new(h->loop, outbound ? h->peer_cli_ctx : h->peer_srv_ctx, fd,
                            outbound ? 0 : 1, &lim, &pc_ops, pc);
    if (!pc->conn) {
        free(pc);
        return NULL;
    }
    snprintf(pc->addr, sizeof(pc->addr), "%s",
             outbound ? p->cfg->address : qkd_conn_peer_addr(pc->conn));
    pc->next = h->pconns;
    if (h->pconns) h->pconns->prev = pc;
    h->pconns = pc;
    return pc;
}

static void peer_dial(struct hyb_peer *p)
{
    if (p->pc || p->dialing) return;
    char err[256];
    int fd = qkd_tcp_connect_nb(p->cfg->address, err, sizeof(err));
    if (fd < 0) {
        log_debug("peer %s: cannot connect to %s: %s", p->cfg->name, p->cfg->address, err);
        schedule_redial(p);
        return;
    }
    if (!pc_new(p->h, fd, true, p, NULL)) {
        schedule_redial(p);
        return;
    }
    p->dialing = true;
}

static int peer_accept(struct qkd_listener *lst, int nfd, void *arg)
{
    struct hyb_pconn *pc = pc_new(arg, nfd, false, NULL, qkd_listener_hs_group(lst));
    if (!pc) return -1;
    pc->accepted = true;
    return 0;
}

int hyb_peer_start(struct hyb *h, char *err, size_t errlen)
{
    /* one link per peer (a replaced one lingers until closed) and the handshakes */
    struct qkd_listener_cfg lc = {
        .addr = h->cfg->peer_listen,
        .name = "peer",
        .backlog = 64,
        .max_conns = 2 * (uint32_t)h->npeers + h->set.peer_max_handshakes,
        .max_handshakes = h->set.peer_max_handshakes,
    };
    h->peer_lst = qkd_listener_new(h->loop, &lc, peer_accept, h, err, errlen);
    if (!h->peer_lst) return -1;
    log_info("peer listener on %s (port %d)", h->cfg->peer_listen, qkd_listener_port(h->peer_lst));
    for (size_t i = 0; i < h->npeers; i++) {
        struct hyb_peer *p = &h->peers[i];
        p->backoff_ms = PEER_BACKOFF_MIN_MS;
        if (p->dialer) peer_dial(p);
    }
    return 0;
}

void hyb_peer_stop(struct hyb *h)
{
    for (size_t i = 0; i < h->npeers; i++) {
        h->peers[i].dialer = false; /* no redial while shutting down */
        if (h->peers[i].redial_timer) qkd_loop_del_timer(h->loop, h->peers[i].redial_timer);
        h->peers[i].redial_timer = 0;
    }
    while (h->pconns)
        qkd_conn_abort(h->pconns->conn, "shutting down");
    qkd_listener_free(h->peer_lst);
    h->peer_lst = NULL;
}
