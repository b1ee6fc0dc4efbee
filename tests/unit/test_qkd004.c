/* test_qkd004.c: unit tests of libqkd004's calls (src/client/qkd004.c) against the scripted
 * fake server: both framings, partial reads, a server closing mid-frame, oversized and
 * malformed responses, reconnect after a server-side close, call timeout, status handling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "bytes.h"
#include "qkd/qkd004.h"
#include "test_qkd004_fake.h"
#include "wire.h"

struct fx {
    char cert[512], key[512], ca[512];
    const char *dir;
    struct fake_server srv;
    struct qkd004_conn *c;
};

static int fx_setup(void **state)
{
    const char *dir = getenv("QKD_TEST_CERTS");
    if (!dir || !*dir) {
        fprintf(stderr, "QKD_TEST_CERTS not set\n");
        return -1;
    }
    struct fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    f->dir = dir;
    snprintf(f->cert, sizeof f->cert, "%s/alice/client.pem", dir);
    snprintf(f->key, sizeof f->key, "%s/alice/client.key", dir);
    snprintf(f->ca, sizeof f->ca, "%s/ca.pem", dir);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    qkd004_free(f->c);
    fake_stop(&f->srv);
    free(f);
    return 0;
}

/* Starts the fake server with steps and a client connection object for it. */
static void fx_start(struct fx *f, const struct fake_step *steps, int n,
                     enum qkd004_framing framing, uint32_t call_timeout, uint32_t max_response)
{
    assert_int_equal(fake_start(&f->srv, f->dir, steps, n), 0);
    struct qkd004_config cfg = {
        .server = f->srv.addr,
        .cert = f->cert,
        .key = f->key,
        .ca = f->ca,
        .framing = framing,
        .call_timeout_ms = call_timeout ? call_timeout : 5000,
        .connect_timeout_ms = 5000,
        .max_response = max_response,
    };
    char err[256];
    f->c = qkd004_new(&cfg, err, sizeof err);
    if (!f->c) fail_msg("qkd004_new: %s", err);
}

static const struct qkd_ksid ksid_ab = {{0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
                                         0xab, 0xab, 0xab, 0xab, 0xab, 0xab}};

/* GET_KEY at index; returns the transport result, checks the key when it succeeded. */
static int get_one(struct fx *f, uint32_t index, uint32_t *status)
{
    uint8_t key[64];
    char md[128];
    size_t klen = 0;
    uint32_t idx = index, mds = sizeof md;
    int rc = qkd004_get_key(f->c, &ksid_ab, &idx, key, sizeof key, &klen, md, &mds, status);
    if (rc == QKD004_OK && *status == 0) {
        uint8_t want[32];
        fake_key(index, want, sizeof want);
        assert_int_equal(klen, 32);
        assert_memory_equal(key, want, 32);
        assert_int_equal(idx, index);
        assert_int_equal(mds, strlen(FAKE_METADATA));
        assert_string_equal(md, FAKE_METADATA);
    }
    return rc;
}

static void run_flow(struct fx *f, enum qkd004_framing framing)
{
    fx_start(f, NULL, 0, framing, 0, 0);
    struct qkd_qos qos;
    qkd004_qos_default(&qos);
    struct qkd_ksid ksid;
    memset(&ksid, 0, sizeof ksid);
    uint32_t st = 99;
    assert_int_equal(qkd004_open_connect(f->c, "client://a", "server://b", &qos, &ksid, &st),
                     QKD004_OK);
    assert_int_equal(st, 0);
    assert_memory_equal(ksid.b, ksid_ab.b, QKD_KSID_LEN);
    assert_int_equal(qos.key_chunk_size, 32);
    assert_string_equal(qos.metadata_mimetype, "application/json");
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(get_one(f, i, &st), QKD004_OK);
        assert_int_equal(st, 0);
    }
    assert_int_equal(qkd004_close(f->c, &ksid, &st), QKD004_OK);
    assert_int_equal(st, 0);
    assert_true(qkd004_is_connected(f->c));
    fake_stop(&f->srv);
    assert_int_equal(f->srv.accepted, 1); /* one connection for all five calls */
    assert_int_equal(f->srv.requests, 5);
    assert_int_equal(f->srv.framing_seen,
                     framing == QKD004_FRAMING_E ? QKD_FRAMING_E : QKD_FRAMING_Q);
}

