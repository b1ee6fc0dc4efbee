# keygen_lib.sh: helpers sourced by the keygen integration tests: a unique temp dir and ring
# prefix per test, starting/stopping keygen ends, reading rings with qkd-ringcheck, assertions,
# and clean-up of every process and ring on exit.
set -u
: "${QKD_BIN:?QKD_BIN must name the build bin dir}"
: "${QKD_TEST_CERTS:?QKD_TEST_CERTS must name the test certificate dir}"

KG_TEST=$(basename "$0" .sh)
KG_DIR=$(mktemp -d "/tmp/${KG_TEST}.XXXXXX")
KG_PREFIX="/qkdt-${KG_TEST}-$$-" # the cleanup removes /dev/shm/<this prefix>* only
KG_PIDS=()
CERTS=$QKD_TEST_CERTS

kg_cleanup() {
    local p
    for p in "${KG_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    sleep 0.3
    for p in "${KG_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    case "$KG_PREFIX" in
    /qkdt-"$KG_TEST"-*-) rm -f /dev/shm/"${KG_PREFIX#/}"* 2>/dev/null ;;
    esac
    if [ "${KG_KEEP:-0}" != 1 ]; then rm -rf "$KG_DIR"; fi
}
trap kg_cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    for f in "$KG_DIR"/*.log; do
        [ -f "$f" ] || continue
        echo "--- $f (tail)" >&2
        tail -n 20 "$f" >&2
    done
    exit 1
}

# start_receiver NODE PEER LOGNAME [extra args...]: prints nothing; sets RECV_PID, RECV_PORT.
start_receiver() {
    local node=$1 peer=$2 log=$3
    shift 3
    rm -f "$KG_DIR/$log.port"
    "$QKD_BIN/qkd-keygen" --mode receiver --ring "${KG_PREFIX}${node}-${peer}" --port 0 \
        --port-file "$KG_DIR/$log.port" --cert "$CERTS/$node/node.pem" \
        --key "$CERTS/$node/node.key" --ca "$CERTS/ca.pem" --peer-name "$peer" \
        "$@" >>"$KG_DIR/$log.log" 2>&1 &
    RECV_PID=$!
    KG_PIDS+=("$RECV_PID")
    local i
    for i in $(seq 1 100); do
        [ -s "$KG_DIR/$log.port" ] && break
        kill -0 "$RECV_PID" 2>/dev/null || fail "receiver $node exited at start"
        sleep 0.05
    done
    [ -s "$KG_DIR/$log.port" ] || fail "receiver $node wrote no port file"
    RECV_PORT=$(cat "$KG_DIR/$log.port")
}

# start_sender NODE PEER PORT LOGNAME [extra args...]: sets SEND_PID.
start_sender() {
    local node=$1 peer=$2 port=$3 log=$4
    shift 4
    "$QKD_BIN/qkd-keygen" --mode sender --ring "${KG_PREFIX}${node}-${peer}" --port "$port" \
        --cert "$CERTS/$node/node.pem" --key "$CERTS/$node/node.key" --ca "$CERTS/ca.pem" \
        --peer-name "$peer" "$@" >>"$KG_DIR/$log.log" 2>&1 &
    SEND_PID=$!
    KG_PIDS+=("$SEND_PID")
}

# stop PID: SIGTERM and wait for a clean exit (status 0).
stop() {
    kill -TERM "$1" 2>/dev/null || fail "process $1 is not running"
    local rc=0
    wait "$1" || rc=$?
    [ "$rc" = 0 ] || fail "process $1 exited with status $rc after SIGTERM"
}

# ring_field NODE-PEER FIELD [ringcheck args...]: one value from qkd-ringcheck. A NODE-PEER
# starting with "/" is a full ring name.
ring_field() {
    local ring=$1 field=$2
    shift 2
    case "$ring" in /*) ;; *) ring="${KG_PREFIX}${ring}" ;; esac
    "$QKD_BIN/qkd-ringcheck" "$ring" "$@" 2>>"$KG_DIR/ringcheck.log" |
        sed -n "s/^${field}=//p"
}

# wait_for_log LOGNAME PATTERN [SECONDS]
wait_for_log() {
    local i n=$(( ${3:-10} * 20 ))
    for i in $(seq 1 "$n"); do
        grep -q -- "$2" "$KG_DIR/$1.log" 2>/dev/null && return 0
        sleep 0.05
    done
    fail "no '$2' in $1.log within ${3:-10} s"
}

# assert_same_bytes A B: both rings hold identical bytes over their common range [0, min).
# Reads the primary first: the secondary is never behind it.
assert_same_bytes() {
    local wa wb lo ha hb
    wa=$(ring_field "$1" write)
    wb=$(ring_field "$2" write)
    [ -n "$wa" ] && [ -n "$wb" ] || fail "cannot read rings $1 / $2"
    lo=$wa
    [ "$wb" -lt "$lo" ] && lo=$wb
    ha=$(ring_field "$1" sha256 --from "${3:-0}" --to "$lo")
    hb=$(ring_field "$2" sha256 --from "${3:-0}" --to "$lo")
    [ -n "$ha" ] && [ "$ha" = "$hb" ] || fail "rings $1 and $2 differ over [${3:-0}, $lo): $ha vs $hb"
    echo "rings $1 ($wa) and $2 ($wb) agree over [${3:-0}, $lo): sha256 ${ha:0:16}..."
    COMMON=$lo
}
