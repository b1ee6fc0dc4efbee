#!/bin/bash
# kme_semantics.sh: docs/kme.md rules at both ends of a link, each checked where it could fail:
# joining a KSID the peer announced keeps the stream's QoS (the joiner's differing QoS changes
# nothing, the reply carries the stream's QoS), at the leader and the follower; a predefined
# KSID answers 1 and the peer's join 0; CLOSE at the follower: the leader keeps the key already
# allocated to it, no new index; the peer end keeps its key until the TTL passes; the index
# window at its edge when one end runs a window ahead of the other (2, and deliverable later:
# never burnt); allocation ahead bounded by --alloc-ahead-bytes (4 chunks of 32) and
# --alloc-ahead (6 chunks of 16) at their edges, seen through what the peer end keeps after a
# CLOSE; the stream limit at its edge at both nodes; Metadata_size against the metadata of the
# delivery; a link without a ring -> 4. The key servers run at DEBUG and no
# key delivered ever appears in a log.
. "$(dirname "$0")/kme_lib.sh"

KME_LOG_LEVEL=DEBUG
start_pair 4000000 --window-bytes 1024 --max-streams 4 --alloc-ahead 6 --alloc-ahead-bytes 128
keys() { awk 'NF==2 {print $1, $2}'; }
J() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
: >"$T/all_keys"
# save FILE: remember the keys of FILE for the log check
save() { awk '{print $2}' "$1" >>"$T/all_keys"; }
q() { echo "$1" | J "$2"; }

# --- joining keeps the stream's QoS (window 1024 B: chunks up to 256 keep >= 4 indices) ---
out=$(client alice "" --json open --chunk-size 64 --qos-timeout 3000 --max-bps 40000 --ttl 600)
K=$(q "$out" 'd["ksid"]')
check "alice opens (chunk 64)" 0 "$(q "$out" 'd["status"]')"
out=$(client bob "" --json open --ksid "$K" --chunk-size 32 --qos-timeout 9000 --max-bps 5000 \
    --ttl 60 --mimetype text/plain)
check "bob joins with another QoS -> 0 (not 7)" 0 "$(q "$out" 'd["status"]')"
check "join reply: the stream's chunk" 64 "$(q "$out" 'd["qos"]["key_chunk_size"]')"
check "join reply: the stream's Timeout" 3000 "$(q "$out" 'd["qos"]["timeout"]')"
check "join reply: the stream's Max_bps" 40000 "$(q "$out" 'd["qos"]["max_bps"]')"
check "join reply: the stream's TTL" 600 "$(q "$out" 'd["qos"]["ttl"]')"
check "join reply: the stream's mimetype" application/json "$(q "$out" 'd["qos"]["metadata_mimetype"]')"
client alice "" get --ksid "$K" --index 0 --count 4 | keys >"$T/a1"
client bob "" get --ksid "$K" --index 0 --count 4 | keys >"$T/b1"
check "joined stream: identical" "" "$(diff "$T/a1" "$T/b1")"
check "joined stream: 64-byte keys at bob" 128 "$(head -1 "$T/b1" | awk '{print length($2)}')"
save "$T/a1"
client alice "" close --ksid "$K" >/dev/null
client bob "" close --ksid "$K" >/dev/null
# the other way round: the follower opens, the leader joins
out=$(client bob "" --json open --chunk-size 48 --qos-timeout 4000)
K=$(q "$out" 'd["ksid"]')
out=$(client alice "" --json open --ksid "$K" --chunk-size 16 --qos-timeout 1000)
check "alice joins bob's stream with another QoS -> 0" 0 "$(q "$out" 'd["status"]')"
check "alice's join reply: the stream's chunk" 48 "$(q "$out" 'd["qos"]["key_chunk_size"]')"
check "alice's join reply: the stream's Timeout" 4000 "$(q "$out" 'd["qos"]["timeout"]')"
client bob "" get --ksid "$K" --index 0 --count 3 | keys >"$T/b2"
client alice "" get --ksid "$K" --index 0 --count 3 | keys >"$T/a2"
check "follower-opened stream: identical" "" "$(diff "$T/a2" "$T/b2")"
check "follower-opened stream: 48-byte keys" 96 "$(head -1 "$T/a2" | awk '{print length($2)}')"
save "$T/a2"
client alice "" close --ksid "$K" >/dev/null
client bob "" close --ksid "$K" >/dev/null