static void test_flow_q(void **state)
{
    run_flow(*state, QKD004_FRAMING_Q);
}

static void test_flow_e(void **state)
{
    run_flow(*state, QKD004_FRAMING_E);
}

static void test_bytewise_response(void **state)
{
    struct fx *f = *state;
    const struct fake_step steps[] = {{.act = FAKE_REPLY_BYTEWISE}, {.act = FAKE_REPLY_BYTEWISE}};
    fx_start(f, steps, 2, QKD004_FRAMING_Q, 0, 0);
    uint32_t st = 99;
    assert_int_equal(get_one(f, 7, &st), QKD004_OK);
    assert_int_equal(st, 0);
    struct qkd004_conn *c = f->c;
    assert_int_equal(qkd004_close(c, &ksid_ab, &st), QKD004_OK);
    assert_int_equal(st, 0);
}

static void test_bytewise_response_e(void **state)
{
    struct fx *f = *state;
    const struct fake_step steps[] = {{.act = FAKE_REPLY_BYTEWISE}};
    fx_start(f, steps, 1, QKD004_FRAMING_E, 0, 0);
    uint32_t st = 99;
    assert_int_equal(get_one(f, 3, &st), QKD004_OK);
    assert_int_equal(st, 0);
}

static void test_close_mid_header(void **state)
{
    struct fx *f = *state;
    const struct fake_step steps[] = {{.act = FAKE_CLOSE_MIDFRAME, .cut = 5}};
    fx_start(f, steps, 1, QKD004_FRAMING_Q, 0, 0);
    uint32_t st = 99;
    assert_int_equal(get_one(f, 0, &st), QKD004_ERR_CLOSED);
    assert_non_null(strstr(qkd004_last_error(f->c), "mid-frame (got 5 of 8 header bytes)"));
    assert_false(qkd004_is_connected(f->c));
}

static void test_close_mid_payload(void **state)
{
    struct fx *f = *state;
    /* Q GET_KEY response: 8 + 4 status + 4 index + 4 len + 32 key + 4 mdlen + 18 md = 74 */
    const struct fake_step steps[] = {{.act = FAKE_CLOSE_MIDFRAME, .cut = 28}};
    fx_start(f, steps, 1, QKD004_FRAMING_Q, 0, 0);
    uint32_t st = 99;
    assert_int_equal(get_one(f, 0, &st), QKD004_ERR_CLOSED);
    char want[64];
    snprintf(want, sizeof want, "mid-frame (got 28 of %zu bytes)",
             (size_t)(8 + 12 + 32 + 4 + strlen(FAKE_METADATA)));
    if (!strstr(qkd004_last_error(f->c), want))
        fail_msg("got \"%s\", want \"%s\"", qkd004_last_error(f->c), want);
}

static void test_close_without_reply_then_reconnect(void **state)
{
    struct fx *f = *state;
    const struct fake_step steps[] = {{.act = FAKE_CLOSE_NO_REPLY}};
    fx_start(f, steps, 1, QKD004_FRAMING_Q, 0, 0);
    uint32_t st = 99;
    assert_int_equal(get_one(f, 0, &st), QKD004_ERR_CLOSED);
    assert_non_null(strstr(qkd004_last_error(f->c), "before answering GET_KEY"));
    /* The next call connects again by itself. */
    assert_int_equal(get_one(f, 1, &st), QKD004_OK);
    assert_int_equal(st, 0);
    fake_stop(&f->srv);
    assert_int_equal(f->srv.accepted, 2);
}

