#!/usr/bin/env python3
"""kme_conn.py: drives a running qkd-kme over raw TLS (stdlib only) to check that malformed
input from one client (garbage, a huge length, half a frame then silence, wrong lengths,
unknown services, a non-TLS client) closes only that connection while a concurrent good client
keeps working; that one-request-per-connection and many-requests-per-connection clients both
work; the request size limit (max payload) and the idle time at their edges; and the
connection limit at its edge.

usage: kme_conn.py HOST:PORT CA CERT KEY LOGFILE MAX_CONNS IDLE_MS [MAX_PAYLOAD]
"""
import socket
import ssl
import struct
import sys
import threading
import time
import uuid

addr, ca, cert, key, logfile, max_conns, idle_ms = sys.argv[1:8]
host, port = addr.rsplit(":", 1)
port = int(port)
max_conns = int(max_conns)
idle_ms = int(idle_ms)
max_payload = int(sys.argv[8]) if len(sys.argv) > 8 else 0
failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_verify_locations(ca)
ctx.load_cert_chain(cert, key)
ctx.check_hostname = False


def connect(timeout=10):
    raw = socket.create_connection((host, port), timeout=timeout)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    s.settimeout(timeout)
    return s


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise EOFError("closed")
        buf += d
    return buf


def frame(service, payload, version=(1, 0, 1)):
    return bytes(version) + bytes([service]) + struct.pack(">I", len(payload)) + payload


def qos_q(chunk=32, timeout=5000):
    mt = b"application/json".ljust(256, b"\0")
    return struct.pack(">7I", chunk, 40000, 5000, 10, 0, timeout, 3600) + mt


def open_req(ksid=b"\0" * 16):
    return frame(0x02, b"client://localhost\0server://localhost\0" + qos_q() + ksid)


def get_req(ksid, index, msize=0):
    return frame(0x04, ksid + struct.pack(">II", index, msize))


def read_rsp(s):
    hdr = recv_exact(s, 8)
    (n,) = struct.unpack(">I", hdr[4:8])
    return hdr, recv_exact(s, n)


def do_open(s):
    s.sendall(open_req())
    hdr, p = read_rsp(s)
    status = struct.unpack(">I", p[:4])[0]
    assert status == 0, status
    return p[-16:]


def do_get(s, ksid, index):
    s.sendall(get_req(ksid, index))
    hdr, p = read_rsp(s)
    status, idx, klen = struct.unpack(">III", p[:12])
    if status != 0:
        return status, None
    return 0, p[12 : 12 + klen]


def closed_by_server(s, wait):
    """True when the server closes the connection within wait seconds."""
    s.settimeout(wait)
    try:
        while True:
            d = s.recv(4096)
            if not d:
                return True
    except (ssl.SSLError, ConnectionError, OSError) as e:
        return not isinstance(e, socket.timeout)
    except socket.timeout:
        return False


# --- a good client on one connection, running while the bad ones act ---
good = {"keys": [], "errors": []}
stop = threading.Event()


def good_client():
    try:
        s = connect()
        ksid = do_open(s)
        i = 0
        while not stop.is_set() or i < 50:
            st, k = do_get(s, ksid, i)
            if st != 0:
                good["errors"].append((i, st))
            else:
                good["keys"].append(k)
            i += 1
            time.sleep(0.002)
        s.close()
    except Exception as e:  # noqa: BLE001
        good["errors"].append(repr(e))


t = threading.Thread(target=good_client)
t.start()
time.sleep(0.2)

# garbage: an HTTP request
s = connect()
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
check(closed_by_server(s, 3), "garbage closes the connection")
# a huge announced length
s = connect()
s.sendall(bytes([1, 0, 1, 0x04]) + struct.pack(">I", 0x7FFFFFFF) + b"\0" * 16)
check(closed_by_server(s, 3), "huge length closes the connection")
# unknown service with a plausible length
s = connect()
s.sendall(frame(0x07, b"\0" * 16))
check(closed_by_server(s, 3), "unknown service closes the connection")
# GET_KEY with a payload one byte short / long
for n in (23, 25):
    s = connect()
    s.sendall(frame(0x04, b"\0" * n))
    check(closed_by_server(s, 3), "GET_KEY payload of %d bytes closes the connection" % n)
# OPEN_CONNECT whose source has no NUL
s = connect()
s.sendall(frame(0x02, b"c" * 600))
check(closed_by_server(s, 3), "URI without NUL closes the connection")
# E framing GET_KEY whose metadata buffer is missing
s = connect()
s.sendall(frame(0x04, b"\0" * 16 + struct.pack(">II", 0, 100), version=(2, 1, 1)))
check(closed_by_server(s, 3), "E GET_KEY without its metadata buffer closes the connection")
# framing switch inside a connection: first Q, then an E frame
s = connect()
s.sendall(get_req(b"\0" * 16, 0))
read_rsp(s)
s.sendall(frame(0x04, b"\0" * 16 + struct.pack(">II", 0, 0), version=(2, 1, 1)))
check(closed_by_server(s, 3), "an E frame on a Q connection closes it")
# not TLS at all
raw = socket.create_connection((host, port), timeout=5)
raw.sendall(b"\x00" * 64)
raw.settimeout(5)
try:
    d = raw.recv(100)
    check(True, "plain TCP garbage is refused (%d bytes back)" % len(d))
