/* kem.h: one interface for the ephemeral key exchanges of the hybrid daemon: ML-KEM-512/768/1024
 * (FIPS 203 encapsulation) and X25519/X448 (RFC 7748 Diffie-Hellman). The initiator makes an
 * ephemeral key pair and sends its raw public key; the responder encapsulates to it (KEM) or
 * makes its own share and derives (ECDH), sending back the ciphertext or share; the initiator
 * decapsulates or derives. Both ends then hold the same secret. Messages are raw encodings
 * (FIPS 203 encapsulation key and ciphertext; RFC 7748 u-coordinates; Classic McEliece and
 * sntrup761 as libmceliece / libntruprime encode them, kem_lib.h). A source not built in
 * (hyb_source_built) fails like an unknown one. */
#ifndef HYB_KEM_H
#define HYB_KEM_H

#include "secbuf.h"
#include "source.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

struct hyb_kem_initiator;

/* Makes an ephemeral key pair for source src (a KEM or ECDH source, not QKD). On success
 * returns 0, *st (free with hyb_kem_initiator_free) and *pub (malloc'ed raw public key, free()
 * it) of *pub_len bytes. Returns -1 on failure. */
int hyb_kem_initiate(enum hyb_source src, struct hyb_kem_initiator **st, uint8_t **pub,
                     size_t *pub_len);

/* Responder: from the initiator's public key, makes the reply *msg (malloc'ed ciphertext or
 * key share; free() it) and the shared secret *secret. Returns -1 when pub has the wrong
 * length or is not a valid key, or on failure. */
int hyb_kem_respond(enum hyb_source src, const uint8_t *pub, size_t pub_len, uint8_t **msg,
                    size_t *msg_len, struct qkd_secbuf **secret);

/* Initiator: the shared secret from the responder's reply. Returns -1 when msg has the wrong
 * length or is rejected (an ML-KEM ciphertext that was altered but has the right length
 * decapsulates to an unrelated secret, FIPS 203 implicit rejection). */
int hyb_kem_finish(struct hyb_kem_initiator *st, const uint8_t *msg, size_t msg_len,
                   struct qkd_secbuf **secret);

/* A fresh key pair of the OpenSSL algorithm alg ("ML-KEM-768", "X25519", "ML-DSA-65", ...): the
 * ephemeral keys here and the identity keys of sign.c. NULL on failure. */
EVP_PKEY *hyb_keygen(const char *alg);

enum hyb_source hyb_kem_initiator_source(const struct hyb_kem_initiator *st);
void hyb_kem_initiator_free(struct hyb_kem_initiator *st);

#endif
