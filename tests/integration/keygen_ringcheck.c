/* keygen_ringcheck.c: qkd-ringcheck, a test-only tool that attaches to a key ring as a reader
 * and prints its offsets, link stats and a SHA-256 of the bytes in a range WITHOUT consuming
 * (or, with --consume, consumes like a key server would). Output is "key=value" lines for
 * scripts. Never prints key bytes.
 *
 *   qkd-ringcheck RING [--from N] [--to N]   offsets, stats, sha256 of [from, to)
 *                                           (default [consume, write))
 *   qkd-ringcheck RING --rate SECONDS        delivered bit/s measured over SECONDS
 *   qkd-ringcheck RING --consume UPTO        consume (wipe) up to UPTO
 * Exit status: 0 ok, 1 usage, 2 range not readable, 3 cannot attach. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "ring.h"

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    if (s == NULL || *s < '0' || *s > '9') return -1;
    *v = strtoull(s, &end, 10);
    return *end == '\0' ? 0 : -1;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void)
{
    fprintf(stderr, "usage: qkd-ringcheck RING [--from N] [--to N] | --rate SECONDS | "
                    "--consume UPTO\n");
    return 1;
}

static int hash_range(struct qkd_ring *r, uint64_t from, uint64_t to, char hex[65])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return -1;
    }
    uint8_t buf[16384];
    int rc = 0;
    for (uint64_t off = from; off < to && rc == 0;) {
        size_t n = to - off < sizeof(buf) ? (size_t)(to - off) : sizeof(buf);
        if (qkd_ring_read(r, off, buf, n, NULL) != QKD_RING_OK || EVP_DigestUpdate(md, buf, n) != 1)
            rc = -1;
        off += n;
    }
    unsigned char dig[32];
    unsigned dlen = 0;
    if (rc == 0 && EVP_DigestFinal_ex(md, dig, &dlen) != 1) rc = -1;
    EVP_MD_CTX_free(md);
    OPENSSL_cleanse(buf, sizeof(buf));
    for (unsigned i = 0; rc == 0 && i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", dig[i]);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] != '/') return usage();
    const char *name = argv[1];
    uint64_t from = 0, to = 0, rate_s = 0, upto = 0;
    int have_from = 0, have_to = 0, have_rate = 0, have_consume = 0;
    for (int i = 2; i < argc; i++) {
        if (i + 1 >= argc) return usage();
        uint64_t *dst;
        if (strcmp(argv[i], "--from") == 0)
            dst = &from, have_from = 1;
        else if (strcmp(argv[i], "--to") == 0)
            dst = &to, have_to = 1;
        else if (strcmp(argv[i], "--rate") == 0)
            dst = &rate_s, have_rate = 1;
        else if (strcmp(argv[i], "--consume") == 0)
            dst = &upto, have_consume = 1;
        else
            return usage();
        if (parse_u64(argv[++i], dst) != 0) return usage();
    }
    struct qkd_ring *r;
    int orc = have_consume ? qkd_ring_open_reader(name, 0, &r) : qkd_ring_open_observer(name, &r);
    if (orc != QKD_RING_OK) {
        fprintf(stderr, "qkd-ringcheck: %s\n", qkd_ring_last_error());
        return 3;
    }
    int status = 0;
    if (have_rate) {
        uint64_t w0 = qkd_ring_write_offset(r);
        double t0 = mono_s();
        struct timespec ts = {.tv_sec = (time_t)rate_s, .tv_nsec = 0};
        nanosleep(&ts, NULL);
        uint64_t w1 = qkd_ring_write_offset(r);
        double t1 = mono_s();
        printf("bytes=%" PRIu64 "\nseconds=%.3f\nbps=%.0f\n", w1 - w0, t1 - t0,
               (double)(w1 - w0) * 8.0 / (t1 - t0));
    } else if (have_consume) {
        if (qkd_ring_consume(r, upto) != QKD_RING_OK) {
            fprintf(stderr, "qkd-ringcheck: %s\n", qkd_ring_last_error());
            status = 2;
        }
        printf("consume=%" PRIu64 "\n", qkd_ring_consume_offset(r));
    } else {
        uint64_t c = qkd_ring_consume_offset(r), w = qkd_ring_write_offset(r);
        struct qkd_ring_stats st;
        qkd_ring_get_stats(r, &st);
        printf("write=%" PRIu64 "\nconsume=%" PRIu64 "\ncapacity=%zu\nlink_up=%d\nskr_bps=%" PRIu64
               "\nblocks_distilled=%" PRIu64 "\nblocks_dropped=%" PRIu64 "\nbytes_dropped=%" PRIu64
               "\nwriter_pid=%" PRIu64 "\nskr_current_bps=%" PRIu64 "\n",
               c > w ? c : w, c, qkd_ring_capacity(r), st.link_up ? 1 : 0, st.skr_bps,
               st.blocks_distilled, st.blocks_dropped, st.bytes_dropped, st.writer_pid,
               st.skr_current_bps);
        if (!have_from) from = c;
        if (!have_to) to = w;
        char hex[65] = "";
        if (to < from || hash_range(r, from, to, hex) != 0) {
            fprintf(stderr, "qkd-ringcheck: range [%" PRIu64 ", %" PRIu64 ") not readable: %s\n",
                    from, to, qkd_ring_last_error());
            status = 2;
        } else {
            printf("from=%" PRIu64 "\nto=%" PRIu64 "\nsha256=%s\n", from, to, hex);
        }
    }
    qkd_ring_close(r);
    return status;
}
