/* receiver.c: the secondary end of the keygen link. Listens (writing its port to --port-file
 * once listening), authenticates the sender, and appends each block at exactly the offset the
 * sender numbered it with, before acknowledging it; refuses blocks that find no room (ACK
 * full) so nothing unconsumed is ever overwritten. */
#include "kg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"
#include "sock.h"

static int kg_accept(struct qkd_listener *lst, int s, void *arg)
{
    struct kg *kg = arg;
    struct kg_connstate *cs = calloc(1, sizeof(*cs));
    if (cs == NULL) {
        close(s);
        return -1;
    }
    cs->kg = kg;
    cs->accepted = true;
    struct qkd_conn_limits lim = kg_link_limits(kg);
    lim.handshake_ms = KG_RECV_HANDSHAKE_MS;
    lim.hs_group = qkd_listener_hs_group(lst);
    if (qkd_conn_new(kg->loop, kg->ctx, s, 1, &lim, kg_link_ops(), cs) == NULL) {
        free(cs);
        return -1;
    }
    return 0;
}

int kg_receiver_start(struct kg *kg)
{
    char addr[300], err[256];
    snprintf(addr, sizeof(addr), "%s:%u", kg->cfg.host, kg->cfg.port);
    /* one link, a replaced one closing, and the handshakes */
    struct qkd_listener_cfg lc = {
        .addr = addr,
        .name = "link",
        .backlog = 16,
        .max_conns = kg->cfg.max_handshakes + 2,
        .max_handshakes = kg->cfg.max_handshakes,
    };
    kg->lst = qkd_listener_new(kg->loop, &lc, kg_accept, kg, err, sizeof(err));
    if (kg->lst == NULL) {
        log_error("receiver: cannot listen on %s: %s", addr, err);
        return -1;
    }
    int port = qkd_listener_port(kg->lst);
    if (kg->cfg.port_file != NULL && kg->cfg.port_file[0] != '\0' &&
        qkd_write_port_file(kg->cfg.port_file, port) != 0) {
        log_error("receiver: cannot write port file %s: %s", kg->cfg.port_file, strerror(errno));
        return -1;
    }
    log_info("receiver: listening on %s:%d for %s, ring %s", kg->cfg.host, port, kg->cfg.peer_name,
             kg->cfg.ring_name);
    return 0;
}

void kg_receiver_stop(struct kg *kg)
{
    kg->stopping = true;
    qkd_listener_free(kg->lst);
    kg->lst = NULL;
}

static int kg_send_ack(struct kg *kg, const struct kg_block *b, uint8_t status)
{
    struct kg_ack a = {.offset = b->offset, .len = b->len, .status = status};
    qkd_writer_reset(&kg->out);
    kg_ack_encode(&kg->out, &a);
    return kg_link_send(kg, KG_MSG_ACK);
}

int kg_receiver_on_block(struct kg *kg, const uint8_t *p, size_t len)
{
    struct kg_block b;
    const char *why = NULL;
    if (kg_block_decode(p, len, &b, &why) != 0) {
        log_error("link %s: bad BLOCK: %s", qkd_conn_peer_addr(kg->conn), why);
        return -1;
    }
    uint64_t w = qkd_ring_write_offset(kg->ring);
    uint8_t status;
    if (b.offset < w) {
        log_error("link %s: block at %" PRIu64 " below this ring's write offset %" PRIu64
                  " (offsets are never reused)",
                  qkd_conn_peer_addr(kg->conn), b.offset, w);
        return -1;
    } else if (b.offset > w) {
        status = KG_ACK_SKIP; /* follows a block refused for lack of room */
        kg_count_dropped(kg, b.len);
    } else if (qkd_ring_free_space(kg->ring) < b.len) {
        status = KG_ACK_FULL;
        kg_count_dropped(kg, b.len);
    } else {
        int rc = qkd_ring_append(kg->ring, b.data, b.len, b.distilled_ms);
        if (rc != QKD_RING_OK) {
            log_error("receiver: append to ring %s failed: %s", kg->cfg.ring_name,
                      qkd_ring_last_error());
            return -1;
        }
        status = KG_ACK_OK;
        kg->bytes_delivered += b.len;
        kg->blocks_delivered++;
    }
    if (kg_send_ack(kg, &b, status) != 0) return -1;
    return 0;
}

int kg_receiver_on_state(struct kg *kg, const uint8_t *p, size_t len)
{
    bool up;
    uint64_t skr;
    const char *why = NULL;
    if (kg_state_decode(p, len, &up, &skr, &why) != 0) {
        log_error("link %s: bad STATE: %s", qkd_conn_peer_addr(kg->conn), why);
        return -1;
    }
    if (skr > kg->link_skr_bps) {
        log_error("link %s: current SKR %" PRIu64 " above the link's SKR %" PRIu64,
                  qkd_conn_peer_addr(kg->conn), skr, kg->link_skr_bps);
        return -1;
    }
    if (skr != kg->skr_current_bps) {
        log_info("link: the sender distils %" PRIu64 " bit/s (SKR %" PRIu64 " bit/s)", skr,
                 kg->link_skr_bps);
        if (skr == 0)
            log_warn("link: the sender's QBER leaves no secret key: the link stays up but "
                     "distils nothing");
    }
    kg->skr_current_bps = skr;
    qkd_ring_set_current_skr(kg->ring, skr);
    if (kg->outage == !up) return 0;
    kg->outage = !up;
    kg_set_link(kg, up);
    if (up)
        log_info("link up: the sender's emulated outage is over");
    else
        log_warn("link down: the sender reports an emulated outage");
    return 0;
}
