/* cli_rest.c: `qkd-client rest status|enc|dec`, the ETSI GS QKD 014 calls of qkd-client
 * (docs/client.md): its own option table (shared option parser), one call over the blocking
 * REST client, output as "name value" lines, "<key_ID> <key hex>" lines or one JSON object
 * ({"keys":[{"key_ID","key"(base64)}]} exactly as the server's Key container), every buffer
 * holding key text wiped. Exit status: 0, 1 usage/local, 2 connect/TLS/transport, 40+ for
 * HTTP 4xx, 50+ for HTTP 5xx (cli_rest_exit_http). */
#include "cli_rest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "etsi014.h"
#include "http.h"
#include "rest_client.h"
#include "secbuf.h"

#define CLI_REST_NAME "qkd-client rest"

static const char cli_rest_description[] =
    "ETSI GS QKD 014 (HTTPS + JSON) calls to a key server's 014 listener:\n"
    "  status --slave SAE       the link's Status object as 'name value' lines\n"
    "  enc --slave SAE          enc_keys (caller = master): '<key_ID> <key hex>' per key\n"
    "  dec --master SAE --key-id UUID...   dec_keys (caller = a slave of those keys)\n"
    "Connection: --url https://HOST:PORT (env ETSI014_URL), --cert/--key (the SAE's certificate;\n"
    "its CN is the SAE_ID; env CLIENT_CERT_PEM, CLIENT_CERT_KEY), --ca (env SERVER_CERT_PEM),\n"
    "before or after the word 'rest'. --json prints one JSON object: the server's Status or\n"
    "Key container ({\"keys\":[{\"key_ID\":..,\"key\":base64}]}).\n"
    "\n"
    "Exit status: 0 success; 1 usage or local error; 2 cannot connect, TLS failure, or the\n"
    "connection failed during the call (closed, timeout, malformed response); 40 + (status -\n"
    "400) for HTTP 4xx (40 bad request, 41 unauthorized, 44 not found, 45 method not allowed,\n"
    "49 for 409 and above); 50 + (status - 500) for HTTP 5xx (53 service unavailable, 59 for\n"
    "509 and above). Errors are one line: 'qkd-client: dec_keys failed: HTTP 400 (<message>)'.";

static const char cli_rest_examples[] =
    "  K=$(qkd-client --url $ALICE_ETSI014_URL --cert alice-app.pem --key alice-app.key \\\n"
    "      --ca ca.pem rest enc --slave bob-app)\n"
    "  qkd-client --url $BOB_ETSI014_URL --cert bob-app.pem --key bob-app.key --ca ca.pem \\\n"
    "      rest dec --master alice-app --key-id ${K%% *}\n"
    "  qkd-client rest enc --slave bob-app --number 5 --size 8192 --post --json\n";

int cli_rest_exit_http(int status)
{
    if (status >= 400 && status <= 499)
        return CLI_REST_EXIT_4XX + (status - 400 > 9 ? 9 : status - 400);
    if (status >= 500 && status <= 599)
        return CLI_REST_EXIT_5XX + (status - 500 > 9 ? 9 : status - 500);
    return status == 200 ? CLI_REST_EXIT_OK : CLI_REST_EXIT_TRANSPORT;
}

/* The environment under the rest options: only ETSI014_* names other than the URL. The
 * connection options' variables (named in the table for --help) were read before the word
 * "rest", under the flags there, and must not override them. */
static qkd_opts_getenv_fn cli_rest_env_fn;
static const char *cli_rest_env(const char *name)
{
    if (strncmp(name, "ETSI014_", 8) != 0 || strcmp(name, "ETSI014_URL") == 0) return NULL;
    return cli_rest_env_fn ? cli_rest_env_fn(name) : getenv(name);
}

