#!/bin/bash
# kme_reference.sh: the reference-suite expectations of docs/kme.md, for alice (leader) AND
# bob (follower) and BOTH framings (Q and E), through qkd-client; plus Metadata_size 0 gives a
# key without metadata and the metadata "age" grows with time (real age from the ring). In the
# E framing the E dialect's answers apply where they differ (docs/wire.md, "Dialects").
. "$(dirname "$0")/kme_lib.sh"

start_pair
ZERO=00000000-0000-0000-0000-000000000000
J() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

for node in alice bob; do
    for fr in q e; do
        tag="$node/$fr"
        c() { client "$node" "" --framing "$fr" "$@"; }
        # successful flow (0,0,0): open, get, close on one connection
        out=$(c --json flow --count 1)
        check "$tag flow exit" 0 $?
        check "$tag flow status" 0 "$(echo "$out" | J 'd["status"]')"
        check "$tag flow key length" 64 "$(echo "$out" | J 'len(d["keys"][0]["key"])')"
        # index 1 000 000 with chunk 32 -> 2
        K=$(c open)
        c get --ksid "$K" --index 1000000 >/dev/null 2>&1
        check "$tag index 1000000 -> 2" 12 $?
        # the last index inside the 1 MiB window works, the first outside does not
        c get --ksid "$K" --index 32768 >/dev/null 2>&1
        check "$tag index 32768 (window edge) -> 2" 12 $?
        c get --ksid "$K" --index 32767 >/dev/null 2>&1
        check "$tag index 32767 (inside window) -> 0" 0 $?
        # Metadata_size 4 -> 8, nothing consumed: the same index then works. E dialect: the
        # request metadata is key info, never 8 (the key comes with the whole metadata).
        c get --ksid "$K" --index 5 --metadata-size 4 >/dev/null 2>&1
        rc=$?
        if [ "$fr" = q ]; then
            check "$tag Metadata_size 4 -> 8" 18 $rc
        else
            check "$tag Metadata_size 4 -> a key (E: never 8)" 0 $rc
            c get --ksid "$K" --index 5 >/dev/null 2>&1
            check "$tag index 5 delivered by the E call above -> 2" 12 $?
            c close --ksid "$K" >/dev/null
            K=$(c open)
        fi
        out=$(c --json get --ksid "$K" --index 5 --metadata-size 0)
        check "$tag index 5 still deliverable after 8" 0 $?
        check "$tag Metadata_size 0 -> no metadata" None "$(echo "$out" | J 'd["keys"][0]["metadata"]')"
        check "$tag Metadata_size 0 -> key" 64 "$(echo "$out" | J 'len(d["keys"][0]["key"])')"
        # same index twice at one end -> 2
        c get --ksid "$K" --index 5 >/dev/null 2>&1
        check "$tag same index twice -> 2" 12 $?
        c close --ksid "$K" >/dev/null
        check "$tag close" 0 $?
        # source "client" -> 4 (E dialect: a bare identifier, accepted; "" and bad characters -> 4)
        if [ "$fr" = q ]; then
            c open --source client >/dev/null 2>&1
            check "$tag source without scheme -> 4" 14 $?
            c open --destination server >/dev/null 2>&1
            check "$tag destination without scheme -> 4" 14 $?
        else
            c open --source client >/dev/null 2>&1
            check "$tag bare source -> 0" 0 $?
            c open --destination "server/x" >/dev/null 2>&1
            check "$tag destination neither URI nor bare identifier -> 4" 14 $?
        fi
        # Max_bps above the server limit -> 7, then GET_KEY 0 and CLOSE 0
        out=$(c --json open --max-bps 4000000000 2>/dev/null)
        check "$tag Max_bps over limit -> 7" 7 "$(echo "$out" | J 'd["status"]')"
        check "$tag counter-proposed Max_bps = SKR" 1000000 "$(echo "$out" | J 'd["qos"]["max_bps"]')"
        K=$(echo "$out" | J 'd["ksid"]')
        c get --ksid "$K" --index 0 >/dev/null
        check "$tag GET_KEY after 7" 0 $?
        c close --ksid "$K" >/dev/null
        check "$tag CLOSE after 7" 0 $?
        # GET_KEY and CLOSE on the zero KSID without OPEN_CONNECT -> 3 and 3
        c get --ksid "$ZERO" >/dev/null 2>&1
        check "$tag GET_KEY zero KSID -> 3" 13 $?
        c close --ksid "$ZERO" >/dev/null 2>&1
        check "$tag CLOSE zero KSID -> 3" 13 $?
        # second OPEN_CONNECT on a KSID in use at the same node -> 5
        K=$(c open)
        c open --ksid "$K" >/dev/null 2>&1
        check "$tag second OPEN on KSID in use -> 5" 15 $?
        c close --ksid "$K" >/dev/null
        # Timeout 0 -> 6 (E dialect: the server default)
        c open --qos-timeout 0 >/dev/null 2>&1
        rc=$?
        if [ "$fr" = q ]; then
            check "$tag Timeout 0 -> 6" 16 $rc
        else
            check "$tag Timeout 0 -> 0 (server default)" 0 $rc
        fi
        # Key_chunk_size 0 -> 7 with the server default; other mimetype -> 7 with json
        out=$(c --json open --chunk-size 0 2>/dev/null)
        check "$tag chunk 0 -> 7" 7 "$(echo "$out" | J 'd["status"]')"
        check "$tag chunk 0 -> server default" 1024 "$(echo "$out" | J 'd["qos"]["key_chunk_size"]')"
        out=$(c --json open --mimetype text/plain 2>/dev/null)
        check "$tag mimetype -> 7" 7 "$(echo "$out" | J 'd["status"]')"
        check "$tag mimetype -> json" application/json "$(echo "$out" | J 'd["qos"]["metadata_mimetype"]')"
        # a predefined, unknown KSID -> 1 (peer not connected yet)
        P=$(python3 -c 'import uuid; print(uuid.uuid4())')
        out=$(c --json open --ksid "$P")
        check "$tag predefined KSID -> 1" 1 "$(echo "$out" | J 'd["status"]')"
    done
