/* xchg.c: GET_KEY, the per-(KSID, index) exchange between the two daemons (docs/hybrid.md,
 * "Peer protocol"). The first GET_KEY at either end starts it (the responder asks with WANT);
 * the initiator sends INIT (fresh public keys / shares), the responder encapsulates and fetches
 * its QKD key and sends REPLY (per-source status), the initiator decides the source set and
 * sends RESULT with its confirmation tag, the responder checks it and answers CONFIRM with its
 * own. Each end holds its key until its application asks for it; a failure at either end fails
 * the index at both. stream.c enters here with the stream (GET_KEY, QKD results); the QKD keys
 * come through the stream's jobs (hyb_stream_qkd_get), delivered indices go to its window. */
#include "hyb.h"

#include "combiner.h"
#include "kdf.h"
#include "log.h"
#include "metrics.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CONFIRM_LABEL "QKD-HYBRID-v1 confirm"

static const char *initiator_uuid(const struct hyb_stream *s)
{
    return s->role == HYB_INITIATOR ? s->h->cfg->uuid : s->peer->cfg->uuid;
}

static const char *responder_uuid(const struct hyb_stream *s)
{
    return s->role == HYB_RESPONDER ? s->h->cfg->uuid : s->peer->cfg->uuid;
}

static struct hyb_xchg *xchg_find(struct hyb_stream *s, uint32_t index)
{
    for (struct hyb_xchg *x = s->xs; x; x = x->next)
        if (x->index == index) return x;
    return NULL;
}

static struct hyb_xchg *xchg_new(struct hyb_stream *s, uint32_t index, enum hyb_xstate st)
{
    struct hyb_xchg *x = calloc(1, sizeof(*x));
    if (!x) return NULL;
    x->s = s;
    x->xid = ++s->h->next_xid;
    x->index = index;
    x->state = st;
    x->n = s->req.n_sources;
    x->t_start_ms = qkd_now_ms();
    x->next = s->xs;
    if (s->xs) s->xs->prev = x;
    s->xs = x;
    s->nxs++;
    return x;
}

static void xsrc_clear(struct hyb_xsrc *src)
{
    qkd_secbuf_free(src->secret);
    free(src->pub);
    free(src->msg);
    hyb_kem_initiator_free(src->kem);
    memset(src, 0, sizeof(*src));
}

static void del_timers(struct hyb_xchg *x)
{
    struct qkd_loop *loop = x->s->h->loop;
    if (x->deadline_timer) qkd_loop_del_timer(loop, x->deadline_timer);
    if (x->src_timer) qkd_loop_del_timer(loop, x->src_timer);
    x->deadline_timer = x->src_timer = 0;
}

static void waiter_detach(struct hyb_xchg *x)
{
    struct hyb_call *c = x->waiter;
    if (!c) return;
    x->waiter = NULL;
    c->x = NULL;
    if (c->timer) qkd_loop_del_timer(x->s->h->loop, c->timer);
    c->timer = 0;
}

void hyb_xchg_free(struct hyb_xchg *x, uint32_t waiter_status)
{
    struct hyb_stream *s = x->s;
    struct hyb_call *c = x->waiter;
    waiter_detach(x);
    del_timers(x);
    for (size_t j = 0; j < x->n; j++)
        xsrc_clear(&x->src[j]);
    qkd_secbuf_free(x->key);
    if (x->prev)
        x->prev->next = x->next;
    else if (s->xs == x)
        s->xs = x->next;
    if (x->next) x->next->prev = x->prev;
    s->nxs--;
    uint32_t index = x->index;
    qkd_wipe(x, sizeof(*x));
    free(x);
    if (c) c->ops->get_done(c, waiter_status, index, NULL, 0, NULL);
}

/* Hands a finished key to the waiting application, marks the index delivered. */
static void deliver(struct hyb_xchg *x)
{
    struct hyb_call *c = x->waiter;
    if (!c || x->state != HYB_X_DONE) return;
    waiter_detach(x);
    struct hyb_stream *s = x->s;
    uint32_t index = x->index;
    qkd_window_mark(&s->win, index);
    struct qkd_secbuf *key = x->key;
    x->key = NULL;
    hyb_xchg_free(x, 0);
    c->ops->get_done(c, QKD_STATUS_SUCCESS, index, key->data, key->len, NULL);
    qkd_secbuf_free(key);
}

