/* cli_main.c: qkd-client, the command-line ETSI GS QKD 004 client (spec: interfaces.md).
 * Subcommands open, get, close and flow over libqkd004; options from flags or environment
 * (flags win) through the shared option parser, with the subcommand word taken out of argv
 * first. Exit status: 0 success, 1 usage or local error, 2 connection/TLS/transport failure,
 * 10+N for ETSI status N (1 and 7 are successes), 130 when interrupted. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "opts.h"
#include "qkd/qkd004.h"
#include "secbuf.h"

#define CLI_EXIT_OK          0
#define CLI_EXIT_LOCAL       1
#define CLI_EXIT_TRANSPORT   2
#define CLI_EXIT_STATUS_BASE 10
#define CLI_EXIT_INTERRUPTED 130
#define CLI_DEFAULT_PORT     "25575"
#define CLI_DEFAULT_TIMEOUT  60000u
#define CLI_MAX_COUNT        100000000u

enum cli_cmd { CLI_OPEN, CLI_GET, CLI_CLOSE, CLI_FLOW, CLI_NONE };
static const char *const cli_cmd_names[] = {"open", "get", "close", "flow"};

struct cli_args {
    enum cli_cmd cmd;
    const char *server, *cert, *key, *ca, *server_name, *framing, *format, *out;
    uint32_t timeout_ms;
    bool json;
    const char *source, *destination, *ksid;
    uint32_t index, count, metadata_size;
    struct qkd_qos qos;
    const char *mimetype;
    char server_buf[300];
};

static volatile sig_atomic_t cli_interrupted;

static void cli_on_sigint(int sig)
{
    (void)sig;
    cli_interrupted = 1;
    signal(SIGINT, SIG_DFL); /* a second Ctrl-C ends the program at once */
}

/* Short meaning of an ETSI status for one-line errors. */
static const char *cli_status_meaning(uint32_t st)
{
    static const char *const m[] = {
        "successful",
        "peer not connected",
        "insufficient key available",
        "peer application not connected or KSID unknown",
        "no QKD connection available",
        "KSID already in use",
        "timeout",
        "QoS not met, counter-proposal included",
        "metadata buffer too small",
    };
    return st < sizeof m / sizeof m[0] ? m[st] : "unknown status";
}

static int cli_exit_status(uint32_t st)
{
    if (qkd_status_ok(st)) return CLI_EXIT_OK;
    return st > 245 ? 255 : CLI_EXIT_STATUS_BASE + (int)st;
}

static int cli_exit_rc(int rc)
{
    return (rc == QKD004_ERR_ARG || rc == QKD004_ERR_NOMEM) ? CLI_EXIT_LOCAL : CLI_EXIT_TRANSPORT;
}

static int cli_fail_rc(struct qkd004_conn *c, struct cli_out *o, const char *call, int rc)
{
    const char *why = qkd004_last_error(c);
    if (!why || !*why) why = qkd004_strerror(rc);
    fprintf(stderr, "qkd-client: %s failed: %s\n", call, why);
    if (o) cli_out_error(o, why);
    return cli_exit_rc(rc);
}

static int cli_fail_status(const char *call, uint32_t st)
{
    fprintf(stderr, "qkd-client: %s failed: status %u (%s)\n", call, st, cli_status_meaning(st));
    return cli_exit_status(st);
}

static const char cli_description[] =
    "command-line ETSI GS QKD 004 client (libqkd004)\n"
    "\n"
    "Commands:\n"
    "  open  [--source URI] [--destination URI] [--ksid UUID] [QoS options]\n"
    "        OPEN_CONNECT; prints the KSID\n"
    "  get   --ksid UUID [--index N] [--count N] [--metadata-size N]\n"
    "        GET_KEY for indices index..index+count-1; prints '<index> <key>' per key\n"
    "  close --ksid UUID\n"
    "        CLOSE\n"
    "  flow  [--ksid UUID] [--index N] [--count N] [QoS options]\n"
    "        open, get count keys, close on one connection; prints the KSID then the keys\n"
    "\n"
    "Connection options (--server --cert --key --ca --server-name --framing --timeout) and\n"
    "output options (--json --format --out) go before or after the command. --server\n"
    "defaults to $SERVER_ADDRESS:$SERVER_PORT (port 25575 when only the address is set).\n"
    "--format raw writes the key bytes only (flow's KSID then goes to stderr as 'ksid: ...').\n"
    "--json prints one object {ksid, status, [qos], keys: [{index, key, metadata}], [error]}.\n"
    "Keys files from --out are created or truncated with mode 0600. With --count >= 100 a\n"
    "progress bar shows on stderr when it is a terminal. Ctrl-C during get/flow stops after\n"
    "the current call, writes the keys fetched so far and exits 130.\n"
    "\n"
    "Exit status: 0 success (ETSI status 0, 1 or 7); 1 usage or local error (bad option,\n"
    "unreadable certificate, cannot write output); 2 cannot connect, TLS failure, or the\n"
    "connection failed during a call (closed, malformed response, timeout); 10+N the server\n"
    "answered ETSI status N (12 insufficient key, 13 peer application not connected or KSID\n"
    "unknown, 14 no QKD connection, 15 KSID in use, 16 timeout, 18 metadata buffer too small);\n"
    "130 interrupted. Errors are one line: 'qkd-client: GET_KEY failed: status 2 (insufficient\n"
    "key available)'.";

