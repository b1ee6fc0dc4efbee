/* hyb.h: qkd-hybrid's daemon state shared by its parts: settings (every limit named, with a
 * default), the daemon, peers and their connections, hybrid streams, per-index key exchanges
 * and application calls. Parts: main.c (options, start-up), peer.c (peer links), stream.c
 * (OPEN_CONNECT / GET_KEY / CLOSE of an application, announcements, TTL; each stream's window
 * of delivered indices and its QKD jobs), xchg.c (the per-index exchange a GET_KEY starts),
 * app_etsi.c (ETSI 004 listener) and app_json.c (KDFix-style JSON listener). */
#ifndef HYB_HYB_H
#define HYB_HYB_H

#include "combiner.h"
#include "conn.h"
#include "evloop.h"
#include "kem.h"
#include "node_config.h"
#include "obs.h"
#include "peer_msg.h"
#include "qkdw.h"
#include "request.h"
#include "secbuf.h"
#include "tls.h"
#include "window.h"

#include <openssl/evp.h>
#include <qkd/types.h>
#include <stdbool.h>
#include <stdint.h>

/* Defaults of the named settings (options in main.c, documented in docs/hybrid.md). */
#define HYB_DEF_MAX_CONNS   256     /* application connections (ETSI + JSON) */
#define HYB_DEF_IDLE_MS     300000  /* idle application connections are dropped */
#define HYB_DEF_MAX_STREAMS 1024    /* hybrid KSIDs per node */
#define HYB_DEF_MAX_PENDING 1024    /* running or undelivered exchanges per stream */
#define HYB_DEF_WINDOW      1048576 /* indices beyond the lowest undelivered one */
#define HYB_DEF_CHUNK       32      /* Key_chunk_size when the caller gives 0 */
#define HYB_DEF_MAX_CHUNK   1024    /* largest Key_chunk_size granted */
#define HYB_DEF_TIMEOUT_MS  10000   /* Timeout when the JSON caller gives 0 */
#define HYB_DEF_TTL_S       3600    /* TTL when the caller gives 0 */
#define HYB_DEF_MAX_TTL_S   86400   /* largest TTL granted */
#define HYB_DEF_QKD_WORKERS 4       /* threads calling the key server */
#define HYB_DEF_JSON_MAX    65536   /* largest JSON message */
#define HYB_DEF_BACKOFF_MS  2000    /* longest pause between peer redials */
#define HYB_DEF_PEER_BATCH  16      /* messages per signed peer frame (1 = no batching) */
#define HYB_DEF_MAX_HS      64      /* ETSI connections still in their TLS handshake */
#define HYB_DEF_PEER_MAX_HS 8       /* peer connections still in their TLS handshake */
#define HYB_FD_RESERVE      64      /* descriptors beside connections: logs, epoll, workers */
#define HYB_OPEN_WAIT_MAX   256     /* responder OPEN_CONNECTs waiting for their announcement */
#define HYB_QKD_CALL_MS     60000   /* longest blocking call a QKD worker makes */

struct hyb_settings {
    uint32_t max_conns, idle_ms, max_payload;
    uint32_t max_handshakes, peer_max_handshakes; /* TLS handshakes (the oldest is closed) */
    uint32_t max_streams, max_pending, window;
    uint32_t def_chunk, max_chunk, def_timeout_ms, def_ttl_s, max_ttl_s;
    uint32_t qkd_workers, json_max, backoff_ms;
    uint32_t peer_batch;    /* 1..HYB_PM_BATCH_MAX messages under one signature */
    const char *test_fault; /* tests only, once: "badsig" or "replay" (first INIT), or
                               "drop-optional" (an initiator drops an optional source) */
};

/* Where the time goes (milliseconds, summed; printed at exit and on SIGUSR1-free demand via
 * the periodic stats line at DEBUG). */
struct hyb_stats {
    uint64_t keys_ok, keys_failed;
    double ms_sign, ms_verify, ms_kem, ms_combine, ms_qkd, ms_total;
    uint64_t n_sign, n_verify, n_qkd;
};

struct hyb;
struct hyb_stream;
struct hyb_xchg;

/* An application call waiting for its answer (one per application connection at a time). */
enum hyb_call_kind { HYB_CALL_NONE = 0, HYB_CALL_OPEN, HYB_CALL_GET, HYB_CALL_CLOSE };
struct hyb_call;
struct hyb_call_ops {
    void (*open_done)(struct hyb_call *c, uint32_t status, const struct qkd_qos *qos,
                      const struct qkd_ksid *ksid, const char *msg);
    void (*get_done)(struct hyb_call *c, uint32_t status, uint32_t index, const uint8_t *key,
                     size_t key_len, const char *msg);
};
struct qkd_etsi_srv;

