/* combiner.c: xoring, hmac, xorhmac (KDFix-compatible), hkdf (SP 800-56C two-step) and catkdf
 * (ETSI TS 103 744 8.2). The byte-exact constructions are written down in docs/hybrid.md. */
#include "combiner.h"

#include "bytes.h"
#include "secbuf.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const comb_names[HYB_COMB_METHOD_COUNT] = {
    [HYB_COMB_XORING] = "xoring", [HYB_COMB_HMAC] = "hmac",     [HYB_COMB_XORHMAC] = "xorhmac",
    [HYB_COMB_HKDF] = "hkdf",     [HYB_COMB_CATKDF] = "catkdf",
};

const char *hyb_comb_method_name(enum hyb_comb_method m)
{
    if ((unsigned)m >= HYB_COMB_METHOD_COUNT) return "?";
    return comb_names[m];
}

int hyb_comb_method_parse(const char *name, enum hyb_comb_method *out)
{
    for (unsigned i = 0; i < HYB_COMB_METHOD_COUNT; i++) {
        if (strcasecmp(name, comb_names[i]) == 0) {
            *out = (enum hyb_comb_method)i;
            return 0;
        }
    }
    return -1;
}

static void comb_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void comb_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || errlen == 0) return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Python's sorted() order on bytes: lexicographic, a proper prefix first. */
static int comb_cmp(const void *a, const void *b)
{
    const struct hyb_comb_input *x = *(const struct hyb_comb_input *const *)a;
    const struct hyb_comb_input *y = *(const struct hyb_comb_input *const *)b;
    size_t n = x->secret_len < y->secret_len ? x->secret_len : y->secret_len;
    int c = memcmp(x->secret, y->secret, n);
    if (c != 0) return c;
    return (x->secret_len > y->secret_len) - (x->secret_len < y->secret_len);
}

static void comb_sorted(const struct hyb_comb_input *in, size_t n,
                        const struct hyb_comb_input **sorted)
{
    for (size_t i = 0; i < n; i++)
        sorted[i] = &in[i];
    qsort(sorted, n, sizeof sorted[0], comb_cmp);
}

/* xoring: each sorted secret truncated or zero-padded to L, XORed together. */
static int comb_xoring(const struct hyb_comb_input **s, size_t n, uint8_t *out, size_t L)
{
    memset(out, 0, L);
    for (size_t i = 0; i < n; i++) {
        size_t m = s[i]->secret_len < L ? s[i]->secret_len : L;
        for (size_t j = 0; j < m; j++)
            out[j] ^= s[i]->secret[j];
    }
    return 0;
}

/* hmac over the list as given: H = HMAC(s[0], s[1] || ... || s[n-1]); first L bytes of H when
 * L <= 32, else HKDF-Expand(PRK = H, info = HYB_COMB_HMAC_LABEL, L). */
static int comb_hmac_list(const struct hyb_comb_input **s, size_t n, uint8_t *out, size_t L)
{
    struct hyb_kdf_bytes parts[HYB_COMB_MAX_INPUTS];
    uint8_t h[HYB_KDF_HASH_LEN];
    int rc;

    for (size_t i = 1; i < n; i++) {
        parts[i - 1].p = s[i]->secret;
        parts[i - 1].len = s[i]->secret_len;
    }
    if (hyb_kdf_hmac_parts(s[0]->secret, s[0]->secret_len, parts, n - 1, h) != 0) return -1;
    if (L <= HYB_KDF_HASH_LEN) {
        memcpy(out, h, L);
        rc = 0;
    } else {
        rc = hyb_kdf_expand(h, sizeof h, (const uint8_t *)HYB_COMB_HMAC_LABEL,
                            strlen(HYB_COMB_HMAC_LABEL), out, L);
    }
    qkd_wipe(h, sizeof h);
    return rc;
}

/* xorhmac: hmac(sorted) XOR hmac(reversed sorted); a single secret gives hmac alone (the XOR
 * of a value with itself would be zero). */
