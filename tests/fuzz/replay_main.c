/* replay_main.c: drives a libFuzzer target without libFuzzer, for ctest. Runs
 * LLVMFuzzerTestOneInput over every file of a corpus directory, then over a fixed number of
 * deterministic pseudo-random mutations of those files (each input in an exact-size heap
 * buffer, so a sanitizer build catches any over-read). Exits 0 when nothing crashed.
 * Usage: replay_<target> CORPUS_DIR [ITERATIONS] */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_SEEDS          256
#define REPLAY_MAX_INPUT          65536
#define REPLAY_DEFAULT_ITERATIONS 20000

struct seed {
    uint8_t *data;
    size_t len;
};

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

static size_t rng_below(size_t n)
{
    return n ? (size_t)(rng_next() % n) : 0;
}

static int run_one(const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        fprintf(stderr, "replay: out of memory\n");
        return -1;
    }
    if (len) memcpy(copy, data, len);
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
    return 0;
}

static int read_file(const char *path, struct seed *s)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    uint8_t *buf = malloc(REPLAY_MAX_INPUT);
    if (!buf) {
        fclose(f);
        return -1;
    }
    size_t n = fread(buf, 1, REPLAY_MAX_INPUT, f);
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return -1;
    }
    s->data = buf;
    s->len = n;
    return 0;
}

/* One mutation of src into dst (capacity REPLAY_MAX_INPUT); returns the new length. */
static size_t mutate(const struct seed *src, uint8_t *dst)
{
    static const uint32_t interesting[] = {0,    1,    2,     3,     4,          7,
                                           8,    16,   24,    255,   256,        304,
                                           1023, 1024, 65535, 65536, 0x7FFFFFFF, 0xFFFFFFFF};
    size_t len = src->len;
    memcpy(dst, src->data, len);
    int ops = 1 + (int)rng_below(4);
    for (int i = 0; i < ops; i++) {
        switch (rng_below(7)) {
        case 0: /* flip a bit */
            if (len) dst[rng_below(len)] ^= (uint8_t)(1u << rng_below(8));
            break;
        case 1: /* random byte */
            if (len) dst[rng_below(len)] = (uint8_t)rng_next();
            break;
        case 2: /* truncate */
            len = rng_below(len + 1);
            break;
        case 3: /* insert a byte */
            if (len < REPLAY_MAX_INPUT) {
                size_t at = rng_below(len + 1);
                memmove(dst + at + 1, dst + at, len - at);
                dst[at] = (uint8_t)rng_next();
                len++;
            }
            break;
        case 4: /* delete a byte */
            if (len) {
                size_t at = rng_below(len);
                memmove(dst + at, dst + at + 1, len - at - 1);
                len--;
            }
            break;
        case 5: /* big-endian interesting u32 */
            if (len >= 4) {
                size_t at = rng_below(len - 3);
                uint32_t v = interesting[rng_below(sizeof(interesting) / sizeof(interesting[0]))];
                dst[at] = (uint8_t)(v >> 24);
                dst[at + 1] = (uint8_t)(v >> 16);
                dst[at + 2] = (uint8_t)(v >> 8);
                dst[at + 3] = (uint8_t)v;
            }
            break;
        default: /* append random bytes */
            for (size_t k = rng_below(32); k > 0 && len < REPLAY_MAX_INPUT; k--)
                dst[len++] = (uint8_t)rng_next();
            break;
        }
    }
    return len;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR [ITERATIONS]\n", argv[0]);
        return 2;
    }
    long iterations = argc > 2 ? strtol(argv[2], NULL, 10) : REPLAY_DEFAULT_ITERATIONS;
    if (iterations < 0) iterations = REPLAY_DEFAULT_ITERATIONS;
    /* Sorted by name so the mutation sequence is the same on every file system. */
    struct dirent **names = NULL;
    int nnames = scandir(argv[1], &names, NULL, alphasort);
    if (nnames < 0) {
        perror(argv[1]);
        return 2;
    }
    static struct seed seeds[REPLAY_MAX_SEEDS];
    size_t nseeds = 0;
    char path[4096];
    for (int i = 0; i < nnames; i++) {
        const char *name = names[i]->d_name;
        if (name[0] != '.' && nseeds < REPLAY_MAX_SEEDS &&
            snprintf(path, sizeof(path), "%s/%s", argv[1], name) < (int)sizeof(path) &&
            read_file(path, &seeds[nseeds]) == 0)
            nseeds++;
        free(names[i]);
    }
    free(names);
    if (nseeds == 0) {
        fprintf(stderr, "replay: no seed files in %s\n", argv[1]);
        return 1;
    }
    for (size_t i = 0; i < nseeds; i++)
        if (run_one(seeds[i].data, seeds[i].len) < 0) return 1;
    uint8_t *buf = malloc(REPLAY_MAX_INPUT);
    if (!buf) return 1;
    for (long it = 0; it < iterations; it++) {
        size_t n = mutate(&seeds[rng_below(nseeds)], buf);
        if (run_one(buf, n) < 0) return 1;
    }
    free(buf);
    for (size_t i = 0; i < nseeds; i++)
        free(seeds[i].data);
    printf("replay: %zu seeds, %ld mutations, no crash\n", nseeds, iterations);
    return 0;
}
