/* test_kme_alloc.c: the key server's peer protocol (src/kme/alloc.c, getkey.c, api.c, link.c) with
 * a real ring and stream table and the peer connection and ETSI answers replaced by recorders: an
 * ALLOC re-sent after the follower delivered its index (the ACK was lost with the connection)
 * is answered OK with the same mapping, never LOST, so the leader delivers it too; another
 * mapping of that index is never OK; the memo of such deliveries ends once the leader echoes
 * the heartbeat mark that followed the ACK. Closed KSIDs: tombstones survive while the peer
 * announces the stream and go when it does not (or closes its end), are bounded, and a peer
 * that closed its end is never paired again (ANNOUNCE / ATTACH answered CLOSE, no ALLOC
 * taken). Key held for streams no application attached is bounded per link, at the follower
 * (ALLOC refused) and at the leader (ALLOC_REQ refused). ETSI 014 batches (rest_batch.c): a
 * REST_KEYS registers the batch once; the leader allocates a batch whole or not at all (ring
 * too short: it waits; unattached bound: refused); a master at the follower asks for the whole
 * batch and is READY once it took it, FAIL when the leader refused. GONE: a follower holding an
 * allocation below the leader's GONE index still delivers it; any other index below it is
 * refused (GET_KEY 2, ALLOC lost) without touching the ring; on reconnect the leader sends GONE,
 * LOST runs for indices delivered above its base, and its acknowledged allocations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc.h"
#include "api.h"
#include "getkey.h"
#include "kme.h"
#include "link.h"
#include "peer.h"
#include "rest_batch.h"

/* ---- recorders standing in for peer.c, etsi_server.c and conn.c ---- */

static struct kme_pmsg sent[64];
static size_t nsent;
static struct {
    uint32_t status, index, key_len;
    uint8_t key[64];
} answers[16];
static size_t nanswers;

int kme_peer_send(struct kme_link *l, const struct kme_pmsg *m)
{
    (void)l;
    if (nsent < 64) sent[nsent++] = *m;
    return 0;
}
void kme_peer_announce(struct kme_link *l, struct kme_stream *s)
{
    (void)l;
    (void)s;
}
void kme_peer_send_ksid(struct kme_link *l, uint8_t type, const struct qkd_ksid *ksid)
{
    struct kme_pmsg m = {.type = type, .ksid = *ksid};
    kme_peer_send(l, &m);
}
void kme_peer_start(struct kme_link *l)
{
    (void)l;
}
int qkd_etsi_respond(struct qkd_etsi_client *cl, const struct qkd_response *rsp)
{
    (void)cl;
    if (nanswers < 16) {
        answers[nanswers].status = rsp->u.get.status;
        answers[nanswers].index = rsp->u.get.index;
        answers[nanswers].key_len = rsp->u.get.key_len;
        if (rsp->u.get.key && rsp->u.get.key_len <= 64)
            memcpy(answers[nanswers].key, rsp->u.get.key, rsp->u.get.key_len);
        nanswers++;
    }
    return 0;
}
void qkd_conn_pause(struct qkd_conn *c)
{
    (void)c;
}
void qkd_conn_resume(struct qkd_conn *c)
{
    (void)c;
}

/* ---- fixture: a follower link on a ring holding 1 KiB of known bytes ---- */

static struct kme k;
static struct qkd_ring *writer;
static char ring[64];
static const struct qkd_ksid KS = {.b = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}};

