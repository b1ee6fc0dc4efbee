#!/bin/bash
# kme_guard.sh: key reuse guards (docs/kme.md). One reader and one writer per ring: a second
# key server (keygen) on a live ring exits with an error naming the ring, and SIGKILL releases
# the role so a restart works. A ring removed and re-created underneath bob's key server is
# noticed: bob stops serving from the stale mapping and attaches the new ring once the keygen
# has moved it past what he read; keys stay identical. A KSID closed at a node is never
# attached there again, by any identity, also after that key server restarts. The sender's ring
# re-created under a restarted keygen: the keygens agree on the new ring generation. Peer links
# refuse an application certificate named like a node.
. "$(dirname "$0")/kme_lib.sh"

keys() { awk 'NF==2 {print $1, $2}'; }
st() { python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null; }
APP2="$CERTS/clients/app2"
RA=$(ring_name alice bob)
RB=$(ring_name bob alice)

# wait_exit PID TIMEOUT_S : sets rc to the exit status, or "running"
wait_exit() {
    local i
    for ((i = 0; i < $2 * 20; i++)); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.05
    done
    rc=running
    kill -0 "$1" 2>/dev/null && return
    wait "$1"
    rc=$?
}

# small rings, so the bytes alice's ring holds beyond bob's new one are few
KG_RING_BYTES=16384
start_pair 2000000

# --- peer links take node certificates only: an application certificate named "bob" (signed
# by the network's CA, clientAuth only) is refused on alice's peer-sync port and on bob's
# keygen receiver ---
OSSL=${QKD_OPENSSL_BIN:-openssl}
printf '[x]\nbasicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$T/app.ext"
for n in alice bob; do
    "$OSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/fake-$n.key" 2>/dev/null
    "$OSSL" req -new -key "$T/fake-$n.key" -subj "/CN=$n" -out "$T/fake-$n.csr" 2>/dev/null
    "$OSSL" x509 -req -in "$T/fake-$n.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" \
        -set_serial "0x7e57$RANDOM" -days 1 -extfile "$T/app.ext" -extensions x \
        -out "$T/fake-$n.pem" 2>/dev/null || fail "cannot make the application certificate $n"
done
tls_knock() { # PORT NAME : a TLS handshake with the fake NAME certificate, then a short wait
    python3 - "$1" "$T/fake-$2.pem" "$T/fake-$2.key" "$CERTS/ca.pem" <<'PY'
import socket, ssl, sys, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
ctx.load_verify_locations(sys.argv[4])
try:
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3))
    s.settimeout(1)
    try:
        s.recv(100)
    except Exception:
        pass
    time.sleep(0.3)
except Exception:
    pass
PY
}
tls_knock "$PEER_PORT_ALICE" bob
grep -q "peer sync .*: certificate 'bob' is not a node certificate" "$T/logs/kme-alice.log"
check "alice's peer-sync port refuses an application certificate named bob" 0 $?
tls_knock "$(cat "$T/run/keygen-bob-alice.port")" alice
grep -q 'certificate "alice" is not a node certificate' "$T/logs/keygen-bob-alice.log"
check "bob's keygen refuses an application certificate named alice" 0 $?
check "the real bob's peer sync was not replaced" 1 "$(grep -c "peer sync with alice .* up" "$T/logs/kme-bob.log")"

# --- one reader per ring: a second key server on alice's ring exits ---
"$QKD_BIN/qkd-kme" --node alice --address 127.0.0.1 --port 0 --cert "$CERTS/alice/node.pem" \
    --key "$CERTS/alice/node.key" --ca "$CERTS/ca.pem" --peer-listen 127.0.0.1:0 \
    --link "peer=bob,role=leader,ring=$RA" >"$T/logs/kme-alice-second.log" 2>&1 &
p=$!
PIDS+=($p)
wait_exit $p 10
[ "$rc" != running ] && [ "$rc" != 0 ] && ok "second key server on a live ring exits ($rc)" ||
    fail "second key server on a live ring: $rc"