# --- Metadata_size: 8 only when this delivery's metadata does not fit ---
# The opener fetches and CLOSEs before the peer's application joins: the join answers 0 (the
# peer's application did open it) and the key allocated meanwhile is delivered, identical.
K=$(client alice "" open)
client alice "" get --ksid "$K" --index 0 --count 5 | keys >"$T/a5"
client alice "" close --ksid "$K" >/dev/null
out=$(client bob "" --json open --ksid "$K")
check "join after the opener closed -> 0" 0 "$(q "$out" 'd["status"]')"
client bob "" get --ksid "$K" --index 0 --count 5 | keys >"$T/b5"
check "join after the opener closed: identical keys" "" "$(diff "$T/a5" "$T/b5")"
check "join after the opener closed: 5 keys" 5 "$(wc -l <"$T/b5")"
client bob "" close --ksid "$K" >/dev/null

K=$(client alice "" open)
client bob "" open --ksid "$K" >/dev/null
out=$(client alice "" --json get --ksid "$K" --index 0 --metadata-size 26)
check "Metadata_size 26 holds {\"age\":N,\"hops\":0} (N < 10^9) -> key" 64 "$(q "$out" 'len(d["keys"][0]["key"])')"
check "... and its metadata" 0 "$(q "$out" 'd["keys"][0]["metadata"]["hops"]')"
client alice "" get --ksid "$K" --index 1 --metadata-size 17 >/dev/null 2>&1
check "Metadata_size 17 (below any metadata) -> 8" 18 $?
client bob "" get --ksid "$K" --index 1 --metadata-size 17 >/dev/null 2>&1
check "bob: Metadata_size 17 -> 8" 18 $?
client bob "" get --ksid "$K" --index 1 --metadata-size 27 >/dev/null
check "bob: index 1 not consumed by the 8, Metadata_size 27 -> key" 0 $?
client alice "" close --ksid "$K" >/dev/null
client bob "" close --ksid "$K" >/dev/null

# --- predefined KSIDs: 1 until the peer's application attaches, then the join is 0 ---
for first in bob alice; do
    second=alice
    [ $first = alice ] && second=bob
    P=$(python3 -c 'import uuid; print(uuid.uuid4())')
    check "$first opens predefined KSID -> 1" 1 "$(client $first "" --json open --ksid "$P" | J 'd["status"]')"
    sleep 0.2
    check "$second joins it -> 0" 0 "$(client $second "" --json open --ksid "$P" | J 'd["status"]')"
    client $first "" get --ksid "$P" --index 0 --count 2 | keys >"$T/p1"
    client $second "" get --ksid "$P" --index 0 --count 2 | keys >"$T/p2"
    check "predefined KSID opened at $first: identical" "" "$(diff "$T/p1" "$T/p2")"
    check "predefined KSID opened at $first: 2 keys" 2 "$(wc -l <"$T/p1")"
    save "$T/p1"
    client alice "" close --ksid "$P" >/dev/null
    client bob "" close --ksid "$P" >/dev/null
done

