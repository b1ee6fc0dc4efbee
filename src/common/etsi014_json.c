/* etsi014_json.c: the ETSI 014 response objects: the server's encoders (Status, Key container,
 * Error; written by hand so every temporary holding key bytes or their base64 is wiped), the
 * client's decoders of a server's responses (untrusted, through cJSON), and base64 (RFC 4648),
 * constant-time in the bytes it encodes and decodes. Pure: no I/O. docs/etsi014.md. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "etsi014.h"
#include "etsi014_int.h"

/* ---- base64, without branches or table lookups on the data ---------------------------------- */

/* all-ones when x < y, else 0 (x, y < 2^31) */
static unsigned b64_lt(unsigned x, unsigned y)
{
    return 0u - ((x - y) >> 31);
}

static unsigned b64_eq(unsigned x, unsigned y)
{
    return b64_lt(x ^ y, 1);
}

static char b64_chr(unsigned x)
{
    unsigned c = (b64_lt(x, 26) & (x + 'A')) | (~b64_lt(x, 26) & b64_lt(x, 52) & (x + 'a' - 26)) |
                 (~b64_lt(x, 52) & b64_lt(x, 62) & (x + '0' - 52)) | (b64_eq(x, 62) & '+') |
                 (b64_eq(x, 63) & '/');
    return (char)c;
}

/* the 6-bit value of character c; sets *bad to non-zero when c is not in the alphabet */
static unsigned b64_val(unsigned c, unsigned *bad)
{
    unsigned up = ~b64_lt(c, 'A') & b64_lt(c, 'Z' + 1);
    unsigned lo = ~b64_lt(c, 'a') & b64_lt(c, 'z' + 1);
    unsigned dg = ~b64_lt(c, '0') & b64_lt(c, '9' + 1);
    unsigned pl = b64_eq(c, '+'), sl = b64_eq(c, '/');
    *bad |= ~(up | lo | dg | pl | sl);
    return ((up & (c - 'A')) | (lo & (c - 'a' + 26)) | (dg & (c - '0' + 52)) | (pl & 62) |
            (sl & 63)) &
           63;
}

size_t etsi014_b64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t t = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_chr(t >> 18);
        out[o++] = b64_chr((t >> 12) & 63);
        out[o++] = b64_chr((t >> 6) & 63);
        out[o++] = b64_chr(t & 63);
    }
    if (n - i == 1) {
        uint32_t t = (uint32_t)in[i] << 16;
        out[o++] = b64_chr(t >> 18);
        out[o++] = b64_chr((t >> 12) & 63);
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t t = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64_chr(t >> 18);
        out[o++] = b64_chr((t >> 12) & 63);
        out[o++] = b64_chr((t >> 6) & 63);
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

long etsi014_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    if (len % 4 != 0) return -1;
    if (len == 0) return 0;
    size_t pad = in[len - 1] == '=' ? (in[len - 2] == '=' ? 2 : 1) : 0;
    size_t nbytes = len / 4 * 3 - pad;
    if (nbytes > cap || nbytes > LONG_MAX) return -1;
    unsigned bad = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int last = i + 4 == len;
        unsigned a = b64_val((uint8_t)in[i], &bad), b = b64_val((uint8_t)in[i + 1], &bad);
        unsigned c = last && pad == 2 ? 0 : b64_val((uint8_t)in[i + 2], &bad);
        unsigned d = last && pad >= 1 ? 0 : b64_val((uint8_t)in[i + 3], &bad);
        if (last && pad == 2) bad |= b & 15; /* unused bits must be zero: one encoding per bytes */
        if (last && pad == 1) bad |= c & 3;
        uint32_t t = a << 18 | b << 12 | c << 6 | d;
        out[o++] = (uint8_t)(t >> 16);
        if (o < nbytes) out[o++] = (uint8_t)(t >> 8);
        if (o < nbytes) out[o++] = (uint8_t)t;
    }
    if (bad) {
        qkd_wipe(out, nbytes);
        return -1;
    }
    return (long)nbytes;
}

/* ---- encoders ---------------------------------------------------------------------------------
 */