static const char cli_examples[] =
    "  qkd-client --server 127.0.0.1:25575 --cert app.pem --key app.key --ca ca.pem open\n"
    "  qkd-client get --ksid 0b5e...-... --index 0 --count 10 --json\n"
    "  qkd-client flow --count 1000 --chunk-size 32 --out keys.txt\n"
    "  qkd-client --framing e get --ksid $KSID --count 4 --format base64\n"
    "  qkd-client close --ksid $KSID\n"
    "  SERVER_ADDRESS=kme_alice SERVER_PORT=25575 CLIENT_CERT_PEM=c.pem CLIENT_CERT_KEY=c.key \\\n"
    "    SERVER_CERT_PEM=ca.pem qkd-client flow --count 4\n";

/* Which subcommands accept an option (bit per command); globals accept all. */
#define CLI_ALL   0xf
#define CLI_B(c)  (1u << (c))
#define CLI_QOSOK (CLI_B(CLI_OPEN) | CLI_B(CLI_FLOW))

struct cli_opt_scope {
    const char *name;
    unsigned cmds;
};
static const struct cli_opt_scope cli_scopes[] = {
    {"source", CLI_QOSOK},
    {"destination", CLI_QOSOK},
    {"ksid", CLI_ALL},
    {"index", CLI_B(CLI_GET) | CLI_B(CLI_FLOW)},
    {"count", CLI_B(CLI_GET) | CLI_B(CLI_FLOW)},
    {"metadata-size", CLI_B(CLI_GET) | CLI_B(CLI_FLOW)},
    {"chunk-size", CLI_QOSOK},
    {"max-bps", CLI_QOSOK},
    {"min-bps", CLI_QOSOK},
    {"jitter", CLI_QOSOK},
    {"priority", CLI_QOSOK},
    {"qos-timeout", CLI_QOSOK},
    {"ttl", CLI_QOSOK},
    {"mimetype", CLI_QOSOK},
    {NULL, 0},
};

static unsigned cli_scope_of(const char *name, size_t len)
{
    for (const struct cli_opt_scope *s = cli_scopes; s->name; s++)
        if (strlen(s->name) == len && strncmp(s->name, name, len) == 0) return s->cmds;
    return CLI_ALL;
}

static const struct qkd_opt *cli_find(const struct qkd_opt *t, const char *name, size_t len)
{
    for (; t->name; t++)
        if (strlen(t->name) == len && strncmp(t->name, name, len) == 0) return t;
    return NULL;
}

static void cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void cli_usage_error(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "qkd-client: %s (see qkd-client --help)\n", msg);
    exit(CLI_EXIT_LOCAL);
}

/* Takes the subcommand word out of argv (into a copy) and checks each flag applies to it. */
static enum cli_cmd cli_take_command(const struct qkd_opt *t, int argc, char **argv, char **nargv,
                                     int *nargc)
{
    enum cli_cmd cmd = CLI_NONE;
    int n = 0;
    nargv[n++] = argv[0];
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) break;
        if (strncmp(a, "--", 2) == 0) {
            nargv[n++] = argv[i];
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            const struct qkd_opt *o = cli_find(t, name, len);
            if (o && o->type != QKD_OPT_BOOL && !eq && i + 1 < argc &&
                strncmp(argv[i + 1], "--", 2) != 0)
                nargv[n++] = argv[++i];
            continue;
        }
        if (a[0] != '-' && cmd == CLI_NONE) {
            for (int k = 0; k < CLI_NONE; k++)
                if (strcmp(a, cli_cmd_names[k]) == 0) cmd = (enum cli_cmd)k;
            if (cmd == CLI_NONE) cli_usage_error("unknown command '%s'", a);
            continue;
        }
        nargv[n++] = argv[i];
    }
    for (; i < argc; i++)
        nargv[n++] = argv[i];
    nargv[n] = NULL;
    *nargc = n;
    if (cmd == CLI_NONE) return cmd;
    for (int k = 1; k < n; k++) {
        const char *a = nargv[k];
        if (strcmp(a, "--") == 0) break;
        if (strncmp(a, "--", 2) != 0) continue;
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        if (!(cli_scope_of(name, len) & CLI_B(cmd)))
            cli_usage_error("option %s does not apply to '%s'", a, cli_cmd_names[cmd]);
    }
    return cmd;
}

