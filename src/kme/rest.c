/* rest.c: the key server's ETSI GS QKD 014 listener (docs/etsi014.md). Each HTTPS request is
 * routed and validated by the 014 codec (etsi014.h); the caller is its certificate's CN, which
 * must be an SAE of this node. enc_keys for a slave at a peer node makes a batch stream on that
 * link (rest_batch.c) and answers once the whole batch is allocated at both nodes; enc_keys for a
 * slave here makes CSPRNG keys (rest_local.c); dec_keys hands each key once to each of its
 * slaves. A call that needs key or the peer waits (its connection paused) at most
 * --etsi014-wait-ms, then gets 503 and nothing is consumed. One INFO line per call. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etsi014.h"
#include "http.h"
#include "https_server.h"
#include "kme.h"
#include "link.h"
#include "log.h"
#include "prom.h"
#include "rest.h"
#include "rest_batch.h"
#include "rest_local.h"
#include "ring.h"

struct rest_call {
    struct kme_rest *r;
    struct qkd_https_call *call;
    enum etsi014_op op;
    char caller[KME_REST_SAE_MAX];
    char sae[KME_REST_SAE_MAX]; /* the SAE named in the path */
    uint32_t number, size_bits, extra;
    /* enc_keys across a link: the batch */
    struct kme_link *link;
    struct qkd_ksid batch;
    bool req_sent;
    /* dec_keys */
    struct etsi014_key_ids ids;
    uint64_t timer;
    bool waiting; /* on the list below */
    struct rest_call *prev, *next;
};

/* Answers counted per call and status (metrics). */
static const int rest_codes[] = {200, 400, 401, 404, 405, 413, 431, 503};
#define REST_NCODES ((int)(sizeof(rest_codes) / sizeof(rest_codes[0])) + 1) /* + other */

struct kme_rest {
    struct kme *k;
    uint64_t m_answers[4][REST_NCODES]; /* [op (0: no route)][code] */
    uint64_t m_local_keys;              /* CSPRNG keys made for slaves at this node */
    struct qkd_https_server *srv;
    struct etsi014_saedir dir;
    struct etsi014_limits lim;
    struct kme_rest_local local;
    struct rest_call *waiting;
};

static const char *op_name(enum etsi014_op op)
{
    switch (op) {
    case ETSI014_OP_STATUS:
        return "status";
    case ETSI014_OP_ENC_KEYS:
        return "enc_keys";
    case ETSI014_OP_DEC_KEYS:
        return "dec_keys";
    }
    return "request";
}

/* ---- answers ---- */

static void call_unwait(struct rest_call *rc)
{
    if (!rc->waiting) return;
    struct kme_rest *r = rc->r;
    if (rc->prev)
        rc->prev->next = rc->next;
    else
        r->waiting = rc->next;
    if (rc->next) rc->next->prev = rc->prev;
    rc->prev = rc->next = NULL;
    rc->waiting = false;
    if (rc->timer) qkd_loop_del_timer(r->k->loop, rc->timer);
    rc->timer = 0;
    if (rc->link && rc->link->nrest_waiting) rc->link->nrest_waiting--;
}

/* Sends the answer (body moved, wiped) with the call's log line, and frees the call. */
static void finish(struct rest_call *rc, int status, struct qkd_sbuf *body, const char *why)
{
    call_unwait(rc);
    if (rc->op == ETSI014_OP_STATUS || rc->op == 0)
        log_info("ETSI 014 %s from %s (slave %s): %d%s%s", op_name(rc->op), rc->caller,
                 rc->sae[0] ? rc->sae : "-", status, why ? ": " : "", why ? why : "");
    else if (rc->op == ETSI014_OP_ENC_KEYS)
        log_info("ETSI 014 enc_keys from %s (master %s, slave %s, +%" PRIu32 " slaves): %" PRIu32
                 " keys of %" PRIu32 " bits: %d%s%s",
                 rc->caller, rc->caller, rc->sae[0] ? rc->sae : "-", rc->extra, rc->number,
                 rc->size_bits, status, why ? ": " : "", why ? why : "");
    else
        log_info("ETSI 014 dec_keys from %s (master %s, slave %s): %" PRIu32 " keys of %" PRIu32
                 " bits: %d%s%s",
                 rc->caller, rc->sae[0] ? rc->sae : "-", rc->caller, rc->number, rc->size_bits,
                 status, why ? ": " : "", why ? why : "");
    int ci = 0;
    while (ci < REST_NCODES - 1 && rest_codes[ci] != status)
        ci++;
    rc->r->m_answers[rc->op >= 1 && rc->op <= 3 ? rc->op : 0][ci]++;
    struct qkd_http_resp resp;
    memset(&resp, 0, sizeof(resp));
    resp.status = status;
    resp.content_type = "application/json";
    resp.body = *body;
    memset(body, 0, sizeof(*body));
    qkd_https_reply(rc->call, &resp); /* frees (wipes) the body */
    free(rc);
}