static int setup(void **state)
{
    (void)state;
    memset(&k, 0, sizeof(k));
    nsent = nanswers = 0;
    snprintf(ring, sizeof(ring), "/qkd-test-alloc-%d", (int)getpid());
    shm_unlink(ring);
    assert_int_equal(qkd_ring_open_writer(ring, 4096, &writer), QKD_RING_OK);
    uint8_t bytes[1024];
    for (size_t i = 0; i < sizeof(bytes); i++)
        bytes[i] = (uint8_t)(i * 7 + 1);
    assert_int_equal(qkd_ring_append(writer, bytes, sizeof(bytes), 1), QKD_RING_OK);
    k.loop = qkd_loop_new();
    assert_non_null(k.loop);
    k.cfg.window_bytes = KME_DEF_WINDOW;
    k.cfg.alloc_ahead = 1;
    k.cfg.alloc_ahead_bytes = KME_DEF_ALLOC_AHEAD_B;
    k.cfg.poll_ms = KME_DEF_POLL_MS;
    k.cfg.max_unattached = KME_DEF_MAX_UNATTACHED;
    assert_int_equal(kme_streams_init(&k.streams, 64, 16), 0);
    k.nlinks = 1;
    struct kme_link *l = &k.links[0];
    l->kme = &k;
    l->role = KME_ROLE_FOLLOWER;
    snprintf(l->peer, sizeof(l->peer), "alice");
    snprintf(l->ring_name, sizeof(l->ring_name), "%s", ring);
    assert_int_equal(qkd_ring_open_reader(ring, 0, &l->ring), QKD_RING_OK);
    l->peer_up = true;
    struct qkd_qos q;
    memset(&q, 0, sizeof(q));
    q.key_chunk_size = 32;
    q.timeout = 1000;
    q.ttl = 60;
    struct kme_stream *s = kme_stream_register(&k, l, &KS, &q);
    assert_non_null(s);
    kme_stream_attach(s, "app");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kme_link_stop(&k.links[0]); /* as qkd-kme shuts down: links (their queues) first */
    kme_streams_free(&k.streams);
    qkd_loop_free(k.loop);
    qkd_ring_close(writer);
    shm_unlink(ring);
    return 0;
}

static void leader_alloc_msg(uint32_t index, uint64_t offset)
{
    struct kme_pmsg m = {.type = KME_PM_ALLOC, .ksid = KS};
    m.u.alloc.index = index;
    m.u.alloc.count = 1;
    m.u.alloc.status = KME_AS_OK;
    m.u.alloc.offset = offset;
    m.u.alloc.len = 32;
    kme_on_alloc(&k.links[0], &m);
}

/* The status of the last ALLOC_ACK the follower sent for index. */
static int last_ack(uint32_t index)
{
    for (size_t i = nsent; i-- > 0;)
        if (sent[i].type == KME_PM_ALLOC_ACK && sent[i].u.alloc.index <= index &&
            index - sent[i].u.alloc.index < sent[i].u.alloc.count)
            return sent[i].u.alloc.status;
    return -1;
}

static void app_get(uint32_t index)
{
    struct qkd_etsi_client ec;
    memset(&ec, 0, sizeof(ec));
    snprintf(ec.id, sizeof(ec.id), "app");
    struct kme_client cl = {.kme = &k, .ec = &ec};
    struct qkd_get_req g = {.ksid = KS, .index = index};
    kme_get_key(&k, &cl, &g);
}

static void test_resend_after_delivery_is_ok(void **state)
{
    (void)state;
    struct kme_link *l = &k.links[0];
    leader_alloc_msg(0, 64);
    assert_int_equal(last_ack(0), KME_AS_OK);
    app_get(0);
    assert_int_equal(nanswers, 1);
    assert_int_equal(answers[0].status, QKD_STATUS_SUCCESS);
    assert_int_equal(answers[0].key_len, 32);
    assert_int_equal(answers[0].key[0], (uint8_t)(64 * 7 + 1));
    /* The connection drops with the ACK; the leader re-sends the same mapping. */
    kme_alloc_peer_down(l);
    nsent = 0;
    leader_alloc_msg(0, 64);
    assert_int_equal(last_ack(0), KME_AS_OK); /* delivered here: the leader delivers it too */
    /* A different mapping of that index (e.g. a leader that lost its state) is never OK. */
    nsent = 0;
    leader_alloc_msg(0, 96);
    assert_int_equal(last_ack(0), KME_AS_LOST);
    /* The application cannot get it a second time. */
    app_get(0);
    assert_int_equal(nanswers, 2);
    assert_int_equal(answers[1].status, QKD_STATUS_INSUFFICIENT_KEY);
}

