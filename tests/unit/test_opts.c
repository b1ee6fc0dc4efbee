/* test_opts.c: unit tests of opts.c: flag/env/default precedence, "--name value" and
 * "--name=value", strict numbers with bounds at their edges, booleans, lists from repeated
 * flags and ';'-separated env, every error kind with its exact message, positional
 * arguments, --help content, --version, and the exiting qkd_opts_parse wrapper. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "opts.h"

/* Fake environment for qkd_opts_parse_r. */
static const char *g_env[16][2];
static int g_nenv;

static const char *fake_getenv(const char *name)
{
    for (int i = 0; i < g_nenv; i++)
        if (strcmp(g_env[i][0], name) == 0) return g_env[i][1];
    return NULL;
}

static void env_set(const char *k, const char *v)
{
    g_env[g_nenv][0] = k;
    g_env[g_nenv][1] = v;
    g_nenv++;
}

struct cfg {
    const char *ring;
    uint32_t port;
    uint64_t bytes;
    bool verbose;
    struct qkd_strlist peers;
    const char *noenv;
};

static struct cfg g_cfg;
static struct qkd_opt g_opts[] = {
    {"ring", "QKD_RING", QKD_OPT_STR, &g_cfg.ring, "ring name", 0, 0},
    {"port", "PORT", QKD_OPT_U32, &g_cfg.port, "listen port", 1, 65535},
    {"bytes", "BYTES", QKD_OPT_U64, &g_cfg.bytes, "byte budget", 0, 0},
    {"verbose", "VERBOSE", QKD_OPT_BOOL, &g_cfg.verbose, "more output", 0, 0},
    {"peer", "PEERS", QKD_OPT_LIST, &g_cfg.peers, "peer node", 0, 0},
    {"no-env", NULL, QKD_OPT_STR, &g_cfg.noenv, "flag only", 0, 0},
    {NULL, NULL, 0, NULL, NULL, 0, 0},
};
static const struct qkd_prog g_prog = {
    "qkd-test",
    "[options] FILE...",
    "Exercises the option parser.",
    "  qkd-test --port 8080 file\n  PORT=9000 qkd-test file\n",
};

static int setup(void **state)
{
    (void)state;
    g_nenv = 0;
    memset(&g_cfg, 0, sizeof(g_cfg));
    g_cfg.ring = "default-ring";
    g_cfg.port = 443;
    g_cfg.bytes = 1000;
    return 0;
}

static char g_err[512];

/* argv from a NULL-terminated list; returns parse_r's result */
static int parse(int *pos, ...)
{
    static char *argv[64];
    int argc = 0;
    argv[argc++] = "qkd-test";
    va_list ap;
    va_start(ap, pos);
    char *a;
    while ((a = va_arg(ap, char *)) != NULL)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    int p = -1;
    FILE *out = fopen("/dev/null", "w");
    assert_non_null(out);
    int r =
        qkd_opts_parse_r(&g_prog, g_opts, argc, argv, &p, out, fake_getenv, g_err, sizeof(g_err));
    fclose(out);
    if (pos != NULL) *pos = p;
    return r;
}

static void test_defaults(void **state)
{
    (void)state;
    int pos;
    assert_int_equal(parse(&pos, NULL), 0);
    assert_int_equal(pos, 1);
    assert_string_equal(g_cfg.ring, "default-ring");
    assert_int_equal(g_cfg.port, 443);
    assert_int_equal(g_cfg.bytes, 1000);
    assert_false(g_cfg.verbose);
    assert_int_equal(g_cfg.peers.n, 0);
    assert_string_equal(g_err, "");
}

static void test_precedence(void **state)
{
    (void)state;
    env_set("QKD_RING", "env-ring");
    env_set("PORT", "9000");
    env_set("BYTES", "77");
    assert_int_equal(parse(NULL, "--port", "8080", NULL), 0);
    assert_string_equal(g_cfg.ring, "env-ring"); /* env over default */
    assert_int_equal(g_cfg.port, 8080);          /* flag over env */
    assert_int_equal(g_cfg.bytes, 77);
    assert_int_equal(parse(NULL, "--ring=flag-ring", "--bytes", "5", NULL), 0);
    assert_string_equal(g_cfg.ring, "flag-ring");
    assert_int_equal(g_cfg.bytes, 5);
}

