#!/bin/bash
# kme_leader_restart.sh: alice's key server (the link leader) is killed with SIGKILL in the
# middle of a stream and restarted. While it is down bob still delivers the key already
# allocated to him, and his calls that need the leader get 6 (after the stream's Timeout). After
# the restart: alice's application re-opens (status 0 when bob's application is attached, 1 for
# a stream only alice's application had opened), calls on new indices succeed at both ends, the
# indices alice lost are refused (2) and never replaced by different key, every (KSID, index)
# both ends delivered carries the same key, and no ring byte is allocated twice (no key repeats
# across the old stream, the new indices and a new stream).
. "$(dirname "$0")/kme_lib.sh"

start_pair 2000000
keys() { awk 'NF==2 {print $1, $2}'; }
J() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# getn NODE KSID FIRST COUNT FILE: one call per index, so a refused index does not stop the rest
getn() {
    local i
    for ((i = $3; i < $3 + $4; i++)); do
        client "$1" "" get --ksid "$2" --index $i 2>/dev/null | keys >>"$5"
    done
}
countlog() { grep -c "$2" "$T/logs/kme-$1.log" 2>/dev/null; }

K=$(client alice "" open --qos-timeout 2000)
check "bob joins" 0 "$(client bob "" --json open --ksid "$K" | J 'd["status"]')"
K0=$(client alice "" open) # bob's application never joins this one
client alice "" get --ksid "$K" --index 0 --count 50 | keys >"$T/a"
client bob "" get --ksid "$K" --index 0 --count 50 | keys >"$T/b"
check "before the crash: identical" "" "$(diff "$T/a" "$T/b")"
check "before the crash: 50 keys" 50 "$(wc -l <"$T/b")"
# alice delivers 50..59 (bob holds them); bob delivers 100..109 (alice holds them)
client alice "" get --ksid "$K" --index 50 --count 10 | keys >>"$T/a"
client bob "" get --ksid "$K" --index 100 --count 10 | keys >>"$T/b"
client alice "" get --ksid "$K0" --index 0 --count 5 | keys >"$T/a0"

kill9 "${PID_OF[kme-alice]}"
wait_log_count() { # NODE PATTERN COUNT TIMEOUT_S
    local i
    for ((i = 0; i < $4 * 20; i++)); do
        [ "$(countlog "$1" "$2")" -ge "$3" ] && return 0
        sleep 0.05
    done
    return 1
}
wait_log_count bob "peer sync with alice down" 1 10 || fail "bob did not see the leader go"
client alice "" open >/dev/null 2>&1
check "alice's key server down: client cannot connect" 2 $?
# what bob already holds needs no leader
: >"$T/b_down"
getn bob "$K" 50 10 "$T/b_down"
check "leader down: bob delivers the 10 keys allocated to him" 10 "$(wc -l <"$T/b_down")"
cat "$T/b_down" >>"$T/b"
# a new index needs the leader: 6 after the stream's Timeout (2000 ms)
t0=$(date +%s%3N)
client bob "" get --ksid "$K" --index 1000 >/dev/null 2>&1
check "leader down: bob's call needing it -> 6" 16 $?
el=$(($(date +%s%3N) - t0))
[ $el -ge 1800 ] && [ $el -lt 4500 ] && ok "waited the Timeout ($el ms)" || fail "6 after $el ms"

start_kme alice --peer-listen "127.0.0.1:$PEER_PORT_ALICE" \
    --peer-port-file "$(peer_port_file alice)" \
    --link "peer=bob,role=leader,ring=$(ring_name alice bob)"
wait_peer_upn bob alice 2 10 || fail "bob did not reconnect to the restarted leader"
wait_log_count alice "link bob: ring .* attached" 2 10 || fail "alice did not re-attach its ring"
wait_log_count alice "peer bob announced Key_stream_ID: $K" 1 10 || fail "bob did not re-announce"
out=$(client alice "" --json open --ksid "$K" --chunk-size 64 --qos-timeout 9000)
check "alice re-opens the stream bob is attached to -> 0" 0 "$(echo "$out" | J 'd["status"]')"
check "... with the stream's QoS (chunk)" 32 "$(echo "$out" | J 'd["qos"]["key_chunk_size"]')"
check "... with the stream's QoS (Timeout)" 2000 "$(echo "$out" | J 'd["qos"]["timeout"]')"
wait_log_count alice "peer bob announced Key_stream_ID: $K0" 1 10 || fail "K0 not re-announced"
out=$(client alice "" --json open --ksid "$K0")
check "alice re-opens a stream bob's application never joined -> 1" 1 "$(echo "$out" | J 'd["status"]')"

# new indices: bob first (asks the leader), then alice, and the other way round
: >"$T/b_new"
: >"$T/a_new"
client bob "" get --ksid "$K" --index 1000 --count 20 | keys >>"$T/b_new"
client alice "" get --ksid "$K" --index 1000 --count 20 | keys >>"$T/a_new"
client alice "" get --ksid "$K" --index 2000 --count 20 | keys >>"$T/a_new"
client bob "" get --ksid "$K" --index 2000 --count 20 | keys >>"$T/b_new"
check "after the restart: 40 new keys at bob" 40 "$(wc -l <"$T/b_new")"
check "after the restart: new indices identical" "" "$(diff "$T/a_new" "$T/b_new")"
cat "$T/a_new" >>"$T/a"
cat "$T/b_new" >>"$T/b"
# what alice delivered before the crash, or bob delivered, is never delivered again at alice
for i in 0 49 50 59 100 109; do
    client alice "" get --ksid "$K" --index $i >/dev/null 2>&1
    check "alice: index $i, delivered before the crash -> 2" 12 $?
done

# a new stream after the restart shares no key with the old one
K2=$(client alice "" open)
client bob "" open --ksid "$K2" >/dev/null
client alice "" get --ksid "$K2" --index 0 --count 100 | keys >"$T/a2"
client bob "" get --ksid "$K2" --index 0 --count 100 | keys >"$T/b2"
check "new stream: identical" "" "$(diff "$T/a2" "$T/b2")"
check "new stream: 100 keys" 100 "$(wc -l <"$T/a2")"

python3 - "$T/a" "$T/b" "$T/a0" "$T/a2" "$T/b2" <<'PY' || fail "key agreement after the leader restart"
import sys
def load(path):
    d = {}
    for line in open(path):
        i, k = line.split()
        assert i not in d, "index %s delivered twice in %s" % (i, path)
        d[i] = k
    return d
a, b, a0, a2, b2 = (load(p) for p in sys.argv[1:6])
common = set(a) & set(b)
assert len(common) >= 90, "only %d common indices" % len(common)
for i in common:
    assert a[i] == b[i], "mismatch at index " + i
assert a2 == b2, "new stream differs"
every = list(a.values()) + list(b.values()) + list(a0.values()) + list(a2.values())
# a key may appear once per end for one (KSID, index); anything else means ring bytes reused
alice_keys = list(a.values()) + list(a0.values()) + list(a2.values())
assert len(set(alice_keys)) == len(alice_keys), "a key repeats at alice: ring bytes reused"
bob_keys = list(b.values()) + list(b2.values())
assert len(set(bob_keys)) == len(bob_keys), "a key repeats at bob: ring bytes reused"
old = set(a.values()) | set(b.values()) | set(a0.values())
assert not (old & set(a2.values())), "the new stream shares key with the old one"
print("ok: %d common indices identical, %d distinct keys at alice, %d at bob"
      % (len(common), len(alice_keys), len(bob_keys)))
PY
finish
