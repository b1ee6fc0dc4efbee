#!/usr/bin/env python3
"""kme_storm.py: "nothing a client sends can crash, hang or desynchronise the server". Several
threads per node send a seeded random mix of valid and invalid ETSI 004 requests to both key
servers of a link at once: OPEN_CONNECT with random QoS (chunk 0..70000, Timeout 0..1500 ms,
TTL 0..3 s, odd mimetypes) on zero, random or shared KSIDs (the same KSIDs at both nodes, under
two identities), GET_KEY on random indices and metadata sizes, CLOSE, frames of random bytes
under a valid header, unknown services, truncated frames, pipelined requests followed by an
abrupt disconnect while a call waits. Afterwards each server must answer at once, and a fresh
stream must give identical keys at both ends.

usage: kme_storm.py ALICE_HOST:PORT BOB_HOST:PORT CERTS_DIR SEED ACTIONS_PER_THREAD
"""
import random
import socket
import ssl
import struct
import sys
import threading
import time
import uuid

alice, bob, certs, seed, actions = sys.argv[1:6]
seed = int(seed)
actions = int(actions)
failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)


def ctx_for(cert):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.minimum_version = ssl.TLSVersion.TLSv1_3
    c.load_verify_locations(certs + "/ca.pem")
    c.load_cert_chain(cert + ".pem", cert + ".key")
    c.check_hostname = False
    return c


CTX = {  # each node's application and a second identity
    "alice": [ctx_for(certs + "/alice/client"), ctx_for(certs + "/clients/app2")],
    "bob": [ctx_for(certs + "/bob/client"), ctx_for(certs + "/clients/app2")],
}
ADDR = {"alice": alice, "bob": bob}
SHARED = [uuid.UUID(int=random.Random(seed + i).getrandbits(128)).bytes for i in range(12)]


def connect(node, ident=0, timeout=5):
    host, port = ADDR[node].rsplit(":", 1)
    raw = socket.create_connection((host, int(port)), timeout=timeout)
    s = CTX[node][ident].wrap_socket(raw, server_hostname="localhost")
    s.settimeout(timeout)
    return s


def frame(service, payload, version=(1, 0, 1)):
    return bytes(version) + bytes([service]) + struct.pack(">I", len(payload)) + payload


def qos_q(rng):
    mt = rng.choice([b"application/json", b"", b"text/plain", b"x" * 255])
    vals = [
        rng.choice([0, 1, 16, 32, 1024, 65536, 70000]),
        rng.choice([0, 1, 40000, 0xFFFFFFFF]),
        rng.choice([0, 5000, 0xFFFFFFFF]),
        rng.randrange(0, 20),
        rng.randrange(0, 5),
        rng.choice([0, 1, 200, 1500]),
        rng.choice([0, 1, 3]),
    ]
    return struct.pack(">7I", *vals) + mt.ljust(256, b"\0")


def ksid(rng):
    r = rng.random()
    if r < 0.2:
        return b"\0" * 16
    if r < 0.8:
        return rng.choice(SHARED)
    return rng.randbytes(16)


def request(rng):
    kind = rng.random()
    if kind < 0.3:
        src = rng.choice([b"client://localhost", b"client", b"a://b/" + b"p" * rng.randrange(0, 300)])
        dst = rng.choice([b"server://localhost", b"server://bob", b"server://alice", b"x:"])
        return frame(0x02, src + b"\0" + dst + b"\0" + qos_q(rng) + ksid(rng))
    if kind < 0.65:
        idx = rng.choice([0, 1, 2, rng.randrange(0, 64), rng.randrange(0, 1 << 32)])
        return frame(0x04, ksid(rng) + struct.pack(">II", idx, rng.choice([0, 4, 26, 27, 100])))
    if kind < 0.75:
        return frame(0x08, ksid(rng))
    if kind < 0.85:
        return frame(rng.choice([0x02, 0x04, 0x08]), rng.randbytes(rng.randrange(0, 400)))
    if kind < 0.9:
        return frame(rng.randrange(0, 256), rng.randbytes(rng.randrange(0, 64)))
    if kind < 0.95:  # E framing
        idx = rng.randrange(0, 8)
        ms = rng.choice([0, 8, 64])
        return frame(0x04, ksid(rng) + struct.pack(">II", idx, ms) + b"\0" * ms, version=(2, 1, 1))
    return rng.randbytes(rng.randrange(1, 40))  # not even a header