static void send_kex(struct hyb_stream *s, uint8_t type, uint32_t index, uint32_t status,
                     uint32_t mask, const uint8_t *tag)
{
    struct hyb_pm_kex m;
    memset(&m, 0, sizeof(m));
    m.ksid = s->ksid;
    m.index = index;
    m.status = status;
    m.mask = mask;
    if (tag) {
        m.has_tag = true;
        memcpy(m.tag, tag, HYB_PM_TAG_LEN);
    }
    hyb_peer_send_kex(s->peer, type, &m);
}

static void send_kex_raw(struct hyb_peer *p, const struct qkd_ksid *ksid, uint8_t type,
                         uint32_t index, uint32_t status)
{
    struct hyb_pm_kex m;
    memset(&m, 0, sizeof(m));
    m.ksid = *ksid;
    m.index = index;
    m.status = status;
    hyb_peer_send_kex(p, type, &m);
}

/* Derives the key from the sources in mask and both confirmation tags. */
static int derive(struct hyb_xchg *x, uint32_t mask, uint8_t tag_i[32], uint8_t tag_r[32])
{
    struct hyb_stream *s = x->s;
    struct hyb *h = s->h;
    uint64_t t0 = qkd_now_us();
    struct hyb_comb_input in[HYB_MAX_SOURCES];
    size_t n = 0;
    for (size_t j = 0; j < x->n; j++) {
        if (!(mask & (1u << j))) continue;
        const struct hyb_xsrc *src = &x->src[j];
        in[n].source = s->req.sources[j].source;
        in[n].secret = src->secret->data;
        in[n].secret_len = src->secret->len;
        in[n].pub = src->pub;
        in[n].pub_len = src->pub_len;
        in[n].msg = src->msg;
        in[n].msg_len = src->msg_len;
        n++;
    }
    qkd_secbuf_free(x->key); /* the responder may derive again over a smaller set */
    x->key = NULL;
    struct hyb_comb_context ctx = {.ksid = s->ksid,
                                   .index = x->index,
                                   .initiator = initiator_uuid(s),
                                   .responder = responder_uuid(s)};
    x->key = qkd_secbuf_new(s->qos.key_chunk_size);
    char err[200];
    if (!x->key || hyb_comb_derive(s->req.method, in, n, &ctx, x->key->data, x->key->len, err,
                                   sizeof(err)) != 0) {
        log_warn("stream %s index %u: combination failed: %s", s->ksid_str, x->index,
                 x->key ? err : "out of memory");
        qkd_secbuf_free(x->key);
        x->key = NULL;
        return -1;
    }
    /* transcript */
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    qkd_write_bytes(&w, CONFIRM_LABEL, sizeof(CONFIRM_LABEL) - 1);
    qkd_write_bytes(&w, s->ksid.b, QKD_KSID_LEN);
    qkd_write_u32(&w, x->index);
    qkd_write_u32(&w, mask);
    qkd_write_u32(&w, (uint32_t)strlen(s->req_text));
    qkd_write_bytes(&w, s->req_text, strlen(s->req_text));
    const char *ids[2] = {initiator_uuid(s), responder_uuid(s)};
    for (int k = 0; k < 2; k++) {
        qkd_write_u32(&w, (uint32_t)strlen(ids[k]));
        qkd_write_bytes(&w, ids[k], strlen(ids[k]));
    }
    for (size_t j = 0; j < x->n; j++) {
        if (!(mask & (1u << j))) continue;
        const char *nm = hyb_source_name(s->req.sources[j].source);
        qkd_write_u32(&w, (uint32_t)strlen(nm));
        qkd_write_bytes(&w, nm, strlen(nm));
        qkd_write_u32(&w, (uint32_t)x->src[j].pub_len);
        qkd_write_bytes(&w, x->src[j].pub, x->src[j].pub_len);
        qkd_write_u32(&w, (uint32_t)x->src[j].msg_len);
        qkd_write_bytes(&w, x->src[j].msg, x->src[j].msg_len);
    }
    uint8_t t[32], kc[32];
    unsigned int tl = 0;
    int rc = w.failed ? -1 : 0;
    if (rc == 0 && EVP_Digest(w.buf, w.len, t, &tl, EVP_sha256(), NULL) != 1) rc = -1;
    qkd_writer_free(&w);
    if (rc == 0)
        rc = hyb_kdf_extract((const uint8_t *)CONFIRM_LABEL, sizeof(CONFIRM_LABEL) - 1,
                             x->key->data, x->key->len, kc);
    if (rc == 0) {
        struct hyb_kdf_bytes pi[2] = {{(const uint8_t *)"initiator", 9}, {t, 32}};
        struct hyb_kdf_bytes pr[2] = {{(const uint8_t *)"responder", 9}, {t, 32}};
        rc = hyb_kdf_hmac_parts(kc, 32, pi, 2, tag_i) | hyb_kdf_hmac_parts(kc, 32, pr, 2, tag_r);
    }
    qkd_wipe(kc, sizeof(kc));
    h->stats.ms_combine += (double)(qkd_now_us() - t0) / 1000.0;
    if (rc != 0) {
        qkd_secbuf_free(x->key);
        x->key = NULL;
    }
    return rc;
}

