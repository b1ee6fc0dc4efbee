#!/usr/bin/env bash
# local-net.sh: a QKD network on 127.0.0.1 without Docker (docs/architecture.md,
# README.md "A local network without Docker"): certificates, keygen pairs, key servers,
# free ports from --port-file, a ring prefix unique to DIR, logs in DIR/logs, pids in DIR/pids,
# and DIR/env for clients and tests. Every key server also serves ETSI 014 (HTTPS) with the
# SAE directory of all nodes (<node>-app, <node>-sae2, <node>-sae3; docs/certificates.md).
#
#   local-net.sh up DIR       start (returns when every link is up, every key server
#                             serves key and accepts ETSI 014 connections: readiness is
#                             probed, so any LOG_LEVEL works)
#   local-net.sh down DIR     stop exactly the processes in DIR/pids, unlink the rings
#   local-net.sh status DIR   show them
# Env: NODES (alice,bob or alice,bob,charlie), SKR_BPS (bits/s, default 1000000), RING_BYTES
# (default 1048576), QKD_BIN (default <repo>/build/bin), LOG_LEVEL (INFO), LOCALNET_WAIT_S
# (bounded wait for each server, default 20).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
QKD_BIN=${QKD_BIN:-$repo/build/bin}
NODES=${NODES:-alice,bob}
SKR_BPS=${SKR_BPS:-1000000}
RING_BYTES=${RING_BYTES:-1048576}
LOG_LEVEL=${LOG_LEVEL:-INFO}
WAIT_S=${LOCALNET_WAIT_S:-20}

die() {
    echo "local-net.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-1}"
}

upper() { echo "$1" | tr '[:lower:]' '[:upper:]'; }

# The links of the network: "primary secondary" pairs (the primary runs the keygen sender and
# is the key-server leader of the link).
links_for() {
    case "$1" in
    alice,bob) echo "alice bob" ;;
    alice,bob,charlie) printf 'alice bob\nalice charlie\nbob charlie\n' ;;
    *) die "NODES must be alice,bob or alice,bob,charlie (got '$1')" ;;
    esac
}

# is_ours PID: the pid is alive and runs one of the project's programs (guards against pid
# reuse after a crash).
is_ours() {
    [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep 'qkd-' >/dev/null
}

record_pid() { echo "$1 $2" >>"$DIR/pids"; }

# wait_port FILE WHAT LOG: waits until FILE holds a port that accepts TCP on 127.0.0.1; prints
# the port. Fails with the log tail after WAIT_S seconds.
wait_port() {
    local file=$1 what=$2 log=$3 pid=$4 i port
    for i in $(seq 1 $((WAIT_S * 10))); do
        if [ -s "$file" ]; then
            port=$(tr -d ' \n' <"$file")
            if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                echo "$port"
                return 0
            fi
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "local-net.sh: $what exited during start-up; last lines of $log:" >&2
            tail -n 20 "$log" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "local-net.sh: $what did not accept connections within ${WAIT_S} s; last lines of $log:" >&2
    tail -n 20 "$log" >&2
    return 1
}

# wait_file FILE WHAT LOG PID: waits until FILE exists (a keygen's --ready-file: written
# when its link is up, whatever the log level).
wait_file() {
    local file=$1 what=$2 log=$3 pid=$4 i
    for i in $(seq 1 $((WAIT_S * 10))); do
        [ -s "$file" ] && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "local-net.sh: $what exited during start-up; last lines of $log:" >&2
            tail -n 20 "$log" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "local-net.sh: $what not ready within ${WAIT_S} s; last lines of $log:" >&2
    tail -n 20 "$log" >&2
    return 1
}

# client NODE ADDR ARGS...: qkd-client as NODE's application at the key server ADDR, calls
# bounded to 3 s. Output on stdout (never logged: it may hold key).
client() {
    local node=$1 addr=$2
    shift 2
    "$QKD_BIN/qkd-client" --server "$addr" --cert "$DIR/certs/$node/client.pem" \
        --key "$DIR/certs/$node/client.key" --ca "$DIR/certs/ca.pem" --timeout 3000 "$@" \
        </dev/null 2>>"$DIR/logs/readiness.log"
}

# probe_link LEADER FOLLOWER: one readiness check of a link's key servers through ETSI 004,
# independent of the log level. OPEN_CONNECT at the leader naming the follower's node (0, not
# 4: the ring is attached), the follower's application joins that KSID (0, not 1: the leader's
# announcement arrived over peer sync) and fetches one key (allocated by the leader over peer
# sync, from the ring), then both ends close. Returns 0 when all of that worked.
probe_link() {
    local p=$1 s=$2 ksid out rc=1
    ksid=$(client "$p" "${kme_addr[$p]}" open --destination "server://$s" --chunk-size 32 \
        --qos-timeout 2000) || return 1
    case "$ksid" in *-*-*-*-*) ;; *) return 1 ;; esac
    if out=$(client "$s" "${kme_addr[$s]}" --json open --destination "server://$p" \
        --ksid "$ksid" --chunk-size 32 --qos-timeout 2000) &&
        [[ "$out" == *'"status":0'* ]]; then
        client "$s" "${kme_addr[$s]}" get --ksid "$ksid" --count 1 >/dev/null && rc=0
        client "$s" "${kme_addr[$s]}" close --ksid "$ksid" >/dev/null || rc=1
    elif [[ "${out:-}" == *'"status":1'* ]]; then
        client "$s" "${kme_addr[$s]}" close --ksid "$ksid" >/dev/null || true
    fi
    client "$p" "${kme_addr[$p]}" close --ksid "$ksid" >/dev/null || rc=1
    return $rc
}

