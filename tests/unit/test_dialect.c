/* test_dialect.c: unit tests of dialect.c, one test per rule of docs/wire.md "Dialects":
 * endpoints (URI / bare identifier), QoS Timeout and TTL 0, GET_KEY request metadata (buffer
 * size / key info), error response shape, what the client sends, and the codec carrying E key
 * info both ways. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dialect.h"

static const struct qkd_dialect *Q(void)
{
    return qkd_dialect_of(QKD_FRAMING_Q);
}

static const struct qkd_dialect *E(void)
{
    return qkd_dialect_of(QKD_FRAMING_E);
}

static void test_framing_selects_dialect(void **state)
{
    (void)state;
    assert_string_equal(Q()->name, "Q");
    assert_string_equal(E()->name, "E");
    assert_ptr_equal(qkd_dialect_of(QKD_FRAMING_UNKNOWN), Q()); /* the stricter one */
}

static void test_bare_id_charset(void **state)
{
    (void)state;
    assert_true(qkd_bare_id_is_valid("sae_alice"));
    assert_true(qkd_bare_id_is_valid("0c4a1b2e-7d1f-4b7e-9a55-1f2e3d4c5b6a"));
    assert_true(qkd_bare_id_is_valid("app@bob"));
    assert_true(qkd_bare_id_is_valid("a.b:c-d_e@f"));
    assert_false(qkd_bare_id_is_valid(""));
    assert_false(qkd_bare_id_is_valid(NULL));
    assert_false(qkd_bare_id_is_valid("sae alice"));
    assert_false(qkd_bare_id_is_valid("a/b"));
    assert_false(qkd_bare_id_is_valid("a?b"));
    assert_false(qkd_bare_id_is_valid("client://x"));
    char id[QKD_BARE_ID_MAX + 2];
    memset(id, 'a', sizeof(id));
    id[QKD_BARE_ID_MAX] = '\0';
    assert_true(qkd_bare_id_is_valid(id)); /* 255 bytes */
    id[QKD_BARE_ID_MAX] = 'a';
    id[QKD_BARE_ID_MAX + 1] = '\0';
    assert_false(qkd_bare_id_is_valid(id)); /* 256 bytes */
}

/* Q: absolute URIs only ("client" -> 4, as the QUBIP suite expects). */
static void test_endpoint_q(void **state)
{
    (void)state;
    struct qkd_uri u;
    bool bare = true;
    assert_int_equal(qkd_dialect_endpoint(Q(), "client://localhost", &u, &bare), 0);
    assert_false(bare);
    assert_string_equal(u.host, "localhost");
    assert_int_equal(qkd_dialect_endpoint(Q(), "client", &u, &bare), -1);
    assert_int_equal(qkd_dialect_endpoint(Q(), "sae_alice", &u, &bare), -1);
    assert_int_equal(qkd_dialect_endpoint(Q(), "", &u, &bare), -1);
}

/* E: also a bare identifier, taken as the name; empty -> refused (4). */
static void test_endpoint_e(void **state)
{
    (void)state;
    struct qkd_uri u;
    bool bare = false;
    assert_int_equal(qkd_dialect_endpoint(E(), "client://localhost", &u, &bare), 0);
    assert_false(bare);
    assert_int_equal(qkd_dialect_endpoint(E(), "sae_alice", &u, &bare), 0);
    assert_true(bare);
    assert_string_equal(u.host, "sae_alice");
    assert_string_equal(u.userinfo, "");
    assert_int_equal(qkd_dialect_endpoint(E(), "wg1@bob", &u, &bare), 0);
    assert_true(bare);
    assert_string_equal(u.host, "bob");
    assert_string_equal(u.userinfo, "wg1");
    assert_int_equal(qkd_dialect_endpoint(E(), "", &u, &bare), -1);
    assert_int_equal(qkd_dialect_endpoint(E(), "has space", &u, &bare), -1);
    assert_int_equal(qkd_dialect_endpoint(E(), "a/b", &u, &bare), -1);
}

static struct qkd_qos lib_qos(void)
{
    /* what ETSI's client_api sends: chunk, Max/Min_bps 32, Jitter/Priority/Timeout/TTL 0 */
    struct qkd_qos q;
    memset(&q, 0, sizeof(q));
    q.key_chunk_size = 32;
    q.max_bps = 32;
    q.min_bps = 32;
    strcpy(q.metadata_mimetype, "application/json");
    return q;
}

