/* test_https_server.c: unit tests of https_server.c over 127.0.0.1 with the conn.c fixture
 * (conn_env.c: certificates, loop, run_until). The clients are conn.c connections in byte mode
 * that send raw HTTP and collect the raw answers. Covered: keep-alive with several requests on
 * one connection (caller = client certificate CN, headers); two pipelined requests in one write
 * answered in order, the first from a timer after the second arrived (and while a call waits
 * the idle timer does not close); on_cancel when the client goes away with a call waiting;
 * 413 at the body limit + 1 (the limit passes); 431 at the header byte limit + 1 and header
 * count + 1; 400 on garbage; max_requests_per_conn at its edge; back-pressure on a client that
 * does not read its answers; idle close; the connection cap at its edge; a client without a
 * certificate never reaches on_request; Expect: 100-continue (the body sent only after the
 * interim answer; none for a request queued behind a waiting call until that call is answered;
 * none before a 413; other values 417); request_ms at its edge (a request completed at half of
 * it passes, one trickled past it gets 408 although idle_ms never runs out; a waiting call's
 * time does not count against the request behind it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/ssl.h>

#include "conn.h"
#include "evloop.h"
#include "http.h"
#include "https_server.h"
#include "log.h"
#include "sock.h"
#include "tls.h"

#include "conn_env.h"

#define MAXP 16
#define BIG  16000 /* body bytes of the answer to /big */
#define NBIG 2000  /* /big requests pipelined: 32 MB of answers, more than socket buffers */

/* ---- client: raw HTTP over a byte-mode conn ---- */

struct hcli {
    struct qkd_conn *c;
    int opened, closed;
    char reason[160];
    char in[8192];
    size_t in_len;
    uint64_t total; /* bytes received (in keeps the first ones) */
};

static void hcli_open(struct qkd_conn *c, void *arg)
{
    ((struct hcli *)arg)->opened = 1;
}

static size_t hcli_data(struct qkd_conn *c, const uint8_t *data, size_t len, void *arg)
{
    struct hcli *h = arg;
    h->total += len;
    size_t room = sizeof(h->in) - 1 - h->in_len;
    size_t n = len < room ? len : room;
    memcpy(h->in + h->in_len, data, n);
    h->in_len += n;
    h->in[h->in_len] = '\0';
    return len;
}

static void hcli_close(struct qkd_conn *c, const char *reason, void *arg)
{
    struct hcli *h = arg;
    h->closed = 1;
    snprintf(h->reason, sizeof(h->reason), "%s", reason);
    h->c = NULL;
}

static const struct qkd_conn_ops hcli_ops = {
    .on_open = hcli_open, .on_close = hcli_close, .on_data = hcli_data};

/* One parsed answer. */
struct presp {
    int status;
    int close; /* Connection: close */
    char ctype[64];
    char body[256];
};

/* Parses the complete answers in h->in; returns how many. */
static int hcli_parse(const struct hcli *h, struct presp *out, int max)
{
    const char *p = h->in, *end = h->in + h->in_len;
    int n = 0;
    while (n < max && p < end) {
        const char *hend = strstr(p, "\r\n\r\n");
        if (hend == NULL || strncmp(p, "HTTP/1.1 ", 9) != 0) break;
        struct presp *r = &out[n];
        memset(r, 0, sizeof(*r));
        r->status = atoi(p + 9);
        const char *cl = strstr(p, "Content-Length: ");
        const char *ct = strstr(p, "Content-Type: ");
        if (cl == NULL || cl > hend || ct == NULL || ct > hend) break;
        size_t blen = (size_t)strtoul(cl + 16, NULL, 10);
        size_t ctl = strcspn(ct + 14, "\r");
        snprintf(r->ctype, sizeof(r->ctype), "%.*s", (int)ctl, ct + 14);
        const char *conn = strstr(p, "Connection: close\r\n");
        r->close = conn != NULL && conn < hend;
        const char *body = hend + 4;
        if ((size_t)(end - body) < blen) break;
        snprintf(r->body, sizeof(r->body), "%.*s", (int)blen, body);
        p = body + blen;
        n++;
    }
    return n;
}

