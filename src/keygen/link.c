/* link.c: the keygen link common to both ends: connection callbacks (peer certificate CN
 * check, one link at a time), the HELLO exchange and resynchronisation of the two rings,
 * heartbeats, link up/down state and current SKR in the ring, and the periodic statistics log
 * line. */
#include "kg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"
#include "tls.h"

static void kg_on_open(struct qkd_conn *c, void *arg);
static int kg_on_frame(struct qkd_conn *c, const struct qkd_wire_hdr *h, const uint8_t *payload,
                       void *arg);
static void kg_on_close(struct qkd_conn *c, const char *reason, void *arg);

static const struct qkd_conn_ops kg_ops = {
    .on_open = kg_on_open,
    .on_frame = kg_on_frame,
    .on_close = kg_on_close,
};

const struct qkd_conn_ops *kg_link_ops(void)
{
    return &kg_ops;
}

struct qkd_conn_limits kg_link_limits(const struct kg *kg)
{
    struct qkd_conn_limits lim = {
        .max_payload = KG_MAX_PAYLOAD,
        .idle_ms = kg->cfg.link_timeout_ms,
        .handshake_ms = 10000,
        .max_outbuf = 0,
        .close_ms = 1000,
    };
    return lim;
}

static const char *kg_role_name(const struct kg *kg)
{
    return kg->cfg.sender ? "sender" : "receiver";
}

int kg_link_send(struct kg *kg, uint8_t type)
{
    if (kg->conn == NULL || kg->out.failed) return -1;
    int rc =
        qkd_conn_send_msg(kg->conn, kg_proto_version, type, kg->out.buf, (uint32_t)kg->out.len);
    qkd_writer_reset(&kg->out);
    return rc;
}

/* The ready file mirrors the ring's link flag: written (atomically) when the link is up,
 * removed when it is down, so scripts wait for it at any log level. */
static void kg_ready_file(struct kg *kg, bool up)
{
    const char *path = kg->cfg.ready_file;
    if (path == NULL || path[0] == '\0') return;
    if (!up) {
        if (unlink(path) != 0 && errno != ENOENT)
            log_warn("cannot remove ready file %s: %s", path, strerror(errno));
        return;
    }
    char tmp[4200];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
        log_warn("ready file name too long: %s", path);
        return;
    }
    FILE *f = fopen(tmp, "w");
    bool ok = f != NULL && fprintf(f, "up %s %" PRIu64 "\n", kg->cfg.peer_name,
                                   qkd_ring_write_offset(kg->ring)) > 0;
    if (f != NULL && fclose(f) != 0) ok = false;
    if (!ok || rename(tmp, path) != 0) {
        log_warn("cannot write ready file %s: %s", path, strerror(errno));
        unlink(tmp);
    }
}

void kg_set_link(struct kg *kg, bool up)
{
    struct qkd_ring_stats st;
    qkd_ring_get_stats(kg->ring, &st);
    qkd_ring_set_link(kg->ring, up, kg->link_skr_bps);
    if (st.link_up != up || !kg->ready_known) kg_ready_file(kg, up);
    kg->ready_known = true;
}

void kg_count_dropped(struct kg *kg, uint64_t bytes)
{
    kg->blocks_dropped++;
    kg->bytes_dropped += bytes;
    qkd_ring_count_dropped(kg->ring, bytes);
}

static void kg_check_ring(struct kg *kg);

static void kg_send_hello(struct kg *kg)
{
    struct kg_hello *h = &kg->my_hello;
    kg_check_ring(kg);
    h->proto = 1;
    h->role = kg->cfg.sender ? KG_ROLE_SENDER : KG_ROLE_RECEIVER;
    /* consume first: the snapshot never shows consume > write. */
    h->consume_off = qkd_ring_consume_offset(kg->ring);
    h->write_off = qkd_ring_write_offset(kg->ring);
    if (h->consume_off > h->write_off) /* the ring is moving forward right now */
        h->consume_off = h->write_off;
    h->capacity = qkd_ring_capacity(kg->ring);
    h->block_bytes = kg->cfg.block_bytes;
    h->skr_bps = kg->cfg.skr_bps;
    qkd_writer_reset(&kg->out);
    kg_hello_encode(&kg->out, h);
    if (kg_link_send(kg, KG_MSG_HELLO) != 0) qkd_conn_close(kg->conn, "cannot queue HELLO");
}

