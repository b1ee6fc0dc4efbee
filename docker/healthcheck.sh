#!/usr/bin/env bash
# healthcheck.sh: container health checks used by docker-compose.yml.
#   healthcheck.sh kme     healthy when the key server answers a real ETSI 004 call over mTLS:
#                          CLOSE on the all-zero KSID with the node's application certificate
#                          must come back with status 3 (unknown KSID: qkd-client exits 13).
#                          It creates no stream, so it can run every few seconds forever.
#   healthcheck.sh hybrid  the same probe against the node's hybrid daemon (port 25577); with
#                          HEALTH_JSON=HOST:PORT also its JSON listener (CLOSE on the all-zero
#                          KSID sent with qkd-json must come back with status 3).
#   healthcheck.sh keygen  healthy when the node's shared-memory ring exists in /dev/shm.
#   healthcheck.sh metrics healthy when GET /healthz on METRICS_LISTEN (or HEALTH_METRICS,
#                          HOST:PORT) answers 200 (docs/observability.md): keygen link up, key
#                          server rings attached and peer sync up, hybrid peers up.
# Paths default to the compose layout (/certs/<node>/client.pem, /certs/ca.pem) and can be
# overridden with HEALTH_CERT, HEALTH_KEY, HEALTH_CA, HEALTH_SERVER.
set -u
what=${1:-}
case "$what" in
  kme | hybrid)
    # kme: port SERVER_PORT (default 25575); hybrid: HEALTH_PORT (default 25577, the daemon's
    # ETSI 004 listener). The node is NODE_NAME or HEALTH_NODE.
    node=${HEALTH_NODE:-${NODE_NAME:?NODE_NAME or HEALTH_NODE not set}}
    if [ "$what" = kme ]; then port=${SERVER_PORT:-25575}; else port=${HEALTH_PORT:-25577}; fi
    server=${HEALTH_SERVER:-127.0.0.1:$port}
    cert=${HEALTH_CERT:-/certs/$node/client.pem}
    key=${HEALTH_KEY:-/certs/$node/client.key}
    ca=${HEALTH_CA:-/certs/ca.pem}
    # Flags win over the container's environment (SERVER_CERT_PEM means another thing there).
    timeout 8 qkd-client --server "$server" --cert "$cert" --key "$key" --ca "$ca" \
      --timeout 5000 close --ksid 00000000-0000-0000-0000-000000000000 >/dev/null 2>&1
    rc=$?
    if [ "$rc" -ne 13 ]; then
      echo "ETSI 004 CLOSE probe on $server: qkd-client exit $rc (want 13 = status 3)"
      exit 1
    fi
    if [ "$what" = hybrid ] && [ -n "${HEALTH_JSON:-}" ]; then
      reply=$(timeout 8 qkd-json --server "$HEALTH_JSON" --timeout 5 \
        '{"command": "CLOSE", "data": {"key_stream_id": "00000000-0000-0000-0000-000000000000"}}' 2>&1)
      case "$reply" in
        '{"status": 3'*) ;;
        *) echo "JSON CLOSE probe on $HEALTH_JSON: '$reply' (want status 3)"; exit 1 ;;
      esac
    fi
    exit 0
    ;;
  metrics)
    addr=${HEALTH_METRICS:-${METRICS_LISTEN:?METRICS_LISTEN or HEALTH_METRICS not set}}
    host=${addr%:*}
    port=${addr##*:}
    if ! exec 3<>"/dev/tcp/$host/$port"; then echo "metrics endpoint $addr unreachable"; exit 1; fi
    printf 'GET /healthz HTTP/1.0\r\nHost: %s\r\n\r\n' "$addr" >&3
    reply=$(timeout 5 cat <&3)
    exec 3<&-
    case "$reply" in
      'HTTP/1.1 200 '*) exit 0 ;;
      *) echo "GET /healthz on $addr: ${reply##*$'\r\n\r\n'}"; exit 1 ;;
    esac
    ;;
  keygen)
    ring=${RING_NAME:?RING_NAME not set}
    if [ -e "/dev/shm/${ring#/}" ]; then exit 0; fi
    echo "ring /dev/shm/${ring#/} not there yet"
    exit 1
    ;;
  *)
    echo "usage: healthcheck.sh kme|hybrid|keygen|metrics" >&2
    exit 2
    ;;
esac