static struct hcli g_cli1, g_cli2;
static int g_port;

static void hcli_connect(struct hcli *h, SSL_CTX *ctx)
{
    memset(h, 0, sizeof(*h));
    char addr[64], err[256];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", g_port);
    int fd = qkd_tcp_connect_nb(addr, err, sizeof(err));
    assert_true(fd >= 0);
    h->c = qkd_conn_new(g_env.loop, ctx, fd, 0, NULL, &hcli_ops, h);
    assert_non_null(h->c);
}

static void hcli_send(struct hcli *h, const char *s, size_t len)
{
    assert_non_null(h->c);
    assert_int_equal(qkd_conn_send(h->c, (const uint8_t *)s, len), 0);
}

/* ---- server side ---- */

struct sstate {
    struct qkd_https_server *srv;
    int requests, cancels;
    char paths[MAXP][64];
    char caller[256];
    char xtest[64];
    int hold;                      /* path "/slow" is answered later (reply_slow) */
    struct qkd_https_call *slow;   /* the held call */
    int slow_answered_before_fast; /* when "/fast" arrived, "/slow" was answered */
    int slow_answered;
};

static struct sstate g_st;

static void answer(struct qkd_https_call *call, const char *path, int status)
{
    struct qkd_http_resp resp = {.status = status, .content_type = "application/json"};
    qkd_sbuf_printf(&resp.body, "{\"path\":\"%s\"}", path);
    qkd_https_reply(call, &resp);
    assert_null(resp.body.p); /* moved and wiped */
}

static void srv_request(struct qkd_https_call *call, const struct qkd_http_req *req, void *arg)
{
    struct sstate *st = arg;
    if (st->requests < MAXP)
        snprintf(st->paths[st->requests], sizeof(st->paths[0]), "%s|%zu", req->path, req->body_len);
    st->requests++;
    snprintf(st->caller, sizeof(st->caller), "%s", qkd_https_call_caller(call));
    const char *x = qkd_https_call_header(call, "x-test");
    snprintf(st->xtest, sizeof(st->xtest), "%s", x ? x : "");
    assert_non_null(strstr(qkd_https_call_addr(call), "127.0.0.1:"));
    if (strcmp(req->path, "/fast") == 0) st->slow_answered_before_fast = st->slow_answered;
    if (strcmp(req->path, "/big") == 0) {
        struct qkd_http_resp resp = {.status = 200};
        for (int i = 0; i < BIG / 100; i++)
            qkd_sbuf_puts(&resp.body,
                          "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
                          "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk");
        qkd_https_reply(call, &resp);
        return;
    }
    if (st->hold && strcmp(req->path, "/slow") == 0) {
        qkd_https_call_set_user(call, st);
        st->slow = call;
        return;
    }
    answer(call, req->path, 200);
}

static void srv_cancel(struct qkd_https_call *call, void *arg)
{
    struct sstate *st = arg;
    assert_ptr_equal(call, st->slow);
    assert_ptr_equal(qkd_https_call_get_user(call), st);
    st->cancels++;
    st->slow = NULL;
}

static const struct qkd_https_ops srv_ops = {srv_request, srv_cancel};

static void reply_slow_cb(struct qkd_loop *loop, uint64_t id, void *arg)
{
    if (g_st.slow == NULL) return;
    struct qkd_https_call *call = g_st.slow;
    g_st.slow = NULL;
    g_st.slow_answered = 1;
    answer(call, "/slow", 200);
}

static void start_server(const struct qkd_https_cfg *base)
{
    struct qkd_https_cfg cfg = {0};
    if (base != NULL) cfg = *base;
    cfg.listen = "127.0.0.1:0";
    cfg.ctx = g_env.sctx;
    cfg.name = "test HTTPS";
    char err[256];
    g_st.srv = qkd_https_server_new(g_env.loop, &cfg, &srv_ops, &g_st, err, sizeof(err));
    if (g_st.srv == NULL) fprintf(stderr, "server: %s\n", err);
    assert_non_null(g_st.srv);
    g_port = qkd_https_server_port(g_st.srv);
    assert_true(g_port > 0);
}

