/* test_cli_rest.c: unit tests of `qkd-client rest` argument handling and exit statuses
 * (src/client/cli_rest.c; docs/client.md): required options per call, options that do not
 * apply, bounds of --number and --size, key IDs that are not UUIDs, --additional-slave without
 * --post, connection options before and after the word, the environment (ETSI014_* rest
 * options; ETSI014_URL never overrides the connection read before), --help, and the HTTP status
 * to exit status mapping at its edges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cli_rest.h"

static const char *env_slave;
static const char *test_env(const char *name)
{
    if (strcmp(name, "ETSI014_SLAVE") == 0) return env_slave;
    if (strcmp(name, "ETSI014_URL") == 0) return "https://from-env:1";
    return NULL;
}

static const struct cli_rest_conn conn = {
    .url = "https://127.0.0.1:8443", .cert = "c.pem", .key = "c.key", .ca = "ca.pem"};

/* Parses a space-separated command line after "rest"; returns the parse result. */
static int parse(const char *line, struct cli_rest_args *a, char *err, size_t n)
{
    static char buf[1024];
    char *argv[64];
    int argc = 0;
    snprintf(buf, sizeof buf, "rest %s", line);
    for (char *t = strtok(buf, " "); t && argc < 63; t = strtok(NULL, " "))
        argv[argc++] = t;
    argv[argc] = NULL;
    FILE *devnull = fopen("/dev/null", "w");
    int r = cli_rest_parse(argc, argv, &conn, a, devnull, test_env, err, n);
    fclose(devnull);
    return r;
}

static void expect_err(const char *line, const char *part)
{
    struct cli_rest_args a;
    char err[1024] = "";
    int r = parse(line, &a, err, sizeof err);
    if (r != -1 || !strstr(err, part))
        fail_msg("'%s': got %d '%s', wanted an error with '%s'", line, r, err, part);
}

static void test_calls_parse(void **state)
{
    (void)state;
    struct cli_rest_args a;
    char err[1024];
    env_slave = NULL;
    assert_int_equal(parse("status --slave bob-app", &a, err, sizeof err), 0);
    assert_int_equal(a.op, CLI_REST_STATUS);
    assert_string_equal(a.slave, "bob-app");
    assert_string_equal(a.conn.url, "https://127.0.0.1:8443"); /* not ETSI014_URL from env */
    assert_int_equal(parse("enc --slave b --number 255 --size 8192 --additional-slave x "
                           "--additional-slave y --post --json",
                           &a, err, sizeof err),
                     0);
    assert_int_equal(a.op, CLI_REST_ENC);
    assert_int_equal(a.number, 255);
    assert_int_equal(a.size, 8192);
    assert_int_equal(a.additional.n, 2);
    assert_true(a.post && a.conn.json);
    assert_int_equal(parse("dec --master a --key-id 1b4e28ba-2fa1-11d2-883f-0016d3cca427 "
                           "--key-id 5f0c0c4e-8a3b-4f5e-9d2a-3b1c2d3e4f50 --url https://h:2",
                           &a, err, sizeof err),
                     0);
    assert_int_equal(a.op, CLI_REST_DEC);
    assert_int_equal(a.key_ids.n, 2);
    assert_string_equal(a.conn.url, "https://h:2"); /* after the word, a flag wins */
    assert_string_equal(a.conn.cert, "c.pem");
}

static void test_usage_errors(void **state)
{
    (void)state;
    env_slave = NULL;
    expect_err("", "missing call");
    expect_err("get", "unknown rest call 'get'");
    expect_err("status", "needs --slave");
    expect_err("enc", "needs --slave");
    expect_err("dec --master a", "needs --master SAE and at least one --key-id");
    expect_err("dec --key-id 1b4e28ba-2fa1-11d2-883f-0016d3cca427", "needs --master");
    expect_err("dec --master a --key-id 1b4e28ba-2fa1-11d2-883f-0016d3cca42", "not a UUID");
    expect_err("status --slave b --master a", "--master does not apply");
    expect_err("status --slave b --post", "--post does not apply");
    expect_err("status --slave b --number 2", "--number does not apply");
    expect_err("dec --master a --slave b --key-id 1b4e28ba-2fa1-11d2-883f-0016d3cca427",
               "--slave does not apply");
    expect_err("enc --slave b --key-id 1b4e28ba-2fa1-11d2-883f-0016d3cca427",
               "--key-id does not apply");
    expect_err("enc --slave b --additional-slave c", "needs --post");
    expect_err("enc --slave b --number 0", "--number");
    expect_err("enc --slave b --number 256", "--number");
    expect_err("enc --slave b --size 12", "multiple of 8");
    expect_err("enc --slave b --size 0", "--size");
    expect_err("enc --slave b extra", "unexpected argument 'extra'");
    expect_err("enc --slave b --bogus 1", "--bogus");
}

static void test_missing_connection(void **state)
{
    (void)state;
    struct cli_rest_args a;
    char err[256];
    char *argv[] = {"rest", "status", "--slave", "b", NULL};
    struct cli_rest_conn none = {0};
    assert_int_equal(cli_rest_parse(4, argv, &none, &a, stdout, test_env, err, sizeof err), -1);
    assert_non_null(strstr(err, "missing --url"));
    none.url = "https://h:1";
    assert_int_equal(cli_rest_parse(4, argv, &none, &a, stdout, test_env, err, sizeof err), -1);
    assert_non_null(strstr(err, "missing --cert"));
}

static void test_env_and_help(void **state)
{
    (void)state;
    struct cli_rest_args a;
    char err[256];
    env_slave = "bob-from-env";
    assert_int_equal(parse("status", &a, err, sizeof err), 0);
    assert_string_equal(a.slave, "bob-from-env");
    assert_int_equal(parse("status --slave flag", &a, err, sizeof err), 0);
    assert_string_equal(a.slave, "flag");
    env_slave = NULL;
    assert_int_equal(parse("--help", &a, err, sizeof err), 1);
    assert_int_equal(parse("enc --help", &a, err, sizeof err), 1);
}

static void test_exit_status_mapping(void **state)
{
    (void)state;
    const int map[][2] = {{200, 0},  {400, 40}, {401, 41}, {404, 44}, {405, 45}, {408, 48},
                          {409, 49}, {413, 49}, {499, 49}, {500, 50}, {503, 53}, {509, 59},
                          {599, 59}, {302, 2},  {204, 2},  {600, 2}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (cli_rest_exit_http(map[i][0]) != map[i][1])
            fail_msg("HTTP %d -> %d, wanted %d", map[i][0], cli_rest_exit_http(map[i][0]),
                     map[i][1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calls_parse),         cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_missing_connection),  cmocka_unit_test(test_env_and_help),
        cmocka_unit_test(test_exit_status_mapping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
