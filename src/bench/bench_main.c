/* bench_main.c: qkd-bench's command line: `qkd-bench getkey|open-close|ring|idle|rest [options]`,
 * options from flags or environment (flags win) through the shared option parser. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "opts.h"

static const char bench_usage_text[] =
    "qkd-bench - load generator and benchmark for the QKD key servers and key rings\n"
    "\n"
    "Usage: qkd-bench getkey     [connection options] [--connections N] [--seconds S]\n"
    "                            [--count N] [--chunk-size N] [--per-call-connection]\n"
    "       qkd-bench open-close [connection options] [--connections N] [--seconds S]\n"
    "                            [--count N] [--per-call-connection]\n"
    "       qkd-bench ring       --ring NAME [--seconds S]\n"
    "       qkd-bench idle       [connection options] [--connections N] [--server-pid PID]\n"
    "                            [--hold S] [--probes N]\n"
    "       qkd-bench rest       --master-url URL --slave-url URL --master-cert F --master-key F\n"
    "                            --slave-cert F --slave-key F --ca F --master SAE --slave SAE\n"
    "                            [--conns C] [--pairs N] [--number N] [--size BITS] [--seconds S]\n"
    "       qkd-bench COMMAND --help   (every option of COMMAND)\n"
    "\n"
    "getkey: one stream per connection (N threads, one TLS connection each), GET_KEY on\n"
    "  sequential indices until S seconds or N keys in all; prints keys/s, bytes/s, latency\n"
    "  p50/p99/max and the ETSI status histogram.\n"
    "open-close: OPEN_CONNECT+CLOSE pairs/s, same limits.\n"
    "ring: attaches to a key ring without consuming and prints the bits/s written into it\n"
    "  (and consumed, dropped) against the configured SKR, every second and as a summary.\n"
    "idle: holds N idle TLS connections to a key server; prints the server's RSS before and\n"
    "  with them (--server-pid) and a new client's connect+OPEN+CLOSE latency before and with.\n"
    "rest: ETSI 014 enc_keys at the master's key server + dec_keys of the same key_IDs at the\n"
    "  slave's over C keep-alive HTTPS connections to each; pairs/s, keys/s, enc and dec latency\n"
    "  p50/p99; every dec key compared with its enc key (exit 3 on a mismatch).\n"
    "Exit status: 0 done, 1 usage or local error, 2 a connection could not be set up (rest: or\n"
    "  a worker gave up after repeated errors, or no pair completed), 3 rest: key mismatch.\n";

static void bench_top_usage(FILE *f)
{
    fputs(bench_usage_text, f);
}

struct bench_args {
    const char *server, *cert, *key, *ca, *server_name, *framing, *ring, *source, *destination;
    uint32_t connections, seconds, count, chunk_size, timeout_ms, hold, probes, server_pid;
    bool per_call;
    char server_buf[300];
};

enum bench_load_kind { BENCH_CMD_GETKEY, BENCH_CMD_OPEN_CLOSE, BENCH_CMD_IDLE };

static const char *const bench_cmd_names[] = {"qkd-bench getkey", "qkd-bench open-close",
                                              "qkd-bench idle"};
static const char *const bench_cmd_descr[] = {
    "GET_KEY throughput and latency over N connections",
    "OPEN_CONNECT+CLOSE pairs per second over N connections",
    "the server's memory and a new client's latency with N idle TLS connections held"};

static int bench_cmd_load(int argc, char **argv, enum bench_load_kind kind)
{
    const bool getkey = kind == BENCH_CMD_GETKEY, idle = kind == BENCH_CMD_IDLE;
    struct bench_args a;
    memset(&a, 0, sizeof a);
    a.framing = "q";
    a.connections = 1;
    a.seconds = 10;
    a.count = 100000;
    a.chunk_size = 32;
    a.timeout_ms = 10000;
    a.source = "client://localhost";
    a.destination = "server://localhost";
    a.hold = 5;
    a.probes = 20;
    if (idle) a.connections = 1000;
    const struct qkd_opt t[] = {
        {"server", NULL, QKD_OPT_STR, &a.server,
         "key server HOST:PORT (env SERVER_ADDRESS + SERVER_PORT)", 0, 0},
        {"cert", "CLIENT_CERT_PEM", QKD_OPT_STR, &a.cert, "client certificate (PEM)", 0, 0},
        {"key", "CLIENT_CERT_KEY", QKD_OPT_STR, &a.key, "client private key (PEM)", 0, 0},
        {"ca", "SERVER_CERT_PEM", QKD_OPT_STR, &a.ca, "CA of the server certificate", 0, 0},
        {"server-name", "SERVER_NAME", QKD_OPT_STR, &a.server_name,
         "name the server certificate must carry (default: host of --server)", 0, 0},
        {"framing", "FRAMING", QKD_OPT_STR, &a.framing, "q or e", 0, 0},
        {"timeout", "CLIENT_TIMEOUT_MS", QKD_OPT_U32, &a.timeout_ms,
         "ms bounding each connect and each call", 1, 600000},
        {"connections", "BENCH_CONNECTIONS", QKD_OPT_U32, &a.connections,
         idle ? "idle TLS connections to hold" : "concurrent connections (threads)", 1,
         idle ? BENCH_MAX_IDLE : BENCH_MAX_CONNECTIONS},
        {"server-pid", "BENCH_SERVER_PID", QKD_OPT_U32, &a.server_pid,
         "idle: the key server's pid, for its RSS (0 = not reported)", 0, 0},
        {"hold", "BENCH_HOLD", QKD_OPT_U32, &a.hold, "idle: seconds to hold them", 0,
         BENCH_MAX_SECONDS},
        {"probes", "BENCH_PROBES", QKD_OPT_U32, &a.probes,
         "idle: new-client probes before and while they are held", 1, 10000},
        {"seconds", "BENCH_SECONDS", QKD_OPT_U32, &a.seconds, "time limit of the load", 1,
         BENCH_MAX_SECONDS},
        {"count", "BENCH_COUNT", QKD_OPT_U32, &a.count,
         getkey ? "keys in all (limit)" : "OPEN+CLOSE pairs in all (limit)", 1, BENCH_MAX_COUNT},
        {"chunk-size", "QOS_KEY_CHUNK_SIZE", QKD_OPT_U32, &a.chunk_size,
         "Key_chunk_size requested for each stream", 1, 1048576},
        {"per-call-connection", "BENCH_PER_CALL_CONNECTION", QKD_OPT_BOOL, &a.per_call,
         "a new TLS connection for every call (as the ETSI E library does)", 0, 0},
        {"source", "SOURCE_URI", QKD_OPT_STR, &a.source, "OPEN_CONNECT source URI", 0, 0},
        {"destination", "DESTINATION_URI", QKD_OPT_STR, &a.destination,
         "OPEN_CONNECT destination URI", 0, 0},
        {NULL, NULL, QKD_OPT_STR, NULL, NULL, 0, 0},
    };
    const struct qkd_prog prog = {
        .name = bench_cmd_names[kind],
        .usage = "[options]",
        .description = bench_cmd_descr[kind],
        .examples = getkey ? "  qkd-bench getkey --server 127.0.0.1:25575 --cert c.pem --key "
                             "c.key --ca ca.pem --connections 4 --seconds 5\n"
                    : idle ? "  qkd-bench idle --server 127.0.0.1:25575 --cert c.pem --key c.key "
                             "--ca ca.pem --connections 10000 --server-pid 1234\n"
                           : "  qkd-bench open-close --server 127.0.0.1:25575 --cert c.pem "
                             "--key c.key --ca ca.pem --seconds 5\n",
    };
    int pos = 0;
    qkd_opts_parse(&prog, t, argc, argv, &pos);
    if (pos < argc) {
        fprintf(stderr, "qkd-bench: unexpected argument '%s'\n", argv[pos]);
        return 1;
    }
    if (!a.server) {
        const char *h = getenv("SERVER_ADDRESS"), *p = getenv("SERVER_PORT");
        if (h && *h) {
            snprintf(a.server_buf, sizeof a.server_buf, "%s:%s", h, p && *p ? p : "25575");
            a.server = a.server_buf;
        }
    }
    if (!a.server || !a.cert || !a.key || !a.ca) {
        fprintf(stderr, "qkd-bench: --server, --cert, --key and --ca are required\n");
        return 1;
    }
    if (strcmp(a.framing, "q") != 0 && strcmp(a.framing, "e") != 0) {
        fprintf(stderr, "qkd-bench: invalid value '%s' for --framing: expected q or e\n",
                a.framing);
        return 1;
    }
    const struct qkd004_config conn = {.server = a.server,
                                       .cert = a.cert,
                                       .key = a.key,
                                       .ca = a.ca,
                                       .server_name = a.server_name,
                                       .framing = a.framing[0] == 'e' ? QKD004_FRAMING_E
                                                                      : QKD004_FRAMING_Q,
                                       .connect_timeout_ms = a.timeout_ms,
                                       .call_timeout_ms = a.timeout_ms};
    if (idle) {
        const struct bench_idle_cfg icfg = {.conn = conn,
                                            .connections = a.connections,
                                            .hold_seconds = a.hold,
                                            .probes = a.probes,
                                            .server_pid = (int)a.server_pid,
                                            .source = a.source,
                                            .destination = a.destination};
        return bench_idle(&icfg);
    }
    struct bench_load_cfg cfg = {
        .conn = conn,
        .connections = a.connections,
        .seconds = a.seconds,
        .count = a.count,
        .chunk_size = a.chunk_size,
        .per_call_connection = a.per_call,
        .source = a.source,
        .destination = a.destination,
    };
    return getkey ? bench_getkey(&cfg) : bench_open_close(&cfg);
}

static int bench_cmd_ring(int argc, char **argv)
{
    const char *ring = NULL;
    uint32_t seconds = 10;
    const struct qkd_opt t[] = {
        {"ring", "RING_NAME", QKD_OPT_STR, &ring, "ring name, e.g. /qkd-alice-bob", 0, 0},
        {"seconds", "BENCH_SECONDS", QKD_OPT_U32, &seconds, "how long to watch", 1,
         BENCH_MAX_SECONDS},
        {NULL, NULL, QKD_OPT_STR, NULL, NULL, 0, 0},
    };
    const struct qkd_prog prog = {
        .name = "qkd-bench ring",
        .usage = "--ring NAME [--seconds S]",
        .description = "key delivery into a ring (bits/s) against the configured SKR; the ring "
                       "is observed, never consumed",
        .examples = "  qkd-bench ring --ring /qkd-alice-bob --seconds 5\n",
    };
    int pos = 0;
    qkd_opts_parse(&prog, t, argc, argv, &pos);
    if (pos < argc) {
        fprintf(stderr, "qkd-bench: unexpected argument '%s'\n", argv[pos]);
        return 1;
    }
    if (!ring) {
        fprintf(stderr, "qkd-bench: --ring NAME is required\n");
        return 1;
    }
    return bench_ring(ring, seconds);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        bench_top_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("qkd-bench %s\n", QKD_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "getkey") == 0) return bench_cmd_load(argc - 1, argv + 1, BENCH_CMD_GETKEY);
    if (strcmp(argv[1], "open-close") == 0)
        return bench_cmd_load(argc - 1, argv + 1, BENCH_CMD_OPEN_CLOSE);
    if (strcmp(argv[1], "idle") == 0) return bench_cmd_load(argc - 1, argv + 1, BENCH_CMD_IDLE);
    if (strcmp(argv[1], "ring") == 0) return bench_cmd_ring(argc - 1, argv + 1);
    if (strcmp(argv[1], "rest") == 0) return bench_cmd_rest(argc - 1, argv + 1);
    fprintf(stderr,
            "qkd-bench: unknown command '%s' (getkey, open-close, ring, idle, rest; see --help)\n",
            argv[1]);
    return 1;
}
