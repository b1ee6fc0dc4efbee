/* test_qkd004_fake.c: the scripted fake ETSI 004 server used by libqkd004's unit tests (see
 * test_qkd004_fake.h). Blocking sockets in one thread; one connection at a time. */
#include "test_qkd004_fake.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "bytes.h"
#include "dialect.h"
#include "tls.h"
#include "wire.h"

void fake_key(uint32_t index, uint8_t *out, size_t len)
{
    for (size_t j = 0; j < len; j++)
        out[j] = (uint8_t)(index * 7u + j);
}

static int fake_read_exact(SSL *ssl, uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        size_t n = 0;
        if (SSL_read_ex(ssl, buf + off, len - off, &n) != 1) return -1;
        off += n;
    }
    return 0;
}

static int fake_write(SSL *ssl, const uint8_t *buf, size_t len)
{
    size_t n = 0;
    return len == 0 || SSL_write_ex(ssl, buf, len, &n) == 1 ? 0 : -1;
}

static struct fake_step fake_next(struct fake_server *s)
{
    struct fake_step st = {.act = FAKE_REPLY};
    if (s->next_step < s->nsteps) st = s->steps[s->next_step++];
    return st;
}

/* Builds the response to req in framing f into w. */
static int fake_answer(struct fake_server *s, enum qkd_framing f, const struct qkd_request *req,
                       const struct fake_step *st, struct qkd_writer *w)
{
    struct qkd_response rsp;
    memset(&rsp, 0, sizeof rsp);
    uint8_t key[4096];
    switch (req->service) {
    case QKD_SVC_OPEN_REQ:
        rsp.service = QKD_SVC_OPEN_RSP;
        rsp.u.open.status = st->status;
        rsp.u.open.qos = req->u.open.qos;
        rsp.u.open.ksid = req->u.open.ksid;
        if (qkd_ksid_is_zero(&rsp.u.open.ksid)) memset(rsp.u.open.ksid.b, 0xab, QKD_KSID_LEN);
        break;
    case QKD_SVC_GET_REQ: {
        rsp.service = QKD_SVC_GET_RSP;
        rsp.u.get.status = st->status;
        rsp.u.get.index = req->u.get.index;
        s->last_metadata_size = req->u.get.metadata_size;
        s->last_key_info_len = 0;
        if (req->u.get.metadata && req->u.get.metadata_size <= sizeof s->last_key_info) {
            memcpy(s->last_key_info, req->u.get.metadata, req->u.get.metadata_size);
            s->last_key_info_len = req->u.get.metadata_size;
        }
        uint32_t bufsize = 0; /* the server side of the dialect: E key info, Q buffer size */
        qkd_dialect_get_meta(qkd_dialect_of(f), &req->u.get, &bufsize, NULL, 0);
        uint32_t klen = st->key_len ? st->key_len : 32;
        if (klen > sizeof key) klen = sizeof key;
        if (st->status == 0) {
            fake_key(req->u.get.index, key, klen);
            rsp.u.get.key = key;
            rsp.u.get.key_len = klen;
            if (bufsize >= strlen(FAKE_METADATA)) {
                rsp.u.get.metadata = (const uint8_t *)FAKE_METADATA;
                rsp.u.get.metadata_len = (uint32_t)strlen(FAKE_METADATA);
            }
        } else if (st->status == 8) {
            rsp.u.get.required_metadata_size = (uint32_t)strlen(FAKE_METADATA);
        }
        break;
    }
    case QKD_SVC_CLOSE_REQ:
        rsp.service = QKD_SVC_CLOSE_RSP;
        rsp.u.close.status = st->status;
        break;
    default:
        return -1;
    }
    return qkd_wire_encode_response(f, &rsp, w);
}

/* Waits until the client closes or the server stops. */
static void fake_wait_client(struct fake_server *s, int fd)
{
    while (!s->stop) {
        struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
        if (poll(&p, 1, 50) > 0) {
            char b[256];
            if (recv(fd, b, sizeof b, 0) <= 0) return;
        }
    }
}