static void test_forms_and_positional(void **state)
{
    (void)state;
    int pos;
    assert_int_equal(parse(&pos, "--ring", "r1", "--port=22", "--verbose", "a", "b", NULL), 0);
    assert_string_equal(g_cfg.ring, "r1");
    assert_int_equal(g_cfg.port, 22);
    assert_true(g_cfg.verbose);
    assert_int_equal(pos, 5); /* argv[5] == "a" */
    assert_int_equal(parse(&pos, "--port", "23", "--", "--ring", NULL), 0);
    assert_int_equal(pos, 4);
    assert_string_equal(g_cfg.ring, "r1");
    assert_int_equal(parse(&pos, "-", NULL), 0); /* "-" is positional */
    assert_int_equal(pos, 1);
    assert_int_equal(parse(NULL, "--ring=", NULL), 0); /* explicit empty string */
    assert_string_equal(g_cfg.ring, "");
}

static void test_bool(void **state)
{
    (void)state;
    env_set("VERBOSE", "yes");
    assert_int_equal(parse(NULL, NULL), 0);
    assert_true(g_cfg.verbose);
    assert_int_equal(parse(NULL, "--verbose=false", NULL), 0);
    assert_false(g_cfg.verbose);
    g_nenv = 0;
    const char *yes[] = {"1", "true", "TRUE", "yes"};
    const char *no[] = {"0", "false", "no", "No"};
    for (int i = 0; i < 4; i++) {
        env_set("VERBOSE", yes[i]);
        assert_int_equal(parse(NULL, NULL), 0);
        assert_true(g_cfg.verbose);
        g_nenv = 0;
        env_set("VERBOSE", no[i]);
        assert_int_equal(parse(NULL, NULL), 0);
        assert_false(g_cfg.verbose);
        g_nenv = 0;
    }
    env_set("VERBOSE", "maybe");
    assert_int_equal(parse(NULL, NULL), -1);
    assert_string_equal(g_err, "[ERROR] qkd-test: invalid value 'maybe' for --verbose (VERBOSE): "
                               "expected 1/true/yes or 0/false/no");
}

static void test_numbers(void **state)
{
    (void)state;
    /* bounds 1..65535 at the edge */
    assert_int_equal(parse(NULL, "--port", "1", NULL), 0);
    assert_int_equal(g_cfg.port, 1);
    assert_int_equal(parse(NULL, "--port", "65535", NULL), 0);
    assert_int_equal(g_cfg.port, 65535);
    assert_int_equal(parse(NULL, "--port", "65536", NULL), -1);
    assert_string_equal(g_err, "[ERROR] qkd-test: invalid value '65536' for --port (PORT): out "
                               "of range 1..65535");
    assert_int_equal(g_cfg.port, 65535); /* unchanged */
    assert_int_equal(parse(NULL, "--port", "0", NULL), -1);
    assert_non_null(strstr(g_err, "out of range 1..65535"));

    const char *bad[] = {"12x", "", "-1", "+5", " 5", "5 ", "0x10", "1.5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char arg[32];
        snprintf(arg, sizeof(arg), "--bytes=%s", bad[i]);
        assert_int_equal(parse(NULL, arg, NULL), -1);
        char want[128];
        snprintf(want, sizeof(want),
                 "[ERROR] qkd-test: invalid value '%s' for --bytes (BYTES): ", bad[i]);
        assert_true(strncmp(g_err, want, strlen(want)) == 0);
    }
    /* u64: max and max+1 */
    assert_int_equal(parse(NULL, "--bytes", "18446744073709551615", NULL), 0);
    assert_true(g_cfg.bytes == UINT64_MAX);
    assert_int_equal(parse(NULL, "--bytes", "18446744073709551616", NULL), -1);
    assert_non_null(strstr(g_err, "too large"));
    assert_int_equal(parse(NULL, "--bytes", "0", NULL), 0); /* no bounds: 0 is fine */
    assert_int_equal(g_cfg.bytes, 0);
    assert_int_equal(parse(NULL, "--bytes", "00012", NULL), 0);
    assert_int_equal(g_cfg.bytes, 12);
}