/* Moves this end's ring to the common offset. Returns 0 or -1 (link must close). */
static int kg_apply_resync(struct kg *kg, uint64_t target, bool drop)
{
    uint64_t w = qkd_ring_write_offset(kg->ring), c = qkd_ring_consume_offset(kg->ring);
    enum kg_resync_action act = kg_resync_action_gen(w, c, target, drop);
    int rc = QKD_RING_OK;
    switch (act) {
    case KG_RESYNC_NONE:
        return 0;
    case KG_RESYNC_ROLLBACK:
        log_warn("resync: rolling back %" PRIu64 " unconfirmed bytes [%" PRIu64 ", %" PRIu64
                 ") of ring %s",
                 w - target, target, w, kg->cfg.ring_name);
        rc = qkd_ring_reset_to(kg->ring, target);
        break;
    case KG_RESYNC_DROP_AND_MOVE:
        log_warn("resync: the peer's ring was recreated; dropping %" PRIu64
                 " unmatched bytes [%" PRIu64 ", %" PRIu64 ") and moving ring %s to %" PRIu64,
                 w - c, c, w, kg->cfg.ring_name, target);
        rc = qkd_ring_reset_to(kg->ring, c);
        if (rc == QKD_RING_OK) rc = qkd_ring_reset_to(kg->ring, target);
        break;
    case KG_RESYNC_MOVE:
        log_warn("resync: moving empty ring %s from %" PRIu64 " to %" PRIu64, kg->cfg.ring_name, w,
                 target);
        rc = qkd_ring_reset_to(kg->ring, target);
        break;
    case KG_RESYNC_IMPOSSIBLE:
        log_error("resync: common offset %" PRIu64
                  " lies below this ring's consume offset %" PRIu64,
                  target, c);
        return -1;
    }
    if (rc != QKD_RING_OK) {
        log_error("resync of ring %s to %" PRIu64 " failed: %s", kg->cfg.ring_name, target,
                  qkd_ring_last_error());
        return -1;
    }
    return 0;
}

/* Sends this end's ring generation (RING). */
static void kg_send_ring(struct kg *kg)
{
    struct kg_ring_ids ids = {qkd_ring_id(kg->ring), qkd_ring_peer_id(kg->ring)};
    qkd_writer_reset(&kg->out);
    kg_ring_encode(&kg->out, &ids);
    if (kg_link_send(kg, KG_MSG_RING) != 0) qkd_conn_close(kg->conn, "cannot queue RING");
}

static int kg_sync(struct kg *kg, const struct kg_hello *peer_hello);

/* RING from the peer: a sender sends it first; a receiver answers it. A sender whose HELLO
 * arrived before the answer resynchronises now. */
static int kg_on_ring(struct kg *kg, const uint8_t *p, size_t len)
{
    const char *why = NULL;
    if (kg->peer_ids_known || kg->synced) {
        log_error("link %s: unexpected RING", qkd_conn_peer_addr(kg->conn));
        return -1;
    }
    if (kg_ring_decode(p, len, &kg->peer_ids, &why) != 0) {
        log_error("link %s: bad RING: %s", qkd_conn_peer_addr(kg->conn), why);
        return -1;
    }
    kg->peer_ids_known = true;
    if (!kg->cfg.sender) {
        kg_send_ring(kg);
        return 0;
    }
    return kg->hello_stashed ? kg_sync(kg, &kg->stashed_hello) : 0;
}

static int kg_on_hello(struct kg *kg, const uint8_t *p, size_t len)
{
    struct kg_hello peer;
    const char *why = NULL;
    if (kg->hello_rcvd) {
        log_error("link %s: second HELLO", qkd_conn_peer_addr(kg->conn));
        return -1;
    }
    if (kg_hello_decode(p, len, &peer, &why) != 0) {
        log_error("link %s: bad HELLO: %s", qkd_conn_peer_addr(kg->conn), why);
        return -1;
    }
    uint8_t want = kg->cfg.sender ? KG_ROLE_RECEIVER : KG_ROLE_SENDER;
    if (peer.role != want) {
        log_error("link %s: the peer is also a %s; one end must be sender, the other receiver",
                  qkd_conn_peer_addr(kg->conn), kg_role_name(kg));
        return -1;
    }
    kg->hello_rcvd = true;
    if (kg->cfg.sender && !kg->peer_ids_known) {
        /* wait for the receiver's RING: both ends decide with the same ring generations */
        kg->stashed_hello = peer;
        kg->hello_stashed = true;
        return 0;
    }
    return kg_sync(kg, &peer);
}

/* Resynchronises the two rings from the HELLOs (and the RING generations when the sender sent
 * one) and brings the link up. Returns 0 or -1 (the link must close). */
