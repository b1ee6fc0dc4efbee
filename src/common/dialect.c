/* dialect.c: the dialect rules of the two ETSI 004 framings (see dialect.h and docs/wire.md,
 * "Dialects"). Each rule is a field of the table below and one function reads it. */
#include "dialect.h"

#include <stdio.h>
#include <string.h>

static const struct qkd_dialect dialect_q = {
    .framing = QKD_FRAMING_Q,
    .name = "Q",
    .bare_ids = false,
    .timeout0_default = false,
    .ttl0_default = true,
    .get_meta_is_key_info = false,
    .full_error_responses = false,
    .get_key_info = {0, 0},
    .get_key_info_size = 0,
};

/* ETSI's client_api sends symmetric keys, default role (qkd_key_info_t {0x00, 0x00}). */
static const struct qkd_dialect dialect_e = {
    .framing = QKD_FRAMING_E,
    .name = "E",
    .bare_ids = true,
    .timeout0_default = true,
    .ttl0_default = true,
    .get_meta_is_key_info = true,
    .full_error_responses = true,
    .get_key_info = {QKD_KEY_TYPE_SYMMETRIC, 0x00},
    .get_key_info_size = 2,
};

const struct qkd_dialect *qkd_dialect_of(enum qkd_framing f)
{
    return f == QKD_FRAMING_E ? &dialect_e : &dialect_q;
}

static bool bare_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '@' || c == '-';
}

bool qkd_bare_id_is_valid(const char *s)
{
    if (!s) return false;
    size_t n = strnlen(s, QKD_BARE_ID_MAX + 1);
    if (n == 0 || n > QKD_BARE_ID_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!bare_char(s[i])) return false;
    return true;
}

int qkd_dialect_endpoint(const struct qkd_dialect *d, const char *s, struct qkd_uri *out,
                         bool *bare)
{
    *bare = false;
    if (qkd_uri_parse(s, out) == 0) return 0;
    memset(out, 0, sizeof(*out));
    if (!d->bare_ids || !qkd_bare_id_is_valid(s)) return -1;
    /* A bare identifier (no "://", so never an absolute URI): app@name or name. */
    const char *at = strrchr(s, '@');
    const char *name = at ? at + 1 : s;
    size_t ulen = at ? (size_t)(at - s) : 0;
    if (strlen(name) >= sizeof(out->host) || ulen >= sizeof(out->userinfo)) return -1;
    memcpy(out->userinfo, s, ulen);
    snprintf(out->host, sizeof(out->host), "%s", name);
    *bare = true;
    return 0;
}

uint32_t qkd_dialect_open_qos(const struct qkd_dialect *d, struct qkd_qos *q,
                              uint32_t def_timeout_ms, uint32_t def_ttl_s)
{
    if (q->timeout == 0) {
        if (!d->timeout0_default) return QKD_STATUS_TIMEOUT;
        q->timeout = def_timeout_ms;
    }
    if (q->ttl == 0 && d->ttl0_default) q->ttl = def_ttl_s;
    return QKD_STATUS_SUCCESS;
}

uint32_t qkd_dialect_get_meta(const struct qkd_dialect *d, const struct qkd_get_req *g,
                              uint32_t *buf_size, char *why, size_t whylen)
{
    if (why && whylen) why[0] = '\0';
    if (!d->get_meta_is_key_info) {
        *buf_size = g->metadata_size;
        return QKD_STATUS_SUCCESS;
    }
    *buf_size = UINT32_MAX;
    /* No key info at all: ETSI's default, a symmetric key. */
    uint8_t type = (g->metadata && g->metadata_size >= 1) ? g->metadata[0] : QKD_KEY_TYPE_SYMMETRIC;
    if (type == QKD_KEY_TYPE_SYMMETRIC) return QKD_STATUS_SUCCESS;
    if (why && whylen)
        snprintf(why, whylen,
                 "key type 0x%02x (%s) requested; this server serves symmetric keys "
                 "(0x00) only",
                 type, type == QKD_KEY_TYPE_OBLIVIOUS ? "oblivious" : "unknown");
    return QKD_STATUS_INSUFFICIENT_KEY;
}