static void cli_parse(struct cli_args *a, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    qkd004_qos_default(&a->qos);
    a->framing = "q";
    a->format = "hex";
    a->timeout_ms = CLI_DEFAULT_TIMEOUT;
    a->source = "client://localhost";
    a->destination = "server://localhost";
    a->count = 1;
    a->metadata_size = 1024;
    a->mimetype = QKD_MIMETYPE_JSON;
    const struct qkd_opt t[] = {
        {"server", NULL, QKD_OPT_STR, &a->server,
         "key server HOST:PORT (env SERVER_ADDRESS + SERVER_PORT)", 0, 0},
        {"cert", "CLIENT_CERT_PEM", QKD_OPT_STR, &a->cert, "client certificate (PEM)", 0, 0},
        {"key", "CLIENT_CERT_KEY", QKD_OPT_STR, &a->key, "client private key (PEM)", 0, 0},
        {"ca", "SERVER_CERT_PEM", QKD_OPT_STR, &a->ca,
         "CA the server certificate must chain to (PEM)", 0, 0},
        {"server-name", "SERVER_NAME", QKD_OPT_STR, &a->server_name,
         "name the server certificate must carry (default: the host of --server; '' = no "
         "name check)",
         0, 0},
        {"framing", "FRAMING", QKD_OPT_STR, &a->framing,
         "wire layout: q (QUBIP, 1.0.1) or e (ETSI gs004-app-int, 2.1.1)", 0, 0},
        {"timeout", "CLIENT_TIMEOUT_MS", QKD_OPT_U32, &a->timeout_ms,
         "ms bounding the connect (TCP+TLS) and each call", 1, 86400000},
        {"json", "OUTPUT_JSON", QKD_OPT_BOOL, &a->json, "print one JSON object", 0, 0},
        {"format", "OUTPUT_FORMAT", QKD_OPT_STR, &a->format,
         "key encoding: hex, base64 or raw (key bytes only)", 0, 0},
        {"out", "OUTPUT_FILE", QKD_OPT_STR, &a->out,
         "write the output to this file (mode 0600) instead of stdout", 0, 0},
        {"source", "SOURCE_URI", QKD_OPT_STR, &a->source, "open/flow: source URI", 0, 0},
        {"destination", "DESTINATION_URI", QKD_OPT_STR, &a->destination,
         "open/flow: destination URI (its host may name the peer node)", 0, 0},
        {"ksid", "KSID", QKD_OPT_STR, &a->ksid,
         "key stream ID (UUID); open/flow: a predefined KSID, get/close: required", 0, 0},
        {"index", "KEY_INDEX", QKD_OPT_U32, &a->index, "get/flow: first key index", 0, 0},
        {"count", "KEY_COUNT", QKD_OPT_U32, &a->count, "get/flow: number of keys", 1,
         CLI_MAX_COUNT},
        {"metadata-size", "METADATA_SIZE", QKD_OPT_U32, &a->metadata_size,
         "get/flow: metadata buffer size (0 = no metadata)", 0, 65536},
        {"chunk-size", "QOS_KEY_CHUNK_SIZE", QKD_OPT_U32, &a->qos.key_chunk_size,
         "QoS Key_chunk_size, bytes per key", 0, 0},
        {"max-bps", "QOS_MAX_BPS", QKD_OPT_U32, &a->qos.max_bps, "QoS Max_bps", 0, 0},
        {"min-bps", "QOS_MIN_BPS", QKD_OPT_U32, &a->qos.min_bps, "QoS Min_bps", 0, 0},
        {"jitter", "QOS_JITTER", QKD_OPT_U32, &a->qos.jitter, "QoS Jitter (bps)", 0, 0},
        {"priority", "QOS_PRIORITY", QKD_OPT_U32, &a->qos.priority, "QoS Priority (0 = highest)", 0,
         0},
        {"qos-timeout", "QOS_TIMEOUT", QKD_OPT_U32, &a->qos.timeout,
         "QoS Timeout (ms) the server may wait for key", 0, 0},
        {"ttl", "QOS_TTL", QKD_OPT_U32, &a->qos.ttl, "QoS TTL (s)", 0, 0},
        {"mimetype", "QOS_METADATA_MIMETYPE", QKD_OPT_STR, &a->mimetype, "QoS Metadata_mimetype", 0,
         0},
        {NULL, NULL, QKD_OPT_STR, NULL, NULL, 0, 0},
    };
    const struct qkd_prog prog = {
        .name = "qkd-client",
        .usage = "[connection options] open|get|close|flow [options]",
        .description = cli_description,
        .examples = cli_examples,
    };
    char **nargv = calloc((size_t)argc + 1, sizeof *nargv);
    if (!nargv) exit(CLI_EXIT_LOCAL);
    int nargc = 0;
    a->cmd = cli_take_command(t, argc, argv, nargv, &nargc);
    int pos = 0;
    qkd_opts_parse(&prog, t, nargc, nargv, &pos);
    if (pos < nargc) cli_usage_error("unexpected argument '%s'", nargv[pos]);
    free(nargv);
    if (a->cmd == CLI_NONE) cli_usage_error("missing command: open, get, close or flow");
    if (!a->server) {
        const char *h = getenv("SERVER_ADDRESS"), *p = getenv("SERVER_PORT");
        if (h && *h) {
            snprintf(a->server_buf, sizeof a->server_buf, "%s:%s", h,
                     p && *p ? p : CLI_DEFAULT_PORT);
            a->server = a->server_buf;
        }
    }
    if (!a->server) cli_usage_error("missing --server HOST:PORT (or SERVER_ADDRESS)");
    if (!a->cert || !a->key || !a->ca)
        cli_usage_error("missing --cert, --key or --ca (or CLIENT_CERT_PEM, CLIENT_CERT_KEY, "
                        "SERVER_CERT_PEM)");
    if (strcmp(a->framing, "q") && strcmp(a->framing, "e") && strcmp(a->framing, "Q") &&
        strcmp(a->framing, "E"))
        cli_usage_error("invalid value '%s' for --framing: expected q or e", a->framing);
    if (strcmp(a->format, "hex") && strcmp(a->format, "base64") && strcmp(a->format, "raw"))
        cli_usage_error("invalid value '%s' for --format: expected hex, base64 or raw", a->format);
    if (a->json && strcmp(a->format, "raw") == 0)
        cli_usage_error("--json and --format raw do not go together");
    if (strlen(a->mimetype) >= QKD_MIMETYPE_MAX)
        cli_usage_error("invalid value '%s' for --mimetype: longer than 255 bytes", a->mimetype);
    snprintf(a->qos.metadata_mimetype, sizeof a->qos.metadata_mimetype, "%s", a->mimetype);
    if ((uint64_t)a->index + a->count - 1 > UINT32_MAX)
        cli_usage_error("--index plus --count goes past index 4294967295");
    if ((a->cmd == CLI_GET || a->cmd == CLI_CLOSE) && !a->ksid)
        cli_usage_error("'%s' needs --ksid UUID", cli_cmd_names[a->cmd]);
}