grep -q "ring $RA already has a live reader (pid ${PID_OF[kme-alice]})" "$T/logs/kme-alice-second.log"
check "its error names the ring, the role and the reader's pid" 0 $?
K=$(client alice "" open)
client bob "" open --ksid "$K" >/dev/null
client alice "" get --ksid "$K" --index 0 --count 20 | keys >"$T/a1"
client bob "" get --ksid "$K" --index 0 --count 20 | keys >"$T/b1"
check "the first key server still serves: identical" "" "$(diff "$T/a1" "$T/b1")"
check "20 keys" 20 "$(wc -l <"$T/b1")"

# --- one writer per ring: a second keygen writing alice's ring exits ---
"$QKD_BIN/qkd-keygen" --mode sender --host 127.0.0.1 --port "$(cat "$T/run/keygen-bob-alice.port")" \
    --ring "$RA" --cert "$CERTS/alice/node.pem" --key "$CERTS/alice/node.key" \
    --ca "$CERTS/ca.pem" --peer-name bob --ring-bytes "$KG_RING_BYTES" \
    >"$T/logs/keygen-alice-second.log" 2>&1 &
p=$!
PIDS+=($p)
wait_exit $p 10
[ "$rc" != running ] && [ "$rc" != 0 ] && ok "second keygen on a live ring exits ($rc)" ||
    fail "second keygen on a live ring: $rc"
grep -q "ring $RA already has a live writer" "$T/logs/keygen-alice-second.log"
check "its error names the ring and the role" 0 $?

# --- SIGKILL releases the reader role: a restarted key server attaches ---
kill9 "${PID_OF[kme-alice]}"
start_kme alice --peer-listen "127.0.0.1:$PEER_PORT_ALICE" --peer-port-file "$(peer_port_file alice)" \
    --link "peer=bob,role=leader,ring=$RA"
