/* secbuf.h: the one type that holds key material. Locked in memory (mlock, best effort,
 * counted per page), excluded from core dumps, wiped with OPENSSL_cleanse on free. */
#ifndef QKD_SECBUF_H
#define QKD_SECBUF_H

#include <stddef.h>
#include <stdint.h>

struct qkd_secbuf {
    uint8_t *data;
    size_t len;
};

/* Allocates len bytes (zeroed). Returns NULL on allocation failure. */
struct qkd_secbuf *qkd_secbuf_new(size_t len);
/* Allocates and copies. */
struct qkd_secbuf *qkd_secbuf_dup(const uint8_t *data, size_t len);
/* Wipes, unlocks and frees; NULL is fine. */
void qkd_secbuf_free(struct qkd_secbuf *b);
/* Wipes len bytes at p (OPENSSL_cleanse). */
void qkd_wipe(void *p, size_t len);
/* How many buffers could not be locked in memory (mlock EPERM/ENOMEM); informational. Only
 * buffers from qkd_secbuf_new/dup may be passed to qkd_secbuf_free. */
unsigned long qkd_secbuf_mlock_failures(void);
/* How many live buffers hold bytes on the page of p (0: the page is not held, so unlocked). */
unsigned qkd_secbuf_page_locks(const void *p);
/* Programs that hold key call this at start: no core dumps (RLIMIT_CORE 0, PR_SET_DUMPABLE 0,
 * which also keeps other processes of the user from reading its memory). Returns 0 or -1. */
int qkd_secbuf_no_core_dumps(void);

#endif