struct hyb_call {
    struct hyb *h;
    const struct hyb_call_ops *ops;
    void *fe; /* the front end's connection */
    enum hyb_call_kind kind;
    char identity[QKD_TLS_ID_LEN + 8]; /* "sha256:..." (ETSI) or "json" */
    bool json;                         /* QoS 0 = defaults, clamps silently */
    /* OPEN waiting for an announcement (responder) */
    struct hyb_request req;
    char req_text[HYB_REQ_TEXT_MAX];
    char dest_app[HYB_APP_MAX];
    struct qkd_ksid want_ksid;
    /* GET waiting for its exchange */
    struct hyb_xchg *x;
    uint32_t index;
    uint64_t timer;
    bool in_open_list;
    struct hyb_stream *open_stream; /* initiator OPEN waiting for QKD streams */
    struct hyb_call *prev, *next;   /* open waiters list */
};

/* One configured peer node and its (single) peer connection. */
struct hyb_pconn;
struct hyb_peer {
    struct hyb *h;
    const struct hyb_peer_cfg *cfg;
    EVP_PKEY *pub;        /* its ML-DSA-65 identity key */
    struct hyb_pconn *pc; /* the connection in use, once HELLOs are exchanged */
    bool dialer;          /* this node dials (its name sorts first) */
    bool dialing;
    uint32_t backoff_ms;
    uint64_t redial_timer;
    /* metrics (metrics.c): keys per combination method, failures, exchange durations */
    uint64_t m_keys[HYB_COMB_METHOD_COUNT];
    uint64_t m_failed;
    struct qkd_prom_hist m_dur;
};

struct hyb_qkd_src {
    struct qkd_ksid ksid; /* QKD stream at the key server; zero = unavailable */
    bool open;            /* this end has attached it */
};

enum hyb_role { HYB_INITIATOR = 0, HYB_RESPONDER = 1 };

struct hyb_stream {
    struct hyb *h;
    struct qkd_ksid ksid;
    char ksid_str[QKD_KSID_STRLEN];
    enum hyb_role role;
    struct hyb_peer *peer;
    struct hyb_request req;
    char req_text[HYB_REQ_TEXT_MAX];
    char dest_app[HYB_APP_MAX];
    struct qkd_qos qos;
    bool claimed; /* a local application opened it */
    char owner[QKD_TLS_ID_LEN + 8];
    bool peer_closed;
    /* JSON: the connection whose OPEN_CONNECT claimed it (NULL: none, or it ended) and whether
     * it also asked for a key of it: then its end closes the stream (hyb_app_gone) */
    void *app_fe;
    bool app_fe_got;
    bool orphan;      /* initiator: the application left before its OPEN_CONNECT was answered */
    bool unconfirmed; /* responder: the peer link broke since it was announced, and the
                         initiator has not announced it again (it may be gone there) */
    struct hyb_qkd_src qkd[HYB_MAX_SOURCES]; /* indexed by source position */
    struct qkd_window win; /* delivered indices (--window of them tracked past the lowest) */
    struct hyb_xchg *xs;   /* running and finished-undelivered exchanges */
    uint32_t nxs;
    uint64_t last_call_ms;
    struct hyb_call *open_call; /* initiator: OPEN_CONNECT waiting for its QKD streams */
    unsigned opening;           /* QKD OPEN jobs outstanding */
    struct hyb_stream *prev, *next;
};

/* Per-index exchange state (see xchg.c for the state machine). */
enum hyb_xsrc_state { HYB_XSRC_PENDING = 0, HYB_XSRC_OK, HYB_XSRC_FAILED };
struct hyb_xsrc {
    enum hyb_xsrc_state st;
    uint8_t fail_status; /* 2 failed, 6 timed out */
    struct qkd_secbuf *secret;
    uint8_t *pub; /* initiator's public key / share */
    size_t pub_len;
    uint8_t *msg; /* responder's ciphertext / share */
    size_t msg_len;
    struct hyb_kem_initiator *kem;
    bool peer_ok; /* initiator: the responder's verdict for this source */
};
enum hyb_xstate {
    HYB_X_WANT_SENT = 1, /* responder: asked the initiator, waiting for INIT */
    HYB_X_I_WAIT,        /* initiator: INIT sent (or pending link), waiting for REPLY/QKD */
    HYB_X_R_LOCAL,       /* responder: INIT handled, waiting for its own QKD key */
    HYB_X_R_REPLIED,     /* responder: REPLY sent, waiting for RESULT */
    HYB_X_I_RESULT,      /* initiator: RESULT sent, waiting for CONFIRM */
    HYB_X_DONE,          /* key held for the local application */
};
struct hyb_xchg {
    struct hyb_stream *s;
    uint64_t xid;
    uint32_t index;
    enum hyb_xstate state;
    bool init_sent, have_reply;
    struct hyb_call *waiter;
    uint64_t deadline_timer, src_timer;
    uint64_t t_start_ms;
    size_t n;
    struct hyb_xsrc src[HYB_MAX_SOURCES];
    struct qkd_secbuf *key;
    uint8_t tag_peer[HYB_PM_TAG_LEN]; /* the tag expected from the peer */
    /* early confirmation: the responder's REPLY carries its source set and tag_R over it */
    bool reply_tagged;                 /* REPLY sent (responder) / received (initiator) a tag */
    uint32_t reply_mask;               /* the source set that tag covers */
    uint8_t tag_reply[HYB_PM_TAG_LEN]; /* initiator: tag_R from REPLY */
    struct hyb_xchg *prev, *next;
};

