/* secbuf.c: key material buffers: zeroed allocation, mlock (best effort), wiped with
 * OPENSSL_cleanse, unlocked and freed on release. */
#include "secbuf.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <openssl/crypto.h>

/* Number of buffers whose mlock failed (EPERM/ENOMEM: locked-memory limit reached). */
static atomic_ulong g_mlock_failures;

unsigned long qkd_secbuf_mlock_failures(void)
{
    return atomic_load(&g_mlock_failures);
}

/* Flag kept beside the data: was the region locked? Stored in a private wrapper. */
struct secbuf_impl {
    struct qkd_secbuf pub;
    int locked;
};

struct qkd_secbuf *qkd_secbuf_new(size_t len)
{
    struct secbuf_impl *b = calloc(1, sizeof(*b));
    if (b == NULL) return NULL;
    /* allocate at least one byte so data is never NULL */
    b->pub.data = calloc(1, len > 0 ? len : 1);
    if (b->pub.data == NULL) {
        free(b);
        return NULL;
    }
    b->pub.len = len;
    if (len > 0) {
        if (mlock(b->pub.data, len) == 0)
            b->locked = 1;
        else
            atomic_fetch_add(&g_mlock_failures, 1); /* EPERM/ENOMEM: best effort */
    }
    return &b->pub;
}

struct qkd_secbuf *qkd_secbuf_dup(const uint8_t *data, size_t len)
{
    struct qkd_secbuf *b = qkd_secbuf_new(len);
    if (b == NULL) return NULL;
    if (len > 0) memcpy(b->data, data, len);
    return b;
}

void qkd_secbuf_free(struct qkd_secbuf *pub)
{
    if (pub == NULL) return;
    struct secbuf_impl *b = (struct secbuf_impl *)pub;
    if (b->pub.data != NULL) {
        OPENSSL_cleanse(b->pub.data, b->pub.len);
        if (b->locked) {
            int saved = errno;
            (void)munlock(b->pub.data, b->pub.len); /* nothing to do on failure */
            errno = saved;
        }
        free(b->pub.data);
    }
    OPENSSL_cleanse(b, sizeof(*b));
    free(b);
}

void qkd_wipe(void *p, size_t len)
{
    if (p != NULL && len > 0) OPENSSL_cleanse(p, len);
}
