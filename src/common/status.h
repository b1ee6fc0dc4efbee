/* status.h: the short meaning of an ETSI GS QKD 004 status ("insufficient key available"),
 * for one-line messages such as qkd-client's (docs/client.md). Internal: libqkd004 exports
 * only qkd_status_str and qkd_status_ok (qkd/types.h); both read the one table in types.c. */
#ifndef QKD_STATUS_H
#define QKD_STATUS_H

#include <stdint.h>

/* "unknown status" for codes past QKD_STATUS_MAX. */
const char *qkd_status_meaning(uint32_t status);

#endif
