/* cli.h: pieces of the qkd-client program: its output sink (text lines, base64, raw bytes or
 * one JSON object, to stdout or a 0600 file, with buffers that are wiped) and the progress
 * bar. The calls themselves live in cli_main.c. */
#ifndef QKD_CLI_H
#define QKD_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qkd/types.h"

enum cli_format { CLI_FMT_HEX = 0, CLI_FMT_BASE64, CLI_FMT_RAW };

struct cli_out;

/* Opens the sink: path NULL or "-" = stdout; a file is created or truncated with mode 0600.
 * Returns NULL with a reason in err. */
struct cli_out *cli_out_open(const char *path, enum cli_format fmt, bool json, char *err,
                             size_t errlen);
/* Text: prints the KSID line (raw format: to stderr). JSON: sets "ksid". */
int cli_out_ksid(struct cli_out *o, const struct qkd_ksid *k);
/* JSON only: "status" and "qos". */
void cli_out_status(struct cli_out *o, uint32_t status);
void cli_out_qos(struct cli_out *o, const struct qkd_qos *q);
/* JSON only: "error" (a transport error text). */
void cli_out_error(struct cli_out *o, const char *msg);
/* One key: text "<index> <key>", raw bytes, or a JSON array entry (metadata parsed as JSON
 * when it is, else null). Returns 0 or -1 on a write error. */
int cli_out_key(struct cli_out *o, uint32_t index, const uint8_t *key, size_t len,
                const char *metadata, size_t mdlen);
/* Flushes text output so far (used when interrupted). */
int cli_out_flush(struct cli_out *o);
/* Writes the JSON object (if JSON), flushes, closes. Returns 0 or -1 with a reason. */
int cli_out_finish(struct cli_out *o, char *err, size_t errlen);
/* Wipes and frees (after finish, or instead of it on a fatal error). */
void cli_out_free(struct cli_out *o);

/* Progress bar on stderr, only when stderr is a terminal and total >= threshold. */
struct cli_progress {
    bool on;
    uint64_t total;
    uint64_t last_ms;
};
#define CLI_PROGRESS_MIN_COUNT 100
void cli_progress_start(struct cli_progress *p, uint64_t total);
void cli_progress_update(struct cli_progress *p, uint64_t done);
void cli_progress_end(struct cli_progress *p);

#endif
