/* types.c: ETSI GS QKD 004 status code meanings (Table 2 of the standard) and Key_stream_ID
 * helpers (zero test, canonical text form via libuuid). The one table of status texts: the
 * library's wording (qkd_status_str) and the short meaning for one-line messages
 * (qkd_status_meaning, status.h). */
#include "qkd/types.h"

#include <string.h>

#include <uuid/uuid.h>

#include "status.h"

static const struct {
    const char *str;     /* qkd_status_str */
    const char *meaning; /* qkd_status_meaning */
} qkd_status_texts[QKD_STATUS_MAX + 1] = {
    [QKD_STATUS_SUCCESS] = {"successful", "successful"},
    [QKD_STATUS_PEER_NOT_CONNECTED] = {"successful connection, but peer not connected",
                                       "peer not connected"},
    [QKD_STATUS_INSUFFICIENT_KEY] = {"GET_KEY failed: insufficient key available",
                                     "insufficient key available"},
    [QKD_STATUS_PEER_APP_NOT_CONNECTED] = {"GET_KEY failed: peer application not connected",
                                           "peer application not connected or KSID unknown"},
    [QKD_STATUS_NO_QKD_CONNECTION] = {"no QKD connection available", "no QKD connection available"},
    [QKD_STATUS_KSID_IN_USE] = {"OPEN_CONNECT failed: KSID already in use", "KSID already in use"},
    [QKD_STATUS_TIMEOUT] = {"TIMEOUT_ERROR", "timeout"},
    [QKD_STATUS_QOS_NOT_MET] = {"OPEN_CONNECT: requested QoS could not be met, counter-proposal "
                                "included",
                                "QoS not met, counter-proposal included"},
    [QKD_STATUS_METADATA_TOO_SMALL] = {"GET_KEY failed: metadata buffer too small",
                                       "metadata buffer too small"},
};

const char *qkd_status_str(uint32_t status)
{
    return status <= QKD_STATUS_MAX ? qkd_status_texts[status].str : "unknown status";
}

const char *qkd_status_meaning(uint32_t status)
{
    return status <= QKD_STATUS_MAX ? qkd_status_texts[status].meaning : "unknown status";
}

bool qkd_status_ok(uint32_t status)
{
    return status == QKD_STATUS_SUCCESS || status == QKD_STATUS_PEER_NOT_CONNECTED ||
           status == QKD_STATUS_QOS_NOT_MET;
}

bool qkd_ksid_is_zero(const struct qkd_ksid *k)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < QKD_KSID_LEN; i++)
        acc |= k->b[i];
    return acc == 0;
}

void qkd_ksid_to_str(const struct qkd_ksid *k, char out[QKD_KSID_STRLEN])
{
    uuid_unparse_lower(k->b, out);
}

/* Accepts exactly the 8-4-4-4-12 hex form (either case); libuuid's parser alone would also
 * accept some non-canonical inputs depending on its version, so the shape is checked here. */
int qkd_ksid_from_str(const char *s, struct qkd_ksid *k)
{
    if (!s || !k) return -1;
    size_t n = strnlen(s, QKD_KSID_STRLEN);
    if (n != QKD_KSID_STRLEN - 1) return -1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool dash_pos = (i == 8 || i == 13 || i == 18 || i == 23);
        if (dash_pos) {
            if (c != '-') return -1;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return -1;
        }
    }
    uuid_t u;
    if (uuid_parse(s, u) != 0) return -1;
    memcpy(k->b, u, QKD_KSID_LEN);
    return 0;
}
