/* cli_rest.h: `qkd-client rest status|enc|dec`, the ETSI GS QKD 014 commands of qkd-client
 * (docs/client.md), over the blocking REST client (rest_client.h). cli_main.c finds the word
 * "rest" in its command table and hands the rest of the command line to cli_rest_main. */
#ifndef QKD_CLI_REST_H
#define QKD_CLI_REST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "opts.h"

#define CLI_REST_EXIT_OK        0
#define CLI_REST_EXIT_LOCAL     1
#define CLI_REST_EXIT_TRANSPORT 2
#define CLI_REST_EXIT_4XX       40 /* + (status - 400), 49 for 409 and above */
#define CLI_REST_EXIT_5XX       50 /* + (status - 500), 59 for 509 and above */

enum cli_rest_op { CLI_REST_STATUS = 1, CLI_REST_ENC, CLI_REST_DEC };

/* The connection options as read before the word "rest" (flags over environment). */
struct cli_rest_conn {
    const char *url, *cert, *key, *ca, *server_name;
    uint32_t timeout_ms;
    bool json;
};

struct cli_rest_args {
    enum cli_rest_op op;
    struct cli_rest_conn conn;
    const char *slave, *master;
    uint32_t number, size; /* 0 = the server's default */
    bool post;
    struct qkd_strlist additional, key_ids;
};

/* Parses argv[0] = "rest", argv[1] = status|enc|dec, then options (connection options may be
 * repeated here and win). Environment: the ETSI014_* variables of the rest options through env
 * (NULL = getenv). Returns 0 parsed, 1 after --help (printed to out), -1 with a one-line
 * reason in err. */
int cli_rest_parse(int argc, char **argv, const struct cli_rest_conn *conn, struct cli_rest_args *a,
                   FILE *out, qkd_opts_getenv_fn env, char *err, size_t errlen);
/* The exit status of an HTTP status other than 200 (see the CLI_REST_EXIT_* rules). */
int cli_rest_exit_http(int status);
/* Runs `rest ...`: parses, calls, prints. Returns the exit status. */
int cli_rest_main(const struct cli_rest_conn *conn, int argc, char **argv);

#endif
