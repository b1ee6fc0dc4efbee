#!/usr/bin/env bash
# keygen_proto.sh: the receiver against a scripted sender (python ssl): blocks land at their
# offsets and are acknowledged; a full ring answers FULL then SKIP for the blocks behind it and
# counts them; protocol violations (offset reuse, foreign frame version, bad lengths) close
# that connection only; and a real sender whose ring lacks the scripted blocks makes the
# receiver roll back its unconfirmed tail.
. "$(dirname "$0")/keygen_lib.sh"

start_receiver bob alice recv --ring-bytes 4096
python3 - "$RECV_PORT" "$CERTS" "$KG_DIR" <<'PY' || fail "scripted sender"
import hashlib, os, socket, ssl, struct, sys
port, certs, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
VER = b"KG\x01"

def connect():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(f"{certs}/alice/node.pem", f"{certs}/alice/node.key")
    ctx.load_verify_locations(f"{certs}/ca.pem")
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                        server_hostname="localhost")
    return s

def send(s, typ, payload, ver=VER):
    s.sendall(ver + bytes([typ]) + struct.pack(">I", len(payload)) + payload)

def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("closed")
        b += c
    return b

def recv(s):
    h = recv_exact(s, 8)
    assert h[:3] == VER, h
    return h[3], recv_exact(s, struct.unpack(">I", h[4:])[0])

def hello(s, write=0):
    send(s, 1, struct.pack(">IBQQQIQ", 1, 0, write, 0, 1 << 20, 1024, 1000000))
    t, p = recv(s)
    assert t == 1 and len(p) == 41, (t, len(p))
    proto, role, w, c, cap, blk, skr = struct.unpack(">IBQQQIQ", p)
    assert role == 1 and cap == 4096, (role, cap)
    return w, c

def block(s, off, data):
    send(s, 2, struct.pack(">QQI", off, 1700000000000, len(data)) + data)

def ack(s):
    t, p = recv(s)
    while t == 4:  # heartbeats
        t, p = recv(s)
    assert t == 3, t
    return struct.unpack(">QIB", p)

def closed(s):
    try:
        while True:
            t, _ = recv(s)
            if t not in (1, 4):  # its HELLO, heartbeats
                return False
    except (EOFError, ConnectionError, ssl.SSLError, socket.timeout):
        return True

# 1. four blocks fill the 4096-byte ring; the 5th is FULL, the 6th (behind it) SKIP.
s = connect()
w, c = hello(s)
assert (w, c) == (0, 0), (w, c)
sent = b""
for i in range(4):
    data = os.urandom(1024)
    block(s, i * 1024, data)
    assert ack(s) == (i * 1024, 1024, 0)
    sent += data
block(s, 4096, os.urandom(1024))
block(s, 5120, os.urandom(512))
assert ack(s) == (4096, 1024, 1), "expected FULL"
assert ack(s) == (5120, 512, 2), "expected SKIP"
open(f"{out}/sent.sha", "w").write(hashlib.sha256(sent).hexdigest())
print("blocks, FULL and SKIP ok")

# 2. offset reuse closes the connection.
block(s, 1024, os.urandom(16))
assert closed(s), "offset reuse did not close"
print("offset reuse refused")

# 3. a foreign frame version, a BLOCK before HELLO, a short HELLO: each closes.
for bad in (lambda s: send(s, 1, b"\0" * 41, ver=b"\x01\x00\x01"),
            lambda s: block(s, 4096, b"x"),
            lambda s: send(s, 1, b"\0" * 40)):
    s = connect()
    bad(s)
    assert closed(s), "violation did not close"
print("violations refused")

# 4. a fresh connection sees the ring as it was.
s = connect()
w, c = hello(s, 4096)
assert (w, c) == (4096, 0), (w, c)
s.close()
print("state kept across connections")
PY
grep -q "below this ring's write offset" "$KG_DIR/recv.log" || fail "offset reuse not logged"
grep -q "frame of another protocol" "$KG_DIR/recv.log" || fail "foreign version not logged"
grep -q "before HELLO" "$KG_DIR/recv.log" || fail "BLOCK before HELLO not logged"
[ "$(ring_field bob-alice write)" = 4096 ] || fail "receiver ring not at 4096"
[ "$(ring_field bob-alice sha256 --from 0 --to 4096)" = "$(cat "$KG_DIR/sent.sha")" ] ||
    fail "receiver ring does not hold the bytes sent"
[ "$(ring_field bob-alice blocks_dropped)" = 2 ] || fail "FULL/SKIP not counted"

# 5. The real sender never confirmed these blocks: the receiver rolls them back, both restart
# at offset 0 (nothing consumed yet) and agree.
start_sender alice bob "$RECV_PORT" send --ring-bytes 4096
wait_for_log recv "resync: rolling back 4096 unconfirmed bytes"
sleep 1
assert_same_bytes alice-bob bob-alice
[ "$(ring_field bob-alice write)" = 4096 ] || fail "receiver did not refill"
[ "$(ring_field bob-alice sha256 --from 0 --to 4096)" != "$(cat "$KG_DIR/sent.sha")" ] ||
    fail "old unconfirmed bytes survived the rollback"
kill -0 "$RECV_PID" || fail "receiver died"
echo "PASS keygen_proto"
