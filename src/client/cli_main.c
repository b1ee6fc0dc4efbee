/* cli_main.c: qkd-client, the command-line ETSI GS QKD 004 client over libqkd004
 * (docs/client.md). As in wg(8), one table of commands {name, handler, help, options} drives
 * the parse, --help and the run; one table of options (flag and environment variable, flags
 * win) is read by the shared option parser, which also finds the command word; every message
 * is one line "qkd-client: ..." (cli_err). Exit status: 0 success, 1 usage or local error,
 * 2 connection/TLS/transport failure, 10+N for ETSI status N (1 and 7 are successes), 130
 * when interrupted. The table's "rest" entry (no handler) hands the command line after the
 * connection options to the ETSI GS QKD 014 commands (cli_rest.c; exit 40+/50+ for HTTP
 * 4xx/5xx). */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_rest.h"
#include "opts.h"
#include "qkd/qkd004.h"
#include "secbuf.h"
#include "status.h"

#define CLI_NAME             "qkd-client"
#define CLI_EXIT_OK          0
#define CLI_EXIT_LOCAL       1
#define CLI_EXIT_TRANSPORT   2
#define CLI_EXIT_STATUS_BASE 10
#define CLI_EXIT_INTERRUPTED 130
#define CLI_DEFAULT_PORT     "25575"
#define CLI_DEFAULT_TIMEOUT  60000u
#define CLI_MAX_COUNT        100000000u

struct cli_cmd;

struct cli_args {
    const struct cli_cmd *cmd;
    const char *server, *cert, *key, *ca, *server_name, *framing, *format, *out;
    const char *url; /* rest: the ETSI 014 URL */
    int rest_pos;    /* rest: index of the word "rest" in argv */
    uint32_t timeout_ms;
    bool json;
    const char *source, *destination, *ksid;
    uint32_t index, count, metadata_size;
    struct qkd_qos qos;
    const char *mimetype;
    char server_buf[300];
};

typedef int (*cli_handler)(struct qkd004_conn *c, struct cli_out *o, const struct cli_args *a);

struct cli_cmd {
    const char *name;
    cli_handler run;  /* NULL: the ETSI 014 commands (cli_rest_main) */
    const char *args; /* its options as --help shows them */
    const char *help;
    /* The options it takes besides those no command lists (connection and output options),
     * NULL-terminated. */
    const char *const *options;
    bool needs_ksid;
};

static int cli_cmd_open(struct qkd004_conn *c, struct cli_out *o, const struct cli_args *a);
static int cli_cmd_get(struct qkd004_conn *c, struct cli_out *o, const struct cli_args *a);
static int cli_cmd_close(struct qkd004_conn *c, struct cli_out *o, const struct cli_args *a);
static int cli_cmd_flow(struct qkd004_conn *c, struct cli_out *o, const struct cli_args *a);

#define CLI_QOS_OPTIONS                                                                            \
    "chunk-size", "max-bps", "min-bps", "jitter", "priority", "qos-timeout", "ttl", "mimetype"

static const struct cli_cmd cli_cmds[] = {
    {"open", cli_cmd_open, "[--source URI] [--destination URI] [--ksid UUID] [QoS options]",
     "OPEN_CONNECT; prints the KSID",
     (const char *const[]){"source", "destination", "ksid", CLI_QOS_OPTIONS, NULL}, false},
    {"get", cli_cmd_get, "--ksid UUID [--index N] [--count N] [--metadata-size N]",
     "GET_KEY for indices index..index+count-1; prints '<index> <key>' per key",
     (const char *const[]){"ksid", "index", "count", "metadata-size", NULL}, true},
    {"close", cli_cmd_close, "--ksid UUID", "CLOSE", (const char *const[]){"ksid", NULL}, true},
    {"flow", cli_cmd_flow, "[--ksid UUID] [--index N] [--count N] [QoS options]",
     "open, get count keys, close on one connection; prints the KSID then the keys",
     (const char *const[]){"source", "destination", "ksid", "index", "count", "metadata-size",
                           CLI_QOS_OPTIONS, NULL},
     false},
    {"rest", NULL, "status|enc|dec [options] (see rest --help)",
     "ETSI GS QKD 014 over HTTPS (--url): status, enc_keys, dec_keys",
     (const char *const[]){"url", NULL}, false},
};
#define CLI_NCMDS (sizeof cli_cmds / sizeof cli_cmds[0])

