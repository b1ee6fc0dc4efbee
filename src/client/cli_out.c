/* cli_out.c: qkd-client's output. Keys go to stdout or a file created with mode 0600, as
 * "<index> <hex|base64>" lines, raw bytes, or one JSON object built with cJSON. Every buffer
 * that holds key text is wiped: the stdio buffer is ours, cJSON allocates through hooks that
 * wipe on free, conversion buffers are cleansed after use. Also the progress bar. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "bytes.h"
#include "cli.h"
#include "evloop.h"

#define CLI_OUT_BUF 65536

struct cli_out {
    FILE *f;
    bool is_stdout;
    enum cli_format fmt;
    bool json;
    cJSON *root;
    cJSON *keys;
    char buf[CLI_OUT_BUF]; /* a file stream's buffer: wiped at the end */
};

/* stdout's buffer lives as long as stdout; it is wiped after the last flush. */
static char cli_stdout_buf[CLI_OUT_BUF];

static void cli_wipe_free(void *p)
{
    if (!p) return;
    OPENSSL_cleanse(p, malloc_usable_size(p));
    free(p);
}

struct cli_out *cli_out_open(const char *path, enum cli_format fmt, bool json, char *err,
                             size_t errlen)
{
    static cJSON_Hooks hooks = {.malloc_fn = malloc, .free_fn = cli_wipe_free};
    cJSON_InitHooks(&hooks);
    struct cli_out *o = calloc(1, sizeof *o);
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    o->fmt = fmt;
    o->json = json;
    if (!path || strcmp(path, "-") == 0) {
        o->f = stdout;
        o->is_stdout = true;
    } else {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
            snprintf(err, errlen, "cannot open --out %s: %s", path, strerror(errno));
            free(o);
            return NULL;
        }
        /* An existing file keeps its mode on O_TRUNC: make it private before any key. */
        if (fchmod(fd, 0600) < 0) {
            snprintf(err, errlen, "cannot chmod 0600 --out %s: %s", path, strerror(errno));
            close(fd);
            free(o);
            return NULL;
        }
        o->f = fdopen(fd, "w");
        if (!o->f) {
            snprintf(err, errlen, "cannot open --out %s: %s", path, strerror(errno));
            close(fd);
            free(o);
            return NULL;
        }
    }
    if (o->is_stdout)
        setvbuf(stdout, cli_stdout_buf, _IOFBF, sizeof cli_stdout_buf);
    else
        setvbuf(o->f, o->buf, _IOFBF, sizeof o->buf);
    if (json) {
        o->root = cJSON_CreateObject();
        o->keys = cJSON_CreateArray();
        if (!o->root || !o->keys) {
            snprintf(err, errlen, "out of memory");
            cli_out_free(o);
            return NULL;
        }
        cJSON_AddNullToObject(o->root, "ksid");
        cJSON_AddNullToObject(o->root, "status");
        cJSON_AddItemToObject(o->root, "keys", o->keys);
    }
    return o;
}

static void json_set(cJSON *obj, const char *name, cJSON *v)
{
    if (!v) return;
    if (cJSON_GetObjectItemCaseSensitive(obj, name))
        cJSON_ReplaceItemInObjectCaseSensitive(obj, name, v);
    else
        cJSON_AddItemToObject(obj, name, v);
}

int cli_out_ksid(struct cli_out *o, const struct qkd_ksid *k)
{
    char s[QKD_KSID_STRLEN];
    qkd_ksid_to_str(k, s);
    if (o->json) {
        json_set(o->root, "ksid", cJSON_CreateString(s));
        return 0;
    }
    if (o->fmt == CLI_FMT_RAW) {
        fprintf(stderr, "ksid: %s\n", s);
        return 0;
    }
    return fprintf(o->f, "%s\n", s) < 0 ? -1 : 0;
}

void cli_out_status(struct cli_out *o, uint32_t status)
{
    if (o->json) json_set(o->root, "status", cJSON_CreateNumber(status));
}

void cli_out_qos(struct cli_out *o, const struct qkd_qos *q)
{
    if (!o->json) return;
    cJSON *j = cJSON_CreateObject();
    if (!j) return;
    cJSON_AddNumberToObject(j, "key_chunk_size", q->key_chunk_size);
    cJSON_AddNumberToObject(j, "max_bps", q->max_bps);
    cJSON_AddNumberToObject(j, "min_bps", q->min_bps);
    cJSON_AddNumberToObject(j, "jitter", q->jitter);
    cJSON_AddNumberToObject(j, "priority", q->priority);
    cJSON_AddNumberToObject(j, "timeout", q->timeout);
    cJSON_AddNumberToObject(j, "ttl", q->ttl);
    cJSON_AddStringToObject(j, "metadata_mimetype", q->metadata_mimetype);
    json_set(o->root, "qos", j);
}

