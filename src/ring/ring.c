/* ring.c: the shared-memory key ring (see ring.h, ring_layout.h). One writer and one reader,
 * lock-free: the writer fills bytes then publishes write_off (release); the reader reads them
 * after loading write_off (acquire), wipes what it consumes, then publishes consume_off
 * (release), which is the writer's back-pressure. Offsets never wrap; the data area is used
 * modulo capacity. */
#include "ring.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"
#include "ring_layout.h"
#include "secbuf.h"

/* How long an attaching process waits for a ring another process is creating. */
#define QKD_RING_INIT_WAIT_MS 2000u

/* Role locks (one writer, one reader per ring): an open file description (OFD) lock on one
 * byte of the shared-memory object per role, so the kernel drops it when the holder dies, even
 * by SIGKILL. OFD locks also conflict between two opens in one process; a process that opens
 * the same role of one ring twice (tests, tools) shares one lock, counted here. */
#define QKD_RING_LOCK_WRITER 0  /* byte offset locked by the writer */
#define QKD_RING_LOCK_READER 1  /* byte offset locked by the reader */
#define QKD_RING_MAX_HELD    64 /* role locks one process holds at once */

struct ring_hold {
    dev_t dev;
    ino_t ino;
    int role; /* QKD_RING_LOCK_* */
    int fd;   /* keeps the OFD (and its lock) alive */
    unsigned refs;
};
static struct ring_hold ring_held[QKD_RING_MAX_HELD];
static pthread_mutex_t ring_held_mu = PTHREAD_MUTEX_INITIALIZER;

struct qkd_ring {
    char name[256];
    bool writer;
    bool observer;
    struct ring_hold *hold; /* the role lock this handle holds (NULL: observer) */
    dev_t dev;              /* identity of the object mapped, to notice a replaced name */
    ino_t ino;
    struct qkd_ring_shm *hdr;
    uint64_t *ts;
    uint8_t *data;
    uint64_t capacity;
    uint64_t n_granules;
    size_t map_len;
};

static _Thread_local char ring_errbuf[320];

static void ring_seterr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ring_seterr(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ring_errbuf, sizeof(ring_errbuf), fmt, ap);
    va_end(ap);
}

const char *qkd_ring_last_error(void)
{
    return ring_errbuf[0] ? ring_errbuf : "no error";
}

const char *qkd_ring_err_str(int err)
{
    switch (err) {
    case QKD_RING_OK:
        return "ok";
    case QKD_RING_ERR_SYS:
        return "system call failed";
    case QKD_RING_ERR_LAYOUT:
        return "not a key ring of this layout version";
    case QKD_RING_ERR_SIZE:
        return "ring capacity differs";
    case QKD_RING_ERR_RANGE:
        return "offset range not allowed";
    case QKD_RING_ERR_NOSPACE:
        return "not enough free space in the ring";
    case QKD_RING_ERR_BUSY:
        return "ring role held by another live process";
    case QKD_RING_ERR_STALE:
        return "ring removed, replaced or moved underneath this process";
    default:
        return "unknown ring error";
    }
}

static void ring_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static uint64_t ring_round_page(uint64_t n)
{
    return (n + 4095u) & ~(uint64_t)4095u;
}

static void ring_geometry(uint64_t capacity, uint64_t *n_gran, uint64_t *ts_off, uint64_t *data_off,
                          uint64_t *total)
{
    *n_gran = QKD_RING_N_GRANULES(capacity);
    *ts_off = QKD_RING_HDR_BYTES;
    *data_off = *ts_off + ring_round_page(*n_gran * sizeof(uint64_t));
    *total = *data_off + capacity;
}

static int ring_check_capacity(const char *name, uint64_t capacity)
{
    if (capacity < QKD_RING_MIN_CAPACITY || capacity > QKD_RING_MAX_CAPACITY) {
        ring_seterr("ring %s: capacity %llu outside [%u, %llu]", name, (unsigned long long)capacity,
                    QKD_RING_MIN_CAPACITY, (unsigned long long)QKD_RING_MAX_CAPACITY);
        return QKD_RING_ERR_SIZE;
    }
    return QKD_RING_OK;
}