void etsi014_json_str(struct qkd_sbuf *out, const char *s)
{
    const uint8_t *p = (const uint8_t *)(s ? s : "");
    size_t len = strlen((const char *)p), i = 0, run = 0;
    qkd_sbuf_add(out, "\"", 1);
    while (i < len) {
        uint8_t c = p[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            i++;
            run++;
            continue;
        }
        size_t k = c >= 0x80 ? etsi014_utf8_seq(p + i, len - i) : 0;
        if (k > 0) {
            i += k;
            run += k;
            continue;
        }
        qkd_sbuf_add(out, p + i - run, run);
        run = 0;
        char esc[8];
        switch (c) {
        case '"':
            qkd_sbuf_add(out, "\\\"", 2);
            break;
        case '\\':
            qkd_sbuf_add(out, "\\\\", 2);
            break;
        case '\n':
            qkd_sbuf_add(out, "\\n", 2);
            break;
        case '\r':
            qkd_sbuf_add(out, "\\r", 2);
            break;
        case '\t':
            qkd_sbuf_add(out, "\\t", 2);
            break;
        default:
            if (c >= 0x80) {
                qkd_sbuf_add(out, "\\ufffd", 6); /* not UTF-8 */
            } else {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                qkd_sbuf_add(out, esc, 6);
            }
        }
        i++;
    }
    qkd_sbuf_add(out, p + i - run, run);
    qkd_sbuf_add(out, "\"", 1);
}

void etsi014_status_json(struct qkd_sbuf *out, const struct etsi014_status *st)
{
    qkd_sbuf_puts(out, "{\"source_KME_ID\":");
    etsi014_json_str(out, st->source_kme);
    qkd_sbuf_puts(out, ",\"target_KME_ID\":");
    etsi014_json_str(out, st->target_kme);
    qkd_sbuf_puts(out, ",\"master_SAE_ID\":");
    etsi014_json_str(out, st->master);
    qkd_sbuf_puts(out, ",\"slave_SAE_ID\":");
    etsi014_json_str(out, st->slave);
    qkd_sbuf_printf(out,
                    ",\"key_size\":%u,\"stored_key_count\":%llu,\"max_key_count\":%llu,"
                    "\"max_key_per_request\":%u,\"max_key_size\":%u,\"min_key_size\":%u,"
                    "\"max_SAE_ID_count\":%u}",
                    st->key_size, (unsigned long long)st->stored_key_count,
                    (unsigned long long)st->max_key_count, st->max_key_per_request,
                    st->max_key_size, st->min_key_size, st->max_sae_ids);
}

void etsi014_keys_json(struct qkd_sbuf *out, uint32_t n, const uint8_t (*ids)[16],
                       const uint8_t *const *keys, uint32_t key_bytes)
{
    etsi014_keys_json_each(out, n, ids, keys, NULL, key_bytes);
}

void etsi014_keys_json_each(struct qkd_sbuf *out, uint32_t n, const uint8_t (*ids)[16],
                            const uint8_t *const *keys, const uint32_t *lens, uint32_t key_bytes)
{
    enum { CHUNK = 48 }; /* bytes per piece: a multiple of 3, so pieces concatenate */
    char b64[ETSI014_B64_LEN(CHUNK) + 1]; /* the only copy of base64 outside out: wiped */
    qkd_sbuf_puts(out, "{\"keys\":[");
    for (uint32_t i = 0; i < n; i++) {
        char id[37];
        etsi014_uuid_str(ids[i], id);
        qkd_sbuf_printf(out, "%s{\"key_ID\":\"%s\",\"key\":\"", i ? "," : "", id);
        uint32_t kb = lens ? lens[i] : key_bytes;
        for (uint32_t off = 0; off < kb; off += CHUNK) {
            uint32_t m = kb - off < CHUNK ? kb - off : CHUNK;
            size_t c = etsi014_b64_encode(keys[i] + off, m, b64);
            qkd_sbuf_add(out, b64, c);
        }
        qkd_sbuf_puts(out, "\"}");
    }
    qkd_sbuf_puts(out, "]}");
    qkd_wipe(b64, sizeof b64);
}

void etsi014_error_json(struct qkd_sbuf *out, const char *message)
{
    qkd_sbuf_puts(out, "{\"message\":");
    etsi014_json_str(out, message);
    qkd_sbuf_puts(out, "}");
}