static void test_u32_overflow(void **state)
{
    (void)state;
    uint32_t v = 7;
    struct qkd_opt opts[] = {
        {"n", "N", QKD_OPT_U32, &v, "n", 0, 0},
        {NULL, NULL, 0, NULL, NULL, 0, 0},
    };
    char *argv1[] = {"p", "--n", "4294967295", NULL};
    char *argv2[] = {"p", "--n", "4294967296", NULL};
    assert_int_equal(
        qkd_opts_parse_r(&g_prog, opts, 3, argv1, NULL, NULL, fake_getenv, g_err, sizeof(g_err)),
        0);
    assert_true(v == UINT32_MAX);
    assert_int_equal(
        qkd_opts_parse_r(&g_prog, opts, 3, argv2, NULL, NULL, fake_getenv, g_err, sizeof(g_err)),
        -1);
    assert_non_null(strstr(g_err, "'4294967296' for --n (N): number too large"));
}

static void test_env_errors(void **state)
{
    (void)state;
    env_set("BYTES", ""); /* empty env = unset */
    assert_int_equal(parse(NULL, NULL), 0);
    assert_int_equal(g_cfg.bytes, 1000);
    env_set("PORT", "80a");
    assert_int_equal(parse(NULL, NULL), -1);
    assert_string_equal(
        g_err, "[ERROR] qkd-test: invalid value '80a' for --port (PORT): not a decimal number");
}

static void test_unknown_and_missing(void **state)
{
    (void)state;
    assert_int_equal(parse(NULL, "--bogus", "1", NULL), -1);
    assert_string_equal(g_err, "[ERROR] qkd-test: unknown option '--bogus' (see --help)");
    assert_int_equal(parse(NULL, "--bogus=1", NULL), -1);
    assert_string_equal(g_err, "[ERROR] qkd-test: unknown option '--bogus' (see --help)");
    assert_int_equal(parse(NULL, "-x", NULL), -1);
    assert_string_equal(g_err, "[ERROR] qkd-test: unknown option '-x' (see --help)");
    assert_int_equal(parse(NULL, "--port", NULL), -1);
    assert_string_equal(g_err, "[ERROR] qkd-test: missing value for --port (PORT)");
    assert_int_equal(parse(NULL, "--ring", "--port", "1", NULL), -1);
    assert_string_equal(g_err, "[ERROR] qkd-test: missing value for --ring (QKD_RING)");
    assert_int_equal(parse(NULL, "--no-env", NULL), -1);
    assert_string_equal(g_err, "[ERROR] qkd-test: missing value for --no-env");
    assert_int_equal(parse(NULL, "--no-env=x", NULL), 0);
    assert_string_equal(g_cfg.noenv, "x");
}

static void test_lists(void **state)
{
    (void)state;
    env_set("PEERS", "bob;charlie;;dave;");
    assert_int_equal(parse(NULL, NULL), 0);
    assert_int_equal(g_cfg.peers.n, 3);
    assert_string_equal(g_cfg.peers.items[0], "bob");
    assert_string_equal(g_cfg.peers.items[1], "charlie");
    assert_string_equal(g_cfg.peers.items[2], "dave");
    /* flags replace the env list */
    assert_int_equal(parse(NULL, "--peer", "x", "--peer=y", NULL), 0);
    assert_int_equal(g_cfg.peers.n, 2);
    assert_string_equal(g_cfg.peers.items[0], "x");
    assert_string_equal(g_cfg.peers.items[1], "y");

    /* at most 32 items: 32 pass, 33 fail */
    g_nenv = 0;
    static char many[33 * 4];
    many[0] = '\0';
    for (int i = 0; i < 32; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "p%d;", i);
    env_set("PEERS", many);
    assert_int_equal(parse(NULL, NULL), 0);
    assert_int_equal(g_cfg.peers.n, 32);
    assert_string_equal(g_cfg.peers.items[31], "p31");
    strcat(many, "p32");
    assert_int_equal(parse(NULL, NULL), -1);
    assert_non_null(strstr(g_err, "too many values (at most 32)"));
    assert_non_null(strstr(g_err, "for --peer (PEERS)"));
}