static void test_resend_after_delivery_and_close(void **state)
{
    (void)state;
    leader_alloc_msg(0, 0);
    app_get(0);
    assert_int_equal(answers[0].status, QKD_STATUS_SUCCESS);
    /* The application closes; the stream is gone here, the leader re-sends its ALLOC. */
    struct kme_stream *s = kme_stream_find(&k.streams, &KS);
    assert_non_null(s);
    kme_stream_drop(&k, s, QKD_STATUS_PEER_APP_NOT_CONNECTED);
    kme_alloc_peer_down(&k.links[0]);
    nsent = 0;
    leader_alloc_msg(0, 0);
    assert_int_equal(last_ack(0), KME_AS_OK);
    /* Index 1 was never allocated here: the closed stream takes nothing new. */
    leader_alloc_msg(1, 32);
    assert_int_equal(last_ack(1), KME_AS_CLOSED);
}

static void test_memo_ends_with_the_leaders_echo(void **state)
{
    (void)state;
    struct kme_link *l = &k.links[0];
    leader_alloc_msg(0, 0);
    uint64_t mark = kme_alloc_hb_mark(l); /* the heartbeat after the ACK */
    app_get(0);
    assert_int_equal(l->nmemo, 1);
    kme_alloc_on_heartbeat(l, mark - 1); /* the leader has not seen that heartbeat yet */
    assert_int_equal(l->nmemo, 1);
    kme_alloc_on_heartbeat(l, mark); /* now it has processed the ACK before it */
    assert_int_equal(l->nmemo, 0);
    /* Deliveries whose ACK the leader already confirmed are not remembered. */
    leader_alloc_msg(1, 32);
    kme_alloc_on_heartbeat(l, kme_alloc_hb_mark(l));
    app_get(1);
    assert_int_equal(answers[1].status, QKD_STATUS_SUCCESS);
    assert_int_equal(l->nmemo, 0);
}

static int count_sent(uint8_t type, const struct qkd_ksid *ks)
{
    int n = 0;
    for (size_t i = 0; i < nsent; i++)
        if (sent[i].type == type && memcmp(sent[i].ksid.b, ks->b, QKD_KSID_LEN) == 0) n++;
    return n;
}

static struct qkd_ksid ksid_n(uint32_t n)
{
    struct qkd_ksid x;
    memset(&x, 0, sizeof(x));
    memcpy(x.b, &n, sizeof(n));
    x.b[15] = 0xee;
    return x;
}

static void test_tombstones_kept_while_needed(void **state)
{
    (void)state;
    struct kme_link *l = &k.links[0];
    struct qkd_ksid a = ksid_n(1), b = ksid_n(2), c = ksid_n(3);
    kme_link_tomb_add(l, &a);
    kme_link_tomb_add(l, &b);
    kme_link_tomb_add(l, &c);
    assert_ptr_equal(kme_tomb_link(&k, &a), l);
    /* peer sync comes up: the peer announces a (its end lives), then its first heartbeat */
    kme_link_tomb_sweep_start(l);
    struct kme_pmsg ann = {.type = KME_PM_ANNOUNCE, .ksid = a};
    ann.u.announce.qos.key_chunk_size = 32;
    ann.u.announce.qos.timeout = 1000;
    ann.u.announce.attached = 1;
    kme_on_announce(l, &ann);
    assert_int_equal(count_sent(KME_PM_CLOSE, &a), 1); /* refused, not resurrected */
    assert_null(kme_stream_find(&k.streams, &a));
    kme_link_tomb_sweep_end(l);
    assert_true(kme_link_tomb_has(l, &a));  /* needed */
    assert_false(kme_link_tomb_has(l, &b)); /* no peer end any more */
    assert_false(kme_link_tomb_has(l, &c));
    /* the peer closes its end too: the tombstone goes */
    struct kme_pmsg cl = {.type = KME_PM_CLOSE, .ksid = a};
    kme_on_close(l, &cl);
    assert_false(kme_link_tomb_has(l, &a));
    /* bounded: the oldest goes first */
    for (uint32_t i = 0; i <= KME_MAX_TOMBSTONES; i++) {
        struct qkd_ksid x = ksid_n(100 + i);
        kme_link_tomb_add(l, &x);
    }
    assert_int_equal(l->ntomb, KME_MAX_TOMBSTONES);
    struct qkd_ksid first = ksid_n(100), last = ksid_n(100 + KME_MAX_TOMBSTONES);
    assert_false(kme_link_tomb_has(l, &first));
    assert_true(kme_link_tomb_has(l, &last));
}