/* ---- client-side decoders ---------------------------------------------------------------------
 */

/* A response body: a JSON object, or -1. */
static cJSON *json_response(const uint8_t *body, size_t len, char *msg, size_t n)
{
    cJSON *j = NULL;
    if (etsi014_json_body(body, len, &j, msg, n) != 0) return NULL;
    if (!j) etsi014_fail(msg, n, -1, "body is empty");
    return j;
}

static int json_get_str(const cJSON *o, const char *name, char *out, size_t cap, char *msg,
                        size_t n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v) return etsi014_fail(msg, n, -1, "%s is missing", name);
    if (!cJSON_IsString(v) || !v->valuestring)
        return etsi014_fail(msg, n, -1, "%s is not a string", name);
    size_t len = strlen(v->valuestring);
    if (len >= cap) return etsi014_fail(msg, n, -1, "%s is longer than %zu bytes", name, cap - 1);
    for (size_t i = 0; i < len; i++)
        if ((uint8_t)v->valuestring[i] < 0x20 || v->valuestring[i] == 0x7f)
            return etsi014_fail(msg, n, -1, "%s holds a control byte", name);
    memcpy(out, v->valuestring, len + 1);
    return 0;
}

/* An unsigned integer member at most max (2^53 at most: exact in a double). */
static int json_get_uint(const cJSON *o, const char *name, uint64_t max, int required,
                         uint64_t *out, char *msg, size_t n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = 0;
    if (!v) return required ? etsi014_fail(msg, n, -1, "%s is missing", name) : 0;
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || !isfinite(d) || floor(d) != d || d < 0 || d > (double)max)
        return etsi014_fail(msg, n, -1, "%s is not an integer in [0, %llu]", name,
                            (unsigned long long)max);
    *out = (uint64_t)d;
    return 0;
}

int etsi014_status_parse(const uint8_t *body, size_t len, struct etsi014_status_view *out,
                         char *msg, size_t n)
{
    memset(out, 0, sizeof *out);
    cJSON *j = json_response(body, len, msg, n);
    if (!j) return -1;
    const uint64_t u32 = UINT32_MAX, u53 = (uint64_t)1 << 53;
    uint64_t v[7];
    int r = json_get_str(j, "source_KME_ID", out->source_kme, sizeof out->source_kme, msg, n) ||
            json_get_str(j, "target_KME_ID", out->target_kme, sizeof out->target_kme, msg, n) ||
            json_get_str(j, "master_SAE_ID", out->master, sizeof out->master, msg, n) ||
            json_get_str(j, "slave_SAE_ID", out->slave, sizeof out->slave, msg, n) ||
            json_get_uint(j, "key_size", u32, 1, &v[0], msg, n) ||
            json_get_uint(j, "stored_key_count", u53, 1, &v[1], msg, n) ||
            json_get_uint(j, "max_key_count", u53, 1, &v[2], msg, n) ||
            json_get_uint(j, "max_key_per_request", u32, 1, &v[3], msg, n) ||
            json_get_uint(j, "max_key_size", u32, 1, &v[4], msg, n) ||
            json_get_uint(j, "min_key_size", u32, 1, &v[5], msg, n) ||
            json_get_uint(j, "max_SAE_ID_count", u32, 0, &v[6], msg, n);
    cJSON_Delete(j);
    if (r) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    out->key_size = (uint32_t)v[0];
    out->stored_key_count = v[1];
    out->max_key_count = v[2];
    out->max_key_per_request = (uint32_t)v[3];
    out->max_key_size = (uint32_t)v[4];
    out->min_key_size = (uint32_t)v[5];
    out->max_sae_ids = (uint32_t)v[6];
    return 0;
}

/* Wipes every string of a cJSON tree (base64 key bytes among them) before it is freed. */
static void json_wipe_strings(cJSON *it)
{
    for (; it; it = it->next) {
        if (cJSON_IsString(it) && it->valuestring)
            qkd_wipe(it->valuestring, strlen(it->valuestring));
        json_wipe_strings(it->child);
    }
}

/* Checks the Key container's keys array (ids into out, decoded sizes into out->key_bytes) and
 * returns the total of key bytes, or -1. */
