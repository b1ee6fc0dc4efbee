#!/usr/bin/env bash
# hybrid-config.sh: writes each node's qkd-hybrid config (docs/hybrid.md "Node configuration")
# and makes the nodes' ML-DSA-65 identity keys, for the local-net layout (127.0.0.1) or the
# docker-compose layout (service names). Identity keys are kept when they exist (idempotent);
# configs are rewritten.
#
#   hybrid-config.sh --out DIR --certs CERTDIR [--nodes alice,bob[,charlie]]
#                    [--layout local|compose] [--kme NODE=H:P]... [--peer NODE=H:P]...
#                    [--listen NODE=H:P]... [--json NODE=H:P]...
#
# DIR/<node>.json, DIR/identity/<node>.key (0600) and DIR/identity/<node>.pub.
# CERTDIR is certs/generate_certs.sh's output (ca.pem, <node>/node.pem|key, client.pem|key).
# Defaults, local layout: ETSI listener 127.0.0.1:0, peer listener 127.0.0.1:(25590+i),
# key server 127.0.0.1:(25575+i) for the i-th node (0-based). Compose layout: listeners
# 0.0.0.0:25577 (ETSI) and 0.0.0.0:25590 (peers), peers at hybrid_<peer>:25590, key server
# kme_<node>:25575. --json enables the JSON listener of a node (off by default).
# The openssl binary is $OPENSSL, else $QKD_DEPS_ROOT/openssl/bin/openssl (default /opt/qkd) when present, else openssl.
set -euo pipefail

die() {
    echo "hybrid-config.sh: $*" >&2
    exit 1
}

out="" certs="" nodes="alice,bob,charlie" layout=local
declare -A kme peer listen json
while [ $# -gt 0 ]; do
    case "$1" in
    --out) out=$2; shift 2 ;;
    --certs) certs=$2; shift 2 ;;
    --nodes) nodes=$2; shift 2 ;;
    --layout) layout=$2; shift 2 ;;
    --kme) kme[${2%%=*}]=${2#*=}; shift 2 ;;
    --peer) peer[${2%%=*}]=${2#*=}; shift 2 ;;
    --listen) listen[${2%%=*}]=${2#*=}; shift 2 ;;
    --json) json[${2%%=*}]=${2#*=}; shift 2 ;;
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[ -n "$out" ] || die "--out DIR is required"
[ -n "$certs" ] || die "--certs CERTDIR is required"
case "$layout" in local | compose) ;; *) die "--layout must be local or compose" ;; esac
[ -f "$certs/ca.pem" ] || die "$certs/ca.pem not found (run certs/generate_certs.sh first)"

if [ -z "${OPENSSL:-}" ]; then
    d=${QKD_DEPS_ROOT:-/opt/qkd}/openssl/bin/openssl
    if [ -x "$d" ]; then OPENSSL=$d; else OPENSSL=openssl; fi
fi
mkdir -p "$out/identity"
out=$(cd "$out" && pwd)
certs=$(cd "$certs" && pwd)

# node_uuid NAME: a stable UUID derived from the node name.
node_uuid() {
    local h
    h=$(printf 'qkd-hybrid-node:%s' "$1" | "$OPENSSL" dgst -sha256 -r | cut -c1-32)
    echo "${h:0:8}-${h:8:4}-5${h:13:3}-8${h:17:3}-${h:20:12}"
}

IFS=, read -r -a names <<<"$nodes"
[ "${#names[@]}" -ge 2 ] || die "--nodes needs at least two nodes"
i=0
for n in "${names[@]}"; do
    [[ "$n" =~ ^[A-Za-z0-9._-]{1,63}$ ]] || die "bad node name '$n'"
    [ -f "$certs/$n/node.pem" ] || die "$certs/$n/node.pem not found"
    if [ "$layout" = local ]; then
        : "${kme[$n]:=127.0.0.1:$((25575 + i))}"
        : "${peer[$n]:=127.0.0.1:$((25590 + i))}"
        : "${listen[$n]:=127.0.0.1:0}"
    else
        : "${kme[$n]:=kme_$n:25575}"
        : "${peer[$n]:=hybrid_$n:25590}"
        : "${listen[$n]:=0.0.0.0:25577}"
    fi
    key="$out/identity/$n.key"
    if [ ! -s "$key" ]; then
        (umask 077 && "$OPENSSL" genpkey -algorithm ML-DSA-65 -out "$key") ||
            die "cannot make an ML-DSA-65 key with $OPENSSL (OpenSSL >= 3.5 needed)"
    fi
    "$OPENSSL" pkey -in "$key" -pubout -out "$out/identity/$n.pub" || die "cannot export $n.pub"
    i=$((i + 1))
done

for n in "${names[@]}"; do
    plisten=${peer[$n]}
    [ "$layout" = compose ] && plisten=0.0.0.0:${peer[$n]##*:}
    {
        echo "{"
        echo "  \"name\": \"$n\","
        echo "  \"uuid\": \"$(node_uuid "$n")\","
        echo "  \"hybrid_listen\": \"${listen[$n]}\","
        [ -n "${json[$n]:-}" ] && echo "  \"json_listen\": \"${json[$n]}\","
        echo "  \"peer_listen\": \"$plisten\","
        echo "  \"cert\": \"$certs/$n/node.pem\", \"key\": \"$certs/$n/node.key\","
        echo "  \"ca\": \"$certs/ca.pem\","
        echo "  \"identity_key\": \"$out/identity/$n.key\","
        echo "  \"kme\": { \"address\": \"${kme[$n]}\","
        echo "           \"cert\": \"$certs/$n/client.pem\", \"key\": \"$certs/$n/client.key\","
        echo "           \"ca\": \"$certs/ca.pem\" },"
        echo "  \"peers\": ["
        first=1
        for p in "${names[@]}"; do
            [ "$p" = "$n" ] && continue
            [ $first = 1 ] || echo "    ,"
            first=0
            echo "    { \"name\": \"$p\", \"uuid\": \"$(node_uuid "$p")\","
            echo "      \"address\": \"${peer[$p]}\","
            echo "      \"identity_pub\": \"$out/identity/$p.pub\" }"
        done
        echo "  ]"
        echo "}"
    } >"$out/$n.json.tmp"
    mv "$out/$n.json.tmp" "$out/$n.json"
done
echo "hybrid-config.sh: wrote $(printf '%s.json ' "${names[@]}")in $out"
