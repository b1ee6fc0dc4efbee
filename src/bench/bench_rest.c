/* bench_rest.c: `qkd-bench rest`, the ETSI GS QKD 014 benchmark (docs/client.md): C threads,
 * each with one keep-alive HTTPS connection to the master's key server (enc_keys as the master
 * SAE) and one to the slave's (dec_keys of the same key_IDs as the slave SAE); pairs bounded by
 * count and time; every dec key compared with its enc key (a mismatch ends the run, exit 3);
 * prints pairs/s, keys/s and enc/dec latency p50/p99 (bench_hist.c). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "evloop.h"
#include "opts.h"
#include "rest_client.h"
#include "secbuf.h"

#define BENCH_REST_EXIT_MISMATCH 3
#define BENCH_REST_MAX_PAIRS     100000000u

struct bench_rest_cfg {
    const char *master_url, *slave_url, *master_cert, *master_key, *slave_cert, *slave_key, *ca;
    const char *master, *slave;
    uint32_t conns, pairs, number, size, seconds, timeout_ms;
    bool post;
};

struct bench_rest_worker {
    pthread_t th;
    const struct bench_rest_cfg *cfg;
    struct rest_client *enc, *dec;
    struct bench_hist enc_lat, dec_lat;
    uint64_t pairs, keys, errors;
    int failed; /* gave up: err says why */
    char err[600];
};

static struct {
    pthread_barrier_t start;
    atomic_uint_fast64_t issued;
    atomic_int stop; /* a mismatch: everyone stops */
    atomic_int mismatch;
    uint64_t deadline_us;
} bench_rest_g;

static bool bench_rest_ticket(const struct bench_rest_cfg *cfg)
{
    if (atomic_load(&bench_rest_g.stop) || qkd_now_us() >= bench_rest_g.deadline_us) return false;
    return atomic_fetch_add(&bench_rest_g.issued, 1) < cfg->pairs;
}

/* One enc + dec pair. 0 done, -1 an error (counted, w->err), -2 a mismatch. */
static int bench_rest_pair(struct bench_rest_worker *w)
{
    const struct bench_rest_cfg *cfg = w->cfg;
    struct etsi014_keys *ek = calloc(1, sizeof *ek), *dk = calloc(1, sizeof *dk);
    struct rest_result res;
    int ret = -1;
    if (!ek || !dk) {
        snprintf(w->err, sizeof w->err, "out of memory");
        goto out;
    }
    uint64_t t0 = qkd_now_us();
    int rc =
        rest_enc_keys(w->enc, cfg->slave, cfg->number, cfg->size, NULL, 0, cfg->post, ek, &res);
    uint64_t t1 = qkd_now_us();
    if (rc != REST_OK || res.http_status != 200) {
        snprintf(w->err, sizeof w->err, "enc_keys: %s%d %s", rc == REST_OK ? "HTTP " : "",
                 rc == REST_OK ? res.http_status : rc, res.message);
        goto out;
    }
    bench_hist_add(&w->enc_lat, t1 - t0);
    rc = rest_dec_keys(w->dec, cfg->master, (const uint8_t(*)[16])ek->ids, ek->n, cfg->post, dk,
                       &res);
    uint64_t t2 = qkd_now_us();
    if (rc != REST_OK || res.http_status != 200) {
        snprintf(w->err, sizeof w->err, "dec_keys: %s%d %s", rc == REST_OK ? "HTTP " : "",
                 rc == REST_OK ? res.http_status : rc, res.message);
        goto out;
    }
    bench_hist_add(&w->dec_lat, t2 - t1);
    ret = 0;
    bool same = dk->n == ek->n;
    for (uint32_t i = 0; same && i < ek->n; i++) {
        same =
            memcmp(dk->ids[i], ek->ids[i], 16) == 0 && dk->key_bytes[i] == ek->key_bytes[i] &&
            memcmp(dk->buf->data + dk->off[i], ek->buf->data + ek->off[i], ek->key_bytes[i]) == 0;
        if (!same) {
            char id[37];
            etsi014_uuid_str(ek->ids[i], id);
            snprintf(w->err, sizeof w->err, "MISMATCH: dec key %s differs from its enc key", id);
        }
    }
    if (!same && dk->n != ek->n)
        snprintf(w->err, sizeof w->err, "MISMATCH: enc gave %u keys, dec %u", ek->n, dk->n);
    if (!same) ret = -2;
    w->pairs++;
    w->keys += ek->n;
out:
    if (ek) etsi014_keys_free(ek);
    if (dk) etsi014_keys_free(dk);
    free(ek);
    free(dk);
    return ret;
}

static void *bench_rest_run(void *arg)
{
    struct bench_rest_worker *w = arg;
    pthread_barrier_wait(&bench_rest_g.start);
    uint32_t row = 0;
    while (bench_rest_ticket(w->cfg)) {
        int r = bench_rest_pair(w);
        if (r == -2) {
            atomic_store(&bench_rest_g.mismatch, 1);
            atomic_store(&bench_rest_g.stop, 1);
            w->failed = 1;
            break;
        }
        if (r == 0) {
            row = 0;
            continue;
        }
        w->errors++;
        if (++row >= BENCH_MAX_ERRORS_ROW) {
            w->failed = 1;
            break;
        }
    }
    return NULL;
}

