/* opts.c: program options from long flags ("--name value", "--name=value") and environment
 * variables; flags win over the environment, which wins over defaults (what dst holds before
 * parsing). Strict number parsing with bounds, --help and --version. */
#include "opts.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define QKD_OPTS_LIST_MAX ((int)(sizeof(((struct qkd_strlist *)0)->items) / sizeof(char *)))
/* Most options a table may hold (for the per-option "set by a flag" marks). */
#define QKD_OPTS_MAX 128

/* Strings split off environment lists live for the life of the program. */
static char **g_env_strings;
static size_t g_env_nstrings, g_env_cap;

static char *opts_keep_string(const char *s, size_t len)
{
    if (g_env_nstrings == g_env_cap) {
        size_t cap = g_env_cap ? g_env_cap * 2 : 16;
        char **n = realloc(g_env_strings, cap * sizeof(*n));
        if (n == NULL) return NULL;
        g_env_strings = n;
        g_env_cap = cap;
    }
    char *c = strndup(s, len);
    if (c == NULL) return NULL;
    g_env_strings[g_env_nstrings++] = c;
    return c;
}

static void opts_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void opts_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* " (ENV)" or "" */
static void opts_env_note(const struct qkd_opt *o, char *buf, size_t len)
{
    if (o->env != NULL)
        snprintf(buf, len, " (%s)", o->env);
    else
        buf[0] = '\0';
}

static void opts_bad_value(const struct qkd_prog *prog, const struct qkd_opt *o, const char *value,
                           const char *reason, char *err, size_t errlen)
{
    char note[128];
    opts_env_note(o, note, sizeof(note));
    opts_err(err, errlen, "[ERROR] %s: invalid value '%s' for --%s%s: %s", prog->name, value,
             o->name, note, reason);
}

