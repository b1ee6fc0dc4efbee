/* qkdw.c: the QKD worker pool: a mutex-protected job queue, N threads each owning one
 * qkd004_conn (libqkd004 is blocking and not thread-safe per connection), and a done queue
 * drained on the loop thread when the workers signal an eventfd. */
#include "qkdw.h"

#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define QKDW_KEY_CAP 8192 /* largest QKD chunk accepted from the key server */

struct hyb_qkdw {
    struct qkd_loop *loop;
    struct qkd004_config cfg;
    char server[300], cert[1024], key[1024], ca[1024];
    hyb_qkdw_done_fn done;
    void *arg;
    int efd;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct hyb_qjob *q_head, *q_tail; /* waiting */
    struct hyb_qjob *d_head, *d_tail; /* finished */
    unsigned busy;                    /* queued + running */
    unsigned nthreads, alive;
    bool stop;
    pthread_t th[HYB_QKDW_MAX_WORKERS];
};

struct hyb_qjob *hyb_qjob_new(enum hyb_qjob_kind kind)
{
    struct hyb_qjob *j = calloc(1, sizeof(*j));
    if (j) j->kind = kind;
    return j;
}

void hyb_qjob_free(struct hyb_qjob *j)
{
    if (!j) return;
    qkd_secbuf_free(j->key);
    free(j);
}

static void qkdw_run(struct qkd004_conn *c, struct hyb_qjob *j)
{
    j->rc = QKD004_OK;
    if (j->kind == HYB_QJ_OPEN || (j->kind == HYB_QJ_GET && j->open_first)) {
        struct qkd_qos qos = j->qos;
        struct qkd_ksid ksid = j->ksid;
        uint32_t st = 0;
        j->rc = qkd004_open_connect(c, j->source, j->destination, &qos, &ksid, &st);
        if (j->rc == QKD004_OK) {
            j->status = st;
            j->out_qos = qos;
            j->out_ksid = ksid;
        }
        if (j->kind == HYB_QJ_OPEN) goto out;
        if (j->rc != QKD004_OK) goto out;
        if (!qkd_status_ok(st) && st != QKD_STATUS_KSID_IN_USE) goto out;
    }
    if (j->kind == HYB_QJ_GET) {
        struct qkd_secbuf *buf = qkd_secbuf_new(QKDW_KEY_CAP);
        if (!buf) {
            j->rc = QKD004_ERR_NOMEM;
            goto out;
        }
        uint32_t idx = j->index, st = 0, msz = 0;
        size_t klen = 0;
        j->rc = qkd004_get_key(c, &j->ksid, &idx, buf->data, buf->len, &klen, NULL, &msz, &st);
        j->status = st;
        if (j->rc == QKD004_OK && st == QKD_STATUS_SUCCESS && klen > 0 && idx == j->index) {
            j->key = qkd_secbuf_dup(buf->data, klen);
            if (!j->key) j->rc = QKD004_ERR_NOMEM;
        } else if (j->rc == QKD004_OK && st == QKD_STATUS_SUCCESS) {
            j->status = QKD_STATUS_INSUFFICIENT_KEY; /* empty key or wrong index: unusable */
        }
        qkd_secbuf_free(buf);
    } else if (j->kind == HYB_QJ_CLOSE) {
        uint32_t st = 0;
        j->rc = qkd004_close(c, &j->ksid, &st);
        j->status = st;
    }
out:
    if (j->rc != QKD004_OK)
        snprintf(j->err, sizeof(j->err), "%s: %s", qkd004_strerror(j->rc), qkd004_last_error(c));
}

static void *qkdw_thread(void *arg)
{
    struct hyb_qkdw *w = arg;
    char err[256];
    struct qkd004_conn *c = qkd004_new(&w->cfg, err, sizeof(err));
    if (!c) log_error("QKD worker: cannot create a key-server connection: %s", err);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->stop && w->q_head == NULL)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->stop) break;
        struct hyb_qjob *j = w->q_head;
        w->q_head = j->next;
        if (!w->q_head) w->q_tail = NULL;
        j->next = NULL;
        pthread_mutex_unlock(&w->mu);
        struct timespec ts0, ts1;
        clock_gettime(CLOCK_MONOTONIC, &ts0);
        if (c) {
            qkdw_run(c, j);
        } else {
            j->rc = QKD004_ERR_ARG;
            snprintf(j->err, sizeof(j->err), "no key-server connection");
        }
        clock_gettime(CLOCK_MONOTONIC, &ts1);
        j->elapsed_us = (uint64_t)(ts1.tv_sec - ts0.tv_sec) * 1000000u +
                        (uint64_t)((ts1.tv_nsec - ts0.tv_nsec) / 1000);
        pthread_mutex_lock(&w->mu);
        if (w->d_tail)
            w->d_tail->next = j;
        else
            w->d_head = j;
        w->d_tail = j;
        uint64_t one = 1;
        if (write(w->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            log_warn("QKD worker: cannot signal the loop: %s", strerror(errno));
    }
    w->alive--;
    pthread_mutex_unlock(&w->mu);
    qkd004_free(c);
    return NULL;
}

