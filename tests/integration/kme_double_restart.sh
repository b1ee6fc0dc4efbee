#!/bin/bash
# kme_double_restart.sh: the follower's key server restarts, then the leader's (docs/kme.md,
# "Restarts", "Follower restart, then leader restart"; the sequence kme_fault_soak found).
# alice (leader) allocates a run ahead to bob (follower), bob acknowledges it; bob's key server
# is SIGKILLed and restarted (its state is lost); alice's application fetches indices of that
# run while bob is down; then alice's key server is SIGKILLed and restarted too. bob's
# application then asks for every index alice delivered from that run: each answer is 2
# (refused) or exactly the key alice delivered for that index, never a different key. Later
# indices still agree at both ends (the link recovers).
. "$(dirname "$0")/kme_lib.sh"

start_pair 2000000
keys() { awk 'NF==2 {print $1, $2}'; }
J() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
countlog() { grep -c "$2" "$T/logs/kme-$1.log" 2>/dev/null; }
wait_log_count() { # NODE PATTERN COUNT TIMEOUT_S
    local i
    for ((i = 0; i < $4 * 20; i++)); do
        [ "$(countlog "$1" "$2")" -ge "$3" ] && return 0
        sleep 0.05
    done
    return 1
}
# getn NODE FIRST COUNT FILE: one call per index, so a refused index does not stop the rest
getn() {
    local i
    for ((i = $2; i < $2 + $3; i++)); do
        client "$1" "" get --ksid "$K" --index $i 2>/dev/null | keys >>"$4"
    done
}
ALICE_LINK="peer=bob,role=leader,ring=$(ring_name alice bob)"
BOB_LINK="peer=alice,role=follower,ring=$(ring_name bob alice),addr=127.0.0.1:$PEER_PORT_ALICE"

# 1. a stream with a short Timeout (a call that waits for the peer ends within 2 s); alice's
# application fetches 0..15 one after the other: allocation ahead grows 1, 2, 4, 8, 16 chunks
# (docs/kme.md, "Allocation ahead"), so the miss at 15 allocates 15..30 in one run, which bob
# acknowledges before alice delivers 15. bob's application joins and fetches 0..9.
K=$(client alice "" open --qos-timeout 2000)
check "bob joins" 0 "$(client bob "" --json open --ksid "$K" | J 'd["status"]')"
client alice "" get --ksid "$K" --index 0 --count 16 | keys >"$T/a"
client bob "" get --ksid "$K" --index 0 --count 10 | keys >"$T/b"
check "before the restarts: 16 keys at alice" 16 "$(wc -l <"$T/a")"
check "before the restarts: 0..9 identical" "" "$(diff <(head -n 10 "$T/a") "$T/b")"

# 2. bob's key server dies; alice delivers 16..26, allocated ahead and acknowledged by the old
# bob (no peer needed)
kill9 "${PID_OF[kme-bob]}"
: >"$T/a_down"
getn alice 16 11 "$T/a_down"
check "bob's key server down: alice delivers 16..26 (allocated ahead)" 11 \
    "$(wc -l <"$T/a_down")"
cat "$T/a_down" >>"$T/a"

# 3. bob's key server restarts on the same ring; its application re-opens the KSID
nb=$(countlog bob "peer alice announced Key_stream_ID: $K")
start_kme bob --link "$BOB_LINK"
wait_peer_upn bob alice 2 10 || die "peer sync did not come back after bob's restart"
wait_log_count bob "peer alice announced Key_stream_ID: $K" $((nb + 1)) 10 ||
    die "alice did not re-announce the stream to the new bob"
check "bob re-opens the KSID after his restart -> 0" 0 \
    "$(client bob "" --json open --ksid "$K" | J 'd["status"]')"
sleep 0.5 # a few heartbeats: everything alice sent on the reconnect has been processed

# 4. alice's key server dies and restarts; bob re-announces; alice's application re-opens
na=$(countlog alice "peer bob announced Key_stream_ID: $K")
nd=$(countlog bob "peer sync with alice down")
kill9 "${PID_OF[kme-alice]}"
wait_log_count bob "peer sync with alice down" $((nd + 1)) 10 || fail "bob did not see alice go"
start_kme alice --peer-listen "127.0.0.1:$PEER_PORT_ALICE" \
    --peer-port-file "$(peer_port_file alice)" --link "$ALICE_LINK"
wait_peer_upn bob alice 3 10 || die "peer sync did not come back after alice's restart"
wait_log_count alice "link bob: ring .* attached" 2 10 || die "alice did not re-attach its ring"
wait_log_count alice "peer bob announced Key_stream_ID: $K" $((na + 1)) 10 ||
    die "bob did not re-announce the stream to the new alice"
check "alice re-opens the KSID after her restart -> 0" 0 \
    "$(client alice "" --json open --ksid "$K" | J 'd["status"]')"

# 5. bob's application asks for every index of the run alice delivered (10..26): refused (2)
# or alice's key, never another
refused=0
same=0
mismatched=0
for ((i = 10; i <= 26; i++)); do
    want=$(awk -v i=$i '$1 == i {print $2}' "$T/a")
    client bob "" get --ksid "$K" --index $i >"$T/g" 2>/dev/null
    rc=$?
    got=$(keys <"$T/g")
    if [ "$rc" = 12 ]; then
        refused=$((refused + 1))
    elif [ "$rc" = 0 ] && [ "$got" = "$i $want" ]; then
        same=$((same + 1))
    elif [ "$rc" = 0 ]; then
        mismatched=$((mismatched + 1))
        fail "MISMATCH at index $i: bob delivered other key than alice did"
    else
        fail "index $i at bob: exit $rc (expected 12, or 0 with alice's key)"
    fi
done
echo "bob on 10..26 after both restarts: $refused refused (2), $same identical to alice's," \
    "$mismatched mismatched"
check "bob: no index of 10..26 with other key than alice's" 0 $mismatched
check "bob: every index of 10..26 refused or identical" 17 $((refused + same))

# the link recovers: new indices agree at both ends, alice first, then bob first
: >"$T/a_new"
: >"$T/b_new"
getn alice 80 5 "$T/a_new"
getn bob 80 5 "$T/b_new"
getn bob 90 5 "$T/b_new"
getn alice 90 5 "$T/a_new"
check "after both restarts: 10 new keys at alice" 10 "$(wc -l <"$T/a_new")"
check "after both restarts: 10 new keys at bob" 10 "$(wc -l <"$T/b_new")"
check "after both restarts: new indices identical" "" "$(diff "$T/a_new" "$T/b_new")"
check "new keys are fresh (none delivered before)" 0 \
    "$(cut -d' ' -f2 "$T/a" | grep -cFxf - <(cut -d' ' -f2 "$T/a_new"))"
finish
