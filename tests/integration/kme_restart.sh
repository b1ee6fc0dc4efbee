#!/bin/bash
# kme_restart.sh: faults on bob's side of the link in the middle of a stream. Killing and
# restarting bob's keygen does not disturb the stream. Killing bob's key server: calls that
# need it return 6 while it is down and succeed after its restart; key bob's lost state held
# (also what was allocated ahead) is refused (2), never replaced by different key; everything
# both ends deliver is identical.
. "$(dirname "$0")/kme_lib.sh"

start_pair 2000000
keys() { awk 'NF==2 {print $1, $2}'; }
# get NODE FIRST COUNT FILE: one call per index, so a refused index does not stop the rest
getn() {
    local i
    for ((i = $2; i < $2 + $3; i++)); do
        client "$1" "" get --ksid "$K" --index $i 2>/dev/null | keys >>"$4"
    done
}

K=$(client alice "" open)
client bob "" open --ksid "$K" >/dev/null
client alice "" get --ksid "$K" --index 0 --count 50 | keys >"$T/a"
client bob "" get --ksid "$K" --index 0 --count 50 | keys >"$T/b"
check "before faults: identical" "" "$(diff "$T/a" "$T/b")"

# bob's keygen dies and comes back
kill9 "${PID_OF[keygen-bob-alice]}"
client alice "" get --ksid "$K" --index 50 --count 10 | keys >>"$T/a"
check "alice gets key while bob's keygen is down" 0 $?
client bob "" get --ksid "$K" --index 50 --count 10 | keys >>"$T/b"
check "bob gets key while his keygen is down" 0 $?
restart_keygen_receiver bob alice
for ((i = 0; i < 100; i++)); do
    [ "$(grep -c 'link up' "$T/logs/keygen-bob-alice.log")" -ge 2 ] && break
    sleep 0.1
done
check "keygen link up again" 2 "$(grep -c 'link up' "$T/logs/keygen-bob-alice.log")"
client alice "" get --ksid "$K" --index 60 --count 10 | keys >>"$T/a"
client bob "" get --ksid "$K" --index 60 --count 10 | keys >>"$T/b"
check "after the keygen restart: identical" "" "$(diff "$T/a" "$T/b")"
check "70 keys each" 70 "$(wc -l <"$T/b")"

# alice fetches 70..74 (bob's key server holds them, and the chunks allocated ahead of them,
# for bob), then bob's key server dies
client alice "" get --ksid "$K" --index 70 --count 5 | keys >>"$T/a"
kill9 "${PID_OF[kme-bob]}"
sleep 0.2
client bob "" get --ksid "$K" --index 70 >/dev/null 2>&1
check "bob's key server down: client cannot connect" 2 $?
# index 500 was never allocated (not sequential: nothing ahead covers it): it needs the peer
t0=$(date +%s%3N)
client alice "" get --ksid "$K" --index 500 >/dev/null 2>&1
check "alice's call needing the peer while it is down -> 6" 16 $?
el=$(($(date +%s%3N) - t0))
[ $el -ge 4500 ] && ok "waited the stream Timeout ($el ms)" || fail "6 after only $el ms"

start_kme bob --link \
    "peer=alice,role=follower,ring=$(ring_name bob alice),addr=127.0.0.1:$PEER_PORT_ALICE"
wait_peer_upn bob alice 2 10 || fail "peer sync did not come back"
wait_peer_upn alice bob 2 10 || fail "alice did not see the peer come back"
out=$(client bob "" --json open --ksid "$K" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
check "bob re-opens the KSID after his key server's restart" 0 "$out"
getn alice 500 5 "$T/a"
check "alice's calls succeed after the restart" 80 "$(wc -l <"$T/a")"
: >"$T/b2"
for i in 70 71 72 73 74 75; do
    client bob "" get --ksid "$K" --index $i >/dev/null 2>&1
    check "index $i lost with bob's state -> 2" 12 $?
done
getn bob 500 5 "$T/b2"
check "after the restart: identical" "" "$(diff <(tail -n 5 "$T/a") "$T/b2")"
# later indices work at both ends, bob first this time
getn bob 600 20 "$T/b2"
getn alice 600 20 "$T/a"
check "later indices identical" "" "$(diff <(tail -n 25 "$T/a") "$T/b2")"
# never mismatched: every index both ends delivered carries the same key
python3 - "$T/a" "$T/b" "$T/b2" <<'PY' || fail "mismatched key"
import sys
a = dict(l.split() for l in open(sys.argv[1]))
b = {}
for f in sys.argv[2:]:
    for l in open(f):
        i, k = l.split()
        assert i not in b, "index delivered twice at bob: " + i
        b[i] = k
common = set(a) & set(b)
assert len(common) >= 95, len(common)
for i in common:
    assert a[i] == b[i], "mismatch at index " + i
assert len(set(a.values())) == len(a), "a key delivered twice at alice"
print("ok: %d common indices identical, bob refused %d" % (len(common), len(set(a) - set(b))))
PY
# a new stream after the restart
K=$(client bob "" open)
client alice "" open --ksid "$K" >/dev/null
client alice "" get --ksid "$K" --index 0 --count 20 | keys >"$T/a3"
client bob "" get --ksid "$K" --index 0 --count 20 | keys >"$T/b3"
check "new stream after the restart: identical" "" "$(diff "$T/a3" "$T/b3")"
check "new stream: 20 keys" 20 "$(wc -l <"$T/b3")"
finish
