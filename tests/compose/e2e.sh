#!/usr/bin/env bash
# tests/compose/e2e.sh: end-to-end test of the container setup (run by CI). From nothing, under a
# compose project name of its own (so it never touches a user's `qkd` network) and with its own
# host ports:
#   1. build the image (runtime < 150 MB) and the test image, `up --build -d`, wait until every
#      service is healthy (bounded), print the time from `up` to healthy;
#   2. a client in alice's network opens a stream, a client in bob's network joins it with the
#      KSID, 100 keys are equal at both ends; the same on the links alice-charlie and bob-charlie
#      (opened at the leader with a destination naming charlie, joined at kme_charlie), and the
#      three links' keys differ; ETSI 014 (HTTPS REST): a key made at kme_alice (enc_keys for
#      slave bob-app, as alice-app) is fetched identical at kme_bob (dec_keys as bob-app), once
#      only, with PyPI's etsi-qkd-014-client (a third-party 014 client, in the test image) from
#      containers in alice's and bob's networks (`qkd-client rest` when the test image lacks
#      it); the same through the hybrid daemons (alice-bob, alice-charlie
#      and bob-charlie with QKD + ML-KEM-768, keys differ between pairs; alice-charlie with
#      ML-KEM + X25519); the Python-module-style JSON requests of docs/hybrid.md (OPEN_CONNECT,
#      GET_KEY, CLOSE) at alice's and bob's JSON listeners give the same 32-int key_buffers; after
#      a mirrored run whose stream alice closed, the same request sent at both ends gets one KSID
#      and key, never the closed stream's (issue 14); the JSON listener is reachable only in its
#      node's network;
#   3. `stop keygen_bob`: once the ring is drained, a GET_KEY needing new key answers 6 at its
#      QoS Timeout; `start keygen_bob`: keys flow again and match;
#   4. `stop kme_bob`: alice's calls that need the peer answer 6 at their Timeout;
#      `start kme_bob`: keys flow again and match (alice-bob, and bob-charlie, which it leads);
#   5. `down -v` leaves no container, network or volume of the project;
#   6. the ctest suite in a container (`docker compose run --build --rm tests`; E2E_SUITE=0 skips).
# Prints every check and ends with 'N passed, M failed'. Exit 0 only when nothing failed.
# Knobs: E2E_DEADLINE (s, whole run, default 1200), E2E_HEALTH_TIMEOUT (s, default 180),
# E2E_SUITE (1), E2E_KEEP (1 = leave the network up for inspection).
set -uo pipefail
cd "$(dirname "$0")/../.."

DEADLINE=${E2E_DEADLINE:-1200}
HEALTH_TIMEOUT=${E2E_HEALTH_TIMEOUT:-180}
RUN_SUITE=${E2E_SUITE:-1}
PROJECT="qkd-e2e-$$-$(date +%s)"
CHUNK=1024                      # bytes per key in the drain tests
RING=65536                      # small ring: draining it takes 64 keys
QOS_TIMEOUT_MS=2000             # Timeout of the streams that must time out
export QKD_RING_BYTES=$RING
export QKD_LOG_LEVEL=${QKD_LOG_LEVEL:-INFO}
DC=(docker compose -p "$PROJECT" -f docker-compose.yml)
SERVICES="keygen_bob keygen_alice keygen_charlie_alice keygen_alice_charlie keygen_charlie_bob
 keygen_bob_charlie kme_alice kme_bob kme_charlie hybrid_alice hybrid_bob hybrid_charlie"
CLI_A="$PROJECT-client-alice"
CLI_B="$PROJECT-client-bob"
CLI_C="$PROJECT-client-charlie"
E14_C="$PROJECT-etsi014"           # the third-party ETSI 014 client's one-shot container
TEST_IMAGE=${QKD_TEST_IMAGE:-qkd-node-test:latest}
# where the test image has PyPI's etsi-qkd-014-client (docker/Dockerfile, test stage)
E14_PKG=/var/cache/qkd/pip/etsi-qkd-014-client-0.9.0
WORK=$(mktemp -d "/tmp/qkd-e2e.XXXXXX")
passed=0
failed=0
T0=$(date +%s)

# fd 3/4: the script's own stdout/stderr, so messages from a trap that fires inside a
# redirected call still reach the terminal.
exec 3>&1 4>&2
say() { printf '[e2e %4ds] %s\n' "$(($(date +%s) - T0))" "$*" >&3; }
pass() { passed=$((passed + 1)); say "PASS: $*"; }
fail() { failed=$((failed + 1)); say "FAIL: $*"; }
check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
now_ms() { date +%s%3N; }

