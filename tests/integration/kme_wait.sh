#!/bin/bash
# kme_wait.sh: a client faster than the link's SKR waits (without blocking the server) and then
# gets its key, or status 6 once the stream's Timeout passes; at the leader and the follower.
. "$(dirname "$0")/kme_lib.sh"

start_pair 1024 # 128 bytes/s, in 256-byte blocks
now_ms() { date +%s%3N; }

# chunk 1024 needs 8 s of key: a 300 ms Timeout cannot be met -> 6, at both ends
K=$(client alice "" open --chunk-size 1024 --qos-timeout 300)
client bob "" open --ksid "$K" >/dev/null
t0=$(now_ms)
client alice "" get --ksid "$K" --index 0 >/dev/null 2>&1
check "leader: key slower than Timeout -> 6" 16 $?
client bob "" get --ksid "$K" --index 1 >/dev/null 2>&1
check "follower: key slower than Timeout -> 6" 16 $?
el=$(($(now_ms) - t0))
if [ $el -ge 550 ] && [ $el -lt 5000 ]; then ok "both waited ~Timeout ($el ms)"; else fail "wait took $el ms"; fi

# while one call waits, the server answers others at once
K2=$(client alice "" open --chunk-size 32 --qos-timeout 20000)
client bob "" open --ksid "$K2" >/dev/null
(client alice "" get --ksid "$K" --index 2 >/dev/null 2>&1; echo $? >"$T/bg") &
bg=$!
sleep 0.1
t0=$(now_ms)
client alice "" open >/dev/null
check "server answers while a call waits" 0 $?
el=$(($(now_ms) - t0))
[ $el -lt 250 ] && ok "answered in $el ms" || fail "answer took $el ms"
wait $bg
check "background call timed out -> 6" 16 "$(cat "$T/bg")"

# chunk 32 at 128 bytes/s: 24 keys need ~6 s; each call waits, then gets its key
t0=$(now_ms)
client alice "" get --ksid "$K2" --index 0 --count 12 >"$T/a" 2>&1
check "leader: waiting calls get their keys" 0 $?
client bob "" get --ksid "$K2" --index 12 --count 12 >"$T/b" 2>&1
check "follower: waiting calls get their keys" 0 $?
el=$(($(now_ms) - t0))
[ $el -ge 1000 ] && ok "calls waited for key ($el ms for 24 keys)" || fail "no waiting seen ($el ms)"
client bob "" get --ksid "$K2" --index 0 --count 12 >"$T/b0" 2>&1
client alice "" get --ksid "$K2" --index 12 --count 12 >"$T/a12" 2>&1
check "same keys at both ends (0..11)" "" "$(diff "$T/a" "$T/b0")"
check "same keys at both ends (12..23)" "" "$(diff "$T/b" "$T/a12")"
finish
