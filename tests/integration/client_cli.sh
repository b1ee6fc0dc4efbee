#!/usr/bin/env bash
# client_cli.sh: qkd-client against real key servers on loopback (scripts/local-net.sh): every
# ETSI status reachable from the CLI gives its exit status and one-line message; --json carries
# the same keys as text; flow at alice and get at bob print the same 1000 keys; key files are
# 0600; formats; transport and usage errors; Ctrl-C during a long get.
source "$(dirname "$0")/client_lib.sh"
client_net_up

# --- help and usage errors (exit 1) ---
expect_exit 0 "--help" -- "$CLIENT" --help
for o in server cert key ca framing timeout json format out source destination ksid index \
    count metadata-size chunk-size max-bps min-bps jitter priority qos-timeout ttl mimetype; do
    grep -q -- "--$o" "$T_OUT" || fail "--help does not document --$o"
done
grep -q "Exit status" "$T_OUT" || fail "--help lacks the exit statuses"
grep -q "Examples" "$T_OUT" || fail "--help lacks examples"
expect_exit 1 "unknown option" -- "$CLIENT" "${A[@]}" open --bogus
expect_exit 1 "no command" -- "$CLIENT" "${A[@]}"
expect_exit 1 "get without --ksid" -- "$CLIENT" "${A[@]}" get
expect_err "needs --ksid" "get without --ksid names the option"
expect_exit 1 "bad --ksid" -- "$CLIENT" "${A[@]}" close --ksid not-a-uuid
expect_exit 1 "--count 0" -- "$CLIENT" "${A[@]}" get --ksid 00000000-0000-0000-0000-000000000001 --count 0
expect_exit 1 "QoS option on get" -- "$CLIENT" "${A[@]}" get --ksid 00000000-0000-0000-0000-000000000001 --max-bps 5
expect_exit 1 "--json with raw" -- "$CLIENT" "${A[@]}" --json --format raw open
expect_exit 1 "missing cert file" -- "$CLIENT" --server "$ALICE_ADDR" --cert /nonexistent.pem \
    --key "$ALICE_CLIENT_KEY_PEM" --ca "$CA_PEM" open

# --- transport errors (exit 2) ---
expect_exit 2 "connection refused" -- "$CLIENT" --server 127.0.0.1:1 --cert "$ALICE_CLIENT_CERT_PEM" \
    --key "$ALICE_CLIENT_KEY_PEM" --ca "$CA_PEM" open
expect_err "OPEN_CONNECT failed: cannot connect to 127.0.0.1:1" "refused names the call"
if [ -n "${QKD_TEST_CERTS:-}" ] && [ -f "$QKD_TEST_CERTS-other/ca.pem" ]; then
    expect_exit 2 "untrusted server CA" -- "$CLIENT" "${A[@]}" --ca "$QKD_TEST_CERTS-other/ca.pem" open
    expect_err "TLS handshake" "untrusted CA is a TLS failure"
    expect_exit 2 "client certificate of another CA" -- "$CLIENT" --server "$ALICE_ADDR" \
        --cert "$QKD_TEST_CERTS-other/clients/stranger.pem" \
        --key "$QKD_TEST_CERTS-other/clients/stranger.key" --ca "$CA_PEM" open
fi

# --- environment variables (flags win) ---
host=${ALICE_ADDR%:*}
port=${ALICE_ADDR##*:}
rc=0
K_ENV=$(SERVER_ADDRESS=$host SERVER_PORT=$port CLIENT_CERT_PEM=$ALICE_CLIENT_CERT_PEM \
    CLIENT_CERT_KEY=$ALICE_CLIENT_KEY_PEM SERVER_CERT_PEM=$CA_PEM QOS_KEY_CHUNK_SIZE=16 \
    "$CLIENT" --json open 2>"$T_ERR") || rc=$?
[ "$rc" -eq 0 ] || fail "open from the environment: exit $rc $(cat "$T_ERR")"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["status"]==0 and d["qos"]["key_chunk_size"]==16, d' "$K_ENV" &&
    ok "environment: SERVER_ADDRESS/PORT, certs and QOS_KEY_CHUNK_SIZE" || fail "environment open: $K_ENV"
rc=0
SERVER_ADDRESS=127.0.0.1 SERVER_PORT=1 "$CLIENT" "${A[@]}" --json open >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 0 ] && ok "--server wins over SERVER_ADDRESS" || fail "--server lost to env (exit $rc)"

