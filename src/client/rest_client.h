/* rest_client.h: a blocking ETSI GS QKD 014 client (docs/client.md): HTTPS/1.1 over the
 * project's one mutual-TLS setup (tls.h), one keep-alive connection per client, every connect,
 * handshake, write and read bounded by a deadline, responses read by the bounded parser
 * (http_resp.h) and decoded by the 014 codec (etsi014.h). Bodies that carry keys are wiped. */
#ifndef QKD_REST_CLIENT_H
#define QKD_REST_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etsi014.h"

#define REST_DEFAULT_TIMEOUT_MS 30000u
#define REST_DEFAULT_PORT       443u

struct rest_cfg {
    const char *url;         /* https://HOST[:PORT][/] */
    const char *cert, *key;  /* the SAE's certificate and key (PEM) */
    const char *ca;          /* CA the key server's certificate must chain to */
    const char *server_name; /* name the server certificate must carry; NULL = the URL's
                                host; "" = no name check */
    uint32_t timeout_ms;     /* connect + TLS, and each call; 0 = REST_DEFAULT_TIMEOUT_MS */
    uint32_t max_body_bytes; /* response body limit; 0 = QKD_HRESP_DEFAULT_MAX_BODY_BYTES */
};

/* Returns of the calls: REST_OK when the server answered (see res->http_status), else: */
#define REST_OK            0
#define REST_ERR_LOCAL     (-1) /* bad argument, out of memory */
#define REST_ERR_TRANSPORT (-2) /* cannot connect, TLS, closed, timeout, malformed response */

struct rest_result {
    int http_status;   /* 0 when there was no answer */
    char message[512]; /* the server's "message" for a status other than 200, or the error */
};

struct rest_client;

/* Parses the URL and loads the TLS files (no connection yet). NULL with a reason in err. */
struct rest_client *rest_new(const struct rest_cfg *cfg, char *err, size_t errlen);
void rest_free(struct rest_client *c);
/* Connects now (also done by the first call). REST_OK or REST_ERR_TRANSPORT with res->message. */
int rest_connect(struct rest_client *c, struct rest_result *res);
/* Connections made so far (1 + reconnects), for tests and the benchmark. */
uint64_t rest_connects(const struct rest_client *c);

/* GET /api/v1/keys/{slave}/status. On 200, *out is filled. */
int rest_status(struct rest_client *c, const char *slave, struct etsi014_status_view *out,
                struct rest_result *res);
/* enc_keys for slave: number keys (0 = the server's default), size bits (0 = default),
 * additional slaves (POST only). On 200, *out holds the keys (etsi014_keys_free it). */
int rest_enc_keys(struct rest_client *c, const char *slave, uint32_t number, uint32_t size,
                  const char *const *additional, uint32_t nadditional, bool use_post,
                  struct etsi014_keys *out, struct rest_result *res);
/* dec_keys of master's key IDs. On 200, *out holds the keys (etsi014_keys_free it). */
int rest_dec_keys(struct rest_client *c, const char *master, const uint8_t (*ids)[16], uint32_t n,
                  bool use_post, struct etsi014_keys *out, struct rest_result *res);

/* Builds "https://..." parts: splits url into host and port. 0 or -1 with a reason (for tests). */
int rest_url_split(const char *url, char *host, size_t hostlen, unsigned *port, char *err,
                   size_t errlen);
/* Percent-encodes an SAE id for a path segment (unreserved bytes kept). 0, or -1 when out is
 * too small. */
int rest_path_escape(const char *in, char *out, size_t outlen);

#endif
