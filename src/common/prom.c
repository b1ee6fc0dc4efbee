/* prom.c: the Prometheus text exposition writer of prom.h (docs/observability.md). */
#include "prom.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void qkd_prom_family(struct qkd_sbuf *b, const char *name, const char *type, const char *help)
{
    qkd_sbuf_printf(b, "# HELP %s ", name);
    for (const char *p = help; *p; p++) { /* HELP escapes \\ and \n only */
        if (*p == '\\')
            qkd_sbuf_puts(b, "\\\\");
        else if (*p == '\n')
            qkd_sbuf_puts(b, "\\n");
        else
            qkd_sbuf_add(b, p, 1);
    }
    qkd_sbuf_printf(b, "\n# TYPE %s %s\n", name, type);
}

void qkd_prom_escape(struct qkd_sbuf *b, const char *s)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\\')
            qkd_sbuf_puts(b, "\\\\");
        else if (*p == '"')
            qkd_sbuf_puts(b, "\\\"");
        else if (*p == '\n')
            qkd_sbuf_puts(b, "\\n");
        else
            qkd_sbuf_add(b, p, 1);
    }
}

static void value(struct qkd_sbuf *b, double v)
{
    if (isnan(v))
        qkd_sbuf_puts(b, "NaN");
    else if (isinf(v))
        qkd_sbuf_puts(b, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 9007199254740992.0)
        qkd_sbuf_printf(b, "%.0f", v);
    else
        qkd_sbuf_printf(b, "%.15g", v);
}

static void labels_open(struct qkd_sbuf *b, const struct qkd_prom_label *l, int n, int more)
{
    if (n == 0 && !more) return;
    qkd_sbuf_puts(b, "{");
    for (int i = 0; i < n; i++) {
        qkd_sbuf_printf(b, "%s%s=\"", i ? "," : "", l[i].name);
        qkd_prom_escape(b, l[i].value ? l[i].value : "");
        qkd_sbuf_puts(b, "\"");
    }
    if (!more) qkd_sbuf_puts(b, "}");
}

void qkd_prom_sample(struct qkd_sbuf *b, const char *name, const struct qkd_prom_label *labels,
                     int n, double v)
{
    qkd_sbuf_puts(b, name);
    labels_open(b, labels, n, 0);
    qkd_sbuf_puts(b, " ");
    value(b, v);
    qkd_sbuf_puts(b, "\n");
}

void qkd_prom_one(struct qkd_sbuf *b, const char *name, const char *type, const char *help,
                  double v)
{
    qkd_prom_family(b, name, type, help);
    qkd_prom_sample(b, name, NULL, 0, v);
}

void qkd_prom_hist_init(struct qkd_prom_hist *h, const double *bounds, int nb)
{
    memset(h, 0, sizeof *h);
    if (nb > QKD_PROM_MAX_BUCKETS) nb = QKD_PROM_MAX_BUCKETS;
    h->nb = nb;
    memcpy(h->bounds, bounds, (size_t)nb * sizeof *bounds);
}

void qkd_prom_hist_observe(struct qkd_prom_hist *h, double v)
{
    h->count++;
    h->sum += v;
    for (int i = 0; i < h->nb; i++)
        if (v <= h->bounds[i]) {
            h->counts[i]++;
            return;
        }
}

void qkd_prom_hist_write(struct qkd_sbuf *b, const char *name, const struct qkd_prom_label *labels,
                         int n, const struct qkd_prom_hist *h)
{
    uint64_t cum = 0;
    for (int i = 0; i <= h->nb; i++) {
        cum = i < h->nb ? cum + h->counts[i] : h->count;
        qkd_sbuf_printf(b, "%s_bucket", name);
        labels_open(b, labels, n, 1);
        qkd_sbuf_puts(b, n ? ",le=\"" : "le=\"");
        if (i < h->nb)
            value(b, h->bounds[i]);
        else
            qkd_sbuf_puts(b, "+Inf");
        qkd_sbuf_printf(b, "\"} %llu\n", (unsigned long long)cum);
    }
    qkd_sbuf_printf(b, "%s_sum", name);
    labels_open(b, labels, n, 0);
    qkd_sbuf_puts(b, " ");
    value(b, h->sum);
    qkd_sbuf_printf(b, "\n%s_count", name);
    labels_open(b, labels, n, 0);
    qkd_sbuf_printf(b, " %llu\n", (unsigned long long)h->count);
}
