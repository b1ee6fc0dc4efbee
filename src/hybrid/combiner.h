/* combiner.h: the five ways qkd-hybrid turns the secrets of several key sources into one key
 * of L = Key_chunk_size bytes: xoring, hmac, xorhmac (compatible with the Python KDFix module),
 * hkdf (default; NIST SP 800-56C two-step) and catkdf (ETSI TS 103 744). Exact constructions
 * in docs/hybrid.md, pinned by tests/unit/test_hybrid_combiner.c. */
#ifndef HYB_COMBINER_H
#define HYB_COMBINER_H

#include "kdf.h"
#include "source.h"

#include <qkd/types.h>
#include <stddef.h>
#include <stdint.h>

enum hyb_comb_method {
    HYB_COMB_XORING = 0,
    HYB_COMB_HMAC,
    HYB_COMB_XORHMAC,
    HYB_COMB_HKDF,
    HYB_COMB_CATKDF,
};
#define HYB_COMB_METHOD_COUNT 5
#define HYB_COMB_DEFAULT      HYB_COMB_HKDF

/* Limits (each enforced and tested at its edge). */
#define HYB_COMB_MAX_INPUTS     16    /* secrets per key */
#define HYB_COMB_MAX_SECRET_LEN 65536 /* bytes per secret */
/* Bytes per public key / ciphertext / share: Classic-McEliece-8192128's public key, the largest
 * (= HYB_PM_MAX_ITEM; docs/hybrid.md "Limits"). */
#define HYB_COMB_MAX_MSG_LEN 1357824
#define HYB_COMB_MAX_OUT_LEN HYB_KDF_MAX_OUT /* L: 8160 bytes */
#define HYB_COMB_MAX_ID_LEN  255             /* bytes per node identity */

/* Labels (ASCII, no terminating NUL in the constructions). */
#define HYB_COMB_LABEL      "QKD-HYBRID-v1"
#define HYB_COMB_HMAC_LABEL "QKD-HYBRID-v1 hmac"

/* Lower-case name ("hkdf", ...); "?" when out of range. */
const char *hyb_comb_method_name(enum hyb_comb_method m);
/* Case-insensitive; returns 0 and sets *out, or -1 for an unknown name. */
int hyb_comb_method_parse(const char *name, enum hyb_comb_method *out);

/* One source's contribution. pub is the initiator's public key (KEM or ECDH), msg the
 * responder's ciphertext (KEM) or key share (ECDH); both empty for QKD. Only hkdf and catkdf
 * read source, pub and msg. */
struct hyb_comb_input {
    enum hyb_source source;
    const uint8_t *secret;
    size_t secret_len;
    const uint8_t *pub;
    size_t pub_len;
    const uint8_t *msg;
    size_t msg_len;
};

/* What a key is bound to (hkdf and catkdf). initiator / responder are the two nodes'
 * identities: the daemon passes their configured UUIDs in canonical lower-case text. */
struct hyb_comb_context {
    struct qkd_ksid ksid;
    uint32_t index;
    const char *initiator;
    const char *responder;
};

/* Derives out_len bytes (1..HYB_COMB_MAX_OUT_LEN) from n inputs (1..HYB_COMB_MAX_INPUTS,
 * each secret non-empty) in source-list order. ctx may be NULL for xoring, hmac, xorhmac.
 * Returns 0, or -1 with a reason in err (never key bytes); out is wiped on failure. An output
 * of all zero bytes (e.g. xoring two equal secrets) is refused. */
int hyb_comb_derive(enum hyb_comb_method m, const struct hyb_comb_input *in, size_t n,
                    const struct hyb_comb_context *ctx, uint8_t *out, size_t out_len, char *err,
                    size_t errlen);

#endif