/* Maps the whole ring and fills r's pointers from the header (already validated). */
static int ring_map(struct qkd_ring *r, int fd, uint64_t total)
{
    void *p = mmap(NULL, (size_t)total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        ring_seterr("ring %s: mmap of %llu bytes: %s", r->name, (unsigned long long)total,
                    strerror(errno));
        return QKD_RING_ERR_SYS;
    }
    r->map_len = (size_t)total;
    r->hdr = p;
    /* Key memory is never swapped where the platform allows, nor dumped; best effort. */
    if (mlock(p, r->map_len) != 0)
        log_debug("ring %s: mlock failed (%s); key memory may be swapped", r->name,
                  strerror(errno));
    (void)madvise(p, r->map_len, MADV_DONTDUMP);
    r->capacity = r->hdr->capacity;
    r->n_granules = r->hdr->n_granules;
    r->ts = (uint64_t *)((uint8_t *)p + r->hdr->ts_off);
    r->data = (uint8_t *)p + r->hdr->data_off;
    return QKD_RING_OK;
}

static int ring_create(struct qkd_ring *r, int fd, uint64_t capacity)
{
    uint64_t n_gran, ts_off, data_off, total;
    ring_geometry(capacity, &n_gran, &ts_off, &data_off, &total);
    if (ftruncate(fd, (off_t)total) != 0) {
        ring_seterr("ring %s: ftruncate to %llu bytes: %s", r->name, (unsigned long long)total,
                    strerror(errno));
        return QKD_RING_ERR_SYS;
    }
    /* Map the header alone first to initialise it, then the whole ring. */
    struct qkd_ring_shm *h =
        mmap(NULL, QKD_RING_HDR_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (h == MAP_FAILED) {
        ring_seterr("ring %s: mmap header: %s", r->name, strerror(errno));
        return QKD_RING_ERR_SYS;
    }
    h->layout_version = QKD_RING_LAYOUT_VERSION;
    h->hdr_bytes = QKD_RING_HDR_BYTES;
    h->capacity = capacity;
    h->granule = QKD_RING_GRANULE;
    h->n_granules = n_gran;
    h->ts_off = ts_off;
    h->data_off = data_off;
    h->total_bytes = total;
    h->created_ms = qkd_wall_ms();
    uint64_t id = 0;
    while (id == 0)
        if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id)) id = 0;
    h->ring_id = id;
    atomic_store_explicit(&h->write_off, 0, memory_order_relaxed);
    atomic_store_explicit(&h->consume_off, 0, memory_order_relaxed);
    atomic_store_explicit(&h->magic, QKD_RING_MAGIC, memory_order_release);
    munmap(h, QKD_RING_HDR_BYTES);
    log_info("ring %s created: capacity %llu bytes", r->name, (unsigned long long)capacity);
    return ring_map(r, fd, total);
}

/* Attaches to an existing ring: waits for its creator to finish, checks magic, layout version,
 * geometry and (unless capacity is 0) capacity. */
