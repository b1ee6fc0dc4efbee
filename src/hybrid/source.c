/* source.c: the table of key sources (names and sizes, FIPS 203 and RFC 7748). */
#include "source.h"

#include <strings.h>

struct src_info {
    const char *name;
    size_t pub_len;
    size_t msg_len;
    size_t secret_len;
};

static const struct src_info src_table[HYB_SRC_COUNT] = {
    [HYB_SRC_QKD] = {"QKD", 0, 0, 0},
    [HYB_SRC_MLKEM512] = {"ML-KEM-512", 800, 768, 32},
    [HYB_SRC_MLKEM768] = {"ML-KEM-768", 1184, 1088, 32},
    [HYB_SRC_MLKEM1024] = {"ML-KEM-1024", 1568, 1568, 32},
    [HYB_SRC_X25519] = {"X25519", 32, 32, 32},
    [HYB_SRC_X448] = {"X448", 56, 56, 56},
};

static const struct src_info *src_get(enum hyb_source s)
{
    if ((unsigned)s >= HYB_SRC_COUNT) return NULL;
    return &src_table[s];
}

const char *hyb_source_name(enum hyb_source s)
{
    const struct src_info *i = src_get(s);
    return i ? i->name : "?";
}

int hyb_source_parse(const char *name, size_t len, enum hyb_source *out)
{
    for (unsigned k = 0; k < HYB_SRC_COUNT; k++) {
        const char *n = src_table[k].name;
        size_t nl = 0;
        while (n[nl])
            nl++;
        if (nl == len && strncasecmp(n, name, len) == 0) {
            *out = (enum hyb_source)k;
            return 0;
        }
    }
    return -1;
}

bool hyb_source_is_kem(enum hyb_source s)
{
    return s == HYB_SRC_MLKEM512 || s == HYB_SRC_MLKEM768 || s == HYB_SRC_MLKEM1024;
}

bool hyb_source_is_ecdh(enum hyb_source s)
{
    return s == HYB_SRC_X25519 || s == HYB_SRC_X448;
}

size_t hyb_source_pub_len(enum hyb_source s)
{
    const struct src_info *i = src_get(s);
    return i ? i->pub_len : 0;
}

size_t hyb_source_msg_len(enum hyb_source s)
{
    const struct src_info *i = src_get(s);
    return i ? i->msg_len : 0;
}

size_t hyb_source_secret_len(enum hyb_source s)
{
    const struct src_info *i = src_get(s);
    return i ? i->secret_len : 0;
}