int cli_rest_parse(int argc, char **argv, const struct cli_rest_conn *conn, struct cli_rest_args *a,
                   FILE *out, qkd_opts_getenv_fn env, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    a->conn = *conn;
    const struct qkd_opt t[] = {
        {"url", "ETSI014_URL", QKD_OPT_STR, &a->conn.url, "key server's 014 URL https://HOST:PORT",
         0, 0},
        {"cert", "CLIENT_CERT_PEM", QKD_OPT_STR, &a->conn.cert, "the SAE's certificate (PEM)", 0,
         0},
        {"key", "CLIENT_CERT_KEY", QKD_OPT_STR, &a->conn.key, "the SAE's private key (PEM)", 0, 0},
        {"ca", "SERVER_CERT_PEM", QKD_OPT_STR, &a->conn.ca, "CA of the server certificate (PEM)", 0,
         0},
        {"server-name", "SERVER_NAME", QKD_OPT_STR, &a->conn.server_name,
         "name the server certificate must carry (default: the URL's host)", 0, 0},
        {"timeout", "CLIENT_TIMEOUT_MS", QKD_OPT_U32, &a->conn.timeout_ms,
         "ms bounding the connect and the call", 1, 86400000},
        {"json", "OUTPUT_JSON", QKD_OPT_BOOL, &a->conn.json, "print one JSON object", 0, 0},
        {"slave", "ETSI014_SLAVE", QKD_OPT_STR, &a->slave, "status/enc: the slave SAE_ID", 0, 0},
        {"master", "ETSI014_MASTER", QKD_OPT_STR, &a->master, "dec: the master SAE_ID", 0, 0},
        {"number", "ETSI014_NUMBER", QKD_OPT_U32, &a->number,
         "enc: number of keys (default: the server's, 1)", 1, ETSI014_MAX_KEYS},
        {"size", "ETSI014_SIZE", QKD_OPT_U32, &a->size,
         "enc: key size in bits (default: the server's key_size)", 1, 1u << 20},
        {"additional-slave", "ETSI014_ADDITIONAL_SLAVES", QKD_OPT_LIST, &a->additional,
         "enc: an additional slave SAE_ID (repeatable; needs --post)", 0, 0},
        {"key-id", "ETSI014_KEY_IDS", QKD_OPT_LIST, &a->key_ids,
         "dec: a key_ID (UUID) to fetch (repeatable, up to 32)", 0, 0},
        {"post", "ETSI014_POST", QKD_OPT_BOOL, &a->post, "enc/dec: POST a JSON body instead of GET",
         0, 0},
        {NULL, NULL, QKD_OPT_STR, NULL, NULL, 0, 0},
    };
    const struct qkd_prog prog = {
        .name = CLI_REST_NAME,
        .usage = "status|enc|dec [options]",
        .description = cli_rest_description,
        .examples = cli_rest_examples,
    };
    if (argc < 2 || strncmp(argv[1], "-", 1) == 0) {
        for (int i = 1; i < argc; i++)
            if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                qkd_opts_usage(&prog, t, out);
                return 1;
            }
        snprintf(err, errlen, "missing call after 'rest': status, enc or dec");
        return -1;
    }
    if (strcmp(argv[1], "status") == 0)
        a->op = CLI_REST_STATUS;
    else if (strcmp(argv[1], "enc") == 0)
        a->op = CLI_REST_ENC;
    else if (strcmp(argv[1], "dec") == 0)
        a->op = CLI_REST_DEC;
    else {
        snprintf(err, errlen, "unknown rest call '%s': status, enc or dec", argv[1]);
        return -1;
    }
    cli_rest_env_fn = env;
    int pos = 0;
    char e[1024];
    int r = qkd_opts_parse_r(&prog, t, argc - 1, argv + 1, &pos, out, cli_rest_env, e, sizeof e);
    if (r != 0) {
        static const char prefix[] = "[ERROR] " CLI_REST_NAME ": ";
        const char *m = strncmp(e, prefix, sizeof prefix - 1) == 0 ? e + sizeof prefix - 1 : e;
        if (r < 0) snprintf(err, errlen, "%s", m);
        return r;
    }
    if (pos < argc - 1) {
        snprintf(err, errlen, "unexpected argument '%s'", argv[1 + pos]);
        return -1;
    }
    const char *name = argv[1];
    if (!a->conn.url || !*a->conn.url) {
        snprintf(err, errlen, "missing --url https://HOST:PORT (or ETSI014_URL)");
        return -1;
    }
    if (!a->conn.cert || !a->conn.key || !a->conn.ca) {
        snprintf(err, errlen,
                 "missing --cert, --key or --ca (or CLIENT_CERT_PEM, CLIENT_CERT_KEY, "
                 "SERVER_CERT_PEM)");
        return -1;
    }
    bool enc = a->op == CLI_REST_ENC, dec = a->op == CLI_REST_DEC;
    const char *wrong = NULL;
    if (dec && a->slave) wrong = "--slave";
    if (!dec && a->master) wrong = "--master";
    if (!enc && (a->number || a->size)) wrong = a->number ? "--number" : "--size";
    if (!enc && a->additional.n) wrong = "--additional-slave";
    if (!dec && a->key_ids.n) wrong = "--key-id";
    if (a->op == CLI_REST_STATUS && a->post) wrong = "--post";
    if (wrong) {
        snprintf(err, errlen, "option %s does not apply to 'rest %s'", wrong, name);
        return -1;
    }
    if (!dec && (!a->slave || !*a->slave)) {
        snprintf(err, errlen, "'rest %s' needs --slave SAE", name);
        return -1;
    }
    if (dec && (!a->master || !*a->master || a->key_ids.n == 0)) {
        snprintf(err, errlen, "'rest dec' needs --master SAE and at least one --key-id UUID");
        return -1;
    }
    uint8_t id[16];
    for (int i = 0; i < a->key_ids.n; i++)
        if (etsi014_uuid_parse(a->key_ids.items[i], id) != 0) {
            snprintf(err, errlen, "invalid value '%s' for --key-id: not a UUID",
                     a->key_ids.items[i]);
            return -1;
        }
    if (a->additional.n && !a->post) {
        snprintf(err, errlen, "--additional-slave needs --post (GET enc_keys has no such field)");
        return -1;
    }
    if (a->size % 8) {
        snprintf(err, errlen, "invalid value '%u' for --size: not a multiple of 8", a->size);
        return -1;
    }
    return 0;
}