static void fail(struct rest_call *rc, int status, const char *msg)
{
    struct qkd_sbuf body;
    memset(&body, 0, sizeof(body));
    etsi014_error_json(&body, msg);
    finish(rc, status, &body, msg);
}

/* ---- enc_keys across a link ---- */

static struct kme_stream *enc_stream(struct rest_call *rc)
{
    struct kme_stream *s = kme_stream_find(&rc->r->k->streams, &rc->batch);
    return s && s->rest && s->rest->master_side && s->link == rc->link ? s : NULL;
}

/* The Key container of keys[0 .. n - 1], key i under the ID of index i of batch. 0, or -1 when
 * the buffer could not grow (the body is freed). */
static int batch_keys_json(struct qkd_sbuf *body, const struct qkd_ksid *batch,
                           const uint8_t *const *keys, uint32_t n, uint32_t key_bytes)
{
    uint8_t ids[KME_REST_MAX_KEYS][16] = {{0}};
    for (uint32_t i = 0; i < n; i++)
        kme_rest_key_id(batch, i, ids[i]);
    memset(body, 0, sizeof(*body));
    etsi014_keys_json(body, n, (const uint8_t(*)[16])ids, keys, key_bytes);
    if (!body->failed) return 0;
    qkd_sbuf_free(body);
    return -1;
}

static void enc_deliver(struct rest_call *rc, struct kme_stream *s)
{
    struct kme *k = rc->r->k;
    uint32_t n = s->rest->number;
    const uint8_t *keys[KME_REST_MAX_KEYS] = {0};
    for (uint32_t i = 0; i < n; i++)
        keys[i] = kme_stream_alloc_find(s, i)->key;
    struct qkd_sbuf body;
    if (batch_keys_json(&body, &s->ksid, keys, n, s->rest->key_bytes) != 0) {
        kme_rest_stream_drop(k, s, true);
        fail(rc, 503, "out of memory");
        return;
    }
    /* at most once: the keys count as delivered whether or not the answer reaches the master */
    for (uint32_t i = 0; i < n; i++)
        kme_rest_stream_delivered(k, s, i);
    kme_rest_stream_drop(k, s, false); /* the slave's node keeps its end for the slaves */
    finish(rc, 200, &body, NULL);
}

/* Re-evaluates a waiting (or new) enc_keys call; final: its wait is over. Returns whether it
 * was answered. */
static bool enc_eval(struct rest_call *rc, bool final)
{
    struct kme *k = rc->r->k;
    struct kme_stream *s = enc_stream(rc);
    if (!s) {
        fail(rc, 503, "the peer key server refused the batch; try again");
        return true;
    }
    enum kme_rest_state st = kme_rest_stream_eval(rc->link, s, &rc->req_sent);
    if (st == KME_REST_READY) {
        enc_deliver(rc, s);
        return true;
    }
    if (st == KME_REST_WAIT && !final) return false;
    char msg[200];
    if (!rc->link->peer_up)
        snprintf(msg, sizeof(msg), "key server of node %s unreachable; nothing consumed",
                 rc->link->peer);
    else
        snprintf(msg, sizeof(msg), "not enough key on the link to node %s now; nothing consumed",
                 rc->link->peer);
    kme_rest_stream_drop(k, s, true);
    fail(rc, 503, msg);
    return true;
}

