/* stream.c: hybrid streams (KSIDs): OPEN_CONNECT at the initiator (new KSID, QKD streams at the
 * node's key server, ANNOUNCE to the peer) and at the responder (claims the oldest live matching
 * announcement, or waits for one), GET_KEY of the owning application (handed to xchg.c with the
 * stream), CLOSE (local, from the peer, or when a JSON application's connection ends),
 * re-announcement when a peer link comes back, and the TTL sweep. A stream owns its window of
 * delivered indices (common/window.c) and its QKD jobs: every OPEN, GET and CLOSE at the key
 * server is made and answered here. */
#include "hyb.h"

#include "log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#define SWEEP_MS 1000
/* The Python module's reply to a responder whose initiator never came (its status 1). */
#define NOT_STARTED_MSG "The client peer did not start the session"

struct hyb_stream *hyb_stream_find(struct hyb *h, const struct qkd_ksid *ksid)
{
    for (struct hyb_stream *s = h->streams; s; s = s->next)
        if (memcmp(s->ksid.b, ksid->b, QKD_KSID_LEN) == 0) return s;
    return NULL;
}

static struct hyb_stream *stream_new(struct hyb *h, const struct qkd_ksid *ksid, enum hyb_role role,
                                     struct hyb_peer *p)
{
    struct hyb_stream *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    qkd_window_init(&s->win, h->set.window);
    if (qkd_window_reserve(&s->win) != 0) { /* marking a delivered index never fails */
        free(s);
        return NULL;
    }
    s->h = h;
    s->ksid = *ksid;
    qkd_ksid_to_str(ksid, s->ksid_str);
    s->role = role;
    s->peer = p;
    s->last_call_ms = qkd_now_ms();
    /* append: the oldest unclaimed announcement is found first */
    struct hyb_stream **tail = &h->streams, *prev = NULL;
    while (*tail) {
        prev = *tail;
        tail = &(*tail)->next;
    }
    *tail = s;
    s->prev = prev;
    h->nstreams++;
    return s;
}

static void qkd_close_jobs(struct hyb_stream *s)
{
    for (size_t j = 0; j < s->req.n_sources; j++) {
        if (s->req.sources[j].source != HYB_SRC_QKD || qkd_ksid_is_zero(&s->qkd[j].ksid)) continue;
        if (!s->qkd[j].open && s->role == HYB_RESPONDER) continue;
        struct hyb_qjob *jb = hyb_qjob_new(HYB_QJ_CLOSE);
        if (!jb) continue;
        jb->ksid = s->qkd[j].ksid;
        jb->owner = s->ksid;
        if (hyb_qkdw_submit(s->h->qw, jb) != 0) hyb_qjob_free(jb);
    }
}

void hyb_stream_free(struct hyb_stream *s)
{
    struct hyb *h = s->h;
    while (s->xs)
        hyb_xchg_free(s->xs, QKD_STATUS_PEER_APP_NOT_CONNECTED);
    if (s->open_call) {
        struct hyb_call *c = s->open_call;
        s->open_call = NULL;
        c->open_stream = NULL;
        c->ops->open_done(c, QKD_STATUS_NO_QKD_CONNECTION, NULL, NULL, "stream closed");
    }
    if (s->prev)
        s->prev->next = s->next;
    else if (h->streams == s)
        h->streams = s->next;
    if (s->next) s->next->prev = s->prev;
    h->nstreams--;
    qkd_window_free(&s->win);
    qkd_wipe(s, sizeof(*s));
    free(s);
}

/* Ends this end of s as CLOSE does: tells the peer, closes its QKD streams, frees it. */
static void stream_end(struct hyb_stream *s)
{
    struct hyb_pm_kex m;
    memset(&m, 0, sizeof(m));
    m.ksid = s->ksid;
    hyb_peer_send_kex(s->peer, HYB_PM_CLOSE, &m);
    qkd_close_jobs(s);
    hyb_stream_free(s);
}

