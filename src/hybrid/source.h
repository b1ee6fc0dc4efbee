/* source.h: the key sources a hybrid key can be made from (QKD, ML-KEM, ECDH): their canonical
 * names, parsing, and the sizes of their exchange messages and secrets. */
#ifndef HYB_SOURCE_H
#define HYB_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

enum hyb_source {
    HYB_SRC_QKD = 0,
    HYB_SRC_MLKEM512,
    HYB_SRC_MLKEM768,
    HYB_SRC_MLKEM1024,
    HYB_SRC_X25519,
    HYB_SRC_X448,
};
#define HYB_SRC_COUNT 6

/* Canonical name ("QKD", "ML-KEM-768", "X25519", ...); "?" for an out-of-range value. */
const char *hyb_source_name(enum hyb_source s);
/* Parses a name, case-insensitively; returns 0 and sets *out, or -1 for an unknown name. */
int hyb_source_parse(const char *name, size_t len, enum hyb_source *out);
/* ML-KEM sources (encapsulation) vs. ECDH sources (key shares); QKD is neither. */
bool hyb_source_is_kem(enum hyb_source s);
bool hyb_source_is_ecdh(enum hyb_source s);
/* Sizes in bytes of the initiator's public key, the responder's ciphertext or share, and the
 * shared secret; 0 for QKD (whose key length is the chunk size). */
size_t hyb_source_pub_len(enum hyb_source s);
size_t hyb_source_msg_len(enum hyb_source s);
size_t hyb_source_secret_len(enum hyb_source s);

#endif