/* ---- dec_keys ---- */

struct dec_key {
    struct qkd_ksid batch;
    struct kme_stream *s;            /* a batch stream ... */
    struct kme_rest_local_batch *lb; /* ... or a batch of this node */
    uint32_t index, slave, len;
};

/* Evaluates a dec_keys call: answers it (returns true) or finds it must wait for key that is
 * on its way (an allocation not yet confirmed by the follower). */
static bool dec_eval(struct rest_call *rc, bool final)
{
    struct kme_rest *r = rc->r;
    struct kme *k = r->k;
    uint32_t n = rc->ids.n;
    struct dec_key dk[ETSI014_MAX_KEYS];
    memset(dk, 0, sizeof(dk));
    bool wait = false;
    uint32_t key_bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct dec_key *d = &dk[i];
        kme_rest_key_batch(rc->ids.ids[i], &d->batch, &d->index);
        struct kme_stream *s = kme_stream_find(&k->streams, &d->batch);
        const struct kme_rest_batch *b = NULL;
        if (s && s->rest && !s->rest->master_side) {
            b = s->rest;
            d->s = s;
        } else if ((d->lb = kme_rest_local_find(&r->local, &d->batch)) != NULL) {
            b = &d->lb->b;
        }
        if (b) rc->size_bits = b->key_bytes * 8;
        const char *why = "unknown key_ID";
        int st = b ? kme_rest_batch_check(b, rc->sae, rc->caller, d->index, &d->slave, &why) : 400;
        if (st == 0 && d->s) {
            struct kme_alloc *a = kme_stream_alloc_find(s, d->index);
            if (!a && kme_stream_index_state(s, d->index) != KME_IDX_OPEN) {
                st = 400;
                why = "unknown key_ID";
            } else if (!a || !a->acked) {
                wait = true;
                if (!rc->link) rc->link = s->link;
            }
        }
        if (st != 0) {
            char uu[37], msg[120];
            etsi014_uuid_str(rc->ids.ids[i], uu);
            snprintf(msg, sizeof(msg), "%s: %s", why, uu);
            fail(rc, st, msg);
            return true;
        }
        d->len = b->key_bytes;
        if (key_bytes < b->key_bytes) key_bytes = b->key_bytes; /* the largest, for the log */
    }
    if (wait) {
        if (!final) return false;
        fail(rc, 503, "key not yet confirmed by both key servers; try again");
        return true;
    }
    rc->size_bits = key_bytes * 8;
    const uint8_t *keys[ETSI014_MAX_KEYS] = {0};
    uint32_t lens[ETSI014_MAX_KEYS] = {0};
    for (uint32_t i = 0; i < n; i++) {
        keys[i] = dk[i].s ? kme_stream_alloc_find(dk[i].s, dk[i].index)->key
                          : kme_rest_local_key(dk[i].lb, dk[i].index);
        lens[i] = dk[i].len;
    }
    struct qkd_sbuf body;
    memset(&body, 0, sizeof(body));
    etsi014_keys_json_each(&body, n, (const uint8_t(*)[16])rc->ids.ids, keys, lens, 0);
    if (body.failed) {
        qkd_sbuf_free(&body);
        fail(rc, 503, "out of memory");
        return true;
    }
    /* each key once to each slave; wiped once every slave has it */
    for (uint32_t i = 0; i < n; i++) {
        if (dk[i].s) {
            if (kme_rest_batch_fetched(dk[i].s->rest, dk[i].index, dk[i].slave))
                kme_rest_stream_delivered(k, dk[i].s, dk[i].index);
        } else if (kme_rest_batch_fetched(&dk[i].lb->b, dk[i].index, dk[i].slave)) {
            kme_rest_local_key_done(dk[i].lb, dk[i].index);
        }
    }
    /* then the batches every slave emptied go: looked up again, as several keys may share one */
    for (uint32_t i = 0; i < n; i++) {
        struct kme_stream *s = kme_stream_find(&k->streams, &dk[i].batch);
        if (s && s->rest && !s->rest->master_side && s->rest->complete == s->rest->number)
            kme_rest_stream_drop(k, s, false);
        struct kme_rest_local_batch *lb = kme_rest_local_find(&r->local, &dk[i].batch);
        if (lb && lb->b.complete == lb->b.number) kme_rest_local_drop(lb);
    }
    finish(rc, 200, &body, NULL);
    return true;
}

