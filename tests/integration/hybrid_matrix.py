#!/usr/bin/env python3
"""hybrid_matrix.py: two qkd-hybrid daemons (alice, bob) over a local network with key servers.
For every method x source set, indices 0..N-1 (N = HYB_MATRIX_N, default 200) are fetched at both
ends concurrently and must be identical at both ends and all distinct. Framings alternate (alice
Q / bob E, then the reverse); every fifth combination goes through bob's JSON listener instead
(timeout 0 and ttl 0 = server defaults)."""
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hybrid_lib import Net, check, fail, json_qos  # noqa: E402

N = int(os.environ.get("HYB_MATRIX_N", "200"))
METHODS = ["xoring", "hmac", "xorhmac", "hkdf", "catkdf"]
SETS = ["QKD,ML-KEM-768", "ML-KEM-512,X25519", "QKD", "QKD,ML-KEM-1024,X448", "QKD,QKD"]

net = Net("matrix", kme=True, json_nodes=("bob",))
net.start("alice")
net.start("bob")
net.wait_peers("alice", "bob")

all_keys = set()
combo = 0
for m in METHODS:
    for srcs in SETS:
        src = "hybrid://app%d@alice?hybridization=%s&key_sources=%s" % (combo, m, srcs)
        dst = "hybrid://app%d@bob" % combo
        fa = "q" if combo % 2 == 0 else "e"
        fb = "e" if fa == "q" else "q"
        use_json = combo % 5 == 4
        ks = net.open("alice", src, dst, framing=fa)
        pa = net.get_async("alice", ks, 0, N, framing=fa)
        if use_json:
            r, _ = net.json_call("bob", {"command": "OPEN_CONNECT", "data": {
                "source": src, "destination": dst, "qos": json_qos()}})
            if r.get("status") != 0 or r.get("key_stream_id") != ks:
                fail("JSON OPEN_CONNECT at bob: %r (want %s)" % (r, ks))
            kb, errs = {}, []

            def fetch():
                for i in range(N):
                    rr, _ = net.json_call("bob", {"command": "GET_KEY", "data": {
                        "key_stream_id": ks, "index": i, "metadata": {"size": 0, "buffer": ""}}})
                    if rr.get("status") != 0:
                        errs.append((i, rr))
                        return
                    kb[i] = bytes(rr["key_buffer"]).hex()
            t = threading.Thread(target=fetch)
            t.start()
            t.join(300)
            if errs:
                fail("%s %s: JSON GET_KEY at bob: %r" % (m, srcs, errs[0]))
        else:
            kb_open = net.open("bob", src, dst, framing=fb)
            if kb_open != ks:
                fail("bob's OPEN_CONNECT returned %s, alice's %s" % (kb_open, ks))
            pb = net.get_async("bob", ks, 0, N, framing=fb)
            ob, eb = pb.communicate(timeout=300)
            if pb.returncode != 0:
                fail("%s %s: bob get rc %d: %s" % (m, srcs, pb.returncode, eb))
            kb = Net.keys_of(ob)
        oa, ea = pa.communicate(timeout=300)
        if pa.returncode != 0:
            fail("%s %s: alice get rc %d: %s" % (m, srcs, pa.returncode, ea))
        ka = Net.keys_of(oa)
        if sorted(ka) != list(range(N)) or ka != kb:
            bad = [i for i in range(N) if ka.get(i) != kb.get(i)][:3]
            fail("%s {%s}: keys differ between alice and bob at indices %s" % (m, srcs, bad))
        if len(set(ka.values())) != N or all_keys & set(ka.values()):
            fail("%s {%s}: keys not all distinct" % (m, srcs))
        all_keys |= set(ka.values())
        print("ok: %-7s {%s}: %d keys identical at both ends, distinct (alice %s, bob %s)" %
              (m, srcs, N, fa.upper(), "JSON" if use_json else fb.upper()))
        if use_json:
            r, raw = net.json_call("bob", {"command": "CLOSE", "data": {"key_stream_id": ks}})
            check(raw == b'{"status": 0}', "JSON CLOSE reply is byte-exact")
        else:
            check(net.client("bob", "close", "--ksid", ks, framing=fb).returncode == 0,
                  "bob CLOSE")
        check(net.client("alice", "close", "--ksid", ks, framing=fa).returncode == 0,
              "alice CLOSE")
        combo += 1

check(len(all_keys) == N * combo, "%d keys over %d combinations, all distinct" %
      (len(all_keys), combo))
for n in ("alice", "bob"):
    net.stop(n)
    print([ln for ln in net.log(n).splitlines() if "stats:" in ln][-1])
print("PASS")