static void test_peer_that_closed_is_never_paired_again(void **state)
{
    (void)state;
    struct kme_link *l = &k.links[0];
    leader_alloc_msg(0, 0);
    /* the leader's application closes the stream */
    struct kme_pmsg cl = {.type = KME_PM_CLOSE, .ksid = KS};
    kme_on_close(l, &cl);
    struct kme_stream *s = kme_stream_find(&k.streams, &KS);
    assert_non_null(s); /* this end keeps its undelivered key */
    assert_true(s->peer_ended);
    /* the leader restarted and its application re-opened the KSID: refused each way */
    nsent = 0;
    struct kme_pmsg att = {.type = KME_PM_ATTACH, .ksid = KS};
    kme_on_attach(l, &att);
    assert_int_equal(count_sent(KME_PM_CLOSE, &KS), 1);
    assert_false(s->peer_attached);
    struct kme_pmsg ann = {.type = KME_PM_ANNOUNCE, .ksid = KS};
    ann.u.announce.qos = s->qos;
    ann.u.announce.attached = 1;
    kme_on_announce(l, &ann);
    assert_int_equal(count_sent(KME_PM_CLOSE, &KS), 2);
    assert_false(s->peer_attached);
    /* an ALLOC made after the close is not taken */
    leader_alloc_msg(1, 32);
    assert_int_equal(last_ack(1), KME_AS_CLOSED);
    assert_null(kme_stream_alloc_find(s, 1));
    /* what was allocated before the close is still the application's */
    app_get(0);
    assert_int_equal(answers[0].status, QKD_STATUS_SUCCESS);
}

/* Key held for a stream no application at the follower attached is bounded per link
 * (--max-unattached-bytes): at the bound the ALLOC is taken, beyond it refused for now (the
 * index stays open), and once the application attaches the stream's key stops counting. */
static void test_unattached_key_is_bounded(void **state)
{
    (void)state;
    struct kme_link *l = &k.links[0];
    k.cfg.max_unattached = 64; /* two chunks of 32 */
    static const struct qkd_ksid K2 = {.b = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 2}};
    static const struct qkd_ksid K3 = {.b = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 3}};
    struct kme_stream *s = kme_stream_find(&k.streams, &KS);
    struct kme_stream *s2 = kme_stream_register(&k, l, &K2, &s->qos);
    struct kme_stream *s3 = kme_stream_register(&k, l, &K3, &s->qos);
    assert_non_null(s2);
    assert_non_null(s3);
    struct kme_pmsg m = {.type = KME_PM_ALLOC, .ksid = K2};
    m.u.alloc.index = 0;
    m.u.alloc.count = 3;
    m.u.alloc.status = KME_AS_OK;
    m.u.alloc.offset = 0;
    m.u.alloc.len = 32;
    kme_on_alloc(l, &m);
    assert_int_equal(last_ack(0), KME_AS_OK);
    assert_int_equal(last_ack(1), KME_AS_OK); /* at the bound */
    assert_int_equal(last_ack(2), KME_AS_REFUSED);
    assert_int_equal(l->held_unattached, 64);
    assert_int_equal(kme_stream_index_state(s2, 2), KME_IDX_OPEN);
    /* the bound is per link: another unattached stream gets nothing either */
    m.ksid = K3;
    m.u.alloc.count = 1;
    m.u.alloc.offset = 96;
    kme_on_alloc(l, &m);
    assert_int_equal(last_ack(0), KME_AS_REFUSED);
    /* an attached stream is not limited */
    leader_alloc_msg(0, 128);
    assert_int_equal(last_ack(0), KME_AS_OK);
    /* the application attaches K2: its key no longer counts, K3 may hold key again */
    kme_stream_attach(s2, "app");
    assert_int_equal(l->held_unattached, 0);
    m.u.alloc.offset = 160;
    kme_on_alloc(l, &m);
    assert_int_equal(last_ack(0), KME_AS_OK);
    assert_int_equal(l->held_unattached, 32);
    /* dropping the stream frees its count */
    kme_stream_drop(&k, s3, QKD_STATUS_PEER_APP_NOT_CONNECTED);
    assert_int_equal(l->held_unattached, 0);
}

