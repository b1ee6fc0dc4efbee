/* log.h: stderr logging as "[LEVEL] message" (DEBUG, INFO, WARN, ERROR). Never pass key
 * bytes; use qkd_fingerprint() when a key must be identified. */
#ifndef QKD_LOG_H
#define QKD_LOG_H

#include <stddef.h>
#include <stdint.h>

enum qkd_log_level { QKD_LOG_DEBUG = 0, QKD_LOG_INFO, QKD_LOG_WARN, QKD_LOG_ERROR };

void qkd_log_set_level(enum qkd_log_level level);
enum qkd_log_level qkd_log_get_level(void);
/* Parses "DEBUG"/"INFO"/"WARN"/"ERROR" (case-insensitive); -1 if unknown. */
int qkd_log_level_parse(const char *s);
/* Optional prefix (e.g. program or node name) put after the level: "[INFO] alice: ...". */
void qkd_log_set_prefix(const char *prefix);

void qkd_log(enum qkd_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_debug(...) qkd_log(QKD_LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  qkd_log(QKD_LOG_INFO, __VA_ARGS__)
#define log_warn(...)  qkd_log(QKD_LOG_WARN, __VA_ARGS__)
#define log_error(...) qkd_log(QKD_LOG_ERROR, __VA_ARGS__)
/* Logs at ERROR and exits with status 1. */
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Logs the OpenSSL error queue at WARN (and clears it), prefixed by what. */
void qkd_log_openssl(const char *what);

/* Short, non-reversible fingerprint of key material for logs: first 8 hex digits of
 * SHA-256(data). out must hold 9 bytes. */
void qkd_fingerprint(const uint8_t *data, size_t len, char out[9]);

#endif