LOGS_DUMPED=0
dump_logs() { # once, while the containers still exist
    [ "$LOGS_DUMPED" = 1 ] && return 0
    LOGS_DUMPED=1
    say "logs of the project (last 40 lines per service):"
    "${DC[@]}" logs --no-color --tail 40 >&4 2>&4 || true
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "${WATCHDOG:-}" ] && { kill "$WATCHDOG" 2>/dev/null || true; }
    if [ "$failed" -gt 0 ] || [ "$rc" -ne 0 ]; then dump_logs; fi
    if [ "${E2E_KEEP:-0}" = 1 ]; then
        say "E2E_KEEP=1: project $PROJECT left up (docker compose -p $PROJECT down -v)"
    else
        docker rm -f "$CLI_A" "$CLI_B" "$CLI_C" "$E14_C" >/dev/null 2>&1
        timeout 120 "${DC[@]}" --profile tools down -v --remove-orphans --timeout 5 >/dev/null 2>&1
    fi
    rm -rf "$WORK"
    [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
    printf '%d passed, %d failed\n' "$passed" "$failed" >&3
    exit "$rc"
}
trap cleanup EXIT
# Long steps run through bounded(): in the background with `wait`, so a signal (or the
# watchdog below) interrupts them at once instead of after they end.
CHILD=""
bounded() {
    "$@" &
    CHILD=$!
    wait "$CHILD"
    local rc=$?
    CHILD=""
    return "$rc"
}
trap 'say "interrupted (signal or deadline)"; [ -n "$CHILD" ] && kill "$CHILD" 2>/dev/null; failed=$((failed + 1)); exit 1' INT TERM
# Whole-run bound: past the deadline the run is stopped (cleanup still runs).
# The watchdog kills its own sleep when it is stopped, and holds no output pipe open.
(
    trap 'kill "$s" 2>/dev/null; exit 0' TERM
    sleep "$DEADLINE" &
    s=$!
    wait "$s" && echo "[e2e] deadline of ${DEADLINE}s passed" >&2 && kill -TERM $$
) >/dev/null 2>&1 &
WATCHDOG=$!

# Host ports: 9 distinct free ports below the kernel's ephemeral range (a port picked there can
# be taken as the source port of any outgoing connection before docker binds it).
pick_ports() {
    local ports
    ports=$(python3 - <<'PY'
import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
hi = max(lo - 1, 20100)
got = []
while len(got) < 9:
    p = random.randint(20000, hi)
    if p in got:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        got.append(p)
    except OSError:
        pass
    finally:
        s.close()
print(*got)
PY
) || return 1
    read -r ALICE_PORT BOB_PORT CHARLIE_PORT HA_PORT HB_PORT HC_PORT E14A_PORT E14B_PORT E14C_PORT \
        <<<"$ports"
    export KME_ALICE_PUBLISH="127.0.0.1:$ALICE_PORT"
    export KME_BOB_PUBLISH="127.0.0.1:$BOB_PORT"
    export KME_CHARLIE_PUBLISH="127.0.0.1:$CHARLIE_PORT"
    export HYBRID_ALICE_PUBLISH="127.0.0.1:$HA_PORT"
    export HYBRID_BOB_PUBLISH="127.0.0.1:$HB_PORT"
    export HYBRID_CHARLIE_PUBLISH="127.0.0.1:$HC_PORT"
    export ETSI014_ALICE_PUBLISH="127.0.0.1:$E14A_PORT"
    export ETSI014_BOB_PUBLISH="127.0.0.1:$E14B_PORT"
    export ETSI014_CHARLIE_PUBLISH="127.0.0.1:$E14C_PORT"
}
pick_ports || { echo "e2e: cannot pick host ports" >&2; exit 1; }

health() { # health SERVICE -> healthy|unhealthy|starting|none|exited...
    local id
    id=$("${DC[@]}" ps -a -q "$1" 2>/dev/null | head -n1)
    [ -n "$id" ] || { echo missing; return; }
    docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id" 2>/dev/null || echo missing
}
wait_healthy() { # wait_healthy TIMEOUT SERVICE... ; 0 when all are healthy in time
    local limit=$1 s all
    shift
    local end=$(($(date +%s) + limit))
    while [ "$(date +%s)" -lt "$end" ]; do
        all=1
        for s in "$@"; do [ "$(health "$s")" = healthy ] || all=0; done
        [ "$all" = 1 ] && return 0
        sleep 1
    done
    for s in "$@"; do say "  $s: $(health "$s")"; done
    return 1
}