static void test_help(void **state)
{
    (void)state;
    env_set("PORT", "9999"); /* help shows defaults, not the environment */
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    char *argv[] = {"qkd-test", "--port", "1", "--help", NULL};
    assert_int_equal(
        qkd_opts_parse_r(&g_prog, g_opts, 4, argv, NULL, out, fake_getenv, g_err, sizeof(g_err)),
        1);
    fclose(out);
    assert_non_null(strstr(buf, "qkd-test"));
    assert_non_null(strstr(buf, "Usage: qkd-test [options] FILE..."));
    assert_non_null(strstr(buf, "Exercises the option parser."));
    for (const struct qkd_opt *o = g_opts; o->name != NULL; o++) {
        char flag[64];
        snprintf(flag, sizeof(flag), "--%s", o->name);
        assert_non_null(strstr(buf, flag));
        assert_non_null(strstr(buf, o->help));
        if (o->env != NULL) assert_non_null(strstr(buf, o->env));
    }
    assert_non_null(strstr(buf, "default: 443"));
    assert_non_null(strstr(buf, "default: default-ring"));
    assert_null(strstr(buf, "9999"));
    assert_non_null(strstr(buf, "range: 1..65535"));
    assert_non_null(strstr(buf, "Examples:"));
    assert_non_null(strstr(buf, "PORT=9000 qkd-test file"));
    assert_int_equal(g_cfg.port, 443); /* nothing applied */
    free(buf);
}

static void test_version(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    assert_non_null(out);
    char *argv[] = {"qkd-test", "--version", NULL};
    assert_int_equal(
        qkd_opts_parse_r(&g_prog, g_opts, 2, argv, NULL, out, fake_getenv, g_err, sizeof(g_err)),
        1);
    fclose(out);
    assert_string_equal(buf, "qkd-test " QKD_VERSION "\n");
    free(buf);
}

/* The exiting wrapper: exit status and exactly one stderr line. */
static int run_child(char **argv, int argc, char *errbuf, size_t errlen)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], STDERR_FILENO);
        int devnull = open("/dev/null", 1);
        if (devnull >= 0) dup2(devnull, STDOUT_FILENO);
        int pos;
        qkd_opts_parse(&g_prog, g_opts, argc, argv, &pos);
        _exit(pos == argc ? 42 : 43);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n < errlen - 1 && (r = read(p[0], errbuf + n, errlen - 1 - n)) > 0)
        n += (size_t)r;
    errbuf[n] = '\0';
    close(p[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void test_exiting_wrapper(void **state)
{
    (void)state;
    char err[512];
    char *bad[] = {"qkd-test", "--port", "70000", NULL};
    assert_int_equal(run_child(bad, 3, err, sizeof(err)), 1);
    assert_string_equal(err, "[ERROR] qkd-test: invalid value '70000' for --port (PORT): out of "
                             "range 1..65535\n");
    char *help[] = {"qkd-test", "--help", NULL};
    assert_int_equal(run_child(help, 2, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    char *ok[] = {"qkd-test", "--port", "7", NULL};
    assert_int_equal(run_child(ok, 3, err, sizeof(err)), 42);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, setup),
        cmocka_unit_test_setup(test_precedence, setup),
        cmocka_unit_test_setup(test_forms_and_positional, setup),
        cmocka_unit_test_setup(test_bool, setup),
        cmocka_unit_test_setup(test_numbers, setup),
        cmocka_unit_test_setup(test_u32_overflow, setup),
        cmocka_unit_test_setup(test_env_errors, setup),
        cmocka_unit_test_setup(test_unknown_and_missing, setup),
        cmocka_unit_test_setup(test_lists, setup),
        cmocka_unit_test_setup(test_help, setup),
        cmocka_unit_test_setup(test_version, setup),
        cmocka_unit_test_setup(test_exiting_wrapper, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
