"""kme_etsi014_lib.py: the harness of kme_etsi014.py (python3 stdlib only): an alice-bob link
(keygen pair, two key servers with the ETSI 014 listener on, ports from port files, logs in a
temp dir, every process stopped at exit, like kme_lib.sh), an ETSI 014 HTTPS client per SAE
identity (ssl + http.client, client certificates), a raw HTTP/1.1 connection for keep-alive,
pipelining and oversized bodies, and named checks that print what they expected and got."""
import atexit
import base64
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import http.client

BIN = os.environ.get("QKD_BIN", "build/bin")
CERTS = os.environ.get("QKD_TEST_CERTS", "build/test-certs")
# Every socket operation and every wait of the suite is bounded by this (seconds).
IO_TIMEOUT = 15.0

# ---------------------------------------------------------------------------------------------
# checks

FAILURES = []


def check(name, cond, expected, got):
    """A named check: prints ok or FAIL with what was expected and what came."""
    if cond:
        print("ok: %s" % name, flush=True)
    else:
        print("FAIL: %s: expected %s, got %s" % (name, expected, _short(got)), flush=True)
        FAILURES.append(name)
    return bool(cond)


def check_eq(name, expected, got):
    return check(name, expected == got, repr(expected), repr(got))


def _short(v, n=400):
    s = v if isinstance(v, str) else repr(v)
    return s if len(s) <= n else s[:n] + "...(%d chars)" % len(s)


def fatal(msg):
    print("FATAL: " + msg, flush=True)
    FAILURES.append(msg)
    sys.exit(1)


def wait_for(pred, timeout, step=0.05):
    end = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(step)


# ---------------------------------------------------------------------------------------------
# processes