static void fail_src(struct hyb_xsrc *src, uint8_t status)
{
    qkd_secbuf_free(src->secret);
    src->secret = NULL;
    src->st = HYB_XSRC_FAILED;
    src->fail_status = status ? status : QKD_STATUS_INSUFFICIENT_KEY;
}

static void stats_done(struct hyb_xchg *x, bool ok)
{
    struct hyb *h = x->s->h;
    hyb_metrics_exchange(x, ok, (double)(qkd_now_ms() - x->t_start_ms) / 1000.0);
    if (ok) {
        h->stats.keys_ok++;
        h->stats.ms_total += (double)(qkd_now_ms() - x->t_start_ms);
    } else {
        h->stats.keys_failed++;
    }
}

static void log_fail(struct hyb_xchg *x, uint32_t st, const char *why)
{
    log_info("stream %s index %u: failed at both ends, status %u (%s)", x->s->ksid_str, x->index,
             st, why);
}

/* Key confirmed at this end: the key waits for (or goes to) the local application. */
static void x_confirmed(struct hyb_xchg *x)
{
    del_timers(x);
    for (size_t j = 0; j < x->n; j++)
        xsrc_clear(&x->src[j]);
    x->state = HYB_X_DONE;
    stats_done(x, true);
    deliver(x);
}

/* Initiator: fail the index at both ends. */
static void i_fail(struct hyb_xchg *x, uint32_t st, const char *why)
{
    if (x->init_sent) send_kex(x->s, HYB_PM_RESULT, x->index, st, 0, NULL);
    log_fail(x, st, why);
    stats_done(x, false);
    hyb_xchg_free(x, st);
}

static void i_try_decide(struct hyb_xchg *x)
{
    struct hyb_stream *s = x->s;
    if (x->state != HYB_X_I_WAIT) return;
    for (size_t j = 0; j < x->n; j++) { /* a required source failed here or there: decided */
        if (s->req.sources[j].required && x->src[j].st == HYB_XSRC_FAILED) {
            char why[96];
            snprintf(why, sizeof(why), "required source %s (#%zu) failed",
                     hyb_source_name(s->req.sources[j].source), j + 1);
            return i_fail(x,
                          x->src[j].fail_status == QKD_STATUS_TIMEOUT ? QKD_STATUS_TIMEOUT
                                                                      : QKD_STATUS_INSUFFICIENT_KEY,
                          why);
        }
    }
    if (!x->have_reply) return;
    for (size_t j = 0; j < x->n; j++)
        if (x->src[j].st == HYB_XSRC_PENDING) return; /* our own QKD key is still coming */
    const char *fault = s->h->set.test_fault;
    if (fault && strcmp(fault, "drop-optional") == 0 && !s->h->fault_done) {
        /* tests only: the first optional source that worked here is taken as failed, so the
         * decided set is smaller than REPLY's and the RESULT -> CONFIRM path runs */
        for (size_t j = 0; j < x->n; j++) {
            if (!s->req.sources[j].required && x->src[j].st == HYB_XSRC_OK) {
                fail_src(&x->src[j], QKD_STATUS_INSUFFICIENT_KEY);
                s->h->fault_done = true;
                log_warn("test fault: stream %s index %u: optional source #%zu dropped here",
                         s->ksid_str, x->index, j + 1);
                break;
            }
        }
    }
    uint32_t mask = 0;
    for (size_t j = 0; j < x->n; j++) {
        if (x->src[j].st == HYB_XSRC_OK) mask |= 1u << j;
    }
    if (mask == 0) return i_fail(x, QKD_STATUS_INSUFFICIENT_KEY, "no source produced a secret");
    uint8_t tag_i[32];
    if (derive(x, mask, tag_i, x->tag_peer) != 0)
        return i_fail(x, QKD_STATUS_INSUFFICIENT_KEY, "combination failed");
    if (x->src_timer) qkd_loop_del_timer(s->h->loop, x->src_timer);
    x->src_timer = 0;
    bool early = x->reply_tagged && x->reply_mask == mask;
    if (early && CRYPTO_memcmp(x->tag_peer, x->tag_reply, HYB_PM_TAG_LEN) != 0) {
        qkd_wipe(tag_i, sizeof(tag_i));
        return i_fail(x, QKD_STATUS_INSUFFICIENT_KEY, "key confirmation tag mismatch");
    }
    send_kex(s, HYB_PM_RESULT, x->index, 0, mask, tag_i);
    qkd_wipe(tag_i, sizeof(tag_i));
    if (early) return x_confirmed(x); /* REPLY's tag_R covered this very set: no CONFIRM */
    x->state = HYB_X_I_RESULT;
}

