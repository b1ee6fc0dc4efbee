#!/usr/bin/env python3
"""fault_soak.py: the promises under faults. Alice (leader) and bob (follower) with one QKD
link; several streams, each fetched at both ends index by index through libqkd004, while a
driver SIGKILLs and restarts, at random moments, bob's keygen, alice's keygen, bob's key
server and alice's key server, and cuts the peer-sync link (a TCP relay between the key
servers that drops every connection and refuses new ones for a while).

It prints what it saw and fails when a promise broke:
  mismatched  an index delivered at both ends with different key bytes        (must be 0)
  reused      key bytes delivered twice: at one end for two (KSID, index),
              or for two different (KSID, index) across the ends            (must be 0)
and reports, not as failures: indices refused at one end while the other delivered (key a
killed key server held in memory, status 2, never different key), indices abandoned after
waiting (status 6 / no server), streams re-joined after a key server restart, and the
recovery time after each fault (first identical pair after the restart).

usage: fault_soak.py --bin BUILD/bin --certs CERTS [--keys N] [--streams S] [--faults N]
                     [--seed X] [--max-seconds T] [--skr-bps R]
The ctest version runs a few thousand keys and one fault of each kind; a full run:
  fault_soak.py --bin build/bin --certs build/test-certs --keys 100000 --faults 25
"""
import argparse
import ctypes
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

# ---------------------------------------------------------------------------------------------
# libqkd004 through ctypes

class Qos(ctypes.Structure):
    _fields_ = [("key_chunk_size", ctypes.c_uint32), ("max_bps", ctypes.c_uint32),
                ("min_bps", ctypes.c_uint32), ("jitter", ctypes.c_uint32),
                ("priority", ctypes.c_uint32), ("timeout", ctypes.c_uint32),
                ("ttl", ctypes.c_uint32), ("metadata_mimetype", ctypes.c_char * 256)]


class Ksid(ctypes.Structure):
    _fields_ = [("b", ctypes.c_uint8 * 16)]


class Config(ctypes.Structure):
    _fields_ = [("server", ctypes.c_char_p), ("cert", ctypes.c_char_p),
                ("key", ctypes.c_char_p), ("ca", ctypes.c_char_p),
                ("framing", ctypes.c_int), ("connect_timeout_ms", ctypes.c_uint32),
                ("call_timeout_ms", ctypes.c_uint32), ("max_response", ctypes.c_uint32),
                ("server_name", ctypes.c_char_p)]


def load_lib(bindir):
    lib = ctypes.CDLL(os.path.join(bindir, "..", "lib", "libqkd004.so"))
    lib.qkd004_new.restype = ctypes.c_void_p
    lib.qkd004_new.argtypes = [ctypes.POINTER(Config), ctypes.c_char_p, ctypes.c_size_t]
    lib.qkd004_free.argtypes = [ctypes.c_void_p]
    lib.qkd004_qos_default.argtypes = [ctypes.POINTER(Qos)]
    lib.qkd004_open_connect.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                                        ctypes.POINTER(Qos), ctypes.POINTER(Ksid),
                                        ctypes.POINTER(ctypes.c_uint32)]
    lib.qkd004_get_key.argtypes = [ctypes.c_void_p, ctypes.POINTER(Ksid),
                                   ctypes.POINTER(ctypes.c_uint32), ctypes.c_char_p,
                                   ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t),
                                   ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint32),
                                   ctypes.POINTER(ctypes.c_uint32)]
    lib.qkd004_close.argtypes = [ctypes.c_void_p, ctypes.POINTER(Ksid),
                                 ctypes.POINTER(ctypes.c_uint32)]
    return lib


