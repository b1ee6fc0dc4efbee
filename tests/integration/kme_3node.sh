#!/bin/bash
# kme_3node.sh: three nodes, alice - bob - charlie. bob's one key server serves both of its
# links (follower towards alice, leader towards charlie); a destination naming a peer node (by
# name or UUID) selects that link, any other destination bob's default (first) link. A join
# naming a peer node must name the stream's link (else 3).
. "$(dirname "$0")/kme_lib.sh"

keys() { awk 'NF==2 {print $1, $2}'; }
start_keygen_pair alice bob 2000000
start_keygen_pair bob charlie 2000000
start_kme alice --peer-listen 127.0.0.1:0 --peer-port-file "$(peer_port_file alice)" \
    --link "peer=bob,role=leader,ring=$(ring_name alice bob)"
PA=$(cat "$(peer_port_file alice)")
start_kme bob --peer-listen 127.0.0.1:0 --peer-port-file "$(peer_port_file bob)" \
    --link "peer=alice,role=follower,ring=$(ring_name bob alice),addr=127.0.0.1:$PA" \
    --link "peer=charlie,role=leader,ring=$(ring_name bob charlie)"
PB=$(cat "$(peer_port_file bob)")
start_kme charlie \
    --link "peer=bob,role=follower,ring=$(ring_name charlie bob),addr=127.0.0.1:$PB"
wait_peer_up bob alice 10 || fail "bob-alice peer sync"
wait_peer_up charlie bob 10 || fail "charlie-bob peer sync"
wait_peer_up bob charlie 10 || fail "bob-charlie peer sync"
for nl in "alice bob" "bob alice" "bob charlie" "charlie bob"; do
    wait_ring_attached $nl 10 || fail "ring attach: $nl"
done

# bob -> charlie by name
K=$(client bob "" open --destination server://charlie)
client charlie "" open --ksid "$K" >/dev/null
check "charlie joins bob's stream" 0 $?
client alice "" open --ksid "$K" >/dev/null 2>&1
check "alice does not know a bob-charlie stream (predefined -> 1)" 0 $?
client bob "" get --ksid "$K" --index 0 --count 100 | keys >"$T/b"
client charlie "" --framing e get --ksid "$K" --index 0 --count 100 | keys >"$T/c"
check "bob-charlie keys identical" "" "$(diff "$T/b" "$T/c")"
check "bob-charlie 100 keys" 100 "$(wc -l <"$T/c")"
client alice "" get --ksid "$K" --index 0 | keys >"$T/a"
check "alice's same-named KSID never gets bob-charlie key" "" "$(comm -12 <(sort "$T/a") <(sort "$T/b"))"

# charlie -> bob (charlie's only link), bob joins
K2=$(client charlie "" open --destination server://qkd_server_charlie)
client bob "" open --ksid "$K2" >/dev/null
client charlie "" get --ksid "$K2" --index 0 --count 50 | keys >"$T/c2"
client bob "" get --ksid "$K2" --index 0 --count 50 | keys >"$T/b2"
check "charlie-bob keys identical" "" "$(diff "$T/b2" "$T/c2")"

# bob with a destination naming no peer -> default link (alice)
K3=$(client bob "" open --destination server://qkd_server_bob)
client alice "" open --ksid "$K3" >/dev/null
check "alice joins bob's default-link stream" 0 $?
client alice "" get --ksid "$K3" --index 0 --count 50 | keys >"$T/a3"
client bob "" get --ksid "$K3" --index 0 --count 50 | keys >"$T/b3"
check "bob-alice keys identical (default link)" "" "$(diff "$T/a3" "$T/b3")"
check "50 keys" 50 "$(wc -l <"$T/a3")"

# destination by node UUID: charlie's UUID (derived from the name, as bob derives it)
CU=$(python3 - <<'PY'
import hashlib, uuid
b = bytearray(hashlib.sha256(b"qkd-node:charlie").digest()[:16])
b[6] = (b[6] & 0x0F) | 0x80
b[8] = (b[8] & 0x3F) | 0x80
print(uuid.UUID(bytes=bytes(b)))
PY
)
K4=$(client bob "" open --destination "server://$CU")
client charlie "" open --ksid "$K4" >/dev/null
check "destination by UUID selects the charlie link" 0 $?
client bob "" get --ksid "$K4" --index 0 --count 10 | keys >"$T/b4"
client charlie "" get --ksid "$K4" --index 0 --count 10 | keys >"$T/c4"
check "bob-charlie keys identical (UUID)" "" "$(diff "$T/b4" "$T/c4")"
check "10 keys" 10 "$(wc -l <"$T/c4")"
# a join must match the stream's link: at bob, a KSID alice opened towards bob is not joined by
# an OPEN_CONNECT naming charlie (3); naming alice, or no peer node, joins it (0)
st() { python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null; }
K5=$(client alice "" open --destination server://bob)
check "bob: join naming charlie for an alice-bob stream -> 3" 3 \
    "$(client bob "" --json open --ksid "$K5" --destination server://charlie | st)"
check "bob: join naming alice -> 0" 0 \
    "$(client bob "" --json open --ksid "$K5" --destination server://alice | st)"
client alice "" get --ksid "$K5" --index 0 --count 5 | keys >"$T/a5"
client bob "" get --ksid "$K5" --index 0 --count 5 | keys >"$T/b5"
check "alice-bob keys identical after the refused join" "" "$(diff "$T/a5" "$T/b5")"
check "5 keys" 5 "$(wc -l <"$T/b5")"
K6=$(client charlie "" open)
check "bob: join naming alice for a charlie-bob stream -> 3" 3 \
    "$(client bob "" --json open --ksid "$K6" --destination server://alice | st)"
check "bob: join naming no peer node -> 0" 0 \
    "$(client bob "" --json open --ksid "$K6" --destination server://qkd_server_bob | st)"
finish
