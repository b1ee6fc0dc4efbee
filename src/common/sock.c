/* sock.c: the TCP socket helpers of sock.h: parse "host:port" / "[v6]:port", listen,
 * non-blocking connect and accept (all non-blocking, close-on-exec, TCP_NODELAY). */
#include "sock.h"

#include "log.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

void qkd_tcp_nodelay(int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int qkd_addr_split(const char *addr, char *host, size_t hostlen, unsigned *port, char *err,
                   size_t errlen)
{
    char scratch[1];
    if (err == NULL || errlen == 0) {
        err = scratch;
        errlen = sizeof(scratch);
    }
    const char *h, *he, *p;
    if (addr == NULL || addr[0] == '\0') {
        snprintf(err, errlen, "empty address");
        return -1;
    }
    if (addr[0] == '[') {
        he = strchr(addr, ']');
        if (he == NULL || he[1] != ':') {
            snprintf(err, errlen, "bad address %s: expected [ipv6]:port", addr);
            return -1;
        }
        h = addr + 1;
        p = he + 2;
    } else {
        he = strrchr(addr, ':');
        if (he == NULL) {
            snprintf(err, errlen, "bad address %s: expected host:port", addr);
            return -1;
        }
        if (strchr(addr, ':') != he) {
            snprintf(err, errlen, "bad address %s: write IPv6 addresses as [addr]:port", addr);
            return -1;
        }
        h = addr;
        p = he + 1;
    }
    size_t hl = (size_t)(he - h), pl = strlen(p);
    if (pl == 0 || pl > 5 || strspn(p, "0123456789") != pl || atol(p) > 65535) {
        snprintf(err, errlen, "bad port in address %s", addr);
        return -1;
    }
    if (hl >= hostlen) {
        snprintf(err, errlen, "address too long: %s", addr);
        return -1;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (unsigned)atol(p);
    return 0;
}

static int sock_resolve(const char *addr, int passive, struct addrinfo **res, char *err,
                        size_t errlen)
{
    char host[256], port[8];
    unsigned portnum;
    if (qkd_addr_split(addr, host, sizeof(host), &portnum, err, errlen) != 0) return -1;
    snprintf(port, sizeof(port), "%u", portnum);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", addr, gai_strerror(rc));
        return -1;
    }
    return 0;
}

int qkd_tcp_listen(const char *addr, int backlog, char *err, size_t errlen)
{
    struct addrinfo *res = NULL;
    if (sock_resolve(addr, 1, &res, err, errlen) != 0) return -1;
    int fd = -1, saved = 0;
    /* IPv4 addresses first (the project's default listeners are IPv4). */
    for (int pass = 0; pass < 2 && fd < 0; pass++) {
        for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
            if ((ai->ai_family == AF_INET) != (pass == 0)) continue;
            fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                saved = errno;
                continue;
            }
            int one = 1;
            if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
                bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
                listen(fd, backlog > 0 ? backlog : SOMAXCONN) != 0) {
                saved = errno;
                close(fd);
                fd = -1;
            }
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(saved ? saved : EINVAL));
    return fd;
}

int qkd_tcp_connect_nb(const char *addr, char *err, size_t errlen)
{
    struct addrinfo *res = NULL;
    if (sock_resolve(addr, 0, &res, err, errlen) != 0) return -1;
    int fd = -1, saved = 0;
    for (int pass = 0; pass < 2 && fd < 0; pass++) {
        for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
            if ((ai->ai_family == AF_INET) != (pass == 0)) continue;
            fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                saved = errno;
                continue;
            }
            qkd_tcp_nodelay(fd);
            if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
                saved = errno;
                close(fd);
                fd = -1;
            }
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errlen, "cannot connect to %s: %s", addr, strerror(saved ? saved : EINVAL));
    return fd;
}

int qkd_tcp_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

int qkd_tcp_accept(int lfd)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) qkd_tcp_nodelay(fd);
    return fd;
}

int qkd_write_port_file(const char *path, int port)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) return -1;
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    int ok = fprintf(f, "%d\n", port) > 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

unsigned long qkd_raise_nofile(unsigned long want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rlim_t old = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        if (rl.rlim_cur > old && setrlimit(RLIMIT_NOFILE, &rl) != 0) rl.rlim_cur = old;
        if (rl.rlim_cur > old)
            log_info("open file limit raised from %lu to %lu", (unsigned long)old,
                     (unsigned long)rl.rlim_cur);
        if (rl.rlim_cur < want)
            log_warn("open file limit %lu (hard limit %lu) is below the %lu the connection "
                     "limits need; connections beyond it are refused until others close",
                     (unsigned long)rl.rlim_cur, (unsigned long)rl.rlim_max, want);
    }
    return rl.rlim_cur == RLIM_INFINITY ? (unsigned long)-1 : (unsigned long)rl.rlim_cur;
}