class Client:
    """One application's connection to one key server (libqkd004 reconnects by itself)."""

    def __init__(self, lib, addr, certs, node):
        self.lib = lib
        self._keep = [addr.encode(), f"{certs}/{node}/client.pem".encode(),
                      f"{certs}/{node}/client.key".encode(), f"{certs}/ca.pem".encode()]
        cfg = Config(self._keep[0], self._keep[1], self._keep[2], self._keep[3], 0, 2000,
                     15000, 0, b"")
        err = ctypes.create_string_buffer(256)
        self.c = lib.qkd004_new(ctypes.byref(cfg), err, 256)
        if not self.c:
            raise RuntimeError("qkd004_new: " + err.value.decode())

    def open(self, ksid_bytes=None, timeout_ms=3000):
        """Returns (rc, status, ksid bytes)."""
        qos = Qos()
        self.lib.qkd004_qos_default(ctypes.byref(qos))
        qos.timeout = timeout_ms
        k = Ksid()
        if ksid_bytes:
            ctypes.memmove(k.b, ksid_bytes, 16)
        st = ctypes.c_uint32(99)
        rc = self.lib.qkd004_open_connect(self.c, b"client://soak", b"client://soak",
                                          ctypes.byref(qos), ctypes.byref(k), ctypes.byref(st))
        return rc, st.value, bytes(k.b)

    def get(self, ksid_bytes, index):
        """Returns (rc, status, key bytes or None)."""
        k = Ksid()
        ctypes.memmove(k.b, ksid_bytes, 16)
        idx = ctypes.c_uint32(index)
        buf = ctypes.create_string_buffer(64)
        klen = ctypes.c_size_t(0)
        md = ctypes.create_string_buffer(256)
        mds = ctypes.c_uint32(256)
        st = ctypes.c_uint32(99)
        rc = self.lib.qkd004_get_key(self.c, ctypes.byref(k), ctypes.byref(idx), buf, 64,
                                     ctypes.byref(klen), md, ctypes.byref(mds),
                                     ctypes.byref(st))
        key = buf.raw[:klen.value] if rc == 0 and st.value == 0 else None
        return rc, st.value, key

    def close(self, ksid_bytes):
        k = Ksid()
        ctypes.memmove(k.b, ksid_bytes, 16)
        st = ctypes.c_uint32(99)
        rc = self.lib.qkd004_close(self.c, ctypes.byref(k), ctypes.byref(st))
        return rc, st.value

    def free(self):
        self.lib.qkd004_free(self.c)


# ---------------------------------------------------------------------------------------------
# processes

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_for(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def log_count(path, text):
    try:
        with open(path, errors="replace") as f:
            return f.read().count(text)
    except OSError:
        return 0


class Relay:
    """TCP relay for the peer-sync link; cut() drops every connection and refuses new ones."""

    def __init__(self, target_port):
        self.target = target_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.cut_until = 0.0
        self.lock = threading.Lock()
        self.live = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if time.monotonic() < self.cut_until:
                c.close()
                continue
            try:
                u = socket.create_connection(("127.0.0.1", self.target), timeout=2)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.live += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self, seconds):
        self.cut_until = time.monotonic() + seconds
        with self.lock:
            live, self.live = self.live, []
        for s in live:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass


class Net:
    """alice (leader) and bob (follower): keygen pair, key servers, relay between them."""

    def __init__(self, bindir, certs, skr, tmp):
        self.bin, self.certs, self.skr, self.tmp = bindir, certs, skr, tmp
        self.prefix = f"/qkdsoak-{os.getpid()}-"
        self.procs = {}
        self.kg_port = free_port()
        self.kme_port = {"alice": free_port(), "bob": free_port()}
        self.peer_port = free_port()
        self.relay = Relay(self.peer_port)

    def ring(self, a, b):
        return f"{self.prefix}{a}-{b}"

    def _spawn(self, name, args):
        logf = open(os.path.join(self.tmp, name + ".log"), "ab")
        self.procs[name] = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT)
        logf.close()

    def log(self, name):
        return os.path.join(self.tmp, name + ".log")

    def tls(self, node):
        c = self.certs
        return ["--cert", f"{c}/{node}/node.pem", "--key", f"{c}/{node}/node.key",
                "--ca", f"{c}/ca.pem"]

    def start(self, name):
        common = ["--block-bytes", "256", "--heartbeat-ms", "200", "--link-timeout-ms", "1500"]
        if name == "keygen_bob":
            self._spawn(name, [f"{self.bin}/qkd-keygen", "--mode", "receiver", "--host",
                               "127.0.0.1", "--port", str(self.kg_port), "--ring",
                               self.ring("bob", "alice"), "--peer-name", "alice"]
                        + self.tls("bob") + common)
        elif name == "keygen_alice":
            self._spawn(name, [f"{self.bin}/qkd-keygen", "--mode", "sender", "--host",
                               "127.0.0.1", "--port", str(self.kg_port), "--ring",
                               self.ring("alice", "bob"), "--peer-name", "bob", "--skr-bps",
                               str(self.skr)] + self.tls("alice") + common)
        elif name in ("kme_alice", "kme_bob"):
            node = name[4:]
            args = [f"{self.bin}/qkd-kme", "--node", node, "--address", "127.0.0.1", "--port",
                    str(self.kme_port[node]), "--heartbeat-ms", "200", "--peer-timeout-ms",
                    "1500"] + self.tls(node)
            if node == "alice":
                args += ["--peer-listen", f"127.0.0.1:{self.peer_port}", "--link",
                         f"peer=bob,role=leader,ring={self.ring('alice', 'bob')}"]
            else:
                args += ["--link", f"peer=alice,role=follower,ring={self.ring('bob', 'alice')},"
                         f"addr=127.0.0.1:{self.relay.port}"]
            self._spawn(name, args)
        else:
            raise ValueError(name)

    def kill9(self, name):
        p = self.procs.get(name)
        if p and p.poll() is None:
            p.kill()
            p.wait()

    def alive(self, name):
        p = self.procs.get(name)
        return p is not None and p.poll() is None

    def up(self):
        self.start("keygen_bob")
        time.sleep(0.3)
        self.start("keygen_alice")
        self.start("kme_alice")
        self.start("kme_bob")
        ok = wait_for(lambda: log_count(self.log("kme_alice"), "link bob: ring") and
                      log_count(self.log("kme_bob"), "link alice: ring") and
                      log_count(self.log("kme_bob"), "peer sync with alice"), 20)
        if not ok:
            raise RuntimeError("network did not come up; logs in " + self.tmp)

    def down(self):
        for name in list(self.procs):
            p = self.procs[name]
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        for r in (self.ring("alice", "bob"), self.ring("bob", "alice")):
            try:
                os.unlink("/dev/shm/" + r.lstrip("/"))
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------
# the soak

class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.pairs = 0            # indices delivered identically at both ends
        self.mismatched = 0
        self.reused = 0
        self.one_sided = 0        # delivered at one end, refused (2) at the other
        self.refused_both = 0     # refused at both ends (2)
        self.abandoned = 0        # gave up waiting (6, or no server) at one end or both
        self.rejoins = 0
        self.new_streams = 0
        self.seen = {}            # key bytes -> (end, ksid, index)
        self.last_pair_at = 0.0
        self.problems = []

    def record_key(self, end, ksid, index, key):
        """Call with the lock held. A key seen before for another (end, ksid, index) is
        reuse, except the same (ksid, index) at the other end (that is the promise)."""
        prev = self.seen.get(key)
        if prev is None:
            self.seen[key] = (end, ksid, index)
            return
        if prev[1:] == (ksid, index) and prev[0] != end:
            return
        self.reused += 1
        if len(self.problems) < 10:
            self.problems.append(f"key reused: {prev} and {(end, ksid.hex(), index)}")