# wait_link_served LEADER FOLLOWER: probe_link until it succeeds, at most WAIT_S seconds.
wait_link_served() {
    local p=$1 s=$2 end=$((SECONDS + WAIT_S))
    while :; do
        probe_link "$p" "$s" && return 0
        [ "$SECONDS" -lt "$end" ] || break
        sleep 0.2
    done
    echo "local-net.sh: key servers of link $p-$s do not serve key within ${WAIT_S} s;" \
        "last lines of $DIR/logs/kme-$p.log, $DIR/logs/kme-$s.log and the probe:" >&2
    tail -n 10 "$DIR/logs/kme-$p.log" "$DIR/logs/kme-$s.log" "$DIR/logs/readiness.log" >&2
    return 1
}

ring_name() { echo "/${RING_PREFIX}$1-$2"; }

# sae_args: the ETSI 014 SAE directory of the whole network as --sae ID=NODE options, the same
# for every key server: each node's application (<node>-app) and its SAEs <node>-sae2,
# <node>-sae3 (the certificates of generate_certs.sh, docs/certificates.md).
sae_args() {
    local n sfx
    for n in ${NODES//,/ }; do
        for sfx in app sae2 sae3; do printf -- '--sae\n%s=%s\n' "$n-$sfx" "$n"; done
    done
}

start_keygen() { # MODE NODE PEER [PORT]
    local mode=$1 node=$2 peer=$3 port=${4:-0} log="$DIR/logs/keygen-$2-$3.log"
    local args=(--mode "$mode" --ring "$(ring_name "$node" "$peer")" --ring-bytes "$RING_BYTES"
        --skr-bps "$SKR_BPS" --host 127.0.0.1 --port "$port"
        --cert "$DIR/certs/$node/node.pem" --key "$DIR/certs/$node/node.key"
        --ca "$DIR/certs/ca.pem" --peer-name "$peer" --log-level "$LOG_LEVEL")
    if [ "$mode" = receiver ]; then
        args+=(--port-file "$DIR/run/keygen-$node-$peer.port")
    fi
    rm -f "$DIR/run/keygen-$node-$peer.ready" "$DIR/run/keygen-$node-$peer.mport"
    args+=(--ready-file "$DIR/run/keygen-$node-$peer.ready")
    # metrics endpoint (docs/observability.md): <NODE>_KEYGEN_METRICS_URL in DIR/env
    args+=(--metrics-listen 127.0.0.1:0 --metrics-port-file "$DIR/run/keygen-$node-$peer.mport")
    "$QKD_BIN/qkd-keygen" "${args[@]}" </dev/null >>"$log" 2>&1 &
    KG_LAST_PID=$!
    record_pid "$KG_LAST_PID" "keygen-$node-$peer"
}

# Hybrid daemons (qkd-hybrid, docs/hybrid.md), started when the binary exists: configs and
# ML-DSA-65 identity keys in DIR/hybrid from scripts/hybrid-config.sh, each node's key server
# from kme_addr. Nodes start in reverse name order (a node dials the peers whose names sort
# after its own, which are then already listening); ports come from --port-file and
# --peer-port-file. Fills hyb_addr[node] with the ETSI 004 listener address.
hybrid_up() {
    local node rev hargs
    rev=$(tr ',' '\n' <<<"$NODES" | sort -r)
    declare -A hyb_peer
    for node in $rev; do
        hargs=(--out "$DIR/hybrid" --certs "$DIR/certs" --nodes "$NODES")
        local n
        for n in ${NODES//,/ }; do
            hargs+=(--kme "$n=${kme_addr[$n]:-127.0.0.1:1}" --peer "$n=${hyb_peer[$n]:-127.0.0.1:1}")
        done
        "$repo/scripts/hybrid-config.sh" "${hargs[@]}" >>"$DIR/logs/hybrid-config.log" 2>&1 ||
            { tail -n 20 "$DIR/logs/hybrid-config.log" >&2; die "hybrid-config.sh failed"; }
        rm -f "$DIR/run/hybrid-$node.port" "$DIR/run/hybrid-$node.peer-port" "$DIR/run/hybrid-$node.mport"
        "$QKD_BIN/qkd-hybrid" --config "$DIR/hybrid/$node.json" --peer-listen 127.0.0.1:0 \
            --metrics-listen 127.0.0.1:0 --metrics-port-file "$DIR/run/hybrid-$node.mport" \
            --port-file "$DIR/run/hybrid-$node.port" --peer-port-file "$DIR/run/hybrid-$node.peer-port" \
            --log-level "$LOG_LEVEL" </dev/null >>"$DIR/logs/hybrid-$node.log" 2>&1 &
        local pid=$!
        record_pid "$pid" "hybrid-$node"
        hyb_addr[$node]=127.0.0.1:$(wait_port "$DIR/run/hybrid-$node.port" "hybrid $node" \
            "$DIR/logs/hybrid-$node.log" "$pid")
        hyb_peer[$node]=127.0.0.1:$(wait_port "$DIR/run/hybrid-$node.peer-port" \
            "hybrid $node peer listener" "$DIR/logs/hybrid-$node.log" "$pid")
    done
    # final configs with every real peer address (for restarts by hand)
    hargs=(--out "$DIR/hybrid" --certs "$DIR/certs" --nodes "$NODES")
    for node in ${NODES//,/ }; do
        hargs+=(--kme "$node=${kme_addr[$node]:-127.0.0.1:1}" --peer "$node=${hyb_peer[$node]}")
    done
    "$repo/scripts/hybrid-config.sh" "${hargs[@]}" >>"$DIR/logs/hybrid-config.log" 2>&1 ||
        die "hybrid-config.sh failed"
}

# <NODE>_METRICS_URL (key server), <NODE>_KEYGEN_METRICS_URL (the keygen of the node's first
# link; every one as <NODE>_<PEER>_KEYGEN_METRICS_URL) and <NODE>_HYBRID_METRICS_URL, from the
# --metrics-port-file of each daemon (docs/observability.md).
mport_url() { # FILE: the URL of a metrics port file (waits up to 5 s for it)
    for _ in $(seq 1 50); do [ -s "$1" ] && break; sleep 0.1; done
    [ -s "$1" ] && echo "http://127.0.0.1:$(tr -d ' \n' <"$1")"
}
metrics_env() {
    local node N p s first url
    for node in ${NODES//,/ }; do
        N=$(upper "$node")
        [ -x "$QKD_BIN/qkd-kme" ] && url=$(mport_url "$DIR/run/kme-$node.mport") &&
            echo "${N}_METRICS_URL=$url"
        first=""
        while read -r p s; do
            local me="" other=""
            [ "$p" = "$node" ] && { me=$p; other=$s; }
            [ "$s" = "$node" ] && { me=$s; other=$p; }
            [ -n "$me" ] || continue
            url=$(mport_url "$DIR/run/keygen-$me-$other.mport") || continue
            echo "${N}_$(upper "$other")_KEYGEN_METRICS_URL=$url"
            [ -n "$first" ] || { first=$url; echo "${N}_KEYGEN_METRICS_URL=$url"; }
        done <<<"$(links_for "$NODES")"
        [ -x "$QKD_BIN/qkd-hybrid" ] && url=$(mport_url "$DIR/run/hybrid-$node.mport") &&
            echo "${N}_HYBRID_METRICS_URL=$url"
    done
    return 0
}

cmd_up() {
    [ -x "$QKD_BIN/qkd-keygen" ] || die "no $QKD_BIN/qkd-keygen (build first, or set QKD_BIN)"
    if [ -s "$DIR/pids" ]; then
        local pid name
        while read -r pid name; do
            is_ours "$pid" && die "$DIR is already up ($name, pid $pid); run: $0 down $DIR"
        done <"$DIR/pids"
    fi
    mkdir -p "$DIR/logs" "$DIR/run"
    DIR=$(cd "$DIR" && pwd)
    : >"$DIR/pids"
    RING_PREFIX="qkd-$(printf '%s' "$DIR" | sha256sum | cut -c1-8)-"
    local links
    links=$(links_for "$NODES")

    "$repo/certs/generate_certs.sh" --out "$DIR/certs" --nodes "$NODES" >"$DIR/logs/certs.log" 2>&1 ||
        { tail -n 20 "$DIR/logs/certs.log" >&2; die "certificate generation failed"; }

    : >"$DIR/rings"
    local p s
    while read -r p s; do
        ring_name "$p" "$s" >>"$DIR/rings"
        ring_name "$s" "$p" >>"$DIR/rings"
    done <<<"$links"

    # Any failure from here on stops what was started.
    trap 'if [ "${UP_DONE:-0}" != 1 ]; then echo "local-net.sh: start-up failed, stopping what was started" >&2; cmd_down >/dev/null 2>&1; fi' EXIT
    # Keygen receivers (secondary ends) first, then the senders.
    declare -A kg_port
    while read -r p s; do
        rm -f "$DIR/run/keygen-$s-$p.port"
        start_keygen receiver "$s" "$p"
        kg_port[$p-$s]=$(wait_port "$DIR/run/keygen-$s-$p.port" "keygen receiver $s<-$p" \
            "$DIR/logs/keygen-$s-$p.log" "$KG_LAST_PID")
    done <<<"$links"
    declare -A kg_pid
    while read -r p s; do
        start_keygen sender "$p" "$s" "${kg_port[$p-$s]}"
        kg_pid[$p-$s]=$KG_LAST_PID
    done <<<"$links"
    while read -r p s; do
        wait_file "$DIR/run/keygen-$p-$s.ready" "keygen link $p-$s" \
            "$DIR/logs/keygen-$p-$s.log" "${kg_pid[$p-$s]}"
    done <<<"$links"

    # Key servers: leaders before their followers (alice, bob, charlie order does that).
    declare -A kme_addr peer_port e14_port
    local node
    if [ -x "$QKD_BIN/qkd-kme" ]; then
        [ -x "$QKD_BIN/qkd-client" ] || die "no $QKD_BIN/qkd-client (needed to probe the key servers)"
        for node in ${NODES//,/ }; do
            local args=(--address 127.0.0.1 --port 0 --port-file "$DIR/run/kme-$node.port"
                --cert "$DIR/certs/$node/node.pem" --key "$DIR/certs/$node/node.key"
                --ca "$DIR/certs/ca.pem" --node "$node" --log-level "$LOG_LEVEL"
                --metrics-listen 127.0.0.1:0 --metrics-port-file "$DIR/run/kme-$node.mport"
                --etsi014-listen 127.0.0.1:0 --etsi014-port-file "$DIR/run/kme-$node.e14port")
            local sae
            while read -r sae; do args+=("$sae"); done < <(sae_args)
            rm -f "$DIR/run/kme-$node.mport" "$DIR/run/kme-$node.e14port"
            local leader=0
            while read -r p s; do
                if [ "$p" = "$node" ]; then
                    leader=1
                    args+=(--link "peer=$s,role=leader,ring=$(ring_name "$p" "$s"),skr=$SKR_BPS")
                elif [ "$s" = "$node" ]; then
                    [ -n "${peer_port[$p]:-}" ] || die "leader $p of link $p-$s is not up"
                    args+=(--link "peer=$p,role=follower,ring=$(ring_name "$s" "$p"),addr=127.0.0.1:${peer_port[$p]},skr=$SKR_BPS")
                fi
            done <<<"$links"
            if [ "$leader" = 1 ]; then
                args+=(--peer-listen 127.0.0.1:0 --peer-port-file "$DIR/run/kme-$node.peer-port")
            fi
            rm -f "$DIR/run/kme-$node.port" "$DIR/run/kme-$node.peer-port"
            "$QKD_BIN/qkd-kme" "${args[@]}" </dev/null >>"$DIR/logs/kme-$node.log" 2>&1 &
            local pid=$!
            record_pid "$pid" "kme-$node"
            kme_addr[$node]=127.0.0.1:$(wait_port "$DIR/run/kme-$node.port" "kme $node" \
                "$DIR/logs/kme-$node.log" "$pid")
            e14_port[$node]=$(wait_port "$DIR/run/kme-$node.e14port" "kme $node ETSI 014 listener" \
                "$DIR/logs/kme-$node.log" "$pid")
            if [ "$leader" = 1 ]; then
                peer_port[$node]=$(wait_port "$DIR/run/kme-$node.peer-port" \
                    "kme $node peer sync" "$DIR/logs/kme-$node.log" "$pid")
            fi
        done
    else
        echo "local-net.sh: WARNING: no $QKD_BIN/qkd-kme; key servers not started (keygen only)" >&2
    fi
    if [ -x "$QKD_BIN/qkd-kme" ]; then
        # Ready means: every key server has attached its rings and every follower has its
        # peer sync up, so the first OPEN_CONNECT is not answered 4 or made to wait. Probed
        # with qkd-client (a real open/join/get/close per link), not read from the logs, so
        # it works at any LOG_LEVEL.
        while read -r p s; do
            wait_link_served "$p" "$s" || die "key servers of link $p-$s not ready"
        done <<<"$links"
    fi
    declare -A hyb_addr
    if [ -x "$QKD_BIN/qkd-hybrid" ]; then
        hybrid_up
    fi
    UP_DONE=1
    trap - EXIT

    {
        echo "# written by local-net.sh up $DIR"
        echo "NODES=$NODES"
        for node in ${NODES//,/ }; do
            local N
            N=$(upper "$node")
            echo "${N}_ADDR=${kme_addr[$node]:-}"
            echo "${N}_HYBRID_ADDR=${hyb_addr[$node]:-}"
        done
        echo "CA_PEM=$DIR/certs/ca.pem"
        echo "CLIENT_CERT_PEM=$DIR/certs/alice/client.pem"
        echo "CLIENT_KEY_PEM=$DIR/certs/alice/client.key"
        for node in ${NODES//,/ }; do
            local N
            N=$(upper "$node")
            echo "${N}_CLIENT_CERT_PEM=$DIR/certs/$node/client.pem"
            echo "${N}_CLIENT_KEY_PEM=$DIR/certs/$node/client.key"
            # ETSI 014: the key server's URL (no path) and the node's SAEs: <node>-app (the
            # application certificate above), <node>-sae2, <node>-sae3
            [ -z "${e14_port[$node]:-}" ] || echo "${N}_ETSI014_URL=https://127.0.0.1:${e14_port[$node]}"
            echo "${N}_APP_CERT_PEM=$DIR/certs/$node/client.pem"
            echo "${N}_APP_KEY_PEM=$DIR/certs/$node/client.key"
            local sae
            for sae in sae2 sae3; do
                echo "${N}_$(upper "$sae")_CERT_PEM=$DIR/certs/$node/$sae.pem"
                echo "${N}_$(upper "$sae")_KEY_PEM=$DIR/certs/$node/$sae.key"
            done
        done
        echo "SKR_BPS=$SKR_BPS"
        echo "RING_BYTES=$RING_BYTES"
        echo "RING_PREFIX=$RING_PREFIX"
        while read -r p s; do
            echo "RING_$(upper "$p")_$(upper "$s")=$(ring_name "$p" "$s")"
            echo "RING_$(upper "$s")_$(upper "$p")=$(ring_name "$s" "$p")"
        done <<<"$links"
        echo "QKD_BIN=$QKD_BIN"
        metrics_env
    } >"$DIR/env"
    echo "local-net.sh: up in $DIR (nodes $NODES, SKR $SKR_BPS bit/s); source $DIR/env"
}

cmd_down() {
    [ -d "$DIR" ] || die "no directory $DIR"
    local pid name alive=()
    if [ -s "$DIR/pids" ]; then
        # Followers and senders were started last; stop in reverse order.
        while read -r pid name; do
            if is_ours "$pid"; then
                kill -TERM "$pid" 2>/dev/null && alive+=("$pid")
            fi
        done < <(tac "$DIR/pids")
    fi
    local i
    for i in $(seq 1 30); do
        local left=()
        for pid in "${alive[@]}"; do is_ours "$pid" && left+=("$pid"); done
        alive=("${left[@]}")
        [ "${#alive[@]}" = 0 ] && break
        sleep 0.1
    done
    for pid in "${alive[@]}"; do
        echo "local-net.sh: pid $pid did not stop after SIGTERM; killing" >&2
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ -s "$DIR/rings" ]; then
        local r
        while read -r r; do
            case "$r" in /qkd-*) rm -f "/dev/shm/${r#/}" ;; esac
        done <"$DIR/rings"
    fi
    : >"$DIR/pids"
    echo "local-net.sh: down ($DIR)"
}

cmd_status() {
    [ -d "$DIR" ] || die "no directory $DIR"
    local pid name up=0 total=0
    if [ -s "$DIR/pids" ]; then
        while read -r pid name; do
            total=$((total + 1))
            if is_ours "$pid"; then
                up=$((up + 1))
                printf '%-22s pid %-8s running\n' "$name" "$pid"
            else
                printf '%-22s pid %-8s NOT running\n' "$name" "$pid"
            fi
        done <"$DIR/pids"
    fi
    if [ -s "$DIR/rings" ]; then
        local r
        while read -r r; do
            if [ -e "/dev/shm/${r#/}" ]; then
                printf '%-22s ring present\n' "$r"
            else
                printf '%-22s ring absent\n' "$r"
            fi
        done <"$DIR/rings"
    fi
    [ -f "$DIR/env" ] && grep -E '_ADDR=|_METRICS_URL=|_ETSI014_URL=' "$DIR/env"
    echo "$up of $total processes running"
    [ "$up" = "$total" ] && [ "$total" -gt 0 ]
}

[ $# -ge 1 ] || usage
case "$1" in
-h | --help) usage 0 ;;
up | down | status)
    [ $# = 2 ] || usage
    DIR=$2
    "cmd_$1"
    ;;
*) usage ;;
esac
