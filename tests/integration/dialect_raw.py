#!/usr/bin/env python3
"""dialect_raw.py: the E dialect rules that qkd-client cannot express, in raw E frames (ETSI's
C library's layout, version 2.1.1) over mutual TLS (stdlib only), against a key server or a
hybrid daemon, beside the Q answers to the same requests:
  - OPEN_CONNECT exactly as ETSI's client_api sends it (bare SAE ids, QoS chunk 32, Max_bps and
    Min_bps 32, Jitter/Priority/Timeout/TTL 0) -> 0 with a KSID; in Q -> 4;
  - an empty source -> 4, full-shaped in E (status, QoS, KSID);
  - GET_KEY with key info of type 0x01 (oblivious) -> 2, full-shaped (status, index, key_len
    0, metadata_len 0), the server logs the type; with key info 0x00 0x10 (symmetric) -> 0
    (key server: with the whole JSON metadata although the request carries 2 bytes);
  - GET_KEY on an unknown KSID -> 3, full-shaped.

usage: dialect_raw.py HOST:PORT CA CERT KEY LOGFILE kme|hybrid
"""
import json
import socket
import ssl
import struct
import sys
import time

addr, ca, cert, key, logfile, kind = sys.argv[1:7]
host, port = addr.rsplit(":", 1)
failures = []
E, Q = (2, 1, 1), (1, 0, 1)


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + kind + ": " + what, flush=True)
    if not cond:
        failures.append(what)


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_verify_locations(ca)
ctx.load_cert_chain(cert, key)
ctx.check_hostname = False


def call(version, service, payload):
    """One request on its own connection (as ETSI's library does); returns the payload."""
    with socket.create_connection((host, int(port)), timeout=30) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(bytes(version) + bytes([service]) + struct.pack(">I", len(payload)) + payload)
            hdr = b""
            while len(hdr) < 8:
                d = s.recv(8 - len(hdr))
                if not d:
                    raise EOFError("closed before the response header")
                hdr += d
            n = struct.unpack(">I", hdr[4:8])[0]
            body = b""
            while len(body) < n:
                d = s.recv(n - len(body))
                if not d:
                    raise EOFError("closed mid-response")
                body += d
            return hdr, body


def qos(version, timeout=0, ttl=0):
    mime = b"application/json"
    fields = struct.pack(">7I", 32, 32, 32, 0, 0, timeout, ttl)
    return fields + (mime + b"\0" if version == E else mime.ljust(256, b"\0"))


def open_req(version, src, dst, ksid=b"\0" * 16, timeout=0):
    return src + b"\0" + dst + b"\0" + qos(version, timeout) + ksid


def get_req(ksid, index, info):
    return ksid + struct.pack(">II", index, len(info)) + info


# OPEN_CONNECT as client_api sends it
hdr, body = call(E, 0x02, open_req(E, b"sae-alice-wg0", b"sae-bob-wg0"))
status = struct.unpack(">I", body[:4])[0]
check(hdr[:4] == bytes([2, 1, 1, 0x03]), "E response header 2.1.1 OPEN_CONNECT")
check(status == 0, "E OPEN_CONNECT with bare SAE ids, Timeout 0, TTL 0, bps 32 -> 0 (got %d)" % status)
ksid = body[-16:]
check(ksid != b"\0" * 16, "E OPEN_CONNECT returns a KSID")
t_granted, ttl_granted = struct.unpack(">II", body[4 + 20:4 + 28])
check(t_granted > 0 and ttl_granted > 0,
      "E Timeout 0 and TTL 0 -> the server's defaults (%d ms, %d s)" % (t_granted, ttl_granted))
_, qbody = call(Q, 0x02, open_req(Q, b"sae-alice-wg0", b"sae-bob-wg0", timeout=5000))
check(qbody == struct.pack(">I", 4), "Q OPEN_CONNECT with bare ids -> 4, status only")
_, qbody = call(Q, 0x02, open_req(Q, b"client://a", b"server://b"))
check(qbody == struct.pack(">I", 6), "Q OPEN_CONNECT with Timeout 0 -> 6")

# an empty source -> 4, full-shaped
_, body = call(E, 0x02, open_req(E, b"", b"sae-bob-wg0"))
check(struct.unpack(">I", body[:4])[0] == 4, "E empty source -> 4")
check(len(body) == 4 + 28 + 1 + 16, "E error OPEN_CONNECT response is full-shaped (%d bytes)" % len(body))

# GET_KEY key info
_, body = call(E, 0x04, get_req(ksid, 0, b"\x01\x00"))
st, idx, klen = struct.unpack(">III", body[:12])
check(st == 2, "E GET_KEY key type 0x01 (oblivious) -> 2 (got %d)" % st)
check(len(body) == 16 and idx == 0 and klen == 0,
      "E error GET_KEY response is full-shaped (status, index, key_len 0, metadata_len 0)")
for _ in range(50):
    log = open(logfile, errors="replace").read()
    if "key type 0x01" in log:
        break
    time.sleep(0.1)
check("key type 0x01" in log, "the server log names the key type")
hdr, body = call(E, 0x04, get_req(ksid, 0, b"\x00\x10")) if kind == "kme" else (None, None)
if kind == "kme":
    st, idx, klen = struct.unpack(">III", body[:12])
    check(st == 0 and klen == 32, "E GET_KEY key info 0x00 0x10 (symmetric) -> 0 and a key")
    mlen = struct.unpack(">I", body[12 + klen:16 + klen])[0]
    md = body[16 + klen:16 + klen + mlen]
    check(mlen > 2 and "age" in json.loads(md),
          "E GET_KEY: the whole metadata (%d bytes) for 2 bytes of key info, never 8" % mlen)
_, body = call(E, 0x04, get_req(b"\x42" * 16, 0, b"\x00\x00"))
check(struct.unpack(">I", body[:4])[0] == 3 and len(body) == 16,
      "E GET_KEY on an unknown KSID -> 3, full-shaped")
_, body = call(E, 0x08, ksid)
check(body == struct.pack(">I", 0), "E CLOSE -> 0")
sys.exit(1 if failures else 0)