static int kg_sync(struct kg *kg, const struct kg_hello *peer_hello)
{
    struct kg_hello peer = *peer_hello;
    const struct kg_hello *s = kg->cfg.sender ? &kg->my_hello : &peer;
    const struct kg_hello *r = kg->cfg.sender ? &peer : &kg->my_hello;
    /* Ring generations: each ring remembers the partner ring it was last paired with. */
    bool sender_new = false;
    if (kg->peer_ids_known) {
        struct kg_ring_ids mine = {qkd_ring_id(kg->ring), qkd_ring_peer_id(kg->ring)};
        const struct kg_ring_ids *si = kg->cfg.sender ? &mine : &kg->peer_ids;
        const struct kg_ring_ids *ri = kg->cfg.sender ? &kg->peer_ids : &mine;
        sender_new = ri->peer_ring_id != 0 && si->ring_id != ri->peer_ring_id;
        if (sender_new)
            log_warn("resync: the sender's ring was re-created (id %016" PRIx64 ", the "
                     "receiver's ring paired with %016" PRIx64 "); continuing past every offset "
                     "the receiver holds",
                     si->ring_id, ri->peer_ring_id);
        if (si->peer_ring_id != 0 && ri->ring_id != si->peer_ring_id)
            log_warn("resync: the receiver's ring was re-created (id %016" PRIx64 ", the "
                     "sender's ring paired with %016" PRIx64 ")",
                     ri->ring_id, si->peer_ring_id);
    }
    uint64_t target = kg_resync_target_gen(s->write_off, s->consume_off, r->write_off,
                                           r->consume_off, sender_new);
    if (r->write_off < s->write_off) {
        uint64_t from = r->write_off > s->consume_off ? r->write_off : s->consume_off;
        log_warn("resync: the receiver's ring is behind the sender's (recreated?); %" PRIu64
                 " unconsumed bytes [%" PRIu64 ", %" PRIu64 ") of the primary have no copy "
                 "at the secondary",
                 s->write_off - from, from, s->write_off);
    }
    if (kg_apply_resync(kg, target, sender_new && !kg->cfg.sender) != 0) return -1;
    if (kg->peer_ids_known) /* the two rings are paired from here */
        qkd_ring_set_peer_id(kg->ring, kg->peer_ids.ring_id);
    uint64_t skr = kg->cfg.sender ? kg->cfg.skr_bps : peer.skr_bps;
    if (!kg->cfg.sender && peer.skr_bps != kg->cfg.skr_bps)
        log_info("link: following the sender's SKR of %" PRIu64 " bit/s", peer.skr_bps);
    if (!kg->cfg.sender) {
        /* The sender's STATE message (QBER, outage) follows when it uses a knob. */
        kg->outage = false;
        kg->skr_current_bps = peer.skr_bps;
    }
    kg->link_skr_bps = skr;
    kg->synced = true;
    kg->link_up_ms = qkd_now_ms();
    qkd_ring_set_current_skr(kg->ring, kg->skr_current_bps);
    kg_set_link(kg, !kg->outage);
    log_info("link up with %s (%s): stream offset %" PRIu64 " (sender %" PRIu64
             ", receiver %" PRIu64 "), SKR %" PRIu64 " bit/s%s",
             kg->cfg.peer_name, qkd_conn_peer_addr(kg->conn), target, s->write_off, r->write_off,
             skr, kg->outage ? " (in an emulated outage: shown down until it ends)" : "");
    if (kg->cfg.sender) {
        kg_sender_link_up(kg, target);
        if (kg_sender_send_state(kg) != 0) return -1;
    }
    return 0;
}

static void kg_on_open(struct qkd_conn *c, void *arg)
{
    struct kg_connstate *cs = arg;
    struct kg *kg = cs->kg;
    cs->opened = true;
    char cn[256];
    int nrc = qkd_tls_peer_node_name(qkd_conn_ssl(c), cn, sizeof(cn));
    if (nrc != 0 && nrc != QKD_TLS_NOT_NODE) {
        log_error("link %s: no verified peer certificate; refusing", qkd_conn_peer_addr(c));
        qkd_conn_close(c, "no peer certificate");
        return;
    }
    if (strcmp(cn, kg->cfg.peer_name) != 0) {
        log_error("link %s: peer certificate names \"%s\", expected \"%s\"; refusing",
                  qkd_conn_peer_addr(c), cn, kg->cfg.peer_name);
        qkd_conn_close(c, "wrong peer certificate");
        return;
    }
    if (nrc == QKD_TLS_NOT_NODE) { /* the right name on an application certificate */
        log_error("link %s: certificate \"%s\" is not a node certificate (needs extended key "
                  "usage serverAuth and clientAuth); refusing",
                  qkd_conn_peer_addr(c), cn);
        qkd_conn_close(c, "not a node certificate");
        return;
    }
    if (kg->conn != NULL && kg->conn != c) {
        /* Receiver: a new connection from the sender replaces the old one (e.g. the sender
         * restarted before the old link timed out). */
        struct qkd_conn *old = kg->conn;
        log_info("link: new connection from %s replaces %s", qkd_conn_peer_addr(c),
                 qkd_conn_peer_addr(old));
        qkd_conn_close(old, "replaced by a new connection");
    }
    kg->conn = c;
    kg->hello_rcvd = false;
    kg->synced = false;
    kg->peer_ids_known = false;
    kg->hello_stashed = false;
    log_debug("link %s: TLS up, peer %s", qkd_conn_peer_addr(c), cn);
    if (kg->cfg.sender) kg_send_ring(kg); /* before HELLO: the receiver decides with it */
    kg_send_hello(kg);
}