/* The same bound at the leader: a follower's requests for a stream no application at the
 * leader attached get at most --max-unattached-bytes of key allocated, then refused for now. */
static void test_unattached_key_is_bounded_at_the_leader(void **state)
{
    (void)state;
    struct kme_link *l = &k.links[0];
    l->role = KME_ROLE_LEADER;
    k.cfg.max_unattached = 64; /* two chunks of 32 */
    k.cfg.alloc_ahead = 8;
    static const struct qkd_ksid K2 = {.b = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 2}};
    struct kme_stream *s = kme_stream_find(&k.streams, &KS);
    struct kme_stream *s2 = kme_stream_register(&k, l, &K2, &s->qos);
    assert_non_null(s2);
    struct kme_pmsg m = {.type = KME_PM_ALLOC_REQ, .ksid = K2};
    m.u.alloc.index = 0;
    m.u.alloc.count = 3;
    nsent = 0;
    kme_on_alloc_req(l, &m);
    assert_int_equal(nsent, 1);
    assert_int_equal(sent[0].type, KME_PM_ALLOC);
    assert_int_equal(sent[0].u.alloc.status, KME_AS_OK);
    assert_int_equal(sent[0].u.alloc.count, 2); /* up to the bound */
    assert_int_equal(l->held_unattached, 64);
    m.u.alloc.index = 2;
    m.u.alloc.count = 1;
    kme_on_alloc_req(l, &m);
    assert_int_equal(nsent, 2);
    assert_int_equal(sent[1].u.alloc.status, KME_AS_REFUSED);
    assert_int_equal(kme_stream_index_state(s2, 2), KME_IDX_OPEN);
    kme_stream_attach(s2, "app");
    assert_int_equal(l->held_unattached, 0);
    kme_on_alloc_req(l, &m);
    assert_int_equal(sent[2].u.alloc.status, KME_AS_OK);
    assert_int_equal(l->held_unattached, 0);
}

/* ---- GONE: a follower that restarted never gets other key for an index the leader used ---- */

static void test_gone_refuses_what_the_follower_does_not_hold(void **state)
{
    (void)state;
    struct kme_link *l = &k.links[0];
    leader_alloc_msg(1, 0); /* held here before the GONE */
    assert_int_equal(last_ack(1), KME_AS_OK);
    struct kme_pmsg g = {.type = KME_PM_GONE, .ksid = KS};
    g.u.alloc.index = 5;
    kme_on_gone(l, &g);
    app_get(1); /* held: still delivered */
    assert_int_equal(nanswers, 1);
    assert_int_equal(answers[0].status, QKD_STATUS_SUCCESS);
    uint64_t c = qkd_ring_consume_offset(l->ring);
    leader_alloc_msg(2, 32); /* a new mapping below GONE: refused, ring untouched */
    assert_int_equal(last_ack(2), KME_AS_LOST);
    assert_int_equal(qkd_ring_consume_offset(l->ring), c);
    app_get(3); /* not held: refused at once, never asked of the leader */
    assert_int_equal(nanswers, 2);
    assert_int_equal(answers[1].status, QKD_STATUS_INSUFFICIENT_KEY);
    size_t before = nsent;
    app_get(3);
    assert_int_equal(answers[2].status, QKD_STATUS_INSUFFICIENT_KEY);
    assert_int_equal(nsent, before);
    leader_alloc_msg(5, 32); /* at the GONE index: taken */
    assert_int_equal(last_ack(5), KME_AS_OK);
}

