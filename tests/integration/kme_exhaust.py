#!/usr/bin/env python3
"""kme_exhaust.py: resource exhaustion at a running qkd-kme, over raw TLS (stdlib only).

backpressure: a client with a tiny receive buffer pipelines thousands of GET_KEY requests and
never reads; the server stops reading it (back-pressure, --out-high-bytes) instead of queueing
the answers: its RSS grows by less than RSS_MAX_KB, it never closes the client for a full
output buffer, and a second client is answered at once meanwhile; once the first client reads,
it gets every answer.

emfile: the caller lowered the server's RLIMIT_NOFILE (prlimit --pid); many plain TCP
connections exhaust its descriptors; the server must not spin (CPU over 2 s stays low) and,
once the connections close, serves a new client.

usage: kme_exhaust.py backpressure|emfile HOST:PORT CA CERT KEY PID LOGFILE
"""
import os
import socket
import ssl
import struct
import sys
import threading
import time

mode, addr, ca, cert, key, pid, logfile = sys.argv[1:8]
host, port = addr.rsplit(":", 1)
port = int(port)
pid = int(pid)
failures = []
RSS_MAX_KB = 4096
N_PIPELINED = 1000000


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        failures.append(what)


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_verify_locations(ca)
ctx.load_cert_chain(cert, key)
ctx.check_hostname = False


def connect(timeout=10, rcvbuf=0):
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    raw.settimeout(timeout)
    raw.connect((host, port))
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


def frame(service, payload):
    return bytes((1, 0, 1)) + bytes([service]) + struct.pack(">I", len(payload)) + payload


def get_req(ksid, index):
    return frame(0x04, ksid + struct.pack(">II", index, 0))


def read_rsp(s):
    hdr = recv_exact(s, 8)
    (n,) = struct.unpack(">I", hdr[4:8])
    return hdr, recv_exact(s, n)


def rss_kb():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s():
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def answered_at_once():
    """A fresh client's GET_KEY on an unknown KSID is answered (status, no key) within 2 s."""
    try:
        t0 = time.monotonic()
        s = connect(timeout=5)
        s.sendall(get_req(os.urandom(16), 0))
        hdr, p = read_rsp(s)
        s.close()
        return hdr[3] == 0x05 and time.monotonic() - t0 < 2.0
    except Exception as e:
        print("  (fresh client: %r)" % e)
        return False


def backpressure():
    base = rss_kb()
    s = connect(timeout=60, rcvbuf=4096)
    ksid = os.urandom(16)
    one = get_req(ksid, 0)
    sent = [0]
    stop = threading.Event()

    def pump():  # blocks once the server stops reading; the socket timeout ends it
        try:
            batch = one * 1000
            while sent[0] < N_PIPELINED and not stop.is_set():
                s.sendall(batch)
                sent[0] += 1000
        except (socket.timeout, OSError):
            pass

    t = threading.Thread(target=pump, daemon=True)
    s.settimeout(4)
    t.start()
    peak = base
    for _ in range(40):
        time.sleep(0.1)
        peak = max(peak, rss_kb())
    check(0 < sent[0] < N_PIPELINED,
          "the server stopped reading a client that does not read (%d of %d requests taken)"
          % (sent[0], N_PIPELINED))
    if os.environ.get("QKD_SANITIZED") == "1":
        # ASan keeps freed memory in quarantine: RSS grows with any churn, so the bound says
        # nothing there; "stopped reading" above still fails without back-pressure.
        print("skip: RSS bound not checked in a sanitizer build (grew %d KiB)" % (peak - base))
    else:
        check(peak - base < RSS_MAX_KB,
              "server RSS grew by %d KiB (< %d) while the client pipelined"
              % (peak - base, RSS_MAX_KB))
    check(answered_at_once(), "another client is answered meanwhile")
    stop.set()
    t.join(10)
    with open(logfile, errors="replace") as f:
        check("output buffer full" not in f.read(), "no connection closed for a full output buffer")
    s.settimeout(30)
    got = 0
    try:
        while got < sent[0]:
            hdr, p = read_rsp(s)
            got += 1
    except Exception as e:
        print("  (reading answers: %r)" % e)
    check(got == sent[0], "once the client reads, every request is answered (%d of %d)"
          % (got, sent[0]))
    s.close()


def emfile():
    conns = []
    for _ in range(200):
        try:
            c = socket.create_connection((host, port), timeout=2)
            conns.append(c)
        except OSError:
            break
    time.sleep(0.5)
    c0 = cpu_s()
    time.sleep(2.0)
    used = cpu_s() - c0
    check(used < 0.5, "out of descriptors, the server does not spin (%.2f s CPU in 2 s)" % used)
    with open(logfile, errors="replace") as f:
        check("not accepting for" in f.read(), "the server logged that it backs off")
    for c in conns:
        c.close()
    ok = False
    for _ in range(20):
        if answered_at_once():
            ok = True
            break
        time.sleep(0.25)
    check(ok, "after the connections closed the server serves a new client")


if mode == "backpressure":
    backpressure()
else:
    emfile()
if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("all checks passed")