static int ring_attach(struct qkd_ring *r, int fd, uint64_t capacity)
{
    struct stat st;
    unsigned waited = 0;
    for (;;) {
        if (fstat(fd, &st) != 0) {
            ring_seterr("ring %s: fstat: %s", r->name, strerror(errno));
            return QKD_RING_ERR_SYS;
        }
        if (st.st_size >= (off_t)QKD_RING_HDR_BYTES) break;
        if (waited >= QKD_RING_INIT_WAIT_MS) {
            ring_seterr("ring %s: shared-memory object of %lld bytes is not a key ring "
                        "(too small for the header)",
                        r->name, (long long)st.st_size);
            return QKD_RING_ERR_LAYOUT;
        }
        ring_sleep_ms(10);
        waited += 10;
    }
    struct qkd_ring_shm *h = mmap(NULL, QKD_RING_HDR_BYTES, PROT_READ, MAP_SHARED, fd, 0);
    if (h == MAP_FAILED) {
        ring_seterr("ring %s: mmap header: %s", r->name, strerror(errno));
        return QKD_RING_ERR_SYS;
    }
    uint64_t magic;
    while ((magic = atomic_load_explicit(&h->magic, memory_order_acquire)) == 0 &&
           waited < QKD_RING_INIT_WAIT_MS) {
        ring_sleep_ms(10);
        waited += 10;
    }
    int rc = QKD_RING_OK;
    uint64_t n_gran, ts_off, data_off, total = 0;
    if (magic != QKD_RING_MAGIC) {
        ring_seterr("ring %s: not a key ring (magic %016llx, expected %016llx); remove it "
                    "(qkd_ring_unlink or rm /dev/shm%s) to recreate",
                    r->name, (unsigned long long)magic, (unsigned long long)QKD_RING_MAGIC,
                    r->name);
        rc = QKD_RING_ERR_LAYOUT;
    } else if (h->layout_version != QKD_RING_LAYOUT_VERSION) {
        ring_seterr("ring %s has layout version %u, this program knows version %u; stop its "
                    "users and remove it to recreate",
                    r->name, h->layout_version, QKD_RING_LAYOUT_VERSION);
        rc = QKD_RING_ERR_LAYOUT;
    } else if (capacity != 0 && h->capacity != capacity) {
        ring_seterr("ring %s has capacity %llu bytes, %llu requested", r->name,
                    (unsigned long long)h->capacity, (unsigned long long)capacity);
        rc = QKD_RING_ERR_SIZE;
    } else if (ring_check_capacity(r->name, h->capacity) != QKD_RING_OK) {
        rc = QKD_RING_ERR_LAYOUT;
    } else {
        ring_geometry(h->capacity, &n_gran, &ts_off, &data_off, &total);
        if (h->hdr_bytes != QKD_RING_HDR_BYTES || h->granule != QKD_RING_GRANULE ||
            h->n_granules != n_gran || h->ts_off != ts_off || h->data_off != data_off ||
            h->total_bytes != total || (uint64_t)st.st_size != total) {
            ring_seterr("ring %s: inconsistent header geometry (size %lld bytes)", r->name,
                        (long long)st.st_size);
            rc = QKD_RING_ERR_LAYOUT;
        }
    }
    munmap(h, QKD_RING_HDR_BYTES);
    if (rc != QKD_RING_OK) return rc;
    return ring_map(r, fd, total);
}

/* Takes the role lock of r (writer or reader) on the object open as fd, or shares the one this
 * process already holds on it. Returns QKD_RING_OK or QKD_RING_ERR_BUSY (another process holds
 * the role: the message names it and the pid the header reports). */
