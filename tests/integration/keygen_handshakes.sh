#!/usr/bin/env bash
# keygen_handshakes.sh: hosts that connect to the receiver and never finish a TLS handshake
# cannot keep the link down: the receiver holds at most --max-handshakes of them (a new one
# closes the oldest; each times out after KG_RECV_HANDSHAKE_MS), so the configured sender's
# handshake gets through while 30 idle connections are held and re-opened (docs/keygen.md).
# The receiver also raises a low soft RLIMIT_NOFILE to what its limits need.
. "$(dirname "$0")/keygen_lib.sh"

hard=$(ulimit -H -n)
[ "$hard" = unlimited ] && hard=1048576
ulimit -S -n 24 # below the 4 + 2 + 32 descriptors the receiver needs: it raises its own limit
start_receiver bob alice recv --max-handshakes 4
ulimit -S -n "$hard"
if [ "$hard" -ge 38 ]; then
    soft=$(awk '/Max open files/ {print $4}' "/proc/$RECV_PID/limits")
    [ "$soft" -ge 38 ] || fail "the receiver did not raise RLIMIT_NOFILE (soft $soft)"
fi
base=$(ls "/proc/$RECV_PID/fd" | wc -l)
python3 "$(dirname "$0")/hold_conns.py" "$RECV_PORT" 30 12 >"$KG_DIR/holder.log" 2>&1 &
HOLDER=$!
KG_PIDS+=("$HOLDER")
sleep 1
most=0
for i in $(seq 1 10); do
    n=$(ls "/proc/$RECV_PID/fd" | wc -l)
    [ "$n" -gt "$most" ] && most=$n
    sleep 0.05
done
[ "$most" -le $((base + 4 + 2)) ] ||
    fail "the receiver holds $((most - base)) connections (more than 4 handshakes + 2)"
grep -q "closing the oldest" "$KG_DIR/recv.log" || fail "no handshake was closed for room"
start_sender alice bob "$RECV_PORT" send
wait_for_log send "link up with bob" 8
kill -0 "$HOLDER" 2>/dev/null || fail "the idle connections were not held throughout"
sleep 0.5
[ "$(ring_field alice-bob write)" -gt 0 ] || fail "no key while idle connections are held"
kill "$HOLDER" 2>/dev/null
echo "PASS keygen_handshakes"
