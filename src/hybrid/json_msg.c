/* json_msg.c: framing, parsing and reply formatting of the JSON listener's messages. */
#include "json_msg.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int jerr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int jerr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen) vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

int hyb_json_frame(const char *buf, size_t n, size_t *start, size_t *len)
{
    size_t i = 0;
    while (i < n && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
        i++;
    *start = i;
    *len = 0;
    if (i == n) return 0;
    if (buf[i] != '{') {
        size_t j = i;
        while (j < n && buf[j] != '{')
            j++;
        *start = 0;
        *len = j;
        return -1;
    }
    int depth = 0;
    bool in_str = false, esc = false;
    for (size_t j = i; j < n; j++) {
        char ch = buf[j];
        if (in_str) {
            if (esc)
                esc = false;
            else if (ch == '\\')
                esc = true;
            else if (ch == '"')
                in_str = false;
            continue;
        }
        if (ch == '"')
            in_str = true;
        else if (ch == '{' || ch == '[')
            depth++;
        else if (ch == '}' || ch == ']') {
            if (--depth == 0) {
                *len = j + 1 - i;
                return 1;
            }
        }
    }
    return 0;
}

static int get_u32(const cJSON *o, const char *name, uint32_t *out, bool required, char *err,
                   size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v || cJSON_IsNull(v)) {
        if (required) return jerr(err, errlen, "'%s' is missing", name);
        return 0;
    }
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || d < 0 || d > 4294967295.0 || floor(d) != d)
        return jerr(err, errlen, "'%s' must be an integer 0..4294967295", name);
    *out = (uint32_t)d;
    return 0;
}

static int get_str(const cJSON *o, const char *name, char *out, size_t cap, bool required,
                   char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    out[0] = '\0';
    if (!v || cJSON_IsNull(v)) {
        if (required) return jerr(err, errlen, "'%s' is missing", name);
        return 0;
    }
    if (!cJSON_IsString(v) || !v->valuestring)
        return jerr(err, errlen, "'%s' must be a string", name);
    if (strlen(v->valuestring) >= cap) return jerr(err, errlen, "'%s' is too long", name);
    snprintf(out, cap, "%s", v->valuestring);
    return 0;
}

static int get_ksid(const cJSON *o, struct qkd_ksid *k, bool required, char *err, size_t errlen)
{
    char s[64];
    memset(k, 0, sizeof(*k));
    if (get_str(o, "key_stream_id", s, sizeof(s), required, err, errlen) != 0) return -1;
    if (s[0] == '\0') {
        if (required) return jerr(err, errlen, "'key_stream_id' is missing");
        return 0;
    }
    if (qkd_ksid_from_str(s, k) != 0) return jerr(err, errlen, "'key_stream_id' is not a UUID");
    return 0;
}

static int parse_qos(const cJSON *q, struct qkd_qos *qos, char *err, size_t errlen)
{
    if (!q || cJSON_IsNull(q)) return 0;
    if (!cJSON_IsObject(q)) return jerr(err, errlen, "'qos' must be an object");
    static const char *const names[] = {"key_chunk_size", "max_bps", "min_bps", "jitter",
                                        "priority",       "timeout", "ttl"};
    uint32_t *dst[] = {&qos->key_chunk_size, &qos->max_bps, &qos->min_bps, &qos->jitter,
                       &qos->priority,       &qos->timeout, &qos->ttl};
    for (size_t i = 0; i < 7; i++)
        if (get_u32(q, names[i], dst[i], false, err, errlen) != 0) return -1;
    return get_str(q, "metadata_mimetype", qos->metadata_mimetype, sizeof(qos->metadata_mimetype),
                   false, err, errlen);
}

int hyb_json_parse(const char *text, size_t len, struct hyb_json_req *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root) return jerr(err, errlen, "not valid JSON");
    int rc = -1;
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(root, "command");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!cJSON_IsObject(root)) {
        jerr(err, errlen, "a message must be a JSON object");
        goto out;
    }
    if (!cJSON_IsString(cmd)) {
        jerr(err, errlen, "'command' is missing or not a string");
        goto out;
    }
    if (!cJSON_IsObject(data)) {
        jerr(err, errlen, "'data' is missing or not an object");
        goto out;
    }
    if (strcmp(cmd->valuestring, "OPEN_CONNECT") == 0) {
        out->cmd = HYB_JSON_OPEN;
        if (get_str(data, "source", out->source, sizeof(out->source), true, err, errlen) ||
            get_str(data, "destination", out->destination, sizeof(out->destination), true, err,
                    errlen) ||
            parse_qos(cJSON_GetObjectItemCaseSensitive(data, "qos"), &out->qos, err, errlen) ||
            get_ksid(data, &out->ksid, false, err, errlen))
            goto out;
    } else if (strcmp(cmd->valuestring, "GET_KEY") == 0) {
        out->cmd = HYB_JSON_GET;
        if (get_ksid(data, &out->ksid, true, err, errlen) ||
            get_u32(data, "index", &out->index, false, err, errlen))
            goto out;
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(data, "metadata");
        if (md && !cJSON_IsNull(md) && !cJSON_IsObject(md)) {
            jerr(err, errlen, "'metadata' must be an object");
            goto out;
        }
    } else if (strcmp(cmd->valuestring, "CLOSE") == 0) {
        out->cmd = HYB_JSON_CLOSE;
        if (get_ksid(data, &out->ksid, true, err, errlen)) goto out;
    } else {
        jerr(err, errlen, "unknown command '%.40s' (known: OPEN_CONNECT, GET_KEY, CLOSE)",
             cmd->valuestring);
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

int hyb_json_reply_status(struct qkd_writer *w, uint32_t status, const char *message)
{
    char head[64];
    int n = snprintf(head, sizeof(head), "{\"status\": %u", status);
    qkd_write_bytes(w, head, (size_t)n);
    if (message) {
        qkd_write_bytes(w, ", \"message\": \"", 14);
        for (const unsigned char *p = (const unsigned char *)message; *p; p++) {
            char e[8];
            int k;
            if (*p == '"' || *p == '\\')
                k = snprintf(e, sizeof(e), "\\%c", *p);
            else if (*p < 0x20)
                k = snprintf(e, sizeof(e), "\\u%04x", *p);
            else
                k = snprintf(e, sizeof(e), "%c", *p);
            qkd_write_bytes(w, e, (size_t)k);
        }
        qkd_write_bytes(w, "\"", 1);
    }
    qkd_write_bytes(w, "}", 1);
    return w->failed ? -1 : 0;
}

int hyb_json_reply_open(struct qkd_writer *w, const struct qkd_ksid *ksid)
{
    char ks[QKD_KSID_STRLEN], buf[96];
    qkd_ksid_to_str(ksid, ks);
    int n = snprintf(buf, sizeof(buf), "{\"status\": 0, \"key_stream_id\": \"%s\"}", ks);
    qkd_write_bytes(w, buf, (size_t)n);
    return w->failed ? -1 : 0;
}

int hyb_json_reply_key(struct qkd_writer *w, const uint8_t *key, size_t len)
{
    static const char head[] = "{\"status\": 0, \"key_buffer\": [";
    qkd_write_bytes(w, head, sizeof(head) - 1);
    for (size_t i = 0; i < len; i++) {
        char e[8];
        int k = snprintf(e, sizeof(e), i ? ", %u" : "%u", key[i]);
        qkd_write_bytes(w, e, (size_t)k);
        memset(e, 0, sizeof(e));
    }
    qkd_write_bytes(w, "]}", 2);
    return w->failed ? -1 : 0;
}
