/* status_main.c: qkd-status, a node's link state in one screen from a daemon's metrics
 * endpoint (docs/observability.md): GET /metrics and /healthz over plain HTTP, one row per link
 * (key server, keygen) or peer (hybrid daemon), or one JSON object with --json. */
#include <cjson/cJSON.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "opts.h"
#include "prom.h"
#include "sock.h"

#define ST_MAX_RESPONSE (8u << 20) /* bytes of one HTTP response */
#define ST_MAX_ROWS     32
#define ST_EXIT_OK      0
#define ST_EXIT_LOCAL   1
#define ST_EXIT_CONNECT 2
#define ST_EXIT_UNWELL  3

static const struct qkd_prog prog = {
    .name = "qkd-status",
    .usage = "[--json] [--timeout-ms N] URL",
    .description =
        "Prints a node's link state in one screen from the metrics endpoint of qkd-kme,\n"
        "qkd-keygen or qkd-hybrid (--metrics-listen): per link (or peer) up/down, peer sync,\n"
        "buffered key, SKR measured and configured, keys served, streams and waiting calls,\n"
        "and the daemon's health. URL is http://HOST:PORT (or HOST:PORT; env QKD_METRICS_URL).\n"
        "Exit status: 0 healthy, 1 usage or local error, 2 cannot reach the endpoint or a\n"
        "malformed answer, 3 reachable but unhealthy (/healthz 503).",
    .examples = "  qkd-status $ALICE_METRICS_URL\n  qkd-status --json $BOB_KEYGEN_METRICS_URL",
};

/* GET path from host:port; the body (NUL-terminated, caller frees) and status in *code. */
static char *http_get(const char *hostport, const char *path, uint32_t timeout_ms, int *code,
                      char *err, size_t errlen)
{
    char host[256];
    unsigned port;
    if (qkd_addr_split(hostport, host, sizeof host, &port, err, errlen) != 0) return NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%u", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai) {
        snprintf(err, errlen, "cannot resolve %s", host);
        return NULL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        snprintf(err, errlen, "cannot connect to %s", hostport);
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        return NULL;
    }
    freeaddrinfo(ai);
    char rq[512];
    int n = snprintf(rq, sizeof rq, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                     path, hostport);
    struct qkd_sbuf b = {0};
    if (send(fd, rq, (size_t)n, MSG_NOSIGNAL) != n) {
        snprintf(err, errlen, "cannot send to %s", hostport);
        close(fd);
        return NULL;
    }
    char chunk[16384];
    ssize_t got;
    while ((got = recv(fd, chunk, sizeof chunk, 0)) > 0 && b.len <= ST_MAX_RESPONSE)
        qkd_sbuf_add(&b, chunk, (size_t)got);
    close(fd);
    char *hdr_end = b.p ? strstr(b.p, "\r\n\r\n") : NULL;
    if (got < 0 || b.failed || b.len > ST_MAX_RESPONSE || !hdr_end ||
        sscanf(b.p, "HTTP/1.%*d %d", code) != 1) {
        snprintf(err, errlen, "no valid HTTP answer from %s%s", hostport, path);
        qkd_sbuf_free(&b);
        return NULL;
    }
    char *body = strdup(hdr_end + 4);
    qkd_sbuf_free(&b);
    return body;
}

struct row {
    char key[128];
    double up, sync, avail, cap, meas, cfg, keys, hkeys, streams, waiting, dropped;
    int has_up, has_sync;
};
struct scan {
    struct row rows[ST_MAX_ROWS];
    int n;
    char program[64], node[128];
    double streams, waiting; /* unlabelled (hybrid) */
};

static struct row *row_for(struct scan *s, const char *key)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->rows[i].key, key) == 0) return &s->rows[i];
    if (s->n >= ST_MAX_ROWS) return NULL;
    struct row *r = &s->rows[s->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->key, sizeof r->key, "%s", key);
    return r;
}