# --- CLOSE at the follower: the leader keeps what was allocated to it, nothing new ---
K=$(client alice "" open)
client bob "" open --ksid "$K" >/dev/null
client bob "" get --ksid "$K" --index 0 --count 3 | keys >"$T/b3"
client bob "" close --ksid "$K" >/dev/null
check "bob closes" 0 $?
client bob "" get --ksid "$K" --index 3 >/dev/null 2>&1
check "bob: GET_KEY after his CLOSE -> 3" 13 $?
sleep 0.3
client alice "" get --ksid "$K" --index 0 --count 3 | keys >"$T/a3"
check "alice still gets the key allocated before bob's CLOSE" "" "$(diff "$T/a3" "$T/b3")"
check "alice: 3 keys" 3 "$(wc -l <"$T/a3")"
save "$T/a3"
client alice "" get --ksid "$K" --index 20 >/dev/null 2>&1
check "alice: no new allocation after the peer closed -> 3" 13 $?
client alice "" close --ksid "$K" >/dev/null
check "alice closes" 0 $?

# --- allocation ahead at its bounds. Sequential calls 0..19 allocate runs growing with the
# run of sequential calls: 0 | 1-2 | 3-6 | 7-10 | 11-14 | 15-18 | 19-22 with 4 chunks at most
# (128 bytes of chunk 32); with 6 at most (chunk 16): 0 | 1-2 | 3-6 | 7-12 | 13-18 | 19-24. After
# the caller's CLOSE the peer end keeps exactly those allocations and gets nothing new (3).
K=$(client alice "" open --chunk-size 32)
client bob "" open --ksid "$K" >/dev/null
client alice "" get --ksid "$K" --index 0 --count 20 | keys >"$T/a6"
client alice "" close --ksid "$K" >/dev/null
sleep 0.3
client bob "" get --ksid "$K" --index 0 --count 23 | keys >"$T/b6"
check "leader ahead: bob keeps 23 allocated keys (0..22)" 23 "$(wc -l <"$T/b6")"
check "leader ahead: identical" "" "$(diff "$T/a6" <(head -20 "$T/b6"))"
client bob "" get --ksid "$K" --index 23 >/dev/null 2>&1
check "leader ahead: index 23 was not allocated (4-chunk bound) -> 3" 13 $?
save "$T/b6"
client bob "" close --ksid "$K" >/dev/null
K=$(client bob "" open --chunk-size 16)
client alice "" open --ksid "$K" >/dev/null
client bob "" get --ksid "$K" --index 0 --count 20 | keys >"$T/b7"
client bob "" close --ksid "$K" >/dev/null
sleep 0.3
client alice "" get --ksid "$K" --index 0 --count 25 | keys >"$T/a7"
check "follower ahead: alice keeps 25 allocated keys (0..24)" 25 "$(wc -l <"$T/a7")"
check "follower ahead: identical" "" "$(diff "$T/b7" <(head -20 "$T/a7"))"
client alice "" get --ksid "$K" --index 25 >/dev/null 2>&1
check "follower ahead: index 25 was not allocated (6-chunk bound) -> 3" 13 $?
save "$T/a7"
client alice "" close --ksid "$K" >/dev/null

# --- the peer end keeps its key until its TTL passes, then it is wiped ---
K=$(client alice "" open --ttl 2)
client bob "" open --ksid "$K" >/dev/null
client alice "" get --ksid "$K" --index 0 --count 3 | keys >"$T/a4"
save "$T/a4"
client alice "" close --ksid "$K" >/dev/null
sleep 0.3
client bob "" get --ksid "$K" --index 0 | keys >"$T/b4"
check "peer end after alice's CLOSE: bob still gets index 0" "" "$(diff <(head -1 "$T/a4") "$T/b4")"
sleep 2.6
client bob "" get --ksid "$K" --index 1 >/dev/null 2>&1
check "peer end after its TTL: wiped -> 3" 13 $?
grep -q "Key_stream_ID $K: no call for 2 s (TTL); closed and its key wiped" "$T/logs/kme-bob.log"
check "bob logged the TTL clean-up" 0 $?

