#!/usr/bin/env python3
"""hybrid_pairing.py CASE: pairing by request over the JSON listener, as the Python
Hybridization Module's applications do it: both nodes' applications send the SAME
OPEN_CONNECT (source = the initiating node, destination = the responding node, the SPI as the
application name, node UUIDs) on one connection each, then GET_KEY index 0 and CLOSE
(its tests/driver.py and bulk_driver.py). Every case first leaves stale streams at bob (alice's
application ran alone or alice's application died), which the responder must never join:
  stale   the two-run sequence of issue 14: run 1 mirrored (alice's stream S1 closed after its
          key K1), run 2 the same request at both ends: one KSID, one key, never K1; a responder
          alone waits for its Timeout (0 = the daemon's default) and gets the Python module's
          reply; of two live streams the oldest is joined first (FIFO)
  dead    an initiator application that dies after GET_KEY without CLOSE: its stream is closed
          at both ends, then a fresh pair gets identical keys; one that leaves while its
          OPEN_CONNECT waits for the key server: its stream is never announced
  restart the initiator's daemon restarts (its applications and streams are gone): bob's
          stream from before the broken link is not joined, a fresh pair gets identical keys
  bulk    10 concurrent lifecycles with distinct SPIs (bulk_driver.py): every pair identical,
          every SPI its own stream
  repeat  the same request sent by both applications 100 times in a row: identical every time"""
import json
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hybrid_lib import JsonApp, Net, check, fail, json_lifecycle, json_qos  # noqa: E402

CASE = sys.argv[1] if len(sys.argv) > 1 else ""
if CASE not in ("stale", "dead", "restart", "bulk", "repeat"):
    fail("usage: hybrid_pairing.py stale|dead|restart|bulk|repeat")
DEFAULT_TIMEOUT_MS = 2000  # bob's --default-timeout-ms: a responder's wait for Timeout 0
NOT_STARTED = b'{"status": 1, "message": "The client peer did not start the session"}'

net = Net("pair-" + CASE, json_nodes=("alice", "bob"))
# "dead": alice's key server is a socket that never answers (a QKD OPEN_CONNECT hangs ~3 s)
mute_kme = socket.socket()
mute_kme.bind(("127.0.0.1", 0))
mute_kme.listen(8)
net.start("alice", "--kme", "127.0.0.1:%d" % mute_kme.getsockname()[1])
net.start("bob", "--default-timeout-ms", str(DEFAULT_TIMEOUT_MS))
net.wait_peers("alice", "bob")
UA, UB = net.node_uuid("alice"), net.node_uuid("bob")
PARAMS = "hybridization=xoring&key_sources=ML-KEM-512"


def request(spi, src_uuid=UA, dst_uuid=UB):
    """The module's request file: the same parameters in source and destination."""
    return ("hybrid://SPI_%s@%s?%s" % (spi, src_uuid, PARAMS),
            "hybrid://SPI_%s@%s?%s" % (spi, dst_uuid, PARAMS))


