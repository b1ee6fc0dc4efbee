/* test_qkd004_fake.h: a scripted fake ETSI 004 server for libqkd004's unit tests. A thread
 * accepts TLS connections on 127.0.0.1 (test certificates of alice), decodes each request with
 * the shared codec and answers according to the next scripted step: normally, one byte at a
 * time, cut off mid-frame, with crafted raw bytes, silently, or by closing. */
#ifndef QKD_TEST_QKD004_FAKE_H
#define QKD_TEST_QKD004_FAKE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

enum fake_action {
    FAKE_REPLY = 0,      /* the encoded response in one write */
    FAKE_REPLY_BYTEWISE, /* the response one byte (one TLS record) at a time */
    FAKE_CLOSE_MIDFRAME, /* the first `cut` bytes of the response, then close */
    FAKE_CLOSE_NO_REPLY, /* close without answering */
    FAKE_REPLY_THEN_CLOSE /* answer, then close */,
    FAKE_SILENT, /* never answer (until the client goes or the server stops) */
    FAKE_RAW,    /* send raw[0..raw_len) instead of the response */
};

struct fake_step {
    enum fake_action act;
    size_t cut;
    const uint8_t *raw;
    size_t raw_len;
    uint32_t status;  /* ETSI status to answer with */
    uint32_t key_len; /* GET_KEY key length; 0 = 32 */
};

#define FAKE_MAX_STEPS 16
#define FAKE_METADATA  "{\"age\":1,\"hops\":0}"

struct fake_server {
    int lfd;
    volatile int cfd; /* the connection being served, -1 if none */
    int port;
    char addr[32];
    pthread_t th;
    SSL_CTX *ctx;
    struct fake_step steps[FAKE_MAX_STEPS];
    int nsteps;
    int next_step;
    volatile int stop;
    /* observations */
    int accepted;
    int requests;
    int framing_seen; /* enum qkd_framing of the last request */
    uint8_t last_service;
    uint32_t last_metadata_size;
    uint8_t last_key_info[8]; /* E: the GET_KEY request's metadata bytes */
    uint32_t last_key_info_len;
};

/* Starts the server with the given steps (copied); returns 0 or -1. certs: directory of the
 * test certificates (QKD_TEST_CERTS). */
int fake_start(struct fake_server *s, const char *certs, const struct fake_step *steps, int n);
void fake_stop(struct fake_server *s);
/* The key the fake server gives for index i (byte j = i*7 + j). */
void fake_key(uint32_t index, uint8_t *out, size_t len);

#endif
