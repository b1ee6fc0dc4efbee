/* tls.h: the one TLS setup. TLS 1.3 only, mutual authentication mandatory, key exchange
 * groups X25519MLKEM768 first, then X25519 and P-256 for classical peers. Certificate, key and
 * CA (the certificate authority peers must chain to) come from PEM files. */
#ifndef QKD_TLS_H
#define QKD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/ssl.h>

#define QKD_TLS_GROUPS "X25519MLKEM768:X25519:P-256"

struct qkd_tls_files {
    const char *cert; /* own certificate chain (PEM) */
    const char *key;  /* own private key (PEM) */
    const char *ca;   /* CA (or certificate) the peer's certificate must chain to */
};

/* Creates a client or server context; on failure returns NULL and writes a one-line reason
 * naming the file at fault into err. The CA file may hold several certificates (all trusted)
 * or a single pinned certificate that is not self-signed. No session resumption, tickets or
 * renegotiation. The server requires a client certificate; the client checks the server's
 * chain but not its name (see qkd_tls_set_expected_host). Also sets SIGPIPE to ignored when it
 * still has its default action (writes to a closed peer then fail with EPIPE). */
SSL_CTX *qkd_tls_ctx_new(bool server, const struct qkd_tls_files *files, char *err, size_t errlen);
/* The verified peer certificate's identity: subject CN (or, lacking one, the first DNS SAN)
 * copied into out. Returns 0, or -1 when there is no verified peer certificate. */
int qkd_tls_peer_name(SSL *ssl, char *out, size_t outlen);
/* For peer links between nodes (key servers, keygens, hybrid daemons): like qkd_tls_peer_name,
 * but only for a node certificate, one whose extended key usage extension names both
 * serverAuth and clientAuth (docs/certificates.md). Returns 0, -1 when there is no verified
 * peer certificate (or no name), QKD_TLS_NOT_NODE when the certificate is an application's
 * (clientAuth only, or no extended key usage): the name is still copied into out for logs. */
#define QKD_TLS_NOT_NODE (-2)
int qkd_tls_peer_node_name(SSL *ssl, char *out, size_t outlen);
/* A stable identity string for the verified peer certificate: "sha256:<hex of DER>". */
int qkd_tls_peer_id(SSL *ssl, char *out, size_t outlen);
#define QKD_TLS_ID_LEN 72

/* Optional for clients: also require the server certificate to match host (DNS name or IP
 * address, via SSL_set1_host) before the handshake. Call before the handshake starts (e.g.
 * right after qkd_conn_new on qkd_conn_ssl()). Returns 0 or -1. */
int qkd_tls_set_expected_host(SSL *ssl, const char *host);
/* The negotiated key exchange group ("X25519MLKEM768", ...) or NULL before the handshake. */
const char *qkd_tls_group_name(SSL *ssl);

#endif
