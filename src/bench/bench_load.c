/* bench_load.c: qkd-bench's loads against a key server: GET_KEY on sequential indices over N
 * connections (one thread and one libqkd004 connection each, one stream each), and
 * OPEN_CONNECT+CLOSE pairs. Each load stops at its time limit or its total count, whichever
 * comes first, then prints throughput, latency quantiles and the status histogram. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "evloop.h"
#include "secbuf.h"

enum bench_mode { BENCH_GETKEY, BENCH_OPEN_CLOSE };

struct bench_worker {
    pthread_t th;
    const struct bench_load_cfg *cfg;
    enum bench_mode mode;
    struct bench_result res;
    int failed; /* setup failed: err holds why */
    char err[300];
};

struct bench_shared {
    pthread_barrier_t start;
    atomic_uint_fast64_t issued;
    uint64_t deadline_us; /* written before the barrier releases the workers */
    uint64_t start_us;
};
static struct bench_shared bench_g;

static bool bench_ticket(const struct bench_load_cfg *cfg)
{
    if (qkd_now_us() >= bench_g.deadline_us) return false;
    return atomic_fetch_add(&bench_g.issued, 1) < cfg->count;
}

static void bench_count_status(struct bench_result *r, uint32_t st)
{
    r->status[st <= QKD_STATUS_MAX ? st : QKD_STATUS_MAX + 1]++;
}

/* Worker setup: connection object and, for GET_KEY, its stream. */
static struct qkd004_conn *bench_setup(struct bench_worker *w, struct qkd_ksid *ksid,
                                       struct qkd_qos *qos)
{
    struct qkd004_conn *c = qkd004_new(&w->cfg->conn, w->err, sizeof w->err);
    if (!c) {
        w->failed = 1;
        return NULL;
    }
    if (w->mode != BENCH_GETKEY) return c;
    qkd004_qos_default(qos);
    qos->key_chunk_size = w->cfg->chunk_size;
    memset(ksid, 0, sizeof *ksid);
    uint32_t st = 0;
    int rc = qkd004_open_connect(c, w->cfg->source, w->cfg->destination, qos, ksid, &st);
    if (rc != QKD004_OK || !qkd_status_ok(st)) {
        if (rc != QKD004_OK)
            snprintf(w->err, sizeof w->err, "OPEN_CONNECT failed: %s", qkd004_last_error(c));
        else
            snprintf(w->err, sizeof w->err, "OPEN_CONNECT failed: status %u (%s)", st,
                     qkd_status_str(st));
        w->failed = 1;
        qkd004_free(c);
        return NULL;
    }
    if (w->cfg->per_call_connection) qkd004_disconnect(c);
    return c;
}

static void bench_run_getkey(struct bench_worker *w, struct qkd004_conn *c,
                             const struct qkd_ksid *ksid, const struct qkd_qos *qos)
{
    size_t cap = qos->key_chunk_size ? qos->key_chunk_size : 1;
    struct qkd_secbuf *kb = qkd_secbuf_new(cap);
    if (!kb) {
        snprintf(w->err, sizeof w->err, "out of memory");
        w->failed = 1;
        return;
    }
    uint32_t idx = 0, row = 0;
    while (bench_ticket(w->cfg)) {
        uint32_t at = idx++, mds = 0, st = 0;
        size_t klen = 0;
        uint64_t t0 = qkd_now_us();
        int rc = qkd004_get_key(c, ksid, &at, kb->data, kb->len, &klen, NULL, &mds, &st);
        uint64_t t1 = qkd_now_us();
        qkd_wipe(kb->data, kb->len);
        if (w->cfg->per_call_connection) qkd004_disconnect(c);
        if (rc != QKD004_OK) {
            w->res.transport_errors++;
            if (++row >= BENCH_MAX_ERRORS_ROW) {
                snprintf(w->err, sizeof w->err, "gave up after %u errors in a row: %s", row,
                         qkd004_last_error(c));
                break;
            }
            continue;
        }
        row = 0;
        bench_count_status(&w->res, st);
        bench_hist_add(&w->res.lat, t1 - t0);
        if (st == QKD_STATUS_SUCCESS) {
            w->res.ops++;
            w->res.bytes += klen;
        }
    }
    qkd_secbuf_free(kb);
    uint32_t st = 0;
    (void)qkd004_close(c, ksid, &st);
}

static void bench_run_open_close(struct bench_worker *w, struct qkd004_conn *c)
{
    uint32_t row = 0;
    while (bench_ticket(w->cfg)) {
        struct qkd_qos qos;
        qkd004_qos_default(&qos);
        qos.key_chunk_size = w->cfg->chunk_size;
        struct qkd_ksid k;
        memset(&k, 0, sizeof k);
        uint32_t st = 0, cst = 0;
        uint64_t t0 = qkd_now_us();
        int rc = qkd004_open_connect(c, w->cfg->source, w->cfg->destination, &qos, &k, &st);
        if (rc == QKD004_OK && qkd_status_ok(st)) rc = qkd004_close(c, &k, &cst);
        uint64_t t1 = qkd_now_us();
        if (w->cfg->per_call_connection) qkd004_disconnect(c);
        if (rc != QKD004_OK) {
            w->res.transport_errors++;
            if (++row >= BENCH_MAX_ERRORS_ROW) {
                snprintf(w->err, sizeof w->err, "gave up after %u errors in a row: %s", row,
                         qkd004_last_error(c));
                break;
            }
            continue;
        }
        row = 0;
        bench_count_status(&w->res, st);
        if (qkd_status_ok(st)) {
            bench_count_status(&w->res, cst);
            if (cst == QKD_STATUS_SUCCESS) w->res.ops++;
        }
        bench_hist_add(&w->res.lat, t1 - t0);
    }
}

