/* sender.c: the primary end of the keygen link. Connects to the receiver (reconnecting with
 * back-off), distils key from the CSPRNG at the SKR (scaled by the emulated QBER) through the
 * token bucket, sends numbered blocks, and appends a block to its own ring only when the
 * receiver confirmed it, so every byte visible at the primary exists at the secondary at the
 * same offset. Blocks that find no room in either ring are discarded at both ends and counted.
 * It also runs the emulated outage profile: during an outage window nothing is distilled and
 * both rings show the link down (the receiver is told with a STATE message). */
#include "kg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/rand.h>

#include "log.h"
#include "sock.h"

static void kg_tick_cb(struct qkd_loop *loop, uint64_t id, void *arg);
static void kg_outage_cb(struct qkd_loop *loop, uint64_t id, void *arg);

static struct kg_inflight *kg_q_at(struct kg *kg, size_t i)
{
    return &kg->q[(kg->q_head + i) % kg->cfg.max_inflight];
}

static void kg_q_pop(struct kg *kg)
{
    struct kg_inflight *e = kg_q_at(kg, 0);
    qkd_secbuf_free(e->key);
    memset(e, 0, sizeof(*e));
    kg->q_head = (kg->q_head + 1) % kg->cfg.max_inflight;
    kg->q_len--;
}

static void kg_connect(struct kg *kg)
{
    char addr[300], err[256];
    snprintf(addr, sizeof(addr), "%s:%u", kg->cfg.host, kg->cfg.port);
    int fd = qkd_tcp_connect_nb(addr, err, sizeof(err));
    if (fd < 0) {
        log_warn("link: cannot connect to %s: %s", addr, err);
        kg_sender_link_down(kg, false);
        return;
    }
    struct kg_connstate *cs = calloc(1, sizeof(*cs));
    if (cs == NULL) {
        log_error("link: out of memory");
        close(fd);
        kg_sender_link_down(kg, false);
        return;
    }
    cs->kg = kg;
    struct qkd_conn_limits lim = kg_link_limits(kg);
    kg->connecting = true;
    struct qkd_conn *c = qkd_conn_new(kg->loop, kg->ctx, fd, 0, &lim, kg_link_ops(), cs);
    if (c == NULL) {
        kg->connecting = false;
        free(cs);
        log_warn("link: cannot start TLS to %s", addr);
        kg_sender_link_down(kg, false);
        return;
    }
    log_debug("link: connecting to %s", addr);
}

static void kg_reconnect_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct kg *kg = arg;
    kg->reconnect_timer = 0;
    kg_connect(kg);
}

bool kg_sender_has_knobs(const struct kg *kg)
{
    return kg->cfg.qber_pct > 0.0 || kg->cfg.outage.every_ms != 0;
}

int kg_sender_send_state(struct kg *kg)
{
    if (kg->conn == NULL || !kg->synced || !kg_sender_has_knobs(kg)) return 0;
    qkd_writer_reset(&kg->out);
    kg_state_encode(&kg->out, !kg->outage, kg->skr_current_bps);
    return kg_link_send(kg, KG_MSG_STATE);
}

/* Enters or leaves an outage window. */
static void kg_outage_set(struct kg *kg, bool on)
{
    if (kg->outage == on) return;
    kg->outage = on;
    if (on) {
        log_warn("outage: link down for %.3f s (emulated outage profile: every %.3f s); "
                 "nothing is distilled",
                 kg->cfg.outage.for_ms / 1000.0, kg->cfg.outage.every_ms / 1000.0);
    } else {
        /* Start the bucket afresh: no burst for the time spent down. The stream goes on at
         * the same offset. */
        kg_pacer_restart(&kg->pacer, qkd_now_ns());
        log_info("outage over: link up, distilling again from stream offset %" PRIu64,
                 kg->synced ? kg->next_off : qkd_ring_write_offset(kg->ring));
    }
    if (kg->synced) {
        kg_set_link(kg, !on);
        if (kg_sender_send_state(kg) != 0) qkd_conn_close(kg->conn, "cannot queue STATE");
    }
}

static void kg_outage_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct kg *kg = arg;
    kg->outage_timer = 0;
    uint64_t elapsed = (qkd_now_ns() - kg->start_ns) / 1000000u;
    kg_outage_set(kg, kg_outage_active(&kg->cfg.outage, elapsed));
    uint64_t next = kg_outage_next_change(&kg->cfg.outage, elapsed);
    if (next > 0) kg->outage_timer = qkd_loop_add_timer(loop, next, kg_outage_cb, kg);
}

