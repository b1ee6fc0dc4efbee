#!/bin/bash
# kme_limits.sh: the per-client limits of docs/kme.md ("Limits"), each at its edge. Streams per
# identity (--max-streams-per-identity, set here through MAX_STREAMS_PER_IDENTITY): the N+1-th
# new, predefined or joined stream of one identity -> 4 with a log line, another identity is
# not counted, a CLOSE frees a slot. Key a follower holds for a stream its application never
# attached (--max-unattached-bytes): the leader's calls past the bound get 2 (nothing is lost)
# until the follower's application attaches, then the same keys at both ends. A chunk so small
# that the window would pass --max-window-chunks is raised to the smallest that fits (7).
. "$(dirname "$0")/kme_lib.sh"

keys() { awk 'NF==2 {print $1, $2}'; }
J() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
q() { echo "$1" | J "$2"; }
APP2="$CERTS/clients/app2"

# window 64 KiB, at most 4096 chunks: chunks below 16 bytes are raised
export MAX_STREAMS_PER_IDENTITY=2
start_pair 4000000 --window-bytes 65536 --max-window-chunks 4096 --max-unattached-bytes 2048
unset MAX_STREAMS_PER_IDENTITY

# --- streams per identity (2) ---
K1=$(client alice "" open --chunk-size 1024)
check "alice: stream 1 of 2" 0 $?
K2=$(client alice "" open --chunk-size 1024)
check "alice: stream 2 of 2" 0 $?
client alice "" open >/dev/null 2>&1
check "alice: a third new stream -> 4" 14 $?
client alice "" open --ksid 0a0b0c0d-0000-4000-8000-000000000001 >/dev/null 2>&1
check "alice: a third (predefined) stream -> 4" 14 $?
grep -q "refused: the identity has 2 streams open at this node (--max-streams-per-identity 2)" \
    "$T/logs/kme-alice.log"
check "alice logged the refusal" 0 $?
K3=$(client alice "$APP2" open)
check "another identity at alice is not counted -> 0" 0 $?
client alice "" close --ksid "$K2" >/dev/null
client alice "" open >/dev/null
check "alice: a CLOSE freed a slot -> 0" 0 $?
client bob "" open --ksid "$K1" >/dev/null
check "bob joins stream 1" 0 $?
client bob "" open --ksid "$K3" >/dev/null
check "bob joins stream 2" 0 $?
client bob "" open >/dev/null 2>&1
check "bob: a third stream -> 4" 14 $?

# --- key held at bob for a stream his application has not attached: 2048 B = 2 chunks ---
client alice "" close --ksid "$K1" >/dev/null
client bob "" close --ksid "$K1" >/dev/null
client bob "" close --ksid "$K3" >/dev/null
client alice "$APP2" close --ksid "$K3" >/dev/null
sleep 0.3
K=$(client alice "$APP2" open --chunk-size 1024)
client alice "$APP2" get --ksid "$K" --index 0 --count 2 | keys >"$T/a1"
check "alice: 2 keys while bob's application is away (at the bound)" 2 "$(wc -l <"$T/a1")"
client alice "$APP2" get --ksid "$K" --index 2 >/dev/null 2>&1
check "alice: a third -> 2 (bob holds no more key for an unattached stream)" 12 $?
grep -q "not attached here and 2048 bytes already held for unattached streams" \
    "$T/logs/kme-bob.log"
check "bob logged the refusal" 0 $?
client bob "" open --ksid "$K" >/dev/null
check "bob's application attaches" 0 $?
client alice "$APP2" get --ksid "$K" --index 2 --count 3 | keys >>"$T/a1"
check "alice: index 2 deliverable once bob attached (not burnt)" 5 "$(wc -l <"$T/a1")"
client bob "" get --ksid "$K" --index 0 --count 5 | keys >"$T/b1"
check "identical at both ends" "" "$(diff "$T/a1" "$T/b1")"

client alice "$APP2" close --ksid "$K" >/dev/null
client bob "" close --ksid "$K" >/dev/null

# --- the window's bitmap: 65536 B / 4096 chunks = 16 B at least ---
out=$(client alice "$APP2" --json open --chunk-size 16)
check "chunk 16 (4096 chunks, at the bound) -> 0" 0 "$(q "$out" 'd["status"]')"
out=$(client alice "$APP2" --json open --chunk-size 15)
check "chunk 15 (4370 chunks) -> 7" 7 "$(q "$out" 'd["status"]')"
check "chunk 15: 16 counter-proposed" 16 "$(q "$out" 'd["qos"]["key_chunk_size"]')"
finish