except OSError:
    check(True, "plain TCP garbage is refused")
raw.close()
# half a frame, then silence: dropped after the idle time, the good client unaffected meanwhile
s = connect()
s.sendall(get_req(b"\0" * 16, 0)[:10])
t0 = time.time()
closed = closed_by_server(s, idle_ms / 1000.0 + 5)
el = time.time() - t0
check(closed and el >= idle_ms / 1000.0 * 0.8, "half a frame then silence: dropped after %.1f s" % el)

# the request size limit at its edge: an E GET_KEY is 24 + Metadata_size bytes
if max_payload:
    ms = max_payload - 24
    s = connect()
    s.sendall(frame(0x04, b"\0" * 16 + struct.pack(">II", 0, ms) + b"\0" * ms, version=(2, 1, 1)))
    try:
        hdr, p = read_rsp(s)
        st = struct.unpack(">I", p[:4])[0]
    except (EOFError, OSError) as e:
        st = repr(e)
    check(st == 3, "a request of exactly max payload (%d bytes) is served (status %r)" % (max_payload, st))
    s.close()
    s = connect()
    ms += 1
    s.sendall(frame(0x04, b"\0" * 16 + struct.pack(">II", 0, ms) + b"\0" * ms, version=(2, 1, 1)))
    check(closed_by_server(s, 3), "a request one byte over max payload closes the connection")

# the idle time at its edge: a frame every 0.6 x idle keeps the connection
s = connect()
alive = True
for i in range(3):
    time.sleep(idle_ms / 1000.0 * 0.6)
    try:
        s.sendall(get_req(b"\0" * 16, 0))
        hdr, p = read_rsp(s)
        alive = alive and struct.unpack(">I", p[:4])[0] == 3
    except (EOFError, OSError):
        alive = False
check(alive, "a frame every 0.6 x idle time keeps the connection (%.1f s in all)" % (1.8 * idle_ms / 1000.0))
s.close()

stop.set()
t.join(30)
check(not t.is_alive(), "good client finished")
check(good["errors"] == [], "good client saw no error: %r" % good["errors"][:3])
check(len(good["keys"]) >= 50, "good client got %d keys meanwhile" % len(good["keys"]))
check(len(set(good["keys"])) == len(good["keys"]), "all its keys distinct")

# --- one request per connection (the ETSI C library's style) ---
s = connect()
ksid = do_open(s)
s.close()
n_ok = 0
for i in range(20):
    s = connect()
    st, k = do_get(s, ksid, i)
    n_ok += st == 0 and len(k) == 32
    s.close()
check(n_ok == 20, "one request per connection: %d/20 keys" % n_ok)

# --- pipelined requests on one connection: answered in order ---
s = connect()
s.sendall(b"".join(get_req(ksid, 100 + i) for i in range(10)))
idx = []
for i in range(10):
    hdr, p = read_rsp(s)
    idx.append(struct.unpack(">I", p[4:8])[0])
check(idx == list(range(100, 110)), "pipelined requests answered in order")
s.close()

# --- the connection limit at its edge ---
time.sleep(0.5)
held = []
for i in range(max_conns):
    c = connect()
    c.sendall(get_req(b"\0" * 16, 0))
    read_rsp(c)  # handshake done and served
    held.append(c)
check(len(held) == max_conns, "%d connections (the limit) accepted" % max_conns)
refused = False
try:
    c = connect(timeout=3)
    c.sendall(get_req(b"\0" * 16, 0))
    read_rsp(c)
except (ssl.SSLError, ConnectionError, EOFError, OSError):
    refused = True
check(refused, "connection %d (over the limit) refused" % (max_conns + 1))
held.pop().close()
time.sleep(0.3)
try:
    c = connect()
    c.sendall(get_req(b"\0" * 16, 0))
    hdr, p = read_rsp(c)
    check(struct.unpack(">I", p[:4])[0] == 3, "after one closed, a new connection is served")
    c.close()
except Exception as e:  # noqa: BLE001
    check(False, "after one closed, a new connection is served (%r)" % e)
for c in held:
    c.close()

log = open(logfile).read()
check("protocol error from 127.0.0.1:" in log, "protocol error WARN names the peer address")
check("connection limit" in log, "connection limit logged")
sys.exit(1 if failures else 0)
