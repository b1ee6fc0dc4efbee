/* log.c: stderr logging, one write(2) per "[LEVEL] prefix: message" line so that lines of
 * concurrent processes never interleave; OpenSSL error draining; key fingerprints. */
#include "bytes.h"
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>

/* Longest line written; longer messages are truncated and end with "...". */
#define QKD_LOG_LINE_MAX   2048
#define QKD_LOG_PREFIX_MAX 64

static enum qkd_log_level g_level = QKD_LOG_INFO;
static char g_prefix[QKD_LOG_PREFIX_MAX];

static const char *const g_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void qkd_log_set_level(enum qkd_log_level level)
{
    if (level >= QKD_LOG_DEBUG && level <= QKD_LOG_ERROR) g_level = level;
}

enum qkd_log_level qkd_log_get_level(void)
{
    return g_level;
}

int qkd_log_level_parse(const char *s)
{
    if (s == NULL) return -1;
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, g_names[i]) == 0) return i;
    if (strcasecmp(s, "WARNING") == 0) return QKD_LOG_WARN;
    return -1;
}

void qkd_log_set_prefix(const char *prefix)
{
    if (prefix == NULL) {
        g_prefix[0] = '\0';
        return;
    }
    snprintf(g_prefix, sizeof(g_prefix), "%s", prefix);
}

static void log_write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, buf, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return; /* nowhere left to report */
        }
        buf += n;
        len -= (size_t)n;
    }
}

static void log_vemit(enum qkd_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void log_vemit(enum qkd_log_level level, const char *fmt, va_list ap)
{
    char line[QKD_LOG_LINE_MAX];
    if (level < QKD_LOG_DEBUG || level > QKD_LOG_ERROR) level = QKD_LOG_ERROR;
    int n;
    if (g_prefix[0] != '\0')
        n = snprintf(line, sizeof(line), "[%s] %s: ", g_names[level], g_prefix);
    else
        n = snprintf(line, sizeof(line), "[%s] ", g_names[level]);
    if (n < 0) return;
    size_t off = (size_t)n;
    int m = vsnprintf(line + off, sizeof(line) - off, fmt, ap);
    if (m < 0) m = 0;
    if (off + (size_t)m >= sizeof(line) - 1) {
        /* truncated: keep room for "...\n" */
        off = sizeof(line) - 5;
        memcpy(line + off, "...", 3);
        off += 3;
    } else {
        off += (size_t)m;
    }
    /* a message must stay one line */
    for (size_t i = 0; i < off; i++)
        if (line[i] == '\n' || line[i] == '\r') line[i] = ' ';
    line[off++] = '\n';
    log_write_all(line, off);
}

void qkd_log(enum qkd_log_level level, const char *fmt, ...)
{
    if (level < g_level) return;
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    log_vemit(level, fmt, ap);
    va_end(ap);
    errno = saved;
}

void fatalx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vemit(QKD_LOG_ERROR, fmt, ap);
    va_end(ap);
    exit(1);
}

void qkd_log_openssl(const char *what)
{
    unsigned long e;
    const char *file = NULL, *func = NULL, *data = NULL;
    int line = 0, flags = 0;
    int any = 0;
    while ((e = ERR_get_error_all(&file, &line, &func, &data, &flags)) != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        if (data != NULL && (flags & ERR_TXT_STRING) && data[0] != '\0')
            qkd_log(QKD_LOG_WARN, "%s: %s (%s)", what ? what : "openssl", buf, data);
        else
            qkd_log(QKD_LOG_WARN, "%s: %s", what ? what : "openssl", buf);
        any = 1;
    }
    if (!any)
        qkd_log(QKD_LOG_WARN, "%s: failed (no OpenSSL error queued)", what ? what : "openssl");
}

void qkd_fingerprint(const uint8_t *data, size_t len, char out[9])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 4) {
        ERR_clear_error();
        memcpy(out, "????????", 9);
        return;
    }
    qkd_hex(md, 4, out);
    OPENSSL_cleanse(md, sizeof(md));
}