static void qkd_uris(struct hyb_stream *s, struct hyb_qjob *jb)
{
    snprintf(jb->source, sizeof(jb->source), "hybrid://qkd-hybrid@%s", s->h->cfg->name);
    snprintf(jb->destination, sizeof(jb->destination), "hybrid://qkd-hybrid@%s",
             s->peer->cfg->name);
    jb->qos = s->qos;
    uint32_t t = hyb_stream_timeout(s) / 2;
    if (t > HYB_QKD_CALL_MS - 5000) t = HYB_QKD_CALL_MS - 5000;
    jb->qos.timeout = t ? t : 1;
    snprintf(jb->qos.metadata_mimetype, sizeof(jb->qos.metadata_mimetype), "%s", QKD_MIMETYPE_JSON);
}

/* A QKD GET job for source j of s (re-attaching first when this end is not attached). */
int hyb_stream_qkd_get(struct hyb_stream *s, size_t j, uint64_t xid, uint32_t index)
{
    if (qkd_ksid_is_zero(&s->qkd[j].ksid)) return -1;
    struct hyb_qjob *jb = hyb_qjob_new(HYB_QJ_GET);
    if (!jb) return -1;
    qkd_uris(s, jb);
    jb->ksid = s->qkd[j].ksid;
    jb->owner = s->ksid;
    jb->slot = (unsigned)j;
    jb->open_first = !s->qkd[j].open;
    jb->xid = xid;
    jb->index = index;
    if (hyb_qkdw_submit(s->h->qw, jb) != 0) {
        hyb_qjob_free(jb);
        return -1;
    }
    return 0;
}

static void send_announce(struct hyb_stream *s)
{
    struct hyb_pm_announce a;
    memset(&a, 0, sizeof(a));
    a.ksid = s->ksid;
    snprintf(a.request, sizeof(a.request), "%s", s->req_text);
    snprintf(a.dest_app, sizeof(a.dest_app), "%s", s->dest_app);
    a.qos = s->qos;
    a.nqkd = (uint8_t)s->req.n_sources;
    for (size_t j = 0; j < s->req.n_sources; j++)
        a.qkd[j] = s->qkd[j].ksid;
    struct qkd_writer w;
    qkd_writer_init(&w, HYB_PM_MAX_PAYLOAD);
    if (hyb_pm_announce_encode(&a, &w) == 0) hyb_peer_send(s->peer, HYB_PM_ANNOUNCE, w.buf, w.len);
    qkd_writer_free(&w);
}

/* Initiator: QKD streams are open (or failed); announce and answer the application. */
static void initiator_ready(struct hyb_stream *s, uint32_t status)
{
    if (s->orphan) { /* nobody has its KSID: never announced, never joined */
        log_info("OPEN_CONNECT %s: its application left before the answer; closed", s->ksid_str);
        qkd_close_jobs(s);
        hyb_stream_free(s);
        return;
    }
    for (size_t j = 0; j < s->req.n_sources; j++) {
        if (s->req.sources[j].source == HYB_SRC_QKD && s->req.sources[j].required &&
            !s->qkd[j].open) {
            log_warn("OPEN_CONNECT %s: required QKD source unavailable (key server %s)",
                     s->ksid_str, s->h->cfg->kme.address);
            struct hyb_call *c = s->open_call;
            s->open_call = NULL;
            if (c) c->open_stream = NULL;
            qkd_close_jobs(s);
            hyb_stream_free(s);
            if (c)
                c->ops->open_done(c, QKD_STATUS_NO_QKD_CONNECTION, NULL, NULL,
                                  "required QKD source unavailable");
            return;
        }
    }
    send_announce(s);
    bool up = hyb_peer_up(s->peer);
    if (status == QKD_STATUS_SUCCESS && !up) status = QKD_STATUS_PEER_NOT_CONNECTED;
    log_info("OPEN_CONNECT %s: initiator, peer %s, %s (peer link %s)", s->ksid_str,
             s->peer->cfg->name, s->req_text, up ? "up" : "down");
    struct hyb_call *c = s->open_call;
    s->open_call = NULL;
    if (c) {
        c->open_stream = NULL;
        c->ops->open_done(c, status, &s->qos, &s->ksid, NULL);
    }
}