static void test_timeout0_q_is_6(void **state)
{
    (void)state;
    struct qkd_qos q = lib_qos();
    assert_int_equal(qkd_dialect_open_qos(Q(), &q, 7000, 99), QKD_STATUS_TIMEOUT);
    q.timeout = 5000;
    assert_int_equal(qkd_dialect_open_qos(Q(), &q, 7000, 99), QKD_STATUS_SUCCESS);
    assert_int_equal(q.timeout, 5000);
    assert_int_equal(q.ttl, 99); /* TTL 0 = server default in Q too */
}

static void test_timeout0_ttl0_e_default(void **state)
{
    (void)state;
    struct qkd_qos q = lib_qos();
    assert_int_equal(qkd_dialect_open_qos(E(), &q, 7000, 99), QKD_STATUS_SUCCESS);
    assert_int_equal(q.timeout, 7000);
    assert_int_equal(q.ttl, 99);
    assert_int_equal(q.max_bps, 32); /* below any server minimum: left for negotiation */
    assert_int_equal(q.min_bps, 32);
    q.timeout = 1234;
    q.ttl = 5;
    assert_int_equal(qkd_dialect_open_qos(E(), &q, 7000, 99), QKD_STATUS_SUCCESS);
    assert_int_equal(q.timeout, 1234); /* given values are kept */
    assert_int_equal(q.ttl, 5);
}

/* Q: Metadata_size is the client's buffer size (the caller answers 8 when too small). */
static void test_get_meta_q_buffer_size(void **state)
{
    (void)state;
    struct qkd_get_req g = {.index = 1, .metadata_size = 4};
    uint32_t buf = 0;
    assert_int_equal(qkd_dialect_get_meta(Q(), &g, &buf, NULL, 0), QKD_STATUS_SUCCESS);
    assert_int_equal(buf, 4);
    g.metadata_size = 0;
    assert_int_equal(qkd_dialect_get_meta(Q(), &g, &buf, NULL, 0), QKD_STATUS_SUCCESS);
    assert_int_equal(buf, 0);
}

/* E: the bytes are key info; symmetric (or none) -> the whole metadata, never 8. */
static void test_get_meta_e_key_info(void **state)
{
    (void)state;
    static const uint8_t sym[2] = {0x00, 0x10};
    struct qkd_get_req g = {.index = 1, .metadata_size = 2, .metadata = sym};
    uint32_t buf = 0;
    char why[128] = "x";
    assert_int_equal(qkd_dialect_get_meta(E(), &g, &buf, why, sizeof(why)), QKD_STATUS_SUCCESS);
    assert_int_equal(buf, UINT32_MAX);
    assert_string_equal(why, "");
    g.metadata_size = 0;
    g.metadata = NULL;
    assert_int_equal(qkd_dialect_get_meta(E(), &g, &buf, why, sizeof(why)), QKD_STATUS_SUCCESS);
    assert_int_equal(buf, UINT32_MAX);
}

/* E: key type other than 0x00 -> 2, with a reason naming the type. */
static void test_get_meta_e_other_type_is_2(void **state)
{
    (void)state;
    static const uint8_t obl[2] = {0x01, 0x10};
    static const uint8_t odd[1] = {0x7f};
    struct qkd_get_req g = {.index = 1, .metadata_size = 2, .metadata = obl};
    uint32_t buf = 0;
    char why[160];
    assert_int_equal(qkd_dialect_get_meta(E(), &g, &buf, why, sizeof(why)),
                     QKD_STATUS_INSUFFICIENT_KEY);
    assert_non_null(strstr(why, "key type 0x01"));
    assert_non_null(strstr(why, "oblivious"));
    g.metadata = odd;
    g.metadata_size = 1;
    assert_int_equal(qkd_dialect_get_meta(E(), &g, &buf, why, sizeof(why)),
                     QKD_STATUS_INSUFFICIENT_KEY);
    assert_non_null(strstr(why, "key type 0x7f"));
    /* in Q the same bytes mean nothing: Q requests carry none */
    g.metadata = obl;
    g.metadata_size = 2;
    assert_int_equal(qkd_dialect_get_meta(Q(), &g, &buf, why, sizeof(why)), QKD_STATUS_SUCCESS);
}

/* What each dialect's clients send as GET_KEY metadata (libqkd004 sends the same). */
static void test_client_key_info(void **state)
{
    (void)state;
    assert_int_equal(E()->get_key_info_size, 2);
    assert_int_equal(E()->get_key_info[0], QKD_KEY_TYPE_SYMMETRIC);
    assert_int_equal(E()->get_key_info[1], 0x00);
    assert_int_equal(Q()->get_key_info_size, 0);
}

