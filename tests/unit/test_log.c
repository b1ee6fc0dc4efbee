/* test_log.c: unit tests of log.c: line format with and without prefix, level filtering and
 * parsing, one line per message (newlines folded, long lines truncated), fatalx exit status,
 * OpenSSL error queue draining, and the key fingerprint against pinned SHA-256 values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evperr.h>

#include "log.h"

/* stderr capture through a pipe (messages here are far below the pipe buffer size) */
static int g_saved_stderr = -1;
static int g_pipe[2];

static void capture_start(void)
{
    assert_int_equal(pipe(g_pipe), 0);
    g_saved_stderr = dup(STDERR_FILENO);
    assert_true(g_saved_stderr >= 0);
    assert_true(dup2(g_pipe[1], STDERR_FILENO) >= 0);
    close(g_pipe[1]);
}

/* Restores stderr and returns what was written (caller frees). */
static char *capture_end(void)
{
    assert_true(dup2(g_saved_stderr, STDERR_FILENO) >= 0);
    close(g_saved_stderr);
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    ssize_t n;
    while ((n = read(g_pipe[0], buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    close(g_pipe[0]);
    buf[len] = '\0';
    return buf;
}

static int reset(void **state)
{
    (void)state;
    qkd_log_set_level(QKD_LOG_INFO);
    qkd_log_set_prefix(NULL);
    return 0;
}

static void test_default_level(void **state)
{
    (void)state;
    assert_int_equal(qkd_log_get_level(), QKD_LOG_INFO);
}

static void test_format(void **state)
{
    (void)state;
    capture_start();
    log_info("hello %d", 42);
    log_warn("careful");
    log_error("bad %s", "thing");
    char *out = capture_end();
    assert_string_equal(out, "[INFO] hello 42\n[WARN] careful\n[ERROR] bad thing\n");
    free(out);
}

static void test_prefix(void **state)
{
    (void)state;
    qkd_log_set_prefix("alice");
    capture_start();
    log_info("up");
    qkd_log_set_prefix(NULL);
    log_info("down");
    char *out = capture_end();
    assert_string_equal(out, "[INFO] alice: up\n[INFO] down\n");
    free(out);
}

static void test_filtering(void **state)
{
    (void)state;
    capture_start();
    log_debug("hidden at INFO");
    qkd_log_set_level(QKD_LOG_DEBUG);
    log_debug("shown at DEBUG");
    qkd_log_set_level(QKD_LOG_ERROR);
    log_info("hidden");
    log_warn("hidden");
    log_error("shown");
    char *out = capture_end();
    assert_string_equal(out, "[DEBUG] shown at DEBUG\n[ERROR] shown\n");
    free(out);
}

static void test_level_parse(void **state)
{
    (void)state;
    assert_int_equal(qkd_log_level_parse("DEBUG"), QKD_LOG_DEBUG);
    assert_int_equal(qkd_log_level_parse("info"), QKD_LOG_INFO);
    assert_int_equal(qkd_log_level_parse("Warn"), QKD_LOG_WARN);
    assert_int_equal(qkd_log_level_parse("ERROR"), QKD_LOG_ERROR);
    assert_int_equal(qkd_log_level_parse("TRACE"), -1);
    assert_int_equal(qkd_log_level_parse(""), -1);
    assert_int_equal(qkd_log_level_parse(NULL), -1);
    assert_int_equal(qkd_log_level_parse("INFOX"), -1);
}

static void test_one_line(void **state)
{
    (void)state;
    capture_start();
    log_info("a\nb\rc");
    char *big = malloc(10000);
    assert_non_null(big);
    memset(big, 'x', 9999);
    big[9999] = '\0';
    log_info("%s", big);
    free(big);
    char *out = capture_end();
    assert_string_equal(strtok(out, "\n"), "[INFO] a b c");
    char *second = strtok(NULL, "\n");
    assert_non_null(second);
    assert_true(strncmp(second, "[INFO] xxx", 10) == 0);
    size_t n = strlen(second);
    assert_true(n < 4096);
    assert_string_equal(second + n - 3, "...");
    assert_null(strtok(NULL, "\n"));
    free(out);
}

static void test_fatalx(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], STDERR_FILENO);
        qkd_log_set_level(QKD_LOG_ERROR);
        fatalx("cannot %s", "continue");
    }
    close(p[1]);
    char buf[256];
    ssize_t n = read(p[0], buf, sizeof(buf) - 1);
    close(p[0]);
    assert_true(n > 0);
    buf[n] = '\0';
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    assert_string_equal(buf, "[ERROR] cannot continue\n");
}

static void test_openssl(void **state)
{
    (void)state;
    ERR_raise(ERR_LIB_EVP, EVP_R_UNSUPPORTED_ALGORITHM);
    ERR_raise(ERR_LIB_EVP, EVP_R_BAD_DECRYPT);
    capture_start();
    qkd_log_openssl("loading key");
    char *out = capture_end();
    assert_int_equal(ERR_peek_error(), 0);
    char *l1 = strtok(out, "\n");
    char *l2 = strtok(NULL, "\n");
    assert_non_null(l1);
    assert_non_null(l2);
    assert_null(strtok(NULL, "\n"));
    assert_true(strncmp(l1, "[WARN] loading key: error:", 26) == 0);
    assert_non_null(strstr(l1, "unsupported"));
    assert_non_null(strstr(l2, "bad decrypt"));
    free(out);

    /* empty queue still says something */
    capture_start();
    qkd_log_openssl("nothing");
    out = capture_end();
    assert_true(strncmp(out, "[WARN] nothing: ", 16) == 0);
    free(out);
}

static void test_fingerprint(void **state)
{
    (void)state;
    char fp[9];
    /* pinned with python3: hashlib.sha256(b"abc").hexdigest()[:8] */
    qkd_fingerprint((const uint8_t *)"abc", 3, fp);
    assert_string_equal(fp, "ba7816bf");
    qkd_fingerprint((const uint8_t *)"", 0, fp);
    assert_string_equal(fp, "e3b0c442");
    qkd_fingerprint((const uint8_t *)"qkd-test-key", 12, fp);
    assert_string_equal(fp, "781c2e6d");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_level),       cmocka_unit_test_setup(test_format, reset),
        cmocka_unit_test_setup(test_prefix, reset), cmocka_unit_test_setup(test_filtering, reset),
        cmocka_unit_test(test_level_parse),         cmocka_unit_test_setup(test_one_line, reset),
        cmocka_unit_test_setup(test_fatalx, reset), cmocka_unit_test_setup(test_openssl, reset),
        cmocka_unit_test(test_fingerprint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
