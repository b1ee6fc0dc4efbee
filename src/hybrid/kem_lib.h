/* kem_lib.h: the KEM sources done by Debian's libmceliece (Classic McEliece, ten parameter sets)
 * and libntruprime (sntrup761) rather than OpenSSL; both optional at build time
 * (QKD_HAVE_MCELIECE, QKD_HAVE_NTRUPRIME). Raw encodings as the libraries define them.
 * docs/hybrid.md "Key sources". kem.c calls these; nothing else does. */
#ifndef HYB_KEM_LIB_H
#define HYB_KEM_LIB_H

#include "secbuf.h"
#include "source.h"

#include <stddef.h>
#include <stdint.h>

/* Secret key size of a library KEM (0 when src is not one, or is not built in). */
size_t hyb_kemlib_sk_len(enum hyb_source src);
/* Key pair: pk gets hyb_source_pub_len(src) bytes; *sk a new secret buffer. Returns 0 or -1
 * (not built in, or out of memory). */
int hyb_kemlib_keypair(enum hyb_source src, uint8_t *pk, struct qkd_secbuf **sk);
/* Encapsulation to pk (hyb_source_pub_len(src) bytes): ct gets hyb_source_msg_len(src) bytes,
 * *ss the shared secret. Returns 0 or -1. */
int hyb_kemlib_enc(enum hyb_source src, const uint8_t *pk, uint8_t *ct, struct qkd_secbuf **ss);
/* Decapsulation of ct (hyb_source_msg_len(src) bytes) with sk; an altered ciphertext gives an
 * unrelated secret (implicit rejection in both schemes). Returns 0 or -1. */
int hyb_kemlib_dec(enum hyb_source src, const struct qkd_secbuf *sk, const uint8_t *ct,
                   struct qkd_secbuf **ss);

#endif