static int ring_lock_role(struct qkd_ring *r, int fd)
{
    int role = r->writer ? QKD_RING_LOCK_WRITER : QKD_RING_LOCK_READER;
    const char *what = r->writer ? "writer" : "reader";
    int rc = QKD_RING_OK;
    pthread_mutex_lock(&ring_held_mu);
    struct ring_hold *free_slot = NULL;
    for (size_t i = 0; i < QKD_RING_MAX_HELD; i++) {
        struct ring_hold *h = &ring_held[i];
        if (h->refs == 0) {
            if (!free_slot) free_slot = h;
            continue;
        }
        if (h->dev == r->dev && h->ino == r->ino && h->role == role) {
            h->refs++;
            r->hold = h;
            goto out;
        }
    }
    if (!free_slot) {
        ring_seterr("ring %s: this process holds %d ring locks already", r->name,
                    QKD_RING_MAX_HELD);
        rc = QKD_RING_ERR_SYS;
        goto out;
    }
    int lfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (lfd < 0) {
        ring_seterr("ring %s: dup: %s", r->name, strerror(errno));
        rc = QKD_RING_ERR_SYS;
        goto out;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = role, .l_len = 1};
    if (fcntl(lfd, F_OFD_SETLK, &fl) != 0) {
        int e = errno;
        close(lfd);
        if (e == EAGAIN || e == EACCES) {
            uint64_t pid = atomic_load_explicit(
                r->writer ? &r->hdr->writer_pid : &r->hdr->reader_pid, memory_order_relaxed);
            ring_seterr("ring %s already has a live %s (pid %llu): one %s per ring; stop it "
                        "first",
                        r->name, what, (unsigned long long)pid, what);
            rc = QKD_RING_ERR_BUSY;
        } else {
            ring_seterr("ring %s: %s lock: %s", r->name, what, strerror(e));
            rc = QKD_RING_ERR_SYS;
        }
        goto out;
    }
    free_slot->dev = r->dev;
    free_slot->ino = r->ino;
    free_slot->role = role;
    free_slot->fd = lfd;
    free_slot->refs = 1;
    r->hold = free_slot;
out:
    pthread_mutex_unlock(&ring_held_mu);
    return rc;
}

static void ring_unlock_role(struct qkd_ring *r)
{
    if (!r->hold) return;
    pthread_mutex_lock(&ring_held_mu);
    if (--r->hold->refs == 0) {
        close(r->hold->fd); /* the last reference to the OFD: the kernel drops the lock */
        r->hold->fd = -1;
    }
    pthread_mutex_unlock(&ring_held_mu);
    r->hold = NULL;
}

static void ring_unmap(struct qkd_ring *r)
{
    munlock(r->hdr, r->map_len);
    munmap(r->hdr, r->map_len);
}

static int ring_open(const char *name, uint64_t capacity, bool writer, bool observer,
                     struct qkd_ring **out)
{
    *out = NULL;
    ring_errbuf[0] = '\0';
    if (name == NULL || name[0] != '/' || strlen(name) >= sizeof(((struct qkd_ring *)0)->name) ||
        strchr(name + 1, '/') != NULL) {
        ring_seterr("ring name \"%s\" must be \"/name\" without further slashes",
                    name ? name : "(null)");
        errno = EINVAL;
        return QKD_RING_ERR_SYS;
    }
    bool may_create = writer || capacity != 0;
    if (may_create) {
        int rc = ring_check_capacity(name, capacity);
        if (rc != QKD_RING_OK) return rc;
    }
    struct qkd_ring *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        ring_seterr("ring %s: out of memory", name);
        return QKD_RING_ERR_SYS;
    }
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->writer = writer;
    r->observer = observer;

    int rc;
    int fd = -1;
    if (may_create) fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) {
        rc = ring_create(r, fd, capacity);
        if (rc != QKD_RING_OK) {
            shm_unlink(name);
        }
    } else if (may_create && errno != EEXIST) {
        ring_seterr("ring %s: shm_open: %s", name, strerror(errno));
        rc = QKD_RING_ERR_SYS;
    } else {
        fd = shm_open(name, O_RDWR, 0600);
        if (fd < 0) {
            int e = errno;
            ring_seterr("ring %s: shm_open: %s", name, strerror(e));
            free(r);
            errno = e;
            return QKD_RING_ERR_SYS;
        }
        rc = ring_attach(r, fd, capacity);
    }
    if (rc == QKD_RING_OK) {
        struct stat st;
        if (fstat(fd, &st) != 0) {
            ring_seterr("ring %s: fstat: %s", name, strerror(errno));
            rc = QKD_RING_ERR_SYS;
            ring_unmap(r);
        } else {
            r->dev = st.st_dev;
            r->ino = st.st_ino;
            if (!observer) rc = ring_lock_role(r, fd);
            if (rc != QKD_RING_OK) ring_unmap(r);
        }
    }
    if (fd >= 0) close(fd);
    if (rc != QKD_RING_OK) {
        free(r);
        return rc;
    }
    if (writer)
        atomic_store_explicit(&r->hdr->writer_pid, (uint64_t)getpid(), memory_order_relaxed);
    else if (!observer)
        atomic_store_explicit(&r->hdr->reader_pid, (uint64_t)getpid(), memory_order_relaxed);
    *out = r;
    return QKD_RING_OK;
}

