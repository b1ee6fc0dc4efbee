/* prom_parse.c: a reader of the Prometheus text exposition (prom.h; docs/observability.md) for
 * qkd-status: each sample line into name, labels and value, through the bounded reader of
 * bytes.h. Comments and blank lines are skipped; timestamps are ignored. */
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "prom.h"

/* Reads one line (without '\n') into buf; returns its length, or -1 at the end of the input
 * or when longer than cap - 1. */
static int read_line(struct qkd_reader *r, char *buf, size_t cap)
{
    size_t n = 0;
    uint8_t c;
    if (qkd_reader_left(r) == 0) return -1;
    while (qkd_reader_left(r) > 0 && qkd_read_u8(r, &c) == 0 && c != '\n') {
        if (n + 1 >= cap) return -2;
        buf[n++] = (char)c;
    }
    buf[n] = '\0';
    return (int)n;
}

static int is_name(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

/* Copies a name starting at *p into out (cap bytes); -1 when empty or too long. */
static int take_name(const char **p, char *out, size_t cap)
{
    size_t n = 0;
    while (is_name(**p, n == 0)) {
        if (n + 1 >= cap) return -1;
        out[n++] = *(*p)++;
    }
    out[n] = '\0';
    return n ? 0 : -1;
}

static int parse_sample(const char *p, struct qkd_prom_sample_view *s)
{
    memset(s, 0, sizeof *s);
    if (take_name(&p, s->name, sizeof s->name) != 0) return -1;
    if (*p == '{') {
        p++;
        while (*p != '}') {
            if (s->nlabels >= QKD_PROM_PARSE_MAX_LABELS) return -1;
            int i = s->nlabels++;
            if (take_name(&p, s->lk[i], sizeof s->lk[i]) != 0 || *p++ != '=' || *p++ != '"')
                return -1;
            size_t n = 0;
            while (*p != '"') {
                char c = *p++;
                if (c == '\0') return -1;
                if (c == '\\') {
                    c = *p++;
                    if (c == 'n')
                        c = '\n';
                    else if (c != '\\' && c != '"')
                        return -1;
                }
                if (n + 1 >= sizeof s->lv[i]) return -1;
                s->lv[i][n++] = c;
            }
            s->lv[i][n] = '\0';
            p++;
            if (*p == ',')
                p++;
            else if (*p != '}')
                return -1;
        }
        p++;
    }
    if (*p++ != ' ') return -1;
    char *end;
    if (strncmp(p, "+Inf", 4) == 0 || strncmp(p, "-Inf", 4) == 0 || strncmp(p, "NaN", 3) == 0) {
        s->value = strtod(p[0] == '+' ? p + 1 : p, &end);
    } else {
        s->value = strtod(p, &end);
    }
    if (end == p || (*end != '\0' && *end != ' ')) return -1;
    return 0;
}

int qkd_prom_parse(const char *text, size_t len, qkd_prom_sample_fn fn, void *arg)
{
    struct qkd_reader r;
    qkd_reader_init(&r, (const uint8_t *)text, len);
    char line[QKD_PROM_PARSE_MAX_LINE];
    int count = 0, n;
    while ((n = read_line(&r, line, sizeof line)) != -1) {
        if (n == -2) return -1;
        if (n == 0 || line[0] == '#') continue;
        struct qkd_prom_sample_view s;
        if (parse_sample(line, &s) != 0) return -1;
        count++;
        if (fn && fn(&s, arg) != 0) break;
    }
    return count;
}

const char *qkd_prom_label_get(const struct qkd_prom_sample_view *s, const char *name)
{
    for (int i = 0; i < s->nlabels; i++)
        if (strcmp(s->lk[i], name) == 0) return s->lv[i];
    return NULL;
}
