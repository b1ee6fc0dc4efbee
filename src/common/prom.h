/* prom.h: the Prometheus text exposition writer (format 0.0.4; docs/observability.md): family
 * headers (# HELP, # TYPE), samples with escaped label values, histograms with fixed buckets.
 * Metric values only: no key bytes or KSIDs ever reach a label. */
#ifndef QKD_PROM_H
#define QKD_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"

#define QKD_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define QKD_PROM_MAX_BUCKETS  16

struct qkd_prom_label {
    const char *name, *value;
};

/* "# HELP name help\n# TYPE name type\n"; type is counter, gauge or histogram. */
void qkd_prom_family(struct qkd_sbuf *b, const char *name, const char *type, const char *help);
/* name{l1="v1",...} value; n labels (0 = none). */
void qkd_prom_sample(struct qkd_sbuf *b, const char *name, const struct qkd_prom_label *labels,
                     int n, double value);
/* One family with one unlabelled sample. */
void qkd_prom_one(struct qkd_sbuf *b, const char *name, const char *type, const char *help,
                  double value);
/* Appends a label value with \\, \" and \n escaped. */
void qkd_prom_escape(struct qkd_sbuf *b, const char *s);

/* A histogram with fixed upper bounds (seconds, ascending); +Inf is implicit. */
struct qkd_prom_hist {
    int nb;
    double bounds[QKD_PROM_MAX_BUCKETS];
    uint64_t counts[QKD_PROM_MAX_BUCKETS]; /* per bucket, not cumulative */
    uint64_t count;
    double sum;
};
void qkd_prom_hist_init(struct qkd_prom_hist *h, const double *bounds, int nb);
void qkd_prom_hist_observe(struct qkd_prom_hist *h, double v);
/* name_bucket{labels,le=".."} (cumulative), name_sum, name_count; no family header. */
void qkd_prom_hist_write(struct qkd_sbuf *b, const char *name, const struct qkd_prom_label *labels,
                         int n, const struct qkd_prom_hist *h);

/* Reading an exposition (prom_parse.c, for qkd-status): limits of one sample line. */
#define QKD_PROM_PARSE_MAX_LINE   1024
#define QKD_PROM_PARSE_MAX_LABELS 8
struct qkd_prom_sample_view {
    char name[128];
    int nlabels;
    char lk[QKD_PROM_PARSE_MAX_LABELS][32];
    char lv[QKD_PROM_PARSE_MAX_LABELS][128];
    double value;
};
/* Returns non-zero to stop. */
typedef int (*qkd_prom_sample_fn)(const struct qkd_prom_sample_view *s, void *arg);
/* Calls fn for every sample of text; returns the number of samples, or -1 at the first
 * malformed or over-long line. */
int qkd_prom_parse(const char *text, size_t len, qkd_prom_sample_fn fn, void *arg);
/* The value of label name of s, or NULL. */
const char *qkd_prom_label_get(const struct qkd_prom_sample_view *s, const char *name);

#endif
