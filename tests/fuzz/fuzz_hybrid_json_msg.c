/* fuzz_hybrid_json_msg.c: libFuzzer target for the JSON listener's messages (json_msg.h). Byte 0
 * picks the case, the rest is the input:
 *   0 a byte stream as the listener sees it: hyb_json_frame finds objects one after the other
 *     (each within bounds), each found object goes through hyb_json_parse;
 *   1 one message through hyb_json_parse: a message that parses is written back as JSON (a
 *     test-side encoder, the module has none for requests) and must parse to the same request;
 *   2 the reply encoders: the input as a status message and as key bytes must come back
 *     unchanged through a JSON parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json_msg.h"

#define FUZZ_CHECK(c)                                                                              \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

#define FUZZ_JSON_MAX 65536 /* the listener's buffer is smaller; bigger inputs add nothing */

enum fuzz_json_case { FUZZ_JSON_STREAM = 0, FUZZ_JSON_PARSE, FUZZ_JSON_REPLY, FUZZ_JSON_CASES };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_json_add_u32(cJSON *o, const char *name, uint32_t v)
{
    FUZZ_CHECK(cJSON_AddNumberToObject(o, name, (double)v) != NULL);
}

static void fuzz_json_add_ksid(cJSON *o, const struct qkd_ksid *k)
{
    char s[QKD_KSID_STRLEN];
    qkd_ksid_to_str(k, s);
    FUZZ_CHECK(cJSON_AddStringToObject(o, "key_stream_id", s) != NULL);
}

/* The request as a client would send it. */
static char *fuzz_json_encode(const struct hyb_json_req *r)
{
    static const char *const cmd[] = {"?", "OPEN_CONNECT", "GET_KEY", "CLOSE"};
    cJSON *root = cJSON_CreateObject(), *d = cJSON_CreateObject();
    FUZZ_CHECK(root && d && r->cmd >= HYB_JSON_OPEN && r->cmd <= HYB_JSON_CLOSE);
    FUZZ_CHECK(cJSON_AddStringToObject(root, "command", cmd[r->cmd]) != NULL);
    FUZZ_CHECK(cJSON_AddItemToObject(root, "data", d));
    if (r->cmd == HYB_JSON_OPEN) {
        FUZZ_CHECK(cJSON_AddStringToObject(d, "source", r->source) != NULL);
        FUZZ_CHECK(cJSON_AddStringToObject(d, "destination", r->destination) != NULL);
        cJSON *q = cJSON_AddObjectToObject(d, "qos");
        FUZZ_CHECK(q != NULL);
        fuzz_json_add_u32(q, "key_chunk_size", r->qos.key_chunk_size);
        fuzz_json_add_u32(q, "max_bps", r->qos.max_bps);
        fuzz_json_add_u32(q, "min_bps", r->qos.min_bps);
        fuzz_json_add_u32(q, "jitter", r->qos.jitter);
        fuzz_json_add_u32(q, "priority", r->qos.priority);
        fuzz_json_add_u32(q, "timeout", r->qos.timeout);
        fuzz_json_add_u32(q, "ttl", r->qos.ttl);
        FUZZ_CHECK(cJSON_AddStringToObject(q, "metadata_mimetype", r->qos.metadata_mimetype));
        if (!qkd_ksid_is_zero(&r->ksid)) fuzz_json_add_ksid(d, &r->ksid);
    } else {
        fuzz_json_add_ksid(d, &r->ksid);
        if (r->cmd == HYB_JSON_GET) fuzz_json_add_u32(d, "index", r->index);
    }
    char *text = cJSON_PrintUnformatted(root);
    FUZZ_CHECK(text != NULL);
    cJSON_Delete(root);
    return text;
}

static void fuzz_json_same(const struct hyb_json_req *a, const struct hyb_json_req *b)
{
    FUZZ_CHECK(a->cmd == b->cmd && memcmp(a->ksid.b, b->ksid.b, QKD_KSID_LEN) == 0);
    FUZZ_CHECK(strcmp(a->source, b->source) == 0 && strcmp(a->destination, b->destination) == 0);
    FUZZ_CHECK(a->qos.key_chunk_size == b->qos.key_chunk_size && a->qos.max_bps == b->qos.max_bps &&
               a->qos.min_bps == b->qos.min_bps && a->qos.jitter == b->qos.jitter &&
               a->qos.priority == b->qos.priority && a->qos.timeout == b->qos.timeout &&
               a->qos.ttl == b->qos.ttl);
    FUZZ_CHECK(strcmp(a->qos.metadata_mimetype, b->qos.metadata_mimetype) == 0);
    FUZZ_CHECK(a->index == b->index);
}

