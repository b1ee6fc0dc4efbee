#!/usr/bin/env bash
# keygen_qber.sh: the emulated QBER (--qber / QBER). At 5 % the rate delivered into the
# primary's ring is within 10 % of SKR x (1 - 2 h(0.05)); both rings report the configured SKR
# and the current (effective) SKR, and hold identical bytes. At 20 % the link is up but
# distils nothing (WARN). Bad values of the knobs stop the program with a message naming the
# option. Prints the numbers.
. "$(dirname "$0")/keygen_lib.sh"
SECS=${KG_QBER_SECONDS:-3}
TOL=${KG_QBER_TOLERANCE_PCT:-10}
SKR=2000000

# Option validation: each bad value names its option and exits 1 before doing anything.
bad() { # EXPECTED-TEXT args...
    local want=$1 out rc=0
    shift
    out=$("$QKD_BIN/qkd-keygen" --mode sender --ring "${KG_PREFIX}bad" --port 1 \
        --cert "$CERTS/alice/node.pem" --key "$CERTS/alice/node.key" --ca "$CERTS/ca.pem" \
        --peer-name bob "$@" 2>&1) || rc=$?
    [ "$rc" = 1 ] || fail "qkd-keygen $* exited $rc, expected 1"
    case "$out" in *"$want"*) ;; *) fail "qkd-keygen $*: no '$want' in: $out" ;; esac
}
bad "--qber (QBER)" --qber 60
bad "--qber (QBER)" --qber abc
bad "--qber (QBER)" --qber -1
bad "--outage-every (OUTAGE_EVERY)" --outage-every 1x --outage-for 1
bad "--outage-for (OUTAGE_FOR)" --outage-every 2 --outage-for 0.001
bad "--outage-for (OUTAGE_FOR) needs --outage-every" --outage-for 1
bad "--outage-every (OUTAGE_EVERY) needs --outage-for" --outage-every 2
bad "must be shorter" --outage-every 2 --outage-for 2
out=$(QBER=77 "$QKD_BIN/qkd-keygen" --mode sender --ring "${KG_PREFIX}bad" --port 1 \
    --cert x --key x --ca x --peer-name bob 2>&1) && fail "QBER=77 accepted"
case "$out" in *"QBER"*) ;; *) fail "QBER=77: no option named in: $out" ;; esac
[ -e "/dev/shm/${KG_PREFIX#/}bad" ] && fail "a refused start created its ring"

# 5 %: the rate.
start_receiver bob alice recv5 --ring-bytes 8388608
start_sender alice bob "$RECV_PORT" send5 --ring-bytes 8388608 --skr-bps "$SKR" --qber 5
wait_for_log send5 "link up with bob"
wait_for_log recv5 "the sender distils"
sleep 0.3
want=$(python3 -c "
import math
h = lambda p: -p*math.log2(p) - (1-p)*math.log2(1-p)
print(int($SKR * (1 - 2*h(0.05))))")
got=$("$QKD_BIN/qkd-ringcheck" "${KG_PREFIX}alice-bob" --rate "$SECS" | sed -n 's/^bps=//p')
python3 - "$want" "$got" "$TOL" "$SKR" <<'PY' || fail "QBER 5 %: delivered rate off by more than $TOL%"
import sys
want, got, tol, skr = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
err = (got - want) / want * 100
print(f"QBER 5%: SKR {skr:.0f} bit/s, expected {want:.0f} bit/s ({want/skr:.4f} of the SKR), "
      f"delivered {got:.0f} bit/s ({err:+.2f}%)")
sys.exit(0 if abs(err) <= tol else 1)
PY
for r in alice-bob bob-alice; do
    [ "$(ring_field $r skr_bps)" = "$SKR" ] || fail "ring $r: configured SKR $(ring_field $r skr_bps)"
    [ "$(ring_field $r skr_current_bps)" = "$want" ] ||
        fail "ring $r: current SKR $(ring_field $r skr_current_bps), expected $want"
    [ "$(ring_field $r link_up)" = 1 ] || fail "ring $r: link not up"
done
assert_same_bytes alice-bob bob-alice
stop "$SEND_PID"
stop "$RECV_PID"

# 20 %: the link comes up and stays up, distils nothing, and says so at WARN.
rm -f /dev/shm/"${KG_PREFIX#/}"* # fresh, empty rings under the same names
start_receiver bob alice recv20
start_sender alice bob "$RECV_PORT" send20 --qber 20 --log-level WARN
wait_for_log send20 "no secret key can be distilled"
wait_for_log recv20 "link up with alice"
wait_for_log recv20 "leaves no secret key"
sleep 1
for r in alice-bob bob-alice; do
    [ "$(ring_field $r link_up)" = 1 ] || fail "QBER 20 %: ring $r shows the link down"
    [ "$(ring_field $r skr_current_bps)" = 0 ] || fail "QBER 20 %: ring $r current SKR not 0"
    [ "$(ring_field $r skr_bps)" = 1000000 ] || fail "QBER 20 %: ring $r configured SKR"
    [ "$(ring_field $r write)" = 0 ] || fail "QBER 20 %: ring $r holds key"
done
grep -q "link up with bob" "$KG_DIR/send20.log" && fail "INFO line logged at --log-level WARN"
echo "QBER 20%: link up, current SKR 0, nothing distilled"
echo "PASS keygen_qber"
