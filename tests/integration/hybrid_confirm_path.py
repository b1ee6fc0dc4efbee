#!/usr/bin/env python3
"""hybrid_confirm_path.py: the initiator decides a smaller source set than the responder's
REPLY offered (an optional source failed only at the initiator; injected with --test-fault
drop-optional), so early confirmation does not apply: RESULT over the smaller set, then the
responder's CONFIRM. Both ends must return the same key for that index, and later indices
(early confirmation again) must match too."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hybrid_lib import Net, check  # noqa: E402

net = Net("confirmpath")
net.start("alice", "--test-fault", "drop-optional")
net.start("bob")
net.wait_peers("alice", "bob")

src = "hybrid://app@alice?req_key_sources=ML-KEM-768&opt_key_sources=X25519"
dst = "hybrid://app@bob"
ks = net.open("alice", src, dst)
check(net.open("bob", src, dst) == ks, "both ends opened the stream")
pa = net.get_async("alice", ks, 0, 3)
pb = net.get_async("bob", ks, 0, 3, framing="e")
oa, ea = pa.communicate(timeout=60)
ob, eb = pb.communicate(timeout=60)
check(pa.returncode == 0 and pb.returncode == 0,
      "both ends got keys (%s %s)" % (ea.strip(), eb.strip()))
ka, kb = Net.keys_of(oa), Net.keys_of(ob)
check(sorted(ka) == [0, 1, 2] and ka == kb, "indices 0..2 identical at both ends")
check(len(set(ka.values())) == 3, "all keys distinct")
check("optional source #2 dropped here" in net.log("alice"), "the fault was injected at alice")
check("differs from REPLY's; CONFIRM" in net.log("bob"),
      "bob answered the smaller set with CONFIRM (the path under test ran)")
print("PASS")
