#!/usr/bin/env bash
# keygen_peer_name.sh: each end refuses a peer whose certificate CN is not --peer-name (logged,
# no key exchanged), and the right peer then gets through.
. "$(dirname "$0")/keygen_lib.sh"

# charlie's certificate presented to a receiver that expects alice.
start_receiver bob alice recv
"$QKD_BIN/qkd-keygen" --mode sender --ring "${KG_PREFIX}charlie-bob" --port "$RECV_PORT" \
    --cert "$CERTS/charlie/node.pem" --key "$CERTS/charlie/node.key" --ca "$CERTS/ca.pem" \
    --peer-name bob >>"$KG_DIR/mallory.log" 2>&1 &
KG_PIDS+=("$!")
wait_for_log recv 'peer certificate names "charlie", expected "alice"; refusing'
sleep 0.5
kill -TERM "$!"
grep -q "link up" "$KG_DIR/recv.log" && fail "receiver brought a link up with the wrong peer"
[ "$(ring_field bob-alice write)" = 0 ] || fail "key reached the receiver's ring"

# A sender that expects charlie refuses bob's receiver.
start_sender alice bob "$RECV_PORT" send1 --peer-name charlie
wait_for_log send1 'peer certificate names "bob", expected "charlie"; refusing'
grep -q "link up" "$KG_DIR/send1.log" && fail "sender brought a link up with the wrong peer"
stop "$SEND_PID"
[ "$(ring_field alice-bob write)" = 0 ] || fail "key reached the sender's ring"

# The right pair links up.
start_sender alice bob "$RECV_PORT" send2
wait_for_log send2 "link up with bob"
sleep 0.5
[ "$(ring_field alice-bob write)" -gt 0 ] || fail "no key after the right peer connected"
echo "PASS keygen_peer_name"