def stream_worker(wid, lib, net, certs, stats, stop, seed):
    rnd = random.Random(seed)
    A = Client(lib, f"127.0.0.1:{net.kme_port['alice']}", certs, "alice")
    B = Client(lib, f"127.0.0.1:{net.kme_port['bob']}", certs, "bob")
    ends = {"alice": A, "bob": B}

    def open_pair():
        """A new stream opened at a random end and joined at the other; retried while
        servers are down. Returns the KSID or None when stopping."""
        while not stop.is_set():
            first = rnd.choice(["alice", "bob"])
            other = "bob" if first == "alice" else "alice"
            rc, st, k = ends[first].open()
            if rc == 0 and st in (0, 1):
                rc2, st2, _ = ends[other].open(k)
                if rc2 == 0 and st2 == 0:
                    return k
                ends[first].close(k)
            time.sleep(0.2)
        return None

    def rejoin(end, k):
        """After a key server restart the application re-opens its KSID there."""
        rc, st, _ = ends[end].open(k)
        if rc == 0 and st in (0, 1):
            with stats.lock:
                stats.rejoins += 1
            return True
        return False

    ksid = open_pair()
    index = 0
    both_refused_run = 0
    deadline_per_index = 20.0
    while ksid is not None and not stop.is_set():
        got = {}
        refused = set()
        order = ["alice", "bob"] if rnd.random() < 0.5 else ["bob", "alice"]
        t_end = time.monotonic() + deadline_per_index
        for end in order:
            while not stop.is_set() and time.monotonic() < t_end:
                rc, st, key = ends[end].get(ksid, index)
                if rc == 0 and st == 0:
                    got[end] = key
                    break
                if rc == 0 and st == 2:
                    refused.add(end)
                    break
                if rc == 0 and st == 3:      # the key server lost the stream: re-open
                    if not rejoin(end, ksid):
                        time.sleep(0.1)
                    continue
                time.sleep(0.05 if rc == 0 else 0.2)   # 6, or the server is down
        now = time.monotonic()
        with stats.lock:
            for end, key in got.items():
                stats.record_key(end, ksid, index, key)
            if len(got) == 2:
                if got["alice"] == got["bob"]:
                    stats.pairs += 1
                    stats.last_pair_at = now
                else:
                    stats.mismatched += 1
                    if len(stats.problems) < 10:
                        stats.problems.append(f"mismatch at {ksid.hex()} index {index}")
            elif len(got) == 1 and refused:
                stats.one_sided += 1
            elif len(refused) == 2:
                stats.refused_both += 1
            else:
                stats.abandoned += 1
        index += 1
        both_refused_run = both_refused_run + 1 if len(refused) == 2 else 0
        # An index one end never answered stays undelivered there, and a stream's window
        # (WINDOW_BYTES past its lowest undelivered index) then stops short of it: an
        # application that gives up on an index moves to a fresh stream, as this one does.
        if (len(got) + len(refused) < 2 or both_refused_run >= 64) and not stop.is_set():
            for end in ("alice", "bob"):
                ends[end].close(ksid)
            ksid = open_pair()
            index = 0
            both_refused_run = 0
            with stats.lock:
                stats.new_streams += 1
    if ksid is not None:
        A.close(ksid)
        B.close(ksid)
    A.free()
    B.free()


FAULTS = ["keygen_bob", "keygen_alice", "kme_bob", "kme_alice", "peer_link"]


