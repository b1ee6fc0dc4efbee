/* etsi014_req.c: the ETSI 014 request parsers: enc_keys Key requests (query and JSON body) and
 * dec_keys Key IDs (query and JSON body), each rule answered with 400 and a one-line message.
 * Pure: no I/O; bodies go through cJSON, queries are read within their NUL. Validation rules:
 * docs/etsi014.md "Validation rules". */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "etsi014.h"
#include "etsi014_int.h"

static int req_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int etsi014_json_body(const uint8_t *body, size_t len, cJSON **root, char *msg, size_t n)
{
    *root = NULL;
    size_t i = 0;
    while (i < len && req_ws(body[i]))
        i++;
    if (i == len) return 0;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts((const char *)body, len, &end, 0);
    if (!j) return etsi014_fail(msg, n, 400, "body is not JSON");
    size_t used = end ? (size_t)((const uint8_t *)end - body) : len;
    while (used < len && req_ws(body[used]))
        used++;
    if (used != len) {
        cJSON_Delete(j);
        return etsi014_fail(msg, n, 400, "body has bytes after its JSON value");
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return etsi014_fail(msg, n, 400, "body is not a JSON object");
    }
    *root = j;
    return 0;
}

int etsi014_json_count(const cJSON *obj, const char *name)
{
    int c = 0;
    for (const cJSON *it = obj ? obj->child : NULL; it; it = it->next)
        if (it->string && strcmp(it->string, name) == 0) c++;
    return c;
}

static uint32_t req_max_keys(uint32_t max)
{
    return max > ETSI014_MAX_KEYS ? ETSI014_MAX_KEYS : max;
}

/* number and size, both as unsigned values saturated at 2^32 (negative = 0) */
static int req_check_number(uint64_t v, const struct etsi014_limits *lim, char *msg, size_t n)
{
    uint32_t max = req_max_keys(lim->max_per_request);
    if (v < 1) return etsi014_fail(msg, n, 400, "number must be at least 1");
    if (v > max)
        return etsi014_fail(msg, n, 400, "number %llu is above max_key_per_request %u",
                            (unsigned long long)v, max);
    return 0;
}

static int req_check_size(uint64_t v, const struct etsi014_limits *lim, char *msg, size_t n)
{
    if (v == 0 || v % 8 != 0)
        return etsi014_fail(msg, n, 400, "size %llu is not a positive multiple of 8",
                            (unsigned long long)v);
    if (v < lim->min_key_size)
        return etsi014_fail(msg, n, 400, "size %llu is below min_key_size %u",
                            (unsigned long long)v, lim->min_key_size);
    if (v > lim->max_key_size)
        return etsi014_fail(msg, n, 400, "size %llu is above max_key_size %u",
                            (unsigned long long)v, lim->max_key_size);
    return 0;
}

static void req_defaults(const struct etsi014_limits *lim, struct etsi014_key_req *out)
{
    memset(out, 0, sizeof *out);
    out->number = 1;
    out->size = lim->key_size;
}

/* Decimal digits of a query value (len bytes), saturated at 2^32; -1 when not all digits. */
static int req_digits(const char *s, size_t len, uint64_t *v)
{
    if (len == 0) return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        x = x * 10 + (uint64_t)(s[i] - '0');
        if (x > 0x100000000ull) x = 0x100000000ull;
    }
    *v = x;
    return 0;
}

/* Query iteration: the next "name[=value]" of q at *pos; 0 at the end. */
struct req_param {
    const char *name, *val;
    size_t nlen, vlen;
    int has_val;
};

static int req_next_param(const char *q, size_t *pos, struct req_param *p)
{
    for (;;) {
        if (q[*pos] == '\0') return 0;
        const char *s = q + *pos;
        size_t len = strcspn(s, "&");
        *pos += len + (s[len] == '&');
        if (len == 0) continue;
        const char *eq = memchr(s, '=', len);
        p->name = s;
        p->nlen = eq ? (size_t)(eq - s) : len;
        p->has_val = eq != NULL;
        p->val = eq ? eq + 1 : s + len;
        p->vlen = eq ? len - p->nlen - 1 : 0;
        return 1;
    }
}

static int req_is(const struct req_param *p, const char *name)
{
    return p->nlen == strlen(name) && memcmp(p->name, name, p->nlen) == 0;
}