/* E error responses are full-shaped (the library parses every field); Q's carry the status. */
static void test_error_shape(void **state)
{
    (void)state;
    assert_true(E()->full_error_responses);
    assert_false(Q()->full_error_responses);
    struct qkd_response rsp;
    memset(&rsp, 0, sizeof(rsp));
    rsp.service = QKD_SVC_GET_RSP;
    rsp.u.get.status = QKD_STATUS_PEER_APP_NOT_CONNECTED;
    rsp.u.get.index = 9;
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    assert_int_equal(qkd_wire_encode_response(QKD_FRAMING_E, &rsp, &w), 0);
    /* status, index, key_len 0, metadata_len 0 */
    assert_int_equal(w.len, QKD_WIRE_HDR_LEN + 16);
    assert_int_equal(qkd_get_u32(w.buf + 12), 9);
    qkd_writer_reset(&w);
    assert_int_equal(qkd_wire_encode_response(QKD_FRAMING_Q, &rsp, &w), 0);
    assert_int_equal(w.len, QKD_WIRE_HDR_LEN + 4);
    qkd_writer_reset(&w);
    rsp.service = QKD_SVC_OPEN_RSP;
    rsp.u.open.status = QKD_STATUS_NO_QKD_CONNECTION;
    assert_int_equal(qkd_wire_encode_response(QKD_FRAMING_E, &rsp, &w), 0);
    /* status, 7 u32, mimetype "" (its NUL), KSID */
    assert_int_equal(w.len, QKD_WIRE_HDR_LEN + 4 + 28 + 1 + 16);
    qkd_writer_free(&w);
}

/* The codec carries E key info: encoded from the request, decoded as a pointer into it. */
static void test_codec_key_info_roundtrip(void **state)
{
    (void)state;
    static const uint8_t info[2] = {0x01, 0x11};
    struct qkd_request req;
    memset(&req, 0, sizeof(req));
    req.service = QKD_SVC_GET_REQ;
    req.u.get.index = 3;
    req.u.get.metadata_size = 2;
    req.u.get.metadata = info;
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    assert_int_equal(qkd_wire_encode_request(QKD_FRAMING_E, &req, &w), 0);
    assert_int_equal(w.len, QKD_WIRE_HDR_LEN + 24 + 2);
    assert_int_equal(w.buf[0], 2); /* E major */
    assert_memory_equal(w.buf + QKD_WIRE_HDR_LEN + 24, info, 2);
    struct qkd_wire_hdr h;
    qkd_wire_hdr_parse(w.buf, &h);
    struct qkd_request out;
    assert_int_equal(qkd_wire_decode_request(QKD_FRAMING_E, &h, w.buf + QKD_WIRE_HDR_LEN, 0, &out),
                     0);
    assert_int_equal(out.u.get.metadata_size, 2);
    assert_non_null(out.u.get.metadata);
    assert_memory_equal(out.u.get.metadata, info, 2);
    uint32_t buf = 0;
    assert_int_equal(qkd_dialect_get_meta(E(), &out.u.get, &buf, NULL, 0),
                     QKD_STATUS_INSUFFICIENT_KEY);
    /* without metadata bytes the encoder writes zeros (a symmetric key) */
    qkd_writer_reset(&w);
    req.u.get.metadata = NULL;
    assert_int_equal(qkd_wire_encode_request(QKD_FRAMING_E, &req, &w), 0);
    assert_int_equal(w.buf[QKD_WIRE_HDR_LEN + 24], 0);
    assert_int_equal(w.buf[QKD_WIRE_HDR_LEN + 25], 0);
    qkd_writer_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing_selects_dialect),
        cmocka_unit_test(test_bare_id_charset),
        cmocka_unit_test(test_endpoint_q),
        cmocka_unit_test(test_endpoint_e),
        cmocka_unit_test(test_timeout0_q_is_6),
        cmocka_unit_test(test_timeout0_ttl0_e_default),
        cmocka_unit_test(test_get_meta_q_buffer_size),
        cmocka_unit_test(test_get_meta_e_key_info),
        cmocka_unit_test(test_get_meta_e_other_type_is_2),
        cmocka_unit_test(test_client_key_info),
        cmocka_unit_test(test_error_shape),
        cmocka_unit_test(test_codec_key_info_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