struct hyb {
    struct qkd_loop *loop;
    struct hyb_config *cfg;
    struct hyb_settings set;
    SSL_CTX *app_ctx;      /* ETSI 004 listener */
    SSL_CTX *peer_srv_ctx; /* peer listener */
    SSL_CTX *peer_cli_ctx; /* peer dialer */
    EVP_PKEY *id_key;
    struct hyb_peer peers[HYB_CFG_MAX_PEERS];
    size_t npeers;
    struct hyb_pconn *pconns; /* all peer connections (handshaking or up) */
    struct hyb_stream *streams;
    uint32_t nstreams;
    struct hyb_call *open_waiters;
    uint32_t nopen_waiters;
    struct hyb_qkdw *qw;
    uint32_t nconns;
    struct qkd_etsi_srv *etsi;                /* the ETSI 004 listener for applications */
    struct qkd_listener *json_lst, *peer_lst; /* NULL = off / stopped */
    uint64_t next_xid;
    uint64_t sweep_timer;
    bool fault_done;
    struct hyb_stats stats;
    struct qkd_obs obs; /* the metrics endpoint (metrics.c) */
};

/* peer.c */
int hyb_peer_start(struct hyb *h, char *err, size_t errlen);
void hyb_peer_stop(struct hyb *h);
bool hyb_peer_up(const struct hyb_peer *p);
struct hyb_peer *hyb_peer_by_name(struct hyb *h, const char *name_or_uuid);
/* Signs and sends one message to the peer; -1 when the link is down. */
int hyb_peer_send(struct hyb_peer *p, uint8_t type, const uint8_t *body, size_t len);
int hyb_peer_send_kex(struct hyb_peer *p, uint8_t type, const struct hyb_pm_kex *m);

/* stream.c */
void hyb_app_open(struct hyb *h, struct hyb_call *c, const char *source, const char *destination,
                  const struct qkd_qos *qos, const struct qkd_ksid *ksid);
uint32_t hyb_app_close(struct hyb *h, const char *identity, const struct qkd_ksid *ksid);
/* GET_KEY: checks that the caller owns the stream, then hands it to the stream's exchange. */
void hyb_app_get(struct hyb *h, struct hyb_call *c, const struct qkd_ksid *ksid, uint32_t index);
struct hyb_stream *hyb_stream_find(struct hyb *h, const struct qkd_ksid *ksid);
void hyb_stream_free(struct hyb_stream *s);
void hyb_stream_on_announce(struct hyb_peer *p, const struct hyb_pm_announce *a);
void hyb_stream_on_close(struct hyb_peer *p, const struct qkd_ksid *ksid);
void hyb_stream_peer_up(struct hyb_peer *p);
void hyb_stream_peer_down(struct hyb_peer *p);
void hyb_stream_sweep_start(struct hyb *h);
/* A finished QKD job (OPEN, GET or CLOSE) of a stream; a GET goes on to its exchange. */
void hyb_stream_on_qkd(struct hyb *h, struct hyb_qjob *j);
/* Submits a QKD GET job for source position j of s, for exchange xid at index. 0 or -1. */
int hyb_stream_qkd_get(struct hyb_stream *s, size_t j, uint64_t xid, uint32_t index);
/* The stream's Timeout (its QoS, or the default) in milliseconds. */
static inline uint32_t hyb_stream_timeout(const struct hyb_stream *s)
{
    return s->qos.timeout ? s->qos.timeout : s->h->set.def_timeout_ms;
}
/* Cancels a pending call (its front-end connection went away). */
void hyb_call_cancel(struct hyb_call *c);
/* A JSON connection ended: the streams it opened and asked keys of are closed as by CLOSE. */
void hyb_app_gone(struct hyb *h, const void *fe);

/* xchg.c: the exchanges of one stream, entered from stream.c with the stream (and from peer.c
 * with the peer's messages). GET_KEY of an owned stream: */
void hyb_xchg_get(struct hyb_stream *s, struct hyb_call *c, uint32_t index);
void hyb_xchg_on_msg(struct hyb_peer *p, uint8_t type, const struct hyb_pm_kex *m);
/* The result of a QKD GET job for s (hyb_stream_on_qkd). */
void hyb_xchg_on_qkd(struct hyb_stream *s, struct hyb_qjob *j);
void hyb_xchg_free(struct hyb_xchg *x, uint32_t waiter_status);
void hyb_xchg_peer_up(struct hyb_stream *s);

/* app_etsi.c, app_json.c */
int hyb_etsi_listen(struct hyb *h, char *err, size_t errlen);
int hyb_json_listen(struct hyb *h, char *err, size_t errlen);
void hyb_etsi_stop(struct hyb *h);
void hyb_json_stop(struct hyb *h);

#endif