int etsi014_parse_enc_query(const char *query, const struct etsi014_limits *lim,
                            struct etsi014_key_req *out, char *msg, size_t n)
{
    req_defaults(lim, out);
    if (!query) return 0;
    size_t pos = 0;
    int seen_number = 0, seen_size = 0;
    struct req_param p;
    while (req_next_param(query, &pos, &p)) {
        int is_number = req_is(&p, "number");
        if (!is_number && !req_is(&p, "size")) continue;
        const char *name = is_number ? "number" : "size";
        int *seen = is_number ? &seen_number : &seen_size;
        if ((*seen)++) return etsi014_fail(msg, n, 400, "%s given twice", name);
        uint64_t v;
        if (req_digits(p.val, p.vlen, &v) != 0)
            return etsi014_fail(msg, n, 400, "%s is not an integer (decimal digits)", name);
        int st = is_number ? req_check_number(v, lim, msg, n) : req_check_size(v, lim, msg, n);
        if (st) return st;
        if (is_number)
            out->number = (uint32_t)v;
        else
            out->size = (uint32_t)v;
    }
    return 0;
}

/* A JSON integer member (number or size) → value saturated at 2^32, negative = 0. */
static int req_json_uint(const cJSON *v, const char *name, uint64_t *out, char *msg, size_t n)
{
    if (!cJSON_IsNumber(v)) return etsi014_fail(msg, n, 400, "%s is not a number", name);
    double d = v->valuedouble;
    if (!isfinite(d) || floor(d) != d)
        return etsi014_fail(msg, n, 400, "%s is not an integer", name);
    *out = d <= 0 ? 0 : d >= 4294967296.0 ? 0x100000000ull : (uint64_t)d;
    return 0;
}

static int req_slaves(const cJSON *a, const struct etsi014_limits *lim, struct etsi014_key_req *out,
                      char *msg, size_t n)
{
    if (cJSON_IsNull(a)) return 0;
    if (!cJSON_IsArray(a))
        return etsi014_fail(msg, n, 400, "additional_slave_SAE_IDs is not an array");
    uint32_t max = lim->max_sae_ids > ETSI014_MAX_SAE_IDS ? ETSI014_MAX_SAE_IDS : lim->max_sae_ids;
    uint32_t k = 0;
    for (const cJSON *it = a->child; it; it = it->next) {
        if (k >= max)
            return etsi014_fail(msg, n, 400, "more than %u additional_slave_SAE_IDs", max);
        if (!cJSON_IsString(it) || !it->valuestring)
            return etsi014_fail(msg, n, 400, "additional_slave_SAE_IDs[%u] is not a string", k);
        char what[48];
        snprintf(what, sizeof what, "additional_slave_SAE_IDs[%u]", k);
        size_t len = strlen(it->valuestring);
        int st = etsi014_id_check(it->valuestring, len, what, msg, n);
        if (st) return st;
        for (uint32_t j = 0; j < k; j++)
            if (strcmp(out->slaves[j], it->valuestring) == 0)
                return etsi014_fail(msg, n, 400, "%s repeats additional_slave_SAE_IDs[%u]", what,
                                    j);
        memcpy(out->slaves[k], it->valuestring, len + 1);
        k++;
    }
    out->nslaves = k;
    return 0;
}

static int req_enc_object(const cJSON *j, const struct etsi014_limits *lim,
                          struct etsi014_key_req *out, char *msg, size_t n)
{
    static const char *const known[] = {"number", "size", "additional_slave_SAE_IDs",
                                        "extension_mandatory"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (etsi014_json_count(j, known[i]) > 1)
            return etsi014_fail(msg, n, 400, "%s given twice", known[i]);
    const cJSON *v;
    uint64_t u;
    int st;
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "number"))) {
        if ((st = req_json_uint(v, "number", &u, msg, n)) ||
            (st = req_check_number(u, lim, msg, n)))
            return st;
        out->number = (uint32_t)u;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "size"))) {
        if ((st = req_json_uint(v, "size", &u, msg, n)) || (st = req_check_size(u, lim, msg, n)))
            return st;
        out->size = (uint32_t)u;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "additional_slave_SAE_IDs")) &&
        (st = req_slaves(v, lim, out, msg, n)))
        return st;
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "extension_mandatory")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
            return etsi014_fail(msg, n, 400, "extension_mandatory is not an object");
        if (v->child)
            return etsi014_fail(msg, n, 400, "extension_mandatory: no extension is supported");
    }
    return 0;
}

