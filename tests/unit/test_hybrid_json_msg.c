/* test_hybrid_json_msg.c: the JSON listener's messages: finding whole objects in a byte stream
 * (strings with braces, escapes, garbage, partial input), parsing the three commands and their
 * errors, and byte-exact replies in the Python module's json.dumps format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "json_msg.h"

static void test_frame(void **state)
{
    (void)state;
    size_t st, len;
    const char *a = "  {\"a\": \"}{\\\"\", \"b\": [1, {\"c\": 2}]}{\"next\": 1}";
    assert_int_equal(hyb_json_frame(a, strlen(a), &st, &len), 1);
    assert_int_equal(st, 2);
    assert_int_equal(len, strlen("{\"a\": \"}{\\\"\", \"b\": [1, {\"c\": 2}]}"));
    assert_int_equal(hyb_json_frame("{\"a\": 1", 7, &st, &len), 0); /* incomplete */
    assert_int_equal(hyb_json_frame(" \n ", 3, &st, &len), 0);
    assert_int_equal(st, 3);
    assert_int_equal(hyb_json_frame("garbage{\"x\":1}", 14, &st, &len), -1);
    assert_int_equal(len, 7); /* discard up to the next '{' */
    assert_int_equal(hyb_json_frame("junk", 4, &st, &len), -1);
    assert_int_equal(len, 4);
}

static void test_parse(void **state)
{
    (void)state;
    struct hyb_json_req r;
    char err[256];
    const char *open = "{\"command\": \"OPEN_CONNECT\", \"data\": {\"source\": "
                       "\"hybrid://a@alice?key_sources=QKD\", \"destination\": \"hybrid://a@bob\", "
                       "\"qos\": {\"key_chunk_size\": 32, \"max_bps\": 40000, \"min_bps\": 5000, "
                       "\"jitter\": 10, \"priority\": 0, \"timeout\": 0, \"ttl\": 0, "
                       "\"metadata_mimetype\": \"application/json\"}}}";
    assert_int_equal(hyb_json_parse(open, strlen(open), &r, err, sizeof(err)), 0);
    assert_int_equal(r.cmd, HYB_JSON_OPEN);
    assert_string_equal(r.destination, "hybrid://a@bob");
    assert_int_equal(r.qos.key_chunk_size, 32);
    assert_int_equal(r.qos.max_bps, 40000);
    assert_int_equal(r.qos.timeout, 0);
    assert_string_equal(r.qos.metadata_mimetype, "application/json");
    assert_true(qkd_ksid_is_zero(&r.ksid));
    const char *get = "{\"command\": \"GET_KEY\", \"data\": {\"key_stream_id\": "
                      "\"00112233-4455-6677-8899-aabbccddeeff\", \"index\": 4294967295, "
                      "\"metadata\": {\"size\": 0, \"buffer\": \"\"}}}";
    assert_int_equal(hyb_json_parse(get, strlen(get), &r, err, sizeof(err)), 0);
    assert_int_equal(r.cmd, HYB_JSON_GET);
    assert_int_equal(r.index, 4294967295u);
    assert_int_equal(r.ksid.b[15], 0xff);
    const char *cl = "{\"command\": \"CLOSE\", \"data\": {\"key_stream_id\": "
                     "\"00112233-4455-6677-8899-aabbccddeeff\"}}";
    assert_int_equal(hyb_json_parse(cl, strlen(cl), &r, err, sizeof(err)), 0);
    assert_int_equal(r.cmd, HYB_JSON_CLOSE);

    struct {
        const char *msg, *word;
    } bad[] = {
        {"{", "not valid JSON"},
        {"[1]", "object"},
        {"{\"data\": {}}", "command"},
        {"{\"command\": \"OPEN_CONNECT\"}", "data"},
        {"{\"command\": \"FOO\", \"data\": {}}", "unknown command"},
        {"{\"command\": \"OPEN_CONNECT\", \"data\": {\"destination\": \"x\"}}", "source"},
        {"{\"command\": \"GET_KEY\", \"data\": {\"index\": 1}}", "key_stream_id"},
        {"{\"command\": \"GET_KEY\", \"data\": {\"key_stream_id\": \"xyz\"}}", "not a UUID"},
        {"{\"command\": \"GET_KEY\", \"data\": {\"key_stream_id\": "
         "\"00112233-4455-6677-8899-aabbccddeeff\", \"index\": -1}}",
         "index"},
        {"{\"command\": \"GET_KEY\", \"data\": {\"key_stream_id\": "
         "\"00112233-4455-6677-8899-aabbccddeeff\", \"index\": 4294967296}}",
         "index"},
        {"{\"command\": \"GET_KEY\", \"data\": {\"key_stream_id\": "
         "\"00112233-4455-6677-8899-aabbccddeeff\", \"index\": 1.5}}",
         "index"},
        {"{\"command\": \"OPEN_CONNECT\", \"data\": {\"source\": \"a\", \"destination\": \"b\", "
         "\"qos\": {\"timeout\": \"x\"}}}",
         "timeout"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(hyb_json_parse(bad[i].msg, strlen(bad[i].msg), &r, err, sizeof(err)), -1);
        if (!strstr(err, bad[i].word)) fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].word);
    }
}

static void test_replies(void **state)
{
    (void)state;
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    struct qkd_ksid k;
    assert_int_equal(qkd_ksid_from_str("00112233-4455-6677-8899-aabbccddeeff", &k), 0);
    assert_int_equal(hyb_json_reply_open(&w, &k), 0);
    const char *want =
        "{\"status\": 0, \"key_stream_id\": \"00112233-4455-6677-8899-aabbccddeeff\"}";
    assert_int_equal(w.len, strlen(want));
    assert_memory_equal(w.buf, want, w.len);
    qkd_writer_reset(&w);
    const uint8_t key[] = {0, 1, 255, 16};
    assert_int_equal(hyb_json_reply_key(&w, key, sizeof(key)), 0);
    want = "{\"status\": 0, \"key_buffer\": [0, 1, 255, 16]}";
    assert_int_equal(w.len, strlen(want));
    assert_memory_equal(w.buf, want, w.len);
    qkd_writer_reset(&w);
    assert_int_equal(hyb_json_reply_status(&w, 0, NULL), 0);
    assert_int_equal(w.len, strlen("{\"status\": 0}"));
    assert_memory_equal(w.buf, "{\"status\": 0}", w.len);
    qkd_writer_reset(&w);
    assert_int_equal(hyb_json_reply_status(&w, 3, "a \"q\"\\\n"), 0);
    want = "{\"status\": 3, \"message\": \"a \\\"q\\\"\\\\\\u000a\"}";
    assert_int_equal(w.len, strlen(want));
    assert_memory_equal(w.buf, want, w.len);
    qkd_writer_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_replies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