static int setup(void **state)
{
    memset(&g_st, 0, sizeof(g_st));
    memset(&g_cli1, 0, sizeof(g_cli1));
    memset(&g_cli2, 0, sizeof(g_cli2));
    return env_setup(state);
}

static int teardown(void **state)
{
    if (g_cli1.c != NULL) qkd_conn_abort(g_cli1.c, "test done");
    if (g_cli2.c != NULL) qkd_conn_abort(g_cli2.c, "test done");
    qkd_https_server_free(g_st.srv);
    g_st.srv = NULL;
    return env_teardown(state);
}

/* ---- predicates ---- */

static int g_want;
static int cli_opened(struct env *e)
{
    return g_cli1.opened || g_cli1.closed;
}
static int cli_has_answers(struct env *e)
{
    struct presp r[MAXP];
    return hcli_parse(&g_cli1, r, MAXP) >= g_want || g_cli1.closed;
}
static int cli_closed(struct env *e)
{
    return g_cli1.closed;
}
static int srv_has_requests(struct env *e)
{
    return g_st.requests >= g_want;
}
static int srv_cancelled(struct env *e)
{
    return g_st.cancels > 0 && qkd_https_server_conns(g_st.srv) == 0;
}
static int srv_no_conns(struct env *e)
{
    return qkd_https_server_conns(g_st.srv) == 0;
}

static void open_client(void)
{
    hcli_connect(&g_cli1, g_env.cctx);
    assert_true(run_until(&g_env, cli_opened, 5000));
    assert_true(g_cli1.opened);
}

/* ---- tests ---- */

static void test_keep_alive(void **state)
{
    start_server(NULL);
    open_client();
    const char *paths[3] = {"/a", "/b", "/c"};
    for (int i = 0; i < 3; i++) {
        char rq[128];
        int n = snprintf(rq, sizeof(rq), "GET %s HTTP/1.1\r\nHost: x\r\nX-Test: v%d\r\n\r\n",
                         paths[i], i);
        hcli_send(&g_cli1, rq, (size_t)n);
        g_want = i + 1;
        assert_true(run_until(&g_env, cli_has_answers, 5000));
        assert_false(g_cli1.closed);
        char want[16];
        snprintf(want, sizeof(want), "v%d", i);
        assert_string_equal(g_st.xtest, want);
    }
    struct presp r[MAXP];
    assert_int_equal(hcli_parse(&g_cli1, r, MAXP), 3);
    for (int i = 0; i < 3; i++) {
        char want[64];
        snprintf(want, sizeof(want), "{\"path\":\"%s\"}", paths[i]);
        assert_int_equal(r[i].status, 200);
        assert_false(r[i].close);
        assert_string_equal(r[i].ctype, "application/json");
        assert_string_equal(r[i].body, want);
    }
    assert_string_equal(g_st.caller, "bob"); /* the client certificate's CN */
    assert_int_equal(qkd_https_server_requests(g_st.srv), 3);
    assert_int_equal(qkd_https_server_conns(g_st.srv), 1);
    assert_int_equal(qkd_https_server_refused(g_st.srv), 0);
}

static void test_pipelined_async_in_order(void **state)
{
    struct qkd_https_cfg cfg = {.idle_ms = 60}; /* shorter than the wait for the answer */
    start_server(&cfg);
    g_st.hold = 1;
    open_client();
    const char rq[] = "GET /slow HTTP/1.1\r\n\r\nGET /fast HTTP/1.1\r\n\r\n";
    hcli_send(&g_cli1, rq, sizeof(rq) - 1);
    g_want = 1;
    assert_true(run_until(&g_env, srv_has_requests, 5000));
    assert_non_null(g_st.slow);
    /* the second request has arrived (same write) but waits behind the first */
    run_loop_once(g_env.loop, 50);
    assert_int_equal(g_st.requests, 1);
    qkd_loop_add_timer(g_env.loop, 150, reply_slow_cb, NULL); /* past idle_ms: still open */
    g_want = 2;
    assert_true(run_until(&g_env, cli_has_answers, 5000));
    struct presp r[MAXP];
    assert_int_equal(hcli_parse(&g_cli1, r, MAXP), 2);
    assert_string_equal(r[0].body, "{\"path\":\"/slow\"}");
    assert_string_equal(r[1].body, "{\"path\":\"/fast\"}");
    assert_false(r[0].close);
    assert_false(r[1].close);
    assert_int_equal(g_st.requests, 2);
    assert_true(g_st.slow_answered_before_fast);
    assert_string_equal(g_st.paths[0], "/slow|0");
    assert_string_equal(g_st.paths[1], "/fast|0");
    assert_int_equal(g_st.cancels, 0);
}