def worker(node, n, rng, errors):
    s = None
    for _ in range(n):
        try:
            if s is None:
                s = connect(node, rng.randrange(0, 2))
            burst = rng.choice([1, 1, 1, 3, 8])
            data = b"".join(request(rng) for _ in range(burst))
            if rng.random() < 0.15:
                data = data[: rng.randrange(1, len(data) + 1)]
            s.sendall(data)
            r = rng.random()
            if r < 0.2:  # leave abruptly, maybe while a call waits
                s.close()
                s = None
            elif r < 0.7:
                s.settimeout(0.3)
                try:
                    s.recv(65536)
                except (socket.timeout, ssl.SSLError, OSError):
                    pass
        except (OSError, ssl.SSLError, EOFError):
            try:
                if s:
                    s.close()
            except OSError:
                pass
            s = None
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
    if s:
        s.close()


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise EOFError("closed")
        buf += d
    return buf


def call(s, payload_frame):
    s.sendall(payload_frame)
    hdr = recv_exact(s, 8)
    (n,) = struct.unpack(">I", hdr[4:8])
    return recv_exact(s, n)


def good_qos():
    return struct.pack(">7I", 32, 40000, 5000, 10, 0, 5000, 3600) + b"application/json".ljust(256, b"\0")


def open_stream(node, k):
    s = connect(node)
    p = call(s, frame(0x02, b"client://localhost\0server://localhost\0" + good_qos() + k))
    s.close()
    return struct.unpack(">I", p[:4])[0], p[-16:]


def get_keys(node, k, n):
    s = connect(node)
    out = []
    for i in range(n):
        p = call(s, frame(0x04, k + struct.pack(">II", i, 0)))
        st, idx, klen = struct.unpack(">III", p[:12])
        out.append((st, p[12 : 12 + klen]))
    s.close()
    return out


t0 = time.time()
errors = []
threads = []
for node in ("alice", "bob"):
    for t in range(3):
        rng = random.Random(seed * 100 + t + (50 if node == "bob" else 0))
        th = threading.Thread(target=worker, args=(node, actions, rng, errors))
        th.start()
        threads.append(th)
for th in threads:
    th.join(120)
check(not any(th.is_alive() for th in threads), "storm threads finished")
check(errors == [], "no unexpected client-side errors: %r" % errors[:3])
print("storm: %d actions per thread, %.1f s" % (actions, time.time() - t0), flush=True)

# each server answers at once (after the calls the storm left waiting have timed out)
time.sleep(2)
for node in ("alice", "bob"):
    t1 = time.time()
    try:
        s = connect(node)
        p = call(s, frame(0x04, b"\0" * 16 + struct.pack(">II", 0, 0)))
        s.close()
        check(struct.unpack(">I", p[:4])[0] == 3 and time.time() - t1 < 2,
              "%s answers at once after the storm (%.0f ms)" % (node, (time.time() - t1) * 1000))
    except Exception as e:  # noqa: BLE001
        check(False, "%s answers after the storm (%r)" % (node, e))

# and the two ends still agree
st, k = open_stream("alice", b"\0" * 16)
check(st == 0, "fresh stream at alice after the storm (status %d)" % st)
st, _ = open_stream("bob", k)
check(st == 0, "bob joins it (status %d)" % st)
a = get_keys("alice", k, 100)
b = get_keys("bob", k, 100)
check(all(x[0] == 0 for x in a + b), "200 GET_KEY after the storm succeed")
check([x[1] for x in a] == [x[1] for x in b], "identical at both ends after the storm")
check(len(set(x[1] for x in a)) == 100, "100 distinct keys")
sys.exit(1 if failures else 0)
