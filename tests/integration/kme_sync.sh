#!/bin/bash
# kme_sync.sh: key agreement between the two ends of a link. alice opens (zero KSID), bob
# joins with that KSID, each fetches indices 0..999 (alice over Q, bob over E, then the other
# way round): identical at every index, all 1000 distinct; a second stream shares nothing with
# the first; bob may fetch ahead of alice; one connection per call (E library style) and many
# calls per connection both work.
. "$(dirname "$0")/kme_lib.sh"

start_pair 4000000
sleep 0.5
keys() { awk 'NF==2 {print $1, $2}'; }

K1=$(client alice "" open)
check "alice open" 0 $?
client bob "" open --ksid "$K1" >/dev/null
check "bob joins" 0 $?
client alice "" --framing q get --ksid "$K1" --index 0 --count 1000 | keys >"$T/a1"
client bob "" --framing e get --ksid "$K1" --index 0 --count 1000 | keys >"$T/b1"
check "alice 1000 keys" 1000 "$(wc -l <"$T/a1")"
check "identical at every index (stream 1)" "" "$(diff "$T/a1" "$T/b1" | head -3)"
check "1000 distinct keys" 1000 "$(awk '{print $2}' "$T/a1" | sort -u | wc -l)"

# second stream: bob first (follower asks the leader), other framings
K2=$(client alice "" --framing e open)
client bob "" --framing q open --ksid "$K2" >/dev/null
client bob "" --framing q get --ksid "$K2" --index 0 --count 1000 | keys >"$T/b2"
client alice "" --framing e get --ksid "$K2" --index 0 --count 1000 | keys >"$T/a2"
check "identical at every index (stream 2)" "" "$(diff "$T/a2" "$T/b2" | head -3)"
check "bob 1000 keys (stream 2)" 1000 "$(wc -l <"$T/b2")"
check "streams share no key" 2000 "$(cat "$T/a1" "$T/a2" | awk '{print $2}' | sort -u | wc -l)"

# out-of-order indices, one TLS connection per call (as the ETSI C library does)
K3=$(client bob "" open)
client alice "" open --ksid "$K3" >/dev/null
check "alice joins a stream bob opened" 0 $?
: >"$T/a3"
: >"$T/b3"
for i in 7 3 11 0 5; do
    client alice "" --framing e get --ksid "$K3" --index $i | keys >>"$T/a3"
    client bob "" --framing q get --ksid "$K3" --index $i | keys >>"$T/b3"
done
check "one call per connection: 5 keys" 5 "$(wc -l <"$T/a3")"
check "one call per connection: identical" "" "$(diff "$T/a3" "$T/b3")"
client alice "" get --ksid "$K3" --index 3 >/dev/null 2>&1
check "index 3 again at alice -> 2" 12 $?
client bob "" get --ksid "$K3" --index 3 >/dev/null 2>&1
check "index 3 again at bob -> 2" 12 $?

# CLOSE at alice: bob keeps the key already allocated to him; alice's KSID is gone
K4=$(client alice "" open)
client bob "" open --ksid "$K4" >/dev/null
client alice "" get --ksid "$K4" --index 0 --count 3 | keys >"$T/a4"
client alice "" close --ksid "$K4" >/dev/null
check "alice close" 0 $?
client alice "" get --ksid "$K4" --index 3 >/dev/null 2>&1
check "GET after CLOSE -> 3" 13 $?
sleep 0.3
client bob "" get --ksid "$K4" --index 0 --count 3 | keys >"$T/b4"
check "bob still gets the allocated key after the peer's CLOSE" "" "$(diff "$T/a4" "$T/b4")"
client bob "" get --ksid "$K4" --index 3 >/dev/null 2>&1
check "no new allocation after the peer closed -> 3" 13 $?

# TTL: a stream with no call for TTL seconds is closed at each node and its key wiped
K5=$(client alice "" open --ttl 1)
client bob "" open --ksid "$K5" >/dev/null
client alice "" get --ksid "$K5" --index 0 >/dev/null
check "TTL stream works" 0 $?
sleep 2.5
client alice "" get --ksid "$K5" --index 1 >/dev/null 2>&1
check "TTL passed at alice -> 3" 13 $?
client bob "" get --ksid "$K5" --index 0 >/dev/null 2>&1
check "TTL passed at bob -> 3" 13 $?
grep -q "Key_stream_ID $K5: no call for 1 s (TTL)" "$T/logs/kme-alice.log"
check "TTL clean-up logged" 0 $?
finish