class Net:
    """alice (link leader) and bob (follower): one keygen pair, one key server per node."""

    def __init__(self, skr_bps, saes):
        self.tmp = tempfile.mkdtemp(prefix="kme-etsi014-")
        self.run = os.path.join(self.tmp, "run")
        self.logs = os.path.join(self.tmp, "logs")
        os.makedirs(self.run)
        os.makedirs(self.logs)
        self.prefix = "/qkde14-%d-" % os.getpid()
        self.skr_bps = skr_bps
        self.saes = saes
        self.procs = {}       # name -> Popen (the live one)
        self.all_procs = []   # every process started, for the final stop
        self.log_of = {}      # name -> current log file
        self.port = {}        # "004-alice", "014-alice", "metrics-alice", "peer-alice", ...
        self.starts = {}      # name -> how many times started
        self.stopped = False
        atexit.register(self.stop_all)
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))

    # -- helpers
    def ring(self, a, b):
        return "%s%s-%s" % (self.prefix, a, b)

    def tls(self, node):
        return ["--cert", "%s/%s/node.pem" % (CERTS, node), "--key",
                "%s/%s/node.key" % (CERTS, node), "--ca", CERTS + "/ca.pem"]

    def _spawn(self, name, args):
        n = self.starts.get(name, 0) + 1
        self.starts[name] = n
        log = os.path.join(self.logs, "%s.%d.log" % (name, n))
        with open(log, "ab") as f:
            p = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT)
        self.procs[name] = p
        self.all_procs.append(p)
        self.log_of[name] = log
        return p

    def _port_file(self, what):
        return os.path.join(self.run, what + ".port")

    def _read_port(self, what, who):
        f = self._port_file(what)
        have = lambda: os.path.exists(f) and os.path.getsize(f) > 0  # noqa: E731
        if not wait_for(lambda: have() or not self.alive(who), IO_TIMEOUT) or not have():
            fatal("%s wrote no port file %s within %.0f s (%s); log:\n%s"
                  % (who, f, IO_TIMEOUT, "running" if self.alive(who) else "exited",
                     self.tail(who)))
        with open(f) as fh:
            self.port[what] = int(fh.read().strip())

    def log_text(self, name):
        """Every log of NAME (all its starts), concatenated."""
        out = []
        for i in range(1, self.starts.get(name, 0) + 1):
            try:
                with open(os.path.join(self.logs, "%s.%d.log" % (name, i)), errors="replace") as f:
                    out.append(f.read())
            except OSError:
                pass
        return "".join(out)

    def log_count(self, name, regex):
        try:
            with open(self.log_of[name], errors="replace") as f:
                return len(re.findall(regex, f.read()))
        except (OSError, KeyError):
            return 0

    def tail(self, name, n=20):
        return "\n".join(self.log_text(name).splitlines()[-n:])

    # -- the link
    def start_keygens(self):
        common = ["--block-bytes", "256", "--heartbeat-ms", "200", "--link-timeout-ms", "1500"]
        self._spawn("keygen-bob", [BIN + "/qkd-keygen", "--mode", "receiver", "--host",
                                   "127.0.0.1", "--port", "0", "--port-file",
                                   self._port_file("keygen-bob"), "--ring",
                                   self.ring("bob", "alice"), "--peer-name", "alice"]
                    + self.tls("bob") + common)
        self._read_port("keygen-bob", "keygen-bob")
        self._spawn("keygen-alice", [BIN + "/qkd-keygen", "--mode", "sender", "--host",
                                     "127.0.0.1", "--port", str(self.port["keygen-bob"]),
                                     "--ring", self.ring("alice", "bob"), "--peer-name", "bob",
                                     "--skr-bps", str(self.skr_bps)] + self.tls("alice") + common)

    def start_kme(self, node, extra=()):
        """Starts NODE's key server (again: same ETSI 004 port, new 014 port) and waits until
        its 014 port file exists, its ring is attached and its peer sync is up."""
        name = "kme-" + node
        for what in ("004-" + node, "014-" + node, "peer-" + node, "metrics-" + node):
            if os.path.exists(self._port_file(what)):
                os.unlink(self._port_file(what))
        args = [BIN + "/qkd-kme", "--node", node, "--address", "127.0.0.1", "--port",
                str(self.port.get("004-" + node, 0)), "--port-file",
                self._port_file("004-" + node), "--heartbeat-ms", "200", "--peer-timeout-ms",
                "1500", "--log-level", "INFO", "--etsi014-listen", "127.0.0.1:0",
                "--etsi014-port-file", self._port_file("014-" + node), "--metrics-listen",
                "127.0.0.1:0", "--metrics-port-file", self._port_file("metrics-" + node), "--sae",
                ",".join("%s=%s" % kv for kv in self.saes)] + self.tls(node)
        if node == "alice":
            args += ["--peer-listen", "127.0.0.1:%d" % self.port.get("peer-alice", 0),
                     "--peer-port-file", self._port_file("peer-alice"), "--link",
                     "peer=bob,role=leader,ring=" + self.ring("alice", "bob")]
        else:
            args += ["--link", "peer=alice,role=follower,ring=%s,addr=127.0.0.1:%d"
                     % (self.ring("bob", "alice"), self.port["peer-alice"])]
        self._spawn(name, args + list(extra))
        self._read_port("004-" + node, name)
        self._read_port("014-" + node, name)
        self._read_port("metrics-" + node, name)
        if node == "alice":
            self._read_port("peer-alice", name)
        peer = "bob" if node == "alice" else "alice"
        if not wait_for(lambda: self.log_count(name, r"link %s: ring .* attached" % peer),
                        IO_TIMEOUT):
            fatal("%s attached no ring within %.0f s:\n%s" % (name, IO_TIMEOUT, self.tail(name)))

    def wait_peer_up(self, node, peer, count):
        """The COUNT-th "peer sync with PEER ... up" line of NODE's current log."""
        name = "kme-" + node
        if not wait_for(lambda: self.log_count(name, r"peer sync with %s .* up" % peer) >= count,
                        IO_TIMEOUT):
            fatal("%s: peer sync with %s not up (%d times) within %.0f s:\n%s"
                  % (name, peer, count, IO_TIMEOUT, self.tail(name)))

    def metric(self, node, name, labels):
        """The value of metric NAME whose labels include every 'k="v"' string of LABELS at
        NODE's metrics endpoint (docs/observability.md), or None."""
        c = http.client.HTTPConnection("127.0.0.1", self.port["metrics-" + node],
                                       timeout=IO_TIMEOUT)
        try:
            c.request("GET", "/metrics")
            text = c.getresponse().read().decode(errors="replace")
        except (OSError, http.client.HTTPException):
            return None
        finally:
            c.close()
        for m in re.finditer(r'^%s(?:\{([^}]*)\})? ([0-9.e+]+)$' % re.escape(name), text, re.M):
            if all(lb in (m.group(1) or "") for lb in labels):
                return float(m.group(2))
        return None

    def consumed(self, node, peer):
        """NODE's ring consume offset for the link to PEER (qkd_ring_consumed_bytes_total),
        or None."""
        v = self.metric(node, "qkd_ring_consumed_bytes_total", ['link="%s"' % peer])
        return int(v) if v is not None else None

    def kill9(self, name):
        p = self.procs.get(name)
        if p and p.poll() is None:
            p.kill()
            p.wait(IO_TIMEOUT)

    def alive(self, name):
        p = self.procs.get(name)
        return p is not None and p.poll() is None

    def stop_all(self):
        if self.stopped:
            return
        self.stopped = True
        for p in self.all_procs:
            if p.poll() is None:
                p.terminate()
        for p in self.all_procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.all_procs = []
        for r in (self.ring("alice", "bob"), self.ring("bob", "alice")):
            try:
                os.unlink("/dev/shm/" + r.lstrip("/"))
            except OSError:
                pass
        if os.path.isdir(self.tmp):
            if FAILURES or os.environ.get("KEEP_T") == "1":
                print("logs kept in %s" % self.logs, flush=True)
                for f in sorted(os.listdir(self.logs)):
                    print("----- %s (tail)\n%s" % (f, self.tail_file(f)), flush=True)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def tail_file(self, f, n=30):
        with open(os.path.join(self.logs, f), errors="replace") as fh:
            return "\n".join(fh.read().splitlines()[-n:])