static void test_leader_sync_after_reconnect(void **state)
{
    (void)state;
    struct kme_link *l = &k.links[0];
    l->role = KME_ROLE_LEADER;
    struct kme_stream *s = kme_stream_find(&k.streams, &KS);
    assert_non_null(kme_alloc_leader(l, s, 0, 4));
    struct kme_pmsg ack = {.type = KME_PM_ALLOC_ACK, .ksid = KS};
    ack.u.alloc.index = 0;
    ack.u.alloc.count = 4;
    ack.u.alloc.status = KME_AS_OK;
    kme_on_alloc_ack(l, &ack);
    app_get(0);
    app_get(2);
    assert_int_equal(nanswers, 2);
    assert_int_equal(answers[1].status, QKD_STATUS_SUCCESS);
    /* one more allocation not yet acknowledged: kme_alloc_resend's, not the sync's */
    assert_non_null(kme_alloc_leader(l, s, 4, 1));
    nsent = 0;
    kme_alloc_sync(l);
    assert_int_equal(nsent, 4);
    assert_int_equal(sent[0].type, KME_PM_GONE);
    assert_int_equal(sent[0].u.alloc.index, 1); /* 0 delivered */
    assert_int_equal(sent[1].type, KME_PM_ALLOC);
    assert_int_equal(sent[1].u.alloc.status, KME_AS_LOST); /* 2 delivered above base */
    assert_int_equal(sent[1].u.alloc.index, 2);
    assert_int_equal(sent[1].u.alloc.count, 1);
    assert_int_equal(sent[2].u.alloc.status, KME_AS_OK); /* 1 and 3 held, acknowledged */
    assert_int_equal(sent[2].u.alloc.index, 1);
    assert_int_equal(sent[2].u.alloc.offset, 32);
    assert_int_equal(sent[3].u.alloc.index, 3);
    assert_int_equal(sent[3].u.alloc.offset, 96);
}

/* ---- ETSI 014 batches ---- */

static const struct qkd_ksid KB = {.b = {7, 7, 7, 7, 7, 7, 0x47, 7, 0x87, 7, 7, 7, 7, 7, 7, 0}};

static void rest_keys_msg(uint32_t number, uint32_t key_bytes)
{
    struct kme_rest_msg rm;
    memset(&rm, 0, sizeof(rm));
    rm.ksid = KB;
    rm.key_bytes = key_bytes;
    rm.number = number;
    strcpy(rm.master, "bob-app");
    rm.nslaves = 2;
    strcpy(rm.slaves[0], "alice-app");
    strcpy(rm.slaves[1], "alice-sae2");
    struct qkd_writer w;
    qkd_writer_init(&w, KME_PEER_MAX_PAYLOAD);
    assert_int_equal(kme_rest_msg_encode(&rm, &w), 0);
    struct kme_pmsg m = {.type = KME_PM_REST_KEYS, .ksid = KB};
    m.u.raw.p = w.buf;
    m.u.raw.len = (uint32_t)w.len;
    kme_rest_on_keys(&k.links[0], &m);
    qkd_writer_free(&w);
}

static void test_rest_keys_registers_a_batch_once(void **state)
{
    (void)state;
    rest_keys_msg(4, 32);
    struct kme_stream *s = kme_stream_find(&k.streams, &KB);
    assert_non_null(s);
    assert_non_null(s->rest);
    assert_false(s->rest->master_side);
    assert_false(s->local_attached); /* held as unattached key until the slaves fetch it */
    assert_int_equal(s->rest->number, 4);
    assert_int_equal(s->rest->nslaves, 2);
    assert_string_equal(s->rest->master, "bob-app");
    assert_int_equal(kme_stream_index_state(s, 3), KME_IDX_OPEN);
    assert_int_equal(kme_stream_index_state(s, 4), KME_IDX_OUTSIDE); /* the window is the batch */
    s->rest->got[0] = 1;
    size_t before = k.streams.count;
    rest_keys_msg(4, 32); /* again (the peer connection came back): nothing changes */
    assert_int_equal(k.streams.count, before);
    assert_int_equal(kme_stream_find(&k.streams, &KB)->rest->got[0], 1);
    assert_false(kme_stream_owned_by(s, "")); /* no ETSI 004 identity reaches it */
}

