#!/usr/bin/env python3
"""kme_etsi014.py: the key server's ETSI GS QKD 014 listener end to end (docs/kme.md). An
alice-bob link (alice leads) with both key servers serving 014 on free ports and one SAE
directory; SAE identities from the qkd_certs fixture (tests/integration/certs.cmake). Named
checks: every validation rule at its edge (400/401/405/413), enc at alice and dec at bob
identical (GET and POST, 64..8192 bits), additional slaves, once-only and all-or-nothing dec, a
slave at the same node (CSPRNG: the ring untouched), 503 with bob's key server down (nothing
consumed) and success after its restart, 004 and 014 keys from one link never overlapping,
status and its key count, the key TTL, keep-alive and pipelining, one INFO line per call and no
key bytes in either log. Ring consumption is read from alice's metrics endpoint. Each check
prints what it expected and what came; every wait is bounded.

usage: kme_etsi014.py   (QKD_BIN, QKD_TEST_CERTS from ctest; KEEP_T=1 keeps the logs)
"""
import base64
import os
import re
import subprocess
import sys
import time
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kme_etsi014_lib import (BIN, CERTS, FAILURES, IO_TIMEOUT, Client, Net, RawConn,  # noqa: E402
                             check, check_eq, container_problems, keys_of, request_bytes,
                             wait_for)

SKR_BPS = 2000000  # 250 kB/s: the 1 MiB ring refills in 4 s, the suite takes ~600 kB
SAES = [("alice-app", "alice"), ("alice-sae2", "alice"), ("alice-sae3", "alice"),
        ("bob-app", "bob"), ("bob-sae2", "bob"), ("bob-sae3", "bob")]
WAIT_S = 2.0        # --etsi014-wait-ms default
KEY_SIZE = 256      # --etsi014-key-size default (bits)
MIN_SIZE, MAX_SIZE, MAX_N = 64, 8192, 128
MAX_SAE_IDS = 8     # --etsi014-max-sae-ids default (alice)
BOB_MAX_SAE_IDS = 1  # bob runs with --etsi014-max-sae-ids 1: its edge is tested there
BODY_MAX = 65536    # the HTTP layer's body limit (64 KiB)
ENC = "/api/v1/keys/bob-app/enc_keys"

ERROR_BODIES = []   # (check, body) of error answers that are not {"message": string}


class Keys:
    """Every key the suite received, for the distinctness, overlap and log checks."""

    def __init__(self):
        self.k014 = {}   # key_ID -> bytes
        self.k004 = {}   # (ksid, index) -> bytes
        self.clash = []  # a key_ID seen with two different keys

    def add014(self, pairs):
        for kid, kb in pairs:
            if kb is None:
                continue
            prev = self.k014.setdefault(kid, kb)
            if prev != kb:
                self.clash.append(kid)

    def all(self):
        return list(self.k014.items()) + list(self.k004.items())


K = Keys()


def expect(name, resp, status):
    ok = check(name, resp.status == status, "HTTP %d" % status, resp)
    if ok and status >= 400:
        j = resp.json
        if not (isinstance(j, dict) and isinstance(j.get("message"), str)):
            ERROR_BODIES.append((name, resp.body[:200]))
    return ok


