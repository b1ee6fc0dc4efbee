#!/usr/bin/env bash
# keygen_full.sh: a small ring nobody consumes: both ends stop at exactly the capacity, new key
# is discarded and counted at both ends, nothing in the rings is overwritten; once a reader
# consumes, the stream continues at the next offset with identical bytes at both ends.
. "$(dirname "$0")/keygen_lib.sh"
CAP=65536

start_receiver bob alice recv --ring-bytes $CAP
start_sender alice bob "$RECV_PORT" send --ring-bytes $CAP --skr-bps 4000000
wait_for_log send "link up with bob"
sleep 1.5
for r in alice-bob bob-alice; do
    [ "$(ring_field $r write)" = $CAP ] || fail "ring $r not filled to exactly $CAP"
    [ "$(ring_field $r consume)" = 0 ] || fail "ring $r consumed"
done
assert_same_bytes alice-bob bob-alice
h1=$COMMON
sum1=$(ring_field alice-bob sha256 --from 0 --to $CAP)
da1=$(ring_field alice-bob bytes_dropped)
db1=$(ring_field bob-alice bytes_dropped)
echo "full: dropped so far primary $da1 bytes, secondary $db1 bytes"
[ "$da1" -gt 0 ] || fail "primary counted no drops"
[ "$db1" -gt 0 ] || fail "secondary counted no drops"
sleep 1
[ "$(ring_field alice-bob write)" = $CAP ] || fail "primary wrote past the capacity"
[ "$(ring_field bob-alice write)" = $CAP ] || fail "secondary wrote past the capacity"
[ "$(ring_field alice-bob sha256 --from 0 --to $CAP)" = "$sum1" ] || fail "primary bytes changed"
[ "$(ring_field bob-alice sha256 --from 0 --to $CAP)" = "$sum1" ] || fail "secondary bytes changed"
da2=$(ring_field alice-bob bytes_dropped)
db2=$(ring_field bob-alice bytes_dropped)
echo "full: 1 s later primary dropped $da2 bytes, secondary $db2 bytes"
[ "$db2" -gt $((db1 + 200000)) ] || fail "secondary drop count did not grow ($db1 -> $db2)"
[ "$da2" -gt $((da1 + 200000)) ] || fail "drop count did not grow at ~500 kB/s ($da1 -> $da2)"

# Key servers consume half at both ends: the stream continues right after the old bytes.
"$QKD_BIN/qkd-ringcheck" "${KG_PREFIX}alice-bob" --consume 32768 >/dev/null || fail "consume"
"$QKD_BIN/qkd-ringcheck" "${KG_PREFIX}bob-alice" --consume 32768 >/dev/null || fail "consume"
sleep 1
[ "$(ring_field alice-bob write)" = $((CAP + 32768)) ] || fail "primary did not refill to the capacity"
[ "$(ring_field bob-alice write)" = $((CAP + 32768)) ] || fail "secondary did not refill"
assert_same_bytes alice-bob bob-alice 32768
[ "$(ring_field alice-bob sha256 --from 32768 --to $CAP)" = \
  "$(ring_field bob-alice sha256 --from 32768 --to $CAP)" ] || fail "old bytes changed"
echo "PASS keygen_full"
