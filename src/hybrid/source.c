/* source.c: the table of key sources (names and sizes: FIPS 203, RFC 7748, Classic McEliece
 * round 4 and NTRU Prime as libmceliece / libntruprime implement them; docs/hybrid.md "Key
 * sources"), and which of them this build provides. */
#include "source.h"

#include <strings.h>

#ifdef QKD_HAVE_MCELIECE
#define SRC_MCE true
#define SRC_MCE_NAMES                                                                              \
    ", Classic-McEliece-348864, Classic-McEliece-348864f, Classic-McEliece-460896, "               \
    "Classic-McEliece-460896f, Classic-McEliece-6688128, Classic-McEliece-6688128f, "              \
    "Classic-McEliece-6960119, Classic-McEliece-6960119f, Classic-McEliece-8192128, "              \
    "Classic-McEliece-8192128f"
#else
#define SRC_MCE       false
#define SRC_MCE_NAMES ""
#endif
#ifdef QKD_HAVE_NTRUPRIME
#define SRC_NTRU       true
#define SRC_NTRU_NAMES ", sntrup761"
#else
#define SRC_NTRU       false
#define SRC_NTRU_NAMES ""
#endif

struct src_info {
    const char *name;
    size_t pub_len;
    size_t msg_len;
    size_t secret_len;
    bool built;
};

static const struct src_info src_table[HYB_SRC_COUNT] = {
    [HYB_SRC_QKD] = {"QKD", 0, 0, 0, true},
    [HYB_SRC_MLKEM512] = {"ML-KEM-512", 800, 768, 32, true},
    [HYB_SRC_MLKEM768] = {"ML-KEM-768", 1184, 1088, 32, true},
    [HYB_SRC_MLKEM1024] = {"ML-KEM-1024", 1568, 1568, 32, true},
    [HYB_SRC_X25519] = {"X25519", 32, 32, 32, true},
    [HYB_SRC_X448] = {"X448", 56, 56, 56, true},
    [HYB_SRC_MCE348864] = {"Classic-McEliece-348864", 261120, 96, 32, SRC_MCE},
    [HYB_SRC_MCE348864F] = {"Classic-McEliece-348864f", 261120, 96, 32, SRC_MCE},
    [HYB_SRC_MCE460896] = {"Classic-McEliece-460896", 524160, 156, 32, SRC_MCE},
    [HYB_SRC_MCE460896F] = {"Classic-McEliece-460896f", 524160, 156, 32, SRC_MCE},
    [HYB_SRC_MCE6688128] = {"Classic-McEliece-6688128", 1044992, 208, 32, SRC_MCE},
    [HYB_SRC_MCE6688128F] = {"Classic-McEliece-6688128f", 1044992, 208, 32, SRC_MCE},
    [HYB_SRC_MCE6960119] = {"Classic-McEliece-6960119", 1047319, 194, 32, SRC_MCE},
    [HYB_SRC_MCE6960119F] = {"Classic-McEliece-6960119f", 1047319, 194, 32, SRC_MCE},
    [HYB_SRC_MCE8192128] = {"Classic-McEliece-8192128", 1357824, 208, 32, SRC_MCE},
    [HYB_SRC_MCE8192128F] = {"Classic-McEliece-8192128f", 1357824, 208, 32, SRC_MCE},
    [HYB_SRC_SNTRUP761] = {"sntrup761", 1158, 1039, 32, SRC_NTRU},
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

bool hyb_source_built(enum hyb_source s)
{
    const struct src_info *i = src_get(s);
    return i != NULL && i->built;
}

const char *hyb_source_supported(void)
{
    return "QKD, ML-KEM-512, ML-KEM-768, ML-KEM-1024, X25519, X448" SRC_MCE_NAMES SRC_NTRU_NAMES;
}

bool hyb_source_is_libkem(enum hyb_source s)
{
    return s >= HYB_SRC_MCE348864 && s <= HYB_SRC_SNTRUP761;
}

bool hyb_source_is_kem(enum hyb_source s)
{
    return s == HYB_SRC_MLKEM512 || s == HYB_SRC_MLKEM768 || s == HYB_SRC_MLKEM1024 ||
           hyb_source_is_libkem(s);
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
