#!/usr/bin/env python3
"""hybrid_pqkem.py: the library KEM sources across two qkd-hybrid daemons (docs/hybrid.md "Key
sources"). Usage: hybrid_pqkem.py MCELIECE NTRUPRIME (each 1 when the build has the library, 0
when not). Built in: keys made from {sntrup761, X25519}, {Classic-McEliece-348864, X25519} and
{Classic-McEliece-8192128} (1357824-byte public keys through the peer frames) are identical at
alice and bob and distinct. Not built in: OPEN_CONNECT naming the source fails with "not built
in" and the supported list. Always: BIKE/HQC/FrodoKEM/Kyber are refused naming the supported
list."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hybrid_lib import Net, check, fail, json_qos  # noqa: E402

have_mce, have_ntru = sys.argv[1] == "1", sys.argv[2] == "1"
net = Net("pqkem", json_nodes=("alice",))
net.start("alice")
net.start("bob")
net.wait_peers("alice", "bob")
all_keys = set()


def pair(app, srcs, n):
    src = "hybrid://%s@alice?key_sources=%s" % (app, srcs)
    dst = "hybrid://%s@bob" % app
    ks = net.open("alice", src, dst)
    check(net.open("bob", src, dst, framing="e") == ks, "{%s}: both ends have KSID %s" % (srcs, ks))
    pa = net.get_async("alice", ks, 0, n)
    pb = net.get_async("bob", ks, 0, n, framing="e")
    oa, ea = pa.communicate(timeout=240)
    ob, eb = pb.communicate(timeout=240)
    if pa.returncode != 0 or pb.returncode != 0:
        fail("{%s}: get rc alice %d bob %d: %s %s\nalice:\n%s\nbob:\n%s" % (
            srcs, pa.returncode, pb.returncode, ea, eb, net.log("alice")[-3000:],
            net.log("bob")[-3000:]))
    ka, kb = Net.keys_of(oa), Net.keys_of(ob)
    if sorted(ka) != list(range(n)) or ka != kb:
        fail("{%s}: keys differ between alice and bob" % srcs)
    if len(set(ka.values())) != n or all_keys & set(ka.values()):
        fail("{%s}: keys not all distinct" % srcs)
    all_keys.update(ka.values())
    print("ok: {%s}: %d keys identical at alice and bob, distinct" % (srcs, n))
    check(net.client("alice", "close", "--ksid", ks).returncode == 0, "alice CLOSE")


def refused(app, srcs, must):
    """Refused through ETSI 004 (a status) and the JSON listener (a status and a message)."""
    src = "hybrid://%s@alice?key_sources=%s" % (app, srcs)
    dst = "hybrid://%s@bob" % app
    r = net.client("alice", "open", "--source", src, "--destination", dst)
    if r.returncode == 0:
        fail("{%s}: OPEN_CONNECT accepted through ETSI 004" % srcs)
    j, _ = net.json_call("alice", {"command": "OPEN_CONNECT", "data": {
        "source": src, "destination": dst, "qos": json_qos()}})
    msg = j.get("message", "")
    if j.get("status") == 0 or any(m not in msg for m in must):
        fail("{%s}: JSON reply %r, want a refusal naming %r" % (srcs, j, must))
    print("ok: {%s} refused: %s" % (srcs, msg))


if have_ntru:
    pair("ntru", "sntrup761,X25519", 20)
else:
    refused("ntru", "sntrup761,X25519", ["sntrup761 not built in", "supported: QKD"])
if have_mce:
    pair("mce", "Classic-McEliece-348864,X25519", 10)
    pair("mcebig", "Classic-McEliece-8192128", 3)
else:
    refused("mce", "Classic-McEliece-348864,X25519",
            ["Classic-McEliece-348864 not built in", "supported: QKD"])
for name in ("BIKE-L1", "HQC-128", "FrodoKEM-640-AES", "Kyber768"):
    refused("no", "X25519," + name, [name, "not provided", "supported: QKD"])
