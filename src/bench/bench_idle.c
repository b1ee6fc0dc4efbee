/* bench_idle.c: qkd-bench idle: what N idle TLS connections cost a key server. Opens N mutual
 * TLS 1.3 connections (one shared client context, sequential handshakes), holds them idle, and
 * prints the server's resident memory (from /proc/PID/status) before and after, per
 * connection, and the latency a new client sees (connect + OPEN_CONNECT + CLOSE on a fresh
 * connection) before and while the idle connections are held. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"
#include "evloop.h"
#include "sock.h"
#include "conn.h"
#include "tls.h"

/* VmRSS of pid in KiB, or -1. */
static long bench_rss_kib(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

/* Latency of a new client: connect, OPEN_CONNECT, CLOSE on a fresh connection, probes times. */
static void bench_probe(const struct bench_idle_cfg *cfg, struct bench_hist *h, uint32_t *failed)
{
    for (uint32_t i = 0; i < cfg->probes; i++) {
        char err[300];
        struct qkd004_conn *c = qkd004_new(&cfg->conn, err, sizeof err);
        if (!c) {
            (*failed)++;
            continue;
        }
        struct qkd_qos qos;
        qkd004_qos_default(&qos);
        struct qkd_ksid ksid;
        memset(&ksid, 0, sizeof ksid);
        uint32_t st = 0, st2 = 0;
        uint64_t t0 = qkd_now_us();
        int rc = qkd004_open_connect(c, cfg->source, cfg->destination, &qos, &ksid, &st);
        if (rc == QKD004_OK && qkd_status_ok(st)) rc = qkd004_close(c, &ksid, &st2);
        if (rc == QKD004_OK && qkd_status_ok(st))
            bench_hist_add(h, qkd_now_us() - t0);
        else
            (*failed)++;
        qkd004_free(c);
    }
}

/* One blocking TLS handshake on a new TCP connection; returns the SSL (fd inside) or NULL. */
static SSL *bench_idle_connect(SSL_CTX *ctx, const char *server, uint32_t timeout_ms)
{
    char err[200];
    int fd = qkd_tcp_connect_nb(server, err, sizeof err);
    if (fd < 0) return NULL;
    SSL *ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        close(fd);
        return NULL;
    }
    uint64_t deadline = qkd_now_ms() + timeout_ms;
    for (;;) {
        int r = SSL_connect(ssl);
        if (r == 1) return ssl;
        int e = SSL_get_error(ssl, r);
        uint64_t now = qkd_now_ms();
        if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || now >= deadline) break;
        struct pollfd p = {.fd = fd, .events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
        poll(&p, 1, (int)(deadline - now));
    }
    SSL_free(ssl);
    close(fd);
    return NULL;
}

static void bench_print_probe(const char *when, const struct bench_hist *h, uint32_t failed)
{
    printf("new client (connect+OPEN+CLOSE) %-28s p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  "
           "(%llu ok, %u failed)\n",
           when, bench_hist_quantile(h, 0.5) / 1000.0, bench_hist_quantile(h, 0.99) / 1000.0,
           h->max_us / 1000.0, (unsigned long long)h->n, failed);
}

int bench_idle(const struct bench_idle_cfg *cfg)
{
    /* enough descriptors for the idle connections (the soft limit up to the hard one) */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)cfg->connections + 64) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (rlim_t)cfg->connections + 64
                          ? (rlim_t)cfg->connections + 64
                          : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    char err[300];
    struct qkd_tls_files files = {.cert = cfg->conn.cert, .key = cfg->conn.key, .ca = cfg->conn.ca};
    SSL_CTX *ctx = qkd_tls_ctx_new(false, &files, err, sizeof err);
    if (!ctx) {
        fprintf(stderr, "qkd-bench: %s\n", err);
        return 1;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL **conns = calloc(cfg->connections, sizeof *conns);
    if (!conns) {
        SSL_CTX_free(ctx);
        return 1;
    }

    static struct bench_hist before, during;
    uint32_t fail_before = 0, fail_during = 0;
    long rss0 = cfg->server_pid ? bench_rss_kib(cfg->server_pid) : -1;
    bench_probe(cfg, &before, &fail_before);

    uint64_t t0 = qkd_now_us();
    uint32_t up = 0, failed = 0;
    for (uint32_t i = 0; i < cfg->connections; i++) {
        conns[i] = bench_idle_connect(ctx, cfg->conn.server, cfg->conn.connect_timeout_ms);
        if (conns[i])
            up++;
        else if (++failed >= BENCH_MAX_ERRORS_ROW && up == 0)
            break;
    }
    double setup_s = (qkd_now_us() - t0) / 1e6;
    /* let the server settle (its handshake state freed), then measure while they are held */
    usleep(500 * 1000);
    long rss1 = cfg->server_pid ? bench_rss_kib(cfg->server_pid) : -1;
    bench_probe(cfg, &during, &fail_during);
    uint64_t hold_until = qkd_now_ms() + (uint64_t)cfg->hold_seconds * 1000;
    while (qkd_now_ms() < hold_until)
        usleep(100 * 1000);
    /* still held by the server? A closed connection reads EOF at once. */
    uint32_t alive = 0;
    for (uint32_t i = 0; i < cfg->connections; i++) {
        if (!conns[i]) continue;
        struct pollfd p = {.fd = SSL_get_fd(conns[i]), .events = POLLIN};
        if (poll(&p, 1, 0) == 0) alive++;
    }
    long rss2 = cfg->server_pid ? bench_rss_kib(cfg->server_pid) : -1;

    printf("idle TLS connections: %u established, %u failed, in %.1f s (%.0f handshakes/s)\n", up,
           failed, setup_s, setup_s > 0 ? up / setup_s : 0.0);
    printf("still open after holding %u s: %u\n", cfg->hold_seconds, alive);
    if (cfg->server_pid) {
        printf("server RSS: %.1f MB before, %.1f MB with them held, %.1f MB at the end\n",
               rss0 / 1024.0, rss1 / 1024.0, rss2 / 1024.0);
        if (up) printf("server memory per idle connection: %.1f KiB\n", (double)(rss1 - rss0) / up);
    }
    bench_print_probe("before:", &before, fail_before);
    bench_print_probe("with the idle connections:", &during, fail_during);

    for (uint32_t i = 0; i < cfg->connections; i++) {
        if (!conns[i]) continue;
        int fd = SSL_get_fd(conns[i]);
        SSL_free(conns[i]);
        close(fd);
    }
    free(conns);
    SSL_CTX_free(ctx);
    return up == cfg->connections ? 0 : 2;
}