/* Strict unsigned decimal: digits only, no sign, no spaces, no overflow past max_value. */
static int opts_parse_uint(const char *s, uint64_t max_value, uint64_t *out, const char **reason)
{
    if (s[0] == '\0') {
        *reason = "empty, expected a decimal number";
        return -1;
    }
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') {
            *reason = "not a decimal number";
            return -1;
        }
        unsigned d = (unsigned)(*p - '0');
        if (v > (max_value - d) / 10) {
            *reason = "number too large";
            return -1;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int opts_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* Stores value into o->dst. from_env: LIST values are split on ';'. */
static int opts_set(const struct qkd_prog *prog, const struct qkd_opt *o, const char *value,
                    bool from_env, char *err, size_t errlen)
{
    const char *reason = NULL;
    switch (o->type) {
    case QKD_OPT_STR:
        *(const char **)o->dst = value;
        return 0;
    case QKD_OPT_U32:
    case QKD_OPT_U64: {
        uint64_t v;
        uint64_t lim = o->type == QKD_OPT_U32 ? UINT32_MAX : UINT64_MAX;
        if (opts_parse_uint(value, lim, &v, &reason) != 0) {
            opts_bad_value(prog, o, value, reason, err, errlen);
            return -1;
        }
        if ((o->min != 0 || o->max != 0) && (v < o->min || v > o->max)) {
            char why[96];
            snprintf(why, sizeof(why), "out of range %llu..%llu", (unsigned long long)o->min,
                     (unsigned long long)o->max);
            opts_bad_value(prog, o, value, why, err, errlen);
            return -1;
        }
        if (o->type == QKD_OPT_U32)
            *(uint32_t *)o->dst = (uint32_t)v;
        else
            *(uint64_t *)o->dst = v;
        return 0;
    }
    case QKD_OPT_BOOL: {
        bool b;
        if (opts_parse_bool(value, &b) != 0) {
            opts_bad_value(prog, o, value, "expected 1/true/yes or 0/false/no", err, errlen);
            return -1;
        }
        *(bool *)o->dst = b;
        return 0;
    }
    case QKD_OPT_LIST: {
        struct qkd_strlist *l = o->dst;
        if (!from_env) {
            if (l->n >= QKD_OPTS_LIST_MAX) goto too_many;
            l->items[l->n++] = value;
            return 0;
        }
        const char *p = value;
        while (*p) {
            const char *e = strchr(p, ';');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (len > 0) {
                if (l->n >= QKD_OPTS_LIST_MAX) goto too_many;
                char *c = opts_keep_string(p, len);
                if (c == NULL) {
                    opts_err(err, errlen, "[ERROR] %s: out of memory", prog->name);
                    return -1;
                }
                l->items[l->n++] = c;
            }
            p += len;
            if (*p == ';') p++;
        }
        return 0;
    too_many : {
        char why[64];
        snprintf(why, sizeof(why), "too many values (at most %d)", QKD_OPTS_LIST_MAX);
        opts_bad_value(prog, o, value, why, err, errlen);
        return -1;
    }
    }
    }
    opts_err(err, errlen, "[ERROR] %s: option --%s has an unknown type", prog->name, o->name);
    return -1;
}

static const struct qkd_opt *opts_find(const struct qkd_opt *opts, const char *name, size_t len)
{
    for (const struct qkd_opt *o = opts; o->name != NULL; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) return o;
    return NULL;
}

static void opts_print_default(const struct qkd_opt *o, FILE *out)
{
    switch (o->type) {
    case QKD_OPT_STR: {
        const char *s = *(const char **)o->dst;
        fprintf(out, "%s", s ? s : "(none)");
        break;
    }
    case QKD_OPT_U32:
        fprintf(out, "%u", (unsigned)*(uint32_t *)o->dst);
        break;
    case QKD_OPT_U64:
        fprintf(out, "%llu", (unsigned long long)*(uint64_t *)o->dst);
        break;
    case QKD_OPT_BOOL:
        fprintf(out, "%s", *(bool *)o->dst ? "true" : "false");
        break;
    case QKD_OPT_LIST: {
        const struct qkd_strlist *l = o->dst;
        if (l->n == 0) fprintf(out, "(none)");
        for (int i = 0; i < l->n; i++)
            fprintf(out, "%s%s", i ? ";" : "", l->items[i]);
        break;
    }
    }
}

static const char *opts_metavar(enum qkd_opt_type t)
{
    switch (t) {
    case QKD_OPT_STR:
        return " VALUE";
    case QKD_OPT_U32:
    case QKD_OPT_U64:
        return " N";
    case QKD_OPT_LIST:
        return " VALUE (repeatable; env: ';'-separated)";
    case QKD_OPT_BOOL:
        return "";
    }
    return "";
}

void qkd_opts_usage(const struct qkd_prog *prog, const struct qkd_opt *opts, FILE *out)
{
    fprintf(out, "%s - %s\n\n", prog->name, prog->description ? prog->description : "");
    fprintf(out, "Usage: %s %s\n\nOptions (flag, environment variable, default):\n", prog->name,
            prog->usage ? prog->usage : "[options]");
    for (const struct qkd_opt *o = opts; o->name != NULL; o++) {
        fprintf(out, "  --%s%s\n", o->name, opts_metavar(o->type));
        fprintf(out, "      env: %s, default: ", o->env ? o->env : "(none)");
        opts_print_default(o, out);
        if ((o->type == QKD_OPT_U32 || o->type == QKD_OPT_U64) && (o->min != 0 || o->max != 0))
            fprintf(out, ", range: %llu..%llu", (unsigned long long)o->min,
                    (unsigned long long)o->max);
        fprintf(out, "\n      %s\n", o->help ? o->help : "");
    }
    fprintf(out, "  --help\n      print this help and exit\n");
    fprintf(out, "  --version\n      print the version and exit\n");
    if (prog->examples != NULL && prog->examples[0] != '\0') {
        size_t n = strlen(prog->examples);
        fprintf(out, "\nExamples:\n%s%s", prog->examples,
                prog->examples[n - 1] == '\n' ? "" : "\n");
    }
}

static const char *opts_default_getenv(const char *name)
{
    return getenv(name);
}

int qkd_opts_parse_r(const struct qkd_prog *prog, const struct qkd_opt *opts, int argc, char **argv,
                     int *pos_start, FILE *out, qkd_opts_getenv_fn env, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0) err[0] = '\0';
    if (env == NULL) env = opts_default_getenv;
    if (out == NULL) out = stdout;
    if (pos_start != NULL) *pos_start = argc;

    size_t nopts = 0;
    while (opts[nopts].name != NULL)
        nopts++;
    if (nopts > QKD_OPTS_MAX) {
        opts_err(err, errlen, "[ERROR] %s: too many options in table (%zu > %d)", prog->name, nopts,
                 QKD_OPTS_MAX);
        return -1;
    }

    /* --help / --version first, so that help shows the defaults before env and flags. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            qkd_opts_usage(prog, opts, out);
            fflush(out);
            return 1;
        }
        if (strcmp(argv[i], "--version") == 0) {
            fprintf(out, "%s %s\n", prog->name, QKD_VERSION);
            fflush(out);
            return 1;
        }
    }

    /* Environment over defaults. */
    for (size_t k = 0; k < nopts; k++) {
        const struct qkd_opt *o = &opts[k];
        if (o->env == NULL) continue;
        const char *v = env(o->env);
        if (v == NULL || v[0] == '\0') continue; /* empty = unset (compose "${X:-}") */
        if (o->type == QKD_OPT_LIST) ((struct qkd_strlist *)o->dst)->n = 0;
        if (opts_set(prog, o, v, true, err, errlen) != 0) return -1;
    }

    /* Flags over the environment. */
    bool list_from_flag[QKD_OPTS_MAX] = {false};
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || strcmp(a, "-") == 0) break; /* first positional argument */
        if (a[1] != '-') {
            opts_err(err, errlen, "[ERROR] %s: unknown option '%s' (see --help)", prog->name, a);
            return -1;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct qkd_opt *o = opts_find(opts, name, nlen);
        if (o == NULL) {
            opts_err(err, errlen, "[ERROR] %s: unknown option '--%.*s' (see --help)", prog->name,
                     (int)nlen, name);
            return -1;
        }
        const char *value;
        if (eq != NULL) {
            value = eq + 1;
        } else if (o->type == QKD_OPT_BOOL) {
            value = "1";
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            value = argv[++i];
        } else {
            char note[128];
            opts_env_note(o, note, sizeof(note));
            opts_err(err, errlen, "[ERROR] %s: missing value for --%s%s", prog->name, o->name,
                     note);
            return -1;
        }
        if (o->type == QKD_OPT_LIST) {
            size_t k = (size_t)(o - opts);
            if (!list_from_flag[k]) {
                /* the first flag replaces what the environment gave */
                ((struct qkd_strlist *)o->dst)->n = 0;
                list_from_flag[k] = true;
            }
        }
        if (opts_set(prog, o, value, false, err, errlen) != 0) return -1;
    }
    if (pos_start != NULL) *pos_start = i;
    return 0;
}

void qkd_opts_parse(const struct qkd_prog *prog, const struct qkd_opt *opts, int argc, char **argv,
                    int *pos_start)
{
    char err[1024];
    int r = qkd_opts_parse_r(prog, opts, argc, argv, pos_start, stdout, NULL, err, sizeof(err));
    if (r == 1) exit(0);
    if (r < 0) {
        /* one write so the line stays whole beside other processes' output */
        size_t n = strnlen(err, sizeof(err) - 1);
        err[n] = '\n';
        ssize_t w = write(STDERR_FILENO, err, n + 1);
        (void)w;
        exit(1);
    }
}
