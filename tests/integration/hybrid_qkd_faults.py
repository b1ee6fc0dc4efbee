#!/usr/bin/env python3
"""hybrid_qkd_faults.py: bob's key server stopped. A call with QKD required fails at BOTH ends
(no key returned anywhere, status 2 or 6); with QKD optional both ends return the same key
without it."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hybrid_lib import Net, check  # noqa: E402

net = Net("qkdfaults", kme=True)
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

# sanity: with both key servers up, index 0 works for both streams
for k in (ks, ks_opt):
    a = net.client("alice", "get", "--ksid", k, "--index", "0")
    b = net.client("bob", "get", "--ksid", k, "--index", "0", framing="e")
    check(a.returncode == 0 and a.stdout == b.stdout and a.stdout.strip() != "",
          "index 0 identical at both ends while the key servers are up")

net.stop_kme("bob")

# required QKD: index 1 fails at both ends, no key anywhere
pa = net.get_async("alice", ks, 1, 1)
pb = net.get_async("bob", ks, 1, 1, framing="e")
oa, ea = pa.communicate(timeout=60)
ob, eb = pb.communicate(timeout=60)
check(pa.returncode in (12, 16), "alice: required QKD missing -> status 2 or 6 (rc %d: %s)" %
      (pa.returncode, ea.strip()))
check(pb.returncode in (12, 16), "bob: required QKD missing -> status 2 or 6 (rc %d: %s)" %
      (pb.returncode, eb.strip()))
check(oa.strip() == "" and ob.strip() == "", "no key returned at either end")
# and a retry from bob's side alone fails the same way
r = net.client("bob", "get", "--ksid", ks, "--index", "2")
r2 = net.client("alice", "get", "--ksid", ks, "--index", "2")
check(r.returncode in (12, 16) and r2.returncode in (12, 16) and not r.stdout.strip() and
      not r2.stdout.strip(), "index 2 (responder first) fails at both ends too")
check("QKD key (source #1) unavailable" in net.log("bob"), "bob logged the QKD failure")
check("failed at both ends" in net.log("alice"), "alice logged the failed index")

# optional QKD: same key at both ends, without QKD
pa = net.get_async("alice", ks_opt, 1, 5)
pb = net.get_async("bob", ks_opt, 1, 5, framing="e")
oa, ea = pa.communicate(timeout=120)
ob, eb = pb.communicate(timeout=120)
check(pa.returncode == 0 and pb.returncode == 0, "optional QKD: both ends got keys (%s %s)" %
      (ea.strip(), eb.strip()))
ka, kb = Net.keys_of(oa), Net.keys_of(ob)
check(sorted(ka) == [1, 2, 3, 4, 5] and ka == kb, "optional QKD: identical keys at both ends")
check(len(set(ka.values())) == 5, "optional QKD: keys distinct")
print("PASS")
