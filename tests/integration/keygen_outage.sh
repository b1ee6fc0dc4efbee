#!/usr/bin/env bash
# keygen_outage.sh: the emulated outage profile (--outage-every / --outage-for, here via the
# OUTAGE_EVERY / OUTAGE_FOR environment on the sender only). During an outage the primary's
# write offset stops advancing, both rings show the link down (the receiver learns it from the
# sender), and the link comes back up and goes on at the same offset: no resync, nothing
# dropped, both rings identical from offset 0. --ready-file exists exactly while the link is
# up. Prints the offsets.
. "$(dirname "$0")/keygen_lib.sh"
EVERY=${KG_OUTAGE_EVERY:-4}
FOR=${KG_OUTAGE_FOR:-2}

RS=$KG_DIR/send.ready
RR=$KG_DIR/recv.ready
start_receiver bob alice recv --ready-file "$RR"
OUTAGE_EVERY=$EVERY OUTAGE_FOR=$FOR start_sender alice bob "$RECV_PORT" send --stats-ms 500 \
    --ready-file "$RS"
wait_for_log send "link up with bob"
wait_for_log send "emulated outages of"
[ "$(ring_field alice-bob link_up)" = 1 ] || fail "link not up before the first outage"
[ "$(ring_field bob-alice link_up)" = 1 ] || fail "receiver: link not up before the first outage"
[ -s "$RS" ] && [ -s "$RR" ] || fail "no --ready-file while the link is up"
grep -q "^up bob " "$RS" || fail "sender ready file: $(cat "$RS")"

# Wait for the first outage (starts EVERY s after the sender started).
wait_for_log send "outage: link down" $((${EVERY%.*} + 5))
sleep 0.25 # blocks in flight when it began are acknowledged within a round trip
for r in alice-bob bob-alice; do
    [ "$(ring_field $r link_up)" = 0 ] || fail "ring $r shows the link up during the outage"
done
wa1=$(ring_field alice-bob write)
wb1=$(ring_field bob-alice write)
sleep 0.8
wa2=$(ring_field alice-bob write)
wb2=$(ring_field bob-alice write)
up_mid=$(ring_field alice-bob link_up)$(ring_field bob-alice link_up)
echo "during the outage: primary write $wa1 -> $wa2, secondary $wb1 -> $wb2, link_up $up_mid"
grep -q "outage over" "$KG_DIR/send.log" && fail "the outage ended too early for the checks"
[ "$wa1" -gt 0 ] || fail "no key before the outage"
[ "$wa1" = "$wa2" ] || fail "primary write offset advanced during the outage ($wa1 -> $wa2)"
[ "$wb1" = "$wb2" ] || fail "secondary write offset advanced during the outage ($wb1 -> $wb2)"
[ "$up_mid" = 00 ] || fail "link shown up during the outage ($up_mid)"
[ -e "$RS" ] && fail "sender ready file present during the outage"
[ -e "$RR" ] && fail "receiver ready file present during the outage"
grep -q "link down: the sender reports an emulated outage" "$KG_DIR/recv.log" ||
    fail "the receiver did not log the outage"
grep -q "link down (emulated outage)" "$KG_DIR/send.log" || fail "stats do not show the outage"

# The outage ends: link up at both ends, key flows again from the same offset.
wait_for_log send "outage over: link up" 5
wait_for_log recv "outage is over" 5
sleep 0.5
for r in alice-bob bob-alice; do
    [ "$(ring_field $r link_up)" = 1 ] || fail "ring $r: link not up after the outage"
done
[ -s "$RS" ] && [ -s "$RR" ] || fail "ready files not back after the outage"
wa3=$(ring_field alice-bob write)
echo "after the outage: primary write $wa3"
[ "$wa3" -gt "$wa2" ] || fail "no key after the outage ($wa2 -> $wa3)"
grep -q "distilling again from stream offset $wa2" "$KG_DIR/send.log" ||
    fail "did not resume at offset $wa2: $(grep 'outage over' "$KG_DIR/send.log")"
assert_same_bytes alice-bob bob-alice 0
[ "$(ring_field alice-bob bytes_dropped)" = 0 ] || fail "bytes dropped at the primary"
[ "$(ring_field bob-alice bytes_dropped)" = 0 ] || fail "bytes dropped at the secondary"
grep -q "resync" "$KG_DIR/send.log" "$KG_DIR/recv.log" && fail "the outage caused a resync"
grep -q "link down with" "$KG_DIR/send.log" "$KG_DIR/recv.log" && fail "the TLS link dropped"
stop "$SEND_PID"
[ -e "$RS" ] && fail "sender ready file left after exit"
wait_for_log recv "link down with alice"
[ -e "$RR" ] && fail "receiver ready file present with the link down"
stop "$RECV_PID"
echo "PASS keygen_outage"
