/* kdf.h: the HMAC-SHA256 / HKDF-SHA256 core every combiner is built on (OpenSSL EVP_MAC and
 * EVP_KDF), and ETSI TS 103 744 CatKDF over explicit inputs. No key bytes are logged. */
#ifndef HYB_KDF_H
#define HYB_KDF_H

#include <stddef.h>
#include <stdint.h>

#define HYB_KDF_HASH_LEN 32         /* SHA-256 */
#define HYB_KDF_MAX_OUT  (255 * 32) /* HKDF-Expand limit (RFC 5869): 8160 bytes */
#define HYB_KDF_MAX_INFO 4096       /* longest info string accepted */

/* One byte string (a secret, a public key, a ciphertext); {NULL, 0} is the empty string. */
struct hyb_kdf_bytes {
    const uint8_t *p;
    size_t len;
};

/* HMAC-SHA256(key, msg) into out[32]. key_len must be > 0. Returns 0 or -1. */
int hyb_kdf_hmac(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len,
                 uint8_t out[HYB_KDF_HASH_LEN]);
/* The same with the message given as n parts that are concatenated. */
int hyb_kdf_hmac_parts(const uint8_t *key, size_t key_len, const struct hyb_kdf_bytes *parts,
                       size_t n, uint8_t out[HYB_KDF_HASH_LEN]);
/* HKDF-Extract (RFC 5869 2.2): prk = HMAC(salt or 32 zero bytes, ikm). Returns 0 or -1. */
int hyb_kdf_extract(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                    uint8_t prk[HYB_KDF_HASH_LEN]);
/* HKDF-Expand (RFC 5869 2.3): out_len in 1..HYB_KDF_MAX_OUT. Returns 0 or -1. */
int hyb_kdf_expand(const uint8_t *prk, size_t prk_len, const uint8_t *info, size_t info_len,
                   uint8_t *out, size_t out_len);

/* ETSI TS 103 744 V1.1.1 clause 8.2 CatKDF with the HKDF KDF of 7.4.2 and the
 * concatenate-and-hash context formatting function f of 7.2.3 (SHA-256):
 *   secret      = psk || k_1 || ... || k_n
 *   f_context   = SHA-256(u32(|context|) || context || u32(|MA|) || MA || u32(|MB|) || MB)
 *   key         = HKDF(salt = label, IKM = secret, info = f_context, L = out_len)
 * MA and MB are given as parts that are concatenated as they are. Returns 0 or -1. */
int hyb_kdf_catkdf(struct hyb_kdf_bytes psk, const struct hyb_kdf_bytes *k, size_t nk,
                   const struct hyb_kdf_bytes *ma, size_t nma, const struct hyb_kdf_bytes *mb,
                   size_t nmb, struct hyb_kdf_bytes context, struct hyb_kdf_bytes label,
                   uint8_t *out, size_t out_len);

#endif