static void test_cancel_on_disconnect(void **state)
{
    start_server(NULL);
    g_st.hold = 1;
    open_client();
    const char rq[] = "POST /slow HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
    hcli_send(&g_cli1, rq, sizeof(rq) - 1);
    g_want = 1;
    assert_true(run_until(&g_env, srv_has_requests, 5000));
    assert_string_equal(g_st.paths[0], "/slow|3");
    assert_non_null(g_st.slow);
    qkd_conn_abort(g_cli1.c, "client goes away");
    assert_true(run_until(&g_env, srv_cancelled, 5000));
    assert_int_equal(g_st.cancels, 1);
    assert_null(g_st.slow); /* nothing left to answer; a timer finds nothing */
    qkd_loop_add_timer(g_env.loop, 0, reply_slow_cb, NULL);
    run_loop_once(g_env.loop, 20);
    assert_int_equal(g_st.slow_answered, 0);
}

/* The server frees with a call waiting: on_cancel runs for it. */
static void test_cancel_on_server_free(void **state)
{
    start_server(NULL);
    g_st.hold = 1;
    open_client();
    const char rq[] = "GET /slow HTTP/1.1\r\n\r\n";
    hcli_send(&g_cli1, rq, sizeof(rq) - 1);
    g_want = 1;
    assert_true(run_until(&g_env, srv_has_requests, 5000));
    qkd_https_server_free(g_st.srv);
    g_st.srv = NULL;
    assert_int_equal(g_st.cancels, 1);
    assert_true(run_until(&g_env, cli_closed, 5000));
}

/* Sends rq on a fresh connection; returns the number of answers once the server closed. */
static int one_shot(const char *rq, size_t len, struct presp *r)
{
    open_client();
    hcli_send(&g_cli1, rq, len);
    assert_true(run_until(&g_env, cli_closed, 5000));
    return hcli_parse(&g_cli1, r, MAXP);
}

/* POST /b with a body of n bytes: the parser stores "/b\0" (3) + "Content-Length\0" (15) +
 * "NNN\0" (4) = 22 header bytes, so max_request_bytes 122 leaves exactly 100 for the body. */
static size_t body_request(char *buf, size_t n, int close)
{
    int k = sprintf(buf, "POST /b HTTP/1.1\r\nContent-Length: %zu\r\n%s\r\n", n,
                    close ? "Connection: close\r\n" : "");
    memset(buf + k, 'b', n);
    return (size_t)k + n;
}

static void test_body_limit_edge(void **state)
{
    /* "Connection: close" adds "Connection\0close\0" = 17 stored bytes: 139 */
    struct qkd_https_cfg cfg = {.limits = {.max_header_bytes = 100, .max_request_bytes = 139}};
    start_server(&cfg);
    char rq[512];
    struct presp r[MAXP];
    size_t n = body_request(rq, 100, 1);
    assert_int_equal(one_shot(rq, n, r), 1);
    assert_int_equal(r[0].status, 200);
    assert_true(r[0].close);
    assert_string_equal(g_st.paths[0], "/b|100");
    n = body_request(rq, 101, 1);
    assert_int_equal(one_shot(rq, n, r), 1);
    assert_int_equal(r[0].status, 413);
    assert_true(r[0].close);
    assert_string_equal(r[0].ctype, "application/json");
    assert_string_equal(r[0].body, "{\"message\":\"request too large\"}");
    assert_int_equal(g_st.requests, 1);
    assert_int_equal(qkd_https_server_refused(g_st.srv), 1);
}

