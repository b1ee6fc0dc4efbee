#!/usr/bin/env bash
# qkd-json.sh (installed as `qkd-json` in the image): sends JSON requests to a qkd-hybrid JSON
# listener the way the Python KDFix module does (plain TCP, one JSON object per message, no
# newline, several messages on one connection) and prints each reply on a line of its own.
# Needs only bash (/dev/tcp), so it runs in the runtime image, which has no python3.
#
#   qkd-json [--server HOST:PORT] [--timeout S] [MESSAGE...]
#
# MESSAGE: one JSON object each; without any, one message per non-empty line of stdin.
# --server defaults to $JSON_SERVER; --timeout (default $JSON_TIMEOUT or 30) is the longest wait
# for the next byte of a reply. Exit 0 when every reply has "status": 0, 3 when one has another
# status, 1 when the connection fails or a reply does not come in time, 2 on a usage error.
# Example (compose, alice's network; docs/docker.md):
#   docker compose run --rm -T --entrypoint qkd-json client_alice \
#     '{"command": "CLOSE", "data": {"key_stream_id": "00000000-0000-0000-0000-000000000000"}}'
set -uo pipefail

server=${JSON_SERVER:-}
timeout=${JSON_TIMEOUT:-30}
usage() {
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case "$1" in
    --server) [ $# -ge 2 ] || usage; server=$2; shift 2 ;;
    --timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
    -h | --help) usage ;;
    --) shift; break ;;
    -*) echo "qkd-json: unknown option '$1'" >&2; usage ;;
    *) break ;;
    esac
done
[ -n "$server" ] || { echo "qkd-json: no server (--server HOST:PORT or JSON_SERVER)" >&2; exit 2; }
[[ "$timeout" =~ ^[1-9][0-9]{0,4}$ ]] || { echo "qkd-json: bad --timeout '$timeout'" >&2; exit 2; }
host=${server%:*}
port=${server##*:}
[[ -n "$host" && "$port" =~ ^[0-9]{1,5}$ ]] || { echo "qkd-json: bad server '$server'" >&2; exit 2; }

msgs=()
if [ $# -gt 0 ]; then
    msgs=("$@")
else
    while IFS= read -r line || [ -n "$line" ]; do
        [[ "$line" =~ ^[[:space:]]*$ ]] || msgs+=("$line")
    done
fi
[ "${#msgs[@]}" -gt 0 ] || { echo "qkd-json: no message" >&2; exit 2; }

if ! { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null; then
    echo "qkd-json: cannot connect to $server (refused, unreachable or unknown name)" >&2
    exit 1
fi

# read_reply: one whole JSON object from fd 3 (braces counted outside strings) into $reply.
read_reply() {
    local c depth=0 instr=0 esc=0
    reply=""
    while IFS= read -r -N 1 -t "$timeout" c <&3; do
        reply+=$c
        if [ "$instr" = 1 ]; then
            if [ "$esc" = 1 ]; then
                esc=0
            elif [ "$c" = '\' ]; then
                esc=1
            elif [ "$c" = '"' ]; then
                instr=0
            fi
            continue
        fi
        case "$c" in
        '"') instr=1 ;;
        '{') depth=$((depth + 1)) ;;
        '}')
            depth=$((depth - 1))
            [ "$depth" -le 0 ] && return 0
            ;;
        esac
    done
    return 1
}

rc=0
for m in "${msgs[@]}"; do
    printf '%s' "$m" >&3 || { echo "qkd-json: cannot send to $server" >&2; exit 1; }
    if ! read_reply; then
        echo "qkd-json: no complete reply from $server within ${timeout} s (got '$reply')" >&2
        exit 1
    fi
    # Leading whitespace between replies is not part of the object.
    reply=${reply#"${reply%%[![:space:]]*}"}
    printf '%s\n' "$reply"
    [[ "$reply" =~ ^\{\"status\":\ 0[,}] ]] || rc=3
done
exec 3>&-
exit "$rc"