# ---------------------------------------------------------------------------------------------
# HTTP

def ctx_for(ident):
    """TLS client context presenting IDENT's certificate: <node>-app is the node's application
    certificate DIR/<node>/client.pem, <node>-saeN DIR/<node>/saeN.pem where generate_certs.sh
    issues the SAEs itself, else (like every other name) DIR/clients/IDENT.pem (certs_sae.sh)."""
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.minimum_version = ssl.TLSVersion.TLSv1_3
    c.load_verify_locations(CERTS + "/ca.pem")
    base = "%s/clients/%s" % (CERTS, ident)
    m = re.fullmatch(r"(alice|bob|charlie)-(app|sae2|sae3)", ident)
    if m:
        own = "%s/%s/%s" % (CERTS, m.group(1), "client" if m.group(2) == "app" else m.group(2))
        if m.group(2) == "app" or os.path.exists(own + ".pem"):
            base = own
    c.load_cert_chain(base + ".pem", base + ".key")
    c.check_hostname = False  # the node certificates name the node, not 127.0.0.1
    return c


class Resp:
    def __init__(self, status, headers, body, elapsed):
        self.status = status
        self.headers = headers  # lower-case name -> value
        self.body = body
        self.elapsed = elapsed
        try:
            self.json = json.loads(body.decode()) if body else None
        except (ValueError, UnicodeDecodeError):
            self.json = None

    def __repr__(self):
        return "HTTP %d %s" % (self.status, _short(self.body.decode(errors="replace"), 300))