def run_apps(specs):
    """Runs json_lifecycle(node, src, dst, rendezvous) for each spec concurrently."""
    res = [None] * len(specs)

    def one(i, spec):
        try:
            res[i] = json_lifecycle(net, *spec)
        except Exception as e:  # reported by the checks below
            res[i] = {"error": repr(e), "open": None, "key": None}
    ts = [threading.Thread(target=one, args=(i, s)) for i, s in enumerate(specs)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    return res


def run_pair(spi):
    """Both applications send the same request at the same time."""
    src, dst = request(spi)
    b = threading.Barrier(2)
    return run_apps([("alice", src, dst, b), ("bob", src, dst, b)])


def ok_pair(a, b):
    return (a.get("key") is not None and a["open"]["key_stream_id"] == b["open"]["key_stream_id"]
            and a["key"] == b.get("key") and a["close"] == {"status": 0}
            and b["close"] == {"status": 0})


def alice_alone(spi):
    """alice's application runs its lifecycle while bob's never comes: a stream closed at bob
    after its index 0 was made there (bob logs 'stream S closed by alice')."""
    src, dst = request(spi)
    r = json_lifecycle(net, "alice", src, dst)
    check(r["key"] is not None and r["close"] == {"status": 0},
          "SPI_%s: alice's application alone gets a key and closes" % spi)
    wait_log("bob", "stream %s closed by alice" % r["open"]["key_stream_id"])
    return r


def wait_log(node, text, secs=10, must=True):
    end = time.time() + secs
    while time.time() < end:
        if text in net.log(node):
            return True
        time.sleep(0.05)
    if must:
        fail("%s never logged '%s'" % (node, text))
    return False


def alone_at_bob(spi, timeout_ms, expect_ms):
    src, dst = request(spi)
    app = JsonApp(net, "bob")
    t0 = time.time()
    r, raw = app.open(src, dst, timeout=timeout_ms)
    ms = (time.time() - t0) * 1000
    app.drop()
    check(raw == NOT_STARTED, "bob's application alone (Timeout %d): the Python module's reply "
          "%s (got %r)" % (timeout_ms, NOT_STARTED.decode(), raw))
    check(expect_ms * 0.9 <= ms < expect_ms + 3000,
          "... after its Timeout of %d ms (%.0f ms)" % (expect_ms, ms))


if CASE == "stale":
    # run 1, by mistake: bob's application sends the mirrored request
    src, dst = request("1")
    msrc, mdst = request("1", UB, UA)
    r1a, r1b = run_apps([("alice", src, dst), ("bob", msrc, mdst)])
    check(r1a["key"] is not None and r1b["key"] is not None and
          r1a["open"]["key_stream_id"] != r1b["open"]["key_stream_id"],
          "run 1 (mirrored): each node initiates its own stream and gets a key")
    s1, k1 = r1a["open"]["key_stream_id"], r1a["key"]
    wait_log("bob", "stream %s closed by alice" % s1)
    # run 2: both applications send the same request at the same time
    a, b = run_pair("1")
    check(ok_pair(a, b), "run 2: both applications get the same KSID and key (%s / %s)" % (
        a["open"], b["open"]))
    check(a["open"]["key_stream_id"] != s1 and k1 not in (a["key"], b["key"]),
          "run 2: not the stale stream S1 nor its key K1 at either end")
    check(re.search(r"OPEN_CONNECT %s: responder" % s1, net.log("bob")) is None,
          "bob never joined S1")
    # a responder alone never joins the stale streams; it waits for its Timeout
    alone_at_bob("1", 0, DEFAULT_TIMEOUT_MS)
    alone_at_bob("1", 700, 700)
    r = net.client("bob", "open", "--source", src, "--destination", dst, "--qos-timeout", "700")
    check(r.returncode == 16, "an ETSI 004 responder alone gets status 6 at its Timeout (rc %d)"
          % r.returncode)
    # a stream the initiator opened while the responder waits is joined at once
    app_b = JsonApp(net, "bob")
    result = {}
    t = threading.Thread(target=lambda: result.update(r=app_b.open(src, dst, timeout=20000)))
    t.start()
    time.sleep(0.5)
    app_a = JsonApp(net, "alice")
    ra, _ = app_a.open(src, dst)
    t.join(30)
    rb = result.get("r", (None,))[0]
    check(rb is not None and rb.get("key_stream_id") == ra["key_stream_id"],
          "a responder waiting for the initiator's OPEN_CONNECT joins its stream")
    ka, kb = app_a.get(ra["key_stream_id"])[0], app_b.get(ra["key_stream_id"])[0]
    check(ka["status"] == 0 and ka == kb, "... and both get the same key")
    app_a.close(ra["key_stream_id"])
    app_b.close(ra["key_stream_id"])
    # two live streams with the same request: the oldest is joined first (FIFO)
    a1, a2 = JsonApp(net, "alice"), JsonApp(net, "alice")
    s_old = a1.open(src, dst)[0]["key_stream_id"]
    s_new = a2.open(src, dst)[0]["key_stream_id"]
    b1, b2 = JsonApp(net, "bob"), JsonApp(net, "bob")
    j1 = b1.open(src, dst)[0].get("key_stream_id")
    j2 = b2.open(src, dst)[0].get("key_stream_id")
    check((j1, j2) == (s_old, s_new), "FIFO: the first responder joins the older stream, the "
          "second the newer")
    for x, y, ks in ((a1, b1, s_old), (a2, b2, s_new)):
        kx, ky = x.get(ks)[0], y.get(ks)[0]
        check(kx["status"] == 0 and kx == ky, "FIFO pair %s: keys identical" % ks[:8])
        x.close(ks)
        y.close(ks)

elif CASE == "dead":
    src, dst = request("7")
    app = JsonApp(net, "alice")
    r, _ = app.open(src, dst)
    s1 = r["key_stream_id"]
    g, _ = app.get(s1)
    check(g["status"] == 0, "alice's application gets index 0 of %s" % s1)
    app.drop()  # dies without CLOSE
    # a fresh pair is started once bob has heard of it (or after 10 s)
    closed = wait_log("bob", "stream %s closed by alice" % s1, must=False)
    a, b = run_pair("7")
    check(ok_pair(a, b), "a fresh pair: the same KSID and key at both ends (%s / %s)" % (
        a["open"], b["open"]))
    check(a["open"]["key_stream_id"] != s1 and bytes(g["key_buffer"]).hex() != a["key"],
          "... not the dead application's stream nor its key")
    check(closed and "stream %s: its application's connection ended without CLOSE" % s1
          in net.log("alice"), "alice closed the dead application's stream at both ends")
    # an opener on one connection per call (qkd-json, json_call) is not a dead application
    ks = net.json_call("alice", {"command": "OPEN_CONNECT", "data": {
        "source": src, "destination": dst, "qos": json_qos()}})[0].get("key_stream_id")
    rb, _ = net.json_call("bob", {"command": "OPEN_CONNECT", "data": {
        "source": src, "destination": dst, "qos": json_qos()}})
    check(ks is not None and rb.get("key_stream_id") == ks,
          "an OPEN_CONNECT on a connection of its own, then the responder's: joined")
    for n in ("alice", "bob"):
        net.json_call(n, {"command": "CLOSE", "data": {"key_stream_id": ks}})
    # an application that leaves while its OPEN_CONNECT waits for the key server
    osrc, odst = request("orphan")
    osrc += "&opt_key_sources=QKD"
    app = JsonApp(net, "alice")
    app.sock.sendall(json.dumps({"command": "OPEN_CONNECT", "data": {
        "source": osrc, "destination": odst, "qos": json_qos()}}).encode())
    time.sleep(0.5)
    app.drop()
    gone = wait_log("alice", "its application left before the answer; closed", must=False)
    r, raw = JsonApp(net, "bob").open(osrc, odst, timeout=1000)
    check(raw == NOT_STARTED and
          re.search(r"announcement \S+ from alice: hybrid://SPI_orphan", net.log("bob")) is None,
          "its stream is never announced nor joined (%r)" % raw)
    check(gone, "alice closed it when its QKD OPEN_CONNECT ended")

elif CASE == "restart":
    src, dst = request("9")
    app = JsonApp(net, "alice")
    s1 = app.open(src, dst)[0]["key_stream_id"]
    check(app.get(s1)[0]["status"] == 0, "alice's application gets index 0 of %s" % s1)
    def ups():
        return len(re.findall(r"peer link with alice \(.*\) up", net.log("bob")))
    n_up = ups()
    net.stop("alice")  # its applications and streams are gone with it
    app.drop()
    net.start("alice")
    end = time.time() + 20
    while ups() == n_up and time.time() < end:
        time.sleep(0.05)
    check(ups() > n_up, "the peer link is up again")
    a, b = run_pair("9")
    check(ok_pair(a, b), "after alice's restart a fresh pair gets the same KSID and key (%s / %s)"
          % (a["open"], b["open"]))
    check(a["open"]["key_stream_id"] != s1, "... not the stream from before the restart")

elif CASE == "bulk":
    N = 10
    for i in range(N):  # bob's driver was not running the last time: stale streams at bob
        alice_alone(i)
    specs = []
    for i in range(N):
        src, dst = request(i)
        b = threading.Barrier(2)
        specs += [("alice", src, dst, b), ("bob", src, dst, b)]
    res = run_apps(specs)
    for i in range(N):
        a, b = res[2 * i], res[2 * i + 1]
        check(ok_pair(a, b), "SPI_%d: the same KSID and key at alice and bob (%s / %s)" % (
            i, a.get("error") or a["open"], b.get("error") or b["open"]))
    ksids = {r["open"]["key_stream_id"] for r in res}
    check(len(ksids) == N, "%d SPIs, %d distinct streams" % (N, len(ksids)))
    check(len({r["key"] for r in res}) == N, "%d distinct keys" % N)

else:  # repeat
    N = 100
    stale = [alice_alone("R")["key"] for _ in range(3)]
    seen_ks, seen_keys = set(), set()
    for rnd in range(N):
        a, b = run_pair("R")
        if not ok_pair(a, b) or a["key"] in stale:
            fail("round %d: alice %s, bob %s, keys %s%s" % (
                rnd, a.get("error") or a["open"], b.get("error") or b["open"],
                "equal" if a["key"] == b.get("key") else "differ",
                ", a stale stream's" if a["key"] in stale else ""))
        seen_ks.add(a["open"]["key_stream_id"])
        seen_keys.add(a["key"])
    check(len(seen_ks) == N and len(seen_keys) == N,
          "%d rounds of the same request: the same KSID and key at both ends every time, a new "
          "stream and key each round, never a stale one" % N)
print("PASS")
