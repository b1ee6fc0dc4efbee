#!/usr/bin/env bash
# keygen_pair.sh: a keygen pair on loopback for ~3 s: both rings fill at the SKR with identical
# bytes at identical offsets (the secondary never behind the primary, at most the blocks in
# flight ahead), link state and SKR visible in both rings, stats logged, clean SIGTERM exit.
. "$(dirname "$0")/keygen_lib.sh"

start_receiver bob alice recv --stats-ms 1000
start_sender alice bob "$RECV_PORT" send --stats-ms 1000
wait_for_log send "link up with bob"
wait_for_log recv "link up with alice"
sleep 3

wa=$(ring_field alice-bob write)
wb=$(ring_field bob-alice write)
echo "after ~3 s: primary write $wa, secondary write $wb"
[ "$wa" -ge 300000 ] || fail "primary holds only $wa bytes after 3 s at 1 Mbit/s"
[ "$wb" -ge "$wa" ] || fail "secondary ($wb) behind primary ($wa)"
[ $((wb - wa)) -le $((256 * 1024)) ] || fail "secondary ahead by more than the blocks in flight"
assert_same_bytes alice-bob bob-alice
[ "$COMMON" -ge 300000 ] || fail "common range too short: $COMMON"

[ "$(ring_field alice-bob link_up)" = 1 ] || fail "primary ring does not show the link up"
[ "$(ring_field bob-alice link_up)" = 1 ] || fail "secondary ring does not show the link up"
[ "$(ring_field alice-bob skr_bps)" = 1000000 ] || fail "primary SKR"
[ "$(ring_field bob-alice skr_bps)" = 1000000 ] || fail "secondary SKR"
[ "$(ring_field bob-alice bytes_dropped)" = 0 ] || fail "drops with free room"
grep -q "stats ${KG_PREFIX}alice-bob: link up, distilled" "$KG_DIR/send.log" || fail "no stats line"

# The sender stops cleanly; the receiver sees the link go down; the rings keep their bytes.
stop "$SEND_PID"
wait_for_log recv "link down with alice"
[ "$(ring_field bob-alice link_up)" = 0 ] || fail "secondary ring still shows the link up"
assert_same_bytes alice-bob bob-alice
stop "$RECV_PID"
[ "$(ring_field bob-alice writer_pid)" = 0 ] || fail "writer pid not cleared on exit"
echo "PASS keygen_pair"