/* GET /h with one header "X: <v bytes>": stored "/h\0" (3) + "X\0" (2) + v + 1. */
static void test_header_limits_edge(void **state)
{
    struct qkd_https_cfg cfg = {.limits = {.max_header_bytes = 100, .max_headers = 2}};
    start_server(&cfg);
    char rq[512], v[128];
    struct presp r[MAXP];
    for (int over = 0; over <= 1; over++) {
        memset(v, 'v', sizeof(v));
        v[94 + over] = '\0';
        int n = snprintf(rq, sizeof(rq), "GET /h HTTP/1.1\r\nX: %s\r\n\r\n", v);
        open_client();
        hcli_send(&g_cli1, rq, (size_t)n);
        g_want = 1;
        assert_true(run_until(&g_env, cli_has_answers, 5000));
        assert_int_equal(hcli_parse(&g_cli1, r, MAXP), 1);
        assert_int_equal(r[0].status, over ? 431 : 200);
        assert_int_equal(r[0].close, over);
        if (over) assert_true(run_until(&g_env, cli_closed, 5000));
        if (g_cli1.c != NULL) qkd_conn_abort(g_cli1.c, "next");
    }
    /* header count: 2 pass, 3 are refused */
    const char ok[] = "GET /h HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n";
    open_client();
    hcli_send(&g_cli1, ok, sizeof(ok) - 1);
    g_want = 1;
    assert_true(run_until(&g_env, cli_has_answers, 5000));
    assert_int_equal(hcli_parse(&g_cli1, r, MAXP), 1);
    assert_int_equal(r[0].status, 200);
    qkd_conn_abort(g_cli1.c, "next");
    const char three[] = "GET /h HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_int_equal(one_shot(three, sizeof(three) - 1, r), 1);
    assert_int_equal(r[0].status, 431);
    assert_string_equal(r[0].body, "{\"message\":\"request header fields too large\"}");
    assert_int_equal(g_st.requests, 2);
    assert_int_equal(qkd_https_server_refused(g_st.srv), 2);
}

static void test_garbage_400(void **state)
{
    start_server(NULL);
    const char rq[] = "\x01\x02 not http at all\r\n\r\n";
    struct presp r[MAXP];
    assert_int_equal(one_shot(rq, sizeof(rq) - 1, r), 1);
    assert_int_equal(r[0].status, 400);
    assert_true(r[0].close);
    assert_string_equal(r[0].body, "{\"message\":\"malformed request\"}");
    assert_int_equal(g_st.requests, 0);
    assert_true(run_until(&g_env, srv_no_conns, 5000));
}

static void test_max_requests_edge(void **state)
{
    struct qkd_https_cfg cfg = {.max_requests_per_conn = 3};
    start_server(&cfg);
    /* four pipelined in one write: the third is the last allowed */
    const char rq[] = "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"
                      "GET /3 HTTP/1.1\r\n\r\nGET /4 HTTP/1.1\r\n\r\n";
    struct presp r[MAXP];
    assert_int_equal(one_shot(rq, sizeof(rq) - 1, r), 3);
    assert_false(r[0].close);
    assert_false(r[1].close);
    assert_true(r[2].close);
    assert_string_equal(r[2].body, "{\"path\":\"/3\"}");
    assert_int_equal(g_st.requests, 3);
    assert_true(run_until(&g_env, srv_no_conns, 5000));
}

/* A client that pipelines requests without reading the answers: once max_out_bytes of answers
 * wait, the server stops parsing (the conn stays up, the loop runs); when the client reads
 * again every request is answered, in order. */