static void test_reconnect_after_idle_close(void **state)
{
    struct fx *f = *state;
    const struct fake_step steps[] = {{.act = FAKE_REPLY_THEN_CLOSE}};
    fx_start(f, steps, 1, QKD004_FRAMING_Q, 0, 0);
    uint32_t st = 99;
    assert_int_equal(get_one(f, 0, &st), QKD004_OK);
    /* The server has closed while we were idle; let the close arrive. */
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_int_equal(get_one(f, 1, &st), QKD004_OK);
    assert_int_equal(st, 0);
    fake_stop(&f->srv);
    assert_int_equal(f->srv.accepted, 2);
    assert_int_equal(f->srv.requests, 2);
}

static void test_oversized_response(void **state)
{
    struct fx *f = *state;
    const struct fake_step steps[] = {{.act = FAKE_REPLY, .key_len = 200}};
    fx_start(f, steps, 1, QKD004_FRAMING_Q, 0, 128);
    uint32_t st = 99;
    assert_int_equal(get_one(f, 0, &st), QKD004_ERR_PROTOCOL);
    assert_non_null(strstr(qkd004_last_error(f->c), "exceeds the limit of 128"));
    assert_false(qkd004_is_connected(f->c));
}

static void test_response_at_limit(void **state)
{
    struct fx *f = *state;
    /* payload = 12 + 32 + 4 + 18 = 66 bytes: exactly at the limit passes, one more fails */
    uint32_t len = (uint32_t)(12 + 32 + 4 + strlen(FAKE_METADATA));
    fx_start(f, NULL, 0, QKD004_FRAMING_Q, 0, len);
    uint32_t st = 99;
    assert_int_equal(get_one(f, 0, &st), QKD004_OK);
    assert_int_equal(st, 0);
    qkd004_free(f->c);
    struct qkd004_config cfg = {.server = f->srv.addr,
                                .cert = f->cert,
                                .key = f->key,
                                .ca = f->ca,
                                .max_response = len - 1};
    char err[256];
    f->c = qkd004_new(&cfg, err, sizeof err);
    assert_non_null(f->c);
    assert_int_equal(get_one(f, 1, &st), QKD004_ERR_PROTOCOL);
}

static const uint8_t raw_wrong_service[] = {1, 0, 1, 0x03, 0, 0, 0, 4, 0, 0, 0, 0};
static const uint8_t raw_bad_length[] = {1, 0, 1, 0x05, 0, 0, 0, 3, 0, 0, 0};
static const uint8_t raw_e_version[] = {2, 1, 1, 0x09, 0, 0, 0, 4, 0, 0, 0, 0};

static void test_wrong_service(void **state)
{
    struct fx *f = *state;
    const struct fake_step steps[] = {
        {.act = FAKE_RAW, .raw = raw_wrong_service, .raw_len = sizeof raw_wrong_service}};
    fx_start(f, steps, 1, QKD004_FRAMING_Q, 0, 0);
    uint32_t st = 99;
    assert_int_equal(get_one(f, 0, &st), QKD004_ERR_PROTOCOL);
    assert_non_null(strstr(qkd004_last_error(f->c), "unexpected response service 0x03"));
    /* and the connection is replaced on the next call */
    assert_int_equal(get_one(f, 1, &st), QKD004_OK);
}

static void test_bad_length(void **state)
{
    struct fx *f = *state;
    const struct fake_step steps[] = {
        {.act = FAKE_RAW, .raw = raw_bad_length, .raw_len = sizeof raw_bad_length}};
    fx_start(f, steps, 1, QKD004_FRAMING_Q, 0, 0);
    uint32_t st = 99;
    assert_int_equal(get_one(f, 0, &st), QKD004_ERR_PROTOCOL);
    assert_non_null(strstr(qkd004_last_error(f->c), "malformed GET_KEY response"));
}

