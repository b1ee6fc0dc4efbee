/* sign.h: the nodes' ML-DSA-65 identity keys (FIPS 204): loading them from PEM (private key;
 * public key or certificate), signing and verifying peer-protocol messages with the context
 * string "qkd-hybrid-peer-v1", and key generation for tests. */
#ifndef HYB_SIGN_H
#define HYB_SIGN_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define HYB_SIGN_ALG     "ML-DSA-65"
#define HYB_SIGN_CONTEXT "qkd-hybrid-peer-v1"
#define HYB_SIGN_SIG_LEN 3309 /* ML-DSA-65 signature bytes */

/* Loads an ML-DSA-65 private key from a PEM file. Returns the key, or NULL with a message
 * naming the file in err. */
EVP_PKEY *hyb_sign_load_private(const char *path, char *err, size_t errlen);
/* Loads an ML-DSA-65 public key from a PEM file holding a public key ("PUBLIC KEY") or a
 * certificate. Returns the key, or NULL with a message naming the file in err. */
EVP_PKEY *hyb_sign_load_public(const char *path, char *err, size_t errlen);
/* Signs msg; *sig is malloc'ed (free() it), *sig_len bytes. Returns 0 or -1. */
int hyb_sign(EVP_PKEY *key, const uint8_t *msg, size_t msg_len, uint8_t **sig, size_t *sig_len);
/* Returns 0 when sig is a valid signature of msg under key, -1 otherwise. */
int hyb_sign_verify(EVP_PKEY *key, const uint8_t *msg, size_t msg_len, const uint8_t *sig,
                    size_t sig_len);
/* A fresh ML-DSA-65 key pair (tests, key provisioning). NULL on failure. */
EVP_PKEY *hyb_sign_keygen(void);

#endif