static void send_init(struct hyb_xchg *x)
{
    struct hyb_stream *s = x->s;
    struct hyb_pm_kex m;
    memset(&m, 0, sizeof(m));
    m.ksid = s->ksid;
    m.index = x->index;
    m.n = (uint8_t)x->n;
    for (size_t j = 0; j < x->n; j++) {
        bool kex = s->req.sources[j].source != HYB_SRC_QKD;
        m.item[j].status = (kex && !x->src[j].pub) ? QKD_STATUS_INSUFFICIENT_KEY : 0;
        m.item[j].data = x->src[j].pub;
        m.item[j].len = (uint32_t)x->src[j].pub_len;
    }
    if (hyb_peer_send_kex(s->peer, HYB_PM_INIT, &m) == 0) x->init_sent = true;
}

static void r_maybe_reply(struct hyb_xchg *x)
{
    struct hyb_stream *s = x->s;
    if (x->state != HYB_X_R_LOCAL) return;
    for (size_t j = 0; j < x->n; j++)
        if (x->src[j].st == HYB_XSRC_PENDING) return;
    struct hyb_pm_kex m;
    memset(&m, 0, sizeof(m));
    m.ksid = s->ksid;
    m.index = x->index;
    m.n = (uint8_t)x->n;
    uint32_t mask = 0;
    bool required_ok = true;
    for (size_t j = 0; j < x->n; j++) {
        m.item[j].status = x->src[j].st == HYB_XSRC_OK ? 0 : x->src[j].fail_status;
        if (x->src[j].st == HYB_XSRC_OK) {
            m.item[j].data = x->src[j].msg;
            m.item[j].len = (uint32_t)x->src[j].msg_len;
            mask |= 1u << j;
        } else if (s->req.sources[j].required) {
            required_ok = false;
        }
    }
    /* Early confirmation: K over every source that succeeded here and tag_R over it. The key
     * is released here only after RESULT's tag_I; the initiator releases on this tag_R when
     * it decides the same set. */
    uint8_t tag_r[HYB_PM_TAG_LEN];
    if (required_ok && mask != 0 && derive(x, mask, x->tag_peer, tag_r) == 0) {
        m.mask = mask;
        m.has_tag = true;
        memcpy(m.tag, tag_r, HYB_PM_TAG_LEN);
        x->reply_tagged = true;
        x->reply_mask = mask;
    }
    qkd_wipe(tag_r, sizeof(tag_r));
    if (x->src_timer) qkd_loop_del_timer(s->h->loop, x->src_timer);
    x->src_timer = 0;
    x->state = HYB_X_R_REPLIED;
    hyb_peer_send_kex(s->peer, HYB_PM_REPLY, &m);
    qkd_wipe(m.tag, sizeof(m.tag));
}

static void deadline_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct hyb_xchg *x = arg;
    x->deadline_timer = 0;
    if (x->state == HYB_X_DONE) return;
    if (x->s->role == HYB_INITIATOR) return i_fail(x, QKD_STATUS_TIMEOUT, "timeout");
    log_fail(x, QKD_STATUS_TIMEOUT, "no decision from the initiator in time");
    stats_done(x, false);
    hyb_xchg_free(x, QKD_STATUS_TIMEOUT);
}