static int comb_xorhmac(const struct hyb_comb_input **s, size_t n, uint8_t *out, size_t L)
{
    const struct hyb_comb_input *rev[HYB_COMB_MAX_INPUTS];
    struct qkd_secbuf *b;
    int rc;

    if (comb_hmac_list(s, n, out, L) != 0) return -1;
    if (n == 1) return 0;
    for (size_t i = 0; i < n; i++)
        rev[i] = s[n - 1 - i];
    if ((b = qkd_secbuf_new(L)) == NULL) return -1;
    rc = comb_hmac_list(rev, n, b->data, L);
    if (rc == 0)
        for (size_t j = 0; j < L; j++)
            out[j] ^= b->data[j];
    qkd_secbuf_free(b);
    return rc;
}

static void comb_w_lv(struct qkd_writer *w, const void *p, size_t len)
{
    qkd_write_u32(w, (uint32_t)len);
    qkd_write_bytes(w, p, len);
}

/* salt / CatKDF label: "QKD-HYBRID-v1" || KSID (16) || u32(index) */
static void comb_salt(struct qkd_writer *w, const struct hyb_comb_context *ctx)
{
    qkd_write_bytes(w, HYB_COMB_LABEL, strlen(HYB_COMB_LABEL));
    qkd_write_bytes(w, ctx->ksid.b, QKD_KSID_LEN);
    qkd_write_u32(w, ctx->index);
}

/* FixedInfo: lv("QKD-HYBRID-v1 <method>") || lv(source names joined by ",") ||
 * lv(initiator) || lv(responder) || u32(L) */
static void comb_fixed_info(struct qkd_writer *w, enum hyb_comb_method m,
                            const struct hyb_comb_input *in, size_t n,
                            const struct hyb_comb_context *ctx, size_t L)
{
    char label[64];
    size_t names = 0, off;

    snprintf(label, sizeof label, "%s %s", HYB_COMB_LABEL, hyb_comb_method_name(m));
    comb_w_lv(w, label, strlen(label));
    for (size_t i = 0; i < n; i++)
        names += strlen(hyb_source_name(in[i].source)) + (i > 0);
    qkd_write_u32(w, (uint32_t)names);
    off = w->len;
    for (size_t i = 0; i < n; i++) {
        const char *nm = hyb_source_name(in[i].source);
        if (i > 0) qkd_write_u8(w, ',');
        qkd_write_bytes(w, nm, strlen(nm));
    }
    if (!w->failed && w->len - off != names) w->failed = true;
    comb_w_lv(w, ctx->initiator, strlen(ctx->initiator));
    comb_w_lv(w, ctx->responder, strlen(ctx->responder));
    qkd_write_u32(w, (uint32_t)L);
}

static int comb_md_lv(EVP_MD_CTX *md, const uint8_t *p, size_t len)
{
    uint8_t l[4];
    qkd_put_u32(l, (uint32_t)len);
    if (EVP_DigestUpdate(md, l, 4) != 1) return -1;
    if (len > 0 && EVP_DigestUpdate(md, p, len) != 1) return -1;
    return 0;
}

/* T = SHA-256( for each source: lv(name) || lv(pub) || lv(msg) ) */
static int comb_transcript(const struct hyb_comb_input *in, size_t n, uint8_t t[32])
{
    int rc = -1;
    unsigned int tl = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) goto out;
    for (size_t i = 0; i < n; i++) {
        const char *nm = hyb_source_name(in[i].source);
        if (comb_md_lv(md, (const uint8_t *)nm, strlen(nm)) != 0 ||
            comb_md_lv(md, in[i].pub, in[i].pub_len) != 0 ||
            comb_md_lv(md, in[i].msg, in[i].msg_len) != 0)
            goto out;
    }
    if (EVP_DigestFinal_ex(md, t, &tl) != 1 || tl != 32) goto out;
    rc = 0;
out:
    EVP_MD_CTX_free(md);
    return rc;
}

/* hkdf: PRK = HKDF-Extract(salt, Z' = k_1 || ... || k_n);
 * key = HKDF-Expand(PRK, FixedInfo("hkdf") || lv(T), L). */
