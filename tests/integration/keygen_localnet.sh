#!/usr/bin/env bash
# keygen_localnet.sh: scripts/local-net.sh up/status/down with three nodes: certificates, the
# three keygen links with identical rings, DIR/env with the contract's variables, SKR_BPS and
# RING_BYTES honoured; down stops exactly its processes and unlinks its rings. Key servers are
# started when qkd-kme is built (their addresses must then accept TCP).
. "$(dirname "$0")/keygen_lib.sh"
NET="$KG_DIR/net"
LN="$QKD_SRC/scripts/local-net.sh"
ln_down() { bash "$LN" down "$NET" >/dev/null 2>&1; }
trap 'ln_down; kg_cleanup' EXIT

NODES=alice,bob,charlie SKR_BPS=1600000 RING_BYTES=524288 LOCALNET_WAIT_S=20 \
    bash "$LN" up "$NET" >"$KG_DIR/up.log" 2>&1 || fail "local-net.sh up: $(cat "$KG_DIR/up.log")"
[ -f "$NET/env" ] || fail "no env file"
. "$NET/env"
for v in ALICE_ADDR BOB_ADDR CHARLIE_ADDR ALICE_HYBRID_ADDR BOB_HYBRID_ADDR CA_PEM \
    CLIENT_CERT_PEM CLIENT_KEY_PEM BOB_CLIENT_CERT_PEM BOB_CLIENT_KEY_PEM SKR_BPS RING_PREFIX \
    RING_ALICE_BOB RING_BOB_ALICE RING_ALICE_CHARLIE RING_CHARLIE_ALICE RING_BOB_CHARLIE \
    RING_CHARLIE_BOB; do
    grep -q "^$v=" "$NET/env" || fail "env lacks $v"
done
[ "$SKR_BPS" = 1600000 ] || fail "SKR_BPS not honoured"
for f in "$CA_PEM" "$CLIENT_CERT_PEM" "$CLIENT_KEY_PEM" "$BOB_CLIENT_CERT_PEM"; do
    [ -s "$f" ] || fail "missing $f"
done
case "$RING_PREFIX" in qkd-????????-) ;; *) fail "ring prefix $RING_PREFIX not unique to DIR" ;; esac
bash "$LN" status "$NET" || fail "status reports processes down"
if [ -x "$QKD_BIN/qkd-kme" ]; then
    for a in "$ALICE_ADDR" "$BOB_ADDR" "$CHARLIE_ADDR"; do
        [ -n "$a" ] || fail "kme address empty although qkd-kme exists"
        (exec 3<>"/dev/tcp/${a%:*}/${a#*:}") 2>/dev/null || fail "kme $a does not accept TCP"
    done
fi
sleep 1
for pair in "$RING_ALICE_BOB $RING_BOB_ALICE" "$RING_ALICE_CHARLIE $RING_CHARLIE_ALICE" \
    "$RING_BOB_CHARLIE $RING_CHARLIE_BOB"; do
    set -- $pair
    [ "$(ring_field "$1" capacity)" = 524288 ] || fail "RING_BYTES not honoured for $1"
    [ "$(ring_field "$1" skr_bps)" = 1600000 ] || fail "SKR not in ring $1"
    # With key servers running the rings are being consumed; compare from the later consume.
    c1=$(ring_field "$1" consume)
    c2=$(ring_field "$2" consume)
    [ "$c2" -gt "$c1" ] && c1=$c2
    [ -x "$QKD_BIN/qkd-kme" ] || assert_same_bytes "$1" "$2" "$c1"
done
pids=$(awk '{print $1}' "$NET/pids")
[ "$(echo "$pids" | wc -w)" -ge 6 ] || fail "expected at least 6 processes in pids"
bash "$LN" down "$NET" >/dev/null || fail "down failed"
for p in $pids; do
    # A stopped process may linger as a zombie until its reaper collects it.
    st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null || true)
    [ -z "$st" ] || [ "$st" = Z ] || fail "pid $p still running after down (state $st)"
done
for r in "$RING_ALICE_BOB" "$RING_CHARLIE_BOB"; do
    [ -e "/dev/shm/${r#/}" ] && fail "ring $r not unlinked"
done
grep -q "link up" "$NET/logs/keygen-alice-bob.log" || fail "no keygen log in DIR/logs"
echo "PASS keygen_localnet"
