/* conn_env.h: the fixture of the conn.c unit tests (test_conn.c, test_conn_pause.c): a TLS
 * server and client on one event loop over 127.0.0.1, certificates from QKD_TEST_CERTS, frame
 * patterns and the loop-until-predicate helper. */
#ifndef QKD_TEST_CONN_ENV_H
#define QKD_TEST_CONN_ENV_H

#include <stdint.h>
#include <openssl/ssl.h>

#include "conn.h"
#include "evloop.h"

#define MAX_SRV 4
extern const uint8_t VER[3];
extern char g_certs[1024];
extern char g_other[1100];

struct side {
    struct qkd_conn *c;
    int opened, closed;
    char reason[256];
    char peer[128];
    uint32_t frames;      /* frames received */
    uint64_t bytes;       /* payload bytes received */
    int bad;              /* a frame did not match what was expected */
    int echo;             /* server: send every frame back */
    int close_at;         /* close from inside on_frame at this frame number (1-based); 0 = no */
    int abort_at;         /* same, immediate close */
    int reply_then_close; /* send a reply frame, then close, at close_at */
    int send_after_close; /* result of qkd_conn_send after closing inside on_frame */
    int pause_at;         /* pause inside on_frame at this frame number */
    int close_in_open;    /* close from inside on_open */
    uint32_t max_seen_service;
};

struct env {
    struct qkd_loop *loop;
    SSL_CTX *sctx, *cctx;
    int lfd, port;
    struct qkd_conn_limits slim, clim;
    struct side srv[MAX_SRV];
    int nsrv;
    struct side cli;
    uint64_t stop_at;
    int timed_out;
};

extern struct env g_env;
extern const struct qkd_conn_ops g_ops;
typedef int (*pred_fn)(struct env *e);
extern uint32_t g_want_frames;

uint64_t rng_next(uint64_t *s);
uint8_t pattern(uint32_t i, uint32_t j);
int check_payload(const struct qkd_wire_hdr *h, const uint8_t *p, uint32_t i);
int send_pattern(struct qkd_conn *c, uint32_t i, uint32_t len);
const char *cpath(char *buf, size_t len, const char *base, const char *rel);
SSL_CTX *ctx_from(int server, const char *base, const char *cert, const char *key, const char *ca);
int setup_certs(void **state);
int env_setup(void **state);
int env_teardown(void **state);
int run_until(struct env *e, pred_fn pred, uint64_t ms);
int never(struct env *e);
void run_loop_once(struct qkd_loop *loop, uint64_t ms);
void connect_client(struct env *e, SSL_CTX *cctx);
int both_open(struct env *e);
int srv_closed(struct env *e);
int both_closed(struct env *e);
int srv_has_frames(struct env *e);
extern uint32_t g_sent;
int echo_done(struct env *e);

#define ENV_TEST(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)

#endif
