/* ring_layout.h: the shared-memory layout of the key ring (private to src/ring and its unit
 * test). One mapping: a 4 KiB header page, a side array of distillation timestamps (one u64 per
 * 256-byte granule of the stream), then the data area used modulo capacity. Offsets in the
 * header are absolute stream offsets (u64, never wrapping). Changing anything here means
 * bumping QKD_RING_LAYOUT_VERSION in ring.h, except appending a counter at the end of the
 * header whose zero (what an older writer leaves there) means "not reported". */
#ifndef QKD_RING_LAYOUT_H
#define QKD_RING_LAYOUT_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#define QKD_RING_HDR_BYTES 4096u
#define QKD_RING_GRANULE   256u
/* Granules the live range [consume, write) (at most capacity bytes) can touch, plus slack,
 * so two live granules never share a timestamp slot. */
#define QKD_RING_N_GRANULES(cap) ((uint64_t)(cap) / QKD_RING_GRANULE + 2u)

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "the ring needs lock-free 64-bit atomics");

struct qkd_ring_shm {
    /* Written once by the creator; magic is stored last (release) so an attaching process
     * never sees a half-initialised header. */
    _Atomic uint64_t magic;
    uint32_t layout_version;
    uint32_t hdr_bytes;
    uint64_t capacity;
    uint64_t granule;
    uint64_t n_granules;
    uint64_t ts_off;   /* byte offset of the timestamp array in the mapping */
    uint64_t data_off; /* byte offset of the data area in the mapping */
    uint64_t total_bytes;
    uint64_t created_ms;

    /* The two offsets, each on its own cache line. */
    alignas(64) _Atomic uint64_t write_off;   /* published by the writer (release) */
    alignas(64) _Atomic uint64_t consume_off; /* published by the reader (release) */

    /* Link status and counters (relaxed). */
    alignas(64) _Atomic uint64_t link_up;
    _Atomic uint64_t skr_bps;
    _Atomic uint64_t blocks_distilled;
    _Atomic uint64_t blocks_dropped;
    _Atomic uint64_t bytes_dropped;
    _Atomic uint64_t last_distilled_ms;
    _Atomic uint64_t writer_pid;
    _Atomic uint64_t heartbeat_ms;
    _Atomic uint64_t reader_pid;
    _Atomic uint64_t link_changed_ms;
    /* Appended within the header page (rings of older writers read 0 here: not reported). */
    _Atomic uint64_t skr_current_bps;
    /* Random identity set at creation, before magic (0: an older writer created the ring). */
    uint64_t ring_id;
    /* Writer: the id of the link partner's ring this ring was last synchronised with (0: none
     * yet), so a keygen notices that the partner's ring was re-created. */
    _Atomic uint64_t peer_ring_id;
};

_Static_assert(sizeof(struct qkd_ring_shm) <= QKD_RING_HDR_BYTES, "ring header too large");

#endif