/* ---- waiting ---- */

/* Re-evaluates a waiting call (final: its wait is over). Returns whether it was answered. */
static bool call_eval(struct rest_call *rc, bool final)
{
    return rc->op == ETSI014_OP_ENC_KEYS ? enc_eval(rc, final) : dec_eval(rc, final);
}

static void wait_timeout_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    (void)loop;
    (void)id;
    struct rest_call *rc = arg;
    rc->timer = 0;
    call_eval(rc, true);
}

static void call_wait(struct rest_call *rc)
{
    struct kme_rest *r = rc->r;
    rc->waiting = true;
    rc->next = r->waiting;
    if (r->waiting) r->waiting->prev = rc;
    r->waiting = rc;
    if (rc->link) {
        rc->link->nrest_waiting++;
        kme_link_want_poll(rc->link);
    }
    rc->timer = qkd_loop_add_timer(r->k->loop, r->k->cfg.e14.wait_ms, wait_timeout_cb, rc);
}

void kme_rest_wake(struct kme_link *l)
{
    struct kme_rest *r = l->kme->rest;
    if (!r) return;
    struct rest_call *rc = r->waiting, *next;
    for (; rc; rc = next) {
        next = rc->next;
        if (rc->link == l) call_eval(rc, false); /* an answered call is freed, the next kept */
    }
}

void kme_rest_unsend(struct kme_link *l)
{
    struct kme_rest *r = l->kme->rest;
    if (!r) return;
    for (struct rest_call *rc = r->waiting; rc; rc = rc->next)
        if (rc->link == l) rc->req_sent = false;
}

/* ---- requests ---- */

static bool is_local_sae(const struct kme_rest *r, const char *sae)
{
    const char *node = etsi014_saedir_node(&r->dir, sae);
    return node && strcmp(node, r->k->cfg.node) == 0;
}

static void on_status(struct rest_call *rc)
{
    struct kme_rest *r = rc->r;
    struct kme *k = r->k;
    const char *node = etsi014_saedir_node(&r->dir, rc->sae);
    if (!node) {
        fail(rc, 400, "unknown slave SAE");
        return;
    }
    if (strcmp(rc->sae, rc->caller) == 0) {
        fail(rc, 400, "a master cannot be its own slave");
        return;
    }
    uint32_t kb = r->lim.key_size / 8;
    uint64_t stored = 0, max = 0;
    if (strcmp(node, k->cfg.node) == 0) {
        max = r->local.max_held / kb;
        stored = (r->local.max_held - r->local.held) / kb;
    } else {
        struct kme_link *l = kme_link_by_name(k, node);
        if (!l) {
            fail(rc, 400, "no link from this node to the slave's node");
            return;
        }
        if (l->ring) {
            uint64_t c = qkd_ring_consume_offset(l->ring), w = qkd_ring_write_offset(l->ring);
            if (l->role == KME_ROLE_LEADER && l->alloc_next > c) c = l->alloc_next;
            stored = w > c ? (w - c) / kb : 0;
            max = qkd_ring_capacity(l->ring) / kb;
        }
    }
    struct etsi014_status st = {
        .source_kme = k->cfg.node,
        .target_kme = node,
        .master = rc->caller,
        .slave = rc->sae,
        .key_size = r->lim.key_size,
        .stored_key_count = stored,
        .max_key_count = max,
        .max_key_per_request = r->lim.max_per_request,
        .max_key_size = r->lim.max_key_size,
        .min_key_size = r->lim.min_key_size,
        .max_sae_ids = r->lim.max_sae_ids,
    };
    struct qkd_sbuf body;
    memset(&body, 0, sizeof(body));
    etsi014_status_json(&body, &st);
    finish(rc, 200, &body, NULL);
}

