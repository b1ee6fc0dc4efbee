"""hybrid_lib.py: helpers for qkd-hybrid's integration tests (python3 stdlib only): a temp dir,
certificates (certs/generate_certs.sh) or a whole local network (scripts/local-net.sh up with the
key servers), node configs (scripts/hybrid-config.sh) on free 127.0.0.1 ports, daemons started
and always stopped, qkd-client calls in either framing and KDFix-style JSON calls."""
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("QKD_BIN", "build/bin")
SRC = os.environ.get("QKD_SRC", ".")
OPENSSL = os.environ.get("QKD_OPENSSL_BIN") or "openssl"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok: " + msg)


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


class Net:
    """Nodes with hybrid daemons; kme=True also brings up keygens and key servers."""

    def __init__(self, name, nodes=("alice", "bob"), kme=False, json_nodes=()):
        self.tmp = tempfile.mkdtemp(prefix="hyb-%s-" % name)
        self.nodes = list(nodes)
        self.procs = {}
        self.env = {}
        self.net_up = False
        atexit.register(self.cleanup)
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
        cenv = dict(os.environ, OPENSSL=OPENSSL)
        if kme:
            netdir = os.path.join(self.tmp, "net")
            r = subprocess.run([os.path.join(SRC, "scripts/local-net.sh"), "up", netdir],
                               env=dict(cenv, NODES=",".join(self.nodes), QKD_BIN=BIN,
                                        SKR_BPS=os.environ.get("SKR_BPS", "2000000")),
                               capture_output=True, text=True, timeout=120)
            self.net_up = True
            if r.returncode != 0:
                fail("local-net.sh up failed:\n" + r.stdout + r.stderr)
            for line in open(os.path.join(netdir, "env")):
                if "=" in line and not line.startswith("#"):
                    k, v = line.strip().split("=", 1)
                    self.env[k] = v
            self.certs = os.path.join(netdir, "certs")
        else:
            self.certs = os.path.join(self.tmp, "certs")
            r = subprocess.run([os.path.join(SRC, "certs/generate_certs.sh"), "--out", self.certs,
                                "--nodes", "alice,bob,charlie"], env=cenv, capture_output=True,
                               text=True, timeout=120)
            if r.returncode != 0:
                fail("generate_certs.sh failed:\n" + r.stdout + r.stderr)
        ports = free_ports(3 * len(self.nodes))
        self.addr, self.json_addr = {}, {}
        args = [os.path.join(SRC, "scripts/hybrid-config.sh"), "--out",
                os.path.join(self.tmp, "cfg"), "--certs", self.certs, "--nodes",
                ",".join(self.nodes)]
        for i, n in enumerate(self.nodes):
            self.addr[n] = "127.0.0.1:%d" % ports[3 * i]
            args += ["--listen", "%s=%s" % (n, self.addr[n]),
                     "--peer", "%s=127.0.0.1:%d" % (n, ports[3 * i + 1])]
            if n in json_nodes:
                self.json_addr[n] = "127.0.0.1:%d" % ports[3 * i + 2]
                args += ["--json", "%s=%s" % (n, self.json_addr[n])]
            kme_addr = self.env.get(n.upper() + "_ADDR")
            if kme_addr:
                args += ["--kme", "%s=%s" % (n, kme_addr)]
        r = subprocess.run(args, env=cenv, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            fail("hybrid-config.sh failed:\n" + r.stdout + r.stderr)

    def config(self, node):
        return os.path.join(self.tmp, "cfg", node + ".json")

    def logfile(self, node):
        return os.path.join(self.tmp, "hybrid-%s.log" % node)

    def log(self, node):
        with open(self.logfile(node), errors="replace") as f:
            return f.read()

    def start(self, node, *extra, config=None):
        logf = open(self.logfile(node), "a")
        p = subprocess.Popen([os.path.join(BIN, "qkd-hybrid"), "--config",
                              config or self.config(node), "--log-level", "DEBUG"] + list(extra),
                             stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs[node] = p
        host, port = self.addr[node].rsplit(":", 1)
        for _ in range(200):
            if p.poll() is not None:
                fail("qkd-hybrid %s exited at start:\n%s" % (node, self.log(node)))
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                return p
            except OSError:
                time.sleep(0.05)
        fail("qkd-hybrid %s did not listen" % node)

    def stop(self, node):
        p = self.procs.pop(node, None)
        if p and p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def wait_peers(self, a, b, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if "peer link with %s" % b in self.log(a) and "peer link with %s" % a in self.log(b):
                return
            time.sleep(0.1)
        fail("peer link %s-%s did not come up" % (a, b))

    def stop_kme(self, node):
        netdir = os.path.join(self.tmp, "net")
        for line in open(os.path.join(netdir, "pids")):
            pid, name = line.split()
            if name == "kme-" + node:
                os.kill(int(pid), signal.SIGTERM)
                for _ in range(100):
                    try:
                        os.kill(int(pid), 0)
                        time.sleep(0.05)
                    except OSError:
                        return
        fail("no key server pid for " + node)

    def client_args(self, node, framing="q"):
        c = self.certs
        return [os.path.join(BIN, "qkd-client"), "--server", self.addr[node], "--cert",
                os.path.join(c, node, "client.pem"), "--key", os.path.join(c, node, "client.key"),
                "--ca", os.path.join(c, "ca.pem"), "--framing", framing, "--timeout", "30000"]

    def client(self, node, *args, framing="q", timeout=120):
        return subprocess.run(self.client_args(node, framing) + list(args), capture_output=True,
                              text=True, timeout=timeout)

    def open(self, node, src, dst, framing="q", ksid=None, expect_rc=0):
        args = ["open", "--source", src, "--destination", dst]
        if ksid:
            args += ["--ksid", ksid]
        r = self.client(node, *args, framing=framing)
        if r.returncode != expect_rc:
            fail("open at %s: rc %d (want %d): %s" % (node, r.returncode, expect_rc, r.stderr))
        return r.stdout.strip()

    def get_async(self, node, ksid, start, count, framing="q"):
        return subprocess.Popen(self.client_args(node, framing) + [
            "get", "--ksid", ksid, "--index", str(start), "--count", str(count)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @staticmethod
    def keys_of(out):
        keys = {}
        for line in out.splitlines():
            i, k = line.split()
            keys[int(i)] = k
        return keys

    def json_call(self, node, msg, raw=None):
        host, port = self.json_addr[node].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=30) as s:
            s.sendall(raw if raw is not None else json.dumps(msg).encode())
            return json_reply(s)

    def node_uuid(self, node):
        with open(self.config(node)) as f:
            return json.load(f)["uuid"]

    def cleanup(self):
        for n in list(self.procs):
            self.stop(n)
        if self.net_up:
            subprocess.run([os.path.join(SRC, "scripts/local-net.sh"), "down",
                            os.path.join(self.tmp, "net")], capture_output=True, timeout=60)
            self.net_up = False
        if os.environ.get("HYB_KEEP"):
            print("kept " + self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def json_qos(chunk=32, timeout=0):
    return {"key_chunk_size": chunk, "max_bps": 40000, "min_bps": 5000, "jitter": 10,
            "priority": 0, "timeout": timeout, "ttl": 0, "metadata_mimetype": "application/json"}


def json_reply(sock):
    """Reads one JSON reply (the daemon answers one message at a time): (object, raw bytes)."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        data += chunk
        try:
            return json.loads(data), data
        except ValueError:
            if not chunk:
                fail("JSON reply cut short: %r" % data)


class JsonApp:
    """An application of the Python module's drivers (driver.py, bulk_driver.py): one JSON
    connection for its whole OPEN_CONNECT, GET_KEY, CLOSE lifecycle."""

    def __init__(self, net, node, timeout=60):
        host, port = net.json_addr[node].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)

    def call(self, msg):
        self.sock.sendall(json.dumps(msg).encode())
        return json_reply(self.sock)

    def open(self, src, dst, timeout=0):
        return self.call({"command": "OPEN_CONNECT", "data": {
            "source": src, "destination": dst, "qos": json_qos(timeout=timeout)}})

    def get(self, ksid, index=0):
        return self.call({"command": "GET_KEY", "data": {
            "key_stream_id": ksid, "index": index,
            "metadata": {"size": 46, "buffer": "The metadata field is not used for the moment."}}})

    def close(self, ksid):
        return self.call({"command": "CLOSE", "data": {"key_stream_id": ksid}})

    def drop(self):
        """The application dies: its connection ends without CLOSE."""
        self.sock.close()


def json_lifecycle(net, node, src, dst, rendezvous=None):
    """One driver.py run: OPEN_CONNECT, GET_KEY index 0, CLOSE on one connection. Returns
    {"open": reply, "key": hex or None, "get": reply, "close": reply}. rendezvous (a
    threading.Barrier shared with the other node's application) is passed once this end's
    OPEN_CONNECT has its reply: the Python module's OPEN_CONNECT returns only once both
    applications have called it, so its applications never close before the other opened."""
    app = JsonApp(net, node)
    out = {"open": None, "get": None, "close": None, "key": None}
    try:
        out["open"], _ = app.open(src, dst)
        if rendezvous is not None:
            rendezvous.wait(60)
        if out["open"].get("status") != 0:
            return out
        ks = out["open"]["key_stream_id"]
        out["get"], _ = app.get(ks)
        if out["get"].get("status") == 0:
            out["key"] = bytes(out["get"]["key_buffer"]).hex()
        out["close"], _ = app.close(ks)
        return out
    finally:
        app.drop()