static void test_back_pressure(void **state)
{
    struct qkd_https_cfg cfg = {.max_out_bytes = 64 * 1024};
    start_server(&cfg);
    open_client();
    qkd_conn_pause(g_cli1.c); /* the client stops reading its answers */
    const char one[] = "GET /big HTTP/1.1\r\n\r\n";
    size_t olen = sizeof(one) - 1;
    char *rq = malloc(olen * NBIG);
    assert_non_null(rq);
    for (int i = 0; i < NBIG; i++)
        memcpy(rq + (size_t)i * olen, one, olen);
    hcli_send(&g_cli1, rq, olen * NBIG);
    free(rq);
    int last = -1;
    for (int i = 0; i < 2000 && g_st.requests != last; i++) { /* until it stalls (20 s) */
        last = g_st.requests;
        run_loop_once(g_env.loop, 100);
    }
    assert_true(g_st.requests < NBIG);
    assert_int_equal(qkd_https_server_conns(g_st.srv), 1);
    assert_false(g_cli1.closed);
    qkd_conn_resume(g_cli1.c);
    for (int i = 0; i < 500 && strstr(g_cli1.in, "\r\n\r\n") == NULL; i++)
        run_loop_once(g_env.loop, 10);
    const char *hend = strstr(g_cli1.in, "\r\n\r\n");
    assert_non_null(hend);
    uint64_t each = (uint64_t)(hend + 4 - g_cli1.in) + BIG;
    for (int i = 0; i < 3000 && g_cli1.total < each * NBIG && !g_cli1.closed; i++)
        run_loop_once(g_env.loop, 10);
    assert_int_equal(g_cli1.total, each * NBIG);
    assert_int_equal(g_st.requests, NBIG);
    assert_false(g_cli1.closed);
}

static void test_idle_close(void **state)
{
    struct qkd_https_cfg cfg = {.idle_ms = 150};
    start_server(&cfg);
    open_client();
    const char rq[] = "GET /i HTTP/1.1\r\n\r\n";
    hcli_send(&g_cli1, rq, sizeof(rq) - 1);
    g_want = 1;
    assert_true(run_until(&g_env, cli_has_answers, 5000));
    uint64_t t0 = qkd_now_ms();
    run_loop_once(g_env.loop, 60);
    assert_false(g_cli1.closed); /* well inside idle_ms */
    assert_true(run_until(&g_env, cli_closed, 5000));
    assert_true(qkd_now_ms() - t0 >= 140);
    assert_true(run_until(&g_env, srv_no_conns, 5000));
}

static int cli2_closed(struct env *e)
{
    return g_cli2.closed;
}

/* max_conns taken: one more is refused; after one leaves there is room again. */
static void test_conn_cap_edge(void **state)
{
    struct qkd_https_cfg cfg = {.max_conns = 1};
    start_server(&cfg);
    open_client();
    hcli_connect(&g_cli2, g_env.cctx);
    assert_true(run_until(&g_env, cli2_closed, 5000));
    assert_false(g_cli1.closed);
    assert_int_equal(qkd_https_server_conns(g_st.srv), 1);
    qkd_conn_abort(g_cli1.c, "leaving");
    assert_true(run_until(&g_env, srv_no_conns, 5000));
    open_client();
    const char rq[] = "GET /again HTTP/1.1\r\n\r\n";
    hcli_send(&g_cli1, rq, sizeof(rq) - 1);
    g_want = 1;
    assert_true(run_until(&g_env, cli_has_answers, 5000));
    assert_int_equal(g_st.requests, 1);
}

static void test_no_client_certificate(void **state)
{
    start_server(NULL);
    SSL_CTX *bare = SSL_CTX_new(TLS_client_method());
    assert_non_null(bare);
    SSL_CTX_set_min_proto_version(bare, TLS1_3_VERSION);
    SSL_CTX_set_verify(bare, SSL_VERIFY_NONE, NULL);
    hcli_connect(&g_cli1, bare);
    run_until(&g_env, cli_opened, 5000);
    /* TLS 1.3: the client may count itself open before the server refused it */
    if (g_cli1.c != NULL) {
        const char rq[] = "GET /x HTTP/1.1\r\n\r\n";
        qkd_conn_send(g_cli1.c, (const uint8_t *)rq, sizeof(rq) - 1);
    }
    assert_true(run_until(&g_env, cli_closed, 5000));
    assert_true(run_until(&g_env, srv_no_conns, 5000));
    assert_int_equal(g_st.requests, 0);
    assert_int_equal(g_cli1.in_len, 0);
    assert_int_equal(qkd_https_server_handshake_failures(g_st.srv), 1);
    SSL_CTX_free(bare);
}

/* ---- Expect: 100-continue ---- */

#define CONT "HTTP/1.1 100 Continue\r\n\r\n"

