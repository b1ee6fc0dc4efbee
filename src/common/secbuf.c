/* secbuf.c: key material buffers: zeroed allocation, mlock (best effort, counted per page so
 * freeing one buffer never unlocks a page another live buffer shares), excluded from core dumps
 * (MADV_DONTDUMP), wiped with OPENSSL_cleanse, unlocked and freed on release. */
#include "secbuf.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <openssl/crypto.h>

/* Number of buffers whose mlock failed (EPERM/ENOMEM: locked-memory limit reached). */
static atomic_ulong g_mlock_failures;

unsigned long qkd_secbuf_mlock_failures(void)
{
    return atomic_load(&g_mlock_failures);
}

/* Per-page lock counts. mlock does not stack: one munlock unlocks a page for every buffer on
 * it, and small buffers share heap pages. So each page holding key bytes is counted: locked
 * (and marked MADV_DONTDUMP) when its first buffer arrives, unlocked when its last one goes.
 * An open-addressing table (page address -> count), grown at half load, behind a mutex. */
struct page_slot {
    uintptr_t page; /* 0: empty; SECBUF_GONE: deleted */
    uint32_t count;
};
#define SECBUF_GONE      ((uintptr_t)1)
#define SECBUF_TABLE_MIN 256u /* initial slots of the page table */

static struct page_slot *g_pages;
static size_t g_cap, g_used; /* slots, slots not empty (live or deleted) */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t g_pagesize;

static size_t slot_hash(uintptr_t page, size_t cap)
{
    uint64_t h = (uint64_t)(page / g_pagesize) * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 17) & (cap - 1);
}

/* The slot of page, or (insert) the slot to put it in. NULL when the table cannot grow. */
static struct page_slot *slot_find(uintptr_t page, bool insert)
{
    if (insert && (g_used + 1) * 2 > g_cap) {
        size_t ncap = g_cap ? g_cap * 2 : SECBUF_TABLE_MIN;
        struct page_slot *n = calloc(ncap, sizeof(*n));
        if (n == NULL) return NULL;
        size_t used = 0;
        for (size_t i = 0; i < g_cap; i++) {
            if (g_pages[i].page <= SECBUF_GONE) continue;
            size_t j = slot_hash(g_pages[i].page, ncap);
            while (n[j].page != 0)
                j = (j + 1) & (ncap - 1);
            n[j] = g_pages[i];
            used++;
        }
        free(g_pages);
        g_pages = n;
        g_cap = ncap;
        g_used = used;
    }
    if (g_cap == 0) return NULL;
    struct page_slot *gone = NULL;
    for (size_t j = slot_hash(page, g_cap);; j = (j + 1) & (g_cap - 1)) {
        struct page_slot *sl = &g_pages[j];
        if (sl->page == page) return sl;
        if (sl->page == SECBUF_GONE && gone == NULL) gone = sl;
        if (sl->page == 0) {
            if (!insert) return NULL;
            if (gone != NULL) return gone;
            g_used++;
            return sl;
        }
    }
}

static void page_range(const void *p, size_t len, uintptr_t *first, uintptr_t *last)
{
    if (g_pagesize == 0) {
        long ps = sysconf(_SC_PAGESIZE);
        g_pagesize = ps > 0 ? (uintptr_t)ps : 4096u;
    }
    *first = (uintptr_t)p & ~(g_pagesize - 1);
    *last = ((uintptr_t)p + len - 1) & ~(g_pagesize - 1);
}

/* Counts the pages of [p, p + len); locks (and excludes from core dumps) those new to the
 * table. Returns false when a lock failed (best effort) or the table could not grow. */
static bool pages_hold(const void *p, size_t len)
{
    bool ok = true;
    pthread_mutex_lock(&g_mu);
    uintptr_t first, last;
    page_range(p, len, &first, &last);
    for (uintptr_t pg = first;; pg += g_pagesize) {
        struct page_slot *sl = slot_find(pg, true);
        if (sl == NULL) {
            ok = false; /* out of memory: this page stays unlocked and uncounted */
        } else if (sl->page == pg) {
            sl->count++;
        } else {
            sl->page = pg;
            sl->count = 1;
            if (mlock((void *)pg, g_pagesize) != 0) ok = false;
            (void)madvise((void *)pg, g_pagesize, MADV_DONTDUMP);
        }
        if (pg == last) break;
    }
    pthread_mutex_unlock(&g_mu);
    return ok;
}

/* Drops the counts of [p, p + len); unlocks pages no buffer uses any more. */
static void pages_release(const void *p, size_t len)
{
    int saved = errno;
    pthread_mutex_lock(&g_mu);
    uintptr_t first, last;
    page_range(p, len, &first, &last);
    for (uintptr_t pg = first;; pg += g_pagesize) {
        struct page_slot *sl = slot_find(pg, false);
        if (sl != NULL && --sl->count == 0) {
            sl->page = SECBUF_GONE;
            (void)munlock((void *)pg, g_pagesize);              /* nothing to do on failure */
            (void)madvise((void *)pg, g_pagesize, MADV_DODUMP); /* as before: VMAs merge back */
        }
        if (pg == last) break;
    }
    pthread_mutex_unlock(&g_mu);
    errno = saved;
}

unsigned qkd_secbuf_page_locks(const void *p)
{
    pthread_mutex_lock(&g_mu);
    uintptr_t first, last;
    page_range(p, 1, &first, &last);
    struct page_slot *sl = slot_find(first, false);
    unsigned n = sl != NULL ? sl->count : 0;
    pthread_mutex_unlock(&g_mu);
    return n;
}

int qkd_secbuf_no_core_dumps(void)
{
    struct rlimit none = {0, 0};
    int rc = setrlimit(RLIMIT_CORE, &none);
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) rc = -1;
    return rc;
}

struct qkd_secbuf *qkd_secbuf_new(size_t len)
{
    struct qkd_secbuf *b = calloc(1, sizeof(*b));
    if (b == NULL) return NULL;
    /* allocate at least one byte so data is never NULL */
    b->data = calloc(1, len > 0 ? len : 1);
    if (b->data == NULL) {
        free(b);
        return NULL;
    }
    b->len = len;
    if (len > 0 && !pages_hold(b->data, len))
        atomic_fetch_add(&g_mlock_failures, 1); /* EPERM/ENOMEM: best effort */
    return b;
}

struct qkd_secbuf *qkd_secbuf_dup(const uint8_t *data, size_t len)
{
    struct qkd_secbuf *b = qkd_secbuf_new(len);
    if (b == NULL) return NULL;
    if (len > 0) memcpy(b->data, data, len);
    return b;
}

void qkd_secbuf_free(struct qkd_secbuf *b)
{
    if (b == NULL) return;
    if (b->data != NULL) {
        OPENSSL_cleanse(b->data, b->len);
        if (b->len > 0) pages_release(b->data, b->len);
        free(b->data);
    }
    OPENSSL_cleanse(b, sizeof(*b));
    free(b);
}

void qkd_wipe(void *p, size_t len)
{
    if (p != NULL && len > 0) OPENSSL_cleanse(p, len);
}
