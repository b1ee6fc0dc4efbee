#!/usr/bin/env python3
"""hybrid_peer_batch.py: --peer-batch (peer messages under one signature) at its edges. 0 and
65 are refused at start; with 1 no BATCH frame is ever sent; with 2 batches are sent and none
holds more than 2 messages; 64 at one end and 1 at the other interoperate. In every run four
concurrent callers per end fetch interleaved index ranges and both ends' keys are identical.
KEM-only sources: no key server needed."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hybrid_lib import BIN, Net, check, fail  # noqa: E402

SRC = "hybrid://app@alice?key_sources=ML-KEM-768,X25519"
DST = "hybrid://app@bob"
PER, CALLERS = 15, 4
net = Net("peerbatch")

for bad in ("0", "65"):
    r = subprocess.run([os.path.join(BIN, "qkd-hybrid"), "--config", net.config("alice"),
                        "--peer-batch", bad], capture_output=True, text=True, timeout=30)
    check(r.returncode != 0 and "peer-batch" in r.stderr,
          "--peer-batch %s refused at start (rc %d)" % (bad, r.returncode))


def batches(node):
    return [int(n) for n in re.findall(r"sent a BATCH of (\d+) messages", net.log(node))]


def run(a_batch, b_batch):
    for n in ("alice", "bob"):
        open(net.logfile(n), "w").close()
    net.start("bob", "--peer-batch", b_batch)
    net.start("alice", "--peer-batch", a_batch)
    net.wait_peers("alice", "bob")
    ks = net.open("alice", SRC, DST)
    check(net.open("bob", SRC, DST) == ks, "batch %s/%s: both ends opened" % (a_batch, b_batch))
    procs = [(net.get_async(n, ks, c * PER, PER), n) for c in range(CALLERS)
             for n in ("alice", "bob")]
    keys = {"alice": {}, "bob": {}}
    for p, n in procs:
        out, err = p.communicate(timeout=120)
        if p.returncode:
            fail("batch %s/%s: get at %s failed: %s" % (a_batch, b_batch, n, err))
        keys[n].update(Net.keys_of(out))
    check(sorted(keys["alice"]) == list(range(CALLERS * PER)) and keys["alice"] == keys["bob"],
          "batch %s/%s: %d keys identical at both ends" % (a_batch, b_batch, CALLERS * PER))
    net.stop("alice")
    net.stop("bob")
    return batches("alice"), batches("bob")


ba, bb = run("1", "1")
check(ba == [] and bb == [], "--peer-batch 1: no BATCH frame sent")
ba, bb = run("2", "2")
check(ba + bb and max(ba + bb) == 2, "--peer-batch 2: batches sent, none above 2 messages "
      "(%d batches)" % len(ba + bb))
ba, bb = run("64", "1")
check(bb == [] and all(2 <= n <= 64 for n in ba), "--peer-batch 64 and 1 interoperate "
      "(%d batches from alice)" % len(ba))
print("PASS")
