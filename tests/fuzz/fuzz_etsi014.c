/* fuzz_etsi014.c: libFuzzer target for the ETSI 014 codec (src/common/etsi014*.c;
 * docs/etsi014.md). The first byte picks the parser (route with a method, enc_keys query or
 * body, dec_keys query or body, the client's Status / Key container / Error decoders, the SAE
 * directory with the identity rules, base64), the rest is its input. Checked: every status is
 * one the contract names, what a parser accepts obeys the limits (small ones, so the edges are
 * reachable), and what a decoder accepts survives an encode → decode round trip unchanged. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "etsi014.h"
#include "etsi014_int.h"

#define FUZZ_CHECK(c)                                                                              \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct etsi014_limits fuzz_lim = {.key_size = 128,
                                               .min_key_size = 64,
                                               .max_key_size = 512,
                                               .max_per_request = 4,
                                               .max_sae_ids = 2};

static int fuzz_id_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > ETSI014_SAE_MAX) return 0;
    for (size_t i = 0; i < len; i++)
        if ((uint8_t)s[i] < 0x20 || s[i] == 0x7f) return 0;
    return etsi014_utf8_valid((const uint8_t *)s, len);
}

static void fuzz_route(uint8_t sel, const char *s)
{
    static const enum qkd_http_method m[] = {QKD_HTTP_GET, QKD_HTTP_POST, QKD_HTTP_HEAD,
                                             QKD_HTTP_OTHER};
    struct etsi014_route r;
    char msg[128];
    int st = etsi014_route(m[(sel >> 3) & 3], s, &r, msg, sizeof msg);
    FUZZ_CHECK(st == 0 || st == 400 || st == 404 || st == 405);
    if (st == 0) {
        FUZZ_CHECK(r.op >= ETSI014_OP_STATUS && r.op <= ETSI014_OP_DEC_KEYS);
        FUZZ_CHECK(fuzz_id_ok(r.sae));
    }
}

static void fuzz_check_req(int st, const struct etsi014_key_req *r)
{
    FUZZ_CHECK(st == 0 || st == 400);
    if (st != 0) return;
    FUZZ_CHECK(r->number >= 1 && r->number <= fuzz_lim.max_per_request);
    FUZZ_CHECK(r->size % 8 == 0 && r->size >= fuzz_lim.min_key_size &&
               r->size <= fuzz_lim.max_key_size);
    FUZZ_CHECK(r->nslaves <= fuzz_lim.max_sae_ids);
    for (uint32_t i = 0; i < r->nslaves; i++) {
        FUZZ_CHECK(fuzz_id_ok(r->slaves[i]));
        for (uint32_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(r->slaves[i], r->slaves[j]) != 0);
    }
}

static void fuzz_check_ids(int st, const struct etsi014_key_ids *k, uint32_t max)
{
    FUZZ_CHECK(st == 0 || st == 400);
    if (st != 0) {
        FUZZ_CHECK(k->n == 0);
        return;
    }
    FUZZ_CHECK(k->n >= 1 && k->n <= max);
    for (uint32_t i = 0; i < k->n; i++)
        for (uint32_t j = 0; j < i; j++)
            FUZZ_CHECK(memcmp(k->ids[i], k->ids[j], 16) != 0);
}

static void fuzz_status(const uint8_t *d, size_t n)
{
    struct etsi014_status_view v, w;
    char msg[128];
    if (etsi014_status_parse(d, n, &v, msg, sizeof msg) != 0) return;
    const char *strs[] = {v.source_kme, v.target_kme, v.master, v.slave};
    for (size_t i = 0; i < 4; i++)
        if (!etsi014_utf8_valid((const uint8_t *)strs[i], strlen(strs[i])))
            return; /* the encoder writes U+FFFD for such bytes: no exact round trip */
    struct etsi014_status st = {
        v.source_kme,   v.target_kme,       v.master,        v.slave,
        v.key_size,     v.stored_key_count, v.max_key_count, v.max_key_per_request,
        v.max_key_size, v.min_key_size,     v.max_sae_ids};
    struct qkd_sbuf b = {0};
    etsi014_status_json(&b, &st);
    FUZZ_CHECK(!b.failed);
    FUZZ_CHECK(etsi014_status_parse((const uint8_t *)b.p, b.len, &w, msg, sizeof msg) == 0);
    FUZZ_CHECK(strcmp(v.source_kme, w.source_kme) == 0 && strcmp(v.target_kme, w.target_kme) == 0);
    FUZZ_CHECK(strcmp(v.master, w.master) == 0 && strcmp(v.slave, w.slave) == 0);
    FUZZ_CHECK(v.key_size == w.key_size && v.stored_key_count == w.stored_key_count);
    FUZZ_CHECK(v.max_key_count == w.max_key_count && v.max_sae_ids == w.max_sae_ids);
    FUZZ_CHECK(v.max_key_per_request == w.max_key_per_request);
    FUZZ_CHECK(v.max_key_size == w.max_key_size && v.min_key_size == w.min_key_size);
    qkd_sbuf_free(&b);
}