# --- client helpers: one long-lived container per node network, qkd-client via docker exec ---
A() { timeout 120 docker exec "$CLI_A" qkd-client "$@"; }
B() { timeout 120 docker exec "$CLI_B" qkd-client "$@"; }
C() { timeout 120 docker exec "$CLI_C" qkd-client "$@"; }
declare -A NODE_OF=([A]=alice [B]=bob [C]=charlie)
open_ksid() { # open_ksid A|B|C [options] -> prints the KSID; fails when none came back
    local who=$1 out
    shift
    out=$("$who" open "$@") || return 1
    printf '%s\n' "$out" | grep -Eo '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' | head -n1
}
keys_equal() { # keys_equal FILE_A FILE_B N: both have N lines '<index> <hex>' and are equal
    local n=$3
    [ "$(wc -l <"$1")" -eq "$n" ] || { say "  $1: $(wc -l <"$1") lines, want $n"; return 1; }
    grep -Eqv '^[0-9]+ [0-9a-f]+$' "$1" && { say "  $1: unexpected line format"; return 1; }
    [ "$(cut -d' ' -f2 "$1" | sort -u | wc -l)" -eq "$n" ] || { say "  keys repeat"; return 1; }
    cmp -s "$1" "$2" || { say "  the two ends' keys differ"; return 1; }
}
keys_disjoint() { # keys_disjoint FILE...: no key (second column) appears in two of the files
    local f all=0 uniq
    for f in "$@"; do all=$((all + $(wc -l <"$f"))); done
    uniq=$(cut -d' ' -f2 "$@" | sort -u | wc -l)
    [ "$all" -gt 0 ] && [ "$uniq" -eq "$all" ] || { say "  $uniq distinct keys in $all"; return 1; }
}
pair_matches() { # pair_matches LABEL COUNT OPENER JOINER [open options]: the opener's client opens
    # at its key server with a destination naming the joiner's node (which picks the link), the
    # joiner's client joins at its own key server with the KSID; COUNT keys compared.
    local label=$1 n=$2 o=$3 j=$4 k
    shift 4
    local on=${NODE_OF[$o]} jn=${NODE_OF[$j]}
    k=$(open_ksid "$o" --destination "qkd://app@$jn" "$@") && [ -n "$k" ] ||
        { say "  $label: OPEN_CONNECT at $on failed"; return 1; }
    "$j" open --ksid "$k" --destination "qkd://app@$on" >/dev/null ||
        { say "  $label: $jn could not join $k"; return 1; }
    "$o" get --ksid "$k" --index 0 --count "$n" >"$WORK/$label.a" || { say "  $label: GET_KEY at $on failed"; return 1; }
    "$j" get --ksid "$k" --index 0 --count "$n" >"$WORK/$label.b" || { say "  $label: GET_KEY at $jn failed"; return 1; }
    keys_equal "$WORK/$label.a" "$WORK/$label.b" "$n" || return 1
    "$o" close --ksid "$k" >/dev/null
    "$j" close --ksid "$k" >/dev/null
    return 0
}
stream_matches() { # stream_matches LABEL COUNT [open options]: open at alice, join at bob, compare
    local label=$1 n=$2
    shift 2
    pair_matches "$label" "$n" A B "$@"
}
timed_status6() { # timed_status6 A|B KSID INDEX: GET_KEY answers 6 (exit 16) after ~Timeout
    local who=$1 k=$2 idx=$3 t1 t2 rc
    t1=$(now_ms)
    "$who" get --ksid "$k" --index "$idx" --count 1 >/dev/null 2>"$WORK/err"
    rc=$?
    t2=$(now_ms)
    LAST_MS=$((t2 - t1))
    say "  GET_KEY index $idx: exit $rc after ${LAST_MS} ms ($(tr -d '\n' <"$WORK/err"))"
    [ "$rc" -eq 16 ] && [ "$LAST_MS" -ge $((QOS_TIMEOUT_MS * 9 / 10)) ] &&
        [ "$LAST_MS" -le $((QOS_TIMEOUT_MS + 5000)) ]
}

# ------------------------------------------------------------------------------------------------
docker compose version >/dev/null 2>&1 || { say "docker compose (v2) missing: run scripts/compose-setup.sh"; exit 1; }
say "project $PROJECT, host ports: kme alice $ALICE_PORT bob $BOB_PORT charlie $CHARLIE_PORT, hybrid $HA_PORT $HB_PORT $HC_PORT, ETSI 014 $E14A_PORT $E14B_PORT $E14C_PORT; ring $RING bytes"

say "building the images (docker compose build)"
tb=$(date +%s)
if ! bounded timeout 900 "${DC[@]}" build >"$WORK/build.log" 2>&1; then
    tail -n 60 "$WORK/build.log" >&2
    fail "image build"
    exit 1
fi
pass "image build ($(($(date +%s) - tb)) s)"
size=$(docker image inspect -f '{{.Size}}' "${QKD_IMAGE:-qkd-node:latest}")
say "runtime image ${QKD_IMAGE:-qkd-node:latest}: $((size / 1000000)) MB ($size bytes)"
check "runtime image under 150 MB" test "$size" -lt 150000000
# The test image (step 6 runs it; built here so that its third-party ETSI 014 client can be used
# in step 2; step 6's --build then finds it cached).
say "building the test image (docker compose --profile tools build tests)"
tb=$(date +%s)
E14_CLIENT=rest
if bounded timeout 900 "${DC[@]}" --profile tools build tests >"$WORK/build-test.log" 2>&1; then
    pass "test image build ($(($(date +%s) - tb)) s)"
    if docker run --rm --network none --entrypoint python3 "$TEST_IMAGE" -c \
        "import sys; sys.path.insert(0, '$E14_PKG'); import requests, etsi_qkd_014_client" \
        >"$WORK/e14-probe.log" 2>&1; then
        E14_CLIENT=etsi-qkd-014-client
    else
        say "  the test image has no etsi-qkd-014-client (no registry when it was built?): $(tail -n 1 "$WORK/e14-probe.log")"
    fi
else
    tail -n 40 "$WORK/build-test.log" >&2
    fail "test image build"
fi
say "ETSI 014 checks use: $E14_CLIENT"