def enc_ok(name, resp, number, size):
    """RESP is a Key container of NUMBER keys of SIZE bits; returns its keys or None."""
    p = container_problems(resp, number, size)
    if not check(name, not p, "200 with %d UUIDv4 key_IDs and base64 keys of %d bytes"
                 % (number, size // 8), p):
        return None
    ks = keys_of(resp)
    K.add014(ks)
    return ks


def dec_match(cl, name, keys, size, node="bob", slave="bob-app", master="alice-app"):
    """SLAVE fetches KEYS at NODE in one POST: the same key for every key_ID."""
    ids = [k for k, _ in keys]
    r = cl.dec_post(node, slave, master, ids)
    got = enc_ok(name + ": dec at %s by %s 200" % (node, slave), r, len(ids), size)
    if got is not None:
        check(name + ": dec at %s by %s identical" % (node, slave), dict(got) == dict(keys),
              "the %d keys enc gave" % len(ids), "%d of %d identical"
              % (sum(1 for k, v in got if dict(keys).get(k) == v), len(ids)))
    return got


def enc_dec(cl, name, resp, number, size, **kw):
    ks = enc_ok(name, resp, number, size)
    if ks is not None:
        dec_match(cl, name, ks, size, **kw)
    return ks


# ---------------------------------------------------------------------------------------------

def startup_options():
    """A bad 014 value stops qkd-kme at start, naming the option (docs/kme.md)."""
    base = [BIN + "/qkd-kme", "--node", "alice", "--address", "127.0.0.1", "--port", "0",
            "--cert", CERTS + "/alice/node.pem", "--key", CERTS + "/alice/node.key", "--ca",
            CERTS + "/ca.pem", "--etsi014-listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0",
            "--link", "peer=bob,role=leader,ring=/qkde14-%d-startup" % os.getpid()]
    for opt, val in (("--sae", "alice-app"), ("--etsi014-wait-ms", "abc"),
                     ("--etsi014-key-size", "12")):
        p = subprocess.Popen(base + [opt, val], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            out, _ = p.communicate(timeout=5)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate(timeout=5)
            rc = "still running after 5 s"
        text = out.decode(errors="replace")
        check("startup: %s %s refused" % (opt, val), rc not in (0, "still running after 5 s")
              and opt in text and val in text,
              "exit status != 0 and a message naming %s and '%s'" % (opt, val),
              "exit %s, output %r" % (rc, text[-300:]))


def wait_filled(cl):
    """Until alice's link holds enough key for the big requests (bounded)."""
    last = []

    def enough():
        r = cl.status("alice", "alice-app", "bob-app")
        last[:] = [r]
        n = r.json.get("stored_key_count") if isinstance(r.json, dict) else None
        return isinstance(n, int) and n >= 8192

    check("link filled: stored_key_count >= 8192 within %.0f s" % IO_TIMEOUT,
          wait_for(enough, IO_TIMEOUT, 0.2), "status 200 with stored_key_count >= 8192", last)


def validation(cl, net):
    g = lambda q: cl.enc_get("alice", "alice-app", "bob-app", q)  # noqa: E731
    p = lambda b: cl.enc_post("alice", "alice-app", "bob-app", b)  # noqa: E731
    # number
    enc_dec(cl, "number = max (128) -> 200", g("?number=%d" % MAX_N), MAX_N, KEY_SIZE)
    for q in ("%d" % (MAX_N + 1), "0", "-1", "abc", "", "1.5"):
        expect("number = %r -> 400" % q, g("?number=" + q), 400)
    for v in (MAX_N + 1, 0, "abc"):
        expect("POST number = %r -> 400" % v, p({"number": v}), 400)
    # size
    for s in (MIN_SIZE, MAX_SIZE):
        enc_dec(cl, "size = %d -> 200" % s, g("?number=1&size=%d" % s), 1, s)
        enc_dec(cl, "POST size = %d -> 200" % s, p({"number": 1, "size": s}), 1, s)
    for q in (MIN_SIZE - 8, MAX_SIZE + 8, 12, 260, 1020, 0, "abc"):
        expect("size = %r -> 400" % q, g("?number=1&size=%s" % q), 400)
    for v in (MIN_SIZE - 8, MAX_SIZE + 8, 12, 260, "abc"):
        expect("POST size = %r -> 400" % v, p({"number": 1, "size": v}), 400)
    # SAE ids in the path
    for path in ("/api/v1/keys/%20/status", "/api/v1/keys//status", "/api/v1/keys/%20/enc_keys",
                 "/api/v1/keys//enc_keys"):
        expect("blank SAE id: GET %s -> 400" % path, cl.call("alice", "alice-app", "GET", path),
               400)
    expect("master asking itself as slave -> 400",
           cl.enc_get("alice", "alice-app", "alice-app", "?number=1"), 400)
    expect("unknown slave -> 400", cl.enc_get("alice", "alice-app", "nobody", "?number=1"), 400)
    # additional slaves
    for what, ids in (("blank", [" "]), ("empty string", [""]), ("duplicated", ["bob-sae2"] * 2),
                      ("== master", ["alice-app"]), ("== slave", ["bob-app"]),
                      ("unknown", ["nobody"]), ("at another node than the slave", ["alice-sae2"]),
                      ("one good, one blank", ["bob-sae2", " "])):
        expect("additional slaves %s -> 400" % what,
               p({"number": 1, "additional_slave_SAE_IDs": ids}), 400)
    # bob runs with --etsi014-max-sae-ids 1
    pb = lambda ids: cl.enc_post("bob", "bob-app", "alice-app",  # noqa: E731
                                 {"number": 1, "additional_slave_SAE_IDs": ids})
    expect("additional slaves over --etsi014-max-sae-ids %d -> 400" % BOB_MAX_SAE_IDS,
           pb(["alice-sae2", "alice-sae3"]), 400)
    ks = enc_dec(cl, "additional slaves = --etsi014-max-sae-ids %d -> 200" % BOB_MAX_SAE_IDS,
                 pb(["alice-sae2"]), 1, KEY_SIZE, node="alice", slave="alice-app",
                 master="bob-app")
    if ks:
        dec_match(cl, "additional slaves at max: alice-sae2", ks, KEY_SIZE, node="alice",
                  slave="alice-sae2", master="bob-app")
    enc_dec(cl, "additional slaves [] -> 200", p({"number": 1, "additional_slave_SAE_IDs": []}),
            1, KEY_SIZE)
    # extensions, unknown fields, bodies
    expect("extension_mandatory non-empty -> 400",
           p({"number": 1, "extension_mandatory": [{"abc_route_type": "direct"}]}), 400)
    enc_dec(cl, "extension_mandatory [] -> 200", p({"number": 1, "extension_mandatory": []}), 1,
            KEY_SIZE)
    enc_dec(cl, "extension_mandatory {} -> 200", p({"number": 1, "extension_mandatory": {}}), 1,
            KEY_SIZE)
    enc_dec(cl, "extension_optional ignored -> 200",
            p({"number": 1, "extension_optional": [{"abc_route_type": "direct"}]}), 1, KEY_SIZE)
    enc_dec(cl, "body {} -> 200 (defaults)", p({}), 1, KEY_SIZE)
    enc_dec(cl, "empty POST -> 200 (defaults)",
            cl.call("alice", "alice-app", "POST", ENC, body=b""), 1, KEY_SIZE)
    enc_dec(cl, "unknown JSON fields ignored -> 200",
            p({"number": 2, "size": KEY_SIZE, "vendor": "x", "nested": {"a": [1, {"b": None}]}}),
            2, KEY_SIZE)
    for what, body in (("truncated", b'{"number": 2,'), ("not JSON", b"number=2"),
                       ("trailing garbage", b'{"number": 1} x')):
        expect("malformed JSON body (%s) -> 400" % what, p(body), 400)
    # dec_keys
    d = lambda q: cl.call("bob", "bob-app", "GET", "/api/v1/keys/alice-app/dec_keys" + q)  # noqa
    for bad in ("not-a-uuid", "1234", "zzzzzzzz-zzzz-4zzz-8zzz-zzzzzzzzzzzz"):
        expect("key_ID %r (not a UUID) -> 400" % bad, d("?key_ID=" + bad), 400)
        expect("POST key_ID %r (not a UUID) -> 400" % bad,
               cl.dec_post("bob", "bob-app", "alice-app", [bad]), 400)
    expect("unknown key_ID -> 400", d("?key_ID=%s" % uuid.uuid4()), 400)
    expect("POST unknown key_ID -> 400", cl.dec_post("bob", "bob-app", "alice-app",
                                                    [str(uuid.uuid4())]), 400)
    expect("dec malformed JSON body -> 400",
           cl.call("bob", "bob-app", "POST", "/api/v1/keys/alice-app/dec_keys",
                   body=b'{"key_IDs": [{"key_ID": '), 400)
    # methods
    for m, node, path in (("POST", "alice", "/api/v1/keys/bob-app/status"),
                          ("PUT", "alice", ENC), ("DELETE", "alice", ENC),
                          ("PUT", "bob", "/api/v1/keys/alice-app/dec_keys"),
                          ("DELETE", "bob", "/api/v1/keys/alice-app/dec_keys")):
        ident = "alice-app" if node == "alice" else "bob-app"
        expect("%s %s -> 405" % (m, path), cl.call(node, ident, m, path, body=b"{}"), 405)
    # callers that are not SAEs of the node
    expect("bob-app calling alice's enc_keys -> 401",
           cl.enc_get("alice", "bob-app", "bob-sae2", "?number=1"), 401)
    expect("bob-app calling alice's status -> 401", cl.status("alice", "bob-app", "bob-sae2"), 401)
    expect("mallory-app (in no directory) enc_keys -> 401",
           cl.enc_get("alice", "mallory-app", "bob-app", "?number=1"), 401)
    expect("mallory-app status -> 401", cl.status("alice", "mallory-app", "bob-app"), 401)
    expect("mallory-app dec_keys at bob -> 401",
           cl.dec_post("bob", "mallory-app", "alice-app", [str(uuid.uuid4())]), 401)


def other_pair(cl):
    """A key of another master/slave pair at dec -> 401, and it is not consumed."""
    ks = enc_ok("other pair: enc alice-app -> bob-app", cl.enc_get(
        "alice", "alice-app", "bob-app", "?number=1"), 1, KEY_SIZE)
    if ks is None:
        return
    kid = ks[0][0]
    expect("other pair: bob-sae2 (not its slave) dec -> 401",
           cl.dec_get("bob", "bob-sae2", "alice-app", kid), 401)
    expect("other pair: bob-app naming master alice-sae2 -> 401",
           cl.dec_get("bob", "bob-app", "alice-sae2", kid), 401)
    dec_match(cl, "other pair: the key still delivers to its slave", ks, KEY_SIZE)


def body_limit(cl, net):
    """A body of exactly 64 KiB is served; one byte more -> 413 and the connection closes."""
    head = b'{"number": 1, "size": %d, "pad": "' % KEY_SIZE
    body = head + b"a" * (BODY_MAX - len(head) - 2) + b'"}'
    enc_dec(cl, "body of %d bytes -> 200" % len(body),
            cl.call("alice", "alice-app", "POST", ENC, body=body), 1, KEY_SIZE)
    c = RawConn(net, "alice", "alice-app")
    try:
        big = body[:-2] + b'a"}'
        c.send(request_bytes("POST", ENC, big)[: -len(big)])  # the headers alone
        # the server may answer on the headers alone; else it gets the body
        if not c.closed_by_peer(1.0) and not c.buf:
            try:
                c.send(big)
            except OSError:
                pass
        c.s.settimeout(IO_TIMEOUT)
        try:
            r = c.response()
            expect("body of %d bytes -> 413" % len(big), r, 413)
        except (EOFError, OSError, ValueError) as e:
            check("body of %d bytes -> 413" % len(big), False, "HTTP 413", repr(e))
        check("413: the server closes the connection", c.closed_by_peer(5.0),
              "EOF within 5 s", "connection still open")
    finally:
        c.close()


def enc_dec_100(cl):
    """100 keys enc at alice, dec at bob: 64, 256, 1024, 8192 bits, GET and POST."""
    got = []
    for size in (64, 256, 1024, 8192):
        r = cl.enc_get("alice", "alice-app", "bob-app", "?number=12&size=%d" % size)
        ks = enc_ok("GET enc 12 x %d bits" % size, r, 12, size)
        if ks:
            bad = []
            for kid, kb in ks:
                rd = cl.dec_get("bob", "bob-app", "alice-app", kid)
                one = keys_of(rd)
                if rd.status != 200 or one is None or one != [(kid, kb)]:
                    bad.append((kid, rd))
                else:
                    K.add014(one)
            check("GET dec at bob, one key_ID per call, %d bits: identical" % size, not bad,
                  "12 x 200 with the enc key", bad[:2])
            got += ks
        ks = enc_dec(cl, "POST enc 13 x %d bits" % size,
                     cl.enc_post("alice", "alice-app", "bob-app", {"number": 13, "size": size}),
                     13, size)
        got += ks or []
    check_eq("100 keys enc at alice and dec at bob", 100, len(got))
    check_eq("100 distinct key_IDs", 100, len({k for k, _ in got}))
    check_eq("100 distinct keys", 100, len({v for _, v in got}))
    r = cl.enc_get("bob", "bob-app", "alice-app", "?number=3&size=512")
    enc_dec(cl, "enc at bob (the follower) -> dec at alice", r, 3, 512, node="alice",
            slave="alice-app", master="bob-app")


def additional_slaves(cl):
    r = cl.enc_post("alice", "alice-app", "bob-app",
                    {"number": 2, "additional_slave_SAE_IDs": ["bob-sae2"]})
    ks = enc_ok("additional slave bob-sae2: enc 200", r, 2, KEY_SIZE)
    if not ks:
        return
    ids = [k for k, _ in ks]
    expect("additional slaves: bob-sae3 (not a slave) dec -> 401",
           cl.dec_post("bob", "bob-sae3", "alice-app", ids), 401)
    dec_match(cl, "additional slaves: bob-app", ks, KEY_SIZE)
    expect("once per slave: bob-app's second dec -> 400",
           cl.dec_post("bob", "bob-app", "alice-app", ids), 400)
    dec_match(cl, "additional slaves: bob-sae2 after bob-app", ks, KEY_SIZE, slave="bob-sae2")
    expect("once per slave: bob-sae2's second dec -> 400",
           cl.dec_post("bob", "bob-sae2", "alice-app", ids), 400)


def all_or_nothing(cl):
    ks = enc_ok("all-or-nothing: enc 1", cl.enc_get("alice", "alice-app", "bob-app",
                                                    "?number=1"), 1, KEY_SIZE)
    if not ks:
        return
    expect("all-or-nothing: one good + one unknown key_ID -> 400",
           cl.dec_post("bob", "bob-app", "alice-app", [ks[0][0], str(uuid.uuid4())]), 400)
    expect("dec with one key_ID twice -> 400",
           cl.dec_post("bob", "bob-app", "alice-app", [ks[0][0], ks[0][0]]), 400)
    dec_match(cl, "all-or-nothing: the good one still delivers", ks, KEY_SIZE)
    expect("once: a delivered key's second GET dec -> 400",
           cl.dec_get("bob", "bob-app", "alice-app", ks[0][0]), 400)


def mixed_sizes(cl):
    """One dec_keys call fetches keys of two enc_keys calls of different sizes."""
    a = enc_ok("mixed sizes: enc 2 x 128 bits", cl.enc_get("alice", "alice-app", "bob-app",
                                                          "?number=2&size=128"), 2, 128)
    b = enc_ok("mixed sizes: enc 1 x 1024 bits", cl.enc_get("alice", "alice-app", "bob-app",
                                                           "?number=1&size=1024"), 1, 1024)
    if not a or not b:
        return
    keys = a + b
    r = cl.dec_post("bob", "bob-app", "alice-app", [k for k, _ in keys])
    check("mixed sizes: one dec of 128- and 1024-bit keys -> 200", r.status == 200, 200, r.status)
    if r.status != 200:
        return
    got = dict(keys_of(r))
    check("mixed sizes: every key identical, each of its own size",
          got == dict(keys) and sorted(len(v or b"") for v in got.values()) == [16, 16, 128],
          "2 x 16 + 1 x 128 bytes as enc gave them", sorted(len(v or b"") for v in got.values()))


def same_node(cl, net):
    """A slave at the same node: CSPRNG keys, the link's ring untouched."""
    r = cl.status("alice", "alice-app", "alice-sae2")
    j = r.json if isinstance(r.json, dict) else {}
    check("same node: status target_KME_ID alice", r.status == 200 and
          j.get("target_KME_ID") == "alice", "200 with target_KME_ID 'alice'", r)
    c0 = net.consumed("alice", "bob")
    ks = enc_dec(cl, "same node: alice-app enc for alice-sae2",
                 cl.enc_get("alice", "alice-app", "alice-sae2", "?number=4&size=512"), 4, 512,
                 node="alice", slave="alice-sae2")
    c1 = net.consumed("alice", "bob")
    check("same node: the link's ring untouched", c0 is not None and c0 == c1,
          "qkd_ring_consumed_bytes_total unchanged (%s)" % c0, c1)
    if ks:
        expect("same node: second dec -> 400",
               cl.dec_get("alice", "alice-sae2", "alice-app", ks[0][0]), 400)


def client004(net, node, args):
    """qkd-client as NODE's application against NODE's ETSI 004 port (docs/client.md)."""
    cmd = [BIN + "/qkd-client", "--server", "127.0.0.1:%d" % net.port["004-" + node], "--cert",
           "%s/%s/client.pem" % (CERTS, node), "--key", "%s/%s/client.key" % (CERTS, node),
           "--ca", CERTS + "/ca.pem", "--timeout", "10000"] + args
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return None, {}, "qkd-client %s: no exit within 30 s" % args[0]
    lines = r.stdout.split("\n")
    ksid = lines[0].strip() if args[0] == "flow" and lines else None
    keys = {}
    for ln in lines[1:] if args[0] == "flow" else lines:
        f = ln.split()
        if len(f) == 2 and f[0].isdigit():
            keys[int(f[0])] = bytes.fromhex(f[1])
    return ksid, keys, "exit %d, stderr %r" % (r.returncode, r.stderr[-300:])


def overlap_004(cl, net):
    """004 GET_KEYs and 014 enc_keys of chunk-size keys from one link, interleaved: no byte
    string serves both (8-byte windows), and the 004 keys still match at both ends."""
    n, rounds, chunk = 16, 4, 32
    bad = []
    for i in range(rounds):
        ksid, ka, why = client004(net, "alice", ["flow", "--count", str(n)])
        if ksid is None or len(ka) != n or any(len(v) != chunk for v in ka.values()):
            bad.append("round %d: alice flow gave %s keys (%s)" % (i, len(ka), why))
            continue
        enc_dec(cl, "004/014 round %d: 014 enc %d x %d bits" % (i, n, chunk * 8),
                cl.enc_get("alice", "alice-app", "bob-app", "?number=%d&size=%d"
                           % (n, chunk * 8)), n, chunk * 8)
        _, kb, why = client004(net, "bob", ["get", "--ksid", ksid, "--count", str(n)])
        if kb != ka:
            bad.append("round %d: bob's %d keys differ from alice's %d (%s)"
                       % (i, len(kb), len(ka), why))
        for idx, v in ka.items():
            K.k004[(ksid, idx)] = v
    check("004 keys identical at alice and bob (%d rounds of %d)" % (rounds, n), not bad,
          "no difference", bad)
    check_eq("004 keys collected", rounds * n, len(K.k004))


def overlaps():
    """(kind, label, label) for every 8-byte string two different keys share."""
    seen, out = {}, []
    for label, kb in K.all():
        for off in range(0, len(kb) - 7):
            prev = seen.setdefault(kb[off:off + 8], label)
            if prev != label:
                kinds = {"004" if isinstance(x, tuple) else "014" for x in (prev, label)}
                out.append(("/".join(sorted(kinds)), prev, label))
    return out


def status(cl, net):
    r = cl.status("alice", "alice-app", "bob-app")
    expect("status alice-app -> bob-app 200", r, 200)
    j = r.json if isinstance(r.json, dict) else {}
    for field, want in (("source_KME_ID", "alice"), ("target_KME_ID", "bob"),
                        ("master_SAE_ID", "alice-app"), ("slave_SAE_ID", "bob-app"),
                        ("key_size", KEY_SIZE), ("max_key_per_request", MAX_N),
                        ("min_key_size", MIN_SIZE), ("max_key_size", MAX_SIZE),
                        ("max_SAE_ID_count", MAX_SAE_IDS)):
        check_eq("status %s" % field, want, j.get(field))
    n, m = j.get("stored_key_count"), j.get("max_key_count")
    isint = lambda v: isinstance(v, int) and not isinstance(v, bool)  # noqa: E731
    check("status stored_key_count an integer >= 0", isint(n) and n >= 0, "integer >= 0", n)
    check("status max_key_count an integer >= stored_key_count",
          isint(m) and isint(n) and m >= n, ">= %r" % n, m)
    # the count drops by the keys an enc takes, give or take what the link refills meanwhile
    t0 = time.monotonic()
    c0 = net.consumed("alice", "bob")
    before = cl.status("alice", "alice-app", "bob-app").json or {}
    r = cl.enc_get("alice", "alice-app", "bob-app", "?number=%d&size=%d" % (MAX_N, MAX_SIZE))
    after = cl.status("alice", "alice-app", "bob-app").json or {}
    dt = time.monotonic() - t0
    c1 = net.consumed("alice", "bob")
    ks = enc_ok("status: enc %d x %d bits" % (MAX_N, MAX_SIZE), r, MAX_N, MAX_SIZE)
    # the keys are the link's: alice's ring gave at least their bytes
    check("enc for a slave at bob: alice's ring consumed >= %d bytes" % (MAX_N * MAX_SIZE // 8),
          None not in (c0, c1) and c1 - c0 >= MAX_N * MAX_SIZE // 8,
          ">= %d (qkd_ring_consumed_bytes_total)" % (MAX_N * MAX_SIZE // 8),
          "before %s, after %s" % (c0, c1))
    b, a = before.get("stored_key_count"), after.get("stored_key_count")
    taken = MAX_N * MAX_SIZE // KEY_SIZE
    margin = int(SKR_BPS / KEY_SIZE * dt) + 64
    if isint(b) and isint(a):
        check("stored_key_count drops by about the keys taken",
              ks is not None and a <= b - taken + margin,
              "<= %d (before %d - taken %d + refill margin %d for %.2f s)"
              % (b - taken + margin, b, taken, margin, dt), a)
    else:
        check("stored_key_count before and after an enc", False, "integers", (b, a))
    if ks:
        dec_match(cl, "status: the %d big keys" % MAX_N, ks, MAX_SIZE)
    r = cl.status("bob", "bob-app", "alice-app")
    j = r.json if isinstance(r.json, dict) else {}
    got = (r.status, j.get("source_KME_ID"), j.get("target_KME_ID"), j.get("max_SAE_ID_count"))
    check_eq("status at bob: 200, source bob, target alice, max_SAE_ID_count %d"
             % BOB_MAX_SAE_IDS, (200, "bob", "alice", BOB_MAX_SAE_IDS), got)
    expect("status for an unknown slave -> 400", cl.status("alice", "alice-app", "nobody"), 400)


def keepalive(net):
    c = RawConn(net, "alice", "alice-app")
    bad, i = [], -1
    req = request_bytes("GET", "/api/v1/keys/bob-app/status")
    try:
        for i in range(50):
            c.send(req)
            r = c.response()
            if r.status != 200:
                bad.append((i, r))
        check("keep-alive: 50 requests answered 200 on one connection", not bad,
              "50 x 200", bad[:3])
        c.send(req + request_bytes("GET", "/api/v1/keys/alice-sae2/status"))
        r1, r2 = c.response(), c.response()
        t = [x.json.get("target_KME_ID") if isinstance(x.json, dict) else x for x in (r1, r2)]
        check("pipelining: two requests in one write answered in order", t == ["bob", "alice"],
              "target_KME_ID bob then alice", t)
    except (EOFError, OSError, ValueError) as e:
        check("keep-alive and pipelining on one connection", False,
              "every answer", "request %d: %r" % (i, e))
    finally:
        c.close()


def outage(cl, net):
    """503 while bob's key server is down, within the wait; after its restart enc works."""
    ups = net.log_count("kme-alice", r"peer sync with bob .* up")
    net.kill9("kme-bob")
    check("bob's key server killed", not net.alive("kme-bob"), "not running", "running")
    c0 = net.consumed("alice", "bob")
    for how, r in (("GET", lambda: cl.enc_get("alice", "alice-app", "bob-app", "?number=1")),
                   ("POST", lambda: cl.enc_post("alice", "alice-app", "bob-app",
                                                {"number": 4, "size": 1024}))):
        resp = r()
        expect("bob down: %s enc -> 503" % how, resp, 503)
        check("bob down: %s 503 within wait + 1 s" % how, resp.elapsed <= WAIT_S + 1.0,
              "<= %.1f s" % (WAIT_S + 1.0), "%.2f s" % resp.elapsed)
    c1 = net.consumed("alice", "bob")
    check("bob down: the 503s consumed nothing from alice's ring", c0 is not None and c0 == c1,
          "qkd_ring_consumed_bytes_total unchanged (%s)" % c0, c1)
    enc_dec(cl, "bob down: a slave at alice still served (no link crossed)",
            cl.enc_get("alice", "alice-app", "alice-sae3", "?number=1"), 1, KEY_SIZE,
            node="alice", slave="alice-sae3")
    net.start_kme("bob", ["--etsi014-key-ttl", "2", "--etsi014-max-sae-ids", str(BOB_MAX_SAE_IDS)])
    net.wait_peer_up("bob", "alice", 1)
    net.wait_peer_up("alice", "bob", ups + 1)
    enc_dec(cl, "bob restarted: enc -> 200, dec at bob identical",
            cl.enc_post("alice", "alice-app", "bob-app", {"number": 4, "size": 1024}), 4, 1024)


def ttl(cl):
    """bob runs with --etsi014-key-ttl 2: a key not fetched is gone after 3 s."""
    t0 = time.monotonic()
    ks = enc_ok("ttl: enc 2", cl.enc_get("alice", "alice-app", "bob-app", "?number=2"), 2,
                KEY_SIZE)
    t1 = time.monotonic()
    if not ks:
        return
    time.sleep(max(0.0, t0 + 1.0 - time.monotonic()))
    if time.monotonic() - t0 < 1.8:  # the key is younger than the TTL
        dec_match(cl, "ttl: fetched within 1 s", ks[:1], KEY_SIZE)
    time.sleep(max(0.0, t1 + 3.0 - time.monotonic()))
    expect("ttl: a key not fetched for 3 s -> 400",
           cl.dec_get("bob", "bob-app", "alice-app", ks[1][0]), 400)


def log_calls(cl):
    """Calls only alice-sae3 -> bob-sae3 make, for the log checks."""
    ks = enc_dec(cl, "log: alice-sae3 enc 5 x 1016 bits for bob-sae3",
                 cl.enc_get("alice", "alice-sae3", "bob-sae3", "?number=5&size=1016"), 5, 1016,
                 slave="bob-sae3", master="alice-sae3")
    expect("log: alice-sae3 enc 129 -> 400",
           cl.enc_get("alice", "alice-sae3", "bob-sae3", "?number=129&size=1016"), 400)
    return ks


def logs(net):
    def lines(text, words, nums):
        return [ln for ln in text.splitlines() if "[INFO]" in ln and all(w in ln for w in words)
                and all(re.search(r"(?<![0-9])%s(?![0-9])" % x, ln) for x in nums)]

    la, lb = net.log_text("kme-alice"), net.log_text("kme-bob")
    for what, text, words, nums in (
            ("enc 200", la, ["alice-sae3", "bob-sae3"], ["5", "1016", "200"]),
            ("enc 400", la, ["alice-sae3", "bob-sae3"], ["400"]),
            ("dec 200 at bob", lb, ["bob-sae3", "alice-sae3"], ["200"])):
        got = lines(text, words, nums)
        check("log: one INFO line for the %s call naming %s and %s" % (what, words, nums),
              len(got) == 1, "1 line", got or "none")
    leaks = []
    for label, kb in K.all():
        b64 = base64.b64encode(kb).decode()
        for pat in {b64, b64[:16], kb.hex()[:32], kb.hex()[:32].upper()}:
            for name, text in (("alice", la), ("bob", lb)):
                if pat in text:
                    leaks.append((name, label, pat))
    check("logs: none of the %d keys' bytes (base64, hex) in either key server's log"
          % len(K.all()), not leaks, "none", leaks[:3])
    san = [n for n, t in (("alice", la), ("bob", lb))
           if re.search(r"AddressSanitizer|LeakSanitizer|runtime error:", t)]
    check("no sanitizer report in the key servers' logs", not san, "none", san)


def metrics(net):
    """The 014 metrics count what happened (docs/observability.md); bob's count only since
    his restart in outage()."""
    for node, call, least in (("alice", "enc_keys", 10), ("bob", "dec_keys", 1)):
        v = net.metric(node, "qkd_etsi014_responses_total", ['call="%s"' % call, 'code="200"'])
        check("metrics: %s counts its 200 %s answers" % (node, call),
              v is not None and v >= least, ">= %d" % least, v)
    v = net.metric("alice", "qkd_etsi014_responses_total", ['call="enc_keys"', 'code="400"'])
    check("metrics: alice counts its 400 enc_keys answers", v is not None and v >= 1, ">= 1", v)
    v = net.metric("alice", "qkd_keys_delivered_total", ['link="bob"', 'api="014"'])
    check("metrics: alice's 014 keys delivered on the link", v is not None and v >= 100, ">= 100",
          v)
    v = net.metric("alice", "qkd_connections", ['listener="etsi014"'])
    check("metrics: alice's etsi014 listener has a connection gauge", v is not None, "a value", v)
    v = net.metric("alice", "qkd_etsi014_local_keys_total", [])
    check("metrics: alice counts CSPRNG keys for its own SAEs", v is not None and v >= 1, ">= 1", v)


def main():
    t_start = time.monotonic()
    startup_options()
    net = Net(SKR_BPS, SAES)
    net.start_keygens()
    net.start_kme("alice")
    net.start_kme("bob", ["--etsi014-max-sae-ids", str(BOB_MAX_SAE_IDS)])
    net.wait_peer_up("bob", "alice", 1)
    net.wait_peer_up("alice", "bob", 1)
    cl = Client(net)
    wait_filled(cl)
    r = cl.enc_get("alice", "alice-app", "bob-app", "?number=1")
    check("200 answers are application/json", r.status == 200 and
          r.headers.get("content-type", "").startswith("application/json"),
          "200, Content-Type application/json", (r.status, r.headers.get("content-type")))
    enc_dec_100(cl)
    validation(cl, net)
    other_pair(cl)
    body_limit(cl, net)
    additional_slaves(cl)
    all_or_nothing(cl)
    mixed_sizes(cl)
    same_node(cl, net)
    log_calls(cl)
    overlap_004(cl, net)
    status(cl, net)
    keepalive(net)
    outage(cl, net)
    ttl(cl)
    check("error answers are {\"message\": string}", not ERROR_BODIES, "all of them",
          ERROR_BODIES[:3])
    check("no key_ID delivered with two different keys", not K.clash, "none", K.clash[:3])
    ov = overlaps()
    check("004 and 014 keys never overlap (8-byte windows)",
          not [o for o in ov if o[0] == "004/014"], "no shared window",
          [o for o in ov if o[0] == "004/014"][:3])
    check("014 keys never overlap each other (8-byte windows)",
          not [o for o in ov if o[0] != "004/014"], "no shared window",
          [o for o in ov if o[0] != "004/014"][:3])
    metrics(net)
    logs(net)
    print("%d keys checked, %.1f s" % (len(K.all()), time.monotonic() - t_start), flush=True)
    net.stop_all()
    if FAILURES:
        print("%d check(s) failed: %s" % (len(FAILURES), FAILURES[:20]), flush=True)
        return 1
    print("all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
