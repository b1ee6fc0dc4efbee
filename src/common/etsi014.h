/* etsi014.h: the ETSI GS QKD 014 codec (docs/etsi014.md), pure (no I/O): routing of request
 * paths, validation of Key requests and Key IDs (query and JSON body), the SAE directory and the
 * identity rules of enc_keys, the server's JSON encoders and the client's decoders of server
 * responses. Used by qkd-kme's 014 listener and by the command-line client. Every function that
 * reads untrusted bytes (paths, queries, bodies, responses) bounds what it reads; key bytes and
 * their base64 only ever sit in memory that is wiped. */
#ifndef QKD_ETSI014_H
#define QKD_ETSI014_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "secbuf.h"

#define ETSI014_PATH_PREFIX         "/api/v1/keys/"
#define ETSI014_SAE_MAX             64  /* bytes of an SAE id (X.509 CN upper bound) */
#define ETSI014_MAX_SAE_IDS         16  /* most additional slaves a request may carry (hard cap) */
#define ETSI014_MAX_KEYS            255 /* hard cap of keys per request / key IDs per dec_keys */
#define ETSI014_DEF_KEY_SIZE        256 /* bits */
#define ETSI014_DEF_MIN_KEY_SIZE    64
#define ETSI014_DEF_MAX_KEY_SIZE    8192
#define ETSI014_DEF_MAX_PER_REQUEST 128
#define ETSI014_DEF_MAX_SAE_IDS     8

enum etsi014_op { ETSI014_OP_STATUS = 1, ETSI014_OP_ENC_KEYS, ETSI014_OP_DEC_KEYS };

/* A routed request: the operation and the SAE id of the path (the slave for status and
 * enc_keys, the master for dec_keys), percent-decoded, NUL-terminated. */
struct etsi014_route {
    enum etsi014_op op;
    char sae[ETSI014_SAE_MAX + 1];
};

/* path = request target without the query (http.h struct qkd_http_req.path). Returns 0, or the
 * HTTP status with a one-line message in msg: 404 (not /api/v1/keys/{id}/{status|enc_keys|
 * dec_keys}), 400 (SAE id empty or blank after percent-decoding, longer than ETSI014_SAE_MAX,
 * holding a control byte or bad %-escape), 405 (status: GET only; enc_keys/dec_keys: GET or
 * POST). Checked in that order: 404, then 405, then 400. An id that is not UTF-8 is a 400 too. */
int etsi014_route(enum qkd_http_method m, const char *path, struct etsi014_route *r, char *msg,
                  size_t n);

/* The server's limits (settings of the 014 listener). etsi014_limits_default fills the
 * ETSI014_DEF_* values. */
struct etsi014_limits {
    uint32_t key_size, min_key_size, max_key_size, max_per_request, max_sae_ids;
};
void etsi014_limits_default(struct etsi014_limits *l);
/* Checks a configuration: sizes positive multiples of 8 with min <= key_size <= max,
 * 1 <= max_per_request <= ETSI014_MAX_KEYS, max_sae_ids <= ETSI014_MAX_SAE_IDS. 0, or -1 with
 * err naming the bad setting. (The parsers clamp max_per_request and max_sae_ids to the hard
 * caps in any case.) */
int etsi014_limits_check(const struct etsi014_limits *l, char *err, size_t n);

/* A Key request: number of keys, their size in bits, additional slave SAE ids. */
struct etsi014_key_req {
    uint32_t number, size;
    uint32_t nslaves;
    char slaves[ETSI014_MAX_SAE_IDS][ETSI014_SAE_MAX + 1];
};

/* GET enc_keys query "number=N&size=BITS" (both optional, others ignored). POST body: JSON Key
 * request (empty body or only whitespace = defaults; unknown fields ignored). 0 or 400 + msg.
 * Rules (each → 400): number not an integer (JSON: not a number with an integral value; query:
 * not decimal digits), < 1 or > max_per_request; size not an integer, not a positive multiple
 * of 8, or outside [min_key_size, max_key_size]; additional_slave_SAE_IDs not an array of
 * strings, more than max_sae_ids, an id blank or longer than ETSI014_SAE_MAX, or duplicated;
 * extension_mandatory present and non-empty (object with members / non-empty array; null or {}
 * or [] are fine); body not JSON / not an object. extension_optional ignored.
 * Also 400: a parameter (query) or member (body) given twice; an id holding a control byte or
 * not UTF-8; extension_mandatory of any other type. additional_slave_SAE_IDs null = absent. */
int etsi014_parse_enc_query(const char *query, const struct etsi014_limits *lim,
                            struct etsi014_key_req *out, char *msg, size_t n);
int etsi014_parse_enc_body(const uint8_t *body, size_t len, const struct etsi014_limits *lim,
                           struct etsi014_key_req *out, char *msg, size_t n);

/* Key IDs of a dec_keys request (binary UUIDs). */
struct etsi014_key_ids {
    uint32_t n;
    uint8_t ids[ETSI014_MAX_KEYS][16];
};

/* GET dec_keys query: key_ID=UUID (one, or repeated key_ID params; others ignored); POST body
 * {"key_IDs":[{"key_ID":"UUID", ...}, ...]} (extensions ignored). 0 or 400: missing/empty list,
 * a key_ID not a UUID string (libuuid uuid_parse, 36 chars), duplicates, more than max
 * (max_per_request; clamped to ETSI014_MAX_KEYS). */
int etsi014_parse_dec_query(const char *query, uint32_t max, struct etsi014_key_ids *out, char *msg,
                            size_t n);
int etsi014_parse_dec_body(const uint8_t *body, size_t len, uint32_t max,
                           struct etsi014_key_ids *out, char *msg, size_t n);

