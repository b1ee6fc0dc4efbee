/* fuzz_hybrid_request.c: libFuzzer target for the hybrid:// request grammar (request.h). The
 * input (cut at its first NUL) is parsed as a source and as a destination URI. A source that
 * parses is also a valid destination with the same app and node, and its canonical text
 * (hyb_request_format) must parse back to an equal request and format to the same text
 * (docs/hybrid.md "Request grammar"). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

#define FUZZ_CHECK(c)                                                                              \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

#define FUZZ_REQ_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_req_check(const struct hyb_request *r)
{
    FUZZ_CHECK(memchr(r->app, 0, sizeof(r->app)) && memchr(r->node, 0, sizeof(r->node)));
    FUZZ_CHECK(r->app[0] != '\0' && r->node[0] != '\0');
    FUZZ_CHECK(r->n_sources >= 1 && r->n_sources <= HYB_MAX_SOURCES);
    bool optional_seen = false;
    for (size_t i = 0; i < r->n_sources; i++) {
        FUZZ_CHECK((unsigned)r->sources[i].source < HYB_SRC_COUNT);
        /* Canonical order: all required sources before the optional ones. */
        FUZZ_CHECK(!(optional_seen && r->sources[i].required));
        if (!r->sources[i].required) optional_seen = true;
    }
}

static bool fuzz_req_equal(const struct hyb_request *a, const struct hyb_request *b)
{
    if (strcmp(a->app, b->app) != 0 || strcmp(a->node, b->node) != 0) return false;
    if (a->method != b->method || a->n_sources != b->n_sources) return false;
    for (size_t i = 0; i < a->n_sources; i++)
        if (a->sources[i].source != b->sources[i].source ||
            a->sources[i].required != b->sources[i].required)
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_REQ_MAX) return 0;
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct hyb_request a, b;
    struct hyb_dest d;
    char err[256], text[HYB_REQ_TEXT_MAX], text2[HYB_REQ_TEXT_MAX];
    err[0] = '\0';
    int rc = hyb_request_parse(s, &a, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || (err[0] != '\0' && memchr(err, 0, sizeof(err)) != NULL));
    err[0] = '\0';
    int drc = hyb_dest_parse(s, &d, err, sizeof(err));
    FUZZ_CHECK(drc == 0 || (err[0] != '\0' && memchr(err, 0, sizeof(err)) != NULL));
    if (drc == 0) FUZZ_CHECK(d.app[0] != '\0' && d.node[0] != '\0');
    /* NULL outputs and error buffers are allowed. */
    FUZZ_CHECK(hyb_request_parse(s, NULL, NULL, 0) == rc);
    FUZZ_CHECK(hyb_dest_parse(s, NULL, NULL, 0) == drc);
    if (rc == 0) {
        fuzz_req_check(&a);
        FUZZ_CHECK(drc == 0 && strcmp(a.app, d.app) == 0 && strcmp(a.node, d.node) == 0);
        FUZZ_CHECK(hyb_request_format(&a, text, sizeof(text)) == 0);
        FUZZ_CHECK(hyb_request_parse(text, &b, err, sizeof(err)) == 0);
        FUZZ_CHECK(fuzz_req_equal(&a, &b));
        FUZZ_CHECK(hyb_request_format(&b, text2, sizeof(text2)) == 0);
        FUZZ_CHECK(strcmp(text, text2) == 0);
    }
    free(s);
    return 0;
}
