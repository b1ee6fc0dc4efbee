#!/usr/bin/env bash
# client_bench.sh: qkd-bench smoke run against real key servers on loopback: each load stays
# within its count and prints non-zero numbers; the ring observer sees the configured SKR and
# consumes nothing.
source "$(dirname "$0")/client_lib.sh"
client_net_up

expect_exit 0 "getkey, 2 connections, 400 keys" -- "$BENCH" getkey "${A[@]}" --connections 2 --seconds 20 --count 400
grep -qE '^  keys +400$' "$T_OUT" && ok "getkey stopped at --count" || fail "getkey count: $(cat "$T_OUT")"
grep -qE '^  status +0:400$' "$T_OUT" && ok "getkey status histogram" || fail "getkey statuses: $(cat "$T_OUT")"
awk '/keys\/s/ {exit !($2 > 0)}' "$T_OUT" && ok "keys/s > 0" || fail "keys/s: $(cat "$T_OUT")"
grep -qE 'latency ms +p50 [0-9.]+ +p99 [0-9.]+ +max [0-9.]+' "$T_OUT" || fail "latency line: $(cat "$T_OUT")"

expect_exit 0 "getkey, E framing, per-call connection" -- "$BENCH" getkey "${A[@]}" --framing e --per-call-connection --seconds 20 --count 50
grep -qE '^  keys +50$' "$T_OUT" || fail "per-call getkey: $(cat "$T_OUT")"

expect_exit 0 "getkey stops at --seconds" -- timeout 30 "$BENCH" getkey "${A[@]}" --seconds 1 --count 100000000
awk '/^qkd-bench getkey/ {split($0, a, ", "); sub(/ s$/, "", a[2]); exit !(a[2] + 0 < 8)}' "$T_OUT" &&
    ok "time-bounded load" || fail "time limit: $(head -n 1 "$T_OUT")"

expect_exit 0 "open-close" -- "$BENCH" open-close "${A[@]}" --connections 2 --seconds 20 --count 100
grep -qE '^  pairs +100$' "$T_OUT" && ok "open-close pairs" || fail "open-close: $(cat "$T_OUT")"

kme_pid=$(awk '$2 == "kme-alice" {print $1}' "$T_DIR/net/pids")
expect_exit 0 "idle: 300 TLS connections held" -- "$BENCH" idle "${A[@]}" --connections 300 --hold 1 --probes 5 --server-pid "$kme_pid"
grep -qE '^idle TLS connections: 300 established, 0 failed' "$T_OUT" && ok "idle: all established" || fail "idle: $(cat "$T_OUT")"
grep -qE '^still open after holding 1 s: 300$' "$T_OUT" && ok "idle: the server holds them" || fail "idle hold: $(cat "$T_OUT")"
grep -qE '^server RSS: [0-9.]+ MB before, [0-9.]+ MB with them held' "$T_OUT" && ok "idle: server RSS reported" || fail "idle RSS: $(cat "$T_OUT")"
# An idle connection keeps no record or frame buffers (66 KiB each before, about 37 now; the
# rest is OpenSSL's per-connection state). Sanitizer builds pad every allocation: not checked.
if [[ "$(ldd "$QKD_BIN/qkd-kme" 2>/dev/null)" != *libasan* ]]; then
    awk '/^server memory per idle connection:/ {exit !($6 + 0 < 50)}' "$T_OUT" &&
        ok "idle: under 50 KiB per connection" || fail "idle memory: $(grep 'per idle' "$T_OUT")"
fi
grep -qE 'with the idle connections: +p50 +[0-9.]+ ms .*\(5 ok, 0 failed\)' "$T_OUT" && ok "idle: a new client is served meanwhile" || fail "idle probes: $(cat "$T_OUT")"

c0=$(python3 -c 'import os,struct; print(os.path.getsize("/dev/shm'"$RING_BOB_ALICE"'"))' 2>/dev/null || echo 0)
expect_exit 0 "ring observer" -- "$BENCH" ring --ring "$RING_BOB_ALICE" --seconds 2
grep -q '^summary:' "$T_OUT" && ok "ring summary" || fail "ring: $(cat "$T_OUT")"
awk -v skr="$SKR_BPS" '/^ +[0-9]+ / {n++; if ($2 + $4 > 0) good++} END {exit !(n == 2 && good >= 1)}' "$T_OUT" &&
    ok "ring rows show delivery" || fail "ring rows: $(cat "$T_OUT")"
grep -q "SKR $SKR_BPS bits/s" "$T_OUT" && ok "ring reports the configured SKR" || fail "SKR not $SKR_BPS: $(head -n 1 "$T_OUT")"
[ "$c0" -gt 0 ] || fail "ring $RING_BOB_ALICE not found"
expect_exit 1 "ring that does not exist" -- "$BENCH" ring --ring /qkd-client-bench-none-$$ --seconds 1
[ -e "/dev/shm/qkd-client-bench-none-$$" ] && fail "observer created a ring"
expect_exit 1 "bad option" -- "$BENCH" getkey --connections 0

[ "$T_FAILS" -eq 0 ] && echo "client_bench: all checks passed"