/* Half the timeout: optional sources still pending drop out (at the responder every pending
 * source is reported as timed out, so the initiator can decide in time). */
static void src_timer_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct hyb_xchg *x = arg;
    struct hyb_stream *s = x->s;
    x->src_timer = 0;
    for (size_t j = 0; j < x->n; j++) {
        if (x->src[j].st != HYB_XSRC_PENDING) continue;
        if (s->role == HYB_RESPONDER || !s->req.sources[j].required)
            fail_src(&x->src[j], QKD_STATUS_TIMEOUT);
    }
    if (s->role == HYB_RESPONDER)
        r_maybe_reply(x);
    else
        i_try_decide(x);
}

static void arm_timers(struct hyb_xchg *x, uint64_t deadline_ms)
{
    struct hyb_stream *s = x->s;
    uint32_t t = hyb_stream_timeout(s);
    del_timers(x);
    x->deadline_timer = qkd_loop_add_timer(s->h->loop, deadline_ms, deadline_cb, x);
    x->src_timer = qkd_loop_add_timer(s->h->loop, t / 2 ? t / 2 : 1, src_timer_cb, x);
}

static void initiator_start(struct hyb_xchg *x)
{
    struct hyb_stream *s = x->s;
    struct hyb *h = s->h;
    for (size_t j = 0; j < x->n; j++) {
        enum hyb_source src = s->req.sources[j].source;
        if (src == HYB_SRC_QKD) {
            if (hyb_stream_qkd_get(s, j, x->xid, x->index) != 0)
                fail_src(&x->src[j], QKD_STATUS_INSUFFICIENT_KEY);
            continue;
        }
        uint64_t t0 = qkd_now_us();
        if (hyb_kem_initiate(src, &x->src[j].kem, &x->src[j].pub, &x->src[j].pub_len) != 0)
            fail_src(&x->src[j], QKD_STATUS_INSUFFICIENT_KEY);
        h->stats.ms_kem += (double)(qkd_now_us() - t0) / 1000.0;
    }
    arm_timers(x, hyb_stream_timeout(s));
    send_init(x);
}

static void waiter_timeout(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct hyb_call *c = arg;
    c->timer = 0;
    struct hyb_xchg *x = c->x;
    if (x) {
        x->waiter = NULL;
        c->x = NULL;
    }
    c->ops->get_done(c, QKD_STATUS_TIMEOUT, c->index, NULL, 0, "timeout");
}

static void attach_waiter(struct hyb_xchg *x, struct hyb_call *c)
{
    x->waiter = c;
    c->x = x;
    c->timer = qkd_loop_add_timer(x->s->h->loop, hyb_stream_timeout(x->s), waiter_timeout, c);
}

/* Checks whether a new exchange may start for index (the stream's window and --max-pending);
 * 0, or an ETSI status and why. */
static uint32_t may_start(const struct hyb_stream *s, uint32_t index, const char **why)
{
    enum qkd_window_state w = qkd_window_state(&s->win, index);
    *why = w == QKD_WINDOW_DELIVERED ? "index already delivered"
           : w == QKD_WINDOW_OUTSIDE ? "index outside the window"
                                     : "too many pending indices";
    if (w != QKD_WINDOW_OPEN || s->nxs >= s->h->set.max_pending) return QKD_STATUS_INSUFFICIENT_KEY;
    return 0;
}

void hyb_xchg_get(struct hyb_stream *s, struct hyb_call *c, uint32_t index)
{
    struct hyb *h = s->h;
    struct hyb_xchg *x = xchg_find(s, index);
    if (x) {
        if (x->waiter)
            return c->ops->get_done(c, QKD_STATUS_INSUFFICIENT_KEY, index, NULL, 0,
                                    "index already requested");
        attach_waiter(x, c);
        deliver(x);
        return;
    }
    const char *why;
    uint32_t st = may_start(s, index, &why);
    if (st) return c->ops->get_done(c, st, index, NULL, 0, why);
    if (s->peer_closed)
        return c->ops->get_done(c, QKD_STATUS_PEER_APP_NOT_CONNECTED, index, NULL, 0,
                                "the peer closed the stream");
    if (s->role == HYB_INITIATOR) {
        x = xchg_new(s, index, HYB_X_I_WAIT);
        if (!x) return c->ops->get_done(c, 2, index, NULL, 0, "out of memory");
        attach_waiter(x, c);
        initiator_start(x);
    } else {
        x = xchg_new(s, index, HYB_X_WANT_SENT);
        if (!x) return c->ops->get_done(c, 2, index, NULL, 0, "out of memory");
        attach_waiter(x, c);
        del_timers(x);
        x->deadline_timer =
            qkd_loop_add_timer(h->loop, 2ull * hyb_stream_timeout(s), deadline_cb, x);
        send_kex(s, HYB_PM_WANT, index, 0, 0, NULL);
    }
}

