#!/bin/bash
# kme_exhaust.sh: the key server under resource exhaustion (kme_exhaust.py drives it over raw
# TLS): hosts holding idle connections to the ETSI listener (--max-handshakes at its edge) or
# to the peer-sync listener do not keep a restarted
# follower out (--peer-max-handshakes: the oldest handshake is closed for a new one);
# RLIMIT_NOFILE is raised at start as far as --max-conns needs; a client that pipelines
# requests without reading is held by back-pressure (--out-high-bytes), not queued for; with
# its descriptors exhausted (prlimit) the server backs off instead of spinning and recovers once
# connections close. docs/kme.md lists the limits.
. "$(dirname "$0")/kme_lib.sh"

hard=$(ulimit -H -n)
[ "$hard" = unlimited ] && hard=1048576
soft=256
ulimit -S -n $soft
# --core-dumps: a key server turns itself non-dumpable, which hides /proc/PID/fd from its own
# (non-root, e.g. in the test container) user; this test counts descriptors there
start_pair 4000000 --max-conns 2000 --max-handshakes 4 --core-dumps
ulimit -S -n "$hard" 2>/dev/null
pid=${PID_OF[kme-alice]}
lim=$(awk '/Max open files/ {print $4}' "/proc/$pid/limits")
if [ "$hard" -gt $soft ]; then
    [ "$lim" -gt $soft ]
    check "RLIMIT_NOFILE raised at start ($soft -> $lim, hard $hard)" 0 $?
    grep -q "open file limit raised" "$T/logs/kme-alice.log"
    check "the raise is logged" 0 $?
fi
# 30 idle connections held at alice's peer-sync port while bob's key server restarts
python3 "$(dirname "$0")/hold_conns.py" "$PEER_PORT_ALICE" 30 15 >"$T/logs/holder.log" 2>&1 &
HOLDER=$!
PIDS+=($HOLDER)
sleep 1
kill -KILL "${PID_OF[kme-bob]}"
start_kme bob --link \
    "peer=alice,role=follower,ring=$(ring_name bob alice),addr=127.0.0.1:$PEER_PORT_ALICE" \
    --max-conns 2000 --max-handshakes 4
wait_peer_upn alice bob 2 10
check "bob's peer sync comes back while 30 idle connections are held at alice" 0 $?
kill -0 $HOLDER 2>/dev/null
check "the idle connections were held throughout" 0 $?
grep -q "closing the oldest" "$T/logs/kme-alice.log"
check "alice closed the oldest handshakes for room" 0 $?
kill $HOLDER 2>/dev/null
sleep 0.5

# --max-handshakes at its edge: 12 idle connections held at alice's ETSI port; alice never has
# more than 4 of them open, and an application still opens a stream there
base=$(ls "/proc/$pid/fd" | wc -l)
[ "$base" -gt 0 ] || die "cannot list /proc/$pid/fd (the counts below would be vacuous)"
python3 "$(dirname "$0")/hold_conns.py" "${KME_PORT_OF[alice]}" 12 6 >>"$T/logs/holder.log" 2>&1 &
HOLDER=$!
PIDS+=($HOLDER)
sleep 1
most=0
for i in $(seq 1 20); do
    n=$(ls "/proc/$pid/fd" | wc -l)
    [ "$n" -gt "$most" ] && most=$n
    sleep 0.05
done
# 4, plus the one just accepted before the oldest is closed for it
[ $((most - base)) -le 5 ]
check "at most 4 (+1 being accepted) ETSI connections in their handshake at alice (saw $((most - base)))" 0 $?
# a real client retries a connection closed in its handshake (its ClientHello may arrive after
# the holder's next connection on a slow, e.g. sanitizer, build): up to 3 tries
for try in 1 2 3; do
    client alice "" open >/dev/null 2>&1 && break
done
check "an application opens a stream while the idle connections are held" 0 $?
kill $HOLDER 2>/dev/null

# a sanitizer build: kme_exhaust.py does not bound the RSS there (ASan's quarantine)
[[ "$(ldd "$QKD_BIN/qkd-kme" 2>/dev/null)" == *libasan* ]] && export QKD_SANITIZED=1
for mode in backpressure emfile; do
    if [ $mode = emfile ]; then
        used=$(ls "/proc/$pid/fd" | wc -l)
        [ "$used" -gt 0 ] || die "cannot list /proc/$pid/fd"
        # fewer than --max-handshakes: the descriptors run out before the handshake cap
        prlimit --pid "$pid" --nofile=$((used + 2)):$((used + 2))
        check "prlimit the key server to $((used + 2)) descriptors" 0 $?
    fi
    python3 "$(dirname "$0")/kme_exhaust.py" $mode "127.0.0.1:${KME_PORT_OF[alice]}" \
        "$CERTS/ca.pem" "$CERTS/alice/client.pem" "$CERTS/alice/client.key" "$pid" \
        "$T/logs/kme-alice.log"
    check "kme_exhaust.py $mode" 0 $?
    kill -0 "$pid" 2>/dev/null
    check "key server still running after $mode" 0 $?
done
finish