static void qkdw_drain(struct qkd_loop *loop, int fd, int events, void *arg)
{
    struct hyb_qkdw *w = arg;
    uint64_t v;
    if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        log_warn("QKD workers: eventfd read: %s", strerror(errno));
    pthread_mutex_lock(&w->mu);
    struct hyb_qjob *j = w->d_head;
    w->d_head = w->d_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    while (j) {
        struct hyb_qjob *next = j->next;
        j->next = NULL;
        pthread_mutex_lock(&w->mu);
        w->busy--;
        pthread_mutex_unlock(&w->mu);
        w->done(j, w->arg);
        j = next;
    }
}

struct hyb_qkdw *hyb_qkdw_new(struct qkd_loop *loop, const struct qkd004_config *cfg, unsigned n,
                              hyb_qkdw_done_fn done, void *arg, char *err, size_t errlen)
{
    if (n < 1 || n > HYB_QKDW_MAX_WORKERS || !cfg->server || !cfg->cert || !cfg->key || !cfg->ca) {
        snprintf(err, errlen, "bad QKD worker settings");
        return NULL;
    }
    struct hyb_qkdw *w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->loop = loop;
    w->cfg = *cfg;
    snprintf(w->server, sizeof(w->server), "%s", cfg->server);
    snprintf(w->cert, sizeof(w->cert), "%s", cfg->cert);
    snprintf(w->key, sizeof(w->key), "%s", cfg->key);
    snprintf(w->ca, sizeof(w->ca), "%s", cfg->ca);
    w->cfg.server = w->server;
    w->cfg.cert = w->cert;
    w->cfg.key = w->key;
    w->cfg.ca = w->ca;
    w->cfg.server_name = NULL;
    w->done = done;
    w->arg = arg;
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->efd < 0 || pthread_mutex_init(&w->mu, NULL) != 0 ||
        pthread_cond_init(&w->cv, NULL) != 0) {
        snprintf(err, errlen, "cannot create the worker queue: %s", strerror(errno));
        free(w);
        return NULL;
    }
    if (qkd_loop_add_fd(loop, w->efd, QKD_EV_READ, qkdw_drain, w) != 0) {
        snprintf(err, errlen, "cannot watch the worker eventfd");
        close(w->efd);
        free(w);
        return NULL;
    }
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&w->th[i], NULL, qkdw_thread, w) != 0) {
            snprintf(err, errlen, "cannot start QKD worker %u", i);
            hyb_qkdw_stop(w, 1000);
            return NULL;
        }
        w->nthreads++;
        pthread_mutex_lock(&w->mu);
        w->alive++;
        pthread_mutex_unlock(&w->mu);
    }
    return w;
}

int hyb_qkdw_submit(struct hyb_qkdw *w, struct hyb_qjob *j)
{
    if (!w || !j) return -1;
    j->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->stop) {
        pthread_mutex_unlock(&w->mu);
        return -1;
    }
    if (w->q_tail)
        w->q_tail->next = j;
    else
        w->q_head = j;
    w->q_tail = j;
    w->busy++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

unsigned hyb_qkdw_busy(struct hyb_qkdw *w)
{
    pthread_mutex_lock(&w->mu);
    unsigned b = w->busy;
    pthread_mutex_unlock(&w->mu);
    return b;
}

bool hyb_qkdw_stop(struct hyb_qkdw *w, uint32_t wait_ms)
{
    if (!w) return true;
    qkd_loop_del_fd(w->loop, w->efd);
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    uint64_t end = qkd_now_ms() + wait_ms;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        unsigned alive = w->alive;
        pthread_mutex_unlock(&w->mu);
        if (alive == 0) break;
        if (qkd_now_ms() >= end) return false; /* busy workers end with the process */
        usleep(10000);
    }
    for (unsigned i = 0; i < w->nthreads; i++)
        pthread_join(w->th[i], NULL);
    struct hyb_qjob *lists[2] = {w->q_head, w->d_head};
    for (int k = 0; k < 2; k++)
        for (struct hyb_qjob *j = lists[k]; j;) {
            struct hyb_qjob *next = j->next;
            hyb_qjob_free(j);
            j = next;
        }
    close(w->efd);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
    return true;
}