/* `get` joins a stream the peer application opened: when GET_KEY answers 3 (KSID not attached
 * for this identity here), OPEN_CONNECT with the KSID attaches it (status 0) and the call is
 * retried. A KSID nobody opened would be registered as predefined (status 1): that
 * registration is closed again and the 3 stands, so a typo leaves nothing behind. Returns 1
 * when joined, 0 when the original status 3 stands, or -1 - exit status on a transport error. */
static int cli_join(struct qkd004_conn *c, struct cli_out *o, const struct cli_args *a,
                    const struct qkd_ksid *ksid)
{
    struct qkd_ksid k = *ksid;
    struct qkd_qos qos = a->qos;
    uint32_t st = 0;
    int rc = qkd004_open_connect(c, a->source, a->destination, &qos, &k, &st);
    if (rc != QKD004_OK) return -1 - cli_fail_rc(c, o, "OPEN_CONNECT", rc);
    if (st == QKD_STATUS_SUCCESS || st == QKD_STATUS_QOS_NOT_MET) return 1;
    if (st == QKD_STATUS_PEER_NOT_CONNECTED) {
        uint32_t cst = 0;
        (void)qkd004_close(c, &k, &cst);
        fprintf(stderr, "qkd-client: KSID not opened by the peer application, nor here\n");
    }
    return 0;
}