static int on_sample(const struct qkd_prom_sample_view *v, void *arg)
{
    struct scan *s = arg;
    if (strcmp(v->name, "qkd_build_info") == 0) {
        const char *p = qkd_prom_label_get(v, "program"), *n = qkd_prom_label_get(v, "node");
        snprintf(s->program, sizeof s->program, "%s", p ? p : "?");
        snprintf(s->node, sizeof s->node, "%s", n ? n : "");
        return 0;
    }
    const char *k = qkd_prom_label_get(v, "link");
    if (!k) k = qkd_prom_label_get(v, "peer");
    if (!k) {
        if (strcmp(v->name, "qkd_streams_open") == 0)
            s->streams = v->value;
        else if (strcmp(v->name, "qkd_waiting_calls") == 0)
            s->waiting = v->value;
        return 0;
    }
    struct row *r = row_for(s, k);
    if (!r) return 0;
    const char *n = v->name;
    if (!strcmp(n, "qkd_link_up") || !strcmp(n, "qkd_hybrid_peer_up")) {
        r->up = v->value;
        r->has_up = 1;
    } else if (!strcmp(n, "qkd_peer_sync_up")) {
        r->sync = v->value;
        r->has_sync = 1;
    } else if (!strcmp(n, "qkd_ring_available_bytes"))
        r->avail = v->value;
    else if (!strcmp(n, "qkd_ring_capacity_bytes"))
        r->cap = v->value;
    else if (!strcmp(n, "qkd_skr_measured_bits_per_second"))
        r->meas = v->value;
    else if (!strcmp(n, "qkd_skr_configured_bits_per_second"))
        r->cfg = v->value;
    else if (!strcmp(n, "qkd_keys_delivered_total") || !strcmp(n, "qkd_hybrid_keys_total"))
        r->keys += v->value;
    else if (!strcmp(n, "qkd_streams_open"))
        r->streams = v->value;
    else if (!strcmp(n, "qkd_waiting_calls"))
        r->waiting = v->value;
    else if (!strcmp(n, "qkd_dropped_bits_total"))
        r->dropped = v->value;
    return 0;
}

static const char *human(double v, char *buf, size_t n)
{
    const char *u[] = {"", "k", "M", "G", "T"};
    int i = 0;
    while (v >= 1000 && i < 4) {
        v /= 1000;
        i++;
    }
    snprintf(buf, n, i ? "%.1f%s" : "%.0f%s", v, u[i]);
    return buf;
}

static void print_text(const char *url, const struct scan *s, cJSON *health, int code)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(health, "status");
    printf("%s %s  %s  health: %s\n", s->program, s->node, url,
           cJSON_IsString(st) ? st->valuestring : (code == 200 ? "ok" : "unavailable"));
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(health, "reasons"), *it;
    cJSON_ArrayForEach(it, rs) if (cJSON_IsString(it)) printf("  ! %s\n", it->valuestring);
    printf("%-16s %-5s %-5s %-17s %-21s %-8s %-7s %s\n", "LINK/PEER", "UP", "SYNC",
           "BUFFERED/CAP (B)", "SKR MEAS/CFG (bit/s)", "KEYS", "STREAMS", "WAITING");
    for (int i = 0; i < s->n; i++) {
        const struct row *r = &s->rows[i];
        char a[16], c[16], m[16], f[16], buf[40], skr[40];
        snprintf(buf, sizeof buf, "%s/%s", human(r->avail, a, sizeof a),
                 human(r->cap, c, sizeof c));
        snprintf(skr, sizeof skr, "%s/%s", human(r->meas, m, sizeof m), human(r->cfg, f, sizeof f));
        printf("%-16s %-5s %-5s %-17s %-21s %-8.0f %-7.0f %.0f\n", r->key,
               r->has_up ? (r->up ? "up" : "DOWN") : "-",
               r->has_sync ? (r->sync ? "up" : "DOWN") : "-", r->cap ? buf : "-",
               r->cfg ? skr : "-", r->keys, r->streams + (i == 0 ? s->streams : 0),
               r->waiting + (i == 0 ? s->waiting : 0));
    }
    if (s->n == 0) printf("(no links)\n");
}

