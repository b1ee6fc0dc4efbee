# client_lib.sh: helpers for the qkd-client integration tests (sourced): a private local
# network (scripts/local-net.sh) torn down on exit, check helpers, and the client command
# lines for alice and bob.
set -euo pipefail

: "${QKD_BIN:?QKD_BIN must name the build bin dir}"
: "${QKD_SRC:?QKD_SRC must name the repository root}"
CLIENT="$QKD_BIN/qkd-client"
BENCH="$QKD_BIN/qkd-bench"

T_FAILS=0
fail() {
    echo "FAIL: $*" >&2
    T_FAILS=$((T_FAILS + 1))
}
ok() { echo "ok: $*"; }

# expect_exit WANT DESC -- command...: runs the command (stdout to $T_OUT, stderr to $T_ERR)
# and checks its exit status.
expect_exit() {
    local want=$1 desc=$2
    shift 3
    local rc=0
    "$@" >"$T_OUT" 2>"$T_ERR" || rc=$?
    if [ "$rc" -eq "$want" ]; then
        ok "$desc (exit $rc)"
    else
        fail "$desc: exit $rc, want $want; stderr: $(head -c 400 "$T_ERR")"
    fi
}

# expect_err TEXT DESC: stderr of the last expect_exit contains TEXT.
expect_err() {
    if grep -qF -- "$1" "$T_ERR"; then ok "$2"; else fail "$2: stderr lacks '$1': $(head -c 400 "$T_ERR")"; fi
}

client_net_up() {
    T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/qkd-client-it.XXXXXX")
    T_OUT=$T_DIR/out
    T_ERR=$T_DIR/err
    trap client_net_down EXIT
    trap 'exit 130' INT TERM
    QKD_BIN="$QKD_BIN" LOCALNET_WAIT_S=30 timeout 90 bash "$QKD_SRC/scripts/local-net.sh" up \
        "$T_DIR/net" >"$T_DIR/localnet.log" 2>&1 || {
        cat "$T_DIR/localnet.log" >&2
        echo "FAIL: local-net.sh up" >&2
        exit 1
    }
    # shellcheck disable=SC1091
    source "$T_DIR/net/env"
    A=(--server "$ALICE_ADDR" --cert "$ALICE_CLIENT_CERT_PEM" --key "$ALICE_CLIENT_KEY_PEM" --ca "$CA_PEM")
    B=(--server "$BOB_ADDR" --cert "$BOB_CLIENT_CERT_PEM" --key "$BOB_CLIENT_KEY_PEM" --ca "$CA_PEM")
}

client_net_down() {
    local rc=$?
    if [ -n "${T_DIR:-}" ] && [ -d "$T_DIR/net" ]; then
        timeout 30 bash "$QKD_SRC/scripts/local-net.sh" down "$T_DIR/net" >/dev/null 2>&1 || true
    fi
    if [ "$rc" -ne 0 ] || [ "$T_FAILS" -ne 0 ]; then
        for f in "$T_DIR"/net/logs/kme-*.log; do
            [ -f "$f" ] && { echo "--- $f (tail)" >&2; tail -n 15 "$f" >&2; }
        done
    fi
    [ -n "${T_DIR:-}" ] && rm -rf "$T_DIR"
    if [ "$T_FAILS" -ne 0 ]; then
        echo "$T_FAILS check(s) failed" >&2
        exit 1
    fi
    exit "$rc"
}
