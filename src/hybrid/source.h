/* source.h: the key sources a hybrid key can be made from (QKD, ML-KEM, ECDH): their canonical
 * names, parsing, and the sizes of their exchange messages and secrets. */
#ifndef QKD_HYB_SOURCE_H
#define QKD_HYB_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

enum qkd_hyb_source {
    QKD_HYB_SRC_QKD = 0,
    QKD_HYB_SRC_MLKEM512,
    QKD_HYB_SRC_MLKEM768,
    QKD_HYB_SRC_MLKEM1024,
    QKD_HYB_SRC_X25519,
    QKD_HYB_SRC_X448,
};
#define QKD_HYB_SRC_COUNT 6

/* Canonical name ("QKD", "ML-KEM-768", "X25519", ...); "?" for an out-of-range value. */
const char *qkd_hyb_source_name(enum qkd_hyb_source s);
/* Parses a name, case-insensitively; returns 0 and sets *out, or -1 for an unknown name. */
int qkd_hyb_source_parse(const char *name, size_t len, enum qkd_hyb_source *out);
/* ML-KEM sources (encapsulation) vs. ECDH sources (key shares); QKD is neither. */
bool qkd_hyb_source_is_kem(enum qkd_hyb_source s);
bool qkd_hyb_source_is_ecdh(enum qkd_hyb_source s);
/* Sizes in bytes of the initiator's public key, the responder's ciphertext or share, and the
 * shared secret; 0 for QKD (whose key length is the chunk size). */
size_t qkd_hyb_source_pub_len(enum qkd_hyb_source s);
size_t qkd_hyb_source_msg_len(enum qkd_hyb_source s);
size_t qkd_hyb_source_secret_len(enum qkd_hyb_source s);

#endif