int kg_sender_start(struct kg *kg)
{
    kg->q = calloc(kg->cfg.max_inflight, sizeof(*kg->q));
    if (kg->q == NULL) return -1;
    kg->backoff_ms = KG_BACKOFF_MIN_MS;
    kg->start_ns = qkd_now_ns();
    kg->link_skr_bps = kg->cfg.skr_bps;
    kg->skr_current_bps = kg_qber_skr(kg->cfg.skr_bps, kg->cfg.qber_pct);
    /* The bucket needs a positive rate; at 0 the tick distils nothing. */
    kg_pacer_init(&kg->pacer, kg->skr_current_bps > 0 ? kg->skr_current_bps : 1,
                  kg->cfg.block_bytes, kg->start_ns);
    log_info("sender: SKR %" PRIu64 " bit/s, blocks of %zu bytes (at most %u), link to %s:%u "
             "(peer %s)",
             kg->cfg.skr_bps, kg->pacer.chunk, kg->cfg.block_bytes, kg->cfg.host, kg->cfg.port,
             kg->cfg.peer_name);
    if (kg->cfg.qber_pct > 0.0)
        log_info("sender: emulated QBER %.2f%%: distils %.4f of the SKR = %" PRIu64 " bit/s",
                 kg->cfg.qber_pct, kg_qber_fraction(kg->cfg.qber_pct), kg->skr_current_bps);
    if (kg->skr_current_bps == 0)
        log_warn("sender: at a QBER of %.2f%% (about %.0f%% or more) no secret key can be "
                 "distilled: the link stays up but distils nothing",
                 kg->cfg.qber_pct, KG_QBER_NO_KEY_PCT);
    if (kg->cfg.outage.every_ms != 0) {
        log_info("sender: emulated outages of %.3f s every %.3f s", kg->cfg.outage.for_ms / 1000.0,
                 kg->cfg.outage.every_ms / 1000.0);
        kg->outage_timer = qkd_loop_add_timer(kg->loop, kg_outage_next_change(&kg->cfg.outage, 0),
                                              kg_outage_cb, kg);
    }
    kg_connect(kg);
    return 0;
}

static void kg_drop_inflight(struct kg *kg)
{
    while (kg->q_len > 0) {
        kg_count_dropped(kg, kg_q_at(kg, 0)->len);
        kg->unreported_blocks++;
        kg->unreported_bytes += kg_q_at(kg, 0)->len;
        kg_q_pop(kg);
    }
}

void kg_sender_stop(struct kg *kg)
{
    kg->stopping = true;
    qkd_loop_del_timer(kg->loop, kg->tick_timer);
    qkd_loop_del_timer(kg->loop, kg->reconnect_timer);
    qkd_loop_del_timer(kg->loop, kg->outage_timer);
    kg->tick_timer = kg->reconnect_timer = kg->outage_timer = 0;
    if (kg->q != NULL) {
        while (kg->q_len > 0)
            kg_q_pop(kg);
        free(kg->q);
        kg->q = NULL;
    }
}

void kg_sender_link_up(struct kg *kg, uint64_t offset)
{
    kg->backoff_ms = KG_BACKOFF_MIN_MS;
    kg->next_off = offset;
    kg_pacer_restart(&kg->pacer, qkd_now_ns());
    if (kg->tick_timer == 0)
        kg->tick_timer = qkd_loop_add_timer(kg->loop, KG_PACE_TICK_MS, kg_tick_cb, kg);
}

void kg_sender_link_down(struct kg *kg, bool was_up)
{
    qkd_loop_del_timer(kg->loop, kg->tick_timer);
    kg->tick_timer = 0;
    /* Blocks in flight are discarded here; the receiver's copy (if it appended one whose ACK
     * was lost) is rolled back by the resynchronisation on the next link. */
    kg_drop_inflight(kg);
    if (kg->stopping || kg->reconnect_timer != 0) return;
    uint32_t delay = was_up ? KG_BACKOFF_MIN_MS : kg->backoff_ms;
    if (!was_up) {
        kg->backoff_ms *= 2;
        if (kg->backoff_ms > KG_BACKOFF_MAX_MS) kg->backoff_ms = KG_BACKOFF_MAX_MS;
    }
    kg->reconnect_timer = qkd_loop_add_timer(kg->loop, delay, kg_reconnect_cb, kg);
}

/* Distils one block of len bytes and sends it, or discards it when this end's ring would have
 * no room for it (nothing is sent then: the block exists at neither end). Returns -1 when the
 * link had to be closed. */
