/* hyb_test.h: small helpers shared by the src/hybrid unit tests (hex decoding, fixed test
 * patterns, temporary directories). Header-only; include after the CMocka headers. */
#ifndef HYB_TEST_H
#define HYB_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Decodes hex (upper or lower case) into a malloc'ed buffer; *len gets its size. */
static inline uint8_t *hyb_hex(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    uint8_t *b = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        b[i] = (uint8_t)v;
    }
    *len = n;
    return b;
}

/* Lower-case hex of b into a static buffer (tests only; up to 8 KiB of input). */
static inline const char *hyb_tohex(const uint8_t *b, size_t n)
{
    static char out[2 * 8192 + 1];
    if (n > 8192) n = 8192;
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    out[2 * n] = '\0';
    return out;
}

/* A fresh directory under $TMPDIR (or /tmp); path into buf. Returns 0 on success. */
static inline int hyb_tmpdir(char *buf, size_t len)
{
    const char *t = getenv("TMPDIR");
    snprintf(buf, len, "%s/qkd-hyb-test-XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(buf) ? 0 : -1;
}

/* Writes text to dir/name; full path into path. Returns 0 on success. */
static inline int hyb_write_file(const char *dir, const char *name, const char *text, char *path,
                                 size_t len)
{
    FILE *f;
    snprintf(path, len, "%s/%s", dir, name);
    if ((f = fopen(path, "w")) == NULL) return -1;
    fputs(text, f);
    return fclose(f);
}

/* Removes every file in dir, then dir (no subdirectories expected). */
static inline void hyb_rmdir(const char *dir)
{
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

#endif