int qkd_ring_open_writer(const char *name, size_t capacity, struct qkd_ring **out)
{
    return ring_open(name, capacity, true, false, out);
}

int qkd_ring_open_reader(const char *name, size_t capacity, struct qkd_ring **out)
{
    return ring_open(name, capacity, false, false, out);
}

int qkd_ring_open_observer(const char *name, struct qkd_ring **out)
{
    return ring_open(name, 0, false, true, out);
}

void qkd_ring_close(struct qkd_ring *r)
{
    if (r == NULL) return;
    if (r->writer) {
        atomic_store_explicit(&r->hdr->link_up, 0, memory_order_relaxed);
        atomic_store_explicit(&r->hdr->writer_pid, 0, memory_order_relaxed);
    } else if (!r->observer) {
        uint64_t me = (uint64_t)getpid();
        atomic_compare_exchange_strong_explicit(&r->hdr->reader_pid, &me, 0, memory_order_relaxed,
                                                memory_order_relaxed);
    }
    ring_unmap(r);
    ring_unlock_role(r);
    free(r);
}

int qkd_ring_unlink(const char *name)
{
    if (shm_unlink(name) != 0) {
        ring_seterr("ring %s: shm_unlink: %s", name, strerror(errno));
        return QKD_RING_ERR_SYS;
    }
    return QKD_RING_OK;
}

size_t qkd_ring_capacity(const struct qkd_ring *r)
{
    return (size_t)r->capacity;
}

uint64_t qkd_ring_write_offset(const struct qkd_ring *r)
{
    return atomic_load_explicit(&r->hdr->write_off, memory_order_acquire);
}

uint64_t qkd_ring_consume_offset(const struct qkd_ring *r)
{
    return atomic_load_explicit(&r->hdr->consume_off, memory_order_acquire);
}

size_t qkd_ring_free_space(const struct qkd_ring *r)
{
    uint64_t c = qkd_ring_consume_offset(r);
    uint64_t w = qkd_ring_write_offset(r);
    if (w <= c) /* empty, or transiently while the writer moves an empty ring forward */
        return (size_t)r->capacity;
    uint64_t used = w - c;
    return used >= r->capacity ? 0 : (size_t)(r->capacity - used);
}

uint64_t qkd_ring_created_ms(const struct qkd_ring *r)
{
    return r->hdr->created_ms;
}

/* Copies between a linear buffer and the data area at absolute offset off (two pieces when the
 * range crosses the end of the area). */
static void ring_copy_in(struct qkd_ring *r, uint64_t off, const uint8_t *src, size_t len)
{
    size_t pos = (size_t)(off % r->capacity);
    size_t first = len < r->capacity - pos ? len : (size_t)(r->capacity - pos);
    memcpy(r->data + pos, src, first);
    if (len > first) memcpy(r->data, src + first, len - first);
}

static void ring_copy_out(const struct qkd_ring *r, uint64_t off, uint8_t *dst, size_t len)
{
    size_t pos = (size_t)(off % r->capacity);
    size_t first = len < r->capacity - pos ? len : (size_t)(r->capacity - pos);
    memcpy(dst, r->data + pos, first);
    if (len > first) memcpy(dst + first, r->data, len - first);
}