static int comb_hkdf(const struct hyb_comb_input *in, size_t n, const struct hyb_comb_context *ctx,
                     uint8_t *out, size_t L)
{
    int rc = -1;
    size_t zlen = 0, off = 0;
    uint8_t prk[HYB_KDF_HASH_LEN], t[32];
    struct qkd_secbuf *z = NULL;
    struct qkd_writer salt, info;

    qkd_writer_init(&salt, 64);
    qkd_writer_init(&info, HYB_KDF_MAX_INFO);
    for (size_t i = 0; i < n; i++)
        zlen += in[i].secret_len;
    if ((z = qkd_secbuf_new(zlen)) == NULL) goto out;
    for (size_t i = 0; i < n; i++) {
        memcpy(z->data + off, in[i].secret, in[i].secret_len);
        off += in[i].secret_len;
    }
    comb_salt(&salt, ctx);
    if (salt.failed || hyb_kdf_extract(salt.buf, salt.len, z->data, z->len, prk) != 0) goto out;
    if (comb_transcript(in, n, t) != 0) goto out;
    comb_fixed_info(&info, HYB_COMB_HKDF, in, n, ctx, L);
    comb_w_lv(&info, t, sizeof t);
    if (info.failed || hyb_kdf_expand(prk, sizeof prk, info.buf, info.len, out, L) != 0) goto out;
    rc = 0;
out:
    qkd_wipe(prk, sizeof prk);
    qkd_secbuf_free(z);
    qkd_writer_free(&salt);
    qkd_writer_free(&info);
    return rc;
}

/* catkdf: ETSI CatKDF with psk = empty, k_i = the secrets in source order,
 * MA = lv(pub_1) || ... || lv(pub_n), MB = lv(msg_1) || ... || lv(msg_n),
 * context = FixedInfo("catkdf"), label = salt. */
static int comb_catkdf(const struct hyb_comb_input *in, size_t n,
                       const struct hyb_comb_context *ctx, uint8_t *out, size_t L)
{
    int rc = -1;
    uint8_t lens[HYB_COMB_MAX_INPUTS][2][4];
    struct hyb_kdf_bytes k[HYB_COMB_MAX_INPUTS], ma[2 * HYB_COMB_MAX_INPUTS],
        mb[2 * HYB_COMB_MAX_INPUTS];
    struct hyb_kdf_bytes psk = {NULL, 0};
    struct qkd_writer label, context;

    qkd_writer_init(&label, 64);
    qkd_writer_init(&context, HYB_KDF_MAX_INFO);
    for (size_t i = 0; i < n; i++) {
        k[i] = (struct hyb_kdf_bytes){in[i].secret, in[i].secret_len};
        qkd_put_u32(lens[i][0], (uint32_t)in[i].pub_len);
        qkd_put_u32(lens[i][1], (uint32_t)in[i].msg_len);
        ma[2 * i] = (struct hyb_kdf_bytes){lens[i][0], 4};
        ma[2 * i + 1] = (struct hyb_kdf_bytes){in[i].pub, in[i].pub_len};
        mb[2 * i] = (struct hyb_kdf_bytes){lens[i][1], 4};
        mb[2 * i + 1] = (struct hyb_kdf_bytes){in[i].msg, in[i].msg_len};
    }
    comb_salt(&label, ctx);
    comb_fixed_info(&context, HYB_COMB_CATKDF, in, n, ctx, L);
    if (label.failed || context.failed) goto out;
    if (hyb_kdf_catkdf(psk, k, n, ma, 2 * n, mb, 2 * n,
                       (struct hyb_kdf_bytes){context.buf, context.len},
                       (struct hyb_kdf_bytes){label.buf, label.len}, out, L) != 0)
        goto out;
    rc = 0;
out:
    qkd_writer_free(&label);
    qkd_writer_free(&context);
    return rc;
}

