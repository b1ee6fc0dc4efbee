/* hybrid_bench.c: measures hybrid keys/s between two qkd-hybrid daemons (a program that prints
 * numbers, not a test). Opens one stream at both ends, then T threads per end (one libqkd004
 * connection each) fetch indices 0..N-1 (thread t takes i = t mod T); prints the rate and
 * checks that both ends got identical keys.
 *   hybrid_bench A_ADDR A_NODE B_ADDR B_NODE CERTDIR SOURCES N T [FRAMING q|e] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qkd/qkd004.h"

#define BENCH_CHUNK 32

struct side {
    const char *addr, *node, *certdir;
    char cert[1024], key[1024], ca[1024];
    enum qkd004_framing framing;
};

struct worker {
    struct side *side;
    struct qkd_ksid ksid;
    uint32_t first, step, n;
    uint8_t *keys; /* n * BENCH_CHUNK, indexed by index */
    int failed;
    pthread_t th;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct qkd004_conn *side_conn(struct side *s)
{
    struct qkd004_config cfg = {.server = s->addr,
                                .cert = s->cert,
                                .key = s->key,
                                .ca = s->ca,
                                .framing = s->framing,
                                .call_timeout_ms = 60000};
    char err[256];
    struct qkd004_conn *c = qkd004_new(&cfg, err, sizeof(err));
    if (!c) fprintf(stderr, "hybrid_bench: %s: %s\n", s->addr, err);
    return c;
}

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    struct qkd004_conn *c = side_conn(w->side);
    if (!c) {
        w->failed = 1;
        return NULL;
    }
    for (uint32_t i = w->first; i < w->n; i += w->step) {
        uint32_t idx = i, st = 0, msz = 0;
        size_t klen = 0;
        int rc = qkd004_get_key(c, &w->ksid, &idx, w->keys + (size_t)i * BENCH_CHUNK, BENCH_CHUNK,
                                &klen, NULL, &msz, &st);
        if (rc != QKD004_OK || st != 0 || klen != BENCH_CHUNK) {
            fprintf(stderr, "hybrid_bench: %s index %u: rc %d status %u %s\n", w->side->node, i, rc,
                    st, qkd004_last_error(c));
            w->failed = 1;
            break;
        }
    }
    qkd004_free(c);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 9) {
        fprintf(stderr,
                "usage: %s A_ADDR A_NODE B_ADDR B_NODE CERTDIR SOURCES N THREADS "
                "[q|e]\n",
                argv[0]);
        return 1;
    }
    struct side sd[2] = {{.addr = argv[1], .node = argv[2], .certdir = argv[5]},
                         {.addr = argv[3], .node = argv[4], .certdir = argv[5]}};
    const char *sources = argv[6];
    uint32_t n = (uint32_t)strtoul(argv[7], NULL, 10), t = (uint32_t)strtoul(argv[8], NULL, 10);
    enum qkd004_framing fr = (argc > 9 && argv[9][0] == 'e') ? QKD004_FRAMING_E : QKD004_FRAMING_Q;
    if (n == 0 || t == 0 || t > 64) return 1;
    for (int k = 0; k < 2; k++) {
        snprintf(sd[k].cert, sizeof(sd[k].cert), "%s/%s/client.pem", sd[k].certdir, sd[k].node);
        snprintf(sd[k].key, sizeof(sd[k].key), "%s/%s/client.key", sd[k].certdir, sd[k].node);
        snprintf(sd[k].ca, sizeof(sd[k].ca), "%s/ca.pem", sd[k].certdir);
        sd[k].framing = fr;
    }
    char src[512], dst[256];
    snprintf(src, sizeof(src), "hybrid://bench@%s?key_sources=%s", sd[0].node, sources);
    snprintf(dst, sizeof(dst), "hybrid://bench@%s", sd[1].node);
    struct qkd_ksid ksid;
    memset(&ksid, 0, sizeof(ksid));
    for (int k = 0; k < 2; k++) {
        struct qkd004_conn *c = side_conn(&sd[k]);
        if (!c) return 2;
        struct qkd_qos q;
        qkd004_qos_default(&q);
        q.key_chunk_size = BENCH_CHUNK;
        q.timeout = 20000;
        uint32_t st = 0;
        int rc = qkd004_open_connect(c, src, dst, &q, &ksid, &st);
        qkd004_free(c);
        if (rc != QKD004_OK || !qkd_status_ok(st)) {
            fprintf(stderr, "hybrid_bench: OPEN_CONNECT at %s: rc %d status %u\n", sd[k].node, rc,
                    st);
            return 2;
        }
    }
    uint8_t *keys[2] = {calloc(n, BENCH_CHUNK), calloc(n, BENCH_CHUNK)};
    struct worker *w = calloc(2 * t, sizeof(*w));
    if (!keys[0] || !keys[1] || !w) return 1;
    double t0 = now_s();
    for (uint32_t i = 0; i < 2 * t; i++) {
        w[i] = (struct worker){.side = &sd[i % 2],
                               .ksid = ksid,
                               .first = i / 2,
                               .step = t,
                               .n = n,
                               .keys = keys[i % 2]};
        pthread_create(&w[i].th, NULL, worker_run, &w[i]);
    }
    int failed = 0;
    for (uint32_t i = 0; i < 2 * t; i++) {
        pthread_join(w[i].th, NULL);
        failed |= w[i].failed;
    }
    double el = now_s() - t0;
    int same = memcmp(keys[0], keys[1], (size_t)n * BENCH_CHUNK) == 0;
    printf("%s-%s {%s}: %u keys of %d bytes in %.3f s = %.1f keys/s (%u connection(s) per "
           "end)%s\n",
           sd[0].node, sd[1].node, sources, n, BENCH_CHUNK, el, (double)n / el, t,
           failed ? " FAILED"
           : same ? ", identical at both ends"
                  : " MISMATCH");
    for (uint32_t i = 0; i < 2 * t; i++) {
        struct qkd004_conn *c = side_conn(w[i].side);
        uint32_t st;
        if (c && i < 2) qkd004_close(c, &ksid, &st);
        qkd004_free(c);
    }
    free(keys[0]);
    free(keys[1]);
    free(w);
    return failed || !same ? 3 : 0;
}