static void ring_wipe_range(struct qkd_ring *r, uint64_t off, uint64_t len)
{
    if (len == 0) return;
    size_t pos = (size_t)(off % r->capacity);
    size_t first = len < r->capacity - pos ? (size_t)len : (size_t)(r->capacity - pos);
    qkd_wipe(r->data + pos, first);
    if (len > first) qkd_wipe(r->data, (size_t)len - first);
}

static uint64_t *ring_ts_slot(struct qkd_ring *r, uint64_t granule)
{
    return &r->ts[granule % r->n_granules];
}

int qkd_ring_append(struct qkd_ring *r, const uint8_t *data, size_t len, uint64_t distilled_ms)
{
    if (len == 0) return QKD_RING_OK;
    uint64_t w = atomic_load_explicit(&r->hdr->write_off, memory_order_relaxed);
    if (len > r->capacity || qkd_ring_free_space(r) < len) {
        ring_seterr("ring %s: %zu bytes do not fit (%zu free)", r->name, len,
                    qkd_ring_free_space(r));
        return QKD_RING_ERR_NOSPACE;
    }
    if (UINT64_MAX - w < len) {
        ring_seterr("ring %s: stream offset would overflow", r->name);
        return QKD_RING_ERR_RANGE;
    }
    ring_copy_in(r, w, data, len);
    /* Timestamps: a granule keeps the time of its oldest byte. A granule started by this
     * append (aligned start, or a slot left empty) takes distilled_ms. */
    uint64_t g0 = w / QKD_RING_GRANULE, g1 = (w + len - 1) / QKD_RING_GRANULE;
    for (uint64_t g = g0; g <= g1; g++) {
        uint64_t *slot = ring_ts_slot(r, g);
        if (g != g0 || w % QKD_RING_GRANULE == 0 || *slot == 0) *slot = distilled_ms;
    }
    atomic_store_explicit(&r->hdr->write_off, w + len, memory_order_release);
    atomic_fetch_add_explicit(&r->hdr->blocks_distilled, 1, memory_order_relaxed);
    atomic_store_explicit(&r->hdr->last_distilled_ms, distilled_ms, memory_order_relaxed);
    return QKD_RING_OK;
}

int qkd_ring_reset_to(struct qkd_ring *r, uint64_t offset)
{
    uint64_t w = atomic_load_explicit(&r->hdr->write_off, memory_order_relaxed);
    uint64_t c = qkd_ring_consume_offset(r);
    if (offset == w) return QKD_RING_OK;
    if (offset < c) {
        ring_seterr("ring %s: reset to %llu below the consume offset %llu (offsets are never "
                    "reused)",
                    r->name, (unsigned long long)offset, (unsigned long long)c);
        return QKD_RING_ERR_RANGE;
    }
    if (offset < w) {
        /* Roll back the unconsumed tail [offset, w): unpublish first, then wipe. */
        atomic_store_explicit(&r->hdr->write_off, offset, memory_order_release);
        ring_wipe_range(r, offset, w - offset);
        uint64_t gfirst = (offset + QKD_RING_GRANULE - 1) / QKD_RING_GRANULE;
        uint64_t glast = (w - 1) / QKD_RING_GRANULE;
        for (uint64_t g = gfirst; g <= glast && g - gfirst < r->n_granules; g++)
            *ring_ts_slot(r, g) = 0;
        return QKD_RING_OK;
    }
    /* Forward: only an empty ring may move (nothing unconsumed is skipped). */
    if (w != c) {
        ring_seterr("ring %s: cannot move forward to %llu with %llu unconsumed bytes", r->name,
                    (unsigned long long)offset, (unsigned long long)(w - c));
        return QKD_RING_ERR_RANGE;
    }
    /* consume first: a reader never sees [c, offset) as readable. */
    uint64_t expect = c;
    if (!atomic_compare_exchange_strong_explicit(&r->hdr->consume_off, &expect, offset,
                                                 memory_order_acq_rel, memory_order_acquire)) {
        ring_seterr("ring %s: the reader moved while resetting", r->name);
        return QKD_RING_ERR_RANGE;
    }
    memset(r->ts, 0, r->n_granules * sizeof(uint64_t));
    atomic_store_explicit(&r->hdr->write_off, offset, memory_order_release);
    return QKD_RING_OK;
}