static void test_other_framing(void **state)
{
    struct fx *f = *state;
    const struct fake_step steps[] = {
        {.act = FAKE_RAW, .raw = raw_e_version, .raw_len = sizeof raw_e_version}};
    fx_start(f, steps, 1, QKD004_FRAMING_Q, 0, 0);
    uint32_t st = 99;
    assert_int_equal(qkd004_close(f->c, &ksid_ab, &st), QKD004_ERR_PROTOCOL);
    assert_non_null(strstr(qkd004_last_error(f->c), "not in the Q framing"));
}

static void test_call_timeout(void **state)
{
    struct fx *f = *state;
    const struct fake_step steps[] = {{.act = FAKE_SILENT}};
    fx_start(f, steps, 1, QKD004_FRAMING_Q, 300, 0);
    uint32_t st = 99;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(get_one(f, 0, &st), QKD004_ERR_TIMEOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms >= 250 && ms < 3000);
    assert_non_null(strstr(qkd004_last_error(f->c), "no response within 300 ms"));
    /* A late answer must never be taken for the next call's: new connection. */
    assert_int_equal(get_one(f, 1, &st), QKD004_OK);
    assert_int_equal(st, 0);
}

static void test_statuses(void **state)
{
    struct fx *f = *state;
    const struct fake_step steps[] = {
        {.act = FAKE_REPLY, .status = 2},
        {.act = FAKE_REPLY, .status = 8},
        {.act = FAKE_REPLY, .status = 7},
        {.act = FAKE_REPLY, .status = 3},
    };
    fx_start(f, steps, 4, QKD004_FRAMING_Q, 0, 0);
    uint32_t st = 99;
    uint8_t key[64];
    size_t klen = 1;
    char md[4];
    uint32_t idx = 5, mds = sizeof md;
    assert_int_equal(get_one(f, 0, &st), QKD004_OK);
    assert_int_equal(st, 2);
    assert_int_equal(qkd004_get_key(f->c, &ksid_ab, &idx, key, sizeof key, &klen, md, &mds, &st),
                     QKD004_OK);
    assert_int_equal(st, 8);
    assert_int_equal(mds, strlen(FAKE_METADATA)); /* the size the server requires */
    assert_int_equal(klen, 0);
    struct qkd_qos qos;
    qkd004_qos_default(&qos);
    qos.max_bps = 123;
    struct qkd_ksid k;
    memset(&k, 0, sizeof k);
    assert_int_equal(qkd004_open_connect(f->c, "client://a", "server://b", &qos, &k, &st),
                     QKD004_OK);
    assert_int_equal(st, 7);
    assert_false(qkd_ksid_is_zero(&k)); /* counter-proposal carries a usable KSID */
    assert_int_equal(qkd004_close(f->c, &k, &st), QKD004_OK);
    assert_int_equal(st, 3);
    assert_string_equal(qkd004_last_error(f->c), ""); /* statuses are not transport errors */
}

static void test_key_buffer_too_small(void **state)
{
    struct fx *f = *state;
    fx_start(f, NULL, 0, QKD004_FRAMING_Q, 0, 0);
    uint8_t key[31];
    size_t klen = 0;
    uint32_t idx = 0, mds = 0, st = 99;
    assert_int_equal(qkd004_get_key(f->c, &ksid_ab, &idx, key, sizeof key, &klen, NULL, &mds, &st),
                     QKD004_ERR_ARG);
    assert_non_null(strstr(qkd004_last_error(f->c), "does not fit"));
    /* metadata_size 0: the request carries 0 and no metadata comes back */
    fake_stop(&f->srv);
    assert_int_equal(f->srv.last_metadata_size, 0);
}

/* E framing: GET_KEY carries what ETSI's client_api sends (2 bytes of key info: symmetric,
 * default role), whatever the caller's buffer; the whole metadata comes back and the buffer
 * gets what fits, *metadata_size the whole length. */
