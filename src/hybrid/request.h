/* request.h: the request format of the hybrid daemon (from the Python KDFix module):
 *   source       hybrid://<app>@<node>?hybridization=<method>&key_sources=<src>[,<src>...]
 *   destination  hybrid://<app>@<peer-node>
 * key_sources lists required sources; req_key_sources / opt_key_sources list required and
 * optional ones. The method defaults to hkdf. See docs/hybrid.md for the grammar. */
#ifndef HYB_REQUEST_H
#define HYB_REQUEST_H

#include "combiner.h"
#include "source.h"

#include <stdbool.h>
#include <stddef.h>

#define HYB_MAX_SOURCES  8    /* sources per request (repeats count) */
#define HYB_APP_MAX      128  /* application name, with NUL */
#define HYB_NODE_MAX     256  /* node name or UUID, with NUL */
#define HYB_REQ_TEXT_MAX 1024 /* longest canonical request text, with NUL */
/* Sum of the public keys of a request's sources (repeats count): the initiator's INIT message
 * carries them all in one peer frame (HYB_PM_MAX_PAYLOAD, 2 MiB), with 64 KiB left for the
 * other fields, the envelope and the ML-DSA-65 signature. Room for the largest Classic McEliece
 * key (8192128, 1357824 bytes) with any of the small sources, or up to seven 348864 keys.
 * docs/hybrid.md "Limits". */
#define HYB_REQ_MAX_PUB_BYTES (2u * 1024u * 1024u - 64u * 1024u)

struct hyb_source_req {
    enum hyb_source source;
    bool required;
};

struct hyb_request {
    char app[HYB_APP_MAX];
    char node[HYB_NODE_MAX];
    enum hyb_comb_method method;
    size_t n_sources;
    /* In canonical order: key_sources, then req_key_sources, then opt_key_sources, each in the
     * order written. This order is the source list of the hkdf and catkdf combiners. */
    struct hyb_source_req sources[HYB_MAX_SOURCES];
};

struct hyb_dest {
    char app[HYB_APP_MAX];
    char node[HYB_NODE_MAX];
};

/* Parses a source URI. Returns 0, or -1 with a message naming the offending part in err. */
int hyb_request_parse(const char *uri, struct hyb_request *out, char *err, size_t errlen);
/* Parses a destination URI (a query, if any, is ignored: parameters come from the source). */
int hyb_dest_parse(const char *uri, struct hyb_dest *out, char *err, size_t errlen);
/* Canonical text of a request, parseable by hyb_request_parse into an equal request:
 * hybrid://app@node?hybridization=m[&req_key_sources=a,b][&opt_key_sources=c].
 * Returns 0, or -1 when it does not fit in outlen. */
int hyb_request_format(const struct hyb_request *r, char *out, size_t outlen);

#endif
