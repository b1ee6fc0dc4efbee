#!/usr/bin/env python3
"""hybrid_peer_security.py: the peer link refuses (and logs) a message with a bad signature and
a replayed message (test-only fault injection at alice), a peer whose certificate names
another node (dialing side and accepting side), and still makes matching keys after the link
is re-established. KEM-only sources: no key server needed."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hybrid_lib import Net, check  # noqa: E402

SRC = "hybrid://app@alice?key_sources=ML-KEM-768,X25519"
DST = "hybrid://app@bob"
net = Net("peersec")


def wait_log(node, text, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        if text in net.log(node):
            return True
        time.sleep(0.1)
    return False


def fresh_logs():
    for n in ("alice", "bob"):
        open(net.logfile(n), "w").close()


def fault_round(fault, expect):
    fresh_logs()
    net.start("bob")
    net.start("alice", "--test-fault", fault)
    net.wait_peers("alice", "bob")
    ks = net.open("alice", SRC, DST)
    check(net.open("bob", SRC, DST) == ks, "%s: both ends opened" % fault)
    r = net.client("alice", "get", "--ksid", ks, "--index", "0")
    check(r.returncode != 0 and r.stdout.strip() == "", "%s: index 0 fails at alice" % fault)
    check(wait_log("bob", expect), "%s: bob logged '%s'" % (fault, expect))
    rb = net.client("bob", "get", "--ksid", ks, "--index", "0")
    # the link comes back; the index was never delivered, so both ends now agree on a new key
    ra = net.client("alice", "get", "--ksid", ks, "--index", "0")
    check(ra.returncode == 0 and rb.returncode in (0, 16), "%s: alice gets index 0 after the "
          "link is back (rc %d, bob rc %d)" % (fault, ra.returncode, rb.returncode))
    if rb.returncode != 0:
        rb = net.client("bob", "get", "--ksid", ks, "--index", "0")
    check(rb.returncode == 0 and ra.stdout == rb.stdout, "%s: index 0 identical at both ends "
          "after re-establishment" % fault)
    net.stop("alice")
    net.stop("bob")


fault_round("badsig", "bad signature refused")
fault_round("replay", "replayed message refused")

# bob presenting charlie's certificate: alice (the dialer) refuses it
cfg = json.load(open(net.config("bob")))
cfg["cert"] = cfg["cert"].replace("/bob/", "/charlie/")
cfg["key"] = cfg["key"].replace("/bob/", "/charlie/")
wrong = os.path.join(net.tmp, "bob-as-charlie.json")
json.dump(cfg, open(wrong, "w"))
fresh_logs()
net.start("bob", config=wrong)
net.start("alice")
check(wait_log("alice", "certificate names 'charlie', expected 'bob'"),
      "alice refused a bob whose certificate names charlie, and logged it")
r = net.client("alice", "open", "--source", SRC, "--destination", DST)
check(r.returncode == 0, "alice's OPEN_CONNECT succeeds with the peer not connected")
ks = r.stdout.strip()
r = net.client("alice", "get", "--ksid", ks, "--index", "0")
check(r.returncode != 0 and r.stdout.strip() == "", "no key without an authenticated peer")
check("peer link with bob" not in net.log("alice"), "the link never came up")
net.stop("alice")
net.stop("bob")

# alice presenting charlie's certificate: bob (accepting, charlie not its peer) refuses it
cfg = json.load(open(net.config("alice")))
cfg["cert"] = cfg["cert"].replace("/alice/", "/charlie/")
cfg["key"] = cfg["key"].replace("/alice/", "/charlie/")
wrong = os.path.join(net.tmp, "alice-as-charlie.json")
json.dump(cfg, open(wrong, "w"))
fresh_logs()
net.start("bob")
net.start("alice", config=wrong)
check(wait_log("bob", "certificate names 'charlie', not a configured peer"),
      "bob refused a dialer whose certificate names charlie, and logged it")
check("peer link with alice" not in net.log("bob"), "bob never brought the link up")
print("PASS")