static long keys_scan(const cJSON *a, struct etsi014_keys *out, char *msg, size_t n)
{
    size_t total = 0;
    uint32_t k = 0;
    for (const cJSON *it = a->child; it; it = it->next, k++) {
        if (k >= ETSI014_MAX_KEYS)
            return etsi014_fail(msg, n, -1, "more than %d keys", ETSI014_MAX_KEYS);
        if (!cJSON_IsObject(it)) return etsi014_fail(msg, n, -1, "keys[%u] is not an object", k);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "key_ID");
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(it, "key");
        if (!cJSON_IsString(id) || etsi014_uuid_parse(id->valuestring, out->ids[k]) != 0)
            return etsi014_fail(msg, n, -1, "keys[%u]: key_ID is not a UUID string", k);
        for (uint32_t i = 0; i < k; i++)
            if (memcmp(out->ids[i], out->ids[k], 16) == 0)
                return etsi014_fail(msg, n, -1, "keys[%u]: key_ID repeats keys[%u]", k, i);
        if (!cJSON_IsString(key) || !key->valuestring)
            return etsi014_fail(msg, n, -1, "keys[%u]: key is not a string", k);
        size_t len = strlen(key->valuestring);
        if (len == 0) return etsi014_fail(msg, n, -1, "keys[%u]: key is empty", k);
        if (len % 4 != 0) return etsi014_fail(msg, n, -1, "keys[%u]: key is not base64", k);
        size_t pad = key->valuestring[len - 1] == '=' ? 1 + (key->valuestring[len - 2] == '=') : 0;
        size_t bytes = len / 4 * 3 - pad;
        if (bytes > UINT32_MAX || bytes == 0)
            return etsi014_fail(msg, n, -1, "keys[%u]: key is not base64", k);
        out->key_bytes[k] = (uint32_t)bytes;
        out->off[k] = total;
        total += bytes; /* bounded by the body's length */
    }
    if (k == 0) return etsi014_fail(msg, n, -1, "keys is empty");
    out->n = k;
    return (long)total;
}

int etsi014_keys_parse(const uint8_t *body, size_t len, struct etsi014_keys *out, char *msg,
                       size_t n)
{
    memset(out, 0, sizeof *out);
    cJSON *j = json_response(body, len, msg, n);
    if (!j) return -1;
    int r = -1;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "keys");
    long total;
    if (!a)
        etsi014_fail(msg, n, -1, "keys is missing");
    else if (!cJSON_IsArray(a))
        etsi014_fail(msg, n, -1, "keys is not an array");
    else if ((total = keys_scan(a, out, msg, n)) >= 0) {
        out->buf = qkd_secbuf_new((size_t)total);
        if (!out->buf) etsi014_fail(msg, n, -1, "out of memory");
        const cJSON *it = a->child;
        for (uint32_t k = 0; out->buf && k < out->n; k++, it = it->next) {
            const char *s = cJSON_GetObjectItemCaseSensitive(it, "key")->valuestring;
            if (etsi014_b64_decode(s, strlen(s), out->buf->data + out->off[k], out->key_bytes[k]) !=
                (long)out->key_bytes[k]) {
                etsi014_fail(msg, n, -1, "keys[%u]: key is not base64", k);
                break;
            }
            if (k + 1 == out->n) r = 0;
        }
    }
    json_wipe_strings(j);
    cJSON_Delete(j);
    if (r != 0) etsi014_keys_free(out);
    return r;
}

void etsi014_keys_free(struct etsi014_keys *k)
{
    qkd_secbuf_free(k->buf);
    qkd_wipe(k, sizeof *k);
}

int etsi014_error_parse(const uint8_t *body, size_t len, char *msg, size_t n)
{
    cJSON *j = json_response(body, len, msg, n);
    if (!j) return -1;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
    int r = -1;
    if (!cJSON_IsString(m) || !m->valuestring) {
        etsi014_fail(msg, n, -1, "message is missing or not a string");
    } else if (msg && n > 0) {
        size_t k = 0;
        for (const char *s = m->valuestring; *s && k + 1 < n; s++, k++)
            msg[k] = ((uint8_t)*s < 0x20 || *s == 0x7f) ? '?' : *s;
        msg[k] = '\0';
        r = 0;
    } else {
        r = 0;
    }
    cJSON_Delete(j);
    return r;
}