static volatile sig_atomic_t cli_interrupted;

static void cli_on_sigint(int sig)
{
    (void)sig;
    cli_interrupted = 1;
    signal(SIGINT, SIG_DFL); /* a second Ctrl-C ends the program at once */
}

/* Every message of the program is one line on stderr: "qkd-client: <what><suffix>". */
static void cli_vline(const char *suffix, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void cli_vline(const char *suffix, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fprintf(stderr, CLI_NAME ": %s%s\n", msg, suffix); /* stderr: one write per call */
}

static void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void cli_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vline("", fmt, ap);
    va_end(ap);
}

/* A usage error: the line points at --help; exit 1. */
static void cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vline(" (see " CLI_NAME " --help)", fmt, ap);
    va_end(ap);
    exit(CLI_EXIT_LOCAL);
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

/* A call that got no answer: the transport error (also in the JSON "error"). */
static int cli_fail_rc(struct qkd004_conn *c, struct cli_out *o, const char *call, int rc)
{
    const char *why = qkd004_last_error(c);
    if (!why || !*why) why = qkd004_strerror(rc);
    cli_err("%s failed: %s", call, why);
    if (o) cli_out_error(o, why);
    return cli_exit_rc(rc);
}

/* A call answered with a failure status; more is appended inside the parentheses. */
static int cli_fail_status(const char *call, uint32_t st, const char *more)
{
    cli_err("%s failed: status %u (%s%s)", call, st, qkd_status_meaning(st), more);
    return cli_exit_status(st);
}

/* ---- command line ----------------------------------------------------------------------- */

static const struct cli_cmd *cli_cmd_find(const char *name)
{
    for (size_t i = 0; i < CLI_NCMDS; i++)
        if (strcmp(cli_cmds[i].name, name) == 0) return &cli_cmds[i];
    return NULL;
}

static bool cli_listed(const char *const *list, const char *name)
{
    for (; *list; list++)
        if (strcmp(*list, name) == 0) return true;
    return false;
}

/* cmd takes an option when it lists it, or when no command does. */
static bool cli_takes(const struct cli_cmd *cmd, const char *name)
{
    if (cli_listed(cmd->options, name)) return true;
    for (size_t i = 0; i < CLI_NCMDS; i++)
        if (cli_listed(cli_cmds[i].options, name)) return false;
    return true;
}

/* "open<sep>get<sep>close<last>flow" */
static void cli_cmd_names(char *buf, size_t len, const char *sep, const char *last)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < CLI_NCMDS && n < len; i++) {
        const char *s = i == 0 ? "" : i + 1 == CLI_NCMDS ? last : sep;
        int k = snprintf(buf + n, len - n, "%s%s", s, cli_cmds[i].name);
        if (k < 0) break;
        n += (size_t)k;
    }
}

static const char cli_about[] = "command-line ETSI GS QKD 004 client (libqkd004)";

static const char cli_more[] =
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
    "key available)'. rest (ETSI 014): 40+(status-400) for HTTP 4xx (max 49), 50+(status-500)\n"
    "for HTTP 5xx (max 59); see qkd-client rest --help.";

static const char cli_examples[] =
    "  qkd-client --server 127.0.0.1:25575 --cert app.pem --key app.key --ca ca.pem open\n"
    "  qkd-client get --ksid 0b5e...-... --index 0 --count 10 --json\n"
    "  qkd-client flow --count 1000 --chunk-size 32 --out keys.txt\n"
    "  qkd-client --framing e get --ksid $KSID --count 4 --format base64\n"
    "  qkd-client close --ksid $KSID\n"
    "  SERVER_ADDRESS=kme_alice SERVER_PORT=25575 CLIENT_CERT_PEM=c.pem CLIENT_CERT_KEY=c.key \\\n"
    "    SERVER_CERT_PEM=ca.pem qkd-client flow --count 4\n";