static void on_qkd_open(struct hyb *h, struct hyb_stream *s, struct hyb_qjob *j)
{
    bool ok = j->rc == QKD004_OK && (qkd_status_ok(j->status) || j->status == 5);
    if (!ok)
        log_warn("stream %s: QKD OPEN_CONNECT at %s failed: %s", s->ksid_str, h->cfg->kme.address,
                 j->rc != QKD004_OK ? j->err : qkd_status_str(j->status));
    if (j->slot < s->req.n_sources) {
        if (ok && s->role == HYB_INITIATOR) s->qkd[j->slot].ksid = j->out_ksid;
        s->qkd[j->slot].open = ok;
    }
    if (s->role == HYB_INITIATOR && s->opening > 0 && --s->opening == 0)
        initiator_ready(s, (uint32_t)j->xid);
}

void hyb_stream_on_qkd(struct hyb *h, struct hyb_qjob *j)
{
    if (j->kind == HYB_QJ_CLOSE) {
        if (j->rc != QKD004_OK) log_debug("QKD CLOSE at the key server failed: %s", j->err);
        return;
    }
    if (j->kind == HYB_QJ_GET) {
        h->stats.ms_qkd += (double)j->elapsed_us / 1000.0;
        h->stats.n_qkd++;
    }
    struct hyb_stream *s = hyb_stream_find(h, &j->owner);
    if (!s) return;
    if (j->kind == HYB_QJ_OPEN) return on_qkd_open(h, s, j);
    if (j->open_first && j->slot < s->req.n_sources && j->rc == QKD004_OK &&
        (j->key || j->status != QKD_STATUS_PEER_APP_NOT_CONNECTED))
        s->qkd[j->slot].open = true; /* attached by this GET */
    hyb_xchg_on_qkd(s, j);
}

/* QoS negotiation. Returns the status (0, 7; 6 for an ETSI Timeout of 0). */
static uint32_t negotiate(struct hyb *h, const struct hyb_call *c, const struct qkd_qos *in,
                          struct qkd_qos *out)
{
    uint32_t st = QKD_STATUS_SUCCESS;
    *out = *in;
    out->metadata_mimetype[QKD_MIMETYPE_MAX - 1] = '\0';
    if (out->key_chunk_size == 0) {
        out->key_chunk_size = h->set.def_chunk;
        if (!c->json) st = QKD_STATUS_QOS_NOT_MET;
    } else if (out->key_chunk_size > h->set.max_chunk) {
        out->key_chunk_size = h->set.max_chunk;
        st = QKD_STATUS_QOS_NOT_MET;
    }
    if (out->timeout == 0) {
        if (!c->json) return QKD_STATUS_TIMEOUT;
        out->timeout = h->set.def_timeout_ms;
    }
    if (out->ttl == 0) out->ttl = h->set.def_ttl_s;
    if (out->ttl > h->set.max_ttl_s) {
        out->ttl = h->set.max_ttl_s;
        st = QKD_STATUS_QOS_NOT_MET;
    }
    if (out->metadata_mimetype[0] && strcmp(out->metadata_mimetype, QKD_MIMETYPE_JSON) != 0) {
        snprintf(out->metadata_mimetype, sizeof(out->metadata_mimetype), "%s", QKD_MIMETYPE_JSON);
        st = QKD_STATUS_QOS_NOT_MET;
    }
    return c->json ? QKD_STATUS_SUCCESS : st;
}

static bool announce_matches(const struct hyb_stream *s, const struct hyb_call *c)
{
    return s->role == HYB_RESPONDER && strcmp(s->req_text, c->req_text) == 0 &&
           strcmp(s->dest_app, c->dest_app) == 0;
}

/* Responder: may an application that pairs by request join s? Only while its initiator's
 * application is there: not claimed yet, not closed by the initiator, and (after a broken
 * peer link) announced again by the initiator, which re-announces the streams it still has. */
static bool joinable(const struct hyb_stream *s)
{
    return !s->claimed && !s->peer_closed && !s->unconfirmed;
}

