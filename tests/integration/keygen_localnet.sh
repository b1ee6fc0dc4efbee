#!/usr/bin/env bash
# keygen_localnet.sh: scripts/local-net.sh up/status/down with three nodes: certificates, the
# three keygen links with identical rings, DIR/env with the contract's variables, SKR_BPS and
# RING_BYTES honoured; down stops exactly its processes and unlinks its rings. Key servers are
# started when qkd-kme is built (their addresses must then accept TCP). Then a second network
# at LOG_LEVEL=WARN: it must come up (readiness is probed, not read from INFO logs) and serve
# key at once.
. "$(dirname "$0")/keygen_lib.sh"
NET="$KG_DIR/net"
LN="$QKD_SRC/scripts/local-net.sh"
NET2="$KG_DIR/net-warn"
ln_down() {
    bash "$LN" down "$NET" >/dev/null 2>&1
    [ -d "$NET2" ] && bash "$LN" down "$NET2" >/dev/null 2>&1
}
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
    # ETSI 014 (README "A local network without Docker"): each key server's URL, no path
    for n in ALICE BOB CHARLIE; do
        v=${n}_ETSI014_URL
        [[ "${!v:-}" =~ ^https://127\.0\.0\.1:([0-9]+)$ ]] || fail "$v is '${!v:-}', not https://127.0.0.1:PORT"
        (exec 3<>"/dev/tcp/127.0.0.1/${BASH_REMATCH[1]}") 2>/dev/null || fail "$v does not accept TCP"
    done
fi
# the SAE certificates of every node: <node>-app, <node>-sae2, <node>-sae3
for n in alice bob charlie; do
    N=$(echo "$n" | tr '[:lower:]' '[:upper:]')
    for s in APP:app SAE2:sae2 SAE3:sae3; do
        c=${N}_${s%%:*}_CERT_PEM k=${N}_${s%%:*}_KEY_PEM
        [ -s "${!c:-}" ] && [ -s "${!k:-}" ] || fail "env lacks $c/$k or the files are missing"
        subj=$("${QKD_OPENSSL_BIN:-openssl}" x509 -in "${!c}" -noout -subject -nameopt RFC2253 2>/dev/null)
        [ "$subj" = "subject=CN=$n-${s#*:}" ] || fail "$c is '$subj', not CN=$n-${s#*:}"
    done
done
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

# LOG_LEVEL=WARN: readiness does not depend on INFO lines. The network comes up (bounded),
# nothing below WARN is logged, and when key servers run, key is served at once and is the
# same at both ends.
LOG_LEVEL=WARN LOCALNET_WAIT_S=20 timeout 90 bash "$LN" up "$NET2" >"$KG_DIR/up-warn.log" 2>&1 ||
    fail "local-net.sh up at LOG_LEVEL=WARN: $(tail -n 20 "$KG_DIR/up-warn.log")"
bash "$LN" status "$NET2" >/dev/null || fail "status at WARN reports processes down"
for f in "$NET2"/logs/keygen-*.log "$NET2"/logs/kme-*.log; do
    [ -f "$f" ] || continue
    grep -q '^\[INFO\]' "$f" && fail "INFO lines in $f at LOG_LEVEL=WARN"
done
[ -s "$NET2/run/keygen-alice-bob.ready" ] || fail "no keygen ready file"
if [ -x "$QKD_BIN/qkd-kme" ]; then
    (
        . "$NET2/env"
        cl() { # NODE ADDR args...
            local n=$1 a=$2
            shift 2
            "$QKD_BIN/qkd-client" --server "$a" --cert "$NET2/certs/$n/client.pem" \
                --key "$NET2/certs/$n/client.key" --ca "$CA_PEM" --timeout 2000 "$@"
        }
        ksid=$(cl alice "$ALICE_ADDR" open --destination server://bob --qos-timeout 1000) ||
            exit 1
        ka=$(cl alice "$ALICE_ADDR" get --ksid "$ksid" --count 1) || exit 2
        kb=$(cl bob "$BOB_ADDR" get --ksid "$ksid" --count 1) || exit 3
        [ -n "$ka" ] && [ "$ka" = "$kb" ] || exit 4
        cl alice "$ALICE_ADDR" close --ksid "$ksid" >/dev/null || exit 5
        cl bob "$BOB_ADDR" close --ksid "$ksid" >/dev/null || exit 6
    ) || fail "key not served at LOG_LEVEL=WARN right after up (step $?)"
fi
bash "$LN" down "$NET2" >/dev/null || fail "down at WARN failed"
echo "PASS keygen_localnet"