static void test_e_get_key_info_and_metadata(void **state)
{
    struct fx *f = *state;
    fx_start(f, NULL, 0, QKD004_FRAMING_E, 0, 0);
    uint8_t key[64];
    char md[4];
    size_t klen = 0;
    uint32_t idx = 5, mds = sizeof md, st = 99;
    assert_int_equal(qkd004_get_key(f->c, &ksid_ab, &idx, key, sizeof key, &klen, md, &mds, &st),
                     QKD004_OK);
    assert_int_equal(st, 0);
    assert_int_equal(klen, 32);
    assert_int_equal(mds, strlen(FAKE_METADATA)); /* the whole length, over the buffer */
    assert_memory_equal(md, FAKE_METADATA, sizeof md);
    idx = 6;
    mds = 0;
    assert_int_equal(qkd004_get_key(f->c, &ksid_ab, &idx, key, sizeof key, &klen, NULL, &mds, &st),
                     QKD004_OK);
    assert_int_equal(st, 0);
    assert_int_equal(mds, strlen(FAKE_METADATA));
    fake_stop(&f->srv);
    assert_int_equal(f->srv.last_metadata_size, 2);
    assert_int_equal(f->srv.last_key_info_len, 2);
    assert_int_equal(f->srv.last_key_info[0], 0x00); /* symmetric */
    assert_int_equal(f->srv.last_key_info[1], 0x00); /* default role */
}

static void test_bad_server_name(void **state)
{
    struct fx *f = *state;
    assert_int_equal(fake_start(&f->srv, f->dir, NULL, 0), 0);
    struct qkd004_config cfg = {
        .server = f->srv.addr, .cert = f->cert, .key = f->key, .ca = f->ca, .server_name = "bob"};
    char err[256];
    f->c = qkd004_new(&cfg, err, sizeof err);
    assert_non_null(f->c);
    assert_int_equal(qkd004_connect(f->c), QKD004_ERR_TLS);
    assert_non_null(strstr(qkd004_last_error(f->c), "certificate"));
}

static void test_untrusted_ca(void **state)
{
    struct fx *f = *state;
    char other[600];
    snprintf(other, sizeof other, "%s-other/ca.pem", f->dir);
    FILE *probe = fopen(other, "r");
    if (!probe) skip();
    fclose(probe);
    assert_int_equal(fake_start(&f->srv, f->dir, NULL, 0), 0);
    struct qkd004_config cfg = {.server = f->srv.addr, .cert = f->cert, .key = f->key, .ca = other};
    char err[256];
    f->c = qkd004_new(&cfg, err, sizeof err);
    assert_non_null(f->c);
    assert_int_equal(qkd004_connect(f->c), QKD004_ERR_TLS);
}

static void test_bad_config(void **state)
{
    struct fx *f = *state;
    char err[256] = "";
    struct qkd004_config cfg = {.server = "127.0.0.1", .cert = f->cert, .key = f->key, .ca = f->ca};
    assert_null(qkd004_new(&cfg, err, sizeof err));
    assert_non_null(strstr(err, "HOST:PORT"));
    cfg.server = "127.0.0.1:1";
    cfg.cert = "/nonexistent/cert.pem";
    assert_null(qkd004_new(&cfg, err, sizeof err));
    assert_true(err[0] != '\0');
    cfg.cert = f->cert;
    cfg.framing = (enum qkd004_framing)7;
    assert_null(qkd004_new(&cfg, err, sizeof err));
    assert_null(qkd004_new(NULL, err, sizeof err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_flow_q, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_flow_e, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bytewise_response, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bytewise_response_e, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_close_mid_header, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_close_mid_payload, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_close_without_reply_then_reconnect, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_after_idle_close, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_oversized_response, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_response_at_limit, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_service, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_length, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_other_framing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_call_timeout, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_statuses, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_key_buffer_too_small, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_e_get_key_info_and_metadata, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_server_name, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_untrusted_ca, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_config, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