static int cli_has_continue(struct env *e)
{
    return strstr(g_cli1.in, CONT) != NULL || g_cli1.closed;
}

/* Drops the interim answer from what the client received (hcli_parse reads final answers);
 * returns its offset, or -1 if none came. */
static long strip_continue(struct hcli *h)
{
    char *p = strstr(h->in, CONT);
    if (p == NULL) return -1;
    size_t n = sizeof(CONT) - 1;
    memmove(p, p + n, (size_t)(h->in + h->in_len - (p + n)) + 1);
    h->in_len -= n;
    return p - h->in;
}

static const char EXPECT_HEAD[] = "POST /e HTTP/1.1\r\nExpect: 100-Continue\r\n"
                                  "Content-Length: 2000\r\n\r\n";

/* The client sends headers only and the body once it read the 100 Continue. */
static void test_expect_continue(void **state)
{
    start_server(NULL);
    open_client();
    hcli_send(&g_cli1, EXPECT_HEAD, sizeof(EXPECT_HEAD) - 1);
    assert_true(run_until(&g_env, cli_has_continue, 5000));
    assert_false(g_cli1.closed);
    assert_int_equal(strip_continue(&g_cli1), 0); /* the first bytes, nothing else */
    assert_int_equal(g_cli1.in_len, 0);
    assert_int_equal(g_st.requests, 0);
    char body[2000];
    memset(body, 'e', sizeof(body));
    hcli_send(&g_cli1, body, sizeof(body));
    g_want = 1;
    assert_true(run_until(&g_env, cli_has_answers, 5000));
    struct presp r[MAXP];
    assert_int_equal(hcli_parse(&g_cli1, r, MAXP), 1);
    assert_int_equal(r[0].status, 200);
    assert_false(r[0].close);
    assert_string_equal(g_st.paths[0], "/e|2000");
    assert_null(strstr(g_cli1.in, CONT)); /* one interim answer only */
}

/* Pipelined behind a waiting call, the Expect request gets no 100 Continue until the server
 * reads it: after the first answer, in order. */
static void test_expect_continue_pipelined(void **state)
{
    start_server(NULL);
    g_st.hold = 1;
    open_client();
    char rq[256];
    int n = snprintf(rq, sizeof(rq), "GET /slow HTTP/1.1\r\n\r\n%s", EXPECT_HEAD);
    hcli_send(&g_cli1, rq, (size_t)n);
    g_want = 1;
    assert_true(run_until(&g_env, srv_has_requests, 5000));
    run_loop_once(g_env.loop, 100);
    assert_int_equal(g_cli1.in_len, 0); /* no 100 while /slow waits */
    reply_slow_cb(g_env.loop, 0, NULL);
    assert_true(run_until(&g_env, cli_has_continue, 5000));
    long at = strip_continue(&g_cli1);
    struct presp r[MAXP];
    assert_int_equal(hcli_parse(&g_cli1, r, MAXP), 1);
    assert_string_equal(r[0].body, "{\"path\":\"/slow\"}");
    assert_int_equal(at, (long)g_cli1.in_len); /* right after the /slow answer */
    char body[2000];
    memset(body, 'e', sizeof(body));
    hcli_send(&g_cli1, body, sizeof(body));
    g_want = 2;
    assert_true(run_until(&g_env, cli_has_answers, 5000));
    assert_int_equal(hcli_parse(&g_cli1, r, MAXP), 2);
    assert_int_equal(r[1].status, 200);
    assert_string_equal(g_st.paths[1], "/e|2000");
}

/* Over the body limit: 413 without 100 Continue; another expectation: 417; both close. */
static void test_expect_413_417(void **state)
{
    struct qkd_https_cfg cfg = {.limits = {.max_body_bytes = 1999}};
    start_server(&cfg);
    struct presp r[MAXP];
    assert_int_equal(one_shot(EXPECT_HEAD, sizeof(EXPECT_HEAD) - 1, r), 1);
    assert_int_equal(r[0].status, 413);
    assert_true(r[0].close);
    assert_null(strstr(g_cli1.in, CONT));
    const char rq[] = "POST /e HTTP/1.1\r\nExpect: 200-ok\r\nContent-Length: 5\r\n\r\n";
    assert_int_equal(one_shot(rq, sizeof(rq) - 1, r), 1);
    assert_int_equal(r[0].status, 417);
    assert_true(r[0].close);
    assert_string_equal(r[0].body, "{\"message\":\"expectation failed\"}");
    assert_null(strstr(g_cli1.in, CONT));
    assert_int_equal(g_st.requests, 0);
    assert_int_equal(qkd_https_server_refused(g_st.srv), 2);
}