static void *bench_worker_main(void *arg)
{
    struct bench_worker *w = arg;
    struct qkd_ksid ksid;
    struct qkd_qos qos;
    struct qkd004_conn *c = bench_setup(w, &ksid, &qos);
    pthread_barrier_wait(&bench_g.start);
    if (c) {
        if (w->mode == BENCH_GETKEY)
            bench_run_getkey(w, c, &ksid, &qos);
        else
            bench_run_open_close(w, c);
        qkd004_free(c);
    }
    return NULL;
}

static void bench_print(const char *what, const struct bench_load_cfg *cfg,
                        const struct bench_result *r, double secs)
{
    const char *unit = strcmp(what, "getkey") == 0 ? "keys" : "pairs";
    printf("qkd-bench %s: %u connections, %.2f s, framing %s, chunk %u bytes, per-call "
           "connection %s\n",
           what, cfg->connections, secs, cfg->conn.framing == QKD004_FRAMING_E ? "e" : "q",
           cfg->chunk_size, cfg->per_call_connection ? "yes" : "no");
    printf("  %-12s %llu\n", unit, (unsigned long long)r->ops);
    printf("  %-12s %.1f\n", strcmp(unit, "keys") == 0 ? "keys/s" : "pairs/s",
           secs > 0 ? (double)r->ops / secs : 0.0);
    if (r->bytes)
        printf("  %-12s %.1f (%.0f bits/s)\n", "bytes/s", (double)r->bytes / secs,
               8.0 * (double)r->bytes / secs);
    printf("  %-12s p50 %.3f  p99 %.3f  max %.3f\n", "latency ms",
           (double)bench_hist_quantile(&r->lat, 0.50) / 1000.0,
           (double)bench_hist_quantile(&r->lat, 0.99) / 1000.0, (double)r->lat.max_us / 1000.0);
    printf("  %-12s", "status");
    for (int i = 0; i < BENCH_STATUS_SLOTS; i++) {
        if (!r->status[i]) continue;
        if (i <= QKD_STATUS_MAX)
            printf(" %d:%llu", i, (unsigned long long)r->status[i]);
        else
            printf(" other:%llu", (unsigned long long)r->status[i]);
    }
    printf("\n  %-12s %llu\n", "transport errors", (unsigned long long)r->transport_errors);
    fflush(stdout);
}

static int bench_load(const struct bench_load_cfg *cfg, enum bench_mode mode)
{
    uint32_t n = cfg->connections;
    struct bench_worker *ws = calloc(n, sizeof *ws);
    if (!ws) {
        fprintf(stderr, "qkd-bench: out of memory\n");
        return 1;
    }
    atomic_store(&bench_g.issued, 0);
    /* The clock starts when every worker is set up; until then the deadline is far away. */
    bench_g.deadline_us = UINT64_MAX;
    if (pthread_barrier_init(&bench_g.start, NULL, n + 1) != 0) {
        free(ws);
        return 1;
    }
    uint32_t started = 0;
    for (; started < n; started++) {
        ws[started].cfg = cfg;
        ws[started].mode = mode;
        if (pthread_create(&ws[started].th, NULL, bench_worker_main, &ws[started]) != 0) break;
    }
    if (started < n) {
        /* cannot reach the barrier count: stop here (threads already made wait forever
         * otherwise), so report and exit. */
        fprintf(stderr, "qkd-bench: cannot start %u threads\n", n);
        exit(1);
    }
    bench_g.start_us = qkd_now_us();
    bench_g.deadline_us = bench_g.start_us + (uint64_t)cfg->seconds * 1000000u;
    pthread_barrier_wait(&bench_g.start);
    struct bench_result total;
    memset(&total, 0, sizeof total);
    int failed = 0;
    for (uint32_t i = 0; i < n; i++) {
        pthread_join(ws[i].th, NULL);
        const struct bench_result *r = &ws[i].res;
        bench_hist_merge(&total.lat, &r->lat);
        total.ops += r->ops;
        total.bytes += r->bytes;
        total.transport_errors += r->transport_errors;
        for (int k = 0; k < BENCH_STATUS_SLOTS; k++)
            total.status[k] += r->status[k];
        if (ws[i].err[0]) {
            fprintf(stderr, "qkd-bench: connection %u: %s\n", i, ws[i].err);
            failed |= ws[i].failed;
        }
    }
    double secs = (double)(qkd_now_us() - bench_g.start_us) / 1e6;
    pthread_barrier_destroy(&bench_g.start);
    bench_print(mode == BENCH_GETKEY ? "getkey" : "open-close", cfg, &total, secs);
    free(ws);
    return failed ? 2 : 0;
}

int bench_getkey(const struct bench_load_cfg *cfg)
{
    return bench_load(cfg, BENCH_GETKEY);
}

int bench_open_close(const struct bench_load_cfg *cfg)
{
    return bench_load(cfg, BENCH_OPEN_CLOSE);
}
