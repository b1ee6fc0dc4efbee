/* ring.h: the shared-memory key ring of one node for one link (docs/keygen.md, "The ring"). POSIX
 * shared memory, one writer (qkd-keygen) and one reader (qkd-kme). Key bytes live at absolute
 * stream offsets (u64, never wrapping); the writer publishes its write offset with release
 * semantics, the reader publishes its consume offset the same way, so free space is back-pressure
 * and nothing unconsumed is ever overwritten. Consumed bytes are wiped by the reader. This is the
 * only code that knows the shared-memory layout. */
#ifndef QKD_RING_H
#define QKD_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QKD_RING_MAGIC          0x514b4452494e4731ull /* "QKDRING1" */
#define QKD_RING_LAYOUT_VERSION 1

struct qkd_ring;

enum qkd_ring_err {
    QKD_RING_OK = 0,
    QKD_RING_ERR_SYS = -1,     /* shm_open/mmap/ftruncate failed: errno kept */
    QKD_RING_ERR_LAYOUT = -2,  /* magic or layout version differ */
    QKD_RING_ERR_SIZE = -3,    /* capacity mismatch with an existing ring */
    QKD_RING_ERR_RANGE = -4,   /* offsets outside what is readable / writable */
    QKD_RING_ERR_NOSPACE = -5, /* not enough free space */
    QKD_RING_ERR_BUSY = -6,    /* another live process holds this role (writer or reader) */
    QKD_RING_ERR_STALE = -7,   /* the name no longer names the mapped ring (removed/replaced),
                                  or the consume offset is not where this reader left it */
};
const char *qkd_ring_err_str(int err);
/* Details of the last failure of an open/append/read/consume/reset call in this thread, e.g.
 * "ring /qkd-alice-bob has layout version 2, this program knows 1" (never key bytes). */
const char *qkd_ring_last_error(void);

/* Limits on the capacity of a ring (bytes). */
#define QKD_RING_MIN_CAPACITY 256u
#define QKD_RING_MAX_CAPACITY (1ull << 32)

/* One writer and one reader per ring: opening as writer (reader) takes an exclusive lock for
 * that role on the shared-memory object, held until qkd_ring_close or the death of the process
 * (also SIGKILL: the kernel releases it). A second process asking for a role that a live
 * process holds gets QKD_RING_ERR_BUSY and a message naming the ring, the role and the pid.
 * Within one process, opening the same role of one ring again shares the lock (so does a child
 * forked while it is held). Observers take no lock. */

/* Writer side: opens the ring named name ("/qkd-alice-bob") creating it with capacity bytes
 * if absent. An existing ring of the same layout and capacity is reused as is (its offsets
 * survive a writer restart). */
int qkd_ring_open_writer(const char *name, size_t capacity, struct qkd_ring **out);
/* Reader side: attaches to an existing ring (creates an empty one with capacity if absent, so
 * start order does not matter). Refuses another layout version with QKD_RING_ERR_LAYOUT.
 * capacity 0: attach to an existing ring of any capacity, never create (ERR_SYS with errno
 * ENOENT when absent): for readers that do not know the ring size (qkd-kme, tools). */
int qkd_ring_open_reader(const char *name, size_t capacity, struct qkd_ring **out);
/* Observer: like a reader with capacity 0 (never creates), for monitoring tools; it leaves the
 * reader pid in the stats alone. It must not call qkd_ring_consume. */
int qkd_ring_open_observer(const char *name, struct qkd_ring **out);
void qkd_ring_close(struct qkd_ring *r);
/* Removes the shared-memory object (tests, "down"). */
int qkd_ring_unlink(const char *name);

size_t qkd_ring_capacity(const struct qkd_ring *r);
uint64_t qkd_ring_write_offset(const struct qkd_ring *r);   /* acquire */
uint64_t qkd_ring_consume_offset(const struct qkd_ring *r); /* acquire */
/* capacity - (write - consume). */
size_t qkd_ring_free_space(const struct qkd_ring *r);

