#!/usr/bin/env bash
# keygen_restart.sh: kill -9 the receiver mid-stream and restart it, then kill -9 the sender
# and restart it: the stream resumes, bytes already visible never change, and both rings hold
# the same bytes at the same offsets.
. "$(dirname "$0")/keygen_lib.sh"
RING=4194304
ARGS=(--ring-bytes $RING --skr-bps 2000000 --link-timeout-ms 2000)

start_receiver bob alice recv "${ARGS[@]}"
PORT=$RECV_PORT
start_sender alice bob "$PORT" send "${ARGS[@]}"
wait_for_log send "link up with bob"
sleep 1.5

# --- receiver killed mid-stream
kill -KILL "$RECV_PID"
wait "$RECV_PID" 2>/dev/null
a1=$(ring_field alice-bob write)
sum_a1=$(ring_field alice-bob sha256 --from 0 --to "$a1")
echo "receiver killed: primary at $a1"
wait_for_log send "link down with bob"
start_receiver bob alice recv "${ARGS[@]}" --port "$PORT"
[ "$RECV_PORT" = "$PORT" ] || fail "receiver came back on another port"
for i in $(seq 1 100); do
    [ "$(grep -c 'link up with bob' "$KG_DIR/send.log")" -ge 2 ] && break
    sleep 0.05
done
[ "$(grep -c 'link up with bob' "$KG_DIR/send.log")" -ge 2 ] || fail "no second link up"
sleep 1.5
a2=$(ring_field alice-bob write)
[ "$a2" -gt $((a1 + 200000)) ] || fail "stream did not resume after the receiver restart ($a1 -> $a2)"
assert_same_bytes alice-bob bob-alice
[ "$(ring_field alice-bob sha256 --from 0 --to "$a1")" = "$sum_a1" ] || fail "primary bytes changed"
[ "$(ring_field bob-alice sha256 --from 0 --to "$a1")" = "$sum_a1" ] || fail "secondary bytes differ"

# --- sender killed mid-stream
kill -KILL "$SEND_PID"
wait "$SEND_PID" 2>/dev/null
a3=$(ring_field alice-bob write)
b3=$(ring_field bob-alice write)
sum_a3=$(ring_field alice-bob sha256 --from 0 --to "$a3")
echo "sender killed: primary at $a3, secondary at $b3 (unconfirmed tail $((b3 - a3)))"
start_sender alice bob "$PORT" send2 "${ARGS[@]}"
wait_for_log send2 "link up with bob"
grep "link up with bob" "$KG_DIR/send2.log"
grep -q "stream offset $a3 " "$KG_DIR/send2.log" || fail "restarted sender did not resume at $a3"
if [ "$b3" -gt "$a3" ]; then
    wait_for_log recv "resync: rolling back $((b3 - a3)) unconfirmed bytes"
fi
sleep 1.5
a4=$(ring_field alice-bob write)
[ "$a4" -gt $((a3 + 200000)) ] || fail "stream did not resume after the sender restart ($a3 -> $a4)"
assert_same_bytes alice-bob bob-alice
[ "$(ring_field alice-bob sha256 --from 0 --to "$a3")" = "$sum_a3" ] || fail "primary bytes changed"
[ "$(ring_field bob-alice sha256 --from 0 --to "$a3")" = "$sum_a3" ] || fail "secondary bytes differ"
stop "$SEND_PID"
stop "$RECV_PID"
assert_same_bytes alice-bob bob-alice
echo "PASS keygen_restart"