void hyb_xchg_peer_up(struct hyb_stream *s)
{
    for (struct hyb_xchg *x = s->xs; x; x = x->next) {
        if (x->state == HYB_X_I_WAIT && !x->init_sent) send_init(x);
        if (x->state == HYB_X_WANT_SENT) send_kex(s, HYB_PM_WANT, x->index, 0, 0, NULL);
    }
}

/* Responder: INIT for (ksid, index). */
static void on_init(struct hyb_peer *p, struct hyb_stream *s, const struct hyb_pm_kex *m)
{
    struct hyb *h = p->h;
    struct hyb_xchg *x = xchg_find(s, m->index);
    if (x && x->state != HYB_X_WANT_SENT) {
        log_warn("peer %s: INIT for %s index %u, which is already running here; refused",
                 p->cfg->name, s->ksid_str, m->index);
        return send_kex_raw(p, &s->ksid, HYB_PM_REPLY, m->index, QKD_STATUS_INSUFFICIENT_KEY);
    }
    if (!x) {
        const char *why;
        uint32_t st = may_start(s, m->index, &why);
        if (st == 0 && m->n != s->req.n_sources) st = QKD_STATUS_INSUFFICIENT_KEY;
        if (st) return send_kex_raw(p, &s->ksid, HYB_PM_REPLY, m->index, st);
        x = xchg_new(s, m->index, HYB_X_R_LOCAL);
        if (!x) return send_kex_raw(p, &s->ksid, HYB_PM_REPLY, m->index, 2);
    }
    if (m->n != x->n) {
        hyb_xchg_free(x, QKD_STATUS_INSUFFICIENT_KEY);
        return send_kex_raw(p, &s->ksid, HYB_PM_REPLY, m->index, QKD_STATUS_INSUFFICIENT_KEY);
    }
    x->state = HYB_X_R_LOCAL;
    for (size_t j = 0; j < x->n; j++) {
        enum hyb_source src = s->req.sources[j].source;
        struct hyb_xsrc *xs = &x->src[j];
        if (src == HYB_SRC_QKD) {
            if (hyb_stream_qkd_get(s, j, x->xid, x->index) != 0)
                fail_src(xs, QKD_STATUS_INSUFFICIENT_KEY);
            continue;
        }
        const struct hyb_pm_item *it = &m->item[j];
        if (it->status != 0 || it->len == 0) {
            fail_src(xs, it->status);
            continue;
        }
        xs->pub = malloc(it->len);
        if (!xs->pub) {
            fail_src(xs, QKD_STATUS_INSUFFICIENT_KEY);
            continue;
        }
        memcpy(xs->pub, it->data, it->len);
        xs->pub_len = it->len;
        uint64_t t0 = qkd_now_us();
        if (hyb_kem_respond(src, xs->pub, xs->pub_len, &xs->msg, &xs->msg_len, &xs->secret) == 0) {
            xs->st = HYB_XSRC_OK;
        } else {
            log_warn("peer %s: %s index %u: %s public key refused", p->cfg->name, s->ksid_str,
                     m->index, hyb_source_name(src));
            fail_src(xs, QKD_STATUS_INSUFFICIENT_KEY);
        }
        h->stats.ms_kem += (double)(qkd_now_us() - t0) / 1000.0;
    }
    uint64_t t = hyb_stream_timeout(s);
    arm_timers(x, 2 * t);
    r_maybe_reply(x);
}

