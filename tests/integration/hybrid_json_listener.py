#!/usr/bin/env python3
"""hybrid_json_listener.py: the KDFix-compatible JSON listener: byte-exact replies to the Python
module's requests (timeout 0 and ttl 0 = server defaults), several messages on one connection,
an error reply (never a silent drop) for malformed, unknown, incomplete and oversized messages,
the message-size limit at its edge, and keys identical with the other end's ETSI listener."""
import json
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hybrid_lib import Net, check, json_qos  # noqa: E402

LIMIT = 1024
net = Net("json", json_nodes=("alice", "bob"))
net.start("alice")
net.start("bob", "--json-max", str(LIMIT), "--max-pending", "4")
net.wait_peers("alice", "bob")

src = "hybrid://kdfix@alice?hybridization=xorhmac&key_sources=ML-KEM-768,X25519"
dst = "hybrid://kdfix@bob"
open_msg = {"command": "OPEN_CONNECT", "data": {"source": src, "destination": dst,
                                                "qos": json_qos()}}
r, raw = net.json_call("alice", open_msg)
check(re.fullmatch(rb'\{"status": 0, "key_stream_id": "[0-9a-f-]{36}"\}', raw) is not None,
      "OPEN_CONNECT reply is byte-exact: %r" % raw)
ks = r["key_stream_id"]
check(net.open("bob", src, dst, framing="e") == ks, "bob's (ETSI) OPEN_CONNECT returns the same KSID")

# keys: alice over JSON, bob over ETSI (E framing)
ka = {}
for i in range(4):
    r, raw = net.json_call("alice", {"command": "GET_KEY", "data": {
        "key_stream_id": ks, "index": i, "metadata": {"size": 0, "buffer": ""}}})
    check(re.fullmatch(rb'\{"status": 0, "key_buffer": \[(\d+, ){31}\d+\]\}', raw) is not None,
          "GET_KEY %d reply is byte-exact" % i)
    ka[i] = bytes(r["key_buffer"]).hex()
rb = net.client("bob", "get", "--ksid", ks, "--index", "0", "--count", "4", framing="e")
check(rb.returncode == 0 and Net.keys_of(rb.stdout) == ka,
      "alice (JSON) and bob (ETSI) keys identical for indices 0..3")


def exchange(node, payloads, nreplies, wait=5.0):
    host, port = net.json_addr[node].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=wait + 5)
    for p in payloads:
        s.sendall(p)
    data, replies, dec = b"", [], json.JSONDecoder()
    end = time.time() + wait
    while len(replies) < nreplies and time.time() < end:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
        txt = data.decode()
        replies, pos = [], 0
        while pos < len(txt):
            obj, pos = dec.raw_decode(txt, pos)
            replies.append(obj)
    s.close()
    return replies


# malformed and unknown messages each get an error reply; the connection stays usable
rs = exchange("alice", [b"hello", b'{"command": "FOO", "data": {}}',
                        b'{"command": "GET_KEY", "data": {"key_stream_id": "nope"}}',
                        b'{"command": "GET_KEY", "data": {"key_stream_id": '
                        b'"00000000-0000-4000-8000-000000000000", "index": 0}}',
                        json.dumps({"command": "GET_KEY", "data": {
                            "key_stream_id": ks, "index": 4}}).encode()], 5)
check(len(rs) == 5, "five messages, five replies (%d)" % len(rs))
check(rs[0]["status"] != 0 and "not a JSON object" in rs[0]["message"], "garbage -> error reply")
check(rs[1]["status"] != 0 and "unknown command" in rs[1]["message"], "unknown command -> error")
check(rs[2]["status"] != 0 and "UUID" in rs[2]["message"], "bad KSID -> error reply")
check(rs[3]["status"] == 3, "unknown KSID -> status 3")
check(rs[4]["status"] == 0 and len(rs[4]["key_buffer"]) == 32,
      "a good message after errors on the same connection works")

# an incomplete message is answered (after a short wait), not dropped silently
rs = exchange("alice", [b'{"command": "GET_KEY", '], 1, wait=6)
check(len(rs) == 1 and rs[0]["status"] != 0 and "incomplete" in rs[0]["message"],
      "incomplete message -> error reply")

# the message size limit at its edge (bob: --json-max 1024)
base = {"command": "CLOSE", "data": {"key_stream_id": "00000000-0000-4000-8000-000000000000",
                                     "pad": ""}}
pad = LIMIT - len(json.dumps(base).encode())
base["data"]["pad"] = "x" * pad
at = json.dumps(base).encode()
check(len(at) == LIMIT, "a message of exactly %d bytes" % LIMIT)
rs = exchange("bob", [at], 1)
check(len(rs) == 1 and rs[0]["status"] == 3, "a message at the limit is processed (status 3)")
base["data"]["pad"] += "x"
rs = exchange("bob", [json.dumps(base).encode()], 1)
check(len(rs) == 1 and rs[0]["status"] != 0 and "limit" in rs[0]["message"],
      "a message one byte over the limit -> error reply")

r, raw = net.json_call("alice", {"command": "CLOSE", "data": {"key_stream_id": ks}})
check(raw == b'{"status": 0}', "CLOSE reply is byte-exact")
r, raw = net.json_call("alice", {"command": "CLOSE", "data": {"key_stream_id": ks}})
check(r["status"] == 3, "a second CLOSE -> status 3")

# --max-pending at its edge: bob (max 4) holds keys its application has not fetched yet
src2 = "hybrid://edge@alice?key_sources=X25519"
ks2 = net.open("alice", src2, "hybrid://edge@bob")
r = net.client("alice", "get", "--ksid", ks2, "--index", "0", "--count", "4")
check(r.returncode == 0 and len(r.stdout.splitlines()) == 4,
      "4 indices made while bob's application has not asked (max-pending 4)")
r = net.client("alice", "get", "--ksid", ks2, "--index", "4")
check(r.returncode == 12, "a 5th undelivered index is refused by bob -> status 2 (rc %d)" %
      r.returncode)
check(net.open("bob", src2, "hybrid://edge@bob") == ks2, "bob opens the stream")
r = net.client("bob", "get", "--ksid", ks2, "--index", "0", "--count", "4")
r4 = net.client("alice", "get", "--ksid", ks2, "--index", "4")
check(r.returncode == 0 and r4.returncode == 0, "after bob fetched them, index 4 works")

# Key_chunk_size at its edge (--max-chunk 1024): 1024 granted, 1025 -> status 7 with 1024
r = net.client("alice", "--json", "open", "--source", src2, "--destination",
               "hybrid://edge@bob", "--chunk-size", "1024")
j = json.loads(r.stdout)
check(r.returncode == 0 and j["status"] == 0, "Key_chunk_size 1024 granted")
r = net.client("alice", "--json", "open", "--source", src2, "--destination",
               "hybrid://edge@bob", "--chunk-size", "1025")
j = json.loads(r.stdout)
check(j["status"] == 7 and j["qos"]["key_chunk_size"] == 1024,
      "Key_chunk_size 1025 -> status 7, counter-proposal 1024")
print("PASS")