int etsi014_parse_enc_body(const uint8_t *body, size_t len, const struct etsi014_limits *lim,
                           struct etsi014_key_req *out, char *msg, size_t n)
{
    req_defaults(lim, out);
    cJSON *j;
    int st = etsi014_json_body(body, len, &j, msg, n);
    if (st || !j) return st;
    st = req_enc_object(j, lim, out, msg, n);
    cJSON_Delete(j);
    if (st) req_defaults(lim, out);
    return st;
}

/* Adds one key_ID (a NUL-terminated string) to out: 400 when not a UUID, repeated or too many. */
static int req_add_id(struct etsi014_key_ids *out, const char *s, uint32_t max, char *msg, size_t n)
{
    if (out->n >= max) return etsi014_fail(msg, n, 400, "more than %u key_IDs", max);
    uint8_t id[16];
    if (etsi014_uuid_parse(s, id) != 0)
        return etsi014_fail(msg, n, 400, "key_ID #%u is not a UUID", out->n);
    for (uint32_t i = 0; i < out->n; i++)
        if (memcmp(out->ids[i], id, 16) == 0)
            return etsi014_fail(msg, n, 400, "key_ID #%u repeats key_ID #%u", out->n, i);
    memcpy(out->ids[out->n++], id, 16);
    return 0;
}

int etsi014_parse_dec_query(const char *query, uint32_t max, struct etsi014_key_ids *out, char *msg,
                            size_t n)
{
    memset(out, 0, sizeof *out);
    max = req_max_keys(max);
    size_t pos = 0;
    struct req_param p;
    while (query && req_next_param(query, &pos, &p)) {
        if (!req_is(&p, "key_ID")) continue;
        char s[37];
        const char *v = "";
        if (p.vlen == 36) {
            memcpy(s, p.val, 36);
            s[36] = '\0';
            v = s;
        }
        int st = req_add_id(out, v, max, msg, n);
        if (st) {
            memset(out, 0, sizeof *out);
            return st;
        }
    }
    if (out->n == 0) return etsi014_fail(msg, n, 400, "no key_ID in the query");
    return 0;
}

static int req_dec_object(const cJSON *j, uint32_t max, struct etsi014_key_ids *out, char *msg,
                          size_t n)
{
    if (etsi014_json_count(j, "key_IDs") > 1)
        return etsi014_fail(msg, n, 400, "key_IDs given twice");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "key_IDs");
    if (!a) return etsi014_fail(msg, n, 400, "key_IDs is missing");
    if (!cJSON_IsArray(a)) return etsi014_fail(msg, n, 400, "key_IDs is not an array");
    if (!a->child) return etsi014_fail(msg, n, 400, "key_IDs is empty");
    for (const cJSON *it = a->child; it; it = it->next) {
        if (out->n >= max) return etsi014_fail(msg, n, 400, "more than %u key_IDs", max);
        if (!cJSON_IsObject(it))
            return etsi014_fail(msg, n, 400, "key_IDs[%u] is not an object", out->n);
        if (etsi014_json_count(it, "key_ID") > 1)
            return etsi014_fail(msg, n, 400, "key_IDs[%u]: key_ID given twice", out->n);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "key_ID");
        if (!cJSON_IsString(v) || !v->valuestring)
            return etsi014_fail(msg, n, 400, "key_IDs[%u]: key_ID missing or not a string", out->n);
        int st = req_add_id(out, v->valuestring, max, msg, n);
        if (st) return st;
    }
    return 0;
}

int etsi014_parse_dec_body(const uint8_t *body, size_t len, uint32_t max,
                           struct etsi014_key_ids *out, char *msg, size_t n)
{
    memset(out, 0, sizeof *out);
    cJSON *j;
    int st = etsi014_json_body(body, len, &j, msg, n);
    if (st) return st;
    if (!j) return etsi014_fail(msg, n, 400, "body is empty: key_IDs is missing");
    st = req_dec_object(j, req_max_keys(max), out, msg, n);
    cJSON_Delete(j);
    if (st) memset(out, 0, sizeof *out);
    return st;
}