say "docker compose up --build -d"
tu=$(date +%s%3N)
up_ok=0
for attempt in 1 2 3; do
    if bounded timeout 600 "${DC[@]}" up --build -d >"$WORK/up.log" 2>&1; then
        up_ok=1
        break
    fi
    # A host port taken between picking and binding: new ports, another try.
    grep -q "address already in use" "$WORK/up.log" || break
    say "  a host port was taken meanwhile (attempt $attempt): new ports, up again"
    timeout 120 "${DC[@]}" down -v --timeout 5 >/dev/null 2>&1
    pick_ports || break
    tu=$(date +%s%3N)
done
if [ "$up_ok" != 1 ]; then
    cat "$WORK/up.log" >&2
    fail "compose up"
    exit 1
fi
if wait_healthy "$HEALTH_TIMEOUT" $SERVICES; then
    UP_MS=$(($(date +%s%3N) - tu))
    pass "all $(echo $SERVICES | wc -w) services healthy $((UP_MS / 1000)).$(((UP_MS % 1000) / 100)) s after 'up'"
else
    fail "services healthy within ${HEALTH_TIMEOUT}s"
    exit 1
fi
check "certs exited 0" test "$(docker inspect -f '{{.State.ExitCode}}' "$("${DC[@]}" ps -a -q certs)")" = 0
check "CA private key absent from kme_alice" \
    test -z "$("${DC[@]}" exec -T kme_alice find / -xdev -name 'ca.key*' -print 2>/dev/null)"
check "CA private key absent from /certs of keygen_bob" \
    test -z "$("${DC[@]}" exec -T keygen_bob find /certs -name 'ca.key*' -print 2>/dev/null)"
check "key server runs as a non-root user" test "$("${DC[@]}" exec -T kme_alice id -u)" != 0
check "published port of kme_alice accepts TCP" \
    timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$ALICE_PORT"
check "published port of kme_bob accepts TCP" \
    timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$BOB_PORT"
check "published port of kme_charlie accepts TCP" \
    timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$CHARLIE_PORT"
