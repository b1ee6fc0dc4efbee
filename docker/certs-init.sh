#!/usr/bin/env bash
# certs-init.sh: entrypoint of the compose `certs` service. Creates the CA and every node's
# certificates with certs/generate_certs.sh inside the CA volume (the only place the CA private
# key ever lives), then copies to each node's certificate volume only what that node needs:
# ca.pem and <node>/ (node and application certificates and keys: client = SAE <node>-app,
# and the node's two more ETSI 014 SAEs sae2 = <node>-sae2, sae3 = <node>-sae3). Idempotent:
# existing files are kept by generate_certs.sh (an older tree gets the missing SAEs from the
# same CA) and copied again. Exits non-zero when anything is missing or
# does not verify against the CA, so depends_on: service_completed_successfully holds the rest.
# Also writes each node's qkd-hybrid config and identity key (see the end of this file).
set -euo pipefail
CA_DIR=${CA_DIR:-/ca}                 # CA volume (mounted only into this service)
OUT_ROOT=${CERTS_OUT:-/out}           # node volumes are mounted at $OUT_ROOT/<node>
NODES=${CERT_NODES:-alice,bob,charlie}
ALGO=${CERT_ALGO:-ecdsa}
CLIENTS=${CERT_CLIENTS:-}             # extra client identities, comma-separated
GEN=${GENERATE_CERTS:-/usr/local/share/qkd/generate_certs.sh}
HYBRID_CONFIG=${HYBRID_CONFIG_SCRIPT:-/usr/local/share/qkd/hybrid-config.sh}
HYBRID_NODES=${HYBRID_NODES-$NODES}   # nodes that get a qkd-hybrid config ("" = none)
HYBRID_KME=${HYBRID_KME:-}            # NODE=HOST:PORT of each node's key server, comma-separated
HYBRID_JSON=${HYBRID_JSON:-}          # NODE=HOST:PORT of each node's JSON listener ("" = none)
MOUNT=${CERTS_MOUNT:-/certs}          # where runtime containers mount their node volume
log() { printf '[INFO] certs: %s\n' "$*" >&2; }
die() { printf '[ERROR] certs: %s\n' "$*" >&2; exit 1; }

umask 077
tree="$CA_DIR/tree"
mkdir -p "$tree"
args=(--out "$tree" --algo "$ALGO" --nodes "$NODES")
IFS=',' read -r -a extra <<<"$CLIENTS"
for c in "${extra[@]}"; do [ -n "$c" ] && args+=(--client "$c"); done
"$GEN" "${args[@]}" >&2 || die "generate_certs.sh failed"
[ -s "$tree/ca.pem" ] || die "no $tree/ca.pem"

IFS=',' read -r -a nodes <<<"$NODES"
# what each node volume gets from <node>/ (docs/certificates.md "Layout")
NODE_FILES="node.pem node.key client.pem client.key sae2.pem sae2.key sae3.pem sae3.key"
copied=0
for node in "${nodes[@]}"; do
  dest="$OUT_ROOT/$node"
  if [ ! -d "$dest" ]; then
    log "no volume mounted at $dest: $node skipped"
    continue
  fi
  for f in $NODE_FILES; do
    [ -s "$tree/$node/$f" ] || die "missing $tree/$node/$f"
  done
  openssl verify -CAfile "$tree/ca.pem" "$tree/$node/node.pem" "$tree/$node/client.pem" \
    "$tree/$node/sae2.pem" "$tree/$node/sae3.pem" >/dev/null ||
    die "$node certificates do not verify against the CA"
  mkdir -p "$dest/$node"
  cp -f "$tree/ca.pem" "$dest/ca.pem.tmp" && mv -f "$dest/ca.pem.tmp" "$dest/ca.pem"
  for f in $NODE_FILES; do
    cp -f "$tree/$node/$f" "$dest/$node/$f.tmp" && mv -f "$dest/$node/$f.tmp" "$dest/$node/$f"
  done
  if [ -d "$tree/clients" ]; then
    mkdir -p "$dest/clients" && cp -f "$tree/clients/"* "$dest/clients/"
  fi
  chmod 0644 "$dest/ca.pem" "$dest/$node/"*.pem
  chmod 0600 "$dest/$node/"*.key
  copied=$((copied + 1))
  log "$node: ca.pem and $node/{node,client,sae2,sae3}.{pem,key} in place"
done
[ "$copied" -gt 0 ] || die "no node volume mounted under $OUT_ROOT"

# Hybrid daemons: each node's qkd-hybrid config and ML-DSA-65 identity key (scripts/hybrid-config.sh,
# compose layout), made here beside the CA and copied as <node volume>/hybrid/<node>.json,
# hybrid/identity/<node>.key (own private key only) and hybrid/identity/*.pub. Paths inside the
# configs are rewritten to where the node volume is mounted in the runtime containers (/certs).
if [ -n "$HYBRID_NODES" ] && [ -x "$HYBRID_CONFIG" ]; then
  hy="$CA_DIR/hybrid"
  hargs=(--out "$hy" --certs "$tree" --nodes "$HYBRID_NODES" --layout compose)
  IFS=',' read -r -a kmes <<<"$HYBRID_KME"
  for k in "${kmes[@]}"; do [ -n "$k" ] && hargs+=(--kme "$k"); done
  IFS=',' read -r -a jsons <<<"$HYBRID_JSON"
  for j in "${jsons[@]}"; do [ -n "$j" ] && hargs+=(--json "$j"); done
  "$HYBRID_CONFIG" "${hargs[@]}" >&2 || die "hybrid-config.sh failed"
  IFS=',' read -r -a hnodes <<<"$HYBRID_NODES"
  for node in "${hnodes[@]}"; do
    dest="$OUT_ROOT/$node"
    [ -d "$dest" ] || continue
    mkdir -p "$dest/hybrid/identity"
    sed -e "s#$tree/#$MOUNT/#g" -e "s#$hy/#$MOUNT/hybrid/#g" "$hy/$node.json" >"$dest/hybrid/$node.json.tmp"
    if grep -q "$CA_DIR/" "$dest/hybrid/$node.json.tmp"; then die "$node.json still names $CA_DIR"; fi
    mv -f "$dest/hybrid/$node.json.tmp" "$dest/hybrid/$node.json"
    cp -f "$hy/identity/$node.key" "$dest/hybrid/identity/$node.key"
    cp -f "$hy/identity/"*.pub "$dest/hybrid/identity/"
    chmod 0600 "$dest/hybrid/identity/$node.key"
    chmod 0644 "$dest/hybrid/$node.json" "$dest/hybrid/identity/"*.pub
    log "$node: hybrid/$node.json and its identity key in place"
  done
fi
# The CA private key must not have leaked into any node volume.
if find "$OUT_ROOT" -name 'ca.key*' | grep -q .; then die "ca.key found under $OUT_ROOT"; fi
log "done: $copied node(s), CA key kept in the CA volume only"
