/* sock.h: the project's TCP socket helpers (sock.c): the one "host:port" / "[v6]:port" address
 * parser, listening and non-blocking connecting sockets, accept, the bound port, the port file,
 * and the one place TCP_NODELAY is set (docs/architecture.md). Every socket they return is
 * non-blocking and close-on-exec. */
#ifndef QKD_SOCK_H
#define QKD_SOCK_H

#include <stddef.h>

/* The project's one address parser: splits "host:port" or "[v6]:port" into host (brackets
 * removed; may be empty) and port (0..65535). Returns 0, or -1 with the reason in err (err may
 * be NULL). Callers add their own rules (host required, port 0 refused, ...). */
int qkd_addr_split(const char *addr, char *host, size_t hostlen, unsigned *port, char *err,
                   size_t errlen);
/* Sockets. addr is "host:port" (host may be a name, IPv4 or [IPv6]). Return fd or -1 with
 * err filled. */
int qkd_tcp_listen(const char *addr, int backlog, char *err, size_t errlen);
int qkd_tcp_connect_nb(const char *addr, char *err, size_t errlen); /* non-blocking connect */
/* Port the socket is bound to (for port 0 listeners). */
int qkd_tcp_local_port(int fd);
/* Writes "<port>\n" to path atomically (temporary file, then rename), so a reader waiting for
 * the file never sees it half written. Returns 0 or -1. */
int qkd_write_port_file(const char *path, int port);
/* Accepts one connection from a non-blocking listener: a non-blocking, close-on-exec socket
 * with TCP_NODELAY. Returns the fd, or -1 with errno set (EAGAIN when none is waiting). */
int qkd_tcp_accept(int lfd);

/* Sets TCP_NODELAY (frames are small and answered at once); ignored on non-TCP sockets. The
 * only place the option is set: qkd_tcp_accept and qkd_tcp_connect_nb call it. */
void qkd_tcp_nodelay(int fd);

/* Raises the soft RLIMIT_NOFILE to want (at most the hard limit) when it is lower, so the
 * configured connection limits can be reached; never lowers it. Returns the soft limit now in
 * force (logged at INFO when raised, WARN when want is above the hard limit), 0 on failure. */
unsigned long qkd_raise_nofile(unsigned long want);

#endif
