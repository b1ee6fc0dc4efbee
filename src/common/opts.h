/* opts.h: program options from flags and environment variables (docker-compose style); flags
 * win over the environment, which wins over defaults. A bad value stops the program with a
 * message naming the option and the value. Also --help and --version. */
#ifndef QKD_OPTS_H
#define QKD_OPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum qkd_opt_type {
    QKD_OPT_STR,  /* const char ** */
    QKD_OPT_U32,  /* uint32_t * */
    QKD_OPT_U64,  /* uint64_t * */
    QKD_OPT_BOOL, /* bool *; flag without value, env "1/true/yes/0/false/no" */
    QKD_OPT_LIST, /* struct qkd_strlist *; repeatable, env split on ';' */
};

struct qkd_strlist {
    const char *items[32];
    int n;
};

struct qkd_opt {
    const char *name; /* long flag without "--" */
    const char *env;  /* environment variable or NULL */
    enum qkd_opt_type type;
    void *dst;
    const char *help;
    /* Optional bounds for numbers (both 0 = none). */
    uint64_t min, max;
};

struct qkd_prog {
    const char *name;  /* program name */
    const char *usage; /* one line after the name */
    const char *description;
    const char *examples; /* may be NULL */
};

/* Parses argv; options must be terminated by an entry with name NULL. Positional arguments
 * (after options or after "--") are returned: *pos_start is the first index into argv.
 * Exits 0 after --help / --version, exits 1 on an error with "[ERROR] ..." naming option and
 * value. Defaults are what dst holds before the call. An empty environment variable counts as
 * unset; an empty flag value ("--port=") is a value (and an error for numbers). */
void qkd_opts_parse(const struct qkd_prog *prog, const struct qkd_opt *opts, int argc, char **argv,
                    int *pos_start);
void qkd_opts_usage(const struct qkd_prog *prog, const struct qkd_opt *opts, FILE *out);
/* The non-exiting core of qkd_opts_parse (for tests and embedding): returns 0 when parsed,
 * 1 after printing --help / --version to out, -1 on an error with the whole error line
 * ("[ERROR] prog: ...", no newline) in err. env may be NULL (getenv) or a lookup function. */
typedef const char *(*qkd_opts_getenv_fn)(const char *name);
int qkd_opts_parse_r(const struct qkd_prog *prog, const struct qkd_opt *opts, int argc, char **argv,
                     int *pos_start, FILE *out, qkd_opts_getenv_fn env, char *err, size_t errlen);

#endif
