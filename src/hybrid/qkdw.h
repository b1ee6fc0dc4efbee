/* qkdw.h: the QKD source's worker pool. libqkd004 is blocking, so qkd-hybrid never calls it on
 * the event loop: jobs (OPEN_CONNECT, GET_KEY, CLOSE at the node's key server) go to a small
 * pool of threads, each with its own struct qkd004_conn; finished jobs come back to the loop
 * thread through an eventfd and the done callback. */
#ifndef HYB_QKDW_H
#define HYB_QKDW_H

#include "evloop.h"
#include "secbuf.h"

#include <qkd/qkd004.h>
#include <qkd/types.h>
#include <stdbool.h>
#include <stdint.h>

#define HYB_QKDW_MAX_WORKERS 64
#define HYB_QKDW_URI_MAX     300

enum hyb_qjob_kind { HYB_QJ_OPEN, HYB_QJ_GET, HYB_QJ_CLOSE };

struct hyb_qjob {
    enum hyb_qjob_kind kind;
    /* inputs */
    char source[HYB_QKDW_URI_MAX], destination[HYB_QKDW_URI_MAX]; /* OPEN, and GET's re-open */
    struct qkd_qos qos;
    struct qkd_ksid ksid; /* OPEN: zero = new; GET/CLOSE: the QKD stream */
    uint32_t index;
    bool open_first; /* GET: OPEN_CONNECT with ksid first (status 5 = already attached, ok) */
    /* correlation, untouched by the pool */
    uint64_t xid;
    struct qkd_ksid owner; /* the hybrid stream */
    unsigned slot;
    /* outputs */
    int rc;          /* QKD004_OK or QKD004_ERR_* */
    uint32_t status; /* ETSI status when rc == QKD004_OK */
    struct qkd_ksid out_ksid;
    struct qkd_qos out_qos;
    struct qkd_secbuf *key; /* GET success */
    uint64_t elapsed_us;
    char err[128];
    struct hyb_qjob *next;
};

struct hyb_qkdw;
typedef void (*hyb_qkdw_done_fn)(struct hyb_qjob *j, void *arg);

/* Starts n workers (1..HYB_QKDW_MAX_WORKERS) towards the key server in cfg (copied). done runs
 * on the loop thread for every finished job and owns it (free with hyb_qjob_free). */
struct hyb_qkdw *hyb_qkdw_new(struct qkd_loop *loop, const struct qkd004_config *cfg, unsigned n,
                              hyb_qkdw_done_fn done, void *arg, char *err, size_t errlen);
/* Queues a job (the pool owns it until done). Returns 0 or -1. */
int hyb_qkdw_submit(struct hyb_qkdw *w, struct hyb_qjob *j);
/* Jobs queued or running. */
unsigned hyb_qkdw_busy(struct hyb_qkdw *w);
/* Stops the workers: idle ones exit at once; waits at most wait_ms for busy ones, then leaves
 * them (and the pool) to process exit. Returns true when all stopped (pool freed). */
bool hyb_qkdw_stop(struct hyb_qkdw *w, uint32_t wait_ms);

struct hyb_qjob *hyb_qjob_new(enum hyb_qjob_kind kind);
void hyb_qjob_free(struct hyb_qjob *j);

#endif
