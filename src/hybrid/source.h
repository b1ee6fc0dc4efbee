/* source.h: the key sources a hybrid key can be made from (QKD, ML-KEM, ECDH, and Classic
 * McEliece / sntrup761 when built with Debian's libmceliece / libntruprime): their canonical
 * names, parsing, whether this build provides them, and the sizes of their exchange messages and
 * secrets. docs/hybrid.md "Key sources". */
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
    HYB_SRC_MCE348864, /* Classic McEliece (libmceliece), the Python module's ten names */
    HYB_SRC_MCE348864F,
    HYB_SRC_MCE460896,
    HYB_SRC_MCE460896F,
    HYB_SRC_MCE6688128,
    HYB_SRC_MCE6688128F,
    HYB_SRC_MCE6960119,
    HYB_SRC_MCE6960119F,
    HYB_SRC_MCE8192128,
    HYB_SRC_MCE8192128F,
    HYB_SRC_SNTRUP761, /* Streamlined NTRU Prime (libntruprime) */
};
#define HYB_SRC_COUNT 17

/* Canonical name ("QKD", "ML-KEM-768", "X25519", ...); "?" for an out-of-range value. */
const char *hyb_source_name(enum hyb_source s);
/* Parses a name, case-insensitively; returns 0 and sets *out, or -1 for an unknown name. */
int hyb_source_parse(const char *name, size_t len, enum hyb_source *out);
/* Whether this build provides source s (the libmceliece / libntruprime ones are optional at
 * build time; every other source always is). */
bool hyb_source_built(enum hyb_source s);
/* The sources this build provides, comma-separated ("QKD, ML-KEM-512, ..."), for error
 * messages. A static string. */
const char *hyb_source_supported(void);
/* KEM sources (encapsulation: ML-KEM, Classic McEliece, sntrup761) vs. ECDH sources (key
 * shares); QKD is neither. */
bool hyb_source_is_kem(enum hyb_source s);
bool hyb_source_is_ecdh(enum hyb_source s);
/* The library KEMs (Classic McEliece, sntrup761), done by kem_lib.c rather than OpenSSL. */
bool hyb_source_is_libkem(enum hyb_source s);
/* Sizes in bytes of the initiator's public key, the responder's ciphertext or share, and the
 * shared secret; 0 for QKD (whose key length is the chunk size). */
size_t hyb_source_pub_len(enum hyb_source s);
size_t hyb_source_msg_len(enum hyb_source s);
size_t hyb_source_secret_len(enum hyb_source s);

#endif