wait_peer_upn bob alice 2 10 || fail "bob did not reconnect to the restarted leader"
for ((i = 0; i < 100; i++)); do
    [ "$(grep -c "link bob: ring .* attached (id" "$T/logs/kme-alice.log")" -ge 2 ] && break
    sleep 0.05
done
check "the restarted key server attached the ring" 2 "$(grep -c "link bob: ring .* attached (id" "$T/logs/kme-alice.log")"
K=$(client alice "" open)
client bob "" open --ksid "$K" >/dev/null
client alice "" get --ksid "$K" --index 0 --count 10 | keys >"$T/a2"
client bob "" get --ksid "$K" --index 0 --count 10 | keys >"$T/b2"
check "after the restart: identical" "" "$(diff "$T/a2" "$T/b2")"
check "10 keys" 10 "$(wc -l <"$T/b2")"

# --- a KSID closed at alice is never attached there again while bob's end lives ---
K=$(client alice "" open)
client bob "" open --ksid "$K" >/dev/null
client alice "" get --ksid "$K" --index 0 --count 3 | keys >"$T/a4"
client alice "" close --ksid "$K" >/dev/null
sleep 0.3
check "alice re-opens her closed KSID -> 5" 5 "$(client alice "" --json open --ksid "$K" | st)"
check "another identity at alice -> 5" 5 "$(client alice "$APP2" --json open --ksid "$K" | st)"
client bob "" get --ksid "$K" --index 0 --count 3 | keys >"$T/b4"
check "bob keeps the key allocated before alice's CLOSE" "" "$(diff "$T/a4" "$T/b4")"
check "3 keys" 3 "$(wc -l <"$T/b4")"
# alice's key server restarts (its tombstones are gone); bob still refuses to pair the KSID
kill9 "${PID_OF[kme-alice]}"
start_kme alice --peer-listen "127.0.0.1:$PEER_PORT_ALICE" --peer-port-file "$(peer_port_file alice)" \
    --link "peer=bob,role=leader,ring=$RA"
wait_peer_upn bob alice 3 10 || fail "bob did not reconnect to the restarted leader"
wait_peer_upn alice bob 1 10 || fail "alice did not see bob"
client alice "" --json open --ksid "$K" >/dev/null 2>&1
sleep 0.5
client alice "" get --ksid "$K" --index 3 --count 2 2>/dev/null | keys >"$T/a5"
check "after alice's restart: no key for the closed KSID at alice" 0 "$(wc -l <"$T/a5")"
grep -q "peer alice attached Key_stream_ID $K, which it closed before; refused\|peer alice announced Key_stream_ID $K, which it closed before; refused" "$T/logs/kme-bob.log"
check "bob logged the refusal" 0 $?
# --- bob's ring removed and re-created underneath his key server ---
kill9 "${PID_OF[keygen-bob-alice]}"
rm -f "/dev/shm/${RB#/}"
for ((i = 0; i < 60; i++)); do
    grep -q "link alice: ring $RB (id [0-9a-f]*) was removed; stopped serving from it" \
        "$T/logs/kme-bob.log" && break
    sleep 0.05
done
grep -q "link alice: ring $RB (id [0-9a-f]*) was removed; stopped serving from it" "$T/logs/kme-bob.log"
check "bob noticed his ring was removed" 0 $?
restart_keygen_receiver bob alice
for ((i = 0; i < 200; i++)); do
    [ "$(grep -c "link alice: ring .* attached (id" "$T/logs/kme-bob.log")" -ge 2 ] && break
    sleep 0.05
done
check "bob attached the new ring" 2 "$(grep -c "link alice: ring .* attached (id" "$T/logs/kme-bob.log")"
ids=$(grep -o "link alice: ring .* attached (id [0-9a-f]*" "$T/logs/kme-bob.log" | awk '{print $NF}' | sort -u | wc -l)
check "the new ring has another id" 2 "$ids"
# alice's unconsumed bytes (at most her 16 KiB ring) have no copy in bob's new ring: the
# indices they were allocated to are refused (2) at both ends; then keys flow again, identical
K=$(client alice "" open --chunk-size 256)
client bob "" open --ksid "$K" >/dev/null
for ((i = 0; i < 300; i++)); do
    client alice "" get --ksid "$K" --index $i 2>/dev/null | keys >>"$T/a3"
done
for ((i = 0; i < 300; i++)); do
    client bob "" get --ksid "$K" --index $i 2>/dev/null | keys >>"$T/b3"
done
check "after the ring was replaced: identical at both ends" "" "$(diff "$T/a3" "$T/b3")"
n=$(wc -l <"$T/b3")
[ "$n" -ge 100 ] && ok "after the ring was replaced: $n keys" || fail "only $n keys after the ring was replaced"

# --- alice's ring (the sender's) removed and re-created with a restarted keygen: the two
# keygens see the new ring generation and continue past every offset bob's ring holds, so
# alice's key server attaches the new ring without reusing an offset ---
na=$(grep -c "link bob: ring .* attached (id" "$T/logs/kme-alice.log")
kill9 "${PID_OF[keygen-alice-bob]}"
rm -f "/dev/shm/${RA#/}"
for ((i = 0; i < 60; i++)); do
    grep -q "link bob: ring $RA (id [0-9a-f]*) was removed; stopped serving" "$T/logs/kme-alice.log" &&
        break
    sleep 0.05
done
grep -q "link bob: ring $RA (id [0-9a-f]*) was removed; stopped serving" "$T/logs/kme-alice.log"
check "alice noticed her ring was removed" 0 $?
start_keygen_sender alice bob 2000000
for ((i = 0; i < 200; i++)); do
    [ "$(grep -c "link bob: ring .* attached (id" "$T/logs/kme-alice.log")" -gt "$na" ] && break
    sleep 0.05
done
check "alice attached her new ring" $((na + 1)) "$(grep -c "link bob: ring .* attached (id" "$T/logs/kme-alice.log")"
grep -q "resync: the sender's ring was re-created" "$T/logs/keygen-bob-alice.log"
check "bob's keygen saw the sender's new ring generation" 0 $?
grep -q "rolling back" "$T/logs/keygen-bob-alice.log"
check "bob's ring was not rolled back" 1 $?
K=$(client alice "" open)
client bob "" open --ksid "$K" >/dev/null
client alice "" get --ksid "$K" --index 0 --count 20 | keys >"$T/a6"
client bob "" get --ksid "$K" --index 0 --count 20 | keys >"$T/b6"
check "after the sender's ring was replaced: identical" "" "$(diff "$T/a6" "$T/b6")"
check "20 keys, none refused" 20 "$(wc -l <"$T/b6")"
finish