static void fuzz_keys(const uint8_t *d, size_t n)
{
    static struct etsi014_keys k, k2;
    char msg[128];
    if (etsi014_keys_parse(d, n, &k, msg, sizeof msg) != 0) {
        FUZZ_CHECK(k.buf == NULL && k.n == 0);
        return;
    }
    FUZZ_CHECK(k.n >= 1 && k.n <= ETSI014_MAX_KEYS && k.buf);
    size_t total = 0;
    int same = 1;
    for (uint32_t i = 0; i < k.n; i++) {
        FUZZ_CHECK(k.off[i] == total && k.key_bytes[i] > 0);
        total += k.key_bytes[i];
        same &= k.key_bytes[i] == k.key_bytes[0];
    }
    FUZZ_CHECK(total == k.buf->len);
    if (same) {
        const uint8_t *keys[ETSI014_MAX_KEYS];
        for (uint32_t i = 0; i < k.n; i++)
            keys[i] = k.buf->data + k.off[i];
        struct qkd_sbuf b = {0};
        etsi014_keys_json(&b, k.n, (const uint8_t(*)[16])k.ids, keys, k.key_bytes[0]);
        FUZZ_CHECK(!b.failed);
        FUZZ_CHECK(etsi014_keys_parse((const uint8_t *)b.p, b.len, &k2, msg, sizeof msg) == 0);
        FUZZ_CHECK(k2.n == k.n && k2.buf->len == k.buf->len);
        FUZZ_CHECK(memcmp(k2.ids, k.ids, 16 * (size_t)k.n) == 0);
        FUZZ_CHECK(memcmp(k2.buf->data, k.buf->data, k.buf->len) == 0);
        etsi014_keys_free(&k2);
        qkd_sbuf_free(&b);
    }
    etsi014_keys_free(&k);
}

static void fuzz_error(const uint8_t *d, size_t n)
{
    char msg[64];
    if (etsi014_error_parse(d, n, msg, sizeof msg) != 0) return;
    for (const char *p = msg; *p; p++)
        FUZZ_CHECK((uint8_t)*p >= 0x20 && *p != 0x7f);
    struct qkd_sbuf b = {0};
    etsi014_error_json(&b, msg);
    FUZZ_CHECK(etsi014_error_parse((const uint8_t *)b.p, b.len, msg, sizeof msg) == 0);
    qkd_sbuf_free(&b);
}

static void fuzz_saedir(const char *s)
{
    static struct etsi014_saedir d;
    memset(&d, 0, sizeof d);
    char err[128];
    FUZZ_CHECK(
        etsi014_saedir_add(&d, "alice-app=alice,bob-app=bob,bob-sae2=bob", err, sizeof err) == 0);
    if (etsi014_saedir_add(&d, s, err, sizeof err) != 0) {
        FUZZ_CHECK(d.n == 3);
        return;
    }
    for (uint32_t i = 0; i < d.n; i++) {
        FUZZ_CHECK(fuzz_id_ok(d.e[i].sae) && d.e[i].node[0]);
        FUZZ_CHECK(strcmp(etsi014_saedir_node(&d, d.e[i].sae), d.e[i].node) == 0);
    }
    struct etsi014_key_req r = {.number = 1, .size = 256};
    for (uint32_t i = 3; i < d.n && r.nslaves < ETSI014_MAX_SAE_IDS; i++)
        strcpy(r.slaves[r.nslaves++], d.e[i].sae);
    char msg[160];
    int st = etsi014_check_pair(&d, "alice-app", "bob-app", &r, msg, sizeof msg);
    FUZZ_CHECK(st == 0 || st == 400);
    if (st == 0)
        for (uint32_t i = 0; i < r.nslaves; i++)
            FUZZ_CHECK(strcmp(etsi014_saedir_node(&d, r.slaves[i]), "bob") == 0);
}

static void fuzz_b64(const char *s, size_t n)
{
    uint8_t *out = malloc(n + 1);
    char *back = malloc(n + 8);
    FUZZ_CHECK(out && back);
    long k = etsi014_b64_decode(s, n, out, n);
    if (k >= 0) {
        size_t c = etsi014_b64_encode(out, (size_t)k, back);
        FUZZ_CHECK(c == n && memcmp(back, s, n) == 0);
    }
    free(out);
    free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    uint8_t sel = data[0];
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    char *s = malloc(n + 1); /* the NUL-terminated view the string parsers take */
    FUZZ_CHECK(s);
    memcpy(s, d, n);
    s[n] = '\0';
    char msg[128];
    struct etsi014_key_req r;
    static struct etsi014_key_ids k;
    switch (sel & 7) {
    case 0:
        fuzz_route(sel, s);
        break;
    case 1:
        fuzz_check_req(etsi014_parse_enc_query(s, &fuzz_lim, &r, msg, sizeof msg), &r);
        break;
    case 2:
        fuzz_check_req(etsi014_parse_enc_body(d, n, &fuzz_lim, &r, msg, sizeof msg), &r);
        break;
    case 3:
        fuzz_check_ids(etsi014_parse_dec_query(s, 3, &k, msg, sizeof msg), &k, 3);
        break;
    case 4:
        fuzz_check_ids(etsi014_parse_dec_body(d, n, 3, &k, msg, sizeof msg), &k, 3);
        break;
    case 5:
        fuzz_status(d, n);
        fuzz_error(d, n);
        break;
    case 6:
        fuzz_keys(d, n);
        break;
    default:
        fuzz_saedir(s);
        fuzz_b64((const char *)d, n);
        break;
    }
    free(s);
    return 0;
}
