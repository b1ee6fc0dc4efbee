#!/usr/bin/env python3
"""hybrid_qkd_faults_initiator.py: alice's (the initiator's) key server stopped. Required QKD:
the call fails at both ends, no key anywhere. Optional QKD: both ends return the same keys
without QKD, different from the keys made with it (early confirmation from REPLY, or RESULT
then CONFIRM when the responder still offered QKD)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hybrid_lib import Net, check  # noqa: E402

net = Net("qkdfaultsi", kme=True)
net.start("alice")
net.start("bob")
net.wait_peers("alice", "bob")

req = "hybrid://app@alice?key_sources=QKD,ML-KEM-768"
opt = "hybrid://opt@alice?req_key_sources=ML-KEM-768&opt_key_sources=QKD"
dst_req, dst_opt = "hybrid://app@bob", "hybrid://opt@bob"
ks = net.open("alice", req, dst_req)
check(net.open("bob", req, dst_req, framing="e") == ks, "both ends opened the required-QKD stream")
ks_opt = net.open("alice", opt, dst_opt)
check(net.open("bob", opt, dst_opt) == ks_opt, "both ends opened the optional-QKD stream")

# with both key servers up, indices 0..2 of the optional stream include QKD
pa = net.get_async("alice", ks_opt, 0, 3)
pb = net.get_async("bob", ks_opt, 0, 3, framing="e")
oa, _ = pa.communicate(timeout=60)
ob, _ = pb.communicate(timeout=60)
with_qkd = Net.keys_of(oa)
check(pa.returncode == 0 and with_qkd == Net.keys_of(ob) and sorted(with_qkd) == [0, 1, 2],
      "indices 0..2 identical at both ends while the key servers are up")
net.stop_kme("alice")

# required QKD: fails at both ends
pa = net.get_async("alice", ks, 0, 1)
pb = net.get_async("bob", ks, 0, 1, framing="e")
oa, ea = pa.communicate(timeout=60)
ob, eb = pb.communicate(timeout=60)
check(pa.returncode in (12, 16) and pb.returncode in (12, 16),
      "required QKD missing at the initiator -> both ends fail (rc %d %d)" %
      (pa.returncode, pb.returncode))
check(oa.strip() == "" and ob.strip() == "", "no key returned at either end")

# optional QKD: same keys at both ends, without QKD
pa = net.get_async("alice", ks_opt, 3, 5)
pb = net.get_async("bob", ks_opt, 3, 5, framing="e")
oa, ea = pa.communicate(timeout=120)
ob, eb = pb.communicate(timeout=120)
check(pa.returncode == 0 and pb.returncode == 0, "optional QKD: both ends got keys (%s %s)" %
      (ea.strip(), eb.strip()))
ka, kb = Net.keys_of(oa), Net.keys_of(ob)
check(sorted(ka) == [3, 4, 5, 6, 7] and ka == kb, "optional QKD: identical keys at both ends")
check(len(set(ka.values()) | set(with_qkd.values())) == 8, "all keys distinct")
print("PASS")