# --- window (1024 B = 32 chunks of 32): one end a whole window ahead of the other ---
K=$(client alice "" open --chunk-size 32)
client bob "" open --ksid "$K" >/dev/null
client alice "" get --ksid "$K" --index 0 --count 32 | keys >"$T/a5"
check "alice: the whole window (32 keys)" 32 "$(wc -l <"$T/a5")"
client alice "" get --ksid "$K" --index 32 >/dev/null 2>&1
check "alice: index 32 is beyond bob's window -> 2" 12 $?
client alice "" get --ksid "$K" --index 64 >/dev/null 2>&1
check "alice: index 64 is beyond her own window -> 2" 12 $?
client bob "" get --ksid "$K" --index 32 >/dev/null 2>&1
check "bob: index 32 is beyond his window -> 2" 12 $?
client bob "" get --ksid "$K" --index 0 --count 32 | keys >"$T/b5"
check "bob catches up: identical" "" "$(diff "$T/a5" "$T/b5")"
client alice "" get --ksid "$K" --index 32 --count 4 | keys >>"$T/a5"
check "alice: index 32 deliverable once bob caught up (not burnt)" 36 "$(wc -l <"$T/a5")"
client bob "" get --ksid "$K" --index 32 --count 4 | keys >>"$T/b5"
check "window: identical at both ends" "" "$(diff "$T/a5" "$T/b5")"
save "$T/a5"
# ... and the follower ahead of the leader: the leader refuses for now (2), not for good
client alice "" close --ksid "$K" >/dev/null
client bob "" close --ksid "$K" >/dev/null
K=$(client alice "" open --chunk-size 32)
client bob "" open --ksid "$K" >/dev/null
client bob "" get --ksid "$K" --index 0 --count 32 | keys >"$T/b8"
client bob "" get --ksid "$K" --index 32 >/dev/null 2>&1
check "bob: index 32 is beyond alice's window -> 2" 12 $?
client alice "" get --ksid "$K" --index 0 --count 32 | keys >"$T/a8"
check "alice catches up: identical" "" "$(diff "$T/a8" "$T/b8")"
client bob "" get --ksid "$K" --index 32 | keys >>"$T/b8"
check "bob: index 32 deliverable once alice caught up" 33 "$(wc -l <"$T/b8")"
client alice "" get --ksid "$K" --index 32 | keys >>"$T/a8"
check "follower ahead: identical at both ends" "" "$(diff "$T/a8" "$T/b8")"
save "$T/b8"

# --- the stream limit (4) at its edge, at both nodes (announced streams count at the peer) ---
client alice "" close --ksid "$K" >/dev/null
client bob "" close --ksid "$K" >/dev/null
sleep 0.3
S=()
for i in 1 2 3 4; do
    S+=("$(client alice "" open)")
    check "alice: stream $i of 4" 0 $?
done
client alice "" open >/dev/null 2>&1
check "alice: stream 5 over the limit -> 4" 14 $?
client bob "" open >/dev/null 2>&1
check "bob: his table holds the 4 announced streams -> 4" 14 $?
client alice "" close --ksid "${S[0]}" >/dev/null
sleep 0.3
client bob "" open >/dev/null
check "bob: a slot freed by alice's CLOSE -> 0" 0 $?
client alice "" open >/dev/null 2>&1
check "alice: table full again (bob's stream announced) -> 4" 14 $?

# a link whose ring is not attached -> 4
start_kme charlie --link "peer=bob,role=follower,ring=${RING_PREFIX}none,addr=127.0.0.1:1"
client charlie "" open >/dev/null 2>&1
check "charlie: link without a ring attached -> 4" 14 $?

# no key ever reaches a log, not even at DEBUG
sort -u "$T/all_keys" >"$T/keys_u"
check "keys collected" 1 "$([ "$(wc -l <"$T/keys_u")" -ge 40 ] && echo 1)"
if grep -F -f "$T/keys_u" "$T"/logs/kme-*.log >/dev/null; then
    fail "a delivered key appears in a kme log"
else
    ok "no delivered key in the DEBUG logs"
fi
grep -q "\[DEBUG\]" "$T/logs/kme-alice.log"
check "the logs are DEBUG logs" 0 $?
finish
