#!/usr/bin/env bash
# client_rest_fake.sh: qkd-bench rest and qkd-client rest against a scripted ETSI 014 server
# (etsi014_fake.py; docs/client.md): a clean run exits 0 with every pair counted; dec keys that
# differ from their enc keys end the run with exit 3 and a MISMATCH line; a server that closes
# the connection after every answer is followed (a new connection per call), for GET and POST.
# Needs QKD_BIN and QKD_TEST_CERTS; every wait is bounded.
set -u
: "${QKD_BIN:?}" "${QKD_TEST_CERTS:?}"
C=$QKD_TEST_CERTS
T=$(mktemp -d "${TMPDIR:-/tmp}/rest-fake.XXXXXX")
FAKE_PID=
FAILS=0
cleanup() {
    [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null && wait "$FAKE_PID" 2>/dev/null
    [ "$FAILS" -eq 0 ] && rm -rf "$T" || echo "output kept in $T" >&2
}
trap cleanup EXIT
ok() { echo "ok: $*"; }
fail() {
    echo "FAIL: $*" >&2
    FAILS=$((FAILS + 1))
}
check() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: expected '$2', got '$3'"; fi; }

fake() { # starts the fake server with the given options; sets URL
    [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null && wait "$FAKE_PID" 2>/dev/null
    rm -f "$T/port"
    python3 "$(dirname "$0")/etsi014_fake.py" "$C" "$T/port" "$@" 2>>"$T/fake.log" &
    FAKE_PID=$!
    local i
    for ((i = 0; i < 200; i++)); do
        [ -s "$T/port" ] && break
        sleep 0.05
    done
    [ -s "$T/port" ] || {
        fail "the fake server did not start: $(cat "$T/fake.log")"
        exit 1
    }
    URL="https://127.0.0.1:$(cat "$T/port")"
}
bench() { # bench NAME args... : qkd-bench rest against $URL for both ends; output in $T/NAME
    local name=$1
    shift
    timeout 120 "$QKD_BIN/qkd-bench" rest --master-url "$URL" --slave-url "$URL" \
        --master-cert "$C/alice/client.pem" --master-key "$C/alice/client.key" \
        --slave-cert "$C/bob/client.pem" --slave-key "$C/bob/client.key" --ca "$C/ca.pem" \
        --master alice-app --slave bob-app --seconds 60 "$@" >"$T/$name" 2>&1
}
pairs() { awk '$1=="pairs"{print $2}' "$T/$1"; }

fake
bench clean --pairs 100 --conns 4 --number 3 --size 512
check "clean run exits 0" 0 $?
check "clean run: 100 pairs" 100 "$(pairs clean)"
check "clean run: keys/s line" 1 "$(grep -cE '^  keys/s +[0-9.]+$' "$T/clean")"
check "clean run: enc and dec latency lines" 2 "$(grep -cE '^  (enc|dec) ms +p50 [0-9.]+  p99 [0-9.]+' "$T/clean")"

fake --corrupt-after 5
bench mismatch --pairs 100 --conns 1
check "dec keys differing from enc keys: exit 3" 3 $?
grep -q "MISMATCH: dec key [0-9a-f-]\{36\} differs from its enc key" "$T/mismatch"
check "the mismatch is named" 0 $?
check "the run stopped at the first mismatch" 6 "$(pairs mismatch)"

fake --close
for post in "" --post; do
    bench close$post --pairs 30 --conns 2 $post
    check "server closing after every answer ${post:-GET}: exit 0" 0 $?
    check "server closing after every answer ${post:-GET}: 30 pairs" 30 "$(pairs close$post)"
done
K=$(timeout 60 "$QKD_BIN/qkd-client" --url "$URL" --cert "$C/alice/client.pem" \
    --key "$C/alice/client.key" --ca "$C/ca.pem" rest enc --slave bob-app --number 2 --size 64)
check "qkd-client rest enc: two lines" 2 "$(wc -l <<<"$K")"
D=$(timeout 60 "$QKD_BIN/qkd-client" --url "$URL" --cert "$C/bob/client.pem" \
    --key "$C/bob/client.key" --ca "$C/ca.pem" rest dec --master alice-app --post \
    $(awk '{printf "--key-id %s ", $1}' <<<"$K"))
check "qkd-client rest dec --post: the same keys" "$K" "$D"

[ "$FAILS" -eq 0 ] && echo "all checks passed" || {
    echo "$FAILS check(s) failed" >&2
    exit 1
}
