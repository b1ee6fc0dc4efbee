#!/usr/bin/env bash
# dialect_e.sh: the dialect rules of docs/wire.md ("Dialects") end to end, with qkd-client in
# the E framing (which sends what ETSI's C library sends) and raw frames (dialect_raw.py),
# against alice's and bob's key servers and their qkd-hybrid daemons, each next to the Q answer
# to the same request: bare identifiers, QoS Timeout / TTL 0, Max/Min_bps 32, GET_KEY key info
# (never 8; non-symmetric -> 2), full-shaped E errors.
. "$(dirname "$0")/kme_lib.sh"
. "$(dirname "$0")/interop_lib.sh"

start_pair
start_hybrids
J() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
e() { client "$1" "" --framing e "${@:2}"; }
q() { client "$1" "" --framing q "${@:2}"; }

# source / destination: bare identifiers in E, absolute URIs only in Q
out=$(e alice --json open --source sae-alice-wg0 --destination sae-bob-wg0)
check "E bare source/destination -> 0" 0 "$(echo "$out" | J 'd["status"]')"
K=$(echo "$out" | J 'd["ksid"]')
out=$(e bob --json open --source sae-alice-wg0 --destination sae-bob-wg0 --ksid "$K")
check "E bare ids, bob joins the KSID -> 0" 0 "$(echo "$out" | J 'd["status"]')"
ka=$(e alice get --ksid "$K" --index 0)
kb=$(e bob get --ksid "$K" --index 0)
[ -n "$ka" ] && [ "$ka" = "$kb" ] && ok "E bare ids: the same key at both ends" || fail "keys '$ka' / '$kb'"
e alice open --source sae-alice-wg0 --destination bob >/dev/null
check "E bare destination naming the peer node -> 0" 0 $?
e alice open --source "sae alice" >/dev/null 2>&1
check "E source outside [A-Za-z0-9._:@-] -> 4" 14 $?
q alice open --source sae-alice-wg0 --destination sae-bob-wg0 >/dev/null 2>&1
check "Q bare source/destination -> 4" 14 $?

# QoS Timeout 0 and TTL 0: server defaults in E; Timeout 0 -> 6 in Q
out=$(e alice --json open --qos-timeout 0 --ttl 0)
check "E Timeout 0 -> 0" 0 "$(echo "$out" | J 'd["status"]')"
check "E Timeout 0 -> the server default" 600000 "$(echo "$out" | J 'd["qos"]["timeout"]')"
check "E TTL 0 -> the server default" 86400 "$(echo "$out" | J 'd["qos"]["ttl"]')"
q alice open --qos-timeout 0 >/dev/null 2>&1
check "Q Timeout 0 -> 6" 16 $?
out=$(q alice --json open --ttl 0)
check "Q TTL 0 -> the server default" 86400 "$(echo "$out" | J 'd["qos"]["ttl"]')"

# Max_bps / Min_bps 32 (ETSI's library sends them): accepted in both dialects
for fr in e q; do
    out=$(client alice "" --framing $fr --json open --max-bps 32 --min-bps 32)
    check "$fr Max_bps/Min_bps 32 -> 0" 0 "$(echo "$out" | J 'd["status"]')"
    check "$fr Max_bps 32 kept" 32 "$(echo "$out" | J 'd["qos"]["max_bps"]')"
done

# GET_KEY metadata: key info in E (never 8, the whole metadata), buffer size in Q (4 -> 8)
K=$(e alice open)
out=$(e alice --json get --ksid "$K" --index 0 --metadata-size 4)
check "E --metadata-size 4 -> a key, not 8" 64 "$(echo "$out" | J 'len(d["keys"][0]["key"])')"
out=$(e alice --json get --ksid "$K" --index 1)
check "E GET_KEY metadata is the whole JSON" True "$(echo "$out" | J '"age" in d["keys"][0]["metadata"]')"
K=$(q alice open)
q alice get --ksid "$K" --index 0 --metadata-size 4 >/dev/null 2>&1
check "Q Metadata_size 4 -> 8" 18 $?

# raw E frames: ETSI's exact OPEN_CONNECT, key type 0x01 -> 2, full-shaped errors
python3 "$(dirname "$0")/dialect_raw.py" "127.0.0.1:${KME_PORT_OF[alice]}" "$CERTS/ca.pem" \
    "$CERTS/alice/client.pem" "$CERTS/alice/client.key" "$T/logs/kme-alice.log" kme
check "raw E frames at the key server" 0 $?

# the hybrid daemons' ETSI listeners: the same rules
out=$(hclient alice --framing e --json open --source sae-alice-wg0 --destination sae-bob-wg0)
check "hybrid: E bare ids, initiator -> 0" 0 "$(echo "$out" | J 'd["status"]')"
H=$(echo "$out" | J 'd["ksid"]')
out=$(hclient bob --framing e --json open --source sae-alice-wg0 --destination sae-bob-wg0 --ksid "$H")
check "hybrid: E bare ids, responder joins -> the same KSID" "$H" "$(echo "$out" | J 'd["ksid"]')"
hclient alice --framing e get --ksid "$H" --index 0 --count 3 >"$T/ha" &
pa=$!
hclient bob --framing e get --ksid "$H" --index 0 --count 3 >"$T/hb"
wait $pa
[ "$(wc -l <"$T/ha")" -eq 3 ] && cmp -s "$T/ha" "$T/hb" && ok "hybrid: E bare ids, 3 identical keys" ||
    fail "hybrid keys differ: $(cat "$T/ha") / $(cat "$T/hb")"
SRC='hybrid://app@alice?hybridization=hkdf&key_sources=ML-KEM-768'
DST='hybrid://app@bob'
out=$(hclient alice --framing e --json open --source "$SRC" --destination "$DST" --qos-timeout 0)
check "hybrid: E Timeout 0 -> 0" 0 "$(echo "$out" | J 'd["status"]')"
hclient alice --framing q open --source "$SRC" --destination "$DST" --qos-timeout 0 >/dev/null 2>&1
check "hybrid: Q Timeout 0 -> 6" 16 $?
hclient alice --framing q open --source sae-alice-wg0 --destination sae-bob-wg0 >/dev/null 2>&1
check "hybrid: Q bare ids -> 4" 14 $?
python3 "$(dirname "$0")/dialect_raw.py" "${HYB_ADDR[alice]}" "$CERTS/ca.pem" \
    "$CERTS/alice/client.pem" "$CERTS/alice/client.key" "$T/logs/hybrid-alice.log" hybrid
check "raw E frames at the hybrid daemon" 0 $?
finish