static void fuzz_json_parse(const char *text, size_t len)
{
    /* Static: the request holds two 1 KiB URIs, keep them off the fuzzer's stack. */
    static struct hyb_json_req a, b;
    char err[160];
    err[0] = '\0';
    if (hyb_json_parse(text, len, &a, err, sizeof(err)) != 0) {
        FUZZ_CHECK(err[0] != '\0' && memchr(err, 0, sizeof(err)) != NULL);
        return;
    }
    FUZZ_CHECK(memchr(a.source, 0, sizeof(a.source)) &&
               memchr(a.destination, 0, sizeof(a.destination)));
    FUZZ_CHECK(memchr(a.qos.metadata_mimetype, 0, sizeof(a.qos.metadata_mimetype)));
    char *again = fuzz_json_encode(&a);
    FUZZ_CHECK(hyb_json_parse(again, strlen(again), &b, err, sizeof(err)) == 0);
    fuzz_json_same(&a, &b);
    cJSON_free(again);
}

static void fuzz_json_stream(const char *buf, size_t n)
{
    size_t off = 0;
    while (off < n) {
        size_t start = 0, len = 0;
        int rc = hyb_json_frame(buf + off, n - off, &start, &len);
        FUZZ_CHECK(rc >= -1 && rc <= 1);
        if (rc == 0) break; /* needs more bytes */
        FUZZ_CHECK(len >= 1 && start + len <= n - off);
        if (rc == 1) {
            FUZZ_CHECK(buf[off + start] == '{');
            FUZZ_CHECK(buf[off + start + len - 1] == '}' || buf[off + start + len - 1] == ']');
            fuzz_json_parse(buf + off + start, len);
        } else {
            FUZZ_CHECK(start == 0);
        }
        off += start + len;
    }
}

static void fuzz_json_reply(const uint8_t *p, size_t len)
{
    char *msg = malloc(len + 1);
    FUZZ_CHECK(msg != NULL);
    if (len) memcpy(msg, p, len);
    msg[len] = '\0';
    uint32_t status = len >= 4 ? qkd_get_u32(p) : 0;
    struct qkd_writer w;
    qkd_writer_init(&w, 0);
    FUZZ_CHECK(hyb_json_reply_status(&w, status, msg) == 0);
    cJSON *o = cJSON_ParseWithLength((const char *)w.buf, w.len);
    FUZZ_CHECK(o != NULL);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "status");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "message");
    FUZZ_CHECK(cJSON_IsNumber(st) && st->valuedouble == (double)status);
    FUZZ_CHECK(cJSON_IsString(m) && strcmp(m->valuestring, msg) == 0);
    cJSON_Delete(o);

    qkd_writer_reset(&w);
    FUZZ_CHECK(hyb_json_reply_key(&w, p, len) == 0);
    o = cJSON_ParseWithLength((const char *)w.buf, w.len);
    FUZZ_CHECK(o != NULL);
    const cJSON *kb = cJSON_GetObjectItemCaseSensitive(o, "key_buffer");
    FUZZ_CHECK(cJSON_IsArray(kb) && (size_t)cJSON_GetArraySize(kb) == len);
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, kb)
    {
        FUZZ_CHECK(cJSON_IsNumber(it) && it->valuedouble == (double)p[i]);
        i++;
    }
    cJSON_Delete(o);

    if (len >= QKD_KSID_LEN) {
        struct qkd_ksid k, back;
        memcpy(k.b, p, QKD_KSID_LEN);
        qkd_writer_reset(&w);
        FUZZ_CHECK(hyb_json_reply_open(&w, &k) == 0);
        o = cJSON_ParseWithLength((const char *)w.buf, w.len);
        FUZZ_CHECK(o != NULL);
        const cJSON *ks = cJSON_GetObjectItemCaseSensitive(o, "key_stream_id");
        FUZZ_CHECK(cJSON_IsString(ks) && qkd_ksid_from_str(ks->valuestring, &back) == 0);
        FUZZ_CHECK(memcmp(k.b, back.b, QKD_KSID_LEN) == 0);
        cJSON_Delete(o);
    }
    qkd_writer_free(&w);
    free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size - 1 > FUZZ_JSON_MAX) return 0;
    const uint8_t *p = data + 1;
    size_t len = size - 1;
    switch ((enum fuzz_json_case)(data[0] % FUZZ_JSON_CASES)) {
    case FUZZ_JSON_STREAM:
        fuzz_json_stream((const char *)p, len);
        break;
    case FUZZ_JSON_PARSE:
        fuzz_json_parse((const char *)p, len);
        break;
    default:
        fuzz_json_reply(p, len);
        break;
    }
    return 0;
}