static int bench_rest_setup(struct bench_rest_worker *w, const struct bench_rest_cfg *cfg)
{
    struct rest_cfg ec = {.url = cfg->master_url,
                          .cert = cfg->master_cert,
                          .key = cfg->master_key,
                          .ca = cfg->ca,
                          .timeout_ms = cfg->timeout_ms};
    struct rest_cfg dc = ec;
    dc.url = cfg->slave_url;
    dc.cert = cfg->slave_cert;
    dc.key = cfg->slave_key;
    w->cfg = cfg;
    w->enc = rest_new(&ec, w->err, sizeof w->err);
    if (!w->enc) return 1;
    w->dec = rest_new(&dc, w->err, sizeof w->err);
    if (!w->dec) return 1;
    struct rest_result res;
    if (rest_connect(w->enc, &res) != REST_OK || rest_connect(w->dec, &res) != REST_OK) {
        snprintf(w->err, sizeof w->err, "%s", res.message);
        return 2;
    }
    return 0;
}

static void bench_rest_report(const struct bench_rest_cfg *cfg, struct bench_rest_worker *ws,
                              double secs)
{
    struct bench_hist enc, dec;
    memset(&enc, 0, sizeof enc);
    memset(&dec, 0, sizeof dec);
    uint64_t pairs = 0, keys = 0, errors = 0;
    for (uint32_t i = 0; i < cfg->conns; i++) {
        bench_hist_merge(&enc, &ws[i].enc_lat);
        bench_hist_merge(&dec, &ws[i].dec_lat);
        pairs += ws[i].pairs;
        keys += ws[i].keys;
        errors += ws[i].errors;
    }
    if (secs <= 0) secs = 1e-6;
    printf("qkd-bench rest: %u connections, %.2f s, %u keys of %u bits per call, %s\n", cfg->conns,
           secs, cfg->number, cfg->size, cfg->post ? "POST" : "GET");
    printf("  %-12s %llu\n", "pairs", (unsigned long long)pairs);
    printf("  %-12s %.1f\n", "pairs/s", (double)pairs / secs);
    printf("  %-12s %.1f\n", "keys/s", (double)keys / secs);
    printf("  %-12s p50 %.3f  p99 %.3f  max %.3f\n", "enc ms", bench_hist_quantile(&enc, 0.5) / 1e3,
           bench_hist_quantile(&enc, 0.99) / 1e3, enc.max_us / 1e3);
    printf("  %-12s p50 %.3f  p99 %.3f  max %.3f\n", "dec ms", bench_hist_quantile(&dec, 0.5) / 1e3,
           bench_hist_quantile(&dec, 0.99) / 1e3, dec.max_us / 1e3);
    printf("  %-12s %llu\n", "errors", (unsigned long long)errors);
    fflush(stdout);
}

static int bench_rest(const struct bench_rest_cfg *cfg)
{
    struct bench_rest_worker *ws = calloc(cfg->conns, sizeof *ws);
    if (!ws) {
        fprintf(stderr, "qkd-bench: out of memory\n");
        return 1;
    }
    int ex = 0;
    for (uint32_t i = 0; i < cfg->conns && ex == 0; i++) {
        ex = bench_rest_setup(&ws[i], cfg);
        if (ex) fprintf(stderr, "qkd-bench: connection %u: %s\n", i, ws[i].err);
    }
    uint32_t started = 0;
    if (ex == 0) {
        atomic_store(&bench_rest_g.issued, 0);
        atomic_store(&bench_rest_g.stop, 0);
        atomic_store(&bench_rest_g.mismatch, 0);
        pthread_barrier_init(&bench_rest_g.start, NULL, cfg->conns + 1);
        for (; started < cfg->conns; started++)
            if (pthread_create(&ws[started].th, NULL, bench_rest_run, &ws[started]) != 0) break;
        if (started < cfg->conns) {
            fprintf(stderr, "qkd-bench: cannot start %u threads\n", cfg->conns);
            exit(1); /* threads wait on the barrier; nothing to clean up that exit does not */
        }
        uint64_t t0 = qkd_now_us();
        bench_rest_g.deadline_us = t0 + (uint64_t)cfg->seconds * 1000000u;
        pthread_barrier_wait(&bench_rest_g.start);
        for (uint32_t i = 0; i < started; i++)
            pthread_join(ws[i].th, NULL);
        double secs = (double)(qkd_now_us() - t0) / 1e6;
        pthread_barrier_destroy(&bench_rest_g.start);
        bench_rest_report(cfg, ws, secs);
        uint64_t pairs = 0;
        for (uint32_t i = 0; i < cfg->conns; i++) {
            pairs += ws[i].pairs;
            if (ws[i].failed || ws[i].errors)
                fprintf(stderr, "qkd-bench: connection %u: %s%s\n", i,
                        ws[i].failed ? "" : "last error: ", ws[i].err);
        }
        if (atomic_load(&bench_rest_g.mismatch)) {
            fprintf(stderr, "qkd-bench: dec keys differ from enc keys\n");
            ex = BENCH_REST_EXIT_MISMATCH;
        } else if (pairs == 0) {
            ex = 2;
        } else {
            for (uint32_t i = 0; i < cfg->conns; i++)
                if (ws[i].failed) ex = 2;
        }
    }
    for (uint32_t i = 0; i < cfg->conns; i++) {
        rest_free(ws[i].enc);
        rest_free(ws[i].dec);
    }
    free(ws);
    return ex;
}