/* ---- output ------------------------------------------------------------------------------ */

/* Writes b to stdout without a stdio copy and wipes it. 0 or -1. */
static int cli_rest_emit(struct qkd_sbuf *b)
{
    int rc = b->failed ? -1 : 0;
    if (rc == 0 && b->len && fwrite(b->p, 1, b->len, stdout) != b->len) rc = -1;
    if (fflush(stdout) != 0) rc = -1;
    if (b->p) qkd_wipe(b->p, b->cap);
    qkd_sbuf_free(b);
    return rc;
}

static void cli_rest_status_out(struct qkd_sbuf *b, const struct etsi014_status_view *v, bool json)
{
    if (json) {
        struct etsi014_status st = {
            .source_kme = v->source_kme,
            .target_kme = v->target_kme,
            .master = v->master,
            .slave = v->slave,
            .key_size = v->key_size,
            .stored_key_count = v->stored_key_count,
            .max_key_count = v->max_key_count,
            .max_key_per_request = v->max_key_per_request,
            .max_key_size = v->max_key_size,
            .min_key_size = v->min_key_size,
            .max_sae_ids = v->max_sae_ids,
        };
        etsi014_status_json(b, &st);
        qkd_sbuf_puts(b, "\n");
        return;
    }
    qkd_sbuf_printf(b,
                    "source_KME_ID %s\ntarget_KME_ID %s\nmaster_SAE_ID %s\nslave_SAE_ID %s\n"
                    "key_size %u\nstored_key_count %llu\nmax_key_count %llu\n"
                    "max_key_per_request %u\nmax_key_size %u\nmin_key_size %u\n"
                    "max_SAE_ID_count %u\n",
                    v->source_kme, v->target_kme, v->master, v->slave, v->key_size,
                    (unsigned long long)v->stored_key_count, (unsigned long long)v->max_key_count,
                    v->max_key_per_request, v->max_key_size, v->min_key_size, v->max_sae_ids);
}

/* '<key_ID> <hex>' lines, or the Key container as the codec writes it; every temporary
 * wiped. */