static void enc_local(struct rest_call *rc, const struct kme_rest_batch *b)
{
    const char *why = NULL;
    struct kme_rest_local_batch *lb = kme_rest_local_make(&rc->r->local, b, &why);
    if (!lb) {
        fail(rc, 503, why);
        return;
    }
    const uint8_t *keys[KME_REST_MAX_KEYS] = {0};
    for (uint32_t i = 0; i < b->number; i++)
        keys[i] = kme_rest_local_key(lb, i);
    struct qkd_sbuf body;
    if (batch_keys_json(&body, &lb->id, keys, b->number, b->key_bytes) != 0) {
        kme_rest_local_drop(lb);
        fail(rc, 503, "out of memory");
        return;
    }
    rc->r->m_local_keys += b->number;
    finish(rc, 200, &body, NULL);
}

static void on_enc(struct rest_call *rc, const struct qkd_http_req *req)
{
    struct kme_rest *r = rc->r;
    struct kme *k = r->k;
    struct etsi014_key_req kr;
    char msg[200];
    int st = req->method == QKD_HTTP_POST
                 ? etsi014_parse_enc_body(req->body, req->body_len, &r->lim, &kr, msg, sizeof(msg))
                 : etsi014_parse_enc_query(req->query, &r->lim, &kr, msg, sizeof(msg));
    if (st == 0) st = etsi014_check_pair(&r->dir, rc->caller, rc->sae, &kr, msg, sizeof(msg));
    if (st != 0) {
        fail(rc, st, msg);
        return;
    }
    rc->number = kr.number;
    rc->size_bits = kr.size;
    rc->extra = kr.nslaves;
    struct kme_rest_batch b;
    memset(&b, 0, sizeof(b));
    snprintf(b.master, sizeof(b.master), "%s", rc->caller);
    snprintf(b.slaves[0], sizeof(b.slaves[0]), "%s", rc->sae);
    for (uint32_t i = 0; i < kr.nslaves && i + 1 < KME_REST_MAX_SLAVES; i++)
        snprintf(b.slaves[i + 1], sizeof(b.slaves[i + 1]), "%s", kr.slaves[i]);
    b.nslaves = kr.nslaves + 1;
    b.number = kr.number;
    b.key_bytes = kr.size / 8;
    const char *node = etsi014_saedir_node(&r->dir, rc->sae);
    if (strcmp(node, k->cfg.node) == 0) {
        enc_local(rc, &b);
        return;
    }
    struct kme_link *l = kme_link_by_name(k, node);
    if (!l) {
        snprintf(msg, sizeof(msg), "no link from this node to node %s of slave %s", node, rc->sae);
        fail(rc, 400, msg);
        return;
    }
    kme_rest_batch_id_new(&rc->batch);
    rc->link = l;
    if (!kme_rest_stream_open(k, l, &rc->batch, &b, k->cfg.e14.wait_ms)) {
        rc->link = NULL;
        fail(rc, 503, "stream table full");
        return;
    }
    if (!enc_eval(rc, false)) call_wait(rc);
}

static void on_dec(struct rest_call *rc, const struct qkd_http_req *req)
{
    struct kme_rest *r = rc->r;
    char msg[200];
    int st = req->method == QKD_HTTP_POST
                 ? etsi014_parse_dec_body(req->body, req->body_len, r->lim.max_per_request,
                                          &rc->ids, msg, sizeof(msg))
                 : etsi014_parse_dec_query(req->query, r->lim.max_per_request, &rc->ids, msg,
                                           sizeof(msg));
    if (st != 0) {
        fail(rc, st, msg);
        return;
    }
    rc->number = rc->ids.n;
    if (!etsi014_saedir_node(&r->dir, rc->sae)) {
        fail(rc, 400, "unknown master SAE");
        return;
    }
    if (!dec_eval(rc, false)) call_wait(rc);
}

