# kme_lib.sh: helpers for the qkd-kme integration tests (sourced, bash). Starts keygen pairs
# and key servers on 127.0.0.1 with ports from port files, ring names unique to the test, logs
# in $T/logs, and stops exactly the processes it started (trap). Needs QKD_BIN and
# QKD_TEST_CERTS (the qkd_certs fixture).
set -u

: "${QKD_BIN:?QKD_BIN must point at the build bin directory}"
: "${QKD_TEST_CERTS:?QKD_TEST_CERTS must point at the test certificates (qkd_certs fixture)}"
CERTS=$QKD_TEST_CERTS
T=$(mktemp -d "${TMPDIR:-/tmp}/kme-test.XXXXXX")
mkdir -p "$T/logs" "$T/run"
RING_PREFIX="/qkdt-$$-$RANDOM-"
PIDS=()
declare -A PID_OF
FAILS=0

kl_cleanup() {
    local p rc=$? i
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for ((i = 0; i < 50; i++)); do
        local alive=0
        for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -f /dev/shm/"${RING_PREFIX#/}"* 2>/dev/null
    # sanitizer builds: a report in any log fails the test
    if grep -lE "AddressSanitizer|LeakSanitizer|runtime error:" "$T"/logs/*.log 2>/dev/null; then
        echo "FAIL: sanitizer report in the logs above" >&2
        FAILS=$((FAILS + 1))
    fi
    if [ "${KEEP_T:-0}" = 1 ] || [ "$FAILS" -ne 0 ]; then
        echo "logs kept in $T" >&2
        for f in "$T"/logs/*.log; do
            echo "----- $f (tail)" >&2
            tail -n 30 "$f" >&2
        done
    else
        rm -rf "$T"
    fi
    [ "$FAILS" -ne 0 ] && exit 1
    exit $rc
}
trap kl_cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    FAILS=$((FAILS + 1))
}
ok() { echo "ok: $*"; }
die() {
    echo "FATAL: $*" >&2
    FAILS=$((FAILS + 1))
    exit 1
}
# check DESCRIPTION EXPECTED ACTUAL
check() {
    if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: expected '$2', got '$3'"; fi
}

wait_file() { # file timeout_s
    local i
    for ((i = 0; i < $2 * 20; i++)); do
        [ -s "$1" ] && return 0
        sleep 0.05
    done
    return 1
}

# kill9 PID : SIGKILL one process this test started, quietly.
kill9() {
    kill -9 "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

ring_name() { echo "${RING_PREFIX}$1-$2"; }
# KG_RING_BYTES (optional): ring capacity of the keygens started below (default: theirs).

# start_keygen_pair PRIMARY SECONDARY [SKR_BPS] : sender at PRIMARY, receiver at SECONDARY.
start_keygen_pair() {
    local a=$1 b=$2 skr=${3:-1000000}
    rm -f "$T/run/keygen-$b-$a.port"
    "$QKD_BIN/qkd-keygen" --mode receiver --host 127.0.0.1 --port 0 \
        --port-file "$T/run/keygen-$b-$a.port" --ring "$(ring_name "$b" "$a")" \
        --cert "$CERTS/$b/node.pem" --key "$CERTS/$b/node.key" --ca "$CERTS/ca.pem" \
        --peer-name "$a" --block-bytes 256 ${KG_RING_BYTES:+--ring-bytes $KG_RING_BYTES} --heartbeat-ms 200 --link-timeout-ms 1500 \
        >>"$T/logs/keygen-$b-$a.log" 2>&1 &
    PIDS+=($!)
    PID_OF[keygen-$b-$a]=$!
    wait_file "$T/run/keygen-$b-$a.port" 10 || die "keygen receiver $b did not start"
    start_keygen_sender "$a" "$b" "$skr"
}

start_keygen_sender() {
    local a=$1 b=$2 skr=${3:-1000000}
    "$QKD_BIN/qkd-keygen" --mode sender --host 127.0.0.1 \
        --port "$(cat "$T/run/keygen-$b-$a.port")" --ring "$(ring_name "$a" "$b")" \
        --cert "$CERTS/$a/node.pem" --key "$CERTS/$a/node.key" --ca "$CERTS/ca.pem" \
        --peer-name "$b" --skr-bps "$skr" --block-bytes 256 ${KG_RING_BYTES:+--ring-bytes $KG_RING_BYTES} --heartbeat-ms 200 \
        --link-timeout-ms 1500 >>"$T/logs/keygen-$a-$b.log" 2>&1 &
    PIDS+=($!)
    PID_OF[keygen-$a-$b]=$!
}

# restart_keygen_receiver SECONDARY PRIMARY : same port as before.
restart_keygen_receiver() {
    local b=$1 a=$2
    "$QKD_BIN/qkd-keygen" --mode receiver --host 127.0.0.1 \
        --port "$(cat "$T/run/keygen-$b-$a.port")" --ring "$(ring_name "$b" "$a")" \
        --cert "$CERTS/$b/node.pem" --key "$CERTS/$b/node.key" --ca "$CERTS/ca.pem" \
        --peer-name "$a" --block-bytes 256 ${KG_RING_BYTES:+--ring-bytes $KG_RING_BYTES} --heartbeat-ms 200 --link-timeout-ms 1500 \
        >>"$T/logs/keygen-$b-$a.log" 2>&1 &
    PIDS+=($!)
    PID_OF[keygen-$b-$a]=$!
}

# start_kme NODE [extra args...] : links given as --link args by the caller.
start_kme() {
    local n=$1
    shift
    rm -f "$T/run/kme-$n.port"
    "$QKD_BIN/qkd-kme" --node "$n" --address 127.0.0.1 --port "${KME_PORT_OF[$n]:-0}" \
        --port-file "$T/run/kme-$n.port" --cert "$CERTS/$n/node.pem" \
        --key "$CERTS/$n/node.key" --ca "$CERTS/ca.pem" --heartbeat-ms 200 \
        --peer-timeout-ms 1500 --log-level "${KME_LOG_LEVEL:-INFO}" "$@" \
        >>"$T/logs/kme-$n.log" 2>&1 &
    PIDS+=($!)
    PID_OF[kme-$n]=$!
    wait_file "$T/run/kme-$n.port" 10 || die "kme $n did not start"
    KME_PORT_OF[$n]=$(cat "$T/run/kme-$n.port")
}
declare -A KME_PORT_OF

# leader_listen NODE : a free-port peer-sync listener, port file in $T/run/peer-NODE.port
peer_port_file() { echo "$T/run/peer-$1.port"; }

# start_pair [SKR_BPS] [extra kme args] : alice (leader) and bob (follower) with one link.
start_pair() {
    local skr=${1:-1000000}
    shift || true
    start_keygen_pair alice bob "$skr"
    start_kme alice --peer-listen 127.0.0.1:${PEER_PORT_ALICE:-0} \
        --peer-port-file "$(peer_port_file alice)" \
        --link "peer=bob,role=leader,ring=$(ring_name alice bob)" "$@"
    wait_file "$(peer_port_file alice)" 10 || die "alice peer listener"
    PEER_PORT_ALICE=$(cat "$(peer_port_file alice)")
    start_kme bob --link \
        "peer=alice,role=follower,ring=$(ring_name bob alice),addr=127.0.0.1:$PEER_PORT_ALICE" \
        "$@"
    wait_peer_up bob alice 10 || die "peer sync bob-alice did not come up"
    wait_ring_attached alice bob 10 || die "alice did not attach its ring"
    wait_ring_attached bob alice 10 || die "bob did not attach its ring"
}

# wait_ring_attached NODE PEER TIMEOUT_S : the key server has attached its ring for the link to
# PEER (until then OPEN_CONNECT answers 4, no QKD connection).
wait_ring_attached() {
    local i
    for ((i = 0; i < $3 * 20; i++)); do
        grep -q "link $2: ring .* attached" "$T/logs/kme-$1.log" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# wait_peer_up NODE PEER TIMEOUT_S : waits for the "peer sync with PEER ... up" log line count
# to grow beyond $2-th occurrence (use wait_peer_upn for a count).
wait_peer_up() { wait_peer_upn "$1" "$2" 1 "$3"; }
wait_peer_upn() {
    local i
    for ((i = 0; i < $4 * 20; i++)); do
        local c
        c=$(grep -c "peer sync with $2 .* up" "$T/logs/kme-$1.log" 2>/dev/null)
        [ "${c:-0}" -ge "$3" ] && return 0
        sleep 0.05
    done
    return 1
}

# client NODE [IDENTITY_CERT_BASE] -- args : runs qkd-client against NODE's key server as
# NODE's application (or the identity whose cert/key base path is given).
client() {
    local n=$1 id=${2:-}
    shift 2
    local cert="$CERTS/$n/client.pem" key="$CERTS/$n/client.key"
    if [ -n "$id" ]; then
        cert="$id.pem"
        key="$id.key"
    fi
    "$QKD_BIN/qkd-client" --server "127.0.0.1:${KME_PORT_OF[$n]}" --cert "$cert" --key "$key" \
        --ca "$CERTS/ca.pem" --timeout 30000 "$@"
}

finish() {
    if [ "$FAILS" -ne 0 ]; then
        echo "$FAILS check(s) failed" >&2
        exit 1
    fi
    echo "all checks passed"
    exit 0
}