static int kg_on_frame(struct qkd_conn *c, const struct qkd_wire_hdr *h, const uint8_t *payload,
                       void *arg)
{
    struct kg_connstate *cs = arg;
    struct kg *kg = cs->kg;
    if (c != kg->conn) return -1;
    if (h->major != kg_proto_version[0] || h->minor != kg_proto_version[1] ||
        h->patch != kg_proto_version[2]) {
        log_error("link %s: frame of another protocol (version %u.%u.%u)", qkd_conn_peer_addr(c),
                  h->major, h->minor, h->patch);
        return -1;
    }
    if (h->service != KG_MSG_HELLO && h->service != KG_MSG_RING && !kg->synced) {
        log_error("link %s: message %u before HELLO", qkd_conn_peer_addr(c), h->service);
        return -1;
    }
    switch (h->service) {
    case KG_MSG_HELLO:
        return kg_on_hello(kg, payload, h->payload_len);
    case KG_MSG_RING:
        return kg_on_ring(kg, payload, h->payload_len);
    case KG_MSG_BLOCK:
        if (kg->cfg.sender) break;
        return kg_receiver_on_block(kg, payload, h->payload_len);
    case KG_MSG_ACK:
        if (!kg->cfg.sender) break;
        return kg_sender_on_ack(kg, payload, h->payload_len);
    case KG_MSG_DROPPED: {
        uint64_t blocks, bytes;
        const char *why;
        if (kg->cfg.sender) break;
        if (kg_dropped_decode(payload, h->payload_len, &blocks, &bytes, &why) != 0) {
            log_error("link %s: %s", qkd_conn_peer_addr(c), why);
            return -1;
        }
        kg->blocks_dropped += blocks;
        kg->bytes_dropped += bytes;
        qkd_ring_count_dropped_n(kg->ring, blocks, bytes);
        return 0;
    }
    case KG_MSG_STATE:
        if (kg->cfg.sender) break;
        return kg_receiver_on_state(kg, payload, h->payload_len);
    case KG_MSG_HEARTBEAT: {
        uint64_t ms;
        const char *why;
        if (kg_heartbeat_decode(payload, h->payload_len, &ms, &why) != 0) {
            log_error("link %s: %s", qkd_conn_peer_addr(c), why);
            return -1;
        }
        return 0;
    }
    default:
        break;
    }
    log_error("link %s: unexpected message type %u for a %s", qkd_conn_peer_addr(c), h->service,
              kg_role_name(kg));
    return -1;
}

static void kg_on_close(struct qkd_conn *c, const char *reason, void *arg)
{
    struct kg_connstate *cs = arg;
    struct kg *kg = cs->kg;
    bool opened = cs->opened;
    if (cs->accepted) qkd_listener_gone(kg->lst);
    free(cs);
    if (c != kg->conn) {
        /* The receiver's conn.c already warned about a failed handshake; the dialing sender
         * hears of connect failures only here. */
        if (!opened && kg->cfg.sender) log_warn("link %s: %s", qkd_conn_peer_addr(c), reason);
        if (!opened && !kg->cfg.sender) log_debug("link %s: %s", qkd_conn_peer_addr(c), reason);
        if (kg->cfg.sender && kg->connecting) {
            kg->connecting = false;
            kg_sender_link_down(kg, false);
        }
        return;
    }
    bool was_up = kg->synced;
    kg->conn = NULL;
    kg->synced = false;
    kg->hello_rcvd = false;
    if (!kg->cfg.sender) kg->outage = false; /* the next sender tells its state afresh */
    if (was_up) {
        kg_set_link(kg, false);
        log_warn("link down with %s: %s (was up %.1f s)", kg->cfg.peer_name, reason,
                 (double)(qkd_now_ms() - kg->link_up_ms) / 1000.0);
    } else {
        log_warn("link to %s not established: %s", kg->cfg.peer_name, reason);
    }
    if (kg->cfg.sender) {
        kg->connecting = false;
        kg_sender_link_down(kg, was_up);
    }
}