static int kg_send_block(struct kg *kg, size_t len)
{
    uint64_t consume = qkd_ring_consume_offset(kg->ring);
    uint64_t used = kg->next_off > consume ? kg->next_off - consume : 0;
    if (used + len > qkd_ring_capacity(kg->ring)) {
        kg_count_dropped(kg, len);
        kg->unreported_blocks++;
        kg->unreported_bytes += len;
        return 0;
    }
    struct qkd_secbuf *key = qkd_secbuf_new(len);
    if (key == NULL) {
        log_error("sender: out of memory for a key block");
        return 0;
    }
    if (RAND_priv_bytes(key->data, (int)len) != 1) {
        qkd_log_openssl("sender: RAND_priv_bytes");
        qkd_secbuf_free(key);
        return 0;
    }
    struct kg_block b = {
        .offset = kg->next_off,
        .distilled_ms = qkd_wall_ms(),
        .len = (uint32_t)len,
        .data = key->data,
    };
    qkd_writer_reset(&kg->out);
    kg_block_encode(&kg->out, &b);
    if (kg_link_send(kg, KG_MSG_BLOCK) != 0) {
        qkd_secbuf_free(key);
        qkd_conn_close(kg->conn, "cannot queue a block");
        return -1;
    }
    struct kg_inflight *e = kg_q_at(kg, kg->q_len);
    e->offset = b.offset;
    e->distilled_ms = b.distilled_ms;
    e->len = b.len;
    e->doomed = false;
    e->key = key;
    kg->q_len++;
    kg->next_off += len;
    return 0;
}

static void kg_tick_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct kg *kg = arg;
    kg->tick_timer = 0;
    if (kg->conn == NULL || !kg->synced) return;
    /* In an outage, or at a QBER that leaves no key, nothing is distilled. */
    bool distil = !kg->outage && kg->skr_current_bps > 0;
    if (distil) kg_pacer_refill(&kg->pacer, qkd_now_ns());
    while (distil && kg->q_len < kg->cfg.max_inflight) {
        size_t len = kg_pacer_take(&kg->pacer);
        if (len == 0) break;
        if (kg_send_block(kg, len) != 0) return; /* the link closed */
    }
    /* The receiver counts the blocks this end discarded unsent, so both rings show them. */
    uint64_t now = qkd_now_ms();
    if (kg->unreported_blocks > 0 && now - kg->last_report_ms >= KG_DROPPED_REPORT_MS) {
        qkd_writer_reset(&kg->out);
        kg_dropped_encode(&kg->out, kg->unreported_blocks, kg->unreported_bytes);
        if (kg_link_send(kg, KG_MSG_DROPPED) != 0) {
            qkd_conn_close(kg->conn, "cannot queue DROPPED");
            return;
        }
        kg->unreported_blocks = kg->unreported_bytes = 0;
        kg->last_report_ms = now;
    }
    kg->tick_timer = qkd_loop_add_timer(loop, KG_PACE_TICK_MS, kg_tick_cb, kg);
}

int kg_sender_on_ack(struct kg *kg, const uint8_t *p, size_t len)
{
    struct kg_ack a;
    const char *why = NULL;
    if (kg_ack_decode(p, len, &a, &why) != 0) {
        log_error("link %s: bad ACK: %s", qkd_conn_peer_addr(kg->conn), why);
        return -1;
    }
    struct kg_inflight *e = kg->q_len > 0 ? kg_q_at(kg, 0) : NULL;
    if (e == NULL || e->offset != a.offset || e->len != a.len) {
        log_error("link %s: ACK for [%" PRIu64 ", +%u) matches no block in flight",
                  qkd_conn_peer_addr(kg->conn), a.offset, a.len);
        return -1;
    }
    switch (a.status) {
    case KG_ACK_OK: {
        uint64_t w = qkd_ring_write_offset(kg->ring);
        if (e->doomed || w != e->offset) {
            log_error("link: the receiver kept block %" PRIu64 " that this end cannot place "
                      "(ring at %" PRIu64 "); resynchronising",
                      e->offset, w);
            return -1;
        }
        int rc = qkd_ring_append(kg->ring, e->key->data, e->len, e->distilled_ms);
        if (rc != QKD_RING_OK) {
            log_error("sender: append to ring %s failed: %s; resynchronising", kg->cfg.ring_name,
                      qkd_ring_last_error());
            return -1;
        }
        kg->bytes_delivered += e->len;
        kg->blocks_delivered++;
        break;
    }
    case KG_ACK_FULL:
        if (e->doomed) {
            log_error("link: FULL for a block that should have been skipped");
            return -1;
        }
        /* The receiver's ring is full: this block and every block sent after it are
         * discarded; the stream continues at this block's offset. */
        for (size_t i = 1; i < kg->q_len; i++)
            kg_q_at(kg, i)->doomed = true;
        kg->next_off = e->offset;
        kg_count_dropped(kg, e->len);
        break;
    case KG_ACK_SKIP:
        if (!e->doomed) {
            log_error("link: the receiver skipped block %" PRIu64 " it should have taken",
                      e->offset);
            return -1;
        }
        kg_count_dropped(kg, e->len);
        break;
    default:
        return -1;
    }
    kg_q_pop(kg);
    return 0;
}