static void cli_rest_keys_out(struct qkd_sbuf *b, const struct etsi014_keys *k, bool json)
{
    if (json) {
        const uint8_t *keys[ETSI014_MAX_KEYS] = {0};
        for (uint32_t i = 0; i < k->n; i++)
            keys[i] = k->buf->data + k->off[i];
        etsi014_keys_json_each(b, k->n, (const uint8_t(*)[16])k->ids, keys, k->key_bytes, 0);
        qkd_sbuf_puts(b, "\n");
        return;
    }
    for (uint32_t i = 0; i < k->n; i++) {
        char id[37];
        etsi014_uuid_str(k->ids[i], id);
        size_t tl = 2 * (size_t)k->key_bytes[i] + 1;
        char *t = malloc(tl);
        if (!t) {
            b->failed = 1;
            return;
        }
        qkd_hex(k->buf->data + k->off[i], k->key_bytes[i], t);
        qkd_sbuf_printf(b, "%s ", id);
        qkd_sbuf_puts(b, t);
        qkd_sbuf_puts(b, "\n");
        qkd_wipe(t, tl);
        free(t);
    }
}

/* ---- the call ---------------------------------------------------------------------------- */

static int cli_rest_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int cli_rest_err(const char *fmt, ...)
{
    char m[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    fprintf(stderr, "qkd-client: %s\n", m);
    return 0;
}

static int cli_rest_run(struct rest_client *c, const struct cli_rest_args *a)
{
    struct rest_result res;
    struct etsi014_status_view sv;
    struct etsi014_keys keys;
    memset(&keys, 0, sizeof keys);
    const char *call = a->op == CLI_REST_STATUS ? "status"
                       : a->op == CLI_REST_ENC  ? "enc_keys"
                                                : "dec_keys";
    int rc;
    if (a->op == CLI_REST_STATUS) {
        rc = rest_status(c, a->slave, &sv, &res);
    } else if (a->op == CLI_REST_ENC) {
        rc = rest_enc_keys(c, a->slave, a->number, a->size, a->additional.items,
                           (uint32_t)a->additional.n, a->post, &keys, &res);
    } else {
        uint8_t(*ids)[16] = calloc((size_t)a->key_ids.n, 16);
        if (!ids) {
            cli_rest_err("out of memory");
            return CLI_REST_EXIT_LOCAL;
        }
        for (int i = 0; i < a->key_ids.n; i++)
            (void)etsi014_uuid_parse(a->key_ids.items[i], ids[i]); /* checked by the parse */
        rc = rest_dec_keys(c, a->master, (const uint8_t(*)[16])ids, (uint32_t)a->key_ids.n, a->post,
                           &keys, &res);
        free(ids);
    }
    if (rc != REST_OK) {
        cli_rest_err("%s failed: %s", call, res.message);
        return rc == REST_ERR_LOCAL ? CLI_REST_EXIT_LOCAL : CLI_REST_EXIT_TRANSPORT;
    }
    if (res.http_status != 200) {
        cli_rest_err("%s failed: HTTP %d (%s)", call, res.http_status, res.message);
        return cli_rest_exit_http(res.http_status);
    }
    struct qkd_sbuf b = {0};
    if (a->op == CLI_REST_STATUS)
        cli_rest_status_out(&b, &sv, a->conn.json);
    else
        cli_rest_keys_out(&b, &keys, a->conn.json);
    etsi014_keys_free(&keys);
    if (cli_rest_emit(&b) != 0) {
        cli_rest_err("cannot write the output");
        return CLI_REST_EXIT_LOCAL;
    }
    return CLI_REST_EXIT_OK;
}

int cli_rest_main(const struct cli_rest_conn *conn, int argc, char **argv)
{
    struct cli_rest_args a;
    char err[1024];
    int r = cli_rest_parse(argc, argv, conn, &a, stdout, NULL, err, sizeof err);
    if (r == 1) return CLI_REST_EXIT_OK;
    if (r < 0) {
        fprintf(stderr, "qkd-client: %s (see qkd-client rest --help)\n", err);
        return CLI_REST_EXIT_LOCAL;
    }
    struct rest_cfg cfg = {
        .url = a.conn.url,
        .cert = a.conn.cert,
        .key = a.conn.key,
        .ca = a.conn.ca,
        .server_name = a.conn.server_name,
        .timeout_ms = a.conn.timeout_ms,
    };
    struct rest_client *c = rest_new(&cfg, err, sizeof err);
    if (!c) {
        cli_rest_err("%s", err);
        return CLI_REST_EXIT_LOCAL;
    }
    int ex = cli_rest_run(c, &a);
    rest_free(c);
    return ex;
}