int bench_cmd_rest(int argc, char **argv)
{
    struct bench_rest_cfg c = {
        .conns = 1,
        .pairs = 2000,
        .number = 1,
        .size = 256,
        .seconds = 60,
        .timeout_ms = 10000,
    };
    const struct qkd_opt t[] = {
        {"master-url", "MASTER_ETSI014_URL", QKD_OPT_STR, &c.master_url,
         "the master's key server (enc_keys) https://HOST:PORT", 0, 0},
        {"slave-url", "SLAVE_ETSI014_URL", QKD_OPT_STR, &c.slave_url,
         "the slave's key server (dec_keys) https://HOST:PORT", 0, 0},
        {"master-cert", "MASTER_CERT_PEM", QKD_OPT_STR, &c.master_cert,
         "the master SAE's certificate (its CN is the master SAE_ID)", 0, 0},
        {"master-key", "MASTER_CERT_KEY", QKD_OPT_STR, &c.master_key, "the master SAE's key", 0, 0},
        {"slave-cert", "SLAVE_CERT_PEM", QKD_OPT_STR, &c.slave_cert,
         "the slave SAE's certificate (its CN is the slave SAE_ID)", 0, 0},
        {"slave-key", "SLAVE_CERT_KEY", QKD_OPT_STR, &c.slave_key, "the slave SAE's key", 0, 0},
        {"ca", "SERVER_CERT_PEM", QKD_OPT_STR, &c.ca, "CA of the key servers' certificates", 0, 0},
        {"master", "ETSI014_MASTER", QKD_OPT_STR, &c.master, "the master SAE_ID (dec_keys path)", 0,
         0},
        {"slave", "ETSI014_SLAVE", QKD_OPT_STR, &c.slave, "the slave SAE_ID (enc_keys path)", 0, 0},
        {"conns", "BENCH_CONNECTIONS", QKD_OPT_U32, &c.conns,
         "concurrent workers (threads), each with a connection to both servers", 1,
         BENCH_MAX_CONNECTIONS},
        {"pairs", "BENCH_PAIRS", QKD_OPT_U32, &c.pairs, "enc+dec pairs in all (limit)", 1,
         BENCH_REST_MAX_PAIRS},
        {"number", "ETSI014_NUMBER", QKD_OPT_U32, &c.number, "keys per enc_keys call", 1,
         ETSI014_MAX_KEYS},
        {"size", "ETSI014_SIZE", QKD_OPT_U32, &c.size, "key size in bits", 8, 1u << 20},
        {"seconds", "BENCH_SECONDS", QKD_OPT_U32, &c.seconds, "time limit", 1, BENCH_MAX_SECONDS},
        {"timeout", "CLIENT_TIMEOUT_MS", QKD_OPT_U32, &c.timeout_ms,
         "ms bounding each connect and each call", 1, 600000},
        {"post", "ETSI014_POST", QKD_OPT_BOOL, &c.post, "POST JSON bodies instead of GET", 0, 0},
        {NULL, NULL, QKD_OPT_STR, NULL, NULL, 0, 0},
    };
    const struct qkd_prog prog = {
        .name = "qkd-bench rest",
        .usage = "[options]",
        .description = "ETSI 014 enc_keys at the master's key server + dec_keys of the same "
                       "key_IDs at the slave's, as pairs per second; every key compared (exit 3 "
                       "on a mismatch)",
        .examples = "  qkd-bench rest --master-url $ALICE_ETSI014_URL --slave-url "
                    "$BOB_ETSI014_URL \\\n    --master-cert alice-app.pem --master-key "
                    "alice-app.key --slave-cert bob-app.pem \\\n    --slave-key bob-app.key --ca "
                    "ca.pem --master alice-app --slave bob-app --conns 4\n",
    };
    int pos = 0;
    qkd_opts_parse(&prog, t, argc, argv, &pos);
    if (pos < argc) {
        fprintf(stderr, "qkd-bench: unexpected argument '%s'\n", argv[pos]);
        return 1;
    }
    if (!c.master_url || !c.slave_url || !c.master_cert || !c.master_key || !c.slave_cert ||
        !c.slave_key || !c.ca || !c.master || !c.slave) {
        fprintf(stderr, "qkd-bench: rest needs --master-url --slave-url --master-cert --master-key "
                        "--slave-cert --slave-key --ca --master --slave\n");
        return 1;
    }
    if (c.size % 8) {
        fprintf(stderr, "qkd-bench: invalid value '%u' for --size: not a multiple of 8\n", c.size);
        return 1;
    }
    return bench_rest(&c);
}