static void test_rest_batch_is_allocated_whole_by_the_leader(void **state)
{
    (void)state;
    struct kme_link *l = &k.links[0];
    l->role = KME_ROLE_LEADER;
    rest_keys_msg(40, 32); /* 40 x 32 bytes: more than the ring's 1 KiB */
    struct kme_pmsg m = {.type = KME_PM_ALLOC_REQ, .ksid = KB};
    m.u.alloc.index = 0;
    m.u.alloc.count = 40;
    nsent = 0;
    kme_on_alloc_req(l, &m);
    assert_int_equal(nsent, 0); /* waits for the whole batch; nothing taken */
    assert_int_equal(l->npreqs, 1);
    assert_int_equal(l->held_unattached, 0);
    assert_int_equal(kme_stream_find(&k.streams, &KB)->nallocs, 0);
    /* a batch that fits goes in one run, even with allocation ahead off (alloc_ahead 1) */
    l->npreqs = 0;
    kme_stream_drop(&k, kme_stream_find(&k.streams, &KB), 0);
    rest_keys_msg(8, 32);
    m.u.alloc.count = 8;
    kme_on_alloc_req(l, &m);
    assert_int_equal(nsent, 1);
    assert_int_equal(sent[0].type, KME_PM_ALLOC);
    assert_int_equal(sent[0].u.alloc.status, KME_AS_OK);
    assert_int_equal(sent[0].u.alloc.count, 8);
    assert_int_equal(l->held_unattached, 256);
}

static void test_rest_batch_over_the_unattached_bound_is_refused_whole(void **state)
{
    (void)state;
    struct kme_link *l = &k.links[0];
    l->role = KME_ROLE_LEADER;
    k.cfg.max_unattached = 64; /* two chunks of 32 */
    rest_keys_msg(3, 32);
    struct kme_pmsg m = {.type = KME_PM_ALLOC_REQ, .ksid = KB};
    m.u.alloc.index = 0;
    m.u.alloc.count = 3;
    nsent = 0;
    kme_on_alloc_req(l, &m);
    assert_int_equal(nsent, 1);
    assert_int_equal(sent[0].type, KME_PM_ALLOC);
    assert_int_equal(sent[0].u.alloc.status, KME_AS_REFUSED);
    assert_int_equal(l->held_unattached, 0);
    assert_int_equal(kme_stream_find(&k.streams, &KB)->nallocs, 0);
}