int qkd_ring_read(struct qkd_ring *r, uint64_t offset, uint8_t *dst, size_t len,
                  uint64_t *distilled_ms)
{
    uint64_t c = qkd_ring_consume_offset(r);
    uint64_t w = qkd_ring_write_offset(r);
    if (offset < c || offset > w || len > w - offset) {
        ring_seterr("ring %s: read [%llu, +%zu) outside readable [%llu, %llu)", r->name,
                    (unsigned long long)offset, len, (unsigned long long)c, (unsigned long long)w);
        return QKD_RING_ERR_RANGE;
    }
    ring_copy_out(r, offset, dst, len);
    if (distilled_ms != NULL) {
        uint64_t ts = *ring_ts_slot(r, offset / QKD_RING_GRANULE);
        if (ts == 0 && len > 0) { /* should not happen; take the oldest in the range */
            uint64_t g1 = (offset + len - 1) / QKD_RING_GRANULE;
            for (uint64_t g = offset / QKD_RING_GRANULE + 1; g <= g1; g++) {
                uint64_t t = *ring_ts_slot(r, g);
                if (t != 0 && (ts == 0 || t < ts)) ts = t;
            }
        }
        *distilled_ms = ts;
    }
    return QKD_RING_OK;
}

int qkd_ring_consume_from(struct qkd_ring *r, uint64_t from, uint64_t upto)
{
    uint64_t c = qkd_ring_consume_offset(r);
    if (c != from) {
        ring_seterr("ring %s: consume offset is %llu, this reader left it at %llu (another reader "
                    "or a replaced ring?)",
                    r->name, (unsigned long long)c, (unsigned long long)from);
        return QKD_RING_ERR_STALE;
    }
    if (upto == c) {
        ring_seterr("ring %s: consume to %llu finds the offset already there", r->name,
                    (unsigned long long)upto);
        return QKD_RING_ERR_RANGE;
    }
    return qkd_ring_consume(r, upto);
}

uint64_t qkd_ring_id(const struct qkd_ring *r)
{
    return r->hdr->ring_id;
}

uint64_t qkd_ring_peer_id(const struct qkd_ring *r)
{
    return atomic_load_explicit(&r->hdr->peer_ring_id, memory_order_relaxed);
}

void qkd_ring_set_peer_id(struct qkd_ring *r, uint64_t id)
{
    atomic_store_explicit(&r->hdr->peer_ring_id, id, memory_order_relaxed);
}

int qkd_ring_check_current(const struct qkd_ring *r)
{
    int fd = shm_open(r->name, O_RDONLY, 0);
    if (fd < 0) {
        if (errno == ENOENT) {
            ring_seterr("ring %s (id %016llx) was removed", r->name,
                        (unsigned long long)r->hdr->ring_id);
            return QKD_RING_ERR_STALE;
        }
        ring_seterr("ring %s: shm_open: %s", r->name, strerror(errno));
        return QKD_RING_ERR_SYS;
    }
    struct stat st;
    int rc = fstat(fd, &st);
    int e = errno;
    close(fd);
    if (rc != 0) {
        ring_seterr("ring %s: fstat: %s", r->name, strerror(e));
        return QKD_RING_ERR_SYS;
    }
    if (st.st_dev != r->dev || st.st_ino != r->ino) {
        ring_seterr("ring %s (id %016llx) was removed and re-created: the name now names another "
                    "ring",
                    r->name, (unsigned long long)r->hdr->ring_id);
        return QKD_RING_ERR_STALE;
    }
    return QKD_RING_OK;
}

