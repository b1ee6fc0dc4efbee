#!/bin/bash
# kme_malformed.sh: malformed frames from one client do not affect a concurrent good client,
# one-request-per-connection and many-requests-per-connection clients both work, and the
# connection limit, the request size limit and the idle time hold at their edges (kme_conn.py
# drives the server over raw TLS); at alice (leader) and bob (follower). Then a random storm of
# valid and invalid requests at both nodes at once (kme_storm.py): neither crashes or hangs, and
# a fresh stream still agrees at both ends.
. "$(dirname "$0")/kme_lib.sh"

start_pair 4000000 --idle-ms 1500 --max-conns 6 --max-payload 1024
sleep 0.5
for node in alice bob; do
    python3 "$(dirname "$0")/kme_conn.py" "127.0.0.1:${KME_PORT_OF[$node]}" "$CERTS/ca.pem" \
        "$CERTS/$node/client.pem" "$CERTS/$node/client.key" "$T/logs/kme-$node.log" 6 1500 1024
    check "$node: kme_conn.py" 0 $?
    kill -0 "${PID_OF[kme-$node]}" 2>/dev/null
    check "$node: key server still running" 0 $?
done
# a seeded storm of random requests at both nodes at once, then the ends must still agree
python3 "$(dirname "$0")/kme_storm.py" "127.0.0.1:${KME_PORT_OF[alice]}" \
    "127.0.0.1:${KME_PORT_OF[bob]}" "$CERTS" "${KME_STORM_SEED:-$RANDOM}" 150
check "kme_storm.py" 0 $?
for node in alice bob; do
    kill -0 "${PID_OF[kme-$node]}" 2>/dev/null
    check "$node: key server still running after the storm" 0 $?
done
finish