static void test_rest_master_at_the_follower(void **state)
{
    (void)state;
    struct kme_link *l = &k.links[0];
    struct kme_rest_batch b;
    memset(&b, 0, sizeof(b));
    strcpy(b.master, "bob-app");
    strcpy(b.slaves[0], "alice-app");
    b.nslaves = 1;
    b.number = 3;
    b.key_bytes = 32;
    nsent = 0;
    struct kme_stream *s = kme_rest_stream_open(&k, l, &KB, &b, 1000);
    assert_non_null(s);
    assert_true(s->rest->master_side);
    assert_int_equal(nsent, 1);
    assert_int_equal(sent[0].type, KME_PM_REST_KEYS); /* announced before any allocation */
    bool req_sent = false;
    assert_int_equal(kme_rest_stream_eval(l, s, &req_sent), KME_REST_WAIT);
    assert_true(req_sent);
    assert_int_equal(nsent, 2);
    assert_int_equal(sent[1].type, KME_PM_ALLOC_REQ);
    assert_int_equal(sent[1].u.alloc.index, 0);
    assert_int_equal(sent[1].u.alloc.count, 3); /* the whole batch */
    assert_int_equal(kme_rest_stream_eval(l, s, &req_sent), KME_REST_WAIT);
    assert_int_equal(nsent, 2); /* asked once */
    struct kme_pmsg m = {.type = KME_PM_ALLOC, .ksid = KB};
    m.u.alloc.index = 0;
    m.u.alloc.count = 3;
    m.u.alloc.status = KME_AS_OK;
    m.u.alloc.offset = 64;
    m.u.alloc.len = 32;
    kme_on_alloc(l, &m);
    assert_int_equal(last_ack(2), KME_AS_OK);
    assert_int_equal(kme_rest_stream_eval(l, s, &req_sent), KME_REST_READY);
    assert_int_equal(kme_stream_alloc_find(s, 1)->key[0], (uint8_t)((64 + 32) * 7 + 1));
    /* a refusal from the leader fails the call */
    static const struct qkd_ksid KB2 = {
        .b = {8, 8, 8, 8, 8, 8, 0x48, 8, 0x88, 8, 8, 8, 8, 8, 8, 0}};
    struct kme_stream *s2 = kme_rest_stream_open(&k, l, &KB2, &b, 1000);
    assert_non_null(s2);
    req_sent = false;
    assert_int_equal(kme_rest_stream_eval(l, s2, &req_sent), KME_REST_WAIT);
    struct kme_pmsg r = {.type = KME_PM_ALLOC, .ksid = KB2};
    r.u.alloc.index = 0;
    r.u.alloc.count = 1;
    r.u.alloc.status = KME_AS_REFUSED;
    kme_on_alloc(l, &r);
    assert_int_equal(kme_rest_stream_eval(l, s2, &req_sent), KME_REST_FAIL);
}

static void test_rest_key_ids_and_fetching(void **state)
{
    (void)state;
    uint8_t id[16];
    kme_rest_key_id(&KB, 200, id);
    struct qkd_ksid back;
    uint32_t index = 0;
    kme_rest_key_batch(id, &back, &index);
    assert_int_equal(index, 200);
    assert_memory_equal(back.b, KB.b, 16);
    assert_int_equal(id[6] & 0xf0, 0x40); /* still a version 4 UUID */
    struct kme_rest_batch b;
    memset(&b, 0, sizeof(b));
    strcpy(b.master, "m");
    strcpy(b.slaves[0], "s1");
    strcpy(b.slaves[1], "s2");
    b.nslaves = 2;
    b.number = 2;
    uint32_t j = 9;
    const char *why = NULL;
    assert_int_equal(kme_rest_batch_check(&b, "m", "s2", 1, &j, &why), 0);
    assert_int_equal(j, 1);
    assert_int_equal(kme_rest_batch_check(&b, "m", "s1", 2, &j, &why), 400); /* no index 2 */
    assert_int_equal(kme_rest_batch_check(&b, "m", "s3", 0, &j, &why), 401); /* not a slave */
    assert_int_equal(kme_rest_batch_check(&b, "x", "s1", 0, &j, &why), 401); /* other master */
    assert_false(kme_rest_batch_fetched(&b, 0, 0));
    assert_int_equal(kme_rest_batch_check(&b, "m", "s1", 0, &j, &why), 400); /* once per slave */
    assert_int_equal(kme_rest_batch_check(&b, "m", "s2", 0, &j, &why), 0);
    assert_true(kme_rest_batch_fetched(&b, 0, 1));
    assert_int_equal(b.complete, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_resend_after_delivery_is_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resend_after_delivery_and_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memo_ends_with_the_leaders_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tombstones_kept_while_needed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_that_closed_is_never_paired_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unattached_key_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unattached_key_is_bounded_at_the_leader, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_gone_refuses_what_the_follower_does_not_hold, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_leader_sync_after_reconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rest_keys_registers_a_batch_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rest_batch_is_allocated_whole_by_the_leader, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rest_batch_over_the_unattached_bound_is_refused_whole,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_rest_master_at_the_follower, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rest_key_ids_and_fetching, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
