/* emul.c: QBER rate fraction and outage schedule of the keygen link emulator (emul.h). */
#include "emul.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double kg_binary_entropy(double p)
{
    if (!(p > 0.0) || !(p < 1.0)) return 0.0;
    return -p * log2(p) - (1.0 - p) * log2(1.0 - p);
}

double kg_qber_fraction(double qber_pct)
{
    double f = 1.0 - 2.0 * kg_binary_entropy(qber_pct / 100.0);
    double f0 = 1.0 - 2.0 * kg_binary_entropy(0.0);
    return f > 0.0 ? f / f0 : 0.0;
}

uint64_t kg_qber_skr(uint64_t skr_bps, double qber_pct)
{
    double r = (double)skr_bps * kg_qber_fraction(qber_pct);
    if (r >= (double)skr_bps) return skr_bps;
    return r > 0.0 ? (uint64_t)r : 0;
}

/* Parses a non-negative decimal "D[.DDD]" with at most maxfrac fraction digits into an integer
 * scaled by 10^maxfrac. Returns 0 or -1. */
static int kg_parse_fixed(const char *s, unsigned maxfrac, uint64_t limit, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9') return -1;
    uint64_t v = 0;
    unsigned frac = 0;
    bool dot = false;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '.' && !dot) {
            dot = true;
            if (p[1] == '\0') return -1;
            continue;
        }
        if (*p < '0' || *p > '9') return -1;
        if (dot && ++frac > maxfrac) return -1;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > limit * 1000ull) return -1; /* far beyond any limit: stop before overflow */
    }
    for (; frac < maxfrac; frac++)
        v *= 10;
    *out = v;
    return 0;
}

int kg_parse_qber(const char *s, double *pct)
{
    uint64_t v; /* hundredths of a percent... up to four decimals */
    if (kg_parse_fixed(s, 4, (uint64_t)KG_QBER_MAX_PCT * 10000u, &v) != 0) return -1;
    double d = (double)v / 10000.0;
    if (d > KG_QBER_MAX_PCT) return -1;
    *pct = d;
    return 0;
}

int kg_parse_seconds_ms(const char *s, uint32_t *ms)
{
    uint64_t v;
    if (kg_parse_fixed(s, 3, KG_OUTAGE_MAX_MS, &v) != 0) return -1;
    if (v != 0 && (v < KG_OUTAGE_MIN_MS || v > KG_OUTAGE_MAX_MS)) return -1;
    *ms = (uint32_t)v;
    return 0;
}

const char *kg_outage_check(const struct kg_outage *o)
{
    if (o->every_ms == 0 && o->for_ms == 0) return NULL;
    if (o->every_ms == 0) return "--outage-for (OUTAGE_FOR) needs --outage-every (OUTAGE_EVERY)";
    if (o->for_ms == 0) return "--outage-every (OUTAGE_EVERY) needs --outage-for (OUTAGE_FOR)";
    if (o->for_ms > o->every_ms - KG_OUTAGE_MIN_MS)
        return "--outage-for (OUTAGE_FOR) must be shorter than --outage-every (OUTAGE_EVERY): "
               "the link must come back up between outages";
    return NULL;
}

bool kg_outage_active(const struct kg_outage *o, uint64_t elapsed_ms)
{
    if (o->every_ms == 0 || o->for_ms == 0 || elapsed_ms < o->every_ms) return false;
    return elapsed_ms % o->every_ms < o->for_ms;
}

uint64_t kg_outage_next_change(const struct kg_outage *o, uint64_t elapsed_ms)
{
    if (o->every_ms == 0 || o->for_ms == 0) return 0;
    if (elapsed_ms < o->every_ms) return o->every_ms - elapsed_ms;
    uint64_t phase = elapsed_ms % o->every_ms;
    return phase < o->for_ms ? o->for_ms - phase : o->every_ms - phase;
}