# --- ETSI statuses ---
expect_exit 14 "status 4: source without authority" -- "$CLIENT" "${A[@]}" open --source client
expect_err "OPEN_CONNECT failed: status 4 (no QKD connection available)" "status 4 message"
expect_exit 16 "status 6: QoS timeout 0" -- "$CLIENT" "${A[@]}" open --qos-timeout 0
expect_err "OPEN_CONNECT failed: status 6 (timeout)" "status 6 message"
expect_exit 0 "status 7: Max_bps over the limit is a success" -- "$CLIENT" "${A[@]}" open --max-bps 4000000000
expect_err "status 7" "status 7 is reported on stderr"
K7=$(head -n 1 "$T_OUT")
expect_exit 0 "status 7 KSID is usable" -- "$CLIENT" "${A[@]}" get --ksid "$K7"
expect_exit 0 "close after status 7" -- "$CLIENT" "${A[@]}" close --ksid "$K7"
KNEW=$(python3 -c 'import uuid; print(uuid.uuid4())')
expect_exit 0 "status 1: predefined KSID, peer not connected" -- "$CLIENT" "${A[@]}" open --ksid "$KNEW"
expect_err "status 1" "status 1 is reported on stderr"
grep -qx "$KNEW" "$T_OUT" || fail "open with --ksid prints that KSID"
expect_exit 15 "status 5: KSID already in use" -- "$CLIENT" "${A[@]}" open --ksid "$KNEW"
expect_err "OPEN_CONNECT failed: status 5 (KSID already in use)" "status 5 message"
expect_exit 0 "open for GET tests" -- "$CLIENT" "${A[@]}" open
K=$(head -n 1 "$T_OUT")
expect_exit 12 "status 2: index far outside the window" -- "$CLIENT" "${A[@]}" get --ksid "$K" --index 1000000
expect_err "GET_KEY failed: status 2 (insufficient key available)" "status 2 message"
expect_exit 18 "status 8: metadata buffer too small" -- "$CLIENT" "${A[@]}" get --ksid "$K" --metadata-size 4
expect_err "GET_KEY failed: status 8" "status 8 message"
expect_exit 0 "metadata size 0: key without metadata" -- "$CLIENT" "${A[@]}" --json get --ksid "$K" --metadata-size 0
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["keys"][0]["metadata"] is None, d' "$T_OUT" ||
    fail "metadata size 0 still returned metadata"
UNKNOWN=$(python3 -c 'import uuid; print(uuid.uuid4())')
expect_exit 13 "status 3: GET_KEY on an unknown KSID" -- "$CLIENT" "${A[@]}" get --ksid "$UNKNOWN"
expect_err "GET_KEY failed: status 3 (" "status 3 message"
expect_exit 13 "status 3: CLOSE on an unknown KSID" -- "$CLIENT" "${A[@]}" close --ksid "$UNKNOWN"
expect_err "CLOSE failed: status 3 (" "status 3 message on CLOSE"
expect_exit 0 "close" -- "$CLIENT" "${A[@]}" close --ksid "$K"
expect_exit 13 "status 3: GET_KEY after CLOSE" -- "$CLIENT" "${A[@]}" get --ksid "$K" --index 5

# --- --json carries the same keys as text (alice flow --json, bob get text) ---
expect_exit 0 "flow --json at alice" -- "$CLIENT" "${A[@]}" --json flow --count 5
cp "$T_OUT" "$T_DIR/flow.json"
KJ=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ksid"])' "$T_DIR/flow.json")
expect_exit 0 "bob attaches to the KSID" -- "$CLIENT" "${B[@]}" open --ksid "$KJ"
expect_exit 0 "get text at bob" -- "$CLIENT" "${B[@]}" get --ksid "$KJ" --count 5
python3 - "$T_DIR/flow.json" "$T_OUT" <<'EOF' && ok "--json keys equal text keys" || fail "--json vs text keys differ"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["status"] == 0, d
text = [l.split() for l in open(sys.argv[2]).read().splitlines()]
js = [[str(k["index"]), k["key"]] for k in d["keys"]]
assert len(js) == 5 and js == text, (js, text)
for k in d["keys"]:
    assert isinstance(k["metadata"], dict) and k["metadata"]["hops"] == 0 and "age" in k["metadata"], k
    assert len(k["key"]) == 64
EOF
expect_exit 0 "bob closes" -- "$CLIENT" "${B[@]}" close --ksid "$KJ"