static void claim(struct hyb_stream *s, struct hyb_call *c)
{
    s->claimed = true;
    snprintf(s->owner, sizeof(s->owner), "%s", c->identity);
    s->app_fe = c->json ? c->fe : NULL;
    s->last_call_ms = qkd_now_ms();
    log_info("OPEN_CONNECT %s: responder, peer %s, %s", s->ksid_str, s->peer->cfg->name,
             s->req_text);
    c->ops->open_done(c, QKD_STATUS_SUCCESS, &s->qos, &s->ksid, NULL);
}

static void open_wait_unlink(struct hyb_call *c)
{
    struct hyb *h = c->h;
    if (!c->in_open_list) return;
    if (c->prev)
        c->prev->next = c->next;
    else if (h->open_waiters == c)
        h->open_waiters = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    c->in_open_list = false;
    h->nopen_waiters--;
    if (c->timer) qkd_loop_del_timer(h->loop, c->timer);
    c->timer = 0;
}

static void open_wait_timeout(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct hyb_call *c = arg;
    c->timer = 0;
    open_wait_unlink(c);
    log_info("OPEN_CONNECT %s: responder, no live stream from %s within the Timeout", c->req_text,
             c->req.node);
    if (c->json) /* as the Python module answers */
        c->ops->open_done(c, QKD_STATUS_PEER_NOT_CONNECTED, NULL, NULL, NOT_STARTED_MSG);
    else
        c->ops->open_done(c, QKD_STATUS_TIMEOUT, NULL, NULL,
                          "no announcement from the initiator within the timeout");
}

void hyb_call_cancel(struct hyb_call *c)
{
    struct hyb *h = c->h;
    open_wait_unlink(c);
    if (c->open_stream) {
        c->open_stream->open_call = NULL;
        c->open_stream->orphan = true;
        c->open_stream = NULL;
    }
    if (c->x) {
        c->x->waiter = NULL;
        c->x = NULL;
    }
    if (c->timer) qkd_loop_del_timer(h->loop, c->timer);
    c->timer = 0;
    c->kind = HYB_CALL_NONE;
}