static void print_json(const char *url, const struct scan *s, cJSON *health, int code)
{
    cJSON *o = cJSON_CreateObject(), *links = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "url", url);
    cJSON_AddStringToObject(o, "program", s->program);
    cJSON_AddStringToObject(o, "node", s->node);
    cJSON_AddNumberToObject(o, "healthz_code", code);
    cJSON_AddItemToObject(o, "health", health ? cJSON_Duplicate(health, 1) : cJSON_CreateNull());
    for (int i = 0; i < s->n; i++) {
        const struct row *r = &s->rows[i];
        cJSON *l = cJSON_CreateObject();
        cJSON_AddStringToObject(l, "name", r->key);
        if (r->has_up) cJSON_AddBoolToObject(l, "up", r->up != 0);
        if (r->has_sync) cJSON_AddBoolToObject(l, "peer_sync_up", r->sync != 0);
        cJSON_AddNumberToObject(l, "ring_available_bytes", r->avail);
        cJSON_AddNumberToObject(l, "ring_capacity_bytes", r->cap);
        cJSON_AddNumberToObject(l, "skr_measured_bps", r->meas);
        cJSON_AddNumberToObject(l, "skr_configured_bps", r->cfg);
        cJSON_AddNumberToObject(l, "keys_served", r->keys);
        cJSON_AddNumberToObject(l, "streams_open", r->streams);
        cJSON_AddNumberToObject(l, "waiting_calls", r->waiting);
        cJSON_AddNumberToObject(l, "dropped_bits", r->dropped);
        cJSON_AddItemToArray(links, l);
    }
    cJSON_AddItemToObject(o, "links", links);
    char *txt = cJSON_PrintUnformatted(o);
    if (txt) printf("%s\n", txt);
    free(txt);
    cJSON_Delete(o);
}

int main(int argc, char **argv)
{
    bool json = false;
    uint32_t timeout_ms = 5000;
    const char *url = NULL;
    const struct qkd_opt opts[] = {
        {"json", NULL, QKD_OPT_BOOL, &json, "one JSON object instead of the table", 0, 0},
        {"timeout-ms", NULL, QKD_OPT_U32, &timeout_ms, "connect and read timeout", 1, 600000},
        {"url", "QKD_METRICS_URL", QKD_OPT_STR, &url, "the endpoint (or the first argument)", 0, 0},
        {NULL, NULL, 0, NULL, NULL, 0, 0},
    };
    int pos;
    qkd_opts_parse(&prog, opts, argc, argv, &pos);
    if (pos < argc) url = argv[pos++];
    if (!url || pos < argc) {
        fprintf(stderr, "qkd-status: %s (see qkd-status --help)\n",
                url ? "one URL only" : "the metrics URL is required");
        return ST_EXIT_LOCAL;
    }
    const char *hp = strncmp(url, "http://", 7) == 0 ? url + 7 : url;
    char hostport[300];
    snprintf(hostport, sizeof hostport, "%.*s", (int)strcspn(hp, "/"), hp);
    char err[300];
    int code = 0, hcode = 0;
    char *text = http_get(hostport, "/metrics", timeout_ms, &code, err, sizeof err);
    if (!text || code != 200) {
        fprintf(stderr, "qkd-status: %s\n", text ? "/metrics did not answer 200" : err);
        free(text);
        return ST_EXIT_CONNECT;
    }
    struct scan s = {.program = "?"};
    if (qkd_prom_parse(text, strlen(text), on_sample, &s) < 0) {
        fprintf(stderr, "qkd-status: malformed exposition at %s/metrics\n", hostport);
        free(text);
        return ST_EXIT_CONNECT;
    }
    free(text);
    char *htext = http_get(hostport, "/healthz", timeout_ms, &hcode, err, sizeof err);
    cJSON *health = htext ? cJSON_Parse(htext) : NULL;
    free(htext);
    if (json)
        print_json(url, &s, health, hcode);
    else
        print_text(url, &s, health, hcode);
    cJSON_Delete(health);
    return hcode == 200 ? ST_EXIT_OK : hcode == 503 ? ST_EXIT_UNWELL : ST_EXIT_CONNECT;
}