/* GET_KEY for index..index+count-1; fills *fetched, *last_status. Returns an exit status. */
static int cli_get_range(struct qkd004_conn *c, struct cli_out *o, const struct qkd_ksid *ksid,
                         const struct cli_args *a, size_t key_cap, uint32_t *last_status,
                         uint32_t *fetched)
{
    bool may_join = a->cmd == CLI_GET;
    struct qkd_secbuf *kb = qkd_secbuf_new(key_cap);
    char *md = a->metadata_size ? malloc(a->metadata_size) : NULL;
    if (!kb || (a->metadata_size && !md)) {
        qkd_secbuf_free(kb);
        free(md);
        fprintf(stderr, "qkd-client: out of memory\n");
        return CLI_EXIT_LOCAL;
    }
    struct cli_progress pg;
    cli_progress_start(&pg, a->count);
    int ex = CLI_EXIT_OK;
    *fetched = 0;
    for (uint32_t i = 0; i < a->count && !cli_interrupted;) {
        uint32_t idx = a->index + i, mdsz = a->metadata_size, st = 0;
        size_t klen = 0;
        int rc = qkd004_get_key(c, ksid, &idx, kb->data, kb->len, &klen, md, &mdsz, &st);
        if (rc != QKD004_OK) {
            cli_progress_end(&pg);
            ex = cli_fail_rc(c, o, "GET_KEY", rc);
            break;
        }
        if (st == QKD_STATUS_PEER_APP_NOT_CONNECTED && may_join) {
            may_join = false;
            int j = cli_join(c, o, a, ksid);
            if (j < 0) {
                ex = -1 - j;
                break;
            }
            if (j == 1) {
                continue; /* the same index again, now attached */
            }
        }
        may_join = false;
        *last_status = st;
        if (!qkd_status_ok(st)) {
            cli_progress_end(&pg);
            if (st == QKD_STATUS_METADATA_TOO_SMALL) {
                fprintf(stderr,
                        "qkd-client: GET_KEY failed: status 8 (%s; %u bytes required, use "
                        "--metadata-size)\n",
                        cli_status_meaning(st), mdsz);
                ex = cli_exit_status(st);
            } else {
                ex = cli_fail_status("GET_KEY", st);
            }
            break;
        }
        /* E: mdsz is the whole metadata's length, which may exceed the buffer */
        int wr = cli_out_key(o, idx, kb->data, klen, md,
                             mdsz < a->metadata_size ? mdsz : a->metadata_size);
        qkd_wipe(kb->data, klen);
        if (wr != 0) {
            cli_progress_end(&pg);
            fprintf(stderr, "qkd-client: cannot write the output\n");
            ex = CLI_EXIT_LOCAL;
            break;
        }
        (*fetched)++;
        i++;
        cli_progress_update(&pg, *fetched);
    }
    cli_progress_end(&pg);
    qkd_secbuf_free(kb);
    free(md);
    return ex;
}

static int cli_open(struct qkd004_conn *c, struct cli_out *o, const struct cli_args *a,
                    struct qkd_ksid *ksid, struct qkd_qos *qos, uint32_t *st)
{
    memset(ksid, 0, sizeof *ksid);
    if (a->ksid && qkd_ksid_from_str(a->ksid, ksid) != 0)
        cli_usage_error("invalid value '%s' for --ksid: not a UUID", a->ksid);
    *qos = a->qos;
    int rc = qkd004_open_connect(c, a->source, a->destination, qos, ksid, st);
    if (rc != QKD004_OK) return cli_fail_rc(c, o, "OPEN_CONNECT", rc);
    cli_out_status(o, *st);
    if (!qkd_status_ok(*st)) return cli_fail_status("OPEN_CONNECT", *st);
    if (*st != QKD_STATUS_SUCCESS)
        fprintf(stderr, "qkd-client: OPEN_CONNECT: status %u (%s)\n", *st, cli_status_meaning(*st));
    cli_out_qos(o, qos);
    if (cli_out_ksid(o, ksid) != 0) {
        fprintf(stderr, "qkd-client: cannot write the output\n");
        return CLI_EXIT_LOCAL;
    }
    return CLI_EXIT_OK;
}