void cli_out_error(struct cli_out *o, const char *msg)
{
    if (o->json) json_set(o->root, "error", cJSON_CreateString(msg));
}

/* Encodes len bytes into dst (hex or base64, NUL-terminated); dst must hold
 * cli_text_len(len) bytes. */
static size_t cli_text_len(enum cli_format fmt, size_t len)
{
    return fmt == CLI_FMT_BASE64 ? 4 * ((len + 2) / 3) + 1 : 2 * len + 1;
}

static void cli_text(enum cli_format fmt, const uint8_t *key, size_t len, char *dst)
{
    if (fmt == CLI_FMT_BASE64) {
        EVP_EncodeBlock((unsigned char *)dst, key, (int)len);
        return;
    }
    qkd_hex(key, len, dst);
}

int cli_out_key(struct cli_out *o, uint32_t index, const uint8_t *key, size_t len,
                const char *metadata, size_t mdlen)
{
    if (o->fmt == CLI_FMT_RAW && !o->json) return fwrite(key, 1, len, o->f) == len ? 0 : -1;
    size_t tl = cli_text_len(o->fmt, len);
    char *t = malloc(tl);
    if (!t) return -1;
    cli_text(o->fmt, key, len, t);
    int rc = 0;
    if (o->json) {
        cJSON *e = cJSON_CreateObject();
        cJSON *md = NULL;
        if (metadata && mdlen > 0) md = cJSON_ParseWithLength(metadata, mdlen);
        if (!e || !cJSON_AddNumberToObject(e, "index", index) ||
            !cJSON_AddStringToObject(e, "key", t)) {
            cJSON_Delete(e);
            cJSON_Delete(md);
            rc = -1;
        } else {
            cJSON_AddItemToObject(e, "metadata", md ? md : cJSON_CreateNull());
            cJSON_AddItemToArray(o->keys, e);
        }
    } else {
        rc = fprintf(o->f, "%u %s\n", index, t) < 0 ? -1 : 0;
    }
    OPENSSL_cleanse(t, tl);
    free(t);
    return rc;
}

int cli_out_flush(struct cli_out *o)
{
    return fflush(o->f) == 0 ? 0 : -1;
}

int cli_out_finish(struct cli_out *o, char *err, size_t errlen)
{
    int rc = 0;
    if (o->json) {
        char *s = cJSON_PrintUnformatted(o->root);
        if (!s) {
            snprintf(err, errlen, "out of memory printing JSON");
            return -1;
        }
        if (fprintf(o->f, "%s\n", s) < 0) rc = -1;
        cJSON_free(s); /* wiped by the hook */
    }
    if (fflush(o->f) != 0) rc = -1;
    if (rc != 0) snprintf(err, errlen, "cannot write the output: %s", strerror(errno));
    return rc;
}

void cli_out_free(struct cli_out *o)
{
    if (!o) return;
    if (o->f) {
        fflush(o->f);
        if (o->is_stdout)
            OPENSSL_cleanse(cli_stdout_buf, sizeof cli_stdout_buf);
        else
            fclose(o->f);
    }
    cJSON_Delete(o->root);
    OPENSSL_cleanse(o->buf, sizeof o->buf);
    free(o);
}

void cli_progress_start(struct cli_progress *p, uint64_t total)
{
    p->total = total;
    p->last_ms = 0;
    p->on = total >= CLI_PROGRESS_MIN_COUNT && isatty(STDERR_FILENO);
}

void cli_progress_update(struct cli_progress *p, uint64_t done)
{
    if (!p->on) return;
    uint64_t now = qkd_now_ms();
    if (done < p->total && now - p->last_ms < 100) return;
    p->last_ms = now;
    enum { W = 40 };
    unsigned fill = (unsigned)(p->total ? done * W / p->total : W);
    char bar[W + 1];
    for (unsigned i = 0; i < W; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[W] = '\0';
    fprintf(stderr, "\r[%s] %llu/%llu keys", bar, (unsigned long long)done,
            (unsigned long long)p->total);
    fflush(stderr);
}

void cli_progress_end(struct cli_progress *p)
{
    if (p->on) fprintf(stderr, "\r\033[K");
    p->on = false;
}