/* Initiator: REPLY. */
static void on_reply(struct hyb_peer *p, struct hyb_stream *s, const struct hyb_pm_kex *m)
{
    struct hyb *h = p->h;
    struct hyb_xchg *x = xchg_find(s, m->index);
    if (!x || x->state != HYB_X_I_WAIT || !x->init_sent || x->have_reply) {
        log_debug("peer %s: stray REPLY for %s index %u", p->cfg->name, s->ksid_str, m->index);
        return;
    }
    if (m->status != 0) {
        log_fail(x, m->status, "refused by the responder");
        stats_done(x, false);
        return hyb_xchg_free(x, m->status);
    }
    if (m->n != x->n) return i_fail(x, QKD_STATUS_INSUFFICIENT_KEY, "malformed REPLY");
    x->have_reply = true;
    if (m->has_tag) {
        x->reply_tagged = true;
        x->reply_mask = m->mask;
        memcpy(x->tag_reply, m->tag, HYB_PM_TAG_LEN);
    }
    for (size_t j = 0; j < x->n; j++) {
        struct hyb_xsrc *xs = &x->src[j];
        const struct hyb_pm_item *it = &m->item[j];
        enum hyb_source src = s->req.sources[j].source;
        if (it->status != 0) {
            if (xs->st != HYB_XSRC_FAILED) fail_src(xs, it->status);
            continue;
        }
        if (src == HYB_SRC_QKD || xs->st != HYB_XSRC_PENDING || !xs->kem) continue;
        xs->msg = malloc(it->len ? it->len : 1);
        if (!xs->msg) {
            fail_src(xs, 2);
            continue;
        }
        memcpy(xs->msg, it->data, it->len);
        xs->msg_len = it->len;
        uint64_t t0 = qkd_now_us();
        if (hyb_kem_finish(xs->kem, xs->msg, xs->msg_len, &xs->secret) == 0) {
            xs->st = HYB_XSRC_OK;
        } else {
            log_warn("peer %s: %s index %u: %s reply refused", p->cfg->name, s->ksid_str, m->index,
                     hyb_source_name(src));
            fail_src(xs, QKD_STATUS_INSUFFICIENT_KEY);
        }
        h->stats.ms_kem += (double)(qkd_now_us() - t0) / 1000.0;
        hyb_kem_initiator_free(xs->kem);
        xs->kem = NULL;
    }
    i_try_decide(x);
}

/* Responder: RESULT. */
static void on_result(struct hyb_peer *p, struct hyb_stream *s, const struct hyb_pm_kex *m)
{
    struct hyb_xchg *x = xchg_find(s, m->index);
    if (!x || x->state == HYB_X_DONE) return;
    if (m->status != 0) {
        log_fail(x, m->status, "the initiator's decision");
        stats_done(x, false);
        return hyb_xchg_free(x, m->status);
    }
    const char *why = NULL;
    if (x->state != HYB_X_R_REPLIED || !m->has_tag) why = "unexpected RESULT";
    for (size_t j = 0; !why && j < x->n; j++) {
        bool in = m->mask & (1u << j);
        if (in && x->src[j].st != HYB_XSRC_OK) why = "source set names a source that failed here";
        if (!in && s->req.sources[j].required) why = "source set lacks a required source";
    }
    if (!why && (m->mask >> x->n) != 0) why = "source set out of range";
    uint8_t tag_i[32], tag_r[32];
    /* the set REPLY's tag covered: K and the expected tag_I are already here, no CONFIRM */
    bool early = x->reply_tagged && m->mask == x->reply_mask;
    if (!why && early) memcpy(tag_i, x->tag_peer, sizeof(tag_i));
    if (!why && !early && derive(x, m->mask, tag_i, tag_r) != 0) why = "combination failed";
    if (!why && CRYPTO_memcmp(tag_i, m->tag, 32) != 0) why = "key confirmation tag mismatch";
    if (why) {
        log_warn("peer %s: %s index %u: %s; failing the index at both ends", p->cfg->name,
                 s->ksid_str, m->index, why);
        send_kex(s, HYB_PM_CONFIRM, m->index, QKD_STATUS_INSUFFICIENT_KEY, 0, NULL);
        stats_done(x, false);
        return hyb_xchg_free(x, QKD_STATUS_INSUFFICIENT_KEY);
    }
    if (!early) {
        log_debug("stream %s index %u: the initiator's source set differs from REPLY's; CONFIRM "
                  "over its set",
                  s->ksid_str, m->index);
        send_kex(s, HYB_PM_CONFIRM, m->index, 0, m->mask, tag_r);
    }
    qkd_wipe(tag_r, sizeof(tag_r));
    qkd_wipe(tag_i, sizeof(tag_i));
    x_confirmed(x);
}

