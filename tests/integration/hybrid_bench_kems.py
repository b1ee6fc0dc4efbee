#!/usr/bin/env python3
"""hybrid_bench_kems.py: a benchmark (prints numbers; not registered as a test). Two qkd-hybrid
daemons (alice, bob; no key servers) and hybrid_bench per KEM source alone: keys/s per pair with
1 and 4 connections per end, for ML-KEM-768 and X25519 (reference), sntrup761 and every Classic
McEliece set this build has (docs/hybrid.md "Tests and measurements"). HYB_BENCH_KEMS narrows
the list ("sntrup761,Classic-McEliece-348864"); N per source: 300 for the small KEMs, 20 for
McEliece 348864/460896, 6 for the 1 MB-key sets (HYB_BENCH_SCALE multiplies them)."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hybrid_lib import BIN, Net  # noqa: E402

MCE = ["348864", "348864f", "460896", "460896f", "6688128", "6688128f", "6960119", "6960119f",
       "8192128", "8192128f"]
ALL = ["ML-KEM-768", "X25519", "sntrup761"] + ["Classic-McEliece-" + m for m in MCE]
want = os.environ.get("HYB_BENCH_KEMS")
kems = want.split(",") if want else ALL
scale = float(os.environ.get("HYB_BENCH_SCALE", "1"))


def count(src):
    if not src.startswith("Classic-McEliece"):
        return 300
    return 20 if ("348864" in src or "460896" in src) else 6


net = Net("benchkem")
for n in net.nodes:
    net.start(n, "--log-level", "INFO")
net.wait_peers("alice", "bob")
for src in kems:
    for threads in ("1", "4"):
        n = str(max(2, int(count(src) * scale)))
        r = subprocess.run([os.path.join(BIN, "hybrid_bench"), net.addr["alice"], "alice",
                            net.addr["bob"], "bob", net.certs, src, n, threads],
                           capture_output=True, text=True, timeout=900)
        print(r.stdout.strip() or r.stderr.strip(), flush=True)
for n in net.nodes:
    net.stop(n)
    print([ln for ln in net.log(n).splitlines() if "stats:" in ln][-1])