static void on_request(struct qkd_https_call *call, const struct qkd_http_req *req, void *arg)
{
    struct kme_rest *r = arg;
    struct rest_call *rc = calloc(1, sizeof(*rc));
    if (!rc) {
        struct qkd_http_resp resp;
        memset(&resp, 0, sizeof(resp));
        resp.status = 503;
        resp.content_type = "application/json";
        etsi014_error_json(&resp.body, "out of memory");
        qkd_https_reply(call, &resp);
        return;
    }
    rc->r = r;
    rc->call = call;
    qkd_https_call_set_user(call, rc);
    const char *caller = qkd_https_call_caller(call);
    snprintf(rc->caller, sizeof(rc->caller), "%s", caller ? caller : "?");
    struct etsi014_route route;
    char msg[200];
    int st = etsi014_route(req->method, req->path, &route, msg, sizeof(msg));
    if (st != 0) {
        fail(rc, st, msg);
        return;
    }
    rc->op = route.op;
    snprintf(rc->sae, sizeof(rc->sae), "%s", route.sae);
    if (!caller || !is_local_sae(r, caller)) {
        snprintf(msg, sizeof(msg), "%s is not an SAE of node %s", rc->caller, r->k->cfg.node);
        fail(rc, 401, msg);
        return;
    }
    switch (route.op) {
    case ETSI014_OP_STATUS:
        on_status(rc);
        break;
    case ETSI014_OP_ENC_KEYS:
        on_enc(rc, req);
        break;
    case ETSI014_OP_DEC_KEYS:
        on_dec(rc, req);
        break;
    }
}

/* The connection went before the answer: a waiting enc_keys gives its batch up. */
static void on_cancel(struct qkd_https_call *call, void *arg)
{
    struct kme_rest *r = arg;
    struct rest_call *rc = qkd_https_call_get_user(call);
    if (!rc) return;
    call_unwait(rc);
    if (rc->op == ETSI014_OP_ENC_KEYS && rc->link) {
        struct kme_stream *s = enc_stream(rc);
        if (s) kme_rest_stream_drop(r->k, s, true);
    }
    log_info("ETSI 014 %s from %s: the client left before the answer", op_name(rc->op), rc->caller);
    free(rc);
}

static const struct qkd_https_ops rest_ops = {
    .on_request = on_request,
    .on_cancel = on_cancel,
};

/* The codec's limits from the settings. */
static void e14_limits(const struct kme_e14_config *c, struct etsi014_limits *l)
{
    etsi014_limits_default(l);
    l->key_size = c->key_size;
    l->min_key_size = c->min_key_size;
    l->max_key_size = c->max_key_size;
    l->max_per_request = c->max_per_request;
    l->max_sae_ids = c->max_sae_ids;
}

int kme_rest_config_check(struct kme *k, char *err, size_t n)
{
    struct kme_e14_config *c = &k->cfg.e14;
    struct etsi014_limits lim;
    e14_limits(c, &lim);
    char why[200];
    if (etsi014_limits_check(&lim, why, sizeof(why)) != 0) {
        snprintf(err, n,
                 "bad ETSI 014 key settings --etsi014-min-key-size %u, --etsi014-key-size %u, "
                 "--etsi014-max-key-size %u, --etsi014-max-keys-per-request %u, "
                 "--etsi014-max-sae-ids %u: %s",
                 c->min_key_size, c->key_size, c->max_key_size, c->max_per_request, c->max_sae_ids,
                 why);
        return -1;
    }
    if (c->max_key_size / 8 > KME_MAX_CHUNK) {
        snprintf(err, n, "bad value %u for --etsi014-max-key-size: at most %u bits",
                 c->max_key_size, KME_MAX_CHUNK * 8);
        return -1;
    }
    struct etsi014_saedir *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < c->saes.n && rc == 0; i++) {
        char e[200];
        if (etsi014_saedir_add(d, c->saes.items[i], e, sizeof(e)) != 0) {
            snprintf(err, n, "bad value '%s' for --sae (ETSI014_SAES): %s", c->saes.items[i], e);
            rc = -1;
        }
    }
    free(d);
    return rc;
}

