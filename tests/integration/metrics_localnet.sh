#!/usr/bin/env bash
# metrics_localnet.sh: the metrics endpoints of every daemon on a local-net alice-bob network
# (docs/observability.md). Values move with real traffic: GET_KEY raises delivered keys and bits;
# ring available falls when 64 KiB are taken and rises again as the keygen distils; stopping
# alice's keygen (SIGSTOP) drops link up at bob's keygen and alice's key server and turns bob's
# keygen /healthz 503, and SIGCONT brings both back. Every endpoint's exposition parses with
# PyPI's prometheus_client parser, installed once with pip into a cache outside the clone:
#   ${QKD_CACHE_DIR:-/var/cache/qkd}/pip/prometheus_client-$PC_VERSION
# (when it is not cached and no registry answers, that one check prints SKIP). Last, the
# status page is opened in headless chromium, its screenshot checked to be non-blank (distinct
# colours counted) and its path printed; where chromium cannot run, a visible SKIP line.
set -u
: "${QKD_BIN:?}" "${QKD_SRC:?}"
T=$(mktemp -d /tmp/metrics_localnet.XXXXXX)
NET=$T/net
LN="$QKD_SRC/scripts/local-net.sh"
MC="python3 $QKD_SRC/tests/integration/metrics_check.py"
PC_VERSION=0.26.0
PC_SHA256=fa93d06737aa02bacd05794768508bb97d2fbee28cb3bca04eaae92f0ca953d6 # the wheel
CACHE=${QKD_CACHE_DIR:-/var/cache/qkd}
ART=${QKD_ARTIFACTS:-$QKD_BIN/../test-artifacts}
STOPPED=""
cleanup() {
    [ -n "$STOPPED" ] && kill -CONT "$STOPPED" 2>/dev/null
    bash "$LN" down "$NET" >/dev/null 2>&1
    rm -rf "$T"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    tail -n 5 "$NET"/logs/*.log >&2 2>/dev/null
    exit 1
}
ok() { echo "ok: $*"; }
val() { $MC value "$@" || fail "cannot read $2 from $1"; }
# wait_for SECONDS CMD...: until CMD succeeds
wait_for() {
    local end=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.3
    done
}

NODES=alice,bob SKR_BPS=400000 RING_BYTES=262144 LOCALNET_WAIT_S=30 \
    bash "$LN" up "$NET" >"$T/up.log" 2>&1 || fail "local-net up: $(tail -n 20 "$T/up.log")"
. "$NET/env"
for v in ALICE_METRICS_URL BOB_METRICS_URL ALICE_KEYGEN_METRICS_URL BOB_KEYGEN_METRICS_URL \
    ALICE_HYBRID_METRICS_URL BOB_HYBRID_METRICS_URL; do
    [ -n "${!v:-}" ] || fail "env lacks $v"
done
ok "local-net exports the metrics URLs"
URLS="$ALICE_METRICS_URL $BOB_METRICS_URL $ALICE_KEYGEN_METRICS_URL $BOB_KEYGEN_METRICS_URL $ALICE_HYBRID_METRICS_URL $BOB_HYBRID_METRICS_URL"
for u in $URLS; do
    code=$($MC get "$u/healthz" "$T/hz") || fail "$u unreachable"
    [ "$code" = 200 ] || fail "$u/healthz answered $code: $(cat "$T/hz")"
done
ok "every daemon's /healthz is 200"

client() { # NODE ADDR ARGS...
    local n=$1 a=$2
    shift 2
    local N=${n^^}
    local cv=${N}_CLIENT_CERT_PEM kv=${N}_CLIENT_KEY_PEM
    "$QKD_BIN/qkd-client" --server "$a" --cert "${!cv}" --key "${!kv}" --ca "$CA_PEM" "$@"
}

# --- delivered keys move with GET_KEY ---------------------------------------------------------
k0=$(val "$ALICE_METRICS_URL" qkd_keys_delivered_total link=bob api=004)
b0=$(val "$ALICE_METRICS_URL" qkd_delivered_bits_total link=bob)
wait_for 20 bash -c "[ \$($MC value $ALICE_METRICS_URL qkd_ring_available_bytes link=bob) -ge 131072 ]" ||
    fail "alice's ring did not fill to 128 KiB"
a0=$(val "$ALICE_METRICS_URL" qkd_ring_available_bytes link=bob)
ksid=$(client alice "$ALICE_ADDR" open --destination server://bob --chunk-size 1024 --qos-timeout 3000) ||
    fail "open at alice"
client bob "$BOB_ADDR" open --destination server://alice --ksid "$ksid" --chunk-size 1024 \
    --qos-timeout 3000 >/dev/null || fail "join at bob"
client alice "$ALICE_ADDR" get --ksid "$ksid" --count 64 >"$T/keys" || fail "GET_KEY x64 at alice"
a1=$(val "$ALICE_METRICS_URL" qkd_ring_available_bytes link=bob)
k1=$(val "$ALICE_METRICS_URL" qkd_keys_delivered_total link=bob api=004)
b1=$(val "$ALICE_METRICS_URL" qkd_delivered_bits_total link=bob)
[ "$k1" -eq $((k0 + 64)) ] || fail "keys delivered $k0 -> $k1 after 64 GET_KEY"
[ "$b1" -eq $((b0 + 64 * 1024 * 8)) ] || fail "bits delivered $b0 -> $b1 after 64 KiB"
ok "64 GET_KEY: qkd_keys_delivered_total $k0 -> $k1, qkd_delivered_bits_total $b0 -> $b1"
# the keygen adds 50 kB/s meanwhile; 64 KiB taken at once must show
[ "$a1" -lt "$a0" ] || fail "ring available did not fall: $a0 -> $a1"
ok "ring available fell: $a0 -> $a1"
wait_for 10 bash -c "[ \$($MC value $ALICE_METRICS_URL qkd_ring_available_bytes link=bob) -gt $((a1 + 20000)) ]" ||
    fail "ring available did not rise after $a1"
ok "ring available rose again: $a1 -> $(val "$ALICE_METRICS_URL" qkd_ring_available_bytes link=bob)"
client alice "$ALICE_ADDR" close --ksid "$ksid" >/dev/null
client bob "$BOB_ADDR" close --ksid "$ksid" >/dev/null
s=$(val "$ALICE_KEYGEN_METRICS_URL" qkd_skr_measured_bits_per_second link=bob)
sleep 1.2
s=$(val "$ALICE_KEYGEN_METRICS_URL" qkd_skr_measured_bits_per_second link=bob)
python3 -c "import sys; s=float('$s'); sys.exit(0 if 200000 < s < 800000 else 1)" ||
    fail "measured SKR $s not near the configured 400000"
ok "keygen measured SKR $s bit/s (configured 400000)"

# --- hybrid keys and the exchange histogram move with a hybrid GET_KEY ---------------------------
h0=$(val "$ALICE_HYBRID_METRICS_URL" qkd_hybrid_keys_total peer=bob method=hkdf)
SRC='hybrid://app@alice?hybridization=hkdf&key_sources=QKD,ML-KEM-768'
DST='hybrid://app@bob'
hk=$(client alice "$ALICE_HYBRID_ADDR" open --source "$SRC" --destination "$DST") || fail "hybrid open at alice"
client bob "$BOB_HYBRID_ADDR" open --source "$SRC" --destination "$DST" --ksid "$hk" >/dev/null ||
    fail "hybrid open at bob"
client alice "$ALICE_HYBRID_ADDR" get --ksid "$hk" --count 3 >"$T/ha" &
hpid=$!
client bob "$BOB_HYBRID_ADDR" get --ksid "$hk" --count 3 >"$T/hb" || fail "hybrid get at bob"
wait "$hpid" || fail "hybrid get at alice"
cmp -s "$T/ha" "$T/hb" || fail "hybrid keys differ"
h1=$(val "$ALICE_HYBRID_METRICS_URL" qkd_hybrid_keys_total peer=bob method=hkdf)
hc=$(val "$ALICE_HYBRID_METRICS_URL" qkd_hybrid_exchange_duration_seconds_count peer=bob)
[ "$h1" -eq $((h0 + 3)) ] || fail "qkd_hybrid_keys_total $h0 -> $h1 after 3 hybrid keys"
[ "$hc" -ge 3 ] || fail "exchange duration histogram count $hc"
ok "3 hybrid keys: qkd_hybrid_keys_total{method=hkdf} $h0 -> $h1, histogram count $hc"

# --- qkd-status: one screen, and --json ----------------------------------------------------------
"$QKD_BIN/qkd-status" "$ALICE_METRICS_URL" >"$T/st" || fail "qkd-status: $(cat "$T/st")"
grep -q '^qkd-kme alice .* health: ok' "$T/st" || fail "qkd-status header: $(cat "$T/st")"
grep -qE '^bob +up +up ' "$T/st" || fail "qkd-status link row: $(cat "$T/st")"
"$QKD_BIN/qkd-status" --json "$ALICE_METRICS_URL" | python3 -c '
import json, sys
o = json.load(sys.stdin)
l = o["links"][0]
assert o["program"] == "qkd-kme" and o["node"] == "alice" and o["health"]["status"] == "ok", o
assert l["name"] == "bob" and l["up"] and l["peer_sync_up"] and l["keys_served"] >= 64, l
' || fail "qkd-status --json"
ok "qkd-status: $(sed -n 3p "$T/st")"

# --- link up drops when a keygen stops, healthz turns 503, then both recover ------------------
pid=$(awk '$2 == "keygen-alice-bob" {print $1}' "$NET/pids")
[ -n "$pid" ] || fail "no pid of keygen-alice-bob in $NET/pids"
kill -STOP "$pid"
STOPPED=$pid
bob_kg_down() { [ "$($MC value "$BOB_KEYGEN_METRICS_URL" qkd_link_up link=alice)" = 0 ]; }
alice_kme_down() { [ "$($MC value "$ALICE_METRICS_URL" qkd_link_up link=bob)" = 0 ]; }
wait_for 20 bob_kg_down || fail "bob's keygen still shows link up 20 s after alice's stopped"
wait_for 20 alice_kme_down || fail "alice's key server still shows link up"
code=$($MC get "$BOB_KEYGEN_METRICS_URL/healthz" "$T/hz")
[ "$code" = 503 ] || fail "bob's keygen /healthz answered $code with the link down"
grep -q '"reasons":\["link to alice down' "$T/hz" || fail "no reason in $(cat "$T/hz")"
"$QKD_BIN/qkd-status" "$BOB_KEYGEN_METRICS_URL" >"$T/st" 2>&1
rc=$?
[ "$rc" = 3 ] || fail "qkd-status exit $rc (want 3, unhealthy) with the link down: $(cat "$T/st")"
grep -qE '^alice +DOWN' "$T/st" || fail "qkd-status does not show the link down: $(cat "$T/st")"
ok "keygen stopped: qkd_link_up 0 at bob's keygen and alice's key server; healthz 503 $(cat "$T/hz")"
kill -CONT "$pid"
STOPPED=""
bob_kg_up() { [ "$($MC value "$BOB_KEYGEN_METRICS_URL" qkd_link_up link=alice)" = 1 ]; }
alice_kme_up() { [ "$($MC value "$ALICE_METRICS_URL" qkd_link_up link=bob)" = 1 ]; }
wait_for 30 bob_kg_up || fail "link did not come back at bob's keygen"
wait_for 10 alice_kme_up || fail "link did not come back at alice's key server"
code=$($MC get "$BOB_KEYGEN_METRICS_URL/healthz")
[ "$code" = 200 ] || fail "bob's keygen /healthz answered $code after recovery"
ok "keygen resumed: link up 1 and healthz 200 again"

# --- a real Prometheus parser ----------------------------------------------------------------
PKG=$CACHE/pip/prometheus_client-$PC_VERSION
if [ ! -f "$PKG/prometheus_client/parser.py" ]; then
    mkdir -p "$CACHE/pip" 2>/dev/null
    tmp=$PKG.tmp.$$
    rm -rf "$tmp"
    printf 'prometheus-client==%s --hash=sha256:%s\n' "$PC_VERSION" "$PC_SHA256" >"$T/pc.txt"
    if timeout 300 python3 -m pip install --disable-pip-version-check --no-deps --no-compile \
        --only-binary :all: --require-hashes -r "$T/pc.txt" --target "$tmp" >"$T/pip.log" 2>&1 &&
        [ -f "$tmp/prometheus_client/parser.py" ]; then
        rm -rf "$PKG"
        mv "$tmp" "$PKG"
        ok "prometheus_client $PC_VERSION installed into $PKG"
    else
        rm -rf "$tmp"
        echo "SKIP: prometheus_client $PC_VERSION not cached in $PKG and pip could not fetch it: $(tail -n 2 "$T/pip.log")"
        PKG=""
    fi
fi
if [ -n "$PKG" ]; then
    PYTHONPATH=$PKG $MC parse $URLS || fail "an exposition does not parse with prometheus_client"
    ok "every exposition parses with prometheus_client $PC_VERSION"
fi
# no KSID may appear anywhere in an exposition
for u in $URLS; do
    $MC get "$u/metrics" "$T/m" >/dev/null
    for k in "$ksid" "$hk"; do grep -qi -- "$k" "$T/m" && fail "$u/metrics carries a KSID"; done
done
ok "no KSID in any exposition"

# --- the status page in a real browser --------------------------------------------------------
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
    echo "SKIP: status page screenshot: no chromium installed (Debian: apt-get install chromium)"
else
    mkdir -p "$ART"
    shot=$(cd "$ART" && pwd)/status-page.png
    rm -f "$shot"
    # virtual time lets the page's script fetch /metrics a few times before the shot
    timeout 90 "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --user-data-dir="$T/chromium" --virtual-time-budget=7000 --window-size=1280,900 \
        --screenshot="$shot" "$ALICE_METRICS_URL/" >"$T/chromium.log" 2>&1
    if [ ! -s "$shot" ]; then
        if grep -qiE 'cannot open display|namespace|sandbox|Trace/breakpoint|shared libraries' "$T/chromium.log"; then
            echo "SKIP: status page screenshot: chromium cannot run here: $(tail -n 2 "$T/chromium.log")"
        else
            fail "chromium wrote no screenshot: $(tail -n 5 "$T/chromium.log")"
        fi
    else
        n=$($MC colours "$shot") || fail "cannot read $shot"
        [ "$n" -ge 8 ] || fail "status page screenshot looks blank: $n distinct colours"
        ok "status page screenshot: $shot ($n distinct colours)"
    fi
fi
echo "PASS"