/* Serves one connection; returns when it is closed. */
static void fake_serve(struct fake_server *s, int fd)
{
    SSL *ssl = SSL_new(s->ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1) {
        SSL_free(ssl);
        return;
    }
    struct qkd_writer w;
    qkd_writer_init(&w, 1u << 20);
    for (;;) {
        uint8_t hb[QKD_WIRE_HDR_LEN];
        if (fake_read_exact(ssl, hb, sizeof hb) != 0) break;
        struct qkd_wire_hdr h;
        qkd_wire_hdr_parse(hb, &h);
        uint8_t *payload = malloc(h.payload_len ? h.payload_len : 1);
        if (!payload || fake_read_exact(ssl, payload, h.payload_len) != 0) {
            free(payload);
            break;
        }
        enum qkd_framing f = qkd_wire_detect(&h);
        struct qkd_request req;
        int dr = qkd_wire_decode_request(f, &h, payload, 0, &req);
        s->requests++;
        s->framing_seen = f;
        s->last_service = h.service;
        struct fake_step st = fake_next(s);
        qkd_writer_reset(&w);
        if (dr != QKD_WIRE_OK || fake_answer(s, f, &req, &st, &w) != 0) {
            free(payload);
            break;
        }
        free(payload);
        int keep = 1;
        switch (st.act) {
        case FAKE_REPLY:
            keep = fake_write(ssl, w.buf, w.len) == 0;
            break;
        case FAKE_REPLY_BYTEWISE:
            for (size_t i = 0; i < w.len && keep; i++)
                keep = fake_write(ssl, w.buf + i, 1) == 0;
            break;
        case FAKE_CLOSE_MIDFRAME:
            fake_write(ssl, w.buf, st.cut < w.len ? st.cut : w.len);
            keep = 0;
            break;
        case FAKE_CLOSE_NO_REPLY:
            keep = 0;
            break;
        case FAKE_REPLY_THEN_CLOSE:
            fake_write(ssl, w.buf, w.len);
            keep = 0;
            break;
        case FAKE_SILENT:
            fake_wait_client(s, fd);
            keep = 0;
            break;
        case FAKE_RAW:
            keep = fake_write(ssl, st.raw, st.raw_len) == 0;
            break;
        }
        if (!keep) break;
    }
    qkd_writer_free(&w);
    SSL_shutdown(ssl);
    SSL_free(ssl);
    ERR_clear_error();
}

static void *fake_main(void *arg)
{
    struct fake_server *s = arg;
    while (!s->stop) {
        struct pollfd p = {.fd = s->lfd, .events = POLLIN, .revents = 0};
        if (poll(&p, 1, 50) <= 0) continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) continue;
        s->accepted++;
        s->cfd = fd;
        fake_serve(s, fd);
        s->cfd = -1;
        close(fd);
    }
    return NULL;
}

int fake_start(struct fake_server *s, const char *certs, const struct fake_step *steps, int n)
{
    memset(s, 0, sizeof *s);
    s->lfd = -1;
    s->cfd = -1;
    if (n > FAKE_MAX_STEPS) return -1;
    if (n > 0) memcpy(s->steps, steps, (size_t)n * sizeof *steps);
    s->nsteps = n;
    char cert[512], key[512], ca[512], err[256];
    snprintf(cert, sizeof cert, "%s/alice/node.pem", certs);
    snprintf(key, sizeof key, "%s/alice/node.key", certs);
    snprintf(ca, sizeof ca, "%s/ca.pem", certs);
    struct qkd_tls_files files = {.cert = cert, .key = key, .ca = ca};
    s->ctx = qkd_tls_ctx_new(true, &files, err, sizeof err);
    if (!s->ctx) {
        fprintf(stderr, "fake server TLS: %s\n", err);
        return -1;
    }
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(s->lfd, 16) != 0 || getsockname(s->lfd, (struct sockaddr *)&a, &al) != 0) {
        fake_stop(s);
        return -1;
    }
    s->port = ntohs(a.sin_port);
    snprintf(s->addr, sizeof s->addr, "127.0.0.1:%d", s->port);
    if (pthread_create(&s->th, NULL, fake_main, s) != 0) {
        fake_stop(s);
        return -1;
    }
    return 0;
}

void fake_stop(struct fake_server *s)
{
    if (s->th) {
        s->stop = 1;
        int cfd = s->cfd;
        if (cfd >= 0) shutdown(cfd, SHUT_RDWR); /* wakes a blocking read in the server thread */
        pthread_join(s->th, NULL);
        s->th = 0;
    }
    if (s->lfd >= 0) close(s->lfd);
    s->lfd = -1;
    SSL_CTX_free(s->ctx);
    s->ctx = NULL;
}