static int comb_check(enum hyb_comb_method m, const struct hyb_comb_input *in, size_t n,
                      const struct hyb_comb_context *ctx, size_t L, char *err, size_t errlen)
{
    if ((unsigned)m >= HYB_COMB_METHOD_COUNT) {
        comb_err(err, errlen, "unknown combiner %d", (int)m);
        return -1;
    }
    if (n < 1 || n > HYB_COMB_MAX_INPUTS || in == NULL) {
        comb_err(err, errlen, "%s: %zu secrets, need 1..%d", comb_names[m], n, HYB_COMB_MAX_INPUTS);
        return -1;
    }
    if (L < 1 || L > HYB_COMB_MAX_OUT_LEN) {
        comb_err(err, errlen, "%s: key length %zu out of range 1..%d", comb_names[m], L,
                 HYB_COMB_MAX_OUT_LEN);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const char *nm = hyb_source_name(in[i].source);
        if ((unsigned)in[i].source >= HYB_SRC_COUNT) {
            comb_err(err, errlen, "%s: input %zu: unknown source %d", comb_names[m], i + 1,
                     (int)in[i].source);
            return -1;
        }
        if (in[i].secret == NULL || in[i].secret_len == 0 ||
            in[i].secret_len > HYB_COMB_MAX_SECRET_LEN) {
            comb_err(err, errlen, "%s: input %zu (%s): secret length %zu out of range 1..%d",
                     comb_names[m], i + 1, nm, in[i].secret_len, HYB_COMB_MAX_SECRET_LEN);
            return -1;
        }
        if ((in[i].pub == NULL && in[i].pub_len > 0) || (in[i].msg == NULL && in[i].msg_len > 0) ||
            in[i].pub_len > HYB_COMB_MAX_MSG_LEN || in[i].msg_len > HYB_COMB_MAX_MSG_LEN) {
            comb_err(err, errlen, "%s: input %zu (%s): bad public key or ciphertext (max %d bytes)",
                     comb_names[m], i + 1, nm, HYB_COMB_MAX_MSG_LEN);
            return -1;
        }
    }
    if (m == HYB_COMB_HKDF || m == HYB_COMB_CATKDF) {
        if (ctx == NULL || ctx->initiator == NULL || ctx->responder == NULL) {
            comb_err(err, errlen, "%s: missing key context", comb_names[m]);
            return -1;
        }
        if (strlen(ctx->initiator) > HYB_COMB_MAX_ID_LEN ||
            strlen(ctx->responder) > HYB_COMB_MAX_ID_LEN) {
            comb_err(err, errlen, "%s: node identity longer than %d bytes", comb_names[m],
                     HYB_COMB_MAX_ID_LEN);
            return -1;
        }
    }
    return 0;
}

int hyb_comb_derive(enum hyb_comb_method m, const struct hyb_comb_input *in, size_t n,
                    const struct hyb_comb_context *ctx, uint8_t *out, size_t out_len, char *err,
                    size_t errlen)
{
    const struct hyb_comb_input *sorted[HYB_COMB_MAX_INPUTS];
    uint8_t acc = 0;
    int rc = -1;

    if (out == NULL) {
        comb_err(err, errlen, "no output buffer");
        return -1;
    }
    if (comb_check(m, in, n, ctx, out_len, err, errlen) != 0) {
        if (out_len <= HYB_COMB_MAX_OUT_LEN) qkd_wipe(out, out_len);
        return -1;
    }
    switch (m) {
    case HYB_COMB_XORING:
        comb_sorted(in, n, sorted);
        rc = comb_xoring(sorted, n, out, out_len);
        break;
    case HYB_COMB_HMAC:
        comb_sorted(in, n, sorted);
        rc = comb_hmac_list(sorted, n, out, out_len);
        break;
    case HYB_COMB_XORHMAC:
        comb_sorted(in, n, sorted);
        rc = comb_xorhmac(sorted, n, out, out_len);
        break;
    case HYB_COMB_HKDF:
        rc = comb_hkdf(in, n, ctx, out, out_len);
        break;
    case HYB_COMB_CATKDF:
        rc = comb_catkdf(in, n, ctx, out, out_len);
        break;
    }
    if (rc != 0) {
        comb_err(err, errlen, "%s: key derivation failed (OpenSSL)", comb_names[m]);
        qkd_wipe(out, out_len);
        return -1;
    }
    for (size_t j = 0; j < out_len; j++)
        acc |= out[j];
    if (acc == 0) {
        comb_err(err, errlen, "%s: derived key is all zero bytes (equal secrets?)", comb_names[m]);
        return -1;
    }
    return 0;
}
