#!/bin/bash
# kme_auth.sh: identity rules. A client certificate from another CA is refused at the
# handshake; a second identity (app2) can neither GET_KEY / CLOSE (3) nor OPEN (5) a KSID the
# first identity opened, at either node; a client certificate at the peer-sync port is refused.
. "$(dirname "$0")/kme_lib.sh"

start_pair
OTHER="${QKD_TEST_CERTS}-other/clients/stranger"
APP2="$CERTS/clients/app2"

for node in alice bob; do
    for fr in q e; do
        client "$node" "$OTHER" --framing "$fr" open >/dev/null 2>&1
        check "$node/$fr: certificate from another CA refused" 2 $?
    done
done

K=$(client alice "" open)
client bob "" open --ksid "$K" >/dev/null
for node in alice bob; do
    for fr in q e; do
        client "$node" "$APP2" --framing "$fr" get --ksid "$K" --index 0 >/dev/null 2>&1
        check "$node/$fr: app2 GET_KEY on another identity's KSID -> 3" 13 $?
        client "$node" "$APP2" --framing "$fr" close --ksid "$K" >/dev/null 2>&1
        check "$node/$fr: app2 CLOSE on another identity's KSID -> 3" 13 $?
        client "$node" "$APP2" --framing "$fr" open --ksid "$K" >/dev/null 2>&1
        check "$node/$fr: app2 OPEN on another identity's KSID -> 5" 15 $?
    done
done
client alice "" get --ksid "$K" --index 0 | awk 'NF==2' >"$T/a"
client bob "" get --ksid "$K" --index 0 | awk 'NF==2' >"$T/b"
check "the owner still gets key at both ends" "" "$(diff "$T/a" "$T/b")"
check "one key" 1 "$(wc -l <"$T/a")"
# app2's own stream is its own
K2=$(client alice "$APP2" open)
client alice "" get --ksid "$K2" --index 0 >/dev/null 2>&1
check "first identity cannot use app2's KSID -> 3" 13 $?
client alice "$APP2" get --ksid "$K2" --index 0 >/dev/null 2>&1
check "app2 uses its own KSID" 0 $?

# an application certificate at the peer-sync port: refused (CN is not the peer node)
"$QKD_BIN/qkd-client" --server "127.0.0.1:$PEER_PORT_ALICE" --cert "$CERTS/bob/client.pem" \
    --key "$CERTS/bob/client.key" --ca "$CERTS/ca.pem" --timeout 5000 open >/dev/null 2>&1
check "client certificate at the peer-sync port refused" 2 $?
sleep 0.2
grep -q "names no follower of this node" "$T/logs/kme-alice.log"
check "peer-sync refusal logged" 0 $?
finish