static int cli_interrupted_exit(struct cli_out *o, uint32_t fetched, uint32_t total)
{
    cli_out_flush(o);
    fprintf(stderr, "interrupted: %u of %u keys fetched\n", fetched, total);
    return CLI_EXIT_INTERRUPTED;
}

static int cli_run(struct qkd004_conn *c, struct cli_out *o, const struct cli_args *a)
{
    struct qkd_ksid ksid;
    struct qkd_qos qos;
    uint32_t st = 0, fetched = 0;
    int ex;
    switch (a->cmd) {
    case CLI_OPEN:
        return cli_open(c, o, a, &ksid, &qos, &st);
    case CLI_GET:
    case CLI_CLOSE:
        if (qkd_ksid_from_str(a->ksid, &ksid) != 0)
            cli_usage_error("invalid value '%s' for --ksid: not a UUID", a->ksid);
        if (a->json) cli_out_ksid(o, &ksid); /* text output: get prints keys only */
        break;
    case CLI_FLOW:
        ex = cli_open(c, o, a, &ksid, &qos, &st);
        if (ex != CLI_EXIT_OK) return ex;
        break;
    default:
        return CLI_EXIT_LOCAL;
    }
    if (a->cmd == CLI_CLOSE) {
        int rc = qkd004_close(c, &ksid, &st);
        if (rc != QKD004_OK) return cli_fail_rc(c, o, "CLOSE", rc);
        cli_out_status(o, st);
        return qkd_status_ok(st) ? CLI_EXIT_OK : cli_fail_status("CLOSE", st);
    }
    size_t key_cap = QKD004_DEFAULT_MAX_RESPONSE;
    if (a->cmd == CLI_FLOW && qos.key_chunk_size > 0 && qos.key_chunk_size < key_cap)
        key_cap = qos.key_chunk_size;
    uint32_t get_status = 0;
    ex = cli_get_range(c, o, &ksid, a, key_cap, &get_status, &fetched);
    if (a->cmd == CLI_GET || get_status != 0) cli_out_status(o, get_status);
    if (a->cmd == CLI_FLOW) {
        uint32_t cst = 0;
        int rc = qkd004_close(c, &ksid, &cst);
        if (ex == CLI_EXIT_OK && rc != QKD004_OK)
            ex = cli_fail_rc(c, o, "CLOSE", rc);
        else if (ex == CLI_EXIT_OK && !qkd_status_ok(cst)) {
            cli_out_status(o, cst);
            ex = cli_fail_status("CLOSE", cst);
        }
    }
    if (cli_interrupted && ex == CLI_EXIT_OK) return cli_interrupted_exit(o, fetched, a->count);
    return ex;
}

int main(int argc, char **argv)
{
    struct cli_args a;
    cli_parse(&a, argc, argv);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cli_on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: the library retries its own waits */

    struct qkd004_config cfg = {
        .server = a.server,
        .cert = a.cert,
        .key = a.key,
        .ca = a.ca,
        .framing =
            (a.framing[0] == 'e' || a.framing[0] == 'E') ? QKD004_FRAMING_E : QKD004_FRAMING_Q,
        .connect_timeout_ms = a.timeout_ms,
        .call_timeout_ms = a.timeout_ms,
        .server_name = a.server_name,
    };
    char err[512];
    struct qkd004_conn *c = qkd004_new(&cfg, err, sizeof err);
    if (!c) {
        fprintf(stderr, "qkd-client: %s\n", err);
        return CLI_EXIT_LOCAL;
    }
    enum cli_format fmt = strcmp(a.format, "base64") == 0 ? CLI_FMT_BASE64
                          : strcmp(a.format, "raw") == 0  ? CLI_FMT_RAW
                                                          : CLI_FMT_HEX;
    struct cli_out *o = cli_out_open(a.out, fmt, a.json, err, sizeof err);
    if (!o) {
        fprintf(stderr, "qkd-client: %s\n", err);
        qkd004_free(c);
        return CLI_EXIT_LOCAL;
    }
    int ex = cli_run(c, o, &a);
    if (cli_out_finish(o, err, sizeof err) != 0) {
        fprintf(stderr, "qkd-client: %s\n", err);
        if (ex == CLI_EXIT_OK) ex = CLI_EXIT_LOCAL;
    }
    cli_out_free(o);
    qkd004_free(c);
    return ex;
}