def fault_driver(net, stats, stop, nfaults, rnd, report):
    kinds = []
    while len(kinds) < nfaults:
        block = FAULTS[:]
        rnd.shuffle(block)
        kinds += block
    kinds = kinds[:nfaults]
    for kind in kinds:
        if stop.wait(rnd.uniform(1.0, 3.0)):
            return
        down = rnd.uniform(0.3, 1.5)
        t0 = time.monotonic()
        if kind == "peer_link":
            net.relay.cut(down)
            stop.wait(down)
        else:
            net.kill9(kind)
            stop.wait(down)
            net.start(kind)
        t_back = time.monotonic()
        # recovery: the first identical pair after the component is back
        recovered = None
        while not stop.is_set() and time.monotonic() - t_back < 60:
            with stats.lock:
                if stats.last_pair_at > t_back:
                    recovered = stats.last_pair_at - t_back
                    break
            time.sleep(0.02)
        report.append((kind, down, recovered, t0))
        print(f"fault {len(report):3d}: {kind:12s} down {down:4.2f} s, recovered "
              + (f"{recovered:5.2f} s" if recovered is not None else "never (stopped)"),
              flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--certs", required=True)
    ap.add_argument("--keys", type=int, default=3000)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--faults", type=int, default=5)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--max-seconds", type=float, default=240)
    ap.add_argument("--skr-bps", type=int, default=8000000)
    a = ap.parse_args()
    print(f"fault soak: {a.keys} keys, {a.streams} streams, {a.faults} faults, seed {a.seed}",
          flush=True)
    lib = load_lib(a.bin)
    tmp = tempfile.mkdtemp(prefix="qkd-soak.")
    net = Net(a.bin, a.certs, a.skr_bps, tmp)
    stats = Stats()
    stop = threading.Event()
    report = []
    t_start = time.monotonic()
    ok = False
    try:
        net.up()
        rnd = random.Random(a.seed)
        workers = [threading.Thread(target=stream_worker,
                                    args=(i, lib, net, a.certs, stats, stop, a.seed + 1 + i))
                   for i in range(a.streams)]
        for w in workers:
            w.start()
        driver = threading.Thread(target=fault_driver,
                                  args=(net, stats, stop, a.faults, rnd, report))
        driver.start()
        last_print = time.monotonic()
        while time.monotonic() - t_start < a.max_seconds:
            with stats.lock:
                done = stats.pairs >= a.keys
            if done and not driver.is_alive():
                break
            if time.monotonic() - last_print > 10:
                last_print = time.monotonic()
                with stats.lock:
                    print(f"  ... {stats.pairs} pairs after {last_print - t_start:.0f} s",
                          flush=True)
            time.sleep(0.1)
        stop.set()
        driver.join()
        for w in workers:
            w.join(timeout=30)
        el = time.monotonic() - t_start
        s = stats
        kinds = {k for k, _, _, _ in report}
        rec = [r for _, _, r, _ in report if r is not None]
        print(f"keys fetched (identical pairs): {s.pairs}  in {el:.1f} s "
              f"({s.pairs / el:.0f} pairs/s with faults)")
        print(f"mismatched: {s.mismatched}")
        print(f"served twice (reused): {s.reused}")
        print(f"refused at one end, delivered at the other (lost with a killed server): "
              f"{s.one_sided}")
        print(f"refused at both ends: {s.refused_both}   abandoned after waiting: {s.abandoned}")
        print(f"re-joins after a key server restart: {s.rejoins}   streams replaced: "
              f"{s.new_streams}")
        print(f"faults: {len(report)} ({', '.join(sorted(kinds))})")
        if rec:
            print(f"recovery after a fault: min {min(rec):.2f} s, median "
                  f"{sorted(rec)[len(rec) // 2]:.2f} s, max {max(rec):.2f} s")
        for p in s.problems:
            print("PROBLEM: " + p)
        fails = []
        if s.mismatched:
            fails.append("mismatched key")
        if s.reused:
            fails.append("key served twice")
        if s.pairs < a.keys:
            fails.append(f"only {s.pairs} of {a.keys} keys within {a.max_seconds} s")
        if len(report) < a.faults:
            fails.append(f"only {len(report)} of {a.faults} faults ran")
        if a.faults >= len(FAULTS) and kinds != set(FAULTS):
            fails.append("not every fault kind ran")
        if any(r is None for _, _, r, _ in report[:-1]):
            fails.append("a fault was never recovered from")
        for f in fails:
            print("FAIL: " + f)
        ok = not fails
        print("fault soak: " + ("passed" if ok else "FAILED"))
    finally:
        stop.set()
        net.down()
        if ok:
            subprocess.run(["rm", "-rf", tmp])
        else:
            print("logs in " + tmp)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    main()
