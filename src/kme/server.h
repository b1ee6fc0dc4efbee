/* server.h: the key server's ETSI 004 listener (server.c over src/common/etsi_server.c). */
#ifndef KME_SERVER_H
#define KME_SERVER_H

#include <stddef.h>

struct kme;

int kme_server_listen(struct kme *k, char *err, size_t n);
void kme_server_stop(struct kme *k);

#endif