done

# "age" grows with time, at both ends: both get their key for (KSID, 0) and (KSID, 1) at once
# allocated (alice fetches 0 and 1 first), then each end fetches 0, waits, fetches 1.
K=$(client alice "" open)
client bob "" open --ksid "$K" >/dev/null
client bob "" get --ksid "$K" --index 2 --count 2 >/dev/null # follower asks for 2 and 3
client alice "" get --ksid "$K" --index 0 --count 2 >/dev/null
for node in bob alice; do
    i0=0
    [ "$node" = alice ] && i0=2
    a0=$(client "$node" "" --json get --ksid "$K" --index $i0 | J 'd["keys"][0]["metadata"]["age"]')
    sleep 1.2
    a1=$(client "$node" "" --json get --ksid "$K" --index $((i0 + 1)) | J 'd["keys"][0]["metadata"]["age"]')
    hops=$(client "$node" "" --json get --ksid "$K" --index $((i0 + 4)) | J 'd["keys"][0]["metadata"]["hops"]')
    if [ -n "$a0" ] && [ -n "$a1" ] && [ "$a1" -ge $((a0 + 1000)) ]; then
        ok "$node age grows ($a0 ms -> $a1 ms)"
    else
        fail "$node age did not grow by >= 1000 ms: '$a0' -> '$a1'"
    fi
    check "$node hops" 0 "$hops"
done
# the key bytes never reach a log
grep -qiE '"key"|[0-9a-f]{64}' "$T"/logs/kme-*.log && fail "key-like hex in kme logs"
grep -q "GET_KEY successful for Key_stream_ID: $K, Index: 0" "$T/logs/kme-alice.log"
check "GET_KEY log line" 0 $?
finish
