/* json_msg.h: the KDFix-compatible JSON messages of qkd-hybrid's optional JSON listener
 * (docs/hybrid.md, "Calling the daemon"): finding one JSON object in a byte stream, parsing a
 * request {"command": ..., "data": {...}}, and formatting the replies exactly as the Python
 * module's json.dumps does ({"status": 0, "key_stream_id": "..."}). Pure functions, no I/O. */
#ifndef HYB_JSON_MSG_H
#define HYB_JSON_MSG_H

#include "bytes.h"

#include <qkd/types.h>
#include <stddef.h>
#include <stdint.h>

#define HYB_JSON_URI_MAX 1024

/* Looks for one whole JSON object at the start of buf (after whitespace). Returns 1 and sets
 * *start / *len when one is complete, 0 when more bytes are needed, -1 when the bytes cannot
 * start an object (*len = bytes to discard: up to the next '{' or all). */
int hyb_json_frame(const char *buf, size_t n, size_t *start, size_t *len);

enum hyb_json_cmd { HYB_JSON_OPEN = 1, HYB_JSON_GET, HYB_JSON_CLOSE };
struct hyb_json_req {
    enum hyb_json_cmd cmd;
    char source[HYB_JSON_URI_MAX], destination[HYB_JSON_URI_MAX];
    struct qkd_qos qos;
    struct qkd_ksid ksid;
    uint32_t index;
};
/* Parses one message. Returns 0, or -1 with a reason in err. */
int hyb_json_parse(const char *text, size_t len, struct hyb_json_req *out, char *err,
                   size_t errlen);

/* Replies, appended to w. */
int hyb_json_reply_status(struct qkd_writer *w, uint32_t status, const char *message);
int hyb_json_reply_open(struct qkd_writer *w, const struct qkd_ksid *ksid);
int hyb_json_reply_key(struct qkd_writer *w, const uint8_t *key, size_t len);

#endif
