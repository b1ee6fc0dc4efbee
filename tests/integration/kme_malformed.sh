#!/bin/bash
# kme_malformed.sh: malformed frames from one client do not affect a concurrent good client,
# one-request-per-connection and many-requests-per-connection clients both work, and the
# connection limit holds at its edge (kme_conn.py drives the server over raw TLS); at alice
# (leader) and bob (follower).
. "$(dirname "$0")/kme_lib.sh"

start_pair 4000000 --idle-ms 1500 --max-conns 6
sleep 0.5
for node in alice bob; do
    python3 "$(dirname "$0")/kme_conn.py" "127.0.0.1:${KME_PORT_OF[$node]}" "$CERTS/ca.pem" \
        "$CERTS/$node/client.pem" "$CERTS/$node/client.key" "$T/logs/kme-$node.log" 6 1500
    check "$node: kme_conn.py" 0 $?
    kill -0 "${PID_OF[kme-$node]}" 2>/dev/null
    check "$node: key server still running" 0 $?
done
finish