/* --help's description: what the program is, its commands from the table, the rest. */
static void cli_describe(char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "%s\n\nCommands:\n", cli_about);
    for (size_t i = 0; i < CLI_NCMDS && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "  %-5s %s\n        %s\n", cli_cmds[i].name,
                              cli_cmds[i].args, cli_cmds[i].help);
    if (n < len) snprintf(buf + n, len - n, "\n%s", cli_more);
}

static const char *cli_no_env(const char *name)
{
    (void)name;
    return NULL;
}

/* The shared option parser over argv[1..argc), with or without the environment under the
 * flags. Exits 0 after --help or --version, 1 on an error (its reason in this program's
 * format). Returns the index of the first argument that is not an option. */
static int cli_opts(const struct qkd_prog *prog, const struct qkd_opt *t, int argc, char **argv,
                    bool env)
{
    static const char prefix[] = "[ERROR] " CLI_NAME ": ", hint[] = " (see --help)";
    char err[1024];
    int pos = argc;
    int r = qkd_opts_parse_r(prog, t, argc, argv, &pos, stdout, env ? NULL : cli_no_env, err,
                             sizeof err);
    if (r == 1) exit(CLI_EXIT_OK);
    if (r < 0) {
        size_t n = strlen(err), h = sizeof hint - 1;
        if (n >= h && strcmp(err + n - h, hint) == 0) err[n - h] = '\0';
        bool pre = strncmp(err, prefix, sizeof prefix - 1) == 0;
        cli_usage_error("%s", pre ? err + sizeof prefix - 1 : err);
    }
    return pos;
}

/* The index of the command word when it is "rest", else 0: the first argument that is neither
 * an option nor the value of one (every option takes a value but the booleans). */
static int cli_rest_word(const struct qkd_opt *t, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--") == 0) return 0;
        if (strncmp(s, "--", 2) != 0) return strcmp(s, "rest") == 0 ? i : 0;
        if (strchr(s, '=')) continue;
        bool takes_value = false;
        for (const struct qkd_opt *o = t; o->name; o++)
            if (strcmp(o->name, s + 2) == 0) takes_value = o->type != QKD_OPT_BOOL;
        if (takes_value) i++;
    }
    return 0;
}

/* Options before the command are read with the environment (which sets the defaults they
 * override) and the whole table, and the parser stops at the command word. Then both sides of
 * the command are read without the environment in the command's view of the table, where an
 * option it does not take is read as a string into stray[] and refused by name. */
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
        {"url", "ETSI014_URL", QKD_OPT_STR, &a->url,
         "rest: the key server's ETSI 014 URL https://HOST:PORT", 0, 0},
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
    char names[64], usage[128], description[sizeof cli_more + 1024];
    cli_cmd_names(names, sizeof names, "|", "|");
    snprintf(usage, sizeof usage, "[connection options] %s [options]", names);
    cli_describe(description, sizeof description);
    const struct qkd_prog prog = {
        .name = CLI_NAME,
        .usage = usage,
        .description = description,
        .examples = cli_examples,
    };
    /* before the word "rest" only: what follows it (--help too) is cli_rest.c's */
    int rest_at = cli_rest_word(t, argc, argv);
    int pos = cli_opts(&prog, t, rest_at ? rest_at + 1 : argc, argv, true);
    if (pos >= argc) {
        cli_cmd_names(names, sizeof names, ", ", " or ");
        cli_usage_error("missing command: %s", names);
    }
    if (strcmp(argv[pos - 1], "--") == 0) cli_usage_error("unexpected argument '%s'", argv[pos]);
    a->cmd = cli_cmd_find(argv[pos]);
    if (!a->cmd) cli_usage_error("unknown command '%s'", argv[pos]);
    if (!a->cmd->run) { /* rest: cli_rest.c reads the rest of the line */
        a->rest_pos = pos;
        return;
    }
    enum { N = sizeof t / sizeof t[0] };
    struct qkd_opt view[N];
    const char *stray[N] = {NULL};
    for (size_t k = 0; k < N; k++) {
        view[k] = t[k];
        if (t[k].name && !cli_takes(a->cmd, t[k].name))
            view[k] = (struct qkd_opt){t[k].name, t[k].env, QKD_OPT_STR, &stray[k], NULL, 0, 0};
    }
    cli_opts(&prog, view, pos, argv, false);
    int end = pos + cli_opts(&prog, view, argc - pos, argv + pos, false);
    if (end < argc) cli_usage_error("unexpected argument '%s'", argv[end]);
    for (size_t k = 0; k < N; k++)
        if (stray[k])
            cli_usage_error("option --%s does not apply to '%s'", t[k].name, a->cmd->name);
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
    if (a->cmd->needs_ksid && !a->ksid) cli_usage_error("'%s' needs --ksid UUID", a->cmd->name);
}

