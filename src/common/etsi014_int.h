/* etsi014_int.h: helpers shared by the ETSI 014 codec's files (etsi014.c, etsi014_req.c,
 * etsi014_json.c); not part of the codec's interface (docs/etsi014.md). */
#ifndef QKD_ETSI014_INT_H
#define QKD_ETSI014_INT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "etsi014.h"

/* Formats a one-line message into msg (when n > 0) and returns status. */
int etsi014_fail(char *msg, size_t n, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* 1 when the len bytes at s are well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int etsi014_utf8_valid(const uint8_t *s, size_t len);
/* The length of the well-formed UTF-8 sequence at s (1..4), or 0 when it is not one. */
size_t etsi014_utf8_seq(const uint8_t *s, size_t len);

/* Checks an SAE id of len bytes (what names it in msg): not empty, not blank (only spaces and
 * tabs), at most ETSI014_SAE_MAX bytes, no control byte (< 0x20, 0x7f), UTF-8. 0 or 400. */
int etsi014_id_check(const char *s, size_t len, const char *what, char *msg, size_t n);

/* Parses a JSON request body: *root NULL and 0 for an empty or all-whitespace body; an object
 * with nothing but whitespace after it → 0; anything else → 400 + msg. */
int etsi014_json_body(const uint8_t *body, size_t len, cJSON **root, char *msg, size_t n);
/* How many members of obj are named name (case-sensitive). */
int etsi014_json_count(const cJSON *obj, const char *name);
/* Appends s as a JSON string (quoted, escaped). */
void etsi014_json_str(struct qkd_sbuf *out, const char *s);

#endif