for n in alice:$E14A_PORT bob:$E14B_PORT charlie:$E14C_PORT; do
    check "published ETSI 014 port of kme_${n%%:*} (container 8443) accepts TCP" \
        timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/${n#*:}"
done
check "JSON listeners not published on the host (hybrid_alice publishes only 25577)" \
    test "$("${DC[@]}" port hybrid_alice 25585 2>/dev/null)" = "" -a \
    -n "$("${DC[@]}" port hybrid_alice 25577 2>/dev/null)"

# Client containers: in alice's and bob's application networks only.
"${DC[@]}" run -d --no-deps --name "$CLI_A" --entrypoint sleep client_alice 3600 >/dev/null &&
    "${DC[@]}" run -d --no-deps --name "$CLI_B" --entrypoint sleep client_bob 3600 >/dev/null &&
    "${DC[@]}" run -d --no-deps --name "$CLI_C" --entrypoint sleep client_charlie 3600 >/dev/null ||
    { fail "client containers start"; exit 1; }
check "client_alice cannot reach kme_bob (separate networks)" \
    bash -c "! timeout 20 docker exec $CLI_A qkd-client --server kme_bob:25576 --timeout 3000 close --ksid 00000000-0000-0000-0000-000000000000 >/dev/null 2>&1"

# --- 2. keys match --------------------------------------------------------------------------------
check "stream opened at alice, joined at bob: 100 keys equal" stream_matches first 100 --qos-timeout 20000
check "link alice-charlie: opened at kme_alice (destination charlie), joined at kme_charlie: 100 keys equal" \
    pair_matches qkd_ac 100 A C --qos-timeout 20000
check "link bob-charlie: opened at kme_bob (destination charlie), joined at kme_charlie: 100 keys equal" \
    pair_matches qkd_bc 100 B C --qos-timeout 20000
check "the three links' keys differ" keys_disjoint "$WORK/first.a" "$WORK/qkd_ac.a" "$WORK/qkd_bc.a"

# ETSI 014 (HTTPS REST, docs/etsi014.md) at kme_<node>:8443 from the node's own network, as one of
# its SAEs (client = <node>-app, sae2, sae3). e14 NODE CERT enc SLAVE [NUMBER SIZE] |
# e14 NODE CERT dec MASTER KEY_ID...: prints '<key_ID> <key hex>' per key; on an answer other
# than 200 prints 'HTTP <code>: <message>' on stderr and fails.
e14() {
    local node=$1 who=$2 op=$3
    shift 3
    if [ "$E14_CLIENT" = rest ]; then
        local c=$CLI_A
        [ "$node" = bob ] && c=$CLI_B
        [ "$node" = charlie ] && c=$CLI_C
        local a=(--url "https://kme_$node:8443" --cert "/certs/$node/$who.pem"
            --key "/certs/$node/$who.key" --ca /certs/ca.pem rest)
        if [ "$op" = enc ]; then
            [ $# = 1 ] || { say "  qkd-client rest: enc with number and size not used here"; return 1; }
            timeout 60 docker exec "$c" qkd-client "${a[@]}" enc --slave "$1"
        else
            [ $# = 2 ] || { say "  qkd-client rest: one key_ID per dec here"; return 1; }
            timeout 60 docker exec "$c" qkd-client "${a[@]}" dec --master "$1" --key-id "$2"
        fi
        return
    fi
    docker rm -f "$E14_C" >/dev/null 2>&1
    timeout 90 docker run --rm -i --name "$E14_C" --network "${PROJECT}_net_$node" \
        -v "${PROJECT}_certs_$node:/certs:ro" --entrypoint python3 "$TEST_IMAGE" - "$E14_PKG" \
        "kme_$node:8443" "/certs/$node/$who.pem" "/certs/$node/$who.key" /certs/ca.pem "$op" "$@" <<'PY'
import base64, sys
pkg, host, cert, key, ca, op, sae = sys.argv[1:8]
rest = sys.argv[8:]
sys.path.insert(0, pkg)
from etsi_qkd_014_client import QKD014Client
c = QKD014Client(host, cert, key, ca)  # host:port; verifies the server's name (kme_<node>)
if op == "enc":
    code, d = c.get_key(sae, number=int(rest[0]), size=int(rest[1])) if rest else c.get_key(sae)
else:
    code, d = c.get_key_with_key_IDs(sae, rest)
if code != 200:
    print(f"HTTP {code}: {getattr(d, 'message', '')}", file=sys.stderr)
    sys.exit(3)
for k in d.keys:
    print(k.key_id, base64.b64decode(k.key).hex())
PY
}
e14_matches() { # e14_matches LABEL N BITS [NUMBER SIZE]: made at alice for bob-app, fetched at bob
    local label=$1 n=$2 bits=$3 ids
    shift 3
    e14 alice client enc bob-app "$@" >"$WORK/$label.a" 2>"$WORK/$label.err" ||
        { say "  enc_keys at kme_alice: $(tr -d '\n' <"$WORK/$label.err")"; return 1; }
    [ "$(wc -l <"$WORK/$label.a")" -eq "$n" ] || { say "  $(wc -l <"$WORK/$label.a") keys, want $n"; return 1; }
    grep -Eqv "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12} [0-9a-f]{$((bits / 4))}\$" \
        "$WORK/$label.a" && { say "  not '<UUID> <$bits-bit hex>' lines"; return 1; }
    ids=$(cut -d' ' -f1 "$WORK/$label.a")
    # shellcheck disable=SC2086
    e14 bob client dec alice-app $ids >"$WORK/$label.b" 2>"$WORK/$label.err" ||
        { say "  dec_keys at kme_bob: $(tr -d '\n' <"$WORK/$label.err")"; return 1; }
    cmp -s <(sort "$WORK/$label.a") <(sort "$WORK/$label.b") ||
        { say "  alice's and bob's keys differ"; return 1; }
    # once only: the same key_IDs again are refused (400: unknown once every slave has them)
    # shellcheck disable=SC2086
    if e14 bob client dec alice-app $ids >/dev/null 2>"$WORK/$label.err"; then
        say "  the same key_IDs again at kme_bob were delivered twice"
        return 1
    fi
    say "  again at kme_bob: $(tr -d '\n' <"$WORK/$label.err")"
    [ "$E14_CLIENT" = rest ] || grep -q '^HTTP 400' "$WORK/$label.err"
}
check "ETSI 014 ($E14_CLIENT): a key made at kme_alice (GET enc_keys, slave bob-app, as alice-app) is fetched identical at kme_bob (dec_keys as bob-app), once only" \
    e14_matches e14_get 1 256
if [ "$E14_CLIENT" != rest ]; then
    check "ETSI 014 ($E14_CLIENT): 3 keys of 512 bits (POST enc_keys) identical at kme_bob, once only" \
        e14_matches e14_post 3 512 3 512
fi

# Hybrid daemons: the two applications get the same keys (both ends run the exchange, so the
# two GET_KEY calls go concurrently).
hybrid_matches() { # hybrid_matches LABEL FROM_CLIENT TO_CLIENT TO_NODE SOURCES COUNT
    local label=$1 ca=$2 cb=$3 peer=$4 sources=$5 n=$6 k pid rc
    local src="hybrid://app@$FROM_NODE?$sources" dst="hybrid://app@$peer"
    local ha=(qkd-client --server "hybrid_$FROM_NODE:25577") hb=(qkd-client --server "hybrid_$peer:25577")
    k=$(timeout 60 docker exec "$ca" "${ha[@]}" open --source "$src" --destination "$dst" | head -n1)
    [ -n "$k" ] || { say "  $label: OPEN_CONNECT at $FROM_NODE failed"; return 1; }
    [ "$(timeout 60 docker exec "$cb" "${hb[@]}" open --source "$src" --destination "$dst" | head -n1)" = "$k" ] ||
        { say "  $label: $peer did not get KSID $k"; return 1; }
    timeout 120 docker exec "$ca" "${ha[@]}" get --ksid "$k" --count "$n" >"$WORK/$label.a" &
    pid=$!
    timeout 120 docker exec "$cb" "${hb[@]}" get --ksid "$k" --count "$n" >"$WORK/$label.b"
    rc=$?
    wait "$pid" || rc=1
    [ "$rc" -eq 0 ] || { say "  $label: GET_KEY failed"; return 1; }
    keys_equal "$WORK/$label.a" "$WORK/$label.b" "$n" || return 1
    timeout 60 docker exec "$ca" "${ha[@]}" close --ksid "$k" >/dev/null
    timeout 60 docker exec "$cb" "${hb[@]}" close --ksid "$k" >/dev/null
    return 0
}
FROM_NODE=alice
check "hybrid alice-bob (QKD + ML-KEM-768, hkdf): 10 keys equal" \
    hybrid_matches hyb_ab "$CLI_A" "$CLI_B" bob "hybridization=hkdf&key_sources=QKD,ML-KEM-768" 10
check "hybrid alice-charlie (QKD + ML-KEM-768, hkdf): 10 keys equal" \
    hybrid_matches hyb_acq "$CLI_A" "$CLI_C" charlie "hybridization=hkdf&key_sources=QKD,ML-KEM-768" 10
check "hybrid alice-charlie (ML-KEM-768 + X25519, xorhmac): 10 keys equal" \
    hybrid_matches hyb_ac "$CLI_A" "$CLI_C" charlie "hybridization=xorhmac&key_sources=ML-KEM-768,X25519" 10
# the KEMs from Debian's libntruprime and libmceliece, across alice's and bob's containers
check "hybrid alice-bob (sntrup761 + X25519, hkdf): 5 keys equal" \
    hybrid_matches hyb_ab_ntru "$CLI_A" "$CLI_B" bob "hybridization=hkdf&key_sources=sntrup761,X25519" 5
check "hybrid alice-bob (Classic-McEliece-348864 + QKD, hkdf): 3 keys equal" \
    hybrid_matches hyb_ab_mce "$CLI_A" "$CLI_B" bob "hybridization=hkdf&key_sources=Classic-McEliece-348864,QKD" 3
FROM_NODE=bob
check "hybrid bob-charlie (QKD + ML-KEM-768, hkdf): 10 keys equal" \
    hybrid_matches hyb_bcq "$CLI_B" "$CLI_C" charlie "hybridization=hkdf&key_sources=QKD,ML-KEM-768" 10
check "hybrid keys differ between the pairs alice-bob, alice-charlie, bob-charlie" \
    keys_disjoint "$WORK/hyb_ab.a" "$WORK/hyb_acq.a" "$WORK/hyb_bcq.a"

# The JSON listeners, called as the Python KDFix module does (plain TCP, one JSON object per
# message), with the requests quoted in docs/hybrid.md. alice's application names the nodes,
# bob's the same nodes by their UUIDs from the configs (the same request for the daemons).
J() { # J CONTAINER MESSAGE...: qkd-json in that container (its JSON_SERVER), replies on stdout
    local c=$1
    shift
    timeout 60 docker exec "$c" qkd-json --timeout 20 "$@"
}
JQOS='{"key_chunk_size": 32, "max_bps": 40000, "min_bps": 5000, "jitter": 10, "priority": 0, "timeout": 0, "ttl": 0, "metadata_mimetype": "application/json"}'
jopen() { # jopen SOURCE DESTINATION -> the OPEN_CONNECT message
    printf '{"command": "OPEN_CONNECT", "data": {"source": "%s", "destination": "%s", "qos": %s}}' "$1" "$2" "$JQOS"
}
jget() { printf '{"command": "GET_KEY", "data": {"key_stream_id": "%s", "index": %d, "metadata": {"size": 0, "buffer": ""}}}' "$1" "$2"; }
jclose() { printf '{"command": "CLOSE", "data": {"key_stream_id": "%s"}}' "$1"; }
json_open_alice() {
    local r
    r=$(J "$CLI_A" "$(jopen 'hybrid://app@alice?key_sources=QKD,ML-KEM-768' 'hybrid://app@bob')")
    say "  alice <- $r"
    [[ "$r" =~ ^\{\"status\":\ 0,\ \"key_stream_id\":\ \"([0-9a-f-]{36})\"\}$ ]] || return 1
    JKSID=${BASH_REMATCH[1]}
}
json_open_bob() {
    local uu ua ub r
    uu=$(docker exec "$CLI_B" cat /certs/hybrid/bob.json | python3 -c 'import json, sys
c = json.load(sys.stdin)
print([p["uuid"] for p in c["peers"] if p["name"] == "alice"][0], c["uuid"])') || return 1
    read -r ua ub <<<"$uu"
    r=$(J "$CLI_B" "$(jopen "hybrid://app@$ua?key_sources=QKD,ML-KEM-768" "hybrid://app@$ub")")
    say "  bob (alice=$ua, bob=$ub) <- $r"
    [ "$r" = "{\"status\": 0, \"key_stream_id\": \"$JKSID\"}" ]
}
json_keys_match() { # GET_KEY 0 and 1 on one connection at each end, concurrently
    local pid rc re='^\{"status": 0, "key_buffer": \[([0-9]+, ){31}[0-9]+\]\}$'
    J "$CLI_A" "$(jget "$JKSID" 0)" "$(jget "$JKSID" 1)" >"$WORK/json.a" &
    pid=$!
    J "$CLI_B" "$(jget "$JKSID" 0)" "$(jget "$JKSID" 1)" >"$WORK/json.b"
    rc=$?
    wait "$pid" || rc=1
    say "  alice <- $(head -c 90 "$WORK/json.a" | head -n1)..."
    [ "$rc" -eq 0 ] || { say "  qkd-json failed"; return 1; }
    [ "$(grep -Ec "$re" "$WORK/json.a")" -eq 2 ] && [ "$(grep -Ec "$re" "$WORK/json.b")" -eq 2 ] ||
        { say "  replies are not two 32-int key_buffers"; return 1; }
    cmp -s "$WORK/json.a" "$WORK/json.b" || { say "  alice's and bob's key_buffers differ"; return 1; }
    [ "$(sort -u "$WORK/json.a" | wc -l)" -eq 2 ] || { say "  indices 0 and 1 gave the same key"; return 1; }
}
json_close() {
    [ "$(J "$CLI_A" "$(jclose "$JKSID")")" = '{"status": 0}' ] &&
        [ "$(J "$CLI_B" "$(jclose "$JKSID")")" = '{"status": 0}' ]
}
JKSID=""
check "JSON OPEN_CONNECT at json_alice:25585 (from alice's network): status 0 and a KSID" json_open_alice
check "JSON OPEN_CONNECT at json_bob:25585 with node UUIDs: the same KSID" json_open_bob
check "JSON GET_KEY indices 0, 1 at alice and bob: equal 32-int key_buffers" json_keys_match
check "JSON CLOSE at both ends: {\"status\": 0}" json_close
# Pairing by request as the Python module's applications do it (both send the SAME request): run 1
# by mistake mirrored (alice's stream S1 gets K1 at index 0 and is closed), run 2 the same request
# at both ends at the same time. bob's application must never be joined to S1.
JSPI='hybrid://spi14@alice?hybridization=xoring&key_sources=QKD,ML-KEM-768'
jksid() { [[ "$1" =~ \"key_stream_id\":\ \"([0-9a-f-]{36})\" ]] && printf '%s' "${BASH_REMATCH[1]}"; }
json_stale_pair() {
    local s1 sb k pid rc
    s1=$(jksid "$(J "$CLI_A" "$(jopen "$JSPI" 'hybrid://spi14@bob')")")
    sb=$(jksid "$(J "$CLI_B" "$(jopen 'hybrid://spi14@bob?key_sources=ML-KEM-768' 'hybrid://spi14@alice')")")
    [ -n "$s1" ] && [ -n "$sb" ] || { say "  run 1: OPEN_CONNECT failed"; return 1; }
    J "$CLI_A" "$(jget "$s1" 0)" "$(jclose "$s1")" >"$WORK/stale.k1" &&
        J "$CLI_B" "$(jget "$sb" 0)" "$(jclose "$sb")" >/dev/null || { say "  run 1: GET_KEY/CLOSE failed"; return 1; }
    J "$CLI_A" "$(jopen "$JSPI" 'hybrid://spi14@bob')" >"$WORK/stale.oa" &
    pid=$!
    J "$CLI_B" "$(jopen "$JSPI" 'hybrid://spi14@bob')" >"$WORK/stale.ob"
    rc=$?
    wait "$pid" || rc=1
    say "  run 2: alice <- $(cat "$WORK/stale.oa"), bob <- $(cat "$WORK/stale.ob") (S1 $s1)"
    [ "$rc" -eq 0 ] && cmp -s "$WORK/stale.oa" "$WORK/stale.ob" || { say "  run 2: not the same KSID"; return 1; }
    k=$(jksid "$(cat "$WORK/stale.oa")")
    J "$CLI_A" "$(jget "$k" 0)" >"$WORK/stale.a" &
    pid=$!
    J "$CLI_B" "$(jget "$k" 0)" >"$WORK/stale.b"
    rc=$?
    wait "$pid" || rc=1
    [ "$rc" -eq 0 ] && cmp -s "$WORK/stale.a" "$WORK/stale.b" || { say "  run 2: key_buffers differ"; return 1; }
    [ "$(cat "$WORK/stale.b")" != "$(head -n1 "$WORK/stale.k1")" ] || { say "  run 2: S1's key K1 again"; return 1; }
    [ "$(J "$CLI_A" "$(jclose "$k")")" = '{"status": 0}' ] && [ "$(J "$CLI_B" "$(jclose "$k")")" = '{"status": 0}' ]
}
check "JSON pairing by request: after a mirrored run (S1 closed), the same request at both ends: one KSID and key, never S1's" \
    json_stale_pair
json_unreachable() { # json_unreachable SERVICE|CONTAINER HOST:PORT: qkd-json there cannot connect
    local where=$1 to=$2 out rc
    if [ "${where#"$PROJECT"}" != "$where" ]; then
        out=$(timeout 20 docker exec "$where" qkd-json --server "$to" --timeout 3 "$(jclose "$JKSID")" 2>&1)
    else
        out=$(timeout 20 "${DC[@]}" exec -T "$where" qkd-json --server "$to" --timeout 3 "$(jclose "$JKSID")" 2>&1)
    fi
    rc=$?
    say "  $to from $where: exit $rc ($out)"
    [ "$rc" -eq 1 ] && [[ "$out" == *"cannot connect"* ]]
}
check "alice's JSON listener unreachable from bob's network (no name json_alice there)" \
    json_unreachable "$CLI_B" json_alice:25585
check "alice's JSON listener unreachable over the backbone (hybrid_alice:25585 from hybrid_bob)" \
    json_unreachable hybrid_bob hybrid_alice:25585

# --- 3. keygen_bob stopped -------------------------------------------------------------------------
say "docker compose stop keygen_bob"
"${DC[@]}" stop keygen_bob >/dev/null 2>&1
K=$(open_ksid A --chunk-size $CHUNK --qos-timeout $QOS_TIMEOUT_MS)
if [ -n "$K" ] && B open --ksid "$K" >/dev/null; then
    # Drain what is left in the rings (at most RING bytes): the first call past it times out.
    A get --ksid "$K" --index 0 --count $((3 * RING / CHUNK)) >"$WORK/drain.a" 2>"$WORK/drain.err"
    rc=$?
    n=$(wc -l <"$WORK/drain.a")
    say "  drain: $n keys of $CHUNK bytes, then exit $rc ($(tr -d '\n' <"$WORK/drain.err"))"
    check "keygen_bob down: GET_KEY needing new key answers 6 (exit 16)" test "$rc" -eq 16
    check "keygen_bob down: no more key than the ring held ($n x $CHUNK <= $((2 * RING)))" \
        test $((n * CHUNK)) -le $((2 * RING))
    check "keygen_bob down: status 6 comes at the Timeout ($QOS_TIMEOUT_MS ms)" timed_status6 A "$K" "$n"
    if [ "$n" -gt 0 ]; then
        B get --ksid "$K" --index 0 --count "$n" >"$WORK/drain.b" 2>/dev/null
        check "keygen_bob down: the $n keys delivered before the drain match at bob" \
            keys_equal "$WORK/drain.a" "$WORK/drain.b" "$n"
    fi
    A close --ksid "$K" >/dev/null 2>&1
    B close --ksid "$K" >/dev/null 2>&1
else
    fail "keygen_bob down: open and join a stream"
fi
say "docker compose start keygen_bob"
"${DC[@]}" start keygen_bob >/dev/null 2>&1
check "keygen_bob healthy again" wait_healthy 60 keygen_bob
check "after keygen_bob restart: 100 keys flow and match" stream_matches after_keygen 100 --qos-timeout 30000

# --- 4. kme_bob stopped ----------------------------------------------------------------------------
K=$(open_ksid A --qos-timeout $QOS_TIMEOUT_MS)
if [ -n "$K" ] && B open --ksid "$K" >/dev/null; then
    say "docker compose stop kme_bob"
    "${DC[@]}" stop kme_bob >/dev/null 2>&1
    check "kme_bob down: alice's GET_KEY answers 6 at the Timeout ($QOS_TIMEOUT_MS ms)" \
        timed_status6 A "$K" 0
    A close --ksid "$K" >/dev/null 2>&1
else
    fail "kme_bob down: open and join a stream"
    "${DC[@]}" stop kme_bob >/dev/null 2>&1
fi
say "docker compose start kme_bob"
"${DC[@]}" start kme_bob >/dev/null 2>&1
check "kme_bob healthy again" wait_healthy 90 kme_bob
check "after kme_bob restart: 100 keys flow and match" stream_matches after_kme 100 --qos-timeout 30000
check "after kme_bob restart: link bob-charlie (kme_bob leads) 100 keys match" \
    pair_matches after_kme_bc 100 B C --qos-timeout 30000
docker rm -f "$CLI_A" "$CLI_B" "$CLI_C" >/dev/null 2>&1

# --- 5. down -v leaves nothing -------------------------------------------------------------------
if [ "${E2E_KEEP:-0}" != 1 ]; then
    [ "$failed" -gt 0 ] && dump_logs
    say "docker compose down -v"
    timeout 120 "${DC[@]}" --profile tools down -v --remove-orphans --timeout 5 >/dev/null 2>&1
    label="label=com.docker.compose.project=$PROJECT"
    check "down -v: no container left" test -z "$(docker ps -a -q --filter "$label")"
    check "down -v: no network left" test -z "$(docker network ls -q --filter "$label")"
    check "down -v: no volume left" test -z "$(docker volume ls -q --filter "$label")"
fi

# --- 6. the suite in a container (after `down`, so the cores are its own) ----------------------
if [ "$RUN_SUITE" = 1 ]; then
    say "docker compose run --build --rm tests (ctest in a container)"
    ts=$(date +%s)
    if bounded timeout 900 "${DC[@]}" run --build --rm tests >"$WORK/suite.log" 2>&1; then
        pass "ctest suite in a container ($(($(date +%s) - ts)) s): $(grep -E 'tests passed|tests failed' "$WORK/suite.log" | tail -n1)"
    else
        tail -n 80 "$WORK/suite.log" >&2
        fail "ctest suite in a container: $(grep -E 'tests passed|tests failed' "$WORK/suite.log" | tail -n1)"
    fi
fi

say "up to healthy: $((${UP_MS:-0} / 1000)).$(((${UP_MS:-0} % 1000) / 100)) s; total $(($(date +%s) - T0)) s"
[ "$failed" -eq 0 ]