/* ---- the calls -------------------------------------------------------------------------- */

/* --ksid as a KSID (all zero when not given). */
static void cli_ksid_arg(const struct cli_args *a, struct qkd_ksid *ksid)
{
    memset(ksid, 0, sizeof *ksid);
    if (a->ksid && qkd_ksid_from_str(a->ksid, ksid) != 0)
        cli_usage_error("invalid value '%s' for --ksid: not a UUID", a->ksid);
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
        cli_err("KSID not opened by the peer application, nor here");
    }
    return 0;
}

/* GET_KEY for index..index+count-1 (may_join: `get`, see cli_join); fills *fetched and
 * *last_status. Returns an exit status. */
static int cli_get_range(struct qkd004_conn *c, struct cli_out *o, const struct qkd_ksid *ksid,
                         const struct cli_args *a, size_t key_cap, bool may_join,
                         uint32_t *last_status, uint32_t *fetched)
{
    struct qkd_secbuf *kb = qkd_secbuf_new(key_cap);
    char *md = a->metadata_size ? malloc(a->metadata_size) : NULL;
    if (!kb || (a->metadata_size && !md)) {
        qkd_secbuf_free(kb);
        free(md);
        cli_err("out of memory");
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
            char more[80] = "";
            if (st == QKD_STATUS_METADATA_TOO_SMALL)
                snprintf(more, sizeof more, "; %u bytes required, use --metadata-size", mdsz);
            ex = cli_fail_status("GET_KEY", st, more);
            break;
        }
        /* E: mdsz is the whole metadata's length, which may exceed the buffer */
        int wr = cli_out_key(o, idx, kb->data, klen, md,
                             mdsz < a->metadata_size ? mdsz : a->metadata_size);
        qkd_wipe(kb->data, klen);
        if (wr != 0) {
            cli_progress_end(&pg);
            cli_err("cannot write the output");
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

/* OPEN_CONNECT with the requested QoS and --ksid; *ksid and *qos get the server's answer. */
static int cli_open(struct qkd004_conn *c, struct cli_out *o, const struct cli_args *a,
                    struct qkd_ksid *ksid, struct qkd_qos *qos)
{
    uint32_t st = 0;
    cli_ksid_arg(a, ksid);
    *qos = a->qos;
    int rc = qkd004_open_connect(c, a->source, a->destination, qos, ksid, &st);
    if (rc != QKD004_OK) return cli_fail_rc(c, o, "OPEN_CONNECT", rc);
    cli_out_status(o, st);
    if (!qkd_status_ok(st)) return cli_fail_status("OPEN_CONNECT", st, "");
    if (st != QKD_STATUS_SUCCESS)
        cli_err("OPEN_CONNECT: status %u (%s)", st, qkd_status_meaning(st));
    cli_out_qos(o, qos);
    if (cli_out_ksid(o, ksid) != 0) {
        cli_err("cannot write the output");
        return CLI_EXIT_LOCAL;
    }
    return CLI_EXIT_OK;
}

/* The exit status of a run of GET_KEY calls: interrupted after a clean stop, the keys so far
 * flushed and counted ("interrupted: N of M keys fetched", the one line without the program's
 * name, documented in docs/client.md). */
static int cli_range_exit(struct cli_out *o, int ex, uint32_t fetched, uint32_t total)
{
    if (!cli_interrupted || ex != CLI_EXIT_OK) return ex;
    cli_out_flush(o);
    fprintf(stderr, "interrupted: %u of %u keys fetched\n", fetched, total);
    return CLI_EXIT_INTERRUPTED;
}

static int cli_cmd_open(struct qkd004_conn *c, struct cli_out *o, const struct cli_args *a)
{
    struct qkd_ksid ksid;
    struct qkd_qos qos;
    return cli_open(c, o, a, &ksid, &qos);
}

static int cli_cmd_get(struct qkd004_conn *c, struct cli_out *o, const struct cli_args *a)
{
    struct qkd_ksid ksid;
    cli_ksid_arg(a, &ksid);
    if (a->json) cli_out_ksid(o, &ksid); /* text output: get prints keys only */
    uint32_t st = 0, fetched = 0;
    int ex = cli_get_range(c, o, &ksid, a, QKD004_DEFAULT_MAX_RESPONSE, true, &st, &fetched);
    cli_out_status(o, st);
    return cli_range_exit(o, ex, fetched, a->count);
}

static int cli_cmd_close(struct qkd004_conn *c, struct cli_out *o, const struct cli_args *a)
{
    struct qkd_ksid ksid;
    cli_ksid_arg(a, &ksid);
    if (a->json) cli_out_ksid(o, &ksid);
    uint32_t st = 0;
    int rc = qkd004_close(c, &ksid, &st);
    if (rc != QKD004_OK) return cli_fail_rc(c, o, "CLOSE", rc);
    cli_out_status(o, st);
    return qkd_status_ok(st) ? CLI_EXIT_OK : cli_fail_status("CLOSE", st, "");
}

static int cli_cmd_flow(struct qkd004_conn *c, struct cli_out *o, const struct cli_args *a)
{
    struct qkd_ksid ksid;
    struct qkd_qos qos;
    int ex = cli_open(c, o, a, &ksid, &qos);
    if (ex != CLI_EXIT_OK) return ex;
    size_t key_cap = QKD004_DEFAULT_MAX_RESPONSE;
    if (qos.key_chunk_size > 0 && qos.key_chunk_size < key_cap) key_cap = qos.key_chunk_size;
    uint32_t st = 0, fetched = 0;
    ex = cli_get_range(c, o, &ksid, a, key_cap, false, &st, &fetched);
    if (st != 0) cli_out_status(o, st);
    uint32_t cst = 0;
    int rc = qkd004_close(c, &ksid, &cst);
    if (ex == CLI_EXIT_OK && rc != QKD004_OK) {
        ex = cli_fail_rc(c, o, "CLOSE", rc);
    } else if (ex == CLI_EXIT_OK && !qkd_status_ok(cst)) {
        cli_out_status(o, cst);
        ex = cli_fail_status("CLOSE", cst, "");
    }
    return cli_range_exit(o, ex, fetched, a->count);
}

int main(int argc, char **argv)
{
    struct cli_args a;
    cli_parse(&a, argc, argv);
    if (!a.cmd->run) {
        const struct cli_rest_conn rc = {
            .url = a.url,
            .cert = a.cert,
            .key = a.key,
            .ca = a.ca,
            .server_name = a.server_name,
            .timeout_ms = a.timeout_ms,
            .json = a.json,
        };
        signal(SIGPIPE, SIG_IGN);
        return cli_rest_main(&rc, argc - a.rest_pos, argv + a.rest_pos);
    }
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
        cli_err("%s", err);
        return CLI_EXIT_LOCAL;
    }
    enum cli_format fmt = strcmp(a.format, "base64") == 0 ? CLI_FMT_BASE64
                          : strcmp(a.format, "raw") == 0  ? CLI_FMT_RAW
                                                          : CLI_FMT_HEX;
    struct cli_out *o = cli_out_open(a.out, fmt, a.json, err, sizeof err);
    if (!o) {
        cli_err("%s", err);
        qkd004_free(c);
        return CLI_EXIT_LOCAL;
    }
    int ex = a.cmd->run(c, o, &a);
    if (cli_out_finish(o, err, sizeof err) != 0) {
        cli_err("%s", err);
        if (ex == CLI_EXIT_OK) ex = CLI_EXIT_LOCAL;
    }
    cli_out_free(o);
    qkd004_free(c);
    return ex;
}