/* ---- request_ms ---- */

#define REQ_MS 200

/* Sends s now, then runs the loop ms. */
static void send_then_run(const char *s, uint64_t ms)
{
    hcli_send(&g_cli1, s, strlen(s));
    run_loop_once(g_env.loop, ms);
}

/* A request completed at ~REQ_MS / 2 passes; the next, trickled a byte every 50 ms (inside
 * idle_ms), gets 408 once REQ_MS ran out from its first byte. */
static void test_request_timeout_edge(void **state)
{
    struct qkd_https_cfg cfg = {.request_ms = REQ_MS, .idle_ms = 150};
    start_server(&cfg);
    open_client();
    send_then_run("GET /t HTTP/1.1\r\n", REQ_MS / 2);
    hcli_send(&g_cli1, "X: 1\r\n\r\n", 8);
    g_want = 1;
    assert_true(run_until(&g_env, cli_has_answers, 5000));
    struct presp r[MAXP];
    assert_int_equal(hcli_parse(&g_cli1, r, MAXP), 1);
    assert_int_equal(r[0].status, 200);
    assert_false(g_cli1.closed);
    uint64_t t0 = qkd_now_ms();
    send_then_run("G", 50);
    const char *rest = "ET /trickle HTTP/1.1\r\nX: ";
    for (const char *p = rest; *p != '\0' && !g_cli1.closed; p++) {
        char one[2] = {*p, '\0'};
        send_then_run(one, 50);
    }
    assert_true(g_cli1.closed);
    uint64_t took = qkd_now_ms() - t0;
    assert_true(took >= REQ_MS - 10);
    assert_true(took < REQ_MS + 500);
    assert_int_equal(hcli_parse(&g_cli1, r, MAXP), 2);
    assert_int_equal(r[1].status, 408);
    assert_true(r[1].close);
    assert_string_equal(r[1].body, "{\"message\":\"request timeout\"}");
    assert_int_equal(g_st.requests, 1);
    assert_true(run_until(&g_env, srv_no_conns, 5000));
}

/* The time a call waits for its answer does not count against the request queued behind it:
 * its clock starts when the server reads it. */
static void test_request_timeout_after_wait(void **state)
{
    struct qkd_https_cfg cfg = {.request_ms = REQ_MS};
    start_server(&cfg);
    g_st.hold = 1;
    open_client();
    send_then_run("GET /slow HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n", 2 * REQ_MS);
    assert_int_equal(g_st.requests, 1);
    assert_int_equal(g_cli1.in_len, 0);
    reply_slow_cb(g_env.loop, 0, NULL); /* past REQ_MS since /next's first byte came */
    run_loop_once(g_env.loop, REQ_MS / 2);
    assert_false(g_cli1.closed);
    hcli_send(&g_cli1, "\r\n", 2);
    g_want = 2;
    assert_true(run_until(&g_env, cli_has_answers, 5000));
    struct presp r[MAXP];
    assert_int_equal(hcli_parse(&g_cli1, r, MAXP), 2);
    assert_int_equal(r[0].status, 200);
    assert_int_equal(r[1].status, 200);
    assert_string_equal(g_st.paths[1], "/next|0");
    assert_false(g_cli1.closed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keep_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_async_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_on_disconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_on_server_free, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_limit_edge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_limits_edge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_400, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_requests_edge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_back_pressure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conn_cap_edge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_client_certificate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expect_continue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expect_continue_pipelined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expect_413_417, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_timeout_edge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_timeout_after_wait, setup, teardown),
    };
    return cmocka_run_group_tests(tests, setup_certs, NULL);
}