# --- flow --count 1000 at alice == get --count 1000 at bob; files 0600 ---
echo "old" >"$T_DIR/bob.keys"
chmod 0644 "$T_DIR/bob.keys"
expect_exit 0 "flow --count 1000 at alice" -- "$CLIENT" "${A[@]}" flow --count 1000 --out "$T_DIR/alice.keys"
KF=$(head -n 1 "$T_DIR/alice.keys")
# no 'open' at bob: 'get' joins the stream alice's flow opened
expect_exit 0 "get --count 1000 at bob (E framing)" -- "$CLIENT" "${B[@]}" --framing e get --ksid "$KF" --count 1000 --out "$T_DIR/bob.keys"
[ "$(wc -l <"$T_DIR/bob.keys")" -eq 1000 ] || fail "bob got $(wc -l <"$T_DIR/bob.keys") lines"
if tail -n +2 "$T_DIR/alice.keys" | cmp -s - "$T_DIR/bob.keys"; then ok "1000 keys equal at alice and bob"; else fail "keys differ"; fi
for f in alice.keys bob.keys; do
    m=$(stat -c %a "$T_DIR/$f")
    [ "$m" = 600 ] && ok "$f is 0600" || fail "$f has mode $m"
done
expect_exit 0 "bob closes the flow stream" -- "$CLIENT" "${B[@]}" close --ksid "$KF"
expect_exit 13 "get on a KSID nobody opened -> 13, nothing registered" -- "$CLIENT" "${B[@]}" get --ksid 11111111-2222-4333-8444-555555555555
expect_exit 13 "... and still unknown afterwards" -- "$CLIENT" "${B[@]}" close --ksid 11111111-2222-4333-8444-555555555555

# --- formats ---
expect_exit 0 "flow --format base64" -- "$CLIENT" "${A[@]}" flow --count 3 --format base64
[ "$(tail -n +2 "$T_OUT" | grep -cE '^[0-9]+ [A-Za-z0-9+/]{43}=$')" -eq 3 ] && ok "base64 lines" || fail "base64 output: $(cat "$T_OUT")"
expect_exit 0 "flow --format raw" -- "$CLIENT" "${A[@]}" flow --count 3 --format raw
[ "$(stat -c %s "$T_OUT")" -eq 96 ] && ok "raw writes 3x32 bytes" || fail "raw output is $(stat -c %s "$T_OUT") bytes"
expect_err "ksid: " "raw flow prints the KSID on stderr"
expect_exit 0 "flow in E framing with chunk 64" -- "$CLIENT" "${A[@]}" --framing e flow --count 3 --chunk-size 64
[ "$(tail -n +2 "$T_OUT" | grep -cE '^[0-9]+ [0-9a-f]{128}$')" -eq 3 ] && ok "E framing flow keys" || fail "E flow output: $(cat "$T_OUT")"

# --- Ctrl-C during a long get: keys so far written, message, exit 130 ---
expect_exit 0 "open for the interrupt test" -- "$CLIENT" "${A[@]}" open
KI=$(head -n 1 "$T_OUT")
"$CLIENT" "${A[@]}" get --ksid "$KI" --count 5000000 --out "$T_DIR/int.keys" 2>"$T_DIR/int.err" &
pid=$!
(sleep 40 && kill -9 "$pid") >/dev/null 2>&1 &
watchdog=$!
sleep 1.5
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
kill "$watchdog" 2>/dev/null || true
[ "$rc" -eq 130 ] && ok "SIGINT exits 130" || fail "SIGINT: exit $rc, $(cat "$T_DIR/int.err")"
n=$(wc -l <"$T_DIR/int.keys")
if grep -qx "interrupted: $n of 5000000 keys fetched" "$T_DIR/int.err" && [ "$n" -gt 0 ]; then
    ok "interrupted after $n keys, all written"
else
    fail "interrupt message/lines: $n lines, stderr: $(cat "$T_DIR/int.err")"
fi
"$CLIENT" "${A[@]}" close --ksid "$KI" >/dev/null 2>&1 || true

# --- progress bar: on a terminal only (script(1) gives the client a pseudo-terminal) ---
if command -v script >/dev/null 2>&1; then
    printf '%q ' "$CLIENT" "${A[@]}" flow --count 2000 --out "$T_DIR/tty.keys" >"$T_DIR/tty.cmd"
    script -qec "bash $T_DIR/tty.cmd" /dev/null </dev/null >"$T_DIR/tty.out" 2>&1 || true
    if tr '\r' '\n' <"$T_DIR/tty.out" | grep -F '2000/2000 keys' >/dev/null; then
        ok "progress bar shown on a terminal"
    else
        fail "no progress bar on a terminal: $(head -c 300 "$T_DIR/tty.out")"
    fi
    "$CLIENT" "${A[@]}" flow --count 2000 --out "$T_DIR/pipe.keys" 2>"$T_DIR/pipe.err" | cat >/dev/null
    [ ! -s "$T_DIR/pipe.err" ] && ok "no progress bar when not a terminal" ||
        fail "stderr not empty when piped: $(head -c 300 "$T_DIR/pipe.err")"
else
    echo "skip: script(1) not installed; progress bar not checked"
fi

[ "$T_FAILS" -eq 0 ] && echo "client_cli: all checks passed"