/* The SAE directory: SAE id -> node name. */
#define ETSI014_SAEDIR_MAX 256
#define ETSI014_NODE_MAX   63 /* bytes of a node name */
struct etsi014_saedir {
    uint32_t n;
    struct {
        char sae[ETSI014_SAE_MAX + 1];
        char node[ETSI014_NODE_MAX + 1];
    } e[ETSI014_SAEDIR_MAX];
};

/* Adds "ID=NODE" or a comma-separated list of them (env ETSI014_SAES form; spaces around ids and
 * nodes are trimmed). 0, or -1 with err naming the bad entry: empty id/node, too long, duplicate
 * id with another node, directory full (also: an empty entry, no '=', a control byte, an id not
 * UTF-8, a node holding '='). All or nothing: on -1 the directory is as it was. Adding an id
 * again with the same node is fine. */
int etsi014_saedir_add(struct etsi014_saedir *d, const char *spec, char *err, size_t n);
const char *etsi014_saedir_node(const struct etsi014_saedir *d,
                                const char *sae); /* NULL = unknown */

/* The enc_keys identity rules → 0 or 400 + msg: slave unknown; master == slave; each additional
 * slave unknown, equal to master or slave, or at another node than the slave. */
int etsi014_check_pair(const struct etsi014_saedir *d, const char *master, const char *slave,
                       const struct etsi014_key_req *req, char *msg, size_t n);

/* Encoders into a qkd_sbuf (http.h). Strings are JSON-escaped (quotes, backslashes, control
 * bytes; bytes that are not UTF-8 become U+FFFD). */
struct etsi014_status {
    const char *source_kme, *target_kme, *master, *slave;
    uint32_t key_size;
    uint64_t stored_key_count, max_key_count;
    uint32_t max_key_per_request, max_key_size, min_key_size, max_sae_ids;
};
void etsi014_status_json(struct qkd_sbuf *out, const struct etsi014_status *st);
/* {"keys":[{"key_ID":"..","key":"<base64>"},..]}: written by hand (not cJSON) so every
 * temporary holding key bytes or their base64 is wiped; keys[i] is key_bytes long. C does not
 * add const through these pointer types by itself: pass (const uint8_t(*)[16])ids and
 * (const uint8_t *const *)keys. */
void etsi014_keys_json(struct qkd_sbuf *out, uint32_t n, const uint8_t (*ids)[16],
                       const uint8_t *const *keys, uint32_t key_bytes);
/* The same with a length per key (lens[i] bytes; key_bytes is used when lens is NULL): a
 * dec_keys answer may hold keys of several enc_keys calls of different sizes. */
void etsi014_keys_json_each(struct qkd_sbuf *out, uint32_t n, const uint8_t (*ids)[16],
                            const uint8_t *const *keys, const uint32_t *lens, uint32_t key_bytes);
void etsi014_error_json(struct qkd_sbuf *out, const char *message); /* {"message":"..."} */

/* Client-side decoders (responses from a server; untrusted). Each returns 0, or -1 with a
 * one-line reason in msg. Unknown members are ignored; a known member of the wrong type, out of
 * range or too long is refused. */
struct etsi014_status_view {
    char source_kme[65], target_kme[65], master[ETSI014_SAE_MAX + 1], slave[ETSI014_SAE_MAX + 1];
    uint32_t key_size;
    uint64_t stored_key_count, max_key_count;
    uint32_t max_key_per_request, max_key_size, min_key_size, max_sae_ids;
};
/* Every Status member is required except max_SAE_ID_count (0 when absent). */
int etsi014_status_parse(const uint8_t *body, size_t len, struct etsi014_status_view *out,
                         char *msg, size_t n);

/* A decoded Key container: key i = buf bytes [off[i], off[i]+key_bytes[i]). */
struct etsi014_keys {
    uint32_t n;
    uint8_t ids[ETSI014_MAX_KEYS][16];
    uint32_t key_bytes[ETSI014_MAX_KEYS];
    struct qkd_secbuf *buf;
    size_t off[ETSI014_MAX_KEYS];
};
/* Refuses: not an object, "keys" missing / not an array / empty / more than ETSI014_MAX_KEYS, a
 * key_ID not a UUID or repeated, a key not canonical padded base64 or empty. Wipes every cJSON
 * string holding base64 before freeing. out is overwritten (free an earlier result first); on
 * -1 out->buf is NULL. */
int etsi014_keys_parse(const uint8_t *body, size_t len, struct etsi014_keys *out, char *msg,
                       size_t n);
void etsi014_keys_free(struct etsi014_keys *k); /* wipes */
/* An Error object: 0 with its "message" in msg (truncated to n - 1 bytes; control bytes become
 * '?'), or -1 with the reason in msg when body is not an object with a string "message". */
int etsi014_error_parse(const uint8_t *body, size_t len, char *msg, size_t n);

void etsi014_uuid_str(const uint8_t id[16], char out[37]); /* lower case */
int etsi014_uuid_parse(const char *s, uint8_t id[16]);     /* 0 or -1 */

/* Base64 (RFC 4648, standard alphabet, padded). ETSI014_B64_LEN(n): characters for n bytes. */
#define ETSI014_B64_LEN(n) ((((n) + 2) / 3) * 4)
/* Writes ETSI014_B64_LEN(n) characters and a NUL to out; returns the characters written. */
size_t etsi014_b64_encode(const uint8_t *in, size_t n, char *out);
/* Strict decoder: length a multiple of 4, the alphabet only, '=' only as the last one or two
 * characters, unused bits zero (so each byte string has exactly one encoding). Writes at most
 * cap bytes. Returns the number of bytes, or -1 (out is wiped then). */
long etsi014_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#endif