static void open_fail(struct hyb_call *c, uint32_t st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void open_fail(struct hyb_call *c, uint32_t st, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_info("OPEN_CONNECT refused: %s", msg);
    c->ops->open_done(c, st, NULL, NULL, msg);
}

void hyb_app_open(struct hyb *h, struct hyb_call *c, const char *source, const char *destination,
                  const struct qkd_qos *qos, const struct qkd_ksid *ksid)
{
    char err[512];
    struct hyb_dest dest;
    c->kind = HYB_CALL_OPEN;
    if (hyb_request_parse(source, &c->req, err, sizeof(err)) != 0)
        return open_fail(c, QKD_STATUS_NO_QKD_CONNECTION, "source: %s", err);
    if (hyb_dest_parse(destination, &dest, err, sizeof(err)) != 0)
        return open_fail(c, QKD_STATUS_NO_QKD_CONNECTION, "destination: %s", err);
    struct hyb_peer *p = NULL;
    enum hyb_role role;
    if (hyb_config_is_self(h->cfg, c->req.node)) {
        role = HYB_INITIATOR;
        p = hyb_peer_by_name(h, dest.node);
        if (!p)
            return open_fail(c, QKD_STATUS_NO_QKD_CONNECTION,
                             "destination node '%s' is not a configured peer", dest.node);
        snprintf(c->req.node, sizeof(c->req.node), "%s", h->cfg->name);
    } else if (hyb_config_is_self(h->cfg, dest.node)) {
        role = HYB_RESPONDER;
        p = hyb_peer_by_name(h, c->req.node);
        if (!p)
            return open_fail(c, QKD_STATUS_NO_QKD_CONNECTION,
                             "source node '%s' is not a configured peer", c->req.node);
        snprintf(c->req.node, sizeof(c->req.node), "%s", p->cfg->name);
    } else {
        return open_fail(c, QKD_STATUS_NO_QKD_CONNECTION,
                         "neither the source nor the destination names this node (%s)",
                         h->cfg->name);
    }
    if (hyb_request_format(&c->req, c->req_text, sizeof(c->req_text)) != 0)
        return open_fail(c, QKD_STATUS_NO_QKD_CONNECTION, "%s", "request too long");
    snprintf(c->dest_app, sizeof(c->dest_app), "%s", dest.app);
    struct qkd_qos q;
    uint32_t st = negotiate(h, c, qos, &q);
    if (st == QKD_STATUS_TIMEOUT) return open_fail(c, st, "%s", "Timeout 0 cannot be met");
    c->want_ksid = *ksid;

    if (role == HYB_RESPONDER) {
        struct hyb_stream *found = NULL;
        if (!qkd_ksid_is_zero(ksid)) {
            found = hyb_stream_find(h, ksid);
            if (found && (found->claimed || !announce_matches(found, c) || found->peer != p))
                return open_fail(
                    c, found->claimed ? QKD_STATUS_KSID_IN_USE : QKD_STATUS_NO_QKD_CONNECTION, "%s",
                    "KSID in use or announced for another request");
        } else {
            /* by request: the oldest live one; never one its initiator closed */
            for (struct hyb_stream *s = h->streams; s && !found; s = s->next)
                if (joinable(s) && s->peer == p && announce_matches(s, c)) found = s;
        }
        if (found) return claim(found, c);
        if (h->nopen_waiters >= HYB_OPEN_WAIT_MAX)
            return open_fail(c, QKD_STATUS_NO_QKD_CONNECTION, "%s",
                             "too many OPEN_CONNECTs waiting for announcements");
        c->in_open_list = true;
        c->next = h->open_waiters;
        c->prev = NULL;
        if (h->open_waiters) h->open_waiters->prev = c;
        h->open_waiters = c;
        h->nopen_waiters++;
        c->timer = qkd_loop_add_timer(h->loop, q.timeout, open_wait_timeout, c);
        log_debug("OPEN_CONNECT %s: waiting for the announcement from %s", c->req_text,
                  p->cfg->name);
        return;
    }

    /* initiator */
    struct qkd_ksid k = *ksid;
    if (!qkd_ksid_is_zero(&k) && hyb_stream_find(h, &k))
        return open_fail(c, QKD_STATUS_KSID_IN_USE, "%s", "KSID already in use");
    if (h->nstreams >= h->set.max_streams)
        return open_fail(c, QKD_STATUS_NO_QKD_CONNECTION, "%s", "too many open streams");
    if (qkd_ksid_is_zero(&k)) uuid_generate_random(k.b);
    struct hyb_stream *s = stream_new(h, &k, HYB_INITIATOR, p);
    if (!s) return open_fail(c, QKD_STATUS_NO_QKD_CONNECTION, "%s", "out of memory");
    s->req = c->req;
    snprintf(s->req_text, sizeof(s->req_text), "%s", c->req_text);
    snprintf(s->dest_app, sizeof(s->dest_app), "%s", c->dest_app);
    s->qos = q;
    s->claimed = true;
    snprintf(s->owner, sizeof(s->owner), "%s", c->identity);
    s->app_fe = c->json ? c->fe : NULL;
    s->open_call = c;
    c->open_stream = s;
    for (size_t j = 0; j < s->req.n_sources; j++) {
        if (s->req.sources[j].source != HYB_SRC_QKD) continue;
        struct hyb_qjob *jb = hyb_qjob_new(HYB_QJ_OPEN);
        if (!jb) continue;
        qkd_uris(s, jb);
        jb->owner = s->ksid;
        jb->slot = (unsigned)j;
        jb->xid = st; /* the negotiated status, carried to initiator_ready */
        if (hyb_qkdw_submit(h->qw, jb) != 0) {
            hyb_qjob_free(jb);
            continue;
        }
        s->opening++;
    }
    if (s->opening == 0) initiator_ready(s, st);
}

uint32_t hyb_app_close(struct hyb *h, const char *identity, const struct qkd_ksid *ksid)
{
    struct hyb_stream *s = hyb_stream_find(h, ksid);
    if (!s || !s->claimed || strcmp(s->owner, identity) != 0 || s->open_call)
        return QKD_STATUS_PEER_APP_NOT_CONNECTED;
    log_info("CLOSE %s (%s)", s->ksid_str, s->role == HYB_INITIATOR ? "initiator" : "responder");
    stream_end(s);
    return QKD_STATUS_SUCCESS;
}

void hyb_app_get(struct hyb *h, struct hyb_call *c, const struct qkd_ksid *ksid, uint32_t index)
{
    c->kind = HYB_CALL_GET;
    c->index = index;
    struct hyb_stream *s = hyb_stream_find(h, ksid);
    if (!s || !s->claimed || strcmp(s->owner, c->identity) != 0 || s->open_call)
        return c->ops->get_done(c, QKD_STATUS_PEER_APP_NOT_CONNECTED, index, NULL, 0,
                                "unknown Key_stream_ID");
    s->last_call_ms = qkd_now_ms();
    if (c->json && c->fe == s->app_fe) s->app_fe_got = true; /* its session (hyb_app_gone) */
    hyb_xchg_get(s, c, index);
}

void hyb_app_gone(struct hyb *h, const void *fe)
{
    for (struct hyb_stream *s = h->streams, *next; s; s = next) {
        next = s->next;
        if (s->app_fe != fe) continue;
        s->app_fe = NULL;
        if (!s->app_fe_got) continue; /* opened on a connection of its own (one per call) */
        log_info("stream %s: its application's connection ended without CLOSE; closed (%s)",
                 s->ksid_str, s->role == HYB_INITIATOR ? "initiator" : "responder");
        stream_end(s);
    }
}

static bool stream_has_held(const struct hyb_stream *s)
{
    for (const struct hyb_xchg *x = s->xs; x; x = x->next)
        if (x->state == HYB_X_DONE) return true;
    return false;
}

void hyb_stream_on_close(struct hyb_peer *p, const struct qkd_ksid *ksid)
{
    struct hyb_stream *s = hyb_stream_find(p->h, ksid);
    if (!s || s->peer != p) return;
    log_info("stream %s closed by %s", s->ksid_str, p->cfg->name);
    s->peer_closed = true;
    for (struct hyb_xchg *x = s->xs, *next; x; x = next) {
        next = x->next;
        if (x->state != HYB_X_DONE) hyb_xchg_free(x, QKD_STATUS_PEER_APP_NOT_CONNECTED);
    }
    if (!s->claimed && !stream_has_held(s)) {
        qkd_close_jobs(s);
        hyb_stream_free(s);
    }
}

/* A live announcement: an application already waiting for it? (oldest first) */
static void serve_waiter(struct hyb_stream *s)
{
    struct hyb *h = s->h;
    if (!joinable(s)) return;
    struct hyb_call *match = NULL;
    for (struct hyb_call *c = h->open_waiters; c; c = c->next)
        if (announce_matches(s, c) && hyb_peer_by_name(h, c->req.node) == s->peer &&
            (qkd_ksid_is_zero(&c->want_ksid) ||
             memcmp(c->want_ksid.b, s->ksid.b, QKD_KSID_LEN) == 0))
            match = c;
    if (match) {
        open_wait_unlink(match);
        claim(s, match);
    }
}

void hyb_stream_on_announce(struct hyb_peer *p, const struct hyb_pm_announce *a)
{
    struct hyb *h = p->h;
    struct hyb_stream *s = hyb_stream_find(h, &a->ksid);
    char ks[QKD_KSID_STRLEN];
    qkd_ksid_to_str(&a->ksid, ks);
    if (s) {
        if (s->role != HYB_RESPONDER || s->peer != p) {
            log_warn("peer %s announced %s, which is in use here; ignored", p->cfg->name, ks);
            return;
        }
        s->unconfirmed = false; /* a re-announcement after a reconnect: still live there */
        return serve_waiter(s);
    }
    struct hyb_request req;
    char err[256];
    if (hyb_request_parse(a->request, &req, err, sizeof(err)) != 0 ||
        strcmp(req.node, p->cfg->name) != 0 || a->nqkd != req.n_sources || a->dest_app[0] == '\0' ||
        a->qos.key_chunk_size == 0 || a->qos.key_chunk_size > HYB_COMB_MAX_OUT_LEN) {
        log_warn("peer %s: announcement %s refused: bad request or QoS", p->cfg->name, ks);
        struct hyb_pm_kex m = {.ksid = a->ksid};
        hyb_peer_send_kex(p, HYB_PM_CLOSE, &m);
        return;
    }
    if (h->nstreams >= h->set.max_streams) {
        log_warn("peer %s: announcement %s refused: %u streams open (max-streams)", p->cfg->name,
                 ks, h->nstreams);
        struct hyb_pm_kex m = {.ksid = a->ksid};
        hyb_peer_send_kex(p, HYB_PM_CLOSE, &m);
        return;
    }
    s = stream_new(h, &a->ksid, HYB_RESPONDER, p);
    if (!s) return;
    s->req = req;
    snprintf(s->req_text, sizeof(s->req_text), "%s", a->request);
    snprintf(s->dest_app, sizeof(s->dest_app), "%s", a->dest_app);
    s->qos = a->qos;
    for (size_t j = 0; j < req.n_sources; j++)
        s->qkd[j].ksid = a->qkd[j];
    log_debug("announcement %s from %s: %s", ks, p->cfg->name, a->request);
    /* attach the QKD streams at this node's key server now */
    for (size_t j = 0; j < req.n_sources; j++) {
        if (req.sources[j].source != HYB_SRC_QKD || qkd_ksid_is_zero(&s->qkd[j].ksid)) continue;
        struct hyb_qjob *jb = hyb_qjob_new(HYB_QJ_OPEN);
        if (!jb) continue;
        qkd_uris(s, jb);
        jb->ksid = s->qkd[j].ksid;
        jb->owner = s->ksid;
        jb->slot = (unsigned)j;
        if (hyb_qkdw_submit(h->qw, jb) != 0) hyb_qjob_free(jb);
    }
    serve_waiter(s);
}

void hyb_stream_peer_up(struct hyb_peer *p)
{
    for (struct hyb_stream *s = p->h->streams; s; s = s->next) {
        if (s->peer != p) continue;
        if (s->role == HYB_INITIATOR && !s->open_call) send_announce(s);
        hyb_xchg_peer_up(s);
    }
}

void hyb_stream_peer_down(struct hyb_peer *p)
{
    for (struct hyb_stream *s = p->h->streams; s; s = s->next) {
        if (s->peer != p) continue;
        if (s->role == HYB_RESPONDER) s->unconfirmed = true; /* its CLOSE may be lost */
        for (struct hyb_xchg *x = s->xs, *next; x; x = next) {
            next = x->next;
            bool keep = x->state == HYB_X_DONE || x->state == HYB_X_WANT_SENT ||
                        (x->state == HYB_X_I_WAIT && !x->init_sent);
            if (!keep) hyb_xchg_free(x, QKD_STATUS_TIMEOUT);
        }
    }
}

static bool stream_busy(const struct hyb_stream *s)
{
    if (s->open_call) return true;
    for (const struct hyb_xchg *x = s->xs; x; x = x->next)
        if (x->waiter) return true;
    return false;
}

static void sweep_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    struct hyb *h = arg;
    uint64_t now = qkd_now_ms();
    for (struct hyb_stream *s = h->streams, *next; s; s = next) {
        next = s->next;
        uint64_t ttl_ms = (uint64_t)(s->qos.ttl ? s->qos.ttl : h->set.def_ttl_s) * 1000u;
        if (stream_busy(s) || now - s->last_call_ms < ttl_ms) continue;
        log_info("stream %s: no call for %" PRIu32 " s (TTL); closed, its keys wiped", s->ksid_str,
                 s->qos.ttl);
        stream_end(s);
    }
    h->sweep_timer = qkd_loop_add_timer(h->loop, SWEEP_MS, sweep_cb, h);
}

void hyb_stream_sweep_start(struct hyb *h)
{
    h->sweep_timer = qkd_loop_add_timer(h->loop, SWEEP_MS, sweep_cb, h);
}