int kme_rest_start(struct kme *k, char *err, size_t n)
{
    struct kme_e14_config *c = &k->cfg.e14;
    if (!c->listen) return 0;
    struct kme_rest *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    r->k = k;
    for (int i = 0; i < c->saes.n; i++)
        etsi014_saedir_add(&r->dir, c->saes.items[i], err, n); /* checked at start */
    bool mine = false;
    for (uint32_t i = 0; i < r->dir.n; i++)
        if (strcmp(r->dir.e[i].node, k->cfg.node) == 0) mine = true;
    if (!mine)
        log_warn("ETSI 014: no SAE of node %s in the directory (--sae ID=%s): every call gets 401",
                 k->cfg.node, k->cfg.node);
    e14_limits(c, &r->lim);
    kme_rest_local_init(&r->local, k->loop, c->max_local_bytes, c->key_ttl_s);
    struct qkd_https_cfg hc = {
        .listen = c->listen,
        .ctx = k->srv_ctx,
        .name = "ETSI 014",
        .max_conns = c->max_conns,
        .max_handshakes = k->cfg.max_handshakes,
        .idle_ms = c->idle_ms,
        .request_ms = c->request_ms,
        .max_requests_per_conn = c->max_requests_per_conn,
        .limits = {.max_header_bytes = c->max_header_bytes,
                   .max_request_bytes = c->max_header_bytes + c->max_body_bytes,
                   .max_body_bytes = c->max_body_bytes},
    };
    r->srv = qkd_https_server_new(k->loop, &hc, &rest_ops, r, err, n);
    if (!r->srv) {
        free(r);
        return -1;
    }
    k->rest = r;
    k->wake_hook = kme_rest_wake;
    k->unsend_hook = kme_rest_unsend;
    log_info("ETSI 014 key delivery listening on %s (port %d, %" PRIu32 " SAEs in the directory)",
             c->listen, qkd_https_server_port(r->srv), r->dir.n);
    return 0;
}

void kme_rest_metrics(struct qkd_sbuf *b, const struct kme *k)
{
    const struct kme_rest *r = k->rest;
    if (!r) return;
    qkd_prom_family(b, "qkd_etsi014_responses_total", "counter",
                    "ETSI 014 answers per call and HTTP status.");
    for (int op = 0; op < 4; op++)
        for (int ci = 0; ci < REST_NCODES; ci++) {
            if (!r->m_answers[op][ci] && (op == 0 || ci != 0)) continue;
            char code[8];
            snprintf(code, sizeof(code), "%d", ci < REST_NCODES - 1 ? rest_codes[ci] : 0);
            struct qkd_prom_label lb[2] = {{"call", op ? op_name((enum etsi014_op)op) : "none"},
                                           {"code", ci < REST_NCODES - 1 ? code : "other"}};
            qkd_prom_sample(b, "qkd_etsi014_responses_total", lb, 2, (double)r->m_answers[op][ci]);
        }
    qkd_prom_one(b, "qkd_etsi014_local_keys_total", "counter",
                 "ETSI 014 keys made from the CSPRNG for slaves at this node.",
                 (double)r->m_local_keys);
}

uint32_t kme_rest_conns(const struct kme *k)
{
    return k->rest ? qkd_https_server_conns(k->rest->srv) : 0;
}

uint64_t kme_rest_handshake_failures(const struct kme *k)
{
    return k->rest ? qkd_https_server_handshake_failures(k->rest->srv) : 0;
}

int kme_rest_port(const struct kme *k)
{
    return k->rest ? qkd_https_server_port(k->rest->srv) : 0;
}

void kme_rest_stop(struct kme *k)
{
    struct kme_rest *r = k->rest;
    if (!r) return;
    qkd_https_server_free(r->srv); /* cancels every waiting call */
    while (r->waiting) {
        struct rest_call *rc = r->waiting;
        call_unwait(rc);
        free(rc);
    }
    kme_rest_local_free(&r->local);
    free(r);
    k->rest = NULL;
    k->wake_hook = NULL;
    k->unsend_hook = NULL;
}