class Client:
    """ETSI 014 calls as one SAE identity against the key servers' 014 listeners (a fresh
    connection per call; keep-alive has its own checks on RawConn)."""

    def __init__(self, net):
        self.net = net
        self.ctx = {}

    def context(self, ident):
        if ident not in self.ctx:
            self.ctx[ident] = ctx_for(ident)
        return self.ctx[ident]

    def call(self, node, ident, method, path, body=None, headers=None, timeout=IO_TIMEOUT):
        h = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        c = http.client.HTTPSConnection("127.0.0.1", self.net.port["014-" + node],
                                        context=self.context(ident), timeout=timeout)
        t0 = time.monotonic()
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            b = r.read()
            return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, b,
                        time.monotonic() - t0)
        finally:
            c.close()

    # the endpoints
    def status(self, node, ident, slave):
        return self.call(node, ident, "GET", "/api/v1/keys/%s/status" % slave)

    def enc_get(self, node, ident, slave, query=""):
        return self.call(node, ident, "GET", "/api/v1/keys/%s/enc_keys%s" % (slave, query))

    def enc_post(self, node, ident, slave, body):
        return self.call(node, ident, "POST", "/api/v1/keys/%s/enc_keys" % slave, body)

    def dec_get(self, node, ident, master, key_id):
        return self.call(node, ident, "GET",
                         "/api/v1/keys/%s/dec_keys?key_ID=%s" % (master, key_id))

    def dec_post(self, node, ident, master, key_ids):
        return self.call(node, ident, "POST", "/api/v1/keys/%s/dec_keys" % master,
                         {"key_IDs": [{"key_ID": k} for k in key_ids]})


class RawConn:
    """One TLS connection speaking HTTP/1.1 by hand: requests written as given (several in one
    write for pipelining), responses read one after the other (Content-Length or chunked)."""

    def __init__(self, net, node, ident, timeout=IO_TIMEOUT):
        raw = socket.create_connection(("127.0.0.1", net.port["014-" + node]), timeout=timeout)
        self.s = ctx_for(ident).wrap_socket(raw, server_hostname="localhost")
        self.s.settimeout(timeout)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def _fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("connection closed by the server")
        self.buf += d

    def _line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise ValueError("header line over 64 KiB")
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def response(self):
        t0 = time.monotonic()
        status_line = self._line().decode("latin-1")
        m = re.match(r"HTTP/1\.[01] (\d{3})", status_line)
        if not m:
            raise ValueError("bad status line %r" % status_line)
        headers = {}
        while True:
            line = self._line().decode("latin-1")
            if not line:
                break
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                n = int(self._line().split(b";")[0], 16)
                if n == 0:
                    while self._line():
                        pass
                    break
                body += self._exact(n)
                self._exact(2)
        else:
            body = self._exact(int(headers.get("content-length", "0")))
        return Resp(int(m.group(1)), headers, body, time.monotonic() - t0)

    def closed_by_peer(self, timeout):
        """True when the server closes the connection (EOF or reset) within TIMEOUT s."""
        self.s.settimeout(timeout)
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    return True
                self.buf += d
        except socket.timeout:
            return False
        except (ssl.SSLError, OSError):
            return True

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def request_bytes(method, path, body=b"", extra=""):
    h = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s" % (method, path, extra)
    if body or method in ("POST", "PUT"):
        h += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    return (h + "\r\n").encode() + body


# ---------------------------------------------------------------------------------------------
# 014 objects

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                   re.I)


def keys_of(resp):
    """The Key container's keys as [(key_ID, key bytes or None)], or None when the body is not
    a Key container."""
    j = resp.json
    if not isinstance(j, dict) or not isinstance(j.get("keys"), list):
        return None
    out = []
    for k in j["keys"]:
        if not isinstance(k, dict) or not isinstance(k.get("key_ID"), str):
            return None
        try:
            kb = base64.b64decode(k.get("key", ""), validate=True)
        except (ValueError, TypeError):
            kb = None
        out.append((k["key_ID"], kb))
    return out


def container_problems(resp, number, size_bits):
    """What is wrong with RESP as the Key container of NUMBER keys of SIZE_BITS (empty: OK)."""
    if resp.status != 200:
        return ["HTTP %d (%s)" % (resp.status, _short(resp.body, 200))]
    ks = keys_of(resp)
    if ks is None:
        return ["not a Key container: %s" % _short(resp.body, 200)]
    p = []
    if len(ks) != number:
        p.append("%d keys, not %d" % (len(ks), number))
    for kid, kb in ks:
        if not UUID4.fullmatch(kid):
            p.append("key_ID %r is not a UUIDv4 string" % kid)
        if kb is None or len(kb) != size_bits // 8:
            p.append("key of %s: %s bytes, not %d (strict base64)"
                     % (kid, "undecodable" if kb is None else len(kb), size_bits // 8))
    return p[:5]