/* Initiator: CONFIRM. */
static void on_confirm(struct hyb_peer *p, struct hyb_stream *s, const struct hyb_pm_kex *m)
{
    struct hyb_xchg *x = xchg_find(s, m->index);
    if (!x || x->state != HYB_X_I_RESULT) return;
    if (m->status != 0 || !m->has_tag || CRYPTO_memcmp(x->tag_peer, m->tag, 32) != 0) {
        log_warn("peer %s: %s index %u: %s", p->cfg->name, s->ksid_str, m->index,
                 m->status ? "the responder refused the key" : "key confirmation tag mismatch");
        stats_done(x, false);
        return hyb_xchg_free(x, QKD_STATUS_INSUFFICIENT_KEY);
    }
    x_confirmed(x);
}

/* Initiator: WANT (the responder's application asked first). */
static void on_want(struct hyb_peer *p, struct hyb_stream *s, const struct hyb_pm_kex *m)
{
    struct hyb_xchg *x = xchg_find(s, m->index);
    if (x) {
        if (x->state == HYB_X_DONE)
            send_kex_raw(p, &s->ksid, HYB_PM_RESULT, m->index, QKD_STATUS_INSUFFICIENT_KEY);
        return; /* INIT already sent (or sent once the link is up) */
    }
    const char *why;
    uint32_t st = may_start(s, m->index, &why);
    if (st) return send_kex_raw(p, &s->ksid, HYB_PM_RESULT, m->index, st);
    x = xchg_new(s, m->index, HYB_X_I_WAIT);
    if (!x) return send_kex_raw(p, &s->ksid, HYB_PM_RESULT, m->index, 2);
    initiator_start(x);
}

void hyb_xchg_on_msg(struct hyb_peer *p, uint8_t type, const struct hyb_pm_kex *m)
{
    struct hyb_stream *s = hyb_stream_find(p->h, &m->ksid);
    bool ok_role = s && s->peer == p &&
                   (s->role == HYB_INITIATOR) ==
                       (type == HYB_PM_WANT || type == HYB_PM_REPLY || type == HYB_PM_CONFIRM);
    if (!ok_role) {
        /* unknown stream: answer WANT and INIT with status 3 so the peer fails fast */
        if (type == HYB_PM_WANT)
            send_kex_raw(p, &m->ksid, HYB_PM_RESULT, m->index, QKD_STATUS_PEER_APP_NOT_CONNECTED);
        else if (type == HYB_PM_INIT)
            send_kex_raw(p, &m->ksid, HYB_PM_REPLY, m->index, QKD_STATUS_PEER_APP_NOT_CONNECTED);
        return;
    }
    switch (type) {
    case HYB_PM_WANT:
        return on_want(p, s, m);
    case HYB_PM_INIT:
        return on_init(p, s, m);
    case HYB_PM_REPLY:
        return on_reply(p, s, m);
    case HYB_PM_RESULT:
        return on_result(p, s, m);
    case HYB_PM_CONFIRM:
        return on_confirm(p, s, m);
    default:
        return;
    }
}

void hyb_xchg_on_qkd(struct hyb_stream *s, struct hyb_qjob *j)
{
    struct hyb_xchg *x = xchg_find(s, j->index);
    if (!x || x->xid != j->xid || j->slot >= x->n) return;
    struct hyb_xsrc *xs = &x->src[j->slot];
    if (xs->st != HYB_XSRC_PENDING) return;
    if (j->rc == QKD004_OK && j->status == QKD_STATUS_SUCCESS && j->key) {
        xs->secret = j->key;
        j->key = NULL;
        xs->st = HYB_XSRC_OK;
    } else {
        uint8_t st = (j->rc == QKD004_ERR_TIMEOUT || j->status == QKD_STATUS_TIMEOUT)
                         ? QKD_STATUS_TIMEOUT
                         : QKD_STATUS_INSUFFICIENT_KEY;
        log_info("stream %s index %u: QKD key (source #%u) unavailable: %s", s->ksid_str, x->index,
                 j->slot + 1, j->rc != QKD004_OK ? j->err : qkd_status_str(j->status));
        fail_src(xs, st);
    }
    if (s->role == HYB_RESPONDER)
        r_maybe_reply(x);
    else
        i_try_decide(x);
}
