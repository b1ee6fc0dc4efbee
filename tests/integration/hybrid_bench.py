#!/usr/bin/env python3
"""hybrid_bench.py: a benchmark (prints numbers; not registered as a test). Brings up alice, bob
and charlie with key servers and hybrid daemons, runs hybrid_bench for {QKD, ML-KEM-768} per
node pair with 1 and 4 connections per end, and prints each daemon's breakdown of where the time
goes (its "stats:" line at shutdown). HYB_BENCH_N keys per run (default 1000)."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hybrid_lib import BIN, Net  # noqa: E402

N = os.environ.get("HYB_BENCH_N", "1000")
SOURCES = os.environ.get("HYB_BENCH_SOURCES", "QKD,ML-KEM-768")
net = Net("bench", nodes=("alice", "bob", "charlie"), kme=True)
for n in net.nodes:
    net.start(n, "--log-level", "INFO")
for a, b in (("alice", "bob"), ("bob", "charlie"), ("alice", "charlie")):
    net.wait_peers(a, b)
for threads in ("1", "4"):
    for a, b in (("alice", "bob"), ("bob", "charlie"), ("alice", "charlie")):
        r = subprocess.run([os.path.join(BIN, "hybrid_bench"), net.addr[a], a, net.addr[b], b,
                            net.certs, SOURCES, N, threads], capture_output=True, text=True,
                           timeout=600)
        print(r.stdout.strip() or r.stderr.strip())
for n in net.nodes:
    net.stop(n)
    print([ln for ln in net.log(n).splitlines() if "stats:" in ln][-1])