/* Writer: appends len bytes at the write offset, with the time they were distilled (wall ms),
 * then publishes the new write offset. Fails with NOSPACE when they do not fit. */
int qkd_ring_append(struct qkd_ring *r, const uint8_t *data, size_t len, uint64_t distilled_ms);
/* Writer: moves an empty ring to start at offset (write = consume = offset). Used when the
 * link partners resynchronise; only allowed when write == consume, or to roll back an
 * unconsumed, unconfirmed tail (offset >= consume and offset <= write), wiping it. */
int qkd_ring_reset_to(struct qkd_ring *r, uint64_t offset);

/* Reader: copies len bytes at absolute offset (consume <= offset, offset+len <= write) into
 * dst and reports when the oldest of them was distilled (wall ms). */
int qkd_ring_read(struct qkd_ring *r, uint64_t offset, uint8_t *dst, size_t len,
                  uint64_t *distilled_ms);
/* Reader: wipes everything below upto and publishes consume = upto (upto <= write). */
int qkd_ring_consume(struct qkd_ring *r, uint64_t upto);
/* Reader: the same as a compare-and-swap from the offset the caller read at: the consume
 * offset must still be from (else QKD_RING_ERR_STALE: someone else moved it, nothing is
 * wiped) and from < upto <= write. A consume that finds the offset already at upto is an
 * error here, never a silent success. */
int qkd_ring_consume_from(struct qkd_ring *r, uint64_t from, uint64_t upto);

/* The ring's identity: a random non-zero id set when it was created (0: created by a writer
 * that predates identities). Two rings of one name created one after the other differ. */
uint64_t qkd_ring_id(const struct qkd_ring *r);
/* Writer: the id of the link partner's ring this ring was last synchronised with (0: never);
 * kept in the ring, so it survives keygen restarts. */
uint64_t qkd_ring_peer_id(const struct qkd_ring *r);
void qkd_ring_set_peer_id(struct qkd_ring *r, uint64_t id);
/* Whether the name this ring was opened by still names the mapped object: QKD_RING_OK, or
 * QKD_RING_ERR_STALE when it was removed or replaced by a new ring (unlinked and re-created
 * underneath this process; the message says which), or QKD_RING_ERR_SYS. One shm_open and
 * fstat per call. */
int qkd_ring_check_current(const struct qkd_ring *r);

/* Link status, written by the keygen, read by anyone (for metrics and 004 status 4). */
struct qkd_ring_stats {
    bool link_up;
    uint64_t skr_bps;          /* configured secret key rate, bits/s */
    uint64_t blocks_distilled; /* blocks made visible */
    uint64_t blocks_dropped;   /* blocks discarded because a ring was full */
    uint64_t bytes_dropped;
    uint64_t last_distilled_ms; /* wall clock */
    uint64_t writer_pid;
    uint64_t heartbeat_ms; /* wall clock of the writer's last sign of life */
    uint64_t reader_pid;
    uint64_t link_changed_ms; /* wall clock of the last link up/down */
    uint64_t skr_current_bps; /* rate being distilled: the SKR after the emulated QBER (0 =
                                 distils nothing, or a writer that does not report it) */
};
void qkd_ring_get_stats(const struct qkd_ring *r, struct qkd_ring_stats *s);
void qkd_ring_set_link(struct qkd_ring *r, bool up, uint64_t skr_bps);
/* Writer: the current (effective) secret key rate, bits/s. */
void qkd_ring_set_current_skr(struct qkd_ring *r, uint64_t skr_bps);
void qkd_ring_count_dropped(struct qkd_ring *r, uint64_t bytes); /* one block */
void qkd_ring_count_dropped_n(struct qkd_ring *r, uint64_t blocks, uint64_t bytes);
void qkd_ring_heartbeat(struct qkd_ring *r);
/* Wall clock (ms) when the ring was created. */
uint64_t qkd_ring_created_ms(const struct qkd_ring *r);

#endif
