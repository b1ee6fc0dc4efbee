/* emul.h: the link emulation knobs of qkd-keygen besides SKR and block size (docs/keygen.md,
 * "Emulation knobs"): a quantum bit error rate (QBER), which scales the distilled secret rate by
 * the asymptotic BB84 fraction 1 - 2 h(QBER), and an outage profile (the link goes down for `for`
 * ms every `every` ms). Pure functions on caller-supplied values, so they are tested without a
 * clock; the sender (sender.c) applies them. */
#ifndef KG_EMUL_H
#define KG_EMUL_H

#include <stdbool.h>
#include <stdint.h>

#define KG_QBER_MAX_PCT    50.0      /* above 50 % the bits are better flipped: refused */
#define KG_OUTAGE_MIN_MS   10u       /* shortest outage window and shortest gap */
#define KG_OUTAGE_MAX_MS   86400000u /* one day */
#define KG_QBER_NO_KEY_PCT 11.0      /* informative: 1 - 2 h(p) reaches 0 near 11 % */

/* Binary entropy h(p) = -p log2 p - (1-p) log2 (1-p), 0 at p = 0 and p = 1. */
double kg_binary_entropy(double p);
/* Fraction of the SKR left at this QBER (percent): max(0, 1 - 2 h(q/100)) / (1 - 2 h(0)).
 * 1 at 0 %, about 0.427 at 5 %, about 0 at 11 %, 0 above. */
double kg_qber_fraction(double qber_pct);
/* The secret key rate actually distilled (bits/s, rounded down) at skr_bps and this QBER. */
uint64_t kg_qber_skr(uint64_t skr_bps, double qber_pct);

/* "5", "2.5", "0": a QBER percentage in [0, KG_QBER_MAX_PCT]. Returns 0 or -1. */
int kg_parse_qber(const char *s, double *pct);
/* "2", "0.5", "1.25": seconds (at most three decimals) as milliseconds in
 * [KG_OUTAGE_MIN_MS, KG_OUTAGE_MAX_MS], or "0" (= off) as 0. Returns 0 or -1. */
int kg_parse_seconds_ms(const char *s, uint32_t *ms);

/* Outage profile: windows [k * every_ms, k * every_ms + for_ms) for k >= 1, counted from the
 * sender's start; off when every_ms is 0. A valid profile has for_ms < every_ms. */
struct kg_outage {
    uint32_t every_ms;
    uint32_t for_ms;
};
/* Checks a profile; returns NULL when valid (or off), else why not. */
const char *kg_outage_check(const struct kg_outage *o);
/* Whether elapsed_ms (since the start) lies inside an outage window. */
bool kg_outage_active(const struct kg_outage *o, uint64_t elapsed_ms);
/* Milliseconds from elapsed_ms to the next change of kg_outage_active (>= 1); 0 when off. */
uint64_t kg_outage_next_change(const struct kg_outage *o, uint64_t elapsed_ms);

#endif
