# interop_lib.sh: sourced after kme_lib.sh by the dialect and interoperability tests. Adds
# start_hybrids: a qkd-hybrid daemon per node (alice, bob) beside the key servers of
# start_pair, with the qkd_certs fixture's certificates, configs and identity keys from
# scripts/hybrid-config.sh in $T/hybrid, free ports from port files, logs in $T/logs.
: "${QKD_SRC:?QKD_SRC must name the repository root}"

declare -A HYB_ADDR

# start_hybrids : bob first (alice, whose name sorts first, dials it), then alice.
start_hybrids() {
    local node n hargs peer_bob="127.0.0.1:1"
    for node in bob alice; do
        hargs=(--out "$T/hybrid" --certs "$CERTS" --nodes alice,bob)
        for n in alice bob; do
            hargs+=(--kme "$n=127.0.0.1:${KME_PORT_OF[$n]}")
        done
        hargs+=(--peer "alice=127.0.0.1:1" --peer "bob=$peer_bob")
        "$QKD_SRC/scripts/hybrid-config.sh" "${hargs[@]}" >>"$T/logs/hybrid-config.log" 2>&1 ||
            die "hybrid-config.sh failed: $(tail -n 5 "$T/logs/hybrid-config.log")"
        rm -f "$T/run/hybrid-$node.port" "$T/run/hybrid-$node.peer-port"
        "$QKD_BIN/qkd-hybrid" --config "$T/hybrid/$node.json" --peer-listen 127.0.0.1:0 \
            --port-file "$T/run/hybrid-$node.port" \
            --peer-port-file "$T/run/hybrid-$node.peer-port" --log-level INFO \
            </dev/null >>"$T/logs/hybrid-$node.log" 2>&1 &
        PIDS+=($!)
        PID_OF[hybrid-$node]=$!
        wait_file "$T/run/hybrid-$node.port" 10 || die "qkd-hybrid $node did not start"
        wait_file "$T/run/hybrid-$node.peer-port" 10 || die "qkd-hybrid $node: no peer listener"
        HYB_ADDR[$node]=127.0.0.1:$(cat "$T/run/hybrid-$node.port")
        [ "$node" = bob ] && peer_bob=127.0.0.1:$(cat "$T/run/hybrid-$node.peer-port")
    done
    local i
    for ((i = 0; i < 200; i++)); do
        grep -q "peer link with bob .* up" "$T/logs/hybrid-alice.log" 2>/dev/null &&
            grep -q "peer link with alice .* up" "$T/logs/hybrid-bob.log" 2>/dev/null && return 0
        sleep 0.05
    done
    die "hybrid peer link alice-bob did not come up"
}

# hclient NODE args... : qkd-client against NODE's hybrid daemon as NODE's application.
hclient() {
    local n=$1
    shift
    "$QKD_BIN/qkd-client" --server "${HYB_ADDR[$n]}" --cert "$CERTS/$n/client.pem" \
        --key "$CERTS/$n/client.key" --ca "$CERTS/ca.pem" --timeout 30000 "$@"
}