/* A ring removed or re-created underneath this keygen is no longer what its key server reads:
 * writing on would fill a ring nobody serves from. Exit (a supervisor restarts the keygen on
 * the ring the name now names; the handshake then sees the new ring generation). */
static void kg_check_ring(struct kg *kg)
{
    if (qkd_ring_check_current(kg->ring) == QKD_RING_ERR_STALE)
        fatalx("qkd-keygen: %s; stopping (restart to fill the ring the name names now)",
               qkd_ring_last_error());
}

static void kg_heartbeat_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct kg *kg = arg;
    kg_check_ring(kg);
    qkd_ring_heartbeat(kg->ring);
    if (kg->conn != NULL && kg->synced) {
        qkd_writer_reset(&kg->out);
        kg_heartbeat_encode(&kg->out, qkd_wall_ms());
        if (kg_link_send(kg, KG_MSG_HEARTBEAT) != 0)
            qkd_conn_close(kg->conn, "cannot queue heartbeat");
    }
    kg->hb_timer = qkd_loop_add_timer(loop, kg->cfg.heartbeat_ms, kg_heartbeat_cb, kg);
}

static void kg_stats_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct kg *kg = arg;
    uint64_t now = qkd_now_ms();
    double secs = (double)(now - kg->stats_last_ms) / 1000.0;
    uint64_t delta = kg->bytes_delivered - kg->stats_last_bytes;
    double bps = secs > 0 ? (double)delta * 8.0 / secs : 0.0;
    struct qkd_ring_stats st;
    qkd_ring_get_stats(kg->ring, &st);
    log_info("stats %s: link %s, distilled %" PRIu64 " bytes in %" PRIu64 " blocks (+%" PRIu64
             " bytes in %.1f s = %.0f bit/s, SKR %" PRIu64 " bit/s, current SKR %" PRIu64
             " bit/s), dropped %" PRIu64 " blocks / %" PRIu64 " bytes, ring %" PRIu64
             " unconsumed of %zu",
             kg->cfg.ring_name,
             !kg->synced  ? "down"
             : kg->outage ? "down (emulated outage)"
                          : "up",
             kg->bytes_delivered, kg->blocks_delivered, delta, secs, bps, st.skr_bps,
             st.skr_current_bps, kg->blocks_dropped, kg->bytes_dropped,
             qkd_ring_capacity(kg->ring) - qkd_ring_free_space(kg->ring),
             qkd_ring_capacity(kg->ring));
    kg->stats_last_bytes = kg->bytes_delivered;
    kg->stats_last_ms = now;
    kg->stats_timer = qkd_loop_add_timer(loop, kg->cfg.stats_ms, kg_stats_cb, kg);
}

int kg_link_start(struct kg *kg)
{
    kg->link_skr_bps = kg->cfg.skr_bps;
    kg->skr_current_bps = kg_qber_skr(kg->cfg.skr_bps, kg->cfg.qber_pct);
    qkd_ring_set_current_skr(kg->ring, kg->skr_current_bps);
    kg_set_link(kg, false);
    if (!kg->cfg.sender && (kg->cfg.qber_pct > 0.0 || kg->cfg.outage.every_ms != 0))
        log_info("receiver: --qber and --outage-* are the sender's to decide; this end follows "
                 "what the sender reports");
    kg->stats_last_ms = qkd_now_ms();
    kg->hb_timer = qkd_loop_add_timer(kg->loop, kg->cfg.heartbeat_ms, kg_heartbeat_cb, kg);
    kg->stats_timer = qkd_loop_add_timer(kg->loop, kg->cfg.stats_ms, kg_stats_cb, kg);
    return kg->cfg.sender ? kg_sender_start(kg) : kg_receiver_start(kg);
}

void kg_link_stop(struct kg *kg)
{
    qkd_loop_del_timer(kg->loop, kg->hb_timer);
    qkd_loop_del_timer(kg->loop, kg->stats_timer);
    if (kg->cfg.sender)
        kg_sender_stop(kg);
    else
        kg_receiver_stop(kg);
    if (kg->conn != NULL) qkd_conn_abort(kg->conn, "shutting down");
    kg_set_link(kg, false);
}
