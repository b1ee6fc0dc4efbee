#!/usr/bin/env python3
"""hybrid_three_nodes.py: alice, bob and charlie with key servers and hybrid daemons; every
pair makes {QKD, ML-KEM-768} keys (the node of the source URI initiates): alice-bob, bob-charlie,
alice-charlie keys match pairwise and differ between pairs."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hybrid_lib import Net, check, fail  # noqa: E402

N = int(os.environ.get("HYB_THREE_N", "50"))
net = Net("three", nodes=("alice", "bob", "charlie"), kme=True)
for n in net.nodes:
    net.start(n)
for a, b in (("alice", "bob"), ("bob", "charlie"), ("alice", "charlie")):
    net.wait_peers(a, b)

seen = {}
for a, b in (("alice", "bob"), ("bob", "charlie"), ("charlie", "alice")):
    src = "hybrid://app@%s?key_sources=QKD,ML-KEM-768" % a
    dst = "hybrid://app@%s" % b
    ks = net.open(a, src, dst)
    check(net.open(b, src, dst, framing="e") == ks, "%s-%s: both ends opened %s" % (a, b, ks))
    pa = net.get_async(a, ks, 0, N)
    pb = net.get_async(b, ks, 0, N, framing="e")
    oa, ea = pa.communicate(timeout=240)
    ob, eb = pb.communicate(timeout=240)
    if pa.returncode or pb.returncode:
        fail("%s-%s: get failed: %s / %s" % (a, b, ea, eb))
    ka, kb = Net.keys_of(oa), Net.keys_of(ob)
    check(sorted(ka) == list(range(N)) and ka == kb, "%s-%s: %d keys match" % (a, b, N))
    for k in ka.values():
        if k in seen:
            fail("%s-%s: a key also made by %s" % (a, b, seen[k]))
        seen[k] = "%s-%s" % (a, b)
check(len(seen) == 3 * N, "keys of the three pairs all differ")
print("PASS")