int qkd_ring_consume(struct qkd_ring *r, uint64_t upto)
{
    uint64_t c = qkd_ring_consume_offset(r);
    uint64_t w = qkd_ring_write_offset(r);
    if (upto == c) return QKD_RING_OK;
    if (upto < c || upto > w) {
        ring_seterr("ring %s: consume to %llu outside [%llu, %llu]", r->name,
                    (unsigned long long)upto, (unsigned long long)c, (unsigned long long)w);
        return QKD_RING_ERR_RANGE;
    }
    /* Wipe the bytes and the timestamps of granules now wholly consumed, then publish. */
    ring_wipe_range(r, c, upto - c);
    uint64_t gfirst = c / QKD_RING_GRANULE, gend = upto / QKD_RING_GRANULE;
    for (uint64_t g = gfirst; g < gend && g - gfirst < r->n_granules; g++)
        *ring_ts_slot(r, g) = 0;
    uint64_t expect = c;
    if (!atomic_compare_exchange_strong_explicit(&r->hdr->consume_off, &expect, upto,
                                                 memory_order_acq_rel, memory_order_acquire)) {
        ring_seterr("ring %s: the writer moved the ring while consuming", r->name);
        return QKD_RING_ERR_RANGE;
    }
    return QKD_RING_OK;
}

void qkd_ring_get_stats(const struct qkd_ring *r, struct qkd_ring_stats *s)
{
    struct qkd_ring_shm *h = r->hdr;
    s->link_up = atomic_load_explicit(&h->link_up, memory_order_relaxed) != 0;
    s->skr_bps = atomic_load_explicit(&h->skr_bps, memory_order_relaxed);
    s->blocks_distilled = atomic_load_explicit(&h->blocks_distilled, memory_order_relaxed);
    s->blocks_dropped = atomic_load_explicit(&h->blocks_dropped, memory_order_relaxed);
    s->bytes_dropped = atomic_load_explicit(&h->bytes_dropped, memory_order_relaxed);
    s->last_distilled_ms = atomic_load_explicit(&h->last_distilled_ms, memory_order_relaxed);
    s->writer_pid = atomic_load_explicit(&h->writer_pid, memory_order_relaxed);
    s->heartbeat_ms = atomic_load_explicit(&h->heartbeat_ms, memory_order_relaxed);
    s->reader_pid = atomic_load_explicit(&h->reader_pid, memory_order_relaxed);
    s->link_changed_ms = atomic_load_explicit(&h->link_changed_ms, memory_order_relaxed);
    s->skr_current_bps = atomic_load_explicit(&h->skr_current_bps, memory_order_relaxed);
}

void qkd_ring_set_current_skr(struct qkd_ring *r, uint64_t skr_bps)
{
    atomic_store_explicit(&r->hdr->skr_current_bps, skr_bps, memory_order_relaxed);
}

void qkd_ring_set_link(struct qkd_ring *r, bool up, uint64_t skr_bps)
{
    uint64_t was = atomic_exchange_explicit(&r->hdr->link_up, up ? 1 : 0, memory_order_relaxed);
    atomic_store_explicit(&r->hdr->skr_bps, skr_bps, memory_order_relaxed);
    if (was != (up ? 1u : 0u))
        atomic_store_explicit(&r->hdr->link_changed_ms, qkd_wall_ms(), memory_order_relaxed);
    qkd_ring_heartbeat(r);
}

void qkd_ring_count_dropped(struct qkd_ring *r, uint64_t bytes)
{
    qkd_ring_count_dropped_n(r, 1, bytes);
}

void qkd_ring_count_dropped_n(struct qkd_ring *r, uint64_t blocks, uint64_t bytes)
{
    atomic_fetch_add_explicit(&r->hdr->blocks_dropped, blocks, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->hdr->bytes_dropped, bytes, memory_order_relaxed);
}

void qkd_ring_heartbeat(struct qkd_ring *r)
{
    atomic_store_explicit(&r->hdr->heartbeat_ms, qkd_wall_ms(), memory_order_relaxed);
}
